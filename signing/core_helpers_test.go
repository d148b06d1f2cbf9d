package signing

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"truc.vn/truc/edoc"
	"truc.vn/truc/signing/signingtest"
)

// fixture is a PKI with fresh CRLs, a Signer for its leaf and a Verifier
// trusting its root.
type fixture struct {
	pki      *signingtest.PKI
	signer   *Signer
	crls     *CRLStore
	verifier *Verifier
	at       time.Time // a verification time inside every validity window
}

func newFixture(t testing.TB, opts ...signingtest.Option) *fixture {
	t.Helper()
	p := signingtest.NewPKI(t, opts...)
	f := &fixture{pki: p, at: p.Now}
	f.signer = mustSigner(t, p.LeafKey, p.Chain())
	f.crls = NewCRLStore()
	rootCRL, interCRL := p.CRLs(t)
	f.addCRL(t, rootCRL)
	f.addCRL(t, interCRL)
	f.verifier = f.newVerifier(t, Policy{})
	return f
}

func (f *fixture) addCRL(t testing.TB, der []byte) *CRLInfo {
	t.Helper()
	info, err := f.crls.Add(der, []*x509.Certificate{f.pki.Root.Cert, f.pki.Intermediate.Cert}, f.pki.Now)
	if err != nil {
		t.Fatalf("adding CRL: %v", err)
	}
	return info
}

