package restapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"truc.vn/truc/bus"
	"truc.vn/truc/edoc"
)

//go:embed openapi.json
var openAPIDocument []byte

// OpenAPI returns the OpenAPI 3.1 document of the API, as served at
// /v1/openapi.json. The slice is shared: do not modify it.
func OpenAPI() []byte { return openAPIDocument }

// Limits of the handler. Choices of this API, documented in openapi.json.
const (
	// DefaultInboxLimit and MaxInboxLimit bound GET /v1/inbox?limit=.
	DefaultInboxLimit = 100
	MaxInboxLimit     = 1000
	// MaxIdempotencyKeyLength is the longest Idempotency-Key accepted.
	MaxIdempotencyKeyLength = 255
	// maxSmallBody caps the JSON bodies (status, ack).
	maxSmallBody = 64 << 10
	// maxTokenLength caps a bearer token.
	maxTokenLength = 4096
	// scanBatches bounds the Backend.Inbox calls of one page when the
	// caller's agencies are few among the edge's: the page then ends
	// short, with Next past what was skipped.
	scanBatches  = 10
	minScanBatch = 100
	// readyTimeout bounds Backend.Ready in /readyz.
	readyTimeout = 5 * time.Second
)

// Handler is the edge HTTP API: an http.Handler serving /v1, /healthz,
// /readyz and, when given, /metrics. It is safe for concurrent use.
type Handler struct {
	backend  Backend
	log      *slog.Logger
	tokens   []caller
	listen   string
	maxBody  int64
	maxWait  time.Duration
	metrics  http.Handler
	webhooks Webhooks
	now      func() time.Time
	mux      *http.ServeMux
	routes   []route
	agencies agencyIndex

	// stop ends the long polls in progress (EndLongPolls).
	stop    context.Context
	stopAll context.CancelFunc
}

var _ http.Handler = (*Handler)(nil)

// caller is a configured token: who is calling and what it may act for.
type caller struct {
	name   string
	hash   [sha256.Size]byte
	organs []string
	// cert, when set, is the fingerprint of the client certificate the
	// token is bound to.
	cert *[sha256.Size]byte
}

func (c *caller) actsFor(organ string) bool { return slices.Contains(c.organs, organ) }

func (c *caller) concerns(it bus.InboxItem) bool {
	return slices.ContainsFunc(it.Recipients, c.actsFor)
}

