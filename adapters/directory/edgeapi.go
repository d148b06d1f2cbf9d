package directory

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"

	"truc.vn/truc/bus"
	"truc.vn/truc/signing/notesig"
)

// EdgeAgencyPath is where the axis serves the edge API (EdgeAPIHandler)
// and where EdgeClient sends its requests. Wire constant.
const EdgeAgencyPath = "/v1/edge/agencies"

// EdgeOp is what an EdgeAgencyRequest asks. Wire values: they never change.
type EdgeOp string

// Edge request operations.
const (
	// EdgePutAgency creates an agency on the calling edge, or changes the
	// name or parent of one it serves (and makes it active again), and
	// binds the edge's seal certificates to it.
	EdgePutAgency EdgeOp = "put-agency"
	// EdgeDeactivateAgency marks an agency the calling edge serves
	// inactive: it no longer sends or receives. (Agencies are never
	// removed; see the package documentation.)
	EdgeDeactivateAgency EdgeOp = "deactivate-agency"
)

// Bounds of the edge API.
const (
	// MaxEdgeRequestBytes caps the body of an edge request: one signed
	// note of a few lines and a few signatures.
	MaxEdgeRequestBytes = 16 << 10
	// DefaultEdgeRequestSkew is how far an edge request's time may be from
	// the axis's clock, either way.
	DefaultEdgeRequestSkew = 5 * time.Minute
	// maxNonces bounds the request nonces the handler remembers; beyond
	// it (a flood within one skew window), requests are refused with 503.
	maxNonces = 1 << 17
)

const edgeRequestHeader = "truc-edge-request v1\n"

// EdgeAgencyRequest is a request of an edge to change the axis directory for an
// agency it serves: the VXP registerAgency and deleteAgency of a DMS,
// forwarded by the edge. It travels as a signed note (c2sp.org/signed-note)
// whose text is, in this order and nothing else,
//
//	truc-edge-request v1
//	edge <edge ID>
//	op <put-agency | deactivate-agency>
//	organ-id <OrganId>
//	parent <OrganId, or nothing>
//	name <the agency's name, or nothing>
//	time <RFC 3339 UTC, whole seconds>
//	nonce <32 lowercase hex digits>
//
// signed with the edge's seal key under bus.EdgeNoteName(edge): the axis
// checks the signature against the edge's certificates in the directory,
// so that an edge can act only as itself. A deactivate-agency request has
// an empty parent and name. The time and the nonce make a captured
// request useless after DefaultEdgeRequestSkew and refused before.
type EdgeAgencyRequest struct {
	Edge    string
	Op      EdgeOp
	OrganID string
	Parent  string
	Name    string
	Time    time.Time
	Nonce   string
}

// text returns the canonical text of r, or an error naming the field that
// breaks its rule.
func (r EdgeAgencyRequest) text() ([]byte, error) {
	if err := bus.ValidateEdgeID(r.Edge); err != nil {
		return nil, fmt.Errorf("edge: %w", err)
	}
	switch r.Op {
	case EdgePutAgency:
		if err := checkName(r.Name); err != nil {
			return nil, fmt.Errorf("name: %w", err)
		}
		if r.Parent != "" && !isOrganID(r.Parent) {
			return nil, fmt.Errorf("parent: %s", organIDRule(r.Parent))
		}
		if r.Parent == r.OrganID {
			return nil, errors.New("parent: an agency cannot be its own parent")
		}
	case EdgeDeactivateAgency:
		if r.Name != "" || r.Parent != "" {
			return nil, errors.New("name, parent: must be empty in a deactivate-agency request")
		}
	default:
		return nil, fmt.Errorf("op: %q is not %s or %s", clip(string(r.Op)), EdgePutAgency, EdgeDeactivateAgency)
	}
	if !isOrganID(r.OrganID) {
		return nil, fmt.Errorf("organ-id: %s", organIDRule(r.OrganID))
	}
	if r.Time.IsZero() || r.Time.Year() < 2000 || r.Time.Year() > 9999 {
		return nil, errors.New("time: required, a time between the years 2000 and 9999")
	}
	if b, err := hex.DecodeString(r.Nonce); err != nil || len(b) != 16 || strings.ToLower(r.Nonce) != r.Nonce {
		return nil, errors.New("nonce: want 32 lowercase hex digits")
	}
	return fmt.Appendf(nil, "%sedge %s\nop %s\norgan-id %s\nparent %s\nname %s\ntime %s\nnonce %s\n",
		edgeRequestHeader, r.Edge, r.Op, r.OrganID, r.Parent, r.Name,
		r.Time.UTC().Truncate(time.Second).Format(time.RFC3339), r.Nonce), nil
}

