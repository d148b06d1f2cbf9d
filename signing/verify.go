package signing

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/beevik/etree"

	"truc.vn/truc/edoc"
)

// Policy is what a Verifier accepts beyond the fixed profile.
type Policy struct {
	// AllowSHA1 accepts rsa-sha1 and sha1 digests, for verifying legacy
	// counterparts only; Signer never produces them.
	AllowSHA1 bool
	// CRLGrace is how long past its NextUpdate a CRL still counts
	// (default 0: a CRL is stale the moment NextUpdate passes).
	CRLGrace time.Duration
	// SkipRevocation turns revocation checking off: for tests and offline
	// tools only. By default every non-root certificate must have a fresh
	// CRL and verification fails closed without one.
	SkipRevocation bool
	// Limits bound the input (zero value: edoc defaults, 16 MiB).
	Limits edoc.Limits
}

// VerifierConfig configures NewVerifier.
type VerifierConfig struct {
	// Roots are the trust anchors. Required; the system pool is never used.
	Roots []*x509.Certificate
	// Intermediates may complete chains whose KeyInfo lacks them.
	Intermediates []*x509.Certificate
	// CRLs is consulted on every verification. Required unless
	// Policy.SkipRevocation is set.
	CRLs   *CRLStore
	Policy Policy
	// Logger receives one debug record per verification (never package
	// contents). nil discards.
	Logger *slog.Logger
}

// Verifier checks signed edXML packages. It is safe for concurrent use.
type Verifier struct {
	roots         *x509.CertPool
	intermediates *x509.CertPool
	crls          *CRLStore
	policy        Policy
	log           *slog.Logger
	cache         *chainCache
}

// NewVerifier returns a Verifier for cfg.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if len(cfg.Roots) == 0 {
		return nil, errors.New("new verifier: no trust roots: VerifierConfig.Roots is required")
	}
	if cfg.CRLs == nil && !cfg.Policy.SkipRevocation {
		return nil, errors.New("new verifier: no CRLStore: revocation is checked unless Policy.SkipRevocation is set")
	}
	if cfg.Policy.CRLGrace < 0 {
		return nil, fmt.Errorf("new verifier: Policy.CRLGrace %s is negative", cfg.Policy.CRLGrace)
	}
	v := &Verifier{
		roots:         x509.NewCertPool(),
		intermediates: x509.NewCertPool(),
		crls:          cfg.CRLs,
		policy:        cfg.Policy,
		log:           cfg.Logger,
		cache:         newChainCache(),
	}
	for i, c := range cfg.Roots {
		if c == nil {
			return nil, fmt.Errorf("new verifier: Roots[%d] is nil", i)
		}
		v.roots.AddCert(c)
	}
	for i, c := range cfg.Intermediates {
		if c == nil {
			return nil, fmt.Errorf("new verifier: Intermediates[%d] is nil", i)
		}
		v.intermediates.AddCert(c)
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	return v, nil
}

// Result is a verified package.
type Result struct {
	// Element is the verified edXML root: the tree that was digested,
	// minus the Signature. Read business data only from here (pass it to
	// edoc.FromElement), never from another parse of the bytes.
	//
	// It is the same tree the digest was computed over, brought to its
	// canonical shape in place (comments removed, text they split merged,
	// namespace declarations exactly the rendered ones, attributes in
	// canonical order), so it holds precisely what re-parsing the
	// digested canonical bytes would give, without paying for that parse.
	Element *etree.Element
	// Bytes are the package bytes that were verified: the input slice
	// itself, not a copy. Store and forward these, unchanged.
	Bytes    []byte
	Signer   *x509.Certificate
	Chain    []*x509.Certificate // leaf .. root
	Evidence Evidence
}

// Evidence is what a receipt records about a verification.
type Evidence struct {
	At                 time.Time
	SignatureAlgorithm string    // URI
	DigestAlgorithm    string    // URI
	ChainSHA256        []string  // hex fingerprints, leaf .. root
	CRLs               []CRLInfo // the CRLs consulted, leaf's issuer first; empty under SkipRevocation
}