// own returns the caller's OrganIds among organs, in the order of organs.
func (c *caller) own(organs []string) []string {
	var out []string
	for _, o := range organs {
		if c.actsFor(o) && !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out
}

// Option configures a Handler.
type Option func(*Handler)

// WithMetrics serves m (a Prometheus handler) at GET /metrics, without
// authentication, as /healthz and /readyz are served.
func WithMetrics(m http.Handler) Option { return func(h *Handler) { h.metrics = m } }

// WithClock sets the clock of the times the handler writes into the
// packages it builds (a recall's timestamp). Default time.Now.
func WithClock(now func() time.Time) Option { return func(h *Handler) { h.now = now } }

// route is one endpoint: its ServeMux pattern and its function.
type route struct {
	method string
	path   string
	public bool
	serve  func(h *Handler, w http.ResponseWriter, r *http.Request, c *caller) *Problem
}

func (rt route) pattern() string { return rt.method + " " + rt.path }

// New checks cfg (applying its defaults) and returns the handler serving it
// with backend. logger may be nil (no logs); the handler logs refusals and
// backend failures with the route, the token's name and the rule broken,
// never tokens, request bodies or package contents.
func New(cfg Config, backend Backend, logger *slog.Logger, opts ...Option) (*Handler, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if backend == nil {
		return nil, errors.New("restapi: no backend")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{
		backend: backend,
		log:     logger,
		listen:  cfg.Listen,
		maxBody: cfg.MaxBodyBytes,
		maxWait: cfg.MaxWait,
		now:     time.Now,
		mux:     http.NewServeMux(),
	}
	h.stop, h.stopAll = context.WithCancel(context.Background())
	for _, t := range cfg.Tokens {
		c := caller{name: t.Name, organs: slices.Clone(t.OrganIDs)}
		hex.Decode(c.hash[:], []byte(t.SHA256)) // checked by validate
		if t.ClientCertSHA256 != "" {
			fp, _ := parseFingerprint(t.ClientCertSHA256) // checked by validate
			c.cert = &fp
		}
		h.tokens = append(h.tokens, c)
	}
	for _, o := range opts {
		o(h)
	}
	h.routes = []route{
		{"GET", "/healthz", true, (*Handler).healthz},
		{"GET", "/readyz", true, (*Handler).readyz},
		{"GET", "/v1/openapi.json", true, (*Handler).openapi},
		{"POST", "/v1/documents", false, (*Handler).submit},
		{"GET", "/v1/documents", false, (*Handler).documents},
		{"GET", "/v1/documents/{id}", false, (*Handler).document},
		{"GET", "/v1/documents/{id}/package", false, (*Handler).documentPackage},
		{"GET", "/v1/documents/{id}/attachments", false, (*Handler).documentAttachments},
		{"GET", "/v1/documents/{id}/attachments/{n}", false, (*Handler).documentAttachment},
		{"POST", "/v1/documents/{id}/recall", false, (*Handler).recall},
		{"GET", "/v1/inbox", false, (*Handler).inbox},
		{"GET", "/v1/inbox/{id}", false, (*Handler).item},
		{"GET", "/v1/inbox/{id}/package", false, (*Handler).item},
		{"GET", "/v1/inbox/{id}/attachments", false, (*Handler).itemAttachments},
		{"GET", "/v1/inbox/{id}/attachments/{n}", false, (*Handler).itemAttachment},
		{"POST", "/v1/inbox/{id}/ack", false, (*Handler).ack},
		{"POST", "/v1/inbox/{id}/status", false, (*Handler).status},
		{"GET", "/v1/directory/agencies", false, (*Handler).searchAgencies},
		{"GET", "/v1/webhooks/deliveries", false, (*Handler).webhookDeliveries},
		{"POST", "/v1/webhooks/deliveries/{id}/retry", false, (*Handler).retryWebhook},
	}
	if h.metrics != nil {
		h.routes = append(h.routes, route{"GET", "/metrics", true, (*Handler).serveMetrics})
	}
	allowed := map[string][]string{}
	var paths []string
	for _, rt := range h.routes {
		h.mux.Handle(rt.pattern(), h.endpoint(rt))
		if allowed[rt.path] == nil {
			paths = append(paths, rt.path)
		}
		allowed[rt.path] = append(allowed[rt.path], rt.method)
	}
	// The same paths with another method, and every other path, get a
	// problem report rather than ServeMux's plain text.
	for _, p := range paths {
		methods := allowed[p]
		if slices.Contains(methods, "GET") {
			methods = append(methods, "HEAD") // ServeMux serves HEAD with GET
		}
		allow := strings.Join(methods, ", ")
		h.mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			h.writeProblem(w, r, nil, problem(http.StatusMethodNotAllowed, ReasonMethod, "", "%s does not accept %s; it accepts %s", p, quote(r.Method), allow))
		})
	}
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.writeProblem(w, r, nil, problem(http.StatusNotFound, ReasonNotFound, "", "no endpoint %s", quote(r.URL.Path)))
	})
	return h, nil
}

// ServeHTTP serves one request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	h.mux.ServeHTTP(w, r)
}

// EndLongPolls makes the long polls in progress answer at once (with what
// there is, usually nothing) and later ones not wait: call it when the
// server shuts down, so that http.Server.Shutdown does not wait MaxWait
// for them. Server registers it.
func (h *Handler) EndLongPolls() { h.stopAll() }

// Server returns an http.Server for the handler on Config.Listen, with
// timeouts suited to the API: headers within 10 s, a whole request within
// 10 min (a 17 MiB package over a slow link), an answer within MaxWait +
// 10 min (a long poll, or a package downloaded slowly), idle connections
// closed after 2 min. Shutdown ends the long polls in progress.
func (h *Handler) Server() *http.Server {
	srv := &http.Server{
		Addr:              h.listen,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       10 * time.Minute,
		WriteTimeout:      h.maxWait + 10*time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(h.log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(h.EndLongPolls)
	return srv
}

// endpoint authenticates (unless the route is public) and serves rt.
func (h *Handler) endpoint(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var c *caller
		if !rt.public {
			var p *Problem
			if c, p = h.authenticate(r); p != nil {
				w.Header().Set("WWW-Authenticate", wwwAuthenticate(p))
				h.writeProblem(w, r, nil, p)
				return
			}
			w.Header().Set("Cache-Control", "no-store")
		}
		if p := rt.serve(h, w, r, c); p != nil {
			h.writeProblem(w, r, c, p)
		}
	})
}

