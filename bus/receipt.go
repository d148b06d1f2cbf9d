package bus

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// EventKind says what happened at the axis. The values are wire strings:
// they never change once released; new ones may be added.
type EventKind string

// Event kinds.
const (
	// EventSubmissionAccepted: the axis verified a submission and took it
	// for routing. Sender and Recipients are required.
	EventSubmissionAccepted EventKind = "submission-accepted"
	// EventSubmissionRejected: the axis refused a submission. Reason is
	// required (a signing reason code such as "revoked" for a signature
	// failure, or a bus Reason); Sender is set when it was known.
	EventSubmissionRejected EventKind = "submission-rejected"
	// EventDelivered: the axis published the package to an edge's inbox.
	// Edge and Recipients (the OrganIds that edge serves) are required.
	EventDelivered EventKind = "delivered"
	// EventStatus: a status package (codes 01–06, 13, 15, 16) was routed.
	// StatusCode, Sender and Recipients are required.
	EventStatus EventKind = "status"
	// EventRejectionNotice: a recipient edge sent a signed rejection
	// notice for the package. Edge and Reason are required.
	EventRejectionNotice EventKind = "rejection-notice"
)

var eventKinds = []EventKind{EventSubmissionAccepted, EventSubmissionRejected, EventDelivered, EventStatus, EventRejectionNotice}

// Limits of Event fields (wire contract).
const (
	MaxReasonLen     = 64   // bytes in Event.Reason
	MaxDetailLen     = 1024 // bytes in Event.Detail
	MaxChainLen      = 16   // certificates in Evidence.Chain
	MaxCRLs          = 16   // entries in Evidence.CRLs
	maxCRLNumberLen  = 49   // decimal digits of a 20-octet CRL number
	MaxReceiptLen    = 4 << 20
	EventVersion     = 1 // the "v" of events this release writes
	ReceiptVersion   = 1 // the "v" of receipts this release writes
	eventTimeLayout  = "2006-01-02T15:04:05.000000000Z"
	minEventTimeYear = 1970
)

// Event is one axis event: the content of one log leaf. It is bound to the
// exact package it speaks about by PackageSHA256, and for a rejection
// carries the signing reason code.
//
// # Encoding
//
// Encode writes an event as JSON in one canonical form, and DecodeEvent
// accepts only that form, so that an event has exactly one leaf encoding
// and its leaf hash never changes:
//
//   - one object, no whitespace, keys in this order: v, kind, time,
//     msg_id, sha256, sender, recipients, edge, status, reason, detail,
//     evidence (and inside evidence: verified_at, chain, crls; inside a
//     CRL entry: issuer, number);
//   - optional members (sender, recipients, edge, status, reason, detail,
//     evidence, crls) are left out when empty, never written as "" or [];
//   - v is the number 1 (EventVersion);
//   - times are UTC with nine fractional digits, "2026-03-02T08:00:00.000000000Z";
//   - SHA-256 values are 64 lowercase hex digits;
//   - strings escape only '"' and '\' (with a backslash); every other
//     character, including non-ASCII, is written as its UTF-8 bytes
//     (control characters are not allowed in any field).
//
// New optional members may be added in later releases without changing v
// and without changing the encoding of events that do not use them; an
// older release refuses an event with a member it does not know. A change
// to the encoding of existing members would be a new v.
type Event struct {
	Kind EventKind
	// Time is when the axis recorded the event.
	Time time.Time
	// MessageID is the message the event is about (Message.ID rules).
	MessageID string
	// PackageSHA256 is the SHA-256 of the exact package bytes (the
	// submission, or the status or rejection package). Required.
	PackageSHA256 [32]byte
	// Sender is the OrganId the package was sent on behalf of.
	Sender string
	// Recipients are OrganIds: all of the package's recipients for a
	// submission or status, those the edge serves for a delivery.
	Recipients []string
	// Edge is the edge delivered to, or the edge that sent a rejection
	// notice (ValidateEdgeID rules).
	Edge string
	// StatusCode is the edXML status code of a status event: two digits.
	StatusCode string
	// Reason is the stable reason code of a rejection: 1–64 bytes of
	// [a-z0-9-] starting with a letter (signing.Reason values fit).
	Reason string
	// Detail is a short human explanation (UTF-8 without control
	// characters, at most MaxDetailLen bytes). Never package contents.
	Detail string
	// Evidence is what the signature verification relied on, recorded when
	// it happened. Optional.
	Evidence Evidence
}

