package restapi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"truc.vn/truc/adapters/restapi"
	"truc.vn/truc/adapters/restapi/restapitest"
)

// spec is the OpenAPI document with its JSON Schemas compiled by
// github.com/santhosh-tekuri/jsonschema/v6 (draft 2020-12, the dialect
// of OpenAPI 3.1), formats and content encodings asserted. check uses it
// to validate every request a test sends and every answer it gets.
type spec struct {
	doc      map[string]any
	compiler *jsonschema.Compiler

	mu      sync.Mutex
	schemas map[string]*jsonschema.Schema // by JSON pointer
}

// specURL is where the document is registered with the compiler.
const specURL = "mem:///openapi.json"

func loadSpec(t testing.TB) *spec {
	t.Helper()
	s, err := newSpec(restapi.OpenAPI())
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return s
}

func newSpec(document []byte) (*spec, error) {
	raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(document))
	if err != nil {
		return nil, err
	}
	doc, ok := raw.(map[string]any)
	if !ok {
		return nil, errors.New("not a JSON object")
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.AssertContent()
	if err := c.AddResource(specURL, doc); err != nil {
		return nil, err
	}
	return &spec{doc: doc, compiler: c, schemas: map[string]*jsonschema.Schema{}}, nil
}

// schema compiles the schema at JSON pointer ptr ("/components/...").
func (s *spec) schema(ptr string) (*jsonschema.Schema, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sch, ok := s.schemas[ptr]; ok {
		return sch, nil
	}
	sch, err := s.compiler.Compile(specURL + "#" + ptr)
	if err != nil {
		return nil, err
	}
	s.schemas[ptr] = sch
	return sch, nil
}

// at returns the object at JSON pointer ptr, following a $ref there.
func (s *spec) at(ptr string) (map[string]any, string) {
	var cur any = s.doc
	for _, part := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		switch x := cur.(type) {
		case map[string]any:
			cur = x[part]
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(x) {
				return nil, ptr
			}
			cur = x[i]
		default:
			return nil, ptr
		}
		if cur == nil {
			return nil, ptr
		}
	}
	m, _ := cur.(map[string]any)
	if ref, ok := m["$ref"].(string); ok && strings.HasPrefix(ref, "#/components/") && !strings.Contains(ptr, "/schema") {
		return s.at(strings.TrimPrefix(ref, "#"))
	}
	return m, ptr
}

func esc(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1") }

// validate validates v (decoded with UseNumber) against the schema at ptr.
func (s *spec) validate(ptr string, v any) error {
	sch, err := s.schema(ptr)
	if err != nil {
		return fmt.Errorf("compiling %s: %w", ptr, err)
	}
	return sch.Validate(v)
}

// operation returns the JSON pointer of the operation for a ServeMux
// pattern ("GET /v1/inbox/{id}"), "" if the document has none.
func (s *spec) operation(pattern string) string {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		return ""
	}
	ptr := "/paths/" + esc(path) + "/" + strings.ToLower(method)
	if m, _ := s.at(ptr); m == nil {
		return ""
	}
	return ptr
}

// checkRequest validates a request against its operation: path, query
// and header parameters (no query parameter the operation does not
// declare, none given twice), the Content-Type and the body. It returns
// what is wrong; nothing means the document allows the request.
func (s *spec) checkRequest(op string, r *http.Request, body []byte) []string {
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	opObj, _ := s.at(op)
	params, _ := opObj["parameters"].([]any)
	declared := map[string]bool{}
	query := r.URL.Query()
	for i := range params {
		p, pptr := s.at(fmt.Sprintf("%s/parameters/%d", op, i))
		name, in := p["name"].(string), p["in"].(string)
		var vals []string
		switch in {
		case "path":
			vals = []string{r.PathValue(name)}
		case "query":
			declared[name] = true
			vals = query[name]
		case "header":
			vals = r.Header.Values(name)
		}
		switch {
		case len(vals) == 0:
			if p["required"] == true {
				fail("%s parameter %s is required", in, name)
			}
			continue
		case len(vals) > 1:
			fail("%s parameter %s is given %d times", in, name, len(vals))
			continue
		}
		if err := s.validate(pptr+"/schema", s.coerce(pptr+"/schema", vals[0])); err != nil {
			fail("%s parameter %s=%q: %v", in, name, vals[0], err)
		}
	}
	for k := range query {
		if !declared[k] {
			fail("query parameter %s is not declared", k)
		}
	}
	rb, _ := opObj["requestBody"].(map[string]any)
	ct := r.Header.Get("Content-Type")
	switch {
	case rb == nil && len(body) > 0:
		fail("the operation takes no body")
	case rb == nil:
	case len(body) == 0 && rb["required"] == true:
		fail("a body is required")
	case len(bytes.TrimSpace(body)) == 0 && ct == "":
	default:
		content, _ := rb["content"].(map[string]any)
		mt, params, err := mime.ParseMediaType(ct)
		media := matchMedia(content, mt)
		if err != nil || media == "" {
			fail("Content-Type %q is not one of %v", ct, slices.Sorted(maps.Keys(content)))
			break
		}
		v, err := requestValue(mt, params, body)
		if err != nil {
			fail("body: %v", err)
			break
		}
		if err := s.validate(op+"/requestBody/content/"+esc(media)+"/schema", v); err != nil {
			fail("body: %v", err)
		}
	}
	return errs
}

