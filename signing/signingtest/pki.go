package signingtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Epoch is the fixed clock of test PKIs: certificates and CRLs are issued
// relative to it, so tests verify "as of" Epoch (or a time derived from it)
// and never depend on the wall clock.
var Epoch = time.Date(2026, time.March, 2, 8, 0, 0, 0, time.UTC)

// OIDDocumentSigning is id-kp-documentSigning (RFC 9336), the extended key
// usage test leaves carry by default.
var OIDDocumentSigning = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 36}

// KeyAlg names a key algorithm and size.
type KeyAlg string

// Key algorithms NewKey generates.
const (
	RSA1024 KeyAlg = "rsa-1024" // too small for the profile: for negative tests
	RSA2048 KeyAlg = "rsa-2048"
	RSA3072 KeyAlg = "rsa-3072"
	RSA4096 KeyAlg = "rsa-4096"
	P256    KeyAlg = "p-256"
	P384    KeyAlg = "p-384"
	P521    KeyAlg = "p-521"
	Ed25519 KeyAlg = "ed25519"
)

// NewKey generates a key of alg.
func NewKey(t testing.TB, alg KeyAlg) crypto.Signer {
	t.Helper()
	var (
		k   crypto.Signer
		err error
	)
	switch alg {
	case RSA1024, RSA2048, RSA3072, RSA4096:
		bits := map[KeyAlg]int{RSA1024: 1024, RSA2048: 2048, RSA3072: 3072, RSA4096: 4096}[alg]
		k, err = rsa.GenerateKey(rand.Reader, bits)
	case P256:
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case P384:
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case P521:
		k, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case Ed25519:
		_, k, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("signingtest: unknown key algorithm %q", alg)
	}
	if err != nil {
		t.Fatalf("signingtest: generating %s key: %v", alg, err)
	}
	return k
}

// Issuer is a CA: its certificate and key.
type Issuer struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// PKI is a root CA, an intermediate CA (path length 0) and one leaf, all
// issued relative to Now.
//
// Validity: root Now-2d .. Now+20y, intermediate Now-1d .. Now+10y, leaf
// Now-1h .. Now+1y. The leaf has KeyUsage digitalSignature +
// contentCommitment and ExtKeyUsage documentSigning unless an option
// changes it.
type PKI struct {
	Now          time.Time
	Root         Issuer
	Intermediate Issuer
	Leaf         *x509.Certificate
	LeafKey      crypto.Signer
}

type pkiConfig struct {
	now     time.Time
	leafAlg KeyAlg
	caAlg   KeyAlg
	leaf    []func(*x509.Certificate)
}

// Option changes what NewPKI builds.
type Option func(*pkiConfig)

// WithNow sets the PKI's clock (default Epoch).
func WithNow(now time.Time) Option { return func(c *pkiConfig) { c.now = now } }

// WithLeafKey sets the leaf key algorithm (default RSA2048).
func WithLeafKey(alg KeyAlg) Option { return func(c *pkiConfig) { c.leafAlg = alg } }

// WithCAKey sets the key algorithm of both CAs (default P384).
func WithCAKey(alg KeyAlg) Option { return func(c *pkiConfig) { c.caAlg = alg } }

// WithLeaf edits the leaf certificate template before it is issued
// (validity, key usage, subject, ...).
func WithLeaf(edit func(*x509.Certificate)) Option {
	return func(c *pkiConfig) { c.leaf = append(c.leaf, edit) }
}

