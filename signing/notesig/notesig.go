package notesig

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/big"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// Algorithm names a signature algorithm of this package. The values are
// the identifiers in the encoded public key (see the package comment):
// wire constants that never change once released.
type Algorithm string

// Algorithms.
const (
	RSAPKCS1v15SHA256 Algorithm = "truc.vn/notesig/rsa-pkcs1v15-sha256"
	ECDSAP256SHA256   Algorithm = "truc.vn/notesig/ecdsa-p256-sha256"
	ECDSAP384SHA384   Algorithm = "truc.vn/notesig/ecdsa-p384-sha384"
)

// SignatureType is the signed-note signature type byte of every key of
// this package: 0xff, the extension type, followed by an Algorithm.
const SignatureType byte = 0xff

// RSA key sizes accepted, in bits.
const (
	MinRSABits = 2048
	MaxRSABits = 4096
)

func (a Algorithm) hash() crypto.Hash {
	if a == ECDSAP384SHA384 {
		return crypto.SHA384
	}
	return crypto.SHA256
}

// key is a checked public key with its encoding and algorithm.
type key struct {
	name string
	alg  Algorithm
	pub  crypto.PublicKey // *rsa.PublicKey or *ecdsa.PublicKey
	enc  []byte           // 0xff || alg || '\n' || SPKI
	hash uint32
}

// newKey checks name and pub against the profile and computes the encoded
// key and key ID.
func newKey(name string, pub crypto.PublicKey) (key, error) {
	if err := checkName(name); err != nil {
		return key{}, err
	}
	alg, err := algorithmOf(pub)
	if err != nil {
		return key{}, err
	}
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return key{}, fmt.Errorf("notesig: encoding the public key: %w", err)
	}
	enc := make([]byte, 0, 1+len(alg)+1+len(spki))
	enc = append(enc, SignatureType)
	enc = append(enc, alg...)
	enc = append(enc, '\n')
	enc = append(enc, spki...)
	return key{name: name, alg: alg, pub: pub, enc: enc, hash: keyHash(name, enc)}, nil
}

// keyHash is note's key hash: the first four bytes, big-endian, of
// SHA-256(name || '\n' || encoded key).
func keyHash(name string, enc []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n'})
	h.Write(enc)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// KeyHash returns the key ID that a key of this package named name with
// public key pub has (see the package comment for the exact computation).
func KeyHash(name string, pub crypto.PublicKey) (uint32, error) {
	k, err := newKey(name, pub)
	if err != nil {
		return 0, err
	}
	return k.hash, nil
}

// checkName applies note's rule for key names: non-empty UTF-8 without
// Unicode spaces or '+'. A name is at most 255 bytes here.
func checkName(name string) error {
	switch {
	case name == "":
		return errorf(ReasonMalformed, "key name: must not be empty")
	case len(name) > 255:
		return errorf(ReasonMalformed, "key name: at most 255 bytes, got %d", len(name))
	case !utf8.ValidString(name):
		return errorf(ReasonMalformed, "key name: must be valid UTF-8")
	case strings.IndexFunc(name, unicode.IsSpace) >= 0:
		return errorf(ReasonMalformed, "key name %q: must not contain spaces", name)
	case strings.Contains(name, "+"):
		return errorf(ReasonMalformed, "key name %q: must not contain '+'", name)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return errorf(ReasonMalformed, "key name %q: must not contain control characters", name)
		}
	}
	return nil
}

// algorithmOf returns the algorithm for pub, or an error naming the rule
// pub breaks.
func algorithmOf(pub crypto.PublicKey) (Algorithm, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return "", errorf(ReasonUnsupportedKey, "public key: empty RSA key")
		}
		if bits := k.N.BitLen(); bits < MinRSABits || bits > MaxRSABits {
			return "", errorf(ReasonUnsupportedKey, "public key: RSA keys must have %d–%d bits, got %d", MinRSABits, MaxRSABits, bits)
		}
		if k.E < 3 || k.E%2 == 0 {
			return "", errorf(ReasonUnsupportedKey, "public key: RSA public exponent %d is not an odd number ≥ 3", k.E)
		}
		return RSAPKCS1v15SHA256, nil
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			return "", errorf(ReasonUnsupportedKey, "public key: empty ECDSA key")
		}
		switch k.Curve {
		case elliptic.P256():
			return ECDSAP256SHA256, nil
		case elliptic.P384():
			return ECDSAP384SHA384, nil
		}
		return "", errorf(ReasonUnsupportedKey, "public key: ECDSA keys must be on P-256 or P-384, got %s", k.Curve.Params().Name)
	case nil:
		return "", errorf(ReasonUnsupportedKey, "public key: missing")
	}
	return "", errorf(ReasonUnsupportedKey, "public key: %T is not supported (RSA 2048–4096 or ECDSA P-256/P-384; use note's own Ed25519 keys for Ed25519)", pub)
}

// digest hashes msg with the algorithm's hash.
func (k key) digest(msg []byte) []byte {
	h := k.alg.hash().New()
	h.Write(msg)
	return h.Sum(nil)
}

// verify reports whether sig is k's signature of msg. It never panics.
func (k key) verify(msg, sig []byte) bool {
	d := k.digest(msg)
	switch pub := k.pub.(type) {
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, d, sig) == nil
	case *ecdsa.PublicKey:
		return ecdsa.VerifyASN1(pub, d, sig)
	}
	return false
}