// authenticate finds the token of the request: "Authorization: Bearer
// <token>", compared by SHA-256 with every configured token in constant
// time.
func (h *Handler) authenticate(r *http.Request) (*caller, *Problem) {
	vals := r.Header.Values("Authorization")
	switch {
	case len(vals) == 0:
		return nil, problem(http.StatusUnauthorized, ReasonMissingToken, "Authorization", "a bearer token is required: Authorization: Bearer <token>")
	case len(vals) > 1:
		return nil, problem(http.StatusUnauthorized, ReasonInvalidToken, "Authorization", "the header appears %d times", len(vals))
	}
	scheme, tok, _ := strings.Cut(vals[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return nil, problem(http.StatusUnauthorized, ReasonMissingToken, "Authorization", "the scheme must be Bearer")
	}
	tok = strings.TrimLeft(tok, " ")
	if tok == "" || len(tok) > maxTokenLength || !isVisibleASCII(tok) {
		return nil, problem(http.StatusUnauthorized, ReasonInvalidToken, "Authorization", "malformed bearer token")
	}
	sum := sha256.Sum256([]byte(tok))
	var found *caller
	for i := range h.tokens {
		if subtle.ConstantTimeCompare(sum[:], h.tokens[i].hash[:]) == 1 {
			found = &h.tokens[i]
		}
	}
	if found == nil {
		return nil, problem(http.StatusUnauthorized, ReasonInvalidToken, "Authorization", "the bearer token is not valid")
	}
	if found.cert != nil {
		if ok, why := clientCertMatches(r, *found.cert); !ok {
			return nil, problem(http.StatusUnauthorized, ReasonClientCert, "Authorization", "%s", why)
		}
	}
	return found, nil
}

// wwwAuthenticate is the challenge of a 401 (RFC 6750 §3).
func wwwAuthenticate(p *Problem) string {
	if p.Reason == ReasonInvalidToken || p.Reason == ReasonClientCert {
		return `Bearer realm="truc", error="invalid_token"`
	}
	return `Bearer realm="truc"`
}

// ---------------------------------------------------------------------------
// Public endpoints

func (h *Handler) healthz(w http.ResponseWriter, r *http.Request, _ *caller) *Problem {
	h.writeJSON(w, r, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (h *Handler) readyz(w http.ResponseWriter, r *http.Request, _ *caller) *Problem {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := h.backend.Ready(ctx); err != nil {
		h.log.Warn("restapi not ready", "err", err)
		return problem(http.StatusServiceUnavailable, ReasonNotReady, "", "the edge cannot accept work now")
	}
	h.writeJSON(w, r, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

func (h *Handler) openapi(w http.ResponseWriter, r *http.Request, _ *caller) *Problem {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(openAPIDocument)))
	w.WriteHeader(http.StatusOK)
	w.Write(openAPIDocument)
	return nil
}

func (h *Handler) serveMetrics(w http.ResponseWriter, r *http.Request, _ *caller) *Problem {
	h.metrics.ServeHTTP(w, r)
	return nil
}

// ---------------------------------------------------------------------------
// Inbox

func (h *Handler) inbox(w http.ResponseWriter, r *http.Request, c *caller) *Problem {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return problem(http.StatusBadRequest, ReasonBadParameter, "query", "the query string is malformed")
	}
	var (
		after uint64
		limit = DefaultInboxLimit
		wait  time.Duration
	)
	for _, k := range slices.Sorted(maps.Keys(q)) {
		v := q[k]
		if k != "after" && k != "limit" && k != "wait" {
			return problem(http.StatusBadRequest, ReasonUnknownParameter, clip(k), "GET /v1/inbox takes after, limit and wait only")
		}
		if len(v) > 1 {
			return problem(http.StatusBadRequest, ReasonBadParameter, k, "given %d times", len(v))
		}
		n, err := strconv.ParseUint(v[0], 10, 64)
		switch k {
		case "after":
			if err != nil {
				return problem(http.StatusBadRequest, ReasonBadParameter, k, "must be a cursor: a whole number from 0 (the next of a previous page)")
			}
			after = n
		case "limit":
			if err != nil || n < 1 || n > MaxInboxLimit {
				return problem(http.StatusBadRequest, ReasonBadParameter, k, "must be a whole number from 1 to %d", MaxInboxLimit)
			}
			limit = int(n)
		case "wait":
			if err != nil {
				return problem(http.StatusBadRequest, ReasonBadParameter, k, "must be a whole number of seconds from 0 (at most %d are waited)", int(h.maxWait/time.Second))
			}
			wait = h.maxWait
			if n < uint64(h.maxWait/time.Second) {
				wait = time.Duration(n) * time.Second
			}
		}
	}

	items, next, err := h.page(r.Context(), c, after, limit)
	if err == nil && len(items) == 0 && wait > 0 {
		items, next, err = h.longPoll(r.Context(), c, next, limit, wait)
	}
	if err != nil {
		return h.backendProblem(r, "inbox", c, err, "", "")
	}
	page := InboxPage{Items: make([]Item, len(items)), Next: next}
	for i, it := range items {
		page.Items[i] = itemJSON(it, c)
	}
	h.writeJSON(w, r, http.StatusOK, page)
	return nil
}

// page lists up to limit items after the cursor that concern c, and
// returns the cursor after the last item looked at.
func (h *Handler) page(ctx context.Context, c *caller, after uint64, limit int) ([]bus.InboxItem, uint64, error) {
	var items []bus.InboxItem
	next := after
	batch := max(limit, minScanBatch)
	for range scanBatches {
		got, err := h.backend.Inbox(ctx, next, batch)
		if err != nil {
			return nil, 0, err
		}
		for _, it := range got {
			if it.Seq <= next {
				return nil, 0, fmt.Errorf("backend listed item %s with seq %d after cursor %d", it.ID, it.Seq, next)
			}
			next = it.Seq
			if c.concerns(it) {
				items = append(items, it)
				if len(items) == limit {
					return items, next, nil
				}
			}
		}
		if len(got) < batch {
			break
		}
	}
	return items, next, nil
}

// longPoll waits up to wait for items after the cursor that concern c.
// It answers with nothing, and no error, when the time is up or the
// handler ends its long polls.
func (h *Handler) longPoll(ctx context.Context, c *caller, after uint64, limit int, wait time.Duration) ([]bus.InboxItem, uint64, error) {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	stop := context.AfterFunc(h.stop, cancel)
	defer stop()
	next := after
	for {
		if err := h.backend.WaitInbox(wctx, next); err != nil {
			if wctx.Err() != nil && ctx.Err() == nil {
				return nil, next, nil // the time is up
			}
			return nil, 0, err
		}
		items, n, err := h.page(ctx, c, next, limit)
		if err != nil || len(items) > 0 {
			return items, n, err
		}
		if n == next {
			// WaitInbox said there was something after next, Inbox
			// listed nothing: do not spin on a backend that disagrees
			// with itself.
			select {
			case <-wctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
		next = n
	}
}

// item serves the exact bytes of an inbox item (GET /v1/inbox/{id} and
// /v1/inbox/{id}/package).
func (h *Handler) item(w http.ResponseWriter, r *http.Request, c *caller) *Problem {
	id := r.PathValue("id")
	it, pkg, p := h.visibleItem(r, c, id, "item")
	if p != nil {
		return p
	}
	return h.servePackage(w, r, c, it.ID, it.SHA256, pkg)
}

// servePackage serves package bytes after checking them against their
// SHA-256 (a mismatch is 500, never wrong bytes), with the hex SHA-256 as
// ETag and X-Truc-Sha256; If-None-Match answers 304.
func (h *Handler) servePackage(w http.ResponseWriter, r *http.Request, c *caller, name string, sha [32]byte, pkg []byte) *Problem {
	if sha256.Sum256(pkg) != sha {
		return h.backendProblem(r, "package", c, fmt.Errorf("%s: the stored bytes do not match the SHA-256 %x", name, sha), "", "")
	}
	sum := hexSHA(sha)
	etag := `"` + sum + `"`
	hd := w.Header()
	hd.Set("ETag", etag)
	hd.Set("X-Truc-Sha256", sum)
	hd.Set("Cache-Control", "private, no-cache")
	if etagMatches(r.Header.Values("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	hd.Set("Content-Type", "application/xml")
	hd.Set("Content-Length", strconv.Itoa(len(pkg)))
	hd.Set("Content-Disposition", `attachment; filename="`+name+`.xml"`)
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		if _, err := w.Write(pkg); err != nil {
			h.log.Debug("restapi answer not written", "route", r.Pattern, "err", err)
		}
	}
	return nil
}

func (h *Handler) ack(w http.ResponseWriter, r *http.Request, c *caller) *Problem {
	id := r.PathValue("id")
	if !IsInboxID(id) {
		return badInboxID(id)
	}
	body, p := readBody(w, r, maxSmallBody)
	if p != nil {
		return p
	}
	if len(bytes.TrimSpace(body)) > 0 {
		// No member is defined yet: an empty object, or nothing.
		if p := checkMediaType(r, "application/json"); p != nil {
			return p
		}
		var none struct{}
		if p := decodeObject(body, &none); p != nil {
			return p
		}
	}
	seen, _, p := h.visibleItem(r, c, id, "ack")
	if p != nil {
		return p
	}
	it, err := h.backend.Take(r.Context(), id, c.own(seen.Recipients))
	if err != nil {
		return h.backendProblem(r, "ack", c, err, "no inbox item "+id+" for your agencies", "the item cannot be taken now")
	}
	h.log.Info("restapi item taken", "client", c.name, "item_id", id)
	h.writeJSON(w, r, http.StatusOK, itemJSON(it, c))
	return nil
}

func (h *Handler) status(w http.ResponseWriter, r *http.Request, c *caller) *Problem {
	id := r.PathValue("id")
	if !IsInboxID(id) {
		return badInboxID(id)
	}
	if p := checkMediaType(r, "application/json"); p != nil {
		return p
	}
	key, p := idempotencyKey(r)
	if p != nil {
		return p
	}
	body, p := readBody(w, r, maxSmallBody)
	if p != nil {
		return p
	}
	var req StatusRequest
	if p := decodeObject(body, &req); p != nil {
		return p
	}
	code, desc, staff, p := checkStatusRequest(req)
	if p != nil {
		return p
	}
	seen, _, p := h.visibleItem(r, c, id, "status")
	if p != nil {
		return p
	}
	e, err := h.backend.PostStatus(r.Context(), c.name, key, id, c.own(seen.Recipients), string(code), desc, staff)
	if err != nil {
		return h.backendProblem(r, "status", c, err, "no inbox item "+id+" for your agencies", "status 01 was already sent for this item")
	}
	if !isMessageID(e.Message.ID) {
		return h.backendProblem(r, "status", c, fmt.Errorf("backend returned the unusable message ID %q", clip(e.Message.ID)), "", "")
	}
	s := Submitted{ID: e.Message.ID, SHA256: hexSHA(e.Message.SHA256), StatusURL: statusURL(e.Message.ID)}
	w.Header().Set("Location", s.StatusURL)
	h.log.Info("restapi status queued", "client", c.name, "item_id", id, "msg_id", s.ID, "status", string(code))
	h.writeJSON(w, r, http.StatusAccepted, s)
	return nil
}

// checkStatusRequest checks and normalises a status request: the code
// (14 becomes 15), and text trimmed of surrounding spaces.
func checkStatusRequest(req StatusRequest) (edoc.StatusCode, string, string, *Problem) {
	if req.Code == "" {
		return "", "", "", problem(http.StatusUnprocessableEntity, ReasonRequired, "code", "the status code is required")
	}
	if len(req.Code) != 2 || !isDigit(req.Code[0]) || !isDigit(req.Code[1]) {
		return "", "", "", problem(http.StatusUnprocessableEntity, ReasonInvalid, "code", "must be two digits, got %s", quote(req.Code))
	}
	code := edoc.ParseStatusCode(req.Code)
	if !code.Known() {
		return "", "", "", problem(http.StatusUnprocessableEntity, ReasonInvalid, "code", "%s is not a status code: 01–06, 13, 15, 16 (14 is read as 15)", req.Code)
	}
	desc := strings.TrimSpace(req.Description)
	if p := checkText("description", desc, MaxDescriptionChars, true); p != nil {
		return "", "", "", p
	}
	staff := strings.TrimSpace(req.Staff)
	if p := checkText("staff", staff, MaxStaffChars, false); p != nil {
		return "", "", "", p
	}
	return code, desc, staff, nil
}

// checkText refuses text that an edXML package cannot carry or that is
// too long.
func checkText(field, s string, maxChars int, lines bool) *Problem {
	if n := utf8.RuneCountInString(s); n > maxChars {
		return problem(http.StatusUnprocessableEntity, ReasonInvalid, field, "%d characters, at most %d allowed", n, maxChars)
	}
	for i, r := range s {
		switch {
		case r == utf8.RuneError:
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				return problem(http.StatusUnprocessableEntity, ReasonInvalid, field, "not valid UTF-8")
			}
		case lines && (r == '\n' || r == '\t' || r == '\r'):
		case unicode.IsControl(r), r == 0xFFFE, r == 0xFFFF:
			return problem(http.StatusUnprocessableEntity, ReasonInvalid, field, "must not contain the character %U", r)
		}
	}
	return nil
}

// visibleItem returns inbox item id if it concerns one of c's agencies,
// else a 404 that does not tell whether it exists.
func (h *Handler) visibleItem(r *http.Request, c *caller, id, op string) (bus.InboxItem, []byte, *Problem) {
	if !IsInboxID(id) {
		return bus.InboxItem{}, nil, badInboxID(id)
	}
	notFound := "no inbox item " + id + " for your agencies"
	it, pkg, err := h.backend.Item(r.Context(), id)
	if err != nil {
		return bus.InboxItem{}, nil, h.backendProblem(r, op, c, err, notFound, "")
	}
	if !c.concerns(it) {
		h.log.Info("restapi item not shown", "client", c.name, "item_id", id)
		return bus.InboxItem{}, nil, problem(http.StatusNotFound, ReasonNotFound, "id", "%s", notFound)
	}
	return it, pkg, nil
}

// ---------------------------------------------------------------------------
// Requests

// checkMediaType requires one of types as Content-Type (parameters other
// than a UTF-8 charset refused) and no Content-Encoding.
func checkMediaType(r *http.Request, types ...string) *Problem {
	if enc := r.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		return problem(http.StatusUnsupportedMediaType, ReasonMediaType, "Content-Encoding", "%s is not accepted: send the body as is", quote(enc))
	}
	ct := r.Header.Values("Content-Type")
	want := strings.Join(types, ", ")
	if len(ct) != 1 {
		return problem(http.StatusUnsupportedMediaType, ReasonMediaType, "Content-Type", "exactly one Content-Type is required: %s", want)
	}
	mt, params, err := mime.ParseMediaType(ct[0])
	if err != nil || !slices.Contains(types, mt) {
		return problem(http.StatusUnsupportedMediaType, ReasonMediaType, "Content-Type", "%s is not accepted: %s", quote(ct[0]), want)
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return problem(http.StatusUnsupportedMediaType, ReasonMediaType, "Content-Type", "the parameter %s is not accepted (charset=utf-8 only)", quote(k+"="+v))
		}
	}
	return nil
}

// idempotencyKey returns the Idempotency-Key header: absent, or 1–255
// printable ASCII characters.
func idempotencyKey(r *http.Request) (string, *Problem) {
	vals := r.Header.Values("Idempotency-Key")
	switch {
	case len(vals) == 0:
		return "", nil
	case len(vals) > 1:
		return "", problem(http.StatusBadRequest, ReasonBadParameter, "Idempotency-Key", "given %d times", len(vals))
	}
	k := vals[0]
	if k == "" || len(k) > MaxIdempotencyKeyLength || !isPrintableASCII(k) {
		return "", problem(http.StatusBadRequest, ReasonBadParameter, "Idempotency-Key", "must be 1–%d printable ASCII characters", MaxIdempotencyKeyLength)
	}
	return k, nil
}

// readBody reads the whole body within limit; MaxBytesReader makes the
// server close the connection rather than read the rest of a larger one.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *Problem) {
	if r.ContentLength > limit {
		return nil, problem(http.StatusRequestEntityTooLarge, ReasonTooLarge, "body", "%d bytes, more than the %d accepted", r.ContentLength, limit)
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		// Room for what is declared, up to 1 MiB: memory follows the bytes
		// that arrive, not the bytes a client announces.
		buf.Grow(int(min(r.ContentLength, 1<<20)) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit)); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, problem(http.StatusRequestEntityTooLarge, ReasonTooLarge, "body", "more than the %d bytes accepted", limit)
		}
		return nil, problem(http.StatusBadRequest, ReasonBadParameter, "body", "reading the body failed")
	}
	return buf.Bytes(), nil
}

