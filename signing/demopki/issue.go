package demopki

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"software.sslmate.com/src/go-pkcs12"
)

// OIDs used in end-entity certificates.
var (
	// OIDDocumentSigning is id-kp-documentSigning (RFC 9336).
	OIDDocumentSigning = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 36}
	oidEmailAddress    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
)

// maxNameLen is the upper bound RFC 5280 gives for CN, O, OU and L
// (ub-common-name etc.), in characters.
const maxNameLen = 64

// IssueRequest describes an end-entity certificate.
type IssueRequest struct {
	Kind Kind // Agency or Person; required
	// CommonName is the agency's name (Agency) or the person's full name
	// (Person), as it should read, e.g. "VĂN PHÒNG CHÍNH PHỦ". Required.
	CommonName string
	// Organization is the parent body (Agency) or the person's agency
	// (Person). Required.
	Organization string
	// OrganizationalUnit is the person's unit; Person only, optional.
	OrganizationalUnit string
	// Locality is the province or city. Required for Agency.
	Locality string
	// Email is the person's address, put in the subject (E=) and as an
	// rfc822Name; Person only, optional.
	Email string
	// Name is the file base name under issued/ and the handle for Lookup
	// (1-64 of [A-Za-z0-9._-]). Default: the serial number in hex.
	Name string
	// Key is the type of the key to generate (default RSA2048; RSA3072
	// and ECDSAP256 are the other usual choices). Ignored when PublicKey
	// is set.
	Key KeyType
	// PublicKey, when set, is certified instead of a generated key: the
	// key lives on a token or came in a CSR, and no key file is written.
	PublicKey crypto.PublicKey
	// Validity defaults to DefaultAgencyValidity or DefaultPersonValidity
	// and must end before the issuing CA does.
	Validity time.Duration
	// PKCS12Password, when not empty, also writes <name>.p12 (the key,
	// the certificate, the issuing and root CA certificates; AES-256 and
	// PBKDF2, readable by OpenSSL 3 and Windows). Needs a generated key.
	PKCS12Password string
}

// Issued is a certificate just issued, with the files written for it.
type Issued struct {
	Entry       Entry
	Certificate *x509.Certificate
	// Chain is the certificate then the issuing CA: what a signer puts in
	// KeyInfo. The root is left out; verifiers hold it.
	Chain []*x509.Certificate
	// Key is the generated private key; nil when PublicKey was given.
	Key crypto.Signer
	// Paths of the files written. KeyFile and PKCS12File are empty when
	// not written.
	CertFile, ChainFile, KeyFile, PKCS12File string
}

