package dashboard

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"truc.vn/truc/bus"
	"truc.vn/truc/edoc"
)

//go:embed assets
var assets embed.FS

// Cookie and header names. Stable: the pages depend on them.
const (
	sessionCookie = "truc_dash_session"
	loginCookie   = "truc_dash_login"
	csrfHeader    = "X-CSRF-Token"
	// Prefix is where the dashboard is mounted.
	Prefix = "/dashboard/"
	// AdminLetterPath is the axis admin API's evidence of a letter (it
	// takes an admin bearer token, not a dashboard session).
	AdminLetterPath = "/admin/v1/letters?key="
)

const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

func (d *Dashboard) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dashboard/{$}", d.indexPage)
	mux.HandleFunc("GET /dashboard/login", d.loginPage)
	mux.Handle("GET /dashboard/assets/", assetHandler())
	methods := map[string][]string{} // API path → its methods
	for pattern, h := range d.api() {
		mux.HandleFunc(pattern, h)
		method, path, _ := strings.Cut(pattern, " ")
		methods[path] = append(methods[path], method)
	}
	mux.HandleFunc("/dashboard/api/", func(w http.ResponseWriter, r *http.Request) {
		if allowed, ok := methods[r.URL.Path]; ok {
			slices.Sort(allowed)
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			problem(w, http.StatusMethodNotAllowed, "", r.Method+" is not allowed here")
			return
		}
		problem(w, http.StatusNotFound, "", "no such endpoint")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if !strings.HasPrefix(r.URL.Path, "/dashboard/assets/") {
			h.Set("Cache-Control", "no-store")
		}
		mux.ServeHTTP(w, r)
	})
}

// api returns the JSON API's handlers by route pattern (openapi.json
// documents each).
func (d *Dashboard) api() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /dashboard/api/openapi.json": func(w http.ResponseWriter, r *http.Request) {
			serveAsset(w, r, "assets/openapi.json")
		},
		"GET /dashboard/api/login":                  d.loginToken,
		"POST /dashboard/api/login":                 d.handleLogin,
		"POST /dashboard/api/logout":                d.signedIn(RoleViewer, true, d.handleLogout),
		"GET /dashboard/api/session":                d.signedIn(RoleViewer, false, d.handleSession),
		"GET /dashboard/api/overview":               d.signedIn(RoleViewer, false, d.handleOverview),
		"GET /dashboard/api/agencies":               d.signedIn(RoleViewer, false, d.handleTable(d.Agencies)),
		"GET /dashboard/api/edges":                  d.signedIn(RoleViewer, false, d.handleTable(d.Edges)),
		"GET /dashboard/api/search":                 d.signedIn(RoleViewer, false, d.handleSearch),
		"GET /dashboard/api/letter":                 d.signedIn(RoleViewer, false, d.handleLetter),
		"GET /dashboard/api/letter/evidence":        d.signedIn(RoleViewer, false, d.handleEvidence),
		"GET /dashboard/api/stream":                 d.signedIn(RoleViewer, false, d.handleStream),
		"GET /dashboard/api/admin/sessions":         d.signedIn(RoleAdmin, false, d.handleSessions),
		"POST /dashboard/api/admin/sessions/revoke": d.signedIn(RoleAdmin, true, d.handleRevoke),
	}
}

func assetHandler() http.Handler {
	files := http.FileServerFS(assets)
	return http.StripPrefix("/dashboard/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r) // no directory listings
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	}))
}

func serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	b, err := fs.ReadFile(assets, name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	if ct := mime.TypeByExtension(name[strings.LastIndexByte(name, '.'):]); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	_, _ = w.Write(b)
}

// problem writes an RFC 9457 problem: what went wrong, and the field
// (query parameter or JSON member) when one is to blame.
func problem(w http.ResponseWriter, status int, field, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail,omitempty"`
		Field  string `json:"field,omitempty"`
	}{"about:blank", http.StatusText(status), status, detail, field})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func (d *Dashboard) cookie(r *http.Request, name, value, path string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, Secure: r.TLS != nil || d.cfg.SecureCookies, SameSite: http.SameSiteStrictMode,
	}
}

func sessionToken(r *http.Request) string {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return ""
	}
	return c.Value
}

// sameOrigin refuses requests a browser marks as coming from another site
// (Sec-Fetch-Site, Origin), on top of the CSRF token.
func sameOrigin(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		scheme := "http://"
		if r.TLS != nil {
			scheme = "https://"
		}
		// Behind a TLS proxy the browser says https while the request
		// came in over http: compare the host only.
		host, ok := strings.CutPrefix(o, scheme)
		if !ok {
			host, ok = strings.CutPrefix(o, "https://")
		}
		return ok && strings.EqualFold(host, r.Host)
	}
	return true
}

