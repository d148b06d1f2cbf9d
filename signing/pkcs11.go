package signing

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
)

// ErrPKCS11Unavailable is returned by OpenPKCS11 in a binary built without
// cgo (CGO_ENABLED=0): PKCS#11 modules are C libraries loaded with dlopen.
var ErrPKCS11Unavailable = errors.New("pkcs11: not available in this build (it needs cgo: rebuild with CGO_ENABLED=1)")

// PKCS11Config selects a private key on a PKCS#11 token (hardware token,
// smart card, HSM or SoftHSM2).
type PKCS11Config struct {
	// Module is the absolute path of the PKCS#11 library, for example
	// /usr/lib/softhsm/libsofthsm2.so. Required.
	Module string
	// TokenLabel or TokenSerial selects the token; one of them is required.
	// When both are set the token is selected by serial number alone.
	TokenLabel  string
	TokenSerial string
	// KeyLabel (CKA_LABEL) and/or KeyID (CKA_ID) select the private key;
	// at least one is required, and it must match exactly one key pair.
	KeyLabel string
	KeyID    []byte
	// PIN is the user PIN. It is never logged nor put in an error. The
	// caller reads it from where the operator keeps it (an environment
	// variable, a file); it is never part of a URI.
	PIN string
	// MaxSessions caps the sessions opened on the token (0 means 8).
	MaxSessions int
}

// Validate reports the first missing or malformed field, naming it. It
// does not look at the token.
func (c PKCS11Config) Validate() error {
	switch {
	case c.Module == "":
		return errors.New("pkcs11: module path is required (module-path in the URI)")
	case !filepath.IsAbs(c.Module):
		return fmt.Errorf("pkcs11: module path %q must be absolute", c.Module)
	case c.TokenLabel == "" && c.TokenSerial == "":
		return errors.New("pkcs11: a token label or serial is required (token= or serial= in the URI)")
	case c.KeyLabel == "" && len(c.KeyID) == 0:
		return errors.New("pkcs11: a key label or id is required (object= or id= in the URI)")
	case c.PIN == "":
		return errors.New("pkcs11: the user PIN is empty")
	case c.MaxSessions < 0 || c.MaxSessions == 1:
		return fmt.Errorf("pkcs11: max sessions %d: want 0 (default) or at least 2", c.MaxSessions)
	}
	return nil
}

// String describes the key without the PIN, for messages and logs.
func (c PKCS11Config) String() string {
	var b strings.Builder
	b.WriteString("pkcs11:")
	sep := ""
	add := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%s%s=%s", sep, k, pctEncode([]byte(v)))
			sep = ";"
		}
	}
	add("token", c.TokenLabel)
	add("serial", c.TokenSerial)
	add("object", c.KeyLabel)
	if len(c.KeyID) > 0 {
		add("id", string(c.KeyID))
	}
	if c.Module != "" {
		fmt.Fprintf(&b, "?module-path=%s", pctEncode([]byte(c.Module)))
	}
	return b.String()
}

// GoString is String, so that %#v cannot print the PIN either.
func (c PKCS11Config) GoString() string { return c.String() }

// ParsePKCS11URI parses an RFC 7512 PKCS#11 URI such as
//
//	pkcs11:token=agency-token;object=agency-seal;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so
//
// into a PKCS11Config without a PIN. Understood attributes: token, serial,
// object, id (percent-encoded bytes), type (must be "private" when given)
// and the query attribute module-path. manufacturer, model, library-* and
// slot-* are accepted and ignored (crypto11 cannot select on them).
// pin-value and pin-source are refused: the PIN comes from an environment
// variable or a file chosen by the caller, so it never appears in a command
// line or a config file next to the key's address. Unknown attributes,
// repeated attributes and malformed percent-encoding are errors.
func ParsePKCS11URI(uri string) (PKCS11Config, error) {
	var cfg PKCS11Config
	rest, ok := strings.CutPrefix(uri, "pkcs11:")
	if !ok {
		return cfg, errors.New(`pkcs11 uri: must start with "pkcs11:"`)
	}
	path, query, _ := strings.Cut(rest, "?")
	seen := map[string]bool{}
	parse := func(part, sep string, inQuery bool) error {
		if part == "" {
			return nil
		}
		for attr := range strings.SplitSeq(part, sep) {
			name, raw, ok := strings.Cut(attr, "=")
			if !ok || name == "" {
				return fmt.Errorf("pkcs11 uri: attribute %q: want name=value", attr)
			}
			if seen[name] {
				return fmt.Errorf("pkcs11 uri: attribute %q given twice", name)
			}
			seen[name] = true
			v, err := url.PathUnescape(raw)
			if err != nil {
				return fmt.Errorf("pkcs11 uri: attribute %q: bad percent-encoding", name)
			}
			switch {
			case name == "pin-value" || name == "pin-source":
				return fmt.Errorf("pkcs11 uri: %s is refused: give the PIN from an environment variable or a file", name)
			case inQuery && name == "module-path":
				cfg.Module = v
			case inQuery && name == "module-name":
				return errors.New("pkcs11 uri: module-name is not supported: give the library with module-path")
			case inQuery:
				return fmt.Errorf("pkcs11 uri: unknown query attribute %q", name)
			case name == "token":
				cfg.TokenLabel = v
			case name == "serial":
				cfg.TokenSerial = v
			case name == "object":
				cfg.KeyLabel = v
			case name == "id":
				cfg.KeyID = []byte(v)
			case name == "type":
				if v != "private" {
					return fmt.Errorf("pkcs11 uri: type=%s: the object must be a private key (type=private)", v)
				}
			case name == "manufacturer" || name == "model" ||
				strings.HasPrefix(name, "library-") || strings.HasPrefix(name, "slot-"):
				// Accepted, not used for selection.
			default:
				return fmt.Errorf("pkcs11 uri: unknown attribute %q", name)
			}
		}
		return nil
	}
	if err := parse(path, ";", false); err != nil {
		return PKCS11Config{}, err
	}
	if err := parse(query, "&", true); err != nil {
		return PKCS11Config{}, err
	}
	return cfg, nil
}

