package signing

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"truc.vn/truc/edoc"
)

// maxBindingsBytes caps a bindings file: ~100k agencies with a few
// fingerprints each.
const maxBindingsBytes = 64 << 20

// Bindings maps OrganIds to the certificates allowed to sign for them. It
// is immutable after ParseBindings and safe for concurrent use.
//
// # File format (version 1)
//
// Government certificates carry no OrganId, so which certificate may sign
// for which agency is explicit directory data. The file is YAML (JSON,
// being YAML, works too); configs/bindings.example.yaml is a commented
// example. The axis directory reuses this format.
//
//	version: 1                      # required; only 1 exists
//	bindings:
//	  - organ_id: 000.00.00.G22     # required; ≤ 35 chars, [0-9A-Za-z] groups joined by '.'
//	    name: Văn phòng Chính phủ   # optional, for people only
//	    certificates:               # SHA-256 of the certificate DER, 64 hex digits,
//	      - 3f5a…                   #   colons/spaces optional, any case
//	    subjects:                   # optional: certificates by subject, anchored to an issuer
//	      - issuer_sha256: ab12…    # required: SHA-256 of the issuing CA certificate's DER
//	        cn: "VĂN PHÒNG CHÍNH PHỦ"   # required
//	        o: "CHÍNH PHỦ"          # optional: ou, o, l, st, c, serial_number, email
//	    not_after: 2030-01-01       # optional: the binding ends after this day (UTC+07:00),
//	                                #   or at this instant if RFC 3339
//
// Rules, checked by ParseBindings with an error naming the line, the entry
// index, its organ_id and the field:
//
//   - unknown fields anywhere are errors, as are null values and a second
//     YAML document;
//   - each organ_id appears once; an entry has at least one certificate or
//     subject; the same fingerprint may serve several OrganIds (one seal
//     for several units), but not twice in one entry;
//   - a subject rule is never a bare name match: it names the issuing CA by
//     fingerprint, so another CA issuing the same CN does not match. Each
//     attribute given must occur exactly once in the certificate subject
//     with exactly that value (byte for byte: write names as the
//     certificate spells them, which `truc verify` prints). Attributes not
//     given are unconstrained.
type Bindings struct {
	byOrgan map[string]*binding

	links  sync.Map     // [64]byte leaf+issuer fingerprints → struct{}: links already checked
	nLinks atomic.Int64 // entries stored in links, to bound it
}

type binding struct {
	organID  string
	line     int
	certs    map[[sha256.Size]byte]bool
	subjects []subjectRule
	notAfter time.Time // zero: no end
}

type subjectRule struct {
	issuer [sha256.Size]byte
	attrs  []subjectAttr
}

type subjectAttr struct {
	oid   asn1.ObjectIdentifier
	value string
}

// subjectFields are the attributes a subject rule may constrain, in the
// order they are checked and documented.
var subjectFields = []struct {
	key string
	oid asn1.ObjectIdentifier
}{
	{"cn", asn1.ObjectIdentifier{2, 5, 4, 3}},
	{"ou", asn1.ObjectIdentifier{2, 5, 4, 11}},
	{"o", asn1.ObjectIdentifier{2, 5, 4, 10}},
	{"l", asn1.ObjectIdentifier{2, 5, 4, 7}},
	{"st", asn1.ObjectIdentifier{2, 5, 4, 8}},
	{"c", asn1.ObjectIdentifier{2, 5, 4, 6}},
	{"serial_number", asn1.ObjectIdentifier{2, 5, 4, 5}},
	{"email", asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}},
}

