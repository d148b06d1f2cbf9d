package metrics

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"truc.vn/truc/bus"
	"truc.vn/truc/signing"
)

// Other is the label value that stands for every value a bounded label does
// not admit (see MaxLabelValues). Stable.
const Other = "other"

// MaxLabelValues is the most distinct values a reason label takes besides
// Other: the known reason codes always, then unknown well-formed codes in
// the order they first occur until the label has this many values.
const MaxLabelValues = 64

// LogStatusTimeout bounds one read of the log status during a scrape.
const LogStatusTimeout = 5 * time.Second

// Histogram buckets, in seconds.
var (
	// latencyBuckets cover a batch made of a checkpoint signature (a
	// PKCS#11 token takes tens of milliseconds) and an acks=all publish.
	latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	// transitBuckets cover a hop of a letter between two nodes: tens of
	// milliseconds when all is well, up to hours when a node was away.
	transitBuckets = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600}
	// answerBuckets cover the time an agency takes to answer a letter:
	// minutes for 01 (arrived), hours to days for 03 (accepted) and
	// beyond. They include the usual SLA bounds (1h, 4h, 8h, 24h, 72h).
	answerBuckets = []float64{10, 60, 300, 900, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 24 * 3600, 48 * 3600, 72 * 3600, 7 * 24 * 3600, 30 * 24 * 3600}
)

// Bounded values of the type, kind and reason labels.
var (
	knownTypes = []string{
		string(bus.TypeDocument), string(bus.TypeStatus), string(bus.TypeReceipt),
		string(bus.TypeRejection), string(bus.TypeDeadLetter), string(bus.TypeAck),
	}
	knownKinds = []string{
		string(bus.EventSubmissionAccepted), string(bus.EventSubmissionRejected), string(bus.EventDelivered),
		string(bus.EventStatus), string(bus.EventRejectionNotice),
	}
	// knownStatuses are the codes a recipient answers a letter with.
	knownStatuses = []string{"01", "02", "03", "04", "05", "06", "15", "16"}
	knownReasons  = []string{
		bus.RejectMalformed, bus.RejectInvalid, bus.RejectTooLarge, bus.RejectHeaderMismatch,
		bus.RejectUnknownSender, bus.RejectUnknownRecipient, bus.RejectUnknownDocument,
		bus.RejectNotParticipant, bus.RejectStatusDirection, bus.RejectUnknownEdge, bus.RejectBadNotice,
		bus.RejectWrongEdge, bus.RejectSignerNotBound, bus.RejectVerificationError,
		string(signing.ReasonNoSignature), string(signing.ReasonMalformed), string(signing.ReasonTooLarge),
		string(signing.ReasonAlgorithmNotAllowed), string(signing.ReasonDigestMismatch),
		string(signing.ReasonBadSignature), string(signing.ReasonWrapped), string(signing.ReasonUntrustedChain),
		string(signing.ReasonExpired), string(signing.ReasonNotYetValid), string(signing.ReasonRevoked),
		string(signing.ReasonCRLUnavailable), string(signing.ReasonKeyUsage),
		string(signing.ReasonLegacySignature), string(signing.ReasonSignerNotBound),
	}
)

// Axis holds the axis metrics. Its methods are safe for concurrent use.
type Axis struct {
	packages     *prometheus.CounterVec // type, outcome
	rejections   *prometheus.CounterVec // reason
	deliveries   *prometheus.CounterVec // edge, kind
	deadLetters  prometheus.Counter
	receipts     prometheus.Counter
	checkpoint   prometheus.Gauge
	receiptBatch prometheus.Histogram
	lastAccepted atomic.Int64             // Unix nanoseconds; 0 until the first acceptance
	accept       *prometheus.HistogramVec // type
	delivery     *prometheus.HistogramVec // type
	answer       *prometheus.HistogramVec // status

	types, reasons, statuses *labeler
}