// Evidence records what a signature verification relied on, so that it can
// be shown after the certificates expire.
type Evidence struct {
	// VerifiedAt is the verification time. Required when Evidence is set.
	VerifiedAt time.Time
	// Chain holds the SHA-256 of each certificate's DER, the signer's
	// first, then up to the root. 1–MaxChainLen entries.
	Chain [][32]byte
	// CRLs are the CRLs checked, at most MaxCRLs.
	CRLs []CRLEvidence
}

// CRLEvidence identifies one CRL a verification relied on.
type CRLEvidence struct {
	// Issuer is the SHA-256 of the CRL issuer's certificate DER.
	Issuer [32]byte
	// Number is the CRL number (RFC 5280 §5.2.3) in decimal, without
	// leading zeros.
	Number string
}

// IsZero reports whether no evidence is recorded.
func (e Evidence) IsZero() bool {
	return e.VerifiedAt.IsZero() && len(e.Chain) == 0 && len(e.CRLs) == 0
}

func eventErr(field string, r Reason, format string, args ...any) *EvidenceError {
	return evidenceErr("event", field, r, format, args...)
}

// asEventErr turns a message-rule error into an event error.
func asEventErr(err error) error {
	if err == nil {
		return nil
	}
	var me *MessageError
	if errors.As(err, &me) {
		return &EvidenceError{What: "event", Field: me.Field, Reason: me.Reason, Rule: me.Rule}
	}
	var ne *NameError
	if errors.As(err, &ne) {
		return &EvidenceError{What: "event", Field: "Edge", Reason: ReasonInvalid, Rule: ne.Rule}
	}
	return err
}

