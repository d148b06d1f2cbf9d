package metrics_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"truc.vn/truc/adapters/metrics"
)

// The files in configs/ that use the metrics.
var (
	dashboardFile  = filepath.Join("..", "..", "configs", "grafana", "truc.json")
	alertsFile     = filepath.Join("..", "..", "configs", "prometheus", "alerts.yml")
	alertTestsFile = filepath.Join("..", "..", "configs", "prometheus", "alerts_test.yml")
)

var (
	metricName = regexp.MustCompile(`\btruc_[a-z0-9_]+`)
	selector   = regexp.MustCompile(`\b(truc_[a-z0-9_]+)\{([^}]*)\}`)
	matcher    = regexp.MustCompile(`^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"[^"]*"\s*$`)
	rangeSel   = regexp.MustCompile(`\[([^\]]+)\]`)
)

// checkExpr checks a PromQL expression against the catalog: every truc_
// metric it names is documented (a histogram through its _bucket, _count
// or _sum series), every label it matches on is one of the metric's (or
// instance, job, le for buckets), every range parses as a duration, and
// its brackets balance. It returns the metrics named.
func checkExpr(t *testing.T, where, expr string) []string {
	t.Helper()
	catalog := map[string]metrics.Metric{}
	for _, m := range metrics.Catalog() {
		catalog[m.Name] = m
	}
	resolve := func(name string) (metrics.Metric, bool) {
		if m, ok := catalog[name]; ok {
			return m, true
		}
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			if base, ok := strings.CutSuffix(name, suffix); ok {
				if m, ok := catalog[base]; ok && m.Type == "histogram" {
					return m, true
				}
			}
		}
		return metrics.Metric{}, false
	}
	var named []string
	for _, name := range metricName.FindAllString(expr, -1) {
		m, ok := resolve(name)
		if !ok {
			t.Errorf("%s: %s is not a documented metric", where, name)
			continue
		}
		named = append(named, m.Name)
	}
	for _, sel := range selector.FindAllStringSubmatch(expr, -1) {
		m, ok := resolve(sel[1])
		if !ok {
			continue
		}
		for _, part := range strings.Split(sel[2], ",") {
			if strings.TrimSpace(part) == "" {
				continue
			}
			mm := matcher.FindStringSubmatch(part)
			if mm == nil {
				t.Errorf("%s: %s: cannot read the matcher %q", where, sel[1], part)
				continue
			}
			label := mm[1]
			if !slices.Contains(m.Labels, label) && label != "instance" && label != "job" && !(label == "le" && strings.HasSuffix(sel[1], "_bucket")) {
				t.Errorf("%s: %s has no label %q (it has %q)", where, m.Name, label, m.Labels)
			}
		}
	}
	for _, r := range rangeSel.FindAllStringSubmatch(expr, -1) {
		if _, err := model.ParseDuration(r[1]); err != nil {
			t.Errorf("%s: range [%s]: %v", where, r[1], err)
		}
	}
	for _, pair := range []string{"()", "[]", "{}"} {
		if strings.Count(expr, pair[:1]) != strings.Count(expr, pair[1:]) {
			t.Errorf("%s: unbalanced %s in %q", where, pair, expr)
		}
	}
	for _, q := range regexp.MustCompile(`histogram_quantile\([^,]+,\s*(.*)`).FindAllStringSubmatch(expr, -1) {
		if !strings.Contains(q[1], "_bucket") || !regexp.MustCompile(`by \(le\b`).MatchString(q[1]) {
			t.Errorf("%s: histogram_quantile over something other than buckets summed by le: %q", where, expr)
		}
	}
	return named
}

// promtool returns the path of promtool, or skips (fails with
// TRUC_REQUIRE_INTEROP=1) when it is not installed.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("TRUC_REQUIRE_INTEROP") == "1" {
			t.Fatal("promtool (Debian package prometheus) is required with TRUC_REQUIRE_INTEROP=1")
		}
		t.Skip("promtool not installed (Debian package prometheus)")
	}
	return p
}

