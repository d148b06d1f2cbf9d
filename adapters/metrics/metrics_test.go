package metrics_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"truc.vn/truc/adapters/metrics"
	"truc.vn/truc/bus"
	"truc.vn/truc/signing/signingtest"
)

// series gathers every truc_ series of g as "name{k="v",...}" → value;
// a histogram gives name_count and name_sum.
func series(t *testing.T, g prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gathering: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "truc_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
			}
			sort.Strings(labels)
			key := mf.GetName()
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				name, rest, _ := strings.Cut(key, "{")
				if rest != "" {
					rest = "{" + rest
				}
				out[name+"_count"+rest] = float64(m.GetHistogram().GetSampleCount())
				out[name+"_sum"+rest] = m.GetHistogram().GetSampleSum()
			default:
				t.Fatalf("%s: unexpected type %s", mf.GetName(), mf.GetType())
			}
		}
	}
	return out
}

// moved returns the series whose value differs between before and after.
func moved(before, after map[string]float64) map[string]float64 {
	d := map[string]float64{}
	for k, v := range after {
		if v != before[k] {
			d[k] = v - before[k]
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			d[k] = -before[k]
		}
	}
	return d
}

func checkMoved(t *testing.T, got, want map[string]float64) {
	t.Helper()
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if w, ok := want[k]; !ok {
			t.Errorf("series %s moved by %g, want unchanged", k, got[k])
		} else if diff := got[k] - w; diff > 1e-9 || diff < -1e-9 {
			t.Errorf("series %s moved by %g, want %g", k, got[k], w)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if _, ok := got[k]; !ok {
			t.Errorf("series %s unchanged, want moved by %g", k, want[k])
		}
	}
}

