package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"truc.vn/truc/bus"
)

// site is a dashboard over a scenario world behind an httptest server.
type site struct {
	w   *world
	s   scenario
	d   *Dashboard
	srv *httptest.Server
	clk *clock
}

func newSite(t *testing.T, tls bool, edit ...func(*Config)) *site {
	t.Helper()
	w := newWorld(t)
	s := fillScenario(w)
	if _, err := w.ledger.Log().SignCheckpoint(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: at(60)}
	d := w.open(filepath.Join(t.TempDir(), "dashboard.db"), clk, edit...)
	t.Cleanup(func() { d.Close() })
	mustSync(t, d)
	mux := http.NewServeMux()
	mux.Handle(Prefix, d.Handler())
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(mux)
	} else {
		srv = httptest.NewServer(mux)
	}
	t.Cleanup(srv.Close)
	return &site{w: w, s: s, d: d, srv: srv, clk: clk}
}

// browser is an HTTP client with a cookie jar, like a browser tab.
type browser struct {
	t    *testing.T
	site *site
	c    *http.Client
	csrf string
}

func (s *site) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{
		Transport: s.srv.Client().Transport, Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &browser{t: t, site: s, c: c}
}

func (b *browser) do(method, path string, body string, hdr map[string]string) (*http.Response, []byte) {
	b.t.Helper()
	req, err := http.NewRequest(method, b.site.srv.URL+path, strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, data
}

func (b *browser) get(path string) (*http.Response, []byte) { return b.do("GET", path, "", nil) }

// getJSON GETs path, wants status, and decodes the body into out.
func (b *browser) getJSON(path string, status int, out any) {
	b.t.Helper()
	resp, body := b.get(path)
	if resp.StatusCode != status {
		b.t.Fatalf("GET %s: %s, want %d: %s", path, resp.Status, status, body)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			b.t.Fatalf("GET %s: %v: %s", path, err, body)
		}
	}
}

func (b *browser) loginToken() string {
	b.t.Helper()
	var tok struct {
		CSRF string `json:"csrf_token"`
	}
	b.getJSON("/dashboard/api/login", 200, &tok)
	return tok.CSRF
}

func jsonHeaders(csrf string) map[string]string {
	return map[string]string{"Content-Type": "application/json", csrfHeader: csrf}
}

func (b *browser) login(name, password string) *http.Response {
	b.t.Helper()
	resp, _ := b.do("POST", "/dashboard/api/login", fmt.Sprintf(`{"name":%q,"password":%q}`, name, password), jsonHeaders(b.loginToken()))
	if resp.StatusCode == 200 {
		var s struct {
			CSRF string `json:"csrf_token"`
		}
		b.getJSON("/dashboard/api/session", 200, &s)
		b.csrf = s.CSRF
	}
	return resp
}

func (b *browser) mustLogin(name string) {
	b.t.Helper()
	if resp := b.login(name, testPassword); resp.StatusCode != 200 {
		b.t.Fatalf("sign-in as %s: %s", name, resp.Status)
	}
}

