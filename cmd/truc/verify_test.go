package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"truc.vn/truc/signing"
)

// The round trip the issue asks for: pki init, pki issue, sign with PEM,
// .p12 and PKCS#11, verify valid (0), tampered (1), bound and not bound
// (0/1), revoked after pki revoke + pki crl (1), usage error (2).
func TestSignVerifyRoundTrip(t *testing.T) {
	p := newSigPKI(t)
	dir := t.TempDir()
	pkg := sigWritePackage(t, dir, "letter.edxml")
	key, chain := p.path("issued", "vpcp.key"), p.path("issued", "vpcp-chain.pem")

	signed := map[string]string{}
	t.Run("sign with PEM", func(t *testing.T) {
		out := filepath.Join(dir, "pem.edxml")
		sigMustRun(t, "sign", "--key", key, "--cert", chain, "-o", out, pkg).expect(t, exitOK, "signing as CN=VĂN PHÒNG CHÍNH PHỦ")
		signed["pem"] = out
	})
	t.Run("sign with .p12", func(t *testing.T) {
		out := filepath.Join(dir, "p12.edxml")
		pinFile := filepath.Join(dir, "p12-password")
		os.WriteFile(pinFile, []byte(p.p12Pass+"\n"), 0o600)
		sigMustRun(t, "sign", "--p12", p.path("issued", "vpcp.p12"), "--pin-file", pinFile, "-o", out, pkg)
		signed["p12"] = out
	})
	t.Run("sign with PKCS11 token", func(t *testing.T) {
		sigMustRun(t, "pki", "issue", "--dir", p.dir, "--cn", "VĂN PHÒNG CHÍNH PHỦ", "--o", "CHÍNH PHỦ", "--l", "Hà Nội", "--name", "vpcp-p256", "--ecdsa")
		module := softHSMToken(t, map[string]string{"seal-rsa": key, "seal-p256": p.path("issued", "vpcp-p256.key")})
		t.Setenv("TRUC_TEST_TOKEN_PIN", "1234")
		for _, k := range []struct{ label, chain, out string }{
			{"seal-rsa", chain, "pkcs11"},
			{"seal-p256", p.path("issued", "vpcp-p256-chain.pem"), "pkcs11-p256"},
		} {
			out := filepath.Join(dir, k.out+".edxml")
			uri := "pkcs11:token=vpcp-token;object=" + k.label + ";type=private?module-path=" + module
			r := sigRun(t, "sign", "--pkcs11", uri, "--pin-env", "TRUC_TEST_TOKEN_PIN", "--cert", k.chain, "-o", out, pkg)
			if !signing.PKCS11Available() {
				r.expect(t, exitFailure, "not available in this build")
				return
			}
			r.expect(t, exitOK)
			if strings.Contains(r.stdout+r.stderr, "1234") {
				t.Error("the output shows the PIN")
			}
			signed[k.out] = out
		}
	})

	for _, how := range []struct{ name, alg string }{{"pem", "rsa-sha256"}, {"p12", "rsa-sha256"}, {"pkcs11", "rsa-sha256"}, {"pkcs11-p256", "ecdsa-sha256"}} {
		t.Run("verify valid, signed with "+how.name, func(t *testing.T) {
			f, ok := signed[how.name]
			if !ok {
				t.Skip("not signed")
			}
			sigRun(t, append(p.verifyArgs(), f)...).expect(t, exitOK,
				f+": VALID", "signer:    CN=VĂN PHÒNG CHÍNH PHỦ,O=CHÍNH PHỦ,L=Hà Nội,C=VN",
				"1. CN=CA phục vụ các cơ quan Nhà nước (DEMO)", "2. CN=RootCA chuyên dùng Chính phủ (DEMO)",
				"sender:    000.00.00.G22 (binding not checked", "signature: "+how.alg+", digest sha256", "number 1")
		})
	}
	good := signed["pem"]

	t.Run("verify tampered", func(t *testing.T) {
		b, _ := os.ReadFile(good)
		tampered := filepath.Join(dir, "tampered.edxml")
		os.WriteFile(tampered, bytes.Replace(b, []byte("Văn phòng Chính phủ"), []byte("Văn phòng Chính phú"), 1), 0o644)
		sigRun(t, append(p.verifyArgs(), tampered)...).expect(t, exitFailure, tampered+": INVALID (digest-mismatch)")
	})

	fp := sigFingerprint(t, p, "vpcp")
	bindings := filepath.Join(dir, "bindings.yaml")
	os.WriteFile(bindings, []byte("version: 1\nbindings:\n  - organ_id: 000.00.00.G22\n    certificates: ["+fp+"]\n"), 0o644)
	otherBindings := filepath.Join(dir, "other.yaml")
	os.WriteFile(otherBindings, []byte("version: 1\nbindings:\n  - organ_id: 000.00.12.G12\n    certificates: ["+fp+"]\n"), 0o644)
	t.Run("verify bound", func(t *testing.T) {
		sigRun(t, append(p.verifyArgs(), "--bindings", bindings, good)...).expect(t, exitOK, "sender:    000.00.00.G22, bound in "+bindings)
	})
	t.Run("verify not bound", func(t *testing.T) {
		sigRun(t, append(p.verifyArgs(), "--bindings", otherBindings, good)...).expect(t, exitFailure,
			"INVALID (signer-not-bound)", `no binding for OrganId "000.00.00.G22"`)
	})
	t.Run("verify --json", func(t *testing.T) {
		r := sigRun(t, append(p.verifyArgs(), "--json", "--bindings", bindings, good, filepath.Join(dir, "tampered.edxml"))...)
		r.expect(t, exitFailure)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 2 {
			t.Fatalf("want 2 JSON lines, got:\n%s", r.stdout)
		}
		var ok, bad verifyReport
		if err := json.Unmarshal([]byte(lines[0]), &ok); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(lines[1]), &bad); err != nil {
			t.Fatal(err)
		}
		if !ok.Valid || ok.Signer == nil || ok.Signer.SHA256 != fp || len(ok.Chain) != 3 || ok.Sender == nil || !ok.Sender.Bound ||
			ok.Sender.OrganID != "000.00.00.G22" || len(ok.Evidence.CRLs) != 2 || len(ok.SHA256) != 64 {
			t.Errorf("valid report: %s", lines[0])
		}
		if bad.Valid || bad.Reason != signing.ReasonDigestMismatch {
			t.Errorf("tampered report: %s", lines[1])
		}
	})

	t.Run("verify revoked", func(t *testing.T) {
		sigMustRun(t, "pki", "revoke", "--dir", p.dir, "--reason", "key-compromise", "vpcp").expect(t, exitOK, "revoked vpcp")
		sigMustRun(t, "pki", "crl", "--dir", p.dir).expect(t, exitOK, "1 revoked")
		sigRun(t, append(p.verifyArgs(), good)...).expect(t, exitFailure, "INVALID (revoked)")
		// Without any CRL, revocation cannot be checked: fail closed.
		sigRun(t, "verify", "--roots", p.path("root-ca.pem"), good).expect(t, exitFailure, "INVALID (crl-unavailable)")
	})

	t.Run("usage error", func(t *testing.T) {
		sigRun(t, "verify", good).expect(t, exitUsage, "--roots is required")
	})
}

