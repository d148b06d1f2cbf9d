package witness_test

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"truc.vn/truc/adapters/witness"
)

// splitEvidence builds the evidence of a fork: the axis log at size seen,
// and a log with the same key diverging after 2 leaves at size show.
func splitEvidence(t *testing.T, a *axisWorld, seen, show int64) *witness.Evidence {
	t.Helper()
	old := a.grow(a.store.Log(), seen, false)
	forked := a.fork(2)
	shown := a.grow(forked, show, true)
	var proof [][32]byte
	if seen < show {
		var err error
		if proof, err = forked.ConsistencyProof(context.Background(), seen, show); err != nil {
			t.Fatal(err)
		}
	}
	return &witness.Evidence{
		DetectedAt: time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC),
		Witness:    "truc.vn/edge/hanoi",
		Reason:     "the proof does not lead to the root",
		Old:        old.Note,
		New:        shown.Note,
		Proof:      proof,
	}
}

func TestEvidenceRoundTrip(t *testing.T) {
	a := newAxisWorld(t)
	ev := splitEvidence(t, a, 5, 9)
	text, err := ev.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	back, err := witness.ParseEvidence(text)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if !reflect.DeepEqual(back, ev) {
		t.Fatalf("round trip:\n%+v\n%+v", back, ev)
	}
	if conclusive, err := back.Verify(a.logKeys); err != nil || conclusive {
		t.Errorf("Verify: %v %v, want an inconclusive split view", conclusive, err)
	}
}

func TestEvidenceVerifyRefuses(t *testing.T) {
	a := newAxisWorld(t)
	ev := splitEvidence(t, a, 4, 4)
	if conclusive, err := ev.Verify(a.logKeys); err != nil || !conclusive {
		t.Fatalf("two roots at one size: %v %v", conclusive, err)
	}
	honest := a.grow(a.store.Log(), 8, false)
	proof, err := a.store.Log().ConsistencyProof(context.Background(), 4, 8)
	if err != nil {
		t.Fatal(err)
	}
	other := newAxisWorld(t)
	tampered := func(edit func(e *witness.Evidence)) *witness.Evidence {
		c := *ev
		c.Old = append([]byte(nil), ev.Old...)
		c.New = append([]byte(nil), ev.New...)
		edit(&c)
		return &c
	}
	for _, tc := range []struct {
		name string
		ev   *witness.Evidence
		keys *axisWorld
		want string
	}{
		{"consistent checkpoints", tampered(func(e *witness.Evidence) { e.New, e.Proof = honest.Note, proof }), a, "no split view"},
		{"a byte of the new checkpoint changed", tampered(func(e *witness.Evidence) { e.New[len(origin)+3] ^= 1 }), a, "new checkpoint"},
		{"a byte of a signature changed", tampered(func(e *witness.Evidence) { e.Old[bytes.LastIndex(e.Old, []byte("\n— "))+len(origin)+20] ^= 1 }), a, "old checkpoint"},
		{"another log's key", ev, other, "old checkpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.ev.Verify(tc.keys.logKeys)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Verify: %v, want an error about %q", err, tc.want)
			}
		})
	}
}

func TestParseEvidenceErrors(t *testing.T) {
	a := newAxisWorld(t)
	good, err := splitEvidence(t, a, 3, 6).MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	s := string(good)
	for _, tc := range []struct {
		name, text, want string
	}{
		{"magic", strings.Replace(s, "truc witness", "truc witnesses", 1), "first line"},
		{"no final newline", strings.TrimSuffix(s, "\n"), "newline"},
		{"missing header", strings.Replace(s, "witness: truc.vn/edge/hanoi\n", "", 1), "required"},
		{"repeated header", strings.Replace(s, "witness: ", "reason: x\nwitness: ", 1), "each key once"},
		{"unknown header", strings.Replace(s, "witness: ", "colour: red\nwitness: ", 1), "unknown header"},
		{"bad time", strings.Replace(s, "2026-03-04", "2026-13-04", 1), "detected-at"},
		{"unindented note line", strings.Replace(s, "    "+origin, origin, 1), "indented"},
		{"bad proof hash", strings.Replace(s, "== consistency proof ==\n    ", "== consistency proof ==\n    !", 1), "hash 1"},
		{"sections out of order", strings.Replace(s, "== new checkpoint ==", "== consistency proof ==", 1), "expected"},
		{"no end", strings.Replace(s, "== end ==\n", "", 1), "== end =="},
		{"trailing text", s + "more\n", "last line"},
		{"not UTF-8", s[:40] + "\xff" + s[40:], "UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := witness.ParseEvidence([]byte(tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseEvidence: %v, want an error about %q", err, tc.want)
			}
		})
	}
	if _, err := (&witness.Evidence{Reason: "two\nlines", Old: []byte("a\n"), New: []byte("b\n")}).MarshalText(); err == nil {
		t.Error("MarshalText took a reason of two lines")
	}
	if _, err := (&witness.Evidence{Old: []byte("no newline"), New: []byte("b\n")}).MarshalText(); err == nil {
		t.Error("MarshalText took a note without a final newline")
	}
}
