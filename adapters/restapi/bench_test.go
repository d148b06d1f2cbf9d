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
	"testing"
	"time"

	"truc.vn/truc/adapters/restapi"
	"truc.vn/truc/bus"
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
func (f *fastBackend) PostStatus(context.Context, string, []string, string, string, string) (bus.OutboxEntry, error) {
	return f.entry, nil
}
func (f *fastBackend) Ready(context.Context) error { return nil }

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
