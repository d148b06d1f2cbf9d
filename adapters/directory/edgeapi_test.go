package directory

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"truc.vn/truc/bus"
	"truc.vn/truc/signing/notesig"
	"truc.vn/truc/signing/signingtest"
)

// edgeWorld is the sample directory whose edges vpcp and tayninh have seal
// keys the test holds, served by an EdgeAPIHandler.
type edgeWorld struct {
	dir     *Directory
	log     *memLog
	h       *EdgeAPIHandler
	signers map[string]note.Signer // edge ID → its seal's note signer
	keys    map[string]crypto.Signer
	fps     map[string]string // edge ID → seal fingerprint
	now     time.Time
}

func newEdgeWorld(t *testing.T) *edgeWorld {
	t.Helper()
	w := newWorld(t)
	d, log := w.openSeeded(t, Config{})
	ew := &edgeWorld{dir: d, log: log, signers: map[string]note.Signer{}, keys: map[string]crypto.Signer{}, fps: map[string]string{},
		now: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)}
	var changes []Change
	for _, id := range []string{"vpcp", "tayninh"} {
		key, cert := w.pki.IssueLeaf(t, signingtest.P256)
		s, err := notesig.NewSigner(bus.EdgeNoteName(id), key)
		if err != nil {
			t.Fatal(err)
		}
		ew.signers[id], ew.keys[id] = s, key
		sum := sha256.Sum256(cert.Raw)
		ew.fps[id] = hex.EncodeToString(sum[:])
		changes = append(changes, Change{Op: OpPutEdge, Edge: &Edge{ID: id, Certificates: [][]byte{cert.Raw}}})
	}
	if _, err := d.Apply(context.Background(), changes...); err != nil {
		t.Fatal(err)
	}
	h, err := NewEdgeAPIHandler(d, EdgeAPIConfig{
		TokensSHA256: []string{tokenHash(syncToken)},
		Verifiers:    edgeVerifiers,
		Now:          func() time.Time { return ew.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	ew.h = h
	return ew
}

// edgeVerifiers is what the axis passes: the verifiers of an edge's seal
// certificates.
func edgeVerifiers(e bus.EdgeInfo) (note.Verifiers, error) {
	var vs []note.Verifier
	for _, c := range e.Certificates {
		v, err := notesig.NewCertVerifier(bus.EdgeNoteName(e.ID), c)
		if err == nil {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return nil, errors.New("no usable certificate")
	}
	return note.VerifierList(vs...), nil
}

var nonceCounter int

// signed returns the signed note of req, with a fresh nonce and the
// world's time unless set.
func (ew *edgeWorld) signed(t *testing.T, s note.Signer, req EdgeAgencyRequest) []byte {
	t.Helper()
	if req.Time.IsZero() {
		req.Time = ew.now
	}
	if req.Nonce == "" {
		nonceCounter++
		sum := sha256.Sum256([]byte{byte(nonceCounter), byte(nonceCounter >> 8)})
		req.Nonce = hex.EncodeToString(sum[:16])
	}
	b, err := req.Sign(s)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return b
}

func (ew *edgeWorld) post(t *testing.T, token, contentType string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, EdgeAgencyPath, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	ew.h.ServeHTTP(rec, req)
	return rec
}

func decodeResponse(t *testing.T, rec *httptest.ResponseRecorder) EdgeAgencyResponse {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", rec.Code, rec.Body)
	}
	var r EdgeAgencyResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestEdgeAPIPutAndDeactivate(t *testing.T) {
	ew := newEdgeWorld(t)
	tn := ew.signers["tayninh"]
	put := func(id, name, parent string) *httptest.ResponseRecorder {
		return ew.post(t, syncToken, "text/plain; charset=utf-8", ew.signed(t, tn, EdgeAgencyRequest{Edge: "tayninh", Op: EdgePutAgency, OrganID: id, Name: name, Parent: parent}))
	}
	deactivate := func(s note.Signer, edge, id string) *httptest.ResponseRecorder {
		return ew.post(t, syncToken, "text/plain", ew.signed(t, s, EdgeAgencyRequest{Edge: edge, Op: EdgeDeactivateAgency, OrganID: id}))
	}
	v0 := ew.dir.Version()

	// A new agency under one of the edge's agencies: on the edge, active,
	// the edge's seal bound to it, one version.
	r := decodeResponse(t, put("000.05.00.H53", "UBND xã Lợi Thuận", "000.00.00.H53"))
	want := bus.Agency{OrganID: "000.05.00.H53", Name: "UBND xã Lợi Thuận", Parent: "000.00.00.H53", Edge: "tayninh", Active: true}
	if r.Agency != want || r.Version != v0+1 || r.Unchanged {
		t.Fatalf("put: %+v, want %+v at version %d", r, want, v0+1)
	}
	if got, _ := ew.dir.Agency(want.OrganID); got != want {
		t.Errorf("the directory holds %+v", got)
	}
	if b, ok := ew.dir.Binding(want.OrganID); !ok || !slices.Equal(b.Certificates, []string{ew.fps["tayninh"]}) {
		t.Errorf("binding %+v, want the tayninh seal %s", b, ew.fps["tayninh"])
	}

	// The same again: nothing changes, no version is recorded.
	records := ew.log.len()
	r = decodeResponse(t, put("000.05.00.H53", "UBND xã Lợi Thuận", "000.00.00.H53"))
	if !r.Unchanged || r.Version != v0+1 || ew.log.len() != records {
		t.Errorf("a repeated put: %+v, %d records (was %d); want unchanged", r, ew.log.len(), records)
	}

	// Top level, and a rename of an agency the edge serves.
	decodeResponse(t, put("000.06.00.H53", "UBND xã Mới", ""))
	r = decodeResponse(t, put("000.06.00.H53", "UBND xã Mới Đổi Tên", "000.00.00.H53"))
	if r.Agency.Name != "UBND xã Mới Đổi Tên" || r.Agency.Parent != "000.00.00.H53" || r.Unchanged {
		t.Errorf("rename: %+v", r)
	}

	// Deactivate, then again (404), then put again (active).
	r = decodeResponse(t, deactivate(tn, "tayninh", "000.05.00.H53"))
	if r.Agency.Active {
		t.Errorf("deactivate: %+v", r)
	}
	if b, ok := ew.dir.Binding("000.05.00.H53"); !ok || len(b.Certificates) != 1 {
		t.Errorf("deactivating changed the binding: %+v", b)
	}
	wantProblem(t, deactivate(tn, "tayninh", "000.05.00.H53"), http.StatusNotFound, ReasonNotFound, "organ_id")
	if r = decodeResponse(t, put("000.05.00.H53", "UBND xã Lợi Thuận", "000.00.00.H53")); !r.Agency.Active {
		t.Errorf("put after deactivate: %+v", r)
	}

	tests := []struct {
		name   string
		do     func() *httptest.ResponseRecorder
		status int
		reason string
		field  string
	}{
		{"an agency of another edge", func() *httptest.ResponseRecorder { return put("000.00.00.G22", "Văn phòng Chính phủ", "") }, http.StatusForbidden, ReasonForbidden, "organ_id"},
		{"a parent of another edge", func() *httptest.ResponseRecorder { return put("000.07.00.H53", "Xã", "000.00.00.G22") }, http.StatusForbidden, ReasonForbidden, "parent"},
		{"an unknown parent", func() *httptest.ResponseRecorder { return put("000.07.00.H53", "Xã", "000.00.31.H53") }, http.StatusNotFound, ReasonNotFound, "parent"},
		{"an inactive parent", func() *httptest.ResponseRecorder { return put("000.07.00.H53", "Xã", "000.00.13.G12") }, http.StatusNotFound, ReasonNotFound, "parent"},
		{"a parent loop", func() *httptest.ResponseRecorder {
			return put("000.00.00.H53", "UBND tỉnh Tây Ninh", "000.05.00.H53")
		}, http.StatusUnprocessableEntity, ReasonInvalid, "parent"},
		{"deactivating another edge's agency", func() *httptest.ResponseRecorder { return deactivate(tn, "tayninh", "000.00.00.G22") }, http.StatusForbidden, ReasonForbidden, "organ_id"},
		{"deactivating an unknown agency", func() *httptest.ResponseRecorder { return deactivate(tn, "tayninh", "000.09.00.H53") }, http.StatusNotFound, ReasonNotFound, "organ_id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := ew.dir.Snapshot()
			wantProblem(t, tc.do(), tc.status, tc.reason, tc.field)
			sameDirectory(t, ew.dir.Snapshot(), before)
		})
	}
}

func TestEdgeAPIAuthentication(t *testing.T) {
	ew := newEdgeWorld(t)
	tn := ew.signers["tayninh"]
	req := EdgeAgencyRequest{Edge: "tayninh", Op: EdgePutAgency, OrganID: "000.05.00.H53", Name: "Xã", Parent: "000.00.00.H53"}
	good := ew.signed(t, tn, req)

	// A signer named as tayninh but holding vpcp's key.
	forged, err := notesig.NewSigner(bus.EdgeNoteName("tayninh"), ew.keys["vpcp"])
	if err != nil {
		t.Fatal(err)
	}
	unknown, err := notesig.NewSigner(bus.EdgeNoteName("nowhere"), ew.keys["vpcp"])
	if err != nil {
		t.Fatal(err)
	}
	stale := req
	stale.Time = ew.now.Add(-DefaultEdgeRequestSkew - time.Second)
	future := req
	future.Time = ew.now.Add(DefaultEdgeRequestSkew + time.Second)
	replayed := ew.signed(t, tn, req)
	decodeResponse(t, ew.post(t, syncToken, "text/plain", replayed))

	tests := []struct {
		name        string
		token       string
		contentType string
		body        []byte
		status      int
		reason      string
		field       string
	}{
		{"no token", "", "text/plain", good, http.StatusUnauthorized, ReasonUnauthenticated, "Authorization"},
		{"the admin token", adminToken, "text/plain", good, http.StatusUnauthorized, ReasonUnauthenticated, "Authorization"},
		{"JSON", syncToken, "application/json", good, http.StatusUnsupportedMediaType, ReasonUnsupportedType, "Content-Type"},
		{"not a note", syncToken, "text/plain", []byte("put 000.05.00.H53\n"), http.StatusBadRequest, ReasonBadRequest, "body"},
		{"the text alone", syncToken, "text/plain", good[:strings.Index(string(good), "\n\n")+1], http.StatusBadRequest, ReasonBadRequest, "body"},
		{"too large", syncToken, "text/plain", []byte(strings.Repeat("x", MaxEdgeRequestBytes+1)), http.StatusRequestEntityTooLarge, ReasonTooLarge, ""},
		{"signed with another edge's key", syncToken, "text/plain", ew.signed(t, forged, req), http.StatusUnauthorized, ReasonBadSignature, "body"},
		{"an edge not in the directory", syncToken, "text/plain", ew.signed(t, unknown, EdgeAgencyRequest{Edge: "nowhere", Op: EdgePutAgency, OrganID: "000.05.00.H53", Name: "Xã"}), http.StatusForbidden, ReasonForbidden, "edge"},
		{"the text changed after signing", syncToken, "text/plain", []byte(strings.Replace(string(good), "name Xã", "name Xa", 1)), http.StatusUnauthorized, ReasonBadSignature, "body"},
		{"stale", syncToken, "text/plain", ew.signed(t, tn, stale), http.StatusBadRequest, ReasonStale, "time"},
		{"from the future", syncToken, "text/plain", ew.signed(t, tn, future), http.StatusBadRequest, ReasonStale, "time"},
		{"replayed", syncToken, "text/plain", replayed, http.StatusConflict, ReasonReplayed, "nonce"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := ew.dir.Snapshot()
			wantProblem(t, ew.post(t, tc.token, tc.contentType, tc.body), tc.status, tc.reason, tc.field)
			sameDirectory(t, ew.dir.Snapshot(), before)
		})
	}
	t.Run("GET", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodGet, EdgeAgencyPath, nil)
		req.Header.Set("Authorization", "Bearer "+syncToken)
		rec := httptest.NewRecorder()
		ew.h.ServeHTTP(rec, req)
		wantProblem(t, rec, http.StatusMethodNotAllowed, ReasonBadRequest, "")
		if rec.Header().Get("Allow") != http.MethodPost {
			t.Errorf("Allow: %q", rec.Header().Get("Allow"))
		}
	})
}

