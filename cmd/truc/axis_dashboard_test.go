package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"

	"truc.vn/truc/adapters/dashboard"
	"truc.vn/truc/adapters/restapi"
	"truc.vn/truc/bus"
	"truc.vn/truc/edoc"
	"truc.vn/truc/signing/demopki"
)

func TestDashboardSection(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("a long passphrase"), dashboard.MinBcryptCost)
	if err != nil {
		t.Fatal(err)
	}
	admin := dashboard.User{Name: "admin", Role: dashboard.RoleAdmin, PasswordBcrypt: string(hash)}
	for _, c := range []struct {
		name string
		sec  dashboardSection
		want string // "" for valid
	}{
		{"off", dashboardSection{}, ""},
		{"one admin", dashboardSection{Users: []dashboard.User{admin}, SLA01: time.Hour, Listen: "127.0.0.1:8800"}, ""},
		{"settings without users", dashboardSection{Listen: "127.0.0.1:8800"}, "dashboard.users"},
		{"bad user", dashboardSection{Users: []dashboard.User{{Name: "x", Role: "root", PasswordBcrypt: string(hash)}}}, "dashboard.users[0].role"},
		{"plain password", dashboardSection{Users: []dashboard.User{{Name: "x", Role: dashboard.RoleViewer, PasswordBcrypt: "hunter2"}}}, "dashboard.users[0].password_bcrypt"},
		{"bad listen", dashboardSection{Users: []dashboard.User{admin}, Listen: "8800"}, "dashboard.listen"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := joinErrs(c.sec.validate())
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("validate: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("validate: %v, want an error naming %s", err, c.want)
			}
		})
	}

	// The YAML form, as an operator writes it.
	var got struct {
		Dashboard dashboardSection `yaml:"dashboard"`
	}
	src := fmt.Sprintf("dashboard:\n  users:\n    - name: admin\n      role: admin\n      password_bcrypt: %q\n  sla_01: 12h\n  sla_03: -1s\n  secure_cookies: true\n  db: dash/d.db\n", hash)
	if err := yaml.Unmarshal([]byte(src), &got); err != nil {
		t.Fatal(err)
	}
	got.Dashboard.resolve("/etc/truc/axis.yaml")
	if d := got.Dashboard; d.SLA01 != 12*time.Hour || d.SLA03 != -time.Second || !d.SecureCookies || d.DB != "/etc/truc/dash/d.db" || len(d.Users) != 1 || d.Users[0].PasswordBcrypt != string(hash) {
		t.Fatalf("parsed %+v", d)
	}

	// truc dev's demo admin: its password file opens its hash.
	dir := t.TempDir()
	sec, err := devDashboard(dir)
	if err != nil {
		t.Fatal(err)
	}
	pw, err := os.ReadFile(filepath.Join(dir, devDashboardPasswordFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, devDashboardPasswordFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("the password file is %v, want 0600", fi.Mode().Perm())
	}
	if err := bcrypt.CompareHashAndPassword([]byte(sec.Users[0].PasswordBcrypt), bytes.TrimSpace(pw)); err != nil || joinErrs(sec.validate()) != nil {
		t.Fatalf("the demo admin's password does not open its hash: %v", err)
	}
	out, err := yaml.Marshal(struct {
		Dashboard dashboardSection `yaml:"dashboard,omitempty"`
	}{sec})
	if err != nil || !strings.Contains(string(out), "password_bcrypt") || strings.Contains(string(out), "sla_01") {
		t.Fatalf("the demo section in YAML: %v\n%s", err, out)
	}
}

func joinErrs(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%v", errs)
}

func TestDashboardHashCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := dashboardHash([]string{"--cost", "10"}, strings.NewReader("a long passphrase\n"), &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if err := bcrypt.CompareHashAndPassword(bytes.TrimSpace(out.Bytes()), []byte("a long passphrase")); err != nil {
		t.Fatalf("the printed hash %q does not verify: %v", out.String(), err)
	}
	for _, c := range []struct {
		args  []string
		input string
	}{
		{nil, "short\n"},
		{[]string{"--cost", "4"}, "a long passphrase\n"},
		{[]string{"a long passphrase"}, ""},
	} {
		if err := dashboardHash(c.args, strings.NewReader(c.input), &out, &errOut); err == nil {
			t.Errorf("dashboard-hash %q < %q: no error", c.args, c.input)
		}
	}
	out.Reset()
	if err := dashboardHash([]string{"-h"}, strings.NewReader(""), &out, &errOut); err != flagHelp || !strings.Contains(out.String(), "Example:") {
		t.Errorf("-h: %v\n%s", err, out.String())
	}
}