func wantProblem(t *testing.T, what string, resp *http.Response, body []byte, status int, field string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("%s: %s, want %d: %s", what, resp.Status, status, body)
		return
	}
	var p struct {
		Status int    `json:"status"`
		Field  string `json:"field"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(body, &p); err != nil || p.Status != status || p.Field != field || p.Detail == "" {
		t.Errorf("%s: problem %s (%v), want status %d naming field %q", what, body, err, status, field)
	}
}

func TestSignIn(t *testing.T) {
	s := newSite(t, false)
	b := s.browser(t)

	resp, _ := b.get("/dashboard/")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/dashboard/login" {
		t.Fatalf("the dashboard without a session: %s to %q, want 303 to the sign-in page", resp.Status, resp.Header.Get("Location"))
	}
	resp, body := b.get("/dashboard/login")
	if resp.StatusCode != 200 || !strings.Contains(string(body), `id="login"`) {
		t.Fatalf("sign-in page: %s", resp.Status)
	}
	for _, p := range []string{"/dashboard/api/overview", "/dashboard/api/agencies", "/dashboard/api/search?sender=x", "/dashboard/api/session", "/dashboard/api/stream"} {
		resp, body := b.get(p)
		wantProblem(t, "GET "+p+" without a session", resp, body, 401, "")
	}

	token := b.loginToken()
	good := fmt.Sprintf(`{"name":"viewer","password":%q}`, testPassword)
	cases := []struct {
		name   string
		body   string
		hdr    map[string]string
		status int
		field  string
	}{
		{"no CSRF token", good, map[string]string{"Content-Type": "application/json"}, 403, csrfHeader},
		{"another CSRF token", good, jsonHeaders("x" + token), 403, csrfHeader},
		{"a form post", "name=viewer&password=x", map[string]string{"Content-Type": "application/x-www-form-urlencoded", csrfHeader: token}, 415, "Content-Type"},
		{"cross-site", good, map[string]string{"Content-Type": "application/json", csrfHeader: token, "Origin": "https://evil.example"}, 403, "Origin"},
		{"cross-site fetch metadata", good, map[string]string{"Content-Type": "application/json", csrfHeader: token, "Sec-Fetch-Site": "cross-site"}, 403, "Origin"},
		{"not JSON", "{", jsonHeaders(token), 400, ""},
		{"unknown member", `{"name":"viewer","password":"x","role":"admin"}`, jsonHeaders(token), 400, ""},
		{"bad name", `{"name":"a b","password":"x"}`, jsonHeaders(token), 400, "name"},
		{"no password", `{"name":"viewer","password":""}`, jsonHeaders(token), 400, "password"},
		{"wrong password", `{"name":"viewer","password":"nope"}`, jsonHeaders(token), 401, ""},
		{"unknown user", `{"name":"nobody","password":"nope"}`, jsonHeaders(token), 401, ""},
	}
	for _, c := range cases {
		resp, body := b.do("POST", "/dashboard/api/login", c.body, c.hdr)
		wantProblem(t, c.name, resp, body, c.status, c.field)
	}

	resp = b.login("viewer", testPassword)
	if resp.StatusCode != 200 {
		t.Fatalf("sign-in: %s", resp.Status)
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/dashboard/" || cookie.Secure {
		t.Fatalf("session cookie over plain HTTP: %+v; want HttpOnly, SameSite=Strict, Path=/dashboard/, not Secure", cookie)
	}
	resp, body = b.get("/dashboard/")
	if resp.StatusCode != 200 || !strings.Contains(string(body), "app.js") {
		t.Fatalf("the dashboard with a session: %s", resp.Status)
	}
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("the page has no %s header", h)
		}
	}
	if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Errorf("CSP %q allows scripts from elsewhere", resp.Header.Get("Content-Security-Policy"))
	}
	resp, _ = b.get("/dashboard/login")
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the sign-in page when signed in: %s, want a redirect to the dashboard", resp.Status)
	}

	// Sign out: needs the CSRF token; the session then stops working.
	resp, body = b.do("POST", "/dashboard/api/logout", "{}", map[string]string{"Content-Type": "application/json"})
	wantProblem(t, "sign-out without CSRF", resp, body, 403, csrfHeader)
	resp, body = b.do("POST", "/dashboard/api/logout", "{}", jsonHeaders(b.csrf+"x"))
	wantProblem(t, "sign-out with a wrong CSRF token", resp, body, 403, csrfHeader)
	b.getJSON("/dashboard/api/overview", 200, nil) // still signed in
	resp, _ = b.do("POST", "/dashboard/api/logout", "{}", jsonHeaders(b.csrf))
	if resp.StatusCode != 204 {
		t.Fatalf("sign-out: %s", resp.Status)
	}
	resp, body = b.get("/dashboard/api/overview")
	wantProblem(t, "after sign-out", resp, body, 401, "")
	resp, _ = b.do("GET", "/dashboard/api/logout", "", nil)
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET sign-out: %s, want 405", resp.Status)
	}
}

func TestSignInTLSCookies(t *testing.T) {
	for _, c := range []struct {
		name   string
		tls    bool
		secure bool
	}{{"tls", true, false}, {"behind a TLS proxy", false, true}} {
		t.Run(c.name, func(t *testing.T) {
			s := newSite(t, c.tls, func(cfg *Config) { cfg.SecureCookies = c.secure })
			resp := s.browser(t).login("admin", testPassword)
			if resp.StatusCode != 200 {
				t.Fatal(resp.Status)
			}
			for _, ck := range resp.Cookies() {
				if ck.Name == sessionCookie && !ck.Secure {
					t.Errorf("session cookie %+v is not Secure", ck)
				}
			}
		})
	}
}

func TestSignInRateLimit(t *testing.T) {
	s := newSite(t, false)
	b := s.browser(t)
	for i := range maxUserFailures {
		if resp := b.login("viewer", "wrong"); resp.StatusCode != 401 {
			t.Fatalf("failure %d: %s", i+1, resp.Status)
		}
	}
	resp := b.login("viewer", testPassword)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("the right password after %d failures: %s (Retry-After %q), want 429", maxUserFailures, resp.Status, resp.Header.Get("Retry-After"))
	}
	// Another user is not locked out by the first one's failures...
	b.mustLogin("admin")
	// ...until the address has failed too often.
	for i := range maxAddrFailures - maxUserFailures {
		if resp := b.login(fmt.Sprintf("guess%d", i), "wrong"); resp.StatusCode != 401 {
			t.Fatalf("address failure %d: %s", i, resp.Status)
		}
	}
	if resp := b.login("admin", testPassword); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after %d failures from one address: %s, want 429", maxAddrFailures, resp.Status)
	}
	// The window passes.
	s.clk.add(loginWindow)
	b.mustLogin("viewer")
}

func TestSessionExpiry(t *testing.T) {
	s := newSite(t, false, func(c *Config) { c.SessionIdle, c.SessionMax = 10*time.Minute, time.Hour })
	b := s.browser(t)
	b.mustLogin("viewer")
	for range 6 { // active: the idle timer restarts, until SessionMax
		s.clk.add(9 * time.Minute)
		b.getJSON("/dashboard/api/session", 200, nil)
	}
	s.clk.add(7 * time.Minute) // 61 minutes after sign-in
	resp, body := b.get("/dashboard/api/session")
	wantProblem(t, "past SessionMax", resp, body, 401, "")

	b.mustLogin("viewer")
	s.clk.add(10 * time.Minute)
	resp, body = b.get("/dashboard/api/session")
	wantProblem(t, "idle for SessionIdle", resp, body, 401, "")
}

func TestRoles(t *testing.T) {
	s := newSite(t, false)
	viewer, admin := s.browser(t), s.browser(t)
	viewer.mustLogin("viewer")
	admin.mustLogin("admin")

	resp, body := viewer.get("/dashboard/api/admin/sessions")
	wantProblem(t, "a viewer listing sessions", resp, body, 403, "")
	resp, body = viewer.do("POST", "/dashboard/api/admin/sessions/revoke", `{"id":"x"}`, jsonHeaders(viewer.csrf))
	wantProblem(t, "a viewer signing out a session", resp, body, 403, "")

	var list struct {
		Sessions []SessionInfo `json:"sessions"`
	}
	admin.getJSON("/dashboard/api/admin/sessions", 200, &list)
	if len(list.Sessions) != 2 {
		t.Fatalf("sessions: %+v", list.Sessions)
	}
	var viewerID string
	for _, x := range list.Sessions {
		if x.User == "viewer" {
			viewerID = x.ID
		}
	}
	resp, body = admin.do("POST", "/dashboard/api/admin/sessions/revoke", fmt.Sprintf(`{"id":%q}`, viewerID), map[string]string{"Content-Type": "application/json"})
	wantProblem(t, "revoking without CSRF", resp, body, 403, csrfHeader)
	resp, body = admin.do("POST", "/dashboard/api/admin/sessions/revoke", fmt.Sprintf(`{"id":%q}`, viewerID), jsonHeaders(viewer.csrf))
	wantProblem(t, "revoking with another session's CSRF token", resp, body, 403, csrfHeader)
	resp, body = admin.do("POST", "/dashboard/api/admin/sessions/revoke", `{"id":"nope"}`, jsonHeaders(admin.csrf))
	wantProblem(t, "revoking an unknown session", resp, body, 404, "id")
	resp, _ = admin.do("POST", "/dashboard/api/admin/sessions/revoke", fmt.Sprintf(`{"id":%q}`, viewerID), jsonHeaders(admin.csrf))
	if resp.StatusCode != 204 {
		t.Fatalf("revoking: %s", resp.Status)
	}
	resp, body = viewer.get("/dashboard/api/overview")
	wantProblem(t, "a revoked session", resp, body, 401, "")
}

func TestAPIPages(t *testing.T) {
	s := newSite(t, false)
	b := s.browser(t)
	b.mustLogin("viewer")

	var o Overview
	b.getJSON("/dashboard/api/overview?hours=3", 200, &o)
	if len(o.Hours) != 3 || len(o.Minutes) != liveMinutes || o.Totals.Sent != 4 {
		t.Errorf("overview: %d hours, %d minutes, sent %d", len(o.Hours), len(o.Minutes), o.Totals.Sent)
	}
	var tab Table
	b.getJSON("/dashboard/api/agencies?sort=sent&order=desc&limit=2", 200, &tab)
	if tab.Total != len(s.w.edgeOf) || len(tab.Rows) != 2 || tab.Rows[0].ID != organ(0, 0) || tab.Rows[0].Sent != 3 {
		t.Errorf("agencies by sent: total %d, rows %+v", tab.Total, tab.Rows)
	}
	b.getJSON("/dashboard/api/agencies?sort=id&order=asc&q=H53", 200, &tab)
	if tab.Total != 5 || tab.Rows[0].ID != organ(2, 0) || !slices.IsSortedFunc(tab.Rows, func(a, b Row) int { return strings.Compare(a.ID, b.ID) }) {
		t.Errorf("agencies filtered to H53 by id: %+v", tab)
	}
	b.getJSON("/dashboard/api/edges?sort=await_01", 200, &tab)
	if tab.Total != 3 || tab.Rows[0].ID != "tayninh" || tab.Rows[0].Name == "" {
		t.Errorf("edges by await_01: %+v", tab.Rows)
	}

	var letter struct {
		LetterView
		EvidenceURL string `json:"evidence_url"`
		AdminURL    string `json:"admin_url"`
	}
	b.getJSON("/dashboard/api/letter?key="+url.QueryEscape(s.s.l1.key), 200, &letter)
	if letter.Letter == nil || letter.Letter.Code != "1/UBND-VP" || letter.Letter.Subject == "" || len(letter.Recipients) != 4 || letter.Entries < 5 {
		t.Fatalf("letter: %+v", letter)
	}
	stages := map[string]string{}
	for _, r := range letter.Recipients {
		stages[r.OrganID] = r.Stage
		if len(r.Events) == 0 {
			t.Errorf("recipient %s has no timeline", r.OrganID)
		}
	}
	want := map[string]string{organ(1, 0): "done", organ(1, 1): "await-03", organ(2, 0): "await-01", organ(2, 4): "await-01"}
	if fmt.Sprint(stages) != fmt.Sprint(want) {
		t.Errorf("stages %v, want %v", stages, want)
	}
	if letter.AdminURL != "/admin/v1/letters?key="+url.QueryEscape(s.s.l1.key) {
		t.Errorf("admin URL %q", letter.AdminURL)
	}

	// The evidence link: every receipt verifies against the log key.
	var ev Evidence
	b.getJSON(letter.EvidenceURL, 200, &ev)
	if len(ev.Receipts) < 5 || ev.Total != len(ev.Receipts)+len(ev.Pending) {
		t.Fatalf("evidence: %d receipts, %d pending, total %d", len(ev.Receipts), len(ev.Pending), ev.Total)
	}
	verifier := s.w.logVerifier(t)
	for _, r := range ev.Receipts {
		rc, err := bus.DecodeReceipt(r.Receipt)
		if err != nil {
			t.Fatal(err)
		}
		e, _, err := rc.Open(verifier)
		if err != nil {
			t.Fatalf("receipt of leaf %d: %v", r.Index, err)
		}
		if rc.Index != r.Index || (e.MessageID != s.s.l1.msgID && e.MessageID != s.s.upd.msgID && e.Kind != bus.EventStatus) {
			t.Errorf("receipt %d is about %s %s", r.Index, e.Kind, e.MessageID)
		}
	}

	for _, c := range []struct {
		path, field string
		status      int
	}{
		{"/dashboard/api/overview?hours=0", "hours", 400},
		{"/dashboard/api/overview?hours=x", "hours", 400},
		{"/dashboard/api/agencies?sort=bogus", "sort", 400},
		{"/dashboard/api/agencies?order=up", "order", 400},
		{"/dashboard/api/agencies?offset=-1", "offset", 400},
		{"/dashboard/api/edges?limit=5000", "limit", 400},
		{"/dashboard/api/search?from=yesterday", "from", 400},
		{"/dashboard/api/search?from=2026-03-03&to=2026-03-01", "from", 400},
		{"/dashboard/api/search?sender=a%00b", "sender", 400},
		{"/dashboard/api/search?cursor=%21%21", "cursor", 400},
		{"/dashboard/api/search?limit=1000", "limit", 400},
		{"/dashboard/api/letter?key=nokey", "key", 400},
		{"/dashboard/api/letter?key=" + url.QueryEscape(organ(0, 0)+"/nothing"), "key", 404},
		{"/dashboard/api/letter/evidence?key=" + url.QueryEscape(organ(0, 0)+"/nothing"), "key", 404},
		{"/dashboard/api/letter/evidence?key=" + url.QueryEscape(s.s.l1.key) + "&offset=-2", "offset", 400},
		{"/dashboard/api/nothing", "", 404},
	} {
		resp, body := b.get(c.path)
		wantProblem(t, c.path, resp, body, c.status, c.field)
	}
}

func (w *world) logVerifier(t *testing.T) note.Verifiers {
	t.Helper()
	return note.VerifierList(w.signer.Verifier())
}

func TestAPISearch(t *testing.T) {
	s := newSite(t, false)
	b := s.browser(t)
	b.mustLogin("viewer")
	keys := func(q string) []string {
		t.Helper()
		var res SearchResult
		b.getJSON("/dashboard/api/search?"+q, 200, &res)
		var out []string
		for _, l := range res.Letters {
			out = append(out, l.Key)
		}
		return out
	}
	l1, l2, l3, l4 := s.s.l1.key, s.s.l2.key, s.s.l3.key, s.s.l4.key
	x1 := organ(2, 3) + "/X1"
	for _, c := range []struct {
		q    string
		want []string
	}{
		{"document_id=" + url.QueryEscape(organ(0, 0)+",2026/03/02,1/"), []string{l1}},
		{"document_id=" + url.QueryEscape(strings.ToUpper(organ(0, 0)+",2026/03/02,")), []string{l1, l3, l4}},
		{"document_id=x1", []string{x1}},
		{"code=" + url.QueryEscape("2/ubnd-vp"), []string{l2}},
		{"code=" + url.QueryEscape(" UBND - VP "), []string{l1, l3, l4, l2}}, // by key
		{"sender=" + organ(0, 0), []string{l4, l3, l1}},
		{"recipient=" + organ(1, 1), []string{l1}},
		{"recipient=" + organ(2, 4), []string{l1}},
		{"sender=" + organ(0, 0) + "&recipient=" + organ(2, 1), []string{l3}},
		{"from=2026-03-02&to=2026-03-02", []string{organ(0, 2) + "/Y1", x1, l4, l3, l2, l1}},
		{"from=2026-03-03", nil},
		{"from=" + url.QueryEscape(at(1.5).Format(time.RFC3339)) + "&to=" + url.QueryEscape(at(4.5).Format(time.RFC3339)), []string{l4, l3}},
		{"sender=" + organ(0, 0) + "&from=" + url.QueryEscape(at(1.5).Format(time.RFC3339)), []string{l4, l3}},
		{"code=3&sender=" + organ(0, 0), []string{l3}},
		{"sender=" + organ(0, 2), []string{organ(0, 2) + "/Y1"}}, // the claimed sender of a rejected submission
	} {
		if got := keys(c.q); !slices.Equal(got, c.want) {
			t.Errorf("search %s:\n got %q\nwant %q", c.q, got, c.want)
		}
	}
	var res SearchResult
	b.getJSON("/dashboard/api/search?document_id=x1", 200, &res)
	if len(res.Letters) != 1 || res.Letters[0].Accepted || res.Letters[0].RejectionCount != 1 {
		t.Errorf("a key known only from a rejection: %+v", res.Letters)
	}
	b.getJSON("/dashboard/api/search?sender="+organ(0, 0), 200, &res)
	if st := res.Letters[2].Stages; st["done"] != 1 || st["await-03"] != 1 || st["await-01"] != 2 {
		t.Errorf("stages of %s in the results: %v", l1, st)
	}
}

func TestStream(t *testing.T) {
	s := newSite(t, false)
	b := s.browser(t)
	b.mustLogin("viewer")
	req, _ := http.NewRequest("GET", s.srv.URL+"/dashboard/api/stream", nil)
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("stream content type %q", ct)
	}
	events := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		var ev string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				events <- ev + " " + line[len("data: "):]
			}
		}
		close(events)
	}()
	next := func() IndexState {
		t.Helper()
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatal("the stream ended")
			}
			kind, data, _ := strings.Cut(e, " ")
			if kind != "state" {
				t.Fatalf("event %q", e)
			}
			var st IndexState
			if err := json.Unmarshal([]byte(data), &st); err != nil {
				t.Fatal(err)
			}
			return st
		case <-time.After(10 * time.Second):
			t.Fatal("no event within 10s")
		}
		return IndexState{}
	}
	first := next()
	s.w.send(organ(2, 2), []string{organ(0, 0)}, "55", "", at(50))
	mustSync(t, s.d)
	if got := next(); got.Cursor != first.Cursor+1 {
		t.Fatalf("after one more event the stream says cursor %d, was %d", got.Cursor, first.Cursor)
	}
}

// TestOpenAPI checks that the OpenAPI document lists exactly the routes the
// handler serves, with their methods.
func TestOpenAPI(t *testing.T) {
	s := newSite(t, false)
	b := s.browser(t)
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	b.getJSON("/dashboard/api/openapi.json", 200, &doc)
	b.mustLogin("admin")
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
			if strings.HasSuffix(path, "/stream") {
				ctx, cancel := context.WithCancel(ctxT(t))
				req, _ := http.NewRequestWithContext(ctx, "GET", s.srv.URL+path, nil)
				resp, err := b.c.Do(req)
				if err != nil || resp.StatusCode != 200 {
					t.Errorf("documented %s %s: %v %v", method, path, resp, err)
				}
				cancel()
				continue
			}
			resp, _ := b.do(strings.ToUpper(method), path, "{}", map[string]string{"Content-Type": "application/json"})
			if resp.StatusCode == 404 && !strings.Contains(path, "letter") || resp.StatusCode == 405 {
				t.Errorf("documented %s %s: %s", method, path, resp.Status)
			}
		}
	}
	routes := s.d.api()
	for route := range routes {
		if !documented[route] {
			t.Errorf("route %s is not in openapi.json", route)
		}
	}
	if len(documented) != len(routes) {
		t.Errorf("openapi.json documents %d operations, the handler serves %d", len(documented), len(routes))
	}
}