// Validate checks every field of e against its rule and the rules of its
// Kind, and returns an *EvidenceError naming the first field it refuses.
func (e Event) Validate() error {
	if e.Kind == "" {
		return eventErr("Kind", ReasonMissing, "an event kind is required")
	}
	if !slices.Contains(eventKinds, e.Kind) {
		return eventErr("Kind", ReasonInvalid, "unknown event kind %q", clip(string(e.Kind)))
	}
	if err := checkEventTime("Time", e.Time); err != nil {
		return err
	}
	if err := asEventErr(checkID("MessageID", e.MessageID)); err != nil {
		return err
	}
	if e.PackageSHA256 == ([32]byte{}) {
		return eventErr("PackageSHA256", ReasonMissing, "the SHA-256 of the package is required")
	}
	if e.Sender != "" {
		if err := asEventErr(checkOrganID("Sender", e.Sender)); err != nil {
			return err
		}
	}
	if len(e.Recipients) > 0 {
		if err := asEventErr(checkRecipients("Recipients", TypeDocument, e.Recipients)); err != nil {
			return err
		}
	}
	if e.Edge != "" {
		if err := ValidateEdgeID(e.Edge); err != nil {
			return asEventErr(err)
		}
	}
	if e.StatusCode != "" && (len(e.StatusCode) != 2 || !isDigit(e.StatusCode[0]) || !isDigit(e.StatusCode[1])) {
		return eventErr("StatusCode", ReasonInvalid, "a status code is two digits, got %q", clip(e.StatusCode))
	}
	if e.Reason != "" {
		if err := checkReasonCode(e.Reason); err != nil {
			return err
		}
	}
	if err := checkDetail(e.Detail); err != nil {
		return err
	}
	if !e.Evidence.IsZero() {
		if err := e.Evidence.validate(); err != nil {
			return err
		}
	}
	required := func(field string, ok bool) error {
		if ok {
			return nil
		}
		return eventErr(field, ReasonMissing, "required in a %s event", e.Kind)
	}
	var errs []error
	switch e.Kind {
	case EventSubmissionAccepted:
		errs = append(errs, required("Sender", e.Sender != ""), required("Recipients", len(e.Recipients) > 0))
		if e.Reason != "" {
			errs = append(errs, eventErr("Reason", ReasonInvalid, "an accepted submission has no rejection reason"))
		}
	case EventSubmissionRejected:
		errs = append(errs, required("Reason", e.Reason != ""))
	case EventDelivered:
		errs = append(errs, required("Edge", e.Edge != ""), required("Recipients", len(e.Recipients) > 0))
	case EventStatus:
		errs = append(errs, required("StatusCode", e.StatusCode != ""), required("Sender", e.Sender != ""), required("Recipients", len(e.Recipients) > 0))
	case EventRejectionNotice:
		errs = append(errs, required("Edge", e.Edge != ""), required("Reason", e.Reason != ""))
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func checkEventTime(field string, t time.Time) error {
	if t.IsZero() {
		return eventErr(field, ReasonMissing, "a time is required")
	}
	if y := t.UTC().Year(); y < minEventTimeYear || y > 9999 {
		return eventErr(field, ReasonInvalid, "the year must be %d–9999, got %d", minEventTimeYear, y)
	}
	return nil
}

func checkReasonCode(r string) error {
	if r == "" {
		return eventErr("Reason", ReasonMissing, "a reason code is required")
	}
	if len(r) > MaxReasonLen {
		return eventErr("Reason", ReasonTooLarge, "a reason code has at most %d bytes, got %d", MaxReasonLen, len(r))
	}
	if r[0] < 'a' || r[0] > 'z' {
		return eventErr("Reason", ReasonInvalid, "a reason code starts with [a-z], got %q", clip(r))
	}
	for i := 1; i < len(r); i++ {
		if c := r[i]; !isLowerAlnum(c) && c != '-' {
			return eventErr("Reason", ReasonInvalid, "a reason code is [a-z0-9-], got %q", clip(r))
		}
	}
	return nil
}

func checkDetail(d string) error {
	if len(d) > MaxDetailLen {
		return eventErr("Detail", ReasonTooLarge, "at most %d bytes, got %d", MaxDetailLen, len(d))
	}
	if !utf8.ValidString(d) {
		return eventErr("Detail", ReasonInvalid, "must be valid UTF-8")
	}
	for _, r := range d {
		if unicode.IsControl(r) {
			return eventErr("Detail", ReasonInvalid, "must not contain control characters (%U)", r)
		}
	}
	return nil
}

func (ev Evidence) validate() error {
	if err := checkEventTime("Evidence.VerifiedAt", ev.VerifiedAt); err != nil {
		return err
	}
	if len(ev.Chain) == 0 {
		return eventErr("Evidence.Chain", ReasonMissing, "at least the signer's certificate is required")
	}
	if len(ev.Chain) > MaxChainLen {
		return eventErr("Evidence.Chain", ReasonTooLarge, "at most %d certificates, got %d", MaxChainLen, len(ev.Chain))
	}
	for i, h := range ev.Chain {
		if h == ([32]byte{}) {
			return eventErr(fmt.Sprintf("Evidence.Chain[%d]", i), ReasonMissing, "a certificate fingerprint is required")
		}
	}
	if len(ev.CRLs) > MaxCRLs {
		return eventErr("Evidence.CRLs", ReasonTooLarge, "at most %d CRLs, got %d", MaxCRLs, len(ev.CRLs))
	}
	for i, c := range ev.CRLs {
		if c.Issuer == ([32]byte{}) {
			return eventErr(fmt.Sprintf("Evidence.CRLs[%d].Issuer", i), ReasonMissing, "the CRL issuer's fingerprint is required")
		}
		if !isCanonicalDecimal(c.Number, maxCRLNumberLen) {
			return eventErr(fmt.Sprintf("Evidence.CRLs[%d].Number", i), ReasonInvalid, "a CRL number is 1–%d decimal digits without leading zeros, got %q", maxCRLNumberLen, clip(c.Number))
		}
	}
	return nil
}

func isCanonicalDecimal(s string, max int) bool {
	if s == "" || len(s) > max || (s[0] == '0' && len(s) > 1) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// Encode validates e and returns its canonical encoding: the leaf bytes.
func (e Event) Encode() ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(`{"v":`)
	b.WriteString(strconv.Itoa(EventVersion))
	member(&b, "kind", string(e.Kind))
	member(&b, "time", e.Time.UTC().Format(eventTimeLayout))
	member(&b, "msg_id", e.MessageID)
	member(&b, "sha256", hex.EncodeToString(e.PackageSHA256[:]))
	if e.Sender != "" {
		member(&b, "sender", e.Sender)
	}
	if len(e.Recipients) > 0 {
		b.WriteString(`,"recipients":[`)
		for i, r := range e.Recipients {
			if i > 0 {
				b.WriteByte(',')
			}
			jsonString(&b, r)
		}
		b.WriteByte(']')
	}
	for _, m := range [...]struct{ k, v string }{{"edge", e.Edge}, {"status", e.StatusCode}, {"reason", e.Reason}, {"detail", e.Detail}} {
		if m.v != "" {
			member(&b, m.k, m.v)
		}
	}
	if ev := e.Evidence; !ev.IsZero() {
		b.WriteString(`,"evidence":{"verified_at":`)
		jsonString(&b, ev.VerifiedAt.UTC().Format(eventTimeLayout))
		b.WriteString(`,"chain":[`)
		for i, h := range ev.Chain {
			if i > 0 {
				b.WriteByte(',')
			}
			jsonString(&b, hex.EncodeToString(h[:]))
		}
		b.WriteByte(']')
		if len(ev.CRLs) > 0 {
			b.WriteString(`,"crls":[`)
			for i, c := range ev.CRLs {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(`{"issuer":`)
				jsonString(&b, hex.EncodeToString(c.Issuer[:]))
				member(&b, "number", c.Number)
				b.WriteByte('}')
			}
			b.WriteByte(']')
		}
		b.WriteByte('}')
	}
	b.WriteByte('}')
	if b.Len() > MaxLeafSize {
		return nil, eventErr("", ReasonTooLarge, "an encoded event has at most %d bytes, got %d", MaxLeafSize, b.Len())
	}
	return b.Bytes(), nil
}

func member(b *bytes.Buffer, k, v string) {
	b.WriteString(`,"`)
	b.WriteString(k)
	b.WriteString(`":`)
	jsonString(b, v)
}

// jsonString writes s as a JSON string escaping only '"' and '\'. Callers
// have refused control characters and invalid UTF-8.
func jsonString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
}

// eventJSON is the decoding shape of an event.
type eventJSON struct {
	V          *int     `json:"v"`
	Kind       string   `json:"kind"`
	Time       string   `json:"time"`
	MsgID      string   `json:"msg_id"`
	SHA256     string   `json:"sha256"`
	Sender     string   `json:"sender"`
	Recipients []string `json:"recipients"`
	Edge       string   `json:"edge"`
	Status     string   `json:"status"`
	Reason     string   `json:"reason"`
	Detail     string   `json:"detail"`
	Evidence   *struct {
		VerifiedAt string   `json:"verified_at"`
		Chain      []string `json:"chain"`
		CRLs       []struct {
			Issuer string `json:"issuer"`
			Number string `json:"number"`
		} `json:"crls"`
	} `json:"evidence"`
}

// DecodeEvent reads a leaf written by Event.Encode. It refuses anything
// that is not exactly the canonical encoding of a valid event (other
// spacing, member order, escapes or number forms; unknown or repeated
// members) with an *EvidenceError naming the field, and a "v" other than
// EventVersion with ReasonVersion.
func DecodeEvent(leaf []byte) (Event, error) {
	if len(leaf) > MaxLeafSize {
		return Event{}, eventErr("", ReasonTooLarge, "an encoded event has at most %d bytes, got %d", MaxLeafSize, len(leaf))
	}
	var j eventJSON
	if err := strictJSON(leaf, &j); err != nil {
		return Event{}, &EvidenceError{What: "event", Reason: ReasonInvalid, Rule: "not an event object: " + err.Error(), Err: err}
	}
	if j.V == nil {
		return Event{}, eventErr("v", ReasonMissing, "the encoding version is required")
	}
	if *j.V != EventVersion {
		return Event{}, eventErr("v", ReasonVersion, "this release reads event version %d, got %d", EventVersion, *j.V)
	}
	e := Event{
		Kind:       EventKind(j.Kind),
		MessageID:  j.MsgID,
		Sender:     j.Sender,
		Recipients: j.Recipients,
		Edge:       j.Edge,
		StatusCode: j.Status,
		Reason:     j.Reason,
		Detail:     j.Detail,
	}
	var err error
	if e.Time, err = parseEventTime("time", j.Time); err != nil {
		return Event{}, err
	}
	if e.PackageSHA256, err = parseHex32("sha256", j.SHA256); err != nil {
		return Event{}, err
	}
	if ev := j.Evidence; ev != nil {
		if e.Evidence.VerifiedAt, err = parseEventTime("evidence.verified_at", ev.VerifiedAt); err != nil {
			return Event{}, err
		}
		for i, c := range ev.Chain {
			h, err := parseHex32(fmt.Sprintf("evidence.chain[%d]", i), c)
			if err != nil {
				return Event{}, err
			}
			e.Evidence.Chain = append(e.Evidence.Chain, h)
		}
		for i, c := range ev.CRLs {
			h, err := parseHex32(fmt.Sprintf("evidence.crls[%d].issuer", i), c.Issuer)
			if err != nil {
				return Event{}, err
			}
			e.Evidence.CRLs = append(e.Evidence.CRLs, CRLEvidence{Issuer: h, Number: c.Number})
		}
	}
	again, err := e.Encode()
	if err != nil {
		return Event{}, err
	}
	if !bytes.Equal(again, leaf) {
		return Event{}, eventErr("", ReasonInvalid, "not in the canonical encoding (member order, spacing, escapes, empty members or time form differ)")
	}
	return e, nil
}

func parseEventTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, eventErr(field, ReasonMissing, "a time is required")
	}
	t, err := time.Parse(eventTimeLayout, s)
	if err != nil {
		return time.Time{}, eventErr(field, ReasonInvalid, "a time is UTC with nine fractional digits (%s), got %q", eventTimeLayout, clip(s))
	}
	return t, nil
}

