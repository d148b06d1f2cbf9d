package witness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"truc.vn/truc/bus"
)

// ErrHalted is returned by every round after a split view, until an
// operator resumes the witness (see the package documentation).
var ErrHalted = errors.New("witness: cosigning stopped after a split view")

// maxObserved bounds the checkpoints Observe queues between two rounds;
// maxRecent the checkpoints remembered as already checked.
const (
	maxObserved = 64
	maxRecent   = 1024
)

// Witness witnesses one log. Its methods are safe for concurrent use;
// rounds (Check, CheckNote, and those Run makes) run one at a time.
type Witness struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex           // held for a whole round; guards the fields below
	last     bus.SignedCheckpoint // the last checkpoint witnessed, Note cosigned; zero before the first
	unposted bool                 // last's cosignature has not reached the log
	halted   string               // the evidence file while halted
	recent   map[checkpointID]bool

	obsMu    sync.Mutex
	observed [][]byte
	wake     chan struct{}

	lastSize, cosigned, splitViews, stale, errs atomic.Int64
	haltedFlag                                  atomic.Bool
}

type checkpointID struct {
	size int64
	hash [32]byte
}

// Stats are the witness's counters, for metrics. Counters count since New.
type Stats struct {
	LastSize   int64 // size of the last checkpoint witnessed (0 before the first)
	Cosigned   int64 // checkpoints cosigned
	SplitViews int64 // split views detected
	Stale      int64 // checkpoints older than the last witnessed (checked, not cosigned)
	Errors     int64 // rounds that failed: the log unreachable or refusing, a checkpoint that does not verify, a disk error
	Halted     bool  // cosigning is stopped after a split view (survives restarts)
}

// New checks cfg, creates cfg.Dir if needed and loads the witness's state
// from it: the last checkpoint witnessed and whether it is halted. A state
// file that cannot be read is an error (the operator decides; see the
// package documentation).
func New(cfg Config) (*Witness, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("witness: config: %w", err)
	}
	w := &Witness{cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1), recent: map[checkpointID]bool{}}
	if err := w.load(); err != nil {
		return nil, err
	}
	if w.halted != "" {
		w.log.Error("witness: cosigning is stopped after a split view; an operator must resume it", "evidence", w.halted, "dir", cfg.Dir)
	}
	return w, nil
}

// Stats returns the counters.
func (w *Witness) Stats() Stats {
	return Stats{
		LastSize:   w.lastSize.Load(),
		Cosigned:   w.cosigned.Load(),
		SplitViews: w.splitViews.Load(),
		Stale:      w.stale.Load(),
		Errors:     w.errs.Load(),
		Halted:     w.haltedFlag.Load(),
	}
}

// Last returns the last checkpoint witnessed (Note holding the witness's
// cosignature), the zero value before the first.
func (w *Witness) Last() bus.SignedCheckpoint {
	w.mu.Lock()
	defer w.mu.Unlock()
	last := w.last
	last.Note = bytes.Clone(last.Note)
	return last
}

// Observe queues a checkpoint note seen elsewhere (in an axis receipt) to
// be checked at once by Run. It never blocks; a note already queued is not
// queued again, and notes beyond 64 queued are dropped (the next fetch of
// the latest checkpoint covers them).
func (w *Witness) Observe(msg []byte) {
	w.obsMu.Lock()
	if len(w.observed) < maxObserved && !slices.ContainsFunc(w.observed, func(q []byte) bool { return bytes.Equal(q, msg) }) {
		w.observed = append(w.observed, bytes.Clone(msg))
	}
	w.obsMu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run checks the log's latest checkpoint now, then every Config.Every and
// whenever Observe queued a note, until ctx is done; then it returns nil.
// Failures are logged and counted, and retried at the next round.
func (w *Witness) Run(ctx context.Context) error {
	t := time.NewTicker(w.cfg.Every)
	defer t.Stop()
	w.report(w.Check(ctx), false)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			w.report(w.Check(ctx), false)
		case <-w.wake:
			w.obsMu.Lock()
			notes := w.observed
			w.observed = nil
			w.obsMu.Unlock()
			for _, msg := range notes {
				if ctx.Err() != nil {
					return nil
				}
				w.report(w.CheckNote(ctx, msg), true)
			}
		}
	}
}

