package signing

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"truc.vn/truc/signing/signingtest"
)

func TestCRLStoreAdd(t *testing.T) {
	p := signingtest.NewPKI(t, signingtest.WithCAKey(signingtest.P256))
	now := p.Now
	good := p.Intermediate.CRL(t, signingtest.CRL{Number: 7, ThisUpdate: now.Add(-time.Hour), NextUpdate: now.Add(time.Hour)})
	// A CA with the intermediate's name but another key.
	impostorKey := signingtest.NewKey(t, signingtest.P256)
	impostor := signingtest.Issuer{Key: impostorKey, Cert: p.Root.Issue(t, &x509.Certificate{
		Subject: p.Intermediate.Cert.Subject, NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true,
	}, impostorKey.Public())}
	idp := mustCRL(t, p.Intermediate, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: now.Add(-time.Hour), NextUpdate: now.Add(time.Hour),
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 28}, Critical: true, Value: []byte{0x30, 0x00}}}})
	both := []*x509.Certificate{p.Root.Cert, p.Intermediate.Cert}

	for _, tc := range []struct {
		name    string
		der     []byte
		issuers []*x509.Certificate
		want    string // "" for success
	}{
		{"valid", good, both, ""},
		{"issuer not given", good, []*x509.Certificate{p.Root.Cert}, "no issuer certificate"},
		{"signed by another key under the same name", impostor.CRL(t, signingtest.CRL{Number: 8, ThisUpdate: now.Add(-time.Hour), NextUpdate: now.Add(time.Hour)}),
			[]*x509.Certificate{p.Intermediate.Cert}, "signature"},
		{"issued in the future", p.Intermediate.CRL(t, signingtest.CRL{Number: 9, ThisUpdate: now.Add(time.Hour), NextUpdate: now.Add(2 * time.Hour)}), both, "after now"},
		{"critical issuing distribution point", idp, both, "unsupported critical extension"},
		{"not a CRL", []byte("garbage"), both, "adding CRL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, err := NewCRLStore().Add(tc.der, tc.issuers, now)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if info.Number != "7" || info.IssuerSHA256 != Fingerprint(p.Intermediate.Cert) || !info.NextUpdate.Equal(now.Add(time.Hour)) {
					t.Errorf("info = %+v", info)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Add = %+v, %v; want an error containing %q", info, err, tc.want)
			}
		})
	}
}

