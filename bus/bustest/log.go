package bustest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"truc.vn/truc/bus"
)

// LogHarness gives the Log suite a fresh, empty log and what it needs to
// check the log's signatures. Each subtest calls the factory passed to
// TestLog once.
type LogHarness struct {
	// Log is a new, empty log. The harness closes it (t.Cleanup).
	Log bus.Log
	// Verifiers holds the public key of the log's checkpoint signer.
	Verifiers note.Verifiers
	// Reopen, if set, shuts the current log down cleanly, opens a new Log
	// on the same storage and returns it (a restart). The suite uses the
	// returned Log from then on. Nil skips the restart test.
	Reopen func(t *testing.T) bus.Log
}

// TestLog runs the bus.Log conformance suite. newHarness is called once
// per subtest; subtests run in parallel.
func TestLog(t *testing.T, newHarness func(t *testing.T) LogHarness) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, h LogHarness)
	}{
		{"AppendSizeLeafRoundTrip", testLogRoundTrip},
		{"InvalidLeavesAppendNothing", testLogInvalidLeaves},
		{"EmptyLogCheckpoint", testLogEmptyCheckpoint},
		{"InclusionProofsEveryIndexSeveralSizes", testLogInclusionProofs},
		{"ConsistencyProofsAllPairs", testLogConsistencyProofs},
		{"OutOfRange", testLogOutOfRange},
		{"ConcurrentAppendsEachLeafOnce", testLogConcurrentAppends},
		{"CheckpointsMonotonicAndConsistent", testLogCheckpointsMonotonic},
		{"CheckpointSignatureChecked", testLogCheckpointSignature},
		{"ReceiptsVerify", testLogReceipts},
		{"ReopenKeepsTreeAndCheckpoints", testLogReopen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newHarness(t))
		})
	}
}

func logCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// leafN is the content of the suite's i-th leaf: distinct, with bytes a
// text encoding would mangle.
func leafN(i int) []byte {
	return fmt.Appendf(nil, "leaf %d \x00\xff\xfe\n", i)
}

func mustAppend(t *testing.T, l bus.Log, leaves ...[]byte) int64 {
	t.Helper()
	first, err := l.Append(logCtx(t), leaves...)
	if err != nil {
		t.Fatalf("Append(%d leaves): %v", len(leaves), err)
	}
	return first
}

func mustSize(t *testing.T, l bus.Log) int64 {
	t.Helper()
	n, err := l.Size(logCtx(t))
	if err != nil {
		t.Fatalf("Size: %v", err)
	}
	return n
}

func mustSign(t *testing.T, l bus.Log) bus.SignedCheckpoint {
	t.Helper()
	cp, err := l.SignCheckpoint(logCtx(t))
	if err != nil {
		t.Fatalf("SignCheckpoint: %v", err)
	}
	return cp
}

// openCheckpoint checks the signature of cp and that the parsed fields
// match the note.
func openCheckpoint(t *testing.T, h LogHarness, cp bus.SignedCheckpoint) bus.SignedCheckpoint {
	t.Helper()
	opened, err := bus.OpenCheckpoint(cp.Note, h.Verifiers)
	if err != nil {
		t.Fatalf("OpenCheckpoint(size %d): %v", cp.Size, err)
	}
	if opened.Origin != cp.Origin || opened.Size != cp.Size || opened.Hash != cp.Hash {
		t.Fatalf("checkpoint fields %s/%d/%x differ from its note %s/%d/%x", cp.Origin, cp.Size, cp.Hash, opened.Origin, opened.Size, opened.Hash)
	}
	return opened
}