// decodeObject decodes body, one JSON object, into v (a pointer to a
// struct), refusing at any depth members the struct does not have
// (matched exactly, not without regard to case as encoding/json does),
// members given twice, null, values of the wrong type and anything after
// the object. Nested fields are named with dots and 0-based indexes:
// "code.number", "to[2]".
func decodeObject(body []byte, v any) *Problem {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	t := reflect.TypeOf(v).Elem()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return problem(http.StatusBadRequest, ReasonBadJSON, "body", "must be a JSON object")
	}
	if p := checkMembers(dec, t, ""); p != nil {
		return p
	}
	if _, err := dec.Token(); err != io.EOF {
		return problem(http.StatusBadRequest, ReasonBadJSON, "body", "data after the JSON object")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return problem(http.StatusBadRequest, ReasonBadJSON, te.Field, "must be a JSON %s", jsonKind(te.Type))
		}
		return problem(http.StatusBadRequest, ReasonBadJSON, "body", "malformed JSON")
	}
	return nil
}

// checkMembers reads the members of an object whose '{' was read, up to
// its '}', against struct type t.
func checkMembers(dec *json.Decoder, t reflect.Type, path string) *Problem {
	known := jsonMembers(t)
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return problem(http.StatusBadRequest, ReasonBadJSON, orBody(path), "malformed JSON")
		}
		name, _ := tok.(string)
		field := joinField(path, name)
		ft, ok := known[name]
		if !ok {
			if len(known) == 0 {
				return problem(http.StatusBadRequest, ReasonUnknownField, clip(field), "this request takes no members")
			}
			return problem(http.StatusBadRequest, ReasonUnknownField, clip(field), "not a member of this object (members: %s)", strings.Join(slices.Sorted(maps.Keys(known)), ", "))
		}
		if seen[name] {
			return problem(http.StatusBadRequest, ReasonDuplicateField, field, "given twice")
		}
		seen[name] = true
		if p := checkValue(dec, ft, field); p != nil {
			return p
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return problem(http.StatusBadRequest, ReasonBadJSON, orBody(path), "malformed JSON")
	}
	return nil
}