// checkPost applies the rules of every state-changing request: JSON body,
// same origin, and the CSRF token (want) in the X-CSRF-Token header.
func checkPost(w http.ResponseWriter, r *http.Request, want string) bool {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		problem(w, http.StatusUnsupportedMediaType, "Content-Type", "send application/json")
		return false
	}
	if !sameOrigin(r) {
		problem(w, http.StatusForbidden, "Origin", "cross-site requests are refused")
		return false
	}
	got := r.Header.Get(csrfHeader)
	if want == "" || got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		problem(w, http.StatusForbidden, csrfHeader, "a valid CSRF token is required")
		return false
	}
	return true
}

type sessionHandler func(w http.ResponseWriter, r *http.Request, s session, token string)

// signedIn lets through requests with a live session of at least role;
// post also requires the session's CSRF token.
func (d *Dashboard) signedIn(role Role, post bool, h sessionHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token := sessionToken(r)
		s, ok := d.auth.session(token, true)
		if !ok {
			problem(w, http.StatusUnauthorized, "", "sign-in required")
			return
		}
		if role == RoleAdmin && s.role != RoleAdmin {
			problem(w, http.StatusForbidden, "", "this needs the admin role")
			return
		}
		if post && !checkPost(w, r, s.csrf) {
			return
		}
		h(w, r, s, token)
	}
}

func (d *Dashboard) indexPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := d.auth.session(sessionToken(r), true); !ok {
		http.Redirect(w, r, "/dashboard/login", http.StatusSeeOther)
		return
	}
	serveAsset(w, r, "assets/index.html")
}

func (d *Dashboard) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := d.auth.session(sessionToken(r), false); ok {
		http.Redirect(w, r, "/dashboard/", http.StatusSeeOther)
		return
	}
	serveAsset(w, r, "assets/login.html")
}

// loginToken hands out the sign-in CSRF token: in an HttpOnly cookie and
// in the body, which only a page of this origin can read (double submit).
func (d *Dashboard) loginToken(w http.ResponseWriter, r *http.Request) {
	token := randomToken()
	http.SetCookie(w, d.cookie(r, loginCookie, token, "/dashboard/api/login", 3600))
	writeJSON(w, struct {
		CSRF string `json:"csrf_token"`
	}{token})
}

// maxLoginBody bounds a sign-in request.
const maxLoginBody = 4 << 10

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (d *Dashboard) handleLogin(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(loginCookie)
	want := ""
	if err == nil {
		want = c.Value
	}
	if !checkPost(w, r, want) {
		return
	}
	var body struct {
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, maxLoginBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		problem(w, http.StatusBadRequest, "", "the body must be {\"name\": ..., \"password\": ...}")
		return
	}
	if err := checkUserName(body.Name); err != nil {
		problem(w, http.StatusBadRequest, "name", err.Error())
		return
	}
	if body.Password == "" || len(body.Password) > 72 {
		problem(w, http.StatusBadRequest, "password", "1–72 bytes")
		return
	}
	addr := clientAddr(r)
	s, token, wait, err := d.auth.login(body.Name, body.Password, addr)
	switch {
	case errors.Is(err, errThrottled):
		d.log.Warn("dashboard: sign-in refused: too many failures", "user", body.Name, "addr", addr)
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		problem(w, http.StatusTooManyRequests, "", err.Error())
		return
	case err != nil:
		d.log.Warn("dashboard: sign-in failed", "user", body.Name, "addr", addr)
		problem(w, http.StatusUnauthorized, "", err.Error())
		return
	}
	d.log.Info("dashboard: signed in", "user", s.user, "role", s.role, "addr", addr, "session", s.id)
	http.SetCookie(w, d.cookie(r, loginCookie, "", "/dashboard/api/login", -1))
	http.SetCookie(w, d.cookie(r, sessionCookie, token, "/dashboard/", int(d.cfg.SessionMax.Seconds())))
	writeJSON(w, sessionJSON(s, d.cfg.SessionIdle))
}

type sessionBody struct {
	User      string    `json:"user"`
	Role      Role      `json:"role"`
	CSRF      string    `json:"csrf_token"`
	ID        string    `json:"session_id"`
	IdleUntil time.Time `json:"idle_until"`
}