// alerted wraps an error already logged at Error level where it was
// found (a split view, a checkpoint the log keys do not verify): those are
// logged whoever calls, not only by Run.
type alerted struct{ error }

func (a alerted) Unwrap() error { return a.error }

// report logs the outcome of a round of Run; observed tells a round on a
// note from Observe, for which an older checkpoint is routine (a receipt
// issued before the latest checkpoint).
func (w *Witness) report(err error, observed bool) {
	var a alerted
	switch {
	case err == nil, errors.Is(err, context.Canceled), errors.As(err, &a):
	case errors.Is(err, ErrHalted):
		w.log.Debug("witness: round skipped", "err", err)
	case errors.Is(err, bus.ErrStaleCheckpoint) && observed:
		w.log.Debug("witness: an older checkpoint observed is consistent; not cosigned", "err", err)
	case errors.Is(err, bus.ErrStaleCheckpoint):
		w.log.Warn("witness: the log served a checkpoint older than the last one witnessed; not cosigned", "err", err)
	case IsStatus(err, http.StatusForbidden):
		w.log.Error("witness: the axis does not know this witness's key; is the edge's seal certificate in the directory?", "key_name", w.cfg.Signer.Name(), "err", err)
	default:
		w.log.Warn("witness: round failed", "err", err)
	}
}

// Check fetches the log's latest checkpoint and witnesses it (CheckNote).
func (w *Witness) Check(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.checkHalted(); err != nil {
		return err
	}
	msg, err := w.cfg.Log.Checkpoint(ctx)
	if err != nil {
		w.failed(ctx)
		return fmt.Errorf("witness: %w", err)
	}
	return w.witness(ctx, msg)
}

// CheckNote witnesses the checkpoint note msg: it verifies it with the log
// keys, checks it is consistent with the last one witnessed, and if it is
// newer cosigns it, records it and posts the cosignature. It returns nil
// when msg was cosigned or had been already, an error wrapping
// bus.ErrStaleCheckpoint for an older checkpoint found consistent, one
// wrapping bus.ErrSplitView when a split view was detected now, ErrHalted
// while halted, and other errors for failures (counted in Stats.Errors).
func (w *Witness) CheckNote(ctx context.Context, msg []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.checkHalted(); err != nil {
		return err
	}
	return w.witness(ctx, msg)
}

// checkHalted returns ErrHalted while the halted file exists; when an
// operator removed it, it reloads the state and resumes.
func (w *Witness) checkHalted() error {
	if w.halted == "" {
		return nil
	}
	still, err := w.haltedFileExists()
	if err != nil {
		w.errs.Add(1)
		return fmt.Errorf("%w: %w", ErrHalted, err)
	}
	if still {
		return fmt.Errorf("%w (evidence %s)", ErrHalted, w.halted)
	}
	evidence := w.halted
	if err := w.load(); err != nil {
		w.errs.Add(1)
		return fmt.Errorf("%w: resuming: %w", ErrHalted, err)
	}
	w.log.Warn("witness: resumed by an operator after a split view", "evidence", evidence, "last_size", w.last.Size, "taken_on_trust", len(w.last.Note) == 0)
	return nil
}

