package folder_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"truc.vn/truc/adapters/folder"
	"truc.vn/truc/bus"
)

// sentRecord reads sent/<name>.json.
func sentRecord(t *testing.T, root, name string) folder.SentRecord {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "sent", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var r folder.SentRecord
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("sent/%s.json: %v", name, err)
	}
	return r
}

// outboxDocuments lists the edge's outbox entries of type document.
func outboxDocuments(t *testing.T, w *world) []bus.OutboxEntry {
	t.Helper()
	es, err := w.edge.Outbox(context.Background(), bus.OutboxQuery{Limit: 10000, Types: []bus.Type{bus.TypeDocument}})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func TestSendsADocument(t *testing.T) {
	w := newWorld(t)
	cfg := config(t)
	startFolder(t, w, cfg)
	pkg := w.letter(organA, organH)
	drop(t, cfg.Root, "cong-van-1.edxml", pkg)
	waitFor(t, "the file in sent/", func() bool { return slices.Contains(names(t, filepath.Join(cfg.Root, "sent")), "cong-van-1.edxml") })

	rec := sentRecord(t, cfg.Root, "cong-van-1.edxml")
	sum := sha256.Sum256(pkg)
	if rec.File != "cong-van-1.edxml" || rec.SHA256 != hex.EncodeToString(sum[:]) || rec.Type != "document" || rec.Replayed {
		t.Errorf("record %+v", rec)
	}
	if !slices.Equal(rec.Recipients, []string{organH}) || rec.QueuedAt.IsZero() {
		t.Errorf("record %+v: want recipient %s and a time", rec, organH)
	}
	doc, err := w.edge.Document(context.Background(), rec.MessageID)
	if err != nil {
		t.Fatalf("the edge has no message %s: %v", rec.MessageID, err)
	}
	if doc.Message.Sender != organA || hex.EncodeToString(doc.Message.SHA256[:]) != rec.PackageSHA256 || doc.Client != folder.DefaultClient {
		t.Errorf("outbox entry %s from %s by %q, package %x; record %+v", doc.Message.ID, doc.Message.Sender, doc.Client, doc.Message.SHA256, rec)
	}
	got, err := os.ReadFile(filepath.Join(cfg.Root, "sent", "cong-van-1.edxml"))
	if err != nil || !bytes.Equal(got, pkg) {
		t.Errorf("sent/ holds other bytes than were dropped (%v)", err)
	}
	if n := names(t, filepath.Join(cfg.Root, "outbox")); len(n) != 0 {
		t.Errorf("outbox/ still holds %q", n)
	}
	if n := names(t, filepath.Join(cfg.Root, "failed")); len(n) != 0 {
		t.Errorf("failed/ holds %q", n)
	}
}

// errorText reads failed/<name>.error.txt.
func errorText(t *testing.T, root, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "failed", name+".error.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFailedFilesSayWhy(t *testing.T) {
	w := newWorld(t)
	item := w.receiveLetter(organA)
	big := bytes.Repeat([]byte("x"), 5000)
	tests := []struct {
		name   string
		file   string
		make   func(t *testing.T, path string)
		reason string
		field  string
		detail string
	}{
		{"not XML", "rac.edxml", writeFile([]byte("đây không phải XML")), bus.RejectMalformed, "body", ""},
		{"empty", "rong.edxml", writeFile(nil), bus.RejectMalformed, "body", ""},
		{"truncated", "cut.edxml", func(t *testing.T, path string) {
			pkg := w.letter(organA, organH)
			writeFile(pkg[:len(pkg)/2])(t, path)
		}, bus.RejectMalformed, "body", ""},
		{"unknown recipient", "to-nobody.edxml", func(t *testing.T, path string) {
			writeFile(w.letter(organA, "000.00.99.H99"))(t, path)
		}, bus.RejectUnknownRecipient, "To[0]/OrganId", "000.00.99.H99"},
		{"sender the folder does not act for", "from-c.edxml", func(t *testing.T, path string) {
			writeFile(w.letter(organC, organH))(t, path)
		}, bus.RejectUnknownSender, "From/OrganId", organC},
		{"too large", "lon.edxml", writeFile(big), folder.ReasonTooLarge, "file", "5000 bytes, the limit is 4096"},
		{"a directory", "thu-muc", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o755); err != nil {
				t.Fatal(err)
			}
			writeFileNamed("inside.edxml", []byte("x"))(t, path)
		}, folder.ReasonNotAFile, "file", "a directory"},
		{"a symbolic link", "link.edxml", func(t *testing.T, path string) {
			if err := os.Symlink("/etc/passwd", path); err != nil {
				t.Fatal(err)
			}
		}, folder.ReasonNotAFile, "file", "symbolic link"},
		{"a FIFO", "fifo.edxml", func(t *testing.T, path string) {
			if err := syscall.Mkfifo(path, 0o644); err != nil {
				t.Skip(err)
			}
		}, folder.ReasonNotAFile, "file", "not a regular file"},
		{"status request not JSON", "x.status.json", writeFile([]byte("code=03")), bus.RejectMalformed, "file", "not a JSON object"},
		{"status request with an unknown member", "y.status.json", writeFile([]byte(`{"item":"` + item.ID + `","code":"03","extra":1}`)), bus.RejectMalformed, `"extra"`, "unknown member"},
		{"status request for no item", "z.status.json", writeFile([]byte(`{"item":"in-00000000000000000000000000000000","code":"03"}`)), folder.ReasonNoItem, "item", ""},
		{"status code a recipient may not send", "recall.status.json", writeFile([]byte(`{"item":"` + item.ID + `","code":"13"}`)), bus.RejectStatusDirection, "code", "13"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := config(t)
			cfg.MaxFileBytes = 4096
			startFolder(t, w, cfg)
			tt.make(t, filepath.Join(cfg.Root, "outbox", tt.file))
			waitFor(t, "the file and its report in failed/", func() bool {
				got := names(t, filepath.Join(cfg.Root, "failed"))
				return slices.Contains(got, tt.file+".error.txt") && slices.Contains(got, tt.file)
			})
			text := errorText(t, cfg.Root, tt.file)
			for _, want := range []string{"reason: " + tt.reason + "\n", "field: " + tt.field + "\n", tt.detail, "file: \"" + tt.file + "\"\n"} {
				if !strings.Contains(text, want) {
					t.Errorf("the report lacks %q:\n%s", want, text)
				}
			}
			if n := names(t, filepath.Join(cfg.Root, "sent")); len(n) != 0 {
				t.Errorf("sent/ holds %q", n)
			}
			if n := names(t, filepath.Join(cfg.Root, "outbox")); len(n) != 0 {
				t.Errorf("outbox/ still holds %q", n)
			}
		})
	}
}

