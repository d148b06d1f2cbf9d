package bus

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Ack is a recipient edge's acknowledgement that it durably stored the
// package with SHA256 that the axis delivered to it. Acks travel in
// batches as the Package of a TypeAck message: a signed note
// (c2sp.org/signed-note) whose text is
//
//	truc-ack v1
//	edge <edge ID>
//	sha256 <64 lowercase hex digits>
//	sha256 ...                         (one line per package, at least one)
//
// signed with the edge's seal key under EdgeNoteName: an ack ends the
// axis's redelivery to that edge, so an edge must not be able to ack for
// another (which could then lose letters it never stored). One signature
// covers a whole batch.
type Ack struct {
	Edge   string
	SHA256 [32]byte
}

const (
	ackHeader    = "truc-ack v1\n"
	noticeHeader = "truc-rejection v1\n"
	// MaxAcksPerNote bounds the packages one ack note acknowledges.
	MaxAcksPerNote = 4096
)

// Encode returns the text of an ack note for a alone.
func (a Ack) Encode() ([]byte, error) { return EncodeAcks(a.Edge, [][32]byte{a.SHA256}) }

// EncodeAcks returns the text of an ack note: edge acknowledges shas.
func EncodeAcks(edge string, shas [][32]byte) ([]byte, error) {
	if err := ValidateEdgeID(edge); err != nil {
		return nil, err
	}
	if len(shas) == 0 || len(shas) > MaxAcksPerNote {
		return nil, fmt.Errorf("ack: 1 to %d packages, got %d", MaxAcksPerNote, len(shas))
	}
	b := fmt.Appendf(nil, "%sedge %s\n", ackHeader, edge)
	for _, h := range shas {
		b = fmt.Appendf(b, "sha256 %x\n", h)
	}
	return b, nil
}

// SignAcks returns the signed ack note for shas.
func SignAcks(edge string, shas [][32]byte, s note.Signer) ([]byte, error) {
	text, err := EncodeAcks(edge, shas)
	if err != nil {
		return nil, err
	}
	return note.Sign(&note.Note{Text: string(text)}, s)
}

// OpenAcks verifies a signed ack note against known (the verifiers of the
// edge it names) and returns its acks.
func OpenAcks(msg []byte, known note.Verifiers) ([]Ack, error) {
	n, err := note.Open(msg, known)
	if err != nil {
		return nil, fmt.Errorf("ack: %w", err)
	}
	return DecodeAcks([]byte(n.Text))
}

// UnverifiedAckEdge returns the edge an ack note claims to come from, to
// find its verifiers; nothing else of an unverified note may be used.
func UnverifiedAckEdge(msg []byte) (string, error) {
	i := bytes.Index(msg, []byte("\n\n"))
	if i < 0 {
		return "", fmt.Errorf("ack: not a signed note")
	}
	acks, err := DecodeAcks(msg[:i+1])
	if err != nil {
		return "", err
	}
	return acks[0].Edge, nil
}

// DecodeAcks reads the text of an ack note, accepting only the canonical
// form.
func DecodeAcks(b []byte) ([]Ack, error) {
	s, ok := strings.CutPrefix(string(b), ackHeader)
	if !ok {
		return nil, fmt.Errorf("ack: must start with %q", strings.TrimSpace(ackHeader))
	}
	line, s, ok := strings.Cut(s, "\n")
	edge, okEdge := strings.CutPrefix(line, "edge ")
	if !ok || !okEdge {
		return nil, fmt.Errorf("ack: line \"edge\" missing")
	}
	if err := ValidateEdgeID(edge); err != nil {
		return nil, fmt.Errorf("ack: edge: %w", err)
	}
	var acks []Ack
	for s != "" {
		if len(acks) == MaxAcksPerNote {
			return nil, fmt.Errorf("ack: more than %d packages", MaxAcksPerNote)
		}
		line, rest, ok := strings.Cut(s, "\n")
		hexSHA, okSHA := strings.CutPrefix(line, "sha256 ")
		if !ok || !okSHA {
			return nil, fmt.Errorf("ack: line %d: want \"sha256 <hex>\"", len(acks)+3)
		}
		h, err := parseSHA(hexSHA)
		if err != nil {
			return nil, fmt.Errorf("ack: line %d: sha256: %w", len(acks)+3, err)
		}
		acks = append(acks, Ack{Edge: edge, SHA256: h})
		s = rest
	}
	if len(acks) == 0 {
		return nil, fmt.Errorf("ack: no package acknowledged")
	}
	return acks, nil
}

// DecodeAck reads the text of an ack note for exactly one package.
func DecodeAck(b []byte) (Ack, error) {
	acks, err := DecodeAcks(b)
	if err != nil {
		return Ack{}, err
	}
	if len(acks) != 1 {
		return Ack{}, fmt.Errorf("ack: %d packages, want 1", len(acks))
	}
	return acks[0], nil
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
	d := truncateUTF8(sanitizeDetail(n.Detail), MaxDetailLen)
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
