package restapi

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"truc.vn/truc/edoc"
)

// Config is everything the edge API needs. Field names in errors are the
// YAML keys.
type Config struct {
	// Listen is the address the caller's http.Server listens on (see
	// Handler.Server), host:port. Default DefaultListen (loopback only).
	Listen string `yaml:"listen"`
	// Tokens are the bearer tokens DMS installations call with, each
	// limited to the OrganIds it acts for. At least one.
	Tokens []Token `yaml:"tokens"`
	// MaxBodyBytes caps the body of POST /v1/documents. Default
	// DefaultMaxBodyBytes: the inline package cap (16 MiB) plus 1 MiB, so
	// that a package a little over the cap reaches the edge and is refused
	// with the parser's own message rather than a bare 413. Set it to the
	// edge's package cap plus that slack when the cap is changed.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxWait caps how long GET /v1/inbox?wait= holds a request open
	// when there is nothing new. Default DefaultMaxWait (60 s): long
	// enough to save requests, short enough for proxies that cut idle
	// requests.
	MaxWait time.Duration `yaml:"max_wait"`
	// TLS, when set, makes the API speak HTTPS, optionally with client
	// certificates (mTLS). Nil: plain HTTP, for a trusted network or
	// behind a TLS terminator.
	TLS *TLSConfig `yaml:"tls"`
}

// TLSConfig is the API's HTTPS setting. Files are read by
// TLSConfig.Load, not by New.
type TLSConfig struct {
	// CertFile and KeyFile are the server's certificate chain and private
	// key, PEM. Both required.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile holds the PEM certificates of the CAs whose client
	// certificates the API accepts. Empty: no client certificates are
	// asked for, and no token may be bound to one.
	ClientCAFile string `yaml:"client_ca_file"`
	// RequireClientCert refuses, during the TLS handshake, a client with
	// no certificate from ClientCAFile, on every route (health included).
	// False: a certificate is verified when given and required only by
	// tokens bound to one (Token.ClientCertSHA256).
	RequireClientCert bool `yaml:"require_client_cert"`
}

// Token is one bearer token: who holds it and what it may act for.
type Token struct {
	// Name identifies the DMS in logs and scopes its Idempotency-Keys (it
	// is the Backend's client). 1–64 ASCII letters, digits, '.', '_' or
	// '-'; unique.
	Name string `yaml:"name"`
	// SHA256 is the SHA-256 of the token, 64 hex digits (HashToken). The
	// token itself is never configured, stored or logged.
	SHA256 string `yaml:"sha256"`
	// OrganIDs are the OrganIds the DMS acts for: it may send as them, and
	// it sees the documents they sent and the inbox items addressed to
	// them. At least one.
	OrganIDs []string `yaml:"organ_ids"`
	// ClientCertSHA256, when set, binds the token to one client
	// certificate: the hex SHA-256 of its DER bytes (the fingerprint
	// openssl x509 -fingerprint -sha256 prints, with or without colons).
	// A request with the token is then refused unless the TLS connection
	// presented that certificate, verified against tls.client_ca_file.
	ClientCertSHA256 string `yaml:"client_cert_sha256"`
}

// Defaults and bounds.
const (
	DefaultListen       = "127.0.0.1:8080"
	DefaultMaxBodyBytes = edoc.DefaultMaxBytes + 1<<20
	DefaultMaxWait      = 60 * time.Second

	minBodyLimit  = 64 << 10
	maxBodyLimit  = 1 << 30
	minWait       = time.Second
	maxWaitLimit  = 15 * time.Minute
	maxNameLength = 64
)

func (c *Config) setDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxWait == 0 {
		c.MaxWait = DefaultMaxWait
	}
}

// ConfigError is the error Validate returns: Field is the YAML path of the
// offending setting.
type ConfigError struct {
	Field string
	Rule  string
}

func (e *ConfigError) Error() string { return "restapi config: " + e.Field + ": " + e.Rule }

func cfgErr(field, format string, args ...any) error {
	return &ConfigError{Field: field, Rule: fmt.Sprintf(format, args...)}
}

// Validate checks c, with defaults applied, and returns a *ConfigError
// naming the first setting it refuses.
func (c Config) Validate() error {
	c.setDefaults()
	return c.validate()
}

