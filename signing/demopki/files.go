package demopki

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

const (
	stateVersion = 1
	indexVersion = 1
	// maxStateBytes caps ca.json and index.json when read back: a demo
	// PKI issuing a certificate a second for a day stays below it.
	maxStateBytes = 64 << 20
)

// caState is ca.json.
type caState struct {
	Version          int       `json:"version"`
	CRLBaseURL       string    `json:"crl_base_url"`
	CRLValidity      duration  `json:"crl_validity"`
	CreatedAt        time.Time `json:"created_at"`
	RootCRLNumber    int64     `json:"root_crl_number"`    // number of the last root CRL, 0: none yet
	IssuingCRLNumber int64     `json:"issuing_crl_number"` // number of the last issuing CRL, 0: none yet
}

// duration is a time.Duration written as a Go duration string ("168h0m0s").
type duration time.Duration

func (d duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("want a duration string such as \"168h\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = duration(v)
	return nil
}

func (s caState) marshal() ([]byte, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// parseState decodes and validates ca.json.
func parseState(b []byte) (caState, error) {
	var s caState
	if err := decodeStrict(b, &s); err != nil {
		return caState{}, err
	}
	switch {
	case s.Version != stateVersion:
		return caState{}, fmt.Errorf("version %d is not supported (want %d)", s.Version, stateVersion)
	case !strings.HasPrefix(s.CRLBaseURL, "http://") && !strings.HasPrefix(s.CRLBaseURL, "https://"):
		return caState{}, fmt.Errorf("crl_base_url %q: want an http or https URL", s.CRLBaseURL)
	case time.Duration(s.CRLValidity) < time.Minute:
		return caState{}, fmt.Errorf("crl_validity %v: want at least a minute", time.Duration(s.CRLValidity))
	case s.RootCRLNumber < 0 || s.IssuingCRLNumber < 0:
		return caState{}, errors.New("CRL numbers must not be negative")
	}
	return s, nil
}

// Kind is the kind of an end-entity certificate. The strings are used on
// the command line and in index.json and never change.
type Kind string

// Kinds of end-entity certificates.
const (
	Agency Kind = "agency" // organisation certificate: the agency seal
	Person Kind = "person" // a person's certificate
)

// Entry is one issued certificate in index.json.
type Entry struct {
	Serial    string    `json:"serial"` // lower-case hex, no leading zeros
	Name      string    `json:"name"`   // file base name under issued/
	Kind      Kind      `json:"kind"`
	Subject   string    `json:"subject"`  // RFC 2253 string, for people
	SHA256    string    `json:"sha256"`   // fingerprint of the certificate DER, lower-case hex
	KeyType   KeyType   `json:"key_type"` // algorithm and size of the certified key
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	// KeyOnToken is true when the CA certified a public key given to it
	// (a token key or a CSR) and holds no private key file.
	KeyOnToken bool `json:"key_on_token,omitempty"`
	// RevokedAt and Reason are set once the certificate is revoked.
	RevokedAt *time.Time       `json:"revoked_at,omitempty"`
	Reason    RevocationReason `json:"reason,omitempty"`
}

func (e Entry) clone() Entry {
	if e.RevokedAt != nil {
		t := *e.RevokedAt
		e.RevokedAt = &t
	}
	return e
}

func (e Entry) serial() *big.Int {
	n, _ := new(big.Int).SetString(e.Serial, 16)
	return n
}

// Revoked reports whether the entry was revoked at or before t.
func (e Entry) Revoked(t time.Time) bool { return e.RevokedAt != nil && !e.RevokedAt.After(t) }

type indexFile struct {
	Version int     `json:"version"`
	Issued  []Entry `json:"issued"`
}

func marshalIndex(entries []Entry) ([]byte, error) {
	if entries == nil {
		entries = []Entry{}
	}
	b, err := json.MarshalIndent(indexFile{Version: indexVersion, Issued: entries}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

var (
	namePattern   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	serialPattern = regexp.MustCompile(`^[0-9a-f]{1,40}$`)
	hashPattern   = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// parseIndex decodes and validates index.json: every field well-formed,
// serials, names and fingerprints unique.
func parseIndex(b []byte) ([]Entry, error) {
	var f indexFile
	if err := decodeStrict(b, &f); err != nil {
		return nil, err
	}
	if f.Version != indexVersion {
		return nil, fmt.Errorf("version %d is not supported (want %d)", f.Version, indexVersion)
	}
	serials, names := map[string]int{}, map[string]int{}
	for i, e := range f.Issued {
		where := fmt.Sprintf("issued[%d]", i)
		switch {
		case !serialPattern.MatchString(e.Serial) || strings.HasPrefix(e.Serial, "0"):
			return nil, fmt.Errorf("%s: serial %q: want lower-case hex without leading zeros", where, e.Serial)
		case !namePattern.MatchString(e.Name):
			return nil, fmt.Errorf("%s: name %q: want 1-64 of [A-Za-z0-9._-], starting with a letter or digit", where, e.Name)
		case e.Kind != Agency && e.Kind != Person:
			return nil, fmt.Errorf("%s: kind %q: want agency or person", where, e.Kind)
		case !hashPattern.MatchString(e.SHA256):
			return nil, fmt.Errorf("%s: sha256 %q: want 64 lower-case hex digits", where, e.SHA256)
		case !validKeyType(e.KeyType):
			return nil, fmt.Errorf("%s: key_type %q: want one of %v", where, e.KeyType, KeyTypes)
		case !e.NotAfter.After(e.NotBefore):
			return nil, fmt.Errorf("%s: not_after must be after not_before", where)
		case e.RevokedAt == nil && e.Reason != 0:
			return nil, fmt.Errorf("%s: reason given without revoked_at", where)
		case e.RevokedAt != nil && !e.Reason.valid():
			return nil, fmt.Errorf("%s: reason %d is not a revocation reason this CA uses", where, int(e.Reason))
		}
		if j, dup := serials[e.Serial]; dup {
			return nil, fmt.Errorf("%s: serial %s already used by issued[%d]", where, e.Serial, j)
		}
		if j, dup := names[e.Name]; dup {
			return nil, fmt.Errorf("%s: name %q already used by issued[%d]", where, e.Name, j)
		}
		serials[e.Serial], names[e.Name] = i, i
	}
	return f.Issued, nil
}

// decodeStrict decodes one JSON value, rejecting unknown fields and
// trailing data.
func decodeStrict(b []byte, v any) error {
	if len(b) > maxStateBytes {
		return fmt.Errorf("file of %d bytes exceeds the %d-byte limit", len(b), maxStateBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// parseSerial reads a serial number in hex ("0x", colons and any case
// allowed).
func parseSerial(s string) (*big.Int, bool) {
	s = strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"), ":", ""))
	if s == "" || len(s) > 40 {
		return nil, false
	}
	n, ok := new(big.Int).SetString(s, 16)
	if !ok || n.Sign() <= 0 {
		return nil, false
	}
	return n, true
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func certPEM(certs ...*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

func marshalKeyPEM(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("encoding the private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func parseCertPEM(b []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no CERTIFICATE PEM block")
	}
	return x509.ParseCertificate(block.Bytes)
}

func parseKeyPEM(b []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("no PRIVATE KEY (PKCS#8) PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%T is not a signing key", k)
	}
	return s, nil
}

// writeNewFile creates path with perm, failing if it exists, and syncs it.
func writeNewFile(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// replaceFile atomically replaces path with data: a synced temporary
// file renamed over it, then the directory synced.
func replaceFile(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
