package directory

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"truc.vn/truc/bus"
	"truc.vn/truc/signing"
)

const (
	adminToken = "quản-trị-7f3a9c1e5b2d4f60"
	syncToken  = "edge-sync-2b8e4d6f1a3c5e70"
)

func tokenHash(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

func newAdmin(t *testing.T, d *Directory, onEdge func(context.Context, bus.EdgeInfo) error) *AdminHandler {
	t.Helper()
	h, err := NewAdminHandler(d, AdminConfig{TokensSHA256: []string{tokenHash("another-admin"), tokenHash(adminToken)}, OnEdge: onEdge})
	if err != nil {
		t.Fatalf("NewAdminHandler: %v", err)
	}
	return h
}

func do(t *testing.T, h http.Handler, method, path, token, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// wantProblem checks a problem+json answer.
func wantProblem(t *testing.T, rec *httptest.ResponseRecorder, status int, reason, field string) Problem {
	t.Helper()
	var p Problem
	if rec.Code != status || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("got %d %s: %s; want %d problem+json", rec.Code, rec.Header().Get("Content-Type"), rec.Body, status)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem body: %v", err)
	}
	if p.Status != status || p.Reason != reason || p.Field != field || p.Title == "" || p.Type == "" {
		t.Fatalf("problem %+v; want status %d reason %q field %q", p, status, reason, field)
	}
	return p
}

func TestAdminAuth(t *testing.T) {
	w := newWorld(t)
	d, _ := w.openSeeded(t, Config{})
	h := newAdmin(t, d, nil)
	tests := []struct {
		name   string
		header []string
		status int
	}{
		{"no token", nil, http.StatusUnauthorized},
		{"wrong token", []string{"Bearer " + adminToken + "x"}, http.StatusUnauthorized},
		{"the sync token", []string{"Bearer " + syncToken}, http.StatusUnauthorized},
		{"empty bearer", []string{"Bearer "}, http.StatusUnauthorized},
		{"basic scheme", []string{"Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+adminToken))}, http.StatusUnauthorized},
		{"the token's hash", []string{"Bearer " + tokenHash(adminToken)}, http.StatusUnauthorized},
		{"two headers", []string{"Bearer " + adminToken, "Bearer " + adminToken}, http.StatusUnauthorized},
		{"right token", []string{"Bearer " + adminToken}, http.StatusOK},
		{"right token, scheme in lower case", []string{"bearer " + adminToken}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/admin/v1/directory", "/admin/v1/nothing"} {
				req := httptest.NewRequest(http.MethodGet, path, nil)
				for _, v := range tt.header {
					req.Header.Add("Authorization", v)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if tt.status == http.StatusUnauthorized {
					wantProblem(t, rec, http.StatusUnauthorized, ReasonUnauthenticated, "Authorization")
					if !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
						t.Errorf("WWW-Authenticate = %q", rec.Header().Get("WWW-Authenticate"))
					}
					continue
				}
				if path == "/admin/v1/directory" && rec.Code != tt.status {
					t.Errorf("GET %s: %d %s", path, rec.Code, rec.Body)
				}
				if path == "/admin/v1/nothing" {
					wantProblem(t, rec, http.StatusNotFound, ReasonNotFound, "")
				}
			}
		})
	}
}

func TestNewHandlersRefuseBadConfig(t *testing.T) {
	w := newWorld(t)
	d, _ := w.openSeeded(t, Config{})
	for _, hashes := range [][]string{nil, {"abc"}, {strings.Repeat("z", 64)}} {
		if _, err := NewAdminHandler(d, AdminConfig{TokensSHA256: hashes}); err == nil {
			t.Errorf("NewAdminHandler accepted token hashes %q", hashes)
		}
		if _, err := NewSyncHandler(d, SyncConfig{TokensSHA256: hashes}); err == nil {
			t.Errorf("NewSyncHandler accepted token hashes %q", hashes)
		}
	}
}

func TestAdminAPI(t *testing.T) {
	w := newWorld(t)
	d, _ := w.openSeeded(t, Config{})
	var hooked []bus.EdgeInfo
	h := newAdmin(t, d, func(_ context.Context, e bus.EdgeInfo) error { hooked = append(hooked, e); return nil })
	seal := base64.StdEncoding.EncodeToString(w.seals["hanoi"].Raw)
	fp := signing.Fingerprint(w.seals["hanoi"])

	rec := do(t, h, http.MethodGet, "/admin/v1/directory", adminToken, "")
	var snap Snapshot
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &snap) != nil {
		t.Fatalf("GET directory: %d %s", rec.Code, rec.Body)
	}
	sameDirectory(t, snap, d.Snapshot())

	steps := []struct {
		name, method, path, body string
		status                   int
		reason, field            string
		version                  int64
	}{
		{"edge", "PUT", "/admin/v1/edges/hanoi", `{"certificates":["` + seal + `"]}`, 200, "", "", 2},
		{"agency", "PUT", "/admin/v1/agencies/000.00.00.H29", `{"name":"UBND thành phố Hà Nội","edge":"hanoi"}`, 200, "", "", 3},
		{"binding", "PUT", "/admin/v1/bindings/000.00.00.H29", `{"certificates":["` + fp + `"]}`, 200, "", "", 4},
		{"remove binding", "DELETE", "/admin/v1/bindings/000.00.00.H29", "", 200, "", "", 5},
		{"remove it again", "DELETE", "/admin/v1/bindings/000.00.00.H29", "", 404, ReasonNotFound, "organ_id", 5},
		{"agency with an unknown edge", "PUT", "/admin/v1/agencies/000.00.00.H30", `{"name":"X","edge":"nowhere"}`, 422, ReasonInvalid, "edge", 5},
		{"agency with a bad path OrganId", "PUT", "/admin/v1/agencies/G22!", `{"name":"X","edge":"hanoi"}`, 422, ReasonInvalid, "organ_id", 5},
		{"agency naming another OrganId", "PUT", "/admin/v1/agencies/000.00.00.H30", `{"organ_id":"000.00.00.H31","name":"X","edge":"hanoi"}`, 422, ReasonInvalid, "organ_id", 5},
		{"agency with an unknown member", "PUT", "/admin/v1/agencies/000.00.00.H30", `{"name":"X","edge":"hanoi","actif":true}`, 400, ReasonBadRequest, "actif", 5},
		{"agency with a number for a name", "PUT", "/admin/v1/agencies/000.00.00.H30", `{"name":5,"edge":"hanoi"}`, 400, ReasonBadRequest, "name", 5},
		{"edge with a bad certificate", "PUT", "/admin/v1/edges/hanoi2", `{"certificates":["AAAA"]}`, 422, ReasonInvalid, "certificates[0]", 5},
		{"edge with bad base64", "PUT", "/admin/v1/edges/hanoi2", `{"certificates":["!"]}`, 400, ReasonBadRequest, "", 5},
		{"binding with a bad fingerprint", "PUT", "/admin/v1/bindings/000.00.00.H29", `{"certificates":["abc"]}`, 422, ReasonInvalid, "certificates[0]", 5},
		{"not JSON", "PUT", "/admin/v1/edges/hanoi", `certificates`, 400, ReasonBadRequest, "", 5},
		{"wrong method", "POST", "/admin/v1/edges/hanoi", `{}`, 405, ReasonBadRequest, "", 5},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			rec := do(t, h, s.method, s.path, adminToken, s.body)
			if s.status != http.StatusOK {
				p := wantProblem(t, rec, s.status, s.reason, s.field)
				if p.Detail == "" {
					t.Error("a problem without detail")
				}
			} else if rec.Code != http.StatusOK {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			} else {
				var vr VersionResponse
				if err := json.Unmarshal(rec.Body.Bytes(), &vr); err != nil || vr.Version != s.version {
					t.Errorf("answer %s (%v), want version %d", rec.Body, err, s.version)
				}
			}
			if d.Version() != s.version {
				t.Errorf("directory version %d, want %d", d.Version(), s.version)
			}
		})
	}
	if len(hooked) != 1 || hooked[0].ID != "hanoi" || hooked[0].InboxTopic != "truc.inbox.hanoi" || !hooked[0].Certificates[0].Equal(w.seals["hanoi"]) {
		t.Errorf("OnEdge calls: %+v", hooked)
	}
	if a, ok := d.Agency("000.00.00.H29"); !ok || !a.Active || a.Edge != "hanoi" {
		t.Errorf("agency put over HTTP: %+v, %v (active defaults to true)", a, ok)
	}

	t.Run("wrong content type", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPut, "/admin/v1/agencies/000.00.00.H30", strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		req.Header.Set("Content-Type", "text/plain")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		wantProblem(t, rec, http.StatusUnsupportedMediaType, ReasonUnsupportedType, "Content-Type")
	})
	t.Run("body too large", func(t *testing.T) {
		small, err := NewAdminHandler(d, AdminConfig{TokensSHA256: []string{tokenHash(adminToken)}, MaxBodyBytes: 64})
		if err != nil {
			t.Fatal(err)
		}
		rec := do(t, small, "PUT", "/admin/v1/agencies/000.00.00.H30", adminToken, `{"name":"`+strings.Repeat("a", 100)+`","edge":"hanoi"}`)
		wantProblem(t, rec, http.StatusRequestEntityTooLarge, ReasonTooLarge, "")
	})
}

