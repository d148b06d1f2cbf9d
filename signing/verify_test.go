package signing

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"

	"truc.vn/truc/edoc"
	"truc.vn/truc/signing/signingtest"
)

// TestVerifyResultIsDigestedContent checks what Result.Element is: the
// canonical content that was digested, minus the signature, so that
// canonicalising it gives exactly the bytes a fresh parse of the package
// (minus the signature) canonicalises to.
func TestVerifyResultIsDigestedContent(t *testing.T) {
	f := newFixture(t)
	in := strings.Replace(string(smallPackage()), "<edXML:Subject>", "<!-- chú thích -->\n        <edXML:Subject>", 1)
	signed := mustSign(t, f.signer, []byte(in))
	res := mustVerify(t, f.verifier, signed, f.at)

	if &res.Bytes[0] != &signed[0] {
		t.Error("Result.Bytes is not the verified input")
	}
	if !isNS(res.Element, NamespaceEdXML, "edXML") {
		t.Fatalf("Result.Element is %s", res.Element.Tag)
	}
	if w3c, _ := signatureElements(res.Element); len(w3c) != 0 {
		t.Error("Result.Element still holds the signature")
	}
	var walk func(*etree.Element)
	walk = func(e *etree.Element) {
		for _, c := range e.Child {
			switch c := c.(type) {
			case *etree.Comment:
				t.Errorf("comment %q left in <%s>", c.Data, e.Tag)
			case *etree.Element:
				walk(c)
			}
		}
	}
	walk(res.Element)

	doc, err := edoc.ReadTree(bytes.NewReader(signed), edoc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	sig := findNS(doc.Root(), NamespaceDSig, "Signature")
	want := c14nString(t, doc.Root(), c14nOptions{exclude: sig})
	if got := c14nString(t, res.Element, c14nOptions{}); got != want {
		t.Errorf("Result.Element canonicalises to %d bytes that differ from the digested %d", len(got), len(want))
	}
	if got := findNS(res.Element, NamespaceEdXML, "OrganId").Text(); got != "000.00.00.G22" {
		t.Errorf("From OrganId read from Result.Element = %q", got)
	}
	if got := findNS(res.Element, NamespaceEdXML, "ContentTransferEncoded").NamespaceURI(); got != NamespaceEdXML {
		t.Errorf("namespace of an attachment element = %q", got)
	}
}

func TestVerifyEvidence(t *testing.T) {
	f := newFixture(t)
	res := mustVerify(t, f.verifier, mustSign(t, f.signer, smallPackage()), f.at)
	ev := res.Evidence
	if !ev.At.Equal(f.at) {
		t.Errorf("At = %v", ev.At)
	}
	want := []string{Fingerprint(f.pki.Leaf), Fingerprint(f.pki.Intermediate.Cert), Fingerprint(f.pki.Root.Cert)}
	if fmt.Sprint(ev.ChainSHA256) != fmt.Sprint(want) {
		t.Errorf("ChainSHA256 = %v, want %v", ev.ChainSHA256, want)
	}
	if len(res.Chain) != 3 || !res.Chain[2].Equal(f.pki.Root.Cert) {
		t.Errorf("Chain has %d certificates", len(res.Chain))
	}
	if len(ev.CRLs) != 2 || ev.CRLs[0].IssuerSHA256 != want[1] || ev.CRLs[1].IssuerSHA256 != want[2] || ev.CRLs[0].Number != "1" {
		t.Errorf("CRLs = %+v", ev.CRLs)
	}
	if ev.SignatureAlgorithm != AlgRSASHA256 || ev.DigestAlgorithm != AlgSHA256 {
		t.Errorf("algorithms %s %s", ev.SignatureAlgorithm, ev.DigestAlgorithm)
	}
}

// TestVerifyCommentsBetweenElements: comments are not signed; added
// between elements they change nothing, and Result.Element has none.
func TestVerifyCommentsBetweenElements(t *testing.T) {
	f := newFixture(t)
	signed := mustSign(t, f.signer, smallPackage())
	commented := replaceOnce(t, signed, "<edXML:To>", "<!-- added in transit --><edXML:To><!-- x -->")
	res := mustVerify(t, f.verifier, commented, f.at)
	to := findNS(res.Element, NamespaceEdXML, "To")
	for _, c := range append(to.Parent().Child, to.Child...) {
		if _, ok := c.(*etree.Comment); ok {
			t.Fatal("comment in Result.Element")
		}
	}
}

// TestVerifyChainCache checks that the cache saves work but never a
// verdict: time and revocation are still decided per call.
func TestVerifyChainCache(t *testing.T) {
	f := newFixture(t)
	other := signingtest.NewPKI(t, signingtest.WithLeafKey(signingtest.P256))
	_, err := f.verifier.Verify(craft(t, smallPackage(), other.LeafKey, craftOptions{certs: other.Chain()}), f.at)
	wantReason(t, err, ReasonUntrustedChain)
	if n := len(f.verifier.cache.certs); n != 0 {
		t.Errorf("%d untrusted certificates cached", n)
	}

	signed := mustSign(t, f.signer, smallPackage())
	mustVerify(t, f.verifier, signed, f.at)
	if n := len(f.verifier.cache.certs); n != 3 {
		t.Errorf("%d certificates cached after one verified chain, want 3", n)
	}
	if got := len(f.verifier.cache.lookup(f.pki.Leaf, f.at)); got != 1 {
		t.Fatalf("%d cached chains after a verification", got)
	}
	mustVerify(t, f.verifier, signed, f.at.Add(time.Hour))

	_, err = f.verifier.Verify(signed, f.pki.Leaf.NotAfter.Add(time.Minute))
	wantReason(t, err, ReasonExpired)

	// A CRL fetched an hour later lists the leaf as revoked two hours on
	// (a scheduled revocation).
	if _, err := f.crls.Add(f.pki.Intermediate.CRL(t, signingtest.CRL{
		Number: 2, ThisUpdate: f.at.Add(time.Minute), NextUpdate: f.at.Add(48 * time.Hour),
		Revoked: []x509.RevocationListEntry{signingtest.Revoked(f.pki.Leaf, f.at.Add(2*time.Hour))},
	}), []*x509.Certificate{f.pki.Intermediate.Cert}, f.at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Revoked after the verification time: still valid then.
	mustVerify(t, f.verifier, signed, f.at.Add(time.Hour))
	_, err = f.verifier.Verify(signed, f.at.Add(3*time.Hour))
	wantReason(t, err, ReasonRevoked)
}

func TestVerifyCRLGrace(t *testing.T) {
	f := newFixture(t)
	signed := mustSign(t, f.signer, smallPackage())
	late := f.at.Add(26 * time.Hour) // NextUpdate is at + 24h
	_, err := f.verifier.Verify(signed, late)
	wantReason(t, err, ReasonCRLUnavailable)
	mustVerify(t, f.newVerifier(t, Policy{CRLGrace: 3 * time.Hour}), signed, late)
	_, err = f.newVerifier(t, Policy{CRLGrace: time.Hour}).Verify(signed, late)
	wantReason(t, err, ReasonCRLUnavailable)
}

func TestVerifySkipRevocation(t *testing.T) {
	f := newFixture(t)
	v, err := NewVerifier(VerifierConfig{Roots: []*x509.Certificate{f.pki.Root.Cert}, Policy: Policy{SkipRevocation: true}})
	if err != nil {
		t.Fatal(err)
	}
	res := mustVerify(t, v, mustSign(t, f.signer, smallPackage()), f.at)
	if len(res.Evidence.CRLs) != 0 {
		t.Errorf("CRLs in evidence under SkipRevocation: %v", res.Evidence.CRLs)
	}
}

func TestVerifyZeroTime(t *testing.T) {
	f := newFixture(t)
	_, err := f.verifier.Verify(mustSign(t, f.signer, smallPackage()), time.Time{})
	wantReason(t, err, ReasonUntrustedChain)
}

func TestNewVerifierRejects(t *testing.T) {
	p := signingtest.NewPKI(t)
	for _, tc := range []struct {
		name string
		cfg  VerifierConfig
		want string
	}{
		{"no roots", VerifierConfig{CRLs: NewCRLStore()}, "no trust roots"},
		{"no CRL store", VerifierConfig{Roots: []*x509.Certificate{p.Root.Cert}}, "no CRLStore"},
		{"negative grace", VerifierConfig{Roots: []*x509.Certificate{p.Root.Cert}, CRLs: NewCRLStore(), Policy: Policy{CRLGrace: -time.Second}}, "negative"},
		{"nil root", VerifierConfig{Roots: []*x509.Certificate{nil}, CRLs: NewCRLStore()}, "Roots[0] is nil"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewVerifier(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewVerifier: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestVerifyConcurrent verifies from several goroutines while CRLs are
// replaced (run with -race).
func TestVerifyConcurrent(t *testing.T) {
	f := newFixture(t, signingtest.WithLeafKey(signingtest.P256))
	signed := mustSign(t, f.signer, smallPackage())
	crls := make([][]byte, 20)
	for i := range crls {
		crls[i] = f.pki.Intermediate.CRL(t, signingtest.CRL{Number: int64(i + 2), ThisUpdate: f.at.Add(-time.Minute), NextUpdate: f.at.Add(time.Hour)})
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 4 {
		wg.Go(func() {
			for range 20 {
				if _, err := f.verifier.Verify(signed, f.at); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Go(func() {
		for _, der := range crls {
			if _, err := f.crls.Add(der, []*x509.Certificate{f.pki.Intermediate.Cert}, f.at); err != nil {
				errs <- err
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestVerifyLogs(t *testing.T) {
	f := newFixture(t)
	var buf bytes.Buffer
	v, err := NewVerifier(VerifierConfig{Roots: []*x509.Certificate{f.pki.Root.Cert}, CRLs: f.crls,
		Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	signed := mustSign(t, f.signer, smallPackage())
	mustVerify(t, v, signed, f.at)
	if _, err := v.Verify(replaceOnce(t, signed, "000.00.00.H41", "000.00.00.H42"), f.at); err == nil {
		t.Fatal("tampered package verified")
	}
	out := buf.String()
	for _, want := range []string{"edxml signature verified", "signer_sha256=" + Fingerprint(f.pki.Leaf), "reason=digest-mismatch"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "H41") || strings.Contains(out, "triển khai") {
		t.Errorf("log holds package content:\n%s", out)
	}
}

// TestVerifyByteOrderMark: .NET writers prefix a UTF-8 byte order mark,
// which is outside the signed content.
func TestVerifyByteOrderMark(t *testing.T) {
	f := newFixture(t)
	signed := mustSign(t, f.signer, append([]byte("\ufeff"), smallPackage()...))
	mustVerify(t, f.verifier, append([]byte("\ufeff"), signed...), f.at)
}
