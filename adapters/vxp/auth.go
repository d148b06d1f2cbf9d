package vxp

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"truc.vn/truc/edoc"
)

// Header names of the XroadVnpt scheme. Wire constants: they never change.
// Each signed key k travels as the header HeaderPrefix+k and as the JSON
// key HeaderPrefix+k of the sign-header.
const (
	HeaderPrefix        = "XroadVnpt-"
	HeaderSignHeaderKey = "XroadVnpt-sign-header-key" // the signed keys, joined by ";"
	HeaderSignHeader    = "XroadVnpt-sign-header"     // compact JSON {"XroadVnpt-k":"v",…}
	HeaderHashHeader    = "XroadVnpt-hash-header"     // hex HMAC-SHA256(secret, sign-header)
	HeaderVersion       = "XroadVnpt-version"         // "3.0.201608" from the SDK; not checked
)

// Signed keys the operations use. Wire constants.
const (
	KeySystemID    = "systemid"
	KeyTimestamp   = "timestamp"
	KeyContentType = "Content-Type"
	KeyServiceType = "servicetype"
	KeyMessageType = "messagetype"
	KeyHashFile    = "hash-file"
	KeyFrom        = "from"
	KeyDocID       = "docId"      // getEdoc, downloadEdoc, getSentEdocList
	KeyDocIDLower  = "docid"      // updateStatus
	KeyFilePath    = "filePath"   // getEdoc: the SDK's local folder; ignored
	KeyStatus      = "status"     // updateStatus
	KeyAgencyCode  = "AgencyCode" // deleteAgency
)

// Bounds on the header scheme. The SDK sends about ten keys; a leaky SDK
// client a few more.
const (
	// MaxSignHeaderBytes caps the XroadVnpt-sign-header value.
	MaxSignHeaderBytes = 8 << 10
	// MaxSignedKeys caps the number of signed keys.
	MaxSignedKeys = 64
	// MaxDocIDLength caps a docId. The axis uses 24 hex digits or a UUID.
	MaxDocIDLength = 128
)

// signedRequest is an authenticated request: the system that signed it and
// the signed key/value pairs, each equal to its XroadVnpt-<key> header.
type signedRequest struct {
	sys       *system
	keys      []string          // signed keys, as listed in the sign-header
	values    map[string]string // signed key → value, trimmed like a header value
	timestamp time.Time         // validated, never used against a clock
}

// get returns the signed value of the first of names that was signed.
func (s *signedRequest) get(names ...string) (string, bool) {
	for _, n := range names {
		if v, ok := s.values[n]; ok {
			return v, true
		}
	}
	return "", false
}

// system is a configured System with what the handler derives from it.
type system struct {
	secret []byte
	caller Caller
}

// authenticate verifies the XroadVnpt headers of r against systems (see
// the package documentation, "Authentication", for the rules and their
// order). dummy is a secret used for unknown systemids so that they cost
// the same time as a wrong HMAC.
func authenticate(hdr http.Header, systems map[string]*system, dummy []byte) (*signedRequest, *rejection) {
	h := foldHeader(hdr)
	keyList, rj := singleHeader(h, HeaderSignHeaderKey)
	if rj != nil {
		return nil, rj
	}
	signHeader, rj := singleHeader(h, HeaderSignHeader)
	if rj != nil {
		return nil, rj
	}
	hashHeader, rj := singleHeader(h, HeaderHashHeader)
	if rj != nil {
		return nil, rj
	}

	sh, err := parseSignHeader(signHeader)
	if err != nil {
		return nil, reject(CodeBadRequest, HeaderSignHeader, "malformed", "%v", err)
	}
	if err := checkKeyList(keyList, sh.keys); err != nil {
		return nil, reject(CodeBadRequest, HeaderSignHeaderKey, "key-list", "%v", err)
	}
	mac, err := parseHashHeader(hashHeader)
	if err != nil {
		return nil, reject(CodeBadRequest, HeaderHashHeader, "malformed", "%v", err)
	}
	id, ok := sh.values[KeySystemID]
	if !ok {
		return nil, reject(CodeBadRequest, HeaderSignHeader, "required-key", "systemid is not among the signed keys")
	}

	sys := systems[id]
	secret := dummy
	if sys != nil {
		secret = sys.secret
	}
	m := hmac.New(sha256.New, secret)
	io.WriteString(m, signHeader)
	good := hmac.Equal(m.Sum(nil), mac)
	if sys == nil || !good {
		// One answer for both, so that probing learns no systemid.
		return nil, reject(CodeUnauthenticated, HeaderHashHeader, "authentication", "authentication failed: unknown systemid or wrong HMAC")
	}

	if rj := checkSignedHeaders(h, sh); rj != nil {
		return nil, rj
	}
	ts, ok := sh.values[KeyTimestamp]
	if !ok {
		return nil, reject(CodeBadRequest, HeaderSignHeader, "required-key", "timestamp is not among the signed keys")
	}
	t, err := ParseTimestamp(ts)
	if err != nil {
		return nil, reject(CodeBadRequest, HeaderPrefix+KeyTimestamp, "timestamp", "%v", err)
	}
	return &signedRequest{sys: sys, keys: sh.keys, values: sh.values, timestamp: t}, nil
}