// ParseBindings parses and validates a bindings file (the format is in the
// Bindings documentation). The error names the line, the entry and the
// field of the first problem; nothing is returned with it.
func ParseBindings(data []byte) (*Bindings, error) {
	if len(data) > maxBindingsBytes {
		return nil, fmt.Errorf("bindings: file of %d bytes exceeds the %d-byte limit", len(data), maxBindingsBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("bindings: empty file (want version: 1 and a bindings list)")
		}
		return nil, fmt.Errorf("bindings: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("bindings: more than one YAML document in the file")
	}
	root := deref(&doc)
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = deref(root.Content[0])
	}
	if root.Kind != yaml.MappingNode {
		return nil, nodeErr(root, "bindings", "the file must be a mapping with version and bindings")
	}
	fields, err := mappingFields(root, "bindings", "version", "bindings")
	if err != nil {
		return nil, err
	}
	v, ok := fields["version"]
	if !ok {
		return nil, nodeErr(root, "bindings", "version is required (version: 1)")
	}
	if v.Kind != yaml.ScalarNode || v.Value != "1" {
		return nil, nodeErr(v, "bindings: version", "unsupported version %q (want 1)", clip(v.Value))
	}
	b := &Bindings{byOrgan: map[string]*binding{}}
	list, ok := fields["bindings"]
	if !ok {
		return nil, nodeErr(root, "bindings", "the bindings list is required (it may be empty: bindings: [])")
	}
	if list.Kind != yaml.SequenceNode {
		return nil, nodeErr(list, "bindings", "bindings must be a list")
	}
	for i, item := range list.Content {
		e, err := parseBinding(deref(item), i)
		if err != nil {
			return nil, err
		}
		if prev, dup := b.byOrgan[e.organID]; dup {
			return nil, nodeErr(item, entryName(i, e.organID), "organ_id already bound by the entry at line %d; merge the two", prev.line)
		}
		b.byOrgan[e.organID] = e
	}
	return b, nil
}

func parseBinding(n *yaml.Node, i int) (*binding, error) {
	where := entryName(i, "")
	if n.Kind != yaml.MappingNode {
		return nil, nodeErr(n, where, "an entry must be a mapping")
	}
	for j := 0; j+1 < len(n.Content); j += 2 { // name the entry in every error, even about other fields
		if k, v := deref(n.Content[j]), deref(n.Content[j+1]); k.Value == "organ_id" && v.Kind == yaml.ScalarNode {
			where = entryName(i, v.Value)
		}
	}
	f, err := mappingFields(n, where, "organ_id", "name", "certificates", "subjects", "not_after")
	if err != nil {
		return nil, err
	}
	id, ok := f["organ_id"]
	if !ok {
		return nil, nodeErr(n, where, "organ_id is required")
	}
	organID, err := scalar(id, where+": organ_id")
	if err != nil {
		return nil, err
	}
	if !edoc.IsOrganID(organID) {
		return nil, nodeErr(id, where+": organ_id", "%q is not an OrganId (≤ %d characters, groups of [0-9A-Za-z] joined by '.')", clip(organID), edoc.MaxOrganIDLength)
	}
	where = entryName(i, organID)
	e := &binding{organID: organID, line: n.Line, certs: map[[sha256.Size]byte]bool{}}
	if nm, ok := f["name"]; ok {
		if _, err := scalar(nm, where+": name"); err != nil {
			return nil, err
		}
	}
	if certs, ok := f["certificates"]; ok {
		if certs.Kind != yaml.SequenceNode {
			return nil, nodeErr(certs, where+": certificates", "must be a list of SHA-256 fingerprints")
		}
		for j, c := range certs.Content {
			field := fmt.Sprintf("%s: certificates[%d]", where, j)
			s, err := scalar(deref(c), field)
			if err != nil {
				return nil, err
			}
			fp, err := parseFingerprint(s)
			if err != nil {
				return nil, nodeErr(c, field, "%v", err)
			}
			if e.certs[fp] {
				return nil, nodeErr(c, field, "fingerprint listed twice")
			}
			e.certs[fp] = true
		}
	}
	if subs, ok := f["subjects"]; ok {
		if subs.Kind != yaml.SequenceNode {
			return nil, nodeErr(subs, where+": subjects", "must be a list of subject rules")
		}
		for j, s := range subs.Content {
			r, err := parseSubjectRule(deref(s), fmt.Sprintf("%s: subjects[%d]", where, j))
			if err != nil {
				return nil, err
			}
			e.subjects = append(e.subjects, r)
		}
	}
	if len(e.certs) == 0 && len(e.subjects) == 0 {
		return nil, nodeErr(n, where, "at least one entry under certificates or subjects is required")
	}
	if na, ok := f["not_after"]; ok {
		s, err := scalar(na, where+": not_after")
		if err != nil {
			return nil, err
		}
		if e.notAfter, err = parseNotAfter(s); err != nil {
			return nil, nodeErr(na, where+": not_after", "%v", err)
		}
	}
	return e, nil
}

