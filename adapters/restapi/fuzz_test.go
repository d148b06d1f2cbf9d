package restapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"truc.vn/truc/adapters/restapi"
	"truc.vn/truc/adapters/restapi/restapitest"
)

// FuzzHandler replays raw HTTP requests against a handler over a Memory
// holding one sent document and two inbox items. In the request, {token}
// stands for the Hà Nội DMS's token, {bnvtoken} for the ministry's,
// {doc} for the sent document's ID, {item} for an item of Hà Nội and
// {bnvitem} for one of the ministry's; {package} for a valid package
// from Hà Nội. Whatever the request:
//
//   - the handler does not panic and never answers 500 (the Memory never
//     fails, so a 500 would be the handler's own);
//   - every answer is one the OpenAPI document declares, and every error
//     a problem report whose status is the answer's;
//   - a request without a valid token reaches no Backend method but
//     Ready.
func FuzzHandler(f *testing.F) {
	post := func(path, token, ctype, body string) string {
		return "POST " + path + " HTTP/1.1\r\nHost: edge\r\nAuthorization: Bearer " + token + "\r\nContent-Type: " + ctype +
			"\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	}
	seeds := []string{
		"GET /v1/inbox?after=0&limit=2&wait=1 HTTP/1.1\r\nHost: edge\r\nAuthorization: Bearer {token}\r\n\r\n",
		"GET /v1/inbox/{item} HTTP/1.1\r\nHost: edge\r\nAuthorization: Bearer {token}\r\nIf-None-Match: *\r\n\r\n",
		"GET /v1/documents/{doc} HTTP/1.1\r\nHost: edge\r\nAuthorization: Bearer {token}\r\n\r\n",
		post("/v1/inbox/{item}/ack", "{token}", "application/json", "{}"),
		post("/v1/inbox/{item}/status", "{token}", "application/json", `{"code":"03","description":"ok","staff":"V\u0103n"}`),
		post("/v1/inbox/{bnvitem}/status", "{token}", "application/json", `{"code":"01"}`),
		"POST /v1/documents HTTP/1.1\r\nHost: edge\r\nAuthorization: Bearer {token}\r\nContent-Type: application/xml\r\nIdempotency-Key: k1\r\nTransfer-Encoding: chunked\r\n\r\n{package}",
		post("/v1/documents", "{bnvtoken}", "text/xml; charset=utf-8", "<edXML/>\n"),
		"GET /v1/openapi.json HTTP/1.1\r\nHost: edge\r\n\r\n",
		"DELETE /v1/inbox HTTP/1.1\r\nHost: edge\r\nAuthorization: Bearer {token}\r\n\r\n",
		"GET /v1/../healthz HTTP/1.1\r\nHost: edge\r\n\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	pkg := restapitest.NewDocument(f, hanoi, bnv)
	mine := restapitest.NewDocument(f, vpcp, hanoi)
	theirs := restapitest.NewDocument(f, vpcp, bnv)
	spec := loadSpec(f)

	f.Fuzz(func(t *testing.T, raw []byte) {
		mem := restapitest.NewMemory()
		h, err := restapi.New(testConfig(), mem, nil)
		if err != nil {
			t.Fatal(err)
		}
		restapi.SetMaxWait(h, time.Millisecond)
		e := &env{t: t, h: h, mem: mem, spec: spec}
		s := e.submit(pkg)
		it, err := mem.Deliver(mine, hanoi)
		if err != nil {
			t.Fatal(err)
		}
		other, err := mem.Deliver(theirs, bnv)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range []struct{ from, to string }{
			{"{token}", tokHanoi}, {"{bnvtoken}", tokBNV}, {"{doc}", s.ID}, {"{item}", it.ID}, {"{bnvitem}", other.ID},
			{"{package}", string(chunk(pkg))},
		} {
			raw = bytes.ReplaceAll(raw, []byte(r.from), []byte(r.to))
		}
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return
		}
		r.RemoteAddr = "192.0.2.1:40000"
		before := map[string]int{}
		backendMethods := []string{"Submit", "Document", "Inbox", "WaitInbox", "Item", "Take", "PostStatus"}
		for _, m := range backendMethods {
			before[m] = mem.Calls(m)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)

		if w.Code == http.StatusInternalServerError {
			t.Fatalf("500 with a backend that never fails: %s", w.Body)
		}
		spec.check(t, r, w)
		if w.Code >= 400 {
			var p restapi.Problem
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Status != w.Code || p.Reason == "" {
				t.Fatalf("%d answered %q", w.Code, w.Body)
			}
		}
		auth := r.Header.Values("Authorization")
		if len(auth) != 1 || (auth[0] != "Bearer "+tokHanoi && auth[0] != "Bearer "+tokBNV) {
			for _, m := range backendMethods {
				// A valid token may also be written "bearer  <token>":
				// only count calls when no configured token appears.
				if mem.Calls(m) != before[m] && !bytes.Contains(raw, []byte(tokHanoi)) && !bytes.Contains(raw, []byte(tokBNV)) {
					t.Fatalf("the backend's %s was called without a valid token", m)
				}
			}
		}
	})
}

// chunk encodes b as one HTTP/1.1 chunk and the last chunk.
func chunk(b []byte) []byte {
	var buf bytes.Buffer
	buf.WriteString(strconv.FormatInt(int64(len(b)), 16))
	buf.WriteString("\r\n")
	buf.Write(b)
	buf.WriteString("\r\n0\r\n\r\n")
	return buf.Bytes()
}
