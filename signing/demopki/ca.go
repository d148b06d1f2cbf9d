package demopki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Names of the files in a demo PKI directory. They never change.
const (
	RootCertFile    = "root-ca.pem"    // root CA certificate (PEM)
	RootKeyFile     = "root-ca.key"    // root CA private key (PKCS#8 PEM, 0600)
	RootCRLFile     = "root-ca.crl"    // CRL of the root (DER), written by RootCRL
	IssuingCertFile = "issuing-ca.pem" // issuing CA certificate (PEM)
	IssuingKeyFile  = "issuing-ca.key" // issuing CA private key (PKCS#8 PEM, 0600)
	IssuingCRLFile  = "issuing-ca.crl" // CRL of the issuing CA (DER), written by CRL
	StateFile       = "ca.json"        // settings and CRL numbers
	IndexFile       = "index.json"     // every issued certificate
	IssuedDir       = "issued"         // <name>.pem, <name>-chain.pem, <name>.key, <name>.p12
)

// Default names and settings of a new demo PKI.
const (
	DefaultRootCN       = "RootCA chuyên dùng Chính phủ (DEMO)"
	DefaultIssuingCN    = "CA phục vụ các cơ quan Nhà nước (DEMO)"
	DefaultOrganization = "Ban Cơ yếu Chính phủ"
	DefaultCRLBaseURL   = "http://pki.truc.invalid/crl"

	DefaultRootValidity    = 30 * 365 * 24 * time.Hour
	DefaultIssuingValidity = 20 * 365 * 24 * time.Hour
	DefaultCRLValidity     = 7 * 24 * time.Hour
	DefaultAgencyValidity  = 5 * 365 * 24 * time.Hour // as real VGCA agency seals
	DefaultPersonValidity  = 3 * 365 * 24 * time.Hour
)

// KeyType names a key algorithm and size. The strings are used on the
// command line and in index.json and never change.
type KeyType string

// Key types.
const (
	RSA2048   KeyType = "rsa-2048"
	RSA3072   KeyType = "rsa-3072"
	RSA4096   KeyType = "rsa-4096"
	ECDSAP256 KeyType = "ecdsa-p256"
	ECDSAP384 KeyType = "ecdsa-p384"
)

// KeyTypes lists every KeyType, for help texts.
var KeyTypes = []KeyType{RSA2048, RSA3072, RSA4096, ECDSAP256, ECDSAP384}

func (k KeyType) generate() (crypto.Signer, error) {
	switch k {
	case RSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case RSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	case RSA4096:
		return rsa.GenerateKey(rand.Reader, 4096)
	case ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECDSAP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	}
	return nil, fmt.Errorf("unknown key type %q (want one of %v)", string(k), KeyTypes)
}

// keyTypeOf names the type of a public key, or describes it.
func keyTypeOf(pub crypto.PublicKey) (KeyType, error) {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		switch p.N.BitLen() {
		case 2048:
			return RSA2048, nil
		case 3072:
			return RSA3072, nil
		case 4096:
			return RSA4096, nil
		}
		return "", fmt.Errorf("RSA key of %d bits: want 2048, 3072 or 4096", p.N.BitLen())
	case *ecdsa.PublicKey:
		switch p.Curve {
		case elliptic.P256():
			return ECDSAP256, nil
		case elliptic.P384():
			return ECDSAP384, nil
		}
		return "", fmt.Errorf("ECDSA curve %s: want P-256 or P-384", p.Curve.Params().Name)
	}
	return "", fmt.Errorf("unsupported public key type %T: want RSA or ECDSA", pub)
}

