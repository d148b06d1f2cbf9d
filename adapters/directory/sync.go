package directory

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SyncResponse is the answer to GET /v1/directory: either the versions
// after the one asked for (Full false), or the whole directory (Full true,
// Reason says why) when the client has nothing yet, is older than the
// history the axis keeps, or is ahead of the axis.
type SyncResponse struct {
	// Version is the axis's version when it answered.
	Version int64 `json:"version"`
	Full    bool  `json:"full"`
	// Reason says why the answer is Full: SyncInitial, SyncBehind or
	// SyncAhead.
	Reason   string            `json:"reason,omitempty"`
	Changes  []VersionedChange `json:"changes,omitempty"`
	Snapshot *Snapshot         `json:"snapshot,omitempty"`
}

// Why a sync answer is a full snapshot. Wire values: they never change.
const (
	SyncInitial = "initial" // the client has nothing (since=0)
	SyncBehind  = "behind"  // the client is older than the history the axis keeps
	SyncAhead   = "ahead"   // the client claims a version the axis does not have: the axis directory was reset
)

// syncSince answers a sync request in one consistent read.
func (d *Directory) syncSince(since int64, limit int) SyncResponse {
	d.mu.RLock()
	defer d.mu.RUnlock()
	reason := ""
	switch {
	case since > d.version:
		reason = SyncAhead
	case since == 0 && d.version > 0:
		reason = SyncInitial
	case since < d.base:
		reason = SyncBehind
	}
	if reason != "" {
		snap := d.st.snapshot(d.version)
		return SyncResponse{Version: d.version, Full: true, Reason: reason, Snapshot: &snap}
	}
	from := int(since - d.base)
	to := min(len(d.history), from+limit)
	return SyncResponse{Version: d.version, Changes: slices.Clone(d.history[from:to])}
}

// SyncHandler serves the API edges sync from, on the axis:
//
//	GET /v1/directory?since=V&limit=N   a SyncResponse
//	GET /v1/crls                        the CRLs the axis holds: a JSON array of base64 DER
//
// Every request needs a bearer token from SyncConfig.TokensSHA256.
type SyncHandler struct {
	dir    *Directory
	cfg    SyncConfig
	tokens tokenSet
	mux    *http.ServeMux
}

