package audit

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"truc.vn/truc/bus"
)

// EvidenceRequest is an edge's request for the evidence of a letter its
// agencies sent or received: the axis answers it with the letter's bundle
// minus the packages (declared withheld), which the edge fills from its
// own store. The edge signs it with its seal key under
// bus.EdgeNoteName(Edge), as it signs acks and rejection notices, so that
// the axis knows which edge asks and can refuse letters it is no party
// to. Its text, a signed note, is
//
//	truc-audit-request v1
//	edge <edge ID>
//	key <root-document key>
//	document <hex SHA-256 of a document package of the letter>
//	time <RFC 3339 UTC, seconds>
type EvidenceRequest struct {
	Edge     string
	Key      string
	Document [32]byte
	Time     time.Time
}

const requestHeader = "truc-audit-request v1\n"

// MaxRequestLen bounds a signed request.
const MaxRequestLen = 16 << 10

// Text returns the note text of r after checking it.
func (r EvidenceRequest) Text() ([]byte, error) {
	if err := bus.ValidateEdgeID(r.Edge); err != nil {
		return nil, fmt.Errorf("evidence request: edge: %w", err)
	}
	if _, _, err := bus.ParseRootKey(r.Key); err != nil {
		return nil, fmt.Errorf("evidence request: key: %w", err)
	}
	if r.Document == ([32]byte{}) {
		return nil, errors.New("evidence request: document: the SHA-256 of a document package is required")
	}
	if r.Time.IsZero() || r.Time.Year() < 2000 || r.Time.Year() > 9999 {
		return nil, errors.New("evidence request: time: a time between 2000 and 9999 is required")
	}
	return fmt.Appendf(nil, "%sedge %s\nkey %s\ndocument %x\ntime %s\n", requestHeader, r.Edge, r.Key, r.Document, r.Time.UTC().Truncate(time.Second).Format(time.RFC3339)), nil
}

// Sign signs r with s, whose key name must be bus.EdgeNoteName(r.Edge).
func (r EvidenceRequest) Sign(s note.Signer) ([]byte, error) {
	if s == nil {
		return nil, errors.New("evidence request: no signer")
	}
	if want := bus.EdgeNoteName(r.Edge); s.Name() != want {
		return nil, fmt.Errorf("evidence request: the signer's key is named %q, an edge signs as %q", s.Name(), want)
	}
	text, err := r.Text()
	if err != nil {
		return nil, err
	}
	return note.Sign(&note.Note{Text: string(text)}, s)
}

// ParseRequestText parses the text of a request, accepting only the form
// Text writes.
func ParseRequestText(text []byte) (EvidenceRequest, error) {
	s, ok := strings.CutPrefix(string(text), requestHeader)
	if !ok {
		return EvidenceRequest{}, fmt.Errorf("evidence request: must start with %q", strings.TrimSpace(requestHeader))
	}
	var r EvidenceRequest
	var vals [4]string
	for i, name := range []string{"edge", "key", "document", "time"} {
		line, rest, ok := strings.Cut(s, "\n")
		v, okName := strings.CutPrefix(line, name+" ")
		if !ok || !okName {
			return EvidenceRequest{}, fmt.Errorf("evidence request: line %q missing", name)
		}
		vals[i], s = v, rest
	}
	if s != "" {
		return EvidenceRequest{}, errors.New("evidence request: text after the time line")
	}
	r.Edge, r.Key = vals[0], vals[1]
	if len(vals[2]) != 64 || strings.ToLower(vals[2]) != vals[2] {
		return EvidenceRequest{}, errors.New("evidence request: document: 64 lowercase hex digits")
	}
	if _, err := hex.Decode(r.Document[:], []byte(vals[2])); err != nil {
		return EvidenceRequest{}, errors.New("evidence request: document: 64 lowercase hex digits")
	}
	t, err := time.Parse(time.RFC3339, vals[3])
	if err != nil {
		return EvidenceRequest{}, fmt.Errorf("evidence request: time: RFC 3339, got %q", clipName(vals[3]))
	}
	r.Time = t
	again, err := r.Text()
	if err != nil {
		return EvidenceRequest{}, err
	}
	if !bytes.Equal(again, text) {
		return EvidenceRequest{}, errors.New("evidence request: not in canonical form")
	}
	return r, nil
}

// ParseUnverifiedRequest reads the edge a signed request claims to come
// from, to find its verifiers; nothing else of it may be used before
// OpenRequest.
func ParseUnverifiedRequest(msg []byte) (EvidenceRequest, error) {
	if len(msg) > MaxRequestLen {
		return EvidenceRequest{}, fmt.Errorf("evidence request: at most %d bytes, got %d", MaxRequestLen, len(msg))
	}
	i := bytes.LastIndex(msg, []byte("\n\n"))
	if i < 0 {
		return EvidenceRequest{}, errors.New("evidence request: not a signed note")
	}
	return ParseRequestText(msg[:i+1])
}

// OpenRequest verifies a signed request with known (the note verifiers of
// the edge's seal certificates) and parses it. A valid signature under
// bus.EdgeNoteName of the request's edge is required.
func OpenRequest(msg []byte, known note.Verifiers) (EvidenceRequest, error) {
	if len(msg) > MaxRequestLen {
		return EvidenceRequest{}, fmt.Errorf("evidence request: at most %d bytes, got %d", MaxRequestLen, len(msg))
	}
	n, err := note.Open(msg, known)
	if err != nil {
		return EvidenceRequest{}, fmt.Errorf("evidence request: %w", err)
	}
	r, err := ParseRequestText([]byte(n.Text))
	if err != nil {
		return EvidenceRequest{}, err
	}
	for _, s := range n.Sigs {
		if s.Name == bus.EdgeNoteName(r.Edge) {
			return r, nil
		}
	}
	return EvidenceRequest{}, fmt.Errorf("evidence request: not signed by a seal key of edge %s", r.Edge)
}