// coerce turns a parameter's text into the JSON value its schema's type
// expects (a number or a boolean when the text is one), else leaves it a
// string for the schema to refuse.
func (s *spec) coerce(ptr, text string) any {
	m, _ := s.at(ptr)
	if ref, ok := m["$ref"].(string); ok {
		m, _ = s.at(strings.TrimPrefix(ref, "#"))
	}
	switch m["type"] {
	case "integer", "number":
		if _, err := strconv.ParseFloat(text, 64); err == nil && strings.TrimSpace(text) == text {
			return json.Number(text)
		}
	case "boolean":
		if b, err := strconv.ParseBool(text); err == nil && (text == "true" || text == "false") {
			return b
		}
	}
	return text
}

// requestValue is a request body as its schema sees it: JSON decoded, a
// multipart form as an object of its parts (JSON parts decoded, files as
// strings), anything else the string it is.
func requestValue(mt string, params map[string]string, body []byte) (any, error) {
	switch {
	case strings.HasSuffix(mt, "json"):
		return jsonschema.UnmarshalJSON(bytes.NewReader(body))
	case mt == "multipart/form-data":
		obj := map[string]any{}
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				return obj, nil
			}
			if err != nil {
				return nil, err
			}
			data, err := io.ReadAll(part)
			if err != nil {
				return nil, err
			}
			name := part.FormName()
			if name == "metadata" {
				if obj[name], err = jsonschema.UnmarshalJSON(bytes.NewReader(data)); err != nil {
					return nil, fmt.Errorf("part metadata: %w", err)
				}
				continue
			}
			list, _ := obj[name].([]any)
			obj[name] = append(list, string(data))
		}
	}
	return string(body), nil
}

// matchMedia returns the key of content that media type mt matches
// (exactly, type/*, or */*), "" if none.
func matchMedia(content map[string]any, mt string) string {
	if _, ok := content[mt]; ok {
		return mt
	}
	major, _, _ := strings.Cut(mt, "/")
	if _, ok := content[major+"/*"]; ok {
		return major + "/*"
	}
	if _, ok := content["*/*"]; ok {
		return "*/*"
	}
	return ""
}

// checkResponse validates an answer against the operation: its status is
// one the operation lists, every required header is there and every
// declared header matches its schema, its media type is declared, and a
// JSON body validates against its schema. An answer from a route the
// document does not describe must be a 404 or 405 problem report.
func (s *spec) checkResponse(op string, r *http.Request, w *httptest.ResponseRecorder) []string {
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	mt, _, _ := mime.ParseMediaType(w.Header().Get("Content-Type"))
	var schemaPtr string
	if op == "" {
		if w.Code != http.StatusNotFound && w.Code != http.StatusMethodNotAllowed {
			fail("%d from a route the document does not describe (%q)", w.Code, r.Pattern)
		}
		if mt != "application/problem+json" {
			fail("%d answered %q, not a problem", w.Code, mt)
			return errs
		}
		schemaPtr = "/components/schemas/Problem"
	} else {
		resp, rptr := s.at(op + "/responses/" + strconv.Itoa(w.Code))
		if resp == nil {
			fail("status %d is not documented for %s (body %s)", w.Code, r.Pattern, w.Body)
			return errs
		}
		headers, _ := resp["headers"].(map[string]any)
		for name := range headers {
			h, hptr := s.at(rptr + "/headers/" + esc(name))
			v := w.Header().Values(name)
			switch {
			case len(v) == 0 && h["required"] == true:
				fail("%d lacks the required header %s", w.Code, name)
			case len(v) > 1:
				fail("%d has the header %s %d times", w.Code, name, len(v))
			case len(v) == 1:
				if err := s.validate(hptr+"/schema", v[0]); err != nil {
					fail("%d header %s: %v", w.Code, name, err)
				}
			}
		}
		content, _ := resp["content"].(map[string]any)
		if content == nil {
			if w.Body.Len() > 0 {
				fail("%d has a body, the document declares none", w.Code)
			}
			return errs
		}
		media := matchMedia(content, mt)
		if media == "" {
			fail("%d answered %q, the document declares %v", w.Code, mt, slices.Sorted(maps.Keys(content)))
			return errs
		}
		schemaPtr = rptr + "/content/" + esc(media) + "/schema"
	}
	if r.Method == http.MethodHead || !strings.HasSuffix(mt, "json") {
		return errs
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(w.Body.Bytes()))
	if err != nil {
		fail("%d body is not JSON: %v", w.Code, err)
		return errs
	}
	if err := s.validate(schemaPtr, v); err != nil {
		fail("%d answer does not match the document: %v\n%s", w.Code, err, w.Body)
	}
	if mt == "application/problem+json" {
		if p, _ := v.(map[string]any); p != nil && fmt.Sprint(p["status"]) != strconv.Itoa(w.Code) {
			fail("problem status %v in a %d answer", p["status"], w.Code)
		}
	}
	return errs
}

