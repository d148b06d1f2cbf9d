package vxp

import (
	"fmt"
	"os"
	"strings"
	"unicode/utf8"

	"truc.vn/truc/edoc"
)

// Config is everything the VXP handler needs. Field names in errors are the
// YAML keys.
type Config struct {
	// Systems are the DMS installations allowed to call, each with its
	// systemid and secret. At least one.
	Systems []System `yaml:"systems"`
	// MaxBodyBytes caps a sendEdoc body: the package plus the SDK's
	// trailing "\r\n". Default DefaultMaxBodyBytes (16 MiB, the inline
	// package cap, plus 64 KiB), so that a package a little over the cap
	// reaches the edge and is refused with the parser's own message rather
	// than a bare "too large".
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxSmallBodyBytes caps the body of every other operation: "{}",
	// nothing, or registerAgency's small JSON object. Default
	// DefaultMaxSmallBodyBytes (64 KiB), or MaxBodyBytes if smaller.
	MaxSmallBodyBytes int64 `yaml:"max_small_body_bytes"`
}

// System is one DMS installation: its credentials and what it may act for.
type System struct {
	// ID is the systemid the DMS signs with ("mã trung tâm liên thông").
	// ASCII letters, digits and . _ - : only.
	ID string `yaml:"id"`
	// Secret is the shared HMAC secret. It never comes from YAML: the
	// config names SecretFile or SecretEnv and the caller resolves it with
	// ResolveSecrets. At least MinSecretBytes bytes.
	Secret     string `yaml:"-"`
	SecretFile string `yaml:"secret_file"`
	SecretEnv  string `yaml:"secret_env"`
	// OrganIDs are the OrganIds this DMS acts for: it may send as them
	// (the signed from header) and it receives what is addressed to them.
	// At least one.
	OrganIDs []string `yaml:"organ_ids"`
	// ParentCodes are the directory codes under which this DMS may
	// register and delete agencies (see Under). Empty: it may do neither.
	ParentCodes []string `yaml:"parent_codes"`
}

// Defaults and bounds.
const (
	DefaultMaxBodyBytes      = edoc.DefaultMaxBytes + 64<<10
	DefaultMaxSmallBodyBytes = 64 << 10
	// MinSecretBytes is the shortest secret accepted: 128 bits if it is
	// random. The official SDK's sample secret is 44 characters of base64.
	MinSecretBytes = 16
	// maxSystemIDLength bounds a systemid; the axis's look like
	// "vxp.saas.02".
	maxSystemIDLength = 64
	maxBodyLimit      = 1 << 30
)

func (c *Config) setDefaults() {
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxSmallBodyBytes == 0 {
		c.MaxSmallBodyBytes = min(DefaultMaxSmallBodyBytes, c.MaxBodyBytes)
	}
}

// ConfigError is the error Validate returns: Field is the YAML path of the
// offending setting.
type ConfigError struct {
	Field string
	Rule  string
}

func (e *ConfigError) Error() string { return "vxp config: " + e.Field + ": " + e.Rule }

func cfgErr(field, format string, args ...any) error {
	return &ConfigError{Field: field, Rule: fmt.Sprintf(format, args...)}
}

// Validate checks c, with defaults applied, and returns a *ConfigError
// naming the first setting it refuses. Secrets must have been resolved.
func (c Config) Validate() error {
	c.setDefaults()
	return c.validate()
}

