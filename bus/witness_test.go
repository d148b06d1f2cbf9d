package bus_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"truc.vn/truc/bus"
)

// signedAt signs the checkpoint of m at size with the log key.
func signedAt(t testing.TB, m *memTree, size int64) bus.SignedCheckpoint {
	t.Helper()
	sc, err := bus.SignCheckpoint(m.checkpoint(t, size), signer(t, logSkey))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func consistency(t testing.TB, m *memTree, oldSize, newSize int64) [][32]byte {
	t.Helper()
	if oldSize == 0 || oldSize == newSize {
		return nil
	}
	p, err := tlog.ProveTree(newSize, oldSize, m)
	if err != nil {
		t.Fatal(err)
	}
	return toProof(p)
}

func newWitness(t testing.TB, name string) (note.Signer, note.Verifier) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	return signer(t, skey), verifier(t, vkey)
}

func logKeys(t testing.TB) note.Verifiers { return note.VerifierList(verifier(t, logVkey)) }

func TestCosign(t *testing.T) {
	m := newMemTree(t, 9)
	w1, v1 := newWitness(t, "truc.vn/edge/hanoi")
	w2, v2 := newWitness(t, "truc.vn/edge/hue")
	witnesses := note.VerifierList(v1, v2)

	cp5 := signedAt(t, m, 5)
	first, err := bus.Cosign(cp5, bus.SignedCheckpoint{}, nil, w1)
	if err != nil {
		t.Fatalf("first checkpoint seen: %v", err)
	}
	cp, names, err := bus.OpenCosigned(first, logKeys(t), witnesses)
	if err != nil || cp.Size != 5 || !slices.Equal(names, []string{"truc.vn/edge/hanoi"}) {
		t.Fatalf("open: %v %d %q", err, cp.Size, names)
	}
	// A cosigned checkpoint is still a checkpoint for those who ignore
	// witnesses.
	if _, err := bus.OpenCheckpoint(first, logKeys(t)); err != nil {
		t.Fatal(err)
	}

	cp9 := signedAt(t, m, 9)
	proof := consistency(t, m, 5, 9)
	one, err := bus.Cosign(cp9, cp5, proof, w1)
	if err != nil {
		t.Fatalf("a consistent checkpoint: %v", err)
	}
	cp9.Note = one
	two, err := bus.Cosign(cp9, cp5, proof, w2)
	if err != nil {
		t.Fatal(err)
	}
	_, names, err = bus.OpenCosigned(two, logKeys(t), witnesses)
	if err != nil || !slices.Equal(names, []string{"truc.vn/edge/hanoi", "truc.vn/edge/hue"}) {
		t.Fatalf("two witnesses: %v %q", err, names)
	}
	if _, names, err = bus.OpenCosigned(two, logKeys(t), nil); err != nil || len(names) != 0 {
		t.Fatalf("without witness keys: %v %q", err, names)
	}
	if _, names, err = bus.OpenCosigned(two, logKeys(t), note.VerifierList(v2)); err != nil || !slices.Equal(names, []string{"truc.vn/edge/hue"}) {
		t.Fatalf("with one witness key: %v %q", err, names)
	}
	// Cosigning again changes nothing.
	cp9.Note = two
	again, err := bus.Cosign(cp9, cp5, proof, w2)
	if err != nil || string(again) != string(two) {
		t.Fatalf("cosigning twice: %v\n%s", err, again)
	}
	// Same size, same tree: consistent with an empty proof.
	if _, err := bus.Cosign(cp9, cp9, nil, w1); err != nil {
		t.Fatal(err)
	}
}