// NewSyncHandler returns the sync API over dir.
func NewSyncHandler(dir *Directory, cfg SyncConfig) (*SyncHandler, error) {
	if dir == nil {
		return nil, errors.New("directory sync API: no directory")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("directory sync API: %w", err)
	}
	if cfg.MaxLimit == 0 {
		cfg.MaxLimit = DefaultSyncMaxLimit
	}
	tokens, _ := parseTokens("tokens_sha256", cfg.TokensSHA256)
	h := &SyncHandler{dir: dir, cfg: cfg, tokens: tokens, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /v1/directory", h.directory)
	h.mux.HandleFunc("GET /v1/crls", h.crls)
	h.mux.HandleFunc("/", noRoute(h.mux))
	return h, nil
}

func (h *SyncHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.tokens.allows(r) {
		writeProblem(w, http.StatusUnauthorized, ReasonUnauthenticated, "Authorization", "a valid sync bearer token is required")
		return
	}
	h.mux.ServeHTTP(w, r)
}

func (h *SyncHandler) directory(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	since, limit := int64(0), min(DefaultSyncLimit, h.cfg.MaxLimit)
	if q.Has("since") {
		v, err := strconv.ParseInt(q.Get("since"), 10, 64)
		if err != nil || v < 0 {
			writeProblem(w, http.StatusBadRequest, ReasonBadRequest, "since", "since must be a version: an integer ≥ 0")
			return
		}
		since = v
	}
	if q.Has("limit") {
		v, err := strconv.Atoi(q.Get("limit"))
		if err != nil || v < 1 || v > h.cfg.MaxLimit {
			writeProblem(w, http.StatusBadRequest, ReasonBadRequest, "limit", "limit must be an integer in 1..%d", h.cfg.MaxLimit)
			return
		}
		limit = v
	}
	writeJSON(w, http.StatusOK, h.dir.syncSince(since, limit))
}

func (h *SyncHandler) crls(w http.ResponseWriter, r *http.Request) {
	crls := [][]byte{}
	if h.cfg.CRLs != nil {
		for _, c := range h.cfg.CRLs() {
			if len(c) > 0 {
				crls = append(crls, bytes.Clone(c))
			}
		}
	}
	writeJSON(w, http.StatusOK, crls)
}

// Syncer defaults.
const (
	DefaultSyncEvery   = 30 * time.Second
	DefaultMinBackoff  = time.Second
	DefaultMaxBackoff  = 5 * time.Minute
	maxProblemBytes    = 64 << 10
	maxSyncRoundTrips  = 1 << 16 // versions are fetched Limit at a time; this bounds one SyncOnce
	syncRequestTimeout = 2 * time.Minute
)

// ErrAxisBehind: the axis answered with a directory older than this one
// (its directory was reset or restored from an old backup). The edge keeps
// its copy and does not follow: an operator decides.
var ErrAxisBehind = errors.New("directory sync: the axis directory is older than this copy")

// Syncer keeps an edge's copy of the directory in step with the axis
// through the sync API (SyncHandler). The zero value of every field but
// URL and Token means the default written next to it. A Syncer may be
// used by one Run or SyncOnce at a time.
type Syncer struct {
	// URL is the base URL of the axis's sync API, without /v1:
	// "https://axis.truc.gov.vn:8443". Required.
	URL string
	// Token is the edge's sync bearer token. Required. Never logged.
	Token string
	// HTTPClient makes the requests (default: a client with a 2-minute
	// timeout). Configure TLS and proxies on it.
	HTTPClient *http.Client
	// Every is the time between two successful polls (default
	// DefaultSyncEvery), with ±10% jitter.
	Every time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failure: it starts
	// at MinBackoff (default 1 s) and doubles up to MaxBackoff (default
	// 5 min), with jitter (each wait is between half and all of it).
	MinBackoff, MaxBackoff time.Duration
	// Limit is how many versions to ask for per request (default: the
	// axis's default); at most the axis's SyncConfig.MaxLimit.
	Limit int
	// OnCRLs, when set, receives the CRLs the axis holds (DER) after each
	// successful directory sync; an error fails the sync (and is retried).
	OnCRLs func(ctx context.Context, crls [][]byte) error
	// Logger receives version changes and failures. nil discards.
	Logger *slog.Logger
}

func (s *Syncer) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Syncer) client() *http.Client {
	if s.HTTPClient != nil {
		return s.HTTPClient
	}
	return &http.Client{Timeout: syncRequestTimeout}
}

// SyncOnce brings dir up to the axis's version: it fetches the versions
// after dir's (or a snapshot when dir is too far behind) until it reaches
// the version the axis reported, applies them with Replicate or Reset,
// then fetches the CRLs into OnCRLs. Versions applied stay applied when a
// later step fails.
func (s *Syncer) SyncOnce(ctx context.Context, dir *Directory) error {
	if s.URL == "" || s.Token == "" {
		return errors.New("directory sync: URL and Token are required")
	}
	from := dir.Version()
	full := false
	for range maxSyncRoundTrips {
		cur := dir.Version()
		resp, err := s.fetch(ctx, cur)
		if err != nil {
			return err
		}
		switch {
		case resp.Full:
			if resp.Snapshot == nil {
				return errors.New("directory sync: a full answer without a snapshot")
			}
			if resp.Snapshot.Version <= cur {
				return fmt.Errorf("%w: the axis is at version %d (%s), this copy at %d", ErrAxisBehind, resp.Snapshot.Version, resp.Reason, cur)
			}
			if err := dir.Reset(ctx, *resp.Snapshot); err != nil {
				return fmt.Errorf("directory sync: applying the axis snapshot at version %d: %w", resp.Snapshot.Version, err)
			}
			full = true
		default:
			for _, vc := range resp.Changes {
				if err := dir.Replicate(ctx, vc); err != nil {
					return fmt.Errorf("directory sync: %w", err)
				}
			}
		}
		now := dir.Version()
		if now >= resp.Version {
			if now != from {
				s.logger().Info("directory synced", "from_version", from, "version", now, "snapshot", full)
			}
			return s.syncCRLs(ctx)
		}
		if now == cur {
			return fmt.Errorf("directory sync: the axis reports version %d but sent nothing after version %d", resp.Version, cur)
		}
	}
	return errors.New("directory sync: too many round trips")
}