func TestEdgeAPIRequestText(t *testing.T) {
	at := time.Date(2026, 11, 22, 5, 21, 8, 0, time.UTC)
	nonce := "0123456789abcdef0123456789abcdef"
	good := "truc-edge-request v1\nedge tayninh\nop put-agency\norgan-id 000.05.31.H53\nparent 000.00.31.H53\nname UBND xã Lợi Thuận\ntime 2026-11-22T05:21:08Z\nnonce " + nonce + "\n"
	r, err := ParseEdgeAgencyRequest([]byte(good))
	want := EdgeAgencyRequest{Edge: "tayninh", Op: EdgePutAgency, OrganID: "000.05.31.H53", Parent: "000.00.31.H53", Name: "UBND xã Lợi Thuận", Time: at, Nonce: nonce}
	if err != nil || r != want {
		t.Fatalf("parse: %+v, %v; want %+v", r, err, want)
	}
	del := "truc-edge-request v1\nedge tayninh\nop deactivate-agency\norgan-id 000.05.31.H53\nparent \nname \ntime 2026-11-22T05:21:08Z\nnonce " + nonce + "\n"
	if _, err := ParseEdgeAgencyRequest([]byte(del)); err != nil {
		t.Fatalf("deactivate: %v", err)
	}
	bad := []struct{ name, text string }{
		{"another header", strings.Replace(good, "v1", "v2", 1)},
		{"a line missing", strings.Replace(good, "parent 000.00.31.H53\n", "", 1)},
		{"lines swapped", strings.Replace(good, "parent 000.00.31.H53\nname UBND xã Lợi Thuận\n", "name UBND xã Lợi Thuận\nparent 000.00.31.H53\n", 1)},
		{"text after", good + "extra\n"},
		{"no final newline", strings.TrimSuffix(good, "\n")},
		{"an unknown op", strings.Replace(good, "put-agency", "remove-agency", 1)},
		{"a bad OrganId", strings.Replace(good, "organ-id 000.05.31.H53", "organ-id 000.05/31.H53", 1)},
		{"its own parent", strings.Replace(good, "parent 000.00.31.H53", "parent 000.05.31.H53", 1)},
		{"no name", strings.Replace(good, "name UBND xã Lợi Thuận", "name ", 1)},
		{"a name on deactivate", strings.Replace(del, "name \n", "name Xã\n", 1)},
		{"a local time", strings.Replace(good, "05:21:08Z", "12:21:08+07:00", 1)},
		{"fractional seconds", strings.Replace(good, "05:21:08Z", "05:21:08.5Z", 1)},
		{"an upper-case nonce", strings.Replace(good, nonce, strings.ToUpper(nonce), 1)},
		{"a short nonce", strings.Replace(good, nonce, nonce[:30], 1)},
		{"a bad edge ID", strings.Replace(good, "edge tayninh", "edge tây ninh", 1)},
		{"two spaces", strings.Replace(good, "edge tayninh", "edge  tayninh", 1)},
		{"invalid UTF-8", strings.Replace(good, "xã", "x\xff", 1)},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if r, err := ParseEdgeAgencyRequest([]byte(tc.text)); err == nil {
				t.Fatalf("accepted: %+v", r)
			}
		})
	}
	t.Run("the signer must be the edge's", func(t *testing.T) {
		key := signingtest.NewKey(t, signingtest.P256)
		s, err := notesig.NewSigner(bus.EdgeNoteName("vpcp"), key)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := want.Sign(s); err == nil {
			t.Fatal("a request of tayninh signed under vpcp's name")
		}
	})
}