// Sign returns the signed note of r. s signs as the edge's seal key, under
// bus.EdgeNoteName(r.Edge).
func (r EdgeAgencyRequest) Sign(s note.Signer) ([]byte, error) {
	if want := bus.EdgeNoteName(r.Edge); s.Name() != want {
		return nil, fmt.Errorf("edge request: the signer is %q, want %q", s.Name(), want)
	}
	text, err := r.text()
	if err != nil {
		return nil, fmt.Errorf("edge request: %w", err)
	}
	return note.Sign(&note.Note{Text: string(text)}, s)
}

// ParseEdgeAgencyRequest decodes the text of an edge request (the note's
// text, without signatures), accepting only its canonical form.
func ParseEdgeAgencyRequest(text []byte) (EdgeAgencyRequest, error) {
	if len(text) > MaxEdgeRequestBytes {
		return EdgeAgencyRequest{}, fmt.Errorf("edge request: %d bytes, at most %d", len(text), MaxEdgeRequestBytes)
	}
	if !utf8.Valid(text) {
		return EdgeAgencyRequest{}, errors.New("edge request: not valid UTF-8")
	}
	s, ok := strings.CutPrefix(string(text), edgeRequestHeader)
	if !ok {
		return EdgeAgencyRequest{}, fmt.Errorf("edge request: must start with %q", strings.TrimSpace(edgeRequestHeader))
	}
	names := []string{"edge", "op", "organ-id", "parent", "name", "time", "nonce"}
	f := make([]string, 0, len(names))
	for _, name := range names {
		line, rest, ok := strings.Cut(s, "\n")
		v, okName := strings.CutPrefix(line, name+" ")
		if !ok || !okName {
			return EdgeAgencyRequest{}, fmt.Errorf("edge request: line %q missing", name)
		}
		f = append(f, v)
		s = rest
	}
	if s != "" {
		return EdgeAgencyRequest{}, errors.New("edge request: unexpected text after \"nonce\"")
	}
	at, err := time.Parse(time.RFC3339, f[5])
	if err != nil {
		return EdgeAgencyRequest{}, fmt.Errorf("edge request: time: want RFC 3339 in UTC, got %q", clip(f[5]))
	}
	r := EdgeAgencyRequest{Edge: f[0], Op: EdgeOp(f[1]), OrganID: f[2], Parent: f[3], Name: f[4], Time: at.UTC(), Nonce: f[6]}
	got, err := r.text()
	if err != nil {
		return EdgeAgencyRequest{}, fmt.Errorf("edge request: %w", err)
	}
	if !bytes.Equal(got, text) {
		return EdgeAgencyRequest{}, errors.New("edge request: not in canonical form")
	}
	return r, nil
}

// unverifiedRequestEdge returns the edge a signed edge request claims to
// come from, to find its verifiers; nothing else of an unverified note is
// used.
func unverifiedRequestEdge(msg []byte) (string, error) {
	i := bytes.Index(msg, []byte("\n\n"))
	if i < 0 {
		return "", errors.New("not a signed note")
	}
	r, err := ParseEdgeAgencyRequest(msg[:i+1])
	if err != nil {
		return "", err
	}
	return r.Edge, nil
}

// EdgeAgencyResponse is the answer to an edge request.
type EdgeAgencyResponse struct {
	// Version is the directory version that holds the change (the current
	// one when nothing changed).
	Version int64 `json:"version"`
	// Agency is the agency as the directory now holds it.
	Agency bus.Agency `json:"agency"`
	// Unchanged is true when the directory already held exactly this.
	Unchanged bool `json:"unchanged,omitempty"`
}

// Problem reasons of the edge API, besides those of the admin API. Wire
// values: they never change.
const (
	ReasonForbidden    = "forbidden"     // the edge may not change this agency
	ReasonBadSignature = "bad-signature" // the note is not signed by the edge it names
	ReasonStale        = "stale"         // the request's time is too far from the axis's clock
	ReasonReplayed     = "replayed"      // the request's nonce was seen before
	ReasonBusy         = "busy"          // too many requests to remember; retry later
)

// EdgeAPIConfig configures the edge API (NewEdgeAPIHandler).
type EdgeAPIConfig struct {
	// TokensSHA256 are the SHA-256 of the bearer tokens edges use: the
	// sync tokens (SyncConfig.TokensSHA256). At least one.
	TokensSHA256 []string `yaml:"-"`
	// Verifiers returns the note verifiers of an edge's seal certificates
	// (the axis passes the same function that checks rejection notices).
	// Required.
	Verifiers func(bus.EdgeInfo) (note.Verifiers, error) `yaml:"-"`
	// MaxSkew is how far a request's time may be from Now, either way.
	// Default DefaultEdgeRequestSkew.
	MaxSkew time.Duration `yaml:"-"`
	// Now is the clock; default time.Now.
	Now func() time.Time `yaml:"-"`
	// Logger receives one record per change and every refusal. nil
	// discards.
	Logger *slog.Logger `yaml:"-"`
}

