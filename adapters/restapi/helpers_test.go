package restapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"truc.vn/truc/adapters/restapi"
	"truc.vn/truc/adapters/restapi/restapitest"
	"truc.vn/truc/bus"
)

// The agencies of the tests: Hà Nội's DMS acts for the city and one of its
// units; the Ministry of Home Affairs' DMS for the ministry. VPCP has no
// DMS on this edge.
const (
	hanoi    = "000.00.00.H26"
	hanoiSub = "000.01.00.H26"
	bnv      = "000.00.00.G09"
	vpcp     = "000.00.00.G22"

	tokHanoi = "hanoi-dms-0123456789abcdef0123456789"
	tokBNV   = "bnv-dms-0123456789abcdef0123456789abc"
)

func testConfig() restapi.Config {
	return restapi.Config{Tokens: []restapi.Token{
		{Name: "hanoi-dms", SHA256: restapi.HashToken(tokHanoi), OrganIDs: []string{hanoi, hanoiSub}},
		{Name: "bnv-dms", SHA256: restapi.HashToken(tokBNV), OrganIDs: []string{bnv}},
	}}
}

// env is a handler over a Memory backend, with the OpenAPI document every
// answer is checked against.
type env struct {
	t    testing.TB
	h    *restapi.Handler
	mem  *restapitest.Memory
	spec *spec
}

func newEnv(t testing.TB, opts ...restapi.Option) *env {
	t.Helper()
	return newEnvConfig(t, testConfig(), opts...)
}

func newEnvConfig(t testing.TB, cfg restapi.Config, opts ...restapi.Option) *env {
	t.Helper()
	mem := restapitest.NewMemory()
	h, err := restapi.New(cfg, mem, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, h: h, mem: mem, spec: loadSpec(t)}
}

// req is one request: headers are name/value pairs.
type req struct {
	method, target, token string
	body                  []byte
	headers               []string
}

// do serves r and checks the exchange against the OpenAPI document.
func (e *env) do(r req) *httptest.ResponseRecorder {
	e.t.Helper()
	w, _ := e.exchange(r)
	return w
}

// exchange serves r, checks the exchange against the OpenAPI document
// and returns the answer and whether the document allows the request.
func (e *env) exchange(r req) (*httptest.ResponseRecorder, bool) {
	e.t.Helper()
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	hr := httptest.NewRequest(r.method, r.target, body)
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	for i := 0; i+1 < len(r.headers); i += 2 {
		hr.Header.Add(r.headers[i], r.headers[i+1])
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, hr)
	valid := e.spec.check(e.t, hr, r.body, w)
	return w, valid
}

// deliver adds pkg to the inbox for recipients.
func (e *env) deliver(pkg []byte, recipients ...string) bus.InboxItem {
	e.t.Helper()
	it, err := e.mem.Deliver(pkg, recipients...)
	if err != nil {
		e.t.Fatal(err)
	}
	return it
}

func (e *env) get(target, token string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.do(req{method: "GET", target: target, token: token})
}

// submit sends pkg as the Hà Nội DMS and returns the answer.
func (e *env) submit(pkg []byte, headers ...string) restapi.Submitted {
	e.t.Helper()
	w := e.do(req{method: "POST", target: "/v1/documents", token: tokHanoi, body: pkg,
		headers: append([]string{"Content-Type", "application/xml"}, headers...)})
	if w.Code != http.StatusAccepted {
		e.t.Fatalf("submit: %d %s", w.Code, w.Body)
	}
	var s restapi.Submitted
	decode(e.t, w, &s)
	return s
}

func decode(t testing.TB, w *httptest.ResponseRecorder, v any) {
	t.Helper()
	if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
		t.Fatalf("answer %q: %v", w.Body, err)
	}
}

// wantProblem fails t unless w is a problem with status, reason and field.
func wantProblem(t testing.TB, w *httptest.ResponseRecorder, status int, reason, field string) restapi.Problem {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d: %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q", ct)
	}
	var p restapi.Problem
	decode(t, w, &p)
	if p.Reason != reason || p.Field != field {
		t.Fatalf("problem reason %q field %q, want %q %q: %s", p.Reason, p.Field, reason, field, w.Body)
	}
	if p.Type != restapi.ProblemTypePrefix+reason || p.Title != http.StatusText(status) {
		t.Fatalf("problem type %q title %q", p.Type, p.Title)
	}
	return p
}

func jsonHeaders() []string { return []string{"Content-Type", "application/json"} }

func statusBody(code string) []byte { return []byte(`{"code":"` + code + `"}`) }

func contains(s, sub string) bool { return strings.Contains(s, sub) }
