package restapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"truc.vn/truc/adapters/restapi"
	"truc.vn/truc/adapters/restapi/restapitest"
	"truc.vn/truc/bus"
	"truc.vn/truc/edoc"
)

// fastBackend answers from memory without copying or parsing, so that the
// benchmarks time the handler, not a backend.
type fastBackend struct {
	entry bus.OutboxEntry
	items []bus.InboxItem
	pkg   []byte
}

func (f *fastBackend) Submit(context.Context, string, []string, []byte, string) (bus.OutboxEntry, bool, error) {
	return f.entry, true, nil
}
func (f *fastBackend) Document(context.Context, string) (bus.OutboxEntry, error) { return f.entry, nil }
func (f *fastBackend) Inbox(_ context.Context, after uint64, limit int) ([]bus.InboxItem, error) {
	if after >= uint64(len(f.items)) {
		return nil, nil
	}
	return f.items[after:min(uint64(len(f.items)), after+uint64(limit))], nil
}
func (f *fastBackend) WaitInbox(context.Context, uint64) error { return nil }
func (f *fastBackend) Item(context.Context, string) (bus.InboxItem, []byte, error) {
	return f.items[0], f.pkg, nil
}
func (f *fastBackend) Take(context.Context, string, []string) (bus.InboxItem, error) {
	return f.items[0], nil
}
func (f *fastBackend) PostStatus(context.Context, string, string, string, []string, string, string, string) (bus.OutboxEntry, error) {
	return f.entry, nil
}
func (f *fastBackend) Ready(context.Context) error { return nil }
func (f *fastBackend) Outbox(context.Context, bus.OutboxQuery) ([]bus.OutboxEntry, error) {
	return nil, nil
}
func (f *fastBackend) Directory() bus.Directory { return restapitest.NewMemory().Directory() }

func newFastBackend(size int) *fastBackend {
	pkg := make([]byte, size)
	rand.Read(pkg)
	sum := sha256.Sum256(pkg)
	f := &fastBackend{pkg: pkg, entry: bus.OutboxEntry{Message: bus.Message{ID: "edge-hn.m1.0123456789abcdef", SHA256: sum, Sender: hanoi}}}
	for i := range 100 {
		f.items = append(f.items, bus.InboxItem{
			Seq: uint64(i + 1), ID: bus.InboxID(sum), SHA256: sum, MessageID: fmt.Sprintf("axis.m%d", i), Type: bus.TypeDocument,
			Sender: vpcp, Recipients: []string{hanoi}, Size: size, ReceivedAt: time.Now(),
		})
	}
	return f
}

// benchPair times measured right after baseline in each iteration and
// reports both and their ratio (x-baseline), so that both see the same
// machine load.
func benchPair(b *testing.B, baseline, measured func()) {
	var tb, tm time.Duration
	for b.Loop() {
		t0 := time.Now()
		baseline()
		t1 := time.Now()
		measured()
		tm += time.Since(t1)
		tb += t1.Sub(t0)
	}
	b.ReportMetric(float64(tm.Nanoseconds())/float64(b.N), "ns/measured")
	b.ReportMetric(float64(tb.Nanoseconds())/float64(b.N), "ns/baseline")
	b.ReportMetric(float64(tm)/float64(tb), "x-baseline")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkHandler measures the handler's own cost on the three hot
// paths, each against the least any HTTP handler must do for the same
// answer:
//
//   - submit: POST /v1/documents (auth, checks, body read, JSON answer)
//     against reading the body and writing the same JSON answer;
//   - item: GET /v1/inbox/{id} (auth, SHA-256 check of the bytes, write)
//     against writing the bytes;
//   - list: GET /v1/inbox of 100 items against encoding the same page.
func BenchmarkHandler(b *testing.B) {
	for _, size := range []int{16 << 10, 4 << 20} {
		f := newFastBackend(size)
		h, err := restapi.New(testConfig(), f, nil)
		if err != nil {
			b.Fatal(err)
		}
		answer, _ := json.Marshal(restapi.Submitted{ID: f.entry.Message.ID, StatusURL: "/v1/documents/" + f.entry.Message.ID})
		b.Run(fmt.Sprintf("submit/%dKiB", size>>10), func(b *testing.B) {
			benchPair(b, func() {
				r := httptest.NewRequest("POST", "/v1/documents", bytes.NewReader(f.pkg))
				w := httptest.NewRecorder()
				body, _ := io.ReadAll(r.Body)
				_ = body
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusAccepted)
				w.Write(answer)
			}, func() {
				r := httptest.NewRequest("POST", "/v1/documents", bytes.NewReader(f.pkg))
				r.Header.Set("Authorization", "Bearer "+tokHanoi)
				r.Header.Set("Content-Type", "application/xml")
				r.Header.Set("Idempotency-Key", "k-1")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusAccepted {
					b.Fatal(w.Code, w.Body)
				}
			})
		})
		b.Run(fmt.Sprintf("item/%dKiB", size>>10), func(b *testing.B) {
			target := "/v1/inbox/" + f.items[0].ID
			benchPair(b, func() {
				w := httptest.NewRecorder()
				w.Header().Set("Content-Type", "application/xml")
				w.Write(f.pkg)
			}, func() {
				r := httptest.NewRequest("GET", target, nil)
				r.Header.Set("Authorization", "Bearer "+tokHanoi)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatal(w.Code, w.Body)
				}
			})
		})
	}
	f := newFastBackend(1 << 10)
	h, err := restapi.New(testConfig(), f, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("list/100items", func(b *testing.B) {
		benchPair(b, func() {
			page := restapi.InboxPage{Next: 100}
			for _, it := range f.items {
				page.Items = append(page.Items, restapi.Item{ID: it.ID, Seq: it.Seq, Type: string(it.Type), Sender: it.Sender,
					Recipients: it.Recipients, MessageID: it.MessageID, SHA256: fmt.Sprintf("%x", it.SHA256), ReceivedAt: it.ReceivedAt, Size: it.Size})
			}
			out, _ := json.Marshal(page)
			w := httptest.NewRecorder()
			w.Write(out)
		}, func() {
			r := httptest.NewRequest("GET", "/v1/inbox?limit=100", nil)
			r.Header.Set("Authorization", "Bearer "+tokHanoi)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				b.Fatal(w.Code)
			}
		})
	})
}

