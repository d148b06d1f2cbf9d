package main

// End-to-end tests: the built binary as separate processes (broker, axis,
// three edges), DMS clients on the edges' REST API.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"truc.vn/truc/adapters/restapi"
	"truc.vn/truc/edoc"
)

// dms simulates the document-management software behind one edge: it
// long-polls the inbox, keeps every item it sees, and takes every
// document (so the edge sends 01 from each of its recipients).
type dms struct {
	edge   string
	api    *restapi.Client
	take   bool
	mu     sync.Mutex
	items  map[string]restapi.Item // by item ID
	seen   map[string]int          // item ID → times listed (duplicates would show here)
	cursor uint64
}

func newDMS(edge string, api *restapi.Client, take bool) *dms {
	return &dms{edge: edge, api: api, take: take, items: map[string]restapi.Item{}, seen: map[string]int{}}
}

// run polls until ctx is done. Errors (an edge restarting) are retried.
func (d *dms) run(ctx context.Context) {
	for ctx.Err() == nil {
		page, err := d.api.Inbox(ctx, restapi.InboxQuery{After: d.cursor, Limit: 200, Wait: 2 * time.Second})
		if err != nil {
			sleepCtx(ctx, 200*time.Millisecond)
			continue
		}
		for _, it := range page.Items {
			if d.take && it.Type == "document" && it.TakenAt.IsZero() {
				if _, err := d.api.Ack(ctx, it.ID); err != nil {
					// Retry from this item on the next poll.
					goto next
				}
			}
			d.mu.Lock()
			d.items[it.ID] = it
			d.seen[it.ID]++
			d.mu.Unlock()
			d.cursor = it.Seq
		}
		if len(page.Items) == 0 {
			d.cursor = max(d.cursor, page.Next)
		}
	next:
	}
}