func TestAxisHooks(t *testing.T) {
	at := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		call func(h bus.AxisHooks)
		want map[string]float64
	}{
		{"accepted document", func(h bus.AxisHooks) { h.Accepted(bus.TypeDocument, at) }, map[string]float64{
			`truc_axis_packages_total{outcome="accepted",type="document"}`: 1,
			`truc_axis_last_accepted_timestamp_seconds`:                    float64(at.Unix()),
		}},
		{"accepted status", func(h bus.AxisHooks) { h.Accepted(bus.TypeStatus, at) }, map[string]float64{
			`truc_axis_packages_total{outcome="accepted",type="status"}`: 1,
			`truc_axis_last_accepted_timestamp_seconds`:                  float64(at.Unix()),
		}},
		{"accepted out of order keeps the latest time", func(h bus.AxisHooks) {
			h.Accepted(bus.TypeDocument, at)
			h.Accepted(bus.TypeDocument, at.Add(-time.Hour))
		}, map[string]float64{
			`truc_axis_packages_total{outcome="accepted",type="document"}`: 2,
			`truc_axis_last_accepted_timestamp_seconds`:                    float64(at.Unix()),
		}},
		{"rejected with a signing reason", func(h bus.AxisHooks) { h.Rejected(bus.TypeDocument, "revoked") }, map[string]float64{
			`truc_axis_packages_total{outcome="rejected",type="document"}`: 1,
			`truc_axis_rejections_total{reason="revoked"}`:                 1,
		}},
		{"rejected with a bus reason", func(h bus.AxisHooks) { h.Rejected(bus.TypeStatus, bus.RejectNotParticipant) }, map[string]float64{
			`truc_axis_packages_total{outcome="rejected",type="status"}`: 1,
			`truc_axis_rejections_total{reason="not-a-participant"}`:     1,
		}},
		{"rejected with free text", func(h bus.AxisHooks) { h.Rejected(bus.TypeDocument, "Verify: boom\n") }, map[string]float64{
			`truc_axis_packages_total{outcome="rejected",type="document"}`: 1,
			`truc_axis_rejections_total{reason="other"}`:                   1,
		}},
		{"first delivery", func(h bus.AxisHooks) { h.Delivered("edge-hn", false) }, map[string]float64{
			`truc_axis_deliveries_total{edge="edge-hn",kind="first"}`: 1,
		}},
		{"redelivery", func(h bus.AxisHooks) { h.Delivered("edge-hcm", true) }, map[string]float64{
			`truc_axis_deliveries_total{edge="edge-hcm",kind="redelivery"}`: 1,
		}},
		{"delivery to an edge named in invalid UTF-8", func(h bus.AxisHooks) { h.Delivered("edge-\xff", false) }, map[string]float64{
			`truc_axis_deliveries_total{edge="other",kind="first"}`: 1,
		}},
		{"duplicate", func(h bus.AxisHooks) { h.Duplicate(bus.TypeDocument) }, map[string]float64{
			`truc_axis_packages_total{outcome="duplicate",type="document"}`: 1,
		}},
		{"duplicate rejection notice", func(h bus.AxisHooks) { h.Duplicate(bus.TypeRejection) }, map[string]float64{
			`truc_axis_packages_total{outcome="duplicate",type="rejection"}`: 1,
		}},
		{"unknown type", func(h bus.AxisHooks) { h.Duplicate(bus.Type("letter")) }, map[string]float64{
			`truc_axis_packages_total{outcome="duplicate",type="other"}`: 1,
		}},
		{"dead letter", func(h bus.AxisHooks) { h.DeadLetter("type \"x\" is not accepted on truc.submit") }, map[string]float64{
			`truc_axis_dead_letters_total`: 1,
		}},
		{"receipts", func(h bus.AxisHooks) { h.Receipts(3, 42, 30*time.Millisecond) }, map[string]float64{
			`truc_axis_receipts_total`:              3,
			`truc_axis_checkpoint_size`:             42,
			`truc_axis_receipt_batch_seconds_count`: 1,
			`truc_axis_receipt_batch_seconds_sum`:   0.03,
		}},
		{"recorded", func(h bus.AxisHooks) { h.Recorded(bus.TypeDocument, at.Add(-250*time.Millisecond), at) }, map[string]float64{
			`truc_axis_accept_seconds_count{type="document"}`: 1,
			`truc_axis_accept_seconds_sum{type="document"}`:   0.25,
		}},
		{"recorded before it was published: clocks apart", func(h bus.AxisHooks) { h.Recorded(bus.TypeStatus, at.Add(time.Second), at) }, map[string]float64{
			`truc_axis_accept_seconds_count{type="status"}`: 1,
		}},
		{"routed", func(h bus.AxisHooks) { h.Routed(bus.TypeDocument, "edge-hn", at, at.Add(40*time.Millisecond)) }, map[string]float64{
			`truc_axis_delivery_seconds_count{type="document"}`: 1,
			`truc_axis_delivery_seconds_sum{type="document"}`:   0.04,
		}},
		{"routed notice", func(h bus.AxisHooks) { h.Routed(bus.TypeRejection, "edge-hn", at, at.Add(time.Second)) }, map[string]float64{
			`truc_axis_delivery_seconds_count{type="rejection"}`: 1,
			`truc_axis_delivery_seconds_sum{type="rejection"}`:   1,
		}},
		{"answered 01", func(h bus.AxisHooks) { h.Answered("01", at, at.Add(90*time.Second)) }, map[string]float64{
			`truc_axis_status_seconds_count{status="01"}`: 1,
			`truc_axis_status_seconds_sum{status="01"}`:   90,
		}},
		{"answered 03", func(h bus.AxisHooks) { h.Answered("03", at, at.Add(26*time.Hour)) }, map[string]float64{
			`truc_axis_status_seconds_count{status="03"}`: 1,
			`truc_axis_status_seconds_sum{status="03"}`:   26 * 3600,
		}},
		{"answered with an unknown code", func(h bus.AxisHooks) { h.Answered("99", at, at.Add(time.Second)) }, map[string]float64{
			`truc_axis_status_seconds_count{status="other"}`: 1,
			`truc_axis_status_seconds_sum{status="other"}`:   1,
		}},
		{"receipts twice", func(h bus.AxisHooks) {
			h.Receipts(3, 42, 30*time.Millisecond)
			h.Receipts(2, 50, 20*time.Millisecond)
		}, map[string]float64{
			`truc_axis_receipts_total`:              5,
			`truc_axis_checkpoint_size`:             50,
			`truc_axis_receipt_batch_seconds_count`: 2,
			`truc_axis_receipt_batch_seconds_sum`:   0.05,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			h := metrics.NewAxis(reg).Hooks()
			before := series(t, reg)
			tt.call(h)
			checkMoved(t, moved(before, series(t, reg)), tt.want)
		})
	}
}

