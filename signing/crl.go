package signing

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"sync"
	"time"
)

// maxCRLSize caps a CRL read from a file or URL. A 100,000-entry CRL is
// about 5 MB.
const maxCRLSize = 32 << 20

// ErrCRLNotNewer is returned by CRLStore.Add for a CRL that is not newer
// (by CRL number, or ThisUpdate when a number is missing) than the one
// already held for the same issuer. The store is unchanged. Adding the
// very same CRL again is not an error.
var ErrCRLNotNewer = errors.New("CRL is not newer than the one held for its issuer")

// CRLInfo describes a CRL held by a CRLStore. It goes into verification
// evidence.
type CRLInfo struct {
	Issuer       string    // issuer distinguished name
	IssuerSHA256 string    // hex SHA-256 of the issuer certificate that verified the CRL's signature
	Number       string    // CRL number in decimal; empty if the CRL has none
	ThisUpdate   time.Time //
	NextUpdate   time.Time //
}

// CRLStore holds at most one CRL per issuer (the newest), each verified
// against its issuer's signature once, when added, and indexed by serial
// number. It is safe for concurrent use; Verifiers read it on every
// verification, so a CRL added or replaced takes effect at once.
type CRLStore struct {
	mu   sync.RWMutex
	byCA map[[32]byte]*heldCRL // key: issuerKey of the CA
}

type heldCRL struct {
	info    CRLInfo
	number  *big.Int
	sum     [32]byte            // SHA-256 of the DER, to recognise a re-add
	der     []byte              // the CRL as added, to hand on (DER)
	revoked map[string]revEntry // key: serial number bytes
}

type revEntry struct {
	at     time.Time
	reason int
}

// NewCRLStore returns an empty store.
func NewCRLStore() *CRLStore {
	return &CRLStore{byCA: make(map[[32]byte]*heldCRL)}
}

// DER returns the CRLs held, one per CA, as DER: what the axis serves to
// edges that have no access to the CAs' distribution points.
func (s *CRLStore) DER() [][]byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([][]byte, 0, len(s.byCA))
	for _, h := range s.byCA {
		out = append(out, bytes.Clone(h.der))
	}
	return out
}

