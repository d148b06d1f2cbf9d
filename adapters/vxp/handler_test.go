package vxp_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"truc.vn/truc/adapters/vxp"
	"truc.vn/truc/adapters/vxp/vxptest"
)

// signed builds a request signed with the golden secret: entries are the
// signed keys in order (systemid and timestamp are added first).
func signed(t *testing.T, method, op string, body []byte, entries ...[2]string) *http.Request {
	t.Helper()
	all := append([][2]string{{"systemid", goldenSystem}, {"timestamp", "22112026T052108+0480"}}, entries...)
	var js bytes.Buffer
	js.WriteByte('{')
	keys := make([]string, len(all))
	r := httptest.NewRequest(method, "/"+op, bytes.NewReader(body))
	for i, e := range all {
		if i > 0 {
			js.WriteByte(',')
		}
		k, _ := json.Marshal("XroadVnpt-" + e[0])
		v, _ := json.Marshal(e[1])
		js.Write(k)
		js.WriteByte(':')
		js.Write(v)
		keys[i] = e[0]
		r.Header.Add("XroadVnpt-"+e[0], e[1])
	}
	js.WriteByte('}')
	m := hmac.New(sha256.New, []byte(goldenSecret))
	m.Write(js.Bytes())
	r.Header.Set("XroadVnpt-sign-header-key", strings.Join(keys, ";"))
	r.Header.Set("XroadVnpt-sign-header", js.String())
	r.Header.Set("XroadVnpt-hash-header", hex.EncodeToString(m.Sum(nil)))
	return r
}

func serve(t *testing.T, cfg vxp.Config, backend vxp.Backend, r *http.Request) (*httptest.ResponseRecorder, *vxptest.Recorder) {
	t.Helper()
	rec := &vxptest.Recorder{Next: backend}
	h, err := vxp.NewHandler(cfg, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w, rec
}

func TestHandlerRouting(t *testing.T) {
	list := [][2]string{{"servicetype", "eDoc"}, {"messagetype", "edoc"}}
	tests := []struct {
		name      string
		req       func(t *testing.T) *http.Request
		wantHTTP  int
		wantCode  string
		wantAllow string
	}{
		{"unknown operation", func(t *testing.T) *http.Request { return signed(t, "POST", "sendKnobstick", nil) }, 404, vxp.CodeNotFound, ""},
		{"operation name in another case", func(t *testing.T) *http.Request { return signed(t, "POST", "SendEdoc", nil) }, 404, vxp.CodeNotFound, ""},
		{"GET on a POST operation", func(t *testing.T) *http.Request { return signed(t, "GET", "getReceivedEdocList", nil, list...) }, 405, vxp.CodeMethodNotAllowed, "POST"},
		{"POST on downloadEdoc", func(t *testing.T) *http.Request {
			return signed(t, "POST", "downloadEdoc", nil, [2]string{"docId", goldenDocID})
		}, 405, vxp.CodeMethodNotAllowed, "GET"},
		{"PUT on a count", func(t *testing.T) *http.Request { return signed(t, "PUT", "countReceiveEdoc", nil) }, 405, vxp.CodeMethodNotAllowed, "GET, POST"},
		{"double slash from an endpoint with a trailing slash", func(t *testing.T) *http.Request {
			r := signed(t, "POST", "getReceivedEdocList", nil, list...)
			r.URL.Path = "//getReceivedEdocList"
			return r
		}, 200, vxp.CodeOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, rec := serve(t, goldenConfig(), stub{}, tt.req(t))
			if w.Code != tt.wantHTTP {
				t.Fatalf("HTTP %d, want %d: %s", w.Code, tt.wantHTTP, w.Body)
			}
			if tt.wantCode != vxp.CodeOK {
				decodeFail(t, w.Body.Bytes())
				if len(rec.Calls()) != 0 {
					t.Errorf("reached the backend")
				}
			}
			if got := w.Header().Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow %q, want %q", got, tt.wantAllow)
			}
		})
	}
}