// pctEncode percent-encodes everything outside RFC 3986 unreserved
// characters (and '/', which RFC 7512 allows in values).
func pctEncode(b []byte) string {
	var s strings.Builder
	for _, c := range b {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '/' {
			s.WriteByte(c)
		} else {
			fmt.Fprintf(&s, "%%%02X", c)
		}
	}
	return s.String()
}

// PKCS11Key is a private key held on a PKCS#11 token. It implements
// crypto.Signer and is safe for concurrent use; the token does the private
// key operation. Public returns *rsa.PublicKey or *ecdsa.PublicKey. Like
// crypto/ecdsa, Sign returns ECDSA signatures ASN.1 DER-encoded; the
// XML-DSig signer converts them to r‖s.
//
// Sign refuses digests other than SHA-256, SHA-384 and SHA-512 and
// digests of the wrong length, because PKCS#11 RSA signing would otherwise
// sign the bytes without the DigestInfo prefix.
type PKCS11Key struct {
	signer crypto.Signer
	cert   *x509.Certificate
	desc   string

	closeOnce sync.Once
	closeErr  error
	close     func() error
}

// Public returns the public half of the key.
func (k *PKCS11Key) Public() crypto.PublicKey { return k.signer.Public() }

// Sign signs digest with the token key.
func (k *PKCS11Key) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	h := opts.HashFunc()
	switch h {
	case crypto.SHA256, crypto.SHA384, crypto.SHA512:
	default:
		return nil, fmt.Errorf("pkcs11 %s: signing with hash %v is not allowed", k.desc, h)
	}
	if len(digest) != h.Size() {
		return nil, fmt.Errorf("pkcs11 %s: digest of %d bytes for %v, want %d", k.desc, len(digest), h, h.Size())
	}
	sig, err := k.signer.Sign(rand, digest, opts)
	if err != nil {
		return nil, fmt.Errorf("pkcs11 %s: signing: %w", k.desc, err)
	}
	return sig, nil
}

// Certificate returns the certificate stored on the token next to the key
// (same CKA_ID, same public key), or nil when the token holds none.
func (k *PKCS11Key) Certificate() *x509.Certificate { return k.cert }

// String names the key (token and label/id), never the PIN.
func (k *PKCS11Key) String() string { return k.desc }

// Close logs out and releases the token session. Signing after Close
// fails. Close is safe to call more than once.
func (k *PKCS11Key) Close() error {
	k.closeOnce.Do(func() {
		if k.close != nil {
			k.closeErr = k.close()
		}
	})
	return k.closeErr
}

// OpenPKCS11 logs in to the token and finds the key pair selected by cfg.
// It fails when no key pair or more than one matches, when the key may not
// sign edXML (see ParsePrivateKeyPEM for the rules), or, in a build without
// cgo, with ErrPKCS11Unavailable. The caller must Close the key.
func OpenPKCS11(cfg PKCS11Config) (*PKCS11Key, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxSessions == 0 {
		cfg.MaxSessions = 8
	}
	return openPKCS11(cfg)
}

// PKCS11Available reports whether this binary can open PKCS#11 tokens
// (false when built with CGO_ENABLED=0).
func PKCS11Available() bool { return pkcs11Available }
