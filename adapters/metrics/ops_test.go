package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"truc.vn/truc/adapters/metrics"
)

// serve runs one request through h and returns the status and body.
func serve(t *testing.T, h http.Handler, method, path string) (int, string, http.Header) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Code, rec.Body.String(), rec.Header()
}

func TestHealthz(t *testing.T) {
	h := metrics.Ops{Ready: func(context.Context) error { return errors.New("not yet") }}.Handler()
	tests := []struct {
		name, method, path string
		code               int
		body               string
	}{
		{"get", http.MethodGet, metrics.PathHealthz, 200, "ok\n"},
		{"head", http.MethodHead, metrics.PathHealthz, 200, ""},
		{"post", http.MethodPost, metrics.PathHealthz, 405, ""},
		{"other path", http.MethodGet, "/debug/pprof", 404, ""},
		{"metrics without a registry", http.MethodGet, metrics.PathMetrics, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body, hdr := serve(t, h, tt.method, tt.path)
			if code != tt.code {
				t.Errorf("status %d, want %d", code, tt.code)
			}
			if tt.code == 200 {
				if tt.method == http.MethodGet && body != tt.body {
					t.Errorf("body %q, want %q", body, tt.body)
				}
				if ct := hdr.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
					t.Errorf("Content-Type %q", ct)
				}
			}
		})
	}
}

func TestReadyz(t *testing.T) {
	tests := []struct {
		name  string
		ready func(context.Context) error
		code  int
		body  string
	}{
		{"no check", nil, 200, "ok\n"},
		{"ready", func(context.Context) error { return nil }, 200, "ok\n"},
		{"not ready", func(context.Context) error { return errors.New("kafka: no broker reachable") }, 503,
			"not ready: kafka: no broker reachable\n"},
		{"wrapped", func(context.Context) error {
			return errors.Join(errors.New("store: closed"), errors.New("secret detail on the second line"))
		}, 503, "not ready: store: closed\n"},
		{"control characters", func(context.Context) error { return errors.New("a\tb\x1b[31mc\x00d") }, 503,
			"not ready: a b [31mc d\n"},
		{"invalid UTF-8", func(context.Context) error { return errors.New("bad \xff byte") }, 503,
			"not ready: bad \uFFFD byte\n"},
		{"long", func(context.Context) error { return errors.New(strings.Repeat("é", 300)) }, 503,
			"not ready: " + strings.Repeat("é", 128) + "…\n"},
		{"panic", func(context.Context) error { panic("token PIN 1234 rejected") }, 503,
			"not ready: readiness check failed unexpectedly\n"},
		{"deadline", func(ctx context.Context) error {
			d, ok := ctx.Deadline()
			if !ok || time.Until(d) > metrics.ReadyTimeout {
				return errors.New("no deadline")
			}
			return nil
		}, 200, "ok\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			h := metrics.Ops{Ready: tt.ready, Logger: slog.New(slog.NewTextHandler(&logs, nil))}.Handler()
			code, body, hdr := serve(t, h, http.MethodGet, metrics.PathReadyz)
			if code != tt.code || body != tt.body {
				t.Errorf("got %d %q, want %d %q", code, body, tt.code, tt.body)
			}
			if ct := hdr.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if strings.Contains(body, "goroutine") || strings.Contains(body, "PIN") {
				t.Errorf("body leaks internals: %q", body)
			}
			if tt.name == "panic" && !strings.Contains(logs.String(), "goroutine") {
				t.Errorf("the panic's stack was not logged: %s", logs.String())
			}
		})
	}
}

func TestReadyzTimeout(t *testing.T) {
	tests := []struct {
		name  string
		ready func(release <-chan struct{}) func(context.Context) error
	}{
		{"check honours its deadline", func(<-chan struct{}) func(context.Context) error {
			return func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
		}},
		{"check ignores its deadline", func(release <-chan struct{}) func(context.Context) error {
			return func(context.Context) error { <-release; return nil }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				release := make(chan struct{})
				defer close(release)
				h := metrics.Ops{Ready: tt.ready(release)}.Handler()
				start := time.Now()
				code, body, _ := serve(t, h, http.MethodGet, metrics.PathReadyz)
				if code != 503 || !strings.HasPrefix(body, "not ready: readiness check did not finish within 2s") {
					t.Errorf("got %d %q", code, body)
				}
				if d := time.Since(start); d != metrics.ReadyTimeout {
					t.Errorf("answered after %v, want %v", d, metrics.ReadyTimeout)
				}
			})
		})
	}
}

// TestReadyzShared checks that probes share one check in flight, so that a
// hung check costs one goroutine, and that a check runs again once it
// returned.
func TestReadyzShared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		release := make(chan struct{})
		h := metrics.Ops{Ready: func(context.Context) error {
			if calls.Add(1) == 1 {
				<-release // hangs, ignoring its deadline
			}
			return nil
		}}.Handler()
		var wg sync.WaitGroup
		codes := make([]int, 5)
		for i := range codes {
			wg.Go(func() { codes[i], _, _ = serve(t, h, http.MethodGet, metrics.PathReadyz) })
		}
		wg.Wait()
		for i, c := range codes {
			if c != 503 {
				t.Errorf("probe %d: %d, want 503", i, c)
			}
		}
		// Still hung: a later probe joins it instead of starting another.
		if code, _, _ := serve(t, h, http.MethodGet, metrics.PathReadyz); code != 503 {
			t.Errorf("probe during the hung check: %d, want 503", code)
		}
		if n := calls.Load(); n != 1 {
			t.Errorf("%d checks ran, want 1", n)
		}
		close(release)
		synctest.Wait()
		if code, _, _ := serve(t, h, http.MethodGet, metrics.PathReadyz); code != 200 {
			t.Errorf("after the check returned: %d, want 200", code)
		}
		if n := calls.Load(); n != 2 {
			t.Errorf("%d checks ran, want 2", n)
		}
	})
}