// Issue checks req, generates a key unless one was given, issues the
// certificate from the issuing CA, writes its files under issued/ (the
// key and .p12 with mode 0600) and records it in index.json.
func (ca *CA) Issue(req IssueRequest) (*Issued, error) {
	if err := req.check(); err != nil {
		return nil, err
	}
	ca.mu.Lock()
	defer ca.mu.Unlock()

	now := ca.now().UTC().Truncate(time.Second)
	validity := req.Validity
	if validity == 0 {
		validity = DefaultAgencyValidity
		if req.Kind == Person {
			validity = DefaultPersonValidity
		}
	}
	notAfter := now.Add(validity)
	if notAfter.After(ca.issuing.NotAfter) {
		return nil, fmt.Errorf("demopki: issue: validity until %s outlives the issuing CA (until %s)", notAfter.Format(time.DateOnly), ca.issuing.NotAfter.Format(time.DateOnly))
	}
	if now.Before(ca.issuing.NotBefore) {
		return nil, fmt.Errorf("demopki: issue: the clock (%s) is before the issuing CA's validity (from %s)", now.Format(time.RFC3339), ca.issuing.NotBefore.Format(time.RFC3339))
	}
	if req.Name != "" && ca.find(req.Name) >= 0 {
		return nil, fmt.Errorf("demopki: issue: name %q is already used", req.Name)
	}

	var (
		key crypto.Signer
		pub = req.PublicKey
		err error
	)
	if pub == nil {
		kt := req.Key
		if kt == "" {
			kt = RSA2048
		}
		if key, err = kt.generate(); err != nil {
			return nil, fmt.Errorf("demopki: issue: %w", err)
		}
		pub = key.Public()
	}
	keyType, err := keyTypeOf(pub)
	if err != nil {
		return nil, fmt.Errorf("demopki: issue: public key: %w", err)
	}

	tmpl := &x509.Certificate{
		Subject:               req.subject(),
		NotBefore:             now,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		UnknownExtKeyUsage:    []asn1.ObjectIdentifier{OIDDocumentSigning},
		BasicConstraintsValid: true,
		CRLDistributionPoints: []string{ca.state.CRLBaseURL + "/" + IssuingCRLFile},
	}
	if req.Email != "" {
		tmpl.EmailAddresses = []string{req.Email}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}
	}
	var cert *x509.Certificate
	for {
		if cert, err = createCertificate(tmpl, ca.issuing, pub, ca.issuingKey); err != nil {
			return nil, fmt.Errorf("demopki: issue: %w", err)
		}
		if ca.findSerial(cert.SerialNumber) < 0 {
			break // a 128-bit collision is not going to happen; still, never reuse a serial
		}
	}

	e := Entry{
		Serial:     fmt.Sprintf("%x", cert.SerialNumber),
		Name:       req.Name,
		Kind:       req.Kind,
		Subject:    cert.Subject.String(),
		SHA256:     fingerprint(cert),
		KeyType:    keyType,
		NotBefore:  cert.NotBefore,
		NotAfter:   cert.NotAfter,
		KeyOnToken: key == nil,
	}
	if e.Name == "" {
		e.Name = e.Serial
	}
	out := &Issued{Entry: e, Certificate: cert, Chain: []*x509.Certificate{cert, ca.issuing}, Key: key}
	if err := ca.writeIssued(out, req.PKCS12Password); err != nil {
		return nil, err
	}
	idx := append(append([]Entry(nil), ca.index...), e)
	b, err := marshalIndex(idx)
	if err == nil {
		err = replaceFile(ca.Path(IndexFile), b, 0o644)
	}
	if err != nil {
		ca.removeIssued(out)
		return nil, fmt.Errorf("demopki: issue: recording %s: %w", e.Name, err)
	}
	ca.index = idx
	out.Entry = e.clone()
	ca.log.Info("certificate issued", "serial", e.Serial, "name", e.Name, "kind", string(e.Kind), "sha256", e.SHA256)
	return out, nil
}

// writeIssued writes the files of an issued certificate, removing them
// all on failure.
func (ca *CA) writeIssued(out *Issued, p12Password string) error {
	dir := ca.Path(IssuedDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("demopki: issue: %w", err)
	}
	base := filepath.Join(dir, out.Entry.Name)
	type file struct {
		path *string
		name string
		data []byte
		perm os.FileMode
	}
	files := []file{
		{&out.CertFile, base + ".pem", certPEM(out.Certificate), 0o644},
		{&out.ChainFile, base + "-chain.pem", certPEM(out.Chain...), 0o644},
	}
	if out.Key != nil {
		kp, err := marshalKeyPEM(out.Key)
		if err != nil {
			return fmt.Errorf("demopki: issue: %w", err)
		}
		files = append(files, file{&out.KeyFile, base + ".key", kp, 0o600})
		if p12Password != "" {
			p12, err := pkcs12.Modern2023.Encode(out.Key, out.Certificate, []*x509.Certificate{ca.issuing, ca.root}, p12Password)
			if err != nil {
				return fmt.Errorf("demopki: issue: encoding the .p12: %w", err)
			}
			files = append(files, file{&out.PKCS12File, base + ".p12", p12, 0o600})
		}
	}
	for _, f := range files {
		if err := writeNewFile(f.name, f.data, f.perm); err != nil {
			ca.removeIssued(out)
			return fmt.Errorf("demopki: issue: %w", err)
		}
		*f.path = f.name
	}
	return nil
}