func sigFingerprint(t *testing.T, p *sigPKI, name string) string {
	t.Helper()
	b, err := os.ReadFile(p.path("index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx struct {
		Issued []struct{ Name, SHA256 string }
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	for _, e := range idx.Issued {
		if e.Name == name {
			return e.SHA256
		}
	}
	t.Fatalf("%s not in the index", name)
	return ""
}

func TestVerifyUsage(t *testing.T) {
	p := newSigPKI(t)
	dir := t.TempDir()
	pkg := sigWritePackage(t, dir, "letter.edxml")
	badBindings := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badBindings, []byte("version: 1\nbindings:\n  - organ_id: 000.00.00.G22\n    certificate: [x]\n"), 0o644)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "no roots", args: []string{"verify", pkg}, want: "--roots is required"},
		{name: "no package", args: []string{"verify", "--roots", p.path("root-ca.pem")}, want: "no package to verify"},
		{name: "roots file missing", args: []string{"verify", "--roots", filepath.Join(dir, "nope.pem"), pkg}, want: "no such file"},
		{name: "roots file is a key", args: []string{"verify", "--roots", p.path("issued", "vpcp.key"), pkg}, want: "no CERTIFICATE block"},
		{name: "bad --at", args: []string{"verify", "--roots", p.path("root-ca.pem"), "--at", "yesterday", pkg}, want: "want an RFC 3339 time"},
		{name: "CRL file missing", args: []string{"verify", "--roots", p.path("root-ca.pem"), "--crl", filepath.Join(dir, "nope.crl"), pkg}, want: "--crl"},
		{name: "CRL and no revocation", args: []string{"verify", "--roots", p.path("root-ca.pem"), "--crl", p.path("root-ca.crl"), "--no-revocation", pkg}, want: "contradict"},
		{name: "bad bindings", args: []string{"verify", "--roots", p.path("root-ca.pem"), "--bindings", badBindings, pkg}, want: `unknown field "certificate"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sigRun(t, tt.args...).expect(t, exitUsage, tt.want)
		})
	}
}

func TestVerifyInvalidInputs(t *testing.T) {
	p := newSigPKI(t)
	dir := t.TempDir()
	unsigned := sigWritePackage(t, dir, "unsigned.edxml")
	signed := filepath.Join(dir, "signed.edxml")
	sigMustRun(t, "sign", "--key", p.path("issued", "vpcp.key"), "--cert", p.path("issued", "vpcp-chain.pem"), "-o", signed, unsigned)
	other := newSigPKI(t) // another demo PKI: same names, other keys

	tests := []struct {
		name string
		args []string
		want []string
	}{
		{name: "unsigned", args: append(p.verifyArgs(), unsigned), want: []string{"INVALID (no-signature)"}},
		{name: "missing file", args: append(p.verifyArgs(), filepath.Join(dir, "nope.edxml")), want: []string{"INVALID (unreadable)"}},
		{name: "root of another PKI", args: []string{"verify", "--roots", other.path("root-ca.pem"), "--no-revocation", signed}, want: []string{"INVALID (untrusted-chain)"}},
		{name: "before the certificate", args: append(p.verifyArgs(), "--at", "2020-01-01T00:00:00Z", signed), want: []string{"INVALID (", "warning: CRL"}},
		{name: "CRL of another CA", args: []string{"verify", "--roots", p.path("root-ca.pem"), "--intermediates", p.path("issuing-ca.pem"), "--crl", other.path("issuing-ca.crl"), signed},
			want: []string{"warning: CRL " + other.path("issuing-ca.crl") + " not used", "INVALID (crl-unavailable)"}},
		{name: "one bad among good", args: append(p.verifyArgs(), signed, unsigned), want: []string{"[2/2]", signed + ": VALID", "1 of 2 packages invalid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sigRun(t, tt.args...).expect(t, exitFailure, tt.want...)
		})
	}
	// --no-revocation still verifies the rest.
	sigRun(t, "verify", "--roots", p.path("root-ca.pem"), "--no-revocation", signed).expect(t, exitOK, "crls:      none (revocation not checked)")
	// Roots in DER, as the government publishes them (rootcag2.crt).
	rootDER := filepath.Join(dir, "root.crt")
	certs, err := signing.ParseCertificatesPEM(sigReadFile(t, p.path("root-ca.pem")))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(rootDER, certs[0].Raw, 0o644)
	sigRun(t, "verify", "--roots", rootDER, "--no-revocation", signed).expect(t, exitOK, signed+": VALID")
	// Flags may follow the files.
	sigRun(t, append([]string{"verify", signed}, p.verifyArgs()[1:]...)...).expect(t, exitOK, fmt.Sprintf("%s: VALID", signed))
}
