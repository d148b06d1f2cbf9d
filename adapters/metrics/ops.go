package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Paths Ops.Handler serves. Stable: probes and scrape configs name them.
const (
	PathHealthz = "/healthz"
	PathReadyz  = "/readyz"
	PathMetrics = "/metrics"
)

// ReadyTimeout bounds one readiness check.
const ReadyTimeout = 2 * time.Second

// maxReasonBytes bounds the reason /readyz shows.
const maxReasonBytes = 256

// scrapeTimeout bounds one /metrics answer; maxScrapes bounds concurrent
// ones (a Prometheus HA pair and an operator's curl).
const (
	scrapeTimeout = 10 * time.Second
	maxScrapes    = 8
)

// Ops serves the operations endpoints of an axis or an edge.
type Ops struct {
	// Registry is what /metrics exposes (see NewRegistry). Nil leaves
	// /metrics unserved (404).
	Registry *prometheus.Registry
	// Ready reports whether the process can do its work (its store is open,
	// its broker reachable, …): nil means ready. Its error message is shown
	// to whoever can reach /readyz, so it should name what is missing, not
	// carry addresses or credentials. Nil means always ready.
	Ready func(ctx context.Context) error
	// Logger receives readiness changes and scrape errors; nil discards
	// them.
	Logger *slog.Logger
}

// Handler returns a handler serving, for GET and HEAD:
//
//   - /healthz: 200 "ok" as long as the process serves HTTP.
//   - /readyz: 200 "ok" when Ready returns nil within ReadyTimeout, else
//     503 "not ready: " and the first line of its error (at most 256
//     bytes, control characters removed) as text/plain. At most one check
//     runs at a time; requests arriving meanwhile share its answer, so a
//     check that hangs costs one goroutine, not one per probe. A panic in
//     Ready answers 503 and is logged with its stack, which never leaves
//     the process.
//   - /metrics: the Registry in the Prometheus text or OpenMetrics format,
//     with promhttp_metric_handler_* metrics added to the Registry. A
//     collector that fails is logged and counted; the other metrics are
//     still served.
//
// Other paths answer 404, other methods 405. Mount it on a mux path by
// path, e.g. mux.Handle(metrics.PathReadyz, h), or as a whole admin server.
func (o Ops) Handler() http.Handler {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathHealthz, func(w http.ResponseWriter, _ *http.Request) {
		writeText(w, http.StatusOK, "ok")
	})
	rd := &readiness{check: o.Ready, log: log}
	mux.Handle("GET "+PathReadyz, rd)
	if o.Registry != nil {
		h := promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{
			ErrorLog:            promLogger{log},
			ErrorHandling:       promhttp.ContinueOnError,
			Registry:            o.Registry,
			MaxRequestsInFlight: maxScrapes,
			CoalesceGather:      true,
			Timeout:             scrapeTimeout,
			EnableOpenMetrics:   true,
		})
		mux.Handle("GET "+PathMetrics, promhttp.InstrumentMetricHandler(o.Registry, h))
	}
	return mux
}

func writeText(w http.ResponseWriter, code int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprintln(w, body)
}

type promLogger struct{ log *slog.Logger }

func (l promLogger) Println(v ...any) {
	l.log.Warn("metrics: serving /metrics", "err", fmt.Sprint(v...))
}

// readiness serves /readyz.
type readiness struct {
	check func(context.Context) error
	log   *slog.Logger

	mu       sync.Mutex
	inflight *readyCall
	failing  bool // the last check failed
}

type readyCall struct {
	done chan struct{}
	err  error // set before done is closed
}

var (
	errReadyTimeout = fmt.Errorf("readiness check did not finish within %s", ReadyTimeout)
	errReadyPanic   = errors.New("readiness check failed unexpectedly")
)

func (rd *readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rd.check == nil {
		writeText(w, http.StatusOK, "ok")
		return
	}
	c := rd.start()
	t := time.NewTimer(ReadyTimeout)
	defer t.Stop()
	var err error
	select {
	case <-c.done:
		err = c.err
	case <-t.C:
		err = errReadyTimeout
	case <-r.Context().Done():
		return // the client left
	}
	rd.record(err)
	if err != nil {
		writeText(w, http.StatusServiceUnavailable, "not ready: "+sanitizeText(err.Error(), maxReasonBytes))
		return
	}
	writeText(w, http.StatusOK, "ok")
}

// start returns the check in flight, or starts one.
func (rd *readiness) start() *readyCall {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if c := rd.inflight; c != nil {
		return c
	}
	c := &readyCall{done: make(chan struct{})}
	rd.inflight = c
	go func() {
		c.err = rd.run()
		rd.mu.Lock()
		rd.inflight = nil
		rd.mu.Unlock()
		close(c.done)
	}()
	return c
}

func (rd *readiness) run() (err error) {
	defer func() {
		if p := recover(); p != nil {
			rd.log.Error("metrics: readiness check panicked", "panic", p, "stack", string(debug.Stack()))
			err = errReadyPanic
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), ReadyTimeout)
	defer cancel()
	if err := rd.check(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			return fmt.Errorf("%w: %w", errReadyTimeout, err)
		}
		return err
	}
	return nil
}

// record logs a change between ready and not ready.
func (rd *readiness) record(err error) {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	switch {
	case err != nil && !rd.failing:
		rd.log.Warn("metrics: not ready", "err", err)
	case err == nil && rd.failing:
		rd.log.Info("metrics: ready again")
	}
	rd.failing = err != nil
}
