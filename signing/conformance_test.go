package signing

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"truc.vn/truc/edoc"
	"truc.vn/truc/edoc/edoctest"
	"truc.vn/truc/signing/signingtest"
)

// TestConformanceSamples signs each official sample package, verifies it,
// reads the sender from the verified element, and checks that tampering
// with the header or an attachment is detected. Unsigned, the samples are
// reported as legacy-signed (the document packages carry the SDK's QCVN
// placeholder) or unsigned (the status packages).
func TestConformanceSamples(t *testing.T) {
	f := newFixture(t)
	for _, path := range edoctest.ConformanceFiles(t) {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			orig, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.verifier.Verify(orig, f.at)
			if strings.HasPrefix(name, "edoc_") {
				wantReason(t, err, ReasonLegacySignature)
			} else {
				wantReason(t, err, ReasonNoSignature)
			}

			signed := mustSign(t, f.signer, orig)
			res := mustVerify(t, f.verifier, signed, f.at)
			doc, err := edoc.ReadTree(bytes.NewReader(orig), edoc.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			want := findNS(findNS(doc.Root(), NamespaceEdXML, "From"), NamespaceEdXML, "OrganId").Text()
			if got := findNS(findNS(res.Element, NamespaceEdXML, "From"), NamespaceEdXML, "OrganId").Text(); got != want {
				t.Errorf("sender OrganId from the verified element = %q, want %q", got, want)
			}

			organ := []byte("<edXML:OrganId>" + want)
			i := bytes.Index(signed, organ) + len(organ) - 1
			tampered := bytes.Clone(signed)
			tampered[i] = flipAlnum(tampered[i])
			_, err = f.verifier.Verify(tampered, f.at)
			wantReason(t, err, ReasonDigestMismatch)

			if j := bytes.Index(signed, []byte("ContentTransferEncoded")); j >= 0 {
				k := bytes.IndexByte(signed[j:], '>') + j + 1000
				tampered = bytes.Clone(signed)
				tampered[k] = flipBase64(tampered[k])
				_, err = f.verifier.Verify(tampered, f.at)
				wantReason(t, err, ReasonDigestMismatch)
			}
		})
	}
}

// TestLargePackage signs and verifies a 50 MB package, with the limits
// raised. (The 20,000-element package is TestPitfall3TraversalBudget.)
func TestLargePackage(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MB package")
	}
	f := newFixture(t)
	lim := edoc.Limits{MaxBytes: 64 << 20}
	pkg := signingtest.Package(signingtest.PackageOptions{Size: 50 << 20})
	if _, err := f.signer.Sign(pkg, SignOptions{}); err == nil {
		t.Fatal("50 MB signed under the default 16 MiB limit")
	}
	start := time.Now()
	signed, err := f.signer.Sign(pkg, SignOptions{Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	signTime := time.Since(start)
	v := f.newVerifier(t, Policy{Limits: lim})
	start = time.Now()
	mustVerify(t, v, signed, f.at)
	t.Logf("%d MB: sign %v, verify %v", len(signed)>>20, signTime, time.Since(start))
	_, err = f.verifier.Verify(signed, f.at)
	wantReason(t, err, ReasonTooLarge)
	signed[len(signed)/2] = flipBase64(signed[len(signed)/2])
	_, err = v.Verify(signed, f.at)
	wantReason(t, err, ReasonDigestMismatch)
}