// NewAxis creates the axis metrics and registers them with reg; a nil reg
// leaves them unregistered. Like prometheus.MustRegister it panics if reg
// already holds metrics of the same names: that is a wiring bug, found at
// start-up.
func NewAxis(reg prometheus.Registerer) *Axis {
	a := &Axis{
		packages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "truc_axis_packages_total",
			Help: "Packages the axis handled on the submit topic, by message type and outcome (accepted, rejected, duplicate).",
		}, []string{"type", "outcome"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "truc_axis_rejections_total",
			Help: "Packages the axis rejected, by reason code.",
		}, []string{"reason"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "truc_axis_deliveries_total",
			Help: "Packages the axis published to an edge's inbox, by edge and kind (first, redelivery).",
		}, []string{"edge", "kind"}),
		deadLetters: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "truc_axis_dead_letters_total",
			Help: "Records the axis sent to the dead-letter topic.",
		}),
		receipts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "truc_axis_receipts_total",
			Help: "Receipts the axis sent after a signed checkpoint covered them.",
		}),
		checkpoint: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "truc_axis_checkpoint_size",
			Help: "Tree size of the latest checkpoint the axis sent receipts under.",
		}),
		receiptBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "truc_axis_receipt_batch_seconds",
			Help:    "Time to sign a checkpoint and send the receipts it covers, per batch.",
			Buckets: latencyBuckets,
		}),
		accept: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "truc_axis_accept_seconds",
			Help:    "From the sending edge's publish (the record's timestamp) to the axis recording the package accepted, by message type.",
			Buckets: transitBuckets,
		}, []string{"type"}),
		delivery: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "truc_axis_delivery_seconds",
			Help:    "From the axis recording a package to its first publish to a recipient edge's inbox, per route, by message type.",
			Buckets: transitBuckets,
		}, []string{"type"}),
		answer: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "truc_axis_status_seconds",
			Help:    "From the delivery of a document to a recipient's edge to the axis recording that recipient's status about it, by status code.",
			Buckets: answerBuckets,
		}, []string{"status"}),
		types:    newLabeler(knownTypes, 0),
		reasons:  newLabeler(knownReasons, MaxLabelValues),
		statuses: newLabeler(knownStatuses, 0),
	}
	lastAccepted := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "truc_axis_last_accepted_timestamp_seconds",
		Help: "Unix time of the latest package the axis accepted; 0 before the first.",
	}, func() float64 { return float64(a.lastAccepted.Load()) / 1e9 })
	// Every series a query may name exists from the start, so that the
	// first event is an increase and not a new series.
	for _, t := range []bus.Type{bus.TypeDocument, bus.TypeStatus} {
		for _, o := range []string{"accepted", "rejected", "duplicate"} {
			a.packages.WithLabelValues(string(t), o)
		}
		a.accept.WithLabelValues(string(t))
		a.delivery.WithLabelValues(string(t))
	}
	a.delivery.WithLabelValues(string(bus.TypeRejection))
	for _, r := range knownReasons {
		a.rejections.WithLabelValues(r)
	}
	for _, s := range knownStatuses {
		a.answer.WithLabelValues(s)
	}
	register(reg, a.packages, a.rejections, a.deliveries, a.deadLetters, a.receipts, a.checkpoint, a.receiptBatch, lastAccepted,
		a.accept, a.delivery, a.answer)
	return a
}

// Hooks returns hooks for bus.AxisConfig.Hooks that update these metrics.
// Every hook is set.
func (a *Axis) Hooks() bus.AxisHooks {
	return bus.AxisHooks{
		Accepted: func(t bus.Type, at time.Time) {
			a.packages.WithLabelValues(a.types.label(string(t)), "accepted").Inc()
			storeMax(&a.lastAccepted, at.UnixNano())
		},
		Rejected: func(t bus.Type, reason string) {
			a.packages.WithLabelValues(a.types.label(string(t)), "rejected").Inc()
			a.rejections.WithLabelValues(a.reasons.label(reason)).Inc()
		},
		Delivered: func(edge string, redelivery bool) {
			kind := "first"
			if redelivery {
				kind = "redelivery"
			}
			if !utf8.ValidString(edge) {
				edge = Other // WithLabelValues panics on invalid UTF-8
			}
			a.deliveries.WithLabelValues(edge, kind).Inc()
		},
		Duplicate: func(t bus.Type) {
			a.packages.WithLabelValues(a.types.label(string(t)), "duplicate").Inc()
		},
		DeadLetter: func(string) { a.deadLetters.Inc() },
		Receipts: func(n int, checkpoint int64, d time.Duration) {
			a.receipts.Add(float64(max(n, 0)))
			a.checkpoint.Set(float64(checkpoint))
			a.receiptBatch.Observe(d.Seconds())
		},
		Recorded: func(t bus.Type, published, at time.Time) {
			a.accept.WithLabelValues(a.types.label(string(t))).Observe(seconds(published, at))
		},
		Routed: func(t bus.Type, _ string, recorded, at time.Time) {
			a.delivery.WithLabelValues(a.types.label(string(t))).Observe(seconds(recorded, at))
		},
		Answered: func(status string, delivered, at time.Time) {
			a.answer.WithLabelValues(a.statuses.label(status)).Observe(seconds(delivered, at))
		},
	}
}