// check fails t unless the exchange is one the document describes: the
// answer matches (checkResponse), and a request the document does not
// allow was refused with a 4xx. body is the request body sent (r.Body is
// consumed). It returns whether the document allows the request.
func (s *spec) check(t testing.TB, r *http.Request, body []byte, w *httptest.ResponseRecorder) bool {
	t.Helper()
	if w.Code >= 300 && w.Code < 400 && w.Code != http.StatusNotModified {
		return true // ServeMux's redirect to a cleaned path
	}
	op := s.operation(r.Pattern)
	for _, e := range s.checkResponse(op, r, w) {
		t.Errorf("%s %s: %s", r.Method, r.URL, e)
	}
	if op == "" {
		return false
	}
	reqErrs := s.checkRequest(op, r, body)
	if len(reqErrs) > 0 && (w.Code < 400 || w.Code >= 500) {
		t.Errorf("%s %s: answered %d to a request the document does not allow: %v", r.Method, r.URL, w.Code, reqErrs)
	}
	return len(reqErrs) == 0
}

// TestOpenAPIRoutes checks that every route the handler serves is in the
// document and every operation of the document is served, and that the
// public routes are those the document exempts from security.
func TestOpenAPIRoutes(t *testing.T) {
	s := loadSpec(t)
	h := newEnv(t, restapi.WithMetrics(http.NotFoundHandler())).h
	served := restapi.Routes(h)
	var documented []string
	for path, item := range s.doc["paths"].(map[string]any) {
		for method := range item.(map[string]any) {
			switch method {
			case "get", "put", "post", "delete", "patch", "head", "options", "trace":
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	slices.Sort(served)
	slices.Sort(documented)
	if !slices.Equal(served, documented) {
		t.Errorf("served routes and documented operations differ:\nserved:     %v\ndocumented: %v", served, documented)
	}
	for _, pattern := range served {
		op, _ := s.at(s.operation(pattern))
		sec, declared := op["security"].([]any)
		public := declared && len(sec) == 0
		method, path, _ := strings.Cut(pattern, " ")
		path = strings.NewReplacer("{id}", "x1", "{n}", "1").Replace(path)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(method, path, nil))
		if got := w.Code != http.StatusUnauthorized; got != public {
			t.Errorf("%s without a token answered %d; the document says public=%v", pattern, w.Code, public)
		}
	}
}

// TestOpenAPIDocument compiles every schema of the document (a schema the
// validator cannot compile, or a dangling $ref, fails here rather than
// being skipped), and checks that every operation has an operationId,
// a summary, and that each authenticated one documents 401.
func TestOpenAPIDocument(t *testing.T) {
	s := loadSpec(t)
	if v := s.doc["openapi"]; v != "3.1.0" {
		t.Errorf("openapi %v, want 3.1.0 (JSON Schema 2020-12, what the validator speaks)", v)
	}
	var walk func(ptr string, v any)
	walk = func(ptr string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if k == "schema" {
					if _, err := s.schema(ptr + "/schema"); err != nil {
						t.Errorf("%s/schema: %v", ptr, err)
					}
					continue
				}
				walk(ptr+"/"+esc(k), e)
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s/%d", ptr, i), e)
			}
		}
	}
	walk("/paths", s.doc["paths"])
	walk("/components/parameters", s.doc["components"].(map[string]any)["parameters"])
	walk("/components/responses", s.doc["components"].(map[string]any)["responses"])
	for name := range s.doc["components"].(map[string]any)["schemas"].(map[string]any) {
		if _, err := s.schema("/components/schemas/" + esc(name)); err != nil {
			t.Errorf("schema %s: %v", name, err)
		}
	}
	ids := map[string]string{}
	for path, item := range s.doc["paths"].(map[string]any) {
		for method, o := range item.(map[string]any) {
			op := o.(map[string]any)
			where := method + " " + path
			id, _ := op["operationId"].(string)
			if id == "" || op["summary"] == nil {
				t.Errorf("%s: no operationId or summary", where)
			}
			if prev, dup := ids[id]; dup {
				t.Errorf("%s: operationId %s is also %s's", where, id, prev)
			}
			ids[id] = where
			responses := op["responses"].(map[string]any)
			if sec, ok := op["security"].([]any); (!ok || len(sec) > 0) && responses["401"] == nil {
				t.Errorf("%s: authenticated but 401 is not documented", where)
			}
		}
	}
}

