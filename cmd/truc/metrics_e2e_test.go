package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"truc.vn/truc/adapters/metrics"
	"truc.vn/truc/adapters/restapi"
)

// scrape is one /metrics answer: the families by name, and every sample as
// "name{k="v",...}" → value (a histogram gives name_count and name_sum).
type scrape struct {
	families map[string]*dto.MetricFamily
	samples  map[string]float64
}

func scrapeMetrics(t *testing.T, ctx context.Context, url string) scrape {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: parsing the exposition: %v", url, err)
	}
	s := scrape{families: fams, samples: map[string]float64{}}
	for name, mf := range fams {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
			}
			sort.Strings(labels)
			suffix := ""
			if len(labels) > 0 {
				suffix = "{" + strings.Join(labels, ",") + "}"
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				s.samples[name+suffix] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				s.samples[name+suffix] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				s.samples[name+"_count"+suffix] = float64(m.GetHistogram().GetSampleCount())
				s.samples[name+"_sum"+suffix] = m.GetHistogram().GetSampleSum()
			case dto.MetricType_UNTYPED:
				s.samples[name+suffix] = m.GetUntyped().GetValue()
			}
		}
	}
	return s
}

// sum adds the samples whose key starts with prefix.
func (s scrape) sum(prefix string) float64 {
	var total float64
	for k, v := range s.samples {
		if strings.HasPrefix(k, prefix) {
			total += v
		}
	}
	return total
}

