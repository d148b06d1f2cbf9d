package restapi_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"testing"

	"truc.vn/truc/adapters/restapi"
	"truc.vn/truc/adapters/restapi/restapitest"
	"truc.vn/truc/bus"
	"truc.vn/truc/edoc"
)

// testAgencies is the directory of the contract test: Vietnamese names
// with every kind of diacritic, a unit under a parent, an inactive one.
var testAgencies = []bus.Agency{
	{OrganID: hanoi, Name: "Ủy ban nhân dân thành phố Hà Nội", Edge: "edge-hn", Active: true},
	{OrganID: hanoiSub, Name: "Văn phòng Ủy ban nhân dân thành phố Hà Nội", Parent: hanoi, Edge: "edge-hn", Active: true},
	{OrganID: bnv, Name: "Bộ Nội vụ", Edge: "edge-bnv", Active: true},
	{OrganID: vpcp, Name: "Văn phòng Chính phủ", Edge: "edge-vpcp", Active: true},
	{OrganID: "000.00.00.H23", Name: "Ủy ban nhân dân tỉnh Hòa Bình", Edge: "edge-hb", Active: true},
	{OrganID: "000.00.00.H15", Name: "Ủy ban nhân dân thành phố Đà Nẵng", Edge: "edge-dn", Active: true},
	{OrganID: "000.00.00.H99", Name: "Sở Đã giải thể", Edge: "edge-dn", Active: false},
}

// contract drives every endpoint of the API, success and the main
// failures, over a Memory backend and a Webhooks double; env.exchange
// validates every request and every answer against openapi.json with a
// JSON Schema 2020-12 validator. Each step also states whether the
// document allows its request, so that the document can be neither
// stricter nor looser than the API without a failure.
type contract struct {
	t    *testing.T
	e    *env
	hook *restapitest.Webhooks
	seen map[string][]int // route pattern → statuses answered
}

// step sends r and requires the status and whether the document allows
// the request.
func (c *contract) step(name string, r req, status int, allowed bool) *http.Response {
	c.t.Helper()
	w, valid := c.e.exchange(r)
	if w.Code != status {
		c.t.Errorf("%s: %s %s answered %d, want %d: %s", name, r.method, r.target, w.Code, status, w.Body)
	}
	if valid != allowed {
		c.t.Errorf("%s: %s %s: the document allows the request: %v, want %v", name, r.method, r.target, valid, allowed)
	}
	hr := &http.Request{Method: r.method, URL: mustURL(r.target)}
	pattern := c.pattern(hr)
	c.seen[pattern] = append(c.seen[pattern], w.Code)
	return w.Result()
}

// pattern finds the route of a request the way the handler does.
func (c *contract) pattern(r *http.Request) string {
	for _, p := range restapi.Routes(c.e.h) {
		method, path, _ := strings.Cut(p, " ")
		if method != r.Method {
			continue
		}
		if matchPath(path, r.URL.Path) {
			return p
		}
	}
	return r.Method + " (none)"
}

func matchPath(pattern, path string) bool {
	pp, sp := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(pp) != len(sp) {
		return false
	}
	for i := range pp {
		if !strings.HasPrefix(pp[i], "{") && pp[i] != sp[i] {
			return false
		}
	}
	return true
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func decodeBody[T any](t *testing.T, r *http.Response) T {
	t.Helper()
	var v T
	if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
		t.Fatalf("decoding the answer: %v", err)
	}
	return v
}

// filePart is one file of a multipart submission.
type filePart struct {
	name        string // the file name
	rfc2231     bool   // send it as filename*=UTF-8''...
	contentType string
	data        []byte
}

