package bus

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"truc.vn/truc/edoc"
)

// Type says what a Message carries. The values are wire strings: they never
// change once released; new ones may be added, and a process that does not
// know a type treats the message as undecodable (see DecodeMessage).
type Type string

// Message types.
const (
	// TypeDocument is an official letter: a new document, an update, a
	// replacement or a revocation (edXML BussinessDocType 0–3). It goes to
	// the recipients listed in the package.
	TypeDocument Type = "document"
	// TypeStatus is a signed edXML status package (codes 01–06, 13, 15,
	// 16): from a recipient to the original sender, or for a recall (13)
	// from the original sender to the recipients.
	TypeStatus Type = "status"
	// TypeReceipt is an axis receipt for a submission: accepted, delivered
	// to an edge, or rejected with a typed reason.
	TypeReceipt Type = "receipt"
	// TypeRejection is a signed rejection notice from a recipient edge for
	// a package that failed verification there.
	TypeRejection Type = "rejection"
	// TypeDeadLetter is a record that could never be processed, kept with
	// the reason in the dead-letter topic. See DeadLetter.
	TypeDeadLetter Type = "dead-letter"
	// TypeAck is a recipient edge's acknowledgement that it durably stored
	// a package the axis delivered to it (see EncodeAck). The axis stops
	// redelivering once it has it. Sender and Recipients repeat those of
	// the acknowledged delivery; Key is its root-document key.
	TypeAck Type = "ack"
)

var knownTypes = []Type{TypeDocument, TypeStatus, TypeReceipt, TypeRejection, TypeDeadLetter, TypeAck}

// Bounds on message fields. They are part of the wire contract: a record
// outside them is refused by every process.
const (
	MaxIDLen         = 255                   // bytes in Message.ID
	MaxOrganIDLen    = edoc.MaxOrganIDLength // bytes in an OrganId (QCVN 102:2016 amended 2022)
	MaxDocumentIDLen = 512                   // bytes in a DocumentId (opaque, ~200 characters of UTF-8)
	MaxKeyLen        = 1024                  // bytes in Message.Key
	MaxRecipients    = 10000                 // OrganIds in Message.Recipients
	MaxAttrs         = 16                    // entries in Message.Attrs
	MaxAttrKeyLen    = 32                    // bytes in an Attrs key
	MaxAttrValueLen  = 256                   // bytes in an Attrs value
)

const (
	rootKeySeparator = "/"
	recipientsJoiner = ","
)

// Message is one package on its way between an edge and the axis, with the
// routing data the bus needs before it has verified the package.
//
// The zero value is not valid; fill every field and call Validate (Publish
// does).
type Message struct {
	// ID is the message ID: assigned by the sending edge when it accepts a
	// submission (or by the axis for its receipts), used by tracking and the
	// APIs. 1–255 bytes of [A-Za-z0-9._:-], starting with a letter or digit.
	ID string
	// Type says what Package is.
	Type Type
	// Key is the root-document key, RootKey(original sender OrganId,
	// DocumentId): a letter and all its later statuses, updates and recalls
	// share it, so they share a partition and keep their order. A
	// dead-letter keeps the key of the record it replaces when that key
	// was valid, else its own ID.
	Key string
	// Sender is the OrganId on whose behalf the message is sent (for an
	// axis receipt, the axis operator's own OrganId). Empty only in a
	// dead-letter whose original had no valid sender.
	Sender string
	// Recipients are the OrganIds the message is for. On truc.submit: every
	// recipient of the package; on an inbox topic: only those the receiving
	// edge serves. Unique, 1–MaxRecipients entries; empty only in a
	// dead-letter.
	Recipients []string
	// SHA256 is the SHA-256 of Package: the content identity the axis and
	// the edges deduplicate on.
	SHA256 [32]byte
	// Package is the exact bytes of the signed package. Nothing re-encodes
	// it; a receiver gets the bytes the sender signed. Non-empty except in a
	// dead-letter.
	Package []byte
	// Attrs are small extra routing attributes (a status code, a receipt
	// outcome): at most MaxAttrs entries, keys of [a-z0-9.-] up to
	// MaxAttrKeyLen bytes starting with a letter or digit, values of valid
	// UTF-8 up to MaxAttrValueLen bytes. Nil and empty are the same.
	Attrs map[string]string
}

