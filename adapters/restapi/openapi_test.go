package restapi_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"truc.vn/truc/adapters/restapi"
)

// spec is the OpenAPI document, read once, with a checker for the subset
// of JSON Schema it uses.
type spec struct {
	doc map[string]any
}

func loadSpec(t testing.TB) *spec {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(restapi.OpenAPI()))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return &spec{doc: doc}
}

// resolve follows a local JSON pointer ("#/components/schemas/Item").
func (s *spec) resolve(ref string) (map[string]any, error) {
	p, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("$ref %q is not local", ref)
	}
	var cur any = s.doc
	for _, part := range strings.Split(p, "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("$ref %q: %s is not in an object", ref, part)
		}
		if cur, ok = m[part]; !ok {
			return nil, fmt.Errorf("$ref %q: no %s", ref, part)
		}
	}
	m, ok := cur.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("$ref %q is not an object", ref)
	}
	return m, nil
}

// deref resolves obj if it is a {"$ref": ...} (responses, parameters).
func (s *spec) deref(obj map[string]any) map[string]any {
	if ref, ok := obj["$ref"].(string); ok {
		m, err := s.resolve(ref)
		if err != nil {
			panic(err)
		}
		return m
	}
	return obj
}

// Keywords the checker understands; annotations it ignores. A schema with
// any other keyword fails TestOpenAPISchemasUseCheckedKeywords, so the
// checker never silently passes what it does not check.
var (
	checkedKeywords = []string{"$ref", "type", "enum", "properties", "required", "additionalProperties", "items",
		"minLength", "maxLength", "pattern", "minimum", "maximum", "format", "contentEncoding"}
	annotationKeywords = []string{"description", "default", "contentMediaType", "title", "examples"}
)