// EdgeAPIHandler serves, on the axis, the requests edges send to put or
// deactivate the agencies they serve (VXP registerAgency and
// deleteAgency, forwarded by the edge's VXP API):
//
//	POST /v1/edge/agencies   body: a signed EdgeAgencyRequest (text/plain)
//
// A request is accepted only when all of these hold, in this order:
//
//  1. it carries a sync bearer token (401 unauthenticated);
//  2. the body is text/plain (415), at most MaxEdgeRequestBytes (413), an
//     edge request in canonical form (400 bad-request) naming an edge of
//     the directory (403 forbidden);
//  3. the note is signed by one of that edge's seal certificates, under
//     bus.EdgeNoteName (401 bad-signature);
//  4. its time is within MaxSkew of the axis's clock (400 stale) and its
//     nonce was not seen within that window (409 replayed);
//  5. put-agency: the agency does not exist or is served by the calling
//     edge (403 forbidden), and its parent, when given, is an active
//     agency (404 not-found) served by the calling edge (403 forbidden).
//     deactivate-agency: the agency exists and is active (404 not-found)
//     and is served by the calling edge (403 forbidden);
//  6. the change keeps every directory rule (422 invalid).
//
// put-agency puts the agency on the calling edge, active, and adds the
// edge's seal certificates (their SHA-256 fingerprints) to its binding, as
// an onboarding does, in one version. deactivate-agency puts it again with
// Active false and leaves its binding alone. A request that would change
// nothing answers 200 with Unchanged and records no version, so that a
// DMS repeating registerAgency does not grow the change log.
//
// What the edge checked before (that the agency is under a parent code of
// the DMS that asked) the axis does not know and does not check: an edge
// is trusted with the agencies it serves, and with creating new ones.
//
// Nonces are remembered in memory for MaxSkew: a request captured and
// replayed within MaxSkew of its time, across a restart of the axis, is
// applied again (it can only repeat what the edge asked, and needs the
// sync token). Edges' clocks must be within MaxSkew of the axis's.
type EdgeAPIHandler struct {
	dir    *Directory
	cfg    EdgeAPIConfig
	tokens tokenSet
	log    *slog.Logger

	mu     sync.Mutex
	nonces map[string]time.Time // nonce → when it may be forgotten
}

// NewEdgeAPIHandler returns the edge API over the axis directory dir.
func NewEdgeAPIHandler(dir *Directory, cfg EdgeAPIConfig) (*EdgeAPIHandler, error) {
	if dir == nil {
		return nil, errors.New("directory edge API: no directory")
	}
	tokens, err := parseTokens("tokens_sha256", cfg.TokensSHA256)
	if err != nil {
		return nil, fmt.Errorf("directory edge API: %w", err)
	}
	if cfg.Verifiers == nil {
		return nil, errors.New("directory edge API: Verifiers is required")
	}
	if cfg.MaxSkew < 0 {
		return nil, fmt.Errorf("directory edge API: MaxSkew %s is negative", cfg.MaxSkew)
	}
	if cfg.MaxSkew == 0 {
		cfg.MaxSkew = DefaultEdgeRequestSkew
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &EdgeAPIHandler{dir: dir, cfg: cfg, tokens: tokens, log: log, nonces: map[string]time.Time{}}, nil
}

func (h *EdgeAPIHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.tokens.allows(r) {
		writeProblem(w, http.StatusUnauthorized, ReasonUnauthenticated, "Authorization", "a valid sync bearer token is required")
		return
	}
	if r.URL.Path != EdgeAgencyPath {
		writeProblem(w, http.StatusNotFound, ReasonNotFound, "", "no such endpoint: %s %s", r.Method, r.URL.Path)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeProblem(w, http.StatusMethodNotAllowed, ReasonBadRequest, "", "%s is not allowed on %s (allowed: POST)", r.Method, r.URL.Path)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		writeProblem(w, http.StatusUnsupportedMediaType, ReasonUnsupportedType, "Content-Type", "the body must be text/plain: a signed edge request")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxEdgeRequestBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeProblem(w, http.StatusRequestEntityTooLarge, ReasonTooLarge, "", "the body exceeds %d bytes", MaxEdgeRequestBytes)
		} else {
			writeProblem(w, http.StatusBadRequest, ReasonBadRequest, "", "reading the body: %v", err)
		}
		return
	}
	req, p := h.open(body)
	if p != nil {
		h.refuse(w, r, p)
		return
	}
	if p := h.fresh(req); p != nil {
		h.refuse(w, r, p)
		return
	}
	resp, p := h.apply(r.Context(), req)
	if p != nil {
		h.refuse(w, r, p)
		return
	}
	h.log.Info("directory: edge request applied", "edge", req.Edge, "op", string(req.Op), "organ_id", req.OrganID,
		"version", resp.Version, "unchanged", resp.Unchanged)
	writeJSON(w, http.StatusOK, resp)
}