func testLogRoundTrip(t *testing.T, h LogHarness) {
	l := h.Log
	if n := mustSize(t, l); n != 0 {
		t.Fatalf("new log has size %d", n)
	}
	big := bytes.Repeat([]byte{0xab}, bus.MaxLeafSize)
	calls := [][][]byte{{leafN(0)}, {leafN(1), leafN(2)}, {big}, {leafN(4), leafN(5), leafN(6), leafN(7)}}
	var want [][]byte
	for _, c := range calls {
		first := mustAppend(t, l, c...)
		if first != int64(len(want)) {
			t.Fatalf("Append returned first index %d, want %d", first, len(want))
		}
		want = append(want, c...)
	}
	if n := mustSize(t, l); n != int64(len(want)) {
		t.Fatalf("Size %d, want %d", n, len(want))
	}
	for i, w := range want {
		got, err := l.Leaf(logCtx(t), int64(i))
		if err != nil {
			t.Fatalf("Leaf(%d): %v", i, err)
		}
		if !bytes.Equal(got, w) {
			t.Fatalf("Leaf(%d) = %d bytes %.20q, want %d bytes %.20q", i, len(got), got, len(w), w)
		}
		// The result is a copy: scribbling on it changes nothing.
		clear(got)
	}
	again, err := l.Leaf(logCtx(t), 1)
	if err != nil || !bytes.Equal(again, leafN(1)) {
		t.Fatalf("Leaf(1) after modifying a returned leaf = %q, %v", again, err)
	}
}

