package main

// The drop-folder check of issue #5 with real processes: 1,000 files
// dropped into the sender edge's outbox/ while that edge is restarted twice
// (once with SIGKILL), some still being written when it goes down (slow
// writers under temporary names, slow writers in place relying on the
// settle time), some invalid. Every letter is sent once, every invalid
// file explained, every letter lands once in the recipient edge's inbox/,
// and the recipients' statuses come back as files.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"truc.vn/truc/adapters/boltstore"
	"truc.vn/truc/adapters/folder"
	"truc.vn/truc/bus"
	"truc.vn/truc/edoc"
)

// The shape of the run.
const (
	dropFiles     = 1000
	dropInvalid   = 10 // of each invalid kind
	dropSlow      = 40 // slow writers under a temporary name
	dropInPlace   = 40 // slow writers in place
	dropRate      = 70 // files started per second
	dropSettle    = 2 * time.Second
	dropChunkWait = 200 * time.Millisecond // between the chunks of a slow writer: far below the settle time
	dropChunks    = 10
	dropAnswered  = 10 // incoming letters the recipients' DMS answers with a status file (03)
)

// dropFile is one file of the run.
type dropFile struct {
	name   string
	data   []byte // nil for a directory
	how    string // "rename", "slow-rename", "in-place" or "directory"
	number string // a letter's number, "" for an invalid file
	docID  string
	to     []string
	reason string // the reason failed/ must give; "" for a letter
}