// multipartBody builds a multipart/form-data body with a metadata part
// and file parts.
func multipartBody(t testing.TB, metadata string, files ...filePart) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="metadata"`)
	h.Set("Content-Type", "application/json")
	pw, err := mw.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	pw.Write([]byte(metadata))
	for _, f := range files {
		h := textproto.MIMEHeader{}
		if f.rfc2231 {
			h.Set("Content-Disposition", `form-data; name="file"; filename*=UTF-8''`+url.PathEscape(f.name))
		} else {
			h.Set("Content-Disposition", `form-data; name="file"; filename="`+f.name+`"`)
		}
		if f.contentType != "" {
			h.Set("Content-Type", f.contentType)
		}
		pw, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		pw.Write(f.data)
	}
	mw.Close()
	return buf.Bytes(), mw.FormDataContentType()
}

const metadataJSON = `{
	"from": "000.00.00.H26",
	"to": ["000.00.00.G09", "000.00.00.G22"],
	"code": {"number": "1234", "notation": "UBND-VP"},
	"subject": "Về việc triển khai trục liên thông văn bản",
	"content": "Đề nghị các cơ quan phối hợp.",
	"type_name": "Công văn",
	"promulgation": {"place": "Hà Nội", "date": "2026-01-15"},
	"signer": {"competence": "TM. ỦY BAN NHÂN DÂN", "position": "Chủ tịch", "full_name": "Nguyễn Văn A"},
	"due_date": "2026-02-01",
	"priority": "1",
	"steering_type": "1",
	"to_places": ["Như trên", "Lưu: VT"]
}`

func TestContract(t *testing.T) {
	hook := &restapitest.Webhooks{}
	e := newEnv(t, restapi.WithWebhooks(hook), restapi.WithMetrics(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		w.Write([]byte("truc_up 1\n"))
	})))
	e.mem.SetAgencies(testAgencies...)
	c := &contract{t: t, e: e, hook: hook, seen: map[string][]int{}}
	xml := []string{"Content-Type", "application/xml"}
	js := []string{"Content-Type", "application/json"}

	// Operations, public.
	c.step("health", req{method: "GET", target: "/healthz"}, 200, true)
	c.step("ready", req{method: "GET", target: "/readyz"}, 200, true)
	c.step("metrics", req{method: "GET", target: "/metrics"}, 200, true)
	c.step("openapi", req{method: "GET", target: "/v1/openapi.json"}, 200, true)
	e.mem.SetReady(fmt.Errorf("broker down"))
	c.step("not ready", req{method: "GET", target: "/readyz"}, 503, true)
	e.mem.SetReady(nil)

	// Sending a package as is.
	pkg := restapitest.NewDocument(t, hanoi, bnv, vpcp)
	r := c.step("submit package", req{method: "POST", target: "/v1/documents", token: tokHanoi, body: pkg,
		headers: append(xml, "Idempotency-Key", "pkg-1")}, 202, true)
	sent := decodeBody[restapi.Submitted](t, r)
	r = c.step("submit package again", req{method: "POST", target: "/v1/documents", token: tokHanoi, body: pkg,
		headers: append(xml, "Idempotency-Key", "pkg-1")}, 202, true)
	if again := decodeBody[restapi.Submitted](t, r); again.ID != sent.ID || !again.Replayed {
		t.Errorf("replay: %+v, first %+v", again, sent)
	}
	c.step("submit other bytes with the key", req{method: "POST", target: "/v1/documents", token: tokHanoi,
		body: restapitest.NewDocument(t, hanoi, bnv), headers: append(xml, "Idempotency-Key", "pkg-1")}, 409, true)
	c.step("submit as another agency", req{method: "POST", target: "/v1/documents", token: tokHanoi,
		body: restapitest.NewDocument(t, bnv, hanoi), headers: xml}, 422, true)
	c.step("submit empty", req{method: "POST", target: "/v1/documents", token: tokHanoi, body: []byte{}, headers: xml}, 400, false)
	c.step("submit text/plain", req{method: "POST", target: "/v1/documents", token: tokHanoi, body: pkg,
		headers: []string{"Content-Type", "text/plain"}}, 415, false)
	c.step("submit without a token", req{method: "POST", target: "/v1/documents", body: pkg, headers: xml}, 401, true)
	c.step("submit with a bad Idempotency-Key", req{method: "POST", target: "/v1/documents", token: tokHanoi, body: pkg,
		headers: append(xml, "Idempotency-Key", "é")}, 400, false)

	// Building from JSON metadata.
	r = c.step("build from JSON", req{method: "POST", target: "/v1/documents", token: tokHanoi, body: []byte(metadataJSON), headers: js}, 202, true)
	builtJSON := decodeBody[restapi.Submitted](t, r)
	c.step("build: subject missing", req{method: "POST", target: "/v1/documents", token: tokHanoi,
		body: []byte(strings.Replace(metadataJSON, `"subject": "Về việc triển khai trục liên thông văn bản",`, "", 1)), headers: js}, 422, false)
	c.step("build: unknown nested member", req{method: "POST", target: "/v1/documents", token: tokHanoi,
		body: []byte(strings.Replace(metadataJSON, `"notation": "UBND-VP"`, `"notation": "UBND-VP", "year": 2026`, 1)), headers: js}, 400, false)
	c.step("build: bad date", req{method: "POST", target: "/v1/documents", token: tokHanoi,
		body: []byte(strings.Replace(metadataJSON, `"2026-01-15"`, `"15/01/2026"`, 1)), headers: js}, 422, false)
	c.step("build: sender not the token's", req{method: "POST", target: "/v1/documents", token: tokBNV, body: []byte(metadataJSON), headers: js}, 422, true)
	c.step("build: a recipient twice", req{method: "POST", target: "/v1/documents", token: tokHanoi,
		body: []byte(strings.Replace(metadataJSON, `"000.00.00.G22"]`, `"000.00.00.G09"]`, 1)), headers: js}, 422, true)

	// Building from multipart metadata and files.
	pdf := []byte("%PDF-1.4\n% công văn\n%%EOF\n")
	docx := bytes.Repeat([]byte("PK\x03\x04 phụ lục "), 100)
	files := []filePart{
		{name: "Công văn 1234.pdf", rfc2231: true, contentType: "application/pdf", data: pdf},
		{name: "Phụ lục ĐÍNH KÈM.docx", contentType: "application/vnd.openxmlformats-officedocument.wordprocessingml.document", data: docx},
	}
	mp, mpType := multipartBody(t, metadataJSON, files...)
	mpReq := req{method: "POST", target: "/v1/documents", token: tokHanoi, body: mp, headers: []string{"Content-Type", mpType, "Idempotency-Key", "mp-1"}}
	r = c.step("build from multipart", mpReq, 202, true)
	built := decodeBody[restapi.Submitted](t, r)
	r = c.step("build from multipart again", mpReq, 202, true)
	if again := decodeBody[restapi.Submitted](t, r); again.ID != built.ID || !again.Replayed {
		t.Errorf("multipart replay: %+v, first %+v", again, built)
	}
	other, otherType := multipartBody(t, metadataJSON, files[0])
	c.step("build: the key with other files", req{method: "POST", target: "/v1/documents", token: tokHanoi, body: other,
		headers: []string{"Content-Type", otherType, "Idempotency-Key", "mp-1"}}, 409, true)
	noName, noNameType := multipartBody(t, metadataJSON, filePart{data: pdf})
	c.step("build: a file without a name", req{method: "POST", target: "/v1/documents", token: tokHanoi, body: noName,
		headers: []string{"Content-Type", noNameType}}, 422, true)
	empty, emptyType := multipartBody(t, metadataJSON, filePart{name: "rỗng.txt", data: nil})
	c.step("build: an empty file", req{method: "POST", target: "/v1/documents", token: tokHanoi, body: empty,
		headers: []string{"Content-Type", emptyType}}, 422, true)

	// The sent documents: list, one, package, attachments.
	if err := e.mem.AddEvent(sent.ID, bus.TimelineEvent{Kind: bus.TimelineAccepted, Receipt: []byte("receipt bytes")}); err != nil {
		t.Fatal(err)
	}
	for _, ev := range []bus.TimelineEvent{
		{Kind: bus.TimelineDelivered, Recipients: []string{bnv}, Edge: "edge-bnv"},
		{Kind: bus.TimelineStatus, Recipients: []string{bnv}, StatusCode: "01", MessageID: "m-01"},
		{Kind: bus.TimelineStatus, Recipients: []string{bnv}, StatusCode: "06", MessageID: "m-06"},
		{Kind: bus.TimelineRefused, Recipients: []string{vpcp}, Edge: "edge-vpcp", Reason: "signature-invalid"},
	} {
		if err := e.mem.AddEvent(sent.ID, ev); err != nil {
			t.Fatal(err)
		}
	}
	r = c.step("list documents", req{method: "GET", target: "/v1/documents", token: tokHanoi}, 200, true)
	page := decodeBody[restapi.DocumentPage](t, r)
	if ids := summaryIDs(page); !slices.Equal(ids, []string{built.ID, builtJSON.ID, sent.ID}) || page.Next != 0 {
		t.Errorf("list: %v next %d, want %v then nothing", ids, page.Next, []string{built.ID, builtJSON.ID, sent.ID})
	}
	r = c.step("list: first page", req{method: "GET", target: "/v1/documents?limit=2", token: tokHanoi}, 200, true)
	first := decodeBody[restapi.DocumentPage](t, r)
	r = c.step("list: next page", req{method: "GET", target: fmt.Sprintf("/v1/documents?limit=2&before=%d", first.Next), token: tokHanoi}, 200, true)
	if second := decodeBody[restapi.DocumentPage](t, r); len(first.Documents) != 2 || !slices.Equal(summaryIDs(second), []string{sent.ID}) {
		t.Errorf("pages: %v then %v", summaryIDs(first), summaryIDs(second))
	}
	r = c.step("list: final ones", req{method: "GET", target: "/v1/documents?recipient=" + vpcp + "&type=document&since=2000-01-01T00:00:00Z", token: tokHanoi}, 200, true)
	if p := decodeBody[restapi.DocumentPage](t, r); len(p.Documents) != 3 || !p.Documents[2].Final || p.Documents[0].Final {
		t.Errorf("recipient filter: %+v", p.Documents)
	}
	docKey := url.QueryEscape(mustDocumentID(t, pkg))
	r = c.step("list: by document_id", req{method: "GET", target: "/v1/documents?document_id=" + docKey + "&sender=" + hanoi, token: tokHanoi}, 200, true)
	if p := decodeBody[restapi.DocumentPage](t, r); !slices.Equal(summaryIDs(p), []string{sent.ID}) {
		t.Errorf("document_id filter: %v", summaryIDs(p))
	}
	c.step("list: document_id without its issuer", req{method: "GET", target: "/v1/documents?document_id=x", token: tokHanoi}, 400, true)
	c.step("list: the other DMS sees none of them", req{method: "GET", target: "/v1/documents", token: tokBNV}, 200, true)
	c.step("list: a sender the token does not act for", req{method: "GET", target: "/v1/documents?sender=" + bnv, token: tokHanoi}, 400, true)
	c.step("list: limit 0", req{method: "GET", target: "/v1/documents?limit=0", token: tokHanoi}, 400, false)
	c.step("list: unknown parameter", req{method: "GET", target: "/v1/documents?page=2", token: tokHanoi}, 400, false)
	c.step("list: bad type", req{method: "GET", target: "/v1/documents?type=letter", token: tokHanoi}, 400, false)
	c.step("list: bad since", req{method: "GET", target: "/v1/documents?since=yesterday", token: tokHanoi}, 400, false)

	r = c.step("document", req{method: "GET", target: "/v1/documents/" + sent.ID, token: tokHanoi}, 200, true)
	doc := decodeBody[restapi.Document](t, r)
	wantStates := map[string]struct {
		state, status string
		final         bool
	}{bnv: {restapi.StateStatus, "06", true}, vpcp: {restapi.StateRefused, "", true}}
	for _, rt := range doc.Timeline {
		w := wantStates[rt.OrganID]
		if rt.State != w.state || rt.Status != w.status || rt.Final != w.final || rt.AcceptedAt.IsZero() {
			t.Errorf("timeline of %s: %+v, want %+v", rt.OrganID, rt.RecipientState, w)
		}
	}
	if !doc.Final || len(doc.Receipts) != 1 || len(doc.Timeline[0].Statuses) != 2 {
		t.Errorf("document: final %v, %d receipts, statuses %+v", doc.Final, len(doc.Receipts), doc.Timeline[0].Statuses)
	}
	c.step("document of another DMS", req{method: "GET", target: "/v1/documents/" + sent.ID, token: tokBNV}, 404, true)
	c.step("document with a bad id", req{method: "GET", target: "/v1/documents/-x", token: tokHanoi}, 400, false)

	r = c.step("document package", req{method: "GET", target: "/v1/documents/" + built.ID + "/package", token: tokHanoi}, 200, true)
	etag := r.Header.Get("ETag")
	builtPkg := readAll(t, r)
	c.step("document package not modified", req{method: "GET", target: "/v1/documents/" + built.ID + "/package", token: tokHanoi,
		headers: []string{"If-None-Match", etag}}, 304, true)
	c.step("document package of another DMS", req{method: "GET", target: "/v1/documents/" + built.ID + "/package", token: tokBNV}, 404, true)
	checkBuilt(t, builtPkg, files)

	r = c.step("document attachments", req{method: "GET", target: "/v1/documents/" + built.ID + "/attachments", token: tokHanoi}, 200, true)
	list := decodeBody[restapi.AttachmentList](t, r)
	if len(list.Attachments) != 2 || list.Attachments[0].Name != files[0].name || list.Attachments[1].Size != int64(len(docx)) || !list.Attachments[1].ZIP {
		t.Errorf("attachments: %+v", list.Attachments)
	}
	c.step("document attachments of another DMS", req{method: "GET", target: "/v1/documents/" + built.ID + "/attachments", token: tokBNV}, 404, true)
	r = c.step("document attachment", req{method: "GET", target: "/v1/documents/" + built.ID + "/attachments/1", token: tokHanoi}, 200, true)
	if got := readAll(t, r); !bytes.Equal(got, pdf) || r.Header.Get("Content-Type") != "application/pdf" {
		t.Errorf("attachment 1: %q as %s", got, r.Header.Get("Content-Type"))
	}
	if cd := r.Header.Get("Content-Disposition"); cd != `attachment; filename="Cong van 1234.pdf"; filename*=UTF-8''C%C3%B4ng%20v%C4%83n%201234.pdf` {
		t.Errorf("Content-Disposition %s", cd)
	}
	c.step("document attachment out of range", req{method: "GET", target: "/v1/documents/" + built.ID + "/attachments/3", token: tokHanoi}, 404, true)
	c.step("document attachment 0", req{method: "GET", target: "/v1/documents/" + built.ID + "/attachments/0", token: tokHanoi}, 400, false)
	c.step("document attachment not a number", req{method: "GET", target: "/v1/documents/" + built.ID + "/attachments/first", token: tokHanoi}, 400, false)

	// Recall.
	c.step("recall before the axis accepted it", req{method: "POST", target: "/v1/documents/" + builtJSON.ID + "/recall", token: tokHanoi}, 422, true)
	recall := req{method: "POST", target: "/v1/documents/" + sent.ID + "/recall", token: tokHanoi,
		body: []byte(`{"description":"Gửi nhầm","staff":"Văn thư"}`), headers: append(js, "Idempotency-Key", "recall-1")}
	r = c.step("recall", recall, 202, true)
	rec := decodeBody[restapi.Submitted](t, r)
	r = c.step("recall again", recall, 202, true)
	if again := decodeBody[restapi.Submitted](t, r); again.ID != rec.ID || !again.Replayed {
		t.Errorf("recall replay %+v, first %+v", again, rec)
	}
	recall.body = []byte(`{"description":"Lý do khác"}`)
	c.step("recall: the key with other text", recall, 409, true)
	c.step("recall a status", req{method: "POST", target: "/v1/documents/" + rec.ID + "/recall", token: tokHanoi}, 422, true)
	c.step("recall: unknown member", req{method: "POST", target: "/v1/documents/" + sent.ID + "/recall", token: tokHanoi,
		body: []byte(`{"reason":"x"}`), headers: js}, 400, false)
	c.step("recall a document of another DMS", req{method: "POST", target: "/v1/documents/" + sent.ID + "/recall", token: tokBNV}, 404, true)
	r = c.step("the recall's record", req{method: "GET", target: "/v1/documents/" + rec.ID, token: tokHanoi}, 200, true)
	if d := decodeBody[restapi.Document](t, r); d.Status != "13" || !slices.Equal(d.Recipients, []string{bnv, vpcp}) {
		t.Errorf("recall: status %q to %v", d.Status, d.Recipients)
	}

	// The inbox.
	in := e.deliver(restapitest.NewDocument(t, vpcp, hanoi, hanoiSub, bnv), hanoi, hanoiSub, bnv)
	theirs := e.deliver(restapitest.NewDocument(t, vpcp, bnv), bnv)
	r = c.step("inbox", req{method: "GET", target: "/v1/inbox?limit=10", token: tokHanoi}, 200, true)
	if p := decodeBody[restapi.InboxPage](t, r); len(p.Items) != 1 || p.Items[0].ID != in.ID || len(p.Items[0].Deliveries) != 0 {
		t.Errorf("inbox: %+v", p)
	}
	c.step("inbox long poll, nothing new", req{method: "GET", target: fmt.Sprintf("/v1/inbox?after=%d&wait=0", theirs.Seq), token: tokHanoi}, 200, true)
	c.step("inbox: bad cursor", req{method: "GET", target: "/v1/inbox?after=-1", token: tokHanoi}, 400, false)
	r = c.step("inbox item", req{method: "GET", target: "/v1/inbox/" + in.ID, token: tokHanoi}, 200, true)
	itemETag := r.Header.Get("ETag")
	r = c.step("inbox package", req{method: "GET", target: "/v1/inbox/" + in.ID + "/package", token: tokHanoi}, 200, true)
	if sum := sha256.Sum256(readAll(t, r)); hex.EncodeToString(sum[:]) != r.Header.Get("X-Truc-Sha256") || `"`+hex.EncodeToString(sum[:])+`"` != itemETag {
		t.Error("inbox package: SHA-256 and ETag disagree with the bytes")
	}
	c.step("inbox package not modified", req{method: "GET", target: "/v1/inbox/" + in.ID + "/package", token: tokHanoi,
		headers: []string{"If-None-Match", itemETag}}, 304, true)
	c.step("inbox package of another agency", req{method: "GET", target: "/v1/inbox/" + theirs.ID + "/package", token: tokHanoi}, 404, true)
	c.step("inbox item with a bad id", req{method: "GET", target: "/v1/inbox/in-XYZ", token: tokHanoi}, 400, false)
	c.step("inbox attachments", req{method: "GET", target: "/v1/inbox/" + in.ID + "/attachments", token: tokHanoi}, 200, true)
	r = c.step("inbox attachment", req{method: "GET", target: "/v1/inbox/" + in.ID + "/attachments/1", token: tokHanoi}, 200, true)
	if !strings.HasPrefix(string(readAll(t, r)), "%PDF-1.4") {
		t.Error("inbox attachment: not the PDF")
	}
	c.step("inbox attachments of another agency", req{method: "GET", target: "/v1/inbox/" + theirs.ID + "/attachments", token: tokHanoi}, 404, true)
	c.step("inbox attachment out of range", req{method: "GET", target: "/v1/inbox/" + in.ID + "/attachments/2", token: tokHanoi}, 404, true)

	r = c.step("ack", req{method: "POST", target: "/v1/inbox/" + in.ID + "/ack", token: tokHanoi}, 200, true)
	if it := decodeBody[restapi.Item](t, r); len(it.Deliveries) != 2 || it.Deliveries[0].OrganID != hanoi || it.Deliveries[1].Status01 == "" || it.TakenAt.IsZero() {
		t.Errorf("ack: deliveries %+v", it.Deliveries)
	}
	r = c.step("ack by the other DMS", req{method: "POST", target: "/v1/inbox/" + in.ID + "/ack", token: tokBNV}, 200, true)
	if it := decodeBody[restapi.Item](t, r); len(it.Deliveries) != 1 || it.Deliveries[0].OrganID != bnv {
		t.Errorf("the other DMS's ack shows %+v", it.Deliveries)
	}
	c.step("ack of another agency's item", req{method: "POST", target: "/v1/inbox/" + theirs.ID + "/ack", token: tokHanoi}, 404, true)
	c.step("ack with a member", req{method: "POST", target: "/v1/inbox/" + in.ID + "/ack", token: tokHanoi, body: []byte(`{"ack":"done"}`), headers: js}, 400, false)

	c.step("status", req{method: "POST", target: "/v1/inbox/" + in.ID + "/status", token: tokHanoi, body: statusBody("03"), headers: js}, 202, true)
	c.step("status 01 again", req{method: "POST", target: "/v1/inbox/" + in.ID + "/status", token: tokHanoi, body: statusBody("01"), headers: js}, 409, true)
	c.step("status 13 from a recipient", req{method: "POST", target: "/v1/inbox/" + in.ID + "/status", token: tokHanoi, body: statusBody("13"), headers: js}, 422, false)
	c.step("status without code", req{method: "POST", target: "/v1/inbox/" + in.ID + "/status", token: tokHanoi, body: []byte(`{}`), headers: js}, 422, false)
	c.step("status about another agency's item", req{method: "POST", target: "/v1/inbox/" + theirs.ID + "/status", token: tokHanoi, body: statusBody("03"), headers: js}, 404, true)

	// The directory.
	r = c.step("directory: accents", req{method: "GET", target: "/v1/directory/agencies?q=" + url.QueryEscape("hoa binh"), token: tokHanoi}, 200, true)
	if p := decodeBody[restapi.AgencyPage](t, r); len(p.Agencies) != 1 || p.Agencies[0].OrganID != "000.00.00.H23" {
		t.Errorf("hoa binh: %+v", p)
	}
	r = c.step("directory: no match", req{method: "GET", target: "/v1/directory/agencies?q=ubnd", token: tokHanoi}, 200, true)
	if p := decodeBody[restapi.AgencyPage](t, r); len(p.Agencies) != 0 || p.Next != "" {
		t.Errorf("ubnd is in no name: %+v", p)
	}
	r = c.step("directory: first page", req{method: "GET", target: "/v1/directory/agencies?q=" + url.QueryEscape("Ủy ban") + "&limit=2", token: tokHanoi}, 200, true)
	p1 := decodeBody[restapi.AgencyPage](t, r)
	r = c.step("directory: next page", req{method: "GET", target: "/v1/directory/agencies?q=" + url.QueryEscape("uy ban") + "&limit=2&cursor=" + p1.Next, token: tokHanoi}, 200, true)
	p2 := decodeBody[restapi.AgencyPage](t, r)
	if len(p1.Agencies) != 2 || p1.Next == "" || len(p2.Agencies) != 2 || p2.Next != "" {
		t.Errorf("pages: %+v then %+v", p1, p2)
	}
	c.step("directory: limit too large", req{method: "GET", target: "/v1/directory/agencies?limit=5000", token: tokHanoi}, 400, false)
	c.step("directory: bad all", req{method: "GET", target: "/v1/directory/agencies?all=yes", token: tokHanoi}, 400, false)
	c.step("directory: bad cursor", req{method: "GET", target: "/v1/directory/agencies?cursor=a..b", token: tokHanoi}, 400, false)

	// Webhook administration.
	failed := hook.Add(in.ID, "https://dms.hanoi.example/hook", []string{hanoi}, restapi.WebhookFailed, 8, "HTTP 503")
	done := hook.Add(in.ID, "https://dms.hanoi.example/hook", []string{hanoi}, restapi.WebhookDelivered, 1, "")
	foreign := hook.Add(theirs.ID, "https://dms.bnv.example/hook", []string{bnv}, restapi.WebhookFailed, 8, "timeout")
	r = c.step("webhooks: failed", req{method: "GET", target: "/v1/webhooks/deliveries?state=failed", token: tokHanoi}, 200, true)
	if p := decodeBody[restapi.WebhookPage](t, r); len(p.Deliveries) != 1 || p.Deliveries[0].ID != failed.ID {
		t.Errorf("failed deliveries: %+v", p)
	}
	c.step("webhooks: bad state", req{method: "GET", target: "/v1/webhooks/deliveries?state=lost", token: tokHanoi}, 400, false)
	r = c.step("webhooks: retry", req{method: "POST", target: "/v1/webhooks/deliveries/" + failed.ID + "/retry", token: tokHanoi}, 202, true)
	if d := decodeBody[restapi.WebhookDelivery](t, r); d.State != restapi.WebhookPending || d.ID != failed.ID {
		t.Errorf("retried: %+v", d)
	}
	c.step("webhooks: retry a delivered one", req{method: "POST", target: "/v1/webhooks/deliveries/" + done.ID + "/retry", token: tokHanoi}, 409, true)
	c.step("webhooks: retry another agency's", req{method: "POST", target: "/v1/webhooks/deliveries/" + foreign.ID + "/retry", token: tokHanoi}, 404, true)
	c.step("webhooks: retry a bad id", req{method: "POST", target: "/v1/webhooks/deliveries/-/retry", token: tokHanoi}, 400, false)

	// Every authenticated route refuses a missing token.
	for _, pattern := range restapi.Routes(e.h) {
		method, path, _ := strings.Cut(pattern, " ")
		if slices.Contains([]string{"/healthz", "/readyz", "/metrics", "/v1/openapi.json"}, path) {
			continue
		}
		target := strings.NewReplacer("{id}", "msg-000001", "{n}", "1").Replace(path)
		if strings.HasPrefix(path, "/v1/inbox/") {
			target = strings.NewReplacer("{id}", in.ID, "{n}", "1").Replace(path)
		}
		noToken := req{method: method, target: target}
		switch pattern {
		case "POST /v1/documents":
			noToken.body, noToken.headers = pkg, xml
		case "POST /v1/inbox/{id}/status":
			noToken.body, noToken.headers = statusBody("03"), js
		}
		c.step(pattern+" without a token", noToken, 401, true)
	}
	// Routes and methods the document does not have.
	c.step("unknown path", req{method: "GET", target: "/v1/letters", token: tokHanoi}, 404, false)
	c.step("method not allowed", req{method: "DELETE", target: "/v1/documents/" + sent.ID, token: tokHanoi}, 405, false)

	// Every operation was driven to a success and, if authenticated, to
	// a refusal other than 401.
	for _, pattern := range restapi.Routes(e.h) {
		statuses := c.seen[pattern]
		ok := slices.ContainsFunc(statuses, func(s int) bool { return s < 300 })
		refused := slices.ContainsFunc(statuses, func(s int) bool { return s >= 400 && s != 401 })
		public := slices.Contains([]string{"GET /healthz", "GET /readyz", "GET /metrics", "GET /v1/openapi.json"}, pattern)
		if !ok || (!public && !refused) {
			t.Errorf("%s: the contract test drove it to %v: it needs a success and a refusal", pattern, statuses)
		}
	}
}

// TestContractWithoutWebhooks checks the webhook routes of an edge that
// pushes none.
func TestContractWithoutWebhooks(t *testing.T) {
	e := newEnv(t)
	for _, r := range []req{
		{method: "GET", target: "/v1/webhooks/deliveries", token: tokHanoi},
		{method: "POST", target: "/v1/webhooks/deliveries/whd-1/retry", token: tokHanoi},
	} {
		w := e.do(r)
		p := wantProblem(t, w, 404, restapi.ReasonNoWebhooks, "")
		if !strings.Contains(p.Detail, "no webhooks") {
			t.Errorf("detail %q", p.Detail)
		}
	}
}

func summaryIDs(p restapi.DocumentPage) []string {
	var ids []string
	for _, d := range p.Documents {
		ids = append(ids, d.ID)
	}
	return ids
}

func readAll(t *testing.T, r *http.Response) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r.Body); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func mustDocumentID(t *testing.T, pkg []byte) string {
	t.Helper()
	p, err := edoc.Parse(pkg, edoc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return p.Header.DocumentID
}

// checkBuilt checks a package built from metadataJSON and files: what
// the metadata says is in it, with names from the directory, and the
// files as its attachments, in order, byte for byte.
func checkBuilt(t *testing.T, pkg []byte, files []filePart) {
	t.Helper()
	p, err := edoc.Parse(pkg, edoc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	h := p.Header
	checks := []struct{ name, got, want string }{
		{"from", h.From.OrganID, hanoi},
		{"from name", h.From.OrganName, "Ủy ban nhân dân thành phố Hà Nội"},
		{"to[1] name", h.To[1].OrganName, "Văn phòng Chính phủ"},
		{"document id", h.DocumentID, "000.00.00.H26,2026/01/15,1234/UBND-VP"},
		{"code", h.Code.String(), "1234/UBND-VP"},
		{"subject", h.Subject, "Về việc triển khai trục liên thông văn bản"},
		{"date", h.Promulgation.Date.Raw, "2026/01/15"},
		{"due date", h.DueDate.Raw, "2026/02/01"},
		{"priority", string(h.OtherInfo.Priority), "1"},
		{"steering", h.SteeringType, "1"},
		{"signer", h.Signer.FullName, "Nguyễn Văn A"},
		{"type name", h.DocumentType.TypeName, "Công văn"},
		{"trace", p.Trace.Headers[0].Timestamp.Raw, "2026/01/15 00:00:00"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("built %s: %q, want %q", c.name, c.got, c.want)
		}
	}
	if len(p.Attachments) != len(files) {
		t.Fatalf("%d attachments, want %d", len(p.Attachments), len(files))
	}
	for i, a := range p.Attachments {
		rc, err := a.Open()
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		got.ReadFrom(rc)
		rc.Close()
		if a.Name != files[i].name || a.ContentType != files[i].contentType || !bytes.Equal(got.Bytes(), files[i].data) {
			t.Errorf("attachment %d: %q %q %d bytes", i+1, a.Name, a.ContentType, got.Len())
		}
	}
	for _, pr := range p.Validate() {
		if pr.Severity == edoc.Error {
			t.Errorf("built package: %v", pr)
		}
	}
}