// checkValue reads one value against type t.
func checkValue(dec *json.Decoder, t reflect.Type, field string) *Problem {
	tok, err := dec.Token()
	if err != nil {
		return problem(http.StatusBadRequest, ReasonBadJSON, field, "malformed JSON value")
	}
	wrong := func() *Problem {
		return problem(http.StatusBadRequest, ReasonBadJSON, field, "must be a JSON %s", jsonKind(t))
	}
	switch t.Kind() {
	case reflect.Struct:
		if tok != json.Delim('{') {
			return wrong()
		}
		return checkMembers(dec, t, field)
	case reflect.Slice:
		if tok != json.Delim('[') {
			return wrong()
		}
		for i := 0; dec.More(); i++ {
			if p := checkValue(dec, t.Elem(), fmt.Sprintf("%s[%d]", field, i)); p != nil {
				return p
			}
		}
		if tok, err := dec.Token(); err != nil || tok != json.Delim(']') {
			return problem(http.StatusBadRequest, ReasonBadJSON, field, "malformed JSON array")
		}
		return nil
	case reflect.String:
		if _, ok := tok.(string); !ok {
			return wrong()
		}
	case reflect.Bool:
		if _, ok := tok.(bool); !ok {
			return wrong()
		}
	case reflect.Int, reflect.Int64, reflect.Uint64, reflect.Int32, reflect.Uint32:
		if _, ok := tok.(json.Number); !ok {
			return wrong()
		}
	default:
		return problem(http.StatusBadRequest, ReasonBadJSON, field, "not accepted")
	}
	return nil
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	}
	return "number"
}

