package metrics_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"truc.vn/truc/adapters/boltstore"
	"truc.vn/truc/adapters/metrics"
	"truc.vn/truc/bus"
)

var pendingT0 = time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)

func openStore(t testing.TB) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "truc.db"), boltstore.Config{Now: func() time.Time { return pendingT0 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func rootKey(t testing.TB, sender, doc string) string {
	t.Helper()
	k, err := bus.RootKey(sender, doc)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// recordDocument records an accepted document at at with one route per
// edge, one recipient each.
func recordDocument(t testing.TB, l bus.Ledger, n int, at time.Time, edges ...string) bus.Entry {
	t.Helper()
	pkg := fmt.Appendf(nil, "<edXML document %d>", n)
	sha := sha256.Sum256(pkg)
	e := bus.Entry{
		SHA256: sha, MessageID: fmt.Sprintf("msg-%d", n), Type: bus.TypeDocument,
		Key: rootKey(t, "000.00.00.G22", fmt.Sprintf("doc-%d", n)), Sender: "000.00.00.G22", FromEdge: "edge-sender",
		At: at, Size: len(pkg), DocType: "0",
	}
	for i, edge := range edges {
		r := fmt.Sprintf("000.00.%02d.H%02d", n, i)
		e.Recipients = append(e.Recipients, r)
		e.Routes = append(e.Routes, bus.Route{Edge: edge, Recipients: []string{r}, State: bus.RoutePending, Leaf: -1})
	}
	ev := bus.Event{Kind: bus.EventSubmissionAccepted, Time: at, MessageID: e.MessageID, PackageSHA256: sha, Sender: e.Sender, Recipients: e.Recipients}
	stored, _, err := l.Record(t.Context(), e, pkg, ev)
	if err != nil {
		t.Fatal(err)
	}
	return stored
}

func deliver(t testing.TB, l bus.Ledger, e bus.Entry, edge string, at time.Time) {
	t.Helper()
	for _, r := range e.Routes {
		if r.Edge == edge {
			ev := bus.Event{Kind: bus.EventDelivered, Time: at, MessageID: e.MessageID, PackageSHA256: e.SHA256, Sender: e.Sender, Recipients: r.Recipients, Edge: edge}
			if _, err := l.Delivered(t.Context(), e.SHA256, edge, ev, at); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestAxisPendingCollector(t *testing.T) {
	s := openStore(t)
	l := s.Ledger()
	now := pendingT0.Add(time.Hour)
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewAxisPendingCollector(l, func() []string { return []string{"edge-a", "edge-b", "edge-quiet"} },
		func() time.Time { return now }))

	if got := series(t, reg); got[`truc_axis_routes_unacked{edge="edge-quiet"}`] != 0 ||
		got[`truc_axis_unacked_oldest_seconds{edge="edge-a"}`] != 0 || len(got) != 6 {
		t.Errorf("empty ledger: %v, want 0 for each of the 3 edges", got)
	}

	d1 := recordDocument(t, l, 1, pendingT0, "edge-a", "edge-b")                     // 60 min ago
	d2 := recordDocument(t, l, 2, pendingT0.Add(30*time.Minute), "edge-a")           // 30 min ago
	d3 := recordDocument(t, l, 3, pendingT0.Add(50*time.Minute), "edge-b", "edge-c") // edge-c: not in the list
	deliver(t, l, d1, "edge-a", pendingT0.Add(time.Second))
	deliver(t, l, d1, "edge-b", pendingT0.Add(time.Second))
	deliver(t, l, d2, "edge-a", pendingT0.Add(31*time.Minute))
	if _, err := l.Acked(t.Context(), d1.SHA256, "edge-a", "", pendingT0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	_ = d3 // pending on both routes: never published

	got := series(t, reg)
	want := map[string]float64{
		`truc_axis_routes_unacked{edge="edge-a"}`:             1, // d2 (d1 acked)
		`truc_axis_routes_unacked{edge="edge-b"}`:             2, // d1 delivered, d3 pending
		`truc_axis_routes_unacked{edge="edge-c"}`:             1,
		`truc_axis_routes_unacked{edge="edge-quiet"}`:         0,
		`truc_axis_unacked_oldest_seconds{edge="edge-a"}`:     1800,
		`truc_axis_unacked_oldest_seconds{edge="edge-b"}`:     3600,
		`truc_axis_unacked_oldest_seconds{edge="edge-c"}`:     600,
		`truc_axis_unacked_oldest_seconds{edge="edge-quiet"}`: 0,
	}
	checkSeries(t, got, want)

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Gather(); err == nil {
		t.Error("a closed ledger: no gather error")
	}
}

func checkSeries(t *testing.T, got, want map[string]float64) {
	t.Helper()
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			t.Errorf("%s = %g (present %v), want %g", k, g, ok, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected series %s = %g", k, got[k])
		}
	}
}

func outboxDoc(t testing.TB, n int, created time.Time) bus.OutboxEntry {
	t.Helper()
	pkg := fmt.Appendf(nil, "<edXML outbox %d>", n)
	return bus.OutboxEntry{
		Message: bus.Message{
			ID: fmt.Sprintf("edge-a.out.%d", n), Type: bus.TypeDocument, Key: rootKey(t, "000.00.00.G22", fmt.Sprintf("doc-%d", n)),
			Sender: "000.00.00.G22", Recipients: []string{"000.00.00.H41"}, SHA256: sha256.Sum256(pkg), Package: pkg,
		},
		CreatedAt: created,
	}
}

func inboxItem(t testing.TB, n int, received time.Time) (bus.InboxItem, []byte) {
	t.Helper()
	pkg := fmt.Appendf(nil, "<edXML inbox %d>", n)
	return bus.InboxItem{
		SHA256: sha256.Sum256(pkg), MessageID: fmt.Sprintf("edge-b.msg.%d", n), Type: bus.TypeDocument,
		Key: rootKey(t, "000.00.00.H41", fmt.Sprintf("in-%d", n)), Sender: "000.00.00.H41", Recipients: []string{"000.00.00.G22"},
		ReceivedAt: received,
	}, pkg
}

func TestEdgePendingCollector(t *testing.T) {
	s := openStore(t)
	es := s.Edge()
	ctx := t.Context()
	now := pendingT0.Add(time.Hour)
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewEdgePendingCollector(es, func() time.Time { return now }))

	checkSeries(t, series(t, reg), map[string]float64{
		"truc_edge_outbox_unsettled": 0, "truc_edge_outbox_oldest_unsettled_seconds": 0,
		"truc_edge_inbox_untaken": 0, "truc_edge_inbox_oldest_untaken_seconds": 0,
	})

	var shas [][32]byte
	for i, created := range []time.Time{pendingT0, pendingT0.Add(10 * time.Minute), pendingT0.Add(20 * time.Minute)} {
		e, _, err := es.Put(ctx, outboxDoc(t, i, created))
		if err != nil {
			t.Fatal(err)
		}
		shas = append(shas, e.Message.SHA256)
	}
	// The oldest is sent and settled; the second sent, not settled; the
	// third never sent.
	if err := es.MarkSent(ctx, []string{"edge-a.out.0", "edge-a.out.1"}, pendingT0.Add(25*time.Minute)); err != nil {
		t.Fatal(err)
	}
	ev := bus.TimelineEvent{Kind: bus.TimelineAccepted, At: pendingT0.Add(26 * time.Minute), SHA256: hex.EncodeToString(shas[0][:])}
	if err := es.Settle(ctx, shas[0], ev, pendingT0.Add(26*time.Minute)); err != nil {
		t.Fatal(err)
	}

	var ids []string
	for i, received := range []time.Time{pendingT0.Add(5 * time.Minute), pendingT0.Add(15 * time.Minute), pendingT0.Add(45 * time.Minute)} {
		item, pkg := inboxItem(t, i, received)
		stored, _, err := es.Receive(ctx, item, pkg, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, stored.ID)
	}
	if _, err := es.Take(ctx, ids[0], bus.Taking{At: pendingT0.Add(50 * time.Minute)}); err != nil {
		t.Fatal(err)
	}

	checkSeries(t, series(t, reg), map[string]float64{
		"truc_edge_outbox_unsettled":                2,
		"truc_edge_outbox_oldest_unsettled_seconds": 3000, // entry 1, created at +10m
		"truc_edge_inbox_untaken":                   2,
		"truc_edge_inbox_oldest_untaken_seconds":    2700, // item 1, received at +15m
	})
}

// TestEdgePendingInboxWindow checks that the inbox count looks at the
// newest InboxWindow items only, and pages through them.
func TestEdgePendingInboxWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("stores more than InboxWindow items")
	}
	s := openStore(t)
	es := s.Edge()
	ctx := t.Context()
	const extra = 5
	total := metrics.InboxWindow + extra
	// Receive concurrently: the store batches concurrent commits.
	errs := make(chan error, total)
	sem := make(chan struct{}, 64)
	for i := range total {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			item, pkg := inboxItem(t, i, pendingT0.Add(time.Duration(i)*time.Second))
			_, _, err := es.Receive(ctx, item, pkg, nil)
			errs <- err
		}()
	}
	for range total {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewEdgePendingCollector(es, func() time.Time { return pendingT0.Add(24 * time.Hour) }))
	if got := series(t, reg)["truc_edge_inbox_untaken"]; got != metrics.InboxWindow {
		t.Errorf("truc_edge_inbox_untaken = %g, want %d (the window)", got, metrics.InboxWindow)
	}
}

func TestConsumerLagCollector(t *testing.T) {
	lags := []metrics.PartitionLag{
		{Topic: "truc.submit", Partition: 0, Lag: 3},
		{Topic: "truc.submit", Partition: 1, Lag: 0},
		{Topic: "truc.submit", Partition: 1, Lag: 9}, // listed twice: the first counts
		{Topic: "truc.inbox.edge-a", Partition: 0, Lag: -2},
		{Topic: "bad\xff", Partition: 0, Lag: 1},
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewConsumerLagCollector(func() []metrics.PartitionLag { return lags }))
	checkSeries(t, series(t, reg), map[string]float64{
		`truc_kafka_consumer_lag{partition="0",topic="truc.submit"}`:       3,
		`truc_kafka_consumer_lag{partition="1",topic="truc.submit"}`:       0,
		`truc_kafka_consumer_lag{partition="0",topic="truc.inbox.edge-a"}`: 0,
	})
}
