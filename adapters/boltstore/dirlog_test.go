package boltstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"truc.vn/truc/adapters/boltstore"
	"truc.vn/truc/bus"
)

func change(v int64) []byte { return fmt.Appendf(nil, "change %d \x00\xff", v) }

func TestDirectoryLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "axis.db")
	s := open(t, path, boltstore.Config{})
	d := s.DirectoryLog()
	if last, err := d.Last(ctxT(t)); err != nil || last != 0 {
		t.Fatalf("Last of an empty log = %d, %v", last, err)
	}
	if got, err := d.Since(ctxT(t), 0, 10); err != nil || len(got) != 0 {
		t.Fatalf("Since(0) of an empty log = %d changes, %v", len(got), err)
	}
	big := bytes.Repeat([]byte{0xab}, boltstore.MaxDirChangeSize)
	for v := int64(1); v <= 10; v++ {
		c := change(v)
		if v == 7 {
			c = big
		}
		if err := d.Append(ctxT(t), v, c); err != nil {
			t.Fatalf("Append(%d): %v", v, err)
		}
	}
	want := func(v int64) []byte {
		if v == 7 {
			return big
		}
		return change(v)
	}
	cases := []struct {
		name     string
		since    int64
		limit    int
		versions []int64
	}{
		{"all", 0, 100, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{"middle", 4, 100, []int64{5, 6, 7, 8, 9, 10}},
		{"limit", 4, 2, []int64{5, 6}},
		{"last", 9, 100, []int64{10}},
		{"up-to-date", 10, 100, nil},
		{"ahead", 99, 100, nil},
	}
	for _, c := range cases {
		got, err := d.Since(ctxT(t), c.since, c.limit)
		if err != nil {
			t.Fatalf("%s: Since(%d, %d): %v", c.name, c.since, c.limit, err)
		}
		if len(got) != len(c.versions) {
			t.Fatalf("%s: Since(%d, %d) = %d changes, want %d", c.name, c.since, c.limit, len(got), len(c.versions))
		}
		for i, ch := range got {
			if ch.Version != c.versions[i] || !bytes.Equal(ch.Change, want(ch.Version)) {
				t.Fatalf("%s: change %d is version %d with %d bytes; want version %d", c.name, i, ch.Version, len(ch.Change), c.versions[i])
			}
		}
	}

	refused := []struct {
		name    string
		version int64
		change  []byte
		is      error
		says    string
	}{
		{"older", 9, change(9), bus.ErrConflict, "at version 10, so the next change is above it, got 9"},
		{"again", 10, change(10), bus.ErrConflict, "at version 10, so the next change is above it, got 10"},
		{"zero", 0, change(0), boltstore.ErrInvalid, "version"},
		{"empty", 11, nil, boltstore.ErrInvalid, fmt.Sprintf("change: must be 1–%d bytes, got 0", boltstore.MaxDirChangeSize)},
		{"too-large", 11, make([]byte, boltstore.MaxDirChangeSize+1), boltstore.ErrInvalid, fmt.Sprintf("got %d", boltstore.MaxDirChangeSize+1)},
	}
	for _, c := range refused {
		err := d.Append(ctxT(t), c.version, c.change)
		if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: Append(%d): %v; want %v saying %q", c.name, c.version, err, c.is, c.says)
		}
	}
	for _, c := range []struct {
		since int64
		limit int
	}{{-1, 10}, {0, 0}} {
		if _, err := d.Since(ctxT(t), c.since, c.limit); !errors.Is(err, boltstore.ErrInvalid) {
			t.Errorf("Since(%d, %d): %v; want ErrInvalid", c.since, c.limit, err)
		}
	}

	// Versions may skip (an edge stores a snapshot at the axis's version),
	// on a separate store so that the checks below see versions 1–10.
	{
		gs := open(t, filepath.Join(t.TempDir(), "gap.db"), boltstore.Config{})
		gd := gs.DirectoryLog()
		if err := gd.Append(ctxT(t), 57, change(57)); err != nil {
			t.Fatalf("a first snapshot at version 57: %v", err)
		}
		if err := gd.Append(ctxT(t), 58, change(58)); err != nil {
			t.Fatalf("version 58 after 57: %v", err)
		}
		if last, err := gd.Last(ctxT(t)); err != nil || last != 58 {
			t.Fatalf("Last after 57, 58 = %d, %v", last, err)
		}
	}

	// Durable: a reopened store has every change.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path, boltstore.Config{})
	d = s.DirectoryLog()
	if last, err := d.Last(ctxT(t)); err != nil || last != 10 {
		t.Fatalf("Last after reopening = %d, %v", last, err)
	}
	got, err := d.Since(ctxT(t), 0, 100)
	if err != nil || len(got) != 10 || !bytes.Equal(got[6].Change, big) {
		t.Fatalf("Since(0) after reopening: %d changes, %v", len(got), err)
	}
	// A returned change is a copy.
	clear(got[0].Change)
	if again, _ := d.Since(ctxT(t), 0, 1); !bytes.Equal(again[0].Change, change(1)) {
		t.Fatalf("a returned change was not a copy")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Append(ctx, 11, change(11)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Append with a cancelled context: %v", err)
	}
}

// TestDirectoryLogConcurrentAppends: writers racing for the same next
// version get exactly one success per version and no gap.
func TestDirectoryLogConcurrentAppends(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "axis.db"), boltstore.Config{})
	d := s.DirectoryLog()
	const writers, target = 8, 40
	var mu sync.Mutex
	won := map[int64]int{}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for {
				last, err := d.Last(ctxT(t))
				if err != nil {
					t.Error(err)
					return
				}
				if last >= target {
					return
				}
				err = d.Append(ctxT(t), last+1, fmt.Appendf(nil, "writer %d version %d", w, last+1))
				if errors.Is(err, bus.ErrConflict) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				won[last+1]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	got, err := d.Since(ctxT(t), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != target {
		t.Fatalf("%d versions, want %d", len(got), target)
	}
	for i, c := range got {
		if c.Version != int64(i+1) || won[c.Version] != 1 {
			t.Fatalf("version %d at position %d was won %d times", c.Version, i, won[c.Version])
		}
		if !bytes.HasSuffix(c.Change, fmt.Appendf(nil, "version %d", c.Version)) {
			t.Fatalf("version %d holds %q", c.Version, c.Change)
		}
	}
}