// seconds returns the seconds from a to b, 0 if b is not after a (clocks
// of two nodes disagree, or a time is missing).
func seconds(a, b time.Time) float64 {
	if a.IsZero() || b.IsZero() || !b.After(a) {
		return 0
	}
	return b.Sub(a).Seconds()
}

// storeMax raises *p to v if v is larger.
func storeMax(p *atomic.Int64, v int64) {
	for {
		old := p.Load()
		if v <= old || p.CompareAndSwap(old, v) {
			return
		}
	}
}

// Edge holds the edge metrics. Its methods are safe for concurrent use.
type Edge struct {
	submitted *prometheus.CounterVec // type
	published prometheus.Counter
	publish   prometheus.Histogram
	received  *prometheus.CounterVec   // type, duplicate
	refused   *prometheus.CounterVec   // reason
	receipts  *prometheus.CounterVec   // kind
	accept    *prometheus.HistogramVec // type

	types, kinds, reasons *labeler
}

// NewEdge creates the edge metrics and registers them with reg; a nil reg
// leaves them unregistered. It panics as NewAxis does.
func NewEdge(reg prometheus.Registerer) *Edge {
	e := &Edge{
		submitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "truc_edge_submitted_total",
			Help: "Packages the edge queued in its outbox from its DMS, by message type.",
		}, []string{"type"}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "truc_edge_published_total",
			Help: "Outbox entries the edge published to the submit topic, resends included.",
		}),
		publish: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "truc_edge_publish_seconds",
			Help:    "Time to publish one batch of outbox entries and mark them sent.",
			Buckets: latencyBuckets,
		}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "truc_edge_received_total",
			Help: "Packages that arrived on the edge's inbox topic, by message type and whether the edge had them already.",
		}, []string{"type", "duplicate"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "truc_edge_refused_total",
			Help: "Incoming packages the edge refused with a rejection notice, by reason code.",
		}, []string{"reason"}),
		receipts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "truc_edge_receipts_total",
			Help: "Verified axis receipts the edge received, by event kind.",
		}, []string{"kind"}),
		accept: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "truc_edge_accept_seconds",
			Help:    "From the DMS submitting a package to the edge receiving the axis's receipt that accepted it, by message type.",
			Buckets: transitBuckets,
		}, []string{"type"}),
		types:   newLabeler(knownTypes, 0),
		kinds:   newLabeler(knownKinds, 0),
		reasons: newLabeler(knownReasons, MaxLabelValues),
	}
	for _, t := range []bus.Type{bus.TypeDocument, bus.TypeStatus} {
		e.submitted.WithLabelValues(string(t))
		e.received.WithLabelValues(string(t), "false")
		e.received.WithLabelValues(string(t), "true")
		e.accept.WithLabelValues(string(t))
	}
	for _, k := range knownKinds {
		e.receipts.WithLabelValues(k)
	}
	for _, r := range knownReasons {
		e.refused.WithLabelValues(r)
	}
	register(reg, e.submitted, e.published, e.publish, e.received, e.refused, e.receipts, e.accept)
	return e
}

