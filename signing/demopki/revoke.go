package demopki

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// RevocationReason is an RFC 5280 CRLReason code.
type RevocationReason int

// Revocation reasons this CA puts on CRLs. certificateHold is left out:
// the demo CA never un-revokes.
const (
	Unspecified          RevocationReason = 0
	KeyCompromise        RevocationReason = 1
	AffiliationChanged   RevocationReason = 3
	Superseded           RevocationReason = 4
	CessationOfOperation RevocationReason = 5
	PrivilegeWithdrawn   RevocationReason = 9
)

var reasonNames = map[RevocationReason]string{
	Unspecified:          "unspecified",
	KeyCompromise:        "key-compromise",
	AffiliationChanged:   "affiliation-changed",
	Superseded:           "superseded",
	CessationOfOperation: "cessation-of-operation",
	PrivilegeWithdrawn:   "privilege-withdrawn",
}

// ReasonNames lists the reason names ParseRevocationReason accepts.
func ReasonNames() []string {
	return []string{"unspecified", "key-compromise", "affiliation-changed", "superseded", "cessation-of-operation", "privilege-withdrawn"}
}

func (r RevocationReason) valid() bool { _, ok := reasonNames[r]; return ok }

func (r RevocationReason) String() string {
	if s, ok := reasonNames[r]; ok {
		return s
	}
	return fmt.Sprintf("reason-%d", int(r))
}

// ParseRevocationReason reads a reason name such as "key-compromise".
func ParseRevocationReason(s string) (RevocationReason, error) {
	for r, n := range reasonNames {
		if strings.EqualFold(s, n) {
			return r, nil
		}
	}
	return 0, fmt.Errorf("unknown revocation reason %q (want one of %s)", s, strings.Join(ReasonNames(), ", "))
}

// Revoke marks the certificate with this serial number revoked at time at
// (zero: now) for reason, and records it in index.json. The next CRL lists
// it. It fails for a serial this CA did not issue (ErrNotFound), a
// certificate already revoked, a time in the future or before the
// certificate's validity, and a reason outside the constants above.
func (ca *CA) Revoke(serial *big.Int, reason RevocationReason, at time.Time) error {
	if serial == nil || serial.Sign() <= 0 {
		return fmt.Errorf("demopki: revoke: serial number must be positive")
	}
	if !reason.valid() {
		return fmt.Errorf("demopki: revoke: reason %d is not one of %s", int(reason), strings.Join(ReasonNames(), ", "))
	}
	ca.mu.Lock()
	defer ca.mu.Unlock()
	now := ca.now().UTC()
	if at.IsZero() {
		at = now
	}
	at = at.UTC().Truncate(time.Second)
	i := ca.findSerial(serial)
	if i < 0 {
		return fmt.Errorf("demopki: revoke: serial %x: %w", serial, ErrNotFound)
	}
	e := ca.index[i]
	switch {
	case e.RevokedAt != nil:
		return fmt.Errorf("demopki: revoke: %s (serial %s) is already revoked since %s", e.Name, e.Serial, e.RevokedAt.Format(time.RFC3339))
	case at.After(now):
		return fmt.Errorf("demopki: revoke: time %s is in the future (now %s)", at.Format(time.RFC3339), now.Format(time.RFC3339))
	case at.Before(e.NotBefore):
		return fmt.Errorf("demopki: revoke: time %s is before the certificate's validity (from %s)", at.Format(time.RFC3339), e.NotBefore.Format(time.RFC3339))
	}
	e.RevokedAt, e.Reason = &at, reason
	idx := append([]Entry(nil), ca.index...)
	idx[i] = e
	b, err := marshalIndex(idx)
	if err == nil {
		err = replaceFile(ca.Path(IndexFile), b, 0o644)
	}
	if err != nil {
		return fmt.Errorf("demopki: revoke: recording: %w", err)
	}
	ca.index = idx
	ca.log.Info("certificate revoked", "serial", e.Serial, "name", e.Name, "reason", reason.String())
	return nil
}

// CRL signs a new CRL of the issuing CA as of now: every certificate
// revoked at or before now, ThisUpdate now, NextUpdate now plus the CRL
// validity, a CRL number one above the last. It writes it (DER) to
// issuing-ca.crl, records the number, and returns the DER.
func (ca *CA) CRL(now time.Time) ([]byte, error) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	now = now.UTC().Truncate(time.Second)
	var revoked []x509.RevocationListEntry
	for _, e := range ca.index {
		if e.Revoked(now) {
			revoked = append(revoked, x509.RevocationListEntry{
				SerialNumber:   e.serial(),
				RevocationTime: *e.RevokedAt,
				ReasonCode:     int(e.Reason),
			})
		}
	}
	st := ca.state
	st.IssuingCRLNumber++
	der, err := ca.signCRL(ca.issuing, ca.issuingKey, st.IssuingCRLNumber, revoked, now)
	if err != nil {
		return nil, err
	}
	if err := ca.saveCRL(st, IssuingCRLFile, der); err != nil {
		return nil, err
	}
	ca.log.Info("crl issued", "issuer", "issuing", "number", st.IssuingCRLNumber, "entries", len(revoked))
	return der, nil
}

// RootCRL signs a new CRL of the root CA as of now (it revokes nothing:
// the issuing CA is never revoked here), writes it to root-ca.crl and
// returns the DER. Verifiers that check every certificate below the root
// need it for the issuing CA.
func (ca *CA) RootCRL(now time.Time) ([]byte, error) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	now = now.UTC().Truncate(time.Second)
	st := ca.state
	st.RootCRLNumber++
	der, err := ca.signCRL(ca.root, ca.rootKey, st.RootCRLNumber, nil, now)
	if err != nil {
		return nil, err
	}
	if err := ca.saveCRL(st, RootCRLFile, der); err != nil {
		return nil, err
	}
	ca.log.Info("crl issued", "issuer", "root", "number", st.RootCRLNumber)
	return der, nil
}

func (ca *CA) signCRL(issuer *x509.Certificate, key crypto.Signer, number int64, revoked []x509.RevocationListEntry, now time.Time) ([]byte, error) {
	if now.Before(issuer.NotBefore) || !now.Before(issuer.NotAfter) {
		return nil, fmt.Errorf("demopki: crl: time %s is outside the validity of %s", now.Format(time.RFC3339), issuer.Subject.CommonName)
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(number),
		ThisUpdate:                now,
		NextUpdate:                now.Add(time.Duration(ca.state.CRLValidity)),
		RevokedCertificateEntries: revoked,
	}, issuer, key)
	if err != nil {
		return nil, fmt.Errorf("demopki: crl: %w", err)
	}
	return der, nil
}

// saveCRL records the new CRL number first, then writes the CRL, so that
// a crash in between can skip a number but never reuse one.
func (ca *CA) saveCRL(st caState, file string, der []byte) error {
	b, err := st.marshal()
	if err == nil {
		err = replaceFile(ca.Path(StateFile), b, 0o644)
	}
	if err != nil {
		return fmt.Errorf("demopki: crl: recording the number: %w", err)
	}
	ca.state = st
	if err := replaceFile(ca.Path(file), der, 0o644); err != nil {
		return fmt.Errorf("demopki: crl: %w", err)
	}
	return nil
}
