package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"truc.vn/truc/signing/signingtest"
)

// sigResult is what one in-process run of the truc command gave.
type sigResult struct {
	stdout, stderr string
	code           int
}

// sigRun runs truc in-process with args and returns its output and exit
// code, as main would compute it.
func sigRun(t *testing.T, args ...string) sigResult {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut)
	code := report(err, &errOut)
	return sigResult{out.String(), errOut.String(), code}
}

// sigMustRun runs truc and fails the test unless it exits 0.
func sigMustRun(t *testing.T, args ...string) sigResult {
	t.Helper()
	r := sigRun(t, args...)
	if r.code != exitOK {
		t.Fatalf("truc %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

func (r sigResult) expect(t *testing.T, code int, contains ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	for _, s := range contains {
		if !strings.Contains(r.stdout+r.stderr, s) {
			t.Errorf("output does not mention %q\nstdout:\n%s\nstderr:\n%s", s, r.stdout, r.stderr)
		}
	}
}

// sigPKI is a demo PKI made through the CLI, with one agency seal "vpcp"
// (RSA-2048 with a .p12) and fresh CRLs. The CA keys are P-256: these
// tests are not about CA key size, and RSA-4096 generation takes seconds
// (TestPKIInitDefaults covers the default sizes).
type sigPKI struct {
	dir     string
	p12Pass string
}

func newSigPKI(t *testing.T) *sigPKI {
	t.Helper()
	p := &sigPKI{dir: filepath.Join(t.TempDir(), "pki"), p12Pass: "mật-khẩu p12"}
	sigMustRun(t, "pki", "init", "--dir", p.dir, "--root-key", "ecdsa-p256", "--issuing-key", "ecdsa-p256")
	t.Setenv("TRUC_TEST_P12_PASSWORD", p.p12Pass)
	sigMustRun(t, "pki", "issue", "--dir", p.dir, "--cn", "VĂN PHÒNG CHÍNH PHỦ", "--o", "CHÍNH PHỦ", "--l", "Hà Nội",
		"--name", "vpcp", "--p12", "--p12-password-env", "TRUC_TEST_P12_PASSWORD")
	sigMustRun(t, "pki", "crl", "--dir", p.dir)
	return p
}

func (p *sigPKI) path(parts ...string) string {
	return filepath.Join(append([]string{p.dir}, parts...)...)
}

// verifyArgs are the trust flags for this PKI.
func (p *sigPKI) verifyArgs() []string {
	return []string{"verify", "--roots", p.path("root-ca.pem"), "--intermediates", p.path("issuing-ca.pem"),
		"--crl", p.path("issuing-ca.crl"), "--crl", p.path("root-ca.crl")}
}

// sigWritePackage writes an unsigned edXML document from 000.00.00.G22.
func sigWritePackage(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, signingtest.Package(signingtest.PackageOptions{}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSignUsage(t *testing.T) {
	p := newSigPKI(t)
	dir := t.TempDir()
	pkg := sigWritePackage(t, dir, "letter.edxml")
	key, chain := p.path("issued", "vpcp.key"), p.path("issued", "vpcp-chain.pem")
	t.Setenv("TRUC_TEST_EMPTY", "")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "no key source", args: []string{"sign", pkg}, want: "exactly one of --key, --p12 and --pkcs11"},
		{name: "two key sources", args: []string{"sign", "--key", key, "--p12", p.path("issued", "vpcp.p12"), pkg}, want: "exactly one of"},
		{name: "no package", args: []string{"sign", "--key", key}, want: "no package to sign"},
		{name: "PIN for a PEM key", args: []string{"sign", "--key", key, "--pin-env", "X", pkg}, want: "a PEM key takes no PIN"},
		{name: "token without PIN", args: []string{"sign", "--pkcs11", "pkcs11:token=t;object=k", pkg}, want: "needs its PIN"},
		{name: "PIN from env and file", args: []string{"sign", "--p12", "x.p12", "--pin-env", "A", "--pin-file", "B", pkg}, want: "not both"},
		{name: "PIN variable empty", args: []string{"sign", "--p12", p.path("issued", "vpcp.p12"), "--pin-env", "TRUC_TEST_EMPTY", pkg}, want: "TRUC_TEST_EMPTY is not set or empty"},
		{name: "stdout for two files", args: []string{"sign", "--key", key, "--cert", chain, "-o", "-", pkg, pkg}, want: "takes one input only"},
		{name: "output dir missing", args: []string{"sign", "--key", key, "-o", filepath.Join(dir, "nope"), pkg, pkg}, want: "must be an existing directory"},
		{name: "unknown flag", args: []string{"sign", "--pin", "1234", pkg}, want: "flag provided but not defined: -pin"},
		{name: "bad cert file", args: []string{"sign", "--key", key, "--cert", key, pkg}, want: "no CERTIFICATE block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sigRun(t, tt.args...).expect(t, exitUsage, tt.want)
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "letter.signed.edxml")); err == nil {
		t.Error("a usage error wrote an output")
	}
}

func TestSignFailures(t *testing.T) {
	p := newSigPKI(t)
	dir := t.TempDir()
	pkg := sigWritePackage(t, dir, "letter.edxml")
	key, chain := p.path("issued", "vpcp.key"), p.path("issued", "vpcp-chain.pem")
	sigMustRun(t, "pki", "issue", "--dir", p.dir, "--cn", "CỤC THUẾ", "--o", "BỘ TÀI CHÍNH", "--l", "Hà Nội", "--name", "thue", "--ecdsa")
	pinFile := filepath.Join(dir, "pin")
	os.WriteFile(pinFile, []byte("sai mật khẩu\n"), 0o600)

	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "certificate of another key", args: []string{"sign", "--key", key, "--cert", p.path("issued", "thue.pem"), pkg}, want: "no certificate matches the private key"},
		{name: "key without certificate", args: []string{"sign", "--key", key, pkg}, want: "give the signer's certificate with --cert"},
		{name: "wrong .p12 password", args: []string{"sign", "--p12", p.path("issued", "vpcp.p12"), "--pin-file", pinFile, pkg}, want: "wrong password"},
		{name: "missing key file", args: []string{"sign", "--key", filepath.Join(dir, "nope.key"), pkg}, want: "no such file"},
		{name: "missing package", args: []string{"sign", "--key", key, "--cert", chain, filepath.Join(dir, "nope.edxml")}, want: "FAILED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sigRun(t, tt.args...).expect(t, exitFailure, tt.want)
		})
	}

	// Signing twice: the output exists, then the package is already signed.
	sigMustRun(t, "sign", "--key", key, "--cert", chain, pkg)
	signed := filepath.Join(dir, "letter.signed.edxml")
	before, _ := os.ReadFile(signed)
	sigRun(t, "sign", "--key", key, "--cert", chain, pkg).expect(t, exitFailure, "exists (use --force")
	sigRun(t, "sign", "--key", key, "--cert", chain, "-o", filepath.Join(dir, "again.edxml"), signed).expect(t, exitFailure, "use --resign")
	sigMustRun(t, "sign", "--key", key, "--cert", chain, "--resign", "-o", filepath.Join(dir, "again.edxml"), signed)
	if after, _ := os.ReadFile(signed); !bytes.Equal(before, after) {
		t.Error("a refused sign changed the existing output")
	}
}

