package signing

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"truc.vn/truc/edoc"
	"truc.vn/truc/signing/signingtest"
)

// attack is one way to break a signed package and the reason Verify must
// give.
type attack struct {
	name string
	// build returns the package to verify, from the fixture and the
	// package f.signer signed.
	build func(t *testing.T, f *fixture, signed []byte) []byte
	// verifier, if set, replaces f.verifier.
	verifier func(t *testing.T, f *fixture) *Verifier
	// at, if set, replaces f.at.
	at   func(f *fixture) time.Time
	want Reason
}

func strPtr(s string) *string { return &s }

// issueBadLeaf issues a leaf from the fixture's intermediate with edits
// and returns its key and KeyInfo chain.
func issueBadLeaf(t *testing.T, f *fixture, alg signingtest.KeyAlg, edit func(*x509.Certificate)) (crypto.Signer, []*x509.Certificate) {
	key, leaf := f.pki.IssueLeaf(t, alg, edit)
	return key, []*x509.Certificate{leaf, f.pki.Intermediate.Cert}
}

var attacks = []attack{
	// Wrapping and placement.
	{
		name: "wrapping: signed envelope moved, forged one at the business path",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			return edit(t, signed, func(root *etree.Element) {
				env := findNS(root, NamespaceEdXML, "edXMLEnvelope")
				forged := env.Copy()
				findNS(forged, NamespaceEdXML, "OrganId").SetText("000.00.00.X99")
				sig := findNS(forged, NamespaceDSig, "Signature")
				sig.Parent().RemoveChild(sig)
				hdr := findNS(forged, NamespaceEdXML, "edXMLHeader")
				ext := hdr.CreateElement("edXML:Extension")
				root.RemoveChild(env)
				ext.AddChild(env)
				root.InsertChildAt(0, forged)
			})
		},
		want: ReasonWrapped,
	},
	{
		name: "wrapping: forged envelope added before the signed one",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			return edit(t, signed, func(root *etree.Element) {
				forged := findNS(root, NamespaceEdXML, "edXMLEnvelope").Copy()
				findNS(forged, NamespaceEdXML, "OrganId").SetText("000.00.00.X99")
				sig := findNS(forged, NamespaceDSig, "Signature")
				sig.Parent().RemoveChild(sig)
				root.InsertChildAt(0, forged)
			})
		},
		want: ReasonWrapped,
	},
	{
		name: "wrapping: second edXMLHeader in the envelope",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			return edit(t, signed, func(root *etree.Element) {
				hdr := findNS(root, NamespaceEdXML, "edXMLHeader")
				forged := hdr.Copy()
				sig := findNS(forged, NamespaceDSig, "Signature")
				sig.Parent().RemoveChild(sig)
				hdr.Parent().InsertChildAt(0, forged)
			})
		},
		want: ReasonWrapped,
	},
	{
		name: "signature moved into the body",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			return edit(t, signed, func(root *etree.Element) {
				sig := findNS(root, NamespaceDSig, "Signature")
				sig.Parent().RemoveChild(sig)
				findNS(root, NamespaceEdXML, "edXMLBody").AddChild(sig)
			})
		},
		want: ReasonWrapped,
	},
	{
		name: "element added after the signature",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			return edit(t, signed, func(root *etree.Element) {
				findNS(root, NamespaceEdXML, "edXMLHeader").CreateElement("edXML:Extra")
			})
		},
		want: ReasonWrapped,
	},
	{
		name: "second signature",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			return edit(t, signed, func(root *etree.Element) {
				sig := findNS(root, NamespaceDSig, "Signature")
				findNS(root, NamespaceEdXML, "Attachment").AddChild(sig.Copy())
			})
		},
		want: ReasonWrapped,
	},
	{
		name: "validly signed reference to another element",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			return craft(t, smallPackage(), f.pki.LeafKey, craftOptions{refURI: strPtr("#doc"), certs: f.pki.Chain()})
		},
		want: ReasonWrapped,
	},
	{
		name: "validly signed second reference",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			return craft(t, smallPackage(), f.pki.LeafKey, craftOptions{extraRefURI: "#other", certs: f.pki.Chain()})
		},
		want: ReasonWrapped,
	},
	{
		name: "reference without URI",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			return edit(t, signed, func(root *etree.Element) {
				findNS(root, NamespaceDSig, "Reference").RemoveAttr("URI")
			})
		},
		want: ReasonWrapped,
	},

	// Comment injection: the shape that makes naive readers of the bytes
	// see "000.00.00.G22" while "000.00.00.G22.X" was signed.
	{
		name: "comment injected into a signed value",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			return replaceOnce(t, signed, "<edXML:To>\n          <edXML:OrganId>000.00.00.H41", "<edXML:To>\n          <edXML:OrganId>000.00.00.H4<!---->1")
		},
		want: ReasonMalformed,
	},

	// Tampering with the signed content.
	{
		name: "header value changed",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			return replaceOnce(t, signed, "000.00.00.H41", "000.00.00.H42")
		},
		want: ReasonDigestMismatch,
	},
	{
		name: "attachment byte changed",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			i := bytes.Index(signed, []byte("<edXML:ContentTransferEncoded")) + 200
			out := bytes.Clone(signed)
			out[i] = flipBase64(out[i])
			return out
		},
		want: ReasonDigestMismatch,
	},
	{
		name: "attribute value changed",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			return replaceOnce(t, signed, `version="1.0">`, `version="1.1">`)
		},
		want: ReasonDigestMismatch,
	},
	{
		name: "whitespace added to a value",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			return replaceOnce(t, signed, "<edXML:Subject>", "<edXML:Subject> ")
		},
		want: ReasonDigestMismatch,
	},
	{
		name: "element removed",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			return edit(t, signed, func(root *etree.Element) {
				c := findNS(root, NamespaceEdXML, "Content")
				c.Parent().RemoveChild(c)
			})
		},
		want: ReasonDigestMismatch,
	},
	{
		name: "legacy block added before the signature",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			return edit(t, signed, func(root *etree.Element) {
				hdr := findNS(root, NamespaceEdXML, "edXMLHeader")
				hdr.InsertChildAt(findNS(root, NamespaceDSig, "Signature").Index(), etree.NewElement("Signature"))
			})
		},
		want: ReasonDigestMismatch,
	},

	// The signature block itself.
	{
		name: "SignatureValue changed",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			return flipInside(t, signed, "<ds:SignatureValue>")
		},
		want: ReasonBadSignature,
	},
	{
		name: "DigestValue changed",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			return flipInside(t, signed, "<ds:DigestValue>")
		},
		want: ReasonBadSignature,
	},
	{
		name: "SignatureMethod changed to another allowed one",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			return replaceOnce(t, signed, AlgRSASHA256, AlgRSASHA512)
		},
		want: ReasonBadSignature,
	},
	{
		name: "ECDSA SignatureMethod with an RSA key",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			return replaceOnce(t, signed, AlgRSASHA256, AlgECDSASHA256)
		},
		want: ReasonBadSignature,
	},
	{
		name: "rsa-sha1 without the legacy policy",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			return craft(t, smallPackage(), f.pki.LeafKey, craftOptions{sigAlg: AlgRSASHA1, digestAlg: AlgSHA1, certs: f.pki.Chain()})
		},
		want: ReasonAlgorithmNotAllowed,
	},
	{
		name: "sha1 digest without the legacy policy",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			return craft(t, smallPackage(), f.pki.LeafKey, craftOptions{digestAlg: AlgSHA1, certs: f.pki.Chain()})
		},
		want: ReasonAlgorithmNotAllowed,
	},
	{
		name: "SignedInfo canonicalised with comments",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			return craft(t, smallPackage(), f.pki.LeafKey, craftOptions{c14nAlg: AlgExcC14N + "WithComments", certs: f.pki.Chain()})
		},
		want: ReasonAlgorithmNotAllowed,
	},
	{
		name: "inclusive c14n transform",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			return craft(t, smallPackage(), f.pki.LeafKey, craftOptions{
				transforms: []string{AlgEnvelopedSignature, "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"}, certs: f.pki.Chain()})
		},
		want: ReasonAlgorithmNotAllowed,
	},
	{
		name: "enveloped-signature transform missing",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			return craft(t, smallPackage(), f.pki.LeafKey, craftOptions{transforms: []string{AlgExcC14N}, certs: f.pki.Chain()})
		},
		want: ReasonAlgorithmNotAllowed,
	},
	{
		name: "XPath transform added",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			return craft(t, smallPackage(), f.pki.LeafKey, craftOptions{
				transforms: []string{AlgEnvelopedSignature, "http://www.w3.org/TR/1999/REC-xpath-19991116", AlgExcC14N}, certs: f.pki.Chain()})
		},
		want: ReasonAlgorithmNotAllowed,
	},
	{
		name: "legacy exc-c14n URI in a W3C signature",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			return craft(t, smallPackage(), f.pki.LeafKey, craftOptions{
				transforms: []string{AlgEnvelopedSignature, "http://www.w3.org/TR/xml-exc-c14n#"}, certs: f.pki.Chain()})
		},
		want: ReasonAlgorithmNotAllowed,
	},
	{
		name: "Object element in the signature",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			return edit(t, signed, func(root *etree.Element) {
				findNS(root, NamespaceDSig, "Signature").CreateElement("ds:Object").SetText("x")
			})
		},
		want: ReasonMalformed,
	},
	{
		name: "KeyInfo without certificate",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			return edit(t, signed, func(root *etree.Element) {
				xd := findNS(root, NamespaceDSig, "X509Data")
				for _, c := range xd.ChildElements() {
					xd.RemoveChild(c)
				}
			})
		},
		want: ReasonMalformed,
	},
	{
		name: "KeyInfo certificate garbage",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			return edit(t, signed, func(root *etree.Element) {
				findNS(root, NamespaceDSig, "X509Certificate").SetText("AAAA")
			})
		},
		want: ReasonMalformed,
	},

	// Trust, time, revocation, key usage.
	{
		name: "certificate not chaining to the roots",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			other := signingtest.NewPKI(t)
			return craft(t, smallPackage(), other.LeafKey, craftOptions{certs: other.Chain()})
		},
		want: ReasonUntrustedChain,
	},
	{
		name: "self-signed signer",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			key := signingtest.NewKey(t, signingtest.P256)
			tmpl := signingtest.LeafTemplate(f.pki.Now)
			self := signingtest.Issuer{Cert: tmpl, Key: key}.Issue(t, tmpl, key.Public())
			return craft(t, smallPackage(), key, craftOptions{certs: []*x509.Certificate{self}})
		},
		want: ReasonUntrustedChain,
	},
	{
		name:  "leaf expired",
		build: func(t *testing.T, f *fixture, signed []byte) []byte { return signed },
		at:    func(f *fixture) time.Time { return f.pki.Leaf.NotAfter.Add(time.Second) },
		want:  ReasonExpired,
	},
	{
		name:  "leaf not yet valid",
		build: func(t *testing.T, f *fixture, signed []byte) []byte { return signed },
		at:    func(f *fixture) time.Time { return f.pki.Leaf.NotBefore.Add(-time.Second) },
		want:  ReasonNotYetValid,
	},
	{
		name: "intermediate expired",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			key := signingtest.NewKey(t, signingtest.P256)
			short := f.pki.Root.Issue(t, &x509.Certificate{
				Subject:   pkix.Name{CommonName: "short-lived CA"},
				NotBefore: f.pki.Now.Add(-time.Hour), NotAfter: f.pki.Now.Add(time.Hour),
				KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true,
			}, key.Public())
			ca := signingtest.Issuer{Cert: short, Key: key}
			leafKey := signingtest.NewKey(t, signingtest.P256)
			leaf := ca.Issue(t, signingtest.LeafTemplate(f.pki.Now), leafKey.Public())
			return craft(t, smallPackage(), leafKey, craftOptions{certs: []*x509.Certificate{leaf, short}})
		},
		at:   func(f *fixture) time.Time { return f.pki.Now.Add(2 * time.Hour) },
		want: ReasonExpired,
	},
	{
		name:  "leaf revoked",
		build: func(t *testing.T, f *fixture, signed []byte) []byte { return signed },
		verifier: func(t *testing.T, f *fixture) *Verifier {
			f.addCRL(t, f.pki.Intermediate.CRL(t, signingtest.CRL{Number: 2, ThisUpdate: f.pki.Now.Add(-time.Minute), NextUpdate: f.pki.Now.Add(time.Hour),
				Revoked: []x509.RevocationListEntry{signingtest.Revoked(f.pki.Leaf, f.pki.Now.Add(-10*time.Minute))}}))
			return f.verifier
		},
		want: ReasonRevoked,
	},
	{
		name:  "intermediate revoked",
		build: func(t *testing.T, f *fixture, signed []byte) []byte { return signed },
		verifier: func(t *testing.T, f *fixture) *Verifier {
			f.addCRL(t, f.pki.Root.CRL(t, signingtest.CRL{Number: 2, ThisUpdate: f.pki.Now.Add(-time.Minute), NextUpdate: f.pki.Now.Add(time.Hour),
				Revoked: []x509.RevocationListEntry{signingtest.Revoked(f.pki.Intermediate.Cert, f.pki.Now.Add(-10*time.Minute))}}))
			return f.verifier
		},
		want: ReasonRevoked,
	},
	{
		name:  "CRL stale",
		build: func(t *testing.T, f *fixture, signed []byte) []byte { return signed },
		at:    func(f *fixture) time.Time { return f.pki.Now.Add(25 * time.Hour) },
		want:  ReasonCRLUnavailable,
	},
	{
		name:  "CRL missing",
		build: func(t *testing.T, f *fixture, signed []byte) []byte { return signed },
		verifier: func(t *testing.T, f *fixture) *Verifier {
			v, err := NewVerifier(VerifierConfig{Roots: []*x509.Certificate{f.pki.Root.Cert}, CRLs: NewCRLStore()})
			if err != nil {
				t.Fatal(err)
			}
			return v
		},
		want: ReasonCRLUnavailable,
	},
	{
		name: "key usage keyEncipherment only",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			key, chain := issueBadLeaf(t, f, signingtest.RSA2048, func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageKeyEncipherment })
			return craft(t, smallPackage(), key, craftOptions{certs: chain})
		},
		want: ReasonKeyUsage,
	},
	{
		name: "no key usage extension",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			key, chain := issueBadLeaf(t, f, signingtest.P256, func(c *x509.Certificate) { c.KeyUsage = 0 })
			return craft(t, smallPackage(), key, craftOptions{certs: chain})
		},
		want: ReasonKeyUsage,
	},
	{
		name: "extended key usage serverAuth only",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			key, chain := issueBadLeaf(t, f, signingtest.P256, func(c *x509.Certificate) {
				c.UnknownExtKeyUsage = nil
				c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			})
			return craft(t, smallPackage(), key, craftOptions{certs: chain})
		},
		want: ReasonKeyUsage,
	},
	{
		name: "RSA-1024 signer",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			key, chain := issueBadLeaf(t, f, signingtest.RSA1024, nil)
			return craft(t, smallPackage(), key, craftOptions{sigAlg: AlgRSASHA256, digestAlg: AlgSHA256, certs: chain})
		},
		want: ReasonAlgorithmNotAllowed,
	},
	{
		name: "issuer CA without keyCertSign",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			key := signingtest.NewKey(t, signingtest.P256)
			ca := signingtest.Issuer{Key: key, Cert: f.pki.Root.Issue(t, &x509.Certificate{
				Subject:   pkix.Name{CommonName: "CA without keyCertSign"},
				NotBefore: f.pki.Now.Add(-time.Hour), NotAfter: f.pki.Now.AddDate(1, 0, 0),
				KeyUsage: x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true,
			}, key.Public())}
			leafKey := signingtest.NewKey(t, signingtest.P256)
			leaf := ca.Issue(t, signingtest.LeafTemplate(f.pki.Now), leafKey.Public())
			return craft(t, smallPackage(), leafKey, craftOptions{certs: []*x509.Certificate{leaf, ca.Cert}})
		},
		want: ReasonUntrustedChain,
	},

	// Not signed, or not in our profile.
	{
		name: "only the legacy QCVN signature",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			return signingtest.Package(signingtest.PackageOptions{LegacySignature: true})
		},
		want: ReasonLegacySignature,
	},
	{
		name:  "no signature",
		build: func(t *testing.T, f *fixture, signed []byte) []byte { return smallPackage() },
		want:  ReasonNoSignature,
	},
	{
		name:  "not XML",
		build: func(t *testing.T, f *fixture, signed []byte) []byte { return []byte("%PDF-1.7 not xml") },
		want:  ReasonMalformed,
	},
	{
		name: "DOCTYPE",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			return replaceOnce(t, signed, "<edXML xmlns=", "<!DOCTYPE edXML [<!ENTITY x \"y\">]>\n<edXML xmlns=")
		},
		want: ReasonMalformed,
	},
	{
		name: "processing instruction after the root",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			return append(bytes.Clone(signed), []byte("<?evil data?>\n")...)
		},
		want: ReasonMalformed,
	},
	{
		name: "processing instruction before the root",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			return replaceOnce(t, signed, "<edXML xmlns=", "<?evil?><edXML xmlns=")
		},
		want: ReasonMalformed,
	},
	{
		name: "processing instruction before the root, after a byte order mark",
		build: func(t *testing.T, f *fixture, signed []byte) []byte {
			return append([]byte("\ufeff<?evil?>"), signed[bytes.Index(signed, []byte("<edXML ")):]...)
		},
		want: ReasonMalformed,
	},
	{
		name:  "root is not edXML",
		build: func(t *testing.T, f *fixture, signed []byte) []byte { return []byte(`<a xmlns="urn:x"/>`) },
		want:  ReasonMalformed,
	},
	{
		name:  "over the size limit",
		build: func(t *testing.T, f *fixture, signed []byte) []byte { return signed },
		verifier: func(t *testing.T, f *fixture) *Verifier {
			return f.newVerifier(t, Policy{Limits: edoc.Limits{MaxBytes: 4096}})
		},
		want: ReasonTooLarge,
	},
}

