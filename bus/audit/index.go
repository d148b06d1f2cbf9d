package audit

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"truc.vn/truc/bus"
)

// Index is the log's signed statement of completeness: "below tree size
// Size, the leaves about the letter Key are exactly these". Without it an
// exporter could leave out a leaf it did not like (a status 02, a
// rejection notice) and the rest would still verify; with it, a bundle
// missing a leaf fails, and a log that signed an index leaving out a leaf
// it holds has signed evidence of that lie (whoever holds the receipt of
// the missing leaf can show it).
//
// Its text, a signed note (c2sp.org/signed-note) by the log's key under
// the log's origin, is
//
//	truc-audit-index v1
//	origin <log origin>
//	key <root-document key>
//	size <tree size>
//	leaf <index> <standard base64 of the RFC 6962 leaf hash>
//	...
//
// with the leaves by strictly increasing index, each below size. The
// first line keeps it from ever parsing as a checkpoint (an origin has no
// spaces), so one key can sign both.
type Index struct {
	Origin string
	Key    string
	Size   int64
	Leaves []IndexedLeaf
}

// IndexedLeaf is one leaf of an Index.
type IndexedLeaf struct {
	Index int64
	Hash  [32]byte // bus.LeafHash of the leaf bytes
}

const indexHeader = "truc-audit-index v1\n"

// MaxIndexLen bounds a signed index.
const MaxIndexLen = 8 << 20

// Text returns the note text of x after checking it.
func (x Index) Text() ([]byte, error) {
	if err := bus.CheckOrigin(x.Origin); err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	if _, _, err := bus.ParseRootKey(x.Key); err != nil {
		return nil, fmt.Errorf("index: key: %w", err)
	}
	if x.Size < 0 {
		return nil, fmt.Errorf("index: size: must not be negative, got %d", x.Size)
	}
	var b bytes.Buffer
	b.WriteString(indexHeader)
	fmt.Fprintf(&b, "origin %s\nkey %s\nsize %d\n", x.Origin, x.Key, x.Size)
	for i, l := range x.Leaves {
		if l.Index < 0 || l.Index >= x.Size {
			return nil, fmt.Errorf("index: leaf %d is not below the size %d", l.Index, x.Size)
		}
		if i > 0 && l.Index <= x.Leaves[i-1].Index {
			return nil, fmt.Errorf("index: leaves must be by strictly increasing index: %d after %d", l.Index, x.Leaves[i-1].Index)
		}
		fmt.Fprintf(&b, "leaf %d %s\n", l.Index, base64.StdEncoding.EncodeToString(l.Hash[:]))
	}
	if b.Len() > MaxIndexLen-4096 {
		return nil, fmt.Errorf("index: the text has %d bytes, at most %d", b.Len(), MaxIndexLen-4096)
	}
	return b.Bytes(), nil
}

// SignIndex signs x with s, whose key name must be x.Origin (the log's
// key).
func SignIndex(x Index, s note.Signer) ([]byte, error) {
	if s == nil {
		return nil, errors.New("signing an index: no signer")
	}
	if s.Name() != x.Origin {
		return nil, fmt.Errorf("signing an index of %s: the signer's key is named %q; the log's key is named after its origin", x.Origin, s.Name())
	}
	text, err := x.Text()
	if err != nil {
		return nil, err
	}
	msg, err := note.Sign(&note.Note{Text: string(text)}, s)
	if err != nil {
		return nil, fmt.Errorf("signing an index of %s: %w", x.Origin, err)
	}
	return msg, nil
}

// OpenIndex verifies a signed index with known (the log's keys) and
// parses it. A signature by a known key under the index's origin is
// required; signatures by other keys are ignored.
func OpenIndex(msg []byte, known note.Verifiers) (Index, error) {
	if len(msg) > MaxIndexLen {
		return Index{}, fmt.Errorf("index: at most %d bytes, got %d", MaxIndexLen, len(msg))
	}
	n, err := note.Open(msg, known)
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			return Index{}, errors.New("index: not signed by any of the log keys given")
		case errors.As(err, &invalid):
			return Index{}, fmt.Errorf("index: the signature by %s+%08x does not verify", invalid.Name, invalid.Hash)
		}
		return Index{}, fmt.Errorf("index: not a signed note: %w", err)
	}
	x, err := ParseIndexText([]byte(n.Text))
	if err != nil {
		return Index{}, err
	}
	if !slices.ContainsFunc(n.Sigs, func(s note.Signature) bool { return s.Name == x.Origin }) {
		return Index{}, fmt.Errorf("index: no key of the log %s signed it", x.Origin)
	}
	return x, nil
}

// ParseIndexText parses the text of an index, accepting only the form
// Text writes.
func ParseIndexText(text []byte) (Index, error) {
	s, ok := strings.CutPrefix(string(text), indexHeader)
	if !ok {
		return Index{}, fmt.Errorf("index: must start with %q", strings.TrimSpace(indexHeader))
	}
	if !strings.HasSuffix(s, "\n") {
		return Index{}, errors.New("index: the text must end with a newline")
	}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if len(lines) < 3 {
		return Index{}, errors.New("index: the origin, key and size lines are required")
	}
	var x Index
	field := func(i int, name string) (string, error) {
		v, ok := strings.CutPrefix(lines[i], name+" ")
		if !ok {
			return "", fmt.Errorf("index: line %d: want %q", i+2, name+" …")
		}
		return v, nil
	}
	var err error
	if x.Origin, err = field(0, "origin"); err != nil {
		return Index{}, err
	}
	if x.Key, err = field(1, "key"); err != nil {
		return Index{}, err
	}
	size, err := field(2, "size")
	if err != nil {
		return Index{}, err
	}
	if x.Size, err = strconv.ParseInt(size, 10, 64); err != nil || strconv.FormatInt(x.Size, 10) != size {
		return Index{}, fmt.Errorf("index: size: a decimal number without leading zeros, got %q", clipName(size))
	}
	for i := 3; i < len(lines); i++ {
		v, err := field(i, "leaf")
		if err != nil {
			return Index{}, err
		}
		idxText, hashText, ok := strings.Cut(v, " ")
		idx, err1 := strconv.ParseInt(idxText, 10, 64)
		h, err2 := base64.StdEncoding.DecodeString(hashText)
		if !ok || err1 != nil || strconv.FormatInt(idx, 10) != idxText || err2 != nil || len(h) != 32 || base64.StdEncoding.EncodeToString(h) != hashText {
			return Index{}, fmt.Errorf("index: line %d: want \"leaf <index> <base64 of 32 bytes>\"", i+2)
		}
		var l IndexedLeaf
		l.Index = idx
		copy(l.Hash[:], h)
		x.Leaves = append(x.Leaves, l)
	}
	again, err := x.Text()
	if err != nil {
		return Index{}, err
	}
	if !bytes.Equal(again, text) {
		return Index{}, errors.New("index: not in canonical form")
	}
	return x, nil
}