func (d *dms) snapshot() []restapi.Item {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]restapi.Item, 0, len(d.items))
	for _, it := range d.items {
		out = append(out, it)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// eventually polls cond until it holds or the time is up.
func eventually(t testing.TB, limit time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	var last string
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not after %s; last state: %s", what, limit, last)
}

// letter builds a document package from sender to recipients.
func letter(t testing.TB, from string, to []string, number string, business *edoc.Business, attachment []byte) []byte {
	t.Helper()
	var orgs []edoc.Organization
	for _, r := range to {
		orgs = append(orgs, edoc.Organization{OrganID: r, OrganName: "Cơ quan " + r})
	}
	if attachment == nil {
		attachment = []byte("Nội dung công văn số " + number)
	}
	att := edoc.NewAttachment("cong-van-"+number+".txt", "text/plain", func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(attachment)), nil
	})
	p, err := edoc.NewDocument(edoc.DocumentSpec{
		From:        edoc.Organization{OrganID: from, OrganName: "Cơ quan " + from, OrganAdd: "Hà Nội"},
		To:          orgs,
		DocumentID:  from + ",2026/11/22," + number + "/E2E",
		Code:        edoc.Code{Number: number, Notation: "E2E"},
		Place:       "Hà Nội",
		TypeName:    "Công văn",
		Subject:     "V/v kiểm thử đầu cuối " + number,
		Signer:      edoc.SignerInfo{Competence: "TL. BỘ TRƯỞNG", Position: "Chánh Văn phòng", FullName: "Trần Thị B"},
		Business:    business,
		Attachments: []*edoc.Attachment{att},
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := p.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// statusesBy counts, per recipient OrganId, the status codes seen in a
// sent document's timeline.
func statusesBy(doc restapi.Document) map[string][]string {
	out := map[string][]string{}
	for _, rt := range doc.Timeline {
		for _, ev := range rt.Events {
			if ev.Kind == "status" {
				out[rt.OrganID] = append(out[rt.OrganID], ev.Status)
			}
		}
	}
	return out
}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: starts 5 processes")
	}
	w := startProcWorld(t, 3, 22)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	sender := w.m.Edges[0] // vpcp, head agency 000.00.00.G22
	var recipients []string
	for id := range w.m.Agencies {
		if id != sender.OrganID {
			recipients = append(recipients, id)
		}
	}
	sort.Strings(recipients)
	recipients = recipients[:63]
	perEdge := map[string][]string{}
	for _, r := range recipients {
		perEdge[w.m.Agencies[r]] = append(perEdge[w.m.Agencies[r]], r)
	}
	if len(perEdge) != 3 {
		t.Fatalf("recipients span %d edges, want 3", len(perEdge))
	}

	dmss := map[string]*dms{}
	var wg sync.WaitGroup
	for _, e := range w.m.Edges {
		d := newDMS(e.ID, w.api[e.ID], true)
		dmss[e.ID] = d
		wg.Add(1)
		go func() { defer wg.Done(); d.run(ctx) }()
	}
	defer wg.Wait()
	defer cancel()

	api := w.api[sender.ID]
	pkg := letter(t, sender.OrganID, recipients, "101", nil, nil)
	sub, err := api.Submit(ctx, pkg, "e2e-101")
	if err != nil {
		t.Fatal(err)
	}
	again, err := api.Submit(ctx, pkg, "e2e-101")
	if err != nil || again.ID != sub.ID || !again.Replayed {
		t.Fatalf("retry with the same Idempotency-Key: %+v, %v; want the first ID %s, replayed", again, err, sub.ID)
	}

	// Every recipient's DMS gets the letter once, and the sender sees 01
	// from each of the 63.
	eventually(t, 90*time.Second, "01 from all 63 recipients", func() (bool, string) {
		doc, err := api.Document(ctx, sub.ID)
		if err != nil {
			return false, err.Error()
		}
		got := statusesBy(doc)
		n := 0
		for _, r := range recipients {
			if slices.Contains(got[r], "01") {
				n++
			}
		}
		return n == 63, fmt.Sprintf("%d of 63 have 01", n)
	})
	for edgeID, want := range perEdge {
		var docs []restapi.Item
		for _, it := range dmss[edgeID].snapshot() {
			if it.Type == "document" {
				docs = append(docs, it)
			}
		}
		if len(docs) != 1 {
			t.Fatalf("DMS of edge %s has %d documents, want 1: %+v", edgeID, len(docs), docs)
		}
		got := slices.Sorted(slices.Values(docs[0].Recipients))
		if !slices.Equal(got, want) {
			t.Errorf("edge %s: the letter lists recipients %v, want %v", edgeID, got, want)
		}
		body, err := w.api[edgeID].Item(ctx, docs[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(edocSHA(body), edocSHA(pkgSigned(t, w, sender.ID, sub.ID))) {
			t.Errorf("edge %s: the bytes differ from what the sender edge signed", edgeID)
		}
	}
	doc, err := api.Document(ctx, sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	for r, codes := range statusesBy(doc) {
		if n := count(codes, "01"); n != 1 {
			t.Errorf("recipient %s: %d statuses 01 in the timeline, want exactly 1", r, n)
		}
	}

	// 03 → 06 from the recipients of one edge reach the sender.
	hanoi := w.m.Edges[1].ID
	hanoiDoc := firstDocument(t, dmss[hanoi])
	for _, code := range []string{"03", "04", "05", "06"} {
		if _, err := w.api[hanoi].PostStatus(ctx, hanoiDoc.ID, restapi.StatusRequest{Code: code, Description: "xử lý " + code, Staff: "Văn thư"}); err != nil {
			t.Fatalf("status %s: %v", code, err)
		}
	}
	if _, err := w.api[hanoi].PostStatus(ctx, hanoiDoc.ID, restapi.StatusRequest{Code: "01"}); err == nil {
		t.Error("a second 01 for the same item was accepted")
	}
	eventually(t, 60*time.Second, "03–06 from edge "+hanoi+"'s recipients", func() (bool, string) {
		doc, err := api.Document(ctx, sub.ID)
		if err != nil {
			return false, err.Error()
		}
		got := statusesBy(doc)
		missing := 0
		for _, r := range perEdge[hanoi] {
			for _, c := range []string{"03", "04", "05", "06"} {
				if !slices.Contains(got[r], c) {
					missing++
				}
			}
		}
		return missing == 0, fmt.Sprintf("%d statuses missing", missing)
	})

	// A recall (13) from the sender reaches every recipient; their 15 or
	// 16 comes back.
	recall := statusPackage(t, pkgSigned(t, w, sender.ID, sub.ID), sender.OrganID, edoc.StatusRecallRequested, "Thu hồi để sửa sai sót")
	if _, err := api.Submit(ctx, recall, "e2e-101-recall"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the recall at every recipient edge", func() (bool, string) {
		n := 0
		for edgeID := range perEdge {
			for _, it := range dmss[edgeID].snapshot() {
				if it.Type == "status" && it.Status == "13" {
					n++
				}
			}
		}
		return n == 3, fmt.Sprintf("%d of 3 edges have the recall", n)
	})
	answers := map[string]string{}
	for i, e := range w.m.Edges {
		code := "15"
		if i == 2 {
			code = "16"
		}
		item := firstDocument(t, dmss[e.ID])
		if _, err := w.api[e.ID].PostStatus(ctx, item.ID, restapi.StatusRequest{Code: code, Description: "trả lời thu hồi"}); err != nil {
			t.Fatalf("edge %s: status %s: %v", e.ID, code, err)
		}
		for _, r := range perEdge[e.ID] {
			answers[r] = code
		}
	}
	eventually(t, 60*time.Second, "15/16 from every recipient", func() (bool, string) {
		doc, err := api.Document(ctx, sub.ID)
		if err != nil {
			return false, err.Error()
		}
		got := statusesBy(doc)
		missing := 0
		for r, code := range answers {
			if !slices.Contains(got[r], code) {
				missing++
			}
		}
		return missing == 0, fmt.Sprintf("%d answers missing", missing)
	})

	// An update (BussinessDocType 2, same DocumentId) reaches them too.
	update := letter(t, sender.OrganID, recipients, "101", &edoc.Business{
		DocType: edoc.BusinessUpdate, DocumentID: sender.OrganID + ",2026/11/22,101/E2E", DocReason: "Sửa trích yếu", Paper: "0",
		DocumentInfo: &edoc.BusinessDocumentInfo{DocumentInfo: "1", DocumentReceiver: "0"},
	}, []byte("Nội dung đã cập nhật"))
	usub, err := api.Submit(ctx, update, "")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the update at every recipient edge", func() (bool, string) {
		n := 0
		for edgeID := range perEdge {
			for _, it := range dmss[edgeID].snapshot() {
				if it.Type == "document" && it.MessageID == usub.ID {
					n++
				}
			}
		}
		return n == 3, fmt.Sprintf("%d of 3 edges have the update", n)
	})

	// Nothing was listed twice by any inbox.
	for edgeID, d := range dmss {
		d.mu.Lock()
		for id, n := range d.seen {
			if n != 1 {
				t.Errorf("edge %s listed item %s %d times", edgeID, id, n)
			}
		}
		d.mu.Unlock()
	}

	t.Run("16MiB", func(t *testing.T) {
		// The largest letter: its signed package just under 16 MiB.
		raw := make([]byte, 12*1024*1024-64*1024)
		_, _ = rand.Read(raw)
		to := perEdge[w.m.Edges[2].ID][:1]
		big := letter(t, sender.OrganID, to, "202", nil, raw)
		if len(big) > 16<<20 || len(big) < 15<<20 {
			t.Fatalf("the big letter is %d bytes, want 15–16 MiB", len(big))
		}
		bsub, err := api.Submit(ctx, big, "")
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 90*time.Second, "01 for the 16 MiB letter", func() (bool, string) {
			doc, err := api.Document(ctx, bsub.ID)
			if err != nil {
				return false, err.Error()
			}
			return slices.Contains(statusesBy(doc)[to[0]], "01"), "no 01 yet"
		})
		var item restapi.Item
		for _, it := range dmss[w.m.Edges[2].ID].snapshot() {
			if it.MessageID == bsub.ID {
				item = it
			}
		}
		body, err := w.api[w.m.Edges[2].ID].Item(ctx, item.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%x", edocSHA(body)); got != bsub.SHA256 {
			t.Errorf("the recipient's bytes hash to %s, the sender signed %s", got, bsub.SHA256)
		}
	})
}