func (w *Witness) witness(ctx context.Context, msg []byte) error {
	cp, err := bus.OpenCheckpoint(msg, w.cfg.LogKeys)
	if err != nil {
		w.errs.Add(1)
		w.log.Error("witness: a checkpoint does not verify under the axis log keys; not cosigned", "err", err)
		return alerted{fmt.Errorf("witness: the checkpoint does not verify under the axis log keys: %w", err)}
	}
	cp.Note = w.logSigned(cp)
	id := checkpointID{cp.Size, cp.Hash}
	last := w.last
	first := len(last.Note) == 0
	switch {
	case !first && id == (checkpointID{last.Size, last.Hash}):
		return w.post(ctx)
	case w.recent[id]:
		if cp.Size < last.Size {
			return fmt.Errorf("witness: checkpoint of size %d, last witnessed %d: %w", cp.Size, last.Size, bus.ErrStaleCheckpoint)
		}
		return nil
	case !first && cp.Size < last.Size:
		return w.checkStale(ctx, cp, last)
	}
	var proof [][32]byte
	if !first && cp.Size > last.Size {
		if proof, err = w.cfg.Log.ConsistencyProof(ctx, last.Size, cp.Size); err != nil {
			w.failed(ctx)
			return fmt.Errorf("witness: %w", err)
		}
	}
	prev := last
	if first {
		prev = bus.SignedCheckpoint{}
	}
	cosigned, err := bus.Cosign(cp, prev, proof, w.cfg.Signer)
	if errors.Is(err, bus.ErrSplitView) {
		return w.splitView(last, cp, proof, err)
	}
	if err != nil {
		w.errs.Add(1)
		return fmt.Errorf("witness: %w", err)
	}
	if err := w.saveLast(cosigned); err != nil {
		w.errs.Add(1)
		return fmt.Errorf("witness: recording the checkpoint of size %d before publishing its cosignature: %w", cp.Size, err)
	}
	if !first {
		w.remember(checkpointID{last.Size, last.Hash})
	}
	w.last = bus.SignedCheckpoint{Checkpoint: cp.Checkpoint, Note: cosigned}
	w.unposted = true
	w.cosigned.Add(1)
	w.lastSize.Store(cp.Size)
	if first {
		w.log.Info("witness: first checkpoint of the log taken on trust", "log_origin", cp.Origin, "log_size", cp.Size)
		return w.post(ctx)
	}
	w.log.Debug("witness: checkpoint cosigned", "log_origin", cp.Origin, "log_size", cp.Size, "previous_size", last.Size)
	perr := w.post(ctx)
	return errors.Join(perr, w.gather(ctx, last.Size, w.last))
}

// gather cosigns, besides latest, the checkpoint that other witnesses
// cosigned most among those the witness skipped over (sizes after < size <
// latest.Size), once it is shown to be a prefix of latest. Witnesses
// fetch at their own times and each cosigns the checkpoint latest then, so
// on a busy log each would otherwise cosign a different one; this way the
// cosignatures gather on common checkpoints (within about one round), which
// an auditor who requires several can use. The cosignature is posted
// once, not retried; latest stays the last checkpoint witnessed.
func (w *Witness) gather(ctx context.Context, after int64, latest bus.SignedCheckpoint) error {
	if latest.Size-after < 2 {
		return nil
	}
	msg, err := w.cfg.Log.MostCosigned(ctx, after, latest.Size-1)
	if err != nil || msg == nil {
		if err != nil {
			w.failed(ctx)
			return fmt.Errorf("witness: %w", err)
		}
		return nil
	}
	cp, err := bus.OpenCheckpoint(msg, w.cfg.LogKeys)
	if err != nil {
		w.errs.Add(1)
		w.log.Error("witness: a cosigned checkpoint served by the log does not verify under the axis log keys; not cosigned", "err", err)
		return alerted{fmt.Errorf("witness: the cosigned checkpoint served does not verify under the axis log keys: %w", err)}
	}
	if cp.Size <= after || cp.Size >= latest.Size || w.signed(msg) {
		return nil
	}
	proof, err := w.cfg.Log.ConsistencyProof(ctx, cp.Size, latest.Size)
	if err != nil {
		w.failed(ctx)
		return fmt.Errorf("witness: %w", err)
	}
	if err := bus.VerifyConsistency(cp.Checkpoint, latest.Checkpoint, proof); err != nil {
		return w.splitView(latest, cp, proof, fmt.Errorf("the checkpoint of size %d that other witnesses cosigned is not shown to be a prefix of the one of size %d: %w: %w", cp.Size, latest.Size, bus.ErrSplitView, err))
	}
	cp.Note = w.logSigned(cp)
	// Shown consistent with latest above, hence with everything before.
	cosigned, err := bus.Cosign(cp, bus.SignedCheckpoint{}, nil, w.cfg.Signer)
	if err != nil {
		w.errs.Add(1)
		return fmt.Errorf("witness: %w", err)
	}
	if err := w.cfg.Log.AddCosignature(ctx, cosigned); err != nil {
		w.failed(ctx)
		return fmt.Errorf("witness: cosignature of the checkpoint of size %d: %w", cp.Size, err)
	}
	w.cosigned.Add(1)
	w.log.Debug("witness: checkpoint cosigned with other witnesses", "log_origin", cp.Origin, "log_size", cp.Size)
	return nil
}