func parseHex32(field, s string) ([32]byte, error) {
	var h [32]byte
	if len(s) != 64 || hexDecode(h[:], s) != nil {
		return h, eventErr(field, ReasonInvalid, "must be 64 hex digits, got %q", clip(s))
	}
	return h, nil
}

// strictJSON decodes exactly one JSON value into v, refusing unknown
// members and trailing data.
func strictJSON(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

// Receipt is the proof part of an axis receipt: an event, its place in the
// transparency log, the audit path, and the signed checkpoint the path
// leads to. One checkpoint signature covers every receipt issued against
// it.
//
// # Encoding
//
// Encode writes a receipt as one JSON object with members in this order:
//
//	{"v":1,"index":<leaf index>,"event":"<base64 of the leaf bytes>",
//	 "proof":["<base64 of a 32-byte hash>",...],"checkpoint":"<base64 of the signed note>"}
//
// (without whitespace). Base64 is standard with padding. v is
// ReceiptVersion; a different v is refused with ReasonVersion. Members
// never change meaning; new optional ones may be added. DecodeReceipt
// accepts any JSON spacing, so that a receipt survives pretty-printing.
type Receipt struct {
	// Event is the exact leaf bytes (an encoded Event).
	Event []byte
	// Index is the leaf's index in the log.
	Index int64
	// Proof is the inclusion proof of the leaf in the tree of the
	// checkpoint's size.
	Proof [][32]byte
	// Checkpoint is the signed checkpoint (a signed note).
	Checkpoint []byte
}

func receiptErr(field string, r Reason, format string, args ...any) *EvidenceError {
	return evidenceErr("receipt", field, r, format, args...)
}

func (r Receipt) check() error {
	switch {
	case len(r.Event) == 0:
		return receiptErr("event", ReasonMissing, "the event leaf is required")
	case len(r.Event) > MaxLeafSize:
		return receiptErr("event", ReasonTooLarge, "at most %d bytes, got %d", MaxLeafSize, len(r.Event))
	case r.Index < 0:
		return receiptErr("index", ReasonInvalid, "must not be negative, got %d", r.Index)
	case len(r.Proof) > MaxProofLen:
		return receiptErr("proof", ReasonTooLarge, "at most %d hashes, got %d", MaxProofLen, len(r.Proof))
	case len(r.Checkpoint) == 0:
		return receiptErr("checkpoint", ReasonMissing, "the signed checkpoint is required")
	case len(r.Checkpoint) > MaxSignedCheckpointLen:
		return receiptErr("checkpoint", ReasonTooLarge, "at most %d bytes, got %d", MaxSignedCheckpointLen, len(r.Checkpoint))
	}
	return nil
}

// Encode returns the receipt's JSON encoding after checking its shape (it
// does not verify it: see Verify).
func (r Receipt) Encode() ([]byte, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	enc := base64.StdEncoding
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"v":%d,"index":%d,"event":"%s","proof":[`, ReceiptVersion, r.Index, enc.EncodeToString(r.Event))
	for i, h := range r.Proof {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"%s"`, enc.EncodeToString(h[:]))
	}
	fmt.Fprintf(&b, `],"checkpoint":"%s"}`, enc.EncodeToString(r.Checkpoint))
	return b.Bytes(), nil
}

