package signing

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"truc.vn/truc/edoc/edoctest"
	"truc.vn/truc/signing/signingtest"
)

// Interop with xmlsec1 (libxmlsec1 + OpenSSL), the reference
// implementation: what we sign verifies with `xmlsec1 --verify`, and what
// xmlsec1 signs from a template of our profile verifies with us. The tests
// skip when xmlsec1 is absent, or fail with TRUC_REQUIRE_INTEROP=1.

type xmlsec1 struct {
	path string
	dir  string
	pki  *signingtest.PKI
	root string // path of the root PEM
}

func newXmlsec1(t *testing.T, f *fixture) *xmlsec1 {
	t.Helper()
	x := &xmlsec1{path: signingtest.RequireTool(t, "xmlsec1"), dir: t.TempDir(), pki: f.pki}
	x.root = signingtest.WriteFile(t, x.dir, "root.pem", signingtest.CertPEM(f.pki.Root.Cert))
	return x
}

func (x *xmlsec1) run(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	out, err := exec.Command(x.path, args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("xmlsec1 %s: %w\n%s", args[0], err, out)
	}
	return out, nil
}

// verify runs xmlsec1 --verify on pkg, trusting only the PKI's root, at
// time at (UTC).
func (x *xmlsec1) verify(t *testing.T, pkg []byte, at time.Time) error {
	t.Helper()
	file := signingtest.WriteFile(t, x.dir, "in.xml", pkg)
	_, err := x.run(t, "--verify", "--trusted-pem", x.root, "--verification-gmt-time", at.UTC().Format("2006-01-02 15:04:05"), file)
	return err
}

