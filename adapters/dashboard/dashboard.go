package dashboard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"truc.vn/truc/bus"
	"truc.vn/truc/edoc"
)

// Dashboard is the central office's view of the exchange: an indexer that
// tails the axis transparency log into aggregates in its own file, the
// queries over them, and the web pages and JSON API that show them.
type Dashboard struct {
	cfg    Config
	db     *bolt.DB
	ledger bus.Ledger
	log    *slog.Logger
	auth   *auth

	mu      sync.Mutex
	state   IndexState
	changed chan struct{} // closed and replaced after every commit
	done    chan struct{} // closed by Close
	closing sync.Once
	runMu   sync.Mutex // one indexing pass at a time (Run, Sync)
}

// IndexState is how far the indexer got.
type IndexState struct {
	// Cursor is the next log index to index: leaves 0…Cursor-1 are in the
	// aggregates.
	Cursor int64 `json:"cursor"`
	// LogSize is the log's size when the indexer last looked.
	LogSize int64 `json:"log_size"`
	// LastEvent is the time of the latest event indexed.
	LastEvent time.Time `json:"last_event,omitzero"`
	// Error is the latest indexing failure, "" after a success.
	Error string `json:"error,omitempty"`
}

// Open opens (or creates) the dashboard file and checks that it belongs to
// the ledger's log: if the file is ahead of the log or its last indexed
// leaf differs from the log's (a restored or replaced axis store), it is
// emptied and rebuilt from the start of the log by Run.
func Open(cfg Config) (*Dashboard, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("dashboard config: %w", err)
	}
	db, err := bolt.Open(cfg.Path, 0o600, &bolt.Options{Timeout: cfg.LockTimeout})
	if err != nil {
		return nil, fmt.Errorf("opening the dashboard file %s: %w", cfg.Path, err)
	}
	d := &Dashboard{cfg: cfg, db: db, ledger: cfg.Ledger, log: cfg.Logger, changed: make(chan struct{}), done: make(chan struct{})}
	if err := db.Update(initSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("dashboard file %s: %w", cfg.Path, err)
	}
	if err := d.checkLog(context.Background()); err != nil {
		db.Close()
		return nil, err
	}
	d.auth = newAuth(cfg)
	return d, nil
}

// checkLog compares the saved cursor with the log and resets the file
// when it belongs to another log.
func (d *Dashboard) checkLog(ctx context.Context) error {
	var cursor, last int64
	var saved []byte
	if err := d.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		cursor, saved, last = getU64(meta.Get(keyCursor)), bytes.Clone(meta.Get(keyLeaf)), getU64(meta.Get(keyLastEvent))
		return nil
	}); err != nil {
		return err
	}
	size, err := d.ledger.Log().Size(ctx)
	if err != nil {
		return fmt.Errorf("reading the log size: %w", err)
	}
	reason := ""
	if cursor > size {
		reason = fmt.Sprintf("the dashboard indexed %d leaves, the log has %d", cursor, size)
	} else if cursor > 0 {
		leaf, err := d.ledger.Log().Leaf(ctx, cursor-1)
		if err != nil {
			return fmt.Errorf("reading log leaf %d: %w", cursor-1, err)
		}
		if !bytes.Equal(leafHash(leaf), saved) {
			reason = fmt.Sprintf("log leaf %d is not the one the dashboard indexed", cursor-1)
		}
	}
	if reason != "" {
		d.log.Warn("dashboard: the file belongs to another log; rebuilding it from the start of the log", "path", d.cfg.Path, "why", reason)
		if err := d.db.Update(resetTx); err != nil {
			return fmt.Errorf("resetting the dashboard file: %w", err)
		}
		cursor, last = 0, 0
	}
	d.state = IndexState{Cursor: cursor, LogSize: size}
	if last > 0 {
		d.state.LastEvent = time.Unix(0, last).UTC()
	}
	return nil
}

// Close stops the live streams and closes the file. Run must have
// returned.
func (d *Dashboard) Close() error {
	d.closing.Do(func() { close(d.done) })
	return d.db.Close()
}