type grafanaPanel struct {
	ID          int             `json:"id"`
	Type        string          `json:"type"`
	Title       string          `json:"title"`
	Description string          `json:"description"`
	Datasource  json.RawMessage `json:"datasource"`
	GridPos     struct {
		X, Y, W, H int
	} `json:"gridPos"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
}

func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title         string         `json:"title"`
		UID           string         `json:"uid"`
		SchemaVersion int            `json:"schemaVersion"`
		Panels        []grafanaPanel `json:"panels"`
		Templating    struct {
			List []struct {
				Name, Type, Query string
			} `json:"list"`
		} `json:"templating"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.Title == "" || d.UID == "" || d.SchemaVersion < 30 {
		t.Errorf("title %q, uid %q, schemaVersion %d", d.Title, d.UID, d.SchemaVersion)
	}
	if len(d.Templating.List) == 0 || d.Templating.List[0].Type != "datasource" || d.Templating.List[0].Query != "prometheus" {
		t.Errorf("the dashboard does not let the user pick a Prometheus data source: %+v", d.Templating.List)
	}
	ids := map[int]bool{}
	used := map[string]bool{}
	var titles []string
	var exprs []string
	type rect struct{ x, y, w, h int }
	var rects []rect
	for _, p := range d.Panels {
		where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if ids[p.ID] || p.ID == 0 {
			t.Errorf("%s: id missing or not unique", where)
		}
		ids[p.ID] = true
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
			t.Errorf("%s: gridPos %+v out of the 24-column grid", where, g)
		}
		r := rect{g.X, g.Y, g.W, g.H}
		for _, o := range rects {
			if r.x < o.x+o.w && o.x < r.x+r.w && r.y < o.y+o.h && o.y < r.y+r.h {
				t.Errorf("%s: overlaps another panel at %+v", where, o)
			}
		}
		rects = append(rects, r)
		if p.Type == "row" {
			continue
		}
		titles = append(titles, p.Title)
		if p.Title == "" || p.Description == "" || len(p.Datasource) == 0 || len(p.Targets) == 0 {
			t.Errorf("%s: needs a title, a description, a data source and targets", where)
		}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("%s: target %s has no expression", where, tg.RefID)
				continue
			}
			exprs = append(exprs, tg.Expr)
			for _, m := range checkExpr(t, where, tg.Expr) {
				used[m] = true
			}
		}
	}
	// The panels the issue asks for.
	for _, want := range []string{"Throughput", "Rejections by reason", "Submit → axis", "Axis → delivered", "Delivered → 01",
		"Delivered → 03", "Edge backlog", "routes not acknowledged", "Consumer lag", "Checkpoint age", "Certificate expiry", "CRL"} {
		if !slices.ContainsFunc(titles, func(s string) bool { return strings.Contains(s, want) }) {
			t.Errorf("no panel about %q among %q", want, titles)
		}
	}
	for _, m := range []string{"truc_axis_packages_total", "truc_axis_rejections_total", "truc_axis_status_seconds", "truc_edge_accept_seconds",
		"truc_axis_delivery_seconds", "truc_edge_outbox_unsettled", "truc_edge_inbox_untaken", "truc_axis_routes_unacked",
		"truc_kafka_consumer_lag", "truc_log_checkpoint_age_seconds", "truc_cert_not_after_timestamp_seconds",
		"truc_crl_next_update_timestamp_seconds", "truc_sign_seconds", "truc_verify_seconds", "truc_store_commit_seconds"} {
		if !used[m] {
			t.Errorf("no panel uses %s", m)
		}
	}

	t.Run("promtool", func(t *testing.T) {
		// promtool parses PromQL: check every expression as a recording
		// rule.
		bin := promtool(t)
		var rules bytes.Buffer
		rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
		for i, e := range exprs {
			q, _ := json.Marshal(e)
			fmt.Fprintf(&rules, "      - record: dashboard:expr%d\n        expr: %s\n", i, q)
		}
		path := filepath.Join(t.TempDir(), "dashboard-exprs.yml")
		if err := os.WriteFile(path, rules.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(bin, "check", "rules", path).CombinedOutput(); err != nil {
			t.Errorf("promtool check rules on the dashboard's expressions: %v\n%s", err, out)
		}
	})
}

