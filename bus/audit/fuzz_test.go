package audit_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"truc.vn/truc/bus/audit"
	"truc.vn/truc/signing/notesig"
)

// FuzzDecode feeds hostile bundle files to Decode and Verify. The
// committed corpus (testdata/fuzz/FuzzDecode) holds a real bundle of a
// letter with statuses and a rejection notice, and broken variants.
// Properties: no panic; a refused bundle gives a *FormatError; an accepted
// one encodes and decodes to the same content; Verify with the bundle's
// own log key (to reach the deep checks) returns a report and no error.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("PK\x05\x06" + string(make([]byte, 18))))
	lim := audit.Limits{MaxBundleBytes: 1 << 20, MaxFileBytes: 1 << 20, MaxTotalBytes: 4 << 20, MaxFiles: 64}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := audit.Decode(bytes.NewReader(data), int64(len(data)), lim)
		if err != nil {
			var fe *audit.FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T) is not a *FormatError", err, err)
			}
			return
		}
		var buf bytes.Buffer
		if err := b.Encode(&buf); err != nil {
			return // Decode accepts a few shapes Encode refuses to write (invalid UTF-8 notes)
		}
		again, err := audit.Decode(bytes.NewReader(buf.Bytes()), int64(buf.Len()), lim)
		if err != nil {
			t.Fatalf("a re-encoded bundle does not decode: %v", err)
		}
		again.CreatedAt, b.CreatedAt = time.Time{}, time.Time{}
		if !reflect.DeepEqual(normal(again), normal(b)) {
			t.Fatal("encoding and decoding changed the bundle")
		}
		var keys []note.Verifier
		for _, k := range b.Log.Keys {
			if v, err := notesig.ParseVerifierKey(k); err == nil {
				keys = append(keys, v)
			}
		}
		if len(keys) == 0 {
			return
		}
		if _, err := notesig.VerifierList(keys...); err != nil {
			return
		}
		rep, err := audit.VerifyBundle(b, audit.Options{AxisKeys: keys, Now: func() time.Time { return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) }})
		if err != nil || rep == nil {
			t.Fatalf("verify: %v", err)
		}
	})
}

// normal makes empty and nil slices alike, for comparison.
func normal(b *audit.Bundle) *audit.Bundle {
	c := *b
	if len(c.Log.Keys) == 0 {
		c.Log.Keys = nil
	}
	if len(c.Log.Earlier) == 0 {
		c.Log.Earlier = nil
	}
	for _, s := range []*[][]byte{&c.Certificates, &c.CRLs} {
		if len(*s) == 0 {
			*s = nil
		}
	}
	if len(c.Leaves) == 0 {
		c.Leaves = nil
	}
	if len(c.Packages) == 0 {
		c.Packages = nil
	}
	if len(c.Notices) == 0 {
		c.Notices = nil
	}
	if len(c.Edges) == 0 {
		c.Edges = nil
	}
	return &c
}

// FuzzParseIndexText: no panic; an accepted text is exactly the text of
// the index it parses to.
func FuzzParseIndexText(f *testing.F) {
	f.Add([]byte("truc-audit-index v1\norigin truc.vn/axis/000.00.00.A00\nkey 000.00.00.G22/abc\nsize 12\nleaf 3 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\nleaf 7 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"))
	f.Add([]byte("truc-audit-index v1\norigin o\nkey a/b\nsize 0\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		x, err := audit.ParseIndexText(text)
		if err != nil {
			return
		}
		again, err := x.Text()
		if err != nil || !bytes.Equal(again, text) {
			t.Fatalf("an accepted index is not its own text: %v", err)
		}
	})
}

// FuzzParseRequestText: no panic; an accepted text is exactly the text of
// the request it parses to.
func FuzzParseRequestText(f *testing.F) {
	f.Add([]byte("truc-audit-request v1\nedge hanoi\nkey 000.00.00.G22/abc\ndocument 47dec4298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855a\ntime 2026-03-02T08:00:00Z\n"))
	f.Add([]byte("truc-audit-request v1\nedge e\nkey a/b\ndocument 00\ntime x\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		r, err := audit.ParseRequestText(text)
		if err != nil {
			return
		}
		again, err := r.Text()
		if err != nil || !bytes.Equal(again, text) {
			t.Fatalf("an accepted request is not its own text: %v", err)
		}
	})
}
