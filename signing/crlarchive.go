package signing

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// ErrCRLNotArchived is returned by CRLArchive.Get for a CRL it does not
// hold.
var ErrCRLNotArchived = errors.New("CRL not in the archive")

// CRLArchive keeps every CRL a CRLStore ever held, filed by the SHA-256 of
// the issuer certificate that verified it and its CRL number: the key of
// bus.CRLEvidence. A CRLStore holds only the newest CRL of each CA, so the
// CRL a verification relied on is gone from it once a newer one arrives;
// the archive is where an audit finds it again, years later.
//
// The archive is a directory: <issuer SHA-256 hex>/<CRL number>.crl, each
// file the CRL's DER, written once (temporary file, fsync, rename, fsync
// of the directory) and never changed. It is safe for concurrent use by
// one process; two processes must not share a directory.
//
// CRLs without a CRL number are not archived: bus evidence cannot name
// them (see BusVerifier).
type CRLArchive struct {
	dir  string
	mu   sync.Mutex
	have map[string][32]byte // "<issuer hex>/<number>" → SHA-256 of the DER
}

// OpenCRLArchive opens (creating it, mode 0700) the archive in dir and
// reads the names of the CRLs it holds (not their content).
func OpenCRLArchive(dir string) (*CRLArchive, error) {
	if dir == "" {
		return nil, errors.New("opening the CRL archive: no directory given")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("opening the CRL archive: %w", err)
	}
	a := &CRLArchive{dir: dir, have: map[string][32]byte{}}
	issuers, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("opening the CRL archive: %w", err)
	}
	for _, d := range issuers {
		if !d.IsDir() || !isHex64(d.Name()) {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, d.Name()))
		if err != nil {
			return nil, fmt.Errorf("opening the CRL archive: %w", err)
		}
		for _, f := range files {
			num, ok := strings.CutSuffix(f.Name(), ".crl")
			if !ok || f.IsDir() || !isCRLNumber(num) {
				continue
			}
			// The content hash is read lazily (Put compares bytes on disk).
			a.have[d.Name()+"/"+num] = [32]byte{}
		}
	}
	return a, nil
}

// Dir returns the archive's directory.
func (a *CRLArchive) Dir() string { return a.dir }

// Len returns how many CRLs the archive holds.
func (a *CRLArchive) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.have)
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// isCRLNumber: 1–49 decimal digits without leading zeros (a 20-octet CRL
// number), the form of CRLInfo.Number and bus.CRLEvidence.Number.
func isCRLNumber(s string) bool {
	if s == "" || len(s) > 49 || (s[0] == '0' && len(s) > 1) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Put archives der, a CRL verified by the issuer certificate with SHA-256
// issuerSHA256, under number (its CRL number in decimal). The CRL must
// parse and carry that number. Putting the same CRL again is a no-op; a
// different CRL under the same issuer and number is refused (a CA never
// issues two CRLs with one number) and the archive keeps the first.
func (a *CRLArchive) Put(issuerSHA256 string, number string, der []byte) error {
	if !isHex64(issuerSHA256) {
		return fmt.Errorf("archiving a CRL: the issuer is a lowercase hex SHA-256, got %q", clipString(issuerSHA256))
	}
	if !isCRLNumber(number) {
		return fmt.Errorf("archiving a CRL: the CRL number is 1–49 decimal digits without leading zeros, got %q", clipString(number))
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return fmt.Errorf("archiving the CRL %s/%s: %w", issuerSHA256[:16], number, err)
	}
	if crl.Number == nil || crl.Number.String() != number {
		return fmt.Errorf("archiving the CRL %s/%s: the CRL's own number is %v", issuerSHA256[:16], number, crl.Number)
	}
	sum := sha256.Sum256(der)
	name := issuerSHA256 + "/" + number
	a.mu.Lock()
	defer a.mu.Unlock()
	if held, ok := a.have[name]; ok {
		if held == sum {
			return nil
		}
		old, err := os.ReadFile(filepath.Join(a.dir, issuerSHA256, number+".crl"))
		if err != nil {
			return fmt.Errorf("archiving the CRL %s/%s: reading the archived one: %w", issuerSHA256[:16], number, err)
		}
		if bytes.Equal(old, der) {
			a.have[name] = sum
			return nil
		}
		return fmt.Errorf("archiving the CRL %s/%s: the archive already holds another CRL with this issuer and number; keeping the first", issuerSHA256[:16], number)
	}
	if err := writeFileDurably(filepath.Join(a.dir, issuerSHA256), number+".crl", der); err != nil {
		return fmt.Errorf("archiving the CRL %s/%s: %w", issuerSHA256[:16], number, err)
	}
	a.have[name] = sum
	return nil
}

// Sync archives every CRL s holds that the archive does not hold yet and
// returns how many it wrote. It is cheap when nothing is new (a map
// lookup per CA under s's read lock), so it can run after every CRL
// refresh, or every few seconds: it must run before a newer CRL of the
// same CA replaces one that verifications used.
func (a *CRLArchive) Sync(s *CRLStore) (int, error) {
	type held struct {
		issuer, number string
		der            []byte
	}
	var todo []held
	a.mu.Lock()
	s.mu.RLock()
	for _, h := range s.byCA {
		if h.info.Number == "" {
			continue
		}
		name := h.info.IssuerSHA256 + "/" + h.info.Number
		if sum, ok := a.have[name]; ok && (sum == h.sum || sum == [32]byte{}) {
			continue
		}
		todo = append(todo, held{h.info.IssuerSHA256, h.info.Number, h.der})
	}
	s.mu.RUnlock()
	a.mu.Unlock()
	var errs []error
	n := 0
	for _, h := range todo {
		if err := a.Put(h.issuer, h.number, h.der); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// Get returns the DER of the archived CRL of the issuer certificate with
// SHA-256 issuerSHA256 and CRL number number, or an error wrapping
// ErrCRLNotArchived.
func (a *CRLArchive) Get(issuerSHA256 [32]byte, number string) ([]byte, error) {
	issuer := hex.EncodeToString(issuerSHA256[:])
	if !isCRLNumber(number) {
		return nil, fmt.Errorf("CRL %s/%q: the CRL number is 1–49 decimal digits without leading zeros: %w", issuer[:16], clipString(number), ErrCRLNotArchived)
	}
	der, err := os.ReadFile(filepath.Join(a.dir, issuer, number+".crl"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("CRL %s/%s: %w", issuer[:16], number, ErrCRLNotArchived)
	}
	if err != nil {
		return nil, fmt.Errorf("CRL %s/%s: %w", issuer[:16], number, err)
	}
	return der, nil
}

// writeFileDurably writes data to dir/name through a temporary file that
// is fsynced and renamed, then fsyncs dir: after it returns nil, a crash
// leaves the whole file or none.
func writeFileDurably(dir, name string, data []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename this fails harmlessly
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func clipString(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