type ruleFile struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Rules    []struct {
			Alert         string            `yaml:"alert"`
			Record        string            `yaml:"record"`
			Expr          string            `yaml:"expr"`
			For           string            `yaml:"for"`
			KeepFiringFor string            `yaml:"keep_firing_for"`
			Labels        map[string]string `yaml:"labels"`
			Annotations   map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func TestAlertRules(t *testing.T) {
	b, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true) // the Prometheus rule-file shape, nothing else
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	if len(f.Groups) == 0 {
		t.Fatal("no rule group")
	}
	groups, alerts := map[string]bool{}, map[string]bool{}
	for _, g := range f.Groups {
		if g.Name == "" || groups[g.Name] {
			t.Errorf("group name %q empty or not unique", g.Name)
		}
		groups[g.Name] = true
		if g.Interval != "" {
			if _, err := model.ParseDuration(g.Interval); err != nil {
				t.Errorf("group %s: interval: %v", g.Name, err)
			}
		}
		if len(g.Rules) == 0 {
			t.Errorf("group %s has no rules", g.Name)
		}
		for _, r := range g.Rules {
			where := fmt.Sprintf("group %s, alert %s", g.Name, r.Alert)
			if r.Alert == "" || r.Record != "" {
				t.Errorf("%s: every rule here is an alert (record %q)", where, r.Record)
			}
			if alerts[r.Alert] {
				t.Errorf("%s: alert name not unique", where)
			}
			alerts[r.Alert] = true
			if strings.TrimSpace(r.Expr) == "" {
				t.Errorf("%s: no expr", where)
			}
			checkExpr(t, where, r.Expr)
			for name, d := range map[string]string{"for": r.For, "keep_firing_for": r.KeepFiringFor} {
				if d == "" {
					continue
				}
				if _, err := model.ParseDuration(d); err != nil {
					t.Errorf("%s: %s: %v", where, name, err)
				}
			}
			if s := r.Labels["severity"]; s != "info" && s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q, want info, warning or critical", where, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: needs a summary and a description", where)
			}
		}
	}
	// The alerts the issue asks for.
	for _, want := range []string{
		"TrucNo01WithinSLA",                                             // no 01 within SLA
		"TrucEdgeDown", "TrucEdgeNotAcknowledging", "TrucEdgeNoTraffic", // silent edge
		"TrucRejectionSpike",                                     // rejection spike
		"TrucCertificateExpiring", "TrucCertificateExpiringSoon", // certificate about to expire
		"TrucCRLStale",               // CRL stale
		"TrucCheckpointNotAdvancing", // checkpoint not advancing
	} {
		if !alerts[want] {
			t.Errorf("no alert %s", want)
		}
	}

	t.Run("promtool", func(t *testing.T) {
		bin := promtool(t)
		if out, err := exec.Command(bin, "check", "rules", alertsFile).CombinedOutput(); err != nil {
			t.Errorf("promtool check rules: %v\n%s", err, out)
		}
		// The unit tests make each required alert fire, and not fire, on
		// synthetic series.
		cmd := exec.Command(bin, "test", "rules", filepath.Base(alertTestsFile))
		cmd.Dir = filepath.Dir(alertTestsFile)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool test rules: %v\n%s", err, out)
		}
	})
}

// TestAlertTestsCoverRequiredAlerts checks that alerts_test.yml exercises
// every alert the issue asks for.
func TestAlertTestsCoverRequiredAlerts(t *testing.T) {
	b, err := os.ReadFile(alertTestsFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		RuleFiles []string `yaml:"rule_files"`
		Tests     []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.RuleFiles, []string{"alerts.yml"}) {
		t.Errorf("rule_files %q", f.RuleFiles)
	}
	fires := map[string]bool{}
	for _, tc := range f.Tests {
		for _, a := range tc.AlertRuleTest {
			fires[a.Alertname] = fires[a.Alertname] || len(a.ExpAlerts) > 0
		}
	}
	for _, want := range []string{"TrucNo01WithinSLA", "TrucLate01", "TrucEdgeDown", "TrucEdgeNotAcknowledging", "TrucEdgeNoTraffic",
		"TrucRejectionSpike", "TrucCertificateExpiring", "TrucCertificateExpiringSoon", "TrucCRLStale", "TrucCheckpointNotAdvancing"} {
		if !fires[want] {
			t.Errorf("alerts_test.yml has no case where %s fires", want)
		}
	}
}