// Reason is the stable, machine-readable cause of a refused message. It
// travels in dead-letter records and receipts: the values never change once
// released; new ones may be added.
type Reason string

// Reasons a message is refused.
const (
	ReasonMissing      Reason = "missing"             // a required field or header is absent or empty
	ReasonInvalid      Reason = "invalid"             // a value breaks its syntax rule
	ReasonTooLarge     Reason = "too-large"           // a value, or a count of values, is over its bound
	ReasonDuplicate    Reason = "duplicate"           // a value or header that must be unique appears twice
	ReasonHashMismatch Reason = "hash-mismatch"       // SHA256 is not the SHA-256 of Package
	ReasonVersion      Reason = "unsupported-version" // the record was written in a wire format this process does not read
)

// MessageError is the error for a message that breaks a rule, from Validate
// or DecodeMessage. Field names what was refused: a Message field
// ("Recipients[2]") or, when decoding, the record part ("header
// truc-sender", "record key").
type MessageError struct {
	Field  string
	Reason Reason
	Rule   string // the rule that was broken, in words
}

func (e *MessageError) Error() string {
	return fmt.Sprintf("message %s: %s: %s", e.Field, e.Reason, e.Rule)
}

func fieldErr(field string, r Reason, format string, args ...any) *MessageError {
	return &MessageError{Field: field, Reason: r, Rule: fmt.Sprintf(format, args...)}
}

// RootKey returns the key of a letter's root document: the original
// sender's OrganId, "/", then the DocumentId. The DocumentId is opaque and
// may itself contain "/"; an OrganId never does, so the first "/" splits the
// key back (ParseRootKey).
func RootKey(organID, documentID string) (string, error) {
	if err := checkOrganID("organ ID", organID); err != nil {
		return "", err
	}
	if err := checkDocumentID("document ID", documentID); err != nil {
		return "", err
	}
	return organID + rootKeySeparator + documentID, nil
}

// ParseRootKey splits a key made by RootKey and checks both parts.
func ParseRootKey(key string) (organID, documentID string, err error) {
	organID, documentID, ok := strings.Cut(key, rootKeySeparator)
	if !ok {
		return "", "", fieldErr("Key", ReasonInvalid, "a root key is OrganId/DocumentId; %q has no %q", clip(key), rootKeySeparator)
	}
	if err := checkOrganID("Key (OrganId part)", organID); err != nil {
		return "", "", err
	}
	if err := checkDocumentID("Key (DocumentId part)", documentID); err != nil {
		return "", "", err
	}
	return organID, documentID, nil
}

// ValidateOrganID checks an agency identifier the lenient way the national
// axis does (edoc.IsOrganID, with an error naming the rule): dot-separated groups of ASCII letters and digits, at most
// MaxOrganIDLen bytes ("000.00.00.G22", also the non-conforming
// "vxp.saas.02" seen in real traffic).
func ValidateOrganID(id string) error { return checkOrganID("OrganId", id) }

func checkOrganID(field, id string) error {
	if id == "" {
		return fieldErr(field, ReasonMissing, "an OrganId is required")
	}
	if len(id) > MaxOrganIDLen {
		return fieldErr(field, ReasonTooLarge, "an OrganId has at most %d bytes, got %d", MaxOrganIDLen, len(id))
	}
	if !edoc.IsOrganID(id) {
		return fieldErr(field, ReasonInvalid, "an OrganId is dot-separated groups of [0-9A-Za-z]; %q is not", clip(id))
	}
	return nil
}