// problem is a refusal of the edge API.
type problem struct {
	status        int
	reason, field string
	detail        string
	edge          string // the edge the request claims, for the log
}

func refusal(status int, reason, field, format string, args ...any) *problem {
	return &problem{status: status, reason: reason, field: field, detail: fmt.Sprintf(format, args...)}
}

func (h *EdgeAPIHandler) refuse(w http.ResponseWriter, r *http.Request, p *problem) {
	level := slog.LevelInfo
	if p.status == http.StatusUnauthorized || p.status == http.StatusForbidden {
		level = slog.LevelWarn
	}
	h.log.Log(r.Context(), level, "directory: edge request refused", "edge", p.edge, "status", p.status,
		"reason", p.reason, "field", p.field, "detail", p.detail, "remote", r.RemoteAddr)
	writeProblem(w, p.status, p.reason, p.field, "%s", p.detail)
}

// open checks the signature of a signed request and decodes it.
func (h *EdgeAPIHandler) open(body []byte) (EdgeAgencyRequest, *problem) {
	claimed, err := unverifiedRequestEdge(body)
	if err != nil {
		return EdgeAgencyRequest{}, refusal(http.StatusBadRequest, ReasonBadRequest, "body", "not a signed edge request: %v", err)
	}
	info, ok := h.dir.Edge(claimed)
	if !ok {
		p := refusal(http.StatusForbidden, ReasonForbidden, "edge", "edge %q is not in the directory", claimed)
		p.edge = claimed
		return EdgeAgencyRequest{}, p
	}
	vs, err := h.cfg.Verifiers(info)
	if err != nil {
		p := refusal(http.StatusUnauthorized, ReasonBadSignature, "edge", "no usable seal certificate for edge %s: %v", claimed, err)
		p.edge = claimed
		return EdgeAgencyRequest{}, p
	}
	n, err := notesig.Open(body, vs)
	if err != nil {
		p := refusal(http.StatusUnauthorized, ReasonBadSignature, "body", "the request is not signed by the seal of edge %s: %v", claimed, err)
		p.edge = claimed
		return EdgeAgencyRequest{}, p
	}
	req, err := ParseEdgeAgencyRequest([]byte(n.Text))
	if err != nil || req.Edge != claimed {
		// The verified text is the text that was parsed unverified; this
		// cannot differ, but nothing unverified decides anything.
		p := refusal(http.StatusBadRequest, ReasonBadRequest, "body", "the signed text is not an edge request of edge %s", claimed)
		p.edge = claimed
		return EdgeAgencyRequest{}, p
	}
	return req, nil
}

// fresh checks the request's time and remembers its nonce.
func (h *EdgeAPIHandler) fresh(req EdgeAgencyRequest) *problem {
	now := h.cfg.Now()
	if d := now.Sub(req.Time); d > h.cfg.MaxSkew || d < -h.cfg.MaxSkew {
		p := refusal(http.StatusBadRequest, ReasonStale, "time", "the request is stamped %s, the axis's clock says %s: more than %s apart",
			req.Time.Format(time.RFC3339), now.UTC().Format(time.RFC3339), h.cfg.MaxSkew)
		p.edge = req.Edge
		return p
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.nonces) >= maxNonces/2 {
		for n, until := range h.nonces {
			if now.After(until) {
				delete(h.nonces, n)
			}
		}
	}
	key := req.Edge + " " + req.Nonce
	if _, seen := h.nonces[key]; seen {
		p := refusal(http.StatusConflict, ReasonReplayed, "nonce", "this request was already received")
		p.edge = req.Edge
		return p
	}
	if len(h.nonces) >= maxNonces {
		p := refusal(http.StatusServiceUnavailable, ReasonBusy, "", "too many edge requests at once; retry later")
		p.edge = req.Edge
		return p
	}
	// Forgotten once its time is out of the window whatever the clock
	// does: then the time check refuses it.
	h.nonces[key] = req.Time.Add(h.cfg.MaxSkew)
	return nil
}