func (ca *CA) removeIssued(out *Issued) {
	for _, p := range []*string{&out.CertFile, &out.ChainFile, &out.KeyFile, &out.PKCS12File} {
		if *p != "" {
			_ = os.Remove(*p)
			*p = ""
		}
	}
}

func (r IssueRequest) check() error {
	fail := func(field, format string, args ...any) error {
		return fmt.Errorf("demopki: issue: %s: %s", field, fmt.Sprintf(format, args...))
	}
	switch r.Kind {
	case Agency, Person:
	case "":
		return fail("kind", "required (agency or person)")
	default:
		return fail("kind", "%q: want agency or person", r.Kind)
	}
	for _, f := range []struct {
		field, value string
		required     bool
	}{
		{"common name (CN)", r.CommonName, true},
		{"organization (O)", r.Organization, true},
		{"organizational unit (OU)", r.OrganizationalUnit, false},
		{"locality (L)", r.Locality, r.Kind == Agency},
	} {
		v := f.value
		switch {
		case v == "" && f.required:
			return fail(f.field, "required for a %s certificate", r.Kind)
		case !utf8.ValidString(v):
			return fail(f.field, "not valid UTF-8")
		case strings.TrimSpace(v) != v:
			return fail(f.field, "leading or trailing spaces")
		case utf8.RuneCountInString(v) > maxNameLen:
			return fail(f.field, "%d characters, more than the %d RFC 5280 allows", utf8.RuneCountInString(v), maxNameLen)
		case strings.ContainsFunc(v, func(c rune) bool { return c < 0x20 || c == 0x7f }):
			return fail(f.field, "contains control characters")
		}
	}
	if r.Kind == Agency && (r.OrganizationalUnit != "" || r.Email != "") {
		return fail("kind", "an agency seal names no unit (OU) nor e-mail: those belong to person certificates")
	}
	if r.Email != "" {
		a, err := mail.ParseAddress(r.Email)
		if err != nil || a.Address != r.Email || a.Name != "" || len(r.Email) > 128 {
			return fail("email", "%q is not a plain e-mail address (local@domain)", r.Email)
		}
		for _, c := range r.Email {
			if c > 0x7e {
				return fail("email", "%q: only ASCII addresses can go in a certificate", r.Email)
			}
		}
	}
	if r.Name != "" && !namePattern.MatchString(r.Name) {
		return fail("name", "%q: want 1-64 of [A-Za-z0-9._-], starting with a letter or digit", r.Name)
	}
	if r.PublicKey == nil && r.Key != "" && !validKeyType(r.Key) {
		return fail("key", "unknown key type %q (want one of %v)", string(r.Key), KeyTypes)
	}
	if r.PublicKey != nil && r.PKCS12Password != "" {
		return fail("pkcs12 password", "a .p12 needs the private key, and the CA only has the public key")
	}
	if r.Validity < 0 {
		return fail("validity", "must be positive")
	}
	if r.Validity > 0 && r.Validity < time.Hour {
		return fail("validity", "%v is shorter than an hour", r.Validity)
	}
	return nil
}

// subject builds the subject name in the government's convention.
func (r IssueRequest) subject() pkix.Name {
	n := pkix.Name{
		CommonName:   r.CommonName,
		Organization: []string{r.Organization},
		Country:      []string{"VN"},
	}
	if r.OrganizationalUnit != "" {
		n.OrganizationalUnit = []string{r.OrganizationalUnit}
	}
	if r.Locality != "" {
		n.Locality = []string{r.Locality}
	}
	if r.Email != "" {
		n.ExtraNames = append(n.ExtraNames, pkix.AttributeTypeAndValue{
			Type:  oidEmailAddress,
			Value: asn1.RawValue{Tag: asn1.TagIA5String, Bytes: []byte(r.Email)},
		})
	}
	return n
}