func TestAxisHooksAllSet(t *testing.T) {
	for _, hooks := range []any{metrics.NewAxis(nil).Hooks(), metrics.NewEdge(nil).Hooks()} {
		v := reflect.ValueOf(hooks)
		for i := range v.NumField() {
			// EdgeHooks.Checkpoint feeds the edge's witness, not a metric.
			if v.Type().Field(i).Name == "Checkpoint" {
				continue
			}
			if v.Field(i).IsNil() {
				t.Errorf("%s.%s is nil", v.Type().Name(), v.Type().Field(i).Name)
			}
		}
	}
}

func TestEdgeHooks(t *testing.T) {
	tests := []struct {
		name string
		call func(h bus.EdgeHooks)
		want map[string]float64
	}{
		{"submitted document", func(h bus.EdgeHooks) { h.Submitted(bus.TypeDocument) }, map[string]float64{
			`truc_edge_submitted_total{type="document"}`: 1,
		}},
		{"submitted status", func(h bus.EdgeHooks) { h.Submitted(bus.TypeStatus) }, map[string]float64{
			`truc_edge_submitted_total{type="status"}`: 1,
		}},
		{"published", func(h bus.EdgeHooks) { h.Published(5, 250*time.Millisecond) }, map[string]float64{
			`truc_edge_published_total`:       5,
			`truc_edge_publish_seconds_count`: 1,
			`truc_edge_publish_seconds_sum`:   0.25,
		}},
		{"received new", func(h bus.EdgeHooks) { h.Received(bus.TypeDocument, false) }, map[string]float64{
			`truc_edge_received_total{duplicate="false",type="document"}`: 1,
		}},
		{"received duplicate", func(h bus.EdgeHooks) { h.Received(bus.TypeStatus, true) }, map[string]float64{
			`truc_edge_received_total{duplicate="true",type="status"}`: 1,
		}},
		{"refused", func(h bus.EdgeHooks) { h.Refused(bus.RejectWrongEdge) }, map[string]float64{
			`truc_edge_refused_total{reason="wrong-edge"}`: 1,
		}},
		{"refused with a malformed reason", func(h bus.EdgeHooks) { h.Refused("") }, map[string]float64{
			`truc_edge_refused_total{reason="other"}`: 1,
		}},
		{"receipt accepted", func(h bus.EdgeHooks) { h.Receipt(bus.EventSubmissionAccepted) }, map[string]float64{
			`truc_edge_receipts_total{kind="submission-accepted"}`: 1,
		}},
		{"receipt delivered", func(h bus.EdgeHooks) { h.Receipt(bus.EventDelivered) }, map[string]float64{
			`truc_edge_receipts_total{kind="delivered"}`: 1,
		}},
		{"receipt of an unknown kind", func(h bus.EdgeHooks) { h.Receipt(bus.EventKind("archived")) }, map[string]float64{
			`truc_edge_receipts_total{kind="other"}`: 1,
		}},
		{"settled accepted", func(h bus.EdgeHooks) {
			h.Settled(bus.TypeDocument, true, time.Unix(100, 0), time.Unix(101, 500_000_000))
		}, map[string]float64{
			`truc_edge_accept_seconds_count{type="document"}`: 1,
			`truc_edge_accept_seconds_sum{type="document"}`:   1.5,
		}},
		{"settled rejected is not a latency to acceptance", func(h bus.EdgeHooks) {
			h.Settled(bus.TypeStatus, false, time.Unix(100, 0), time.Unix(101, 0))
		}, map[string]float64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			h := metrics.NewEdge(reg).Hooks()
			before := series(t, reg)
			tt.call(h)
			checkMoved(t, moved(before, series(t, reg)), tt.want)
		})
	}
}

// reasonValues returns the values of the reason label of family name that
// counted something (the known codes exist from the start, at 0).
func reasonValues(t *testing.T, g prometheus.Gatherer, name string) []string {
	t.Helper()
	var vals []string
	for k, v := range series(t, g) {
		if rest, ok := strings.CutPrefix(k, name+`{reason="`); ok && v != 0 {
			vals = append(vals, strings.TrimSuffix(rest, `"}`))
		}
	}
	sort.Strings(vals)
	return vals
}

