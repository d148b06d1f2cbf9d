package signing_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"truc.vn/truc/signing"
	"truc.vn/truc/signing/signingtest"
)

// keyFixture reads a file of signing/testdata/keys (see gen.sh there).
func keyFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "keys", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkSigns proves that key is a working signer: a SHA-256 signature
// verifies with its public key.
func checkSigns(t *testing.T, key crypto.Signer) {
	t.Helper()
	digest := sha256.Sum256([]byte("công văn số 1"))
	sig, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	switch pub := key.Public().(type) {
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
			t.Fatalf("RSA signature does not verify: %v", err)
		}
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, digest[:], sig) {
			t.Fatal("ECDSA signature does not verify")
		}
	default:
		t.Fatalf("unexpected public key type %T", pub)
	}
}

func TestParsePrivateKeyPEM(t *testing.T) {
	combined := append(keyFixture(t, "leaf-rsa2048.pem"), keyFixture(t, "rsa2048-pkcs8.pem")...)
	twoKeys := append(keyFixture(t, "rsa2048-pkcs8.pem"), keyFixture(t, "p256-pkcs8.pem")...)
	corrupt := bytes.Replace(keyFixture(t, "rsa2048-pkcs1.pem"), []byte("MII"), []byte("MIA"), 1)
	tests := []struct {
		name    string
		in      []byte
		wantAlg string // "rsa-2048", "ecdsa-P-256", ...
		wantErr string
		wantIs  error
	}{
		{name: "PKCS#1 RSA", in: keyFixture(t, "rsa2048-pkcs1.pem"), wantAlg: "rsa-2048"},
		{name: "PKCS#8 RSA", in: keyFixture(t, "rsa2048-pkcs8.pem"), wantAlg: "rsa-2048"},
		{name: "SEC1 P-256 after EC PARAMETERS", in: keyFixture(t, "p256-sec1-params.pem"), wantAlg: "ecdsa-P-256"},
		{name: "PKCS#8 P-256", in: keyFixture(t, "p256-pkcs8.pem"), wantAlg: "ecdsa-P-256"},
		{name: "PKCS#8 P-384", in: keyFixture(t, "p384-pkcs8.pem"), wantAlg: "ecdsa-P-384"},
		{name: "certificate then key", in: combined, wantAlg: "rsa-2048"},
		{name: "RSA-1024 too small", in: keyFixture(t, "rsa1024-pkcs8.pem"), wantIs: signing.ErrKeyNotAllowed, wantErr: "1024 bits"},
		{name: "P-224 curve refused", in: keyFixture(t, "p224-pkcs8.pem"), wantIs: signing.ErrKeyNotAllowed, wantErr: "P-224"},
		{name: "Ed25519 refused", in: keyFixture(t, "ed25519-pkcs8.pem"), wantIs: signing.ErrKeyNotAllowed, wantErr: "Ed25519"},
		{name: "encrypted PKCS#8", in: keyFixture(t, "rsa2048-encrypted-pkcs8.pem"), wantIs: signing.ErrEncryptedKey},
		{name: "encrypted legacy PKCS#1", in: keyFixture(t, "rsa2048-encrypted-pkcs1.pem"), wantIs: signing.ErrEncryptedKey},
		{name: "public key", in: keyFixture(t, "rsa2048-public.pem"), wantErr: "PUBLIC KEY, not a private key"},
		{name: "two keys", in: twoKeys, wantErr: "second private key"},
		{name: "certificate only", in: keyFixture(t, "leaf-rsa2048.pem"), wantErr: "no private key block"},
		{name: "empty", in: nil, wantErr: "no private key block"},
		{name: "DER instead of PEM", in: []byte{0x30, 0x82, 0x04, 0xa4, 0x02, 0x01, 0x00}, wantErr: "DER input?"},
		{name: "unknown block type", in: []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"), wantErr: `unsupported type "OPENSSH PRIVATE KEY"`},
		{name: "corrupted key bytes", in: corrupt, wantErr: "block 1 (RSA PRIVATE KEY)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := signing.ParsePrivateKeyPEM(tt.in)
			if tt.wantErr != "" || tt.wantIs != nil {
				if err == nil {
					t.Fatalf("got key %T, want an error", key)
				}
				if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
					t.Errorf("error %q is not %v", err, tt.wantIs)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q does not mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := keyAlgName(key.Public()); got != tt.wantAlg {
				t.Errorf("key is %s, want %s", got, tt.wantAlg)
			}
			checkSigns(t, key)
		})
	}
}

func keyAlgName(pub crypto.PublicKey) string {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		return "rsa-" + big.NewInt(int64(p.N.BitLen())).String()
	case *ecdsa.PublicKey:
		return "ecdsa-" + p.Curve.Params().Name
	}
	return "unknown"
}

