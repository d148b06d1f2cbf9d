package vxp_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"truc.vn/truc/adapters/vxp"
	"truc.vn/truc/adapters/vxp/vxptest"
	"truc.vn/truc/edoc"
)

// The golden requests in testdata/*.http were written from spec Appendix A
// (see testdata/README.md): byte for byte what SDKVXP 2.0.1 sends, signed
// with goldenSecret by a tool other than this package.
const (
	goldenSecret = "golden-secret-not-for-production-0001"
	goldenSystem = "vxp.test.01"
	goldenOrgan  = "000.00.01.H53"
	goldenParent = "000.00.00.H53"
	goldenDocID  = "6a1f3c9e2b7d4e5f8a9b0c1d"
	goldenOldDoc = "5c0ffee15c0ffee15c0ffee1"
	stubDocID    = "7b1e2d3c4f5a69788796a5b4"
)

// goldenTime is the timestamp of the golden requests, 22112026T052108+0480.
var goldenTime = time.Date(2026, 11, 22, 5, 21, 8, 480*int(time.Millisecond), edoc.ICT)

func goldenConfig() vxp.Config {
	return vxp.Config{Systems: []vxp.System{{
		ID: goldenSystem, Secret: goldenSecret,
		OrganIDs: []string{goldenOrgan}, ParentCodes: []string{goldenParent},
	}}}
}

// stub is a Backend with fixed answers, so that the golden tests can check
// the exact bytes of every answer.
type stub struct{ pkg []byte }

var stubTime = time.Date(2026, 11, 21, 16, 30, 0, 0, edoc.ICT)

func (s stub) SendEdoc(context.Context, vxp.Caller, vxp.SendRequest) (string, error) {
	return stubDocID, nil
}

func (s stub) ReceivedList(_ context.Context, _ vxp.Caller, mt vxp.MessageType) ([]vxp.ReceivedItem, error) {
	return []vxp.ReceivedItem{{
		DocID: goldenDocID, MessageType: mt, Created: stubTime, Updated: stubTime.Add(time.Minute),
		From: "000.00.00.G22", To: goldenOrgan, Status: "pending", StatusDesc: "Chưa nhận <mới>",
	}}, nil
}

func (s stub) GetEdoc(context.Context, vxp.Caller, string) ([]byte, error) { return s.pkg, nil }

func (s stub) UpdateStatus(context.Context, vxp.Caller, string, vxp.AckStatus) error { return nil }

func (s stub) SentList(_ context.Context, _ vxp.Caller, mt vxp.MessageType, _ string) ([]vxp.SentItem, error) {
	return []vxp.SentItem{{
		MessageType: mt, SenderDocID: stubDocID, ReceiverDocID: goldenDocID,
		FromCode: goldenOrgan, ToCode: "000.00.00.G22", Title: "Về việc báo cáo & tổng hợp",
		Notation: "12/VP-HC", SentTime: stubTime, SendStatus: "sent", SendStatusDesc: "Đã gửi",
		ReceiveStatus: "pending", ReceiveStatusDesc: "Chưa nhận",
	}}, nil
}

func (s stub) CountReceived(context.Context, vxp.Caller, vxp.MessageType) (int, error) { return 3, nil }

func (s stub) Agencies(context.Context, vxp.Caller) ([]vxp.Agency, error) {
	return []vxp.Agency{
		{ID: "1", Code: goldenParent, Name: "UBND tỉnh Tây Ninh", Mail: "ubnd@tayninh.example.gov.vn"},
		{ID: "2", ParentID: "1", Code: "000.00.31.H53", Name: "Sở Tài nguyên & Môi trường", Mail: "stnmt@tayninh.example.gov.vn", OldCode: "000.00.31.H53"},
	}, nil
}

func (s stub) SynchronizeUnits(context.Context, vxp.Caller) ([]vxp.Unit, error) {
	return []vxp.Unit{{
		ID: "2", ParentID: "1", Code: "000.00.31.H53", Name: "Sở Tài nguyên & Môi trường", Mail: "stnmt@tayninh.example.gov.vn",
		Version: 7, CenterCode: goldenSystem, Deleted: true, Modified: stubTime, IsAgency: true,
	}}, nil
}

func (s stub) RegisterAgency(context.Context, vxp.Caller, vxp.AgencyRegistration) error { return nil }
func (s stub) DeleteAgency(context.Context, vxp.Caller, string) error                   { return nil }

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readGolden parses testdata/<name>.http as the server would read it.
func readGolden(t *testing.T, name string) *http.Request {
	t.Helper()
	raw := readFile(t, name+".http")
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatalf("%s.http: %v", name, err)
	}
	r.RemoteAddr = "192.0.2.10:40000"
	return r
}