// issuerKey identifies a CA by name and public key, so that a CRL applies
// to every certificate of the same CA (re-issued or cross-certified CA
// certificates share both).
func issuerKey(ca *x509.Certificate) [32]byte {
	h := sha256.New()
	h.Write(ca.RawSubject)
	h.Write(ca.RawSubjectPublicKeyInfo)
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// Critical CRL extensions this store understands: the CRL number and the
// authority key identifier are not critical in practice; an issuing
// distribution point (partitioned or indirect CRL) or a delta-CRL
// indicator changes what the CRL covers, so such CRLs are refused.
var (
	oidCRLNumber        = asn1.ObjectIdentifier{2, 5, 29, 20}
	oidAuthorityKeyID   = asn1.ObjectIdentifier{2, 5, 29, 35}
	oidEntryReasonCode  = asn1.ObjectIdentifier{2, 5, 29, 21}
	oidEntryInvalidDate = asn1.ObjectIdentifier{2, 5, 29, 24}
)

// Add parses a DER CRL, checks its signature against the one of issuers
// whose subject matches the CRL's issuer, indexes its serial numbers and
// holds it as the CRL of that CA. now is the caller's clock: a CRL whose
// ThisUpdate lies after now is refused (it cannot have been issued yet).
// A CRL past its NextUpdate is accepted: whether it is still usable is
// decided at verification time against Policy.CRLGrace.
//
// It refuses CRLs without NextUpdate, delta CRLs and CRLs with other
// unknown critical extensions (including issuing distribution points,
// since partitioned CRLs would cover only part of the CA's certificates).
// It replaces the CRL held for the same CA only with a newer one; an older
// or equal one returns ErrCRLNotNewer, except that re-adding the same
// bytes is a no-op that returns the held CRL's info.
func (s *CRLStore) Add(der []byte, issuers []*x509.Certificate, now time.Time) (*CRLInfo, error) {
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("adding CRL: %w", err)
	}
	var ca *x509.Certificate
	var sigErr error
	for _, c := range issuers {
		if c == nil || !bytes.Equal(c.RawSubject, crl.RawIssuer) {
			continue
		}
		if sigErr = crl.CheckSignatureFrom(c); sigErr == nil {
			ca = c
			break
		}
	}
	if ca == nil {
		if sigErr != nil {
			return nil, fmt.Errorf("adding CRL of %q: signature: %w", crl.Issuer, sigErr)
		}
		return nil, fmt.Errorf("adding CRL of %q: no issuer certificate with that subject among the %d given", crl.Issuer, len(issuers))
	}
	for _, e := range crl.Extensions {
		if e.Critical && !e.Id.Equal(oidCRLNumber) && !e.Id.Equal(oidAuthorityKeyID) {
			return nil, fmt.Errorf("adding CRL of %q: unsupported critical extension %s (delta, partitioned or indirect CRLs are not supported)", crl.Issuer, e.Id)
		}
	}
	if crl.NextUpdate.IsZero() {
		return nil, fmt.Errorf("adding CRL of %q: it has no nextUpdate, so its freshness cannot be judged", crl.Issuer)
	}
	if crl.ThisUpdate.After(now) {
		return nil, fmt.Errorf("adding CRL of %q: thisUpdate %s is after now (%s)", crl.Issuer, crl.ThisUpdate.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	held := &heldCRL{
		info: CRLInfo{
			Issuer:       crl.Issuer.String(),
			IssuerSHA256: Fingerprint(ca),
			ThisUpdate:   crl.ThisUpdate,
			NextUpdate:   crl.NextUpdate,
		},
		number:  crl.Number,
		sum:     sha256.Sum256(der),
		der:     bytes.Clone(der),
		revoked: make(map[string]revEntry, len(crl.RevokedCertificateEntries)),
	}
	if crl.Number != nil {
		held.info.Number = crl.Number.String()
	}
	for _, e := range crl.RevokedCertificateEntries {
		for _, x := range e.Extensions {
			if x.Critical && !x.Id.Equal(oidEntryReasonCode) && !x.Id.Equal(oidEntryInvalidDate) {
				return nil, fmt.Errorf("adding CRL of %q: entry %s has unsupported critical extension %s (indirect CRLs are not supported)", crl.Issuer, e.SerialNumber, x.Id)
			}
		}
		if e.SerialNumber == nil {
			continue
		}
		held.revoked[string(e.SerialNumber.Bytes())] = revEntry{at: e.RevocationTime, reason: e.ReasonCode}
	}

	key := issuerKey(ca)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.byCA[key]; old != nil {
		if old.sum == held.sum {
			info := old.info
			return &info, nil
		}
		if !newerCRL(held, old) {
			return nil, fmt.Errorf("adding CRL of %q (number %q): %w (held: number %q, thisUpdate %s)", crl.Issuer, held.info.Number, ErrCRLNotNewer, old.info.Number, old.info.ThisUpdate.UTC().Format(time.RFC3339))
		}
	}
	s.byCA[key] = held
	info := held.info
	return &info, nil
}

// newerCRL orders two CRLs of one CA by CRL number, or by ThisUpdate when
// either lacks a number.
func newerCRL(a, b *heldCRL) bool {
	if a.number != nil && b.number != nil {
		return a.number.Cmp(b.number) > 0
	}
	return a.info.ThisUpdate.After(b.info.ThisUpdate)
}

// LoadFile reads one CRL from path, DER or PEM ("X509 CRL" block), and
// adds it as Add does.
func (s *CRLStore) LoadFile(path string, issuers []*x509.Certificate, now time.Time) (*CRLInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("loading CRL: %w", err)
	}
	defer f.Close()
	data, err := readCapped(f, maxCRLSize)
	if err != nil {
		return nil, fmt.Errorf("loading CRL %s: %w", path, err)
	}
	der, err := crlDER(data)
	if err != nil {
		return nil, fmt.Errorf("loading CRL %s: %w", path, err)
	}
	info, err := s.Add(der, issuers, now)
	if err != nil {
		return nil, fmt.Errorf("loading CRL %s: %w", path, err)
	}
	return info, nil
}

// Fetch downloads one CRL (DER or PEM) from url with an HTTP GET and adds
// it as Add does. client nil means a client with a one-minute timeout. The
// body is capped at 32 MiB; a status other than 200 is an error.
//
// Fetch runs once per call: refreshing before NextUpdate is the caller's
// schedule. The CRL's signature, not the transport, is what makes it
// trusted, so plain HTTP (as CAs publish CRLs) is fine.
func (s *CRLStore) Fetch(ctx context.Context, client *http.Client, url string, issuers []*x509.Certificate, now time.Time) (*CRLInfo, error) {
	if client == nil {
		client = &http.Client{Timeout: time.Minute}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetching CRL: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching CRL: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching CRL %s: HTTP status %s", url, resp.Status)
	}
	data, err := readCapped(resp.Body, maxCRLSize)
	if err != nil {
		return nil, fmt.Errorf("fetching CRL %s: %w", url, err)
	}
	der, err := crlDER(data)
	if err != nil {
		return nil, fmt.Errorf("fetching CRL %s: %w", url, err)
	}
	info, err := s.Add(der, issuers, now)
	if err != nil {
		return nil, fmt.Errorf("fetching CRL %s: %w", url, err)
	}
	return info, nil
}

func readCapped(r io.Reader, max int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("CRL exceeds %d bytes", max)
	}
	return data, nil
}

