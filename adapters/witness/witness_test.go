package witness_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"truc.vn/truc/adapters/witness"
	"truc.vn/truc/bus"
	"truc.vn/truc/signing/notesig"
	"truc.vn/truc/signing/signingtest"
)

func TestWitnessCosignsForward(t *testing.T) {
	a := newAxisWorld(t)
	ctx := context.Background()
	log, logs := newLogger()
	dir := t.TempDir()
	hanoi, _ := a.witnessAt(dir, "hanoi", signingtest.NewKey(t, signingtest.P256), log)
	hue, _ := a.witnessAt(t.TempDir(), "hue", signingtest.NewKey(t, signingtest.RSA2048), nil)

	cp3 := a.grow(a.store.Log(), 3, false)
	for _, w := range []*witness.Witness{hanoi, hue} {
		if err := w.Check(ctx); err != nil {
			t.Fatalf("the first checkpoint: %v", err)
		}
	}
	if got := a.cosigners(3); !slices.Equal(got, []string{"truc.vn/edge/hanoi", "truc.vn/edge/hue"}) {
		t.Fatalf("cosigners of size 3: %q", got)
	}
	if !strings.Contains(logs.String(), "taken on trust") {
		t.Errorf("the first checkpoint is not logged as taken on trust:\n%s", logs)
	}

	cp9 := a.grow(a.store.Log(), 9, false)
	if err := hanoi.Check(ctx); err != nil {
		t.Fatalf("a consistent newer checkpoint: %v", err)
	}
	if got := a.cosigners(9); !slices.Equal(got, []string{"truc.vn/edge/hanoi"}) {
		t.Fatalf("cosigners of size 9: %q", got)
	}
	// The same checkpoint again: nothing new, nothing posted again.
	posts := a.posts.Load()
	if err := hanoi.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if a.posts.Load() != posts {
		t.Error("a checkpoint already cosigned and posted was posted again")
	}
	st := hanoi.Stats()
	if st.Cosigned != 2 || st.LastSize != 9 || st.Errors != 0 || st.SplitViews != 0 || st.Halted {
		t.Errorf("stats %+v", st)
	}
	last := hanoi.Last()
	if last.Size != 9 || last.Hash != cp9.Hash {
		t.Errorf("last witnessed %d, want 9", last.Size)
	}
	// The persisted state is the cosigned note.
	b, err := os.ReadFile(filepath.Join(dir, witness.LastFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, names, err := bus.OpenCosigned(b, a.logKeys, a.witnesses); err != nil || !slices.Equal(names, []string{"truc.vn/edge/hanoi"}) {
		t.Errorf("last.checkpoint: %v %q", err, names)
	}
	// LatestCosigned with min 2 is the checkpoint both cosigned.
	lc, err := a.store.Log().LatestCosigned(ctx, 2)
	if err != nil || lc.Size != cp3.Size {
		t.Errorf("latest with 2 cosignatures: size %d, %v", lc.Size, err)
	}
}

// TestWitnessGathers: three witnesses fetch at different times while the
// log grows, so each cosigns a different latest checkpoint; each also
// cosigns the one the others cosigned most in the range it skipped, so
// that a checkpoint ends up cosigned by all three.
func TestWitnessGathers(t *testing.T) {
	a := newAxisWorld(t)
	ctx := context.Background()
	var ws []*witness.Witness
	for _, name := range []string{"w1", "w2", "w3"} {
		w, _ := a.witnessAt(t.TempDir(), name, signingtest.NewKey(t, signingtest.P256), nil)
		ws = append(ws, w)
	}
	a.grow(a.store.Log(), 2, false)
	for _, w := range ws {
		if err := w.Check(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for i, w := range ws {
		a.grow(a.store.Log(), int64(5+3*i), false)
		if err := w.Check(ctx); err != nil {
			t.Fatalf("witness %d: %v", i+1, err)
		}
	}
	all := []string{"truc.vn/edge/w1", "truc.vn/edge/w2", "truc.vn/edge/w3"}
	if got := a.cosigners(5); !slices.Equal(got, all) {
		t.Fatalf("cosigners of size 5: %q, want all three", got)
	}
	if got := a.cosigners(8); !slices.Equal(got, []string{"truc.vn/edge/w2"}) {
		t.Errorf("cosigners of size 8: %q", got)
	}
	cp, err := a.store.Log().LatestCosigned(ctx, 3)
	if err != nil || cp.Size != 5 {
		t.Errorf("latest with 3 cosignatures: %d, %v", cp.Size, err)
	}
	// Each witness's last checkpoint is still its own latest.
	for i, w := range ws {
		if got, want := w.Last().Size, int64(5+3*i); got != want {
			t.Errorf("witness %d: last %d, want %d", i+1, got, want)
		}
	}
}

// TestWitnessGatherCatchesFork: a witness shown a fork finds that the
// checkpoint the other witnesses cosigned is not a prefix of it.
func TestWitnessGatherCatchesFork(t *testing.T) {
	a := newAxisWorld(t)
	ctx := context.Background()
	w1, _ := a.witnessAt(t.TempDir(), "w1", signingtest.NewKey(t, signingtest.P256), nil)
	dir := t.TempDir()
	w2, _ := a.witnessAt(dir, "w2", signingtest.NewKey(t, signingtest.P256), nil)
	a.grow(a.store.Log(), 2, false)
	for _, w := range []*witness.Witness{w1, w2} {
		if err := w.Check(ctx); err != nil {
			t.Fatal(err)
		}
	}
	a.grow(a.store.Log(), 5, false)
	if err := w1.Check(ctx); err != nil {
		t.Fatal(err)
	}
	// w2 is shown a fork that shares the first 3 leaves: consistent with
	// what it saw at 2, but not with 5, which w1 cosigned.
	forked := a.fork(3)
	a.grow(forked, 9, true)
	a.serving.Store(forked)
	err := w2.Check(ctx)
	if !errors.Is(err, bus.ErrSplitView) {
		t.Fatalf("w2 shown a fork: %v, want ErrSplitView", err)
	}
	if !w2.Stats().Halted {
		t.Error("not halted")
	}
	ev := readEvidence(t, dir)
	if conclusive, err := ev.Verify(a.logKeys); err != nil || conclusive {
		t.Errorf("evidence: %v %v", conclusive, err)
	}
}

// TestWitnessFromEmptyLog: the axis signs a checkpoint of size 0 before
// any traffic; the witness takes it and then checks growth from it.
func TestWitnessFromEmptyLog(t *testing.T) {
	a := newAxisWorld(t)
	ctx := context.Background()
	w, _ := a.witnessAt(t.TempDir(), "hanoi", signingtest.NewKey(t, signingtest.P256), nil)
	a.grow(a.store.Log(), 0, false)
	if err := w.Check(ctx); err != nil {
		t.Fatalf("the empty log: %v", err)
	}
	a.grow(a.store.Log(), 1, false)
	if err := w.Check(ctx); err != nil {
		t.Fatalf("the first leaf: %v", err)
	}
	if got := a.cosigners(1); !slices.Equal(got, []string{"truc.vn/edge/hanoi"}) {
		t.Errorf("cosigners %q", got)
	}
	if st := w.Stats(); st.Cosigned != 2 || st.LastSize != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestWitnessStaleNotCosigned(t *testing.T) {
	a := newAxisWorld(t)
	ctx := context.Background()
	cp4 := a.grow(a.store.Log(), 4, false)
	a.grow(a.store.Log(), 8, false)
	w, _ := a.witnessAt(t.TempDir(), "hanoi", signingtest.NewKey(t, signingtest.P256), nil)
	if err := w.Check(ctx); err != nil {
		t.Fatal(err)
	}
	a.serve(cp4.Note)
	posts := a.posts.Load()
	err := w.Check(ctx)
	if !errors.Is(err, bus.ErrStaleCheckpoint) {
		t.Fatalf("an older checkpoint: %v, want ErrStaleCheckpoint", err)
	}
	if got := a.cosigners(4); len(got) != 0 {
		t.Errorf("the stale checkpoint was cosigned by %q", got)
	}
	if a.posts.Load() != posts {
		t.Error("something was posted for a stale checkpoint")
	}
	if st := w.Stats(); st.Stale != 1 || st.LastSize != 8 || st.SplitViews != 0 || st.Halted {
		t.Errorf("stats %+v", st)
	}
}

func TestWitnessSplitView(t *testing.T) {
	for _, tc := range []struct {
		name       string
		seen, show int64 // sizes: the witness saw the axis log at seen, then is shown the fork at show
		conclusive bool
		// proofsFromFork: the proofs come from the fork's tree (the
		// axis shows the fork whole); otherwise from the axis log (only
		// the fork's checkpoint reached the witness, in a receipt).
		proofsFromFork bool
	}{
		{"fork grows past the seen size", 5, 7, false, true},
		{"same size, another root", 6, 6, true, true},
		{"fork shown smaller than the seen size", 8, 5, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAxisWorld(t)
			ctx := context.Background()
			dir := t.TempDir()
			log, logs := newLogger()
			w, _ := a.witnessAt(dir, "hanoi", signingtest.NewKey(t, signingtest.P256), log)
			seen := a.grow(a.store.Log(), tc.seen, false)
			if err := w.Check(ctx); err != nil {
				t.Fatal(err)
			}
			// A second log with the same key and origin shares the first 3
			// leaves, then diverges.
			forked := a.fork(3)
			shown := a.grow(forked, tc.show, true)
			if tc.proofsFromFork {
				a.serving.Store(forked)
			} else {
				a.serve(shown.Note)
			}
			posts := a.posts.Load()

			err := w.Check(ctx)
			if !errors.Is(err, bus.ErrSplitView) {
				t.Fatalf("the fork: %v, want ErrSplitView", err)
			}
			if a.posts.Load() != posts {
				t.Error("a cosignature was posted for the fork")
			}
			st := w.Stats()
			if st.SplitViews != 1 || !st.Halted || st.LastSize != tc.seen {
				t.Errorf("stats %+v", st)
			}
			if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "SPLIT VIEW") {
				t.Errorf("no split-view alert in the log:\n%s", logs)
			}

			// The evidence holds both checkpoints and the proof, and
			// verifies offline with the log key.
			ev := readEvidence(t, dir)
			if ev.Witness != "truc.vn/edge/hanoi" || ev.Reason == "" {
				t.Errorf("evidence headers %q %q", ev.Witness, ev.Reason)
			}
			sizes := []int64{mustOpen(t, a, ev.Old).Size, mustOpen(t, a, ev.New).Size}
			if !slices.Contains(sizes, seen.Size) || !slices.Contains(sizes, shown.Size) {
				t.Errorf("the evidence has checkpoints of sizes %v, want %d and %d", sizes, seen.Size, shown.Size)
			}
			conclusive, err := ev.Verify(a.logKeys)
			if err != nil || conclusive != tc.conclusive {
				t.Errorf("Verify: conclusive %v, %v; want %v, nil", conclusive, err, tc.conclusive)
			}
			halted, err := os.ReadFile(filepath.Join(dir, witness.HaltedFile))
			if err != nil || !strings.HasPrefix(string(halted), witness.EvidencePrefix) {
				t.Fatalf("halted marker: %q %v", halted, err)
			}

			// Halted: even the honest log's next checkpoint is not cosigned.
			a.serving.Store(a.store.Log())
			a.serve(nil)
			a.grow(a.store.Log(), tc.seen+4, false)
			if err := w.Check(ctx); !errors.Is(err, witness.ErrHalted) {
				t.Fatalf("a round while halted: %v, want ErrHalted", err)
			}
			if a.posts.Load() != posts {
				t.Error("a halted witness posted a cosignature")
			}
			// A restart keeps it halted.
			w2, _ := a.witnessAt(dir, "hanoi", signingtest.NewKey(t, signingtest.P256), nil)
			if !w2.Stats().Halted {
				t.Error("a restart forgot the split view")
			}

			// The operator resumes, keeping the history seen: the
			// honest log extends it, so it is cosigned again.
			if err := os.Remove(filepath.Join(dir, witness.HaltedFile)); err != nil {
				t.Fatal(err)
			}
			if err := w.Check(ctx); err != nil {
				t.Fatalf("after the operator resumed: %v", err)
			}
			if st := w.Stats(); st.Halted || st.LastSize != tc.seen+4 {
				t.Errorf("after resuming: %+v", st)
			}
			if got := a.cosigners(tc.seen + 4); !slices.Equal(got, []string{"truc.vn/edge/hanoi"}) {
				t.Errorf("cosigners after resuming: %q", got)
			}
		})
	}
}

// TestWitnessResumeAcceptingNewHistory: the witness was shown a fork
// first (the axis refuses its cosignature: it never signed it), then the
// axis's own history; deleting last.checkpoint and then the halted marker
// makes it take the axis's present checkpoint on trust.
func TestWitnessResumeAcceptingNewHistory(t *testing.T) {
	a := newAxisWorld(t)
	ctx := context.Background()
	dir := t.TempDir()
	w, _ := a.witnessAt(dir, "hanoi", signingtest.NewKey(t, signingtest.P256), nil)
	a.serve(a.grow(a.fork(2), 5, true).Note)
	if err := w.Check(ctx); !witness.IsStatus(err, 409) {
		t.Fatalf("posting a cosignature of a checkpoint the axis never signed: %v, want 409", err)
	}
	a.serve(nil)
	a.grow(a.store.Log(), 9, false)
	if err := w.Check(ctx); !errors.Is(err, bus.ErrSplitView) {
		t.Fatalf("the axis's history after the fork: %v", err)
	}
	for _, f := range []string{witness.LastFile, witness.HaltedFile} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Check(ctx); err != nil {
		t.Fatalf("after accepting the present history: %v", err)
	}
	if st := w.Stats(); st.Halted || st.LastSize != 9 {
		t.Errorf("stats %+v", st)
	}
	if got := a.cosigners(9); !slices.Equal(got, []string{"truc.vn/edge/hanoi"}) {
		t.Errorf("cosigners %q", got)
	}
	// The evidence stays.
	readEvidence(t, dir)
}

func TestWitnessRefusesAnotherKey(t *testing.T) {
	a := newAxisWorld(t)
	ctx := context.Background()
	dir := t.TempDir()
	log, logs := newLogger()
	w, _ := a.witnessAt(dir, "hanoi", signingtest.NewKey(t, signingtest.P256), log)
	cp := a.grow(a.store.Log(), 4, false)

	// The same checkpoint text signed by another key under the log's name.
	other, err := notesig.NewSigner(origin, signingtest.NewKey(t, signingtest.P256))
	if err != nil {
		t.Fatal(err)
	}
	forged, err := bus.SignCheckpoint(cp.Checkpoint, other)
	if err != nil {
		t.Fatal(err)
	}
	a.serve(forged.Note)
	posts := a.posts.Load()
	err = w.Check(ctx)
	var ee *bus.EvidenceError
	if !errors.As(err, &ee) || ee.Reason != bus.ReasonUnknownKey {
		t.Fatalf("a checkpoint signed by another key: %v, want an unknown-key EvidenceError", err)
	}
	if _, err := os.Stat(filepath.Join(dir, witness.LastFile)); !os.IsNotExist(err) {
		t.Errorf("the refused checkpoint was recorded: %v", err)
	}
	if a.posts.Load() != posts {
		t.Error("a cosignature was posted for a forged checkpoint")
	}
	if st := w.Stats(); st.Errors != 1 || st.Cosigned != 0 || st.LastSize != 0 {
		t.Errorf("stats %+v", st)
	}
	if !strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("no error logged:\n%s", logs)
	}

	// The real note with a bad extra signature line by the log's name and
	// an unknown witness line: the witness keeps only the log's own
	// signature, so that the axis takes its cosignature.
	junk := append([]byte{}, cp.Note...)
	junk = append(junk, "— truc.vn/edge/ghost AAAAAAECAwQ=\n"...)
	a.serve(junk)
	if err := w.Check(ctx); err != nil {
		t.Fatalf("the real checkpoint with foreign lines: %v", err)
	}
	if got := a.cosigners(4); !slices.Equal(got, []string{"truc.vn/edge/hanoi"}) {
		t.Errorf("cosigners %q", got)
	}
}

func TestWitnessRestartResumes(t *testing.T) {
	a := newAxisWorld(t)
	ctx := context.Background()
	dir := t.TempDir()
	key := signingtest.NewKey(t, signingtest.P256)
	w, _ := a.witnessAt(dir, "hanoi", key, nil)
	a.grow(a.store.Log(), 6, false)
	if err := w.Check(ctx); err != nil {
		t.Fatal(err)
	}

	// A new process on the same directory starts from size 6: a fork of
	// size 10 diverging at 3 is caught. (A witness without that state
	// would take any first checkpoint on trust.)
	w2, _ := a.witnessAt(dir, "hanoi", key, nil)
	if got := w2.Last(); got.Size != 6 || w2.Stats().LastSize != 6 {
		t.Fatalf("after a restart the last checkpoint is of size %d", got.Size)
	}
	forked := a.fork(3)
	a.grow(forked, 10, true)
	a.serving.Store(forked)
	if err := w2.Check(ctx); !errors.Is(err, bus.ErrSplitView) {
		t.Fatalf("the fork after a restart: %v, want ErrSplitView", err)
	}
	a.serving.Store(a.store.Log())
	fresh, _ := a.witnessAt(t.TempDir(), "hue", signingtest.NewKey(t, signingtest.P256), nil)
	if err := fresh.Check(ctx); err != nil {
		t.Fatalf("a fresh witness takes the first checkpoint on trust: %v", err)
	}

	// A damaged state file stops the start with a message saying what
	// to do.
	if err := os.WriteFile(filepath.Join(dir, witness.LastFile), []byte("not a checkpoint"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := notesig.NewSigner(bus.EdgeNoteName("hanoi"), key)
	if err != nil {
		t.Fatal(err)
	}
	client, err := witness.NewClient(a.srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = witness.New(witness.Config{Log: client, LogKeys: a.logKeys, Signer: s, Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "delete it") {
		t.Errorf("a damaged last.checkpoint: %v", err)
	}
}

// TestWitnessPostRetried: a cosignature the axis could not take is posted
// again at the next round.
func TestWitnessPostRetried(t *testing.T) {
	a := newAxisWorld(t)
	ctx := context.Background()
	w, _ := a.witnessAt(t.TempDir(), "hanoi", signingtest.NewKey(t, signingtest.P256), nil)
	a.grow(a.store.Log(), 4, false)
	a.failPosts.Store(true)
	err := w.Check(ctx)
	if !witness.IsStatus(err, 503) {
		t.Fatalf("the axis failing: %v", err)
	}
	if got := a.cosigners(4); len(got) != 0 {
		t.Fatalf("cosigners %q", got)
	}
	a.failPosts.Store(false)
	if err := w.Check(ctx); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if got := a.cosigners(4); !slices.Equal(got, []string{"truc.vn/edge/hanoi"}) {
		t.Errorf("cosigners after the retry %q", got)
	}
	if st := w.Stats(); st.Errors != 1 || st.Cosigned != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestWitnessRunObserve(t *testing.T) {
	a := newAxisWorld(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := notesig.NewSigner(bus.EdgeNoteName("hanoi"), signingtest.NewKey(t, signingtest.P256))
	if err != nil {
		t.Fatal(err)
	}
	a.witnesses.add(s.Verifier())
	// Every is an hour: after the first round at start, checkpoints
	// reach the witness through Observe alone.
	client, err := witness.NewClient(a.srv.URL, a.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	a.grow(a.store.Log(), 2, false)
	w, err := witness.New(witness.Config{Log: client, LogKeys: a.logKeys, Signer: s, Dir: t.TempDir(), Every: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	waitFor(t, func() bool { return w.Stats().LastSize == 2 })
	cp := a.grow(a.store.Log(), 7, false)
	w.Observe(cp.Note)
	waitFor(t, func() bool { return w.Stats().LastSize == 7 })
	waitFor(t, func() bool { return len(a.cosigners(7)) == 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  witness.Config
		want []string
	}{
		{"empty", witness.Config{}, []string{"log:", "log keys:", "signer:", "dir:"}},
		{"too often", witness.Config{Every: time.Millisecond}, []string{"every: at least 100ms"}},
		{"negative", witness.Config{Every: -time.Second}, []string{"every:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v, want it to mention %q", err, w)
				}
			}
		})
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readEvidence(t *testing.T, dir string) *witness.Evidence {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, witness.EvidencePrefix+"*.txt"))
	if err != nil || len(matches) != 1 {
		t.Fatalf("evidence files %q, %v; want one", matches, err)
	}
	b, err := os.ReadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	ev, err := witness.ParseEvidence(b)
	if err != nil {
		t.Fatalf("the evidence written does not parse: %v\n%s", err, b)
	}
	return ev
}

func mustOpen(t *testing.T, a *axisWorld, msg []byte) bus.SignedCheckpoint {
	t.Helper()
	cp, err := bus.OpenCheckpoint(msg, a.logKeys)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}
