package boltstore_test

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"truc.vn/truc/adapters/boltstore"
)

func TestOpenInitialisesAndReopens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	s := open(t, path, boltstore.Config{})
	if s.Path() != path {
		t.Fatalf("Path() = %q", s.Path())
	}
	if _, err := s.Log().Append(ctxT(t), []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("file mode %o, want 600", perm)
	}
	s = open(t, path, boltstore.Config{})
	if n, err := s.Log().Size(ctxT(t)); err != nil || n != 1 {
		t.Fatalf("Size after reopen = %d, %v", n, err)
	}
	// The layout the package comment documents.
	db := rawDB(t, s)
	err = db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte("meta"))
		if string(meta.Get([]byte("format"))) != "truc.vn/boltstore" ||
			binary.BigEndian.Uint32(meta.Get([]byte("schema"))) != boltstore.SchemaVersion ||
			binary.BigEndian.Uint64(meta.Get([]byte("log.size"))) != 1 {
			t.Errorf("meta bucket: format %q schema %x size %x", meta.Get([]byte("format")), meta.Get([]byte("schema")), meta.Get([]byte("log.size")))
		}
		for _, name := range []string{"log.leaves", "log.hashes", "log.checkpoints"} {
			if tx.Bucket([]byte(name)) == nil {
				t.Errorf("no bucket %s", name)
			}
		}
		if v := tx.Bucket([]byte("log.leaves")).Get(make([]byte, 8)); string(v) != "x" {
			t.Errorf("leaf 0 stored as %q", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// rawDB closes s and opens its file with bare bbolt.
func rawDB(t *testing.T, s *boltstore.Store) *bolt.DB {
	t.Helper()
	s.Close()
	db, err := bolt.Open(s.Path(), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestOpenRefuses(t *testing.T) {
	setSchema := func(v uint32) func(tx *bolt.Tx) error {
		return func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("meta")).Put([]byte("schema"), binary.BigEndian.AppendUint32(nil, v))
		}
	}
	cases := []struct {
		name string
		// edit changes a valid store's file; nil edits and makeFile
		// builds the file instead.
		edit     func(tx *bolt.Tx) error
		makeFile func(t *testing.T, path string)
		want     error
		wantText string
	}{
		{name: "newer-schema", edit: setSchema(boltstore.SchemaVersion + 1), want: boltstore.ErrSchema, wantText: "newer release"},
		{name: "older-schema", edit: setSchema(0), want: boltstore.ErrSchema, wantText: "no migration"},
		{name: "short-schema", edit: func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("meta")).Put([]byte("schema"), []byte{1})
		}, want: boltstore.ErrCorrupt},
		{name: "other-format", edit: func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("meta")).Put([]byte("format"), []byte("someone.else"))
		}, want: boltstore.ErrNotStore},
		{name: "bad-log-size", edit: func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("meta")).Put([]byte("log.size"), []byte{1, 2})
		}, want: boltstore.ErrCorrupt},
		{name: "log-size-too-large", edit: func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("meta")).Put([]byte("log.size"), binary.BigEndian.AppendUint64(nil, 5))
		}, want: boltstore.ErrCorrupt},
		{name: "another-programs-bbolt-file", makeFile: func(t *testing.T, path string) {
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("users")); return err }); err != nil {
				t.Fatal(err)
			}
		}, want: boltstore.ErrNotStore, wantText: `"users"`},
		{name: "not-a-database", makeFile: func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(strings.Repeat("not bbolt ", 1000)), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "store.db")
			if tc.makeFile != nil {
				tc.makeFile(t, path)
			} else {
				s := open(t, path, boltstore.Config{})
				if _, err := s.Log().Append(ctxT(t), []byte("a"), []byte("b")); err != nil {
					t.Fatal(err)
				}
				db := rawDB(t, s)
				if err := db.Update(tc.edit); err != nil {
					t.Fatal(err)
				}
				db.Close()
			}
			before, _ := os.ReadFile(path)
			s, err := boltstore.Open(path, boltstore.Config{})
			if err == nil {
				s.Close()
				t.Fatal("Open accepted the file")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Open: %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.wantText) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Open error %q does not name the file and %q", err, tc.wantText)
			}
			after, _ := os.ReadFile(path)
			if string(before) != string(after) && tc.name != "another-programs-bbolt-file" {
				t.Fatal("a refused Open changed the file")
			}
		})
	}
}

