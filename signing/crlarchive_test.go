package signing_test

import (
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"truc.vn/truc/signing"
	"truc.vn/truc/signing/signingtest"
)

// TestCRLArchive: the archive keeps every CRL a CRLStore held, by issuer
// and number, across replacements and reopening.
func TestCRLArchive(t *testing.T) {
	pki := signingtest.NewPKI(t, signingtest.WithCAKey(signingtest.P256), signingtest.WithLeafKey(signingtest.P256))
	issuers := []*x509.Certificate{pki.Root.Cert, pki.Intermediate.Cert}
	store := signing.NewCRLStore()
	dir := filepath.Join(t.TempDir(), "crls")
	arch, err := signing.OpenCRLArchive(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := arch.Sync(store); err != nil || n != 0 {
		t.Fatalf("sync of an empty store: %d %v", n, err)
	}
	crl := func(iss signingtest.Issuer, n int64, at time.Time) []byte {
		return iss.CRL(t, signingtest.CRL{Number: n, ThisUpdate: at, NextUpdate: at.Add(24 * time.Hour)})
	}
	first := crl(pki.Intermediate, 1, pki.Now.Add(-time.Hour))
	for _, der := range [][]byte{crl(pki.Root, 1, pki.Now.Add(-time.Hour)), first} {
		if _, err := store.Add(der, issuers, pki.Now); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := arch.Sync(store); err != nil || n != 2 {
		t.Fatalf("first sync: %d %v", n, err)
	}
	if n, err := arch.Sync(store); err != nil || n != 0 {
		t.Fatalf("sync with nothing new: %d %v", n, err)
	}
	second := crl(pki.Intermediate, 2, pki.Now)
	if _, err := store.Add(second, issuers, pki.Now); err != nil {
		t.Fatal(err)
	}
	if n, err := arch.Sync(store); err != nil || n != 1 {
		t.Fatalf("sync after a newer CRL: %d %v", n, err)
	}
	inter := sha256.Sum256(pki.Intermediate.Cert.Raw)
	for num, want := range map[string][]byte{"1": first, "2": second} {
		got, err := arch.Get(inter, num)
		if err != nil || string(got) != string(want) {
			t.Fatalf("CRL %s: %v", num, err)
		}
	}
	if _, err := arch.Get(inter, "3"); !errors.Is(err, signing.ErrCRLNotArchived) {
		t.Fatalf("an unknown number: %v", err)
	}
	if _, err := arch.Get(inter, "../../etc/passwd"); !errors.Is(err, signing.ErrCRLNotArchived) {
		t.Fatalf("a path as number: %v", err)
	}

	// Reopened, it knows what it holds and writes nothing again.
	again, err := signing.OpenCRLArchive(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.Len() != 3 {
		t.Fatalf("reopened archive holds %d CRLs, want 3", again.Len())
	}
	if n, err := again.Sync(store); err != nil || n != 0 {
		t.Fatalf("sync after reopening: %d %v", n, err)
	}
	// The same CRL again is fine; another CRL with the same number is not.
	hexInter := signing.Fingerprint(pki.Intermediate.Cert)
	if err := again.Put(hexInter, "2", second); err != nil {
		t.Fatal(err)
	}
	other := crl(pki.Intermediate, 2, pki.Now.Add(time.Minute))
	if err := again.Put(hexInter, "2", other); err == nil || !strings.Contains(err.Error(), "another CRL") {
		t.Fatalf("a second CRL numbered 2: %v", err)
	}
	if got, _ := again.Get(inter, "2"); string(got) != string(second) {
		t.Fatal("the archive changed a CRL it held")
	}
	for _, c := range []struct {
		name, issuer, number string
		der                  []byte
		want                 string
	}{
		{"not a hex issuer", "ZZ", "1", first, "lowercase hex"},
		{"a number with a leading zero", hexInter, "01", first, "without leading zeros"},
		{"a number not the CRL's", hexInter, "7", first, "own number is 1"},
		{"not a CRL", hexInter, "1", []byte("x"), "archiving the CRL"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := again.Put(c.issuer, c.number, c.der); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
	// Files are written whole: no temporary file is left behind.
	entries, err := os.ReadDir(filepath.Join(dir, hexInter))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left", e.Name())
		}
	}
}