// InitOptions shape a new demo PKI. The zero value gives the defaults.
type InitOptions struct {
	// Now is the clock (nil: time.Now). Validity periods and CRL times
	// start at Now().
	Now func() time.Time
	// RootKey and IssuingKey are the CA key types (defaults RSA4096 and
	// RSA3072, as the government hierarchy). Smaller or ECDSA keys make
	// tests that are not about key size start in milliseconds.
	RootKey, IssuingKey KeyType
	// RootCN, IssuingCN and Organization name the CAs (defaults above; C
	// is always VN).
	RootCN, IssuingCN, Organization string
	// CRLBaseURL is the http(s) URL under which root-ca.crl and
	// issuing-ca.crl are published; certificates name them as CRL
	// distribution points. Default DefaultCRLBaseURL.
	CRLBaseURL string
	// RootValidity, IssuingValidity and CRLValidity default to the
	// Default* constants. CRLValidity is the gap between a CRL's
	// ThisUpdate and NextUpdate.
	RootValidity, IssuingValidity, CRLValidity time.Duration
	// Logger receives one line per change (nil: discard). Keys are never
	// logged.
	Logger *slog.Logger
}

// OpenOptions are the run-time settings of an existing demo PKI.
type OpenOptions struct {
	Now    func() time.Time // nil: time.Now
	Logger *slog.Logger     // nil: discard
}

// CA is an open demo PKI directory. Its methods are safe for concurrent
// use within one process.
type CA struct {
	dir string
	now func() time.Time
	log *slog.Logger

	root, issuing       *x509.Certificate
	rootKey, issuingKey crypto.Signer

	mu    sync.Mutex
	state caState
	index []Entry
}

// Init creates a new demo PKI in dir (created with mode 0700 if absent),
// generating the root and issuing CA keys and certificates. It refuses a
// directory that already holds any of the PKI's files. On error it removes
// what it wrote.
func Init(dir string, opts InitOptions) (ca *CA, err error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("demopki: creating %s: %w", dir, err)
	}
	for _, f := range []string{StateFile, IndexFile, RootCertFile, RootKeyFile, IssuingCertFile, IssuingKeyFile, RootCRLFile, IssuingCRLFile} {
		if _, err := os.Lstat(filepath.Join(dir, f)); !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("demopki: %s already holds %s: refusing to overwrite a PKI (use Open, or an empty directory)", dir, f)
		}
	}
	var written []string
	defer func() {
		if err != nil {
			for _, p := range written {
				_ = os.Remove(p)
			}
		}
	}()
	write := func(name string, data []byte, perm os.FileMode) error {
		p := filepath.Join(dir, name)
		if err := writeNewFile(p, data, perm); err != nil {
			return fmt.Errorf("demopki: %w", err)
		}
		written = append(written, p)
		return nil
	}

	now := o.Now().UTC().Truncate(time.Second)
	rootKey, err := o.RootKey.generate()
	if err != nil {
		return nil, fmt.Errorf("demopki: root key: %w", err)
	}
	issuingKey, err := o.IssuingKey.generate()
	if err != nil {
		return nil, fmt.Errorf("demopki: issuing key: %w", err)
	}
	rootName := pkix.Name{CommonName: o.RootCN, Organization: []string{o.Organization}, Country: []string{"VN"}}
	rootTmpl := &x509.Certificate{
		Subject:               rootName,
		NotBefore:             now,
		NotAfter:              now.Add(o.RootValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	root, err := createCertificate(rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		return nil, fmt.Errorf("demopki: root certificate: %w", err)
	}
	issuingTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: o.IssuingCN, Organization: []string{o.Organization}, Country: []string{"VN"}},
		NotBefore:             now,
		NotAfter:              now.Add(o.IssuingValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		CRLDistributionPoints: []string{o.CRLBaseURL + "/" + RootCRLFile},
	}
	issuing, err := createCertificate(issuingTmpl, root, issuingKey.Public(), rootKey)
	if err != nil {
		return nil, fmt.Errorf("demopki: issuing certificate: %w", err)
	}
	rootKeyPEM, err := marshalKeyPEM(rootKey)
	if err != nil {
		return nil, fmt.Errorf("demopki: %w", err)
	}
	issuingKeyPEM, err := marshalKeyPEM(issuingKey)
	if err != nil {
		return nil, fmt.Errorf("demopki: %w", err)
	}
	st := caState{
		Version:     stateVersion,
		CRLBaseURL:  o.CRLBaseURL,
		CRLValidity: duration(o.CRLValidity),
		CreatedAt:   now,
	}
	stJSON, err := st.marshal()
	if err != nil {
		return nil, fmt.Errorf("demopki: %w", err)
	}
	idxJSON, err := marshalIndex(nil)
	if err != nil {
		return nil, fmt.Errorf("demopki: %w", err)
	}
	for _, f := range []struct {
		name string
		data []byte
		perm os.FileMode
	}{
		{RootKeyFile, rootKeyPEM, 0o600},
		{IssuingKeyFile, issuingKeyPEM, 0o600},
		{RootCertFile, certPEM(root), 0o644},
		{IssuingCertFile, certPEM(issuing), 0o644},
		{IndexFile, idxJSON, 0o644},
		{StateFile, stJSON, 0o644}, // last: its presence marks a complete PKI
	} {
		if err := write(f.name, f.data, f.perm); err != nil {
			return nil, err
		}
	}
	ca = &CA{
		dir: dir, now: o.Now, log: logger(o.Logger),
		root: root, issuing: issuing, rootKey: rootKey, issuingKey: issuingKey,
		state: st,
	}
	ca.log.Info("demo pki created", "dir", dir, "root_sha256", fingerprint(root), "issuing_sha256", fingerprint(issuing))
	return ca, nil
}