// validate checks v (decoded with UseNumber) against schema and returns
// what is wrong, each with its JSON path.
func (s *spec) validate(schema map[string]any, v any, path string) []string {
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, path+": "+fmt.Sprintf(format, args...)) }
	if ref, ok := schema["$ref"].(string); ok {
		target, err := s.resolve(ref)
		if err != nil {
			return []string{path + ": " + err.Error()}
		}
		errs = append(errs, s.validate(target, v, path)...)
	}
	if typ, ok := schema["type"].(string); ok && !hasType(typ, v) {
		fail("want %s, got %T", typ, v)
		return errs
	}
	if enum, ok := schema["enum"].([]any); ok && !slices.ContainsFunc(enum, func(e any) bool { return fmt.Sprint(e) == fmt.Sprint(v) }) {
		fail("%v is not one of %v", v, enum)
	}
	switch x := v.(type) {
	case string:
		n := utf8.RuneCountInString(x)
		if m, ok := number(schema["minLength"]); ok && float64(n) < m {
			fail("%d characters, fewer than %v", n, m)
		}
		if m, ok := number(schema["maxLength"]); ok && float64(n) > m {
			fail("%d characters, more than %v", n, m)
		}
		if p, ok := schema["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(x) {
			fail("%q does not match %s", x, p)
		}
		if schema["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, x); err != nil {
				fail("%q is not a date-time: %v", x, err)
			}
		}
		if schema["contentEncoding"] == "base64" {
			if _, err := base64.StdEncoding.DecodeString(x); err != nil {
				fail("not base64: %v", err)
			}
		}
	case json.Number:
		f, _ := x.Float64()
		if m, ok := number(schema["minimum"]); ok && f < m {
			fail("%v is less than %v", x, m)
		}
		if m, ok := number(schema["maximum"]); ok && f > m {
			fail("%v is more than %v", x, m)
		}
	case []any:
		if items, ok := schema["items"].(map[string]any); ok {
			for i, e := range x {
				errs = append(errs, s.validate(items, e, fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	case map[string]any:
		props, _ := schema["properties"].(map[string]any)
		if req, ok := schema["required"].([]any); ok {
			for _, r := range req {
				if _, ok := x[r.(string)]; !ok {
					fail("required member %s is missing", r)
				}
			}
		}
		for k, e := range x {
			if ps, ok := props[k].(map[string]any); ok {
				errs = append(errs, s.validate(ps, e, path+"."+k)...)
				continue
			}
			switch ap := schema["additionalProperties"].(type) {
			case bool:
				if !ap {
					fail("member %s is not declared", k)
				}
			case map[string]any:
				errs = append(errs, s.validate(ap, e, path+"."+k)...)
			}
		}
	}
	return errs
}

func hasType(typ string, v any) bool {
	switch typ {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		return ok && !strings.ContainsAny(n.String(), ".eE")
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "null":
		return v == nil
	}
	return false
}

func number(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil
}

// operation returns the operation for a ServeMux pattern, or nil.
func (s *spec) operation(pattern string) map[string]any {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		return nil
	}
	item, _ := s.doc["paths"].(map[string]any)[path].(map[string]any)
	op, _ := item[strings.ToLower(method)].(map[string]any)
	return op
}

// check fails t unless the answer w to r (served) is one the document
// declares: a status listed for the operation the request was routed to,
// a media type listed for it, and a body valid against its schema. Routes
// the document does not describe (an unknown path, a method the path does
// not take) must answer a Problem.
func (s *spec) check(t testing.TB, r *http.Request, w *httptest.ResponseRecorder) {
	t.Helper()
	if w.Code >= 300 && w.Code < 400 && w.Code != http.StatusNotModified {
		return // ServeMux's redirect to a cleaned path
	}
	var schema map[string]any
	op := s.operation(r.Pattern)
	mt, _, _ := mime.ParseMediaType(w.Header().Get("Content-Type"))
	if op == nil {
		if w.Code != http.StatusNotFound && w.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: %d from a route the document does not describe (%q)", r.Method, r.URL, w.Code, r.Pattern)
		}
		if mt != "application/problem+json" {
			t.Errorf("%s %s: %d answered %q, not a problem", r.Method, r.URL, w.Code, mt)
			return
		}
		schema = map[string]any{"$ref": "#/components/schemas/Problem"}
	} else {
		responses := op["responses"].(map[string]any)
		resp, ok := responses[strconv.Itoa(w.Code)].(map[string]any)
		if !ok {
			t.Errorf("%s %s: status %d is not documented for %s (body %s)", r.Method, r.URL, w.Code, r.Pattern, w.Body)
			return
		}
		resp = s.deref(resp)
		content, _ := resp["content"].(map[string]any)
		if content == nil {
			if w.Body.Len() > 0 {
				t.Errorf("%s %s: %d has a body, the document declares none", r.Method, r.URL, w.Code)
			}
			return
		}
		media, ok := content[mt].(map[string]any)
		if !ok {
			t.Errorf("%s %s: %d answered %q, the document declares %v", r.Method, r.URL, w.Code, mt, slices.Collect(mapKeys(content)))
			return
		}
		schema = media["schema"].(map[string]any)
	}
	if r.Method == http.MethodHead || !strings.HasSuffix(mt, "json") {
		return
	}
	dec := json.NewDecoder(bytes.NewReader(w.Body.Bytes()))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Errorf("%s %s: %d body is not JSON: %v", r.Method, r.URL, w.Code, err)
		return
	}
	for _, e := range s.validate(schema, v, "$") {
		t.Errorf("%s %s: %d answer does not match the document: %s\n%s", r.Method, r.URL, w.Code, e, w.Body)
	}
	if mt == "application/problem+json" {
		if p, _ := v.(map[string]any); p != nil && fmt.Sprint(p["status"]) != strconv.Itoa(w.Code) {
			t.Errorf("%s %s: problem status %v in a %d answer", r.Method, r.URL, p["status"], w.Code)
		}
	}
}

func mapKeys(m map[string]any) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestOpenAPIRoutes checks that every route the handler serves is in the
// document and every operation of the document is served.
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
	// Public routes are exactly those the document exempts from security.
	for _, pattern := range served {
		op := s.operation(pattern)
		sec, declared := op["security"].([]any)
		public := declared && len(sec) == 0
		_, path, _ := strings.Cut(pattern, " ")
		r := httptest.NewRequest(strings.Fields(pattern)[0], path, nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if got := w.Code != http.StatusUnauthorized; got != public {
			t.Errorf("%s without a token answered %d; the document says public=%v", pattern, w.Code, public)
		}
	}
}

