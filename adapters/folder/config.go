package folder

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"truc.vn/truc/bus"
	"truc.vn/truc/edoc"
)

// Config configures a Folder. Zero fields take the defaults; field names in
// errors are the YAML keys of the edge config's folder: section.
type Config struct {
	// Root is the folder the DMS shares with the edge: outbox/, sent/,
	// failed/ and inbox/ are created under it. An absolute path. Required.
	Root string
	// OrganIDs are the agencies the DMS behind the folder acts for: files
	// in outbox/ must be sent by one of them, and inbox items addressed to
	// one of them are written to inbox/. At least one.
	OrganIDs []string
	// Client names the folder as the edge's API client: it scopes the
	// idempotency keys of its submissions (give each folder of one edge its
	// own). 1–64 ASCII letters, digits, '.', '_' or '-'. Default
	// DefaultClient.
	Client string
	// Settle is how long a file in outbox/ must stay unchanged (size and
	// modification time) before it is taken; 0 takes a file as soon as it
	// is seen, for a DMS that always writes under a temporary name and
	// renames. Default DefaultSettle.
	Settle time.Duration
	// Poll is how often outbox/ is scanned. Default DefaultPoll.
	Poll time.Duration
	// NoTake stops the folder from taking incoming documents (Edge.Take,
	// which sends status 01) when it writes them to inbox/: the DMS then
	// answers with its own status files.
	NoTake bool
	// Workers is how many files are submitted at once. Default
	// DefaultWorkers.
	Workers int
	// MaxFileBytes is the largest file taken from outbox/: a larger one
	// goes to failed/ unread. Default bus.DefaultMaxPackageBytes; set it to
	// the edge's package cap.
	MaxFileBytes int64
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives operational events (file names, item and message
	// IDs, never package contents); nil discards them.
	Logger *slog.Logger
}

// Defaults and bounds of Config.
const (
	DefaultClient  = "folder"
	DefaultSettle  = 2 * time.Second
	DefaultPoll    = time.Second
	DefaultWorkers = 8

	maxSettle     = time.Hour
	minPoll       = 10 * time.Millisecond
	maxPoll       = time.Minute
	maxWorkers    = 64
	maxClientName = 64
)

func (c *Config) setDefaults() {
	if c.Client == "" {
		c.Client = DefaultClient
	}
	if c.Settle == 0 {
		c.Settle = DefaultSettle
	}
	if c.Settle < 0 { // explicitly "no settle time"
		c.Settle = 0
	}
	if c.Poll == 0 {
		c.Poll = DefaultPoll
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.MaxFileBytes == 0 {
		c.MaxFileBytes = bus.DefaultMaxPackageBytes
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// NoSettle is the Settle value that takes files as soon as they are seen
// (a zero Settle means the default).
const NoSettle = time.Duration(-1)

// ConfigError is the error Validate returns: Field is the YAML key of the
// offending setting.
type ConfigError struct {
	Field string
	Rule  string
}

func (e *ConfigError) Error() string { return "folder config: " + e.Field + ": " + e.Rule }

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
	if c.Root == "" {
		return cfgErr("root", "required")
	}
	if !filepath.IsAbs(c.Root) {
		return cfgErr("root", "%q is not an absolute path", c.Root)
	}
	if len(c.OrganIDs) == 0 {
		return cfgErr("organ_ids", "at least one OrganId is required")
	}
	seen := map[string]bool{}
	for i, id := range c.OrganIDs {
		if !edoc.IsOrganID(id) {
			return cfgErr(fmt.Sprintf("organ_ids[%d]", i), "%q is not an OrganId", id)
		}
		if seen[id] {
			return cfgErr(fmt.Sprintf("organ_ids[%d]", i), "%s is listed twice", id)
		}
		seen[id] = true
	}
	if !isClientName(c.Client) {
		return cfgErr("client", "%q is not a client name: 1–%d ASCII letters, digits, '.', '_' or '-'", c.Client, maxClientName)
	}
	if c.Settle > maxSettle {
		return cfgErr("settle", "at most %v, got %v", maxSettle, c.Settle)
	}
	if c.Poll < minPoll || c.Poll > maxPoll {
		return cfgErr("poll", "must be between %v and %v, got %v", minPoll, maxPoll, c.Poll)
	}
	if c.Workers < 1 || c.Workers > maxWorkers {
		return cfgErr("workers", "must be between 1 and %d, got %d", maxWorkers, c.Workers)
	}
	if c.MaxFileBytes < 1024 {
		return cfgErr("max_file_bytes", "at least 1024, got %d", c.MaxFileBytes)
	}
	return nil
}

func isClientName(s string) bool {
	if s == "" || len(s) > maxClientName {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
	}) < 0
}
