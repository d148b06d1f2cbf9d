//go:build cgo

package signing_test

import (
	"crypto"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ThalesIgnite/crypto11"

	"truc.vn/truc/signing"
	"truc.vn/truc/signing/signingtest"
)

// softHSMModule is where Debian's softhsm2 package installs the module.
const softHSMModule = "/usr/lib/softhsm/libsofthsm2.so"

// requireSoftHSM skips the test when SoftHSM2 is not installed, or fails
// it when TRUC_REQUIRE_INTEROP=1 forbids skipping.
func requireSoftHSM(t testing.TB) {
	t.Helper()
	signingtest.RequireTool(t, "softhsm2-util")
	if _, err := os.Stat(softHSMModule); err != nil {
		if os.Getenv(signingtest.RequireInteropEnv) == "1" {
			t.Fatalf("SoftHSM2 module: %v, and %s=1 forbids skipping", err, signingtest.RequireInteropEnv)
		}
		t.Skipf("skipping: SoftHSM2 module: %v", err)
	}
}

// softToken is a SoftHSM2 token in a temporary directory, selected for
// the whole test through SOFTHSM2_CONF.
type softToken struct {
	label, pin string
}

func newSoftToken(t testing.TB, label string) *softToken {
	t.Helper()
	requireSoftHSM(t)
	dir := t.TempDir()
	if strings.Contains(dir, "#") { // softhsm2.conf treats # as a comment
		t.Fatalf("test name makes a token path with #: %s", dir)
	}
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	tok := &softToken{label: label, pin: "1234"}
	tok.util(t, "--init-token", "--free", "--label", label, "--pin", tok.pin, "--so-pin", "5678")
	return tok
}

func (tok *softToken) util(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command("softhsm2-util", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("softhsm2-util %s: %v\n%s", args[0], err, out)
	}
}

// importKey puts a PKCS#8 PEM key on the token (softhsm2-util creates the
// private and the public object).
func (tok *softToken) importKey(t testing.TB, pemFile, label, idHex string) {
	t.Helper()
	tok.util(t, "--import", filepath.Join("testdata", "keys", pemFile), "--token", tok.label, "--label", label, "--id", idHex, "--pin", tok.pin)
}

func (tok *softToken) config(keyLabel string, keyID []byte) signing.PKCS11Config {
	return signing.PKCS11Config{Module: softHSMModule, TokenLabel: tok.label, KeyLabel: keyLabel, KeyID: keyID, PIN: tok.pin}
}

func openToken(t testing.TB, cfg signing.PKCS11Config) *signing.PKCS11Key {
	t.Helper()
	k, err := signing.OpenPKCS11(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Close() })
	return k
}

