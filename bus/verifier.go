package bus

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"truc.vn/truc/edoc"
)

// Verifier checks a signed edXML package: its signature, the signer's
// certificate chain to the configured roots with revocation, and the
// signer's right to sign for the sender OrganId the package names
// (Directory.CheckSigner). The signing package provides the implementation.
// It is safe for concurrent use.
type Verifier interface {
	// Verify checks pkg as of time at and returns the package read from
	// the verified bytes only. On failure it returns a *RejectError whose
	// Reason is a stable code (signing's reason codes such as
	// "digest-mismatch", "revoked", "signer-not-bound", or a bus Reject
	// code) and changes nothing.
	Verify(ctx context.Context, pkg []byte, at time.Time) (*Verified, error)
}

// Verified is what a successful verification established.
type Verified struct {
	// Package is read from the verified tree; routing data comes from here
	// and nowhere else.
	Package *edoc.Package
	// Chain is the signer's certificate chain, signer first.
	Chain []*x509.Certificate
	// Evidence is what the verification relied on, for the log.
	Evidence Evidence
}

// Rejection codes the bus itself gives, in addition to the signing reason
// codes a Verifier returns. Stable wire values (Event.Reason rules).
const (
	RejectMalformed         = "malformed"          // the record or package cannot be read
	RejectInvalid           = "invalid-package"    // the package breaks an edXML rule (edoc.Validate error)
	RejectTooLarge          = "too-large"          // over the size limit
	RejectHeaderMismatch    = "header-mismatch"    // the routing headers disagree with the verified package
	RejectUnknownSender     = "unknown-sender"     // the sender OrganId is not in the directory, or inactive
	RejectUnknownRecipient  = "unknown-recipient"  // a recipient OrganId is not in the directory, or inactive
	RejectUnknownDocument   = "unknown-document"   // a status about a document the axis never routed
	RejectNotParticipant    = "not-a-participant"  // a status from an agency that is not party to the document
	RejectStatusDirection   = "status-direction"   // a status code that may not travel in that direction
	RejectUnknownEdge       = "unknown-edge"       // a rejection notice or ack from an edge not in the directory
	RejectBadNotice         = "bad-notice"         // a rejection notice whose signature does not verify
	RejectWrongEdge         = "wrong-edge"         // a sender served by another edge than the one that sent it
	RejectSignerNotBound    = "signer-not-bound"   // the certificate is not registered for the sender OrganId
	RejectVerificationError = "verification-error" // verification could not run (a bug or a missing CRL source)
)

// RejectCRLUnavailable is signing's reason for a verification that found
// no usable CRL (missing, or stale past its grace period).
const RejectCRLUnavailable = "crl-unavailable"

// Transient reports whether a rejection reason says more about this node
// than about the package: verification could not run, or the CRLs it needs
// are missing or stale. Such a package is retried, never rejected for good
// (its SHA-256 would otherwise be answered with the rejection for ever).
func Transient(reason string) bool {
	return reason == RejectVerificationError || reason == RejectCRLUnavailable
}

// RejectError is why a package was refused: a stable Reason code (see the
// Reject constants and signing's reason codes), the Field it concerns when
// there is one, and a short human Detail that never quotes package content
// beyond identifiers.
type RejectError struct {
	Reason string
	Field  string
	Detail string
	Err    error
}

func (e *RejectError) Error() string {
	s := e.Reason
	if e.Field != "" {
		s += ": " + e.Field
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

func (e *RejectError) Unwrap() error { return e.Err }

// Reject returns a *RejectError.
func Reject(reason, field, format string, args ...any) *RejectError {
	return &RejectError{Reason: reason, Field: field, Detail: fmt.Sprintf(format, args...)}
}

// AsReject returns err as a *RejectError, wrapping any other error as
// RejectVerificationError.
func AsReject(err error) *RejectError {
	var re *RejectError
	if errors.As(err, &re) {
		return re
	}
	return &RejectError{Reason: RejectVerificationError, Detail: err.Error(), Err: err}
}
