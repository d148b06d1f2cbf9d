package signing_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"truc.vn/truc/signing"
)

// bindingCert is a certificate and the key that issued it, for binding
// tests (P-256: fast, and the binding rules do not depend on the key).
type bindingCert struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newBindingCert(t testing.TB, subject pkix.Name, issuer *bindingCert) *bindingCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC),
		BasicConstraintsValid: true,
		IsCA:                  issuer == nil,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	parent, signer := tmpl, key
	if issuer != nil {
		parent, signer = issuer.cert, issuer.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &bindingCert{cert: c, key: key}
}

func bindSHA256Hex(c *x509.Certificate) string {
	h := sha256.Sum256(c.Raw)
	return hex.EncodeToString(h[:])
}

// colonHex writes a fingerprint as OpenSSL does: upper case, colons.
func colonHex(c *x509.Certificate) string {
	h := sha256.Sum256(c.Raw)
	parts := make([]string, len(h))
	for i, b := range h {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

func TestBindingsCheckChain(t *testing.T) {
	ca := newBindingCert(t, pkix.Name{CommonName: "CA phục vụ các cơ quan Nhà nước (TEST)", Country: []string{"VN"}}, nil)
	otherCA := newBindingCert(t, pkix.Name{CommonName: "Some other CA"}, nil)
	seal := func(cn, o, l string) pkix.Name {
		return pkix.Name{CommonName: cn, Organization: []string{o}, Locality: []string{l}, Country: []string{"VN"}}
	}
	vpcp := newBindingCert(t, seal("VĂN PHÒNG CHÍNH PHỦ", "CHÍNH PHỦ", "Hà Nội"), ca)
	thue := newBindingCert(t, seal("CỤC THUẾ", "BỘ TÀI CHÍNH", "Hà Nội"), ca)
	thueNewKey := newBindingCert(t, seal("CỤC THUẾ", "BỘ TÀI CHÍNH", "Hà Nội"), ca) // renewed certificate, same subject
	thueFake := newBindingCert(t, seal("CỤC THUẾ", "BỘ TÀI CHÍNH", "Hà Nội"), otherCA)
	thueOtherProvince := newBindingCert(t, seal("CỤC THUẾ", "BỘ TÀI CHÍNH", "Đà Nẵng"), ca)
	twoOU := newBindingCert(t, pkix.Name{CommonName: "CỤC THUẾ", Organization: []string{"BỘ TÀI CHÍNH"}, OrganizationalUnit: []string{"A", "B"}}, ca)

	file := fmt.Sprintf(`version: 1
bindings:
  - organ_id: 000.00.00.G22
    name: Văn phòng Chính phủ
    certificates:
      - %s
  - organ_id: 000.00.12.G12
    subjects:
      - issuer_sha256: %s
        cn: CỤC THUẾ
        o: BỘ TÀI CHÍNH
        l: Hà Nội
  - organ_id: 000.00.00.H53
    certificates: ["%s"]
    not_after: 2027-06-30
  - organ_id: 000.01.12.G12
    subjects:
      - issuer_sha256: %s
        cn: CỤC THUẾ
        ou: A
`, bindSHA256Hex(vpcp.cert), colonHex(ca.cert), strings.ToUpper(bindSHA256Hex(thue.cert)), bindSHA256Hex(ca.cert))
	b, err := signing.ParseBindings([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(b.OrganIDs(), ","); got != "000.00.00.G22,000.00.00.H53,000.00.12.G12,000.01.12.G12" || b.Len() != 4 {
		t.Fatalf("OrganIDs() = %s, Len() = %d", got, b.Len())
	}

	at := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	endOfDay := time.Date(2027, 6, 30, 23, 59, 59, 0, time.FixedZone("ICT", 7*3600))
	tests := []struct {
		name    string
		organID string
		chain   []*x509.Certificate
		at      time.Time
		wantOK  bool
		wantMsg string
	}{
		{name: "fingerprint listed", organID: "000.00.00.G22", chain: []*x509.Certificate{vpcp.cert, ca.cert}, at: at, wantOK: true},
		{name: "fingerprint listed, leaf alone", organID: "000.00.00.G22", chain: []*x509.Certificate{vpcp.cert}, at: at, wantOK: true},
		{name: "another agency's seal", organID: "000.00.00.G22", chain: []*x509.Certificate{thue.cert, ca.cert}, at: at, wantMsg: "is not bound to OrganId 000.00.00.G22"},
		{name: "unknown OrganId", organID: "000.00.00.G99", chain: []*x509.Certificate{vpcp.cert, ca.cert}, at: at, wantMsg: `no binding for OrganId "000.00.00.G99"`},
		{name: "subject rule", organID: "000.00.12.G12", chain: []*x509.Certificate{thue.cert, ca.cert}, at: at, wantOK: true},
		{name: "subject rule, renewed certificate", organID: "000.00.12.G12", chain: []*x509.Certificate{thueNewKey.cert, ca.cert}, at: at, wantOK: true},
		{name: "subject rule, same name from another CA", organID: "000.00.12.G12", chain: []*x509.Certificate{thueFake.cert, otherCA.cert}, at: at, wantMsg: "is not bound"},
		{name: "subject rule, issuer swapped for the listed CA", organID: "000.00.12.G12", chain: []*x509.Certificate{thueFake.cert, ca.cert}, at: at, wantMsg: "is not bound"},
		{name: "subject rule, other locality", organID: "000.00.12.G12", chain: []*x509.Certificate{thueOtherProvince.cert, ca.cert}, at: at, wantMsg: "is not bound"},
		{name: "subject rule needs the issuer", organID: "000.00.12.G12", chain: []*x509.Certificate{thue.cert}, at: at, wantMsg: "is not bound"},
		{name: "attribute present twice", organID: "000.01.12.G12", chain: []*x509.Certificate{twoOU.cert, ca.cert}, at: at, wantMsg: "is not bound"},
		{name: "before not_after", organID: "000.00.00.H53", chain: []*x509.Certificate{thue.cert, ca.cert}, at: endOfDay, wantOK: true},
		{name: "after not_after", organID: "000.00.00.H53", chain: []*x509.Certificate{thue.cert, ca.cert}, at: endOfDay.Add(time.Second), wantMsg: "binding for OrganId 000.00.00.H53 ended"},
		{name: "no certificate", organID: "000.00.00.G22", chain: nil, at: at, wantMsg: "no signer certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := b.CheckChain(tt.organID, tt.chain, tt.at)
			if tt.wantOK {
				if err != nil {
					t.Fatalf("CheckChain: %v", err)
				}
				return
			}
			var ve *signing.VerifyError
			if !errors.As(err, &ve) || ve.Reason != signing.ReasonSignerNotBound {
				t.Fatalf("error = %v, want a VerifyError with ReasonSignerNotBound", err)
			}
			if !strings.Contains(ve.Detail, tt.wantMsg) {
				t.Errorf("detail %q does not mention %q", ve.Detail, tt.wantMsg)
			}
		})
	}

	// Check is CheckChain now with the leaf alone.
	if err := b.Check("000.00.00.G22", vpcp.cert); err != nil {
		t.Errorf("Check of a listed fingerprint: %v", err)
	}
	if err := b.Check("000.00.12.G12", thue.cert); err == nil {
		t.Error("Check matched a subject rule without the issuer")
	}
	var nilBindings *signing.Bindings
	if err := nilBindings.Check("000.00.00.G22", vpcp.cert); err == nil {
		t.Error("nil Bindings bound a certificate")
	}
}

func TestParseBindingsErrors(t *testing.T) {
	fp := strings.Repeat("ab", 32)
	tests := []struct {
		name, in string
		wantErr  string
	}{
		{name: "empty", in: "", wantErr: "empty file"},
		{name: "not a mapping", in: "- a\n", wantErr: "must be a mapping"},
		{name: "no version", in: "bindings: []\n", wantErr: "version is required"},
		{name: "version 2", in: "version: 2\nbindings: []\n", wantErr: `unsupported version "2"`},
		{name: "no bindings", in: "version: 1\n", wantErr: "bindings list is required"},
		{name: "unknown top-level field", in: "version: 1\nbindings: []\nextra: 1\n", wantErr: `line 3: bindings: unknown field "extra"`},
		{name: "bindings not a list", in: "version: 1\nbindings: {}\n", wantErr: "bindings must be a list"},
		{name: "entry not a mapping", in: "version: 1\nbindings: [x]\n", wantErr: "bindings[0]: an entry must be a mapping"},
		{name: "no organ_id", in: "version: 1\nbindings:\n  - certificates: [" + fp + "]\n", wantErr: "bindings[0]: organ_id is required"},
		{name: "bad organ_id", in: "version: 1\nbindings:\n  - organ_id: 000..G22\n    certificates: [" + fp + "]\n", wantErr: `line 3: bindings[0] (organ_id 000..G22): organ_id: "000..G22" is not an OrganId`},
		{name: "organ_id with a trailing dot", in: "version: 1\nbindings:\n  - organ_id: 000.00.00.\n    certificates: [" + fp + "]\n", wantErr: "is not an OrganId"},
		{name: "organ_id with a leading dot", in: "version: 1\nbindings:\n  - organ_id: .G22\n    certificates: [" + fp + "]\n", wantErr: "is not an OrganId"},
		{name: "organ_id with a space", in: "version: 1\nbindings:\n  - organ_id: 000.00.00 G22\n    certificates: [" + fp + "]\n", wantErr: "is not an OrganId"},
		{name: "organ_id too long", in: "version: 1\nbindings:\n  - organ_id: " + strings.Repeat("A", 36) + "\n    certificates: [" + fp + "]\n", wantErr: "is not an OrganId"},
		{name: "huge organ_id is cut in messages", in: "version: 1\nbindings:\n  - organ_id: " + strings.Repeat("A", 5000) + "\n", wantErr: "AAAA…): organ_id: \"AAAA"},
		{name: "unknown entry field", in: "version: 1\nbindings:\n  - organ_id: 000.00.00.G22\n    certificate: [" + fp + "]\n", wantErr: `line 4: bindings[0] (organ_id 000.00.00.G22): unknown field "certificate"`},
		{name: "nothing allowed", in: "version: 1\nbindings:\n  - organ_id: 000.00.00.G22\n", wantErr: "at least one entry under certificates or subjects"},
		{name: "short fingerprint", in: "version: 1\nbindings:\n  - organ_id: 000.00.00.G22\n    certificates: [abcd]\n", wantErr: "certificates[0]: want a SHA-256 fingerprint of 64 hex digits, got 4 digits"},
		{name: "non-hex fingerprint", in: "version: 1\nbindings:\n  - organ_id: 000.00.00.G22\n    certificates: [" + strings.Repeat("zz", 32) + "]\n", wantErr: "non-hex character"},
		{name: "null fingerprint", in: "version: 1\nbindings:\n  - organ_id: 000.00.00.G22\n    certificates: [~]\n", wantErr: "certificates[0]: want a single value"},
		{name: "duplicate fingerprint", in: "version: 1\nbindings:\n  - organ_id: 000.00.00.G22\n    certificates: [" + fp + ", " + strings.ToUpper(fp) + "]\n", wantErr: "certificates[1]: fingerprint listed twice"},
		{name: "duplicate organ_id", in: "version: 1\nbindings:\n  - organ_id: X1\n    certificates: [" + fp + "]\n  - organ_id: X1\n    certificates: [" + fp + "]\n", wantErr: "bindings[1] (organ_id X1): organ_id already bound by the entry at line 3"},
		{name: "subject without issuer", in: "version: 1\nbindings:\n  - organ_id: X1\n    subjects:\n      - cn: A\n", wantErr: "subjects[0]: issuer_sha256 is required"},
		{name: "subject without cn", in: "version: 1\nbindings:\n  - organ_id: X1\n    subjects:\n      - issuer_sha256: " + fp + "\n        o: B\n", wantErr: "cn is required"},
		{name: "subject with empty o", in: "version: 1\nbindings:\n  - organ_id: X1\n    subjects:\n      - issuer_sha256: " + fp + "\n        cn: A\n        o: \"\"\n", wantErr: "subjects[0]: o: must not be empty"},
		{name: "subject unknown attribute", in: "version: 1\nbindings:\n  - organ_id: X1\n    subjects:\n      - issuer_sha256: " + fp + "\n        cn: A\n        title: B\n", wantErr: `unknown field "title"`},
		{name: "bad not_after", in: "version: 1\nbindings:\n  - organ_id: X1\n    certificates: [" + fp + "]\n    not_after: next year\n", wantErr: "not_after: \"next year\" is neither a date"},
		{name: "two documents", in: "version: 1\nbindings: []\n---\nversion: 1\n", wantErr: "more than one YAML document"},
		{name: "duplicate key", in: "version: 1\nversion: 1\nbindings: []\n", wantErr: "version"},
		{name: "merge key", in: "version: 1\nbindings:\n  - &a {organ_id: X1, certificates: [" + fp + "]}\n  - <<: *a\n    organ_id: X2\n", wantErr: `unknown field "<<"`},
		{name: "YAML syntax", in: "version: [1\n", wantErr: "bindings: yaml:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := signing.ParseBindings([]byte(tt.in))
			if err == nil {
				t.Fatalf("parsed %d bindings, want an error", b.Len())
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q does not mention %q", err, tt.wantErr)
			}
		})
	}
}

// JSON is YAML: the same data written as JSON parses identically.
func TestParseBindingsJSON(t *testing.T) {
	fp := strings.Repeat("0", 64) // all digits: must stay a string, not become a number
	b, err := signing.ParseBindings([]byte(`{"version": 1, "bindings": [{"organ_id": "000.00.00.G22", "certificates": ["` + fp + `"], "not_after": "2030-01-01T00:00:00+07:00"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if b.Len() != 1 {
		t.Fatalf("Len() = %d", b.Len())
	}
	b, err = signing.ParseBindings([]byte("version: 1\nbindings:\n  - organ_id: 000.00.00.G22\n    certificates:\n      - " + fp + "\n"))
	if err != nil || b.Len() != 1 {
		t.Fatalf("all-digit fingerprint: %v", err)
	}
}

// Every bindings file in configs/ parses.
func TestBindingsExampleConfigs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "configs", "bindings*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no configs/bindings*.yaml found")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			b, err := signing.ParseBindings(data)
			if err != nil {
				t.Fatal(err)
			}
			if b.Len() == 0 {
				t.Error("the example binds nothing")
			}
		})
	}
}

func FuzzParseBindings(f *testing.F) {
	fp := strings.Repeat("ab", 32)
	f.Add([]byte("version: 1\nbindings:\n  - organ_id: 000.00.00.G22\n    certificates: [" + fp + "]\n    not_after: 2030-01-01\n"))
	f.Add([]byte("version: 1\nbindings:\n  - organ_id: X1\n    subjects:\n      - issuer_sha256: " + fp + "\n        cn: CỤC THUẾ\n        o: BỘ TÀI CHÍNH\n"))
	f.Add([]byte(`{"version":1,"bindings":[]}`))
	f.Add([]byte("version: 1\nbindings: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := signing.ParseBindings(data)
		if err != nil {
			if b != nil {
				t.Fatal("bindings returned with an error")
			}
			return
		}
		for _, id := range b.OrganIDs() {
			// A parsed file never binds a nil certificate.
			if err := b.CheckChain(id, nil, time.Time{}); err == nil {
				t.Fatalf("OrganId %s bound to no certificate", id)
			}
		}
	})
}