func (f *fixture) newVerifier(t testing.TB, p Policy) *Verifier {
	t.Helper()
	v, err := NewVerifier(VerifierConfig{Roots: []*x509.Certificate{f.pki.Root.Cert}, CRLs: f.crls, Policy: p})
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

func mustSigner(t testing.TB, key crypto.Signer, chain []*x509.Certificate) *Signer {
	t.Helper()
	s, err := NewSigner(key, chain)
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	return s
}

func mustSign(t testing.TB, s *Signer, pkg []byte) []byte {
	t.Helper()
	out, err := s.Sign(pkg, SignOptions{})
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return out
}

func mustVerify(t testing.TB, v *Verifier, pkg []byte, at time.Time) *Result {
	t.Helper()
	res, err := v.Verify(pkg, at)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return res
}

// wantReason fails t unless err is a *VerifyError with reason want.
func wantReason(t testing.TB, err error, want Reason) {
	t.Helper()
	var ve *VerifyError
	if !errors.As(err, &ve) {
		t.Fatalf("got error %v (%T), want *VerifyError with reason %s", err, err, want)
	}
	if ve.Reason != want {
		t.Fatalf("got reason %s (%v), want %s", ve.Reason, ve, want)
	}
}

func smallPackage() []byte { return signingtest.Package(signingtest.PackageOptions{Size: 5 << 10}) }

func mustParsePEMCerts(t testing.TB, b []byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// craftOptions describe a signature made outside Signer, with the knobs
// Signer never turns: used to prove that Verify rejects what breaks the
// profile even when the signature itself is valid.
type craftOptions struct {
	sigAlg, digestAlg string   // default: the key's profile algorithms
	transforms        []string // default: enveloped-signature, exc-c14n
	c14nAlg           string   // default: exc-c14n
	refURI            *string  // default ""
	extraRefURI       string   // if set, a second Reference with this URI
	siPrefixes        []string // InclusiveNamespaces of SignedInfo
	refPrefixes       []string // InclusiveNamespaces of the exc-c14n transform
	certs             []*x509.Certificate
	defaultNS         bool // Signature in the default namespace instead of ds:
	derECDSA          bool // ECDSA SignatureValue as DER (goxmldsig's output)
	templateOnly      bool // stop before digesting and signing: a template for xmlsec1 --sign
	// place puts the Signature into the tree; default: last in the header.
	place func(t testing.TB, doc *etree.Document, sig *etree.Element)
}

func craft(t testing.TB, pkg []byte, key crypto.Signer, o craftOptions) []byte {
	t.Helper()
	doc, err := edoc.ReadTree(bytes.NewReader(pkg), edoc.Limits{MaxBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	sa, da, err := algorithmsFor(key.Public())
	if err != nil && o.sigAlg == "" {
		t.Fatal(err)
	}
	if o.sigAlg != "" {
		sa = signatureAlgs[o.sigAlg]
	}
	if o.digestAlg != "" {
		da = digestAlgs[o.digestAlg]
	}
	if o.transforms == nil {
		o.transforms = []string{AlgEnvelopedSignature, AlgExcC14N}
	}
	if o.c14nAlg == "" {
		o.c14nAlg = AlgExcC14N
	}
	p := "ds:"
	sig := etree.NewElement("ds:Signature")
	sig.CreateAttr("xmlns:ds", NamespaceDSig)
	if o.defaultNS {
		p = ""
		sig = etree.NewElement("Signature")
		sig.CreateAttr("xmlns", NamespaceDSig)
	}
	inclusive := func(el *etree.Element, prefixes []string) {
		if prefixes != nil {
			in := el.CreateElement("ec:InclusiveNamespaces")
			in.CreateAttr("xmlns:ec", namespaceExcC14N)
			in.CreateAttr("PrefixList", strings.Join(prefixes, " "))
		}
	}
	si := sig.CreateElement(p + "SignedInfo")
	cm := si.CreateElement(p + "CanonicalizationMethod")
	cm.CreateAttr("Algorithm", o.c14nAlg)
	inclusive(cm, o.siPrefixes)
	si.CreateElement(p+"SignatureMethod").CreateAttr("Algorithm", sa.uri)
	addRef := func(uri string) *etree.Element {
		ref := si.CreateElement(p + "Reference")
		ref.CreateAttr("URI", uri)
		tr := ref.CreateElement(p + "Transforms")
		for _, a := range o.transforms {
			x := tr.CreateElement(p + "Transform")
			x.CreateAttr("Algorithm", a)
			if a == AlgExcC14N {
				inclusive(x, o.refPrefixes)
			}
		}
		ref.CreateElement(p+"DigestMethod").CreateAttr("Algorithm", da.uri)
		return ref.CreateElement(p + "DigestValue")
	}
	uri := ""
	if o.refURI != nil {
		uri = *o.refURI
	}
	dv := addRef(uri)
	var dv2 *etree.Element
	if o.extraRefURI != "" {
		dv2 = addRef(o.extraRefURI)
	}
	sv := sig.CreateElement(p + "SignatureValue")
	xd := sig.CreateElement(p + "KeyInfo").CreateElement(p + "X509Data")
	for _, c := range o.certs {
		xd.CreateElement(p + "X509Certificate").SetText(base64.StdEncoding.EncodeToString(c.Raw))
	}
	if o.place != nil {
		o.place(t, doc, sig)
	} else {
		hdr, err := profileHeader(doc.Root())
		if err != nil {
			t.Fatal(err)
		}
		appendWithIndent(hdr, sig)
	}

	if o.templateOnly {
		var out bytes.Buffer
		writeDocument(&out, doc)
		return out.Bytes()
	}
	h := da.hash.New()
	if err := canonicalize(h, doc.Root(), c14nOptions{exclude: sig, inclusive: o.refPrefixes}); err != nil {
		t.Fatal(err)
	}
	dv.SetText(base64.StdEncoding.EncodeToString(h.Sum(nil)))
	if dv2 != nil {
		dv2.SetText(base64.StdEncoding.EncodeToString(h.Sum(nil)))
	}
	h = sa.hash.New()
	if err := canonicalize(h, si, c14nOptions{inclusive: o.siPrefixes}); err != nil {
		t.Fatal(err)
	}
	value, err := key.Sign(rand.Reader, h.Sum(nil), sa.hash)
	if err != nil {
		t.Fatal(err)
	}
	if pub, ok := key.Public().(*ecdsa.PublicKey); ok && !o.derECDSA {
		if value, err = ecdsaDERToP1363(value, ecdsaByteLen(pub)); err != nil {
			t.Fatal(err)
		}
	}
	sv.SetText(base64.StdEncoding.EncodeToString(value))
	var out bytes.Buffer
	writeDocument(&out, doc)
	return out.Bytes()
}

// edit parses pkg, lets fn change the tree and serialises it again.
func edit(t testing.TB, pkg []byte, fn func(root *etree.Element)) []byte {
	t.Helper()
	doc, err := edoc.ReadTree(bytes.NewReader(pkg), edoc.Limits{MaxBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	fn(doc.Root())
	var out bytes.Buffer
	writeDocument(&out, doc)
	return out.Bytes()
}

// findNS returns the first element {ns}local in document order.
func findNS(root *etree.Element, ns, local string) *etree.Element {
	if root.Tag == local && root.NamespaceURI() == ns {
		return root
	}
	for _, c := range root.ChildElements() {
		if e := findNS(c, ns, local); e != nil {
			return e
		}
	}
	return nil
}

// replaceOnce replaces the single occurrence of old in b, failing t if
// old does not occur exactly once.
func replaceOnce(t testing.TB, b []byte, old, new string) []byte {
	t.Helper()
	if n := bytes.Count(b, []byte(old)); n != 1 {
		t.Fatalf("%q occurs %d times, want 1", old, n)
	}
	return bytes.Replace(b, []byte(old), []byte(new), 1)
}