// writeFile writes data to path in place.
func writeFile(data []byte) func(t *testing.T, path string) {
	return func(t *testing.T, path string) {
		t.Helper()
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func writeFileNamed(name string, data []byte) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestHostileNames(t *testing.T) {
	w := newWorld(t)
	long := strings.Repeat("Công văn hỏa tốc ", 10) + "số 1 khẩn cấp.edxml"
	if len(long) < 240 || len(long) > 255 {
		t.Fatalf("the long name is %d bytes", len(long))
	}
	tests := []struct {
		name string
		file string
		// want is the name in sent/, "" for file itself.
		want string
	}{
		{"not UTF-8", "c\xf4ng-v\xe3n.edxml", ""},
		{"a newline and a tab", "a\nb\tc.edxml", ""},
		{"backslashes and dots", `x..\..\etc\passwd`, ""},
		{"255-byte name", long, folder.FitName(long)},
		{"no extension", "congvan", ""},
		{"spaces and Vietnamese", "Công văn số 12 (bản chính).xml", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := config(t)
			startFolder(t, w, cfg)
			drop(t, cfg.Root, tt.file, w.letter(organA, organH))
			want := tt.want
			if want == "" {
				want = tt.file
			}
			waitFor(t, "the file in sent/", func() bool { return slices.Contains(names(t, filepath.Join(cfg.Root, "sent")), want) })
			rec := sentRecord(t, cfg.Root, want)
			if rec.MessageID == "" {
				t.Errorf("record %+v has no message ID", rec)
			}
			if len(want)+len(".error.txt") > 255 {
				t.Errorf("the name in sent/ is %d bytes: its sidecar would not fit", len(want))
			}
		})
	}
	t.Run("hidden and temporary names are left alone", func(t *testing.T) {
		t.Parallel()
		cfg := config(t)
		startFolder(t, w, cfg)
		outbox := filepath.Join(cfg.Root, "outbox")
		for _, n := range []string{".hidden.edxml", "..dots.edxml", "writing.edxml.tmp", "copying.edxml.part"} {
			writeFileNamed(n, w.letter(organA, organH))(t, outbox)
		}
		drop(t, cfg.Root, "marker.edxml", w.letter(organA, organH))
		waitFor(t, "the marker in sent/", func() bool { return slices.Contains(names(t, filepath.Join(cfg.Root, "sent")), "marker.edxml") })
		time.Sleep(3 * cfg.Settle)
		if got := names(t, outbox); len(got) != 4 {
			t.Errorf("outbox/ holds %q; want the 4 hidden and temporary files untouched", got)
		}
	})
}

func TestNameCollisionsAndReplays(t *testing.T) {
	w := newWorld(t)
	cfg := config(t)
	startFolder(t, w, cfg)
	sent := filepath.Join(cfg.Root, "sent")
	first := w.letter(organA, organH)
	drop(t, cfg.Root, "cv.edxml", first)
	waitFor(t, "cv.edxml in sent/", func() bool { return slices.Contains(names(t, sent), "cv.edxml") })
	second := w.letter(organA, organH)
	drop(t, cfg.Root, "cv.edxml", second)
	waitFor(t, "cv~2.edxml in sent/", func() bool { return slices.Contains(names(t, sent), "cv~2.edxml") })
	// The same name and bytes again: the edge answers with the first entry.
	drop(t, cfg.Root, "cv.edxml", first)
	waitFor(t, "cv~3.edxml in sent/", func() bool { return slices.Contains(names(t, sent), "cv~3.edxml") })

	r1, r2, r3 := sentRecord(t, cfg.Root, "cv.edxml"), sentRecord(t, cfg.Root, "cv~2.edxml"), sentRecord(t, cfg.Root, "cv~3.edxml")
	if r1.MessageID == r2.MessageID || r1.Replayed || r2.Replayed {
		t.Errorf("two different letters: %+v, %+v", r1, r2)
	}
	if r3.MessageID != r1.MessageID || !r3.Replayed {
		t.Errorf("the same file again: %+v; want message %s, replayed", r3, r1.MessageID)
	}
	if n := len(outboxDocuments(t, w)); n != 2 {
		t.Errorf("the edge queued %d documents, want 2", n)
	}
}

// TestCrashRecovery stages the states a crash leaves and checks that a
// restarted folder sends nothing twice.
func TestCrashRecovery(t *testing.T) {
	w := newWorld(t)
	t.Run("after Submit, before the move", func(t *testing.T) {
		cfg := config(t)
		if _, err := folder.New(cfg, w.edge); err != nil {
			t.Fatal(err)
		}
		pkg := w.letter(organA, organH)
		first, _, err := w.edge.Submit(context.Background(), folder.DefaultClient, cfg.OrganIDs, pkg, folder.IdempotencyKey("a.edxml", sha256.Sum256(pkg)))
		if err != nil {
			t.Fatal(err)
		}
		drop(t, cfg.Root, "a.edxml", pkg)
		startFolder(t, w, cfg)
		waitFor(t, "a.edxml in sent/", func() bool { return slices.Contains(names(t, filepath.Join(cfg.Root, "sent")), "a.edxml") })
		if r := sentRecord(t, cfg.Root, "a.edxml"); r.MessageID != first.Message.ID || !r.Replayed {
			t.Errorf("record %+v; want the first submission %s", r, first.Message.ID)
		}
	})
	t.Run("after the record, before the move", func(t *testing.T) {
		cfg := config(t)
		if _, err := folder.New(cfg, w.edge); err != nil {
			t.Fatal(err)
		}
		pkg := w.letter(organA, organH)
		sum := sha256.Sum256(pkg)
		first, _, err := w.edge.Submit(context.Background(), folder.DefaultClient, cfg.OrganIDs, pkg, folder.IdempotencyKey("b.edxml", sum))
		if err != nil {
			t.Fatal(err)
		}
		rec, _ := json.Marshal(folder.SentRecord{File: "b.edxml", SHA256: hex.EncodeToString(sum[:]), MessageID: first.Message.ID, Type: "document"})
		writeFileNamed("b.edxml.json", rec)(t, filepath.Join(cfg.Root, "sent"))
		drop(t, cfg.Root, "b.edxml", pkg)
		startFolder(t, w, cfg)
		waitFor(t, "b.edxml in sent/", func() bool { return slices.Contains(names(t, filepath.Join(cfg.Root, "sent")), "b.edxml") })
		if got := names(t, filepath.Join(cfg.Root, "sent")); !slices.Equal(got, []string{"b.edxml", "b.edxml.json"}) {
			t.Errorf("sent/ holds %q; want the file beside the record written before the crash", got)
		}
	})
	t.Run("a record of another file keeps its name", func(t *testing.T) {
		cfg := config(t)
		if _, err := folder.New(cfg, w.edge); err != nil {
			t.Fatal(err)
		}
		rec, _ := json.Marshal(folder.SentRecord{File: "c.edxml", SHA256: strings.Repeat("0", 64), MessageID: "x", Type: "document"})
		writeFileNamed("c.edxml.json", rec)(t, filepath.Join(cfg.Root, "sent"))
		drop(t, cfg.Root, "c.edxml", w.letter(organA, organH))
		startFolder(t, w, cfg)
		waitFor(t, "c~2.edxml in sent/", func() bool { return slices.Contains(names(t, filepath.Join(cfg.Root, "sent")), "c~2.edxml") })
	})
}

// flaky is the real edge with Submit failing the first n calls.
type flaky struct {
	*bus.Edge
	n     atomic.Int64
	err   error
	calls atomic.Int64
}

func (f *flaky) Submit(ctx context.Context, client string, organs []string, pkg []byte, key string) (bus.OutboxEntry, bool, error) {
	f.calls.Add(1)
	if f.n.Add(-1) >= 0 {
		return bus.OutboxEntry{}, false, f.err
	}
	return f.Edge.Submit(ctx, client, organs, pkg, key)
}

func TestPassingFailuresAreRetried(t *testing.T) {
	w := newWorld(t)
	tests := []struct {
		name string
		err  error
	}{
		{"verification cannot run", bus.Reject(bus.RejectVerificationError, "", "no CRL source")},
		{"CRL unavailable", bus.Reject(bus.RejectCRLUnavailable, "", "stale")},
		{"store error", errors.New("boltstore: timeout")},
		{"deadline", context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := &flaky{Edge: w.edge, err: tt.err}
			e.n.Store(3)
			cfg := config(t)
			f, err := folder.New(cfg, e)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- f.Run(ctx) }()
			defer func() { cancel(); <-done }()
			drop(t, cfg.Root, "retry.edxml", w.letter(organA, organH))
			waitFor(t, "retry.edxml in sent/", func() bool { return slices.Contains(names(t, filepath.Join(cfg.Root, "sent")), "retry.edxml") })
			if c := e.calls.Load(); c != 4 {
				t.Errorf("Submit called %d times, want 4 (3 failures, then the real one)", c)
			}
			if n := names(t, filepath.Join(cfg.Root, "failed")); len(n) != 0 {
				t.Errorf("failed/ holds %q", n)
			}
		})
	}
}

