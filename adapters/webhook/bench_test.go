package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"truc.vn/truc/bus"
)

// BenchmarkDispatch measures deliveries per second through the dispatcher
// (inbox read, envelope, HMAC, POST, take, fsynced state), with and
// without taking the items, against a baseline of the same number of
// signed POSTs sent by a plain loop with the same concurrency and no
// state. Each iteration delivers 200 small items over 50 documents.
func BenchmarkDispatch(b *testing.B) {
	const items, docs, conc = 200, 50, 4
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got.Add(1)
	}))
	defer srv.Close()
	body := bytes.Repeat([]byte("x"), 1500)

	b.Run("baseline=plain POSTs", func(b *testing.B) {
		client := newClient(nil, Config{Concurrency: conc})
		for b.Loop() {
			var wg sync.WaitGroup
			next := atomic.Int64{}
			for range conc {
				wg.Go(func() {
					for next.Add(1) <= items {
						ts := strconv.FormatInt(time.Now().Unix(), 10)
						req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
						req.Header.Set(HeaderTimestamp, ts)
						req.Header.Set(HeaderSignature, Sign(testSecret, ts, body))
						resp, err := client.Do(req)
						if err != nil {
							b.Error(err)
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				})
			}
			wg.Wait()
		}
		b.ReportMetric(float64(items*b.N)/b.Elapsed().Seconds(), "deliveries/s")
	})
	for _, untaken := range []bool{false, true} {
		name := "dispatcher"
		if untaken {
			name += ",keep_untaken"
		}
		b.Run(name, func(b *testing.B) { benchDispatcher(b, srv.URL, untaken) })
	}
}

// benchDispatcher delivers 200 items over 50 documents per iteration.
func benchDispatcher(b *testing.B, url string, untaken bool) {
	const items, docs, conc = 200, 50, 4
	for b.Loop() {
		b.StopTimer()
		src := newEdgeSource(b)
		for i := range items {
			src.receive(bus.TypeDocument, fmt.Sprintf("doc-%d", i%docs), []string{organA}, fmt.Sprintf("x%d", i))
		}
		sub := Subscription{Name: "dms", URL: url, Secret: testSecret, OrganIDs: []string{organA}, Client: "dms", KeepUntaken: untaken}
		d, err := Open(filepath.Join(b.TempDir(), "webhooks.db"), src, Config{Concurrency: conc, Subscriptions: []Subscription{sub}})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		b.StartTimer()
		go func() { done <- d.Run(ctx) }()
		for st := d.Stats()[0]; st.Pending > 0 || st.Failed > 0 || len(list(b, d, Query{Limit: 1})) == 0; st = d.Stats()[0] {
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		cancel()
		<-done
		d.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(items*b.N)/b.Elapsed().Seconds(), "deliveries/s")
}