func TestPKCS11SoftHSM(t *testing.T) {
	tok := newSoftToken(t, "agency-token")
	tok.importKey(t, "rsa2048-pkcs8.pem", "agency-rsa", "01")
	tok.importKey(t, "p256-pkcs8.pem", "agency-p256", "02")
	tok.importKey(t, "rsa1024-pkcs8.pem", "weak-rsa", "03")
	tok.importKey(t, "p384-pkcs8.pem", "twin", "04")
	tok.importKey(t, "p384-pkcs8.pem", "twin", "05")

	fileKey := func(name string) crypto.PublicKey {
		k, err := signing.ParsePrivateKeyPEM(keyFixture(t, name))
		if err != nil {
			t.Fatal(err)
		}
		return k.Public()
	}
	tests := []struct {
		name    string
		cfg     signing.PKCS11Config
		wantPub crypto.PublicKey
		wantErr string
		wantIs  error
	}{
		{name: "RSA-2048 by label", cfg: tok.config("agency-rsa", nil), wantPub: fileKey("rsa2048-pkcs8.pem")},
		{name: "RSA-2048 by id", cfg: tok.config("", []byte{0x01}), wantPub: fileKey("rsa2048-pkcs8.pem")},
		{name: "P-256 by label and id", cfg: tok.config("agency-p256", []byte{0x02}), wantPub: fileKey("p256-pkcs8.pem")},
		{name: "label and id of different keys", cfg: tok.config("agency-p256", []byte{0x01}), wantErr: "no key pair"},
		{name: "unknown label", cfg: tok.config("nobody", nil), wantErr: "no key pair"},
		{name: "two keys with one label", cfg: tok.config("twin", nil), wantErr: "2 key pairs match"},
		{name: "RSA-1024 refused", cfg: tok.config("weak-rsa", nil), wantIs: signing.ErrKeyNotAllowed},
		{name: "wrong PIN", cfg: func() signing.PKCS11Config { c := tok.config("agency-rsa", nil); c.PIN = "9999"; return c }(), wantErr: "opening the token"},
		{name: "unknown token", cfg: func() signing.PKCS11Config { c := tok.config("agency-rsa", nil); c.TokenLabel = "other"; return c }(), wantErr: "opening the token"},
		{name: "missing module", cfg: func() signing.PKCS11Config {
			c := tok.config("agency-rsa", nil)
			c.Module = "/nonexistent/lib.so"
			return c
		}(), wantErr: "module"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := signing.OpenPKCS11(tt.cfg)
			if tt.wantErr != "" || tt.wantIs != nil {
				if err == nil {
					k.Close()
					t.Fatal("opened, want an error")
				}
				if !strings.Contains(err.Error(), tt.wantErr) || (tt.wantIs != nil && !errors.Is(err, tt.wantIs)) {
					t.Fatalf("error = %v, want %q / %v", err, tt.wantErr, tt.wantIs)
				}
				t.Logf("error: %v", err)
				if strings.Contains(err.Error(), tt.cfg.PIN) {
					t.Errorf("error %q shows the PIN", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer k.Close()
			if !k.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(tt.wantPub) {
				t.Fatalf("Public() = %T, not the imported key", k.Public())
			}
			if k.Certificate() != nil {
				t.Error("Certificate() is not nil, but the token holds no certificate")
			}
			checkSigns(t, k)
			if strings.Contains(k.String(), tok.pin) {
				t.Errorf("String() %q shows the PIN", k)
			}
		})
	}
}

func TestPKCS11RefusesUnsafeDigests(t *testing.T) {
	tok := newSoftToken(t, "t")
	tok.importKey(t, "rsa2048-pkcs8.pem", "k", "01")
	k := openToken(t, tok.config("k", nil))
	sha1Digest := sha1.Sum([]byte("x"))
	sha256Digest := sha256.Sum256([]byte("x"))
	tests := []struct {
		name   string
		digest []byte
		opts   crypto.SignerOpts
		want   string
	}{
		{name: "SHA-1", digest: sha1Digest[:], opts: crypto.SHA1, want: "not allowed"},
		{name: "no hash (raw RSA)", digest: sha256Digest[:], opts: crypto.Hash(0), want: "not allowed"},
		{name: "digest of the wrong length", digest: sha256Digest[:20], opts: crypto.SHA256, want: "digest of 20 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := k.Sign(rand.Reader, tt.digest, tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

// A key generated inside the token, with its certificate stored next to it
// (same CKA_ID), as a real agency token holds them.
func TestPKCS11GeneratedKeyWithCertificate(t *testing.T) {
	tok := newSoftToken(t, "seal-token")
	id, label := []byte{0x0a}, []byte("agency-seal")
	ctx, err := crypto11.Configure(&crypto11.Config{Path: softHSMModule, TokenLabel: tok.label, Pin: tok.pin})
	if err != nil {
		t.Fatal(err)
	}
	gen, err := ctx.GenerateECDSAKeyPairWithLabel(id, label, elliptic.P256())
	if err != nil {
		ctx.Close()
		t.Fatal(err)
	}
	cert := keySelfSigned(t, gen, "VĂN PHÒNG CHÍNH PHỦ")
	if err := ctx.ImportCertificateWithLabel(id, label, cert); err != nil {
		ctx.Close()
		t.Fatal(err)
	}
	if err := ctx.Close(); err != nil {
		t.Fatal(err)
	}

	k := openToken(t, tok.config(string(label), nil))
	if got := k.Certificate(); got == nil || !got.Equal(cert) {
		t.Fatalf("Certificate() = %v, want the stored certificate", got)
	}
	checkSigns(t, k)

	// Signing is safe from several goroutines (run with -race).
	var wg sync.WaitGroup
	errs := make(chan error, 4*10)
	for range 4 {
		wg.Go(func() {
			for range 10 {
				d := sha256.Sum256([]byte("x"))
				if _, err := k.Sign(rand.Reader, d[:], crypto.SHA256); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	if err := k.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	d := sha256.Sum256([]byte("x"))
	if _, err := k.Sign(rand.Reader, d[:], crypto.SHA256); err == nil {
		t.Fatal("Sign after Close succeeded")
	}
}

func TestPKCS11Available(t *testing.T) {
	if !signing.PKCS11Available() {
		t.Fatal("PKCS11Available() is false in a cgo build")
	}
}

// Token keys sign edXML end to end through Signer and Verifier: an
// imported RSA key and a P-256 key generated on the token (whose DER
// signatures the signer turns into XML-DSig's r‖s).
func TestPKCS11SignsEdXML(t *testing.T) {
	tok := newSoftToken(t, "edge-token")
	tok.importKey(t, "rsa2048-pkcs8.pem", "seal-rsa", "01")
	ctx, err := crypto11.Configure(&crypto11.Config{Path: softHSMModule, TokenLabel: tok.label, Pin: tok.pin})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctx.GenerateECDSAKeyPairWithLabel([]byte{0x02}, []byte("seal-p256"), elliptic.P256()); err != nil {
		ctx.Close()
		t.Fatal(err)
	}
	if err := ctx.Close(); err != nil {
		t.Fatal(err)
	}

	pki := signingtest.NewPKI(t)
	v, err := signing.NewVerifier(signing.VerifierConfig{Roots: []*x509.Certificate{pki.Root.Cert}, Policy: signing.Policy{SkipRevocation: true}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, label, wantAlg string }{
		{"imported RSA-2048", "seal-rsa", "rsa-sha256"},
		{"generated P-256", "seal-p256", "ecdsa-sha256"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k := openToken(t, tok.config(tt.label, nil))
			leaf := pki.Intermediate.Issue(t, signingtest.LeafTemplate(pki.Now), k.Public())
			s, err := signing.NewSigner(k, []*x509.Certificate{leaf, pki.Intermediate.Cert})
			if err != nil {
				t.Fatal(err)
			}
			signed, err := s.Sign(signingtest.Package(signingtest.PackageOptions{}), signing.SignOptions{})
			if err != nil {
				t.Fatal(err)
			}
			res, err := v.Verify(signed, pki.Now)
			if err != nil {
				t.Fatalf("token signature does not verify: %v", err)
			}
			if !strings.HasSuffix(res.Evidence.SignatureAlgorithm, tt.wantAlg) || !res.Signer.Equal(leaf) {
				t.Errorf("signed with %s by %s", res.Evidence.SignatureAlgorithm, res.Signer.Subject)
			}
		})
	}
}
