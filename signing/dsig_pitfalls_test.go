package signing

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"truc.vn/truc/signing/signingtest"
)

// One test per pitfall of the signing-stack note §1.4, named after it.

// runAttack runs the named case of the attack table.
func runAttack(t *testing.T, name string) {
	t.Helper()
	for _, a := range attacks {
		if a.name != name {
			continue
		}
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			signed := mustSign(t, f.signer, smallPackage())
			v, at := f.verifier, f.at
			pkg := a.build(t, f, signed)
			if a.verifier != nil {
				v = a.verifier(t, f)
			}
			if a.at != nil {
				at = a.at(f)
			}
			_, err := v.Verify(pkg, at)
			wantReason(t, err, a.want)
		})
		return
	}
	t.Fatalf("no attack case %q", name)
}

// Pitfall 1: goxmldsig does no chain, key-usage or revocation checks and
// uses only the first KeyInfo certificate.
func TestPitfall1ChainKeyUsageRevocation(t *testing.T) {
	for _, name := range []string{
		"certificate not chaining to the roots",
		"self-signed signer",
		"intermediate expired",
		"extended key usage serverAuth only",
		"leaf revoked",
		"intermediate revoked",
		"CRL missing",
	} {
		runAttack(t, name)
	}
	t.Run("KeyInfo with the intermediate first", func(t *testing.T) {
		f := newFixture(t)
		pkg := craft(t, smallPackage(), f.pki.LeafKey, craftOptions{certs: []*x509.Certificate{f.pki.Intermediate.Cert, f.pki.Leaf}})
		if res := mustVerify(t, f.verifier, pkg, f.at); !res.Signer.Equal(f.pki.Leaf) {
			t.Errorf("signer = %s", res.Signer.Subject)
		}
	})
	t.Run("intermediate from the configuration, not KeyInfo", func(t *testing.T) {
		f := newFixture(t)
		pkg := craft(t, smallPackage(), f.pki.LeafKey, craftOptions{certs: []*x509.Certificate{f.pki.Leaf}})
		_, err := f.verifier.Verify(pkg, f.at)
		wantReason(t, err, ReasonUntrustedChain)
		v, err := NewVerifier(VerifierConfig{Roots: []*x509.Certificate{f.pki.Root.Cert}, Intermediates: []*x509.Certificate{f.pki.Intermediate.Cert}, CRLs: f.crls})
		if err != nil {
			t.Fatal(err)
		}
		mustVerify(t, v, pkg, f.at)
	})
}

// Pitfall 2: goxmldsig writes ECDSA signature values as DER; XML-DSig 1.1
// (and xmlsec1, Java, .NET) wants r‖s. The interop tests check both
// directions against xmlsec1.
func TestPitfall2ECDSASignatureValue(t *testing.T) {
	for _, tc := range []struct {
		alg signingtest.KeyAlg
		n   int
	}{{signingtest.P256, 64}, {signingtest.P384, 96}, {signingtest.P521, 132}} {
		t.Run(string(tc.alg), func(t *testing.T) {
			f := newFixture(t, signingtest.WithLeafKey(tc.alg))
			signed := mustSign(t, f.signer, smallPackage())
			doc := etree.NewDocument()
			if err := doc.ReadFromBytes(signed); err != nil {
				t.Fatal(err)
			}
			sv, err := base64.StdEncoding.DecodeString(findNS(doc.Root(), NamespaceDSig, "SignatureValue").Text())
			if err != nil {
				t.Fatal(err)
			}
			if len(sv) != tc.n {
				t.Errorf("SignatureValue is %d bytes, want r‖s of %d", len(sv), tc.n)
			}
			mustVerify(t, f.verifier, signed, f.at)

			der := craft(t, smallPackage(), f.pki.LeafKey, craftOptions{certs: f.pki.Chain(), derECDSA: true})
			_, err = f.verifier.Verify(der, f.at)
			wantReason(t, err, ReasonBadSignature)
		})
	}
	if _, err := ecdsaDERToP1363([]byte{0x30, 0x03, 0x02, 0x01}, 32); err == nil {
		t.Errorf("truncated DER accepted")
	}
	key := signingtest.NewKey(t, signingtest.P256).(*ecdsa.PrivateKey)
	if verifyECDSAP1363(&key.PublicKey, make([]byte, 32), make([]byte, 63)) {
		t.Errorf("a 63-byte P-256 signature verified")
	}
}

// Pitfall 3: goxmldsig's traversal budget of about 1000 elements makes a
// signature that is the last child of edXMLHeader unfindable in a large
// package. Here: 20,000 extra elements before it.
func TestPitfall3TraversalBudget(t *testing.T) {
	f := newFixture(t)
	pkg := signingtest.Package(signingtest.PackageOptions{Places: 20_000})
	signed := mustSign(t, f.signer, pkg)
	res := mustVerify(t, f.verifier, signed, f.at)
	if n := len(findNS(res.Element, NamespaceEdXML, "ToPlaces").ChildElements()); n != 20_001 {
		t.Errorf("verified element holds %d places", n)
	}

	// The same package defeats plain goxmldsig, so this test would catch
	// a regression to it.
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(signed); err != nil {
		t.Fatal(err)
	}
	ctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{f.pki.Leaf}})
	ctx.Clock = dsig.NewFakeClockAt(f.at)
	if _, err := ctx.Validate(doc.Root()); err == nil || !strings.Contains(err.Error(), "traversal limit") {
		t.Errorf("goxmldsig.Validate = %v; the pitfall is no longer reproduced", err)
	}
}