// State returns how far the indexer got.
func (d *Dashboard) State() IndexState {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state
}

// Changed returns a channel closed the next time the aggregates change.
func (d *Dashboard) Changed() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.changed
}

func (d *Dashboard) notify(update func(*IndexState)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	update(&d.state)
	close(d.changed)
	d.changed = make(chan struct{})
}

// Run indexes the log as it grows and marks waiting letters overdue as
// their deadlines pass, until ctx is done; it returns nil then. Failures
// to read the log or the ledger are logged and retried.
func (d *Dashboard) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		n, err := d.step(ctx)
		if err == nil {
			err = d.sweep(ctx)
		}
		wait := d.cfg.Poll
		switch {
		case err != nil && ctx.Err() == nil:
			failures++
			wait = min(d.cfg.Poll<<min(failures, 7), 30*time.Second)
			if errors.Is(err, errRecord) {
				d.log.Error("dashboard: the dashboard file is damaged; stop the axis and delete it to rebuild it from the log", "path", d.cfg.Path, "err", err)
			} else {
				d.log.Error("dashboard: indexing the log (will retry)", "err", err, "retry_in", wait)
			}
			d.notify(func(s *IndexState) { s.Error = err.Error() })
		case n > 0:
			failures, wait = 0, 0
		default:
			failures = 0
		}
		t.Reset(wait)
	}
}

// Sync indexes every leaf the log holds now and sweeps the deadlines, then
// returns: for tests, tools and a first start that should wait.
func (d *Dashboard) Sync(ctx context.Context) error {
	for {
		n, err := d.step(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return d.sweep(ctx)
		}
	}
}

// Handler returns the web pages and JSON API, to be mounted at
// "/dashboard/" (see the package documentation for the routes).
func (d *Dashboard) Handler() http.Handler { return d.routes() }

// fact is one log leaf with what the ledger says about the package it is
// about.
type fact struct {
	index int64
	leaf  []byte
	ev    bus.Event
	ok    bool       // the leaf decoded as an event
	entry *bus.Entry // the ledger entry of ev.PackageSHA256, nil when unknown
	head  *header    // the letter header, for the first document of a letter
}

// header is what the dashboard keeps from a package header.
type header struct {
	Code, Notation, Subject, TypeName, SenderName, Promulgation, DueDate string
	DueEnd                                                               time.Time
}

// step indexes up to Batch leaves in one transaction and returns how many.
func (d *Dashboard) step(ctx context.Context) (int, error) {
	d.runMu.Lock()
	defer d.runMu.Unlock()
	start := d.State().Cursor
	size, err := d.ledger.Log().Size(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading the log size: %w", err)
	}
	if size <= start {
		if size != d.State().LogSize {
			d.notify(func(s *IndexState) { s.LogSize = size })
		}
		return 0, nil
	}
	end := min(size, start+int64(d.cfg.Batch))
	facts, readErr := d.read(ctx, start, end)
	if len(facts) == 0 {
		return 0, readErr
	}
	cfg := applyConfig{sla01: d.cfg.SLA01, sla03: d.cfg.SLA03}
	var last int64
	err = d.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if got := getU64(meta.Get(keyCursor)); got != start {
			return fmt.Errorf("the dashboard file's cursor is %d, expected %d: is another process indexing it?", got, start)
		}
		b := newBatch(tx, cfg)
		for i := range facts {
			if err := b.apply(&facts[i]); err != nil {
				return fmt.Errorf("indexing log leaf %d: %w", facts[i].index, err)
			}
		}
		if err := b.flush(); err != nil {
			return err
		}
		last = b.lastEvent
		next := facts[len(facts)-1].index + 1
		if err := meta.Put(keyCursor, u64(next)); err != nil {
			return err
		}
		if last = max(last, getU64(meta.Get(keyLastEvent))); last > 0 {
			if err := meta.Put(keyLastEvent, u64(last)); err != nil {
				return err
			}
		}
		return meta.Put(keyLeaf, leafHash(facts[len(facts)-1].leaf))
	})
	if err != nil {
		return 0, fmt.Errorf("committing log leaves %d–%d: %w", start, facts[len(facts)-1].index, err)
	}
	d.notify(func(s *IndexState) {
		s.Cursor, s.LogSize, s.Error = facts[len(facts)-1].index+1, size, ""
		if last > 0 {
			s.LastEvent = time.Unix(0, last).UTC()
		}
	})
	return len(facts), nil
}