func TestFolderDrop(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: starts 4 processes")
	}
	begin := time.Now()
	seed := crashSeed(t)
	t.Logf("seed %d (replay with %s=%d)", seed, crashSeedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x5bd1e995))

	// Each edge gets a drop folder for its agencies before it starts.
	var sOrgans, rOrgans []string
	var sRoot, rRoot string
	w := startProcWorldWith(t, 2, 4, func(dir string, m *devManifest) {
		S, R := m.Edges[0], m.Edges[1]
		for organ, edge := range m.Agencies {
			switch edge {
			case S.ID:
				sOrgans = append(sOrgans, organ)
			case R.ID:
				rOrgans = append(rOrgans, organ)
			}
		}
		slices.Sort(sOrgans)
		slices.Sort(rOrgans)
		sRoot, rRoot = filepath.Join(dir, "folder-"+S.ID), filepath.Join(dir, "folder-"+R.ID)
		addFolderSection(t, filepath.Join(dir, S.Config), sRoot, sOrgans)
		addFolderSection(t, filepath.Join(dir, R.Config), rRoot, rOrgans)
	})
	keepLogsOnFailure(t, w)
	S, R := w.m.Edges[0], w.m.Edges[1]
	t.Logf("world up with drop folders in %s", time.Since(begin).Round(time.Millisecond))

	files := dropPlan(t, rng, sOrgans, rOrgans)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The stream: files started at dropRate, the slow ones each in their
	// own goroutine; the sender edge restarted at a third and at two
	// thirds of it.
	var writers sync.WaitGroup
	var started, slowWriting atomic.Int64
	restarts := make(chan struct{})
	go func() {
		defer close(restarts)
		for k, kill := range []bool{false, true} {
			for started.Load() < int64(dropFiles*(k+1)/3) {
				if ctx.Err() != nil {
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			at, writing := time.Now(), slowWriting.Load()
			if writing == 0 {
				t.Errorf("no slow writer was writing when edge %s went down", S.ID)
			}
			if kill {
				w.edges[S.ID].kill9()
			} else {
				w.edges[S.ID].stop()
			}
			time.Sleep(500 * time.Millisecond) // files keep arriving while it is down
			w.restart(w.edges[S.ID])
			t.Logf("edge %s %s at file %d with %d slow writers writing, serving again after %s", S.ID, map[bool]string{false: "stopped", true: "killed -9"}[kill], started.Load(), writing, time.Since(at).Round(time.Millisecond))
		}
	}()
	streamStart := time.Now()
	outbox := filepath.Join(sRoot, "outbox")
	for i, f := range files {
		time.Sleep(time.Until(streamStart.Add(time.Duration(i) * time.Second / dropRate)))
		writers.Go(func() {
			if f.how == "slow-rename" || f.how == "in-place" {
				slowWriting.Add(1)
				defer slowWriting.Add(-1)
			}
			writeDropFile(t, outbox, f)
		})
		started.Add(1)
	}
	writers.Wait()
	<-restarts
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d files written in %s", len(files), time.Since(streamStart).Round(time.Millisecond))

	// Every file leaves outbox/ for sent/ or failed/.
	var letters, invalid []dropFile
	for _, f := range files {
		if f.reason == "" {
			letters = append(letters, f)
		} else {
			invalid = append(invalid, f)
		}
	}
	eventually(t, 90*time.Second, "outbox/ emptied into sent/ and failed/", func() (bool, string) {
		left := dirNames(t, outbox)
		sent, failed := len(dirNames(t, filepath.Join(sRoot, "sent"))), len(dirNames(t, filepath.Join(sRoot, "failed")))
		return len(left) == 0 && sent == 2*len(letters) && failed == 2*len(invalid),
			fmt.Sprintf("%d in outbox/, %d entries in sent/, %d in failed/", len(left), sent, failed)
	})
	t.Logf("outbox/ emptied %s after the stream began", time.Since(streamStart).Round(time.Millisecond))

	// sent/: each letter once, under its own name, beside its record.
	msgIDs := map[string]string{} // message ID → file name
	replayed := 0
	for _, f := range letters {
		b, err := os.ReadFile(filepath.Join(sRoot, "sent", f.name+".json"))
		if err != nil {
			t.Errorf("%s: no record in sent/: %v", f.name, err)
			continue
		}
		var rec folder.SentRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			t.Fatalf("sent/%s.json: %v", f.name, err)
		}
		sum := sha256.Sum256(f.data)
		if rec.SHA256 != hex.EncodeToString(sum[:]) || rec.MessageID == "" || rec.Type != "document" {
			t.Errorf("sent/%s.json: %+v", f.name, rec)
		}
		if other, dup := msgIDs[rec.MessageID]; dup {
			t.Errorf("%s and %s were sent as the same message %s", f.name, other, rec.MessageID)
		}
		msgIDs[rec.MessageID] = f.name
		if rec.Replayed {
			replayed++
		}
	}
	// failed/: each invalid file, with its reason.
	for _, f := range invalid {
		b, err := os.ReadFile(filepath.Join(sRoot, "failed", f.name+".error.txt"))
		if err != nil {
			t.Errorf("%s: no report in failed/: %v", f.name, err)
			continue
		}
		if !strings.Contains(string(b), "\nreason: "+f.reason+"\n") {
			t.Errorf("failed/%s.error.txt does not give reason %s:\n%s", f.name, f.reason, b)
		}
		if _, err := os.Lstat(filepath.Join(sRoot, "failed", f.name)); err != nil {
			t.Errorf("%s is not in failed/: %v", f.name, err)
		}
	}
	t.Logf("sent/: %d letters (%d found already queued after a restart: replayed); failed/: %d files, each with its reason", len(letters), replayed, len(invalid))

	// The recipient edge's inbox/: each letter once.
	rInbox := filepath.Join(rRoot, "inbox")
	eventually(t, 90*time.Second, "every letter in the recipient's inbox/", func() (bool, string) {
		n := 0
		for _, name := range dirNames(t, rInbox) {
			if strings.HasSuffix(name, ".edxml") && !strings.Contains(name, ".status-") {
				n++
			}
		}
		return n == len(letters), fmt.Sprintf("%d of %d letters", n, len(letters))
	})
	byDoc := map[string][]string{} // DocumentId → inbox files
	var incoming []string
	for _, name := range dirNames(t, rInbox) {
		b, err := os.ReadFile(filepath.Join(rInbox, name))
		if err != nil {
			t.Fatal(err)
		}
		p, err := edoc.Parse(b, edoc.Limits{})
		if err != nil {
			t.Fatalf("inbox/%s: %v", name, err)
		}
		_, docID := p.RootDocument()
		byDoc[docID] = append(byDoc[docID], name)
		incoming = append(incoming, name)
	}
	for _, f := range letters {
		if got := byDoc[f.docID]; len(got) != 1 {
			t.Errorf("letter %s is in the recipient's inbox/ %d times: %q", f.number, len(got), got)
		}
	}
	t.Logf("the recipient's inbox/ holds every letter once, %s after the stream began", time.Since(streamStart).Round(time.Millisecond))

	// The recipient's DMS answers a few letters with status files; the
	// statuses (and every 01 its edge sent on taking the letters) come back
	// to the sender's inbox/.
	slices.Sort(incoming)
	want03 := 0
	for _, name := range incoming[:dropAnswered] {
		id := strings.TrimSuffix(name[strings.Index(name, "_")+1:], ".edxml")
		req := fmt.Sprintf(`{"item":%q,"code":"03","description":"Đã tiếp nhận, đang xử lý","staff":"Văn thư"}`, id)
		writeDropFile(t, filepath.Join(rRoot, "outbox"), dropFile{name: id + ".status.json", data: []byte(req), how: "rename"})
		for _, f := range letters {
			if byDoc[f.docID][0] == name {
				want03 += len(f.to)
			}
		}
	}
	want01 := 0
	for _, f := range letters {
		want01 += len(f.to)
	}
	sInbox := filepath.Join(sRoot, "inbox")
	eventually(t, 90*time.Second, "the recipients' statuses in the sender's inbox/", func() (bool, string) {
		n01, n03 := 0, 0
		for _, name := range dirNames(t, sInbox) {
			switch {
			case strings.HasSuffix(name, ".status-01.edxml"):
				n01++
			case strings.HasSuffix(name, ".status-03.edxml"):
				n03++
			}
		}
		return n01 == want01 && n03 == want03, fmt.Sprintf("%d of %d statuses 01, %d of %d statuses 03", n01, want01, n03, want03)
	})
	if got := dirNames(t, filepath.Join(rRoot, "failed")); len(got) != 0 {
		t.Errorf("the recipient's failed/ holds %q", got)
	}

	// The stores agree: the sender's outbox holds each letter once, the
	// recipient's inbox each letter once.
	cancel()
	ctxS := context.Background()
	w.edges[S.ID].stop()
	st, err := boltstore.Open(filepath.Join(w.dir, "data", "edge-"+S.ID, "edge.db"), boltstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	docs, err := st.Edge().Outbox(ctxS, bus.OutboxQuery{Limit: 10 * dropFiles, Types: []bus.Type{bus.TypeDocument}})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != len(letters) {
		t.Errorf("the sender's outbox holds %d documents, want %d", len(docs), len(letters))
	}
	for _, d := range docs {
		if _, ok := msgIDs[d.Message.ID]; !ok {
			t.Errorf("the sender's outbox holds %s, which no record in sent/ names", d.Message.ID)
		}
	}
	w.edges[R.ID].stop()
	rs, err := boltstore.Open(filepath.Join(w.dir, "data", "edge-"+R.ID, "edge.db"), boltstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	items, err := rs.Edge().Inbox(ctxS, 0, 10*dropFiles)
	rs.Close()
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]int{}
	for _, it := range items {
		if it.Type == bus.TypeDocument {
			keys[it.Key]++
		}
	}
	if len(keys) != len(letters) {
		t.Errorf("the recipient's inbox holds %d letters, want %d", len(keys), len(letters))
	}
	for k, n := range keys {
		if n != 1 {
			t.Errorf("the recipient's inbox holds letter %s %d times", k, n)
		}
	}
	t.Logf("stores agree; total %s", time.Since(begin).Round(time.Millisecond))
}

// addFolderSection appends a folder: section to an edge config file.
func addFolderSection(t *testing.T, path, root string, organs []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "\nfolder:") {
		t.Fatalf("%s has a folder: section already", path)
	}
	section := fmt.Sprintf("\nfolder:\n  root: %s\n  organ_ids: [%s]\n  settle: %s\n  poll: 200ms\n", root, strings.Join(organs, ", "), dropSettle)
	if err := os.WriteFile(path, append(b, section...), 0o600); err != nil {
		t.Fatal(err)
	}
}

