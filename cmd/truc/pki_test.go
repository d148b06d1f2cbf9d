package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"truc.vn/truc/signing"
	"truc.vn/truc/signing/demopki"
)

// The command with its defaults: RSA-4096 root, RSA-3072 issuing CA,
// RSA-2048 agency seal (slow: a few seconds of key generation).
func TestPKIInitDefaults(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	sigMustRun(t, "pki", "init", "--dir", dir).expect(t, exitOK,
		"created a demo PKI in "+dir, "root CA:    CN=RootCA chuyên dùng Chính phủ (DEMO),O=Ban Cơ yếu Chính phủ,C=VN",
		"issuing CA: CN=CA phục vụ các cơ quan Nhà nước (DEMO)")
	r := sigMustRun(t, "pki", "issue", "--dir", dir, "--cn", "CỤC THUẾ", "--o", "BỘ TÀI CHÍNH", "--l", "Hà Nội", "--name", "thue", "--organ-id", "000.00.12.G12")
	r.expect(t, exitOK, "issued agency certificate thue", "key:     rsa-2048", "bindings entry:\n  - organ_id: 000.00.12.G12\n    name: \"CỤC THUẾ\"")

	// The printed bindings entry is a valid bindings file.
	entry := r.stdout[strings.Index(r.stdout, "  - organ_id"):]
	b, err := signing.ParseBindings([]byte("version: 1\nbindings:\n" + entry))
	if err != nil || b.Len() != 1 {
		t.Fatalf("printed bindings entry does not parse: %v\n%s", err, entry)
	}

	ca, err := demopki.Open(dir, demopki.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cert *x509.Certificate
		bits int
	}{{ca.Root(), 4096}, {ca.Issuing(), 3072}} {
		if k, ok := c.cert.PublicKey.(*rsa.PublicKey); !ok || k.N.BitLen() != c.bits {
			t.Errorf("%s: key is not RSA-%d", c.cert.Subject.CommonName, c.bits)
		}
	}
}

func TestPKICommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	sigMustRun(t, "pki", "init", "--dir", dir, "--root-key", "ecdsa-p256", "--issuing-key", "ecdsa-p256", "--crl-url", "https://crl.example.gov.vn/demo")
	sigRun(t, "pki", "init", "--dir", dir, "--root-key", "ecdsa-p256", "--issuing-key", "ecdsa-p256").expect(t, exitFailure, "refusing to overwrite")

	sigMustRun(t, "pki", "issue", "--dir", dir, "--kind", "person", "--cn", "Nguyễn Văn An", "--ou", "Phòng Hành chính",
		"--o", "UBND tỉnh Tây Ninh", "--email", "an.nv@tayninh.gov.vn", "--ecdsa", "--name", "an", "--days", "30").
		expect(t, exitOK, "issued person certificate an", "key:     ecdsa-p256")
	sigMustRun(t, "pki", "issue", "--dir", dir, "--cn", "SỞ Y TẾ", "--o", "UBND TỈNH NGHỆ AN", "--l", "Nghệ An", "--rsa-bits", "3072", "--name", "soyte").
		expect(t, exitOK, "key:     rsa-3072")

	// A key that stays on a token: certify the public key of its CSR.
	tokenKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ignored"}}, tokenKey)
	if err != nil {
		t.Fatal(err)
	}
	csr := filepath.Join(t.TempDir(), "token.csr")
	os.WriteFile(csr, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER}), 0o644)
	r := sigMustRun(t, "pki", "issue", "--dir", dir, "--cn", "UBND TỈNH TÂY NINH", "--o", "UBND TỈNH TÂY NINH", "--l", "Tây Ninh", "--csr", csr, "--name", "tayninh")
	if strings.Contains(r.stdout, "tayninh.key") {
		t.Error("a key file was written for a CSR")
	}
	certs, err := signing.ParseCertificatesPEM(sigReadFile(t, filepath.Join(dir, "issued", "tayninh.pem")))
	if err != nil || !tokenKey.PublicKey.Equal(certs[0].PublicKey) || certs[0].CRLDistributionPoints[0] != "https://crl.example.gov.vn/demo/issuing-ca.crl" {
		t.Errorf("CSR certificate: %v", err)
	}

	sigMustRun(t, "pki", "list", "--dir", dir).expect(t, exitOK, "an ", "person", "soyte", "tayninh", "valid")
	sigMustRun(t, "pki", "revoke", "--dir", dir, "--reason", "superseded", "soyte").expect(t, exitOK, "revoked soyte", "reason superseded")
	sigRun(t, "pki", "revoke", "--dir", dir, "soyte").expect(t, exitFailure, "already revoked")
	sigRun(t, "pki", "revoke", "--dir", dir, "nobody").expect(t, exitFailure, "no such certificate")
	sigMustRun(t, "pki", "crl", "--dir", dir).expect(t, exitOK, "issuing-ca.crl: number 1, 1 revoked", "root-ca.crl: number 1, 0 revoked", "https://crl.example.gov.vn/demo")
	sigMustRun(t, "pki", "crl", "--dir", dir).expect(t, exitOK, "issuing-ca.crl: number 2")
	sigMustRun(t, "pki", "list", "--dir", dir).expect(t, exitOK, "revoked (superseded)")
}

