package signing

import "fmt"

// Reason is the stable, machine-readable cause of a verification failure.
// It travels in receipts and API responses: the values never change once
// released; new ones may be added.
type Reason string

// Verification failure reasons.
const (
	ReasonNoSignature         Reason = "no-signature"          // no signature block at all
	ReasonMalformed           Reason = "malformed"             // not XML, or a signature block that breaks the profile's shape
	ReasonTooLarge            Reason = "too-large"             // over a size, depth or element limit
	ReasonAlgorithmNotAllowed Reason = "algorithm-not-allowed" // digest, signature or c14n algorithm outside the allow-list
	ReasonDigestMismatch      Reason = "digest-mismatch"       // the signed content changed after signing
	ReasonBadSignature        Reason = "bad-signature"         // SignatureValue does not verify with the signer's key
	ReasonWrapped             Reason = "wrapped"               // signature misplaced, duplicated or referencing something else
	ReasonUntrustedChain      Reason = "untrusted-chain"       // the signer's certificate does not chain to a configured root
	ReasonExpired             Reason = "expired"               // a certificate in the chain had expired at the verification time
	ReasonNotYetValid         Reason = "not-yet-valid"         // a certificate in the chain was not yet valid at the verification time
	ReasonRevoked             Reason = "revoked"               // a certificate in the chain was revoked at the verification time
	ReasonCRLUnavailable      Reason = "crl-unavailable"       // no usable CRL (missing, stale past the grace period, or badly signed)
	ReasonKeyUsage            Reason = "key-usage"             // the signer's certificate may not sign documents
	ReasonLegacySignature     Reason = "legacy-signature"      // a signature in the QCVN namespace as the existing axis writes it
	ReasonSignerNotBound      Reason = "signer-not-bound"      // the certificate is not registered for the sender OrganId
)

// VerifyError is the error every verification failure returns. Reason is
// stable and meant for machines; Detail is a human explanation that never
// contains key material.
type VerifyError struct {
	Reason Reason
	Detail string
	Err    error // underlying cause, if any; not for display outside the process
}

func (e *VerifyError) Error() string {
	if e.Detail == "" {
		return "signature verification: " + string(e.Reason)
	}
	return fmt.Sprintf("signature verification: %s: %s", e.Reason, e.Detail)
}

func (e *VerifyError) Unwrap() error { return e.Err }

func verifyErrorf(r Reason, err error, format string, args ...any) *VerifyError {
	return &VerifyError{Reason: r, Detail: fmt.Sprintf(format, args...), Err: err}
}
