package witness

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"truc.vn/truc/bus"
)

// Store is where the axis keeps its log's checkpoints and their
// cosignatures; *boltstore.Log implements it.
type Store interface {
	// CheckpointAt returns the checkpoint the log signed at size, or an
	// error wrapping bus.ErrNoCheckpoint.
	CheckpointAt(ctx context.Context, size int64) (bus.SignedCheckpoint, error)
	// AddCosignatures stores verified witness signature lines for the
	// checkpoint of size and returns how many were new.
	AddCosignatures(ctx context.Context, size int64, lines []string) (int, error)
	// Cosigned returns the checkpoint of size with every cosignature
	// stored for it (bus.ErrNoCheckpoint if none was signed at size).
	Cosigned(ctx context.Context, size int64) ([]byte, error)
	// LatestCosigned returns the largest checkpoint with at least min
	// cosignatures, Note holding them (bus.ErrNoCheckpoint if none).
	LatestCosigned(ctx context.Context, min int) (bus.SignedCheckpoint, error)
	// MostCosigned returns the checkpoint with the most cosignatures
	// among sizes after < size ≤ upto, the largest on a tie, Note
	// holding them (bus.ErrNoCheckpoint if none has any).
	MostCosigned(ctx context.Context, after, upto int64) (bus.SignedCheckpoint, error)
}

// HandlerConfig configures a Handler.
type HandlerConfig struct {
	// Store holds the checkpoints and cosignatures. Required.
	Store Store
	// LogKeys verify the log's own signature. Required.
	LogKeys note.Verifiers
	// Witnesses are the keys of the witnesses whose cosignatures are
	// taken, looked up at each request (in truc: the seal certificates
	// of the directory's edges, under bus.EdgeNoteName). Required.
	Witnesses note.Verifiers
	// Logger receives refusals worth an operator's attention (nil
	// discards them).
	Logger *slog.Logger
}

// Handler serves the axis side of witnessing:
//
//	POST /v1/log/cosignatures   a checkpoint note cosigned by witnesses
//	                            (at most bus.MaxSignedCheckpointLen bytes)
//	GET  /v1/log/cosigned?size=N    the checkpoint of size N with every
//	                                cosignature stored
//	GET  /v1/log/cosigned[?min=K]   the largest checkpoint with at least K
//	                                (default 1) cosignatures
//	GET  /v1/log/cosigned?after=M&upto=N
//	                                the checkpoint with the most cosignatures
//	                                among sizes M < size ≤ N (the largest on
//	                                a tie): what witnesses cosign besides the
//	                                latest, so that cosignatures gather on
//	                                common checkpoints
//
// GET answers 200 text/plain with the signed note, or 404 not-found.
//
// A POST is answered 200 with JSON {"size", "witnesses", "added"} when at
// least one witness signature verified and was stored; refusals are
// problem+json with a reason: 413 too-large; 400 invalid, unknown-key (no
// signature by the log's keys) or bad-signature (a signature by a known
// key, the log's or a witness's, that does not verify); 403
// unknown-witness (no signature by a known witness key); 409
// unknown-checkpoint (signed by the log key but not a checkpoint this log
// holds: logged at Error level, as it means the log key signed another
// history). Nothing is stored unless the whole note verifies.
type Handler struct {
	cfg HandlerConfig
	log *slog.Logger
}

// Problem reasons of Handler. Wire values: they never change. The
// bus.Reason* values (invalid, too-large, unknown-key, bad-signature) are
// used too.
const (
	ReasonUnknownWitness    = "unknown-witness"
	ReasonUnknownCheckpoint = "unknown-checkpoint"
	ReasonNotFound          = "not-found"
	ReasonBadRequest        = "bad-request"
	ReasonMethod            = "method-not-allowed"
	ReasonUnavailable       = "unavailable"
)

// Problem is an RFC 9457 problem+json body, in the shape the other truc
// APIs write.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// CosignResult is the answer to an accepted POST.
type CosignResult struct {
	Size      int64    `json:"size"`
	Witnesses []string `json:"witnesses"` // key names whose signatures verified, sorted
	Added     int      `json:"added"`     // signatures stored that were not already
}