func TestPKIUsage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	sigMustRun(t, "pki", "init", "--dir", dir, "--root-key", "ecdsa-p256", "--issuing-key", "ecdsa-p256")
	csr := filepath.Join(t.TempDir(), "x.csr")
	os.WriteFile(csr, []byte("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"), 0o644)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{name: "no subcommand", args: []string{"pki"}, code: exitUsage, want: "which subcommand?"},
		{name: "unknown subcommand", args: []string{"pki", "renew"}, code: exitUsage, want: `unknown subcommand "renew"`},
		{name: "unknown key type", args: []string{"pki", "init", "--dir", filepath.Join(t.TempDir(), "x"), "--root-key", "rsa-1024"}, code: exitFailure, want: `unknown key type "rsa-1024"`},
		{name: "stray argument", args: []string{"pki", "issue", "--dir", dir, "--cn", "Cục", "Thuế"}, code: exitUsage, want: "quote names with spaces"},
		{name: "ecdsa and rsa-bits", args: []string{"pki", "issue", "--dir", dir, "--cn", "A", "--o", "B", "--l", "C", "--ecdsa", "--rsa-bits", "3072"}, code: exitUsage, want: "exclude each other"},
		{name: "rsa-bits 1024", args: []string{"pki", "issue", "--dir", dir, "--cn", "A", "--o", "B", "--l", "C", "--rsa-bits", "1024"}, code: exitUsage, want: "want 2048 or 3072"},
		{name: "p12 without password", args: []string{"pki", "issue", "--dir", dir, "--cn", "A", "--o", "B", "--l", "C", "--p12"}, code: exitUsage, want: "needs its password"},
		{name: "p12 with a CSR", args: []string{"pki", "issue", "--dir", dir, "--cn", "A", "--o", "B", "--l", "C", "--csr", csr, "--p12"}, code: exitUsage, want: "--p12 needs the private key"},
		{name: "CSR not a request", args: []string{"pki", "issue", "--dir", dir, "--cn", "A", "--o", "B", "--l", "C", "--csr", csr}, code: exitUsage, want: "not a CERTIFICATE REQUEST"},
		{name: "bad OrganId", args: []string{"pki", "issue", "--dir", dir, "--cn", "A", "--o", "B", "--l", "C", "--organ-id", "G22 / VPCP"}, code: exitUsage, want: "is not an OrganId"},
		{name: "agency without locality", args: []string{"pki", "issue", "--dir", dir, "--cn", "A", "--o", "B"}, code: exitFailure, want: "locality (L): required"},
		{name: "not a PKI", args: []string{"pki", "list", "--dir", t.TempDir()}, code: exitFailure, want: "is not a demo PKI"},
		{name: "revoke two", args: []string{"pki", "revoke", "--dir", dir, "a", "b"}, code: exitUsage, want: "exactly one"},
		{name: "revoke bad reason", args: []string{"pki", "revoke", "--dir", dir, "--reason", "because", "a"}, code: exitUsage, want: "unknown revocation reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sigRun(t, tt.args...).expect(t, tt.code, tt.want)
		})
	}
}

// Every command explains itself with an example, on stdout, exit 0.
func TestSigningCommandsHelp(t *testing.T) {
	for _, args := range [][]string{
		{"pki", "-h"}, {"pki", "init", "-h"}, {"pki", "issue", "--help"}, {"pki", "revoke", "-h"}, {"pki", "crl", "-h"}, {"pki", "list", "-h"},
		{"sign", "-h"}, {"verify", "-h"}, {"help", "sign"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := sigRun(t, args...)
			r.expect(t, exitOK)
			if !strings.Contains(r.stdout, "Usage: truc ") || !strings.Contains(r.stdout, "Example") {
				t.Errorf("help lacks usage or an example:\n%s", r.stdout)
			}
		})
	}
}

func sigReadFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