func TestParseCertificatesPEM(t *testing.T) {
	root, issuing, leaf := keyFixture(t, "root.pem"), keyFixture(t, "issuing.pem"), keyFixture(t, "leaf-rsa2048.pem")
	withKey := append(append([]byte{}, keyFixture(t, "rsa2048-pkcs8.pem")...), leaf...)
	withText := append([]byte("Certificate:\n    Data: (openssl x509 -text output)\n"), leaf...)
	tests := []struct {
		name    string
		in      []byte
		wantCNs []string
		wantErr string
	}{
		{name: "chain in file order", in: bytes.Join([][]byte{leaf, issuing, root}, nil), wantCNs: []string{"CỤC THUẾ", "Test Issuing CA", "Test Root"}},
		{name: "key blocks skipped", in: withKey, wantCNs: []string{"CỤC THUẾ"}},
		{name: "text before the block", in: withText, wantCNs: []string{"CỤC THUẾ"}},
		{name: "no certificate", in: keyFixture(t, "rsa2048-pkcs8.pem"), wantErr: "no CERTIFICATE block"},
		{name: "empty", in: nil, wantErr: "no CERTIFICATE block"},
		{name: "DER", in: []byte{0x30, 0x82, 0x02, 0xd9}, wantErr: "DER input?"},
		{name: "CRL block", in: []byte("-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n"), wantErr: `unsupported type "X509 CRL"`},
		{name: "broken certificate", in: []byte("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"), wantErr: "block 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certs, err := signing.ParseCertificatesPEM(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var cns []string
			for _, c := range certs {
				cns = append(cns, c.Subject.CommonName)
			}
			if strings.Join(cns, "|") != strings.Join(tt.wantCNs, "|") {
				t.Errorf("got %q, want %q", cns, tt.wantCNs)
			}
		})
	}
}

func TestLoadPKCS12(t *testing.T) {
	leafCert := keyParseCert(t, keyFixture(t, "leaf-rsa2048.pem"))
	issuingCert := keyParseCert(t, keyFixture(t, "issuing.pem"))
	tests := []struct {
		name     string
		file     string
		password string
		leafOnly bool // the file holds no CA certificate
		wantErr  string
	}{
		{name: "OpenSSL 3 default (PBES2, AES-256)", file: "leaf-openssl3.p12", password: "secret"},
		{name: "OpenSSL -legacy (RC2, 3DES)", file: "leaf-legacy.p12", password: "secret"},
		{name: "Windows-style 3DES, SHA-1 MAC", file: "leaf-windows.p12", password: "secret"},
		{name: "wrong password", file: "leaf-openssl3.p12", password: "guess", wantErr: "wrong password"},
		{name: "no MAC nor encryption, empty password (like a plain PEM)", file: "leaf-nomac.p12", password: "", leafOnly: true},
		{name: "no MAC, a password given", file: "leaf-nomac.p12", password: "secret", wantErr: "pkcs12:"},
		{name: "not a p12", file: "leaf-rsa2048.pem", password: "", wantErr: "pkcs12:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, chain, err := signing.LoadPKCS12(keyFixture(t, tt.file), tt.password)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one mentioning %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), tt.password) && tt.password != "" {
					t.Errorf("error %q repeats the password", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// The files list the CAs before the leaf; the root is dropped.
			want := []*x509.Certificate{leafCert, issuingCert}
			if tt.leafOnly {
				want = want[:1]
			}
			if len(chain) != len(want) || !chain[0].Equal(want[0]) || !chain[len(chain)-1].Equal(want[len(want)-1]) {
				t.Fatalf("chain = %v, want %v", keySubjects(chain), keySubjects(want))
			}
			checkSigns(t, key)
		})
	}
}