func TestReasonLabelCap(t *testing.T) {
	known := []string{bus.RejectMalformed, bus.RejectVerificationError, "revoked", "untrusted-chain", "legacy-signature"}
	tests := []struct {
		name  string
		feed  func(report func(string))
		check func(t *testing.T, vals []string)
	}{
		{"known codes are admitted", func(report func(string)) {
			for _, r := range known {
				report(r)
			}
		}, func(t *testing.T, vals []string) {
			if !slices.Equal(vals, slices.Sorted(slices.Values(known))) {
				t.Errorf("reasons %q, want %q", vals, known)
			}
		}},
		{"malformed values are other", func(report func(string)) {
			for _, r := range []string{"", "Revoked", "1-revoked", "revoked ", "bad_reason", "a\x00b", "\xff", strings.Repeat("a", 65)} {
				report(r)
			}
		}, func(t *testing.T, vals []string) {
			if !slices.Equal(vals, []string{metrics.Other}) {
				t.Errorf("reasons %q, want only %q", vals, metrics.Other)
			}
		}},
		{"a 64-byte code is admitted", func(report func(string)) { report(strings.Repeat("a", 64)) }, func(t *testing.T, vals []string) {
			if !slices.Equal(vals, []string{strings.Repeat("a", 64)}) {
				t.Errorf("reasons %q", vals)
			}
		}},
		{"unknown codes up to the cap, then other, known still admitted", func(report func(string)) {
			for i := range 500 {
				report(fmt.Sprintf("invented-%d", i))
			}
			for _, r := range known {
				report(r)
			}
		}, func(t *testing.T, vals []string) {
			if len(vals) > metrics.MaxLabelValues+1 {
				t.Errorf("%d reason values, want at most %d (MaxLabelValues and other): %q", len(vals), metrics.MaxLabelValues+1, vals)
			}
			// The known codes keep their slots reserved; the rest went
			// to invented codes.
			invented := 0
			for _, v := range vals {
				if strings.HasPrefix(v, "invented-") {
					invented++
				}
			}
			if invented < metrics.MaxLabelValues/2 {
				t.Errorf("only %d invented codes admitted", invented)
			}
			for _, r := range append([]string{metrics.Other, "invented-0"}, known...) {
				if !slices.Contains(vals, r) {
					t.Errorf("reason %q missing from %q", r, vals)
				}
			}
			if slices.Contains(vals, "invented-499") {
				t.Errorf("invented-499 admitted beyond the cap")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/axis", func(t *testing.T) {
			reg := prometheus.NewRegistry()
			h := metrics.NewAxis(reg).Hooks()
			tt.feed(func(r string) { h.Rejected(bus.TypeDocument, r) })
			tt.check(t, reasonValues(t, reg, "truc_axis_rejections_total"))
		})
		t.Run(tt.name+"/edge", func(t *testing.T) {
			reg := prometheus.NewRegistry()
			h := metrics.NewEdge(reg).Hooks()
			tt.feed(h.Refused)
			tt.check(t, reasonValues(t, reg, "truc_edge_refused_total"))
		})
	}
}

func TestReasonLabelCapCounts(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := metrics.NewAxis(reg).Hooks()
	for i := range 200 {
		h.Rejected(bus.TypeDocument, fmt.Sprintf("invented-%d", i))
	}
	s := series(t, reg)
	var total float64
	for k, v := range s {
		if strings.HasPrefix(k, "truc_axis_rejections_total{") {
			total += v
		}
	}
	if total != 200 {
		t.Errorf("rejections sum to %g, want 200: none may be lost to the cap", total)
	}
	if got := s[`truc_axis_packages_total{outcome="rejected",type="document"}`]; got != 200 {
		t.Errorf("rejected packages = %g, want 200", got)
	}
}

func TestHooksConcurrent(t *testing.T) {
	reg := prometheus.NewRegistry()
	ah := metrics.NewAxis(reg).Hooks()
	eh := metrics.NewEdge(reg).Hooks()
	const workers, rounds = 8, 300
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			at := time.Unix(int64(1_800_000_000+w), 0)
			for i := range rounds {
				ah.Accepted(bus.TypeDocument, at)
				ah.Rejected(bus.TypeStatus, fmt.Sprintf("code-%d", (w*rounds+i)%100))
				ah.Delivered(fmt.Sprintf("edge-%d", i%5), i%2 == 0)
				ah.Duplicate(bus.TypeDocument)
				ah.DeadLetter("x")
				ah.Receipts(2, int64(i), time.Millisecond)
				ah.Recorded(bus.TypeDocument, at, at.Add(time.Millisecond))
				ah.Routed(bus.TypeDocument, "edge-0", at, at.Add(time.Millisecond))
				ah.Answered(fmt.Sprintf("%02d", i%20), at, at.Add(time.Minute))
				eh.Settled(bus.TypeDocument, true, at, at.Add(time.Second))
				eh.Submitted(bus.TypeDocument)
				eh.Published(1, time.Millisecond)
				eh.Received(bus.TypeDocument, i%2 == 0)
				eh.Refused(fmt.Sprintf("code-%d", i%100))
				eh.Receipt(bus.EventDelivered)
			}
		})
	}
	wg.Wait()
	const n = workers * rounds
	s := series(t, reg)
	sum := func(prefix string) float64 {
		var total float64
		for k, v := range s {
			if strings.HasPrefix(k, prefix) {
				total += v
			}
		}
		return total
	}
	for _, c := range []struct {
		prefix string
		want   float64
	}{
		{`truc_axis_packages_total{outcome="accepted",type="document"}`, n},
		{`truc_axis_packages_total{outcome="rejected",type="status"}`, n},
		{`truc_axis_packages_total{outcome="duplicate",type="document"}`, n},
		{`truc_axis_rejections_total{`, n},
		{`truc_axis_deliveries_total{`, n},
		{`truc_axis_dead_letters_total`, n},
		{`truc_axis_receipts_total`, 2 * n},
		{`truc_axis_receipt_batch_seconds_count`, n},
		{`truc_axis_last_accepted_timestamp_seconds`, 1_800_000_000 + workers - 1},
		{`truc_edge_submitted_total{type="document"}`, n},
		{`truc_edge_published_total`, n},
		{`truc_edge_received_total{`, n},
		{`truc_edge_refused_total{`, n},
		{`truc_edge_receipts_total{kind="delivered"}`, n},
		{`truc_axis_accept_seconds_count{type="document"}`, n},
		{`truc_axis_delivery_seconds_count{type="document"}`, n},
		{`truc_axis_status_seconds_count{`, n},
		{`truc_edge_accept_seconds_count{type="document"}`, n},
	} {
		if got := sum(c.prefix); got != c.want {
			t.Errorf("%s: %g, want %g", c.prefix, got, c.want)
		}
	}
	if vals := reasonValues(t, reg, "truc_axis_rejections_total"); len(vals) > metrics.MaxLabelValues+1 {
		t.Errorf("%d reason values, over the cap", len(vals))
	}
}