func onboardBody(w *world, edge string, agencies ...string) string {
	return fmt.Sprintf(`{"edge":{"id":%q,"certificates":[%q]},"agencies":[%s]}`,
		edge, base64.StdEncoding.EncodeToString(w.seals[edge].Raw), strings.Join(agencies, ","))
}

func TestOnboard(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	hanoi := []string{
		`{"organ_id":"000.01.00.H29","name":"Sở Tư pháp thành phố Hà Nội","parent":"000.00.00.H29"}`,
		`{"organ_id":"000.00.00.H29","name":"UBND thành phố Hà Nội"}`,
		`{"organ_id":"000.00.00.G22","name":"Văn phòng Chính phủ"}`, // moves to the new edge, keeps its binding
	}

	t.Run("all or nothing when the hook fails", func(t *testing.T) {
		d, log := w.openSeeded(t, Config{})
		before, records := d.Snapshot(), log.len()
		calls := 0
		h := newAdmin(t, d, func(_ context.Context, e bus.EdgeInfo) error {
			calls++
			return errors.New("kafka: creating topic truc.inbox.hanoi: broker unavailable")
		})
		rec := do(t, h, "POST", "/admin/v1/onboard", adminToken, onboardBody(w, "hanoi", hanoi...))
		p := wantProblem(t, rec, http.StatusBadGateway, ReasonOnEdgeFailed, "edge")
		if !strings.Contains(p.Detail, "broker unavailable") || calls != 1 {
			t.Errorf("detail %q, %d hook calls", p.Detail, calls)
		}
		sameDirectory(t, d.Snapshot(), before)
		if d.Version() != 1 || log.len() != records {
			t.Errorf("version %d, %d log records after a failed onboarding", d.Version(), log.len())
		}
	})

	t.Run("all or nothing when an agency is invalid", func(t *testing.T) {
		d, _ := w.openSeeded(t, Config{})
		before := d.Snapshot()
		calls := 0
		h := newAdmin(t, d, func(context.Context, bus.EdgeInfo) error { calls++; return nil })
		bad := append([]string{`{"organ_id":"000.02.00.H29","name":"Sở","parent":"000.00.00.H99"}`}, hanoi...)
		rec := do(t, h, "POST", "/admin/v1/onboard", adminToken, onboardBody(w, "hanoi", bad...))
		wantProblem(t, rec, http.StatusUnprocessableEntity, ReasonInvalid, "agencies[0].parent")
		sameDirectory(t, d.Snapshot(), before)
		if calls != 0 {
			t.Errorf("the hook ran %d times for an onboarding that does not apply", calls)
		}
		rec = do(t, h, "POST", "/admin/v1/onboard", adminToken, onboardBody(w, "hanoi", `{"organ_id":"000.00.00.H29","name":"X","edge":"vpcp"}`))
		wantProblem(t, rec, http.StatusUnprocessableEntity, ReasonInvalid, "agencies[0].edge")
		rec = do(t, h, "POST", "/admin/v1/onboard", adminToken, onboardBody(w, "hanoi", hanoi[1], hanoi[0], hanoi[1]))
		wantProblem(t, rec, http.StatusUnprocessableEntity, ReasonInvalid, "agencies[2].organ_id")
		rec = do(t, h, "POST", "/admin/v1/onboard", adminToken, onboardBody(w, "hanoi"))
		wantProblem(t, rec, http.StatusUnprocessableEntity, ReasonInvalid, "agencies")
		rec = do(t, h, "POST", "/admin/v1/onboard", adminToken, `{"edge":{"id":"hanoi","certificates":[]},"agencies":[`+hanoi[1]+`]}`)
		wantProblem(t, rec, http.StatusUnprocessableEntity, ReasonInvalid, "edge.certificates")
		sameDirectory(t, d.Snapshot(), before)
	})

	t.Run("success", func(t *testing.T) {
		d, log := w.openSeeded(t, Config{})
		var hooked []string
		h := newAdmin(t, d, func(_ context.Context, e bus.EdgeInfo) error {
			if _, ok := d.Edge(e.ID); ok && len(hooked) == 0 {
				t.Error("the hook ran after the edge was applied")
			}
			hooked = append(hooked, e.InboxTopic)
			return nil
		})
		rec := do(t, h, "POST", "/admin/v1/onboard", adminToken, onboardBody(w, "hanoi", hanoi...))
		if rec.Code != http.StatusOK {
			t.Fatalf("onboard: %d %s", rec.Code, rec.Body)
		}
		var got OnboardResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if got.Version != 2 || d.Version() != 2 || log.len() != 2 || got.Edge.InboxTopic != "truc.inbox.hanoi" || len(got.Agencies) != 3 {
			t.Errorf("onboarding answer %+v, directory version %d, %d records: one version for everything", got, d.Version(), log.len())
		}
		if fmt.Sprint(hooked) != "[truc.inbox.hanoi]" {
			t.Errorf("hook calls %v", hooked)
		}
		for _, id := range []string{"000.00.00.H29", "000.01.00.H29", "000.00.00.G22"} {
			if a, ok := d.Agency(id); !ok || a.Edge != "hanoi" || !a.Active {
				t.Errorf("agency %s: %+v, %v", id, a, ok)
			}
			if err := d.CheckSigner(id, []*x509.Certificate{w.seals["hanoi"]}, w.pki.Now); err != nil {
				t.Errorf("the seal does not sign for %s: %v", id, err)
			}
		}
		// The existing binding of G22 was extended, not replaced.
		if err := d.CheckSigner("000.00.00.G22", w.pki.Chain(), w.pki.Now); err != nil {
			t.Errorf("G22's own certificate lost its binding: %v", err)
		}
		// Onboarding again changes nothing in the bindings (no duplicate fingerprints).
		if _, err := d.Apply(ctx, Change{Op: OpPutAgency, Agency: agency("000.00.00.H30", "Hà Giang", "hanoi", "")}); err != nil {
			t.Fatal(err)
		}
		rec = do(t, h, "POST", "/admin/v1/onboard", adminToken, onboardBody(w, "hanoi", hanoi...))
		if rec.Code != http.StatusOK {
			t.Fatalf("second onboarding: %d %s", rec.Code, rec.Body)
		}
		if b, _ := d.Binding("000.00.00.H29"); len(b.Certificates) != 1 {
			t.Errorf("binding after two onboardings: %v", b.Certificates)
		}
	})
}