// dropPlan builds the files: letters from the sender edge's agencies to
// one or two of the recipient edge's, and dropInvalid of each invalid
// kind, shuffled.
func dropPlan(t *testing.T, rng *rand.Rand, sOrgans, rOrgans []string) []dropFile {
	t.Helper()
	var files []dropFile
	newLetter := func(i int, from string, to []string) dropFile {
		number := fmt.Sprintf("%d", 10000+i)
		return dropFile{
			name: fmt.Sprintf("cong-van-%d.edxml", 10000+i), data: letter(t, from, to, number, nil, nil),
			number: number, docID: from + ",2026/11/22," + number + "/E2E", to: to, how: "rename",
		}
	}
	invalid := []struct {
		reason string
		make   func(i int) dropFile
	}{
		{bus.RejectMalformed, func(i int) dropFile {
			return dropFile{name: fmt.Sprintf("rac-%d.edxml", i), data: []byte("không phải XML " + fmt.Sprint(i))}
		}},
		{bus.RejectMalformed, func(i int) dropFile {
			l := newLetter(20000+i, sOrgans[0], rOrgans[:1])
			return dropFile{name: fmt.Sprintf("cut-%d.edxml", i), data: l.data[:len(l.data)/2]}
		}},
		{bus.RejectUnknownRecipient, func(i int) dropFile {
			l := newLetter(30000+i, sOrgans[0], []string{"000.00.99.H99"})
			return dropFile{name: fmt.Sprintf("nobody-%d.edxml", i), data: l.data}
		}},
		{bus.RejectUnknownSender, func(i int) dropFile {
			l := newLetter(40000+i, rOrgans[0], rOrgans[1:2])
			return dropFile{name: fmt.Sprintf("foreign-%d.edxml", i), data: l.data}
		}},
		{folder.ReasonNotAFile, func(i int) dropFile {
			return dropFile{name: fmt.Sprintf("thu-muc-%d", i), how: "directory"}
		}},
		{folder.ReasonNoItem, func(i int) dropFile {
			return dropFile{name: fmt.Sprintf("bad-%d.status.json", i), data: []byte(`{"item":"in-00000000000000000000000000000000","code":"03"}`)}
		}},
	}
	for _, kind := range invalid {
		for i := range dropInvalid {
			f := kind.make(i)
			f.reason = kind.reason
			if f.how == "" {
				f.how = "rename"
			}
			files = append(files, f)
		}
	}
	for i := 0; len(files) < dropFiles; i++ {
		to := []string{rOrgans[rng.IntN(len(rOrgans))]}
		if other := rOrgans[rng.IntN(len(rOrgans))]; rng.IntN(2) == 0 && other != to[0] {
			to = append(to, other)
		}
		files = append(files, newLetter(i, sOrgans[rng.IntN(len(sOrgans))], to))
	}
	rng.Shuffle(len(files), func(i, j int) { files[i], files[j] = files[j], files[i] })
	// The slow writers, spread over the stream.
	var letters []int
	for i, f := range files {
		if f.reason == "" {
			letters = append(letters, i)
		}
	}
	rng.Shuffle(len(letters), func(i, j int) { letters[i], letters[j] = letters[j], letters[i] })
	for k, i := range letters[:dropSlow+dropInPlace] {
		if k < dropSlow {
			files[i].how = "slow-rename"
		} else {
			files[i].how = "in-place"
		}
	}
	return files
}

