package boltstore_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"truc.vn/truc/adapters/boltstore"
	"truc.vn/truc/bus"
	"truc.vn/truc/signing/notesig"
	"truc.vn/truc/signing/signingtest"
)

// fakeLine is a syntactically valid signature line by name with key ID
// id: the store checks syntax only.
func fakeLine(name string, id uint32) string {
	raw := binary.BigEndian.AppendUint32(nil, id)
	raw = append(raw, make([]byte, 64)...)
	return "— " + name + " " + base64.StdEncoding.EncodeToString(raw) + "\n"
}

func TestCosignatures(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "axis.db")
	s := open(t, path, boltstore.Config{LogSigner: sealSigner(t)})
	l := s.Log()
	for i := range 4 {
		if _, err := l.Append(ctx, []byte(fmt.Sprint("leaf ", i))); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := l.SignCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.AddCosignatures(ctx, 3, []string{fakeLine("w", 1)}); !errors.Is(err, bus.ErrNoCheckpoint) {
		t.Errorf("a size with no checkpoint: %v", err)
	}

	// Real witnesses, whose lines verify.
	var ws []note.Signer
	var vs []note.Verifier
	for _, name := range []string{"truc.vn/edge/hue", "truc.vn/edge/hanoi"} {
		w, err := notesig.NewSigner(name, signingtest.NewKey(t, signingtest.P256))
		if err != nil {
			t.Fatal(err)
		}
		ws, vs = append(ws, w), append(vs, w.Verifier())
	}
	var lines []string
	for _, w := range ws {
		msg, err := bus.Cosign(cp, bus.SignedCheckpoint{}, nil, w)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(msg[len(cp.Note):]))
	}
	if n, err := l.AddCosignatures(ctx, 4, lines); err != nil || n != 2 {
		t.Fatalf("AddCosignatures: %d, %v", n, err)
	}
	// Again, with a fresh (different) signature by the same key: the first stays.
	again, err := bus.Cosign(cp, bus.SignedCheckpoint{}, nil, ws[0])
	if err != nil {
		t.Fatal(err)
	}
	if n, err := l.AddCosignatures(ctx, 4, []string{string(again[len(cp.Note):]), lines[1]}); err != nil || n != 0 {
		t.Fatalf("repeated cosignatures: %d added, %v", n, err)
	}
	s.Close()

	// After a reopen, the note holds both, sorted by key name, and opens.
	s = open(t, path, boltstore.Config{LogSigner: sealSigner(t)})
	l = s.Log()
	msg, err := l.Cosigned(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	want := string(cp.Note) + lines[1] + lines[0] // hanoi < hue
	if string(msg) != want {
		t.Fatalf("Cosigned:\n%s\nwant\n%s", msg, want)
	}
	_, names, err := bus.OpenCosigned(msg, verifiersFor(t, sealSigner(t)), note.VerifierList(vs...))
	if err != nil || !slices.Equal(names, []string{"truc.vn/edge/hanoi", "truc.vn/edge/hue"}) {
		t.Fatalf("OpenCosigned: %q, %v", names, err)
	}
	if _, err := l.Cosigned(ctx, 2); !errors.Is(err, bus.ErrNoCheckpoint) {
		t.Errorf("Cosigned at a size never signed: %v", err)
	}
}