func joinField(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func orBody(path string) string {
	if path == "" {
		return "body"
	}
	return path
}

// jsonMembers returns the JSON member names of struct type t with their
// types.
func jsonMembers(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f.Type
	}
	return m
}

// etagMatches implements If-None-Match for one strong ETag.
func etagMatches(headers []string, etag string) bool {
	for _, h := range headers {
		for _, t := range strings.Split(h, ",") {
			t = strings.TrimSpace(t)
			if t == "*" || strings.TrimPrefix(t, "W/") == etag {
				return true
			}
		}
	}
	return false
}

// IsInboxID reports whether s is an inbox item ID as bus.InboxID makes
// them: "in-" and 32 lowercase hex digits. Such an ID is safe as a file
// name.
func IsInboxID(s string) bool {
	if len(s) != 3+32 || !strings.HasPrefix(s, "in-") {
		return false
	}
	for i := 3; i < len(s); i++ {
		if c := s[i]; !isDigit(c) && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// isMessageID is the bus rule for a message ID: 1–255 bytes of
// [A-Za-z0-9._:-], starting with a letter or digit.
func isMessageID(s string) bool {
	if s == "" || len(s) > bus.MaxIDLen || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '.' && c != '_' && c != ':' && c != '-' {
			return false
		}
	}
	return true
}

func badMessageID(id string) *Problem {
	return problem(http.StatusBadRequest, ReasonBadParameter, "id", "%s is not a message ID: 1–%d of [A-Za-z0-9._:-], starting with a letter or digit", quote(id), bus.MaxIDLen)
}

func badInboxID(id string) *Problem {
	return problem(http.StatusBadRequest, ReasonBadParameter, "id", "%s is not an inbox item ID: in- and 32 lowercase hex digits", quote(id))
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func isVisibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------------------
// Answers

func problem(status int, reason, field, format string, args ...any) *Problem {
	return &Problem{
		Type:   ProblemTypePrefix + reason,
		Title:  http.StatusText(status),
		Status: status,
		Detail: fmt.Sprintf(format, args...),
		Field:  field,
		Reason: reason,
	}
}

// backendProblem turns a Backend error into a problem report (see
// Backend). notFound and conflict are what the client is told for those;
// a Backend's wrapped error text never leaves the process.
func (h *Handler) backendProblem(r *http.Request, op string, c *caller, err error, notFound, conflict string) *Problem {
	client := ""
	if c != nil {
		client = c.name
	}
	var re *bus.RejectError
	switch {
	case errors.As(err, &re) && re.Reason == bus.RejectVerificationError:
		h.log.Error("restapi backend could not verify", "op", op, "client", client, "err", err)
		p := problem(http.StatusServiceUnavailable, re.Reason, "", "the edge cannot verify the package now; try again later")
		return p
	case errors.As(err, &re):
		h.log.Info("restapi backend refused", "op", op, "client", client, "reason", re.Reason, "field", re.Field)
		reason := re.Reason
		if reason == "" {
			reason = "rejected"
		}
		detail := re.Detail
		if detail == "" {
			detail = "refused by the edge"
		}
		return &Problem{
			Type:   ProblemTypePrefix + safeText(reason, 64),
			Title:  http.StatusText(http.StatusUnprocessableEntity),
			Status: http.StatusUnprocessableEntity,
			Detail: safeText(detail, 1024),
			Field:  safeText(re.Field, 256),
			Reason: safeText(reason, 64),
		}
	case errors.Is(err, bus.ErrNotFound) && notFound != "":
		return problem(http.StatusNotFound, ReasonNotFound, "id", "%s", notFound)
	case errors.Is(err, bus.ErrConflict) && conflict != "":
		h.log.Info("restapi backend conflict", "op", op, "client", client, "err", err)
		return problem(http.StatusConflict, ReasonConflict, "", "%s", conflict)
	case r.Context().Err() != nil:
		h.log.Info("restapi request abandoned by the client", "op", op, "client", client)
		return problem(http.StatusServiceUnavailable, ReasonUnavailable, "", "the request was cancelled")
	case errors.Is(err, context.DeadlineExceeded):
		h.log.Warn("restapi backend timed out", "op", op, "client", client, "err", err)
		return problem(http.StatusServiceUnavailable, ReasonUnavailable, "", "the edge did not answer in time; try again later")
	}
	h.log.Error("restapi backend failed", "op", op, "client", client, "err", err)
	return problem(http.StatusInternalServerError, ReasonInternal, "", "internal error")
}

// writeProblem writes p as application/problem+json and logs it.
func (h *Handler) writeProblem(w http.ResponseWriter, r *http.Request, c *caller, p *Problem) {
	level := slog.LevelInfo
	switch {
	case p.Status == http.StatusUnauthorized:
		level = slog.LevelWarn
	case p.Status == http.StatusNotFound || p.Status == http.StatusMethodNotAllowed:
		level = slog.LevelDebug
	}
	client := ""
	if c != nil {
		client = c.name
	}
	h.log.Log(r.Context(), level, "restapi request refused", "method", r.Method, "route", r.Pattern,
		"client", client, "status", p.Status, "reason", p.Reason, "field", p.Field, "remote", r.RemoteAddr)
	if p.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	b, err := json.Marshal(p)
	if err != nil {
		b = []byte(`{"type":"` + ProblemTypePrefix + ReasonInternal + `","title":"Internal Server Error","status":500,"reason":"internal"}`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(p.Status)
	w.Write(b)
}

// writeJSON writes v as application/json.
func (h *Handler) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		h.log.Error("restapi answer not encoded", "route", r.Pattern, "err", err)
		h.writeProblem(w, r, nil, problem(http.StatusInternalServerError, ReasonInternal, "", "internal error"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	if _, err := w.Write(buf.Bytes()); err != nil {
		h.log.Debug("restapi answer not written", "route", r.Pattern, "err", err)
	}
}

// quote quotes hostile input for a detail: clipped, Go-escaped.
func quote(s string) string { return strconv.Quote(clip(s)) }

// clip shortens hostile input before it goes into a problem report.
func clip(s string) string {
	const n = 64
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for i := n; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "…"
		}
	}
	return "…"
}

// safeText makes a Backend's text fit a problem report: valid UTF-8,
// no control characters, at most n bytes.
func safeText(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	if len(s) <= n {
		return s
	}
	for i := n; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "…"
		}
	}
	return ""
}
