package folder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"truc.vn/truc/bus"
)

// inboxPage is how many inbox items the folder reads at once.
const inboxPage = 64

// cursorFile holds the inbox cursor under .state/.
const cursorFile = "cursor.json"

// cursorState is .state/cursor.json.
type cursorState struct {
	// InboxSeq is the Seq of the last inbox item handled: written to
	// inbox/ (and taken), or skipped as addressed to other agencies.
	InboxSeq uint64 `json:"inbox_seq"`
}

func (f *Folder) loadCursor() (uint64, error) {
	b, err := os.ReadFile(filepath.Join(f.state, cursorFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("folder: reading the inbox cursor: %w", err)
	}
	var c cursorState
	if err := json.Unmarshal(b, &c); err != nil {
		return 0, fmt.Errorf("folder: %s: %w", filepath.Join(f.state, cursorFile), err)
	}
	return c.InboxSeq, nil
}

func (f *Folder) saveCursor(seq uint64) error {
	b, err := json.Marshal(cursorState{InboxSeq: seq})
	if err != nil {
		return err
	}
	return writeAtomic(f.state, cursorFile, b)
}

// InboxName is the name under which an inbox item is written to inbox/:
// the time it reached the edge (UTC, to the millisecond), the item ID, and
// what it is:
//
//	20261122T083015.123Z_in-<32 hex>.edxml               a document
//	20261122T083015.123Z_in-<32 hex>.status-03.edxml     a status (its code)
//	20261122T083015.123Z_in-<32 hex>.rejection.txt       a rejection notice (signed note)
//
// Names sort by arrival, and an item always gets the same name.
func InboxName(item bus.InboxItem) string {
	base := item.ReceivedAt.UTC().Format("20060102T150405.000Z") + "_" + item.ID
	switch item.Type {
	case bus.TypeStatus:
		code := item.StatusCode
		if len(code) != 2 || code[0] < '0' || code[0] > '9' || code[1] < '0' || code[1] > '9' {
			code = "xx"
		}
		return base + ".status-" + code + ".edxml"
	case bus.TypeRejection:
		return base + ".rejection.txt"
	default:
		return base + ".edxml"
	}
}

func (f *Folder) runInbox(ctx context.Context, cursor uint64) {
	for ctx.Err() == nil {
		items, err := f.edge.Inbox(ctx, cursor, inboxPage)
		if err != nil {
			if ctx.Err() == nil {
				f.log.Warn("folder: listing the inbox", "after", cursor, "err", err)
				sleep(ctx, f.cfg.Poll)
			}
			continue
		}
		if len(items) == 0 {
			// Wake on arrival; look again now and then regardless.
			wctx, cancel := context.WithTimeout(ctx, max(30*time.Second, f.cfg.Poll))
			_ = f.edge.WaitInbox(wctx, cursor)
			cancel()
			continue
		}
		if !f.deliver(ctx, items) {
			return
		}
		cursor = items[len(items)-1].Seq
		if !f.persist(ctx, "saving the inbox cursor", func() error { return f.saveCursor(cursor) }) {
			return
		}
	}
}

// deliver writes the items of one inbox page addressed to the folder's
// agencies to inbox/, makes them durable, and takes the documents,
// retrying passing failures until ctx ends. It reports false when ctx
// ended first.
func (f *Folder) deliver(ctx context.Context, items []bus.InboxItem) bool {
	var take []bus.InboxItem
	wrote := false
	for _, it := range items {
		if !slices.ContainsFunc(it.Recipients, func(r string) bool { return slices.Contains(f.cfg.OrganIDs, r) }) {
			continue
		}
		var pkg []byte
		gone := false
		ok := f.persist(ctx, "reading an inbox item", func() error {
			var err error
			_, pkg, err = f.edge.Item(ctx, it.ID)
			if errors.Is(err, bus.ErrNotFound) {
				gone = true
				return nil
			}
			return err
		})
		if !ok {
			return false
		}
		if gone {
			f.log.Warn("folder: an inbox item is past retention; skipped", "item", it.ID, "msg_id", it.MessageID)
			continue
		}
		name := InboxName(it)
		write := func() error {
			if err := f.ensureDirs(); err != nil {
				return err
			}
			return replaceFile(f.inbox, name, pkg)
		}
		if !f.persist(ctx, "writing an inbox item", write) {
			return false
		}
		wrote = true
		f.log.Info("folder: received", "file", name, "item", it.ID, "msg_id", it.MessageID, "type", it.Type, "sender", it.Sender)
		if it.Type == bus.TypeDocument && !f.cfg.NoTake {
			take = append(take, it)
		}
	}
	// One fsync makes the page's files durable before any is taken.
	if wrote && !f.persist(ctx, "syncing inbox/", func() error { return syncDir(f.inbox) }) {
		return false
	}
	// Takes run side by side: the edge's store commits them together.
	var wg sync.WaitGroup
	sem := make(chan struct{}, f.cfg.Workers)
	for _, it := range take {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f.take(ctx, it)
		})
	}
	wg.Wait()
	return ctx.Err() == nil
}

// take takes a document written to inbox/ (Edge.Take, which sends 01),
// retrying passing failures until ctx ends.
func (f *Folder) take(ctx context.Context, it bus.InboxItem) {
	f.persist(ctx, "taking an inbox item", func() error {
		_, err := f.edge.Take(ctx, it.ID, f.cfg.OrganIDs)
		var re *bus.RejectError
		switch {
		case errors.Is(err, bus.ErrNotFound):
			return nil
		case errors.As(err, &re) && !bus.Transient(re.Reason):
			// Taking it again would fail the same way: the file is in
			// inbox/, the DMS answers with a status file.
			f.log.Error("folder: the edge refused to take an inbox item; no 01 was sent", "item", it.ID, "reason", re.Reason, "field", re.Field, "detail", re.Detail)
			return nil
		}
		return err
	})
}

// persist runs op until it succeeds, waiting between attempts (growing to
// maxBackoff), and reports false if ctx ended first.
func (f *Folder) persist(ctx context.Context, what string, op func() error) bool {
	wait := f.cfg.Poll
	for {
		err := op()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		f.log.Warn("folder: "+what+"; will retry", "err", err, "retry_in", wait)
		if !sleep(ctx, wait) {
			return false
		}
		wait = min(2*wait, maxBackoff)
	}
}

// sleep waits d or until ctx ends, and reports whether it waited d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
