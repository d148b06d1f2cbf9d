package directory

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"truc.vn/truc/bus"
)

// Problem is an RFC 9457 problem+json body, as both APIs write it. Reason
// is a stable code; Field names the request field, parameter or header the
// problem is about.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Problem reasons. Wire values: they never change.
const (
	ReasonUnauthenticated = "unauthenticated" // no bearer token or not a known one
	ReasonBadRequest      = "bad-request"     // not JSON, unknown member, bad parameter
	ReasonUnsupportedType = "unsupported-media-type"
	ReasonTooLarge        = "too-large"
	ReasonInvalid         = "invalid"   // the change breaks a directory rule
	ReasonNotFound        = "not-found" // nothing to remove
	ReasonOnEdgeFailed    = "on-edge-failed"
	ReasonInternal        = "internal"
)

func writeProblem(w http.ResponseWriter, status int, reason, field, format string, args ...any) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="truc"`)
	}
	p := Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: fmt.Sprintf(format, args...), Field: field, Reason: reason}
	body, _ := json.Marshal(p)
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeProblem(w, http.StatusInternalServerError, ReasonInternal, "", "cannot encode the response")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// noRoute answers a request no pattern of mux takes: 405 with Allow when
// the path exists for other methods, 404 otherwise, as problem+json.
func noRoute(mux *http.ServeMux) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete} {
			r2 := r.Clone(r.Context())
			r2.Method = m
			if _, pattern := mux.Handler(r2); pattern != "/" && pattern != "" {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeProblem(w, http.StatusMethodNotAllowed, ReasonBadRequest, "", "%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allow, ", "))
			return
		}
		writeProblem(w, http.StatusNotFound, ReasonNotFound, "", "no such endpoint: %s %s", r.Method, r.URL.Path)
	}
}

// allows reports whether r carries a bearer token whose SHA-256 is in ts.
// Every configured hash is compared, in constant time each, whatever the
// token.
func (ts tokenSet) allows(r *http.Request) bool {
	auth := r.Header.Values("Authorization")
	if len(auth) != 1 {
		return false
	}
	scheme, token, ok := strings.Cut(auth[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return false
	}
	sum := sha256.Sum256([]byte(token))
	match := 0
	for _, h := range ts {
		match |= subtle.ConstantTimeCompare(sum[:], h[:])
	}
	return match == 1
}

// AdminHandler serves the admin API of the axis directory under
// /admin/v1/. Every request needs a bearer token from
// AdminConfig.TokensSHA256 (401 otherwise). Bodies are JSON, read
// strictly; errors are problem+json naming the field.
//
//	GET    /admin/v1/directory            the snapshot and its version
//	PUT    /admin/v1/agencies/{organId}   {"name","parent","edge","active"} (active defaults to true)
//	PUT    /admin/v1/edges/{id}           {"inbox_topic","certificates":[base64 DER]}
//	PUT    /admin/v1/bindings/{organId}   one bindings entry (signing format, as JSON)
//	DELETE /admin/v1/bindings/{organId}
//	POST   /admin/v1/onboard              {"edge":{"id",...},"agencies":[{"organ_id",...}]}
//
// Writes answer 200 with {"version": N, ...} once the change is applied
// (and recorded, when the directory has a change log).
type AdminHandler struct {
	dir    *Directory
	cfg    AdminConfig
	tokens tokenSet
	log    *slog.Logger
	mux    *http.ServeMux
}

// NewAdminHandler returns the admin API over dir.
func NewAdminHandler(dir *Directory, cfg AdminConfig) (*AdminHandler, error) {
	if dir == nil {
		return nil, errors.New("directory admin API: no directory")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("directory admin API: %w", err)
	}
	tokens, _ := parseTokens("tokens_sha256", cfg.TokensSHA256)
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultAdminMaxBody
	}
	h := &AdminHandler{dir: dir, cfg: cfg, tokens: tokens, log: cfg.Logger, mux: http.NewServeMux()}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.mux.HandleFunc("GET /admin/v1/directory", h.getDirectory)
	h.mux.HandleFunc("PUT /admin/v1/agencies/{organId}", h.putAgency)
	h.mux.HandleFunc("PUT /admin/v1/edges/{id}", h.putEdge)
	h.mux.HandleFunc("PUT /admin/v1/bindings/{organId}", h.putBinding)
	h.mux.HandleFunc("DELETE /admin/v1/bindings/{organId}", h.deleteBinding)
	h.mux.HandleFunc("POST /admin/v1/onboard", h.onboard)
	h.mux.HandleFunc("/", noRoute(h.mux))
	return h, nil
}

func (h *AdminHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.tokens.allows(r) {
		writeProblem(w, http.StatusUnauthorized, ReasonUnauthenticated, "Authorization", "a valid admin bearer token is required")
		return
	}
	h.mux.ServeHTTP(w, r)
}

func (h *AdminHandler) getDirectory(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.dir.Snapshot())
}

// AgencyRequest is the body of PUT /admin/v1/agencies/{organId} and an
// agency of an onboarding. OrganID may be left out where the path names
// it; Active defaults to true; Edge is left out in an onboarding.
type AgencyRequest struct {
	OrganID string `json:"organ_id,omitempty"`
	Name    string `json:"name"`
	Parent  string `json:"parent,omitempty"`
	Edge    string `json:"edge,omitempty"`
	Active  *bool  `json:"active,omitempty"`
}

func (a AgencyRequest) agency() bus.Agency {
	return bus.Agency{OrganID: a.OrganID, Name: a.Name, Parent: a.Parent, Edge: a.Edge, Active: a.Active == nil || *a.Active}
}

// EdgeRequest is the body of PUT /admin/v1/edges/{id} and the edge of an
// onboarding: Certificates are base64 DER.
type EdgeRequest struct {
	ID           string   `json:"id,omitempty"`
	InboxTopic   string   `json:"inbox_topic,omitempty"`
	Certificates [][]byte `json:"certificates"`
}

// OnboardRequest is the body of POST /admin/v1/onboard: an edge, the
// agencies it serves, and the binding of its seal certificates to each of
// them (added to the agency's existing binding, if any).
type OnboardRequest struct {
	Edge     EdgeRequest     `json:"edge"`
	Agencies []AgencyRequest `json:"agencies"`
}

// OnboardResponse is the answer to an onboarding.
type OnboardResponse struct {
	Version  int64        `json:"version"`
	Edge     Edge         `json:"edge"`
	Agencies []bus.Agency `json:"agencies"`
	Bindings []Binding    `json:"bindings"`
}

// VersionResponse is the answer to a write: the new version and what was
// put.
type VersionResponse struct {
	Version int64       `json:"version"`
	Agency  *bus.Agency `json:"agency,omitempty"`
	Edge    *Edge       `json:"edge,omitempty"`
	Binding *Binding    `json:"binding,omitempty"`
}

func (h *AdminHandler) putAgency(w http.ResponseWriter, r *http.Request) {
	var req AgencyRequest
	if !h.decode(w, r, &req) {
		return
	}
	id := r.PathValue("organId")
	if req.OrganID != "" && req.OrganID != id {
		writeProblem(w, http.StatusUnprocessableEntity, ReasonInvalid, "organ_id", "%q differs from the OrganId in the path", clip(req.OrganID))
		return
	}
	req.OrganID = id
	a := req.agency()
	h.apply(w, r, []string{""}, func(v int64) any { return VersionResponse{Version: v, Agency: &a} }, Change{Op: OpPutAgency, Agency: &a})
}

func (h *AdminHandler) putEdge(w http.ResponseWriter, r *http.Request) {
	var req EdgeRequest
	if !h.decode(w, r, &req) {
		return
	}
	id := r.PathValue("id")
	if req.ID != "" && req.ID != id {
		writeProblem(w, http.StatusUnprocessableEntity, ReasonInvalid, "id", "%q differs from the edge ID in the path", clip(req.ID))
		return
	}
	e := Edge{ID: id, InboxTopic: req.InboxTopic, Certificates: req.Certificates}
	h.apply(w, r, []string{""}, func(v int64) any {
		got, _ := h.dir.edgeAt(id)
		return VersionResponse{Version: v, Edge: &got}
	}, Change{Op: OpPutEdge, Edge: &e})
}

func (h *AdminHandler) putBinding(w http.ResponseWriter, r *http.Request) {
	var b Binding
	if !h.decode(w, r, &b) {
		return
	}
	id := r.PathValue("organId")
	if b.OrganID != "" && b.OrganID != id {
		writeProblem(w, http.StatusUnprocessableEntity, ReasonInvalid, "organ_id", "%q differs from the OrganId in the path", clip(b.OrganID))
		return
	}
	b.OrganID = id
	h.apply(w, r, []string{""}, func(v int64) any { return VersionResponse{Version: v, Binding: &b} }, Change{Op: OpPutBinding, Binding: &b})
}

func (h *AdminHandler) deleteBinding(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("organId")
	h.apply(w, r, []string{""}, func(v int64) any { return VersionResponse{Version: v} }, Change{Op: OpRemoveBinding, OrganID: id})
}

func (h *AdminHandler) onboard(w http.ResponseWriter, r *http.Request) {
	var req OnboardRequest
	if !h.decode(w, r, &req) {
		return
	}
	e := Edge{ID: req.Edge.ID, InboxTopic: req.Edge.InboxTopic, Certificates: req.Edge.Certificates}
	changes := []Change{{Op: OpPutEdge, Edge: &e}}
	fields := []string{"edge"}
	if len(req.Agencies) == 0 {
		writeProblem(w, http.StatusUnprocessableEntity, ReasonInvalid, "agencies", "an onboarding names at least one agency")
		return
	}
	var seals []string
	for i, c := range req.Edge.Certificates {
		if _, err := x509.ParseCertificate(c); err != nil {
			writeProblem(w, http.StatusUnprocessableEntity, ReasonInvalid, fmt.Sprintf("edge.certificates[%d]", i), "not a DER X.509 certificate: %v", err)
			return
		}
		seals = append(seals, fmt.Sprintf("%x", sha256.Sum256(c)))
	}
	agencies := make([]bus.Agency, len(req.Agencies))
	seen := map[string]int{}
	for i, ar := range req.Agencies {
		where := fmt.Sprintf("agencies[%d]", i)
		if j, dup := seen[ar.OrganID]; dup {
			writeProblem(w, http.StatusUnprocessableEntity, ReasonInvalid, where+".organ_id", "%q is also agencies[%d]", clip(ar.OrganID), j)
			return
		}
		seen[ar.OrganID] = i
		if ar.Edge != "" && ar.Edge != e.ID {
			writeProblem(w, http.StatusUnprocessableEntity, ReasonInvalid, where+".edge", "an onboarded agency is served by the onboarded edge %q; leave edge out", clip(e.ID))
			return
		}
		ar.Edge = e.ID
		agencies[i] = ar.agency()
		changes = append(changes, Change{Op: OpPutAgency, Agency: &agencies[i]})
		fields = append(fields, where)
	}
	for i := range agencies {
		fields = append(fields, fmt.Sprintf("agencies[%d].binding", i))
	}
	// The bindings are extended under the directory's writer lock, so that
	// no change comes between reading them and putting them.
	bindings := make([]Binding, len(agencies))
	build := func() []Change {
		all := slices.Clone(changes)
		for i, a := range agencies {
			b, ok := h.dir.Binding(a.OrganID)
			if !ok {
				b = Binding{OrganID: a.OrganID, Name: a.Name}
			}
			// An agency that moves here from another edge: that edge's
			// seals stop signing for it.
			if prev, ok := h.dir.Agency(a.OrganID); ok && prev.Edge != e.ID {
				if old, ok := h.dir.Edge(prev.Edge); ok {
					for _, c := range old.Certificates {
						fp := fmt.Sprintf("%x", sha256.Sum256(c.Raw))
						b.Certificates = slices.DeleteFunc(b.Certificates, func(have string) bool { return normFingerprint(have) == fp })
					}
				}
			}
			for _, fp := range seals {
				if !slices.ContainsFunc(b.Certificates, func(have string) bool { return normFingerprint(have) == fp }) {
					b.Certificates = append(b.Certificates, fp)
				}
			}
			bindings[i] = b
			all = append(all, Change{Op: OpPutBinding, Binding: &bindings[i]})
		}
		return all
	}
	h.applyBuilt(w, r, fields, func(v int64) any {
		got, _ := h.dir.edgeAt(e.ID)
		return OnboardResponse{Version: v, Edge: got, Agencies: agencies, Bindings: bindings}
	}, build)
}

// normFingerprint brings a fingerprint to lowercase hex without separators.
func normFingerprint(s string) string {
	return strings.ToLower(strings.NewReplacer(":", "", " ", "").Replace(s))
}

// decode reads a strict JSON body into v, or writes the problem and
// returns false.
func (h *AdminHandler) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeProblem(w, http.StatusUnsupportedMediaType, ReasonUnsupportedType, "Content-Type", "the body must be application/json")
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeProblem(w, http.StatusRequestEntityTooLarge, ReasonTooLarge, "", "the body exceeds %d bytes", h.cfg.MaxBodyBytes)
		} else {
			writeProblem(w, http.StatusBadRequest, ReasonBadRequest, "", "reading the body: %v", err)
		}
		return false
	}
	if err := strictJSON(body, v); err != nil {
		writeProblem(w, http.StatusBadRequest, ReasonBadRequest, jsonErrorField(err), "the body is not a valid request: %v", err)
		return false
	}
	return true
}

// jsonErrorField names the member a JSON decoding error is about.
func jsonErrorField(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return te.Field
	}
	if m := unknownField.FindStringSubmatch(err.Error()); m != nil {
		return m[1]
	}
	return ""
}

var unknownField = regexp.MustCompile(`unknown field "([^"]*)"`)

