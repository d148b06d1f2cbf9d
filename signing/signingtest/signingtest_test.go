package signingtest

import (
	"bytes"
	"crypto/x509"
	"encoding/xml"
	"io"
	"testing"
)

func TestNewPKI(t *testing.T) {
	for _, alg := range []KeyAlg{RSA2048, P256} {
		p := NewPKI(t, WithLeafKey(alg), WithCAKey(P256))
		roots := x509.NewCertPool()
		roots.AddCert(p.Root.Cert)
		inters := x509.NewCertPool()
		inters.AddCert(p.Intermediate.Cert)
		if _, err := p.Leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, CurrentTime: Epoch,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Errorf("%s: leaf does not verify at Epoch: %v", alg, err)
		}
		rootCRL, interCRL := p.CRLs(t, p.Leaf)
		crl, err := x509.ParseRevocationList(interCRL)
		if err != nil || crl.CheckSignatureFrom(p.Intermediate.Cert) != nil || len(crl.RevokedCertificateEntries) != 1 ||
			crl.RevokedCertificateEntries[0].SerialNumber.Cmp(p.Leaf.SerialNumber) != 0 {
			t.Errorf("%s: intermediate CRL: %v", alg, err)
		}
		if crl, err := x509.ParseRevocationList(rootCRL); err != nil || len(crl.RevokedCertificateEntries) != 0 {
			t.Errorf("%s: root CRL: %v", alg, err)
		}
	}
}

func TestPackage(t *testing.T) {
	for _, size := range []int{0, 5 << 10, 360 << 10} {
		pkg := Package(PackageOptions{Size: size, Places: 3, LegacySignature: true})
		if size > 0 && (len(pkg) < size*9/10 || len(pkg) > size*11/10) {
			t.Errorf("Package(%d) is %d bytes", size, len(pkg))
		}
		d := xml.NewDecoder(bytes.NewReader(pkg))
		for {
			if _, err := d.Token(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("Package(%d) is not well-formed: %v", size, err)
			}
		}
	}
	if !bytes.Equal(Package(PackageOptions{Seed: 1}), Package(PackageOptions{Seed: 1})) ||
		bytes.Equal(Package(PackageOptions{Seed: 1}), Package(PackageOptions{Seed: 2})) {
		t.Error("Package is not deterministic per seed")
	}
}

func TestRequireTool(t *testing.T) {
	if p := RequireTool(t, "sh"); p == "" {
		t.Error("no path for sh")
	}
	t.Setenv(RequireInteropEnv, "")
	t.Run("missing", func(t *testing.T) {
		defer func() {
			if !t.Skipped() {
				t.Error("a missing tool did not skip")
			}
		}()
		RequireTool(t, "no-such-tool-for-truc")
	})
}