func TestOpenInUseFailsFast(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	open(t, path, boltstore.Config{})
	start := time.Now()
	s, err := boltstore.Open(path, boltstore.Config{LockTimeout: 100 * time.Millisecond})
	if err == nil {
		s.Close()
		t.Fatal("a second Open of a held file succeeded")
	}
	if !errors.Is(err, boltstore.ErrInUse) || !strings.Contains(err.Error(), path) {
		t.Fatalf("second Open: %v, want ErrInUse naming the file", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("second Open took %s", d)
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  boltstore.Config
		want string
	}{
		{"negative-timeout", boltstore.Config{LockTimeout: -1}, "lock_timeout"},
		{"negative-batch", boltstore.Config{MaxBatch: -1}, "max_batch"},
		{"huge-batch", boltstore.Config{MaxBatch: 1 << 20}, "max_batch"},
		{"bad-origin", boltstore.Config{LogSigner: namedSigner("has space")}, "origin"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want an error about %s", err, tc.want)
			}
			path := filepath.Join(t.TempDir(), "s.db")
			if s, err := boltstore.Open(path, tc.cfg); err == nil {
				s.Close()
				t.Fatal("Open accepted the config")
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Fatal("Open with a bad config created the file")
			}
		})
	}
	if err := (boltstore.Config{}).Validate(); err != nil {
		t.Fatalf("zero Config: %v", err)
	}
}

// namedSigner is a note.Signer that only has a name.
type namedSigner string

func (n namedSigner) Name() string                  { return string(n) }
func (namedSigner) KeyHash() uint32                 { return 0 }
func (namedSigner) Sign(msg []byte) ([]byte, error) { return nil, errors.New("no key") }

func TestCloseIsIdempotentAndFinal(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "s.db"), boltstore.Config{LogSigner: sealSigner(t)})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	l := s.Log()
	if _, err := l.Append(ctxT(t), []byte("x")); !errors.Is(err, boltstore.ErrClosed) {
		t.Errorf("Append after Close: %v", err)
	}
	if _, err := l.Size(ctxT(t)); !errors.Is(err, boltstore.ErrClosed) {
		t.Errorf("Size after Close: %v", err)
	}
	if _, err := l.SignCheckpoint(ctxT(t)); !errors.Is(err, boltstore.ErrClosed) {
		t.Errorf("SignCheckpoint after Close: %v", err)
	}
	if err := l.RunCheckpointer(ctxT(t), time.Second); !errors.Is(err, boltstore.ErrClosed) {
		t.Errorf("RunCheckpointer after Close: %v", err)
	}
}

// TestCloseWaitsForQueuedCommits: appends racing with Close either
// complete durably or fail with ErrClosed; none is lost after success.
func TestCloseWaitsForQueuedCommits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s := open(t, path, boltstore.Config{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 16 {
		wg.Go(func() {
			for range 20 {
				_, err := s.Log().Append(ctxT(t), []byte("x"))
				if err != nil {
					if !errors.Is(err, boltstore.ErrClosed) {
						t.Errorf("Append: %v", err)
					}
					return
				}
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	time.Sleep(5 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	s = open(t, path, boltstore.Config{})
	if n, err := s.Log().Size(ctxT(t)); err != nil || n != int64(ok) {
		t.Fatalf("size %d after %d successful appends (%v)", n, ok, err)
	}
}

// TestConcurrentAppendsShareCommits: many concurrent single-leaf appends
// take far fewer commits than appends.
func TestConcurrentAppendsShareCommits(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "s.db"), boltstore.Config{})
	const writers, each = 32, 10
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range each {
				if _, err := s.Log().Append(ctxT(t), []byte("x")); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	st := s.CommitStats()
	if st.Requests != writers*each {
		t.Fatalf("stats count %d requests, want %d", st.Requests, writers*each)
	}
	if st.Commits >= st.Requests/2 {
		t.Fatalf("%d commits for %d concurrent appends: batching does not happen", st.Commits, st.Requests)
	}
	t.Logf("%d appends in %d commits (%.1f per commit)", st.Requests, st.Commits, float64(st.Requests)/float64(st.Commits))
}