func TestNewAxisTwicePanics(t *testing.T) {
	for _, tt := range []struct {
		name string
		make func(prometheus.Registerer)
	}{
		{"axis", func(r prometheus.Registerer) { metrics.NewAxis(r) }},
		{"edge", func(r prometheus.Registerer) { metrics.NewEdge(r) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			tt.make(reg)
			defer func() {
				if recover() == nil {
					t.Error("registering twice did not panic")
				}
			}()
			tt.make(reg)
		})
	}
}

func TestStoreCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	var commits, requests int64 = 10, 37
	var mu sync.Mutex
	reg.MustRegister(metrics.NewStoreCollector(func() (int64, int64) {
		mu.Lock()
		defer mu.Unlock()
		return commits, requests
	}))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetType() != dto.MetricType_COUNTER {
			t.Errorf("%s is a %s, want a counter", mf.GetName(), mf.GetType())
		}
	}
	if s := series(t, reg); s["truc_store_commits_total"] != 10 || s["truc_store_commit_requests_total"] != 37 || len(s) != 2 {
		t.Errorf("first scrape: %v", s)
	}
	mu.Lock()
	commits, requests = 11, 40
	mu.Unlock()
	s := series(t, reg)
	if s["truc_store_commits_total"] != 11 || s["truc_store_commit_requests_total"] != 40 {
		t.Errorf("second scrape: %v, want the values read again", s)
	}
}