// singleHeader returns the one value of the header name; a header missing
// or given twice is malformed.
func singleHeader(h foldedHeader, name string) (string, *rejection) {
	vs := h.values(name)
	switch len(vs) {
	case 0:
		return "", reject(CodeBadRequest, name, "missing", "header missing")
	case 1:
		return vs[0], nil
	}
	return "", reject(CodeBadRequest, name, "repeated", "header given %d times", len(vs))
}

// foldedHeader is a request's headers keyed by lower-case name, so that
// lookups ignore case whether or not the names were canonicalised (a
// server canonicalises them, a Header built in a program may not).
type foldedHeader map[string][]string

func foldHeader(h http.Header) foldedHeader {
	f := make(foldedHeader, len(h))
	for k, v := range h {
		lk := strings.ToLower(k)
		f[lk] = append(f[lk], v...)
	}
	return f
}

// values returns the values of the header name.
func (f foldedHeader) values(name string) []string { return f[strings.ToLower(name)] }

// signHeader is a parsed XroadVnpt-sign-header: keys without the prefix,
// in the order signed.
type signHeader struct {
	keys   []string
	values map[string]string
}

// parseSignHeader reads the sign-header strictly: a JSON object whose
// members are all strings, with keys HeaderPrefix+k where k is an HTTP
// token, no key twice, at most MaxSignedKeys members, nothing after the
// object, valid UTF-8, at most MaxSignHeaderBytes. Values are trimmed of
// spaces and tabs, as HTTP trims header values. The HMAC is computed over
// the string as received, never over a re-encoding of what is parsed here.
func parseSignHeader(s string) (*signHeader, error) {
	if len(s) > MaxSignHeaderBytes {
		return nil, fmt.Errorf("longer than %d bytes", MaxSignHeaderBytes)
	}
	obj, err := parseFlatObject([]byte(s), MaxSignedKeys)
	if err != nil {
		return nil, err
	}
	sh := &signHeader{keys: make([]string, len(obj.keys)), values: make(map[string]string, len(obj.keys))}
	for i, jk := range obj.keys {
		k, ok := strings.CutPrefix(jk, HeaderPrefix)
		if !ok {
			return nil, fmt.Errorf("key %s does not start with %s", quote(jk), HeaderPrefix)
		}
		if !isToken(k) {
			return nil, fmt.Errorf("key %s is not a header name", quote(jk))
		}
		sh.keys[i] = k
		sh.values[k] = strings.Trim(obj.values[jk], " \t")
	}
	return sh, nil
}

// checkKeyList checks that the sign-header-key list names exactly the keys
// of the sign-header, each once. The SDK writes both from the same map, in
// the same order; the order is not required to match, because only the
// sign-header is covered by the HMAC.
func checkKeyList(list string, keys []string) error {
	listed := strings.Split(list, ";")
	if len(listed) > MaxSignedKeys {
		return fmt.Errorf("more than %d keys", MaxSignedKeys)
	}
	signed := make(map[string]bool, len(keys))
	for _, k := range keys {
		signed[k] = false
	}
	for _, k := range listed {
		seen, ok := signed[k]
		switch {
		case !ok:
			return fmt.Errorf("%s is listed but not in %s", quote(k), HeaderSignHeader)
		case seen:
			return fmt.Errorf("%s is listed twice", quote(k))
		}
		signed[k] = true
	}
	for _, k := range keys {
		if !signed[k] {
			return fmt.Errorf("%s is signed but not listed", quote(k))
		}
	}
	return nil
}