func mustCRL(t *testing.T, ca signingtest.Issuer, tmpl *x509.RevocationList) []byte {
	t.Helper()
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestCRLStoreKeepsNewest(t *testing.T) {
	p := signingtest.NewPKI(t, signingtest.WithCAKey(signingtest.P256))
	issuers := []*x509.Certificate{p.Intermediate.Cert}
	crl := func(n int64) []byte {
		return p.Intermediate.CRL(t, signingtest.CRL{Number: n, ThisUpdate: p.Now.Add(-time.Hour), NextUpdate: p.Now.Add(time.Hour)})
	}
	s := NewCRLStore()
	two := crl(2)
	if _, err := s.Add(two, issuers, p.Now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(crl(1), issuers, p.Now); !errors.Is(err, ErrCRLNotNewer) {
		t.Fatalf("older CRL: %v, want ErrCRLNotNewer", err)
	}
	if _, err := s.Add(crl(2), issuers, p.Now); !errors.Is(err, ErrCRLNotNewer) {
		t.Fatalf("other CRL with the same number: %v, want ErrCRLNotNewer", err)
	}
	if info, err := s.Add(two, issuers, p.Now); err != nil || info.Number != "2" {
		t.Fatalf("re-adding the same CRL: %+v, %v", info, err)
	}
	if info, err := s.Add(crl(3), issuers, p.Now); err != nil || info.Number != "3" {
		t.Fatalf("newer CRL: %+v, %v", info, err)
	}
	infos, verr := s.check([]*x509.Certificate{p.Leaf, p.Intermediate.Cert}, p.Now, 0)
	if verr != nil || len(infos) != 1 || infos[0].Number != "3" {
		t.Fatalf("check = %+v, %v", infos, verr)
	}
}

func TestCRLStoreCheck(t *testing.T) {
	p := signingtest.NewPKI(t, signingtest.WithCAKey(signingtest.P256))
	now := p.Now
	s := NewCRLStore()
	if _, err := s.Add(p.Intermediate.CRL(t, signingtest.CRL{Number: 1, ThisUpdate: now.Add(-time.Hour), NextUpdate: now.Add(time.Hour),
		Revoked: []x509.RevocationListEntry{signingtest.Revoked(p.Leaf, now)}}), []*x509.Certificate{p.Intermediate.Cert}, now); err != nil {
		t.Fatal(err)
	}
	chain := []*x509.Certificate{p.Leaf, p.Intermediate.Cert, p.Root.Cert}
	interChain := chain[1:] // the root's CRL, covering the intermediate, is not loaded
	for _, tc := range []struct {
		name  string
		chain []*x509.Certificate
		at    time.Time
		grace time.Duration
		want  Reason // "" for success
	}{
		{"before the revocation", chain[:2], now.Add(-time.Minute), 0, ""},
		{"at the revocation", chain[:2], now, 0, ReasonRevoked},
		{"CRL issued after the verification time", chain[:2], now.Add(-2 * time.Hour), 0, ReasonCRLUnavailable},
		{"past nextUpdate", chain[:2], now.Add(time.Hour + time.Second), 0, ReasonCRLUnavailable},
		{"past nextUpdate within grace", chain[:2], now.Add(time.Hour + time.Second), time.Minute, ReasonRevoked},
		{"issuer without CRL", interChain, now, 0, ReasonCRLUnavailable},
		{"root is not checked", chain[2:], now, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, verr := s.check(tc.chain, tc.at, tc.grace)
			switch {
			case tc.want == "" && verr != nil:
				t.Fatalf("check: %v", verr)
			case tc.want != "" && (verr == nil || verr.Reason != tc.want):
				t.Fatalf("check: %v, want %s", verr, tc.want)
			}
		})
	}
}

func TestCRLStoreLoadFile(t *testing.T) {
	p := signingtest.NewPKI(t, signingtest.WithCAKey(signingtest.P256))
	der := p.Intermediate.CRL(t, signingtest.CRL{Number: 4, ThisUpdate: p.Now.Add(-time.Hour), NextUpdate: p.Now.Add(time.Hour)})
	block := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
	dir := t.TempDir()
	issuers := []*x509.Certificate{p.Intermediate.Cert}
	for _, tc := range []struct {
		name, file string
		data       []byte
		want       string
	}{
		{"DER", "a.crl", der, ""},
		{"PEM", "a.pem", append([]byte("\n"), block...), ""},
		{"two PEM CRLs", "two.pem", append(bytes.Clone(block), block...), "more than one CRL"},
		{"PEM certificate", "cert.pem", signingtest.CertPEM(p.Leaf), "not an X509 CRL"},
		{"empty", "empty.crl", nil, "adding CRL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := signingtest.WriteFile(t, dir, tc.file, tc.data)
			info, err := NewCRLStore().LoadFile(path, issuers, p.Now)
			if tc.want == "" {
				if err != nil || info.Number != "4" {
					t.Fatalf("LoadFile = %+v, %v", info, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("LoadFile: %v, want an error naming the file and containing %q", err, tc.want)
			}
		})
	}
	if _, err := NewCRLStore().LoadFile(filepath.Join(dir, "missing.crl"), issuers, p.Now); err == nil {
		t.Error("missing file loaded")
	}
}

func TestCRLStoreFetch(t *testing.T) {
	p := signingtest.NewPKI(t, signingtest.WithCAKey(signingtest.P256))
	der := p.Intermediate.CRL(t, signingtest.CRL{Number: 5, ThisUpdate: p.Now.Add(-time.Hour), NextUpdate: p.Now.Add(time.Hour)})
	mux := http.NewServeMux()
	mux.HandleFunc("/ca.crl", func(w http.ResponseWriter, r *http.Request) { w.Write(der) })
	mux.HandleFunc("/ca.pem", func(w http.ResponseWriter, r *http.Request) {
		pem.Encode(w, &pem.Block{Type: "X509 CRL", Bytes: der})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	issuers := []*x509.Certificate{p.Intermediate.Cert}
	ctx := context.Background()

	for _, path := range []string{"/ca.crl", "/ca.pem"} {
		info, err := NewCRLStore().Fetch(ctx, srv.Client(), srv.URL+path, issuers, p.Now)
		if err != nil || info.Number != "5" {
			t.Errorf("Fetch %s = %+v, %v", path, info, err)
		}
	}
	if _, err := NewCRLStore().Fetch(ctx, nil, srv.URL+"/missing", issuers, p.Now); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("Fetch of a missing CRL: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := NewCRLStore().Fetch(cancelled, srv.Client(), srv.URL+"/ca.crl", issuers, p.Now); !errors.Is(err, context.Canceled) {
		t.Errorf("Fetch with a cancelled context: %v", err)
	}
}

func TestReadCapped(t *testing.T) {
	if _, err := readCapped(strings.NewReader("12345"), 4); err == nil {
		t.Error("5 bytes passed a 4-byte cap")
	}
	if b, err := readCapped(strings.NewReader("1234"), 4); err != nil || string(b) != "1234" {
		t.Errorf("4 bytes under a 4-byte cap: %q, %v", b, err)
	}
}
