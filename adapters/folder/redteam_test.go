//go:build unix

package folder_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"truc.vn/truc/adapters/folder"
)

// Red-team tests of the drop folder (session 3 review).

// TestRedteamRunAfterAFolderWasRemoved: New creates the folders, and a DMS
// or an operator may remove one before Run starts (the edge prepares the
// folder at start-up and runs it later). Run cleaned the temporary files
// of inbox/ before making the folders again, so it failed to start with
// "no such file or directory" (this is also why TestRemovedFoldersAreMadeAgain
// is flaky: it removes folders right after starting Run).
func TestRedteamRunAfterAFolderWasRemoved(t *testing.T) {
	w := newWorld(t)
	cfg := config(t)
	f, err := folder.New(cfg, w.edge)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"inbox", "sent", "failed"} {
		if err := os.RemoveAll(filepath.Join(cfg.Root, d)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := f.Run(ctx); err != nil {
		t.Fatalf("Run with a removed folder: %v; want it made again", err)
	}
	for _, d := range []string{"inbox", "sent", "failed"} {
		if _, err := os.Stat(filepath.Join(cfg.Root, d)); err != nil {
			t.Errorf("%s/ not made again: %v", d, err)
		}
	}
}

// TestRedteamSidecarIsAFIFO: place() reads an existing sidecar in sent/
// (or failed/) with os.ReadFile, which follows symbolic links and blocks
// on a FIFO. A DMS (which shares the folder and may clean sent/) that
// leaves a FIFO, or a link to /dev/zero or a huge file, under
// sent/<name>.json makes the worker that sends outbox/<name> hang for ever
// (or read without end); with Workers such names the whole outbox stops.
// The sidecar must be read as the outbox files are: no links followed,
// no blocking, bounded.
func TestRedteamSidecarIsAFIFO(t *testing.T) {
	w := newWorld(t)
	cfg := config(t)
	cfg.Workers = 1
	if _, err := folder.New(cfg, w.edge); err != nil { // makes the folders
		t.Fatal(err)
	}
	fifo := filepath.Join(cfg.Root, "sent", "cong-van.edxml.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	startFolder(t, w, cfg)
	// Runs before the folder is stopped: a reader stuck in open(2) on the
	// FIFO is let go, so that the test ends either way.
	t.Cleanup(func() {
		if fd, err := syscall.Open(fifo, syscall.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			syscall.Close(fd)
		}
	})
	drop(t, cfg.Root, "cong-van.edxml", w.letter(organA, organH))
	deadline := time.Now().Add(10 * time.Second)
	for slices.Contains(names(t, filepath.Join(cfg.Root, "outbox")), "cong-van.edxml") {
		if time.Now().After(deadline) {
			t.Fatal("the file is still in outbox/ after 10s: the worker is stuck reading the FIFO at sent/cong-van.edxml.json")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRedteamStatusRequestDroppedTwice: the package documentation promises
// that the same bytes dropped under the same name again, after the first
// file went to sent/, are not sent again. Documents keep the promise (the
// edge's idempotency key); a status request does not: its journal is
// removed once the file is in sent/, so the same request dropped again
// (a DMS that crashed before it noted the move and writes the file again)
// posts a second status to the sender.
func TestRedteamStatusRequestDroppedTwice(t *testing.T) {
	w := newWorld(t)
	cfg := config(t)
	cfg.NoTake = true
	it := w.receiveLetter(organA)
	startFolder(t, w, cfg)
	waitFor(t, "the letter in inbox/", func() bool { return cursor(t, cfg.Root) == it.Seq })
	sent := filepath.Join(cfg.Root, "sent")
	body := []byte(`{"item":"` + it.ID + `","code":"03","description":"Đã tiếp nhận"}`)
	drop(t, cfg.Root, "xu-ly.status.json", body)
	waitFor(t, "the request in sent/", func() bool { return slices.Contains(names(t, sent), "xu-ly.status.json") })
	drop(t, cfg.Root, "xu-ly.status.json", body)
	waitFor(t, "the repeat out of outbox/", func() bool {
		return !slices.Contains(names(t, filepath.Join(cfg.Root, "outbox")), "xu-ly.status.json")
	})
	if n := statusCount(t, w, it.ID, "03"); n != 1 {
		t.Errorf("%d statuses 03 for one request dropped twice (same name, same bytes); want 1", n)
	}
}
