package boltstore

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/mod/sumdb/note"

	"truc.vn/truc/bus"
)

// Defaults applied by Open to zero Config fields.
const (
	DefaultLockTimeout     = time.Second
	DefaultMaxBatch        = 128
	DefaultCheckpointEvery = time.Second
)

// Config is everything Open needs besides the file path. The zero value of
// every field means the default written next to it. Field names in errors
// are the YAML keys.
type Config struct {
	// LockTimeout is how long Open waits for another process to release
	// the file lock before it fails with ErrInUse. Default 1s.
	LockTimeout time.Duration `yaml:"lock_timeout"`
	// MaxBatch is the most commit requests (an Append call, a ledger
	// write, ...) that share one bbolt transaction and so one pair of
	// fsyncs. Requests that arrive while a commit is running wait for the
	// next one; a lone request never waits for company. Default 128; 1
	// turns batching off.
	MaxBatch int `yaml:"max_batch"`

	// LogSigner signs the transparency log's checkpoints: on the axis, a
	// notesig.Signer over the axis seal key. Its name is the log's origin
	// ("truc.vn/axis/<axis-id>"). Nil on an edge: the log can then still
	// append and prove, but not sign.
	LogSigner note.Signer `yaml:"-"`

	// Logger receives operational events (checkpoints signed, signing
	// failures). Nil discards them.
	Logger *slog.Logger `yaml:"-"`
	// Now is the clock (default time.Now); the time a checkpoint was
	// signed is recorded with it (Log.Status).
	Now func() time.Time `yaml:"-"`
}

func (c *Config) setDefaults() {
	if c.LockTimeout == 0 {
		c.LockTimeout = DefaultLockTimeout
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate checks the configuration after defaults are applied and
// returns every problem found, each naming its field.
func (c Config) Validate() error {
	var errs []error
	if c.LockTimeout < 0 {
		errs = append(errs, fmt.Errorf("lock_timeout: must not be negative, got %s", c.LockTimeout))
	}
	if c.MaxBatch < 0 || c.MaxBatch > 10000 {
		errs = append(errs, fmt.Errorf("max_batch: must be 1–10000, got %d", c.MaxBatch))
	}
	if c.LogSigner != nil {
		if err := bus.CheckOrigin(c.LogSigner.Name()); err != nil {
			errs = append(errs, fmt.Errorf("log signer: its key name is the log origin: %w", err))
		}
	}
	return errors.Join(errs...)
}
