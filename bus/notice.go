package bus

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Ack is a recipient edge's acknowledgement that it durably stored the
// package with SHA256 that the axis delivered to it. It travels as the
// Package of a TypeAck message, encoded by Encode:
//
//	truc-ack v1
//	edge <edge ID>
//	sha256 <64 lowercase hex digits>
//
// (each line ending in "\n"). Acks are not signed: the Kafka ACLs let only
// the edge itself write with its principal, and a forged ack can at worst
// delay a redelivery, never forge content.
type Ack struct {
	Edge   string
	SHA256 [32]byte
}

const (
	ackHeader    = "truc-ack v1\n"
	noticeHeader = "truc-rejection v1\n"
)

// Encode returns the canonical encoding of a.
func (a Ack) Encode() ([]byte, error) {
	if err := ValidateEdgeID(a.Edge); err != nil {
		return nil, err
	}
	return fmt.Appendf(nil, "%sedge %s\nsha256 %x\n", ackHeader, a.Edge, a.SHA256), nil
}

// DecodeAck reads an encoded Ack, accepting only the canonical form.
func DecodeAck(b []byte) (Ack, error) {
	fields, err := lines(b, ackHeader, "edge", "sha256")
	if err != nil {
		return Ack{}, fmt.Errorf("ack: %w", err)
	}
	a := Ack{Edge: fields[0]}
	if err := ValidateEdgeID(a.Edge); err != nil {
		return Ack{}, fmt.Errorf("ack: edge: %w", err)
	}
	if a.SHA256, err = parseSHA(fields[1]); err != nil {
		return Ack{}, fmt.Errorf("ack: sha256: %w", err)
	}
	if got, _ := a.Encode(); !bytes.Equal(got, b) {
		return Ack{}, fmt.Errorf("ack: not in canonical form")
	}
	return a, nil
}

// Notice is a signed rejection notice: the edge Edge refused the package
// with SHA256 (message MessageID) for Reason. It travels as the Package of
// a TypeRejection message: a signed note (c2sp.org/signed-note) whose text
// is
//
//	truc-rejection v1
//	edge <edge ID>
//	sha256 <hex>
//	message-id <message ID>
//	reason <reason code>
//	detail <one line of text>
//
// signed with the edge's seal key; the axis checks the signature against
// the edge's certificates in the directory, logs it and forwards the same
// bytes to the original sender's edge.
type Notice struct {
	Edge      string
	SHA256    [32]byte
	MessageID string
	Reason    string
	Detail    string
}

func (n Notice) text() ([]byte, error) {
	if err := ValidateEdgeID(n.Edge); err != nil {
		return nil, err
	}
	if err := checkID("message-id", n.MessageID); err != nil {
		return nil, err
	}
	if n.Reason == "" {
		return nil, fmt.Errorf("reason: a reason code is required")
	}
	if err := checkReasonCode(n.Reason); err != nil {
		return nil, err
	}
	d := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(n.Detail, "\uFFFD"))
	d = truncateUTF8(d, MaxDetailLen)
	return fmt.Appendf(nil, "%sedge %s\nsha256 %x\nmessage-id %s\nreason %s\ndetail %s\n",
		noticeHeader, n.Edge, n.SHA256, n.MessageID, n.Reason, d), nil
}

// Sign returns the signed note of n.
func (n Notice) Sign(s note.Signer) ([]byte, error) {
	text, err := n.text()
	if err != nil {
		return nil, fmt.Errorf("rejection notice: %w", err)
	}
	return note.Sign(&note.Note{Text: string(text)}, s)
}

// OpenNotice verifies a signed rejection notice against known and decodes
// it.
func OpenNotice(msg []byte, known note.Verifiers) (Notice, error) {
	nt, err := note.Open(msg, known)
	if err != nil {
		return Notice{}, fmt.Errorf("rejection notice: %w", err)
	}
	return ParseNoticeText([]byte(nt.Text))
}

// ParseUnverifiedNotice decodes a rejection notice without checking its
// signature: for display only, never for a decision.
func ParseUnverifiedNotice(msg []byte) (Notice, error) {
	i := bytes.Index(msg, []byte("\n\n"))
	if i < 0 {
		return Notice{}, fmt.Errorf("rejection notice: not a signed note")
	}
	return ParseNoticeText(msg[:i+1])
}

// ParseNoticeText decodes the text of a rejection notice.
func ParseNoticeText(text []byte) (Notice, error) {
	f, err := lines(text, noticeHeader, "edge", "sha256", "message-id", "reason", "detail")
	if err != nil {
		return Notice{}, fmt.Errorf("rejection notice: %w", err)
	}
	n := Notice{Edge: f[0], MessageID: f[2], Reason: f[3], Detail: f[4]}
	if n.SHA256, err = parseSHA(f[1]); err != nil {
		return Notice{}, fmt.Errorf("rejection notice: sha256: %w", err)
	}
	if got, err := n.text(); err != nil || !bytes.Equal(got, text) {
		return Notice{}, fmt.Errorf("rejection notice: not in canonical form")
	}
	return n, nil
}

func lines(b []byte, header string, names ...string) ([]string, error) {
	s, ok := strings.CutPrefix(string(b), header)
	if !ok {
		return nil, fmt.Errorf("must start with %q", strings.TrimSpace(header))
	}
	out := make([]string, 0, len(names))
	for _, name := range names {
		line, rest, ok := strings.Cut(s, "\n")
		if !ok {
			return nil, fmt.Errorf("line %q missing", name)
		}
		v, ok := strings.CutPrefix(line, name+" ")
		if !ok {
			return nil, fmt.Errorf("line %q missing", name)
		}
		out = append(out, v)
		s = rest
	}
	if s != "" {
		return nil, fmt.Errorf("unexpected text after %q", names[len(names)-1])
	}
	return out, nil
}

func parseSHA(s string) ([32]byte, error) {
	var h [32]byte
	if len(s) != 64 || strings.ToLower(s) != s {
		return h, fmt.Errorf("want 64 lowercase hex digits")
	}
	_, err := hex.Decode(h[:], []byte(s))
	return h, err
}