// Hooks returns hooks for bus.EdgeConfig.Hooks that update these metrics.
// Every hook is set.
func (e *Edge) Hooks() bus.EdgeHooks {
	return bus.EdgeHooks{
		Submitted: func(t bus.Type) { e.submitted.WithLabelValues(e.types.label(string(t))).Inc() },
		Published: func(n int, d time.Duration) {
			e.published.Add(float64(max(n, 0)))
			e.publish.Observe(d.Seconds())
		},
		Received: func(t bus.Type, duplicate bool) {
			dup := "false"
			if duplicate {
				dup = "true"
			}
			e.received.WithLabelValues(e.types.label(string(t)), dup).Inc()
		},
		Refused: func(reason string) { e.refused.WithLabelValues(e.reasons.label(reason)).Inc() },
		Receipt: func(kind bus.EventKind) { e.receipts.WithLabelValues(e.kinds.label(string(kind))).Inc() },
		Settled: func(t bus.Type, accepted bool, submitted, at time.Time) {
			if accepted {
				e.accept.WithLabelValues(e.types.label(string(t))).Observe(seconds(submitted, at))
			}
		},
	}
}

func register(reg prometheus.Registerer, cs ...prometheus.Collector) {
	if reg != nil {
		reg.MustRegister(cs...)
	}
}

// labeler maps the values a hook reports to a bounded set of label values:
// the known values always, then up to max-len(known) other well-formed
// codes ([a-z][a-z0-9-]*, at most 64 bytes) in the order they first occur,
// and Other for the rest.
type labeler struct {
	known map[string]bool
	extra int // how many other values may be admitted

	mu       sync.RWMutex
	admitted map[string]bool
}

func newLabeler(known []string, max int) *labeler {
	l := &labeler{known: make(map[string]bool, len(known)), admitted: map[string]bool{}}
	for _, k := range known {
		l.known[k] = true
	}
	l.extra = max - len(l.known)
	return l
}

func (l *labeler) label(v string) string {
	if l.known[v] {
		return v
	}
	if l.extra <= 0 || !isCode(v) {
		return Other
	}
	l.mu.RLock()
	ok := l.admitted[v]
	l.mu.RUnlock()
	if ok {
		return v
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.admitted[v] {
		return v
	}
	if len(l.admitted) >= l.extra {
		return Other
	}
	l.admitted[v] = true
	return v
}

// isCode reports whether v has the shape of a reason code (bus.Event.Reason
// rules).
func isCode(v string) bool {
	if v == "" || len(v) > 64 || v[0] < 'a' || v[0] > 'z' {
		return false
	}
	for i := 1; i < len(v); i++ {
		if c := v[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// NewRegistry returns a new registry, never the global default, holding the
// Go runtime and process collectors and truc_build_info{version,goversion}
// with value 1. An empty version is taken from the binary's build
// information ("(devel)" for a local build), else "unknown".
func NewRegistry(version string) *prometheus.Registry {
	if version == "" {
		version = "unknown"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
			version = bi.Main.Version
		}
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "truc_build_info",
		Help:        "Always 1; the labels name the truc version and the Go toolchain that built it.",
		ConstLabels: prometheus.Labels{"version": strings.ToValidUTF8(version, "\uFFFD"), "goversion": runtime.Version()},
	})
	info.Set(1)
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		info,
	)
	return reg
}

// StoreStats is what NewStoreStatsCollector reads from a store at every
// scrape: boltstore.Store.CommitStats adapts to it.
type StoreStats struct {
	Commits  int64 // read-write transactions committed since the store opened
	Requests int64 // write requests those transactions committed
	// CommitTime is the total time of those commits; Buckets their
	// histogram: for each upper bound, how many took at most that long
	// (cumulative). Without Buckets, truc_store_commit_seconds is not
	// reported.
	CommitTime time.Duration
	Buckets    []Bucket
}

// Bucket is one bucket of a cumulative histogram.
type Bucket struct {
	UpperBound time.Duration
	Count      int64
}

// NewStoreCollector returns a collector that calls stats at every scrape and
// reports truc_store_commits_total and truc_store_commit_requests_total.
// It is NewStoreStatsCollector without the commit time histogram.
func NewStoreCollector(stats func() (commits, requests int64)) prometheus.Collector {
	if stats == nil {
		panic("metrics: NewStoreCollector: nil stats function")
	}
	return NewStoreStatsCollector(func() StoreStats {
		c, r := stats()
		return StoreStats{Commits: c, Requests: r}
	})
}

// NewStoreStatsCollector returns a collector that calls stats at every
// scrape and reports truc_store_commits_total,
// truc_store_commit_requests_total and the histogram
// truc_store_commit_seconds. stats must be quick and safe for concurrent
// use; a nil stats panics here rather than at the first scrape.
func NewStoreStatsCollector(stats func() StoreStats) prometheus.Collector {
	if stats == nil {
		panic("metrics: NewStoreStatsCollector: nil stats function")
	}
	return &storeCollector{
		stats: stats,
		commits: prometheus.NewDesc("truc_store_commits_total",
			"Read-write transactions the store committed since it opened (each one pair of fsyncs).", nil, nil),
		requests: prometheus.NewDesc("truc_store_commit_requests_total",
			"Write requests those transactions committed; divided by truc_store_commits_total, the mean batch size.", nil, nil),
		commitTime: prometheus.NewDesc("truc_store_commit_seconds",
			"Time of each commit of the store, from the start of its transaction to the end of its fsync.", nil, nil),
	}
}

type storeCollector struct {
	stats                         func() StoreStats
	commits, requests, commitTime *prometheus.Desc
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.commits
	ch <- c.requests
	ch <- c.commitTime
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	ch <- prometheus.MustNewConstMetric(c.commits, prometheus.CounterValue, float64(st.Commits))
	ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(st.Requests))
	if len(st.Buckets) == 0 {
		return
	}
	buckets := make(map[float64]uint64, len(st.Buckets))
	for _, b := range st.Buckets {
		buckets[b.UpperBound.Seconds()] = uint64(max(min(b.Count, st.Commits), 0))
	}
	ch <- prometheus.MustNewConstHistogram(c.commitTime, uint64(max(st.Commits, 0)), st.CommitTime.Seconds(), buckets)
}