func TestLogCollector(t *testing.T) {
	now := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		status  metrics.LogStatusFunc
		want    map[string]float64
		wantErr string
	}{
		{"with a checkpoint", func(context.Context) (int64, int64, time.Time, error) {
			return 120, 118, now.Add(-1500 * time.Millisecond), nil
		}, map[string]float64{
			"truc_log_size": 120, "truc_log_checkpoint_size": 118, "truc_log_checkpoint_age_seconds": 1.5,
		}, ""},
		{"empty log", func(context.Context) (int64, int64, time.Time, error) {
			return 0, 0, time.Time{}, nil
		}, map[string]float64{"truc_log_size": 0, "truc_log_checkpoint_size": 0}, ""},
		{"checkpoint from the future", func(context.Context) (int64, int64, time.Time, error) {
			return 5, 5, now.Add(time.Minute), nil
		}, map[string]float64{"truc_log_size": 5, "truc_log_checkpoint_size": 5, "truc_log_checkpoint_age_seconds": 0}, ""},
		{"status fails", func(context.Context) (int64, int64, time.Time, error) {
			return 0, 0, time.Time{}, errors.New("boltstore: database not open")
		}, map[string]float64{}, "reading the transparency log status: boltstore: database not open"},
		{"status gets a deadline", func(ctx context.Context) (int64, int64, time.Time, error) {
			d, ok := ctx.Deadline()
			if !ok || time.Until(d) > metrics.LogStatusTimeout {
				return 0, 0, time.Time{}, fmt.Errorf("deadline %v %v", d, ok)
			}
			return 1, 0, time.Time{}, nil
		}, map[string]float64{"truc_log_size": 1, "truc_log_checkpoint_size": 0}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			reg.MustRegister(metrics.NewLogCollector(tt.status, func() time.Time { return now }))
			// A healthy collector beside it must still be gathered.
			reg.MustRegister(metrics.NewStoreCollector(func() (int64, int64) { return 1, 1 }))
			mfs, err := reg.Gather()
			if tt.wantErr == "" && err != nil {
				t.Fatalf("gather: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("gather error %v, want one containing %q", err, tt.wantErr)
			}
			got := map[string]float64{}
			var store bool
			for _, mf := range mfs {
				if strings.HasPrefix(mf.GetName(), "truc_log_") {
					if mf.GetType() != dto.MetricType_GAUGE {
						t.Errorf("%s is a %s, want a gauge", mf.GetName(), mf.GetType())
					}
					got[mf.GetName()] = mf.GetMetric()[0].GetGauge().GetValue()
				}
				store = store || mf.GetName() == "truc_store_commits_total"
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("log series %v, want %v", got, tt.want)
			}
			if !store {
				t.Error("the store series are missing")
			}
		})
	}
}

func TestNewRegistry(t *testing.T) {
	tests := []struct {
		name, version, want string
	}{
		{"given version", "v1.2.3", "v1.2.3"},
		{"invalid UTF-8", "v1\xff", "v1\uFFFD"},
		{"from the build", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := metrics.NewRegistry(tt.version)
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			names := map[string]*dto.MetricFamily{}
			for _, mf := range mfs {
				names[mf.GetName()] = mf
			}
			bi := names["truc_build_info"]
			if bi == nil || len(bi.GetMetric()) != 1 {
				t.Fatalf("truc_build_info missing: %v", slices.Sorted(maps.Keys(names)))
			}
			m := bi.GetMetric()[0]
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if m.GetGauge().GetValue() != 1 {
				t.Errorf("truc_build_info = %g, want 1", m.GetGauge().GetValue())
			}
			if labels["goversion"] != runtime.Version() {
				t.Errorf("goversion %q, want %q", labels["goversion"], runtime.Version())
			}
			if tt.want != "" && labels["version"] != tt.want {
				t.Errorf("version %q, want %q", labels["version"], tt.want)
			}
			if labels["version"] == "" {
				t.Error("version label is empty")
			}
			for _, n := range []string{"go_goroutines", "go_memstats_alloc_bytes"} {
				if names[n] == nil {
					t.Errorf("%s missing: the Go collector is not registered", n)
				}
			}
			if runtime.GOOS == "linux" && names["process_cpu_seconds_total"] == nil {
				t.Error("process_cpu_seconds_total missing: the process collector is not registered")
			}
			def, err := prometheus.DefaultGatherer.Gather()
			if err != nil {
				t.Fatal(err)
			}
			for _, mf := range def {
				if strings.HasPrefix(mf.GetName(), "truc_") {
					t.Errorf("%s is in the default registry", mf.GetName())
				}
			}
		})
	}
}