// replay serves testdata/<name>.http with a Recorder around backend.
func replay(t *testing.T, cfg vxp.Config, backend vxp.Backend, name string) (*httptest.ResponseRecorder, *vxptest.Recorder) {
	t.Helper()
	rec := &vxptest.Recorder{Next: backend}
	h, err := vxp.NewHandler(cfg, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, readGolden(t, name))
	return w, rec
}

func TestGoldenRequests(t *testing.T) {
	pkg := readFile(t, "status_01.edxml")
	caller := vxp.Caller{SystemID: goldenSystem, OrganIDs: []string{goldenOrgan}, ParentCodes: []string{goldenParent}}
	ok := `{"status":"OK","ErrorCode":"0","ErrorDesc":"Success"}` + "\n"
	received := `{"status":"OK","ErrorCode":"0","ErrorDesc":"Success","data":[{"docId":"6a1f3c9e2b7d4e5f8a9b0c1d","serviceType":"eDoc","messageType":"%s","created_time":"2026/11/21 16:30:00","updated_time":"2026/11/21 16:31:00","from":"000.00.00.G22","to":"000.00.01.H53","status":"pending","status_desc":"Chưa nhận <mới>"}]}` + "\n"
	tests := []struct {
		file      string
		wantCall  vxptest.Call
		wantType  string // Content-Type of the answer
		wantBody  string
		wantBytes []byte // instead of wantBody: the raw answer
	}{
		{
			file:     "sendEdoc",
			wantCall: vxptest.Call{Method: "SendEdoc", Args: []any{vxp.SendRequest{From: goldenOrgan, MessageType: vxp.MessageStatus, Package: pkg}}},
			wantBody: `{"status":"OK","ErrorCode":"0","ErrorDesc":"Success","DocId":"7b1e2d3c4f5a69788796a5b4"}` + "\n",
		},
		{
			file:     "getReceivedEdocList",
			wantCall: vxptest.Call{Method: "ReceivedList", Args: []any{vxp.MessageEdoc}},
			wantBody: strings.Replace(received, "%s", "edoc", 1),
		},
		{
			file:     "getEdoc",
			wantCall: vxptest.Call{Method: "GetEdoc", Args: []any{goldenDocID}},
			wantBody: `{"status":"OK","ErrorCode":"0","ErrorDesc":"Success","data":"` + b64(pkg) + `"}` + "\n",
		},
		{
			// docid leaked from an earlier updateStatus: getEdoc uses docId.
			file:     "getEdoc-leaked-docid",
			wantCall: vxptest.Call{Method: "GetEdoc", Args: []any{goldenDocID}},
			wantBody: `{"status":"OK","ErrorCode":"0","ErrorDesc":"Success","data":"` + b64(pkg) + `"}` + "\n",
		},
		{
			file:      "downloadEdoc",
			wantCall:  vxptest.Call{Method: "GetEdoc", Args: []any{goldenDocID}},
			wantType:  "application/octet-stream",
			wantBytes: pkg,
		},
		{
			file:     "updateStatus",
			wantCall: vxptest.Call{Method: "UpdateStatus", Args: []any{goldenDocID, vxp.AckDone}},
			wantBody: ok,
		},
		{
			file:     "getSentEdocList",
			wantCall: vxptest.Call{Method: "SentList", Args: []any{vxp.MessageEdoc, ""}},
			wantBody: `{"status":"OK","ErrorCode":"0","ErrorDesc":"Success","data":[{"serviceType":"eDoc","messageType":"edoc","senderDocId":"7b1e2d3c4f5a69788796a5b4","receiverDocId":"6a1f3c9e2b7d4e5f8a9b0c1d","fromCode":"000.00.01.H53","toCode":"000.00.00.G22","title":"Về việc báo cáo & tổng hợp","notation":"12/VP-HC","sentTime":"2026/11/21 16:30:00","receivedTime":"","sendStatus":"sent","sendStatusDesc":"Đã gửi","receiveStatus":"pending","receiveStatusDesc":"Chưa nhận"}]}` + "\n",
		},
		{
			file:     "countReceiveEdoc",
			wantCall: vxptest.Call{Method: "CountReceived", Args: []any{vxp.MessageEdoc}},
			wantBody: `{"status":"OK","ErrorCode":"0","ErrorDesc":"Success","count":3}` + "\n",
		},
		{
			// docId and filePath leaked from an earlier getEdoc: ignored.
			file:     "countReceiveStatus-leaked",
			wantCall: vxptest.Call{Method: "CountReceived", Args: []any{vxp.MessageStatus}},
			wantBody: `{"status":"OK","ErrorCode":"0","ErrorDesc":"Success","count":3}` + "\n",
		},
		{
			file:     "countReceiveStatus-get",
			wantCall: vxptest.Call{Method: "CountReceived", Args: []any{vxp.MessageStatus}},
			wantBody: `{"status":"OK","ErrorCode":"0","ErrorDesc":"Success","count":3}` + "\n",
		},
		{
			file:     "getAgenciesList",
			wantCall: vxptest.Call{Method: "Agencies"},
			wantBody: `{"status":"OK","ErrorCode":"0","ErrorDesc":"Success","data":[{"id":"1","pid":"","code":"000.00.00.H53","name":"UBND tỉnh Tây Ninh","mail":"ubnd@tayninh.example.gov.vn","oldCode":""},{"id":"2","pid":"1","code":"000.00.31.H53","name":"Sở Tài nguyên & Môi trường","mail":"stnmt@tayninh.example.gov.vn","oldCode":"000.00.31.H53"}]}` + "\n",
		},
		{
			file:     "getAgenciesListQD20",
			wantCall: vxptest.Call{Method: "Agencies"},
			wantBody: `{"status":"OK","ErrorCode":"0","ErrorDesc":"Success","data":[{"id":"1","code":"000.00.00.H53","name":"UBND tỉnh Tây Ninh","mail":"ubnd@tayninh.example.gov.vn","code102":""},{"id":"2","code":"000.00.31.H53","name":"Sở Tài nguyên & Môi trường","mail":"stnmt@tayninh.example.gov.vn","code102":"000.00.31.H53"}]}` + "\n",
		},
		{
			file:     "getSynchronizeUnit",
			wantCall: vxptest.Call{Method: "SynchronizeUnits"},
			wantBody: `{"status":"OK","ErrorCode":"0","ErrorDesc":"Success","data":[{"id":"2","pid":"1","code":"000.00.31.H53","name":"Sở Tài nguyên & Môi trường","mail":"stnmt@tayninh.example.gov.vn","version":7,"centerCode":"vxp.test.01","deleted":true,"modifyDate":"2026/11/21 16:30:00","isAgency":true}]}` + "\n",
		},
		{
			file: "registerAgency",
			wantCall: vxptest.Call{Method: "RegisterAgency", Args: []any{vxp.AgencyRegistration{
				ParentCode: "000.00.31.H53", Code: "000.05.31.H53", Name: "UBND xã Lợi Thuận",
				Mail: "loithuan@tayninh.example.gov.vn", Mobile: "0276 3870 000",
			}}},
			wantBody: ok,
		},
		{
			file:     "deleteAgency",
			wantCall: vxptest.Call{Method: "DeleteAgency", Args: []any{"000.05.31.H53"}},
			wantBody: ok,
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			w, rec := replay(t, goldenConfig(), stub{pkg: pkg}, tt.file)
			if w.Code != http.StatusOK {
				t.Fatalf("HTTP %d, body %s", w.Code, w.Body)
			}
			tt.wantCall.Caller = caller
			if calls := rec.Calls(); len(calls) != 1 || !reflect.DeepEqual(calls[0], tt.wantCall) {
				t.Errorf("backend calls:\n got %+v\nwant [%+v]", calls, tt.wantCall)
			}
			wantType := "application/json; charset=utf-8"
			if tt.wantType != "" {
				wantType = tt.wantType
			}
			if got := w.Header().Get("Content-Type"); got != wantType {
				t.Errorf("Content-Type %q, want %q", got, wantType)
			}
			if tt.wantBytes != nil {
				if !bytes.Equal(w.Body.Bytes(), tt.wantBytes) {
					t.Errorf("answer is not the package (%d bytes, want %d)", w.Body.Len(), len(tt.wantBytes))
				}
				return
			}
			if got := w.Body.String(); got != tt.wantBody {
				t.Errorf("answer:\n got %s\nwant %s", got, tt.wantBody)
			}
			if cl := w.Header().Get("Content-Length"); cl != "" && cl != itoa(w.Body.Len()) {
				t.Errorf("Content-Length %s for %d bytes", cl, w.Body.Len())
			}
		})
	}
}

