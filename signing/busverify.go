package signing

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"truc.vn/truc/bus"
	"truc.vn/truc/edoc"
)

// senderField is where a package names its sender, for rejections about
// the sender (edoc.Problem path style; documents and statuses alike).
const senderField = "MessageHeader/From/OrganId"

// BusVerifier is the bus.Verifier of the axis and of every edge: the
// signature and chain (Verifier.Verify), then the package read from the
// verified tree only (edoc.FromElement) and its edXML rules
// (Package.Validate), then the sender: an active agency of the directory
// whose binding admits the signer (bus.Directory.CheckSigner). It is safe
// for concurrent use.
//
// It does not check recipients, routing headers or duplicates: the bus
// does, with the Verified package.
type BusVerifier struct {
	v   *Verifier
	dir bus.Directory
}

var _ bus.Verifier = (*BusVerifier)(nil)

// NewBusVerifier returns a bus.Verifier over v and dir. The input limits
// are v's (Policy.Limits).
func NewBusVerifier(v *Verifier, dir bus.Directory) (*BusVerifier, error) {
	if v == nil {
		return nil, errors.New("new bus verifier: no Verifier")
	}
	if dir == nil {
		return nil, errors.New("new bus verifier: no Directory")
	}
	return &BusVerifier{v: v, dir: dir}, nil
}

// Verify checks pkg as of time at (see BusVerifier). Every error is a
// *bus.RejectError:
//
//   - a signature or chain failure: Reason is the signing Reason
//     ("digest-mismatch", "revoked", ...), wrapping the *VerifyError;
//   - a package that is not edXML or breaks an edXML rule:
//     bus.RejectInvalid, Field the problem's path, Detail "rule: message"
//     of the first error (warnings do not count);
//   - a sender OrganId that is not in the directory, or inactive:
//     bus.RejectUnknownSender;
//   - a signer not bound to the sender: the directory's
//     bus.RejectSignerNotBound;
//   - ctx done, or evidence that cannot be recorded:
//     bus.RejectVerificationError.
//
// Details are clipped to bus.MaxDetailLen bytes and stripped of control
// characters, so that they always fit an event.
func (b *BusVerifier) Verify(ctx context.Context, pkg []byte, at time.Time) (*bus.Verified, error) {
	if err := ctx.Err(); err != nil {
		return nil, &bus.RejectError{Reason: bus.RejectVerificationError, Detail: "verification cancelled: " + err.Error(), Err: err}
	}
	res, err := b.v.Verify(pkg, at)
	if err != nil {
		var ve *VerifyError
		if errors.As(err, &ve) {
			return nil, &bus.RejectError{Reason: string(ve.Reason), Detail: detail(ve.Detail), Err: err}
		}
		return nil, &bus.RejectError{Reason: bus.RejectVerificationError, Detail: detail(err.Error()), Err: err}
	}
	p, err := edoc.FromElement(res.Element)
	if err != nil {
		var pe *edoc.ParseError
		if errors.As(err, &pe) {
			return nil, &bus.RejectError{Reason: bus.RejectInvalid, Field: pe.Path, Detail: detail(pe.Rule + ": " + pe.Msg), Err: err}
		}
		return nil, &bus.RejectError{Reason: bus.RejectInvalid, Detail: detail(err.Error()), Err: err}
	}
	if re := firstError(p.Validate()); re != nil {
		return nil, re
	}
	sender := p.Sender()
	a, ok := b.dir.Agency(sender)
	switch {
	case !ok:
		return nil, bus.Reject(bus.RejectUnknownSender, senderField, "OrganId %s is not in the directory", sender)
	case !a.Active:
		return nil, bus.Reject(bus.RejectUnknownSender, senderField, "OrganId %s is inactive in the directory", sender)
	}
	if err := b.dir.CheckSigner(sender, res.Chain, at); err != nil {
		re := *bus.AsReject(err) // a copy: the directory's error is not ours to change
		if re.Field == "" {
			re.Field = senderField
		}
		re.Detail = detail(re.Detail)
		return nil, &re
	}
	ev, err := busEvidence(res.Evidence)
	if err != nil {
		return nil, &bus.RejectError{Reason: bus.RejectVerificationError, Detail: detail(err.Error()), Err: err}
	}
	return &bus.Verified{Package: p, Chain: res.Chain, Evidence: ev}, nil
}

// firstError returns the first Error-severity problem as a rejection, nil
// when there is none.
func firstError(problems []edoc.Problem) *bus.RejectError {
	var first *edoc.Problem
	n := 0
	for i := range problems {
		if problems[i].Severity != edoc.Error {
			continue
		}
		if first == nil {
			first = &problems[i]
		}
		n++
	}
	if first == nil {
		return nil
	}
	d := first.Rule + ": " + first.Message
	if n > 1 {
		d += fmt.Sprintf(" (and %d more errors)", n-1)
	}
	return &bus.RejectError{Reason: bus.RejectInvalid, Field: first.Path, Detail: detail(d)}
}

// busEvidence converts signing's evidence into the bus's. A CRL without a
// CRL number (RFC 5280 requires one; a few CAs omit it) cannot be named
// in bus evidence and is left out.
func busEvidence(e Evidence) (bus.Evidence, error) {
	ev := bus.Evidence{VerifiedAt: e.At}
	for i, h := range e.ChainSHA256 {
		sum, err := hex32(h)
		if err != nil {
			return bus.Evidence{}, fmt.Errorf("evidence: chain certificate %d: %w", i, err)
		}
		ev.Chain = append(ev.Chain, sum)
	}
	for i, c := range e.CRLs {
		if c.Number == "" {
			continue
		}
		sum, err := hex32(c.IssuerSHA256)
		if err != nil {
			return bus.Evidence{}, fmt.Errorf("evidence: CRL %d issuer: %w", i, err)
		}
		ev.CRLs = append(ev.CRLs, bus.CRLEvidence{Issuer: sum, Number: c.Number})
	}
	if len(ev.Chain) > bus.MaxChainLen {
		return bus.Evidence{}, fmt.Errorf("evidence: a chain of %d certificates exceeds the %d the bus records", len(ev.Chain), bus.MaxChainLen)
	}
	if len(ev.CRLs) > bus.MaxCRLs {
		return bus.Evidence{}, fmt.Errorf("evidence: %d CRLs exceed the %d the bus records", len(ev.CRLs), bus.MaxCRLs)
	}
	return ev, nil
}

func hex32(s string) ([32]byte, error) {
	var sum [32]byte
	if len(s) != 2*len(sum) {
		return sum, fmt.Errorf("want a SHA-256 as 64 hex digits, got %d characters", len(s))
	}
	if _, err := hex.Decode(sum[:], []byte(s)); err != nil {
		return sum, errors.New("want a SHA-256 as 64 hex digits")
	}
	return sum, nil
}

// detail makes s fit bus.Event.Detail: valid UTF-8 without control
// characters (each replaced by a space), at most bus.MaxDetailLen bytes.
func detail(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) <= bus.MaxDetailLen {
		return s
	}
	cut := bus.MaxDetailLen - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