func TestHandlerParameters(t *testing.T) {
	pkg := readFile(t, "status_01.edxml")
	sum := sha256.Sum256(pkg)
	hashFile := hex.EncodeToString(sum[:])
	send := func(mt, from, hf string) [][2]string {
		return [][2]string{{"servicetype", "eDoc"}, {"messagetype", mt}, {"hash-file", hf}, {"from", from}}
	}
	tests := []struct {
		name     string
		req      *http.Request
		wantCode string
		wantCall string // the backend method, or "" for none
		wantArgs []any
	}{
		{"servicetype other than eDoc", signed(t, "POST", "getReceivedEdocList", nil, [2]string{"servicetype", "status"}, [2]string{"messagetype", "edoc"}), vxp.CodeBadRequest, "", nil},
		{"servicetype in another case", signed(t, "POST", "getReceivedEdocList", nil, [2]string{"servicetype", "EDOC"}, [2]string{"messagetype", "Status"}), vxp.CodeOK, "ReceivedList", []any{vxp.MessageStatus}},
		{"messagetype unknown", signed(t, "POST", "getReceivedEdocList", nil, [2]string{"servicetype", "eDoc"}, [2]string{"messagetype", "knobstick"}), vxp.CodeBadRequest, "", nil},
		{"docId with a slash", signed(t, "POST", "getEdoc", []byte("{}"), [2]string{"docId", "../etc/passwd"}), vxp.CodeBadRequest, "", nil},
		{"docId too long", signed(t, "POST", "getEdoc", []byte("{}"), [2]string{"docId", strings.Repeat("a", 129)}), vxp.CodeBadRequest, "", nil},
		{"updateStatus with docId (ServiceTest's spelling)", signed(t, "POST", "updateStatus", []byte("{}"), [2]string{"status", "processing"}, [2]string{"docId", goldenDocID}), vxp.CodeOK, "UpdateStatus", []any{goldenDocID, vxp.AckProcessing}},
		{"updateStatus prefers docid over a leaked docId", signed(t, "POST", "updateStatus", []byte("{}"), [2]string{"docId", goldenOldDoc}, [2]string{"docid", goldenDocID}, [2]string{"status", "fail"}), vxp.CodeOK, "UpdateStatus", []any{goldenDocID, vxp.AckFail}},
		{"updateStatus with an unknown status", signed(t, "POST", "updateStatus", []byte("{}"), [2]string{"docid", goldenDocID}, [2]string{"status", "01"}), vxp.CodeBadRequest, "", nil},
		{"updateStatus without status", signed(t, "POST", "updateStatus", []byte("{}"), [2]string{"docid", goldenDocID}), vxp.CodeBadRequest, "", nil},
		{"getSentEdocList with a docId", signed(t, "POST", "getSentEdocList", nil, [2]string{"servicetype", "eDoc"}, [2]string{"messagetype", "status"}, [2]string{"docId", goldenDocID}), vxp.CodeOK, "SentList", []any{vxp.MessageStatus, goldenDocID}},
		{"count ignores a leaked messagetype", signed(t, "GET", "countReceiveEdoc", nil, [2]string{"messagetype", "status"}), vxp.CodeOK, "CountReceived", []any{vxp.MessageEdoc}},
		{"sendEdoc with padded hash-file and no CRLF", signed(t, "POST", "sendEdoc", pkg, send("status", goldenOrgan, hashFile)...), vxp.CodeOK, "SendEdoc", []any{vxp.SendRequest{From: goldenOrgan, MessageType: vxp.MessageStatus, Package: pkg}}},
		{"sendEdoc from is not an OrganId", signed(t, "POST", "sendEdoc", pkg, send("status", "000..H53", hashFile)...), vxp.CodeBadRequest, "", nil},
		{"sendEdoc hash-file not hex", signed(t, "POST", "sendEdoc", pkg, send("status", goldenOrgan, "zz"+hashFile[2:])...), vxp.CodeBadRequest, "", nil},
		{"sendEdoc without hash-file", signed(t, "POST", "sendEdoc", pkg, [2]string{"servicetype", "eDoc"}, [2]string{"messagetype", "edoc"}, [2]string{"from", goldenOrgan}), vxp.CodeBadRequest, "", nil},
		{"deleteAgency with a bad code", signed(t, "POST", "deleteAgency", []byte("{}"), [2]string{"AgencyCode", "a b"}), vxp.CodeBadRequest, "", nil},
		{"registerAgency under a parent code", signed(t, "POST", "registerAgency", []byte(`{"code":"000.07.31.H53","name":"Xã","mail":"xa@tayninh.example.gov.vn"}`)), vxp.CodeOK, "RegisterAgency", []any{vxp.AgencyRegistration{Code: "000.07.31.H53", Name: "Xã", Mail: "xa@tayninh.example.gov.vn"}}},
		{"registerAgency with a foreign parent", signed(t, "POST", "registerAgency", []byte(`{"pcode":"000.00.00.H41","code":"000.07.31.H53","name":"Xã","mail":"xa@tayninh.example.gov.vn"}`)), vxp.CodeForbidden, "", nil},
		{"registerAgency of the parent itself", signed(t, "POST", "registerAgency", []byte(`{"code":"000.00.00.H53","name":"Tỉnh","mail":"t@tayninh.example.gov.vn"}`)), vxp.CodeForbidden, "", nil},
		{"registerAgency with a bad body", signed(t, "POST", "registerAgency", []byte(`{"code":"000.07.31.H53","name":"Xã"}`)), vxp.CodeBadRequest, "", nil},
		{"small body over its cap", signed(t, "POST", "getEdoc", bytes.Repeat([]byte(" "), 64<<10+1), [2]string{"docId", goldenDocID}), vxp.CodeTooLarge, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, rec := serve(t, goldenConfig(), stub{pkg: pkg}, tt.req)
			calls := rec.Calls()
			if tt.wantCode != vxp.CodeOK {
				a := decodeFail(t, w.Body.Bytes())
				if a["ErrorCode"] != tt.wantCode {
					t.Fatalf("ErrorCode %v, want %s: %s", a["ErrorCode"], tt.wantCode, w.Body)
				}
				if len(calls) != 0 {
					t.Fatalf("reached the backend: %+v", calls)
				}
				return
			}
			if w.Code != 200 {
				t.Fatalf("HTTP %d: %s", w.Code, w.Body)
			}
			if len(calls) != 1 || calls[0].Method != tt.wantCall || !equalArgs(calls[0].Args, tt.wantArgs) {
				t.Fatalf("calls %+v, want %s %+v", calls, tt.wantCall, tt.wantArgs)
			}
		})
	}
}

