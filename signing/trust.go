package signing

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"sync"
	"time"
)

// oidDocumentSigning is id-kp-documentSigning (RFC 9336).
var oidDocumentSigning = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 36}

// checkLeafUsage is the key-usage rule for a certificate that signs edXML:
//
//   - it must not be a CA certificate (basicConstraints cA);
//   - the KeyUsage extension must be present and allow digitalSignature or
//     contentCommitment (nonRepudiation);
//   - if the certificate has an ExtendedKeyUsage extension, it must allow
//     id-kp-documentSigning (RFC 9336), emailProtection (what government
//     personal tokens carry) or anyExtendedKeyUsage. serverAuth,
//     clientAuth, codeSigning, timeStamping and OCSPSigning alone are not
//     enough: those keys are for other jobs.
func checkLeafUsage(c *x509.Certificate) error {
	// A CA certificate is not an agency's: pickLeaf falls back to one only
	// when KeyInfo holds nothing else (red-team finding, TestRedteamCASigner).
	if c.BasicConstraintsValid && c.IsCA {
		return fmt.Errorf("certificate %q is a CA certificate: documents are signed by end-entity certificates", c.Subject)
	}
	if c.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		return fmt.Errorf("certificate %q has no digitalSignature or contentCommitment key usage", c.Subject)
	}
	if len(c.ExtKeyUsage) == 0 && len(c.UnknownExtKeyUsage) == 0 {
		return nil
	}
	for _, u := range c.ExtKeyUsage {
		if u == x509.ExtKeyUsageAny || u == x509.ExtKeyUsageEmailProtection {
			return nil
		}
	}
	for _, oid := range c.UnknownExtKeyUsage {
		if oid.Equal(oidDocumentSigning) {
			return nil
		}
	}
	return fmt.Errorf("certificate %q has an extended key usage without documentSigning, emailProtection or any", c.Subject)
}

// Cache bounds. Entries are small (a few certificates); the bound only
// stops a flood of distinct certificates from growing memory without end.
const (
	maxCachedCerts  = 4096
	maxCachedChains = 4096
)

// chainCache remembers the chains x509.Verify built for a leaf, and the
// parsed certificates of those chains (by SHA-256 of the DER, so that the
// KeyInfo of the next package from the same signer is not parsed again;
// certificates that never made it into a verified chain are not kept, so
// hostile input cannot fill the cache). A chain is reused only at times
// inside its validity window (latest NotBefore .. earliest NotAfter), so an
// expiry is never missed. Revocation is not cached: it is looked up in the
// CRLStore on every verification (an O(1) map lookup, the CRL signatures
// having been checked once when loaded), so a newly loaded CRL takes
// effect at once and nothing needs invalidating.
type chainCache struct {
	mu     sync.RWMutex
	certs  map[[32]byte]*x509.Certificate
	chains map[[32]byte][]verifiedChain
}

// verifiedChain is one path from a leaf to a root, with what evidence and
// the cache need about it.
type verifiedChain struct {
	certs     []*x509.Certificate // leaf .. root
	sha256    []string            // hex SHA-256 fingerprints, same order
	notBefore time.Time           // latest NotBefore of the chain
	notAfter  time.Time           // earliest NotAfter of the chain
}

func newChainCache() *chainCache {
	return &chainCache{
		certs:  make(map[[32]byte]*x509.Certificate),
		chains: make(map[[32]byte][]verifiedChain),
	}
}

// parse returns the certificate for der: the cached one if der belongs to
// a verified chain, else a fresh parse.
func (c *chainCache) parse(der []byte) (*x509.Certificate, error) {
	key := sha256.Sum256(der)
	c.mu.RLock()
	cert := c.certs[key]
	c.mu.RUnlock()
	if cert != nil {
		return cert, nil
	}
	return x509.ParseCertificate(der)
}

// lookup returns the cached chains of leaf that are valid at at.
func (c *chainCache) lookup(leaf *x509.Certificate, at time.Time) []verifiedChain {
	key := sha256.Sum256(leaf.Raw)
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []verifiedChain
	for _, ch := range c.chains[key] {
		if !at.Before(ch.notBefore) && !at.After(ch.notAfter) {
			out = append(out, ch)
		}
	}
	return out
}

// store caches the chains x509.Verify returned for leaf and returns them
// as verifiedChains.
func (c *chainCache) store(leaf *x509.Certificate, chains [][]*x509.Certificate) []verifiedChain {
	entry := make([]verifiedChain, 0, len(chains))
	for _, ch := range chains {
		vc := verifiedChain{certs: ch, notBefore: ch[0].NotBefore, notAfter: ch[0].NotAfter}
		for _, cert := range ch {
			vc.sha256 = append(vc.sha256, Fingerprint(cert))
			if cert.NotBefore.After(vc.notBefore) {
				vc.notBefore = cert.NotBefore
			}
			if cert.NotAfter.Before(vc.notAfter) {
				vc.notAfter = cert.NotAfter
			}
		}
		entry = append(entry, vc)
	}
	key := sha256.Sum256(leaf.Raw)
	c.mu.Lock()
	defer c.mu.Unlock()
	evictOne(c.chains, maxCachedChains)
	c.chains[key] = entry
	for _, ch := range chains {
		for _, cert := range ch {
			evictOne(c.certs, maxCachedCerts)
			c.certs[sha256.Sum256(cert.Raw)] = cert
		}
	}
	return entry
}

