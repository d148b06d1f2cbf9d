package restapi_test

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"

	"truc.vn/truc/adapters/restapi"
	"truc.vn/truc/edoc"
)

// withMember returns metadataJSON with member (a top-level name) set to
// value (JSON text), or removed when value is "".
func withMember(t *testing.T, member, value string) []byte {
	t.Helper()
	var buf bytes.Buffer
	buf.WriteString("{")
	first := true
	found := false
	for _, line := range strings.Split(strings.TrimSpace(metadataJSON), "\n") {
		line = strings.TrimSuffix(strings.TrimSpace(line), ",")
		if line == "{" || line == "}" {
			continue
		}
		name := strings.Trim(line[:strings.Index(line, ":")], `"`)
		if name == member {
			found = true
			if value == "" {
				continue
			}
			line = fmt.Sprintf("%q: %s", member, value)
		}
		if !first {
			buf.WriteString(",")
		}
		first = false
		buf.WriteString(line)
	}
	if !found && value != "" {
		fmt.Fprintf(&buf, ",%q: %s", member, value)
	}
	buf.WriteString("}")
	return buf.Bytes()
}

func TestBuildRefused(t *testing.T) {
	e := newEnv(t)
	e.mem.SetAgencies(testAgencies...)
	tests := []struct {
		name          string
		member, value string
		status        int
		reason, field string
	}{
		{"from missing", "from", "", 422, restapi.ReasonRequired, "from"},
		{"from not an OrganId", "from", `"H26 Hà Nội"`, 422, restapi.ReasonInvalid, "from"},
		{"from of another DMS", "from", `"000.00.00.G09"`, 422, restapi.ReasonInvalid, "from"},
		{"to missing", "to", "", 422, restapi.ReasonRequired, "to"},
		{"to empty", "to", `[]`, 422, restapi.ReasonRequired, "to"},
		{"to not an OrganId", "to", `["000.00.00.G09", "x y"]`, 422, restapi.ReasonInvalid, "to[1]"},
		{"to twice", "to", `["000.00.00.G09", " 000.00.00.G09 "]`, 422, restapi.ReasonInvalid, "to[1]"},
		{"to not a list", "to", `"000.00.00.G09"`, 400, restapi.ReasonBadJSON, "to"},
		{"to with a number", "to", `["000.00.00.G09", 7]`, 400, restapi.ReasonBadJSON, "to[1]"},
		{"code number missing", "code", `{"notation": "UBND"}`, 422, restapi.ReasonRequired, "code.number"},
		{"code number too long", "code", `{"number": "123456789012", "notation": "UBND"}`, 422, restapi.ReasonInvalid, "code.number"},
		{"code notation with a control character", "code", `{"number": "1", "notation": "UB\u0007ND"}`, 422, restapi.ReasonInvalid, "code.notation"},
		{"code unknown member", "code", `{"number": "1", "notation": "UBND", "year": "2026"}`, 400, restapi.ReasonUnknownField, "code.year"},
		{"code member twice", "code", `{"number": "1", "number": "2", "notation": "UBND"}`, 400, restapi.ReasonDuplicateField, "code.number"},
		{"code member in another case", "code", `{"Number": "1", "notation": "UBND"}`, 400, restapi.ReasonUnknownField, "code.Number"},
		{"code null", "code", `null`, 400, restapi.ReasonBadJSON, "code"},
		{"subject empty", "subject", `"   "`, 422, restapi.ReasonRequired, "subject"},
		{"subject too long", "subject", `"` + strings.Repeat("ệ", 501) + `"`, 422, restapi.ReasonInvalid, "subject"},
		{"subject a number", "subject", `42`, 400, restapi.ReasonBadJSON, "subject"},
		{"content too long", "content", `"` + strings.Repeat("a", 501) + `"`, 422, restapi.ReasonInvalid, "content"},
		{"type name too long", "type_name", `"` + strings.Repeat("a", 101) + `"`, 422, restapi.ReasonInvalid, "type_name"},
		{"document id too long", "document_id", `"` + strings.Repeat("a", 201) + `"`, 422, restapi.ReasonInvalid, "document_id"},
		{"promulgation date missing", "promulgation", `{"place": "Hà Nội"}`, 422, restapi.ReasonRequired, "promulgation.date"},
		{"promulgation date not a day", "promulgation", `{"date": "2026-02-30"}`, 422, restapi.ReasonInvalid, "promulgation.date"},
		{"promulgation place too long", "promulgation", `{"date": "2026-01-15", "place": "` + strings.Repeat("a", 51) + `"}`, 422, restapi.ReasonInvalid, "promulgation.place"},
		{"signer name too long", "signer", `{"full_name": "` + strings.Repeat("a", 201) + `"}`, 422, restapi.ReasonInvalid, "signer.full_name"},
		{"due date in another form", "due_date", `"2026/02/01"`, 422, restapi.ReasonInvalid, "due_date"},
		{"priority unknown", "priority", `"9"`, 422, restapi.ReasonInvalid, "priority"},
		{"priority a number", "priority", `1`, 400, restapi.ReasonBadJSON, "priority"},
		{"steering type unknown", "steering_type", `"3"`, 422, restapi.ReasonInvalid, "steering_type"},
		{"place empty", "to_places", `["Như trên", ""]`, 422, restapi.ReasonRequired, "to_places[1]"},
		{"place too long", "to_places", `["` + strings.Repeat("a", 151) + `"]`, 422, restapi.ReasonInvalid, "to_places[0]"},
		{"unknown member", "attachments", `[]`, 400, restapi.ReasonUnknownField, "attachments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.mem.Sent())
			w := e.do(req{method: "POST", target: "/v1/documents", token: tokHanoi, body: withMember(t, tt.member, tt.value), headers: jsonHeaders()})
			wantProblem(t, w, tt.status, tt.reason, tt.field)
			if len(e.mem.Sent()) != before {
				t.Error("a refused request queued something")
			}
		})
	}
	t.Run("not an object", func(t *testing.T) {
		w := e.do(req{method: "POST", target: "/v1/documents", token: tokHanoi, body: []byte(`["x"]`), headers: jsonHeaders()})
		wantProblem(t, w, 400, restapi.ReasonBadJSON, "body")
	})
	t.Run("data after the object", func(t *testing.T) {
		w := e.do(req{method: "POST", target: "/v1/documents", token: tokHanoi, body: append([]byte(metadataJSON), " {}"...), headers: jsonHeaders()})
		wantProblem(t, w, 400, restapi.ReasonBadJSON, "body")
	})
}

