package demopki_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"truc.vn/truc/signing/demopki"
)

// t0 is the fixed clock of every test.
var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.FixedZone("ICT", 7*3600))

func clockAt(t time.Time) func() time.Time { return func() time.Time { return t } }

// basePKIDir holds one PKI with the real default key sizes (RSA-4096 root,
// RSA-3072 issuing CA), generated once per test binary because RSA-4096
// generation takes seconds. Tests copy it before changing it.
var basePKIDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "demopki-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	basePKIDir = filepath.Join(dir, "pki")
	if _, err := demopki.Init(basePKIDir, demopki.InitOptions{Now: clockAt(t0)}); err != nil {
		fmt.Fprintln(os.Stderr, "creating the shared demo PKI:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// copyPKI copies the shared PKI into a fresh directory and opens it with
// the clock at now.
func copyPKI(t testing.TB, now time.Time) *demopki.CA {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "pki")
	if err := os.CopyFS(dst, os.DirFS(basePKIDir)); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{demopki.RootKeyFile, demopki.IssuingKeyFile} { // CopyFS drops modes
		if err := os.Chmod(filepath.Join(dst, k), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ca, err := demopki.Open(dst, demopki.OpenOptions{Now: clockAt(now)})
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestInitProfile(t *testing.T) {
	ca, err := demopki.Open(basePKIDir, demopki.OpenOptions{Now: clockAt(t0)})
	if err != nil {
		t.Fatal(err)
	}
	root, issuing := ca.Root(), ca.Issuing()

	checks := []struct {
		name string
		ok   bool
	}{
		{"root is RSA-4096", rsaBits(root) == 4096},
		{"issuing CA is RSA-3072", rsaBits(issuing) == 3072},
		{"root CN", root.Subject.CommonName == "RootCA chuyên dùng Chính phủ (DEMO)"},
		{"root O and C", slices.Equal(root.Subject.Organization, []string{"Ban Cơ yếu Chính phủ"}) && slices.Equal(root.Subject.Country, []string{"VN"})},
		{"issuing CN", issuing.Subject.CommonName == demopki.DefaultIssuingCN},
		{"root self-signed", bytes.Equal(root.RawIssuer, root.RawSubject) && root.CheckSignatureFrom(root) == nil},
		{"issuing signed by root", issuing.CheckSignatureFrom(root) == nil},
		{"root is a CA", root.IsCA && root.BasicConstraintsValid},
		{"issuing CA has path length 0", issuing.IsCA && issuing.MaxPathLen == 0 && issuing.MaxPathLenZero},
		{"CA key usage", root.KeyUsage == x509.KeyUsageCertSign|x509.KeyUsageCRLSign && issuing.KeyUsage == x509.KeyUsageCertSign|x509.KeyUsageCRLSign},
		{"issuing CA names the root CRL", slices.Equal(issuing.CRLDistributionPoints, []string{demopki.DefaultCRLBaseURL + "/root-ca.crl"})},
		{"root valid from the clock", root.NotBefore.Equal(t0)},
		{"root valid 30 years", root.NotAfter.Equal(t0.Add(demopki.DefaultRootValidity))},
		{"serials are 128-bit at most and positive", root.SerialNumber.Sign() > 0 && root.SerialNumber.BitLen() <= 128 && issuing.SerialNumber.BitLen() <= 128},
		{"serials differ", root.SerialNumber.Cmp(issuing.SerialNumber) != 0},
		{"SKI and AKI", len(issuing.SubjectKeyId) > 0 && bytes.Equal(issuing.AuthorityKeyId, root.SubjectKeyId)},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: no", c.name)
		}
	}
	checkMode(t, basePKIDir, 0o700)
	checkMode(t, ca.Path(demopki.RootKeyFile), 0o600)
	checkMode(t, ca.Path(demopki.IssuingKeyFile), 0o600)
	if len(ca.Entries()) != 0 {
		t.Errorf("a new PKI has %d index entries", len(ca.Entries()))
	}
}

func rsaBits(c *x509.Certificate) int {
	if k, ok := c.PublicKey.(*rsa.PublicKey); ok {
		return k.N.BitLen()
	}
	return 0
}

func checkMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != want {
		t.Errorf("%s has mode %v, want %v", filepath.Base(path), got, want)
	}
}

func TestIssue(t *testing.T) {
	ca := copyPKI(t, t0.Add(time.Hour))
	tokenKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	docSigning := asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 36}
	tests := []struct {
		name        string
		req         demopki.IssueRequest
		wantSubject string
		wantKey     demopki.KeyType
		wantEmail   bool
		wantP12     bool
		wantKeyFile bool
		wantYears   int
	}{
		{
			name:        "agency seal, default RSA-2048",
			req:         demopki.IssueRequest{Kind: demopki.Agency, CommonName: "VĂN PHÒNG CHÍNH PHỦ", Organization: "CHÍNH PHỦ", Locality: "Hà Nội", Name: "vpcp"},
			wantSubject: "CN=VĂN PHÒNG CHÍNH PHỦ,O=CHÍNH PHỦ,L=Hà Nội,C=VN",
			wantKey:     demopki.RSA2048, wantKeyFile: true, wantYears: 5,
		},
		{
			name:        "agency seal, RSA-3072 with .p12",
			req:         demopki.IssueRequest{Kind: demopki.Agency, CommonName: "CỤC THUẾ", Organization: "BỘ TÀI CHÍNH", Locality: "Hà Nội", Key: demopki.RSA3072, PKCS12Password: "mật khẩu"},
			wantSubject: "CN=CỤC THUẾ,O=BỘ TÀI CHÍNH,L=Hà Nội,C=VN",
			wantKey:     demopki.RSA3072, wantKeyFile: true, wantP12: true, wantYears: 5,
		},
		{
			name:        "agency seal, P-256",
			req:         demopki.IssueRequest{Kind: demopki.Agency, CommonName: "UBND TỈNH TÂY NINH", Organization: "UBND TỈNH TÂY NINH", Locality: "Tây Ninh", Key: demopki.ECDSAP256, Name: "tay-ninh"},
			wantSubject: "CN=UBND TỈNH TÂY NINH,O=UBND TỈNH TÂY NINH,L=Tây Ninh,C=VN",
			wantKey:     demopki.ECDSAP256, wantKeyFile: true, wantYears: 5,
		},
		{
			name:        "person with e-mail",
			req:         demopki.IssueRequest{Kind: demopki.Person, CommonName: "Nguyễn Văn An", OrganizationalUnit: "Phòng Hành chính", Organization: "UBND tỉnh Tây Ninh", Email: "an.nv@tayninh.gov.vn", Key: demopki.ECDSAP256},
			wantSubject: "CN=Nguyễn Văn An,OU=Phòng Hành chính,O=UBND tỉnh Tây Ninh,C=VN,1.2.840.113549.1.9.1=#0c14616e2e6e76407461796e696e682e676f762e766e", // String() re-encodes E= as UTF8String
			wantKey:     demopki.ECDSAP256, wantEmail: true, wantKeyFile: true, wantYears: 3,
		},
		{
			name:        "token key: only the public key is certified",
			req:         demopki.IssueRequest{Kind: demopki.Agency, CommonName: "SỞ Y TẾ", Organization: "UBND TỈNH NGHỆ AN", Locality: "Nghệ An", PublicKey: &tokenKey.PublicKey, Validity: 2 * 365 * 24 * time.Hour},
			wantSubject: "CN=SỞ Y TẾ,O=UBND TỈNH NGHỆ AN,L=Nghệ An,C=VN",
			wantKey:     demopki.ECDSAP256, wantYears: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ca.Issue(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			c := got.Certificate
			opts := x509.VerifyOptions{Roots: pool(ca.Root()), Intermediates: pool(ca.Issuing()), CurrentTime: t0.Add(2 * time.Hour), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
			if _, err := c.Verify(opts); err != nil {
				t.Errorf("does not chain to the root: %v", err)
			}
			if c.Subject.String() != tt.wantSubject {
				t.Errorf("subject %s, want %s", c.Subject, tt.wantSubject)
			}
			if c.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment {
				t.Errorf("key usage %b", c.KeyUsage)
			}
			if !slices.ContainsFunc(c.UnknownExtKeyUsage, docSigning.Equal) {
				t.Errorf("no documentSigning EKU: %v", c.UnknownExtKeyUsage)
			}
			if tt.req.Email != "" { // E= is an IA5String, as RFC 5280 wants
				ia5 := append([]byte{0x16, byte(len(tt.req.Email))}, tt.req.Email...)
				if !bytes.Contains(c.RawSubject, ia5) {
					t.Error("the subject has no IA5String e-mail address")
				}
			}
			hasEmailEKU := slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageEmailProtection)
			if hasEmailEKU != tt.wantEmail || (len(c.EmailAddresses) == 1) != tt.wantEmail {
				t.Errorf("emailProtection %v, SAN e-mail %v; want %v", hasEmailEKU, c.EmailAddresses, tt.wantEmail)
			}
			if c.IsCA || !c.BasicConstraintsValid {
				t.Error("a leaf must say CA:FALSE")
			}
			if !slices.Equal(c.CRLDistributionPoints, []string{demopki.DefaultCRLBaseURL + "/issuing-ca.crl"}) {
				t.Errorf("CRL distribution points %v", c.CRLDistributionPoints)
			}
			if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 {
				t.Errorf("serial %x is not a positive 128-bit number", c.SerialNumber)
			}
			wantEnd := t0.Add(time.Hour).AddDate(tt.wantYears, 0, 0)
			if d := c.NotAfter.Sub(wantEnd); d < -3*24*time.Hour || d > 3*24*time.Hour {
				t.Errorf("valid until %s, want about %s", c.NotAfter, wantEnd)
			}
			if got.Entry.KeyType != tt.wantKey || got.Entry.SHA256 != fmt.Sprintf("%x", sha256.Sum256(c.Raw)) {
				t.Errorf("index entry %+v", got.Entry)
			}
			if len(got.Chain) != 2 || !got.Chain[1].Equal(ca.Issuing()) {
				t.Error("chain is not [leaf, issuing CA]")
			}
			if (got.KeyFile != "") != tt.wantKeyFile || (got.Key != nil) != tt.wantKeyFile || got.Entry.KeyOnToken == tt.wantKeyFile {
				t.Errorf("key file %q, key %v, on token %v", got.KeyFile, got.Key != nil, got.Entry.KeyOnToken)
			}
			if tt.wantKeyFile {
				checkMode(t, got.KeyFile, 0o600)
				if !got.Key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(c.PublicKey) {
					t.Error("the key does not match the certificate")
				}
			}
			if (got.PKCS12File != "") != tt.wantP12 {
				t.Errorf("p12 file %q", got.PKCS12File)
			}
			if tt.wantP12 {
				checkMode(t, got.PKCS12File, 0o600)
				p12, _ := os.ReadFile(got.PKCS12File)
				key, leaf, cas, err := pkcs12.DecodeChain(p12, tt.req.PKCS12Password)
				if err != nil || !leaf.Equal(c) || len(cas) != 2 || key.(*rsa.PrivateKey).PublicKey.N.Cmp(c.PublicKey.(*rsa.PublicKey).N) != 0 {
					t.Errorf(".p12 does not hold the key, the certificate and both CAs: %v", err)
				}
			}
			for _, p := range []string{got.CertFile, got.ChainFile} {
				if _, err := os.Stat(p); err != nil {
					t.Error(err)
				}
			}
			if e, ok := ca.Lookup(got.Entry.Name); !ok || e.Serial != got.Entry.Serial {
				t.Errorf("Lookup(%q) = %+v, %v", got.Entry.Name, e, ok)
			}
			if e, ok := ca.Lookup(strings.ToUpper(got.Entry.Serial)); !ok || e.Name != got.Entry.Name {
				t.Errorf("Lookup by serial failed: %+v, %v", e, ok)
			}
		})
	}

	// Everything issued is in index.json, as a fresh Open sees it.
	again, err := demopki.Open(ca.Dir(), demopki.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(again.Entries()); got != len(tests) {
		t.Errorf("index holds %d entries after reopening, want %d", got, len(tests))
	}
}

func pool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

func TestIssueRejects(t *testing.T) {
	ca := copyPKI(t, t0.Add(time.Hour))
	if _, err := ca.Issue(demopki.IssueRequest{Kind: demopki.Agency, CommonName: "A", Organization: "B", Locality: "C", Name: "taken", Key: demopki.ECDSAP256}); err != nil {
		t.Fatal(err)
	}
	agency := func(edit func(*demopki.IssueRequest)) demopki.IssueRequest {
		r := demopki.IssueRequest{Kind: demopki.Agency, CommonName: "CỤC THUẾ", Organization: "BỘ TÀI CHÍNH", Locality: "Hà Nội", Key: demopki.ECDSAP256}
		edit(&r)
		return r
	}
	tokenKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	smallKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	tests := []struct {
		name    string
		req     demopki.IssueRequest
		wantErr string
	}{
		{name: "no kind", req: agency(func(r *demopki.IssueRequest) { r.Kind = "" }), wantErr: "kind: required"},
		{name: "unknown kind", req: agency(func(r *demopki.IssueRequest) { r.Kind = "server" }), wantErr: `kind: "server"`},
		{name: "no CN", req: agency(func(r *demopki.IssueRequest) { r.CommonName = "" }), wantErr: "common name (CN): required"},
		{name: "no O", req: agency(func(r *demopki.IssueRequest) { r.Organization = "" }), wantErr: "organization (O): required"},
		{name: "agency without locality", req: agency(func(r *demopki.IssueRequest) { r.Locality = "" }), wantErr: "locality (L): required"},
		{name: "CN too long", req: agency(func(r *demopki.IssueRequest) { r.CommonName = strings.Repeat("Ư", 65) }), wantErr: "65 characters"},
		{name: "control character", req: agency(func(r *demopki.IssueRequest) { r.CommonName = "A\nB" }), wantErr: "control characters"},
		{name: "padded", req: agency(func(r *demopki.IssueRequest) { r.Organization = " B" }), wantErr: "leading or trailing spaces"},
		{name: "agency with e-mail", req: agency(func(r *demopki.IssueRequest) { r.Email = "a@b.vn" }), wantErr: "person certificates"},
		{name: "bad e-mail", req: demopki.IssueRequest{Kind: demopki.Person, CommonName: "A", Organization: "B", Email: "An <a@b.vn>"}, wantErr: "email"},
		{name: "name with a slash", req: agency(func(r *demopki.IssueRequest) { r.Name = "../evil" }), wantErr: `name: "../evil"`},
		{name: "name taken", req: agency(func(r *demopki.IssueRequest) { r.Name = "taken" }), wantErr: `name "taken" is already used`},
		{name: "unknown key type", req: agency(func(r *demopki.IssueRequest) { r.Key = "rsa-1024" }), wantErr: `unknown key type "rsa-1024"`},
		{name: "token key too small", req: agency(func(r *demopki.IssueRequest) { r.PublicKey = &smallKey.PublicKey }), wantErr: "RSA key of 1024 bits"},
		{name: ".p12 of a token key", req: agency(func(r *demopki.IssueRequest) { r.PublicKey = &tokenKey.PublicKey; r.PKCS12Password = "x" }), wantErr: "needs the private key"},
		{name: "outlives the issuing CA", req: agency(func(r *demopki.IssueRequest) { r.Validity = 21 * 365 * 24 * time.Hour }), wantErr: "outlives the issuing CA"},
		{name: "negative validity", req: agency(func(r *demopki.IssueRequest) { r.Validity = -time.Hour }), wantErr: "validity: must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ca.Issue(tt.req)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
	if n := len(ca.Entries()); n != 1 {
		t.Errorf("rejected requests changed the index: %d entries", n)
	}
	files, _ := os.ReadDir(ca.Path(demopki.IssuedDir))
	if len(files) != 3 { // taken.pem, taken-chain.pem, taken.key
		t.Errorf("rejected requests left files: %d in issued/", len(files))
	}
}

func TestRevokeAndCRL(t *testing.T) {
	now := t0.Add(24 * time.Hour)
	ca := copyPKI(t, now)
	issue := func(name string) *demopki.Issued {
		got, err := ca.Issue(demopki.IssueRequest{Kind: demopki.Agency, CommonName: name, Organization: "O", Locality: "L", Name: name, Key: demopki.ECDSAP256})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	a, b := issue("a"), issue("b")
	revokedAt := now
	if err := ca.Revoke(a.Certificate.SerialNumber, demopki.KeyCompromise, revokedAt); err != nil {
		t.Fatal(err)
	}

	rejects := []struct {
		name   string
		serial *big.Int
		reason demopki.RevocationReason
		at     time.Time
		want   string
		is     error
	}{
		{name: "already revoked", serial: a.Certificate.SerialNumber, at: now, want: "already revoked"},
		{name: "zero time is now, still already revoked", serial: a.Certificate.SerialNumber, want: "already revoked"},
		{name: "unknown serial", serial: big.NewInt(12345), at: now, is: demopki.ErrNotFound},
		{name: "the issuing CA", serial: ca.Issuing().SerialNumber, at: now, is: demopki.ErrNotFound},
		{name: "in the future", serial: b.Certificate.SerialNumber, at: now.Add(time.Minute), want: "in the future"},
		{name: "before issue", serial: b.Certificate.SerialNumber, at: now.Add(-48 * time.Hour), want: "before the certificate's validity"},
		{name: "certificateHold", serial: b.Certificate.SerialNumber, reason: 6, at: now, want: "reason 6"},
		{name: "no serial", serial: nil, at: now, want: "must be positive"},
	}
	for _, tt := range rejects {
		t.Run(tt.name, func(t *testing.T) {
			err := ca.Revoke(tt.serial, tt.reason, tt.at)
			if err == nil || (tt.is != nil && !errors.Is(err, tt.is)) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want %q / %v", err, tt.want, tt.is)
			}
		})
	}

	der, err := ca.CRL(now)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(ca.Issuing()); err != nil {
		t.Errorf("CRL not signed by the issuing CA: %v", err)
	}
	if crl.Number.Int64() != 1 || !crl.ThisUpdate.Equal(now) || !crl.NextUpdate.Equal(now.Add(demopki.DefaultCRLValidity)) {
		t.Errorf("CRL number %v, this update %v, next update %v", crl.Number, crl.ThisUpdate, crl.NextUpdate)
	}
	if len(crl.RevokedCertificateEntries) != 1 {
		t.Fatalf("CRL lists %d certificates, want 1", len(crl.RevokedCertificateEntries))
	}
	e := crl.RevokedCertificateEntries[0]
	if e.SerialNumber.Cmp(a.Certificate.SerialNumber) != 0 || !e.RevocationTime.Equal(revokedAt) || e.ReasonCode != int(demopki.KeyCompromise) {
		t.Errorf("CRL entry %+v", e)
	}
	onDisk, err := os.ReadFile(ca.Path(demopki.IssuingCRLFile))
	if err != nil || !bytes.Equal(onDisk, der) {
		t.Errorf("issuing-ca.crl does not hold the CRL: %v", err)
	}

	// A CRL as of before the revocation does not list it; numbers keep
	// growing, also across Open.
	earlier, err := ca.CRL(revokedAt.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := x509.ParseRevocationList(earlier); len(c.RevokedCertificateEntries) != 0 || c.Number.Int64() != 2 {
		t.Errorf("CRL before the revocation: %d entries, number %v", len(c.RevokedCertificateEntries), c.Number)
	}
	reopened, err := demopki.Open(ca.Dir(), demopki.OpenOptions{Now: clockAt(now)})
	if err != nil {
		t.Fatal(err)
	}
	third, err := reopened.CRL(now)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := x509.ParseRevocationList(third); c.Number.Int64() != 3 {
		t.Errorf("CRL number after reopening = %v, want 3", c.Number)
	}
	if ent, _ := reopened.Lookup("a"); !ent.Revoked(now) || ent.Reason != demopki.KeyCompromise {
		t.Errorf("revocation not kept in the index: %+v", ent)
	}

	rootDER, err := ca.RootCRL(now)
	if err != nil {
		t.Fatal(err)
	}
	rootCRL, err := x509.ParseRevocationList(rootDER)
	if err != nil || rootCRL.CheckSignatureFrom(ca.Root()) != nil || rootCRL.Number.Int64() != 1 || len(rootCRL.RevokedCertificateEntries) != 0 {
		t.Errorf("root CRL: %v", err)
	}
}

func TestInitRefusesAnExistingPKI(t *testing.T) {
	ca := copyPKI(t, t0)
	_, err := demopki.Init(ca.Dir(), demopki.InitOptions{RootKey: demopki.ECDSAP256, IssuingKey: demopki.ECDSAP256})
	if err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("error = %v", err)
	}
	if _, err := demopki.Open(ca.Dir(), demopki.OpenOptions{}); err != nil {
		t.Fatalf("the refused Init damaged the PKI: %v", err)
	}
}

func TestInitOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    demopki.InitOptions
		wantErr string
	}{
		{name: "unknown key type", opts: demopki.InitOptions{RootKey: "dsa-1024"}, wantErr: `unknown key type "dsa-1024"`},
		{name: "CRL URL not http", opts: demopki.InitOptions{RootKey: demopki.ECDSAP256, IssuingKey: demopki.ECDSAP256, CRLBaseURL: "ldap://x/crl"}, wantErr: "CRL base URL"},
		{name: "issuing CA outlives the root", opts: demopki.InitOptions{RootKey: demopki.ECDSAP256, IssuingKey: demopki.ECDSAP256, RootValidity: time.Hour, IssuingValidity: 2 * time.Hour}, wantErr: "exceeds the root's"},
		{name: "same CA names", opts: demopki.InitOptions{RootCN: "X", IssuingCN: "X"}, wantErr: "must differ"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "pki")
			_, err := demopki.Init(dir, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one mentioning %q", err, tt.wantErr)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("a refused Init left %d files", len(entries))
			}
		})
	}

	// Custom names, URL and fast keys (this test is not about key size).
	dir := filepath.Join(t.TempDir(), "pki")
	ca, err := demopki.Init(dir, demopki.InitOptions{
		Now: clockAt(t0), RootKey: demopki.ECDSAP384, IssuingKey: demopki.ECDSAP256,
		RootCN: "Root X", IssuingCN: "Issuing X", Organization: "Org X", CRLBaseURL: "https://crl.example.vn/pki/",
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ca.Issue(demopki.IssueRequest{Kind: demopki.Agency, CommonName: "A", Organization: "B", Locality: "C"})
	if err != nil {
		t.Fatal(err)
	}
	if ca.Root().Subject.String() != "CN=Root X,O=Org X,C=VN" || ca.Issuing().CRLDistributionPoints[0] != "https://crl.example.vn/pki/root-ca.crl" ||
		got.Certificate.CRLDistributionPoints[0] != "https://crl.example.vn/pki/issuing-ca.crl" || got.Entry.KeyType != demopki.RSA2048 {
		t.Errorf("root %s, CRL DPs %v %v, leaf key %s", ca.Root().Subject, ca.Issuing().CRLDistributionPoints, got.Certificate.CRLDistributionPoints, got.Entry.KeyType)
	}
}

func TestOpenRejects(t *testing.T) {
	tests := []struct {
		name    string
		damage  func(t *testing.T, dir string)
		wantErr string
	}{
		{name: "not a PKI", damage: func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, demopki.StateFile)) }, wantErr: "is not a demo PKI"},
		{name: "key swapped", damage: func(t *testing.T, dir string) {
			other := filepath.Join(t.TempDir(), "other")
			if _, err := demopki.Init(other, demopki.InitOptions{RootKey: demopki.ECDSAP256, IssuingKey: demopki.ECDSAP256}); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(filepath.Join(other, demopki.IssuingKeyFile))
			os.WriteFile(filepath.Join(dir, demopki.IssuingKeyFile), b, 0o600)
		}, wantErr: "does not match"},
		{name: "index with an unknown field", damage: func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, demopki.IndexFile), []byte(`{"version":1,"issued":[],"extra":1}`), 0o644)
		}, wantErr: `unknown field "extra"`},
		{name: "state of a future version", damage: func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, demopki.StateFile), []byte(`{"version":2}`), 0o644)
		}, wantErr: "version 2 is not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyPKI(t, t0).Dir()
			tt.damage(t, dir)
			if _, err := demopki.Open(dir, demopki.OpenOptions{}); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

// Concurrent Issue calls get distinct serials and all land in the index
// (run with -race).
func TestIssueConcurrent(t *testing.T) {
	ca := copyPKI(t, t0)
	const n = 8
	var wg sync.WaitGroup
	serials := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			got, err := ca.Issue(demopki.IssueRequest{Kind: demopki.Agency, CommonName: fmt.Sprintf("Đơn vị %d", i), Organization: "O", Locality: "L", Key: demopki.ECDSAP256})
			if err == nil {
				serials[i] = got.Entry.Serial
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(serials)
	if len(slices.Compact(serials)) != n {
		t.Error("two certificates got the same serial")
	}
	reopened, err := demopki.Open(ca.Dir(), demopki.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(reopened.Entries()) != n {
		t.Errorf("index holds %d entries, want %d", len(reopened.Entries()), n)
	}
}

func TestParseRevocationReason(t *testing.T) {
	for _, name := range demopki.ReasonNames() {
		r, err := demopki.ParseRevocationReason(name)
		if err != nil || r.String() != name {
			t.Errorf("%s: %v, %v", name, r, err)
		}
	}
	if _, err := demopki.ParseRevocationReason("certificate-hold"); err == nil {
		t.Error("certificate-hold accepted")
	}
}
