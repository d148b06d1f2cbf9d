package directory

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"truc.vn/truc/bus"
)

// FuzzParseFile: any input is either refused with an *Error or gives a
// directory that passes its own checks again unchanged. Seeds are in
// testdata/fuzz/FuzzParseFile (the example config among them).
func FuzzParseFile(f *testing.F) {
	f.Add([]byte("version: 1\nagencies: []\nedges: []\n"))
	f.Add([]byte("version: 1\nagencies: &a []\nedges: *a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := ParseFile(data, FileOptions{})
		if err != nil {
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("error %v is a %T, want *Error", err, err)
			}
			return
		}
		st, err := buildState(file.Snapshot, "snapshot", nil, bus.Topics{}, nil)
		if err != nil {
			t.Fatalf("a parsed file does not pass its own checks again: %v", err)
		}
		if !reflect.DeepEqual(st.snapshot(0), file.Snapshot) {
			t.Fatal("rebuilding a parsed file changes it")
		}
	})
}

// FuzzDecodeChange: a change that decodes either applies, and then is
// recorded in a form that decodes and replicates to the same directory,
// or is refused and changes nothing. Seeds are in
// testdata/fuzz/FuzzDecodeChange.
func FuzzDecodeChange(f *testing.F) {
	w := newWorld(f)
	seed := w.sampleFile(f).Snapshot
	seed.Version = 1
	f.Add([]byte(`{"op":"put-agency","agency":{"organ_id":"000.00.02.G22","name":"Vụ","parent":"000.00.00.G22","edge":"vpcp","active":true}}`))
	f.Add([]byte(`{"op":"remove-binding","organ_id":"000.00.00.H53"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeChange(data)
		if err != nil {
			return
		}
		ctx := context.Background()
		d, _ := New(Config{})
		if err := d.Reset(ctx, seed); err != nil {
			t.Fatal(err)
		}
		before := d.Snapshot()
		if _, err := d.Apply(ctx, c); err != nil {
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("error %v is a %T, want *Error", err, err)
			}
			if !reflect.DeepEqual(d.Snapshot(), before) || d.Version() != 1 {
				t.Fatal("a refused change changed the directory")
			}
			return
		}
		vcs, ok := d.Since(1, 0)
		if !ok || len(vcs) != 1 || len(vcs[0].Changes) != 1 {
			t.Fatalf("Since(1) = %+v, %v", vcs, ok)
		}
		recorded, err := json.Marshal(vcs[0].Changes[0])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeChange(recorded); err != nil {
			t.Fatalf("the recorded change %s does not decode: %v", recorded, err)
		}
		replica, _ := New(Config{})
		if err := replica.Reset(ctx, before); err != nil {
			t.Fatal(err)
		}
		if err := replica.Replicate(ctx, vcs[0]); err != nil {
			t.Fatalf("the recorded change does not replicate: %v", err)
		}
		if !reflect.DeepEqual(replica.Snapshot(), d.Snapshot()) {
			t.Fatal("the replica differs")
		}
	})
}