func sessionJSON(s *session, idle time.Duration) sessionBody {
	return sessionBody{User: s.user, Role: s.role, CSRF: s.csrf, ID: s.id, IdleUntil: s.lastSeen.Add(idle).UTC()}
}

func (d *Dashboard) handleSession(w http.ResponseWriter, r *http.Request, s session, _ string) {
	writeJSON(w, sessionJSON(&s, d.cfg.SessionIdle))
}

func (d *Dashboard) handleLogout(w http.ResponseWriter, r *http.Request, s session, token string) {
	d.auth.logout(token)
	d.log.Info("dashboard: signed out", "user", s.user, "session", s.id)
	http.SetCookie(w, d.cookie(r, sessionCookie, "", "/dashboard/", -1))
	w.WriteHeader(http.StatusNoContent)
}

func (d *Dashboard) handleSessions(w http.ResponseWriter, r *http.Request, s session, _ string) {
	writeJSON(w, struct {
		Sessions []SessionInfo `json:"sessions"`
	}{d.auth.list(s.id)})
}

func (d *Dashboard) handleRevoke(w http.ResponseWriter, r *http.Request, s session, _ string) {
	var body struct {
		ID string `json:"id"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || body.ID == "" {
		problem(w, http.StatusBadRequest, "id", "the body must be {\"id\": \"<session id>\"}")
		return
	}
	if !d.auth.revoke(body.ID) {
		problem(w, http.StatusNotFound, "id", "no live session with that id")
		return
	}
	d.log.Info("dashboard: session signed out by an admin", "admin", s.user, "session", body.ID)
	w.WriteHeader(http.StatusNoContent)
}

// intParam reads an optional integer query parameter.
func intParam(r *http.Request, name string, def int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("an integer, got %q", clipText(v, 32))
	}
	return n, nil
}

func (d *Dashboard) handleOverview(w http.ResponseWriter, r *http.Request, _ session, _ string) {
	hours, err := intParam(r, "hours", DefaultHours)
	if err != nil || hours < 1 || hours > MaxHours {
		problem(w, http.StatusBadRequest, "hours", fmt.Sprintf("1–%d hours", MaxHours))
		return
	}
	o, err := d.Overview(r.Context(), hours)
	if err != nil {
		d.internal(w, "overview", err)
		return
	}
	writeJSON(w, o)
}

func (d *Dashboard) internal(w http.ResponseWriter, what string, err error) {
	d.log.Error("dashboard: query failed", "query", what, "err", err)
	problem(w, http.StatusInternalServerError, "", "the dashboard cannot answer now")
}

func (d *Dashboard) handleTable(query func(context.Context, TableQuery) (Table, error)) sessionHandler {
	return func(w http.ResponseWriter, r *http.Request, _ session, _ string) {
		q := TableQuery{Sort: r.URL.Query().Get("sort"), Filter: r.URL.Query().Get("q")}
		switch o := r.URL.Query().Get("order"); o {
		case "", "desc":
		case "asc":
			q.Asc = true
		default:
			problem(w, http.StatusBadRequest, "order", "asc or desc")
			return
		}
		var err error
		if q.Offset, err = intParam(r, "offset", 0); err != nil {
			problem(w, http.StatusBadRequest, "offset", err.Error())
			return
		}
		if q.Limit, err = intParam(r, "limit", 100); err != nil {
			problem(w, http.StatusBadRequest, "limit", err.Error())
			return
		}
		if err := checkTerm("q", q.Filter); err != nil {
			problem(w, http.StatusBadRequest, "q", err.Error())
			return
		}
		if err := CheckTableQuery(q); err != nil {
			field, _, _ := strings.Cut(err.Error(), ":")
			problem(w, http.StatusBadRequest, field, err.Error())
			return
		}
		t, err := query(r.Context(), q)
		if err != nil {
			d.internal(w, "table", err)
			return
		}
		writeJSON(w, t)
	}
}

// parseDay reads a search date: YYYY-MM-DD (a day in Vietnam time) or an
// RFC 3339 time. end moves a day to its end (the next midnight).
func parseDay(field, s string, end bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, edoc.ICT); err == nil {
		if end {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, &SearchError{field, fmt.Sprintf("a date YYYY-MM-DD or an RFC 3339 time, got %q", clipText(s, 40))}
	}
	return t, nil
}

func (d *Dashboard) handleSearch(w http.ResponseWriter, r *http.Request, _ session, _ string) {
	v := r.URL.Query()
	q := SearchQuery{
		DocumentID: v.Get("document_id"), Code: v.Get("code"),
		Sender: strings.TrimSpace(v.Get("sender")), Recipient: strings.TrimSpace(v.Get("recipient")),
		Cursor: v.Get("cursor"),
	}
	var err error
	if q.From, err = parseDay("from", v.Get("from"), false); err == nil {
		q.Until, err = parseDay("to", v.Get("to"), true)
	}
	if err == nil {
		if q.Limit, err = intParam(r, "limit", DefaultSearchLimit); err != nil {
			err = &SearchError{"limit", err.Error()}
		}
	}
	if err == nil {
		err = q.Check()
	}
	var se *SearchError
	if errors.As(err, &se) {
		problem(w, http.StatusBadRequest, se.Field, se.Rule)
		return
	}
	res, err := d.Search(r.Context(), q)
	if errors.As(err, &se) {
		problem(w, http.StatusBadRequest, se.Field, se.Rule)
		return
	}
	if err != nil {
		d.internal(w, "search", err)
		return
	}
	writeJSON(w, res)
}

func (d *Dashboard) handleLetter(w http.ResponseWriter, r *http.Request, _ session, _ string) {
	key := r.URL.Query().Get("key")
	if _, _, err := bus.ParseRootKey(key); err != nil {
		problem(w, http.StatusBadRequest, "key", err.Error())
		return
	}
	v, err := d.Letter(r.Context(), key)
	if errors.Is(err, ErrNoLetter) {
		problem(w, http.StatusNotFound, "key", "no letter with that key")
		return
	}
	if err != nil {
		d.internal(w, "letter", err)
		return
	}
	writeJSON(w, struct {
		LetterView
		EvidenceURL string `json:"evidence_url"`
		AdminURL    string `json:"admin_url"`
	}{v, "/dashboard/api/letter/evidence?key=" + url.QueryEscape(key), AdminLetterPath + url.QueryEscape(key)})
}

func (d *Dashboard) handleEvidence(w http.ResponseWriter, r *http.Request, _ session, _ string) {
	key := r.URL.Query().Get("key")
	if _, _, err := bus.ParseRootKey(key); err != nil {
		problem(w, http.StatusBadRequest, "key", err.Error())
		return
	}
	offset, err := intParam(r, "offset", 0)
	if err != nil || offset < 0 {
		problem(w, http.StatusBadRequest, "offset", "a non-negative integer")
		return
	}
	ev, err := d.Evidence(r.Context(), key, offset)
	switch {
	case errors.Is(err, ErrNoLetter):
		problem(w, http.StatusNotFound, "key", "no letter with that key")
		return
	case errors.Is(err, bus.ErrNoCheckpoint):
		problem(w, http.StatusServiceUnavailable, "", "the log has no signed checkpoint yet")
		return
	case err != nil:
		d.internal(w, "evidence", err)
		return
	}
	writeJSON(w, ev)
}

// Live stream timing.
const (
	streamHeartbeat = 15 * time.Second
	streamMinGap    = 500 * time.Millisecond
	streamLifetime  = 10 * time.Minute // the browser reconnects after it
)

// handleStream sends Server-Sent Events: "state" (an IndexState) each
// time the aggregates change, at most every streamMinGap, and "signout"
// when the session ends.
func (d *Dashboard) handleStream(w http.ResponseWriter, r *http.Request, _ session, token string) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	send := func(event string, data any) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		b, _ := json.Marshal(data)
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if _, err := io.WriteString(w, "retry: 2000\n\n"); err != nil {
		return
	}
	if !send("state", d.State()) {
		return
	}
	beat := time.NewTicker(streamHeartbeat)
	defer beat.Stop()
	life := time.NewTimer(streamLifetime)
	defer life.Stop()
	last := time.Now()
	for {
		changed := d.Changed()
		select {
		case <-r.Context().Done():
			return
		case <-d.done:
			return
		case <-life.C:
			return
		case <-beat.C:
			if _, ok := d.auth.session(token, false); !ok {
				send("signout", struct{}{})
				return
			}
			_ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
			if _, err := io.WriteString(w, ": ping\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case <-changed:
			if wait := streamMinGap - time.Since(last); wait > 0 {
				select {
				case <-time.After(wait):
				case <-r.Context().Done():
					return
				case <-d.done:
					return
				}
			}
			if _, ok := d.auth.session(token, false); !ok {
				send("signout", struct{}{})
				return
			}
			if !send("state", d.State()) {
				return
			}
			last = time.Now()
		}
	}
}
