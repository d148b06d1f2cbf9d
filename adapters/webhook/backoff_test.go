package webhook

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"truc.vn/truc/bus"
)

// handlerTransport serves requests in memory, so that the dispatcher runs
// in a synctest bubble with virtual time.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, req)
	return rec.Result(), nil
}

// TestBackoffSchedule: attempts are spaced by exponential back-off with
// jitter (each wait in [d/2, d], d = min(Max, Base × 2^(n-1))), the
// delivery fails after MaxAttempts and nothing more is attempted.
func TestBackoffSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newEdgeSource(t)
		var mu sync.Mutex
		var at []time.Time
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			at = append(at, time.Now())
			mu.Unlock()
			w.WriteHeader(http.StatusServiceUnavailable)
		})
		failed := 0
		cfg := Config{
			Transport: handlerTransport{h},
			Hooks:     Hooks{Failed: func(string) { mu.Lock(); failed++; mu.Unlock() }},
			Subscriptions: []Subscription{{
				Name: "dms", URL: "https://dms.example/hook", Secret: testSecret, OrganIDs: []string{organA}, Client: "dms",
				MaxAttempts: 7, Backoff: Backoff{Base: time.Second, Max: 16 * time.Second},
			}},
		}
		src.receive(bus.TypeDocument, "doc", []string{organA}, "x")
		d, err := Open(filepath.Join(t.TempDir(), "webhooks.db"), src, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- d.Run(ctx) }()
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(at) != 7 || failed != 1 {
			t.Fatalf("%d attempts, %d failures reported; want 7 and 1", len(at), failed)
		}
		for n := 1; n < len(at); n++ {
			d := min(16*time.Second, time.Second<<(n-1))
			if gap := at[n].Sub(at[n-1]); gap < d/2 || gap > d {
				t.Errorf("wait after attempt %d: %s, want %s–%s", n, gap, d/2, d)
			}
		}
		st := d.Stats()
		if st[0].Failed != 1 || st[0].Pending != 0 {
			t.Errorf("stats %+v", st)
		}
	})
}

// TestBackoffJitter: the waits of one attempt number are spread, not one
// value (many documents retrying after an outage do not come in step).
func TestBackoffJitter(t *testing.T) {
	b := Backoff{Base: time.Second, Max: time.Minute}
	for _, tc := range []struct {
		n      int
		lo, hi time.Duration
	}{
		{1, 500 * time.Millisecond, time.Second},
		{3, 2 * time.Second, 4 * time.Second},
		{7, 30 * time.Second, time.Minute},
		{1000, 30 * time.Second, time.Minute},
	} {
		t.Run(fmt.Sprint(tc.n), func(t *testing.T) {
			seen := map[time.Duration]bool{}
			for range 200 {
				d := b.delay(tc.n)
				if d < tc.lo || d > tc.hi {
					t.Fatalf("delay(%d) = %s, want %s–%s", tc.n, d, tc.lo, tc.hi)
				}
				seen[d] = true
			}
			if len(seen) < 100 {
				t.Errorf("delay(%d) took only %d values in 200 draws", tc.n, len(seen))
			}
		})
	}
}