func checkDocumentID(field, id string) error {
	if id == "" {
		return fieldErr(field, ReasonMissing, "a DocumentId is required")
	}
	if len(id) > MaxDocumentIDLen {
		return fieldErr(field, ReasonTooLarge, "a DocumentId has at most %d bytes, got %d", MaxDocumentIDLen, len(id))
	}
	return checkText(field, id)
}

// checkText requires valid UTF-8 without control characters.
func checkText(field, s string) error {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				return fieldErr(field, ReasonInvalid, "must be valid UTF-8 (bad byte at offset %d)", i)
			}
		}
		if unicode.IsControl(r) {
			return fieldErr(field, ReasonInvalid, "must not contain control characters (%U at offset %d)", r, i)
		}
	}
	return nil
}

func checkID(field, id string) error {
	if id == "" {
		return fieldErr(field, ReasonMissing, "a message ID is required")
	}
	if len(id) > MaxIDLen {
		return fieldErr(field, ReasonTooLarge, "a message ID has at most %d bytes, got %d", MaxIDLen, len(id))
	}
	if !isAlnum(id[0]) {
		return fieldErr(field, ReasonInvalid, "a message ID starts with a letter or digit; %q does not", clip(id))
	}
	for i := 1; i < len(id); i++ {
		if c := id[i]; !isAlnum(c) && c != '.' && c != '_' && c != ':' && c != '-' {
			return fieldErr(field, ReasonInvalid, "a message ID is [A-Za-z0-9._:-]; %q has %q", clip(id), rune(c))
		}
	}
	return nil
}

func checkType(field string, t Type) error {
	if t == "" {
		return fieldErr(field, ReasonMissing, "a message type is required")
	}
	if !slices.Contains(knownTypes, t) {
		return fieldErr(field, ReasonInvalid, "the type must be one of %s; got %q", typeList(), clip(string(t)))
	}
	return nil
}