func TestVerifyAttacks(t *testing.T) {
	rsa := newFixture(t)
	signed := mustSign(t, rsa.signer, smallPackage())
	mustVerify(t, rsa.verifier, signed, rsa.at) // the baseline verifies
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			f, signed := rsa, signed
			if a.verifier != nil {
				// Cases that change the CRL store get their own fixture.
				f = newFixture(t)
				signed = mustSign(t, f.signer, smallPackage())
			}
			pkg := a.build(t, f, signed)
			v, at := f.verifier, f.at
			if a.verifier != nil {
				v = a.verifier(t, f)
			}
			if a.at != nil {
				at = a.at(f)
			}
			res, err := v.Verify(pkg, at)
			if err == nil {
				t.Fatalf("verified (signer %s), want %s", res.Signer.Subject, a.want)
			}
			wantReason(t, err, a.want)
			t.Logf("%v", err)
		})
	}
}

// flipBase64 returns a different base64 character.
func flipBase64(c byte) byte {
	if c == 'A' {
		return 'B'
	}
	return 'A'
}

// flipInside changes one base64 character in the middle of the content
// that follows the unique marker.
func flipInside(t *testing.T, b []byte, marker string) []byte {
	t.Helper()
	i := bytes.Index(b, []byte(marker))
	if i < 0 || bytes.Count(b, []byte(marker)) != 1 {
		t.Fatalf("marker %q not found once", marker)
	}
	start := i + len(marker)
	end := start + bytes.IndexByte(b[start:], '<')
	out := bytes.Clone(b)
	mid := (start + end) / 2
	out[mid] = flipBase64(out[mid])
	return out
}