// Several files: progress on stderr, one failure does not stop the rest.
func TestSignSeveralFiles(t *testing.T) {
	p := newSigPKI(t)
	in, out := t.TempDir(), t.TempDir()
	a, b := sigWritePackage(t, in, "a.edxml"), sigWritePackage(t, in, "b.edxml")
	broken := filepath.Join(in, "broken.edxml")
	os.WriteFile(broken, []byte("<edXML><unclosed>"), 0o644)
	r := sigRun(t, "sign", "--p12", p.path("issued", "vpcp.p12"), "--pin-env", "TRUC_TEST_P12_PASSWORD", "-o", out, a, broken, b)
	r.expect(t, exitFailure, "[1/3] "+a+" -> ", "[2/3] "+broken+": FAILED", "[3/3] "+b+" -> ", "1 of 3 packages failed")
	for _, f := range []string{"a.signed.edxml", "b.signed.edxml"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "broken.signed.edxml")); err == nil {
		t.Error("the broken package produced an output")
	}
	sigMustRun(t, append(p.verifyArgs(), filepath.Join(out, "a.signed.edxml"), filepath.Join(out, "b.signed.edxml"))...)
}

// softHSMToken sets up a SoftHSM2 token "vpcp-token" (PIN 1234) in a
// temporary directory holding each PKCS#8 PEM key file under its label,
// and returns the module path.
func softHSMToken(t *testing.T, keys map[string]string) string {
	t.Helper()
	const module = "/usr/lib/softhsm/libsofthsm2.so"
	signingtest.RequireTool(t, "softhsm2-util")
	if _, err := os.Stat(module); err != nil {
		if os.Getenv(signingtest.RequireInteropEnv) == "1" {
			t.Fatalf("%s: %v", module, err)
		}
		t.Skipf("skipping: %s: %v", module, err)
	}
	dir := t.TempDir()
	if strings.Contains(dir, "#") { // softhsm2.conf treats # as a comment
		t.Fatalf("test name makes a token path with #: %s", dir)
	}
	tokens := filepath.Join(dir, "tokens")
	os.Mkdir(tokens, 0o700)
	conf := filepath.Join(dir, "softhsm2.conf")
	os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600)
	t.Setenv("SOFTHSM2_CONF", conf)
	cmds := [][]string{{"--init-token", "--free", "--label", "vpcp-token", "--pin", "1234", "--so-pin", "5678"}}
	id := 0
	for label, file := range keys {
		id++
		cmds = append(cmds, []string{"--import", file, "--token", "vpcp-token", "--label", label, "--id", fmt.Sprintf("%02x", id), "--pin", "1234"})
	}
	for _, args := range cmds {
		if out, err := exec.Command("softhsm2-util", args...).CombinedOutput(); err != nil {
			t.Fatalf("softhsm2-util %s: %v\n%s", args[0], err, out)
		}
	}
	return module
}