func equalArgs(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, _ := json.Marshal(a[i])
		y, _ := json.Marshal(b[i])
		if !bytes.Equal(x, y) {
			return false
		}
	}
	return true
}

// failing is a Backend whose every call fails with err.
type failing struct{ err error }

func (f failing) SendEdoc(context.Context, vxp.Caller, vxp.SendRequest) (string, error) {
	return "", f.err
}
func (f failing) ReceivedList(context.Context, vxp.Caller, vxp.MessageType) ([]vxp.ReceivedItem, error) {
	return nil, f.err
}
func (f failing) GetEdoc(context.Context, vxp.Caller, string) ([]byte, error) { return nil, f.err }
func (f failing) UpdateStatus(context.Context, vxp.Caller, string, vxp.AckStatus) error {
	return f.err
}
func (f failing) SentList(context.Context, vxp.Caller, vxp.MessageType, string) ([]vxp.SentItem, error) {
	return nil, f.err
}
func (f failing) CountReceived(context.Context, vxp.Caller, vxp.MessageType) (int, error) {
	return 0, f.err
}
func (f failing) Agencies(context.Context, vxp.Caller) ([]vxp.Agency, error)       { return nil, f.err }
func (f failing) SynchronizeUnits(context.Context, vxp.Caller) ([]vxp.Unit, error) { return nil, f.err }
func (f failing) RegisterAgency(context.Context, vxp.Caller, vxp.AgencyRegistration) error {
	return f.err
}
func (f failing) DeleteAgency(context.Context, vxp.Caller, string) error { return f.err }