// Verify checks the signature of the edXML package pkg as of time at.
//
// It requires exactly one W3C Signature in the whole package, the last
// child element of edXMLHeader, with the profile's shape (see parseDSig):
// anything else fails, a package whose only signature is a QCVN-namespace
// one with ReasonLegacySignature. It then checks, in this order: the
// signer's certificate chains to a configured root at at (cached per leaf),
// its key usage, the revocation of every non-root certificate, the
// signature over SignedInfo, and the digest of the package. The error is
// always a *VerifyError.
//
// It does not check who the signer is allowed to be (see Bindings), nor
// anything about the package's business content.
func (v *Verifier) Verify(pkg []byte, at time.Time) (*Result, error) {
	res, verr := v.verify(pkg, at)
	if verr != nil {
		v.log.Debug("edxml signature rejected", "reason", string(verr.Reason), "detail", verr.Detail)
		return nil, verr
	}
	v.log.Debug("edxml signature verified", "signer", res.Signer.Subject.String(), "signer_sha256", res.Evidence.ChainSHA256[0], "at", at)
	return res, nil
}

func (v *Verifier) verify(pkg []byte, at time.Time) (*Result, *VerifyError) {
	if at.IsZero() {
		return nil, verifyErrorf(ReasonUntrustedChain, nil, "no verification time given")
	}
	if err := checkOutsideRoot(pkg); err != nil {
		return nil, verifyErrorf(ReasonMalformed, err, "%v", err)
	}
	doc, err := edoc.ReadTree(bytes.NewReader(pkg), v.policy.Limits)
	if err != nil {
		var lim *edoc.LimitError
		if errors.As(err, &lim) {
			return nil, verifyErrorf(ReasonTooLarge, err, "%v", err)
		}
		return nil, verifyErrorf(ReasonMalformed, err, "%v", err)
	}
	root := doc.Root()
	w3c, legacy := signatureElements(root)
	header, err := profileHeader(root)
	if err != nil {
		if se, ok := err.(*shapeError); ok && se.duplicate {
			return nil, verifyErrorf(ReasonWrapped, err, "%v", err)
		}
		return nil, verifyErrorf(ReasonMalformed, err, "%v", err)
	}
	switch {
	case len(w3c) == 0 && len(legacy) > 0:
		return nil, verifyErrorf(ReasonLegacySignature, nil, "the package is signed only in the QCVN namespace (legacy axis format), which this profile does not verify")
	case len(w3c) == 0:
		return nil, verifyErrorf(ReasonNoSignature, nil, "the package carries no XML-DSig signature")
	case len(w3c) > 1:
		return nil, verifyErrorf(ReasonWrapped, nil, "the package carries %d XML-DSig signatures: the profile allows exactly one", len(w3c))
	}
	sigEl := w3c[0]
	if sigEl.Parent() != header || lastChildElement(header) != sigEl {
		return nil, verifyErrorf(ReasonWrapped, nil, "the signature is at %s, not the last child of edXMLHeader", sigEl.GetPath())
	}
	blk, verr := parseDSig(sigEl, v.policy.AllowSHA1)
	if verr != nil {
		return nil, verr
	}

	leaf, chains, verr := v.signerChain(blk.certificates, at)
	if verr != nil {
		return nil, verr
	}
	chain := chains[0]
	var crls []CRLInfo
	if !v.policy.SkipRevocation {
		// With several paths to the roots (cross-certified CAs), the first
		// one whose certificates are all unrevoked counts.
		var first *VerifyError
		for _, ch := range chains {
			if crls, verr = v.crls.check(ch.certs, at, v.policy.CRLGrace); verr == nil {
				chain = ch
				break
			}
			if first == nil {
				first = verr
			}
		}
		if verr != nil {
			return nil, first
		}
	}

	h := blk.sigAlg.hash.New()
	if err := canonicalize(h, blk.signedInfo, c14nOptions{inclusive: blk.siPrefixes}); err != nil {
		return nil, verifyErrorf(ReasonMalformed, err, "canonicalising SignedInfo: %v", err)
	}
	if verr := checkSignature(leaf.PublicKey, blk.sigAlg, h.Sum(nil), blk.signature); verr != nil {
		return nil, verr
	}

	// The digest walk also brings the tree to its canonical shape (rewrite),
	// which is what makes Result.Element exactly the digested content.
	h = blk.digestAlg.hash.New()
	if err := canonicalize(h, root, c14nOptions{exclude: sigEl, inclusive: blk.refPrefixes, rewrite: true}); err != nil {
		return nil, verifyErrorf(ReasonMalformed, err, "canonicalising the package: %v", err)
	}
	if !bytes.Equal(h.Sum(nil), blk.digestValue) {
		return nil, verifyErrorf(ReasonDigestMismatch, nil, "the package does not match the signed digest: it changed after signing")
	}
	header.RemoveChildAt(sigEl.Index())

	ev := Evidence{
		At:                 at,
		SignatureAlgorithm: blk.sigAlg.uri,
		DigestAlgorithm:    blk.digestAlg.uri,
		ChainSHA256:        slices.Clone(chain.sha256),
		CRLs:               crls,
	}
	return &Result{Element: root, Bytes: pkg, Signer: leaf, Chain: slices.Clone(chain.certs), Evidence: ev}, nil
}

