package metrics

import (
	"context"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"truc.vn/truc/bus"
)

// Bounds of the scrape-time scans of the pending collectors: a scrape reads
// at most this many routes, outbox entries or inbox items. Past them the
// gauges saturate (see the package Caveats). A route or an item costs
// tens of microseconds to read (see BENCHMARKS.md): these keep a scrape
// under about a tenth of a second at worst.
const (
	PendingLimit = 2000
	InboxWindow  = 5000
)

// PendingTimeout bounds the store reads of one scrape of a pending
// collector.
const PendingTimeout = 5 * time.Second

// DueLister lists the routes the axis has published without an ack, or not
// published yet: bus.Ledger's Due.
type DueLister interface {
	Due(ctx context.Context, sentBefore time.Time, limit int) ([]bus.Redelivery, error)
}

// NewAxisPendingCollector returns a collector that reads, at every scrape,
// the axis's routes not acknowledged by their edge (pending, or delivered
// and not acked, whose package is still kept) and reports, per edge,
// truc_axis_routes_unacked and truc_axis_unacked_oldest_seconds (seconds
// since the axis recorded the package of the oldest one; 0 when there is
// none). edges lists the edges of the directory, which get a series even
// with nothing pending; nil means only edges with pending routes. now is
// the clock (nil: time.Now). A scrape reads at most PendingLimit routes.
func NewAxisPendingCollector(l DueLister, edges func() []string, now func() time.Time) prometheus.Collector {
	if l == nil {
		panic("metrics: NewAxisPendingCollector: nil lister")
	}
	if now == nil {
		now = time.Now
	}
	return &axisPending{
		due: l, edges: edges, now: now,
		unacked: prometheus.NewDesc("truc_axis_routes_unacked",
			"Routes (a package for one recipient edge) the axis recorded and the edge has not acknowledged, by edge; saturates at "+fmt.Sprint(PendingLimit)+".",
			[]string{"edge"}, nil),
		oldest: prometheus.NewDesc("truc_axis_unacked_oldest_seconds",
			"Seconds since the axis recorded the package of the oldest unacknowledged route to the edge; 0 when there is none.",
			[]string{"edge"}, nil),
	}
}

type axisPending struct {
	due             DueLister
	edges           func() []string
	now             func() time.Time
	unacked, oldest *prometheus.Desc
}

func (c *axisPending) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.unacked
	ch <- c.oldest
}

func (c *axisPending) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), PendingTimeout)
	defer cancel()
	now := c.now()
	// Every SentAt is before now; a day of margin covers a clock stepped
	// back since.
	due, err := c.due.Due(ctx, now.Add(24*time.Hour), PendingLimit)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.unacked, fmt.Errorf("listing unacknowledged routes: %w", err))
		return
	}
	type edgeState struct {
		n      int
		oldest time.Time
	}
	byEdge := map[string]*edgeState{}
	if c.edges != nil {
		for _, e := range c.edges() {
			byEdge[e] = &edgeState{}
		}
	}
	for _, rd := range due {
		st := byEdge[rd.Edge]
		if st == nil {
			st = &edgeState{}
			byEdge[rd.Edge] = st
		}
		st.n++
		if at := rd.Entry.At; !at.IsZero() && (st.oldest.IsZero() || at.Before(st.oldest)) {
			st.oldest = at
		}
	}
	for edge, st := range byEdge {
		if !utf8.ValidString(edge) {
			continue // the client library panics on invalid UTF-8; a directory never holds such an ID
		}
		ch <- prometheus.MustNewConstMetric(c.unacked, prometheus.GaugeValue, float64(st.n), edge)
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age(st.oldest, now), edge)
	}
}

// age returns the seconds from t to now, 0 for a zero t or one in the
// future.
func age(t, now time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return math.Max(now.Sub(t).Seconds(), 0)
}

// EdgeQueues is what NewEdgePendingCollector reads: the methods of
// bus.EdgeStore it needs.
type EdgeQueues interface {
	Unsettled(ctx context.Context, sentBefore time.Time, limit int) ([]bus.OutboxEntry, error)
	LastSeq(ctx context.Context) (uint64, error)
	Inbox(ctx context.Context, after uint64, limit int) ([]bus.InboxItem, error)
}

