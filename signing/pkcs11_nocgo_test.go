//go:build !cgo

package signing_test

import (
	"errors"
	"testing"

	"truc.vn/truc/signing"
)

// Without cgo, PKCS#11 reports itself unavailable instead of failing to build.
func TestPKCS11Unavailable(t *testing.T) {
	if signing.PKCS11Available() {
		t.Fatal("PKCS11Available() is true in a build without cgo")
	}
	cfg := signing.PKCS11Config{Module: "/usr/lib/softhsm/libsofthsm2.so", TokenLabel: "t", KeyLabel: "k", PIN: "1234"}
	if _, err := signing.OpenPKCS11(cfg); !errors.Is(err, signing.ErrPKCS11Unavailable) {
		t.Fatalf("OpenPKCS11 error = %v, want ErrPKCS11Unavailable", err)
	}
}