// signerChain parses the KeyInfo certificates, picks the signer's and
// returns it with its chains to a root valid at at (from the cache when
// possible), after the key-usage and key-size rules.
func (v *Verifier) signerChain(ders [][]byte, at time.Time) (*x509.Certificate, []verifiedChain, *VerifyError) {
	certs := make([]*x509.Certificate, len(ders))
	for i, der := range ders {
		c, err := v.cache.parse(der)
		if err != nil {
			return nil, nil, verifyErrorf(ReasonMalformed, err, "KeyInfo certificate %d does not parse: %v", i+1, err)
		}
		certs[i] = c
	}
	leaf := certs[pickLeaf(certs)]
	if chains := v.cache.lookup(leaf, at); len(chains) > 0 {
		return leaf, chains, nil
	}
	chains, verr := v.buildChains(leaf, certs, at)
	if verr != nil {
		return nil, nil, verr
	}
	if err := checkLeafUsage(leaf); err != nil {
		return nil, nil, verifyErrorf(ReasonKeyUsage, err, "%v", err)
	}
	switch k := leaf.PublicKey.(type) {
	case *rsa.PublicKey:
		if err := checkRSASize(k); err != nil {
			return nil, nil, verifyErrorf(ReasonAlgorithmNotAllowed, err, "signer certificate: %v", err)
		}
	case *ecdsa.PublicKey:
		if _, _, err := algorithmsFor(k); err != nil {
			return nil, nil, verifyErrorf(ReasonAlgorithmNotAllowed, err, "signer certificate: %v", err)
		}
	default:
		return nil, nil, verifyErrorf(ReasonAlgorithmNotAllowed, nil, "signer certificate has a %T key: the profile verifies RSA and ECDSA", leaf.PublicKey)
	}
	return leaf, v.cache.store(leaf, chains), nil
}

// checkSignature verifies sig over the SignedInfo digest with the
// signer's key, which must be of the kind the SignatureMethod names.
func checkSignature(pub any, sa sigAlg, digest, sig []byte) *VerifyError {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if sa.ecdsa {
			return verifyErrorf(ReasonBadSignature, nil, "SignatureMethod %s does not fit the signer's RSA key", sa.uri)
		}
		if err := rsa.VerifyPKCS1v15(k, sa.hash, digest, sig); err != nil {
			return verifyErrorf(ReasonBadSignature, err, "the SignatureValue does not verify with the signer's key")
		}
	case *ecdsa.PublicKey:
		if !sa.ecdsa {
			return verifyErrorf(ReasonBadSignature, nil, "SignatureMethod %s does not fit the signer's ECDSA key", sa.uri)
		}
		if !verifyECDSAP1363(k, digest, sig) {
			return verifyErrorf(ReasonBadSignature, nil, "the SignatureValue does not verify with the signer's key (ECDSA, r‖s encoding)")
		}
	default:
		return verifyErrorf(ReasonAlgorithmNotAllowed, nil, "signer key %T", pub)
	}
	return nil
}