// TestVerifyDetectsEveryByteChange flips every letter and digit of a
// signed package in turn (outside the signature block and the XML
// declaration, which no signature covers) and requires
// every result to fail: with ReasonDigestMismatch when the byte is text
// of the header or of the attachment, with some reason otherwise (a
// changed tag name no longer matches its end tag, a changed namespace URI
// moves the element, and so on).
func TestVerifyDetectsEveryByteChange(t *testing.T) {
	f := newFixture(t)
	signed := mustSign(t, f.signer, smallPackage())
	rootStart := bytes.Index(signed, []byte("<edXML "))
	sigStart := bytes.Index(signed, []byte("<ds:Signature"))
	sigEnd := bytes.Index(signed, []byte("</ds:Signature>")) + len("</ds:Signature>")
	step := 1
	if testing.Short() {
		step = 7
	}
	var checked int
	for i := 0; i < len(signed); i += step {
		c := signed[i]
		if i < rootStart || (i >= sigStart && i < sigEnd) || !isAlnum(c) {
			continue
		}
		pkg := bytes.Clone(signed)
		pkg[i] = flipAlnum(c)
		_, err := f.verifier.Verify(pkg, f.at)
		if err == nil {
			t.Fatalf("byte %d changed from %q to %q: still verifies", i, c, pkg[i])
		}
		if inText(signed, i) {
			wantReason(t, err, ReasonDigestMismatch)
		}
		checked++
	}
	t.Logf("%d single-byte changes rejected", checked)
}

func isAlnum(c byte) bool {
	return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
}

func flipAlnum(c byte) byte {
	switch c {
	case 'z':
		return 'a'
	case 'Z':
		return 'A'
	case '9':
		return '0'
	}
	return c + 1
}

// inText reports whether byte i of b lies in character data (after a '>'
// and before the next '<', not in the XML declaration) and not inside an
// entity reference such as &amp;.
func inText(b []byte, i int) bool {
	lt := bytes.LastIndexByte(b[:i], '<')
	gt := bytes.LastIndexByte(b[:i], '>')
	if gt < lt || strings.HasPrefix(string(b[lt:]), "<?xml") {
		return false
	}
	amp := bytes.LastIndexByte(b[gt:i], '&')
	return amp < 0 || bytes.IndexByte(b[gt+amp:i], ';') >= 0
}
