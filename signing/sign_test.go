package signing

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"truc.vn/truc/edoc"
	"truc.vn/truc/signing/signingtest"
)

func TestSignVerifyRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		alg           signingtest.KeyAlg
		sigAlg, dgAlg string
		slow          bool
	}{
		{signingtest.RSA2048, AlgRSASHA256, AlgSHA256, false},
		{signingtest.RSA3072, AlgRSASHA256, AlgSHA256, true},
		{signingtest.RSA4096, AlgRSASHA256, AlgSHA256, true},
		{signingtest.P256, AlgECDSASHA256, AlgSHA256, false},
		{signingtest.P384, AlgECDSASHA384, AlgSHA384, false},
		{signingtest.P521, AlgECDSASHA512, AlgSHA512, false},
	} {
		t.Run(string(tc.alg), func(t *testing.T) {
			if tc.slow && testing.Short() {
				t.Skip("slow key generation")
			}
			f := newFixture(t, signingtest.WithLeafKey(tc.alg))
			signed := mustSign(t, f.signer, smallPackage())
			res := mustVerify(t, f.verifier, signed, f.at)
			if !res.Signer.Equal(f.pki.Leaf) {
				t.Errorf("signer = %s, want the leaf", res.Signer.Subject)
			}
			if res.Evidence.SignatureAlgorithm != tc.sigAlg || res.Evidence.DigestAlgorithm != tc.dgAlg {
				t.Errorf("algorithms = %s, %s; want %s, %s", res.Evidence.SignatureAlgorithm, res.Evidence.DigestAlgorithm, tc.sigAlg, tc.dgAlg)
			}
		})
	}
}

// TestSignPlacement checks the profile place and layout: the QCVN block
// the SDK writes is replaced, ours is the last child element of
// edXMLHeader, indented like its siblings, and the XML declaration leads.
func TestSignPlacement(t *testing.T) {
	f := newFixture(t)
	signed := mustSign(t, f.signer, signingtest.Package(signingtest.PackageOptions{LegacySignature: true}))
	if !bytes.HasPrefix(signed, []byte("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<edXML ")) {
		t.Errorf("output starts %q", signed[:60])
	}
	if !bytes.Contains(signed, []byte("</edXML:TraceHeaderList>\n      <ds:Signature xmlns:ds=")) ||
		!bytes.Contains(signed, []byte("</ds:Signature>\n    </edXML:edXMLHeader>")) {
		t.Errorf("signature not placed and indented as the last child of edXMLHeader")
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(signed); err != nil {
		t.Fatal(err)
	}
	w3c, legacy := signatureElements(doc.Root())
	if len(legacy) != 0 || len(w3c) != 1 {
		t.Fatalf("%d QCVN and %d W3C signatures after signing, want 0 and 1", len(legacy), len(w3c))
	}
	hdr, err := profileHeader(doc.Root())
	if err != nil {
		t.Fatal(err)
	}
	if lastChildElement(hdr) != w3c[0] {
		t.Errorf("signature is not the last child element of edXMLHeader")
	}
	if strings.Contains(string(signed), "InclusiveNamespaces") {
		t.Errorf("signer emitted an InclusiveNamespaces element")
	}
	mustVerify(t, f.verifier, signed, f.at)

	bare := mustSign(t, f.signer, []byte(`<edXML xmlns="`+NamespaceEdXML+`"><edXMLEnvelope><edXMLHeader/></edXMLEnvelope></edXML>`))
	if !bytes.HasPrefix(bare, []byte("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<edXML")) {
		t.Errorf("declaration not added: %q", bare[:50])
	}
	mustVerify(t, f.verifier, bare, f.at)
}

func TestSignAlreadySigned(t *testing.T) {
	f := newFixture(t)
	signed := mustSign(t, f.signer, smallPackage())
	if _, err := f.signer.Sign(signed, SignOptions{}); !errors.Is(err, ErrAlreadySigned) {
		t.Fatalf("re-signing without Resign: %v, want ErrAlreadySigned", err)
	}
	other := newFixture(t, signingtest.WithLeafKey(signingtest.P256))
	resigned, err := other.signer.Sign(signed, SignOptions{Resign: true})
	if err != nil {
		t.Fatalf("Resign: %v", err)
	}
	res := mustVerify(t, other.verifier, resigned, other.at)
	if !res.Signer.Equal(other.pki.Leaf) {
		t.Errorf("re-signed package is signed by %s", res.Signer.Subject)
	}
	if n := bytes.Count(resigned, []byte("<ds:Signature ")); n != 1 {
		t.Errorf("%d signatures after Resign", n)
	}

	elsewhere := edit(t, signed, func(root *etree.Element) {
		sig := findNS(root, NamespaceDSig, "Signature")
		sig.Parent().RemoveChild(sig)
		findNS(root, NamespaceEdXML, "edXMLBody").AddChild(sig)
	})
	if _, err := f.signer.Sign(elsewhere, SignOptions{Resign: true}); err == nil || !strings.Contains(err.Error(), "outside the profile place") {
		t.Errorf("signing a package with a misplaced signature: %v", err)
	}
}

func TestSignRejects(t *testing.T) {
	f := newFixture(t)
	var lim *edoc.LimitError
	for _, tc := range []struct {
		name string
		pkg  string
		opts SignOptions
		is   func(error) bool
	}{
		{"not edXML", `<a xmlns="urn:x"><b/></a>`, SignOptions{}, func(err error) bool { return errors.Is(err, ErrNotPackage) }},
		{"edXML in no namespace", `<edXML><edXMLEnvelope><edXMLHeader/></edXMLEnvelope></edXML>`, SignOptions{}, func(err error) bool { return errors.Is(err, ErrNotPackage) }},
		{"no header", `<edXML xmlns="` + NamespaceEdXML + `"><edXMLEnvelope/></edXML>`, SignOptions{}, func(err error) bool { return errors.Is(err, ErrNotPackage) }},
		{"two envelopes", `<edXML xmlns="` + NamespaceEdXML + `"><edXMLEnvelope><edXMLHeader/></edXMLEnvelope><edXMLEnvelope/></edXML>`, SignOptions{}, func(err error) bool { return errors.Is(err, ErrNotPackage) }},
		{"DOCTYPE", `<!DOCTYPE edXML><edXML/>`, SignOptions{}, func(err error) bool { var se *edoc.SyntaxError; return errors.As(err, &se) }},
		{"too large", string(smallPackage()), SignOptions{Limits: edoc.Limits{MaxBytes: 1000}}, func(err error) bool { return errors.As(err, &lim) }},
		{"comment splitting a value", strings.Replace(string(smallPackage()), "000.00.00.H41", "000.00.00.H4<!---->1", 1), SignOptions{},
			func(err error) bool { return errors.Is(err, errCommentInText) }},
		{"undeclared prefix", strings.Replace(string(smallPackage()), "<edXML:Subject>", "<edXML:Subject x:y='1'>", 1), SignOptions{},
			func(err error) bool {
				return err != nil && strings.Contains(err.Error(), "undeclared namespace prefix")
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.pkg)
			orig := bytes.Clone(in)
			out, err := f.signer.Sign(in, tc.opts)
			if err == nil || !tc.is(err) {
				t.Fatalf("Sign = %d bytes, %v", len(out), err)
			}
			if !bytes.Equal(in, orig) {
				t.Errorf("input changed")
			}
			t.Log(err)
		})
	}
}