func TestCompletion(t *testing.T) {
	w := newWorld(t)
	t.Run("a slow writer in place is taken once done", func(t *testing.T) {
		t.Parallel()
		cfg := config(t)
		cfg.Settle = time.Second
		startFolder(t, w, cfg)
		pkg := w.letter(organA, organH)
		f, err := os.Create(filepath.Join(cfg.Root, "outbox", "slow.edxml"))
		if err != nil {
			t.Fatal(err)
		}
		// Chunks every 100 ms for about 2 s: each is well within settle.
		chunk := len(pkg)/20 + 1
		for off := 0; off < len(pkg); off += chunk {
			if _, err := f.Write(pkg[off:min(off+chunk, len(pkg))]); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
			if n := names(t, filepath.Join(cfg.Root, "failed")); len(n) != 0 {
				t.Fatalf("a part was taken: failed/ holds %q:\n%s", n, errorText(t, cfg.Root, "slow.edxml"))
			}
			if slices.Contains(names(t, filepath.Join(cfg.Root, "sent")), "slow.edxml") {
				t.Fatal("a part was sent")
			}
		}
		f.Close()
		waitFor(t, "slow.edxml in sent/", func() bool { return slices.Contains(names(t, filepath.Join(cfg.Root, "sent")), "slow.edxml") })
		got, _ := os.ReadFile(filepath.Join(cfg.Root, "sent", "slow.edxml"))
		if !bytes.Equal(got, pkg) {
			t.Error("sent/slow.edxml differs from what was written")
		}
	})
	t.Run("a new file waits for settle", func(t *testing.T) {
		t.Parallel()
		cfg := config(t)
		cfg.Settle = 1500 * time.Millisecond
		startFolder(t, w, cfg)
		start := time.Now()
		writeFileNamed("fresh.edxml", w.letter(organA, organH))(t, filepath.Join(cfg.Root, "outbox"))
		waitFor(t, "fresh.edxml in sent/", func() bool { return slices.Contains(names(t, filepath.Join(cfg.Root, "sent")), "fresh.edxml") })
		if d := time.Since(start); d < cfg.Settle {
			t.Errorf("taken after %v, before the settle time %v", d, cfg.Settle)
		}
	})
	t.Run("an old file renamed in is taken at once", func(t *testing.T) {
		t.Parallel()
		cfg := config(t)
		cfg.Settle = time.Minute
		startFolder(t, w, cfg)
		tmp := filepath.Join(cfg.Root, "outbox", "old.edxml.part")
		writeFileNamed("old.edxml.part", w.letter(organA, organH))(t, filepath.Join(cfg.Root, "outbox"))
		old := time.Now().Add(-2 * time.Minute)
		if err := os.Chtimes(tmp, old, old); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(cfg.Root, "outbox", "old.edxml")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "old.edxml in sent/", func() bool { return slices.Contains(names(t, filepath.Join(cfg.Root, "sent")), "old.edxml") })
	})
	t.Run("no settle time", func(t *testing.T) {
		t.Parallel()
		cfg := config(t)
		cfg.Settle = folder.NoSettle
		startFolder(t, w, cfg)
		start := time.Now()
		drop(t, cfg.Root, "now.edxml", w.letter(organA, organH))
		waitFor(t, "now.edxml in sent/", func() bool { return slices.Contains(names(t, filepath.Join(cfg.Root, "sent")), "now.edxml") })
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %v with no settle time", d)
		}
	})
}

func TestOneProcessPerFolder(t *testing.T) {
	w := newWorld(t)
	cfg := config(t)
	startFolder(t, w, cfg)
	time.Sleep(50 * time.Millisecond) // let Run take the lock
	f, err := folder.New(cfg, w.edge)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.Run(ctx); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("a second Run on the folder: %v; want an error saying it is in use", err)
	}
}