func TestBuildMultipartRefused(t *testing.T) {
	e := newEnv(t)
	pdf := filePart{name: "a.pdf", contentType: "application/pdf", data: []byte("%PDF-1.4")}
	part := func(disposition, ctype, body string) string {
		s := "--B\r\nContent-Disposition: " + disposition + "\r\n"
		if ctype != "" {
			s += "Content-Type: " + ctype + "\r\n"
		}
		return s + "\r\n" + body + "\r\n"
	}
	meta := part(`form-data; name="metadata"`, "application/json", metadataJSON)
	file := part(`form-data; name="file"; filename="a.pdf"`, "application/pdf", "%PDF-1.4")
	many := make([]filePart, restapi.MaxAttachments+1)
	for i := range many {
		many[i] = pdf
	}
	tooMany, tooManyType := multipartBody(t, metadataJSON, many...)
	tests := []struct {
		name          string
		body          string
		ctype         string
		status        int
		reason, field string
	}{
		{"no metadata", file + "--B--\r\n", "", 422, restapi.ReasonRequired, "metadata"},
		{"metadata twice", meta + meta + "--B--\r\n", "", 400, restapi.ReasonDuplicateField, "metadata"},
		{"metadata as text", part(`form-data; name="metadata"`, "text/plain", metadataJSON) + "--B--\r\n", "", 415, restapi.ReasonMediaType, "metadata"},
		{"metadata not JSON", part(`form-data; name="metadata"`, "", "{") + "--B--\r\n", "", 400, restapi.ReasonBadJSON, "metadata"},
		{"unknown part", meta + part(`form-data; name="attachment"; filename="a.pdf"`, "", "x") + "--B--\r\n", "", 400, restapi.ReasonUnknownField, "attachment"},
		{"file without a name", meta + part(`form-data; name="file"`, "", "x") + "--B--\r\n", "", 422, restapi.ReasonRequired, "file[0]"},
		{"file name with a control character", meta + part("form-data; name=\"file\"; filename*=UTF-8''a%07b.pdf", "", "x") + "--B--\r\n", "", 422, restapi.ReasonInvalid, "file[0]"},
		{"file with a bad type", meta + part(`form-data; name="file"; filename="a.pdf"`, "pdf", "x") + "--B--\r\n", "", 422, restapi.ReasonInvalid, "file[0]"},
		{"empty file", meta + file + part(`form-data; name="file"; filename="b.pdf"`, "", "") + "--B--\r\n", "", 422, restapi.ReasonInvalid, "file[1]"},
		{"truncated", meta + "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n\r\nabc", "", 400, restapi.ReasonBadParameter, "body"},
		{"no closing delimiter", meta + "--B", "", 400, restapi.ReasonBadParameter, "body"},
		{"too many files", string(tooMany), tooManyType, 422, restapi.ReasonInvalid, fmt.Sprintf("file[%d]", restapi.MaxAttachments)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctype := tt.ctype
			if ctype == "" {
				ctype = "multipart/form-data; boundary=B"
			}
			w := e.do(req{method: "POST", target: "/v1/documents", token: tokHanoi, body: []byte(tt.body), headers: []string{"Content-Type", ctype}})
			wantProblem(t, w, tt.status, tt.reason, tt.field)
		})
	}
	if n := len(e.mem.Sent()); n != 0 {
		t.Fatalf("refused requests queued %d messages", n)
	}

	t.Run("over the body cap", func(t *testing.T) {
		cfg := testConfig()
		cfg.MaxBodyBytes = 64 << 10
		e := newEnvConfig(t, cfg)
		big, ctype := multipartBody(t, metadataJSON, filePart{name: "big.bin", data: bytes.Repeat([]byte("x"), 80<<10)})
		w := e.do(req{method: "POST", target: "/v1/documents", token: tokHanoi, body: big, headers: []string{"Content-Type", ctype}})
		wantProblem(t, w, 413, restapi.ReasonTooLarge, "body")
	})
}