type receiptJSON struct {
	V          *int     `json:"v"`
	Index      *int64   `json:"index"`
	Event      []byte   `json:"event"`
	Proof      []string `json:"proof"`
	Checkpoint []byte   `json:"checkpoint"`
}

// DecodeReceipt reads a receipt written by Encode. It refuses unknown
// members, trailing data, a missing or unknown version, hashes that are not
// 32 bytes and anything over MaxReceiptLen, with an *EvidenceError naming
// the member. It does not verify the receipt: see Verify.
func DecodeReceipt(data []byte) (Receipt, error) {
	if len(data) > MaxReceiptLen {
		return Receipt{}, receiptErr("", ReasonTooLarge, "at most %d bytes, got %d", MaxReceiptLen, len(data))
	}
	var j receiptJSON
	if err := strictJSON(data, &j); err != nil {
		return Receipt{}, &EvidenceError{What: "receipt", Reason: ReasonInvalid, Rule: "not a receipt object: " + err.Error(), Err: err}
	}
	switch {
	case j.V == nil:
		return Receipt{}, receiptErr("v", ReasonMissing, "the encoding version is required")
	case *j.V != ReceiptVersion:
		return Receipt{}, receiptErr("v", ReasonVersion, "this release reads receipt version %d, got %d", ReceiptVersion, *j.V)
	case j.Index == nil:
		return Receipt{}, receiptErr("index", ReasonMissing, "the leaf index is required")
	case len(j.Proof) > MaxProofLen:
		return Receipt{}, receiptErr("proof", ReasonTooLarge, "at most %d hashes, got %d", MaxProofLen, len(j.Proof))
	}
	r := Receipt{Event: j.Event, Index: *j.Index, Checkpoint: j.Checkpoint, Proof: make([][32]byte, len(j.Proof))}
	for i, s := range j.Proof {
		h, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(h) != 32 {
			return Receipt{}, receiptErr(fmt.Sprintf("proof[%d]", i), ReasonInvalid, "must be the standard base64 of 32 bytes")
		}
		copy(r.Proof[i][:], h)
	}
	if err := r.check(); err != nil {
		return Receipt{}, err
	}
	return r, nil
}