func TestHandlerBackendErrors(t *testing.T) {
	secretCause := errors.New("bolt: /var/lib/truc/edge.db: input/output error")
	tests := []struct {
		name     string
		err      error
		wantHTTP int
		wantCode string
		wantDesc string
	}{
		{"not found", &vxp.Error{Kind: vxp.KindNotFound, Field: "docId", Message: "no such document"}, 404, vxp.CodeNotFound, "docId: no such document"},
		{"forbidden", &vxp.Error{Kind: vxp.KindForbidden, Message: "not yours"}, 403, vxp.CodeForbidden, "not yours"},
		{"invalid package", &vxp.Error{Kind: vxp.KindInvalidPackage, Field: "MessageHeader/To[2]/OrganId", Rule: "organid", Message: "not an OrganId"}, 422, vxp.CodeInvalidPackage, "MessageHeader/To[2]/OrganId: not an OrganId (organid)"},
		{"conflict", &vxp.Error{Kind: vxp.KindConflict, Message: "already done"}, 409, vxp.CodeConflict, "already done"},
		{"unavailable, cause kept out", &vxp.Error{Kind: vxp.KindUnavailable, Message: "shutting down", Err: secretCause}, 503, vxp.CodeUnavailable, "shutting down"},
		{"wrapped *Error", errors.Join(errors.New("ctx"), &vxp.Error{Kind: vxp.KindNotFound}), 404, vxp.CodeNotFound, "not found"},
		{"any other error is internal and not shown", secretCause, 500, vxp.CodeInternal, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			h, err := vxp.NewHandler(goldenConfig(), failing{tt.err}, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			for _, op := range []*http.Request{
				signed(t, "POST", "getEdoc", []byte("{}"), [2]string{"docId", goldenDocID}),
				signed(t, "POST", "sendEdoc", []byte("x"), [2]string{"servicetype", "eDoc"}, [2]string{"messagetype", "edoc"}, [2]string{"hash-file", "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"}, [2]string{"from", goldenOrgan}),
				signed(t, "POST", "getAgenciesList", nil),
			} {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, op)
				a := decodeFail(t, w.Body.Bytes())
				if w.Code != tt.wantHTTP || a["ErrorCode"] != tt.wantCode || a["ErrorDesc"] != tt.wantDesc {
					t.Errorf("%s: HTTP %d %s, want %d %s %q", op.URL.Path, w.Code, w.Body, tt.wantHTTP, tt.wantCode, tt.wantDesc)
				}
				if strings.Contains(w.Body.String(), "edge.db") {
					t.Errorf("the cause leaked to the client: %s", w.Body)
				}
			}
			if strings.Contains(logs.String(), goldenSecret) {
				t.Error("the secret was logged")
			}
		})
	}
}

func TestNewHandlerRefuses(t *testing.T) {
	if _, err := vxp.NewHandler(vxp.Config{}, stub{}, nil); err == nil {
		t.Error("empty config accepted")
	}
	if _, err := vxp.NewHandler(goldenConfig(), nil, nil); err == nil {
		t.Error("nil backend accepted")
	}
}

// TestClientWire reads the client's bytes off a socket: header names keep
// the SDK's spelling (Go would canonicalise XroadVnpt-sign-header to
// Xroadvnpt-Sign-Header with Header.Set) and the body of sendEdoc is the
// package and CRLF.
func TestClientWire(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	raw := make(chan []byte, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			raw <- nil
			return
		}
		defer conn.Close()
		var buf bytes.Buffer
		req, err := http.ReadRequest(bufio.NewReader(io.TeeReader(conn, &buf)))
		if err == nil {
			io.Copy(io.Discard, req.Body)
		}
		raw <- buf.Bytes()
		answer := `{"status":"OK","ErrorCode":"0","ErrorDesc":"Success","DocId":"abcdef0123456"}`
		fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(answer), answer)
	}()
	c, err := vxp.NewClient("http://"+ln.Addr().String(), goldenSystem, goldenSecret, nil)
	if err != nil {
		t.Fatal(err)
	}
	pkg := readFile(t, "status_01.edxml")
	if id, err := c.SendEdoc(context.Background(), goldenOrgan, vxp.MessageStatus, pkg); err != nil || id != "abcdef0123456" {
		t.Fatalf("SendEdoc = %q, %v", id, err)
	}
	wire := <-raw
	for _, want := range []string{
		"POST /sendEdoc HTTP/1.1\r\n",
		"\r\nXroadVnpt-sign-header-key: systemid;servicetype;messagetype;hash-file;from;timestamp;Content-Type\r\n",
		"\r\nXroadVnpt-sign-header: {\"XroadVnpt-systemid\":\"vxp.test.01\",\"XroadVnpt-servicetype\":\"eDoc\",",
		"\r\nXroadVnpt-hash-file: eae116e3d1eaa2d694eca8d9eb692625365acbb4bbaff8057cb255aaffdb3\r\n",
		"\r\nXroadVnpt-Content-Type: application/octet-stream\r\n",
		"\r\nContent-Type: application/octet-stream\r\n",
		"\r\nUser-Agent: JAVASDKAgent/1.0.0 XRoad/VPCP\r\n",
		"\r\nXroadVnpt-version: 3.0.201608\r\n",
		"\r\n\r\n" + string(pkg) + "\r\n",
	} {
		if !bytes.Contains(wire, []byte(want)) {
			t.Errorf("the request lacks %q", want)
		}
	}
	if !bytes.HasSuffix(wire, append(append([]byte(nil), pkg...), '\r', '\n')) {
		t.Error("the request does not end with the package and CRLF")
	}
}