// TestBuildDeterministic: the same request builds the same bytes (so an
// Idempotency-Key retry is recognised), and any change in the metadata
// or the files gives other bytes.
func TestBuildDeterministic(t *testing.T) {
	files := []filePart{
		{name: "Tờ trình.pdf", rfc2231: true, contentType: "application/pdf", data: []byte("%PDF-1.4 a")},
		{name: "b.txt", data: []byte("phụ lục")},
	}
	build := func(meta string, files ...filePart) []byte {
		e := newEnv(t)
		e.mem.SetAgencies(testAgencies...)
		body, ctype := multipartBody(t, meta, files...)
		w := e.do(req{method: "POST", target: "/v1/documents", token: tokHanoi, body: body, headers: []string{"Content-Type", ctype}})
		if w.Code != http.StatusAccepted {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		return e.mem.Sent()[0].Message.Package
	}
	a, b := build(metadataJSON, files...), build(metadataJSON, files...)
	if !bytes.Equal(a, b) {
		t.Fatal("the same request built different bytes")
	}
	p, err := edoc.Parse(a, edoc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Attachments[1].ContentType != "application/octet-stream" || !strings.HasPrefix(p.Attachments[0].ContentID, "cid:") {
		t.Errorf("attachment 2: type %q, id %q", p.Attachments[1].ContentType, p.Attachments[0].ContentID)
	}
	other := files[1]
	other.data = []byte("phụ lục 2")
	for name, got := range map[string][]byte{
		"another subject": build(strings.Replace(metadataJSON, "triển khai", "thử nghiệm", 1), files...),
		"another file":    build(metadataJSON, files[0], other),
		"files swapped":   build(metadataJSON, files[1], files[0]),
		"one file less":   build(metadataJSON, files[0]),
	} {
		if bytes.Equal(got, a) {
			t.Errorf("%s: the same bytes", name)
		}
	}
}

// TestBuildJSONOnly builds a document without attachments.
func TestBuildJSONOnly(t *testing.T) {
	e := newEnv(t)
	w := e.do(req{method: "POST", target: "/v1/documents", token: tokHanoi, body: []byte(metadataJSON),
		headers: []string{"Content-Type", "application/json; charset=utf-8"}})
	if w.Code != http.StatusAccepted {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	p, err := edoc.Parse(e.mem.Sent()[0].Message.Package, edoc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Attachments) != 0 || p.Header.From.OrganName != "" || p.Header.Subject != "Về việc triển khai trục liên thông văn bản" {
		t.Errorf("built: %d attachments, From name %q (no directory: none), subject %q", len(p.Attachments), p.Header.From.OrganName, p.Header.Subject)
	}
}

// TestBuildRFC2231Names: file names sent in every form a client uses
// arrive as the same UTF-8 name.
func TestBuildRFC2231Names(t *testing.T) {
	const name = "Quyết định số 5.pdf"
	for _, disposition := range []string{
		`form-data; name="file"; filename="` + name + `"`,
		"form-data; name=\"file\"; filename*=UTF-8''Quy%E1%BA%BFt%20%C4%91%E1%BB%8Bnh%20s%E1%BB%91%205.pdf",
		"form-data; name=\"file\"; filename=\"Quyet dinh so 5.pdf\"; filename*=UTF-8''Quy%E1%BA%BFt%20%C4%91%E1%BB%8Bnh%20s%E1%BB%91%205.pdf",
	} {
		e := newEnv(t)
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		h := textproto.MIMEHeader{"Content-Disposition": {`form-data; name="metadata"`}}
		pw, _ := mw.CreatePart(h)
		pw.Write([]byte(metadataJSON))
		pw, _ = mw.CreatePart(textproto.MIMEHeader{"Content-Disposition": {disposition}})
		pw.Write([]byte("%PDF"))
		mw.Close()
		w := e.do(req{method: "POST", target: "/v1/documents", token: tokHanoi, body: buf.Bytes(), headers: []string{"Content-Type", mw.FormDataContentType()}})
		if w.Code != http.StatusAccepted {
			t.Fatalf("%s: %d %s", disposition, w.Code, w.Body)
		}
		p, _ := edoc.Parse(e.mem.Sent()[0].Message.Package, edoc.Limits{})
		if got := p.Attachments[0].Name; got != name {
			t.Errorf("%s: name %q", disposition, got)
		}
	}
}
