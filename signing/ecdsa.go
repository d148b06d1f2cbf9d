package signing

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// XML-DSig 1.1 §6.4.3 encodes an ECDSA SignatureValue as r‖s, each an
// unsigned big-endian integer left-padded to the curve's byte length. Go's
// crypto.Signer implementations (crypto/ecdsa, crypto11) return ASN.1 DER
// SEQUENCE{r, s} instead; goxmldsig emits that DER unchanged, which neither
// xmlsec1 nor Java/.NET accept (signing-stack note §1.4-2). These helpers
// convert both ways.

// ecdsaByteLen is the length of r and s in the r‖s encoding for pub's curve.
func ecdsaByteLen(pub *ecdsa.PublicKey) int {
	return (pub.Curve.Params().BitSize + 7) / 8
}

// ecdsaDERToP1363 converts a DER ECDSA signature to r‖s. A signer that
// already returned r‖s of the right length is accepted as is.
func ecdsaDERToP1363(sig []byte, n int) ([]byte, error) {
	var r, s []byte
	in := cryptobyte.String(sig)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1Integer(&r) || !seq.ReadASN1Integer(&s) || !seq.Empty() {
		if len(sig) == 2*n {
			return sig, nil
		}
		return nil, errors.New("ECDSA signer returned neither DER nor r‖s")
	}
	out := make([]byte, 2*n)
	if err := putUnsigned(out[:n], r); err != nil {
		return nil, fmt.Errorf("ECDSA r: %w", err)
	}
	if err := putUnsigned(out[n:], s); err != nil {
		return nil, fmt.Errorf("ECDSA s: %w", err)
	}
	return out, nil
}

// putUnsigned writes the big-endian unsigned integer b (as
// cryptobyte.ReadASN1Integer returns it for a *[]byte: non-negative, no
// redundant leading zero) right-aligned into dst.
func putUnsigned(dst, b []byte) error {
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	if len(b) > len(dst) {
		return errors.New("integer longer than the curve order")
	}
	clear(dst)
	copy(dst[len(dst)-len(b):], b)
	return nil
}

// verifyECDSAP1363 checks an r‖s signature over digest. The length must be
// exactly twice the curve's byte length: no DER, no truncation.
func verifyECDSAP1363(pub *ecdsa.PublicKey, digest, sig []byte) bool {
	n := ecdsaByteLen(pub)
	if len(sig) != 2*n {
		return false
	}
	r := new(big.Int).SetBytes(sig[:n])
	s := new(big.Int).SetBytes(sig[n:])
	return ecdsa.Verify(pub, digest, r, s)
}