// writeDropFile writes f into dir the way f.how says.
func writeDropFile(t *testing.T, dir string, f dropFile) {
	path := filepath.Join(dir, f.name)
	var err error
	switch f.how {
	case "rename":
		tmp := filepath.Join(dir, "."+f.name+".tmp")
		if err = os.WriteFile(tmp, f.data, 0o644); err == nil {
			err = os.Rename(tmp, path)
		}
	case "slow-rename":
		tmp := path + ".part"
		if err = writeSlowly(tmp, f.data); err == nil {
			err = os.Rename(tmp, path)
		}
	case "in-place":
		err = writeSlowly(path, f.data)
	case "directory":
		tmp := filepath.Join(dir, "."+f.name)
		if err = os.Mkdir(tmp, 0o755); err == nil {
			if err = os.WriteFile(filepath.Join(tmp, "a.edxml"), []byte("x"), 0o644); err == nil {
				err = os.Rename(tmp, path)
			}
		}
	default:
		err = fmt.Errorf("unknown way %q", f.how)
	}
	if err != nil {
		t.Errorf("writing %s: %v", f.name, err)
	}
}

// writeSlowly writes data to path in dropChunks parts, dropChunkWait
// apart.
func writeSlowly(path string, data []byte) error {
	file, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer file.Close()
	chunk := len(data)/dropChunks + 1
	for off := 0; off < len(data); off += chunk {
		if off > 0 {
			time.Sleep(dropChunkWait)
		}
		if _, err := file.Write(data[off:min(off+chunk, len(data))]); err != nil {
			return err
		}
	}
	return file.Close()
}

// dirNames lists the names in dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	out := make([]string, 0, len(es))
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}