// evictOne deletes an arbitrary entry when m is full. Map iteration order
// is random, which is eviction policy enough for a cache whose misses only
// cost time.
func evictOne[V any](m map[[32]byte]V, max int) {
	if len(m) < max {
		return
	}
	for k := range m {
		delete(m, k)
		return
	}
}

// pickLeaf returns the signer's certificate among the KeyInfo ones: the
// first that is not a CA, else the first. The profile writes the leaf
// first, but some producers put the intermediates first (signing-stack
// note §1.4-1); the choice is safe either way because the chosen
// certificate's key must verify the signature and its chain must verify.
func pickLeaf(certs []*x509.Certificate) int {
	for i, c := range certs {
		if !(c.BasicConstraintsValid && c.IsCA) {
			return i
		}
	}
	return 0
}

// buildChains verifies leaf to the roots at at, with the configured
// intermediates and the ones from KeyInfo, and keeps the chains whose CA
// certificates may sign certificates.
func (v *Verifier) buildChains(leaf *x509.Certificate, supplied []*x509.Certificate, at time.Time) ([][]*x509.Certificate, *VerifyError) {
	pool := v.intermediates.Clone()
	for _, c := range supplied {
		if c != leaf {
			pool.AddCert(c)
		}
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots:         v.roots,
		Intermediates: pool,
		CurrentTime:   at,
		// The default is serverAuth; document-signing certificates fail
		// it. Key usage is checked by checkLeafUsage instead.
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		var inv x509.CertificateInvalidError
		if errors.As(err, &inv) && inv.Reason == x509.Expired {
			if inv.Cert != nil && at.Before(inv.Cert.NotBefore) {
				return nil, verifyErrorf(ReasonNotYetValid, err, "certificate %q is not valid before %s", inv.Cert.Subject, inv.Cert.NotBefore.UTC().Format(time.RFC3339))
			}
			name, when := "a certificate in the chain", ""
			if inv.Cert != nil {
				name, when = fmt.Sprintf("certificate %q", inv.Cert.Subject), " on "+inv.Cert.NotAfter.UTC().Format(time.RFC3339)
			}
			return nil, verifyErrorf(ReasonExpired, err, "%s expired%s", name, when)
		}
		return nil, verifyErrorf(ReasonUntrustedChain, err, "certificate %q does not chain to a configured root", leaf.Subject)
	}
	good := chains[:0]
	for _, ch := range chains {
		if caUsageOK(ch) {
			good = append(good, ch)
		}
	}
	if len(good) == 0 {
		return nil, verifyErrorf(ReasonUntrustedChain, nil, "certificate %q chains only through a CA without the keyCertSign key usage", leaf.Subject)
	}
	return good, nil
}

// caUsageOK reports whether every issuer in chain that has a KeyUsage
// extension allows keyCertSign (RFC 5280 §4.2.1.3; Go does not check it),
// and whether every issuer that has an ExtendedKeyUsage extension allows
// document signing (any, emailProtection or documentSigning, as the leaf
// must): a CA constrained to, say, serverAuth may not vouch for document
// signers. Go checks this nesting only for the usages asked of Verify, and
// not at all for ExtKeyUsageAny, which buildChains must ask for (red-team
// finding, TestRedteamEKUConstrainedCA).
func caUsageOK(chain []*x509.Certificate) bool {
	for _, c := range chain[1:] {
		if c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCertSign == 0 {
			return false
		}
		if (len(c.ExtKeyUsage) > 0 || len(c.UnknownExtKeyUsage) > 0) && !allowsDocumentSigning(c) {
			return false
		}
	}
	return true
}

// allowsDocumentSigning reports whether c's ExtendedKeyUsage extension
// names anyExtendedKeyUsage, emailProtection or documentSigning.
func allowsDocumentSigning(c *x509.Certificate) bool {
	for _, u := range c.ExtKeyUsage {
		if u == x509.ExtKeyUsageAny || u == x509.ExtKeyUsageEmailProtection {
			return true
		}
	}
	for _, oid := range c.UnknownExtKeyUsage {
		if oid.Equal(oidDocumentSigning) {
			return true
		}
	}
	return false
}

// Fingerprint returns the SHA-256 of the certificate's DER as lowercase hex:
// the form bindings files, evidence and the CLI use.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return fmt.Sprintf("%x", sum[:])
}
