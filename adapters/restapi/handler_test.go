package restapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"truc.vn/truc/adapters/restapi"
	"truc.vn/truc/adapters/restapi/restapitest"
	"truc.vn/truc/bus"
)

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name      string
		auth      []string
		reason    string
		challenge string
	}{
		{"no token", nil, restapi.ReasonMissingToken, `Bearer realm="truc"`},
		{"basic scheme", []string{"Basic aGFub2k6c2VjcmV0"}, restapi.ReasonMissingToken, `Bearer realm="truc"`},
		{"bearer without token", []string{"Bearer "}, restapi.ReasonInvalidToken, `Bearer realm="truc", error="invalid_token"`},
		{"wrong token", []string{"Bearer " + tokHanoi + "x"}, restapi.ReasonInvalidToken, `Bearer realm="truc", error="invalid_token"`},
		{"token hash instead of token", []string{"Bearer " + restapi.HashToken(tokHanoi)}, restapi.ReasonInvalidToken, `Bearer realm="truc", error="invalid_token"`},
		{"token with a space", []string{"Bearer " + tokHanoi + " x"}, restapi.ReasonInvalidToken, `Bearer realm="truc", error="invalid_token"`},
		{"two headers", []string{"Bearer " + tokHanoi, "Bearer " + tokHanoi}, restapi.ReasonInvalidToken, `Bearer realm="truc", error="invalid_token"`},
	}
	endpoints := []req{
		{method: "POST", target: "/v1/documents", body: []byte("<edXML/>"), headers: []string{"Content-Type", "application/xml"}},
		{method: "GET", target: "/v1/documents/msg-000001"},
		{method: "GET", target: "/v1/inbox?wait=30"},
		{method: "GET", target: "/v1/inbox/in-0123456789abcdef0123456789abcdef"},
		{method: "POST", target: "/v1/inbox/in-0123456789abcdef0123456789abcdef/ack"},
		{method: "POST", target: "/v1/inbox/in-0123456789abcdef0123456789abcdef/status", body: statusBody("03"), headers: jsonHeaders()},
	}
	for _, tt := range tests {
		for _, ep := range endpoints {
			t.Run(tt.name+"/"+ep.method+" "+ep.target, func(t *testing.T) {
				for _, a := range tt.auth {
					ep.headers = append(ep.headers, "Authorization", a)
				}
				w := e.do(ep)
				wantProblem(t, w, http.StatusUnauthorized, tt.reason, "Authorization")
				if got := w.Header().Get("WWW-Authenticate"); got != tt.challenge {
					t.Errorf("WWW-Authenticate %q, want %q", got, tt.challenge)
				}
			})
		}
	}
	for _, m := range []string{"Submit", "Document", "Inbox", "WaitInbox", "Item", "Take", "PostStatus"} {
		if n := e.mem.Calls(m); n != 0 {
			t.Errorf("the backend's %s was called %d times without a valid token", m, n)
		}
	}
	t.Run("scheme in lower case", func(t *testing.T) {
		w := e.do(req{method: "GET", target: "/v1/inbox", headers: []string{"Authorization", "bearer " + tokHanoi}})
		if w.Code != http.StatusOK {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
	})
}

func TestPublicEndpoints(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		io.WriteString(w, "truc_up 1\n")
	})
	e := newEnv(t, restapi.WithMetrics(metrics))

	if w := e.get("/healthz", ""); w.Code != 200 || !contains(w.Body.String(), `"ok"`) {
		t.Errorf("healthz: %d %s", w.Code, w.Body)
	}
	if w := e.get("/readyz", ""); w.Code != 200 || !contains(w.Body.String(), `"ready"`) {
		t.Errorf("readyz: %d %s", w.Code, w.Body)
	}
	e.mem.SetReady(errors.New("broker kafka-1.internal:9093 unreachable"))
	w := e.get("/readyz", "")
	p := wantProblem(t, w, http.StatusServiceUnavailable, restapi.ReasonNotReady, "")
	if contains(p.Detail, "kafka-1") {
		t.Errorf("readyz leaks the backend's error: %q", p.Detail)
	}
	if w.Header().Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if w := e.get("/healthz", ""); w.Code != 200 {
		t.Errorf("healthz when not ready: %d", w.Code)
	}
	if w := e.get("/metrics", ""); w.Code != 200 || w.Body.String() != "truc_up 1\n" {
		t.Errorf("metrics: %d %s", w.Code, w.Body)
	}
	w = e.get("/v1/openapi.json", "")
	if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), restapi.OpenAPI()) {
		t.Errorf("openapi.json: %d, %d bytes", w.Code, w.Body.Len())
	}

	noMetrics := newEnv(t)
	wantProblem(t, noMetrics.get("/metrics", ""), http.StatusNotFound, restapi.ReasonNotFound, "")
}

func TestRouting(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		method, target string
		status         int
		allow          string
	}{
		{"GET", "/v2/documents", 404, ""},
		{"GET", "/", 404, ""},
		{"GET", "/v1/documents/", 404, ""},
		{"GET", "/v1/inbox/in-0123456789abcdef0123456789abcdef/ack", 405, "POST"},
		{"DELETE", "/v1/documents/msg-000001", 405, "GET, HEAD"},
		{"DELETE", "/v1/documents", 405, "POST, GET, HEAD"},
		{"PUT", "/v1/inbox", 405, "GET, HEAD"},
		{"POST", "/healthz", 405, "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			w := e.do(req{method: tt.method, target: tt.target, token: tokHanoi})
			reason := restapi.ReasonNotFound
			if tt.status == 405 {
				reason = restapi.ReasonMethod
			}
			wantProblem(t, w, tt.status, reason, "")
			if got := w.Header().Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
		})
	}
}

func TestSubmit(t *testing.T) {
	e := newEnv(t)
	pkg := restapitest.NewDocument(t, hanoi, bnv, vpcp)
	sum := sha256.Sum256(pkg)

	w := e.do(req{method: "POST", target: "/v1/documents", token: tokHanoi, body: pkg,
		headers: []string{"Content-Type", "application/xml; charset=UTF-8", "Idempotency-Key", "dms-42"}})
	if w.Code != http.StatusAccepted {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	var s restapi.Submitted
	decode(t, w, &s)
	if s.ID == "" || s.SHA256 != hex.EncodeToString(sum[:]) || s.StatusURL != "/v1/documents/"+s.ID || s.Replayed {
		t.Fatalf("answer %+v", s)
	}
	if w.Header().Get("Location") != s.StatusURL || w.Header().Get("Idempotent-Replayed") != "" {
		t.Fatalf("headers %v", w.Header())
	}
	if w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", w.Header().Get("Cache-Control"))
	}
	out := e.mem.Sent()
	if len(out) != 1 || out[0].Client != "hanoi-dms" || out[0].IdempotencyKey != "dms-42" || !bytes.Equal(out[0].Message.Package, pkg) {
		t.Fatalf("outbox %+v", out)
	}

	t.Run("replay", func(t *testing.T) {
		w := e.do(req{method: "POST", target: "/v1/documents", token: tokHanoi, body: pkg,
			headers: []string{"Content-Type", "application/edxml+xml", "Idempotency-Key", "dms-42"}})
		var again restapi.Submitted
		decode(t, w, &again)
		if w.Code != http.StatusAccepted || again.ID != s.ID || !again.Replayed || w.Header().Get("Idempotent-Replayed") != "true" {
			t.Fatalf("%d %+v %v", w.Code, again, w.Header())
		}
		if n := len(e.mem.Sent()); n != 1 {
			t.Fatalf("%d outbox entries after a replay", n)
		}
	})
	t.Run("key reused with other bytes", func(t *testing.T) {
		other := restapitest.NewDocument(t, hanoi, bnv)
		w := e.do(req{method: "POST", target: "/v1/documents", token: tokHanoi, body: other,
			headers: []string{"Content-Type", "text/xml", "Idempotency-Key", "dms-42"}})
		wantProblem(t, w, http.StatusConflict, restapi.ReasonConflict, "")
	})
	t.Run("same key from another token is another key", func(t *testing.T) {
		doc := restapitest.NewDocument(t, bnv, hanoi)
		w := e.do(req{method: "POST", target: "/v1/documents", token: tokBNV, body: doc,
			headers: []string{"Content-Type", "application/xml", "Idempotency-Key", "dms-42"}})
		if w.Code != http.StatusAccepted {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
	})
	t.Run("sub-unit of the token", func(t *testing.T) {
		e.submit(restapitest.NewDocument(t, hanoiSub, bnv))
	})
}

func TestSubmitRefused(t *testing.T) {
	e := newEnvConfig(t, func() restapi.Config { c := testConfig(); c.MaxBodyBytes = 64 << 10; return c }())
	pkg := restapitest.NewDocument(t, hanoi, bnv)
	xml := []string{"Content-Type", "application/xml"}
	big := bytes.Repeat([]byte("x"), 64<<10+1)
	tests := []struct {
		name    string
		body    []byte
		headers []string
		chunked bool
		status  int
		reason  string
		field   string
	}{
		{"no content type", pkg, nil, false, 415, restapi.ReasonMediaType, "Content-Type"},
		{"text/plain", pkg, []string{"Content-Type", "text/plain"}, false, 415, restapi.ReasonMediaType, "Content-Type"},
		{"multipart without a boundary", pkg, []string{"Content-Type", "multipart/form-data"}, false, 415, restapi.ReasonMediaType, "Content-Type"},
		{"latin-1 charset", pkg, []string{"Content-Type", "application/xml; charset=iso-8859-1"}, false, 415, restapi.ReasonMediaType, "Content-Type"},
		{"malformed content type", pkg, []string{"Content-Type", "application/xml; ="}, false, 415, restapi.ReasonMediaType, "Content-Type"},
		{"gzip", pkg, append(xml, "Content-Encoding", "gzip"), false, 415, restapi.ReasonMediaType, "Content-Encoding"},
		{"empty idempotency key", pkg, append(xml, "Idempotency-Key", ""), false, 400, restapi.ReasonBadParameter, "Idempotency-Key"},
		{"idempotency key too long", pkg, append(xml, "Idempotency-Key", strings.Repeat("k", 256)), false, 400, restapi.ReasonBadParameter, "Idempotency-Key"},
		{"idempotency key not ASCII", pkg, append(xml, "Idempotency-Key", "khóa-1"), false, 400, restapi.ReasonBadParameter, "Idempotency-Key"},
		{"idempotency key twice", pkg, append(xml, "Idempotency-Key", "a", "Idempotency-Key", "b"), false, 400, restapi.ReasonBadParameter, "Idempotency-Key"},
		{"empty body", []byte{}, xml, false, 400, restapi.ReasonEmptyBody, "body"},
		{"over the cap", big, xml, false, 413, restapi.ReasonTooLarge, "body"},
		{"over the cap, chunked", big, xml, true, 413, restapi.ReasonTooLarge, "body"},
		{"not XML", []byte("%PDF-1.4"), xml, false, 422, bus.RejectMalformed, ""},
		{"sender not the token's", restapitest.NewDocument(t, bnv, hanoi), xml, false, 422, "not-own-organ", "From/OrganId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/v1/documents", bytes.NewReader(tt.body))
			if tt.chunked {
				r.ContentLength = -1
			}
			r.Header.Set("Authorization", "Bearer "+tokHanoi)
			for i := 0; i+1 < len(tt.headers); i += 2 {
				r.Header.Add(tt.headers[i], tt.headers[i+1])
			}
			w := httptest.NewRecorder()
			e.h.ServeHTTP(w, r)
			e.spec.check(t, r, tt.body, w)
			p := wantProblem(t, w, tt.status, tt.reason, tt.field)
			if p.Detail == "" {
				t.Error("no detail")
			}
		})
	}
	if n := len(e.mem.Sent()); n != 0 {
		t.Fatalf("refused submissions left %d outbox entries", n)
	}
	if n := e.mem.Calls("Submit"); n != 2 {
		t.Fatalf("the backend saw %d submissions; only the last two reach it", n)
	}
}

// TestBackendErrors checks how each kind of Backend error is answered,
// and that no Backend error text reaches the client.
func TestBackendErrors(t *testing.T) {
	const secret = "disk /var/lib/truc/edge.db: input/output error"
	tests := []struct {
		name   string
		err    error
		status int
		reason string
		field  string
	}{
		{"internal", errors.New(secret), 500, restapi.ReasonInternal, ""},
		{"wrapped deadline", fmt.Errorf("%s: %w", secret, context.DeadlineExceeded), 503, restapi.ReasonUnavailable, ""},
		{"verification unavailable", &bus.RejectError{Reason: bus.RejectVerificationError, Detail: secret}, 503, bus.RejectVerificationError, ""},
		{"rejection", bus.Reject(bus.RejectUnknownRecipient, "MessageHeader/To[2]/OrganId", "000.00.00.X99 is not in the directory"), 422, bus.RejectUnknownRecipient, "MessageHeader/To[2]/OrganId"},
		{"rejection with control characters", bus.Reject("bad\nreason", "a\x00b", "x\x1by"), 422, "bad reason", "a b"},
		{"not found where nothing can be missing", fmt.Errorf("%s: %w", secret, bus.ErrNotFound), 500, restapi.ReasonInternal, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			mem := restapitest.NewMemory()
			h, err := restapi.New(testConfig(), mem, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			e := &env{t: t, h: h, mem: mem, spec: loadSpec(t)}
			mem.FailNext(tt.err)
			w := e.do(req{method: "POST", target: "/v1/documents", token: tokHanoi, body: restapitest.NewDocument(t, hanoi, bnv),
				headers: []string{"Content-Type", "application/xml"}})
			p := wantProblem(t, w, tt.status, tt.reason, tt.field)
			if contains(w.Body.String(), "/var/lib") {
				t.Errorf("the answer leaks the backend's error: %s", w.Body)
			}
			if tt.status == 500 && p.Detail != "internal error" {
				t.Errorf("detail %q", p.Detail)
			}
			if tt.status == 500 && !contains(logs.String(), "input/output error") {
				t.Errorf("the error is not logged:\n%s", logs.String())
			}
			if contains(logs.String(), tokHanoi) {
				t.Error("the token is in the log")
			}
		})
	}
}

func TestDocument(t *testing.T) {
	e := newEnv(t)
	s := e.submit(restapitest.NewDocument(t, hanoi, bnv, vpcp))
	receipt := []byte("receipt-bytes-\x00\xff")
	for _, ev := range []bus.TimelineEvent{
		{Kind: bus.TimelineAccepted, SHA256: s.SHA256, Receipt: receipt},
		{Kind: bus.TimelineDelivered, SHA256: s.SHA256, Recipients: []string{bnv}, Edge: "edge-bnv"},
		{Kind: bus.TimelineStatus, SHA256: strings.Repeat("1", 64), MessageID: "st-1", Recipients: []string{bnv}, StatusCode: "01"},
		{Kind: bus.TimelineStatus, SHA256: strings.Repeat("2", 64), MessageID: "st-2", Recipients: []string{bnv}, StatusCode: "03"},
		{Kind: bus.TimelineRefused, SHA256: s.SHA256, Recipients: []string{vpcp}, Edge: "edge-vpcp", Reason: "revoked"},
	} {
		if err := e.mem.AddEvent(s.ID, ev); err != nil {
			t.Fatal(err)
		}
	}
	w := e.get(s.StatusURL, tokHanoi)
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	var d restapi.Document
	decode(t, w, &d)
	if d.ID != s.ID || d.SHA256 != s.SHA256 || d.Sender != hanoi || d.Type != "document" || !d.Settled || d.SettledAt.IsZero() {
		t.Fatalf("document %+v", d)
	}
	kinds := func(rt restapi.RecipientTimeline) string {
		var k []string
		for _, ev := range rt.Events {
			k = append(k, ev.Kind+ev.Status)
		}
		return strings.Join(k, ",")
	}
	if len(d.Timeline) != 2 || d.Timeline[0].OrganID != bnv || d.Timeline[1].OrganID != vpcp {
		t.Fatalf("timeline %+v", d.Timeline)
	}
	if got := kinds(d.Timeline[0]); got != "submitted,accepted,delivered,status01,status03" || d.Timeline[0].Status != "03" {
		t.Errorf("bnv: %s (status %q)", got, d.Timeline[0].Status)
	}
	if got := kinds(d.Timeline[1]); got != "submitted,accepted,refused" || d.Timeline[1].Status != "" {
		t.Errorf("vpcp: %s (status %q)", got, d.Timeline[1].Status)
	}
	if len(d.Receipts) != 1 || !bytes.Equal(d.Receipts[0].Receipt, receipt) || d.Receipts[0].Kind != "accepted" {
		t.Errorf("receipts %+v", d.Receipts)
	}

	t.Run("another DMS", func(t *testing.T) {
		wantProblem(t, e.get(s.StatusURL, tokBNV), 404, restapi.ReasonNotFound, "id")
	})
	t.Run("unknown", func(t *testing.T) {
		wantProblem(t, e.get("/v1/documents/msg-999999", tokHanoi), 404, restapi.ReasonNotFound, "id")
	})
	for _, id := range []string{"-x", "a%20b", "a%2Fb", strings.Repeat("a", 256), "%C3%A9"} {
		t.Run("bad id "+id[:min(len(id), 8)], func(t *testing.T) {
			wantProblem(t, e.get("/v1/documents/"+id, tokHanoi), 400, restapi.ReasonBadParameter, "id")
		})
	}
}

func TestInboxList(t *testing.T) {
	e := newEnv(t)
	var mine []bus.InboxItem
	for i := range 7 {
		to := hanoi
		switch i % 3 {
		case 1:
			to = bnv
		case 2:
			to = hanoiSub
		}
		it, err := e.mem.Deliver(restapitest.NewDocument(t, vpcp, to), to)
		if err != nil {
			t.Fatal(err)
		}
		if to != bnv {
			mine = append(mine, it)
		}
	}
	// seq: 1 hanoi, 2 bnv, 3 sub, 4 hanoi, 5 bnv, 6 sub, 7 hanoi

	list := func(t *testing.T, e *env, target string) restapi.InboxPage {
		t.Helper()
		w := e.get(target, tokHanoi)
		if w.Code != 200 {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		var p restapi.InboxPage
		decode(t, w, &p)
		return p
	}
	seqs := func(p restapi.InboxPage) string {
		var s []string
		for _, it := range p.Items {
			s = append(s, fmt.Sprint(it.Seq))
		}
		return strings.Join(s, ",") + fmt.Sprintf(" next %d", p.Next)
	}
	tests := []struct{ target, want string }{
		{"/v1/inbox", "1,3,4,6,7 next 7"},
		{"/v1/inbox?limit=2", "1,3 next 3"},
		{"/v1/inbox?after=3&limit=2", "4,6 next 6"},
		{"/v1/inbox?after=6&limit=2", "7 next 7"},
		{"/v1/inbox?after=7", " next 7"},
		{"/v1/inbox?after=1000", " next 1000"},
		{"/v1/inbox?after=0&limit=1000&wait=0", "1,3,4,6,7 next 7"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			if got := seqs(list(t, e, tt.target)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("fields", func(t *testing.T) {
		p := list(t, e, "/v1/inbox?limit=1")
		got, want := p.Items[0], mine[0]
		if got.ID != want.ID || got.Type != "document" || got.Sender != vpcp || got.SHA256 != hex.EncodeToString(want.SHA256[:]) ||
			got.Size != want.Size || got.MessageID != want.MessageID || !got.TakenAt.IsZero() || got.ReceivedAt.IsZero() {
			t.Errorf("item %+v, stored %+v", got, want)
		}
	})
	t.Run("the other DMS", func(t *testing.T) {
		w := e.get("/v1/inbox", tokBNV)
		var p restapi.InboxPage
		decode(t, w, &p)
		if got := seqs(p); got != "2,5 next 7" {
			t.Errorf("got %q", got)
		}
	})
	t.Run("many items for others", func(t *testing.T) {
		e := newEnv(t)
		doc := restapitest.NewDocument(t, vpcp, bnv)
		for range 1500 {
			doc = append(doc[:len(doc):len(doc)], ' ') // new bytes, new item
			if _, err := e.mem.Deliver(doc, bnv); err != nil {
				t.Fatal(err)
			}
		}
		p := list(t, e, "/v1/inbox")
		if len(p.Items) != 0 || p.Next != 1000 {
			t.Fatalf("a page over items for others: %s; want it to stop after 10 batches at 1000", seqs(p))
		}
		if p := list(t, e, "/v1/inbox?after=1000"); len(p.Items) != 0 || p.Next != 1500 {
			t.Fatalf("next page: %s", seqs(p))
		}
	})

	bad := []struct{ query, field, reason string }{
		{"after=-1", "after", restapi.ReasonBadParameter},
		{"after=abc", "after", restapi.ReasonBadParameter},
		{"after=1e3", "after", restapi.ReasonBadParameter},
		{"after=18446744073709551616", "after", restapi.ReasonBadParameter},
		{"after=", "after", restapi.ReasonBadParameter},
		{"after=1&after=2", "after", restapi.ReasonBadParameter},
		{"limit=0", "limit", restapi.ReasonBadParameter},
		{"limit=1001", "limit", restapi.ReasonBadParameter},
		{"limit=%2B5", "limit", restapi.ReasonBadParameter},
		{"wait=-1", "wait", restapi.ReasonBadParameter},
		{"wait=1.5", "wait", restapi.ReasonBadParameter},
		{"wait=10s", "wait", restapi.ReasonBadParameter},
		{"cursor=5", "cursor", restapi.ReasonUnknownParameter},
		{"after=1;limit=2", "query", restapi.ReasonBadParameter},
		{"%zz=1", "query", restapi.ReasonBadParameter},
	}
	for _, tt := range bad {
		t.Run(tt.query, func(t *testing.T) {
			wantProblem(t, e.get("/v1/inbox?"+tt.query, tokHanoi), 400, tt.reason, tt.field)
		})
	}
}

func TestInboxItem(t *testing.T) {
	e := newEnv(t)
	pkg := restapitest.NewDocument(t, vpcp, hanoi, bnv)
	it, err := e.mem.Deliver(pkg, hanoi, bnv)
	if err != nil {
		t.Fatal(err)
	}
	forBNV, err := e.mem.Deliver(restapitest.NewDocument(t, vpcp, bnv), bnv)
	if err != nil {
		t.Fatal(err)
	}
	sum := hex.EncodeToString(it.SHA256[:])

	w := e.get("/v1/inbox/"+it.ID, tokHanoi)
	if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), pkg) {
		t.Fatalf("%d, %d bytes", w.Code, w.Body.Len())
	}
	for k, v := range map[string]string{"Content-Type": "application/xml", "ETag": `"` + sum + `"`, "X-Truc-Sha256": sum,
		"Content-Length": fmt.Sprint(len(pkg)), "Content-Disposition": `attachment; filename="` + it.ID + `.xml"`} {
		if got := w.Header().Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	t.Run("same bytes for every recipient's DMS", func(t *testing.T) {
		if w := e.get("/v1/inbox/"+it.ID, tokBNV); w.Code != 200 || !bytes.Equal(w.Body.Bytes(), pkg) {
			t.Fatalf("%d", w.Code)
		}
	})
	t.Run("if-none-match", func(t *testing.T) {
		w := e.do(req{method: "GET", target: "/v1/inbox/" + it.ID, token: tokHanoi, headers: []string{"If-None-Match", `"x", "` + sum + `"`}})
		if w.Code != http.StatusNotModified || w.Body.Len() != 0 {
			t.Fatalf("%d %q", w.Code, w.Body)
		}
		w = e.do(req{method: "GET", target: "/v1/inbox/" + it.ID, token: tokHanoi, headers: []string{"If-None-Match", `"x"`}})
		if w.Code != 200 {
			t.Fatalf("%d", w.Code)
		}
	})
	t.Run("head", func(t *testing.T) {
		w := e.do(req{method: "HEAD", target: "/v1/inbox/" + it.ID, token: tokHanoi})
		if w.Code != 200 || w.Header().Get("X-Truc-Sha256") != sum {
			t.Fatalf("%d %v", w.Code, w.Header())
		}
	})
	t.Run("another agency's item", func(t *testing.T) {
		wantProblem(t, e.get("/v1/inbox/"+forBNV.ID, tokHanoi), 404, restapi.ReasonNotFound, "id")
	})
	t.Run("unknown", func(t *testing.T) {
		wantProblem(t, e.get("/v1/inbox/in-00000000000000000000000000000000", tokHanoi), 404, restapi.ReasonNotFound, "id")
	})
	for _, id := range []string{"in-0123", "in-0123456789ABCDEF0123456789ABCDEF", "msg-000001", "in-0123456789abcdef0123456789abcdeg", "..%2F..%2Fetc"} {
		t.Run("bad id "+id, func(t *testing.T) {
			wantProblem(t, e.get("/v1/inbox/"+id, tokHanoi), 400, restapi.ReasonBadParameter, "id")
		})
	}
	t.Run("stored bytes that do not match", func(t *testing.T) {
		bad := &corrupt{Memory: e.mem}
		h, err := restapi.New(testConfig(), bad, nil)
		if err != nil {
			t.Fatal(err)
		}
		e2 := &env{t: t, h: h, mem: e.mem, spec: e.spec}
		wantProblem(t, e2.get("/v1/inbox/"+it.ID, tokHanoi), 500, restapi.ReasonInternal, "")
	})
}

// corrupt is a Backend whose stored package bytes have rotted.
type corrupt struct{ *restapitest.Memory }

func (c *corrupt) Item(ctx context.Context, id string) (bus.InboxItem, []byte, error) {
	it, pkg, err := c.Memory.Item(ctx, id)
	if len(pkg) > 0 {
		pkg[len(pkg)/2] ^= 1
	}
	return it, pkg, err
}

func TestAck(t *testing.T) {
	e := newEnv(t)
	it, err := e.mem.Deliver(restapitest.NewDocument(t, vpcp, hanoi), hanoi)
	if err != nil {
		t.Fatal(err)
	}
	forBNV, err := e.mem.Deliver(restapitest.NewDocument(t, vpcp, bnv), bnv)
	if err != nil {
		t.Fatal(err)
	}
	target := "/v1/inbox/" + it.ID + "/ack"

	w := e.do(req{method: "POST", target: target, token: tokHanoi})
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	var got restapi.Item
	decode(t, w, &got)
	if got.ID != it.ID || got.TakenAt.IsZero() {
		t.Fatalf("item %+v", got)
	}
	out := e.mem.Sent()
	if len(out) != 1 || out[0].Message.Attrs[bus.AttrStatus] != "01" || out[0].InboxID != it.ID {
		t.Fatalf("status 01 not queued: %+v", out)
	}

	t.Run("again, with an empty object", func(t *testing.T) {
		w := e.do(req{method: "POST", target: target, token: tokHanoi, body: []byte(" {} "), headers: jsonHeaders()})
		var again restapi.Item
		decode(t, w, &again)
		if w.Code != 200 || !again.TakenAt.Equal(got.TakenAt) {
			t.Fatalf("%d %+v", w.Code, again)
		}
		if n := len(e.mem.Sent()); n != 1 {
			t.Fatalf("%d outbox entries: a second 01", n)
		}
	})
	t.Run("listed as taken", func(t *testing.T) {
		var p restapi.InboxPage
		decode(t, e.get("/v1/inbox", tokHanoi), &p)
		if len(p.Items) != 1 || p.Items[0].TakenAt.IsZero() {
			t.Fatalf("%+v", p)
		}
	})
	tests := []struct {
		name    string
		target  string
		token   string
		body    string
		headers []string
		status  int
		reason  string
		field   string
	}{
		{"unknown member", target, tokHanoi, `{"when":"now"}`, jsonHeaders(), 400, restapi.ReasonUnknownField, "when"},
		{"not an object", target, tokHanoi, `[]`, jsonHeaders(), 400, restapi.ReasonBadJSON, "body"},
		{"body that is not JSON", target, tokHanoi, `ok`, []string{"Content-Type", "text/plain"}, 415, restapi.ReasonMediaType, "Content-Type"},
		{"another agency's item", "/v1/inbox/" + forBNV.ID + "/ack", tokHanoi, "", nil, 404, restapi.ReasonNotFound, "id"},
		{"unknown item", "/v1/inbox/in-00000000000000000000000000000000/ack", tokHanoi, "", nil, 404, restapi.ReasonNotFound, "id"},
		{"bad id", "/v1/inbox/x/ack", tokHanoi, "", nil, 400, restapi.ReasonBadParameter, "id"},
		{"body too large", target, tokHanoi, "{" + strings.Repeat(" ", 64<<10) + "}", jsonHeaders(), 413, restapi.ReasonTooLarge, "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body []byte
			if tt.body != "" {
				body = []byte(tt.body)
			}
			wantProblem(t, e.do(req{method: "POST", target: tt.target, token: tt.token, body: body, headers: tt.headers}), tt.status, tt.reason, tt.field)
		})
	}
	if taken, _, _ := e.mem.Item(context.Background(), forBNV.ID); !taken.TakenAt.IsZero() {
		t.Fatal("another DMS's refused ack took the item")
	}
}

func TestPostStatus(t *testing.T) {
	e := newEnv(t)
	it, err := e.mem.Deliver(restapitest.NewDocument(t, vpcp, hanoi), hanoi)
	if err != nil {
		t.Fatal(err)
	}
	forBNV, err := e.mem.Deliver(restapitest.NewDocument(t, vpcp, bnv), bnv)
	if err != nil {
		t.Fatal(err)
	}
	target := "/v1/inbox/" + it.ID + "/status"

	w := e.do(req{method: "POST", target: target, token: tokHanoi, headers: jsonHeaders(),
		body: []byte(`{"code":"03","description":"  Đã vào sổ văn bản đến số 15\nngày 15/01  ","staff":" Trần Thị B "}`)})
	if w.Code != http.StatusAccepted {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	var s restapi.Submitted
	decode(t, w, &s)
	if w.Header().Get("Location") != s.StatusURL || s.Replayed {
		t.Fatalf("%+v %v", s, w.Header())
	}
	out := e.mem.Sent()
	if len(out) != 1 || out[0].Message.ID != s.ID || out[0].Message.Attrs[bus.AttrStatus] != "03" ||
		!bytes.Contains(out[0].Message.Package, []byte("<edXML:Description>Đã vào sổ văn bản đến số 15\nngày 15/01</edXML:Description>")) &&
			!bytes.Contains(out[0].Message.Package, []byte(">Đã vào sổ văn bản đến số 15\nngày 15/01<")) {
		t.Fatalf("outbox %+v\n%s", out, out[0].Message.Package)
	}
	t.Run("the status is a document of its sender", func(t *testing.T) {
		var d restapi.Document
		w := e.get(s.StatusURL, tokHanoi)
		decode(t, w, &d)
		if w.Code != 200 || d.Type != "status" || d.Status != "03" || d.InboxID != it.ID || d.Recipients[0] != vpcp {
			t.Fatalf("%d %+v", w.Code, d)
		}
	})
	t.Run("14 is read as 15", func(t *testing.T) {
		w := e.do(req{method: "POST", target: target, token: tokHanoi, headers: jsonHeaders(), body: statusBody("14")})
		if w.Code != http.StatusAccepted {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		out := e.mem.Sent()
		if got := out[len(out)-1].Message.Attrs[bus.AttrStatus]; got != "15" {
			t.Fatalf("code %q", got)
		}
	})
	t.Run("01 after ack", func(t *testing.T) {
		if w := e.do(req{method: "POST", target: "/v1/inbox/" + it.ID + "/ack", token: tokHanoi}); w.Code != 200 {
			t.Fatal(w.Code)
		}
		wantProblem(t, e.do(req{method: "POST", target: target, token: tokHanoi, headers: jsonHeaders(), body: statusBody("01")}),
			409, restapi.ReasonConflict, "")
	})

	n := len(e.mem.Sent())
	tests := []struct {
		name, body string
		headers    []string
		target     string
		status     int
		reason     string
		field      string
	}{
		{"no content type", `{"code":"03"}`, nil, target, 415, restapi.ReasonMediaType, "Content-Type"},
		{"xml", `{"code":"03"}`, []string{"Content-Type", "application/xml"}, target, 415, restapi.ReasonMediaType, "Content-Type"},
		{"not JSON", `code=03`, jsonHeaders(), target, 400, restapi.ReasonBadJSON, "body"},
		{"empty", ``, jsonHeaders(), target, 400, restapi.ReasonBadJSON, "body"},
		{"truncated", `{"code":"03"`, jsonHeaders(), target, 400, restapi.ReasonBadJSON, "body"},
		{"trailing data", `{"code":"03"} {}`, jsonHeaders(), target, 400, restapi.ReasonBadJSON, "body"},
		{"unknown member", `{"code":"03","note":"x"}`, jsonHeaders(), target, 400, restapi.ReasonUnknownField, "note"},
		{"member in another case", `{"Code":"03"}`, jsonHeaders(), target, 400, restapi.ReasonUnknownField, "Code"},
		{"member twice", `{"code":"03","code":"06"}`, jsonHeaders(), target, 400, restapi.ReasonDuplicateField, "code"},
		{"code as a number", `{"code":3}`, jsonHeaders(), target, 400, restapi.ReasonBadJSON, "code"},
		{"staff as an object", `{"code":"03","staff":{"name":"B"}}`, jsonHeaders(), target, 400, restapi.ReasonBadJSON, "staff"},
		{"no code", `{"description":"x"}`, jsonHeaders(), target, 422, restapi.ReasonRequired, "code"},
		{"one digit", `{"code":"3"}`, jsonHeaders(), target, 422, restapi.ReasonInvalid, "code"},
		{"unknown code", `{"code":"99"}`, jsonHeaders(), target, 422, restapi.ReasonInvalid, "code"},
		{"recall from a recipient", `{"code":"13"}`, jsonHeaders(), target, 422, bus.RejectStatusDirection, "code"},
		{"description too long", `{"code":"02","description":"` + strings.Repeat("ệ", 2001) + `"}`, jsonHeaders(), target, 422, restapi.ReasonInvalid, "description"},
		{"control character", `{"code":"03","staff":"B\u0007"}`, jsonHeaders(), target, 422, restapi.ReasonInvalid, "staff"},
		{"line break in staff", `{"code":"03","staff":"B\nC"}`, jsonHeaders(), target, 422, restapi.ReasonInvalid, "staff"},
		{"noncharacter", `{"code":"03","description":"\uffff"}`, jsonHeaders(), target, 422, restapi.ReasonInvalid, "description"},
		{"another agency's item", `{"code":"03"}`, jsonHeaders(), "/v1/inbox/" + forBNV.ID + "/status", 404, restapi.ReasonNotFound, "id"},
		{"unknown item", `{"code":"03"}`, jsonHeaders(), "/v1/inbox/in-00000000000000000000000000000000/status", 404, restapi.ReasonNotFound, "id"},
		{"bad id", `{"code":"03"}`, jsonHeaders(), "/v1/inbox/in-xyz/status", 400, restapi.ReasonBadParameter, "id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, e.do(req{method: "POST", target: tt.target, token: tokHanoi, body: []byte(tt.body), headers: tt.headers}),
				tt.status, tt.reason, tt.field)
		})
	}
	if got := len(e.mem.Sent()); got != n {
		t.Fatalf("refused statuses queued %d messages", got-n)
	}
}

func TestNewRefuses(t *testing.T) {
	if _, err := restapi.New(restapi.Config{}, restapitest.NewMemory(), nil); err == nil {
		t.Error("no tokens accepted")
	}
	if _, err := restapi.New(testConfig(), nil, nil); err == nil {
		t.Error("no backend accepted")
	}
}

func TestServer(t *testing.T) {
	e := newEnv(t)
	srv := e.h.Server()
	if srv.Addr != restapi.DefaultListen || srv.Handler != e.h || srv.ReadHeaderTimeout == 0 || srv.WriteTimeout <= restapi.DefaultMaxWait {
		t.Fatalf("%+v", srv)
	}
}