// parseHashHeader decodes the HMAC: 64 hex digits, lower case as the SDK
// writes them or upper case.
func parseHashHeader(s string) ([]byte, error) {
	if len(s) != 2*sha256.Size {
		return nil, fmt.Errorf("want %d hex digits, got %d characters", 2*sha256.Size, len(s))
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, errors.New("not hexadecimal")
	}
	return b, nil
}

// checkSignedHeaders checks that every signed key k arrived as the header
// XroadVnpt-k with the signed value. Header names are case-insensitive and
// the SDK may sign both docId and docid (a key leaked from an earlier
// call), so the values are compared per header name as multisets.
func checkSignedHeaders(h foldedHeader, sh *signHeader) *rejection {
	want := make(map[string][]string, len(sh.keys))
	names := make(map[string]string, len(sh.keys))
	for _, k := range sh.keys {
		name := strings.ToLower(HeaderPrefix + k)
		want[name] = append(want[name], sh.values[k])
		if _, ok := names[name]; !ok {
			names[name] = HeaderPrefix + k
		}
	}
	for name, vs := range want {
		var got []string
		for _, v := range h.values(name) {
			got = append(got, strings.Trim(v, " \t")) // as a server reads them
		}
		if len(got) == 0 {
			return reject(CodeUnauthenticated, names[name], "signed-header-missing", "signed but not sent")
		}
		if !sameMultiset(vs, got) {
			return reject(CodeUnauthenticated, names[name], "signed-header-mismatch", "differs from its signed value")
		}
	}
	return nil
}

func sameMultiset(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 1 {
		return a[0] == b[0]
	}
	count := make(map[string]int, len(a))
	for _, s := range a {
		count[s]++
	}
	for _, s := range b {
		if count[s] == 0 {
			return false
		}
		count[s]--
	}
	return true
}

// isToken reports whether s is an HTTP token (RFC 9110 §5.6.2), the
// grammar of a header name.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// flatObject is a JSON object of strings, keys in order.
type flatObject struct {
	keys   []string
	values map[string]string
}

func (o *flatObject) get(k string) string { return o.values[k] }

// parseFlatObject reads data as one JSON object whose members are all
// strings: no nesting, numbers, booleans or nulls, no key twice, at most
// maxKeys members, only whitespace after it, valid UTF-8.
func parseFlatObject(data []byte, maxKeys int) (*flatObject, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("not JSON: %v", jsonErr(err))
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	obj := &flatObject{values: make(map[string]string)}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("not JSON: %v", jsonErr(err))
		}
		k, ok := tok.(string)
		if !ok {
			return nil, errors.New("not JSON: a key is not a string")
		}
		if _, dup := obj.values[k]; dup {
			return nil, fmt.Errorf("key %s appears twice", quote(k))
		}
		if len(obj.keys) == maxKeys {
			return nil, fmt.Errorf("more than %d keys", maxKeys)
		}
		tok, err = dec.Token()
		if err != nil {
			return nil, fmt.Errorf("not JSON: %v", jsonErr(err))
		}
		v, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("the value of %s is not a string", quote(k))
		}
		obj.keys = append(obj.keys, k)
		obj.values[k] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, fmt.Errorf("not JSON: %v", jsonErr(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	return obj, nil
}

// jsonErr shortens decoder errors, which may quote the input at length.
func jsonErr(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end"
	}
	return "syntax error"
}

// TimestampLayout describes the SDK's timestamp: Java SimpleDateFormat
// "ddMMyyyy'T'HHmmss+SSSS", a literal '+' followed by the milliseconds in
// four digits, in the SDK's local time (Vietnam), e.g.
// 22112026T052108+0480. Wire constant.
const TimestampLayout = "ddMMyyyy'T'HHmmss+SSSS"