func (c *Config) validate() error {
	if len(c.Systems) == 0 {
		return cfgErr("systems", "at least one system is required")
	}
	if c.MaxBodyBytes < 1024 || c.MaxBodyBytes > maxBodyLimit {
		return cfgErr("max_body_bytes", "must be between 1024 and %d, got %d", maxBodyLimit, c.MaxBodyBytes)
	}
	if c.MaxSmallBodyBytes < 1024 || c.MaxSmallBodyBytes > c.MaxBodyBytes {
		return cfgErr("max_small_body_bytes", "must be between 1024 and max_body_bytes (%d), got %d", c.MaxBodyBytes, c.MaxSmallBodyBytes)
	}
	seen := make(map[string]int, len(c.Systems))
	for i, s := range c.Systems {
		f := fmt.Sprintf("systems[%d]", i)
		if !isSystemID(s.ID) {
			return cfgErr(f+".id", "%q is not a systemid: 1–%d ASCII letters, digits, '.', '_', '-' or ':'", s.ID, maxSystemIDLength)
		}
		if j, dup := seen[s.ID]; dup {
			return cfgErr(f+".id", "%q is also systems[%d].id", s.ID, j)
		}
		seen[s.ID] = i
		if len(s.Secret) < MinSecretBytes {
			if s.Secret == "" {
				return cfgErr(f+".secret", "empty: set secret_file or secret_env and resolve it (ResolveSecrets)")
			}
			return cfgErr(f+".secret", "shorter than %d bytes", MinSecretBytes)
		}
		if !utf8.ValidString(s.Secret) {
			return cfgErr(f+".secret", "not valid UTF-8 (the SDK signs with the secret's UTF-8 bytes)")
		}
		if len(s.OrganIDs) == 0 {
			return cfgErr(f+".organ_ids", "at least one OrganId is required")
		}
		for j, id := range s.OrganIDs {
			if !edoc.IsOrganID(id) {
				return cfgErr(fmt.Sprintf("%s.organ_ids[%d]", f, j), "%q is not an OrganId (dot-separated groups of letters and digits, at most %d characters)", id, edoc.MaxOrganIDLength)
			}
		}
		for j, p := range s.ParentCodes {
			if !edoc.IsOrganID(p) {
				return cfgErr(fmt.Sprintf("%s.parent_codes[%d]", f, j), "%q is not an OrganId", p)
			}
			if allZeroGroups(p) {
				return cfgErr(fmt.Sprintf("%s.parent_codes[%d]", f, j), "%q has only zero groups: it would be the parent of everything", p)
			}
		}
	}
	return nil
}

// ResolveSecrets fills each system's Secret from its SecretFile (read now;
// one trailing newline is dropped) or from the environment variable
// SecretEnv, looked up with lookupEnv (os.LookupEnv in a program; the
// library never reads the environment itself). A system with neither set
// keeps the Secret it has.
func (c *Config) ResolveSecrets(lookupEnv func(string) (string, bool)) error {
	for i := range c.Systems {
		s := &c.Systems[i]
		f := fmt.Sprintf("systems[%d]", i)
		switch {
		case s.SecretFile != "" && s.SecretEnv != "":
			return cfgErr(f+".secret_file", "give secret_file or secret_env, not both")
		case s.SecretFile != "":
			b, err := os.ReadFile(s.SecretFile)
			if err != nil {
				return cfgErr(f+".secret_file", "reading the secret: %v", err)
			}
			s.Secret = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
			if s.Secret == "" {
				return cfgErr(f+".secret_file", "%s is empty", s.SecretFile)
			}
		case s.SecretEnv != "":
			if lookupEnv == nil {
				return cfgErr(f+".secret_env", "no environment lookup given")
			}
			v, ok := lookupEnv(s.SecretEnv)
			if !ok || v == "" {
				return cfgErr(f+".secret_env", "environment variable %s is not set or empty", s.SecretEnv)
			}
			s.Secret = v
		}
	}
	return nil
}

func isSystemID(s string) bool {
	if s == "" || len(s) > maxSystemIDLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isIDByte(s[i]) {
			return false
		}
	}
	return true
}

// isIDByte reports whether b may appear in a systemid or a docId.
func isIDByte(b byte) bool {
	switch {
	case b >= '0' && b <= '9', b >= 'A' && b <= 'Z', b >= 'a' && b <= 'z':
		return true
	case b == '.', b == '_', b == '-', b == ':':
		return true
	}
	return false
}