// TestGoldenSendEdocQuirks pins what the golden sendEdoc shows of the SDK:
// an unpadded hash-file and the "\r\n" after the file.
func TestGoldenSendEdocQuirks(t *testing.T) {
	pkg := readFile(t, "status_01.edxml")
	r := readGolden(t, "sendEdoc")
	hf := r.Header.Get("XroadVnpt-hash-file")
	if len(hf) >= 64 {
		t.Fatalf("hash-file %q has %d digits: the golden file must have a SHA-256 byte below 0x10", hf, len(hf))
	}
	var body bytes.Buffer
	body.ReadFrom(r.Body)
	if !bytes.Equal(body.Bytes(), append(append([]byte(nil), pkg...), '\r', '\n')) {
		t.Fatal("the golden sendEdoc body is not status_01.edxml followed by CRLF")
	}
	if r.ContentLength != int64(len(pkg)+2) {
		t.Fatalf("Content-Length %d, want %d", r.ContentLength, len(pkg)+2)
	}
}

func TestGoldenRejections(t *testing.T) {
	small := goldenConfig()
	small.MaxBodyBytes = 1024
	tests := []struct {
		name     string
		file     string
		cfg      vxp.Config
		wantHTTP int
		wantCode string
		wantDesc string // a substring of ErrorDesc
	}{
		{"wrong HMAC", "reject-wrong-hmac", goldenConfig(), 401, vxp.CodeUnauthenticated, "authentication failed"},
		{"unknown systemid", "reject-unknown-systemid", goldenConfig(), 401, vxp.CodeUnauthenticated, "authentication failed"},
		{"signed header changed after signing", "reject-header-changed", goldenConfig(), 401, vxp.CodeUnauthenticated, "XroadVnpt-messagetype: differs from its signed value"},
		{"malformed sign-header JSON", "reject-malformed-sign-header", goldenConfig(), 400, vxp.CodeBadRequest, "XroadVnpt-sign-header:"},
		{"malformed hash-header", "reject-malformed-hash-header", goldenConfig(), 400, vxp.CodeBadRequest, "XroadVnpt-hash-header:"},
		{"key list does not match the sign-header", "reject-key-list-mismatch", goldenConfig(), 400, vxp.CodeBadRequest, "XroadVnpt-sign-header-key:"},
		{"missing required key", "reject-missing-required-key", goldenConfig(), 400, vxp.CodeBadRequest, "needs the signed key docId or docid"},
		{"malformed timestamp", "reject-malformed-timestamp", goldenConfig(), 400, vxp.CodeBadRequest, "XroadVnpt-timestamp:"},
		{"hash-file does not match the body", "reject-hash-file-mismatch", goldenConfig(), 401, vxp.CodeUnauthenticated, "XroadVnpt-hash-file:"},
		{"from not among the system's OrganIds", "reject-not-own-organ", goldenConfig(), 403, vxp.CodeForbidden, "XroadVnpt-from:"},
		{"agency not under a parent code", "reject-delete-foreign-agency", goldenConfig(), 403, vxp.CodeForbidden, "XroadVnpt-AgencyCode:"},
		{"over-size body", "sendEdoc", small, 413, vxp.CodeTooLarge, "body:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, rec := replay(t, tt.cfg, stub{}, tt.file)
			if calls := rec.Calls(); len(calls) != 0 {
				t.Errorf("the request reached the backend: %+v", calls)
			}
			if w.Code != tt.wantHTTP {
				t.Errorf("HTTP %d, want %d", w.Code, tt.wantHTTP)
			}
			a := decodeFail(t, w.Body.Bytes())
			if a["ErrorCode"] != tt.wantCode || !strings.Contains(a["ErrorDesc"].(string), tt.wantDesc) {
				t.Errorf("answer %s, want ErrorCode %s and ErrorDesc containing %q", w.Body, tt.wantCode, tt.wantDesc)
			}
			if _, ok := a["DocId"]; ok != strings.HasPrefix(readGolden(t, tt.file).URL.Path, "/sendEdoc") {
				t.Errorf("DocId present = %v in %s", ok, w.Body)
			}
		})
	}
}

// decodeFail checks the SDK's error shape: status FAIL, a non-zero string
// ErrorCode and a string ErrorDesc, JSON.
func decodeFail(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var a map[string]any
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("answer %q is not JSON: %v", body, err)
	}
	code, ok1 := a["ErrorCode"].(string)
	_, ok2 := a["ErrorDesc"].(string)
	if a["status"] != vxp.StatusFail || !ok1 || code == vxp.CodeOK || !ok2 {
		t.Fatalf("answer %s is not the SDK's error shape", body)
	}
	return a
}
