package signing

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"software.sslmate.com/src/go-pkcs12"
)

// Key source errors.
var (
	// ErrEncryptedKey is returned for a password-protected PEM private key
	// (an "ENCRYPTED PRIVATE KEY" block or a legacy Proc-Type: 4,ENCRYPTED
	// block). Decrypt it first or put it in a .p12 file.
	ErrEncryptedKey = errors.New("encrypted PEM private keys are not supported: decrypt it (openssl pkey -in KEY -out PLAIN) or use a .p12 file")

	// ErrKeyNotAllowed is returned for a key that may not sign edXML
	// packages: RSA below 2048 bits, an ECDSA curve other than P-256, P-384
	// or P-521, Ed25519, or any other algorithm.
	ErrKeyNotAllowed = errors.New("key may not sign edXML packages")
)

// MinRSABits is the smallest RSA modulus accepted for signing. It may rise
// in a later release, never fall.
const MinRSABits = 2048

// maxKeyFileBytes caps key, certificate and .p12 input. Real files are a
// few kilobytes; certificate bundles a few hundred.
const maxKeyFileBytes = 4 << 20

// ParsePrivateKeyPEM returns the one private key in b as a crypto.Signer.
// It accepts PKCS#1 ("RSA PRIVATE KEY"), PKCS#8 ("PRIVATE KEY") and SEC1
// ("EC PRIVATE KEY") blocks; CERTIFICATE and "EC PARAMETERS" blocks in the
// same input are skipped, so a combined key-and-chain file works. The key
// must be RSA of at least MinRSABits or ECDSA on P-256, P-384 or P-521:
// anything else (Ed25519 included) fails with ErrKeyNotAllowed.
//
// It does not check that the key matches any certificate; NewSigner does.
func ParsePrivateKeyPEM(b []byte) (crypto.Signer, error) {
	if len(b) > maxKeyFileBytes {
		return nil, fmt.Errorf("private key PEM: input of %d bytes exceeds the %d-byte limit", len(b), maxKeyFileBytes)
	}
	var (
		key   crypto.Signer
		found int
		rest  = b
	)
	for n := 1; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch block.Type {
		case "CERTIFICATE", "EC PARAMETERS":
			continue
		case "ENCRYPTED PRIVATE KEY":
			return nil, fmt.Errorf("private key PEM: block %d: %w", n, ErrEncryptedKey)
		case "RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY":
		case "PUBLIC KEY", "RSA PUBLIC KEY":
			return nil, fmt.Errorf("private key PEM: block %d is a %s, not a private key", n, block.Type)
		default:
			return nil, fmt.Errorf("private key PEM: block %d has unsupported type %q (want PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)", n, block.Type)
		}
		if _, ok := block.Headers["Proc-Type"]; ok {
			return nil, fmt.Errorf("private key PEM: block %d: %w", n, ErrEncryptedKey)
		}
		found++
		if found > 1 {
			return nil, fmt.Errorf("private key PEM: block %d is a second private key; a key file must hold exactly one", n)
		}
		k, err := parsePrivateKeyDER(block.Type, block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("private key PEM: block %d (%s): %w", n, block.Type, err)
		}
		key = k
	}
	if found == 0 {
		if len(bytes.TrimSpace(b)) > 0 && !bytes.Contains(b, []byte("-----BEGIN")) {
			return nil, errors.New("private key PEM: no PEM block found (DER input? convert it with openssl pkey -inform der)")
		}
		return nil, errors.New("private key PEM: no private key block found")
	}
	return key, nil
}

func parsePrivateKeyDER(blockType string, der []byte) (crypto.Signer, error) {
	var (
		k   any
		err error
	)
	switch blockType {
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(der)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(der)
	default:
		k, err = x509.ParsePKCS8PrivateKey(der)
	}
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: %T is not a signing key", ErrKeyNotAllowed, k)
	}
	if err := checkSignerKey(s.Public()); err != nil {
		return nil, err
	}
	return s, nil
}

// checkSignerKey enforces the key algorithms and sizes allowed for signing
// edXML: RSA of at least MinRSABits, ECDSA on P-256, P-384 or P-521.
func checkSignerKey(pub crypto.PublicKey) error {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if bits := p.N.BitLen(); bits < MinRSABits {
			return fmt.Errorf("%w: RSA key of %d bits is below the %d-bit minimum", ErrKeyNotAllowed, bits, MinRSABits)
		}
		return nil
	case *ecdsa.PublicKey:
		switch p.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return nil
		}
		return fmt.Errorf("%w: ECDSA curve %s is not P-256, P-384 or P-521", ErrKeyNotAllowed, p.Curve.Params().Name)
	case ed25519.PublicKey:
		return fmt.Errorf("%w: Ed25519 has no XML-DSig profile in edXML; use RSA or ECDSA", ErrKeyNotAllowed)
	default:
		return fmt.Errorf("%w: unsupported public key type %T", ErrKeyNotAllowed, pub)
	}
}