func parseSubjectRule(n *yaml.Node, where string) (subjectRule, error) {
	var r subjectRule
	if n.Kind != yaml.MappingNode {
		return r, nodeErr(n, where, "a subject rule must be a mapping")
	}
	keys := []string{"issuer_sha256"}
	for _, sf := range subjectFields {
		keys = append(keys, sf.key)
	}
	f, err := mappingFields(n, where, keys...)
	if err != nil {
		return r, err
	}
	iss, ok := f["issuer_sha256"]
	if !ok {
		return r, nodeErr(n, where, "issuer_sha256 is required: a subject rule must name the issuing CA")
	}
	s, err := scalar(iss, where+": issuer_sha256")
	if err != nil {
		return r, err
	}
	if r.issuer, err = parseFingerprint(s); err != nil {
		return r, nodeErr(iss, where+": issuer_sha256", "%v", err)
	}
	if _, ok := f["cn"]; !ok {
		return r, nodeErr(n, where, "cn is required: a rule without a common name would admit every certificate of the issuer")
	}
	for _, sf := range subjectFields {
		v, ok := f[sf.key]
		if !ok {
			continue
		}
		s, err := scalar(v, where+": "+sf.key)
		if err != nil {
			return r, err
		}
		if s == "" {
			return r, nodeErr(v, where+": "+sf.key, "must not be empty (leave the field out instead)")
		}
		r.attrs = append(r.attrs, subjectAttr{oid: sf.oid, value: s})
	}
	return r, nil
}

// fingerprintSeparators are dropped from fingerprints before decoding.
var fingerprintSeparators = strings.NewReplacer(":", "", " ", "")

// parseFingerprint reads 64 hex digits, ignoring colons and spaces.
func parseFingerprint(s string) ([sha256.Size]byte, error) {
	var fp [sha256.Size]byte
	clean := fingerprintSeparators.Replace(s)
	if len(clean) != 2*sha256.Size {
		return fp, fmt.Errorf("want a SHA-256 fingerprint of 64 hex digits, got %d digits", len(clean))
	}
	if _, err := hex.Decode(fp[:], []byte(clean)); err != nil {
		return fp, errors.New("want a SHA-256 fingerprint of 64 hex digits, found a non-hex character")
	}
	return fp, nil
}

// parseNotAfter reads a date (the binding holds through that whole day,
// Vietnam time) or an RFC 3339 instant, and returns the first instant at
// which the binding no longer holds.
func parseNotAfter(s string) (time.Time, error) {
	if d, err := time.ParseInLocation(time.DateOnly, s, edoc.ICT); err == nil {
		return d.AddDate(0, 0, 1), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a date (2030-01-01) nor an RFC 3339 time (2030-01-01T00:00:00+07:00)", clip(s))
	}
	return t.Add(time.Nanosecond), nil
}

func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	return n
}

// mappingFields returns the values of a mapping by key, rejecting keys
// outside known.
func mappingFields(n *yaml.Node, where string, known ...string) (map[string]*yaml.Node, error) {
	out := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := deref(n.Content[i])
		if k.Kind != yaml.ScalarNode || !slices.Contains(known, k.Value) {
			return nil, nodeErr(k, where, "unknown field %q (known: %s)", clip(k.Value), strings.Join(known, ", "))
		}
		if _, dup := out[k.Value]; dup {
			return nil, nodeErr(k, where, "field %q given twice", clip(k.Value))
		}
		out[k.Value] = deref(n.Content[i+1])
	}
	return out, nil
}

// scalar returns a non-null scalar's text.
func scalar(n *yaml.Node, where string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", nodeErr(n, where, "want a single value")
	}
	return n.Value, nil
}

func entryName(i int, organID string) string {
	if organID == "" {
		return fmt.Sprintf("bindings[%d]", i)
	}
	return fmt.Sprintf("bindings[%d] (organ_id %s)", i, clip(organID))
}

// clip shortens a value quoted in an error message.
func clip(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	for i := max; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "…"
		}
	}
	return "…"
}

func nodeErr(n *yaml.Node, where, format string, args ...any) error {
	return fmt.Errorf("bindings: line %d: %s: %s", n.Line, where, fmt.Sprintf(format, args...))
}

// Len returns the number of OrganIds bound.
func (b *Bindings) Len() int {
	if b == nil {
		return 0
	}
	return len(b.byOrgan)
}

