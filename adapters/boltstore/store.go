package boltstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the version of the bucket layout this release writes
// and reads. Open refuses a file with another version.
const SchemaVersion = 3

// formatMarker identifies a truc store, so that Open refuses another
// program's bbolt file instead of adding buckets to it.
const formatMarker = "truc.vn/boltstore"

// Errors of Open, Close and every Store method, for errors.Is.
var (
	// ErrInUse: another process (or another Store in this process) holds
	// the file; Open gave up after Config.LockTimeout.
	ErrInUse = errors.New("boltstore: database file is in use")
	// ErrClosed: the Store was closed.
	ErrClosed = errors.New("boltstore: store closed")
	// ErrSchema: the file was written with a schema version this release
	// cannot read (a newer release, or an older one without a migration).
	ErrSchema = errors.New("boltstore: unsupported schema version")
	// ErrNotStore: the file is a bbolt database of another program.
	ErrNotStore = errors.New("boltstore: not a truc store")
	// ErrCorrupt: stored data breaks an invariant (a missing leaf or hash,
	// a tree that does not reproduce a signed checkpoint).
	ErrCorrupt = errors.New("boltstore: stored data is inconsistent")
)

var (
	bucketMeta = []byte("meta")
	keyFormat  = []byte("format")
	keySchema  = []byte("schema")
)

// Store is one bbolt file holding truc state. Its methods are safe for
// concurrent use.
type Store struct {
	path string
	db   *bolt.DB
	cfg  Config
	log  *Log

	mu     sync.RWMutex // guards closed; held shared by senders to queue and by readers
	closed bool
	queue  chan *request
	done   chan struct{} // closed when the writer goroutine has exited

	statsMu    sync.Mutex // guards the commit statistics below
	commits    int64
	committed  int64
	commitTime time.Duration
	commitHist [len(commitBounds)]int64 // commits per bucket, not cumulative
}

// commitBounds are the upper bounds of the commit time histogram: an fsync
// takes about a millisecond on a datacentre SSD, tens on a disk.
var commitBounds = [...]time.Duration{
	500 * time.Microsecond, time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond,
	250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second,
}

// CommitStats counts durable commits since Open, for metrics.
type CommitStats struct {
	Commits  int64 // read-write transactions committed (each one pair of fsyncs)
	Requests int64 // requests they committed; Requests/Commits is the mean batch size
	// Time is the total time those commits took, each from the start of
	// its transaction to the end of its fsync.
	Time time.Duration
	// Buckets is the histogram of commit times: for each upper bound, how
	// many commits took at most that long (cumulative, so the counts only
	// grow along the slice; Commits counts them all).
	Buckets []CommitBucket
}

// CommitBucket is one bucket of CommitStats.Buckets.
type CommitBucket struct {
	UpperBound time.Duration
	Count      int64
}

// CommitStats returns the commit counters, all read at one instant.
func (s *Store) CommitStats() CommitStats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	st := CommitStats{Commits: s.commits, Requests: s.committed, Time: s.commitTime, Buckets: make([]CommitBucket, len(commitBounds))}
	var n int64
	for i, b := range commitBounds {
		n += s.commitHist[i]
		st.Buckets[i] = CommitBucket{UpperBound: b, Count: n}
	}
	return st
}

// countCommit records a commit of requests requests that took d.
func (s *Store) countCommit(requests int, d time.Duration) {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	s.commits++
	s.committed += int64(requests)
	s.commitTime += d
	for i, b := range commitBounds {
		if d <= b {
			s.commitHist[i]++
			break
		}
	}
}

// Open opens the store at path, creating it (mode 0600) if it does not
// exist. A new file is initialised with SchemaVersion; an existing one must
// be a truc store with exactly that version (ErrNotStore, ErrSchema), and
// its transparency log must be internally consistent (ErrCorrupt). If
// another process holds the file, Open fails with ErrInUse after
// cfg.LockTimeout.
func Open(path string, cfg Config) (*Store, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("boltstore: config: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: cfg.LockTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("opening %s: %w: another process holds its lock (waited %s)", path, ErrInUse, cfg.LockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: opening %s: %w", path, err)
	}
	// Check in a read transaction first, so that a refused Open never
	// writes to the file; write only to initialise.
	err = db.View(initSchema)
	if errors.Is(err, errNeedsInit) {
		err = db.Update(initSchema)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: opening %s: %w", path, err)
	}
	s := &Store{
		path:  path,
		db:    db,
		cfg:   cfg,
		queue: make(chan *request, cfg.MaxBatch),
		done:  make(chan struct{}),
	}
	if s.log, err = openLog(s); err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: opening %s: %w", path, err)
	}
	go s.writer()
	return s, nil
}

// errNeedsInit: initSchema, in a read-only transaction, found something
// to create.
var errNeedsInit = errors.New("the file needs initialising")