func count(xs []string, x string) int {
	n := 0
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}

func firstDocument(t testing.TB, d *dms) restapi.Item {
	t.Helper()
	for _, it := range d.snapshot() {
		if it.Type == "document" {
			return it
		}
	}
	t.Fatalf("DMS of edge %s has no document", d.edge)
	return restapi.Item{}
}

// pkgSigned returns the signed bytes of a sent message, as a recipient
// would get them: from any recipient edge's inbox.
func pkgSigned(t testing.TB, w *procWorld, senderEdge, id string) []byte {
	t.Helper()
	ctx := context.Background()
	doc, err := w.api[senderEdge].Document(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range w.m.Edges {
		if body, err := w.api[e.ID].Item(ctx, "in-"+doc.SHA256[:32]); err == nil {
			return body
		}
	}
	t.Fatalf("no edge has message %s in its inbox", id)
	return nil
}

// statusPackage builds a status package about the document pkg.
func statusPackage(t testing.TB, pkg []byte, from string, code edoc.StatusCode, description string) []byte {
	t.Helper()
	doc, err := edoc.Parse(pkg, edoc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := edoc.NewStatus(doc, edoc.Organization{OrganID: from, OrganName: "Cơ quan " + from}, code, description, edoc.StaffInfo{Staff: "Văn thư"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := st.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func edocSHA(b []byte) []byte {
	h := sha256Sum(b)
	return h[:]
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }
