package restapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"truc.vn/truc/adapters/restapi"
	"truc.vn/truc/adapters/restapi/restapitest"
	"truc.vn/truc/bus"
	"truc.vn/truc/edoc"
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
		"GET /v1/documents?limit=1&recipient=000.00.00.G09&type=document&since=2000-01-01T00:00:00Z HTTP/1.1\r\nHost: edge\r\nAuthorization: Bearer {token}\r\n\r\n",
		"GET /v1/documents/{doc}/attachments/1 HTTP/1.1\r\nHost: edge\r\nAuthorization: Bearer {token}\r\n\r\n",
		"GET /v1/inbox/{item}/attachments HTTP/1.1\r\nHost: edge\r\nAuthorization: Bearer {token}\r\n\r\n",
		post("/v1/documents/{doc}/recall", "{token}", "application/json", `{"description":"g\u1eedi nh\u1ea7m"}`),
		"GET /v1/directory/agencies?q=h%C3%B2a+binh&limit=2 HTTP/1.1\r\nHost: edge\r\nAuthorization: Bearer {token}\r\n\r\n",
		"GET /v1/webhooks/deliveries?state=failed HTTP/1.1\r\nHost: edge\r\nAuthorization: Bearer {token}\r\n\r\n",
		post("/v1/webhooks/deliveries/{delivery}/retry", "{token}", "application/json", "{}"),
		post("/v1/documents", "{token}", "multipart/form-data; boundary=B", "--B\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{metadata}\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n\r\n%PDF\r\n--B--\r\n"),
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
		mem.SetAgencies(testAgencies...)
		hook := &restapitest.Webhooks{}
		h, err := restapi.New(testConfig(), mem, nil, restapi.WithWebhooks(hook))
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
		if err := mem.AddEvent(s.ID, bus.TimelineEvent{Kind: bus.TimelineAccepted}); err != nil {
			t.Fatal(err)
		}
		d := hook.Add(it.ID, "https://dms.example/hook", []string{hanoi}, restapi.WebhookFailed, 3, "HTTP 502")
		for _, r := range []struct{ from, to string }{
			{"{token}", tokHanoi}, {"{bnvtoken}", tokBNV}, {"{doc}", s.ID}, {"{item}", it.ID}, {"{bnvitem}", other.ID},
			{"{package}", string(chunk(pkg))}, {"{delivery}", d.ID}, {"{metadata}", metadataJSON},
		} {
			raw = bytes.ReplaceAll(raw, []byte(r.from), []byte(r.to))
		}
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return
		}
		r.RemoteAddr = "192.0.2.1:40000"
		body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
		if err != nil {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		before := map[string]int{}
		backendMethods := []string{"Submit", "Document", "Outbox", "Inbox", "WaitInbox", "Item", "Take", "PostStatus"}
		for _, m := range backendMethods {
			before[m] = mem.Calls(m)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)

		if w.Code == http.StatusInternalServerError {
			t.Fatalf("500 with a backend that never fails: %s", w.Body)
		}
		spec.check(t, r, body, w)
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

// FuzzBuildRequest sends its input as the body of POST /v1/documents,
// JSON metadata or (multipart true) a multipart/form-data body with the
// boundary B, as the Hà Nội DMS. {metadata} stands for a valid metadata
// object. Whatever the body:
//
//   - the handler does not panic and never answers 500;
//   - the exchange is one the OpenAPI document describes;
//   - a 202 queued a valid document package from Hà Nội whose
//     attachments are the file parts.
func FuzzBuildRequest(f *testing.F) {
	f.Add([]byte("{metadata}"), false)
	f.Add([]byte(`{"from":"000.00.00.H26","to":["000.00.00.G09"],"code":{"number":"1","notation":"A"},"subject":"x","promulgation":{"date":"2026-01-15"}}`), false)
	f.Add([]byte("--B\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n{metadata}\r\n"+
		"--B\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''C%C3%B4ng%20v%C4%83n.pdf\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.4\r\n--B--\r\n"), true)
	spec := loadSpec(f)
	f.Fuzz(func(t *testing.T, body []byte, isMultipart bool) {
		body = bytes.ReplaceAll(body, []byte("{metadata}"), []byte(metadataJSON))
		mem := restapitest.NewMemory()
		h, err := restapi.New(testConfig(), mem, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctype := "application/json"
		if isMultipart {
			ctype = "multipart/form-data; boundary=B"
		}
		r := httptest.NewRequest("POST", "/v1/documents", bytes.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+tokHanoi)
		r.Header.Set("Content-Type", ctype)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code == http.StatusInternalServerError {
			t.Fatalf("500: %s", w.Body)
		}
		spec.check(t, r, body, w)
		sent := mem.Sent()
		if w.Code != http.StatusAccepted {
			if len(sent) != 0 {
				t.Fatalf("%d but %d messages queued", w.Code, len(sent))
			}
			return
		}
		if len(sent) != 1 {
			t.Fatalf("202 with %d messages queued", len(sent))
		}
		p, err := edoc.Parse(sent[0].Message.Package, edoc.Limits{})
		if err != nil {
			t.Fatalf("the built package does not parse: %v", err)
		}
		for _, pr := range p.Validate() {
			if pr.Severity == edoc.Error {
				t.Fatalf("the built package is invalid: %v", pr)
			}
		}
		if p.Kind != edoc.KindDocument || p.Header.From.OrganID != hanoi {
			t.Fatalf("built a %v from %s", p.Kind, p.Header.From.OrganID)
		}
		if !isMultipart && len(p.Attachments) != 0 {
			t.Fatalf("JSON alone built %d attachments", len(p.Attachments))
		}
	})
}