// NewPKI builds a PKI. It fails t on any error.
func NewPKI(t testing.TB, opts ...Option) *PKI {
	t.Helper()
	cfg := pkiConfig{now: Epoch, leafAlg: RSA2048, caAlg: P384}
	for _, o := range opts {
		o(&cfg)
	}
	now := cfg.now
	p := &PKI{Now: now}

	rootKey := NewKey(t, cfg.caAlg)
	rootTmpl := &x509.Certificate{
		Subject:               pkix.Name{Country: []string{"VN"}, Organization: []string{"Ban Cơ yếu Chính phủ (TEST)"}, CommonName: "RootCA chuyên dùng Chính phủ (TEST)"},
		NotBefore:             now.Add(-48 * time.Hour),
		NotAfter:              now.AddDate(20, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	p.Root = Issuer{Cert: issue(t, rootTmpl, rootTmpl, rootKey.Public(), rootKey), Key: rootKey}

	interKey := NewKey(t, cfg.caAlg)
	p.Intermediate = Issuer{Key: interKey, Cert: p.Root.Issue(t, &x509.Certificate{
		Subject:               pkix.Name{Country: []string{"VN"}, Organization: []string{"Ban Cơ yếu Chính phủ (TEST)"}, CommonName: "CA phục vụ các cơ quan Nhà nước (TEST)"},
		NotBefore:             now.Add(-24 * time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}, interKey.Public())}

	p.LeafKey, p.Leaf = p.IssueLeaf(t, cfg.leafAlg, cfg.leaf...)
	return p
}

// LeafTemplate returns the default template of a leaf issued at now: an
// agency seal for "Văn phòng Chính phủ (TEST)".
func LeafTemplate(now time.Time) *x509.Certificate {
	return &x509.Certificate{
		Subject: pkix.Name{
			Country: []string{"VN"}, Province: []string{"Hà Nội"},
			Organization: []string{"Chính phủ (TEST)"}, CommonName: "Văn phòng Chính phủ (TEST)",
			SerialNumber: "000.00.00.G22",
		},
		NotBefore:          now.Add(-time.Hour),
		NotAfter:           now.AddDate(1, 0, 0),
		KeyUsage:           x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		UnknownExtKeyUsage: []asn1.ObjectIdentifier{OIDDocumentSigning},
	}
}

// IssueLeaf issues another leaf from the intermediate with a fresh alg key,
// from LeafTemplate(p.Now) after the edits.
func (p *PKI) IssueLeaf(t testing.TB, alg KeyAlg, edits ...func(*x509.Certificate)) (crypto.Signer, *x509.Certificate) {
	t.Helper()
	key := NewKey(t, alg)
	tmpl := LeafTemplate(p.Now)
	for _, e := range edits {
		if e != nil {
			e(tmpl)
		}
	}
	return key, p.Intermediate.Issue(t, tmpl, key.Public())
}

// Chain returns the leaf and the intermediate: what a signer puts in
// KeyInfo.
func (p *PKI) Chain() []*x509.Certificate {
	return []*x509.Certificate{p.Leaf, p.Intermediate.Cert}
}

// Issue signs a certificate for pub from tmpl. A zero SerialNumber is
// replaced by a random 128-bit one.
func (i Issuer) Issue(t testing.TB, tmpl *x509.Certificate, pub crypto.PublicKey) *x509.Certificate {
	t.Helper()
	return issue(t, tmpl, i.Cert, pub, i.Key)
}

func issue(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) *x509.Certificate {
	t.Helper()
	if tmpl.SerialNumber == nil {
		tmpl.SerialNumber = randomSerial(t)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatalf("signingtest: issuing %q: %v", tmpl.Subject, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("signingtest: parsing %q: %v", tmpl.Subject, err)
	}
	return c
}

func randomSerial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	return n.Add(n, big.NewInt(1))
}

// CRL describes a CRL to issue.
type CRL struct {
	Number     int64
	ThisUpdate time.Time
	NextUpdate time.Time
	Revoked    []x509.RevocationListEntry
}

// CRL issues a DER CRL signed by i.
func (i Issuer) CRL(t testing.TB, c CRL) []byte {
	t.Helper()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(c.Number),
		ThisUpdate:                c.ThisUpdate,
		NextUpdate:                c.NextUpdate,
		RevokedCertificateEntries: c.Revoked,
	}, i.Cert, i.Key)
	if err != nil {
		t.Fatalf("signingtest: issuing CRL of %q: %v", i.Cert.Subject, err)
	}
	return der
}

// Revoked is a CRL entry for cert, revoked at at with reason
// keyCompromise.
func Revoked(cert *x509.Certificate, at time.Time) x509.RevocationListEntry {
	return x509.RevocationListEntry{SerialNumber: cert.SerialNumber, RevocationTime: at, ReasonCode: 1}
}

// CRLs issues number-1 CRLs of the root (covering the intermediate) and of
// the intermediate (covering leaves), valid from Now-1h to Now+24h. Each
// certificate in revoked goes into its issuer's CRL, revoked at Now-30m.
func (p *PKI) CRLs(t testing.TB, revoked ...*x509.Certificate) (rootCRL, intermediateCRL []byte) {
	t.Helper()
	var fromRoot, fromInter []x509.RevocationListEntry
	for _, c := range revoked {
		e := Revoked(c, p.Now.Add(-30*time.Minute))
		if string(c.RawIssuer) == string(p.Root.Cert.RawSubject) {
			fromRoot = append(fromRoot, e)
		} else {
			fromInter = append(fromInter, e)
		}
	}
	window := func(rev []x509.RevocationListEntry) CRL {
		return CRL{Number: 1, ThisUpdate: p.Now.Add(-time.Hour), NextUpdate: p.Now.Add(24 * time.Hour), Revoked: rev}
	}
	return p.Root.CRL(t, window(fromRoot)), p.Intermediate.CRL(t, window(fromInter))
}

// CertPEM encodes certificates as PEM CERTIFICATE blocks.
func CertPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// KeyPEM encodes key as a PKCS#8 "PRIVATE KEY" block.
func KeyPEM(t testing.TB, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("signingtest: encoding key: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// WriteFile writes data to dir/name with mode 0600 and returns the path.
func WriteFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatalf("signingtest: %v", err)
	}
	return path
}
