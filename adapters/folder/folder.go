package folder

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"truc.vn/truc/bus"
)

// Edge is what the folder needs from the edge node; *bus.Edge implements
// it. Every method may be called concurrently, and each does all of its
// change or none of it before returning an error.
type Edge interface {
	// Submit checks, signs and durably queues a package from client acting
	// for one of organs. A retry with the same idempotency key and bytes
	// returns the first entry with created=false; a refusal is a
	// *bus.RejectError naming the field and the rule.
	Submit(ctx context.Context, client string, organs []string, pkg []byte, idempotencyKey string) (e bus.OutboxEntry, created bool, err error)
	// Inbox lists up to limit items with Seq > after, in Seq order.
	Inbox(ctx context.Context, after uint64, limit int) ([]bus.InboxItem, error)
	// WaitInbox blocks until an item with Seq > after exists or ctx ends.
	WaitInbox(ctx context.Context, after uint64) error
	// Item returns an inbox item and its exact package bytes
	// (bus.ErrNotFound).
	Item(ctx context.Context, id string) (bus.InboxItem, []byte, error)
	// Take records that the DMS took item id and sends status 01 from its
	// recipients among organs that have none yet (unless the edge is set
	// up for DMSs that send their own). Taking again is not an error.
	Take(ctx context.Context, id string, organs []string) (bus.InboxItem, error)
	// PostStatus builds, signs and queues a status about inbox item id
	// from its recipients among organs; a repeat with the same client and
	// idempotency key returns the first result.
	PostStatus(ctx context.Context, client, idempotencyKey, id string, organs []string, code, description, staff string) (bus.OutboxEntry, error)
	// Outbox lists outbox entries, newest first: a restarted folder looks
	// for a status it may have posted just before a crash.
	Outbox(ctx context.Context, q bus.OutboxQuery) ([]bus.OutboxEntry, error)
}

var _ Edge = (*bus.Edge)(nil)

// Folder exchanges letters between a DMS and the edge through folders. New
// prepares it; Run does the work.
type Folder struct {
	cfg  Config
	edge Edge
	log  *slog.Logger

	outbox, sent, failed, inbox, state string // absolute paths

	mu      sync.Mutex
	watches map[string]*watch // outbox/ entries seen, by name
}

// New checks cfg and creates the folders under cfg.Root (with mode 0750)
// if they are missing. It does not lock them: Run does.
func New(cfg Config, edge Edge) (*Folder, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if edge == nil {
		return nil, errors.New("folder: an edge is required")
	}
	f := &Folder{
		cfg:     cfg,
		edge:    edge,
		log:     cfg.Logger,
		outbox:  filepath.Join(cfg.Root, dirOutbox),
		sent:    filepath.Join(cfg.Root, dirSent),
		failed:  filepath.Join(cfg.Root, dirFailed),
		inbox:   filepath.Join(cfg.Root, dirInbox),
		state:   filepath.Join(cfg.Root, dirState),
		watches: map[string]*watch{},
	}
	if err := f.ensureDirs(); err != nil {
		return nil, err
	}
	return f, nil
}

// ensureDirs creates the folders under Root that are missing (a DMS or an
// operator may remove one while the edge runs).
func (f *Folder) ensureDirs() error {
	for _, d := range []string{f.outbox, f.sent, f.failed, f.inbox, f.state, f.statusDir()} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return fmt.Errorf("folder: creating %s: %w", d, err)
		}
	}
	return nil
}

// Run takes the folder's lock and works until ctx ends: it scans outbox/
// every Poll and submits the files that are complete, and follows the
// edge's inbox, writing what arrives to inbox/. Problems with one file or
// item are reported in failed/ or retried, never returned: Run returns an
// error only when it cannot start (the folder is locked by another
// process, the state is unreadable), and nil once ctx ends.
func (f *Folder) Run(ctx context.Context) error {
	// A folder removed since New is made again before anything reads it.
	if err := f.ensureDirs(); err != nil {
		return err
	}
	lock, err := lockDir(f.state)
	if err != nil {
		return err
	}
	defer lock.Close()
	for _, d := range []string{f.inbox, f.sent, f.failed, f.state, f.statusDir()} {
		// A folder removed meanwhile has nothing to clean; the loops make
		// it again.
		if err := cleanTemp(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("folder: cleaning %s: %w", d, err)
		}
	}
	cursor, err := f.loadCursor()
	if err != nil {
		return err
	}
	f.log.Info("folder: started", "root", f.cfg.Root, "organs", f.cfg.OrganIDs, "inbox_cursor", cursor)
	var wg sync.WaitGroup
	wg.Go(func() { f.runOutbox(ctx) })
	wg.Go(func() { f.runInbox(ctx, cursor) })
	wg.Wait()
	return nil
}