func newSyncServer(t *testing.T, d *Directory, crls func() [][]byte) (*httptest.Server, *int) {
	t.Helper()
	h, err := NewSyncHandler(d, SyncConfig{TokensSHA256: []string{tokenHash(syncToken)}, CRLs: crls})
	if err != nil {
		t.Fatal(err)
	}
	requests := new(int)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/directory" {
			*requests++
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, requests
}

func TestSyncHandlerParameters(t *testing.T) {
	w := newWorld(t)
	d, _ := w.openSeeded(t, Config{})
	h, err := NewSyncHandler(d, SyncConfig{TokensSHA256: []string{tokenHash(syncToken)}, MaxLimit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ query, field string }{
		{"since=-1", "since"}, {"since=x", "since"}, {"since=", "since"},
		{"limit=0", "limit"}, {"limit=101", "limit"}, {"limit=1.5", "limit"},
	} {
		rec := do(t, h, "GET", "/v1/directory?"+tt.query, syncToken, "")
		wantProblem(t, rec, http.StatusBadRequest, ReasonBadRequest, tt.field)
	}
	wantProblem(t, do(t, h, "GET", "/v1/directory", adminToken, ""), http.StatusUnauthorized, ReasonUnauthenticated, "Authorization")
	for _, tt := range []struct {
		query  string
		full   bool
		reason string
	}{{"", true, SyncInitial}, {"since=0", true, SyncInitial}, {"since=1", false, ""}, {"since=2", true, SyncAhead}} {
		var resp SyncResponse
		rec := do(t, h, "GET", "/v1/directory?"+tt.query, syncToken, "")
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || rec.Code != 200 {
			t.Fatalf("GET ?%s: %d %s", tt.query, rec.Code, rec.Body)
		}
		if resp.Version != 1 || resp.Full != tt.full || resp.Reason != tt.reason || (resp.Snapshot != nil) != tt.full || len(resp.Changes) != 0 {
			t.Errorf("GET ?%s = %+v", tt.query, resp)
		}
	}
	rec := do(t, h, "GET", "/v1/crls", syncToken, "")
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != "[]" {
		t.Errorf("CRLs without a source: %d %s", rec.Code, rec.Body)
	}
}

func TestSyncer(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	axis, _ := w.openSeeded(t, Config{HistoryLimit: 4})
	rootCRL, interCRL := w.pki.CRLs(t)
	srv, requests := newSyncServer(t, axis, func() [][]byte { return [][]byte{rootCRL, interCRL} })

	edgeLog := &memLog{}
	edge, _, err := Open(ctx, Config{}, edgeLog, nil)
	if err != nil {
		t.Fatal(err)
	}
	var gotCRLs [][]byte
	crlStore := signing.NewCRLStore()
	s := &Syncer{URL: srv.URL + "/", Token: syncToken, HTTPClient: srv.Client(), Limit: 1, OnCRLs: func(_ context.Context, crls [][]byte) error {
		gotCRLs = crls
		for _, der := range crls {
			if _, err := crlStore.Add(der, []*x509.Certificate{w.pki.Root.Cert, w.pki.Intermediate.Cert}, w.pki.Now); err != nil {
				return err
			}
		}
		return nil
	}}

	t.Run("first sync: a snapshot", func(t *testing.T) {
		if err := s.SyncOnce(ctx, edge); err != nil {
			t.Fatal(err)
		}
		sameDirectory(t, edge.Snapshot(), axis.Snapshot())
		if len(gotCRLs) != 2 || string(gotCRLs[0]) != string(rootCRL) || string(gotCRLs[1]) != string(interCRL) {
			t.Errorf("CRLs received: %d", len(gotCRLs))
		}
	})

	addAgency := func(i int) {
		t.Helper()
		a := agency(fmt.Sprintf("000.00.%02d.G12", 30+i), "Đơn vị", "btc", "000.00.00.G12")
		if _, err := axis.Apply(ctx, Change{Op: OpPutAgency, Agency: a}); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("incremental, one version per request", func(t *testing.T) {
		for i := range 3 {
			addAgency(i)
		}
		*requests = 0
		if err := s.SyncOnce(ctx, edge); err != nil {
			t.Fatal(err)
		}
		sameDirectory(t, edge.Snapshot(), axis.Snapshot())
		if got, ok := edge.Since(1, 0); !ok || len(got) != 3 {
			t.Errorf("the edge's history after an incremental sync: %d versions, %v", len(got), ok)
		}
		if *requests != 3 {
			t.Errorf("%d requests with Limit 1 for 3 versions", *requests)
		}
		*requests = 0
		if err := s.SyncOnce(ctx, edge); err != nil || *requests != 1 || edge.Version() != 4 {
			t.Errorf("a sync with nothing new: %v, %d requests, version %d", err, *requests, edge.Version())
		}
	})
	t.Run("too far behind: a snapshot", func(t *testing.T) {
		for i := 3; i < 9; i++ { // 6 versions, more than the axis keeps
			addAgency(i)
		}
		if err := s.SyncOnce(ctx, edge); err != nil {
			t.Fatal(err)
		}
		sameDirectory(t, edge.Snapshot(), axis.Snapshot())
		if _, ok := edge.Since(4, 0); ok {
			t.Error("the edge kept history across a snapshot")
		}
	})
	t.Run("the edge's own log", func(t *testing.T) {
		again, res, err := Open(ctx, Config{}, edgeLog, nil)
		if err != nil {
			t.Fatal(err)
		}
		sameDirectory(t, again.Snapshot(), axis.Snapshot())
		if res.Records != 5 { // snapshot 1, versions 2–4, snapshot 10
			t.Errorf("%d records in the edge's log", res.Records)
		}
	})
	t.Run("an axis behind the edge", func(t *testing.T) {
		ahead, _ := w.openSeeded(t, Config{})
		if err := ahead.Reset(ctx, func() Snapshot { s := axis.Snapshot(); s.Version = 99; return s }()); err != nil {
			t.Fatal(err)
		}
		err := s.SyncOnce(ctx, ahead)
		if !errors.Is(err, ErrAxisBehind) || ahead.Version() != 99 {
			t.Errorf("got %v, version %d; want ErrAxisBehind and no change", err, ahead.Version())
		}
	})
	t.Run("wrong token", func(t *testing.T) {
		bad := *s
		bad.Token = "nope"
		err := bad.SyncOnce(ctx, edge)
		if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "sync bearer token") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("CRL callback failure", func(t *testing.T) {
		bad := *s
		bad.OnCRLs = func(context.Context, [][]byte) error { return errors.New("store full") }
		if err := bad.SyncOnce(ctx, edge); err == nil || !strings.Contains(err.Error(), "store full") {
			t.Errorf("got %v", err)
		}
	})
}

// TestSyncerRefusesBadAnswers points a Syncer at servers that answer
// wrongly.
func TestSyncerRefusesBadAnswers(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name, body, msg string
	}{
		{"not JSON", `<html>`, "not valid"},
		{"unknown member", `{"version":1,"full":false,"extra":1}`, `unknown field "extra"`},
		{"full without snapshot", `{"version":1,"full":true}`, "without a snapshot"},
		{"no progress", `{"version":5,"full":false,"changes":[]}`, "sent nothing after version 0"},
		{"a gap", `{"version":5,"full":false,"changes":[{"version":3,"changes":[{"op":"remove-binding","organ_id":"x"}]}]}`, "version out of sequence"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, tt.body)
			}))
			defer srv.Close()
			d, _ := New(Config{})
			err := (&Syncer{URL: srv.URL, Token: "t"}).SyncOnce(ctx, d)
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("got %v, want %q", err, tt.msg)
			}
			if d.Version() != 0 {
				t.Errorf("version %d after a bad answer", d.Version())
			}
		})
	}
	if err := (&Syncer{}).SyncOnce(ctx, nil); err == nil {
		t.Error("a Syncer without URL synced")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestSyncerRunBacksOff runs Run on a fake clock against the real sync
// handler (in memory) that is unreachable for the first three polls.
func TestSyncerRunBacksOff(t *testing.T) {
	w := newWorld(t)
	axis, _ := w.openSeeded(t, Config{})
	h, err := NewSyncHandler(axis, SyncConfig{TokensSHA256: []string{tokenHash(syncToken)}})
	if err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		var polls []time.Time
		down := 3
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			polls = append(polls, time.Now())
			if down > 0 {
				down--
				return nil, errors.New("dial tcp: connection refused")
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			return rec.Result(), nil
		})
		var logs strings.Builder
		edge, _ := New(Config{})
		s := &Syncer{
			URL: "https://axis.test", Token: syncToken, HTTPClient: &http.Client{Transport: rt},
			Every: time.Minute, MinBackoff: time.Second, MaxBackoff: 3 * time.Second,
			Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- s.Run(ctx, edge) }()
		time.Sleep(150 * time.Second)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v", err)
		}
		if len(polls) != 6 { // 4 attempts to the first success, then every minute: 1 + ~61 s + ~122 s
			t.Fatalf("%d polls in 150 s: %v", len(polls), polls)
		}
		waits := []struct{ lo, hi time.Duration }{
			{500 * time.Millisecond, time.Second},      // after failure 1: min backoff, jittered
			{time.Second, 2 * time.Second},             // failure 2: doubled
			{1500 * time.Millisecond, 3 * time.Second}, // failure 3: capped at MaxBackoff
			{54 * time.Second, 66 * time.Second},       // success: Every ± 10 %
			{54 * time.Second, 66 * time.Second},
		}
		for i, want := range waits {
			if got := polls[i+1].Sub(polls[i]); got < want.lo || got > want.hi {
				t.Errorf("wait %d: %v, want %v..%v", i+1, got, want.lo, want.hi)
			}
		}
		if edge.Version() != 1 {
			t.Errorf("edge at version %d after Run", edge.Version())
		}
		for _, want := range []string{"directory sync failed", "failures=3", "directory sync recovered", "directory synced", "version=1"} {
			if !strings.Contains(logs.String(), want) {
				t.Errorf("logs lack %q:\n%s", want, logs.String())
			}
		}
		if strings.Contains(logs.String(), syncToken) {
			t.Error("the token is in the logs")
		}
	})
}

func TestBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 9: time.Minute, 100: time.Minute} {
		for range 50 {
			if got := backoff(n, time.Second, time.Minute); got < want/2 || got > want {
				t.Fatalf("backoff(%d) = %v, want %v..%v", n, got, want/2, want)
			}
		}
	}
}