// ParseCertificatesPEM returns every CERTIFICATE block in b, in file order.
// Private key and "EC PARAMETERS" blocks are skipped (a combined key file
// is fine); any other block type is an error, as is input with no
// certificate. It checks nothing about the certificates beyond parsing.
func ParseCertificatesPEM(b []byte) ([]*x509.Certificate, error) {
	if len(b) > maxKeyFileBytes {
		return nil, fmt.Errorf("certificate PEM: input of %d bytes exceeds the %d-byte limit", len(b), maxKeyFileBytes)
	}
	var (
		certs []*x509.Certificate
		rest  = b
	)
	for n := 1; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch block.Type {
		case "CERTIFICATE":
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "EC PARAMETERS":
			continue
		default:
			return nil, fmt.Errorf("certificate PEM: block %d has unsupported type %q (want CERTIFICATE)", n, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate PEM: block %d: %w", n, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		if len(bytes.TrimSpace(b)) > 0 && !bytes.Contains(b, []byte("-----BEGIN")) {
			return nil, errors.New("certificate PEM: no PEM block found (DER input? convert it with openssl x509 -inform der)")
		}
		return nil, errors.New("certificate PEM: no CERTIFICATE block found")
	}
	return certs, nil
}

// LoadPKCS12 decodes a PKCS#12 (.p12/.pfx) file and returns its private key
// and certificate chain: chain[0] is the certificate whose public key
// matches the key, followed by the CA certificates of the file that lie on
// its issuing path, nearest issuer first. Self-signed certificates (roots)
// and certificates off the path are left out: trust anchors come from the
// verifier's configuration, never from a key file.
//
// Files made by OpenSSL 3 (default and -legacy), Windows and go-pkcs12 are
// read. A file without MAC nor encryption loads only with an empty
// password: it protects the key no better than a plain PEM file. It does not check validity dates,
// key usage or trust. The key must pass the same algorithm rules as
// ParsePrivateKeyPEM.
func LoadPKCS12(data []byte, password string) (crypto.Signer, []*x509.Certificate, error) {
	if len(data) > maxKeyFileBytes {
		return nil, nil, fmt.Errorf("pkcs12: input of %d bytes exceeds the %d-byte limit", len(data), maxKeyFileBytes)
	}
	k, first, cas, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		if errors.Is(err, pkcs12.ErrIncorrectPassword) {
			return nil, nil, errors.New("pkcs12: wrong password (or a corrupted file)")
		}
		return nil, nil, fmt.Errorf("pkcs12: %w", err)
	}
	key, ok := k.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("pkcs12: %w: %T is not a signing key", ErrKeyNotAllowed, k)
	}
	if err := checkSignerKey(key.Public()); err != nil {
		return nil, nil, fmt.Errorf("pkcs12: %w", err)
	}
	chain, err := ChainForKey(key.Public(), append([]*x509.Certificate{first}, cas...))
	if err != nil {
		return nil, nil, fmt.Errorf("pkcs12: %w", err)
	}
	return key, chain, nil
}

// ChainForKey returns the chain to put in a signature for the key pub:
// the certificate among certs whose public key is pub, then its issuers
// among certs (subject name match and a valid signature), nearest first.
// Self-signed certificates (roots) end the walk and are left out, as are
// certificates off the path; certs may come in any order and from several
// sources (a key file, a token, a chain file). It fails when no
// certificate matches pub. It checks no dates, usages or trust.
func ChainForKey(pub crypto.PublicKey, certs []*x509.Certificate) ([]*x509.Certificate, error) {
	var leaf *x509.Certificate
	for _, c := range certs {
		if c != nil && publicKeysEqual(pub, c.PublicKey) {
			leaf = c
			break
		}
	}
	if leaf == nil {
		return nil, errors.New("no certificate matches the private key")
	}
	chain := []*x509.Certificate{leaf}
	used := map[*x509.Certificate]bool{leaf: true}
	for cur := leaf; ; {
		var next *x509.Certificate
		for _, c := range certs {
			if c != nil && !used[c] && bytes.Equal(cur.RawIssuer, c.RawSubject) && cur.CheckSignatureFrom(c) == nil {
				next = c
				break
			}
		}
		if next == nil || isSelfSigned(next) {
			return chain, nil
		}
		used[next] = true
		chain = append(chain, next)
		cur = next
	}
}

func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

// publicKeysEqual reports whether a and b are the same public key.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	ak, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ak.Equal(b)
}