// LogStatusFunc reads the transparency log: its size in leaves, the size
// covered by the latest signed checkpoint and when that checkpoint was
// signed (0 and the zero time if there is none). boltstore.Log.Status
// adapts to it.
type LogStatusFunc func(ctx context.Context) (size, checkpointSize int64, signedAt time.Time, err error)

// NewLogCollector returns a collector that calls status at every scrape,
// with a deadline of LogStatusTimeout, and reports truc_log_size,
// truc_log_checkpoint_size and truc_log_checkpoint_age_seconds (now minus
// the signing time; absent while there is no checkpoint). now is the
// clock; nil means time.Now. A nil status panics here rather than at the
// first scrape.
//
// When status fails, the scrape carries the error instead of the three
// series: promhttp (as Ops serves it) logs it, counts it in
// promhttp_metric_handler_errors_total{cause="gathering"} and serves the
// other metrics.
func NewLogCollector(status LogStatusFunc, now func() time.Time) prometheus.Collector {
	if status == nil {
		panic("metrics: NewLogCollector: nil status function")
	}
	if now == nil {
		now = time.Now
	}
	return &logCollector{
		status: status,
		now:    now,
		size:   prometheus.NewDesc("truc_log_size", "Leaves in the transparency log.", nil, nil),
		cpSize: prometheus.NewDesc("truc_log_checkpoint_size", "Leaves covered by the latest signed checkpoint; 0 if none.", nil, nil),
		cpAge:  prometheus.NewDesc("truc_log_checkpoint_age_seconds", "Seconds since the latest checkpoint was signed; absent if none.", nil, nil),
	}
}

type logCollector struct {
	status              LogStatusFunc
	now                 func() time.Time
	size, cpSize, cpAge *prometheus.Desc
}

func (c *logCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.size
	ch <- c.cpSize
	ch <- c.cpAge
}

func (c *logCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), LogStatusTimeout)
	defer cancel()
	size, cpSize, signedAt, err := c.status(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.size, fmt.Errorf("reading the transparency log status: %w", err))
		return
	}
	ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(size))
	ch <- prometheus.MustNewConstMetric(c.cpSize, prometheus.GaugeValue, float64(cpSize))
	if !signedAt.IsZero() {
		age := c.now().Sub(signedAt).Seconds()
		ch <- prometheus.MustNewConstMetric(c.cpAge, prometheus.GaugeValue, math.Max(age, 0))
	}
}

// sanitizeText makes s safe to show in a one-line text/plain answer: the
// first line only, control characters replaced, valid UTF-8, at most n
// bytes.
func sanitizeText(s string, n int) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