// TestOpenAPISchemasUseCheckedKeywords walks every schema of the document
// and fails on a keyword the checker would ignore.
func TestOpenAPISchemasUseCheckedKeywords(t *testing.T) {
	s := loadSpec(t)
	var walk func(schema map[string]any, path string)
	walk = func(schema map[string]any, path string) {
		for k, v := range schema {
			switch {
			case slices.Contains(annotationKeywords, k):
			case !slices.Contains(checkedKeywords, k):
				t.Errorf("%s: keyword %s is not checked by the test's validator", path, k)
			case k == "properties":
				for name, p := range v.(map[string]any) {
					walk(p.(map[string]any), path+".properties."+name)
				}
			case k == "items":
				walk(v.(map[string]any), path+".items")
			case k == "additionalProperties":
				if m, ok := v.(map[string]any); ok {
					walk(m, path+".additionalProperties")
				}
			case k == "$ref":
				if _, err := s.resolve(v.(string)); err != nil {
					t.Errorf("%s: %v", path, err)
				}
			}
		}
	}
	comps := s.doc["components"].(map[string]any)
	for name, sc := range comps["schemas"].(map[string]any) {
		walk(sc.(map[string]any), "components.schemas."+name)
	}
	for path, item := range s.doc["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			o := op.(map[string]any)
			where := method + " " + path
			params, _ := o["parameters"].([]any)
			for _, p := range params {
				pm := s.deref(p.(map[string]any))
				walk(pm["schema"].(map[string]any), where+" parameter "+pm["name"].(string))
			}
			if rb, ok := o["requestBody"].(map[string]any); ok {
				for mt, m := range rb["content"].(map[string]any) {
					walk(m.(map[string]any)["schema"].(map[string]any), where+" request "+mt)
				}
			}
			for code, resp := range o["responses"].(map[string]any) {
				content, _ := s.deref(resp.(map[string]any))["content"].(map[string]any)
				for mt, m := range content {
					walk(m.(map[string]any)["schema"].(map[string]any), where+" "+code+" "+mt)
				}
			}
		}
	}
}

// TestSchemaCheckerRefuses shows the checker failing on answers that do
// not match, so that the conformance checks in the other tests can fail.
func TestSchemaCheckerRefuses(t *testing.T) {
	s := loadSpec(t)
	valid := `{"id":"in-0123456789abcdef0123456789abcdef","seq":3,"type":"document","sender":"000.00.00.G09",` +
		`"recipients":["000.00.00.H26"],"message_id":"m-1","sha256":"` + strings.Repeat("ab", 32) + `",` +
		`"received_at":"2026-01-15T09:30:00.123+07:00","size":120}`
	tests := []struct {
		name, schema, body string
		ok                 bool
	}{
		{"valid item", "Item", valid, true},
		{"undeclared member", "Item", strings.Replace(valid, `"size":120`, `"size":120,"extra":1`, 1), false},
		{"missing member", "Item", strings.Replace(valid, `"seq":3,`, "", 1), false},
		{"wrong type", "Item", strings.Replace(valid, `"seq":3`, `"seq":"3"`, 1), false},
		{"not an integer", "Item", strings.Replace(valid, `"seq":3`, `"seq":3.5`, 1), false},
		{"below minimum", "Item", strings.Replace(valid, `"seq":3`, `"seq":0`, 1), false},
		{"pattern", "Item", strings.Replace(valid, `"in-0123`, `"IN-0123`, 1), false},
		{"enum", "Item", strings.Replace(valid, `"document"`, `"letter"`, 1), false},
		{"date-time", "Item", strings.Replace(valid, `2026-01-15T09:30:00.123+07:00`, `2026-01-15 09:30`, 1), false},
		{"array item", "Item", strings.Replace(valid, `["000.00.00.H26"]`, `["000..H26"]`, 1), false},
		{"problem without reason", "Problem", `{"type":"x","title":"Bad Request","status":400}`, false},
		{"problem status", "Problem", `{"type":"x","title":"OK","status":200,"reason":"x"}`, false},
		{"base64", "Receipt", `{"kind":"accepted","at":"2026-01-15T09:30:00Z","receipt":"!!"}`, false},
		{"max length", "StatusRequest", `{"code":"03","staff":"` + strings.Repeat("ệ", 201) + `"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dec := json.NewDecoder(strings.NewReader(tt.body))
			dec.UseNumber()
			var v any
			if err := dec.Decode(&v); err != nil {
				t.Fatal(err)
			}
			errs := s.validate(map[string]any{"$ref": "#/components/schemas/" + tt.schema}, v, "$")
			if (len(errs) == 0) != tt.ok {
				t.Fatalf("ok=%v, want %v: %v", len(errs) == 0, tt.ok, errs)
			}
		})
	}
}