func TestCosignRefuses(t *testing.T) {
	honest := newMemTree(t, 12)
	fork := newMemTree(t, 5)
	for i := 5; i < 12; i++ {
		fork.add(t, fmt.Appendf(nil, "other history %d", i))
	}
	w1, _ := newWitness(t, "truc.vn/edge/hanoi")
	cp5, cp9 := signedAt(t, honest, 5), signedAt(t, honest, 9)
	fork9, fork12 := signedAt(t, fork, 9), signedAt(t, fork, 12)
	otherSkey, _, err := note.GenerateKey(rand.Reader, "truc.vn/axis/other")
	if err != nil {
		t.Fatal(err)
	}
	c9 := honest.checkpoint(t, 9)
	c9.Origin = "truc.vn/axis/other"
	other, err := bus.SignCheckpoint(c9, signer(t, otherSkey))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		cp, prev  bus.SignedCheckpoint
		proof     [][32]byte
		s         note.Signer
		is        error
		errSubstr string
	}{
		{"a split view at the same size", fork9, cp9, nil, w1, bus.ErrSplitView, "different root hashes"},
		{"a split view, the fork's own proof", fork12, cp9, consistency(t, fork, 9, 12), w1, bus.ErrSplitView, "not shown to extend"},
		{"a split view, the honest proof", fork12, cp9, consistency(t, honest, 9, 12), w1, bus.ErrSplitView, "not shown to extend"},
		{"a split view after the common prefix", fork9, cp5, consistency(t, honest, 5, 9), w1, bus.ErrSplitView, ""},
		{"an older checkpoint", cp5, cp9, nil, w1, bus.ErrStaleCheckpoint, "older"},
		{"another log", other, cp5, nil, w1, nil, "another log"},
		{"a witness named as the log", cp9, cp5, consistency(t, honest, 5, 9), signer(t, logSkey), nil, "named as the log"},
		{"no signer", cp9, cp5, nil, nil, nil, "no witness signer"},
		{"a note of another checkpoint", bus.SignedCheckpoint{Checkpoint: cp9.Checkpoint, Note: cp5.Note}, cp5, nil, w1, nil, "its note is of another checkpoint"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := bus.Cosign(c.cp, c.prev, c.proof, c.s)
			if err == nil {
				t.Fatalf("cosigned:\n%s", got)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Fatalf("error %v does not wrap %v", err, c.is)
			}
			if !strings.Contains(err.Error(), c.errSubstr) {
				t.Fatalf("error %q lacks %q", err, c.errSubstr)
			}
		})
	}
}

func TestOpenCosignedRefuses(t *testing.T) {
	m := newMemTree(t, 3)
	w1, v1 := newWitness(t, "truc.vn/edge/hanoi")
	cp := signedAt(t, m, 3)
	cosigned, err := bus.Cosign(cp, bus.SignedCheckpoint{}, nil, w1)
	if err != nil {
		t.Fatal(err)
	}
	// A witness key named as the log, given as a witness, never counts as
	// the log's signature.
	impostorSkey, impostorVkey, err := note.GenerateKey(rand.Reader, testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	byImpostor, err := note.Sign(&note.Note{Text: string(mustText(t, cp.Checkpoint))}, signer(t, impostorSkey))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(cosigned), "\n")
	lines[len(lines)-2] = lines[len(lines)-2][:len(lines[len(lines)-2])-4] + "AAA="
	badWitness := strings.Join(lines, "\n")
	for _, c := range []struct {
		name       string
		msg        string
		witnesses  note.Verifiers
		wantReason bus.Reason
	}{
		{"signed only by a key named as the log, given as a witness", string(byImpostor), note.VerifierList(verifier(t, impostorVkey)), bus.ReasonUnknownKey},
		{"a witness signature that does not verify", badWitness, note.VerifierList(v1), bus.ReasonBadSignature},
		{"not a note", "truc.vn/axis/test-axis\n3\n", nil, bus.ReasonInvalid},
		{"a text that is not a checkpoint", "hello\n\n— truc.vn/axis/test-axis AAAA\n", nil, bus.ReasonMissing},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := bus.OpenCosigned([]byte(c.msg), logKeys(t), c.witnesses)
			wantEvidenceErr(t, err, "*", c.wantReason)
		})
	}
}

func mustText(t testing.TB, c bus.Checkpoint) []byte {
	t.Helper()
	b, err := c.Text()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzOpenCosigned feeds hostile cosigned checkpoints to OpenCosigned.
// Properties: no panic; an accepted note re-parses to the same checkpoint,
// its witness names are sorted and distinct, and never the origin.
func FuzzOpenCosigned(f *testing.F) {
	m := newMemTree(f, 4)
	cp := signedAt(f, m, 4)
	w := signer(f, witnessSkey)
	cosigned, err := bus.Cosign(cp, bus.SignedCheckpoint{}, nil, w)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(cosigned)
	f.Add(cp.Note)
	f.Add([]byte("truc.vn/axis/test-axis\n0\n" + emptyTreeHashB + "\n\n— witness.example/w1 AAAAAAA=\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		got, names, err := bus.OpenCosigned(msg, logKeys(t), note.VerifierList(verifier(t, witnessVkey)))
		if err != nil {
			var e *bus.EvidenceError
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not an *EvidenceError", err)
			}
			return
		}
		again, err := bus.ParseUnverifiedCheckpoint(got.Note)
		if err != nil || again.Size != got.Size || again.Hash != got.Hash {
			t.Fatalf("an accepted note does not re-parse: %v", err)
		}
		if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) || slices.Contains(names, got.Origin) {
			t.Fatalf("witness names %q", names)
		}
	})
}