// read reads and enriches leaves [start, end). It stops at the first
// leaf it cannot read now and returns the facts before it with the error.
func (d *Dashboard) read(ctx context.Context, start, end int64) ([]fact, error) {
	facts := make([]fact, 0, end-start)
	headed := map[string]bool{} // root keys whose header this batch read
	for i := start; i < end; i++ {
		leaf, err := d.ledger.Log().Leaf(ctx, i)
		if err != nil {
			return facts, fmt.Errorf("reading log leaf %d: %w", i, err)
		}
		f := fact{index: i, leaf: leaf}
		ev, err := bus.DecodeEvent(leaf)
		if err != nil {
			d.log.Warn("dashboard: skipping a log leaf that is not an event", "leaf", i, "err", err)
			facts = append(facts, f)
			continue
		}
		f.ev, f.ok = ev, true
		e, err := d.ledger.Get(ctx, ev.PackageSHA256)
		switch {
		case errors.Is(err, bus.ErrNotFound):
			d.log.Warn("dashboard: a log event about a package the ledger does not know", "leaf", i, "msg_id", ev.MessageID)
		case err != nil:
			return facts, fmt.Errorf("reading the ledger entry of log leaf %d: %w", i, err)
		default:
			f.entry = &e
		}
		if f.entry != nil && ev.Kind == bus.EventSubmissionAccepted && e.Type == bus.TypeDocument && !headed[e.Key] {
			known, err := d.letterAccepted(e.Key)
			if err != nil {
				return facts, err
			}
			if !known {
				headed[e.Key] = true
				f.head, err = d.readHeader(ctx, e)
				if err != nil {
					return facts, err
				}
			}
		}
		facts = append(facts, f)
	}
	return facts, nil
}

func (d *Dashboard) letterAccepted(key string) (bool, error) {
	var ok bool
	err := d.db.View(func(tx *bolt.Tx) error {
		l, found, err := getLetter(tx, key)
		ok = found && l.Accepted
		return err
	})
	return ok, err
}

// readHeader reads the header fields the dashboard shows from the package
// of e, once per letter. A package past retention, or one that is not
// edXML, gives no header (nil, nil).
func (d *Dashboard) readHeader(ctx context.Context, e bus.Entry) (*header, error) {
	pkg, err := d.ledger.Package(ctx, e.SHA256)
	if errors.Is(err, bus.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the package of %s: %w", e.MessageID, err)
	}
	p, err := edoc.Parse(pkg, edoc.Limits{MaxBytes: int64(len(pkg))})
	if err != nil || p.Kind != edoc.KindDocument {
		d.log.Debug("dashboard: the package header cannot be read", "msg_id", e.MessageID, "err", err)
		return nil, nil
	}
	h := p.Header
	out := &header{
		Code:         clipText(h.Code.String(), 256),
		Notation:     clipText(h.Code.Notation, 256),
		Subject:      clipText(h.Subject, 1024),
		TypeName:     clipText(h.DocumentType.TypeName, 256),
		SenderName:   clipText(h.From.OrganName, 512),
		Promulgation: clipText(h.Promulgation.Date.String(), 32),
		DueDate:      clipText(h.DueDate.String(), 32),
	}
	if t, err := h.DueDate.Time(); err == nil {
		out.DueEnd = t.AddDate(0, 0, 1)
	}
	return out, nil
}

// clipText returns s cut to at most n bytes on a rune boundary.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