// initSchema checks an existing file and, in a writable transaction,
// initialises a new one (and creates missing buckets of the schema).
func initSchema(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		var other []byte
		_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			other = name
			return errors.New("stop")
		})
		if other != nil {
			return fmt.Errorf("%w: it has bucket %q and no truc metadata", ErrNotStore, other)
		}
		if !tx.Writable() {
			return errNeedsInit
		}
		var err error
		if meta, err = tx.CreateBucket(bucketMeta); err != nil {
			return err
		}
		if err := meta.Put(keyFormat, []byte(formatMarker)); err != nil {
			return err
		}
		if err := meta.Put(keySchema, binary.BigEndian.AppendUint32(nil, SchemaVersion)); err != nil {
			return err
		}
	}
	if f := meta.Get(keyFormat); string(f) != formatMarker {
		return fmt.Errorf("%w: format marker %q", ErrNotStore, f)
	}
	v := meta.Get(keySchema)
	if len(v) != 4 {
		return fmt.Errorf("%w: the schema version is %d bytes, want 4", ErrCorrupt, len(v))
	}
	switch version := binary.BigEndian.Uint32(v); {
	case version > SchemaVersion:
		return fmt.Errorf("%w: the file has schema %d, written by a newer release; this release reads schema %d", ErrSchema, version, SchemaVersion)
	case version == 1 || version == 2:
		// Schema 2 records inbox deliveries per recipient agency; schema
		// 3 indexes the inbox by root-document key.
		if !tx.Writable() {
			return errNeedsInit
		}
		if version == 1 {
			if err := migrateEdge1to2(tx); err != nil {
				return fmt.Errorf("migrating schema 1 to 2: %w", err)
			}
		}
		if err := migrateEdge2to3(tx); err != nil {
			return fmt.Errorf("migrating schema 2 to 3: %w", err)
		}
		if err := meta.Put(keySchema, binary.BigEndian.AppendUint32(nil, SchemaVersion)); err != nil {
			return err
		}
	case version < SchemaVersion:
		return fmt.Errorf("%w: the file has schema %d and this release has no migration from it to %d", ErrSchema, version, SchemaVersion)
	}
	for _, name := range schemaBuckets {
		if tx.Bucket(name) != nil {
			continue
		}
		if !tx.Writable() {
			return errNeedsInit
		}
		if _, err := tx.CreateBucket(name); err != nil {
			return fmt.Errorf("creating bucket %s: %w", name, err)
		}
	}
	return nil
}

// schemaBuckets are the buckets of SchemaVersion besides meta. Each part of
// the store (log, ledger, edge state, ...) adds its own in an init function
// of its file; a missing bucket is created when a file is opened.
var schemaBuckets = [][]byte{bucketLeaves, bucketHashes, bucketCheckpoints}

// Path returns the file path the store was opened with.
func (s *Store) Path() string { return s.path }

// Log returns the store's transparency log.
func (s *Store) Log() *Log { return s.log }

// Close waits for queued commits to finish, then closes the file. Calls
// after Close return ErrClosed. Close is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.queue)
	s.mu.Unlock()
	<-s.done
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("boltstore: closing %s: %w", s.path, err)
	}
	return nil
}

// view runs fn in a read-only transaction.
func (s *Store) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return s.db.View(fn)
}

// request is one commit: a function to run in the next batch transaction.
type request struct {
	fn    func(tx *bolt.Tx) error
	done  chan error   // receives the outcome once
	state atomic.Int32 // requestQueued → requestTaken (writer) or requestAbandoned (caller)
}

const (
	requestQueued int32 = iota
	requestTaken
	requestAbandoned
)

// commit runs fn in a read-write transaction and returns once that
// transaction is durably committed (or failed). Calls from many goroutines
// share transactions, up to Config.MaxBatch per transaction: one pair of
// fsyncs serves them all.
//
// fn must only touch tx: it may run more than once, because when another
// request of its batch fails, the batch is rolled back and run again
// without the failed one. Whatever fn records for its caller must be
// overwritten by each run. An error from fn rolls back only fn's own
// request; a commit failure (disk full, I/O error) fails every request of
// the batch. A panic in fn is returned as an error.
//
// If ctx is done before the writer took the request, commit returns ctx's
// error and fn never runs; after that it waits for the outcome.
func (s *Store) commit(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &request{fn: fn, done: make(chan error, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	select {
	case s.queue <- r:
		s.mu.RUnlock()
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		if r.state.CompareAndSwap(requestQueued, requestAbandoned) {
			return ctx.Err()
		}
		return <-r.done
	}
}

// writer is the single goroutine that commits: it takes whatever requests
// are queued (at least one, at most MaxBatch) and runs them in one
// transaction. While that transaction syncs, new requests queue up for the
// next one, so batches grow with load and a lone request never waits.
func (s *Store) writer() {
	defer close(s.done)
	batch := make([]*request, 0, s.cfg.MaxBatch)
	for r := range s.queue {
		batch = append(batch[:0], r)
	drain:
		for len(batch) < s.cfg.MaxBatch {
			select {
			case r, ok := <-s.queue:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		s.runBatch(batch)
	}
}

func (s *Store) runBatch(batch []*request) {
	live := batch[:0]
	for _, r := range batch {
		if r.state.CompareAndSwap(requestQueued, requestTaken) {
			live = append(live, r)
		}
	}
	for len(live) > 0 {
		failed, ferr := -1, error(nil)
		start := time.Now()
		err := s.db.Update(func(tx *bolt.Tx) error {
			for i, r := range live {
				if err := safeCall(r.fn, tx); err != nil {
					failed, ferr = i, err
					return err
				}
			}
			return nil
		})
		if failed >= 0 {
			live[failed].done <- ferr
			live = append(live[:failed], live[failed+1:]...)
			continue
		}
		if err != nil {
			err = fmt.Errorf("boltstore: committing to %s: %w", s.path, err)
		} else {
			s.countCommit(len(live), time.Since(start))
		}
		for _, r := range live {
			r.done <- err
		}
		return
	}
}

func safeCall(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("boltstore: panic in a commit function: %v", p)
		}
	}()
	return fn(tx)
}

// u64 encodes n as an 8-byte big-endian key, so that keys sort as numbers.
func u64(n int64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(n)) }
