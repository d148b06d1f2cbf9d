package directory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"

	"truc.vn/truc/bus"
)

// Defaults.
const (
	DefaultHistoryLimit       = 10000   // versions kept in memory for Since
	DefaultAdminMaxBody       = 8 << 20 // an onboarding of a few thousand agencies
	DefaultSyncLimit          = 500     // versions per sync response when the client names none
	DefaultSyncMaxLimit       = 5000    // the most versions a sync client may ask for at once
	maxHistoryLimit           = 1 << 22
	maxAdminBodyLimit   int64 = 256 << 20
)

// Config configures a Directory.
type Config struct {
	// Topics gives the inbox topic of an edge that names none (zero value:
	// the "truc" prefix). Use the same prefix as the transport.
	Topics bus.Topics `yaml:"-"`
	// HistoryLimit is how many versions the directory keeps at least in
	// memory to answer Since (up to a quarter more between trims); a
	// client further behind gets a snapshot. Default DefaultHistoryLimit.
	HistoryLimit int `yaml:"history_limit"`
	// Logger receives one record per change (version and counts only).
	// nil discards.
	Logger *slog.Logger `yaml:"-"`
}

func (c *Config) setDefaults() error {
	if c.HistoryLimit == 0 {
		c.HistoryLimit = DefaultHistoryLimit
	}
	if c.HistoryLimit < 0 || c.HistoryLimit > maxHistoryLimit {
		return fmt.Errorf("directory: history_limit %d is outside 1..%d", c.HistoryLimit, maxHistoryLimit)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// AdminConfig configures the admin API (NewAdminHandler).
type AdminConfig struct {
	// TokensSHA256 are the SHA-256 of the bearer tokens allowed to change
	// the directory, 64 hex digits each (`printf %s "$TOKEN" | sha256sum`).
	// At least one. The tokens themselves are never configured.
	TokensSHA256 []string `yaml:"tokens_sha256"`
	// MaxBodyBytes caps a request body. Default DefaultAdminMaxBody.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// OnEdge is called with every edge a request adds or changes, after
	// the change is known to apply and before it is recorded; if it fails
	// nothing changes. The axis creates the edge's inbox topic there. It
	// must be idempotent: a later error can still discard the change.
	OnEdge func(ctx context.Context, e bus.EdgeInfo) error `yaml:"-"`
	// Logger receives one record per request that changes something, and
	// server-side errors. nil discards.
	Logger *slog.Logger `yaml:"-"`
}

// Validate checks the configuration. Field names in errors are the YAML
// keys.
func (c AdminConfig) Validate() error {
	if _, err := parseTokens("tokens_sha256", c.TokensSHA256); err != nil {
		return err
	}
	if c.MaxBodyBytes < 0 || c.MaxBodyBytes > maxAdminBodyLimit {
		return fmt.Errorf("max_body_bytes %d is outside 0..%d", c.MaxBodyBytes, maxAdminBodyLimit)
	}
	return nil
}

// SyncConfig configures the sync API edges call (NewSyncHandler).
type SyncConfig struct {
	// TokensSHA256 are the SHA-256 of the bearer tokens edges use, 64 hex
	// digits each. At least one. Keep them apart from the admin tokens.
	TokensSHA256 []string `yaml:"tokens_sha256"`
	// MaxLimit is the most versions one response carries. Default
	// DefaultSyncMaxLimit.
	MaxLimit int `yaml:"max_limit"`
	// CRLs returns the DER of the CRLs the axis holds, for GET /v1/crls.
	// nil serves an empty list.
	CRLs func() [][]byte `yaml:"-"`
	// Logger receives server-side errors. nil discards.
	Logger *slog.Logger `yaml:"-"`
}

// Validate checks the configuration.
func (c SyncConfig) Validate() error {
	if _, err := parseTokens("tokens_sha256", c.TokensSHA256); err != nil {
		return err
	}
	if c.MaxLimit < 0 {
		return fmt.Errorf("max_limit %d is negative", c.MaxLimit)
	}
	return nil
}

// tokenSet holds the SHA-256 of the accepted bearer tokens.
type tokenSet [][sha256.Size]byte

func parseTokens(field string, hexes []string) (tokenSet, error) {
	if len(hexes) == 0 {
		return nil, fmt.Errorf("%s: at least one token hash is required", field)
	}
	ts := make(tokenSet, len(hexes))
	for i, h := range hexes {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("%s[%d]: want the SHA-256 of a token as 64 hex digits", field, i)
		}
		copy(ts[i][:], b)
	}
	return ts, nil
}