// TestContractCheckerFails shows the contract checks failing, so that
// their passing elsewhere means something: a document with a route
// removed, a member renamed in an answer's schema, a required header
// dropped from the answer, and a request the document does not allow
// answered 2xx each make check report an error.
func TestContractCheckerFails(t *testing.T) {
	e := newEnv(t)
	sub := e.submit(restapitest.NewDocument(t, hanoi, bnv))
	it := e.deliver(restapitest.NewDocument(t, vpcp, hanoi), hanoi)

	mutate := func(t *testing.T, f func(doc map[string]any)) *spec {
		t.Helper()
		var doc map[string]any
		if err := json.Unmarshal(restapi.OpenAPI(), &doc); err != nil {
			t.Fatal(err)
		}
		f(doc)
		b, _ := json.Marshal(doc)
		s, err := newSpec(b)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	paths := func(doc map[string]any) map[string]any { return doc["paths"].(map[string]any) }
	schemas := func(doc map[string]any) map[string]any {
		return doc["components"].(map[string]any)["schemas"].(map[string]any)
	}
	tests := []struct {
		name   string
		spec   *spec
		method string
		target string
		body   []byte
		ctype  string
		edit   func(w *httptest.ResponseRecorder)
	}{
		{"route missing from the document", mutate(t, func(d map[string]any) { delete(paths(d), "/v1/documents/{id}/package") }),
			"GET", "/v1/documents/" + sub.ID + "/package", nil, "", nil},
		{"status not documented", mutate(t, func(d map[string]any) {
			delete(paths(d)["/v1/inbox/{id}/ack"].(map[string]any)["post"].(map[string]any)["responses"].(map[string]any), "200")
		}), "POST", "/v1/inbox/" + it.ID + "/ack", nil, "", nil},
		{"member renamed in the schema", mutate(t, func(d map[string]any) {
			props := schemas(d)["Document"].(map[string]any)["properties"].(map[string]any)
			props["sent"] = props["seq"]
			delete(props, "seq")
		}), "GET", "/v1/documents/" + sub.ID, nil, "", nil},
		{"wrong type in the schema", mutate(t, func(d map[string]any) {
			schemas(d)["Item"].(map[string]any)["properties"].(map[string]any)["size"] = map[string]any{"type": "string"}
		}), "GET", "/v1/inbox", nil, "", nil},
		{"required header missing from the answer", e.spec, "GET", "/v1/inbox/" + it.ID + "/package", nil, "",
			func(w *httptest.ResponseRecorder) { w.Header().Del("X-Truc-Sha256") }},
		{"header not matching its schema", e.spec, "GET", "/v1/inbox/" + it.ID + "/attachments/1", nil, "",
			func(w *httptest.ResponseRecorder) { w.Header().Set("Content-Security-Policy", "default-src *") }},
		{"request the document forbids, answered 2xx", mutate(t, func(d map[string]any) {
			paths(d)["/v1/inbox"].(map[string]any)["get"].(map[string]any)["parameters"].([]any)[1].(map[string]any)["schema"].(map[string]any)["maximum"] = 5
		}), "GET", "/v1/inbox?limit=10", nil, "", nil},
		{"request body the document forbids, answered 2xx", mutate(t, func(d map[string]any) {
			schemas(d)["StatusRequest"].(map[string]any)["properties"].(map[string]any)["staff"].(map[string]any)["maxLength"] = 2
		}), "POST", "/v1/inbox/" + it.ID + "/status", []byte(`{"code":"03","staff":"Văn thư"}`), "application/json", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.body != nil {
				body = bytes.NewReader(tt.body)
			}
			r := httptest.NewRequest(tt.method, tt.target, body)
			r.Header.Set("Authorization", "Bearer "+tokHanoi)
			if tt.ctype != "" {
				r.Header.Set("Content-Type", tt.ctype)
			}
			w := httptest.NewRecorder()
			e.h.ServeHTTP(w, r)
			if w.Code >= 400 {
				t.Fatalf("the exchange itself failed: %d %s", w.Code, w.Body)
			}
			if tt.edit != nil {
				tt.edit(w)
			}
			rec := &recordingTB{TB: t}
			tt.spec.check(rec, r, tt.body, w)
			if len(rec.errors) == 0 {
				t.Fatal("the checker found nothing wrong")
			}
			t.Logf("the checker says: %s", rec.errors[0])
		})
	}
}

// recordingTB records Errorf instead of failing.
type recordingTB struct {
	testing.TB
	errors []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recordingTB) Helper() {}