// signed reports whether msg carries a signature line by the witness's key.
func (w *Witness) signed(msg []byte) bool {
	for _, line := range signatureLines(msg) {
		if name, hash, ok := lineKey(line); ok && name == w.cfg.Signer.Name() && hash == w.cfg.Signer.KeyHash() {
			return true
		}
	}
	return false
}

// checkStale checks that cp, older than last, is a prefix of it.
func (w *Witness) checkStale(ctx context.Context, cp, last bus.SignedCheckpoint) error {
	proof, err := w.cfg.Log.ConsistencyProof(ctx, cp.Size, last.Size)
	if err != nil {
		w.failed(ctx)
		return fmt.Errorf("witness: %w", err)
	}
	if err := bus.VerifyConsistency(cp.Checkpoint, last.Checkpoint, proof); err != nil {
		return w.splitView(last, cp, proof, fmt.Errorf("the checkpoint of size %d is not shown to be a prefix of the last one witnessed, of size %d: %w: %w", cp.Size, last.Size, bus.ErrSplitView, err))
	}
	w.remember(checkpointID{cp.Size, cp.Hash})
	w.stale.Add(1)
	return fmt.Errorf("witness: checkpoint of size %d, last witnessed %d: %w", cp.Size, last.Size, bus.ErrStaleCheckpoint)
}

// post hands the last cosignature to the log if it has not taken it yet.
func (w *Witness) post(ctx context.Context) error {
	if !w.unposted {
		return nil
	}
	if err := w.cfg.Log.AddCosignature(ctx, w.last.Note); err != nil {
		w.failed(ctx)
		var se *StatusError
		if errors.As(err, &se) && se.Status/100 == 4 && se.Status != http.StatusRequestTimeout && se.Status != http.StatusTooManyRequests {
			// Refused for good: posting it again every round would not
			// help. The next checkpoint cosigned is posted.
			w.unposted = false
		}
		return fmt.Errorf("witness: cosignature of the checkpoint of size %d: %w", w.last.Size, err)
	}
	w.unposted = false
	return nil
}

// failed counts a failed call to the log, unless ctx ended (a shutdown is
// not a failure).
func (w *Witness) failed(ctx context.Context) {
	if ctx.Err() == nil {
		w.errs.Add(1)
	}
}

func (w *Witness) remember(id checkpointID) {
	if len(w.recent) >= maxRecent {
		clear(w.recent)
	}
	w.recent[id] = true
}

// splitView keeps the evidence, halts and alerts.
func (w *Witness) splitView(last, cp bus.SignedCheckpoint, proof [][32]byte, cause error) error {
	w.splitViews.Add(1)
	ev := &Evidence{
		DetectedAt: w.cfg.Now(),
		Witness:    w.cfg.Signer.Name(),
		Reason:     oneLine(cause.Error()),
		Old:        last.Note,
		New:        cp.Note,
		Proof:      proof,
	}
	name, err := w.halt(ev)
	if err != nil {
		// Not halted on disk: the next round detects it again.
		w.errs.Add(1)
		w.log.Error("witness: SPLIT VIEW: the axis log showed two histories; the evidence could not be written", "log_origin", cp.Origin, "last_size", last.Size, "log_size", cp.Size, "err", err, "cause", cause)
		return alerted{fmt.Errorf("witness: %w; keeping the evidence: %w", cause, err)}
	}
	w.log.Error("witness: SPLIT VIEW: the axis log showed two histories; cosigning stopped until an operator resumes it", "log_origin", cp.Origin, "last_size", last.Size, "log_size", cp.Size, "evidence", name, "cause", cause)
	return alerted{fmt.Errorf("witness: %w (evidence %s)", cause, name)}
}

// logSigned returns cp's note with only the signature lines by the log's
// keys under its origin: lines by others (witnesses, unknown keys) are
// not the witness's to vouch for, and a bad one would make the axis
// refuse the witness's cosignature.
func (w *Witness) logSigned(cp bus.SignedCheckpoint) []byte {
	i := bytes.LastIndex(cp.Note, []byte("\n\n"))
	out := slices.Clone(cp.Note[:i+2])
	for _, line := range signatureLines(cp.Note) {
		name, hash, ok := lineKey(line)
		if !ok || name != cp.Origin {
			continue
		}
		if _, err := w.cfg.LogKeys.Verifier(name, hash); err == nil {
			out = append(out, line...)
		}
	}
	return out
}

// oneLine replaces control characters (newlines included) by spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}
