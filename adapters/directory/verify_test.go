package directory

import (
	"context"
	"crypto/x509"
	"errors"
	"testing"

	"truc.vn/truc/bus"
	"truc.vn/truc/signing"
	"truc.vn/truc/signing/signingtest"
)

// TestBusVerifierOverDirectory checks signing.BusVerifier against the real
// directory: changes to the directory take effect on the next package.
func TestBusVerifierOverDirectory(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	d, _ := w.openSeeded(t, Config{})
	signer, err := signing.NewSigner(w.pki.LeafKey, w.pki.Chain())
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := signer.Sign(signingtest.Package(signingtest.PackageOptions{Size: 4 << 10}), signing.SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	crls := signing.NewCRLStore()
	rootCRL, interCRL := w.pki.CRLs(t)
	for _, der := range [][]byte{rootCRL, interCRL} {
		if _, err := crls.Add(der, []*x509.Certificate{w.pki.Root.Cert, w.pki.Intermediate.Cert}, w.pki.Now); err != nil {
			t.Fatal(err)
		}
	}
	v, err := signing.NewVerifier(signing.VerifierConfig{Roots: []*x509.Certificate{w.pki.Root.Cert}, CRLs: crls})
	if err != nil {
		t.Fatal(err)
	}
	bv, err := signing.NewBusVerifier(v, d)
	if err != nil {
		t.Fatal(err)
	}
	var _ bus.Verifier = bv

	got, err := bv.Verify(ctx, pkg, w.pki.Now)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.Package.Sender() != "000.00.00.G22" || !got.Chain[0].Equal(w.pki.Leaf) || len(got.Evidence.Chain) != 3 {
		t.Errorf("verified sender %s, %d evidence certificates", got.Package.Sender(), len(got.Evidence.Chain))
	}

	steps := []struct {
		name   string
		change Change
		reason string
	}{
		{"binding removed", Change{Op: OpRemoveBinding, OrganID: "000.00.00.G22"}, bus.RejectSignerNotBound},
		{"bound again", Change{Op: OpPutBinding, Binding: &Binding{OrganID: "000.00.00.G22", Certificates: []string{signing.Fingerprint(w.pki.Leaf)}}}, ""},
		{"sender made inactive", Change{Op: OpPutAgency, Agency: &bus.Agency{OrganID: "000.00.00.G22", Name: "Văn phòng Chính phủ", Edge: "vpcp"}}, bus.RejectUnknownSender},
	}
	for _, s := range steps {
		if _, err := d.Apply(ctx, s.change); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		_, err := bv.Verify(ctx, pkg, w.pki.Now)
		var re *bus.RejectError
		switch {
		case s.reason == "" && err != nil:
			t.Errorf("%s: %v", s.name, err)
		case s.reason != "" && (!errors.As(err, &re) || re.Reason != s.reason):
			t.Errorf("%s: got %v, want %s", s.name, err, s.reason)
		}
	}
}
