package edoc

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"sync"
)

// zipMagic starts every ZIP file that has at least one entry.
var zipMagic = []byte("PK\x03\x04")

// Attachment is one file of a document package. A parsed attachment keeps
// the base64 text it was read with (one copy, shared with the XML tree)
// and decodes it only when asked; a new one reads its bytes from a source
// when asked. Either way the content is streamed, never held decoded.
//
// The methods are safe for concurrent use; the exported fields are not
// guarded.
type Attachment struct {
	ContentID   string // "cid:<id>" as the official SDK writes it, or the bare id
	Name        string // AttachmentName: the file name
	Description string
	// ContentType is the type the sender declared. It may be wrong (the
	// official SDK zips most files and says so inconsistently): use IsZIP
	// to know whether the content is a ZIP archive.
	ContentType string
	FieldName   string
	MimeType    string

	encoded    string // parsed: the base64 text as read (whitespace allowed)
	hasEncoded bool   // parsed with a ContentTransferEncoded element
	open       func() (io.ReadCloser, error)

	mu     sync.Mutex
	digest *digestResult // cached by Digest
}

type digestResult struct {
	sum  [32]byte
	size int64
	zip  bool
	err  error
}

// NewAttachment returns an attachment whose content open returns, each
// call a fresh reader over the same bytes (a file, an object in a store).
// It gets a fresh random ContentID of the form cid:<uuid>, as the official
// SDK makes them.
func NewAttachment(name, contentType string, open func() (io.ReadCloser, error)) *Attachment {
	return &Attachment{ContentID: newContentID(), Name: name, ContentType: contentType, open: open}
}

// NewAttachmentReader is NewAttachment for a reader that can be read only
// once: the first Open, Digest, IsZIP or WriteTo consumes it and later ones
// fail. Use NewAttachment when the content must be read more than once.
func NewAttachmentReader(name, contentType string, r io.Reader) *Attachment {
	var once sync.Once
	return NewAttachment(name, contentType, func() (io.ReadCloser, error) {
		rc := io.ReadCloser(nil)
		once.Do(func() { rc = io.NopCloser(r) })
		if rc == nil {
			return nil, fmt.Errorf("attachment %q: its reader was already consumed", name)
		}
		return rc, nil
	})
}

// newContentID returns cid: and a random (version 4) UUID.
func newContentID() string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // crypto/rand.Read never fails on supported platforms
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("cid:%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// errNoContent is returned for an attachment without content.
var errNoContent = errors.New("attachment has no content (no ContentTransferEncoded)")

// Open returns a reader over the decoded content. For a parsed attachment
// it decodes the base64 text as it is read: a corrupt encoding shows up as
// a read error. Close the reader when done.
func (a *Attachment) Open() (io.ReadCloser, error) {
	switch {
	case a.hasEncoded:
		return io.NopCloser(&base64Reader{s: a.encoded, spaced: hasXMLSpace(a.encoded)}), nil
	case a.open != nil:
		return a.open()
	}
	return nil, errNoContent
}

// Digest returns the SHA-256 and the size of the decoded content, reading
// it once (the result is cached).
func (a *Attachment) Digest() (sum [32]byte, size int64, err error) {
	r := a.scan()
	return r.sum, r.size, r.err
}

// IsZIP reports whether the content is a ZIP archive, by its first bytes
// (PK\x03\x04) rather than by the declared ContentType.
func (a *Attachment) IsZIP() (bool, error) {
	r := a.scan()
	return r.zip, r.err
}

// Parsed reports whether the attachment was read from a package (and so
// carries base64 text) rather than made with NewAttachment.
func (a *Attachment) Parsed() bool { return a.hasEncoded }

func (a *Attachment) scan() *digestResult {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.digest != nil {
		return a.digest
	}
	res := &digestResult{}
	a.digest = res
	rc, err := a.Open()
	if err != nil {
		res.err = fmt.Errorf("opening attachment %q: %w", a.ContentID, err)
		return res
	}
	defer rc.Close()
	h := &headHash{Hash: sha256.New()}
	res.size, err = io.Copy(h, rc)
	res.zip = bytes.HasPrefix(h.head, zipMagic)
	if err != nil {
		res.err = fmt.Errorf("reading attachment %q: %w", a.ContentID, err)
		res.zip = false
		return res
	}
	h.Sum(res.sum[:0])
	return res
}

// headHash hashes what is written to it and keeps its first bytes.
type headHash struct {
	hash.Hash
	head []byte
}

func (h *headHash) Write(p []byte) (int, error) {
	if len(h.head) < len(zipMagic) {
		h.head = append(h.head, p[:min(len(p), len(zipMagic)-len(h.head))]...)
	}
	return h.Hash.Write(p)
}

// base64Reader decodes base64 text held in a string, skipping XML
// whitespace, in chunks of 64 KiB (the standard library's streaming
// decoder works 768 bytes at a time). It is as strict as
// base64.StdEncoding.DecodeString on the text without whitespace: padding
// only at the very end, no partial quantum.
type base64Reader struct {
	s      string // text not yet decoded
	src    []byte // scratch: the next chunk without whitespace
	dst    []byte // scratch: decoded chunk
	out    []byte // decoded, not yet read
	spaced bool   // s may hold whitespace (else chunks are copied whole)
	padded bool   // a chunk ended in padding: nothing may follow
	err    error  // returned once out is drained
}

const base64Chunk = 64 << 10 // a multiple of 4

func (r *base64Reader) Read(p []byte) (int, error) {
	for len(r.out) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		r.fill()
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	return n, nil
}

// WriteTo lets io.Copy take the decoded chunks without copying them.
func (r *base64Reader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if len(r.out) > 0 {
			n, err := w.Write(r.out)
			total += int64(n)
			r.out = r.out[n:]
			if err != nil {
				return total, err
			}
		}
		if r.err == io.EOF {
			return total, nil
		}
		if r.err != nil {
			return total, r.err
		}
		r.fill()
	}
}