// sign runs xmlsec1 --sign on a template with key and chain (leaf first);
// xmlsec1 fills DigestValue, SignatureValue and X509Data.
func (x *xmlsec1) sign(t *testing.T, template []byte, key crypto.Signer, chain []*x509.Certificate) []byte {
	t.Helper()
	keyFile := signingtest.WriteFile(t, x.dir, "key.pem", signingtest.KeyPEM(t, key))
	files := []string{keyFile}
	for i, c := range chain {
		files = append(files, signingtest.WriteFile(t, x.dir, fmt.Sprintf("cert%d.pem", i), signingtest.CertPEM(c)))
	}
	in := signingtest.WriteFile(t, x.dir, "template.xml", template)
	out := filepath.Join(x.dir, "signed.xml")
	if _, err := x.run(t, "--sign", "--privkey-pem", strings.Join(files, ","), "--output", out, in); err != nil {
		t.Fatal(err)
	}
	signed, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// trickyPackage puts into the header what canonicalisers get wrong:
// attributes from two namespaces whose prefix order differs from their URI
// order, an xml: attribute, unused and rebound prefixes, a default
// namespace undeclared, escapes of every kind, a processing instruction, a
// comment between elements, an empty element, and a QName in content.
func trickyPackage() []byte {
	ext := `<ext:Extension xmlns:ext="urn:ext" xmlns:a="urn:z" xmlns:b="urn:a" xmlns:unused="urn:unused">
          <ext:Item a:y="1" b:z="2" c="3" xml:lang="vi"/>
          <ext:Text>tab&#9;cr&#13;lf&#10;amp&amp;lt&lt;gt&gt;quot"apos'</ext:Text>
          <ext:Attr v="tab&#9;nl&#10;cr&#13;q&quot;lt&lt;amp&amp;gt&gt;"/>
          <Plain xmlns="">không có namespace</Plain>
          <d:Deep xmlns:d="urn:d"><d:Deeper xmlns:d="urn:d2" d:k="v"/></d:Deep>
          <?processing some data ?>
          <!-- chú thích giữa các phần tử -->
          <ext:Empty></ext:Empty>
          <ext:Amount xmlns:m="urn:money" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="m:Money">12</ext:Amount>
        </ext:Extension>
      </edXML:MessageHeader>`
	return []byte(strings.Replace(string(smallPackage()), "</edXML:MessageHeader>", ext, 1))
}

var interopAlgs = []signingtest.KeyAlg{signingtest.RSA2048, signingtest.P256, signingtest.P384, signingtest.P521}

func TestInteropXmlsec1VerifiesOurs(t *testing.T) {
	for _, alg := range interopAlgs {
		t.Run(string(alg), func(t *testing.T) {
			f := newFixture(t, signingtest.WithLeafKey(alg))
			x := newXmlsec1(t, f)
			for name, pkg := range map[string][]byte{
				"synthetic":      smallPackage(),
				"tricky c14n":    trickyPackage(),
				"legacy block":   signingtest.Package(signingtest.PackageOptions{LegacySignature: true}),
				"20000 elements": signingtest.Package(signingtest.PackageOptions{Places: 20_000}),
			} {
				signed := mustSign(t, f.signer, pkg)
				if err := x.verify(t, signed, f.at); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
			// The oracle is not vacuous: it rejects a changed byte.
			signed := mustSign(t, f.signer, smallPackage())
			if err := x.verify(t, replaceOnce(t, signed, "000.00.00.H41", "000.00.00.H42"), f.at); err == nil {
				t.Error("xmlsec1 verified a tampered package")
			}
		})
	}
	t.Run("conformance samples", func(t *testing.T) {
		f := newFixture(t)
		x := newXmlsec1(t, f)
		for _, path := range edoctest.ConformanceFiles(t) {
			pkg, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := x.verify(t, mustSign(t, f.signer, pkg), f.at); err != nil {
				t.Errorf("%s: %v", filepath.Base(path), err)
			}
		}
	})
}

func TestInteropWeVerifyXmlsec1s(t *testing.T) {
	for _, alg := range interopAlgs {
		t.Run(string(alg), func(t *testing.T) {
			f := newFixture(t, signingtest.WithLeafKey(alg))
			x := newXmlsec1(t, f)
			for _, tc := range []struct {
				name string
				pkg  []byte
				opt  craftOptions
			}{
				{"profile template", smallPackage(), craftOptions{}},
				{"tricky c14n", trickyPackage(), craftOptions{}},
				{"default-namespace Signature", trickyPackage(), craftOptions{defaultNS: true}},
				{"InclusiveNamespaces", trickyPackage(), craftOptions{refPrefixes: []string{"unused", "ext"}, siPrefixes: []string{"ds"}}},
				{"20000 elements", signingtest.Package(signingtest.PackageOptions{Places: 20_000}), craftOptions{}},
			} {
				tc.opt.templateOnly = true
				signed := x.sign(t, craft(t, tc.pkg, f.pki.LeafKey, tc.opt), f.pki.LeafKey, f.pki.Chain())
				res, err := f.verifier.Verify(signed, f.at)
				if err != nil {
					t.Errorf("%s: %v", tc.name, err)
					continue
				}
				if !res.Signer.Equal(f.pki.Leaf) {
					t.Errorf("%s: signer %s", tc.name, res.Signer.Subject)
				}
				_, err = f.verifier.Verify(replaceOnce(t, signed, "000.00.00.H41", "000.00.00.H42"), f.at)
				wantReason(t, err, ReasonDigestMismatch)
			}
		})
	}
	t.Run("rsa-sha1 legacy", func(t *testing.T) {
		f := newFixture(t)
		x := newXmlsec1(t, f)
		tmpl := craft(t, smallPackage(), f.pki.LeafKey, craftOptions{sigAlg: AlgRSASHA1, digestAlg: AlgSHA1, templateOnly: true})
		signed := x.sign(t, tmpl, f.pki.LeafKey, f.pki.Chain())
		_, err := f.verifier.Verify(signed, f.at)
		wantReason(t, err, ReasonAlgorithmNotAllowed)
		mustVerify(t, f.newVerifier(t, Policy{AllowSHA1: true}), signed, f.at)
	})
	t.Run("conformance samples", func(t *testing.T) {
		f := newFixture(t)
		x := newXmlsec1(t, f)
		for _, path := range edoctest.ConformanceFiles(t) {
			pkg, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// The template replaces the SDK's QCVN placeholder, as Sign does.
			unsigned := edit(t, pkg, func(root *etree.Element) {
				hdr, err := profileHeader(root)
				if err != nil {
					t.Fatal(err)
				}
				if _, legacy := signatureElements(root); len(legacy) > 0 {
					removeWithIndent(hdr, legacy[0])
				}
			})
			signed := x.sign(t, craft(t, unsigned, f.pki.LeafKey, craftOptions{templateOnly: true}), f.pki.LeafKey, f.pki.Chain())
			if _, err := f.verifier.Verify(signed, f.at); err != nil {
				t.Errorf("%s: %v", filepath.Base(path), err)
			}
			if !bytes.Contains(signed, []byte("<ds:X509Certificate>")) {
				t.Errorf("%s: xmlsec1 wrote no certificate", filepath.Base(path))
			}
		}
	})
}