// apply checks the request against the directory and applies it, all
// under the directory's writer lock.
func (h *EdgeAPIHandler) apply(ctx context.Context, req EdgeAgencyRequest) (EdgeAgencyResponse, *problem) {
	var (
		rule   *problem
		result bus.Agency
	)
	build := func() []Change {
		var changes []Change
		result, changes, rule = h.changes(req)
		return changes
	}
	v, err := h.dir.applyBuilt(ctx, nil, build)
	switch {
	case rule == unchanged:
		return EdgeAgencyResponse{Version: h.dir.Version(), Agency: result, Unchanged: true}, nil
	case rule != nil:
		rule.edge = req.Edge
		return EdgeAgencyResponse{}, rule
	case err == nil:
		return EdgeAgencyResponse{Version: v, Agency: result}, nil
	}
	var de *Error
	if errors.As(err, &de) {
		field := de.Field
		if i := strings.Index(field, ".agency."); i >= 0 {
			field = field[i+len(".agency."):]
		} else if i := strings.Index(field, ".binding."); i >= 0 {
			field = "binding." + field[i+len(".binding."):]
		}
		p := refusal(http.StatusUnprocessableEntity, ReasonInvalid, field, "%s", de.Msg)
		p.edge = req.Edge
		return EdgeAgencyResponse{}, p
	}
	h.log.Error("directory: applying an edge request failed", "edge", req.Edge, "op", string(req.Op), "organ_id", req.OrganID, "err", err)
	p := refusal(http.StatusInternalServerError, ReasonInternal, "", "the change could not be recorded; nothing changed")
	p.edge = req.Edge
	return EdgeAgencyResponse{}, p
}

// unchanged is what changes returns when the directory already holds
// what the request asks: not a refusal. It is compared by identity and
// never modified.
var unchanged = &problem{status: http.StatusOK}

// changes returns the directory changes req makes, or the rule it breaks
// (unchanged when there is nothing to do). The caller holds the writer
// lock: what it reads cannot change before the changes apply.
func (h *EdgeAPIHandler) changes(req EdgeAgencyRequest) (bus.Agency, []Change, *problem) {
	prev, exists := h.dir.Agency(req.OrganID)
	if exists && prev.Edge != req.Edge {
		return bus.Agency{}, nil, refusal(http.StatusForbidden, ReasonForbidden, "organ_id", "%s is served by edge %s, not %s", req.OrganID, prev.Edge, req.Edge)
	}
	if req.Op == EdgeDeactivateAgency {
		if !exists || !prev.Active {
			return bus.Agency{}, nil, refusal(http.StatusNotFound, ReasonNotFound, "organ_id", "%s is not an active agency of the directory", req.OrganID)
		}
		a := prev
		a.Active = false
		return a, []Change{{Op: OpPutAgency, Agency: &a}}, nil
	}
	if req.Parent != "" {
		pa, ok := h.dir.Agency(req.Parent)
		switch {
		case !ok || !pa.Active:
			return bus.Agency{}, nil, refusal(http.StatusNotFound, ReasonNotFound, "parent", "%s is not an active agency of the directory", req.Parent)
		case pa.Edge != req.Edge:
			return bus.Agency{}, nil, refusal(http.StatusForbidden, ReasonForbidden, "parent", "%s is served by edge %s, not %s", req.Parent, pa.Edge, req.Edge)
		}
	}
	info, ok := h.dir.Edge(req.Edge)
	if !ok {
		return bus.Agency{}, nil, refusal(http.StatusForbidden, ReasonForbidden, "edge", "edge %q is not in the directory", req.Edge)
	}
	a := bus.Agency{OrganID: req.OrganID, Name: req.Name, Parent: req.Parent, Edge: req.Edge, Active: true}
	var changes []Change
	if !exists || prev != a {
		changes = append(changes, Change{Op: OpPutAgency, Agency: &a})
	}
	b, ok := h.dir.Binding(req.OrganID)
	if !ok {
		b = Binding{OrganID: req.OrganID, Name: req.Name}
	}
	bound := false
	for _, c := range info.Certificates {
		sum := sha256.Sum256(c.Raw)
		fp := hex.EncodeToString(sum[:])
		if !slices.ContainsFunc(b.Certificates, func(have string) bool { return normFingerprint(have) == fp }) {
			b.Certificates = append(b.Certificates, fp)
			bound = true
		}
	}
	if bound {
		changes = append(changes, Change{Op: OpPutBinding, Binding: &b})
	}
	if len(changes) == 0 {
		return a, nil, unchanged
	}
	return a, changes, nil
}