// NewHandler checks cfg and returns the handler.
func NewHandler(cfg HandlerConfig) (*Handler, error) {
	var errs []error
	if cfg.Store == nil {
		errs = append(errs, errors.New("store: required"))
	}
	if cfg.LogKeys == nil {
		errs = append(errs, errors.New("log keys: required"))
	}
	if cfg.Witnesses == nil {
		errs = append(errs, errors.New("witnesses: required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("witness handler: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{cfg: cfg, log: log}, nil
}

// ServeHTTP serves PathCosignatures and PathCosigned.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == PathCosignatures && r.Method == http.MethodPost:
		h.post(w, r)
	case r.URL.Path == PathCosigned && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		h.get(w, r)
	case r.URL.Path == PathCosignatures:
		w.Header().Set("Allow", http.MethodPost)
		writeProblem(w, http.StatusMethodNotAllowed, ReasonMethod, "", "use POST")
	case r.URL.Path == PathCosigned:
		w.Header().Set("Allow", "GET, HEAD")
		writeProblem(w, http.StatusMethodNotAllowed, ReasonMethod, "", "use GET")
	default:
		writeProblem(w, http.StatusNotFound, ReasonNotFound, "", "no such path")
	}
}

func (h *Handler) post(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, bus.MaxSignedCheckpointLen))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeProblem(w, http.StatusRequestEntityTooLarge, string(bus.ReasonTooLarge), "", "a cosigned checkpoint has at most %d bytes", bus.MaxSignedCheckpointLen)
			return
		}
		writeProblem(w, http.StatusBadRequest, ReasonBadRequest, "", "reading the body: %v", err)
		return
	}
	res, p := h.accept(r.Context(), body)
	if p != nil {
		writeProblemValue(w, p)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// accept verifies a cosigned note and stores its witness signatures.
func (h *Handler) accept(ctx context.Context, body []byte) (CosignResult, *Problem) {
	cp, names, err := bus.OpenCosigned(body, h.cfg.LogKeys, h.cfg.Witnesses)
	if err != nil {
		var ee *bus.EvidenceError
		if errors.As(err, &ee) {
			status := http.StatusBadRequest
			if ee.Reason == bus.ReasonTooLarge {
				status = http.StatusRequestEntityTooLarge
			}
			return CosignResult{}, problem(status, string(ee.Reason), "", "%v", ee)
		}
		return CosignResult{}, problem(http.StatusBadRequest, string(bus.ReasonInvalid), "", "%v", err)
	}
	if len(names) == 0 {
		return CosignResult{}, problem(http.StatusForbidden, ReasonUnknownWitness, "", "the checkpoint carries no signature by a witness this axis knows (an edge's seal key under %s<edge id>)", bus.EdgeNoteName(""))
	}
	stored, err := h.cfg.Store.CheckpointAt(ctx, cp.Size)
	switch {
	case errors.Is(err, bus.ErrNoCheckpoint):
		h.log.Error("witness: a checkpoint signed with the log key that this log never signed was cosigned; the log key may be in use elsewhere", "log_origin", cp.Origin, "log_size", cp.Size, "witnesses", names)
		return CosignResult{}, problem(http.StatusConflict, ReasonUnknownCheckpoint, "", "this log signed no checkpoint of size %d", cp.Size)
	case err != nil:
		h.log.Warn("witness: reading a checkpoint", "log_size", cp.Size, "err", err)
		return CosignResult{}, problem(http.StatusServiceUnavailable, ReasonUnavailable, "", "the log cannot be read now")
	case !sameCheckpoint(stored.Checkpoint, cp.Checkpoint):
		h.log.Error("witness: a checkpoint signed with the log key differs from the one this log signed at that size; the log key may be in use elsewhere", "log_origin", cp.Origin, "log_size", cp.Size, "witnesses", names)
		return CosignResult{}, problem(http.StatusConflict, ReasonUnknownCheckpoint, "", "the checkpoint of size %d is not the one this log signed", cp.Size)
	}
	lines := h.witnessLines(body, cp.Origin, names)
	added, err := h.cfg.Store.AddCosignatures(ctx, cp.Size, lines)
	if err != nil {
		h.log.Warn("witness: storing cosignatures", "log_size", cp.Size, "witnesses", names, "err", err)
		return CosignResult{}, problem(http.StatusServiceUnavailable, ReasonUnavailable, "", "the cosignatures cannot be stored now")
	}
	h.log.Debug("witness: cosignatures stored", "log_size", cp.Size, "witnesses", names, "added", added)
	return CosignResult{Size: cp.Size, Witnesses: names, Added: added}, nil
}

// witnessLines returns the signature lines of msg (which OpenCosigned
// accepted) made by keys of h.cfg.Witnesses under the names that
// verified: since the whole note verified, each such line is a valid
// signature. Lines by unknown keys are dropped.
func (h *Handler) witnessLines(msg []byte, origin string, names []string) []string {
	var out []string
	for _, line := range signatureLines(msg) {
		name, hash, ok := lineKey(line)
		if !ok || name == origin || !slices.Contains(names, name) {
			continue
		}
		if _, err := h.cfg.Witnesses.Verifier(name, hash); err != nil {
			continue
		}
		out = append(out, line)
	}
	return out
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k, v := range q {
		if !slices.Contains([]string{"size", "min", "after", "upto"}, k) || len(v) != 1 {
			writeProblem(w, http.StatusBadRequest, ReasonBadRequest, k, "the parameters are size, min, or after and upto, each once")
			return
		}
	}
	size := func(name string) (int64, bool) {
		n, err := strconv.ParseInt(q.Get(name), 10, 64)
		if err != nil || n < 0 {
			writeProblem(w, http.StatusBadRequest, ReasonBadRequest, name, "a tree size (an integer ≥ 0)")
			return 0, false
		}
		return n, true
	}
	var msg []byte
	var err error
	switch {
	case len(q) > 1 && !(len(q) == 2 && q.Has("after") && q.Has("upto")):
		writeProblem(w, http.StatusBadRequest, ReasonBadRequest, "", "give size, min, or after and upto")
		return
	case q.Has("after") != q.Has("upto"):
		writeProblem(w, http.StatusBadRequest, ReasonBadRequest, "upto", "after and upto go together")
		return
	case q.Has("after"):
		after, ok := size("after")
		if !ok {
			return
		}
		upto, ok := size("upto")
		if !ok {
			return
		}
		var cp bus.SignedCheckpoint
		cp, err = h.cfg.Store.MostCosigned(r.Context(), after, upto)
		msg = cp.Note
	case q.Has("size"):
		n, ok := size("size")
		if !ok {
			return
		}
		msg, err = h.cfg.Store.Cosigned(r.Context(), n)
	default:
		min := 1
		if q.Has("min") {
			var perr error
			min, perr = strconv.Atoi(q.Get("min"))
			if perr != nil || min < 1 || min > bus.MaxCosignatures {
				writeProblem(w, http.StatusBadRequest, ReasonBadRequest, "min", "a number of cosignatures, 1–%d", bus.MaxCosignatures)
				return
			}
		}
		var cp bus.SignedCheckpoint
		cp, err = h.cfg.Store.LatestCosigned(r.Context(), min)
		msg = cp.Note
	}
	switch {
	case errors.Is(err, bus.ErrNoCheckpoint):
		writeProblem(w, http.StatusNotFound, ReasonNotFound, "", "%v", err)
		return
	case err != nil:
		h.log.Warn("witness: reading cosignatures", "err", err)
		writeProblem(w, http.StatusServiceUnavailable, ReasonUnavailable, "", "the log cannot be read now")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(msg)
}

// signatureLines returns the signature lines of a signed note (each with
// its newline), or nil if msg has no blank line before signatures.
func signatureLines(msg []byte) []string {
	s := string(msg)
	i := strings.LastIndex(s, "\n\n")
	if i < 0 {
		return nil
	}
	var out []string
	for _, l := range strings.SplitAfter(s[i+2:], "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// lineKey returns the key name and key ID of a signature line.
func lineKey(line string) (name string, hash uint32, ok bool) {
	body, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "— ")
	if !ok {
		return "", 0, false
	}
	name, b64, ok := strings.Cut(body, " ")
	if !ok {
		return "", 0, false
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) < 5 {
		return "", 0, false
	}
	return name, binary.BigEndian.Uint32(raw), true
}

func sameCheckpoint(a, b bus.Checkpoint) bool {
	return a.Origin == b.Origin && a.Size == b.Size && a.Hash == b.Hash && slices.Equal(a.Extensions, b.Extensions)
}

func problem(status int, reason, field, format string, args ...any) *Problem {
	return &Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: fmt.Sprintf(format, args...), Field: field, Reason: reason}
}

func writeProblem(w http.ResponseWriter, status int, reason, field, format string, args ...any) {
	writeProblemValue(w, problem(status, reason, field, format, args...))
}

func writeProblemValue(w http.ResponseWriter, p *Problem) {
	body, _ := json.Marshal(p)
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_, _ = w.Write(append(body, '\n'))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeProblem(w, http.StatusInternalServerError, ReasonUnavailable, "", "cannot encode the answer")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