// Signer is a note.Signer over a crypto.Signer. It is safe for concurrent
// use if the crypto.Signer is.
type Signer struct {
	key
	signer crypto.Signer
}

var _ note.Signer = (*Signer)(nil)

// NewSigner returns a Signer that signs notes as name with s. The public
// key s.Public() must be RSA 2048–4096 or ECDSA P-256/P-384. name is the
// key name in signature lines; for a transparency log it is the log's
// origin.
func NewSigner(name string, s crypto.Signer) (*Signer, error) {
	if s == nil {
		return nil, errorf(ReasonUnsupportedKey, "signer: missing")
	}
	k, err := newKey(name, s.Public())
	if err != nil {
		return nil, err
	}
	return &Signer{key: k, signer: s}, nil
}

// Name returns the key name.
func (s *Signer) Name() string { return s.name }

// KeyHash returns the key ID.
func (s *Signer) KeyHash() uint32 { return s.hash }

// Algorithm returns the signature algorithm.
func (s *Signer) Algorithm() Algorithm { return s.alg }

// Verifier returns the Verifier for this Signer's public key.
func (s *Signer) Verifier() *Verifier { return &Verifier{key: s.key} }

// Sign signs msg (the note text) and returns the signature bytes without
// the key ID, as note.Sign expects. It checks the signature against the
// public key before returning it; an ECDSA signer that answers in the r‖s
// form of XML-DSig 1.1 is accepted and its answer converted to DER.
func (s *Signer) Sign(msg []byte) ([]byte, error) {
	sig, err := s.signer.Sign(rand.Reader, s.digest(msg), s.alg.hash())
	if err != nil {
		return nil, fmt.Errorf("notesig: signing as %s+%08x: %w", s.name, s.hash, err)
	}
	if pub, ok := s.pub.(*ecdsa.PublicKey); ok && !s.verify(msg, sig) {
		if der, ok := rawECDSAToDER(pub, sig); ok {
			sig = der
		}
	}
	if !s.verify(msg, sig) {
		return nil, fmt.Errorf("notesig: signing as %s+%08x: the key produced a signature that does not verify with its public key", s.name, s.hash)
	}
	return sig, nil
}

// rawECDSAToDER converts an r‖s signature of the curve's size to DER.
func rawECDSAToDER(pub *ecdsa.PublicKey, sig []byte) ([]byte, bool) {
	n := (pub.Curve.Params().BitSize + 7) / 8
	if len(sig) != 2*n {
		return nil, false
	}
	der, err := asn1.Marshal(struct{ R, S *big.Int }{
		new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:]),
	})
	return der, err == nil
}

// Verifier is a note.Verifier for one RSA or ECDSA public key. It is
// immutable and safe for concurrent use.
type Verifier struct {
	key
	cert *x509.Certificate
}

var _ note.Verifier = (*Verifier)(nil)

// NewVerifier returns a Verifier of signatures made as name with the
// private key of pub (RSA 2048–4096 or ECDSA P-256/P-384).
func NewVerifier(name string, pub crypto.PublicKey) (*Verifier, error) {
	k, err := newKey(name, pub)
	if err != nil {
		return nil, err
	}
	return &Verifier{key: k}, nil
}

// NewCertVerifier returns a Verifier for the public key of cert (the axis
// seal certificate). It refuses a certificate whose key usage is set and
// allows neither digitalSignature nor contentCommitment.
//
// It does not check the chain, the validity period or revocation: verify
// cert with the trust store of package signing before trusting the
// Verifier.
func NewCertVerifier(name string, cert *x509.Certificate) (*Verifier, error) {
	if cert == nil {
		return nil, errorf(ReasonUnsupportedKey, "certificate: missing")
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		return nil, errorf(ReasonUnsupportedKey, "certificate %q: key usage allows neither digitalSignature nor contentCommitment", cert.Subject.String())
	}
	v, err := NewVerifier(name, cert.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("certificate %q: %w", cert.Subject.String(), err)
	}
	v.cert = cert
	return v, nil
}

// Name returns the key name.
func (v *Verifier) Name() string { return v.name }

// KeyHash returns the key ID.
func (v *Verifier) KeyHash() uint32 { return v.hash }

// Algorithm returns the signature algorithm.
func (v *Verifier) Algorithm() Algorithm { return v.alg }

// PublicKey returns the public key (*rsa.PublicKey or *ecdsa.PublicKey).
func (v *Verifier) PublicKey() crypto.PublicKey { return v.pub }

// Certificate returns the certificate the Verifier was made from, or nil.
func (v *Verifier) Certificate() *x509.Certificate { return v.cert }

// Verify reports whether sig is a valid signature of msg by this key. It
// never panics.
func (v *Verifier) Verify(msg, sig []byte) bool { return v.verify(msg, sig) }

// String returns the verifier key: <name>+<key ID in hex>+<base64 of the
// encoded public key>. ParseVerifierKey reads it back.
func (v *Verifier) String() string {
	return fmt.Sprintf("%s+%08x+%s", v.name, v.hash, base64.StdEncoding.EncodeToString(v.enc))
}

// Equal reports whether v and w are the same name and public key.
func (v *Verifier) Equal(w *Verifier) bool {
	return w != nil && v.name == w.name && bytes.Equal(v.enc, w.enc)
}