func TestLoadPKCS12Rejects(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		key     crypto.Signer
		certKey crypto.Signer
		wantErr string
	}{
		{name: "RSA-1024 key", key: small, certKey: small, wantErr: "1024 bits"},
		{name: "certificate of another key", key: p256, certKey: other, wantErr: "no certificate matches the private key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert := keySelfSigned(t, tt.certKey, "Mismatch")
			p12, err := pkcs12.Modern2023.Encode(tt.key, cert, nil, "pw")
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := signing.LoadPKCS12(p12, "pw"); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func keyParseCert(t testing.TB, pemBytes []byte) *x509.Certificate {
	t.Helper()
	certs, err := signing.ParseCertificatesPEM(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	return certs[0]
}

func keySelfSigned(t testing.TB, key crypto.Signer, cn string) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func keySubjects(certs []*x509.Certificate) []string {
	var s []string
	for _, c := range certs {
		s = append(s, c.Subject.CommonName)
	}
	return s
}

func FuzzParsePrivateKeyPEM(f *testing.F) {
	for _, name := range []string{"rsa2048-pkcs1.pem", "p256-sec1-params.pem", "ed25519-pkcs8.pem", "rsa2048-encrypted-pkcs1.pem"} {
		f.Add(keyFixture(f, name))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		key, err := signing.ParsePrivateKeyPEM(b)
		if (key == nil) == (err == nil) {
			t.Fatalf("key %v and error %v: want exactly one", key, err)
		}
	})
}

func FuzzParseCertificatesPEM(f *testing.F) {
	f.Add(keyFixture(f, "leaf-rsa2048.pem"))
	f.Add(append(keyFixture(f, "root.pem"), keyFixture(f, "p256-sec1-params.pem")...))
	f.Fuzz(func(t *testing.T, b []byte) {
		certs, err := signing.ParseCertificatesPEM(b)
		if (len(certs) == 0) == (err == nil) {
			t.Fatalf("%d certificates and error %v: want exactly one of them", len(certs), err)
		}
	})
}

func TestChainForKey(t *testing.T) {
	pki := signingtest.NewPKI(t)
	other := signingtest.NewPKI(t)
	leaf, inter, root := pki.Leaf, pki.Intermediate.Cert, pki.Root.Cert
	tests := []struct {
		name    string
		certs   []*x509.Certificate
		want    []*x509.Certificate
		wantErr string
	}{
		{name: "leaf only", certs: []*x509.Certificate{leaf}, want: []*x509.Certificate{leaf}},
		{name: "any order, root dropped", certs: []*x509.Certificate{root, inter, leaf}, want: []*x509.Certificate{leaf, inter}},
		{name: "unrelated and duplicate certificates dropped", certs: []*x509.Certificate{other.Intermediate.Cert, inter, other.Leaf, leaf, inter, nil}, want: []*x509.Certificate{leaf, inter}},
		{name: "same-name CA of another PKI is not an issuer", certs: []*x509.Certificate{leaf, other.Intermediate.Cert}, want: []*x509.Certificate{leaf}},
		{name: "no matching certificate", certs: []*x509.Certificate{other.Leaf, inter}, wantErr: "no certificate matches"},
		{name: "nothing", certs: nil, wantErr: "no certificate matches"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := signing.ChainForKey(pki.LeafKey.Public(), tt.certs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("chain %v, want %v", keySubjects(got), keySubjects(tt.want))
			}
			for i := range got {
				if !got[i].Equal(tt.want[i]) {
					t.Fatalf("chain[%d] = %s, want %s", i, got[i].Subject, tt.want[i].Subject)
				}
			}
		})
	}
}