// fullRegistry has every metric of the package, with every vector child
// created: the collectors read a real (empty) store and real certificates.
func fullRegistry(t *testing.T) *prometheus.Registry {
	t.Helper()
	reg := metrics.NewRegistry("test")
	ah := metrics.NewAxis(reg).Hooks()
	eh := metrics.NewEdge(reg).Hooks()
	store := openStore(t)
	pki := signingtest.NewPKI(t, signingtest.WithLeafKey(signingtest.P256))
	rootCRL, _ := pki.CRLs(t)
	reg.MustRegister(
		metrics.NewStoreStatsCollector(func() metrics.StoreStats {
			return metrics.StoreStats{Commits: 1, Requests: 2, CommitTime: time.Millisecond, Buckets: []metrics.Bucket{{UpperBound: time.Second, Count: 1}}}
		}),
		metrics.NewLogCollector(func(context.Context) (int64, int64, time.Time, error) {
			return 3, 2, time.Now().Add(-time.Second), nil
		}, nil),
		metrics.NewAxisPendingCollector(store.Ledger(), func() []string { return []string{"edge-a"} }, nil),
		metrics.NewEdgePendingCollector(store.Edge(), nil),
		metrics.NewConsumerLagCollector(func() []metrics.PartitionLag { return []metrics.PartitionLag{{Topic: "truc.submit", Lag: 1}} }),
		metrics.NewTrustCollector([]metrics.Cert{{Role: metrics.RoleSeal, Cert: pki.Leaf}}, []*x509.Certificate{pki.Root.Cert},
			func() [][]byte { return [][]byte{rootCRL} }),
	)
	metrics.TimeSigner(reg, nil)
	metrics.TimeVerifier(reg, nil)
	at := time.Now()
	ah.Accepted(bus.TypeDocument, at)
	ah.Rejected(bus.TypeDocument, "revoked")
	ah.Delivered("edge-a", false)
	ah.Duplicate(bus.TypeDocument)
	ah.DeadLetter("x")
	ah.Receipts(1, 2, time.Millisecond)
	ah.Recorded(bus.TypeDocument, at, at)
	ah.Routed(bus.TypeDocument, "edge-a", at, at)
	ah.Answered("01", at, at)
	eh.Submitted(bus.TypeDocument)
	eh.Published(1, time.Millisecond)
	eh.Received(bus.TypeDocument, false)
	eh.Refused("revoked")
	eh.Receipt(bus.EventDelivered)
	eh.Settled(bus.TypeDocument, true, at, at)
	return reg
}

func TestLint(t *testing.T) {
	// promlint rather than testutil.GatherAndLint: testutil needs
	// github.com/kylelemons/godebug, which is not in go.mod.
	mfs, err := fullRegistry(t).Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "truc_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
}