func testLogInvalidLeaves(t *testing.T, h LogHarness) {
	l := h.Log
	mustAppend(t, l, leafN(0))
	cases := []struct {
		name   string
		leaves [][]byte
	}{
		{"no-leaves", nil},
		{"empty-leaf", [][]byte{{}}},
		{"nil-leaf", [][]byte{nil}},
		{"good-then-empty", [][]byte{leafN(1), {}}},
		{"oversized", [][]byte{make([]byte, bus.MaxLeafSize+1)}},
		{"good-then-oversized", [][]byte{leafN(1), make([]byte, bus.MaxLeafSize+1)}},
	}
	for _, c := range cases {
		_, err := l.Append(logCtx(t), c.leaves...)
		if !errors.Is(err, bus.ErrInvalidLeaf) {
			t.Errorf("%s: Append error %v, want ErrInvalidLeaf", c.name, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Append(ctx, leafN(1)); !errors.Is(err, context.Canceled) {
		t.Errorf("Append with a cancelled context: %v, want context.Canceled", err)
	}
	if n := mustSize(t, l); n != 1 {
		t.Fatalf("refused appends changed the size to %d", n)
	}
}

func testLogEmptyCheckpoint(t *testing.T, h LogHarness) {
	l := h.Log
	if _, err := l.Checkpoint(logCtx(t)); !errors.Is(err, bus.ErrNoCheckpoint) {
		t.Fatalf("Checkpoint of a new log: %v, want ErrNoCheckpoint", err)
	}
	cp := openCheckpoint(t, h, mustSign(t, l))
	if cp.Size != 0 || cp.Hash != sha256.Sum256(nil) {
		t.Fatalf("checkpoint of the empty log: size %d hash %x", cp.Size, cp.Hash)
	}
	got, err := l.Checkpoint(logCtx(t))
	if err != nil || !bytes.Equal(got.Note, cp.Note) {
		t.Fatalf("Checkpoint after signing the empty log: %v", err)
	}
	mustAppend(t, l, leafN(0))
	cp1 := openCheckpoint(t, h, mustSign(t, l))
	if err := bus.VerifyConsistency(cp.Checkpoint, cp1.Checkpoint, nil); err != nil {
		t.Fatalf("empty checkpoint → size 1: %v", err)
	}
}

// proofSizes are the tree sizes the proof tests sign checkpoints at:
// powers of two, their neighbours, and odd sizes.
var proofSizes = []int64{1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 33}

// growAndSign appends leaves up to each size in proofSizes, in calls of
// varying length, and signs a checkpoint at each size.
func growAndSign(t *testing.T, h LogHarness) (leaves [][]byte, cps []bus.SignedCheckpoint) {
	t.Helper()
	for _, size := range proofSizes {
		for int64(len(leaves)) < size {
			n := min(int(size)-len(leaves), 1+len(leaves)%3)
			var batch [][]byte
			for range n {
				batch = append(batch, leafN(len(leaves)+len(batch)))
			}
			mustAppend(t, h.Log, batch...)
			leaves = append(leaves, batch...)
		}
		cp := openCheckpoint(t, h, mustSign(t, h.Log))
		if cp.Size != size {
			t.Fatalf("signed checkpoint has size %d, want %d", cp.Size, size)
		}
		if want := bus.TreeHash(leaves); cp.Hash != want {
			t.Fatalf("checkpoint at size %d has root %x; RFC 6962 over the leaves gives %x", size, cp.Hash, want)
		}
		cps = append(cps, cp)
	}
	return leaves, cps
}

func testLogInclusionProofs(t *testing.T, h LogHarness) {
	leaves, cps := growAndSign(t, h)
	for _, cp := range cps {
		for i := range cp.Size {
			proof, err := h.Log.InclusionProof(logCtx(t), i, cp.Size)
			if err != nil {
				t.Fatalf("InclusionProof(%d, %d): %v", i, cp.Size, err)
			}
			if err := bus.VerifyInclusion(leaves[i], i, proof, cp.Checkpoint); err != nil {
				t.Fatalf("VerifyInclusion(leaf %d, size %d): %v", i, cp.Size, err)
			}
			// The proof is for this leaf at this index only.
			if err := bus.VerifyInclusion(append(slices.Clone(leaves[i]), 'x'), i, proof, cp.Checkpoint); err == nil {
				t.Fatalf("proof of leaf %d in size %d accepts another leaf", i, cp.Size)
			}
			if cp.Size > 1 {
				other := (i + 1) % cp.Size
				if err := bus.VerifyInclusion(leaves[i], other, proof, cp.Checkpoint); err == nil {
					t.Fatalf("proof of leaf %d in size %d accepts index %d", i, cp.Size, other)
				}
			}
			if len(proof) > 0 {
				bad := slices.Clone(proof)
				bad[len(bad)-1][0] ^= 1
				if err := bus.VerifyInclusion(leaves[i], i, bad, cp.Checkpoint); err == nil {
					t.Fatalf("tampered proof of leaf %d in size %d verifies", i, cp.Size)
				}
			}
		}
	}
	// Proofs against the current size work without a checkpoint at it.
	mustAppend(t, h.Log, leafN(len(leaves)))
	leaves = append(leaves, leafN(len(leaves)))
	head := bus.Checkpoint{Origin: cps[0].Origin, Size: int64(len(leaves)), Hash: bus.TreeHash(leaves)}
	for i := range head.Size {
		proof, err := h.Log.InclusionProof(logCtx(t), i, head.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := bus.VerifyInclusion(leaves[i], i, proof, head); err != nil {
			t.Fatalf("VerifyInclusion(leaf %d, unsigned size %d): %v", i, head.Size, err)
		}
	}
}

func testLogConsistencyProofs(t *testing.T, h LogHarness) {
	_, cps := growAndSign(t, h)
	empty := bus.Checkpoint{Origin: cps[0].Origin, Size: 0, Hash: sha256.Sum256(nil)}
	for _, b := range cps {
		proof, err := h.Log.ConsistencyProof(logCtx(t), 0, b.Size)
		if err != nil || len(proof) != 0 {
			t.Fatalf("ConsistencyProof(0, %d) = %d hashes, %v; want an empty proof", b.Size, len(proof), err)
		}
		if err := bus.VerifyConsistency(empty, b.Checkpoint, proof); err != nil {
			t.Fatalf("VerifyConsistency(0, %d): %v", b.Size, err)
		}
		for _, a := range cps {
			if a.Size > b.Size {
				continue
			}
			proof, err := h.Log.ConsistencyProof(logCtx(t), a.Size, b.Size)
			if err != nil {
				t.Fatalf("ConsistencyProof(%d, %d): %v", a.Size, b.Size, err)
			}
			if err := bus.VerifyConsistency(a.Checkpoint, b.Checkpoint, proof); err != nil {
				t.Fatalf("VerifyConsistency(%d, %d): %v", a.Size, b.Size, err)
			}
			if len(proof) > 0 {
				bad := slices.Clone(proof)
				bad[0][31] ^= 0x80
				if err := bus.VerifyConsistency(a.Checkpoint, b.Checkpoint, bad); err == nil {
					t.Fatalf("tampered consistency proof %d → %d verifies", a.Size, b.Size)
				}
			}
			// A forked old checkpoint (same size, another root) fails.
			fork := a.Checkpoint
			fork.Hash[0] ^= 1
			if err := bus.VerifyConsistency(fork, b.Checkpoint, proof); err == nil {
				t.Fatalf("consistency %d → %d accepts a forked old root", a.Size, b.Size)
			}
		}
	}
}

func testLogOutOfRange(t *testing.T, h LogHarness) {
	l := h.Log
	for i := range 5 {
		mustAppend(t, l, leafN(i))
	}
	cases := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Leaf(-1)", func(ctx context.Context) error { _, err := l.Leaf(ctx, -1); return err }},
		{"Leaf(size)", func(ctx context.Context) error { _, err := l.Leaf(ctx, 5); return err }},
		{"Leaf(huge)", func(ctx context.Context) error { _, err := l.Leaf(ctx, 1<<62); return err }},
		{"InclusionProof(-1,5)", func(ctx context.Context) error { _, err := l.InclusionProof(ctx, -1, 5); return err }},
		{"InclusionProof(5,5)", func(ctx context.Context) error { _, err := l.InclusionProof(ctx, 5, 5); return err }},
		{"InclusionProof(0,6)", func(ctx context.Context) error { _, err := l.InclusionProof(ctx, 0, 6); return err }},
		{"InclusionProof(0,0)", func(ctx context.Context) error { _, err := l.InclusionProof(ctx, 0, 0); return err }},
		{"InclusionProof(3,2)", func(ctx context.Context) error { _, err := l.InclusionProof(ctx, 3, 2); return err }},
		{"ConsistencyProof(-1,3)", func(ctx context.Context) error { _, err := l.ConsistencyProof(ctx, -1, 3); return err }},
		{"ConsistencyProof(3,2)", func(ctx context.Context) error { _, err := l.ConsistencyProof(ctx, 3, 2); return err }},
		{"ConsistencyProof(0,6)", func(ctx context.Context) error { _, err := l.ConsistencyProof(ctx, 0, 6); return err }},
		{"ConsistencyProof(6,6)", func(ctx context.Context) error { _, err := l.ConsistencyProof(ctx, 6, 6); return err }},
	}
	for _, c := range cases {
		if err := c.call(logCtx(t)); !errors.Is(err, bus.ErrOutOfRange) {
			t.Errorf("%s: error %v, want ErrOutOfRange", c.name, err)
		}
	}
	for _, sizes := range [][2]int64{{0, 0}, {5, 5}, {0, 5}} {
		proof, err := l.ConsistencyProof(logCtx(t), sizes[0], sizes[1])
		if err != nil || len(proof) != 0 {
			t.Errorf("ConsistencyProof(%d, %d) = %d hashes, %v; want an empty proof", sizes[0], sizes[1], len(proof), err)
		}
	}
	if n := mustSize(t, l); n != 5 {
		t.Fatalf("size changed to %d", n)
	}
}

func testLogConcurrentAppends(t *testing.T, h LogHarness) {
	const writers, calls = 8, 30
	type appended struct {
		first  int64
		leaves [][]byte
	}
	results := make([][]appended, writers)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for c := range calls {
				var leaves [][]byte
				for j := range 1 + (w+c)%3 {
					leaves = append(leaves, fmt.Appendf(nil, "writer %d call %d leaf %d", w, c, j))
				}
				first, err := h.Log.Append(logCtx(t), leaves...)
				if err != nil {
					errs <- fmt.Errorf("writer %d: %w", w, err)
					return
				}
				results[w] = append(results[w], appended{first, leaves})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := 0
	for _, rs := range results {
		for _, r := range rs {
			total += len(r.leaves)
		}
	}
	if n := mustSize(t, h.Log); n != int64(total) {
		t.Fatalf("size %d after appending %d leaves", n, total)
	}
	owner := make(map[int64]string, total)
	for w, rs := range results {
		for _, r := range rs {
			for j, want := range r.leaves {
				i := r.first + int64(j)
				if prev, dup := owner[i]; dup {
					t.Fatalf("index %d returned to two appends (%s and writer %d)", i, prev, w)
				}
				owner[i] = fmt.Sprintf("writer %d", w)
				got, err := h.Log.Leaf(logCtx(t), i)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("Leaf(%d) = %q, %v; want %q", i, got, err, want)
				}
			}
		}
	}
	// The tree is what RFC 6962 gives over the leaves in index order.
	all := make([][]byte, total)
	for i := range all {
		all[i], _ = h.Log.Leaf(logCtx(t), int64(i))
	}
	cp := openCheckpoint(t, h, mustSign(t, h.Log))
	if cp.Size != int64(total) || cp.Hash != bus.TreeHash(all) {
		t.Fatalf("checkpoint size %d root %x; want %d and %x", cp.Size, cp.Hash, total, bus.TreeHash(all))
	}
}

func testLogCheckpointsMonotonic(t *testing.T, h LogHarness) {
	l := h.Log
	ctx, cancel := context.WithCancel(logCtx(t))
	defer cancel()
	var appenders sync.WaitGroup
	for w := range 3 {
		appenders.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				if _, err := l.Append(ctx, fmt.Appendf(nil, "w%d-%d", w, i)); err != nil && ctx.Err() == nil {
					t.Errorf("Append: %v", err)
					return
				}
			}
		})
	}
	const signers, rounds = 3, 15
	seen := make([][]bus.SignedCheckpoint, signers+1)
	var wg sync.WaitGroup
	for s := range signers {
		wg.Go(func() {
			for range rounds {
				cp, err := l.SignCheckpoint(logCtx(t))
				if err != nil {
					t.Errorf("SignCheckpoint: %v", err)
					return
				}
				seen[s] = append(seen[s], cp)
			}
		})
	}
	wg.Go(func() { // a reader of the latest checkpoint
		for range 3 * rounds {
			cp, err := l.Checkpoint(logCtx(t))
			if errors.Is(err, bus.ErrNoCheckpoint) {
				continue
			}
			if err != nil {
				t.Errorf("Checkpoint: %v", err)
				return
			}
			seen[signers] = append(seen[signers], cp)
			time.Sleep(time.Millisecond)
		}
	})
	wg.Wait()
	cancel()
	appenders.Wait()
	if t.Failed() {
		return
	}
	bySize := map[int64]bus.SignedCheckpoint{}
	for g, cps := range seen {
		for i, cp := range cps {
			openCheckpoint(t, h, cp)
			if i > 0 && cp.Size < cps[i-1].Size {
				t.Fatalf("goroutine %d saw checkpoint size %d after %d", g, cp.Size, cps[i-1].Size)
			}
			if prev, ok := bySize[cp.Size]; ok && prev.Hash != cp.Hash {
				t.Fatalf("two checkpoints of size %d with different roots", cp.Size)
			}
			bySize[cp.Size] = cp
		}
	}
	sizes := make([]int64, 0, len(bySize))
	for s := range bySize {
		sizes = append(sizes, s)
	}
	slices.Sort(sizes)
	for i := 1; i < len(sizes); i++ {
		a, b := bySize[sizes[i-1]], bySize[sizes[i]]
		proof, err := l.ConsistencyProof(logCtx(t), a.Size, b.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := bus.VerifyConsistency(a.Checkpoint, b.Checkpoint, proof); err != nil {
			t.Fatalf("checkpoints %d → %d: %v", a.Size, b.Size, err)
		}
	}
	// With no growth, SignCheckpoint returns the latest checkpoint as is.
	last := mustSign(t, l)
	again := mustSign(t, l)
	if !bytes.Equal(last.Note, again.Note) {
		t.Fatal("SignCheckpoint without growth signed a new checkpoint")
	}
	if n := mustSize(t, l); last.Size != n {
		t.Fatalf("after appends stopped, checkpoint size %d, log size %d", last.Size, n)
	}
	got, err := l.Checkpoint(logCtx(t))
	if err != nil || !bytes.Equal(got.Note, last.Note) {
		t.Fatalf("Checkpoint() is not the latest signed one: %v", err)
	}
}

func testLogCheckpointSignature(t *testing.T, h LogHarness) {
	mustAppend(t, h.Log, leafN(0), leafN(1))
	cp := openCheckpoint(t, h, mustSign(t, h.Log))
	if err := bus.CheckOrigin(cp.Origin); err != nil {
		t.Fatalf("origin: %v", err)
	}
	var ee *bus.EvidenceError
	if _, err := bus.OpenCheckpoint(cp.Note, note.VerifierList()); !errors.As(err, &ee) || ee.Reason != bus.ReasonUnknownKey {
		t.Fatalf("OpenCheckpoint without keys: %v, want %s", err, bus.ReasonUnknownKey)
	}
	tampered := bytes.Replace(cp.Note, []byte("\n2\n"), []byte("\n3\n"), 1)
	if _, err := bus.OpenCheckpoint(tampered, h.Verifiers); !errors.As(err, &ee) || ee.Reason != bus.ReasonBadSignature {
		t.Fatalf("OpenCheckpoint of a tampered note: %v, want %s", err, bus.ReasonBadSignature)
	}
}

func testLogReceipts(t *testing.T, h LogHarness) {
	base := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	var events []bus.Event
	for i := range 6 {
		events = append(events, bus.Event{
			Kind:          bus.EventSubmissionAccepted,
			Time:          base.Add(time.Duration(i) * time.Millisecond),
			MessageID:     fmt.Sprintf("msg-%d", i),
			PackageSHA256: sha256.Sum256([]byte{byte(i)}),
			Sender:        "000.00.00.G22",
			Recipients:    []string{"000.00.00.H41"},
		})
	}
	events[3].Kind, events[3].Reason, events[3].Recipients = bus.EventSubmissionRejected, "revoked", nil
	var firsts []int64
	for _, e := range events {
		leaf, err := e.Encode()
		if err != nil {
			t.Fatal(err)
		}
		firsts = append(firsts, mustAppend(t, h.Log, leaf))
	}
	cp := mustSign(t, h.Log)
	for i, idx := range firsts {
		r, err := bus.ReceiptFor(logCtx(t), h.Log, idx, cp)
		if err != nil {
			t.Fatalf("ReceiptFor(%d): %v", idx, err)
		}
		enc, err := r.Encode()
		if err != nil {
			t.Fatal(err)
		}
		dec, err := bus.DecodeReceipt(enc)
		if err != nil {
			t.Fatalf("DecodeReceipt: %v", err)
		}
		e, opened, err := dec.Open(h.Verifiers)
		if err != nil {
			t.Fatalf("receipt %d: %v", idx, err)
		}
		if opened.Size != cp.Size || e.MessageID != events[i].MessageID || e.Kind != events[i].Kind || !e.Time.Equal(events[i].Time) {
			t.Fatalf("receipt %d opened to %+v at size %d", idx, e, opened.Size)
		}
	}
	if _, err := bus.ReceiptFor(logCtx(t), h.Log, cp.Size, cp); !errors.Is(err, bus.ErrOutOfRange) {
		t.Fatalf("ReceiptFor a leaf past the checkpoint: %v", err)
	}
}

func testLogReopen(t *testing.T, h LogHarness) {
	if h.Reopen == nil {
		t.Skip("the harness cannot reopen the log")
	}
	var leaves [][]byte
	for i := range 10 {
		leaves = append(leaves, leafN(i))
	}
	mustAppend(t, h.Log, leaves...)
	cp1 := openCheckpoint(t, h, mustSign(t, h.Log))
	more := [][]byte{leafN(10), leafN(11), leafN(12)}
	mustAppend(t, h.Log, more...)
	leaves = append(leaves, more...)

	l := h.Reopen(t) // appended but never signed before the restart
	if n := mustSize(t, l); n != int64(len(leaves)) {
		t.Fatalf("size after reopen %d, want %d", n, len(leaves))
	}
	got, err := l.Checkpoint(logCtx(t))
	if err != nil || !bytes.Equal(got.Note, cp1.Note) {
		t.Fatalf("Checkpoint after reopen: %v (size %d), want the one of size %d", err, got.Size, cp1.Size)
	}
	cp2 := openCheckpoint(t, h, mustSign(t, l))
	if cp2.Size != int64(len(leaves)) || cp2.Hash != bus.TreeHash(leaves) {
		t.Fatalf("checkpoint after reopen: size %d root %x", cp2.Size, cp2.Hash)
	}
	proof, err := l.ConsistencyProof(logCtx(t), cp1.Size, cp2.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.VerifyConsistency(cp1.Checkpoint, cp2.Checkpoint, proof); err != nil {
		t.Fatalf("checkpoint before and after reopen: %v", err)
	}
	for i, want := range leaves {
		if got, err := l.Leaf(logCtx(t), int64(i)); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("Leaf(%d) after reopen = %q, %v", i, got, err)
		}
	}
}
