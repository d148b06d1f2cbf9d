package boltstore

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"truc.vn/truc/bus"
)

func openT(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "s.db"), Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var testBucket = []byte("test.ledger")

func put(key string) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(testBucket)
		if err != nil {
			return err
		}
		return b.Put([]byte(key), []byte("v"))
	}
}

func has(t *testing.T, s *Store, key string) bool {
	t.Helper()
	found := false
	err := s.view(context.Background(), func(tx *bolt.Tx) error {
		if b := tx.Bucket(testBucket); b != nil {
			found = b.Get([]byte(key)) != nil
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// blockWriter occupies the writer with a commit that waits for release,
// so that the next requests queue up and share one batch.
func blockWriter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	started, gate := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.commit(context.Background(), func(tx *bolt.Tx) error {
			select {
			case <-started:
			default:
				close(started)
			}
			<-gate
			return nil
		})
	}()
	<-started
	return func() {
		close(gate)
		if err := <-done; err != nil {
			t.Errorf("blocking commit: %v", err)
		}
	}
}

// waitQueued waits until n requests are queued behind the writer.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(s.queue) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued, want %d", len(s.queue), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestFailedRequestDoesNotFailItsBatch: in one batch, a failing request
// and a panicking one are rolled back alone; the others commit.
func TestFailedRequestDoesNotFailItsBatch(t *testing.T) {
	s := openT(t)
	release := blockWriter(t, s)
	boom := errors.New("refused")
	fns := map[string]func(tx *bolt.Tx) error{
		"ok-1": put("ok-1"),
		"fails": func(tx *bolt.Tx) error {
			if err := put("fails")(tx); err != nil {
				return err
			}
			return boom
		},
		"panics": func(tx *bolt.Tx) error {
			_ = put("panics")(tx)
			panic("bug")
		},
		"ok-2": put("ok-2"),
	}
	var wg sync.WaitGroup
	errs := map[string]error{}
	var mu sync.Mutex
	for name, fn := range fns {
		wg.Go(func() {
			err := s.commit(context.Background(), fn)
			mu.Lock()
			errs[name] = err
			mu.Unlock()
		})
	}
	waitQueued(t, s, len(fns))
	before := s.CommitStats().Commits
	release()
	wg.Wait()
	if errs["ok-1"] != nil || errs["ok-2"] != nil {
		t.Fatalf("good requests failed: %v", errs)
	}
	if !errors.Is(errs["fails"], boom) {
		t.Fatalf("failing request: %v", errs["fails"])
	}
	if errs["panics"] == nil {
		t.Fatal("panicking request reported success")
	}
	for key, want := range map[string]bool{"ok-1": true, "ok-2": true, "fails": false, "panics": false} {
		if got := has(t, s, key); got != want {
			t.Errorf("key %s stored = %v, want %v", key, got, want)
		}
	}
	// The blocking commit, then the good two together.
	if n := s.CommitStats().Commits - before; n != 2 {
		t.Errorf("%d commits, want 2 (the blocker, then one batch)", n)
	}
}

// TestCancelledWhileQueuedNeverRuns: a request whose context ends before
// the writer takes it returns ctx's error and its function never runs.
func TestCancelledWhileQueuedNeverRuns(t *testing.T) {
	s := openT(t)
	release := blockWriter(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	var ran atomic.Bool
	done := make(chan error)
	go func() {
		done <- s.commit(ctx, func(tx *bolt.Tx) error { ran.Store(true); return put("late")(tx) })
	}()
	waitQueued(t, s, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled commit: %v", err)
	}
	release()
	// A later commit goes through, after the abandoned one was skipped.
	if err := s.commit(context.Background(), put("after")); err != nil {
		t.Fatal(err)
	}
	if ran.Load() || has(t, s, "late") {
		t.Fatal("the cancelled request ran")
	}
}

// TestAppendInsideAnotherWrite shows the use later stores make of
// appendLeavesTx: their own write and the log leaf commit together, or
// neither does; and a rerun of the batch gives the right index.
func TestAppendInsideAnotherWrite(t *testing.T) {
	s := openT(t)
	l := s.Log()
	if _, err := l.Append(context.Background(), []byte("earlier")); err != nil {
		t.Fatal(err)
	}
	release := blockWriter(t, s)
	var firstA, firstB int64
	errA, errB, errC := make(chan error), make(chan error), make(chan error)
	go func() {
		errA <- s.commit(context.Background(), func(tx *bolt.Tx) error {
			if err := put("ledger-a")(tx); err != nil {
				return err
			}
			var err error
			firstA, err = appendLeavesTx(tx, [][]byte{[]byte("event a")})
			return err
		})
	}()
	waitQueued(t, s, 1)
	go func() { // fails after appending: rolled back, and the batch rerun
		errC <- s.commit(context.Background(), func(tx *bolt.Tx) error {
			_ = put("ledger-c")(tx)
			if _, err := appendLeavesTx(tx, [][]byte{[]byte("event c")}); err != nil {
				return err
			}
			return errors.New("ledger refused")
		})
	}()
	waitQueued(t, s, 2)
	go func() {
		errB <- s.commit(context.Background(), func(tx *bolt.Tx) error {
			if err := put("ledger-b")(tx); err != nil {
				return err
			}
			var err error
			firstB, err = appendLeavesTx(tx, [][]byte{[]byte("event b1"), []byte("event b2")})
			return err
		})
	}()
	waitQueued(t, s, 3)
	release()
	if err := <-errA; err != nil {
		t.Fatal(err)
	}
	if err := <-errC; err == nil {
		t.Fatal("the failing write succeeded")
	}
	if err := <-errB; err != nil {
		t.Fatal(err)
	}
	if firstA != 1 || firstB != 2 {
		t.Fatalf("indexes %d and %d, want 1 and 2", firstA, firstB)
	}
	want := []string{"earlier", "event a", "event b1", "event b2"}
	if n, _ := l.Size(context.Background()); n != int64(len(want)) {
		t.Fatalf("size %d, want %d", n, len(want))
	}
	for i, w := range want {
		if got, err := l.Leaf(context.Background(), int64(i)); err != nil || string(got) != w {
			t.Fatalf("leaf %d = %q, %v; want %q", i, got, err, w)
		}
	}
	if has(t, s, "ledger-c") || !has(t, s, "ledger-a") || !has(t, s, "ledger-b") {
		t.Fatal("ledger writes and log leaves did not commit together")
	}
	if err := l.Check(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := appendLeavesTx(nil, nil); !errors.Is(err, bus.ErrInvalidLeaf) {
		t.Fatalf("appendLeavesTx without leaves: %v", err)
	}
}
