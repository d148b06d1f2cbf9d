package signing

import (
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"truc.vn/truc/signing/signingtest"
)

// The fuzz fixtures: a root and CRLs committed under testdata/core/fuzz,
// and seed packages under testdata/fuzz/FuzzVerify signed under that root,
// so that the fuzzer starts from packages that verify all the way and
// mutates from there. Regenerate both with
//
//	go test ./signing -run TestWriteFuzzFixtures -write-fuzz-fixtures
var writeFuzzFixtures = flag.Bool("write-fuzz-fixtures", false, "rewrite testdata/core/fuzz and the FuzzVerify seed corpus")

const fuzzFixtureDir = "testdata/core/fuzz"

func TestWriteFuzzFixtures(t *testing.T) {
	if !*writeFuzzFixtures {
		t.Skip("run with -write-fuzz-fixtures to regenerate")
	}
	p := signingtest.NewPKI(t, signingtest.WithCAKey(signingtest.P256))
	ecKey, ecLeaf := p.IssueLeaf(t, signingtest.P256)
	rootCRL, interCRL := p.CRLs(t)
	if err := os.MkdirAll(fuzzFixtureDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"root.pem": signingtest.CertPEM(p.Root.Cert), "intermediate.pem": signingtest.CertPEM(p.Intermediate.Cert),
		"root.crl": rootCRL, "intermediate.crl": interCRL,
	} {
		if err := os.WriteFile(filepath.Join(fuzzFixtureDir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rsaSigner := mustSigner(t, p.LeafKey, p.Chain())
	ecSigner := mustSigner(t, ecKey, []*x509.Certificate{ecLeaf, p.Intermediate.Cert})
	small := signingtest.Package(signingtest.PackageOptions{Places: 2})
	seeds := map[string][]byte{
		"signed-rsa":   mustSign(t, rsaSigner, small),
		"signed-p256":  mustSign(t, ecSigner, small),
		"default-ns":   craft(t, small, ecKey, craftOptions{defaultNS: true, certs: []*x509.Certificate{ecLeaf, p.Intermediate.Cert}}),
		"prefix-list":  craft(t, small, p.LeafKey, craftOptions{refPrefixes: []string{"edXML"}, siPrefixes: []string{"ds"}, certs: p.Chain()}),
		"legacy-block": signingtest.Package(signingtest.PackageOptions{LegacySignature: true}),
		"commented":    replaceOnce(t, mustSign(t, rsaSigner, small), "<edXML:To>", "<!-- c --><edXML:To>"),
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzVerify")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// fuzzVerifier trusts the committed fuzz root, with both CRLs loaded.
func fuzzVerifier(t testing.TB) *Verifier {
	t.Helper()
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(fuzzFixtureDir, name))
		if err != nil {
			t.Fatalf("fuzz fixture: %v", err)
		}
		return b
	}
	roots := mustParsePEMCerts(t, read("root.pem"))
	inters := mustParsePEMCerts(t, read("intermediate.pem"))
	crls := NewCRLStore()
	for _, name := range []string{"root.crl", "intermediate.crl"} {
		if _, err := crls.Add(read(name), append(roots, inters...), signingtest.Epoch); err != nil {
			t.Fatalf("fuzz fixture %s: %v", name, err)
		}
	}
	v, err := NewVerifier(VerifierConfig{Roots: roots, Intermediates: inters, CRLs: crls})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// readCorpusFile returns the []byte value of a one-value fuzz corpus file.
func readCorpusFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, ok := strings.CutPrefix(string(b), "go test fuzz v1\n[]byte(")
	s, ok2 := strings.CutSuffix(strings.TrimSpace(s), ")")
	data, err := strconv.Unquote(s)
	if !ok || !ok2 || err != nil {
		t.Fatalf("%s is not a []byte corpus file: %v", path, err)
	}
	return []byte(data)
}

var allReasons = map[Reason]bool{
	ReasonNoSignature: true, ReasonMalformed: true, ReasonTooLarge: true, ReasonAlgorithmNotAllowed: true,
	ReasonDigestMismatch: true, ReasonBadSignature: true, ReasonWrapped: true, ReasonUntrustedChain: true,
	ReasonExpired: true, ReasonNotYetValid: true, ReasonRevoked: true, ReasonCRLUnavailable: true,
	ReasonKeyUsage: true, ReasonLegacySignature: true, ReasonSignerNotBound: true,
}

// FuzzVerify feeds arbitrary bytes to Verify: it must never panic, every
// error must be a *VerifyError with a known reason, and whatever verifies
// must verify again and come with a signer and an element.
func FuzzVerify(f *testing.F) {
	v := fuzzVerifier(f)
	f.Add([]byte(`<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016"/>`))
	f.Add([]byte(`<?xml version="1.0"?><a/>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := v.Verify(data, signingtest.Epoch)
		if err != nil {
			var ve *VerifyError
			if !errors.As(err, &ve) || !allReasons[ve.Reason] {
				t.Fatalf("error %v (%T) is not a *VerifyError with a known reason", err, err)
			}
			return
		}
		if res.Element == nil || res.Signer == nil || len(res.Chain) == 0 {
			t.Fatalf("incomplete result %+v", res)
		}
		if _, err := v.Verify(data, signingtest.Epoch); err != nil {
			t.Fatalf("verified once, then: %v", err)
		}
	})
}

// TestFuzzSeedsVerify keeps the committed seeds meaningful: the signed
// ones verify under the committed root.
func TestFuzzSeedsVerify(t *testing.T) {
	v := fuzzVerifier(t)
	for _, name := range []string{"signed-rsa", "signed-p256", "default-ns", "prefix-list", "commented"} {
		data := readCorpusFile(t, filepath.Join("testdata", "fuzz", "FuzzVerify", name))
		if _, err := v.Verify(data, signingtest.Epoch); err != nil {
			t.Errorf("seed %s: %v", name, err)
		}
	}
}