// crlDER returns the DER of a CRL given as DER or as exactly one PEM
// "X509 CRL" block.
func crlDER(data []byte) ([]byte, error) {
	trimmed := bytes.TrimSpace(data)
	if !bytes.HasPrefix(trimmed, []byte("-----BEGIN")) {
		return data, nil
	}
	var der []byte
	for rest := trimmed; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "X509 CRL" {
			return nil, fmt.Errorf("PEM block %q is not an X509 CRL", b.Type)
		}
		if der != nil {
			return nil, errors.New("more than one CRL in the PEM input: give one per file")
		}
		der = b.Bytes
	}
	if der == nil {
		return nil, errors.New("no PEM X509 CRL block found")
	}
	return der, nil
}

// check looks up every non-root certificate of chain (leaf first) in the
// CRL of its issuer, as of at. grace extends how long past NextUpdate a
// CRL still counts. It returns the CRLs consulted.
func (s *CRLStore) check(chain []*x509.Certificate, at time.Time, grace time.Duration) ([]CRLInfo, *VerifyError) {
	infos := make([]CRLInfo, 0, len(chain)-1)
	s.mu.RLock()
	defer s.mu.RUnlock()
	for i := 0; i+1 < len(chain); i++ {
		cert, ca := chain[i], chain[i+1]
		held := s.byCA[issuerKey(ca)]
		if held == nil {
			return nil, verifyErrorf(ReasonCRLUnavailable, nil, "no CRL loaded for %q, issuer of %q", ca.Subject, cert.Subject)
		}
		if at.Before(held.info.ThisUpdate) {
			return nil, verifyErrorf(ReasonCRLUnavailable, nil, "the CRL of %q was issued at %s, after the verification time %s",
				ca.Subject, held.info.ThisUpdate.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))
		}
		if at.After(held.info.NextUpdate.Add(grace)) {
			return nil, verifyErrorf(ReasonCRLUnavailable, nil, "the CRL of %q is stale: nextUpdate %s (grace %s) is before the verification time %s",
				ca.Subject, held.info.NextUpdate.UTC().Format(time.RFC3339), grace, at.UTC().Format(time.RFC3339))
		}
		if e, ok := held.revoked[string(cert.SerialNumber.Bytes())]; ok && !e.at.After(at) {
			return nil, verifyErrorf(ReasonRevoked, nil, "certificate %q (serial %s) was revoked at %s (reason %d)",
				cert.Subject, cert.SerialNumber, e.at.UTC().Format(time.RFC3339), e.reason)
		}
		infos = append(infos, held.info)
	}
	return infos, nil
}