// chromium returns the path of the Chromium binary, skipping the test when
// it is absent (failing under TRUC_REQUIRE_INTEROP=1).
func chromium(t *testing.T) string {
	t.Helper()
	const path = "/usr/bin/chromium"
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("TRUC_REQUIRE_INTEROP") == "1" {
			t.Fatalf("chromium is required (TRUC_REQUIRE_INTEROP=1) but %s is missing: apt-get install chromium", path)
		}
		t.Skipf("chromium is not installed (%s): apt-get install chromium to run the browser test", path)
	}
	return path
}

// artifactDir is where screenshots go: $TRUC_ARTIFACTS or a test temp dir.
func artifactDir(t *testing.T) string {
	if d := os.Getenv("TRUC_ARTIFACTS"); d != "" {
		dir := filepath.Join(d, t.Name())
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

// traffic is what the generator sent and made the recipients do.
type traffic struct {
	keys      []string       // root keys of the letters sent
	docIDs    []string       // their DocumentIds
	pairs     int            // letter–recipient pairs
	taken     int            // pairs answered 01 (one per recipient agency of a taken item)
	accepted  int            // pairs answered 03
	sentBy    map[string]int // letters per sender
	takenPair map[string]bool
}

// generate sends n letters through the dev world's edges: from agencies of
// every edge to one to three agencies of the other edges. The DMS of the
// second edge takes every letter (01 from each recipient) and registers
// every other one (03); the first edge's DMS takes every third letter; the
// third edge's takes nothing.
func generate(t *testing.T, ctx context.Context, dir string, m *devManifest, n int) traffic {
	t.Helper()
	var clients []*restapi.Client
	for i := range m.Edges {
		clients = append(clients, clientFor(t, dir, m, i))
	}
	byEdge := map[string][]string{}
	for organ, edge := range m.Agencies {
		byEdge[edge] = append(byEdge[edge], organ)
	}
	for _, organs := range byEdge {
		slices.Sort(organs)
	}
	tr := traffic{sentBy: map[string]int{}, takenPair: map[string]bool{}}
	var msgIDs []string
	for i := range n {
		from := i % len(m.Edges)
		sender := byEdge[m.Edges[from].ID][i%len(byEdge[m.Edges[from].ID])]
		var to []string
		for k := range 1 + i%3 {
			e := m.Edges[(from+1+k)%len(m.Edges)].ID
			if e == m.Edges[from].ID {
				continue
			}
			r := byEdge[e][(i+k)%len(byEdge[e])]
			if !slices.Contains(to, r) {
				to = append(to, r)
			}
		}
		number := fmt.Sprintf("%d", 900+i)
		pkg := letter(t, sender, to, number, nil, nil)
		p, err := edoc.Parse(pkg, edoc.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		key, err := bus.RootKey(p.RootDocument())
		if err != nil {
			t.Fatal(err)
		}
		sub, err := clients[from].Submit(ctx, pkg, "dash-"+number)
		if err != nil {
			t.Fatalf("submitting letter %s: %v", number, err)
		}
		msgIDs = append(msgIDs, sub.ID)
		tr.keys = append(tr.keys, key)
		tr.docIDs = append(tr.docIDs, p.Header.DocumentID)
		tr.pairs += len(to)
		tr.sentBy[sender]++
	}
	// The recipients' DMSs, once every letter has arrived.
	want := map[int]int{} // edge index → items expected
	for i := range n {
		from := i % len(m.Edges)
		seen := map[int]bool{}
		for k := range 1 + i%3 {
			e := (from + 1 + k) % len(m.Edges)
			if e != from && !seen[e] {
				seen[e] = true
				want[e]++
			}
		}
	}
	for e := range m.Edges {
		var items []restapi.Item
		eventually(t, 30*time.Second, "letters at edge "+m.Edges[e].ID, func() (bool, string) {
			page, err := clients[e].Inbox(ctx, restapi.InboxQuery{Limit: 500})
			if err != nil {
				return false, err.Error()
			}
			items = items[:0]
			for _, it := range page.Items {
				if it.Type == "document" && slices.Contains(msgIDs, it.MessageID) {
					items = append(items, it)
				}
			}
			return len(items) == want[e], fmt.Sprintf("%d of %d", len(items), want[e])
		})
		for j, it := range items {
			take := e == 1 || (e == 0 && j%3 == 0)
			if !take {
				continue
			}
			if _, err := clients[e].Ack(ctx, it.ID); err != nil {
				t.Fatal(err)
			}
			tr.taken += len(it.Recipients)
			for _, r := range it.Recipients {
				tr.takenPair[it.MessageID+"/"+r] = true
			}
			if e == 1 && j%2 == 0 {
				if _, err := clients[e].PostStatus(ctx, it.ID, restapi.StatusRequest{Code: "03", Staff: "Văn thư"}); err != nil {
					t.Fatal(err)
				}
				tr.accepted += len(it.Recipients)
			}
		}
	}
	return tr
}

// ledgerCounts counts, from the axis ledger, the letters of keys, their
// recipients, the recipients delivered to, and the statuses by code.
func ledgerCounts(t *testing.T, ctx context.Context, l bus.Ledger, keys []string) (letters, pairs, delivered int, statuses map[string]int) {
	statuses = map[string]int{}
	for _, key := range keys {
		entries, err := l.ByKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			switch {
			case !e.Accepted():
			case e.Type == bus.TypeDocument:
				letters++
				pairs += len(e.Recipients)
				for _, r := range e.Routes {
					if r.State != bus.RoutePending {
						delivered += len(r.Recipients)
					}
				}
			case e.Type == bus.TypeStatus:
				statuses[e.StatusCode]++
			}
		}
	}
	return
}

// TestDashboardBrowser drives the dashboard of a running exchange (the
// demo world of truc dev, in this process) with headless Chromium while a
// generator sends letters: sign-in and CSRF are enforced; the figures the
// page shows, updated live without a reload, equal the generator's own
// counts and the ledger's; a search finds a letter and its timeline opens.
// Screenshots go to $TRUC_ARTIFACTS (or a temp dir).
func TestDashboardBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an exchange and a browser")
	}
	chrome := chromium(t)
	shots := artifactDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	dir := t.TempDir()
	m, err := devInit(dir, devOptions{Edges: 3, Agencies: 4, Host: "127.0.0.1", BasePort: freeBasePort(t, 5), KeyType: demopki.ECDSAP256, Prefix: "truc", FastTimes: true})
	if err != nil {
		t.Fatal(err)
	}
	w, err := startDevWorld(ctx, dir, m, slog.New(slog.DiscardHandler), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { w.stop(); w.close() }()
	base, user, password := dashboardOf(t, ctx, w, dir, m)

	// The evil site of the CSRF check: a page on another origin that posts
	// to the dashboard the ways a form and a script can.
	evil := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(rw, `<!doctype html><form id="f" method="POST" action="%[1]s/dashboard/api/logout" enctype="text/plain">
<input name='{"a":"' value='"}'></form>
<script>fetch(%[1]q + "/dashboard/api/logout", {method: "POST", credentials: "include", mode: "no-cors", body: "{}"}).finally(() => document.getElementById("f").submit());</script>`, base)
	}))
	defer evil.Close()

	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chrome),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 1000))
	defer cancelAlloc()
	b := &browserTab{t: t}
	var cancelBrowser context.CancelFunc
	b.ctx, cancelBrowser = chromedp.NewContext(alloc)
	defer cancelBrowser()
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	shot := func(name string) {
		t.Helper()
		png := runT(b, "screenshot "+name, chromedp.FullScreenshot(100))
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	location := func() string { // the path of the page (a redirect keeps the fragment)
		u, err := url.Parse(runT(b, "location", chromedp.Location()))
		if err != nil {
			t.Fatal(err)
		}
		return u.Path
	}

	// Sign-in is enforced: the page redirects, the API refuses.
	b.do("opening the dashboard", chromedp.Navigate(base+"/dashboard/"), chromedp.WaitVisible(css("#login")))
	shot("01-login")
	if loc := location(); !strings.HasSuffix(loc, "/dashboard/login") {
		t.Fatalf("the dashboard without a session is at %s, want the sign-in page", loc)
	}
	if code := evalT[int](b, `fetch("/dashboard/api/overview").then(r => r.status)`); code != 401 {
		t.Fatalf("the API without a session: %d, want 401", code)
	}
	// The sign-in needs its CSRF token.
	body := fmt.Sprintf(`{"name":%q,"password":%q}`, user, password)
	if code := evalT[int](b, fmt.Sprintf(`fetch("/dashboard/api/login", {method: "POST", headers: {"Content-Type": "application/json"}, body: %q}).then(r => r.status)`, body)); code != 403 {
		t.Fatalf("a sign-in without the CSRF token: %d, want 403", code)
	}
	b.do("a wrong password",
		chromedp.SendKeys(css("#name"), user), chromedp.SendKeys(css("#password"), "not the password"), chromedp.Click(css("#submit")),
		chromedp.Poll[chromedp.Void](`document.getElementById("error").textContent.length > 0`, chromedp.WithPollingTimeout(10*time.Second)))
	evalT[chromedp.Void](b, `document.getElementById("password").value = ""`)
	b.do("signing in",
		chromedp.SendKeys(css("#password"), password), chromedp.Click(css("#submit")),
		chromedp.WaitVisible(css(`[data-testid="overview"]`)))
	evalT[chromedp.Void](b, `window.__noReload = 1`)

	// Traffic while the page is open.
	tr := generate(t, ctx, dir, m, 18)
	ledger := w.axis.store.Ledger()
	var letters, pairs, delivered int
	var statuses map[string]int
	eventually(t, 30*time.Second, "every status in the ledger", func() (bool, string) {
		letters, pairs, delivered, statuses = ledgerCounts(t, ctx, ledger, tr.keys)
		return letters == len(tr.keys) && delivered == tr.pairs && statuses["01"] == tr.taken && statuses["03"] == tr.accepted,
			fmt.Sprintf("letters %d/%d, delivered %d/%d, 01 %d/%d, 03 %d/%d", letters, len(tr.keys), delivered, tr.pairs, statuses["01"], tr.taken, statuses["03"], tr.accepted)
	})
	if pairs != tr.pairs {
		t.Fatalf("the ledger has %d letter–recipient pairs, the generator sent %d", pairs, tr.pairs)
	}
	size, err := ledger.Log().Size(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The page catches up by itself (live), then shows the same numbers.
	shown := func(sel string) string {
		return fmt.Sprintf(`((document.querySelector(%q) || {dataset: {}}).dataset.value || "")`, sel)
	}
	want := map[string]int{
		`[data-k="sent"]`: len(tr.keys), `[data-k="received"]`: tr.pairs, `[data-k="pending"]`: 0,
		`[data-k="await_01"]`: tr.pairs - tr.taken, `[data-k="await_03"]`: tr.taken - tr.accepted,
		`[data-testid="statuses"] [data-code="01"]`: tr.taken, `[data-testid="statuses"] [data-code="03"]`: tr.accepted,
	}
	var cond []string
	for sel, n := range want {
		cond = append(cond, fmt.Sprintf("%s === %q", shown(sel), strconv.Itoa(n)))
	}
	cond = append(cond, fmt.Sprintf(`+document.getElementById("footer").dataset.cursor >= %d`, size))
	err = chromedp.Do(b.ctx, chromedp.Poll[chromedp.Void](strings.Join(cond, " && "), chromedp.WithPollingTimeout(20*time.Second), chromedp.WithPollingInterval(100*time.Millisecond)))
	got := map[string]string{}
	for sel := range want {
		got[sel] = evalT[string](b, shown(sel))
	}
	if err != nil {
		t.Fatalf("the page does not show the generator's figures: %v\n got %v\nwant %v", err, got, want)
	}
	if !evalT[bool](b, `window.__noReload === 1`) {
		t.Error("the page reloaded to show the new figures")
	}
	shot("02-overview")
	// Vietnamese by default, English at a click, the figures unchanged.
	label := `document.querySelector('[data-k="sent"] .label').textContent`
	if vi := evalT[string](b, label); vi != "Văn bản đã gửi" {
		t.Errorf("the sent card is labelled %q, want the Vietnamese label", vi)
	}
	b.do("switching to English", chromedp.Click(css("#lang")),
		chromedp.Poll[chromedp.Void](label+` === "Letters sent"`, chromedp.WithPollingTimeout(5*time.Second)))
	if v := evalT[string](b, shown(`[data-k="sent"]`)); v != strconv.Itoa(len(tr.keys)) {
		t.Errorf("in English the page shows %s letters sent", v)
	}
	shot("02-overview-en")
	b.do("switching back", chromedp.Click(css("#lang")),
		chromedp.Poll[chromedp.Void](label+` === "Văn bản đã gửi"`, chromedp.WithPollingTimeout(5*time.Second)))
	t.Logf("generator: %d letters, %d pairs, %d × 01, %d × 03; ledger: %d letters, %d delivered, statuses %v; page: %v",
		len(tr.keys), tr.pairs, tr.taken, tr.accepted, letters, delivered, statuses, got)

	// The agency table, sorted by letters sent.
	top, topN := "", 0
	for organ, n := range tr.sentBy {
		if n > topN || n == topN && organ < top {
			top, topN = organ, n
		}
	}
	b.do("the agency table",
		chromedp.Navigate(base+"/dashboard/#/agencies"), chromedp.WaitVisible(css(`[data-testid="agencies"]`)),
		chromedp.Click(css(`th[data-sort="sent"]`)), chromedp.WaitVisible(css(`th.sorted-desc[data-sort="sent"]`)))
	firstID := evalT[string](b, `document.querySelector("tbody tr").dataset.id`)
	firstSent := evalT[string](b, `document.querySelector("tbody tr [data-k=sent]").dataset.value`)
	shot("03-agencies")
	if firstSent != strconv.Itoa(topN) {
		t.Errorf("the agency table sorted by sent starts with %s (%s letters); the generator's top sender %s sent %d", firstID, firstSent, top, topN)
	}

	// Search by DocumentId, open the letter, see its timeline.
	i := 1
	key := tr.keys[i]
	result := fmt.Sprintf(`[data-testid="result"][data-key=%q]`, key)
	b.do("searching",
		chromedp.Navigate(base+"/dashboard/#/search"), chromedp.WaitVisible(css(`[data-testid="search-form"]`)),
		chromedp.SendKeys(css(`input[name="document_id"]`), tr.docIDs[i]), chromedp.Click(css(`[data-testid="search-form"] button[type="submit"]`)),
		chromedp.WaitVisible(css(result)))
	shot("04-search")
	if n := evalT[int](b, `document.querySelectorAll('[data-testid="result"]').length`); n != 1 {
		t.Errorf("searching DocumentId %q found %d letters, want 1", tr.docIDs[i], n)
	}
	b.do("opening the letter", chromedp.Click(css(result)), chromedp.WaitVisible(css(`[data-testid="recipient"]`)))
	recipients := evalT[[]string](b, `[...document.querySelectorAll('[data-testid="recipient"]')].map(r => r.dataset.organ + "=" + r.dataset.stage)`)
	entries, err := ledger.ByKey(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	timeline := bus.Timeline(entries)
	if len(recipients) != len(timeline) {
		t.Fatalf("the letter page lists %v; the ledger has %d recipients", recipients, len(timeline))
	}
	evalT[chromedp.Void](b, `document.querySelectorAll("details").forEach(d => d.open = true)`)
	for _, rs := range timeline {
		kinds := evalT[[]string](b, fmt.Sprintf(`[...document.querySelectorAll('[data-testid="timeline"][data-organ=%q] li')].map(li => li.dataset.kind + li.dataset.status)`, rs.OrganID))
		var wantKinds []string
		for _, ev := range rs.Events {
			wantKinds = append(wantKinds, ev.Kind+ev.Status)
		}
		if !slices.Equal(kinds, wantKinds) {
			t.Errorf("timeline of %s on the page %v, in the ledger %v", rs.OrganID, kinds, wantKinds)
		}
	}
	shot("05-letter")
	receipts := evalT[int](b, `fetch(document.querySelector('[data-testid="evidence-link"]').href).then(r => r.json()).then(e => e.receipts.length + (e.pending || []).length)`)
	if receipts < 1+len(timeline) {
		t.Errorf("the evidence of the letter has %d receipts", receipts)
	}

	// CSRF: a request without the session's token is refused, and another
	// site cannot sign the user out.
	if code := evalT[int](b, `fetch("/dashboard/api/logout", {method: "POST", headers: {"Content-Type": "application/json"}, body: "{}"}).then(r => r.status)`); code != 403 {
		t.Errorf("sign-out without the CSRF token: %d, want 403", code)
	}
	if code := evalT[int](b, `fetch("/dashboard/api/logout", {method: "POST", headers: {"Content-Type": "application/json", "X-CSRF-Token": "forged"}, body: "{}"}).then(r => r.status)`); code != 403 {
		t.Errorf("sign-out with a forged CSRF token: %d, want 403", code)
	}
	b.do("visiting another site", chromedp.Navigate(evil.URL), chromedp.Sleep(time.Second))
	b.do("coming back", chromedp.Navigate(base+"/dashboard/#/"), chromedp.WaitVisible(css(`[data-testid="overview"]`)))
	if loc := location(); loc != "/dashboard/" {
		t.Errorf("after the other site's posts the dashboard is at %s: the session was ended cross-site", loc)
	}

	// Sign out; the pages are closed again.
	b.do("signing out", chromedp.Click(css("#logout")), chromedp.WaitVisible(css("#login")),
		chromedp.Navigate(base+"/dashboard/#/agencies"), chromedp.WaitVisible(css("#login")))
	shot("06-signed-out")
	if loc := location(); !strings.HasSuffix(loc, "/dashboard/login") {
		t.Errorf("after signing out the dashboard is at %s", loc)
	}
	t.Logf("screenshots in %s", shots)
}

// browserTab is one headless Chromium tab.
type browserTab struct {
	t       *testing.T
	ctx     context.Context
	started bool
}

// stepTimeout bounds one step of the browser test.
const stepTimeout = 20 * time.Second

func (b *browserTab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	runT(b, what, chromedp.Steps(steps...))
}

func runT[T any](b *browserTab, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx := b.ctx
	if b.started {
		// The first run starts the browser and must not have a timeout.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(b.ctx, stepTimeout)
		defer cancel()
	}
	b.started = true
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// evalT evaluates a script in the tab, awaiting a promise it returns.
func evalT[T any](b *browserTab, js string) T {
	b.t.Helper()
	return runT(b, js, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
}

// dashboardOf returns the base URL of the dev world's dashboard and the
// credentials of its admin: the one truc dev configures (with the demo
// admin's password file), or, in a tree where truc dev configures none,
// one started on the running axis with its own file.
func dashboardOf(t *testing.T, ctx context.Context, w *devWorld, dir string, m *devManifest) (base, user, password string) {
	t.Helper()
	if pw, err := os.ReadFile(filepath.Join(dir, devDashboardPasswordFile)); err == nil {
		eventually(t, 10*time.Second, "the dashboard of truc dev", func() (bool, string) {
			resp, err := http.Get(m.Axis.URL + "/dashboard/login")
			if err != nil {
				return false, err.Error()
			}
			resp.Body.Close()
			return resp.StatusCode == 200, resp.Status
		})
		t.Logf("using the dashboard truc dev configured at %s/dashboard/", m.Axis.URL)
		return m.Axis.URL, "admin", strings.TrimSpace(string(pw))
	}
	password = "browser test passphrase"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), dashboard.MinBcryptCost)
	if err != nil {
		t.Fatal(err)
	}
	sec := dashboardSection{
		Users: []dashboard.User{{Name: "admin", Role: dashboard.RoleAdmin, PasswordBcrypt: string(hash)}},
		DB:    filepath.Join(t.TempDir(), "dashboard.db"),
	}
	mux := http.NewServeMux()
	run, err := w.axis.startDashboardWith(sec, mux)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := run(ctx); err != nil {
			t.Errorf("the dashboard: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); srv.Close(); wg.Wait() })
	eventually(t, 10*time.Second, "the dashboard to start", func() (bool, string) {
		resp, err := http.Get(srv.URL + "/dashboard/login")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
	t.Logf("started a dashboard on the dev world's axis at %s/dashboard/", srv.URL)
	return srv.URL, "admin", password
}