// Pitfall 4: goxmldsig's SignEnveloped with exc-c14n rewrites the caller's
// tree (drops comments, moves namespace declarations, breaking QNames in
// content). Sign takes bytes and leaves them alone, and its output keeps
// comments and every declaration.
func TestPitfall4SignDoesNotMutate(t *testing.T) {
	f := newFixture(t)
	in := []byte(strings.Replace(string(smallPackage()), "<edXML:Subject>",
		`<!-- giữ chú thích -->
        <edXML:Amount xmlns:m="urn:money" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="m:Money">12</edXML:Amount>
        <edXML:Subject>`, 1))
	orig := bytes.Clone(in)
	first := mustSign(t, f.signer, in)
	second := mustSign(t, f.signer, in)
	if !bytes.Equal(in, orig) {
		t.Fatal("Sign changed its input")
	}
	for _, want := range []string{`<!-- giữ chú thích -->`, `xmlns:m="urn:money"`, `xsi:type="m:Money"`} {
		if !bytes.Contains(first, []byte(want)) {
			t.Errorf("output lost %s", want)
		}
	}
	mustVerify(t, f.verifier, first, f.at)
	res := mustVerify(t, f.verifier, second, f.at)
	// The verified element is the canonical content: the declaration used
	// only inside a QName value is not signed, so it is not there.
	amount := findNS(res.Element, NamespaceEdXML, "Amount")
	if amount.SelectAttr("xmlns:m") != nil {
		t.Errorf("Result.Element keeps the unsigned declaration xmlns:m")
	}
	if amount.SelectAttrValue("xsi:type", "") != "m:Money" {
		t.Errorf("xsi:type lost")
	}
}

// Pitfall 5: goxmldsig canonicalises the referenced element and SignedInfo
// without their ancestors' namespace context.
func TestPitfall5NamespaceContext(t *testing.T) {
	f := newFixture(t)
	signed := mustSign(t, f.signer, smallPackage())
	t.Run("ds prefix declared on the root", func(t *testing.T) {
		moved := edit(t, signed, func(root *etree.Element) {
			findNS(root, NamespaceDSig, "Signature").RemoveAttr("xmlns:ds")
			root.CreateAttr("xmlns:ds", NamespaceDSig)
		})
		if bytes.Contains(moved, []byte(`<ds:Signature xmlns:ds`)) {
			t.Fatal("edit did not move the declaration")
		}
		mustVerify(t, f.verifier, moved, f.at)
	})
	t.Run("Signature in the default namespace", func(t *testing.T) {
		pkg := craft(t, smallPackage(), f.pki.LeafKey, craftOptions{defaultNS: true, certs: f.pki.Chain()})
		if !bytes.Contains(pkg, []byte(`<Signature xmlns="`+NamespaceDSig)) {
			t.Fatal("craft did not use the default namespace")
		}
		mustVerify(t, f.verifier, pkg, f.at)
	})
}

// Pitfall 6: goxmldsig signs with an InclusiveNamespaces PrefixList but
// never writes it. Signer never uses one; a signature that carries one is
// verified with it applied.
func TestPitfall6InclusiveNamespaces(t *testing.T) {
	f := newFixture(t)
	pkg := []byte(strings.Replace(string(smallPackage()), `<edXML xmlns="`+NamespaceEdXML+`"`,
		`<edXML xmlns="`+NamespaceEdXML+`" xmlns:u="urn:unused"`, 1))

	ours := mustSign(t, f.signer, pkg)
	if bytes.Contains(ours, []byte("InclusiveNamespaces")) {
		t.Fatal("Signer wrote a PrefixList")
	}
	// Without a prefix list the unused declaration is outside the digest.
	mustVerify(t, f.verifier, replaceOnce(t, ours, `xmlns:u="urn:unused"`, `xmlns:u="urn:changed"`), f.at)

	withList := craft(t, pkg, f.pki.LeafKey, craftOptions{refPrefixes: []string{"u"}, siPrefixes: []string{"ds"}, certs: f.pki.Chain()})
	if !bytes.Contains(withList, []byte(`PrefixList="u"`)) {
		t.Fatal("craft wrote no PrefixList")
	}
	mustVerify(t, f.verifier, withList, f.at)
	// With "u" in the list the declaration is signed: changing it breaks
	// the digest, which shows the list is applied.
	_, err := f.verifier.Verify(replaceOnce(t, withList, `xmlns:u="urn:unused"`, `xmlns:u="urn:changed"`), f.at)
	wantReason(t, err, ReasonDigestMismatch)
}

// Pitfall 7: goxmldsig accepts rsa-sha1 and sha1 silently.
func TestPitfall7SHA1(t *testing.T) {
	f := newFixture(t)
	legacy := craft(t, smallPackage(), f.pki.LeafKey, craftOptions{sigAlg: AlgRSASHA1, digestAlg: AlgSHA1, certs: f.pki.Chain()})
	_, err := f.verifier.Verify(legacy, f.at)
	wantReason(t, err, ReasonAlgorithmNotAllowed)

	res := mustVerify(t, f.newVerifier(t, Policy{AllowSHA1: true}), legacy, f.at)
	if res.Evidence.SignatureAlgorithm != AlgRSASHA1 || res.Evidence.DigestAlgorithm != AlgSHA1 {
		t.Errorf("evidence algorithms %s, %s", res.Evidence.SignatureAlgorithm, res.Evidence.DigestAlgorithm)
	}
	ours := mustSign(t, f.signer, smallPackage())
	if bytes.Contains(ours, []byte("sha1")) {
		t.Error("Signer used SHA-1")
	}
}

// Pitfall 8: goxmldsig checks only the Reference to the validated element
// and ignores the others.
func TestPitfall8OneReference(t *testing.T) {
	runAttack(t, "validly signed second reference")
	runAttack(t, "validly signed reference to another element")
}