// Verify checks the receipt offline: the checkpoint is signed by a trusted
// key of its log (OpenCheckpoint with known) and the proof leads from the
// event leaf at Index to the checkpoint's root hash (VerifyInclusion). It
// does not decode the event (see Open) and says nothing about whether
// the log later stayed consistent: that takes a consistency proof to a
// checkpoint the verifier trusts (VerifyConsistency).
func (r Receipt) Verify(known note.Verifiers) error {
	_, err := r.verify(known)
	return err
}

func (r Receipt) verify(known note.Verifiers) (SignedCheckpoint, error) {
	if err := r.check(); err != nil {
		return SignedCheckpoint{}, err
	}
	cp, err := OpenCheckpoint(r.Checkpoint, known)
	if err != nil {
		return SignedCheckpoint{}, fmt.Errorf("receipt for leaf %d: %w", r.Index, err)
	}
	if err := VerifyInclusion(r.Event, r.Index, r.Proof, cp.Checkpoint); err != nil {
		return SignedCheckpoint{}, fmt.Errorf("receipt for leaf %d: %w", r.Index, err)
	}
	return cp, nil
}

// Open verifies the receipt (see Verify) and decodes its event.
func (r Receipt) Open(known note.Verifiers) (Event, SignedCheckpoint, error) {
	cp, err := r.verify(known)
	if err != nil {
		return Event{}, SignedCheckpoint{}, err
	}
	e, err := DecodeEvent(r.Event)
	if err != nil {
		return Event{}, SignedCheckpoint{}, fmt.Errorf("receipt for leaf %d: %w", r.Index, err)
	}
	return e, cp, nil
}

// ReceiptFor builds the receipt of the leaf at index against cp, a
// checkpoint of l that covers it (index < cp.Size).
func ReceiptFor(ctx context.Context, l Log, index int64, cp SignedCheckpoint) (Receipt, error) {
	if index < 0 || index >= cp.Size {
		return Receipt{}, fmt.Errorf("receipt for leaf %d: the checkpoint covers %d leaves: %w", index, cp.Size, ErrOutOfRange)
	}
	leaf, err := l.Leaf(ctx, index)
	if err != nil {
		return Receipt{}, fmt.Errorf("receipt for leaf %d: %w", index, err)
	}
	proof, err := l.InclusionProof(ctx, index, cp.Size)
	if err != nil {
		return Receipt{}, fmt.Errorf("receipt for leaf %d: %w", index, err)
	}
	return Receipt{Event: leaf, Index: index, Proof: proof, Checkpoint: cp.Note}, nil
}