// TestMetricsEndToEnd runs the in-process demo world, scrapes /metrics on
// the axis and on both edges, checks that every metric the catalog lists
// for the node is there with its type, sends letters answered with 01 and
// 03, and checks that the traffic, latency, signing, store and log metrics
// moved by what was sent and that the pending gauges drain.
func TestMetricsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker, an axis and two edges")
	}
	dir, m, _ := startTestDevWorld(t, 2, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	axisURL, senderURL, recipientURL := m.Axis.URL+"/metrics", m.Edges[0].URL+"/metrics", m.Edges[1].URL+"/metrics"

	before := map[string]scrape{}
	for _, u := range []string{axisURL, senderURL, recipientURL} {
		before[u] = scrapeMetrics(t, ctx, u)
	}

	// Traffic: n letters from the first edge's head agency to the
	// second's, each taken (the edge sends 01) and answered with 03.
	const n = 3
	sender, recipient := clientFor(t, dir, m, 0), clientFor(t, dir, m, 1)
	to := m.Edges[1].OrganID
	var ids []string
	for i := range n {
		sub, err := sender.Submit(ctx, letter(t, m.Edges[0].OrganID, []string{to}, fmt.Sprintf("M%d", i), nil, nil), "")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sub.ID)
	}
	items := map[string]restapi.Item{}
	eventually(t, 30*time.Second, "the letters at the recipient", func() (bool, string) {
		page, err := recipient.Inbox(ctx, restapi.InboxQuery{Wait: time.Second})
		if err != nil {
			return false, err.Error()
		}
		for _, it := range page.Items {
			if slices.Contains(ids, it.MessageID) {
				items[it.MessageID] = it
			}
		}
		return len(items) == n, fmt.Sprintf("%d of %d", len(items), n)
	})
	for _, it := range items {
		if _, err := recipient.Ack(ctx, it.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := recipient.PostStatus(ctx, it.ID, restapi.StatusRequest{Code: "03", Staff: "Nguyễn Văn A"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		eventually(t, 30*time.Second, "01 and 03 at the sender", func() (bool, string) {
			doc, err := sender.Document(ctx, id)
			if err != nil {
				return false, err.Error()
			}
			got := statusesBy(doc)[to]
			return slices.Contains(got, "01") && slices.Contains(got, "03"), fmt.Sprintf("statuses %q", got)
		})
	}
	// Settled everywhere: nothing pending, every route acked, every
	// receipt in. (Receipts and acks trail the statuses by a checkpoint.)
	after := map[string]scrape{}
	eventually(t, 30*time.Second, "the queues to drain", func() (bool, string) {
		for _, u := range []string{axisURL, senderURL, recipientURL} {
			after[u] = scrapeMetrics(t, ctx, u)
		}
		a, s, r := after[axisURL], after[senderURL], after[recipientURL]
		state := fmt.Sprintf("axis unacked %g; outbox unsettled %g/%g; untaken %g; accept receipts %g/%g",
			a.sum("truc_axis_routes_unacked{"), s.samples["truc_edge_outbox_unsettled"], r.samples["truc_edge_outbox_unsettled"],
			r.samples["truc_edge_inbox_untaken"],
			s.samples[`truc_edge_accept_seconds_count{type="document"}`], r.samples[`truc_edge_accept_seconds_count{type="status"}`])
		state += fmt.Sprintf("; lag %g/%g/%g", a.sum("truc_kafka_consumer_lag{"), s.sum("truc_kafka_consumer_lag{"), r.sum("truc_kafka_consumer_lag{"))
		// The axis counts a delivery or a batch of receipts once it is
		// published: an edge may have handled it a moment before.
		ab := before[axisURL]
		routed := a.sum("truc_axis_delivery_seconds_count{") - ab.sum("truc_axis_delivery_seconds_count{")
		receipts := a.samples["truc_axis_receipts_total"] - ab.samples["truc_axis_receipts_total"]
		state += fmt.Sprintf("; axis routed %g, receipts %g", routed, receipts)
		return routed == 3*n && receipts >= 6*n &&
			a.sum("truc_axis_routes_unacked{") == 0 &&
			a.sum("truc_kafka_consumer_lag{")+s.sum("truc_kafka_consumer_lag{")+r.sum("truc_kafka_consumer_lag{") == 0 &&
			s.samples["truc_edge_outbox_unsettled"] == 0 && r.samples["truc_edge_outbox_unsettled"] == 0 &&
			r.samples["truc_edge_inbox_untaken"] == 0 &&
			s.samples[`truc_edge_accept_seconds_count{type="document"}`]-before[senderURL].samples[`truc_edge_accept_seconds_count{type="document"}`] == n &&
			r.samples[`truc_edge_accept_seconds_count{type="status"}`]-before[recipientURL].samples[`truc_edge_accept_seconds_count{type="status"}`] == 2*n, state
	})

	// Every documented metric exists on its node, with its type.
	for _, c := range metrics.Catalog() {
		var urls []string
		switch c.Node {
		case metrics.NodeAxis:
			urls = []string{axisURL}
		case metrics.NodeEdge:
			urls = []string{senderURL, recipientURL}
		default:
			urls = []string{axisURL, senderURL, recipientURL}
		}
		for _, u := range urls {
			mf, ok := after[u].families[c.Name]
			if !ok || len(mf.GetMetric()) == 0 {
				t.Errorf("%s: %s is missing", u, c.Name)
				continue
			}
			if typ := strings.ToLower(mf.GetType().String()); typ != c.Type {
				t.Errorf("%s: %s is a %s, documented as a %s", u, c.Name, typ, c.Type)
			}
		}
	}

	// The traffic metrics moved by what was sent.
	type move struct {
		series  string
		want    float64 // exact change, or the least change when atLeast
		atLeast bool
	}
	check := func(url string, moves []move) {
		t.Helper()
		for _, mv := range moves {
			got := after[url].sum(mv.series) - before[url].sum(mv.series)
			if mv.atLeast && got < mv.want || !mv.atLeast && got != mv.want {
				cmp := "="
				if mv.atLeast {
					cmp = "≥"
				}
				t.Errorf("%s: %s moved by %g, want %s %g", url, mv.series, got, cmp, mv.want)
			}
		}
	}
	check(axisURL, []move{
		{`truc_axis_packages_total{outcome="accepted",type="document"}`, n, false},
		{`truc_axis_packages_total{outcome="accepted",type="status"}`, 2 * n, false},
		{`truc_axis_packages_total{outcome="rejected"`, 0, false},
		{`truc_axis_rejections_total{`, 0, false},
		{`truc_axis_deliveries_total{edge="` + m.Edges[1].ID + `",kind="first"}`, n, false},
		{`truc_axis_deliveries_total{edge="` + m.Edges[0].ID + `",kind="first"}`, 2 * n, false},
		{`truc_axis_accept_seconds_count{type="document"}`, n, false},
		{`truc_axis_accept_seconds_count{type="status"}`, 2 * n, false},
		{`truc_axis_delivery_seconds_count{type="document"}`, n, false},
		{`truc_axis_delivery_seconds_count{type="status"}`, 2 * n, false},
		{`truc_axis_status_seconds_count{status="01"}`, n, false},
		{`truc_axis_status_seconds_count{status="03"}`, n, false},
		{`truc_axis_status_seconds_count{`, 2 * n, false},
		{`truc_axis_receipts_total`, 6 * n, true}, // accepted + delivered, for each package
		{`truc_verify_seconds_count{outcome="ok"}`, 3 * n, false},
		{`truc_log_size`, 6 * n, true},
		{`truc_log_checkpoint_size`, 1, true},
		{`truc_store_commits_total`, 1, true},
		{`truc_store_commit_seconds_count`, 1, true},
	})
	check(senderURL, []move{
		{`truc_edge_submitted_total{type="document"}`, n, false},
		{`truc_edge_published_total`, n, true},
		{`truc_edge_accept_seconds_count{type="document"}`, n, false},
		{`truc_edge_received_total{duplicate="false",type="status"}`, 2 * n, false},
		{`truc_edge_receipts_total{kind="submission-accepted"}`, n, true},
		{`truc_edge_receipts_total{kind="delivered"}`, n, true},
		{`truc_sign_seconds_count{outcome="ok"}`, n, false},
		{`truc_verify_seconds_count{outcome="ok"}`, 2 * n, false},
		{`truc_store_commit_seconds_count`, 1, true},
	})
	check(recipientURL, []move{
		{`truc_edge_received_total{duplicate="false",type="document"}`, n, false},
		{`truc_edge_submitted_total{type="status"}`, n, false}, // the 03s; the edge's own 01s are not DMS submissions
		{`truc_edge_accept_seconds_count{type="status"}`, 2 * n, false},
		{`truc_sign_seconds_count{outcome="ok"}`, 2 * n, false},
		{`truc_verify_seconds_count{outcome="ok"}`, n, false},
		{`truc_edge_refused_total{`, 0, false},
	})

	// Latencies are real durations: positive, and bounded by the test.
	elapsed := time.Since(start).Seconds()
	for _, c := range []struct{ url, series string }{
		{axisURL, `truc_axis_status_seconds_sum{status="03"}`},
		{axisURL, `truc_axis_delivery_seconds_sum{type="document"}`},
		{senderURL, `truc_edge_accept_seconds_sum{type="document"}`},
		{senderURL, `truc_sign_seconds_sum{outcome="ok"}`},
		{axisURL, `truc_store_commit_seconds_sum`},
	} {
		if got := after[c.url].samples[c.series] - before[c.url].samples[c.series]; got <= 0 || got > float64(n*2)*elapsed {
			t.Errorf("%s: %s moved by %g s (the test ran %.1f s)", c.url, c.series, got, elapsed)
		}
	}

	// Gauges read at scrape time.
	a := after[axisURL]
	if got := a.samples["truc_axis_last_accepted_timestamp_seconds"]; got < float64(start.Unix()) {
		t.Errorf("truc_axis_last_accepted_timestamp_seconds = %g, before the test started", got)
	}
	if _, ok := a.samples["truc_log_checkpoint_age_seconds"]; !ok {
		t.Error("no checkpoint age after traffic")
	}
	for _, u := range []string{axisURL, senderURL, recipientURL} {
		s := after[u]
		now := float64(time.Now().Unix())
		for k, v := range s.samples {
			switch {
			case strings.HasPrefix(k, `truc_cert_not_after_timestamp_seconds{role="seal"`) && v <= now:
				t.Errorf("%s: %s = %g: the demo seal has expired?", u, k, v)
			case strings.HasPrefix(k, "truc_crl_next_update_timestamp_seconds{") && v <= now:
				t.Errorf("%s: %s = %g: the demo world's CRLs are refreshed at start", u, k, v)
			}
		}
		for _, prefix := range []string{`truc_cert_not_after_timestamp_seconds{role="seal"`, `truc_cert_not_after_timestamp_seconds{role="root"`, "truc_crl_next_update_timestamp_seconds{"} {
			if !slices.ContainsFunc(keys(s.samples), func(k string) bool { return strings.HasPrefix(k, prefix) }) {
				t.Errorf("%s: no series %s...", u, prefix)
			}
		}
	}
	// A partition has a lag series once its consumer fetched from it.
	for u, topic := range map[string]string{axisURL: "truc.submit", senderURL: "truc.inbox." + m.Edges[0].ID, recipientURL: "truc.inbox." + m.Edges[1].ID} {
		if !slices.ContainsFunc(keys(after[u].samples), func(k string) bool {
			return strings.HasPrefix(k, "truc_kafka_consumer_lag{") && strings.Contains(k, `topic="`+topic+`"`)
		}) {
			t.Errorf("%s: no consumer lag for %s: %v", u, topic, after[u].families["truc_kafka_consumer_lag"])
		}
	}
}

func keys(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
