package vxp_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"truc.vn/truc/adapters/vxp"
)

// captured is a request as the server received it.
type captured struct {
	method, path string
	header       http.Header
	length       int64
	body         []byte
}

// capturingServer serves h and keeps every request it receives.
func capturingServer(t *testing.T, h http.Handler) (*httptest.Server, func() []captured) {
	t.Helper()
	var mu sync.Mutex
	var got []captured
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, captured{r.Method, r.URL.Path, r.Header.Clone(), r.ContentLength, body})
		mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []captured {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

func goldenServer(t *testing.T) (*httptest.Server, func() []captured) {
	t.Helper()
	h, err := vxp.NewHandler(goldenConfig(), stub{pkg: readFile(t, "status_01.edxml")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return capturingServer(t, h)
}

// sameAsGolden compares what the client sent with the golden request: the
// method, path, body, and every header the SDK sets (all XroadVnpt-*
// headers with their values, Content-Type and User-Agent).
func sameAsGolden(t *testing.T, got captured, name string) {
	t.Helper()
	g := readGolden(t, name)
	gbody, _ := io.ReadAll(g.Body)
	if got.method != g.Method || got.path != g.URL.Path {
		t.Errorf("%s %s, golden %s %s", got.method, got.path, g.Method, g.URL.Path)
	}
	if !bytes.Equal(got.body, gbody) || got.length != g.ContentLength {
		t.Errorf("body %q (Content-Length %d), golden %q (%d)", got.body, got.length, gbody, g.ContentLength)
	}
	names := map[string]bool{"Content-Type": true, "User-Agent": true}
	for k := range g.Header {
		if strings.HasPrefix(k, "Xroadvnpt-") {
			names[k] = true
		}
	}
	for k := range got.header {
		if strings.HasPrefix(k, "Xroadvnpt-") {
			names[k] = true
		}
	}
	for k := range names {
		gv, cv := slices.Sorted(slices.Values(g.Header[k])), slices.Sorted(slices.Values(got.header[k]))
		if !slices.Equal(gv, cv) {
			t.Errorf("%s: client sent %q, golden has %q", k, cv, gv)
		}
	}
}

// TestClientMatchesGolden makes every call with the client and checks that
// it sends what the SDK sends (the golden requests), and that it reads the
// answers.
func TestClientMatchesGolden(t *testing.T) {
	pkg := readFile(t, "status_01.edxml")
	ctx := context.Background()
	clock := vxp.WithClock(func() time.Time { return goldenTime })
	tests := []struct {
		golden string
		opts   []vxp.ClientOption
		calls  func(t *testing.T, c *vxp.Client) // the last call is compared
	}{
		{"sendEdoc", nil, func(t *testing.T, c *vxp.Client) {
			id, err := c.SendEdoc(ctx, goldenOrgan, vxp.MessageStatus, pkg)
			if err != nil || id != stubDocID {
				t.Errorf("SendEdoc = %q, %v", id, err)
			}
		}},
		{"getReceivedEdocList", nil, func(t *testing.T, c *vxp.Client) {
			list, err := c.ReceivedList(ctx, vxp.MessageEdoc)
			want := []vxp.ReceivedEntry{{DocID: goldenDocID, ServiceType: "eDoc", MessageType: "edoc",
				CreatedTime: "2026/11/21 16:30:00", UpdatedTime: "2026/11/21 16:31:00", From: "000.00.00.G22",
				To: goldenOrgan, Status: "pending", StatusDesc: "Chưa nhận <mới>"}}
			if err != nil || !slices.Equal(list, want) {
				t.Errorf("ReceivedList = %+v, %v", list, err)
			}
		}},
		{"getEdoc", []vxp.ClientOption{vxp.WithFilePath("xml")}, func(t *testing.T, c *vxp.Client) {
			got, err := c.GetEdoc(ctx, goldenDocID)
			if err != nil || !bytes.Equal(got, pkg) {
				t.Errorf("GetEdoc = %d bytes, %v", len(got), err)
			}
		}},
		{"downloadEdoc", []vxp.ClientOption{vxp.WithFilePath("xml")}, func(t *testing.T, c *vxp.Client) {
			got, err := c.DownloadEdoc(ctx, goldenDocID)
			if err != nil || !bytes.Equal(got, pkg) {
				t.Errorf("DownloadEdoc = %d bytes, %v", len(got), err)
			}
		}},
		{"updateStatus", nil, func(t *testing.T, c *vxp.Client) {
			if err := c.UpdateStatus(ctx, goldenDocID, vxp.AckDone); err != nil {
				t.Error(err)
			}
		}},
		{"getSentEdocList", nil, func(t *testing.T, c *vxp.Client) {
			list, err := c.SentList(ctx, vxp.MessageEdoc, "")
			if err != nil || len(list) != 1 || list[0].Title != "Về việc báo cáo & tổng hợp" || list[0].ReceivedTime != "" {
				t.Errorf("SentList = %+v, %v", list, err)
			}
		}},
		{"countReceiveEdoc", nil, func(t *testing.T, c *vxp.Client) {
			if n, err := c.CountReceived(ctx, vxp.MessageEdoc); err != nil || n != 3 {
				t.Errorf("CountReceived = %d, %v", n, err)
			}
		}},
		{"getAgenciesList", nil, func(t *testing.T, c *vxp.Client) {
			list, err := c.Agencies(ctx)
			if err != nil || len(list) != 2 || list[1].Name != "Sở Tài nguyên & Môi trường" || list[1].OldCode != "000.00.31.H53" {
				t.Errorf("Agencies = %+v, %v", list, err)
			}
		}},
		{"getAgenciesListQD20", nil, func(t *testing.T, c *vxp.Client) {
			list, err := c.AgenciesQD20(ctx)
			if err != nil || len(list) != 2 || list[1].Code102 != "000.00.31.H53" {
				t.Errorf("AgenciesQD20 = %+v, %v", list, err)
			}
		}},
		{"getSynchronizeUnit", nil, func(t *testing.T, c *vxp.Client) {
			list, err := c.SynchronizeUnits(ctx)
			want := vxp.UnitEntry{ID: "2", PID: "1", Code: "000.00.31.H53", Name: "Sở Tài nguyên & Môi trường",
				Mail: "stnmt@tayninh.example.gov.vn", Version: 7, CenterCode: goldenSystem, Deleted: true,
				ModifyDate: "2026/11/21 16:30:00", IsAgency: true}
			if err != nil || len(list) != 1 || list[0] != want {
				t.Errorf("SynchronizeUnits = %+v, %v", list, err)
			}
		}},
		{"registerAgency", nil, func(t *testing.T, c *vxp.Client) {
			err := c.RegisterAgency(ctx, vxp.AgencyRegistration{ParentCode: "000.00.31.H53", Code: "000.05.31.H53",
				Name: "UBND xã Lợi Thuận", Mail: "loithuan@tayninh.example.gov.vn", Mobile: "0276 3870 000"})
			if err != nil {
				t.Error(err)
			}
		}},
		{"deleteAgency", nil, func(t *testing.T, c *vxp.Client) {
			if err := c.DeleteAgency(ctx, "000.05.31.H53"); err != nil {
				t.Error(err)
			}
		}},
		// The SDK's leak: keys of earlier calls stay in the signed set.
		{"countReceiveStatus-leaked", []vxp.ClientOption{vxp.WithHeaderLeak(), vxp.WithFilePath("xml")}, func(t *testing.T, c *vxp.Client) {
			if _, err := c.GetEdoc(ctx, goldenDocID); err != nil {
				t.Error(err)
			}
			if n, err := c.CountReceived(ctx, vxp.MessageStatus); err != nil || n != 3 {
				t.Errorf("CountReceived = %d, %v", n, err)
			}
		}},
		{"getEdoc-leaked-docid", []vxp.ClientOption{vxp.WithHeaderLeak(), vxp.WithFilePath("xml")}, func(t *testing.T, c *vxp.Client) {
			if err := c.UpdateStatus(ctx, goldenOldDoc, vxp.AckDone); err != nil {
				t.Error(err)
			}
			if got, err := c.GetEdoc(ctx, goldenDocID); err != nil || !bytes.Equal(got, pkg) {
				t.Errorf("GetEdoc = %d bytes, %v", len(got), err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			srv, got := goldenServer(t)
			c, err := vxp.NewClient(srv.URL, goldenSystem, goldenSecret, srv.Client(), append([]vxp.ClientOption{clock}, tt.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			tt.calls(t, c)
			reqs := got()
			if len(reqs) == 0 {
				t.Fatal("no request")
			}
			sameAsGolden(t, reqs[len(reqs)-1], tt.golden)
		})
	}
}

func TestClientErrors(t *testing.T) {
	srv, _ := goldenServer(t)
	ctx := context.Background()

	// A wrong secret: the server's error shape becomes a *ResponseError.
	c, err := vxp.NewClient(srv.URL, goldenSystem, "not-the-secret-0000", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.SendEdoc(ctx, goldenOrgan, vxp.MessageStatus, []byte("<x/>"))
	var re *vxp.ResponseError
	if !errors.As(err, &re) || re.ErrorCode != vxp.CodeUnauthenticated || re.Status != vxp.StatusFail || re.HTTPStatus != 401 {
		t.Fatalf("err = %#v", err)
	}
	if _, err := c.DownloadEdoc(ctx, goldenDocID); !errors.As(err, &re) || re.ErrorCode != vxp.CodeUnauthenticated {
		t.Fatalf("DownloadEdoc err = %#v", err)
	}

	// Values a header cannot carry are refused before sending.
	good, _ := vxp.NewClient(srv.URL, goldenSystem, goldenSecret, srv.Client())
	if err := good.UpdateStatus(ctx, "a\r\nX-Injected: 1", vxp.AckDone); err == nil || !strings.Contains(err.Error(), "not sendable") {
		t.Fatalf("header injection: err = %v", err)
	}

	for _, bad := range []string{"", "ftp://host", "http://", "::"} {
		if _, err := vxp.NewClient(bad, goldenSystem, goldenSecret, nil); err == nil {
			t.Errorf("NewClient(%q) accepted", bad)
		}
	}
	if _, err := vxp.NewClient(srv.URL, "", goldenSecret, nil); err == nil {
		t.Error("empty systemid accepted")
	}
	if _, err := vxp.NewClient(srv.URL, goldenSystem, "", nil); err == nil {
		t.Error("empty secret accepted")
	}
}

// TestClientLenientAnswers feeds the client answers shaped as the national
// axis might send them (numbers where strings are expected, extra
// members), which the SDK accepts too.
func TestClientLenientAnswers(t *testing.T) {
	answers := map[string]string{
		"/countReceiveEdoc":    `{"status":"OK","ErrorCode":0,"ErrorDesc":"ok","count":"5"}`,
		"/getReceivedEdocList": `{"status":"OK","ErrorCode":"0","ErrorDesc":"ok","extra":[1],"data":[{"docId":12,"created_time":1732240000000,"status":true}]}`,
		"/getSynchronizeUnit":  `{"status":"OK","ErrorCode":"0","ErrorDesc":"ok","data":[{"id":"1","version":"4","deleted":"TRUE","isAgency":false}]}`,
		"/getEdoc":             `{"status":"FAIL","ErrorCode":"0","ErrorDesc":"gone"}`,
		"/updateStatus":        `not json`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/updateStatus" {
			w.WriteHeader(502)
		}
		io.WriteString(w, answers[r.URL.Path])
	}))
	defer srv.Close()
	c, _ := vxp.NewClient(srv.URL+"/", "any", "any-secret", srv.Client())
	ctx := context.Background()
	if n, err := c.CountReceived(ctx, vxp.MessageEdoc); err != nil || n != 5 {
		t.Errorf("CountReceived = %d, %v", n, err)
	}
	list, err := c.ReceivedList(ctx, vxp.MessageEdoc)
	if err != nil || len(list) != 1 || list[0].DocID != "12" || list[0].CreatedTime != "1732240000000" || list[0].Status != "true" {
		t.Errorf("ReceivedList = %+v, %v", list, err)
	}
	units, err := c.SynchronizeUnits(ctx)
	if err != nil || len(units) != 1 || units[0].Version != 4 || !units[0].Deleted || units[0].IsAgency {
		t.Errorf("SynchronizeUnits = %+v, %v", units, err)
	}
	var re *vxp.ResponseError
	if _, err := c.GetEdoc(ctx, "x"); !errors.As(err, &re) || re.ErrorDesc != "gone" {
		t.Errorf("GetEdoc with status FAIL: err = %v", err)
	}
	if err := c.UpdateStatus(ctx, "x", vxp.AckDone); !errors.As(err, &re) || re.HTTPStatus != 502 {
		t.Errorf("UpdateStatus on a 502 without JSON: err = %v", err)
	}
}