// BenchmarkAPI measures the session-3 paths, each against a baseline
// doing the least that answer needs, in the same iteration:
//
//   - build: POST /v1/documents as multipart metadata + two files (1 MiB)
//     against POST of the package that request builds, as XML, both over
//     a backend that answers without parsing (the build's own cost);
//   - documents: GET /v1/documents?limit=100 (100 messages with 6-event
//     timelines, per-recipient states) against encoding the same page;
//   - attachment: GET /v1/inbox/{id}/attachments/1 of a 4 MiB package
//     (parse, decode) against serving the package bytes (GET /v1/inbox/{id});
//   - search: GET /v1/directory/agencies?q=hoa+binh over 25,000 agencies
//     against a substring scan of the same pre-folded names; and search
//     after a directory change (the folded index rebuilt) against the same.
func BenchmarkAPI(b *testing.B) {
	ctx := context.Background()
	mem := restapitest.NewMemory()
	h, err := restapi.New(testConfig(), mem, nil)
	if err != nil {
		b.Fatal(err)
	}
	fast, err := restapi.New(testConfig(), newFastBackend(1<<10), nil)
	if err != nil {
		b.Fatal(err)
	}
	serveOn := func(h *restapi.Handler, method, target string, body []byte, hdr ...string) *httptest.ResponseRecorder {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		r := httptest.NewRequest(method, target, rd)
		r.Header.Set("Authorization", "Bearer "+tokHanoi)
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 300 {
			b.Fatal(method, target, w.Code, w.Body)
		}
		return w
	}
	serve := func(method, target string, body []byte, hdr ...string) *httptest.ResponseRecorder {
		return serveOn(h, method, target, body, hdr...)
	}

	// build
	files := []filePart{
		{name: "Công văn.pdf", rfc2231: true, contentType: "application/pdf", data: bytes.Repeat([]byte("%PDF-1.4 công văn "), 1<<20/20)},
		{name: "phụ lục.docx", contentType: "application/octet-stream", data: bytes.Repeat([]byte{0x50, 0x4b, 3, 4}, 4096)},
	}
	mp, mpType := multipartBody(b, metadataJSON, files...)
	serve("POST", "/v1/documents", mp, "Content-Type", mpType)
	built := mem.Sent()[0].Message.Package
	b.Run("build/1MiB", func(b *testing.B) {
		benchPair(b, func() {
			serveOn(fast, "POST", "/v1/documents", built, "Content-Type", "application/xml")
		}, func() {
			serveOn(fast, "POST", "/v1/documents", mp, "Content-Type", mpType)
		})
	})

	// documents
	mem2 := restapitest.NewMemory()
	h2, _ := restapi.New(testConfig(), mem2, nil)
	for range 100 {
		e, _, err := mem2.Submit(ctx, "hanoi-dms", []string{hanoi}, restapitest.NewDocument(b, hanoi, bnv, vpcp), "")
		if err != nil {
			b.Fatal(err)
		}
		for _, ev := range []bus.TimelineEvent{
			{Kind: bus.TimelineAccepted, Receipt: make([]byte, 2048)},
			{Kind: bus.TimelineDelivered, Recipients: []string{bnv}},
			{Kind: bus.TimelineDelivered, Recipients: []string{vpcp}},
			{Kind: bus.TimelineStatus, Recipients: []string{bnv}, StatusCode: "01"},
			{Kind: bus.TimelineStatus, Recipients: []string{bnv}, StatusCode: "03"},
		} {
			mem2.AddEvent(e.Message.ID, ev)
		}
	}
	var page restapi.DocumentPage
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/v1/documents?limit=100", nil)
	r.Header.Set("Authorization", "Bearer "+tokHanoi)
	h2.ServeHTTP(w, r)
	json.Unmarshal(w.Body.Bytes(), &page)
	b.Run("documents/100", func(b *testing.B) {
		benchPair(b, func() {
			out, _ := json.Marshal(page)
			w := httptest.NewRecorder()
			w.Write(out)
		}, func() {
			r := httptest.NewRequest("GET", "/v1/documents?limit=100", nil)
			r.Header.Set("Authorization", "Bearer "+tokHanoi)
			w := httptest.NewRecorder()
			h2.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				b.Fatal(w.Code)
			}
		})
	})

	// attachment
	big := buildPackage(b, vpcp, hanoi, 4<<20)
	it, err := mem.Deliver(big, hanoi)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("attachment/4MiB", func(b *testing.B) {
		benchPair(b, func() {
			serve("GET", "/v1/inbox/"+it.ID, nil)
		}, func() {
			serve("GET", "/v1/inbox/"+it.ID+"/attachments/1", nil)
		})
	})

	// search
	agencies := make([]bus.Agency, 0, 25000)
	names := []string{"Ủy ban nhân dân xã", "Trường Tiểu học", "Phòng Giáo dục và Đào tạo huyện", "Sở Tài nguyên và Môi trường tỉnh", "Bệnh viện Đa khoa"}
	places := []string{"Hòa Bình", "Đà Nẵng", "Thừa Thiên Huế", "Bà Rịa – Vũng Tàu", "Hưng Yên", "Quảng Ngãi", "Điện Biên"}
	for i := range 25000 {
		agencies = append(agencies, bus.Agency{
			OrganID: fmt.Sprintf("%03d.%02d.%02d.H%02d", i/1000, i/100%100, i%100, i%60),
			Name:    fmt.Sprintf("%s %s %d", names[i%len(names)], places[i%len(places)], i), Edge: "e", Active: true,
		})
	}
	mem.SetAgencies(agencies...)
	folded := make([]string, len(agencies))
	for i, a := range agencies {
		folded[i] = restapi.Fold(a.OrganID + " " + a.Name)
	}
	scan := func() {
		var hits []restapi.Agency
		for i, f := range folded {
			if strings.Contains(f, "hoa") && strings.Contains(f, "binh") {
				a := agencies[i]
				hits = append(hits, restapi.Agency{OrganID: a.OrganID, Name: a.Name, Edge: a.Edge, Active: a.Active})
				if len(hits) == 50 {
					break
				}
			}
		}
		out, _ := json.Marshal(restapi.AgencyPage{Agencies: hits})
		w := httptest.NewRecorder()
		w.Write(out)
	}
	b.Run("search/25000", func(b *testing.B) {
		benchPair(b, scan, func() { serve("GET", "/v1/directory/agencies?q=hoa+binh", nil) })
	})
	b.Run("search-after-change/25000", func(b *testing.B) {
		benchPair(b, scan, func() {
			mem.SetAgencies(agencies...) // a new version: the index is rebuilt
			serve("GET", "/v1/directory/agencies?q=hoa+binh", nil)
		})
	})
}

