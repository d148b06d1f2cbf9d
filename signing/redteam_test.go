package signing

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"truc.vn/truc/signing/signingtest"
)

// Red-team findings against Verify (see the review report). Each test
// failed before its fix.

// TestRedteamPrefixListBounded: an InclusiveNamespaces PrefixList is read
// and applied to every element of SignedInfo before the SignatureValue is
// checked, each prefix costing a scan of the namespaces in scope. A 15 MiB
// list of one-letter prefixes with a few hundred unused declarations on
// the ancestors took 13 s of CPU per request, from anyone holding any
// publicly known certificate of the PKI. The list is now capped.
func TestRedteamPrefixListBounded(t *testing.T) {
	f := newFixture(t)
	signed := mustSign(t, f.signer, smallPackage())
	list := strings.TrimSpace(strings.Repeat("q ", maxInclusivePrefixes+1))
	pkg := replaceOnce(t, signed, `<ds:CanonicalizationMethod Algorithm="`+AlgExcC14N+`"/>`,
		`<ds:CanonicalizationMethod Algorithm="`+AlgExcC14N+`"><ec:InclusiveNamespaces xmlns:ec="`+namespaceExcC14N+`" PrefixList="`+list+`"/></ds:CanonicalizationMethod>`)
	_, err := f.verifier.Verify(pkg, f.at)
	wantReason(t, err, ReasonMalformed)

	// A signature with a short list still verifies (the cap is far above
	// what producers write).
	ok := craft(t, smallPackage(), f.pki.LeafKey, craftOptions{certs: f.pki.Chain(), siPrefixes: []string{"edXML", "#default"}, refPrefixes: []string{"edXML"}})
	mustVerify(t, f.verifier, ok, f.at)
}

// TestRedteamUnicodeSpaceOutsideRoot: edoc.ReadTree took any Unicode space
// (U+00A0, U+0085, U+3000, ...) outside the root element for whitespace,
// although XML allows only space, TAB, CR and LF there. Such a package is
// not well-formed (xmlsec1 and every conformant parser refuse it), and the
// text also hid a processing instruction from checkOutsideRoot, which
// stops at the first non-XML-whitespace byte: "<?xml-stylesheet ...?>"
// could ride along in the forwarded bytes of a verified package.
func TestRedteamUnicodeSpaceOutsideRoot(t *testing.T) {
	f := newFixture(t)
	signed := mustSign(t, f.signer, smallPackage())
	mustVerify(t, f.verifier, signed, f.at)
	root := bytes.Index(signed, []byte("<edXML "))
	for name, pkg := range map[string][]byte{
		"NBSP before the root":      append([]byte("\u00a0"), signed...),
		"PI hidden before the root": append(append(bytes.Clone(signed[:root]), "\u00a0<?xml-stylesheet type=\"text/xsl\" href=\"http://evil.example/x.xsl\"?>\n"...), signed[root:]...),
		"PI hidden after the root":  append(bytes.Clone(signed), "<?evil data?>\u3000\n"...),
		"NEL after the root":        append(bytes.Clone(signed), "\u0085"...),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := f.verifier.Verify(pkg, f.at)
			wantReason(t, err, ReasonMalformed)
		})
	}
}

// TestRedteamRawWhitespaceInAttribute: XML parsers replace a literal TAB,
// LF or CR in an attribute value with a space (XML 1.0 §3.3.3);
// encoding/xml does not. Sign writes such characters as references, so
// replacing "&#x9;" by a literal TAB in a signed package kept our digest
// while changing the value every other parser reads: xmlsec1 rejected the
// package we accepted, and a recipient of the forwarded bytes read another
// value than the one verified. The reader now refuses the literal
// characters in attribute values.
func TestRedteamRawWhitespaceInAttribute(t *testing.T) {
	f := newFixture(t)
	pkg := edit(t, smallPackage(), func(root *etree.Element) {
		findNS(root, NamespaceEdXML, "TraceHeaderList").CreateAttr("id", "A\tB\nC\rD")
	})
	signed := mustSign(t, f.signer, pkg)
	res := mustVerify(t, f.verifier, signed, f.at) // references: fine
	if got := findNS(res.Element, NamespaceEdXML, "TraceHeaderList").SelectAttrValue("id", ""); got != "A\tB\nC\rD" {
		t.Fatalf("id = %q", got)
	}
	for _, raw := range []string{"A\tB&#xA;C&#xD;D", "A&#x9;B\nC&#xD;D", "A&#x9;B&#xA;C\rD"} {
		mod := replaceOnce(t, signed, "A&#x9;B&#xA;C&#xD;D", raw)
		_, err := f.verifier.Verify(mod, f.at)
		wantReason(t, err, ReasonMalformed)
	}
}

// TestRedteamCASigner: when every KeyInfo certificate was a CA, pickLeaf
// took the first, so a CA certificate with digitalSignature (a common
// profile for issuing CAs) signed packages as if it were an agency.
// doc.go promises that the signer is the first non-CA certificate; a CA
// signer now fails with ReasonKeyUsage.
func TestRedteamCASigner(t *testing.T) {
	f := newFixture(t)
	key := signingtest.NewKey(t, signingtest.P256)
	ca := f.pki.Root.Issue(t, &x509.Certificate{
		Subject:   pkix.Name{CommonName: "Issuing CA that also has digitalSignature"},
		NotBefore: f.pki.Now.Add(-time.Hour), NotAfter: f.pki.Now.AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true, IsCA: true,
	}, key.Public())
	pkg := craft(t, smallPackage(), key, craftOptions{certs: []*x509.Certificate{ca}})
	res, err := f.verifier.Verify(pkg, f.at)
	if err == nil {
		t.Fatalf("verified with CA signer %s", res.Signer.Subject)
	}
	wantReason(t, err, ReasonKeyUsage)
}

// TestRedteamEKUConstrainedCA: buildChains asks x509.Verify for
// ExtKeyUsageAny, for which Go skips the nesting of extended key usages
// along the chain, so a sub-CA constrained to TLS (serverAuth only) could
// issue a document-signing leaf that verified. Such chains now fail with
// ReasonUntrustedChain; a sub-CA whose EKU allows emailProtection still
// passes.
func TestRedteamEKUConstrainedCA(t *testing.T) {
	f := newFixture(t)
	subCA := func(eku ...x509.ExtKeyUsage) signingtest.Issuer {
		key := signingtest.NewKey(t, signingtest.P256)
		return signingtest.Issuer{Key: key, Cert: f.pki.Root.Issue(t, &x509.Certificate{
			Subject:   pkix.Name{CommonName: "Sub-CA with EKU"},
			NotBefore: f.pki.Now.Add(-time.Hour), NotAfter: f.pki.Now.AddDate(1, 0, 0),
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true,
			ExtKeyUsage: eku,
		}, key.Public())}
	}
	signWith := func(ca signingtest.Issuer) ([]byte, *Verifier) {
		leafKey := signingtest.NewKey(t, signingtest.P256)
		leaf := ca.Issue(t, signingtest.LeafTemplate(f.pki.Now), leafKey.Public())
		v := f.newVerifier(t, Policy{SkipRevocation: true})
		return craft(t, smallPackage(), leafKey, craftOptions{certs: []*x509.Certificate{leaf, ca.Cert}}), v
	}

	pkg, v := signWith(subCA(x509.ExtKeyUsageServerAuth))
	res, err := v.Verify(pkg, f.at)
	if err == nil {
		t.Fatalf("verified through a serverAuth-only CA: %s", res.Signer.Subject)
	}
	wantReason(t, err, ReasonUntrustedChain)

	pkg, v = signWith(subCA(x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageEmailProtection))
	mustVerify(t, v, pkg, f.at)
}