// NewEdgePendingCollector returns a collector that reads, at every scrape,
// the edge's outbox entries the axis has not receipted yet and the inbox
// items no DMS has taken yet, and reports truc_edge_outbox_unsettled,
// truc_edge_outbox_oldest_unsettled_seconds, truc_edge_inbox_untaken and
// truc_edge_inbox_oldest_untaken_seconds. now is the clock (nil:
// time.Now).
//
// The outbox count reads at most PendingLimit entries through Unsettled
// (which also stops once it loaded boltstore.UnsettledBudget bytes of
// packages); the inbox count looks at the newest InboxWindow items only.
func NewEdgePendingCollector(q EdgeQueues, now func() time.Time) prometheus.Collector {
	if q == nil {
		panic("metrics: NewEdgePendingCollector: nil queues")
	}
	if now == nil {
		now = time.Now
	}
	return &edgePending{
		q: q, now: now,
		unsettled: prometheus.NewDesc("truc_edge_outbox_unsettled",
			"Outbox entries (documents and statuses) the axis has not receipted yet; saturates at "+fmt.Sprint(PendingLimit)+".", nil, nil),
		oldestUnsettled: prometheus.NewDesc("truc_edge_outbox_oldest_unsettled_seconds",
			"Seconds since the DMS submitted the oldest outbox entry the axis has not receipted yet; 0 when there is none.", nil, nil),
		untaken: prometheus.NewDesc("truc_edge_inbox_untaken",
			"Inbox items no DMS has taken yet, among the newest "+fmt.Sprint(InboxWindow)+".", nil, nil),
		oldestUntaken: prometheus.NewDesc("truc_edge_inbox_oldest_untaken_seconds",
			"Seconds since the oldest of those items arrived; 0 when there is none.", nil, nil),
	}
}

type edgePending struct {
	q                                                  EdgeQueues
	now                                                func() time.Time
	unsettled, oldestUnsettled, untaken, oldestUntaken *prometheus.Desc
}

func (c *edgePending) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.unsettled
	ch <- c.oldestUnsettled
	ch <- c.untaken
	ch <- c.oldestUntaken
}

func (c *edgePending) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), PendingTimeout)
	defer cancel()
	now := c.now()
	if out, err := c.q.Unsettled(ctx, now.Add(24*time.Hour), PendingLimit); err != nil {
		ch <- prometheus.NewInvalidMetric(c.unsettled, fmt.Errorf("listing unsettled outbox entries: %w", err))
	} else {
		var oldest time.Time
		for _, e := range out {
			if oldest.IsZero() || e.CreatedAt.Before(oldest) {
				oldest = e.CreatedAt
			}
		}
		ch <- prometheus.MustNewConstMetric(c.unsettled, prometheus.GaugeValue, float64(len(out)))
		ch <- prometheus.MustNewConstMetric(c.oldestUnsettled, prometheus.GaugeValue, age(oldest, now))
	}
	n, oldest, err := c.untakenItems(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.untaken, fmt.Errorf("reading the inbox: %w", err))
		return
	}
	ch <- prometheus.MustNewConstMetric(c.untaken, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(c.oldestUntaken, prometheus.GaugeValue, age(oldest, now))
}

// untakenItems counts the items among the newest InboxWindow that no DMS
// has taken, and returns when the oldest of them arrived.
func (c *edgePending) untakenItems(ctx context.Context) (int, time.Time, error) {
	last, err := c.q.LastSeq(ctx)
	if err != nil {
		return 0, time.Time{}, err
	}
	after := uint64(0)
	if last > InboxWindow {
		after = last - InboxWindow
	}
	n := 0
	var oldest time.Time
	for after < last {
		items, err := c.q.Inbox(ctx, after, min(1000, InboxWindow))
		if err != nil {
			return 0, time.Time{}, err
		}
		if len(items) == 0 {
			break
		}
		for _, it := range items {
			if it.TakenAt.IsZero() {
				n++
				if oldest.IsZero() || it.ReceivedAt.Before(oldest) {
					oldest = it.ReceivedAt
				}
			}
		}
		after = items[len(items)-1].Seq
	}
	return n, oldest, nil
}

// PartitionLag is how far a consumer is behind on one partition
// (kafka.Transport.ConsumerLag adapts to it).
type PartitionLag struct {
	Topic     string
	Partition int
	Lag       int64 // records between the next one to handle and the end of the partition
}

// NewConsumerLagCollector returns a collector that calls lags at every
// scrape and reports truc_kafka_consumer_lag{topic,partition} for every
// partition this process consumes now. lags must be quick and safe for
// concurrent use, and list each topic and partition once.
func NewConsumerLagCollector(lags func() []PartitionLag) prometheus.Collector {
	if lags == nil {
		panic("metrics: NewConsumerLagCollector: nil lags function")
	}
	return &lagCollector{lags: lags, desc: prometheus.NewDesc("truc_kafka_consumer_lag",
		"Records of the partition this process has not handled yet: from the next record to hand to the handler to the partition's end.",
		[]string{"topic", "partition"}, nil)}
}

type lagCollector struct {
	lags func() []PartitionLag
	desc *prometheus.Desc
}

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	seen := map[PartitionLag]bool{}
	for _, l := range c.lags() {
		k := PartitionLag{Topic: l.Topic, Partition: l.Partition}
		if seen[k] || !utf8.ValidString(l.Topic) {
			continue
		}
		seen[k] = true
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(max(l.Lag, 0)), l.Topic, fmt.Sprint(l.Partition))
	}
}