func TestReadyzLogsChanges(t *testing.T) {
	var logs bytes.Buffer
	var fail atomic.Bool
	h := metrics.Ops{
		Ready: func(context.Context) error {
			if fail.Load() {
				return errors.New("store: closed")
			}
			return nil
		},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	}.Handler()
	for _, f := range []bool{false, true, true, true, false, false} {
		fail.Store(f)
		serve(t, h, http.MethodGet, metrics.PathReadyz)
	}
	out := logs.String()
	if n := strings.Count(out, "metrics: not ready"); n != 1 {
		t.Errorf("%d not-ready lines, want 1:\n%s", n, out)
	}
	if n := strings.Count(out, "metrics: ready again"); n != 1 {
		t.Errorf("%d ready-again lines, want 1:\n%s", n, out)
	}
}

func get(t *testing.T, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestMetricsEndpoint(t *testing.T) {
	reg := fullRegistry(t)
	srv := httptest.NewServer(metrics.Ops{Registry: reg}.Handler())
	t.Cleanup(srv.Close)

	resp, body := get(t, srv.URL+metrics.PathMetrics, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q", ct)
	}
	for _, want := range []string{
		"# TYPE truc_axis_packages_total counter",
		`truc_axis_packages_total{outcome="accepted",type="document"} 1`,
		`truc_axis_rejections_total{reason="revoked"} 1`,
		`truc_axis_deliveries_total{edge="edge-a",kind="first"} 1`,
		"# TYPE truc_axis_dead_letters_total counter",
		"# TYPE truc_axis_receipts_total counter",
		"# TYPE truc_axis_checkpoint_size gauge",
		"# TYPE truc_axis_receipt_batch_seconds histogram",
		"# TYPE truc_axis_last_accepted_timestamp_seconds gauge",
		"# TYPE truc_edge_submitted_total counter",
		"# TYPE truc_edge_published_total counter",
		"# TYPE truc_edge_publish_seconds histogram",
		`truc_edge_received_total{duplicate="false",type="document"} 1`,
		`truc_edge_refused_total{reason="revoked"} 1`,
		`truc_edge_receipts_total{kind="delivered"} 1`,
		"truc_store_commits_total 1",
		"truc_store_commit_requests_total 2",
		"truc_log_size 3",
		"truc_log_checkpoint_size 2",
		"# TYPE truc_log_checkpoint_age_seconds gauge",
		`truc_build_info{goversion="`,
		"# TYPE go_goroutines gauge",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// The handler's own metrics count the scrape just served.
	_, body = get(t, srv.URL+metrics.PathMetrics, nil)
	if !strings.Contains(body, `promhttp_metric_handler_requests_total{code="200"} 1`) {
		t.Errorf("the first scrape is not counted:\n%s", grep(body, "promhttp_"))
	}

	resp, body = get(t, srv.URL+metrics.PathMetrics, http.Header{"Accept": {"application/openmetrics-text; version=1.0.0"}})
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Errorf("OpenMetrics asked, Content-Type %q", ct)
	}
	if !strings.HasSuffix(body, "# EOF\n") {
		t.Error("OpenMetrics answer lacks # EOF")
	}

	// Mounted path by path on another mux, as the edge API server does.
	mux := http.NewServeMux()
	ops := metrics.Ops{Registry: reg}.Handler()
	for _, p := range []string{metrics.PathHealthz, metrics.PathReadyz, metrics.PathMetrics} {
		mux.Handle(p, ops)
	}
	for _, p := range []string{metrics.PathHealthz, metrics.PathReadyz, metrics.PathMetrics} {
		if code, _, _ := serve(t, mux, http.MethodGet, p); code != 200 {
			t.Errorf("%s on a caller's mux: %d", p, code)
		}
	}
}

func TestMetricsCollectorFails(t *testing.T) {
	reg := metrics.NewRegistry("test")
	reg.MustRegister(metrics.NewStoreCollector(func() (int64, int64) { return 4, 8 }))
	reg.MustRegister(metrics.NewLogCollector(func(context.Context) (int64, int64, time.Time, error) {
		return 0, 0, time.Time{}, errors.New("database not open")
	}, nil))
	var logs bytes.Buffer
	srv := httptest.NewServer(metrics.Ops{Registry: reg, Logger: slog.New(slog.NewTextHandler(&logs, nil))}.Handler())
	t.Cleanup(srv.Close)

	resp, body := get(t, srv.URL+metrics.PathMetrics, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d, want 200 with what could be gathered", resp.StatusCode)
	}
	if !strings.Contains(body, "truc_store_commits_total 4") {
		t.Error("the healthy collector's series are missing")
	}
	if strings.Contains(body, "truc_log_size") {
		t.Error("truc_log_size served although the status failed")
	}
	_, body = get(t, srv.URL+metrics.PathMetrics, nil)
	if !strings.Contains(body, `promhttp_metric_handler_errors_total{cause="gathering"} 1`) {
		t.Errorf("the failure is not counted:\n%s", grep(body, "promhttp_"))
	}
	if !strings.Contains(logs.String(), "database not open") {
		t.Errorf("the failure is not logged: %s", logs.String())
	}
}

func TestHandlerTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	o := metrics.Ops{Registry: reg}
	o.Handler()
	o.Handler() // the promhttp_* metrics are registered once and shared
	if code, _, _ := serve(t, o.Handler(), http.MethodGet, metrics.PathMetrics); code != 200 {
		t.Errorf("status %d", code)
	}
}

func grep(s, prefix string) string {
	var out []string
	for l := range strings.Lines(s) {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}