func (c *Config) validate() error {
	_, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return cfgErr("listen", "%q is not host:port: %v", clip(c.Listen), err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return cfgErr("listen", "port %q is not a number from 0 to 65535", clip(port))
	}
	if len(c.Tokens) == 0 {
		return cfgErr("tokens", "at least one token is required")
	}
	if c.MaxBodyBytes < minBodyLimit || c.MaxBodyBytes > maxBodyLimit {
		return cfgErr("max_body_bytes", "must be between %d and %d, got %d", minBodyLimit, maxBodyLimit, c.MaxBodyBytes)
	}
	if c.MaxWait < minWait || c.MaxWait > maxWaitLimit {
		return cfgErr("max_wait", "must be between %v and %v, got %v", minWait, maxWaitLimit, c.MaxWait)
	}
	clientCA := false
	if t := c.TLS; t != nil {
		if t.CertFile == "" {
			return cfgErr("tls.cert_file", "required when tls is set")
		}
		if t.KeyFile == "" {
			return cfgErr("tls.key_file", "required when tls is set")
		}
		if t.RequireClientCert && t.ClientCAFile == "" {
			return cfgErr("tls.require_client_cert", "needs tls.client_ca_file: the CAs client certificates are checked against")
		}
		clientCA = t.ClientCAFile != ""
	}
	names := make(map[string]int, len(c.Tokens))
	hashes := make(map[string]int, len(c.Tokens))
	for i, t := range c.Tokens {
		f := fmt.Sprintf("tokens[%d]", i)
		if !isName(t.Name) {
			return cfgErr(f+".name", "%q is not a token name: 1–%d ASCII letters, digits, '.', '_' or '-'", clip(t.Name), maxNameLength)
		}
		if j, dup := names[t.Name]; dup {
			return cfgErr(f+".name", "%q is also tokens[%d].name", t.Name, j)
		}
		names[t.Name] = i
		h, err := parseTokenHash(t.SHA256)
		if err != nil {
			return cfgErr(f+".sha256", "%v", err)
		}
		if j, dup := hashes[h]; dup {
			return cfgErr(f+".sha256", "the same token hash as tokens[%d]: each DMS needs its own token", j)
		}
		hashes[h] = i
		if len(t.OrganIDs) == 0 {
			return cfgErr(f+".organ_ids", "at least one OrganId is required")
		}
		if t.ClientCertSHA256 != "" {
			if _, err := parseFingerprint(t.ClientCertSHA256); err != nil {
				return cfgErr(f+".client_cert_sha256", "%v", err)
			}
			if !clientCA {
				return cfgErr(f+".client_cert_sha256", "a token bound to a client certificate needs tls.client_ca_file")
			}
		}
		seen := make(map[string]int, len(t.OrganIDs))
		for j, id := range t.OrganIDs {
			g := fmt.Sprintf("%s.organ_ids[%d]", f, j)
			if !edoc.IsOrganID(id) {
				return cfgErr(g, "%q is not an OrganId (dot-separated groups of letters and digits, at most %d characters)", clip(id), edoc.MaxOrganIDLength)
			}
			if k, dup := seen[id]; dup {
				return cfgErr(g, "%q is also organ_ids[%d]", id, k)
			}
			seen[id] = j
		}
	}
	return nil
}

// HashToken returns the value of Token.SHA256 for token: the hex SHA-256
// of its bytes.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// parseTokenHash checks a configured token hash and returns it in lower
// case.
func parseTokenHash(s string) (string, error) {
	if len(s) != 2*sha256.Size {
		return "", fmt.Errorf("must be the 64 hex digits of the token's SHA-256 (HashToken), got %d characters", len(s))
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", fmt.Errorf("must be 64 hex digits: %v", err)
	}
	return strings.ToLower(s), nil
}

func isName(s string) bool {
	if s == "" || len(s) > maxNameLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// parseFingerprint reads a certificate's SHA-256 fingerprint: 64 hex
// digits, optionally in pairs separated by colons, in either case.
func parseFingerprint(s string) ([sha256.Size]byte, error) {
	var fp [sha256.Size]byte
	h := strings.ReplaceAll(s, ":", "")
	if len(h) != 2*sha256.Size {
		return fp, fmt.Errorf("must be the SHA-256 of the certificate's DER bytes: 64 hex digits, got %d", len(h))
	}
	if _, err := hex.Decode(fp[:], []byte(h)); err != nil {
		return fp, fmt.Errorf("must be 64 hex digits: %v", err)
	}
	return fp, nil
}