// buildPackage returns a document package with one attachment of about
// size bytes.
func buildPackage(tb testing.TB, from, to string, size int) []byte {
	tb.Helper()
	p, err := edoc.NewDocument(edoc.DocumentSpec{
		From: edoc.Organization{OrganID: from}, To: []edoc.Organization{{OrganID: to}},
		Code: edoc.Code{Number: "1", Notation: "BENCH"}, Subject: "bench", Date: time.Date(2026, 1, 15, 0, 0, 0, 0, edoc.ICT),
		Attachments: []*edoc.Attachment{edoc.NewAttachment("big.bin", "application/octet-stream", func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(bytes.Repeat([]byte("0123456789abcdef"), size/16))), nil
		})},
	})
	if err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := p.WriteTo(&buf); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkFold folds 1,000 Vietnamese agency names against
// strings.ToLower of the same names (which folds case only).
func BenchmarkFold(b *testing.B) {
	names := make([]string, 1000)
	for i := range names {
		names[i] = fmt.Sprintf("000.%02d.%02d.H%02d Ủy ban nhân dân xã Đông Hòa huyện Thừa Thiên %d", i/100, i%100, i%60, i)
	}
	benchPair(b, func() {
		for _, n := range names {
			_ = strings.ToLower(n)
		}
	}, func() {
		for _, n := range names {
			_ = restapi.Fold(n)
		}
	})
}