func (r *base64Reader) fill() {
	if r.src == nil {
		// Scratch no larger than the text: a package may hold many
		// thousands of tiny attachments, each decoded with its own reader.
		// A chunk never holds more than the text's bytes, rounded up to a
		// quantum here so that dst always fits what Decode writes.
		n := (min(len(r.s), base64Chunk) + 3) / 4 * 4
		r.src = make([]byte, 0, n)
		r.dst = make([]byte, n/4*3)
	}
	src := r.src[:0]
	if !r.spaced {
		src = append(src, r.s[:min(len(r.s), base64Chunk)]...)
		r.s = r.s[len(src):]
	}
	for len(src) < base64Chunk && len(r.s) > 0 {
		window := r.s[:min(len(r.s), base64Chunk-len(src))]
		run := strings.IndexAny(window, " \t\r\n")
		if run < 0 {
			run = len(window)
		}
		src = append(src, window[:run]...)
		r.s = r.s[run:]
		for len(r.s) > 0 && isXMLSpace(r.s[0]) {
			r.s = r.s[1:]
		}
	}
	if len(src) == 0 {
		r.err = io.EOF
		return
	}
	if r.padded {
		r.err = errAfterPadding
		return
	}
	r.padded = src[len(src)-1] == '='
	n, err := base64.StdEncoding.Decode(r.dst, src)
	r.out = r.dst[:n]
	switch {
	case err != nil:
		r.err = err
	case len(r.s) == 0:
		r.err = io.EOF
	}
}

// hasXMLSpace reports whether s holds XML whitespace. Four IndexByte
// calls beat a byte loop by far on long base64 text, which usually has
// none.
func hasXMLSpace(s string) bool {
	return strings.IndexByte(s, '\n') >= 0 || strings.IndexByte(s, ' ') >= 0 ||
		strings.IndexByte(s, '\r') >= 0 || strings.IndexByte(s, '\t') >= 0
}

// errAfterPadding reports base64 text that goes on after its padding.
var errAfterPadding = errors.New("base64 data after padding")

// spaceSkipper reads a string, dropping XML whitespace: WriteTo copies
// parsed base64 text with it, on one line.
type spaceSkipper struct {
	s string
}

func (r *spaceSkipper) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && len(r.s) > 0 {
		// Copy the run up to the next whitespace in one go. Look no
		// further than what fits in p: scanning the whole rest at every
		// call would be quadratic.
		window := r.s[:min(len(r.s), len(p)-n)]
		run := strings.IndexAny(window, " \t\r\n")
		switch {
		case run == 0:
			r.s = r.s[1:]
			continue
		case run < 0:
			run = len(window)
		}
		c := copy(p[n:], r.s[:run])
		n += c
		r.s = r.s[c:]
	}
	if n == 0 && len(r.s) == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// sameContentID reports whether two ContentIds name the same attachment:
// equal once an optional "cid:" prefix (any case) is removed.
func sameContentID(a, b string) bool { return bareContentID(a) == bareContentID(b) }

func bareContentID(id string) string {
	if len(id) >= 4 && strings.EqualFold(id[:4], "cid:") {
		return id[4:]
	}
	return id
}