// apply applies changes, calling OnEdge for each edge among them first,
// and writes the outcome. fields[i] is how the request names changes[i],
// to translate the directory's field names ("changes[2].agency.parent")
// into the request's ("agencies[1].parent").
func (h *AdminHandler) apply(w http.ResponseWriter, r *http.Request, fields []string, answer func(version int64) any, changes ...Change) {
	h.applyBuilt(w, r, fields, answer, func() []Change { return changes })
}

// applyBuilt is apply with the changes that build returns under the
// directory's writer lock.
func (h *AdminHandler) applyBuilt(w http.ResponseWriter, r *http.Request, fields []string, answer func(version int64) any, build func() []Change) {
	var changes []Change
	var hookErr error
	before := func(ctx context.Context) error {
		if h.cfg.OnEdge == nil {
			return nil
		}
		for _, c := range changes {
			if c.Op != OpPutEdge {
				continue
			}
			ent, err := checkEdge(*c.Edge, h.dir.cfg.Topics, "edge")
			if err != nil { // prepare has checked it already
				return err
			}
			if err := h.cfg.OnEdge(ctx, ent.info()); err != nil {
				hookErr = err
				return err
			}
		}
		return nil
	}
	v, err := h.dir.applyBuilt(r.Context(), before, func() []Change { changes = build(); return changes })
	var de *Error
	switch {
	case err == nil:
		h.log.Info("directory admin change", "version", v, "changes", len(changes), "path", r.URL.Path)
		writeJSON(w, http.StatusOK, answer(v))
	case hookErr != nil:
		h.log.Error("directory admin: on-edge hook failed; nothing changed", "err", hookErr)
		writeProblem(w, http.StatusBadGateway, ReasonOnEdgeFailed, "edge", "preparing the edge failed, nothing changed: %v", hookErr)
	case errors.As(err, &de):
		status, reason := http.StatusUnprocessableEntity, ReasonInvalid
		if errors.Is(err, ErrNotFound) {
			status, reason = http.StatusNotFound, ReasonNotFound
		}
		writeProblem(w, status, reason, requestField(de.Field, fields), "%s", de.Msg)
	default:
		h.log.Error("directory admin: applying a change failed", "err", err)
		writeProblem(w, http.StatusInternalServerError, ReasonInternal, "", "the change could not be recorded; nothing changed")
	}
}

var changeField = regexp.MustCompile(`^changes\[(\d+)\]\.(?:agency|edge|binding|organ_id)\.?`)

// requestField translates a change field name into the request's terms.
func requestField(field string, fields []string) string {
	m := changeField.FindStringSubmatch(field)
	if m == nil {
		return field
	}
	i, _ := strconv.Atoi(m[1])
	if i >= len(fields) {
		return field
	}
	rest := field[len(m[0]):]
	if strings.HasSuffix(m[0], "organ_id") {
		rest = "organ_id"
	}
	switch {
	case fields[i] == "":
		return rest
	case rest == "":
		return fields[i]
	}
	return fields[i] + "." + rest
}

// edgeAt returns the stored form of edge id.
func (d *Directory) edgeAt(id string) (Edge, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	e, ok := d.st.edges[id]
	if !ok {
		return Edge{}, false
	}
	return cloneEdge(e.Edge), true
}