func TestEdgeAPIClient(t *testing.T) {
	ew := newEdgeWorld(t)
	srv := httptest.NewServer(ew.h)
	t.Cleanup(srv.Close)
	c := &EdgeClient{URL: srv.URL, Token: syncToken, Edge: "tayninh", Signer: ew.signers["tayninh"], HTTPClient: srv.Client(), Now: func() time.Time { return ew.now }}
	ctx := context.Background()
	r, err := c.PutAgency(ctx, "000.05.00.H53", "UBND xã Lợi Thuận", "000.00.00.H53")
	if err != nil || !r.Agency.Active || r.Agency.Edge != "tayninh" {
		t.Fatalf("PutAgency: %+v, %v", r, err)
	}
	// Every call has its own nonce: the same put twice is not a replay.
	if r, err := c.PutAgency(ctx, "000.05.00.H53", "UBND xã Lợi Thuận", "000.00.00.H53"); err != nil || !r.Unchanged {
		t.Fatalf("PutAgency again: %+v, %v", r, err)
	}
	if r, err := c.DeactivateAgency(ctx, "000.05.00.H53"); err != nil || r.Agency.Active {
		t.Fatalf("DeactivateAgency: %+v, %v", r, err)
	}
	_, err = c.DeactivateAgency(ctx, "000.00.00.G22")
	var ae *EdgeAPIError
	if !errors.As(err, &ae) || ae.Status != http.StatusForbidden || ae.Problem.Reason != ReasonForbidden || ae.Problem.Field != "organ_id" {
		t.Fatalf("DeactivateAgency of vpcp's agency: %v", err)
	}
	// A wrong token is refused by the axis, not by the client.
	bad := *c
	bad.Token = "not-the-token"
	if _, err := bad.PutAgency(ctx, "000.05.00.H53", "Xã", ""); !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
		t.Fatalf("wrong token: %v", err)
	}
	// A request the client cannot sign never leaves it.
	if _, err := c.PutAgency(ctx, "000.05.00.H53", "", ""); err == nil || errors.As(err, &ae) {
		t.Fatalf("an empty name: %v", err)
	}
}
