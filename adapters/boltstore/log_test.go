package boltstore_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"truc.vn/truc/adapters/boltstore"
	"truc.vn/truc/bus"
	"truc.vn/truc/bus/bustest"
	"truc.vn/truc/signing/notesig"
	"truc.vn/truc/signing/signingtest"
)

const origin = "truc.vn/axis/test-axis"

// The axis seal key is RSA (government CAs issue RSA); generating one is
// slow on a shared machine, so the tests share one.
var sealKey = sync.OnceValue(func() crypto.Signer { return signingtest.NewKey(&testing.T{}, signingtest.RSA2048) })

func sealSigner(t testing.TB) *notesig.Signer {
	t.Helper()
	s, err := notesig.NewSigner(origin, sealKey())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func verifiersFor(t testing.TB, s *notesig.Signer) note.Verifiers {
	t.Helper()
	vs, err := notesig.VerifierList(s.Verifier())
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

func open(t testing.TB, path string, cfg boltstore.Config) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(path, cfg)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestLog(t *testing.T) {
	signer := sealSigner(t)
	bustest.TestLog(t, func(t *testing.T) bustest.LogHarness {
		path := filepath.Join(t.TempDir(), "axis.db")
		cfg := boltstore.Config{LogSigner: signer}
		s := open(t, path, cfg)
		return bustest.LogHarness{
			Log:       s.Log(),
			Verifiers: verifiersFor(t, signer),
			Reopen: func(t *testing.T) bus.Log {
				if err := s.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				s = open(t, path, cfg)
				return s.Log()
			},
		}
	})
}

// TestCrashBetweenAppendAndCheckpoint: append, sign, append more, stop
// without signing (the store is abandoned, not closed: its file lock is
// released as a dead process's would be), reopen, sign, and the new
// checkpoint is consistent with the old one and covers every leaf.
func TestCrashBetweenAppendAndCheckpoint(t *testing.T) {
	signer := sealSigner(t)
	path := filepath.Join(t.TempDir(), "axis.db")
	cfg := boltstore.Config{LogSigner: signer}
	s := open(t, path, cfg)
	var leaves [][]byte
	add := func(l *boltstore.Log, n int) {
		for range n {
			leaf := fmt.Appendf(nil, "event %d", len(leaves))
			if _, err := l.Append(ctxT(t), leaf); err != nil {
				t.Fatal(err)
			}
			leaves = append(leaves, leaf)
		}
	}
	add(s.Log(), 21)
	cp1, err := s.Log().SignCheckpoint(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	add(s.Log(), 17)
	s.Close()

	s = open(t, path, cfg)
	st, err := s.Log().Status(ctxT(t))
	if err != nil || st.Size != 38 || st.CheckpointSize != 21 {
		t.Fatalf("Status after restart = %+v, %v; want 38 leaves, checkpoint at 21", st, err)
	}
	cp2, err := s.Log().SignCheckpoint(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if cp2.Size != 38 || cp2.Hash != bus.TreeHash(leaves) {
		t.Fatalf("checkpoint after restart: size %d root %x", cp2.Size, cp2.Hash)
	}
	proof, err := s.Log().ConsistencyProof(ctxT(t), cp1.Size, cp2.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.VerifyConsistency(cp1.Checkpoint, cp2.Checkpoint, proof); err != nil {
		t.Fatal(err)
	}
	if err := s.Log().Check(ctxT(t), verifiersFor(t, signer)); err != nil {
		t.Fatal(err)
	}
}

func TestKeyRotationKeepsOldCheckpointsVerifiable(t *testing.T) {
	oldSigner := sealSigner(t)
	newSigner, err := notesig.NewSigner(origin, signingtest.NewKey(t, signingtest.P384))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "axis.db")
	s := open(t, path, boltstore.Config{LogSigner: oldSigner})
	if _, err := s.Log().Append(ctxT(t), []byte("a"), []byte("b")); err != nil {
		t.Fatal(err)
	}
	old, err := s.Log().SignCheckpoint(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = open(t, path, boltstore.Config{LogSigner: newSigner})
	if _, err := s.Log().Append(ctxT(t), []byte("c")); err != nil {
		t.Fatal(err)
	}
	cur, err := s.Log().SignCheckpoint(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	both, err := notesig.VerifierList(oldSigner.Verifier(), newSigner.Verifier())
	if err != nil {
		t.Fatal(err)
	}
	for _, cp := range []bus.SignedCheckpoint{old, cur} {
		if _, err := bus.OpenCheckpoint(cp.Note, both); err != nil {
			t.Fatalf("checkpoint of size %d with both keys: %v", cp.Size, err)
		}
	}
	if _, err := bus.OpenCheckpoint(old.Note, verifiersFor(t, newSigner)); err == nil {
		t.Fatal("the old checkpoint verifies with the new key alone")
	}
	if err := s.Log().Check(ctxT(t), both); err != nil {
		t.Fatal(err)
	}

	// A signer with another name would give the log a second identity.
	s.Close()
	other, err := notesig.NewSigner("truc.vn/axis/other", sealKey())
	if err != nil {
		t.Fatal(err)
	}
	if s, err := boltstore.Open(path, boltstore.Config{LogSigner: other}); err == nil {
		s.Close()
		t.Fatal("Open accepted a signer named after another origin")
	}
}

func TestSignWithoutSigner(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "edge.db"), boltstore.Config{})
	if _, err := s.Log().Append(ctxT(t), []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Log().SignCheckpoint(ctxT(t)); !errors.Is(err, boltstore.ErrNoSigner) {
		t.Fatalf("SignCheckpoint without signer: %v", err)
	}
	if err := s.Log().RunCheckpointer(ctxT(t), time.Second); !errors.Is(err, boltstore.ErrNoSigner) {
		t.Fatalf("RunCheckpointer without signer: %v", err)
	}
}

// TestRunCheckpointer runs the checkpointer on a fake clock
// (testing/synctest): it signs at start, then once per interval when the
// tree grew, records the injected clock's time, and signs a last
// checkpoint on shutdown.
func TestRunCheckpointer(t *testing.T) {
	signer := sealSigner(t)
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		clock := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
		var mu sync.Mutex
		now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
		s, err := boltstore.Open(filepath.Join(dir, "axis.db"), boltstore.Config{LogSigner: signer, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		l := s.Log()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- l.RunCheckpointer(ctx, time.Second) }()

		waitFor := func(size int64) boltstore.LogStatus {
			t.Helper()
			for range 50 {
				st, err := l.Status(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if st.CheckpointSize == size && !st.CheckpointSignedAt.IsZero() {
					return st
				}
				time.Sleep(10 * time.Millisecond)
			}
			t.Fatalf("no checkpoint of size %d", size)
			return boltstore.LogStatus{}
		}
		st := waitFor(0) // signed at start, on the empty log
		if !st.CheckpointSignedAt.Equal(clock) {
			t.Fatalf("signed at %v, the injected clock says %v", st.CheckpointSignedAt, clock)
		}
		if _, err := l.Append(context.Background(), []byte("a"), []byte("b")); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		clock = clock.Add(time.Second)
		mu.Unlock()
		time.Sleep(time.Second) // the next tick
		if st := waitFor(2); !st.CheckpointSignedAt.Equal(clock) {
			t.Fatalf("second checkpoint signed at %v, want %v", st.CheckpointSignedAt, clock)
		}
		time.Sleep(5 * time.Second) // no growth: no new checkpoint
		if cps, _ := l.Checkpoints(context.Background(), 0, 100); len(cps) != 2 {
			t.Fatalf("%d checkpoints after idle ticks, want 2", len(cps))
		}
		if _, err := l.Append(context.Background(), []byte("c")); err != nil {
			t.Fatal(err)
		}
		cancel() // shutdown before the next tick: the last leaf is still covered
		if err := <-done; err != nil {
			t.Fatalf("RunCheckpointer: %v", err)
		}
		if cp, err := l.Checkpoint(context.Background()); err != nil || cp.Size != 3 {
			t.Fatalf("after shutdown the checkpoint has size %d (%v), want 3", cp.Size, err)
		}
	})
}

func TestCheckDetectsTampering(t *testing.T) {
	signer := sealSigner(t)
	cases := []struct {
		name   string
		bucket string
		key    uint64
		edit   func(v []byte) []byte
		atOpen bool // Open itself refuses
	}{
		{"leaf-changed", "log.leaves", 5, func(v []byte) []byte { return append(v, '!') }, false},
		{"leaf-hash-changed", "log.hashes", 3, flipBit, false},
		// The root of leaves 0–7, which the checkpoint at size 10 is
		// computed from.
		{"subtree-root-changed", "log.hashes", uint64(tlog.StoredHashIndex(3, 0)), flipBit, false},
		{"last-leaf-deleted", "log.leaves", 19, nil, true},
		{"last-hash-deleted", "log.hashes", 0, nil, true}, // key replaced below
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "axis.db")
			s := open(t, path, boltstore.Config{LogSigner: signer})
			for i := range 20 {
				if _, err := s.Log().Append(ctxT(t), fmt.Appendf(nil, "leaf %d", i)); err != nil {
					t.Fatal(err)
				}
				if i == 9 {
					if _, err := s.Log().SignCheckpoint(ctxT(t)); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := s.Log().Check(ctxT(t), verifiersFor(t, signer)); err != nil {
				t.Fatalf("Check before tampering: %v", err)
			}
			s.Close()

			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = db.Update(func(tx *bolt.Tx) error {
				b := tx.Bucket([]byte(tc.bucket))
				key := u64(tc.key)
				if tc.name == "last-hash-deleted" {
					key, _ = b.Cursor().Last()
				}
				if tc.edit == nil {
					return b.Delete(key)
				}
				return b.Put(key, tc.edit(b.Get(key)))
			})
			db.Close()
			if err != nil {
				t.Fatal(err)
			}

			s2, err := boltstore.Open(path, boltstore.Config{LogSigner: signer})
			if tc.atOpen {
				if !errors.Is(err, boltstore.ErrCorrupt) {
					t.Fatalf("Open after tampering: %v, want ErrCorrupt", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			if err := s2.Log().Check(ctxT(t), nil); !errors.Is(err, boltstore.ErrCorrupt) {
				t.Fatalf("Check after tampering: %v, want ErrCorrupt", err)
			}
			// A hash the signed root is computed from changed: signing
			// refuses. (Other hashes are found by Check, not at signing.)
			if tc.name == "subtree-root-changed" {
				if _, err := s2.Log().SignCheckpoint(ctxT(t)); !errors.Is(err, boltstore.ErrCorrupt) {
					t.Fatalf("SignCheckpoint over a tampered tree: %v, want ErrCorrupt", err)
				}
			}
		})
	}
}

func TestCheckpointsListing(t *testing.T) {
	signer := sealSigner(t)
	s := open(t, filepath.Join(t.TempDir(), "axis.db"), boltstore.Config{LogSigner: signer})
	l := s.Log()
	for i := range 5 {
		if _, err := l.Append(ctxT(t), fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
		if _, err := l.SignCheckpoint(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	}
	cps, err := l.Checkpoints(ctxT(t), 2, 2)
	if err != nil || len(cps) != 2 || cps[0].Size != 2 || cps[1].Size != 3 {
		t.Fatalf("Checkpoints(2, 2) = %d entries, %v", len(cps), err)
	}
	cp, err := l.CheckpointAt(ctxT(t), 4)
	if err != nil || cp.Size != 4 {
		t.Fatalf("CheckpointAt(4) = %d, %v", cp.Size, err)
	}
	if _, err := l.CheckpointAt(ctxT(t), 99); !errors.Is(err, bus.ErrNoCheckpoint) {
		t.Fatalf("CheckpointAt(99): %v", err)
	}
}

func flipBit(v []byte) []byte {
	v = bytes.Clone(v)
	v[0] ^= 1
	return v
}

func u64(n uint64) []byte {
	b := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		b[i] = byte(n)
		n >>= 8
	}
	return b
}

// writeKey stores k as a PKCS #8 PEM file for a child process.
func writeKey(t testing.TB, path string, k crypto.Signer) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	return k.(crypto.Signer), nil
}