func TestAddCosignaturesRefuses(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "axis.db"), boltstore.Config{LogSigner: sealSigner(t)})
	l := s.Log()
	if _, err := l.Append(ctx, []byte("leaf")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.SignCheckpoint(ctx); err != nil {
		t.Fatal(err)
	}
	good := fakeLine("truc.vn/edge/a", 7)
	many := make([]string, bus.MaxCosignatures+1)
	for i := range many {
		many[i] = fakeLine(fmt.Sprintf("truc.vn/edge/w%02d", i), uint32(i))
	}
	for _, tc := range []struct {
		name  string
		lines []string
		want  string
	}{
		{"no em dash", []string{strings.TrimPrefix(good, "— ")}, "em dash"},
		{"no newline", []string{strings.TrimSuffix(good, "\n")}, "newline"},
		{"two lines in one", []string{good + good}, "not the standard base64"},
		{"no signature", []string{"— truc.vn/edge/a\n"}, "<key name> <base64>"},
		{"bad base64", []string{"— truc.vn/edge/a !!!!\n"}, "base64"},
		{"too short", []string{"— truc.vn/edge/a AAAAAA==\n"}, "base64"},
		{"plus in name", []string{fakeLine("a+b", 1)}, "key name"},
		{"space-free empty name", []string{"—  AAAAAAAA\n"}, "key name"},
		{"too long", []string{fakeLine(strings.Repeat("n", boltstore.MaxCosignatureLine), 1)}, "at most"},
		{"the log's own name", []string{good, fakeLine(origin, 9)}, "log's own key name"},
		{"too many", many, "more than 64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := l.AddCosignatures(ctx, 1, tc.lines)
			if !errors.Is(err, boltstore.ErrInvalid) || !strings.Contains(err.Error(), tc.want) || n != 0 {
				t.Fatalf("%d, %v; want ErrInvalid about %q", n, err, tc.want)
			}
			cp, err := l.CheckpointAt(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			if msg, err := l.Cosigned(ctx, 1); err != nil || string(msg) != string(cp.Note) {
				t.Fatalf("a refused call stored something: %v\n%s", err, msg)
			}
		})
	}
}

func TestLatestCosigned(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "axis.db"), boltstore.Config{LogSigner: sealSigner(t)})
	l := s.Log()
	if _, err := l.LatestCosigned(ctx, 1); !errors.Is(err, bus.ErrNoCheckpoint) {
		t.Errorf("empty: %v", err)
	}
	for size := 1; size <= 5; size++ {
		if _, err := l.Append(ctx, []byte(fmt.Sprint("leaf ", size))); err != nil {
			t.Fatal(err)
		}
		if _, err := l.SignCheckpoint(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Size 2: three witnesses; size 4: two; size 5: none.
	for size, n := range map[int64]int{2: 3, 4: 2} {
		var lines []string
		for i := range n {
			lines = append(lines, fakeLine(fmt.Sprintf("truc.vn/edge/w%d", i), uint32(i)))
		}
		if _, err := l.AddCosignatures(ctx, size, lines); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		min  int
		size int64
	}{{0, 4}, {1, 4}, {2, 4}, {3, 2}, {4, -1}} {
		cp, err := l.LatestCosigned(ctx, tc.min)
		if tc.size < 0 {
			if !errors.Is(err, bus.ErrNoCheckpoint) {
				t.Errorf("min %d: %v, want ErrNoCheckpoint", tc.min, err)
			}
			continue
		}
		if err != nil || cp.Size != tc.size {
			t.Errorf("min %d: size %d, %v; want %d", tc.min, cp.Size, err, tc.size)
			continue
		}
		if got := strings.Count(string(cp.Note), "\n— truc.vn/edge/"); got < max(tc.min, 1) {
			t.Errorf("min %d: the note has %d cosignatures", tc.min, got)
		}
	}

	for _, tc := range []struct {
		after, upto, want int64 // want -1: none
	}{{0, 5, 2}, {2, 5, 4}, {0, 3, 2}, {4, 5, -1}, {-1, 2, 2}, {3, 3, -1}} {
		cp, err := l.MostCosigned(ctx, tc.after, tc.upto)
		if tc.want < 0 {
			if !errors.Is(err, bus.ErrNoCheckpoint) {
				t.Errorf("most cosigned in (%d, %d]: %v, want ErrNoCheckpoint", tc.after, tc.upto, err)
			}
			continue
		}
		if err != nil || cp.Size != tc.want {
			t.Errorf("most cosigned in (%d, %d]: %d, %v; want %d", tc.after, tc.upto, cp.Size, err, tc.want)
		}
	}
	// A tie goes to the larger size.
	if _, err := l.AddCosignatures(ctx, 5, []string{fakeLine("truc.vn/edge/w0", 0), fakeLine("truc.vn/edge/w1", 1)}); err != nil {
		t.Fatal(err)
	}
	if cp, err := l.MostCosigned(ctx, 3, 5); err != nil || cp.Size != 5 {
		t.Errorf("a tie between 4 and 5: %d, %v", cp.Size, err)
	}
}