// ParseTimestamp reads an SDK timestamp as a time in ICT. It is lenient in
// what it does not need: one to four millisecond digits are accepted, and
// the time is never compared with a clock. It fails when the digits are
// not where the layout puts them or the date or time does not exist.
//
// The timestamp gives no replay protection and is not used for any: the
// SDK sets it once, when its service object is created, and sends the same
// value on every later call, so a window around the server's clock would
// refuse a long-running DMS's every request. Replays are made harmless by
// content deduplication and idempotent operations instead (see Backend).
func ParseTimestamp(s string) (time.Time, error) {
	bad := func() (time.Time, error) {
		return time.Time{}, fmt.Errorf("%s is not in the form %s", quote(s), TimestampLayout)
	}
	if len(s) < 17 || len(s) > 20 || s[8] != 'T' || s[15] != '+' {
		return bad()
	}
	num := func(from, to int) (int, bool) {
		n := 0
		for i := from; i < to; i++ {
			if s[i] < '0' || s[i] > '9' {
				return 0, false
			}
			n = n*10 + int(s[i]-'0')
		}
		return n, true
	}
	day, ok1 := num(0, 2)
	month, ok2 := num(2, 4)
	year, ok3 := num(4, 8)
	hour, ok4 := num(9, 11)
	minute, ok5 := num(11, 13)
	sec, ok6 := num(13, 15)
	ms, ok7 := num(16, len(s))
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || !ok7 {
		return bad()
	}
	if year < 1 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 || ms > 999 {
		return time.Time{}, fmt.Errorf("%s is not a real date and time", quote(s))
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, ms*int(time.Millisecond), edoc.ICT)
	if t.Day() != day {
		return time.Time{}, fmt.Errorf("%s is not a real date and time", quote(s))
	}
	return t, nil
}

// FormatTimestamp writes t in the SDK's timestamp layout, in ICT.
func FormatTimestamp(t time.Time) string {
	t = t.In(edoc.ICT)
	return fmt.Sprintf("%02d%02d%04dT%02d%02d%02d+%04d", t.Day(), int(t.Month()), t.Year(),
		t.Hour(), t.Minute(), t.Second(), t.Nanosecond()/int(time.Millisecond))
}

// UnpaddedHex writes b the way the SDK writes its hash-file: each byte with
// Java's Integer.toHexString(0xFF & b), lower case and without a leading
// zero, so that 0x0a becomes "a" and a SHA-256 whose bytes are not all at
// least 0x10 gives fewer than 64 digits. Concatenated, the digits are
// ambiguous; a hash-file is checked by comparing with this form of a
// digest computed here, never parsed.
func UnpaddedHex(b []byte) string {
	var sb strings.Builder
	sb.Grow(2 * len(b))
	for _, c := range b {
		sb.WriteString(strconv.FormatUint(uint64(c), 16))
	}
	return sb.String()
}

// checkHashFileSyntax checks a hash-file value before any hashing: 32 to
// 64 hexadecimal digits.
func checkHashFileSyntax(s string) error {
	if len(s) < sha256.Size || len(s) > 2*sha256.Size {
		return fmt.Errorf("want %d to %d hex digits, got %d characters", sha256.Size, 2*sha256.Size, len(s))
	}
	for i := 0; i < len(s); i++ {
		if !isHexDigit(s[i]) {
			return errors.New("not hexadecimal")
		}
	}
	return nil
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// matchHashFile finds the package in a sendEdoc body: the body itself, or
// the body without the "\r\n" the SDK writes after the file, whichever has
// the SHA-256 hashFile names, in the SDK's unpadded hex or in ordinary
// 64-digit hex, either case. ok is false when neither matches.
func matchHashFile(body []byte, hashFile string) (pkg []byte, ok bool) {
	h := sha256.New()
	var stripped []byte
	if bytes.HasSuffix(body, []byte("\r\n")) {
		h.Write(body[:len(body)-2])
		stripped = h.Sum(nil)
		h.Write(body[len(body)-2:])
	} else {
		h.Write(body)
	}
	if hashMatches(h.Sum(nil), hashFile) {
		return body, true
	}
	if stripped != nil && hashMatches(stripped, hashFile) {
		return body[:len(body)-2], true
	}
	return nil, false
}

func hashMatches(sum []byte, hashFile string) bool {
	return strings.EqualFold(hashFile, UnpaddedHex(sum)) || strings.EqualFold(hashFile, hex.EncodeToString(sum))
}