func (o InitOptions) withDefaults() (InitOptions, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RootKey == "" {
		o.RootKey = RSA4096
	}
	if o.IssuingKey == "" {
		o.IssuingKey = RSA3072
	}
	for _, k := range []KeyType{o.RootKey, o.IssuingKey} {
		if !validKeyType(k) {
			return o, fmt.Errorf("demopki: unknown key type %q (want one of %v)", string(k), KeyTypes)
		}
	}
	if o.RootCN == "" {
		o.RootCN = DefaultRootCN
	}
	if o.IssuingCN == "" {
		o.IssuingCN = DefaultIssuingCN
	}
	if o.RootCN == o.IssuingCN {
		return o, errors.New("demopki: the root and issuing CA names must differ")
	}
	if o.Organization == "" {
		o.Organization = DefaultOrganization
	}
	if o.CRLBaseURL == "" {
		o.CRLBaseURL = DefaultCRLBaseURL
	}
	u, err := url.Parse(o.CRLBaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return o, fmt.Errorf("demopki: CRL base URL %q: want an absolute http or https URL without query or fragment", o.CRLBaseURL)
	}
	for len(o.CRLBaseURL) > 0 && o.CRLBaseURL[len(o.CRLBaseURL)-1] == '/' {
		o.CRLBaseURL = o.CRLBaseURL[:len(o.CRLBaseURL)-1]
	}
	if o.RootValidity == 0 {
		o.RootValidity = DefaultRootValidity
	}
	if o.IssuingValidity == 0 {
		o.IssuingValidity = DefaultIssuingValidity
	}
	if o.CRLValidity == 0 {
		o.CRLValidity = DefaultCRLValidity
	}
	switch {
	case o.RootValidity < 0 || o.IssuingValidity < 0 || o.CRLValidity < 0:
		return o, errors.New("demopki: validity periods must be positive")
	case o.IssuingValidity > o.RootValidity:
		return o, fmt.Errorf("demopki: issuing CA validity %v exceeds the root's %v", o.IssuingValidity, o.RootValidity)
	case o.CRLValidity < time.Minute:
		return o, fmt.Errorf("demopki: CRL validity %v is shorter than a minute", o.CRLValidity)
	}
	return o, nil
}

func validKeyType(k KeyType) bool {
	for _, t := range KeyTypes {
		if k == t {
			return true
		}
	}
	return false
}

