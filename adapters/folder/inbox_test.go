package folder_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"truc.vn/truc/adapters/folder"
	"truc.vn/truc/bus"
	"truc.vn/truc/edoc"
)

// statusFrom builds a status package from organH about a letter pkg sent.
func (w *world) statusFrom(pkg []byte, code edoc.StatusCode) []byte {
	w.t.Helper()
	doc, err := edoc.Parse(pkg, edoc.Limits{})
	if err != nil {
		w.t.Fatal(err)
	}
	st, err := edoc.NewStatus(doc, edoc.Organization{OrganID: organH, OrganName: "UBND thành phố Hà Nội"}, code, "Đã nhận", edoc.StaffInfo{Staff: "Văn thư"}, time.Now())
	if err != nil {
		w.t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := st.WriteTo(&buf); err != nil {
		w.t.Fatal(err)
	}
	return buf.Bytes()
}

// rejection delivers hanoi's rejection notice about a package organA sent.
func (w *world) rejection(pkg []byte) bus.InboxItem {
	w.t.Helper()
	sum := sha256.Sum256(pkg)
	doc, err := edoc.Parse(pkg, edoc.Limits{})
	if err != nil {
		w.t.Fatal(err)
	}
	key, err := bus.RootKey(doc.RootDocument())
	if err != nil {
		w.t.Fatal(err)
	}
	body, err := bus.Notice{Edge: "hanoi", SHA256: sum, MessageID: "vpcp.test.1", Reason: bus.RejectInvalid, Detail: "Subject: too long"}.Sign(w.notes)
	if err != nil {
		w.t.Fatal(err)
	}
	return w.handle(bus.Message{
		ID: "rej.hanoi." + hex.EncodeToString(sum[:12]), Type: bus.TypeRejection, Key: key, Sender: organA,
		Recipients: []string{organA}, SHA256: sha256.Sum256(body), Package: body,
		Attrs: map[string]string{bus.AttrEdge: "hanoi", bus.AttrFor: hex.EncodeToString(sum[:])},
	})
}

func cursor(t *testing.T, root string) uint64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, ".state", "cursor.json"))
	if err != nil {
		return 0
	}
	var c struct {
		InboxSeq uint64 `json:"inbox_seq"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c.InboxSeq
}

func item(t *testing.T, w *world, id string) (bus.InboxItem, []byte) {
	t.Helper()
	it, pkg, err := w.edge.Item(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return it, pkg
}

// statusCount counts the statuses with code the edge queued about item.
func statusCount(t *testing.T, w *world, itemID, code string) int {
	t.Helper()
	es, err := w.edge.Outbox(context.Background(), bus.OutboxQuery{Limit: 10000, Types: []bus.Type{bus.TypeStatus}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range es {
		if e.InboxID == itemID && e.Message.Attrs[bus.AttrStatus] == code {
			n++
		}
	}
	return n
}

func TestIncoming(t *testing.T) {
	w := newWorld(t)
	cfg := config(t)
	inbox := filepath.Join(cfg.Root, "inbox")
	toA := w.receiveLetter(organA)
	toBC := w.receiveLetter(organB, organC)
	toC := w.receiveLetter(organC)
	sentByA := w.letter(organA, organH)
	status := w.receive(w.statusFrom(sentByA, edoc.StatusAccepted), bus.TypeStatus, organA)
	rejection := w.rejection(sentByA)
	mine := []bus.InboxItem{toA, toBC, status, rejection}

	stop := startFolder(t, w, cfg)
	waitFor(t, "the cursor past every item", func() bool { return cursor(t, cfg.Root) == rejection.Seq })

	var want []string
	for _, it := range mine {
		want = append(want, folder.InboxName(it))
	}
	slices.Sort(want)
	if got := names(t, inbox); !slices.Equal(got, want) {
		t.Fatalf("inbox/ holds %q, want %q", got, want)
	}
	for _, it := range mine {
		_, pkg := item(t, w, it.ID)
		got, err := os.ReadFile(filepath.Join(inbox, folder.InboxName(it)))
		if err != nil || !bytes.Equal(got, pkg) {
			t.Errorf("inbox/%s differs from the item's bytes (%v)", folder.InboxName(it), err)
		}
	}
	for _, tc := range []struct {
		it    bus.InboxItem
		taken []string // recipients whose DMS took it
		not   []string
	}{
		{toA, []string{organA}, nil},
		{toBC, []string{organB}, []string{organC}},
		{toC, nil, []string{organC}},
	} {
		it, _ := item(t, w, tc.it.ID)
		for _, o := range tc.taken {
			if d := it.Deliveries[o]; d.TakenAt.IsZero() || d.Status01 == "" {
				t.Errorf("item %s: %s has not taken it or sent no 01: %+v", it.ID, o, d)
			}
		}
		for _, o := range tc.not {
			if d, ok := it.Deliveries[o]; ok {
				t.Errorf("item %s: %s is not the folder's, yet took it: %+v", it.ID, o, d)
			}
		}
	}
	if n := statusCount(t, w, toBC.ID, "01"); n != 1 {
		t.Errorf("%d statuses 01 for the letter to B and C, want 1 (from B)", n)
	}

	// A restart carries on from the cursor: nothing is written again.
	stop()
	for _, n := range want {
		os.Remove(filepath.Join(inbox, n))
	}
	startFolder(t, w, cfg)
	late := w.receiveLetter(organB)
	waitFor(t, "the late letter in inbox/", func() bool { return slices.Contains(names(t, inbox), folder.InboxName(late)) })
	if got := names(t, inbox); len(got) != 1 {
		t.Errorf("after a restart inbox/ holds %q; want only the late letter", got)
	}
}

// TestIncomingCrashBeforeCursor stages a crash after the files were
// written and taken but before the cursor moved: the same files are
// written again, and no second 01 goes out.
func TestIncomingCrashBeforeCursor(t *testing.T) {
	w := newWorld(t)
	cfg := config(t)
	inbox := filepath.Join(cfg.Root, "inbox")
	a, b := w.receiveLetter(organA), w.receiveLetter(organA, organB)
	stop := startFolder(t, w, cfg)
	waitFor(t, "the cursor past both", func() bool { return cursor(t, cfg.Root) == b.Seq })
	stop()
	first := map[string][]byte{}
	for _, n := range names(t, inbox) {
		first[n], _ = os.ReadFile(filepath.Join(inbox, n))
	}
	if err := os.WriteFile(filepath.Join(cfg.Root, ".state", "cursor.json"), []byte(`{"inbox_seq":0}`), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(inbox, folder.InboxName(a)))
	// A temporary file a crash left mid-write.
	writeFileNamed(".truc-0123456789ab.tmp", []byte("<?xml"))(t, inbox)
	startFolder(t, w, cfg)
	waitFor(t, "the cursor past both again", func() bool { return cursor(t, cfg.Root) == b.Seq })
	if got := names(t, inbox); len(got) != 2 {
		t.Fatalf("inbox/ holds %q; want the two letters", got)
	}
	for n, data := range first {
		got, _ := os.ReadFile(filepath.Join(inbox, n))
		if !bytes.Equal(got, data) {
			t.Errorf("inbox/%s was written again with other bytes", n)
		}
	}
	for _, c := range []struct {
		it   bus.InboxItem
		want int
	}{{a, 1}, {b, 2}} {
		if n := statusCount(t, w, c.it.ID, "01"); n != c.want {
			t.Errorf("item %s: %d statuses 01, want %d (one per recipient)", c.it.ID, n, c.want)
		}
	}
}

func TestNoTake(t *testing.T) {
	w := newWorld(t)
	cfg := config(t)
	cfg.NoTake = true
	it := w.receiveLetter(organA)
	startFolder(t, w, cfg)
	waitFor(t, "the letter in inbox/", func() bool { return cursor(t, cfg.Root) == it.Seq })
	if got, _ := item(t, w, it.ID); len(got.Deliveries) != 0 || statusCount(t, w, it.ID, "01") != 0 {
		t.Errorf("with NoTake the item was taken: %+v", got.Deliveries)
	}
}

func TestStatusRequests(t *testing.T) {
	w := newWorld(t)
	cfg := config(t)
	cfg.NoTake = true
	it := w.receiveLetter(organA, organB)
	startFolder(t, w, cfg)
	waitFor(t, "the letter in inbox/", func() bool { return cursor(t, cfg.Root) == it.Seq })
	sent := filepath.Join(cfg.Root, "sent")

	drop(t, cfg.Root, "tiep-nhan.status.json", []byte(`{"item":"`+it.ID+`","code":"01"}`))
	waitFor(t, "the 01 request in sent/", func() bool { return slices.Contains(names(t, sent), "tiep-nhan.status.json") })
	drop(t, cfg.Root, "xu-ly.status.json", []byte(`{"item":"`+it.ID+`","code":"03","description":"Đã tiếp nhận, đang xử lý","staff":"Nguyễn Văn A"}`))
	waitFor(t, "the 03 request in sent/", func() bool { return slices.Contains(names(t, sent), "xu-ly.status.json") })
	rec := sentRecord(t, cfg.Root, "xu-ly.status.json")
	if rec.Item != it.ID || rec.Code != "03" || rec.Type != "status" || rec.MessageID == "" {
		t.Errorf("record %+v", rec)
	}
	if n := statusCount(t, w, it.ID, "03"); n != 2 {
		t.Errorf("%d statuses 03, want 2 (from A and from B)", n)
	}
	// A second 01 is refused by the edge: failed/, with the reason.
	drop(t, cfg.Root, "lai.status.json", []byte(`{"item":"`+it.ID+`","code":"01"}`))
	waitFor(t, "the second 01 in failed/", func() bool {
		return slices.Contains(names(t, filepath.Join(cfg.Root, "failed")), "lai.status.json.error.txt")
	})
	if text := errorText(t, cfg.Root, "lai.status.json"); !bytes.Contains([]byte(text), []byte("reason: "+folder.ReasonConflict)) {
		t.Errorf("report:\n%s", text)
	}
}

// TestStatusRequestCrash stages a crash after PostStatus queued the status
// and before the folder recorded it: the restarted folder finds it in the
// outbox and does not post it again.
func TestStatusRequestCrash(t *testing.T) {
	w := newWorld(t)
	cfg := config(t)
	cfg.NoTake = true
	it := w.receiveLetter(organA)
	if _, err := folder.New(cfg, w.edge); err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"item":"` + it.ID + `","code":"05","description":"Đã xử lý xong"}`)
	sum := sha256.Sum256(body)
	intent, _ := json.Marshal(folder.StatusIntent{File: "xong.status.json", SHA256: hex.EncodeToString(sum[:]), Item: it.ID, Code: "05", Started: time.Now().UTC()})
	writeFileNamed(folder.IntentName("xong.status.json", sum), intent)(t, filepath.Join(cfg.Root, ".state", "status"))
	posted, err := w.edge.PostStatus(context.Background(), "folder", "", it.ID, cfg.OrganIDs, "05", "Đã xử lý xong", "")
	if err != nil {
		t.Fatal(err)
	}
	drop(t, cfg.Root, "xong.status.json", body)
	startFolder(t, w, cfg)
	waitFor(t, "the request in sent/", func() bool {
		return slices.Contains(names(t, filepath.Join(cfg.Root, "sent")), "xong.status.json")
	})
	if rec := sentRecord(t, cfg.Root, "xong.status.json"); rec.MessageID != posted.Message.ID {
		t.Errorf("record %+v; want the status posted before the crash, %s", rec, posted.Message.ID)
	}
	if n := statusCount(t, w, it.ID, "05"); n != 1 {
		t.Errorf("%d statuses 05, want 1", n)
	}
	if got := names(t, filepath.Join(cfg.Root, ".state", "status")); len(got) != 0 {
		t.Errorf("the journal still holds %q", got)
	}

	// An intent whose post never happened: posted now, once.
	body = []byte(`{"item":"` + it.ID + `","code":"06"}`)
	sum = sha256.Sum256(body)
	intent, _ = json.Marshal(folder.StatusIntent{File: "luu.status.json", SHA256: hex.EncodeToString(sum[:]), Item: it.ID, Code: "06", Started: time.Now().UTC()})
	writeFileNamed(folder.IntentName("luu.status.json", sum), intent)(t, filepath.Join(cfg.Root, ".state", "status"))
	drop(t, cfg.Root, "luu.status.json", body)
	waitFor(t, "the second request in sent/", func() bool {
		return slices.Contains(names(t, filepath.Join(cfg.Root, "sent")), "luu.status.json")
	})
	if n := statusCount(t, w, it.ID, "06"); n != 1 {
		t.Errorf("%d statuses 06, want 1", n)
	}
}

func TestRemovedFoldersAreMadeAgain(t *testing.T) {
	w := newWorld(t)
	cfg := config(t)
	startFolder(t, w, cfg)
	for _, d := range []string{"outbox", "inbox", "sent"} {
		if err := os.RemoveAll(filepath.Join(cfg.Root, d)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "outbox/ made again", func() bool { _, err := os.Stat(filepath.Join(cfg.Root, "outbox")); return err == nil })
	drop(t, cfg.Root, "again.edxml", w.letter(organA, organH))
	it := w.receiveLetter(organA)
	waitFor(t, "the letter sent and the incoming one written", func() bool {
		return slices.Contains(names(t, filepath.Join(cfg.Root, "sent")), "again.edxml") &&
			slices.Contains(names(t, filepath.Join(cfg.Root, "inbox")), folder.InboxName(it))
	})
}