// OrganIDs returns the bound OrganIds, sorted.
func (b *Bindings) OrganIDs() []string {
	if b == nil {
		return nil
	}
	ids := make([]string, 0, len(b.byOrgan))
	for id := range b.byOrgan {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Check reports whether cert may sign for organID now, by certificate
// fingerprint only: subject rules need the issuing CA certificate, so use
// CheckChain with the verified chain where subject rules may apply.
// It returns nil or a *VerifyError with ReasonSignerNotBound.
func (b *Bindings) Check(organID string, cert *x509.Certificate) error {
	if cert == nil {
		return verifyErrorf(ReasonSignerNotBound, nil, "no signer certificate to check for OrganId %s", organID)
	}
	return b.CheckChain(organID, []*x509.Certificate{cert}, time.Now())
}

// CheckChain reports whether the signer may sign for organID at time at
// (the verification time, Result.Evidence.At). chain is the verified chain
// from Verifier.Verify, leaf first: chain[0] is the signer and chain[1],
// when present, its issuer. The signer is bound when its fingerprint is
// listed, or when a subject rule names chain[1]'s fingerprint as issuer and
// every attribute of the rule matches; CheckChain re-checks once per
// leaf-issuer pair that chain[1] signed chain[0] before trusting that link. It does not validate the chain
// otherwise (dates, roots, revocation): Verify does.
//
// It returns nil or a *VerifyError with ReasonSignerNotBound whose detail
// names the OrganId, the certificate and why.
func (b *Bindings) CheckChain(organID string, chain []*x509.Certificate, at time.Time) error {
	if len(chain) == 0 || chain[0] == nil {
		return verifyErrorf(ReasonSignerNotBound, nil, "no signer certificate to check for OrganId %s", organID)
	}
	leaf := chain[0]
	fp := sha256.Sum256(leaf.Raw)
	who := func() string { return fmt.Sprintf("certificate %q (sha256 %x)", leaf.Subject.String(), fp) }
	var e *binding
	if b != nil {
		e = b.byOrgan[organID]
	}
	if e == nil {
		return verifyErrorf(ReasonSignerNotBound, nil, "no binding for OrganId %q: %s may not sign for it", organID, who())
	}
	if !e.notAfter.IsZero() && !at.Before(e.notAfter) {
		return verifyErrorf(ReasonSignerNotBound, nil, "the binding for OrganId %s ended at %s", organID, e.notAfter.Add(-time.Nanosecond).Format(time.RFC3339))
	}
	if e.certs[fp] {
		return nil
	}
	if len(e.subjects) > 0 && len(chain) > 1 && chain[1] != nil {
		issuer := chain[1]
		ifp := sha256.Sum256(issuer.Raw)
		for _, r := range e.subjects {
			if r.issuer == ifp && r.matches(leaf) && b.issuedBy(leaf, fp, issuer, ifp) {
				return nil
			}
		}
	}
	return verifyErrorf(ReasonSignerNotBound, nil, "%s is not bound to OrganId %s", who(), organID)
}

// maxLinks bounds the cache of verified leaf-issuer links: far more than
// the seals a directory holds.
const maxLinks = 1 << 14

// issuedBy reports whether issuer signed leaf, remembering the answer for
// pairs that passed: Verify already checked the link, this re-check only
// guards against a caller passing an unverified chain.
func (b *Bindings) issuedBy(leaf *x509.Certificate, fp [sha256.Size]byte, issuer *x509.Certificate, ifp [sha256.Size]byte) bool {
	var key [2 * sha256.Size]byte
	copy(key[:], fp[:])
	copy(key[sha256.Size:], ifp[:])
	if _, ok := b.links.Load(key); ok {
		return true
	}
	if !bytes.Equal(leaf.RawIssuer, issuer.RawSubject) || leaf.CheckSignatureFrom(issuer) != nil {
		return false
	}
	if b.nLinks.Add(1) <= maxLinks {
		b.links.Store(key, struct{}{})
	}
	return true
}

// matches reports whether every attribute of r occurs exactly once in the
// certificate subject with exactly r's value.
func (r subjectRule) matches(c *x509.Certificate) bool {
	for _, a := range r.attrs {
		n := 0
		for _, atv := range c.Subject.Names {
			if !atv.Type.Equal(a.oid) {
				continue
			}
			n++
			if s, ok := atv.Value.(string); !ok || s != a.value {
				return false
			}
		}
		if n != 1 {
			return false
		}
	}
	return true
}