// Open opens the demo PKI in dir, checking that every CA key matches its
// certificate and that the index parses.
func Open(dir string, opts OpenOptions) (*CA, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ca := &CA{dir: dir, now: opts.Now, log: logger(opts.Logger)}
	stJSON, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("demopki: %s is not a demo PKI (no %s; create one with Init or truc pki init)", dir, StateFile)
		}
		return nil, fmt.Errorf("demopki: %w", err)
	}
	if ca.state, err = parseState(stJSON); err != nil {
		return nil, fmt.Errorf("demopki: %s: %w", StateFile, err)
	}
	if ca.root, ca.rootKey, err = loadPair(dir, RootCertFile, RootKeyFile); err != nil {
		return nil, err
	}
	if ca.issuing, ca.issuingKey, err = loadPair(dir, IssuingCertFile, IssuingKeyFile); err != nil {
		return nil, err
	}
	if err := ca.issuing.CheckSignatureFrom(ca.root); err != nil {
		return nil, fmt.Errorf("demopki: %s is not signed by %s: %w", IssuingCertFile, RootCertFile, err)
	}
	idxJSON, err := os.ReadFile(filepath.Join(dir, IndexFile))
	if err != nil {
		return nil, fmt.Errorf("demopki: %w", err)
	}
	if ca.index, err = parseIndex(idxJSON); err != nil {
		return nil, fmt.Errorf("demopki: %s: %w", IndexFile, err)
	}
	return ca, nil
}

func loadPair(dir, certFile, keyFile string) (*x509.Certificate, crypto.Signer, error) {
	certPath, keyPath := filepath.Join(dir, certFile), filepath.Join(dir, keyFile)
	cb, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, fmt.Errorf("demopki: %w", err)
	}
	cert, err := parseCertPEM(cb)
	if err != nil {
		return nil, nil, fmt.Errorf("demopki: %s: %w", certPath, err)
	}
	kb, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, fmt.Errorf("demopki: %w", err)
	}
	key, err := parseKeyPEM(kb)
	if err != nil {
		return nil, nil, fmt.Errorf("demopki: %s: %w", keyPath, err)
	}
	if !sameKey(key.Public(), cert.PublicKey) {
		return nil, nil, fmt.Errorf("demopki: %s does not match %s", keyPath, certPath)
	}
	return cert, key, nil
}

// Dir returns the PKI directory.
func (ca *CA) Dir() string { return ca.dir }

// Root returns the root CA certificate, the trust anchor to configure in
// verifiers.
func (ca *CA) Root() *x509.Certificate { return ca.root }

// Issuing returns the issuing CA certificate.
func (ca *CA) Issuing() *x509.Certificate { return ca.issuing }

// Path returns the path of a file of the PKI, such as RootCertFile.
func (ca *CA) Path(name string) string { return filepath.Join(ca.dir, name) }

// CRLBaseURL returns the URL under which the CRLs are expected to be
// published.
func (ca *CA) CRLBaseURL() string {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	return ca.state.CRLBaseURL
}

// Entries returns a copy of the index, in issue order.
func (ca *CA) Entries() []Entry {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	out := make([]Entry, len(ca.index))
	for i, e := range ca.index {
		out[i] = e.clone()
	}
	return out
}

// Lookup finds an issued certificate by file name or by serial number
// (hex, any case, colons and a 0x prefix allowed).
func (ca *CA) Lookup(ref string) (Entry, bool) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	i := ca.find(ref)
	if i < 0 {
		return Entry{}, false
	}
	return ca.index[i].clone(), true
}

func (ca *CA) find(ref string) int {
	serial, serialOK := parseSerial(ref)
	for i, e := range ca.index {
		if e.Name == ref {
			return i
		}
		if serialOK && e.serial().Cmp(serial) == 0 {
			return i
		}
	}
	return -1
}

func (ca *CA) findSerial(serial *big.Int) int {
	for i, e := range ca.index {
		if e.serial().Cmp(serial) == 0 {
			return i
		}
	}
	return -1
}

// ErrNotFound is returned for a serial number or name that this CA did not
// issue.
var ErrNotFound = errors.New("demopki: no such certificate in the index")

func createCertificate(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) (*x509.Certificate, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// randomSerial returns a positive 128-bit random serial number.
func randomSerial() (*big.Int, error) {
	b := make([]byte, 16)
	for {
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("serial number: %w", err)
		}
		if n := new(big.Int).SetBytes(b); n.Sign() > 0 {
			return n, nil
		}
	}
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

func fingerprint(c *x509.Certificate) string { return sha256Hex(c.Raw) }

// sameKey reports whether a and b are the same public key.
func sameKey(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}