func TestNewSignerRejects(t *testing.T) {
	p := signingtest.NewPKI(t)
	otherKey := signingtest.NewKey(t, signingtest.RSA2048)
	edKey := signingtest.NewKey(t, signingtest.Ed25519)
	edCert := p.Intermediate.Issue(t, signingtest.LeafTemplate(p.Now), edKey.Public())
	smallKey, smallCert := p.IssueLeaf(t, signingtest.RSA1024)
	noUsageKey, noUsageCert := p.IssueLeaf(t, signingtest.P256, func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageKeyAgreement })
	for _, tc := range []struct {
		name  string
		key   crypto.Signer
		chain []*x509.Certificate
		want  string
	}{
		{"no key", nil, p.Chain(), "no key"},
		{"no chain", p.LeafKey, nil, "no certificate"},
		{"key does not match", otherKey, p.Chain(), "does not match"},
		{"Ed25519", edKey, []*x509.Certificate{edCert}, "no XML-DSig profile"},
		{"RSA-1024", smallKey, []*x509.Certificate{smallCert}, "outside the profile"},
		{"key usage", noUsageKey, []*x509.Certificate{noUsageCert}, "key usage"},
		{"chain out of order", p.LeafKey, []*x509.Certificate{p.Leaf, p.Root.Cert, p.Intermediate.Cert}, "is not issued by"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSigner(tc.key, tc.chain)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewSigner = %v, %v; want an error containing %q", s, err, tc.want)
			}
		})
	}
}

// TestSignEscapesForOtherParsers signs values that a parser would
// normalise if written raw (TAB, LF and CR in attributes, CR in text) and
// checks that the output carries character references and verifies.
func TestSignEscapesForOtherParsers(t *testing.T) {
	f := newFixture(t)
	pkg := strings.Replace(string(smallPackage()), "<edXML:Subject>",
		`<edXML:Note v="a&#9;b&#10;c&#13;d&quot;e&lt;f&amp;g">cr&#13;here</edXML:Note><edXML:Subject>`, 1)
	signed := mustSign(t, f.signer, []byte(pkg))
	for _, want := range []string{`v="a&#x9;b&#xA;c&#xD;d&quot;e&lt;f&amp;g"`, `>cr&#xD;here<`} {
		if !bytes.Contains(signed, []byte(want)) {
			t.Errorf("output lacks %s", want)
		}
	}
	res := mustVerify(t, f.verifier, signed, f.at)
	if got := findNS(res.Element, NamespaceEdXML, "Note").SelectAttrValue("v", ""); got != "a\tb\nc\rd\"e<f&g" {
		t.Errorf("attribute read back as %q", got)
	}
}

// externalSigner is a crypto.Signer that is not one of Go's key types, as
// a PKCS#11 token is. A faulty one signs a corrupted digest: a well-formed
// signature that does not verify.
type externalSigner struct {
	key    crypto.Signer
	faulty bool
}

func (s externalSigner) Public() crypto.PublicKey { return s.key.Public() }
func (s externalSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	if s.faulty {
		d = bytes.Clone(d)
		d[0] ^= 1
	}
	return s.key.Sign(r, d, o)
}

func TestSignExternalSigner(t *testing.T) {
	for _, alg := range []signingtest.KeyAlg{signingtest.RSA2048, signingtest.P256} {
		t.Run(string(alg), func(t *testing.T) {
			f := newFixture(t, signingtest.WithLeafKey(alg))
			good := mustSigner(t, externalSigner{key: f.pki.LeafKey}, f.pki.Chain())
			mustVerify(t, f.verifier, mustSign(t, good, smallPackage()), f.at)

			faulty := mustSigner(t, externalSigner{key: f.pki.LeafKey, faulty: true}, f.pki.Chain())
			if _, err := faulty.Sign(smallPackage(), SignOptions{}); err == nil || !strings.Contains(err.Error(), "does not verify") {
				t.Errorf("a faulty token's signature was not caught: %v", err)
			}
		})
	}
}