// TestDocListsEveryMetric keeps doc.go, the catalog and the code in
// step: every truc_ family the package exposes is in the catalog with its
// type and labels, and doc.go lists exactly the catalog.
func TestDocListsEveryMetric(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	type entry struct{ typ, labels string }
	documented := map[string]entry{}
	// A name, its labels, and its type on the same line or the next.
	line := regexp.MustCompile(`(?m)^//\t(truc_[a-z_]+)(?:\{([a-z_,]*)\})?\s*(?:\n//\s+)?(counter|gauge|histogram)\s`)
	for _, m := range line.FindAllSubmatch(doc, -1) {
		if _, dup := documented[string(m[1])]; dup {
			t.Errorf("doc.go lists %s twice", m[1])
		}
		documented[string(m[1])] = entry{string(m[3]), string(m[2])}
	}
	catalog := map[string]metrics.Metric{}
	for _, m := range metrics.Catalog() {
		catalog[m.Name] = m
		d, ok := documented[m.Name]
		switch {
		case !ok:
			t.Errorf("%s is in the catalog but not in doc.go", m.Name)
		case d.typ != m.Type || d.labels != strings.Join(m.Labels, ","):
			t.Errorf("doc.go lists %s as a %s {%s}, the catalog as a %s {%s}", m.Name, d.typ, d.labels, m.Type, strings.Join(m.Labels, ","))
		}
		if !slices.IsSorted(m.Labels) {
			t.Errorf("%s: catalog labels %q not sorted", m.Name, m.Labels)
		}
		if m.Node != metrics.NodeAxis && m.Node != metrics.NodeEdge && m.Node != metrics.NodeBoth {
			t.Errorf("%s: node %q", m.Name, m.Node)
		}
	}
	for name := range documented {
		if _, ok := catalog[name]; !ok {
			t.Errorf("doc.go lists %s, which is not in the catalog", name)
		}
	}
	mfs, err := fullRegistry(t).Gather()
	if err != nil {
		t.Fatal(err)
	}
	exposed := map[string]bool{}
	for _, mf := range mfs {
		name := mf.GetName()
		if !strings.HasPrefix(name, "truc_") {
			continue
		}
		exposed[name] = true
		m, ok := catalog[name]
		if !ok {
			t.Errorf("%s is exposed but not in the catalog", name)
			continue
		}
		if typ := strings.ToLower(mf.GetType().String()); typ != m.Type {
			t.Errorf("%s is exposed as a %s, the catalog says %s", name, typ, m.Type)
		}
		for _, s := range mf.GetMetric() {
			var labels []string
			for _, lp := range s.GetLabel() {
				labels = append(labels, lp.GetName())
			}
			if !slices.Equal(labels, m.Labels) {
				t.Errorf("%s is exposed with labels %q, the catalog says %q", name, labels, m.Labels)
				break
			}
		}
	}
	for name := range catalog {
		if !exposed[name] {
			t.Errorf("the catalog lists %s, which is not exposed", name)
		}
	}
}

func BenchmarkHooks(b *testing.B) {
	reg := prometheus.NewRegistry()
	ah := metrics.NewAxis(reg).Hooks()
	eh := metrics.NewEdge(reg).Hooks()
	baseline := prometheus.NewCounter(prometheus.CounterOpts{Name: "baseline_total", Help: "x"})
	baselineVec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "baseline_vec_total", Help: "x"}, []string{"type", "outcome"})
	baselineHist := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "baseline_seconds", Help: "x"}, []string{"type"})
	at := time.Now()
	for _, bm := range []struct {
		name string
		f    func()
	}{
		{"baseline/Counter.Inc", baseline.Inc},
		{"baseline/CounterVec.WithLabelValues.Inc", func() { baselineVec.WithLabelValues("document", "accepted").Inc() }},
		{"axis/Accepted", func() { ah.Accepted(bus.TypeDocument, at) }},
		{"axis/Rejected", func() { ah.Rejected(bus.TypeDocument, "revoked") }},
		{"axis/Delivered", func() { ah.Delivered("edge-hn", false) }},
		{"axis/Receipts", func() { ah.Receipts(10, 1000, time.Millisecond) }},
		{"edge/Received", func() { eh.Received(bus.TypeDocument, false) }},
		{"edge/Refused", func() { eh.Refused("revoked") }},
		{"baseline/HistogramVec.WithLabelValues.Observe", func() { baselineHist.WithLabelValues("document").Observe(0.1) }},
		{"axis/Recorded", func() { ah.Recorded(bus.TypeDocument, at, at.Add(time.Millisecond)) }},
		{"axis/Routed", func() { ah.Routed(bus.TypeDocument, "edge-hn", at, at.Add(time.Millisecond)) }},
		{"axis/Answered", func() { ah.Answered("01", at, at.Add(time.Minute)) }},
		{"edge/Settled", func() { eh.Settled(bus.TypeDocument, true, at, at.Add(time.Second)) }},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					bm.f()
				}
			})
		})
	}
}

func TestNilFunctionsPanicAtConstruction(t *testing.T) {
	for _, tt := range []struct {
		name string
		make func()
	}{
		{"store", func() { metrics.NewStoreCollector(nil) }},
		{"log", func() { metrics.NewLogCollector(nil, nil) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("a nil function was accepted")
				}
			}()
			tt.make()
		})
	}
}