func typeList() string {
	s := make([]string, len(knownTypes))
	for i, t := range knownTypes {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

func checkKey(field string, t Type, key string) error {
	if key == "" {
		return fieldErr(field, ReasonMissing, "a key is required")
	}
	if len(key) > MaxKeyLen {
		return fieldErr(field, ReasonTooLarge, "a key has at most %d bytes, got %d", MaxKeyLen, len(key))
	}
	if t == TypeDeadLetter {
		return checkText(field, key)
	}
	if _, _, err := ParseRootKey(key); err != nil {
		err.(*MessageError).Field = field
		return err
	}
	return nil
}

func checkRecipients(field string, t Type, rs []string) error {
	if len(rs) == 0 {
		if t == TypeDeadLetter {
			return nil
		}
		return fieldErr(field, ReasonMissing, "at least one recipient OrganId is required")
	}
	if len(rs) > MaxRecipients {
		return fieldErr(field, ReasonTooLarge, "at most %d recipients, got %d", MaxRecipients, len(rs))
	}
	seen := make(map[string]int, len(rs))
	for i, r := range rs {
		f := fmt.Sprintf("%s[%d]", field, i)
		if err := checkOrganID(f, r); err != nil {
			return err
		}
		if j, dup := seen[r]; dup {
			return fieldErr(f, ReasonDuplicate, "recipient %q is already at index %d", r, j)
		}
		seen[r] = i
	}
	return nil
}

func checkAttrs(field string, attrs map[string]string) error {
	if len(attrs) > MaxAttrs {
		return fieldErr(field, ReasonTooLarge, "at most %d attributes, got %d", MaxAttrs, len(attrs))
	}
	for _, k := range sortedKeys(attrs) {
		if err := checkAttrKey(field+"["+strconv.Quote(clip(k))+"]", k); err != nil {
			return err
		}
		v := attrs[k]
		f := field + "[" + strconv.Quote(k) + "]"
		if len(v) > MaxAttrValueLen {
			return fieldErr(f, ReasonTooLarge, "an attribute value has at most %d bytes, got %d", MaxAttrValueLen, len(v))
		}
		if !utf8.ValidString(v) {
			return fieldErr(f, ReasonInvalid, "an attribute value must be valid UTF-8")
		}
	}
	return nil
}

func checkAttrKey(field, k string) error {
	if k == "" {
		return fieldErr(field, ReasonMissing, "an attribute key must not be empty")
	}
	if len(k) > MaxAttrKeyLen {
		return fieldErr(field, ReasonTooLarge, "an attribute key has at most %d bytes, got %d", MaxAttrKeyLen, len(k))
	}
	if !isLowerAlnum(k[0]) {
		return fieldErr(field, ReasonInvalid, "an attribute key starts with [a-z0-9]")
	}
	for i := 1; i < len(k); i++ {
		if c := k[i]; !isLowerAlnum(c) && c != '.' && c != '-' {
			return fieldErr(field, ReasonInvalid, "an attribute key is [a-z0-9.-]; it has %q", rune(c))
		}
	}
	return nil
}

// Validate checks every field of m against its rule and returns a
// *MessageError naming the first field it refuses. It hashes Package to
// check SHA256, so its cost grows with the package (about 2 ms per MiB
// without SHA instructions).
func (m Message) Validate() error {
	if err := checkID("ID", m.ID); err != nil {
		return err
	}
	if err := checkType("Type", m.Type); err != nil {
		return err
	}
	if err := checkKey("Key", m.Type, m.Key); err != nil {
		return err
	}
	if m.Sender != "" || m.Type != TypeDeadLetter {
		if err := checkOrganID("Sender", m.Sender); err != nil {
			return err
		}
	}
	if err := checkRecipients("Recipients", m.Type, m.Recipients); err != nil {
		return err
	}
	if len(m.Package) == 0 && m.Type != TypeDeadLetter {
		return fieldErr("Package", ReasonMissing, "the package bytes are required")
	}
	if sha256.Sum256(m.Package) != m.SHA256 {
		return fieldErr("SHA256", ReasonHashMismatch, "must be the SHA-256 of Package")
	}
	return checkAttrs("Attrs", m.Attrs)
}

// Header is one record header on the wire. Transports map it to their own
// header type; it exists so that bus signatures carry no transport type.
type Header struct {
	Key   string
	Value []byte
}

// Wire format: record key = Message.Key, record value = Message.Package,
// headers as below. The names and WireVersion never change once released.
const (
	HeaderVersion    = "truc-v"          // wire format version, WireVersion
	HeaderID         = "truc-id"         // Message.ID
	HeaderType       = "truc-type"       // Message.Type
	HeaderSender     = "truc-sender"     // Message.Sender; absent when empty
	HeaderRecipients = "truc-recipients" // Message.Recipients joined by ","; absent when empty
	HeaderSHA256     = "truc-sha256"     // Message.SHA256 as 64 lowercase hex digits
	HeaderAttrPrefix = "truc-attr-"      // one header per Attrs entry: prefix + key
	WireVersion      = "1"
)

// WireHeaders returns the record headers that carry m's routing data, in a
// fixed order (attributes sorted by key). The record key is []byte(m.Key)
// and the record value is m.Package, unchanged. It does not validate m.
func (m Message) WireHeaders() []Header {
	hs := make([]Header, 0, 6+len(m.Attrs))
	hs = append(hs,
		Header{HeaderVersion, []byte(WireVersion)},
		Header{HeaderID, []byte(m.ID)},
		Header{HeaderType, []byte(m.Type)},
	)
	if m.Sender != "" {
		hs = append(hs, Header{HeaderSender, []byte(m.Sender)})
	}
	if len(m.Recipients) > 0 {
		hs = append(hs, Header{HeaderRecipients, []byte(strings.Join(m.Recipients, recipientsJoiner))})
	}
	hs = append(hs, Header{HeaderSHA256, []byte(hex.EncodeToString(m.SHA256[:]))})
	for _, k := range sortedKeys(m.Attrs) {
		hs = append(hs, Header{HeaderAttrPrefix + k, []byte(m.Attrs[k])})
	}
	return hs
}

// DecodeMessage rebuilds a Message from a record: its key, headers and
// value. Headers not starting with "truc-" are ignored, as are unknown
// "truc-" headers (so that later versions may add optional ones).
//
// It always returns the Message it could decode, with Package set to value
// (the same slice, not a copy) and SHA256 to the SHA-256 computed over
// value; on error, fields it could not decode are empty and the error is a
// *MessageError naming the header or record part. It checks the same rules
// as Validate, and that the truc-sha256 header matches the value.
func DecodeMessage(key []byte, headers []Header, value []byte) (Message, error) {
	m := Message{Package: value, SHA256: sha256.Sum256(value)}
	var (
		got     = make(map[string][]byte, len(headers))
		attrs   map[string]string
		firstEr error
	)
	fail := func(err error) {
		if firstEr == nil {
			firstEr = err
		}
	}
	for _, h := range headers {
		if !strings.HasPrefix(h.Key, "truc-") {
			continue
		}
		if _, dup := got[h.Key]; dup {
			fail(fieldErr("header "+clip(h.Key), ReasonDuplicate, "a truc- header appears at most once"))
			continue
		}
		got[h.Key] = h.Value
		if ak, ok := strings.CutPrefix(h.Key, HeaderAttrPrefix); ok {
			if attrs == nil {
				attrs = make(map[string]string)
			}
			attrs[ak] = string(h.Value)
		}
	}
	header := func(name string, required bool) (string, bool) {
		v, ok := got[name]
		if !ok && required {
			fail(fieldErr("header "+name, ReasonMissing, "the header is required"))
		}
		return string(v), ok
	}

	if v, ok := header(HeaderVersion, true); ok && v != WireVersion {
		fail(fieldErr("header "+HeaderVersion, ReasonVersion, "this process reads wire version %s, the record has %q", WireVersion, clip(v)))
	}
	if v, ok := header(HeaderID, true); ok {
		if err := checkID("header "+HeaderID, v); err != nil {
			fail(err)
		} else {
			m.ID = v
		}
	}
	if v, ok := header(HeaderType, true); ok {
		if err := checkType("header "+HeaderType, Type(v)); err != nil {
			fail(err)
		} else {
			m.Type = Type(v)
		}
	}
	if err := checkKey("record key", m.Type, string(key)); err != nil {
		fail(err)
	} else {
		m.Key = string(key)
	}
	if v, ok := header(HeaderSender, m.Type != TypeDeadLetter); ok {
		if err := checkOrganID("header "+HeaderSender, v); err != nil {
			fail(err)
		} else {
			m.Sender = v
		}
	}
	if v, ok := header(HeaderRecipients, m.Type != TypeDeadLetter); ok {
		rs := strings.Split(v, recipientsJoiner)
		if err := checkRecipients("header "+HeaderRecipients, m.Type, rs); err != nil {
			fail(err)
		} else {
			m.Recipients = rs
		}
	}
	if v, ok := header(HeaderSHA256, true); ok {
		var want [32]byte
		switch {
		case len(v) != hex.EncodedLen(len(want)) || strings.ToLower(v) != v || hexDecode(want[:], v) != nil:
			fail(fieldErr("header "+HeaderSHA256, ReasonInvalid, "must be 64 lowercase hex digits"))
		case want != m.SHA256:
			fail(fieldErr("header "+HeaderSHA256, ReasonHashMismatch, "the record value's SHA-256 is %x, the header says %s", m.SHA256, v))
		}
	}
	if len(value) == 0 && m.Type != TypeDeadLetter {
		fail(fieldErr("record value", ReasonMissing, "the package bytes are required"))
	}
	if err := checkAttrs("headers "+HeaderAttrPrefix+"*", attrs); err != nil {
		fail(err)
	} else {
		m.Attrs = attrs
	}
	return m, firstEr
}

// Dead-letter attribute keys (see DeadLetter).
const (
	AttrDeadLetterReason    = "dlq.reason"    // why the record was dead-lettered, in words
	AttrDeadLetterCode      = "dlq.code"      // the Reason code when the cause was a *MessageError
	AttrDeadLetterTopic     = "dlq.topic"     // where the record was read
	AttrDeadLetterPartition = "dlq.partition" // its partition
	AttrDeadLetterOffset    = "dlq.offset"    // its offset
	AttrDeadLetterID        = "dlq.id"        // the original message ID, when it was valid
)

// DeadLetter builds the message that keeps d in the dead-letter topic: the
// exact record value as Package, the original key, sender and recipients
// where they were valid, and the reason with the record's origin in Attrs.
// cause is why it is dead-lettered (d.Err when the record could not be
// decoded, or the handler's own decision); its text is cut to
// MaxAttrValueLen bytes. The ID is derived from the origin, so dead-lettering
// the same record twice yields the same message.
func DeadLetter(d Delivery, cause error) Message {
	id := fmt.Sprintf("dlq.%s.%d.%d", d.Topic, d.Partition, d.Offset)
	if checkID("", id) != nil {
		// A long or odd topic name: keep the ID well-formed and stable.
		id = fmt.Sprintf("dlq.%x.%d.%d", sha256.Sum256([]byte(d.Topic)), d.Partition, d.Offset)
	}
	orig := d.Message
	m := Message{
		ID:      id,
		Type:    TypeDeadLetter,
		Key:     id,
		Package: orig.Package,
		SHA256:  sha256.Sum256(orig.Package),
		Attrs: map[string]string{
			AttrDeadLetterTopic:     d.Topic,
			AttrDeadLetterPartition: strconv.Itoa(d.Partition),
			AttrDeadLetterOffset:    strconv.FormatInt(d.Offset, 10),
		},
	}
	if orig.Key != "" && checkKey("", TypeDeadLetter, orig.Key) == nil {
		m.Key = orig.Key
	}
	if orig.Sender != "" && checkOrganID("", orig.Sender) == nil {
		m.Sender = orig.Sender
	}
	if len(orig.Recipients) > 0 && checkRecipients("", TypeDocument, orig.Recipients) == nil {
		m.Recipients = slices.Clone(orig.Recipients)
	}
	if orig.ID != "" && checkID("", orig.ID) == nil {
		m.Attrs[AttrDeadLetterID] = orig.ID
	}
	reason := "dead-lettered"
	if cause != nil {
		reason = cause.Error()
		if me, ok := asMessageError(cause); ok {
			m.Attrs[AttrDeadLetterCode] = string(me.Reason)
		}
	}
	m.Attrs[AttrDeadLetterReason] = truncateUTF8(strings.ToValidUTF8(reason, "\uFFFD"), MaxAttrValueLen)
	return m
}

func asMessageError(err error) (*MessageError, bool) {
	for err != nil {
		if me, ok := err.(*MessageError); ok {
			return me, true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return nil, false
		}
		err = u.Unwrap()
	}
	return nil, false
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 {
		r, size := utf8.DecodeLastRuneInString(s)
		if r != utf8.RuneError || size > 1 {
			break
		}
		s = s[:len(s)-1]
	}
	return s
}

func hexDecode(dst []byte, s string) error {
	_, err := hex.Decode(dst, []byte(s))
	return err
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func isLowerAlnum(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' }

// clip shortens hostile input before it goes into an error message.
func clip(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	return truncateUTF8(s, n) + "…"
}
