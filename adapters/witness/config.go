package witness

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// DefaultEvery is how often a Witness fetches the log's latest checkpoint
// when Config.Every is zero.
const DefaultEvery = 10 * time.Second

// Log is the witnessed log as a witness reaches it; Client implements it
// over the axis's HTTP API. Methods are called from one goroutine at a
// time and must return when ctx is done.
type Log interface {
	// Checkpoint returns the log's latest signed checkpoint note.
	Checkpoint(ctx context.Context) ([]byte, error)
	// ConsistencyProof returns the proof that the tree of size oldSize is
	// a prefix of the tree of size newSize (bus.Log.ConsistencyProof).
	ConsistencyProof(ctx context.Context, oldSize, newSize int64) ([][32]byte, error)
	// AddCosignature hands the log a checkpoint note cosigned by the
	// witness.
	AddCosignature(ctx context.Context, cosigned []byte) error
	// MostCosigned returns the checkpoint note, with its cosignatures,
	// that has the most cosignatures among sizes after < size ≤ upto,
	// or nil when none has any.
	MostCosigned(ctx context.Context, after, upto int64) ([]byte, error)
}

// Config configures a Witness.
type Config struct {
	// Log is the witnessed log: a *Client of the axis. Required.
	Log Log
	// LogKeys are the log's note verifier keys (the axis's, both old and
	// new during a rotation). Required. A checkpoint that none of them
	// signed under the checkpoint's origin is never cosigned.
	LogKeys note.Verifiers
	// Signer makes the cosignatures: the edge's seal key under
	// bus.EdgeNoteName(edge ID). Required; its name must not be a log
	// origin.
	Signer note.Signer
	// Dir holds the witness's state (last.checkpoint, halted) and the
	// split-view evidence; created with mode 0700 if absent. Required.
	Dir string
	// Every is how often the log's latest checkpoint is fetched (default
	// DefaultEvery, at least 100ms).
	Every time.Duration
	// Logger receives the witness's events (nil discards them).
	Logger *slog.Logger
	// Now is the clock for evidence times (default time.Now).
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.Every == 0 {
		c.Every = DefaultEvery
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports every missing or invalid field.
func (c Config) Validate() error {
	var errs []error
	if c.Log == nil {
		errs = append(errs, errors.New("log: required (the witnessed log, e.g. a *witness.Client)"))
	}
	if c.LogKeys == nil {
		errs = append(errs, errors.New("log keys: required (the axis log's verifier keys)"))
	}
	if c.Signer == nil {
		errs = append(errs, errors.New("signer: required (the witness's note signer)"))
	}
	if c.Dir == "" {
		errs = append(errs, errors.New("dir: required (where the witness keeps its state)"))
	}
	if c.Every < 0 || (c.Every > 0 && c.Every < 100*time.Millisecond) {
		errs = append(errs, errors.New("every: at least 100ms (0: the default, 10s)"))
	}
	return errors.Join(errs...)
}