func (s *Syncer) fetch(ctx context.Context, since int64) (*SyncResponse, error) {
	q := url.Values{"since": {strconv.FormatInt(since, 10)}}
	if s.Limit > 0 {
		q.Set("limit", strconv.Itoa(s.Limit))
	}
	var resp SyncResponse
	if err := s.get(ctx, "/v1/directory?"+q.Encode(), &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

func (s *Syncer) syncCRLs(ctx context.Context) error {
	if s.OnCRLs == nil {
		return nil
	}
	var crls [][]byte
	if err := s.get(ctx, "/v1/crls", &crls); err != nil {
		return err
	}
	if err := s.OnCRLs(ctx, crls); err != nil {
		return fmt.Errorf("directory sync: storing %d CRLs: %w", len(crls), err)
	}
	return nil
}

// get fetches path from the axis and decodes the JSON answer strictly into
// v. A non-200 answer is an error carrying the problem's detail.
func (s *Syncer) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(s.URL, "/")+path, nil)
	if err != nil {
		return fmt.Errorf("directory sync: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	req.Header.Set("Accept", "application/json")
	resp, err := s.client().Do(req)
	if err != nil {
		return fmt.Errorf("directory sync: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var p Problem
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxProblemBytes))
		if json.Unmarshal(body, &p) == nil && p.Detail != "" {
			return fmt.Errorf("directory sync: GET %s: %s: %s", req.URL.Path, resp.Status, clip(p.Detail))
		}
		return fmt.Errorf("directory sync: GET %s: %s", req.URL.Path, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxRecordBytes+1))
	if err != nil {
		return fmt.Errorf("directory sync: GET %s: reading the answer: %w", req.URL.Path, err)
	}
	if err := strictJSON(body, v); err != nil {
		return fmt.Errorf("directory sync: GET %s: the answer is not valid: %w", req.URL.Path, err)
	}
	return nil
}

// Run syncs dir at once, then every Every, backing off after failures,
// until ctx ends; it returns ctx's error. Failures are logged and retried,
// never returned.
func (s *Syncer) Run(ctx context.Context, dir *Directory) error {
	every := s.Every
	if every <= 0 {
		every = DefaultSyncEvery
	}
	minB, maxB := s.MinBackoff, s.MaxBackoff
	if minB <= 0 {
		minB = DefaultMinBackoff
	}
	if maxB <= 0 {
		maxB = DefaultMaxBackoff
	}
	maxB = max(maxB, minB)
	failures := 0
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
		var wait time.Duration
		if err := s.SyncOnce(ctx, dir); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failures++
			wait = backoff(failures, minB, maxB)
			s.logger().Warn("directory sync failed", "version", dir.Version(), "failures", failures, "retry_in", wait, "err", err)
		} else {
			if failures > 0 {
				s.logger().Info("directory sync recovered", "version", dir.Version(), "failures", failures)
			}
			failures = 0
			wait = every - every/10 + rand.N(every/5+1)
		}
		timer.Reset(wait)
	}
}

// backoff returns the wait after the n-th failure in a row: min·2^(n-1)
// capped at max, then a random point in its upper half, so that edges
// that failed together do not retry together.
func backoff(n int, minB, maxB time.Duration) time.Duration {
	d := minB
	for i := 1; i < n && d < maxB; i++ {
		d *= 2
	}
	d = min(d, maxB)
	return d/2 + rand.N(d/2+1)
}
