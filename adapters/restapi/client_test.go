package restapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"truc.vn/truc/adapters/restapi"
	"truc.vn/truc/adapters/restapi/restapitest"
	"truc.vn/truc/bus"
)

// newServer serves e's handler over HTTP and returns a client of it for
// token.
func newServer(t *testing.T, e *env, token string) *restapi.Client {
	t.Helper()
	srv := httptest.NewServer(e.h)
	t.Cleanup(srv.Close)
	c, err := restapi.NewClient(srv.URL+"/", token, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClient(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	c := newServer(t, e, tokHanoi)

	pkg := restapitest.NewDocument(t, hanoi, bnv)
	s, err := c.Submit(ctx, pkg, "k-1")
	if err != nil || s.ID == "" || s.Replayed {
		t.Fatalf("Submit: %+v %v", s, err)
	}
	again, err := c.Submit(ctx, pkg, "k-1")
	if err != nil || again.ID != s.ID || !again.Replayed {
		t.Fatalf("Submit again: %+v %v", again, err)
	}
	if err := e.mem.AddEvent(s.ID, bus.TimelineEvent{Kind: bus.TimelineDelivered, Recipients: []string{bnv}}); err != nil {
		t.Fatal(err)
	}
	d, err := c.Document(ctx, s.ID)
	if err != nil || d.ID != s.ID || len(d.Timeline) != 1 || len(d.Timeline[0].Events) != 2 {
		t.Fatalf("Document: %+v %v", d, err)
	}

	in := restapitest.NewDocument(t, vpcp, hanoi)
	it, err := e.mem.Deliver(in, hanoi)
	if err != nil {
		t.Fatal(err)
	}
	page, err := c.Inbox(ctx, restapi.InboxQuery{Limit: 10, Wait: time.Second})
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != it.ID || page.Next != it.Seq {
		t.Fatalf("Inbox: %+v %v", page, err)
	}
	got, err := c.Item(ctx, it.ID)
	if err != nil || !bytes.Equal(got, in) {
		t.Fatalf("Item: %v", err)
	}
	taken, err := c.Ack(ctx, it.ID)
	if err != nil || taken.TakenAt.IsZero() {
		t.Fatalf("Ack: %+v %v", taken, err)
	}
	st, err := c.PostStatus(ctx, it.ID, restapi.StatusRequest{Code: "03", Description: "Đã vào sổ", Staff: "Văn thư"})
	if err != nil || st.ID == "" {
		t.Fatalf("PostStatus: %+v %v", st, err)
	}
	page, err = c.Inbox(ctx, restapi.InboxQuery{After: page.Next})
	if err != nil || len(page.Items) != 0 || page.Next != it.Seq {
		t.Fatalf("Inbox after: %+v %v", page, err)
	}

	t.Run("problems", func(t *testing.T) {
		_, err := c.PostStatus(ctx, it.ID, restapi.StatusRequest{Code: "01"})
		var p *restapi.Problem
		if !errors.As(err, &p) || p.Status != 409 || p.Reason != restapi.ReasonConflict {
			t.Fatalf("second 01: %v", err)
		}
		_, err = c.Document(ctx, "msg-999999")
		if !errors.As(err, &p) || p.Status != 404 || p.Field != "id" {
			t.Fatalf("unknown document: %v", err)
		}
		_, err = c.Item(ctx, "../../etc/passwd")
		if !errors.As(err, &p) || p.Status != 400 {
			t.Fatalf("bad item ID: %v", err)
		}
		bad := newServer(t, e, "wrong-token")
		_, err = bad.Inbox(ctx, restapi.InboxQuery{})
		if !errors.As(err, &p) || p.Status != 401 || p.Reason != restapi.ReasonInvalidToken {
			t.Fatalf("wrong token: %v", err)
		}
		if strings.Contains(err.Error(), "wrong-token") {
			t.Fatalf("the error shows the token: %v", err)
		}
	})
}

func TestClientDistrustsTheServer(t *testing.T) {
	ctx := context.Background()
	serve := func(h http.HandlerFunc) *restapi.Client {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		c, err := restapi.NewClient(srv.URL, "t", nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	t.Run("item bytes that do not match their SHA-256", func(t *testing.T) {
		c := serve(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Truc-Sha256", strings.Repeat("0", 64))
			io.WriteString(w, "<edXML/>")
		})
		if _, err := c.Item(ctx, "in-0123456789abcdef0123456789abcdef"); err == nil || !strings.Contains(err.Error(), "SHA-256") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a proxy's error page", func(t *testing.T) {
		c := serve(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "<html>bad gateway</html>")
		})
		_, err := c.Inbox(ctx, restapi.InboxQuery{})
		var p *restapi.Problem
		if !errors.As(err, &p) || p.Status != 502 {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a success that is not JSON", func(t *testing.T) {
		c := serve(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
		if _, err := c.Inbox(ctx, restapi.InboxQuery{}); err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("a problem whose status disagrees", func(t *testing.T) {
		c := serve(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"status":200,"reason":"not-found","title":"x","type":"x"}`)
		})
		_, err := c.Document(ctx, "m-1")
		var p *restapi.Problem
		if !errors.As(err, &p) || p.Status != 404 {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestNewClient(t *testing.T) {
	for _, tt := range []struct{ url, token string }{
		{"ftp://edge", "t"},
		{"edge:8080", "t"},
		{"http://", "t"},
		{"http://edge?x=1", "t"},
		{"http://edge", ""},
		{"http://edge", "tok en"},
		{"http://edge", "tok\nen"},
	} {
		if _, err := restapi.NewClient(tt.url, tt.token, nil); err == nil {
			t.Errorf("NewClient(%q, %q) accepted", tt.url, tt.token)
		} else if tt.token != "" && tt.token != "t" && strings.Contains(err.Error(), tt.token) {
			t.Errorf("the error shows the token: %v", err)
		}
	}
}

func TestClientNewEndpoints(t *testing.T) {
	ctx := context.Background()
	hook := &restapitest.Webhooks{}
	e := newEnv(t, restapi.WithWebhooks(hook))
	e.mem.SetAgencies(testAgencies...)
	c := newServer(t, e, tokHanoi)

	var md restapi.DocumentMetadata
	if err := json.Unmarshal([]byte(metadataJSON), &md); err != nil {
		t.Fatal(err)
	}
	files := []restapi.File{
		{Name: "Tờ trình số 7.pdf", ContentType: "application/pdf", Data: []byte("%PDF-1.4 tờ trình")},
		{Name: "data.bin", Data: []byte{0, 1, 2}},
	}
	s, err := c.SubmitDocument(ctx, md, files, "doc-7")
	if err != nil || s.Replayed {
		t.Fatalf("SubmitDocument: %+v %v", s, err)
	}
	if again, err := c.SubmitDocument(ctx, md, files, "doc-7"); err != nil || again.ID != s.ID || !again.Replayed {
		t.Fatalf("SubmitDocument again: %+v %v", again, err)
	}
	page, err := c.Documents(ctx, restapi.DocumentQuery{Recipient: bnv, Type: "document", Since: time.Now().Add(-time.Hour)})
	if err != nil || len(page.Documents) != 1 || page.Documents[0].ID != s.ID || page.Documents[0].States[0].State != restapi.StateQueued {
		t.Fatalf("Documents: %+v %v", page, err)
	}
	pkg, err := c.DocumentPackage(ctx, s.ID)
	if err != nil || !bytes.Equal(pkg, e.mem.Sent()[0].Message.Package) {
		t.Fatalf("DocumentPackage: %v", err)
	}
	list, err := c.DocumentAttachments(ctx, s.ID)
	if err != nil || len(list.Attachments) != 2 || list.Attachments[0].Name != files[0].Name {
		t.Fatalf("DocumentAttachments: %+v %v", list, err)
	}
	for i, f := range files {
		d, err := c.DocumentAttachment(ctx, s.ID, i+1)
		wantType := f.ContentType
		if wantType == "" {
			wantType = "application/octet-stream"
		}
		if err != nil || d.Name != f.Name || d.ContentType != wantType || !bytes.Equal(d.Data, f.Data) {
			t.Fatalf("DocumentAttachment %d: %q %q %v", i+1, d.Name, d.ContentType, err)
		}
	}

	it := e.deliver(restapitest.NewDocument(t, vpcp, hanoi), hanoi)
	if l, err := c.ItemAttachments(ctx, it.ID); err != nil || len(l.Attachments) != 1 {
		t.Fatalf("ItemAttachments: %+v %v", l, err)
	}
	if d, err := c.ItemAttachment(ctx, it.ID, 1); err != nil || !strings.HasPrefix(string(d.Data), "%PDF") || !strings.HasSuffix(d.Name, ".pdf") {
		t.Fatalf("ItemAttachment: %q %v", d.Name, err)
	}
	var p *restapi.Problem
	if _, err := c.ItemAttachment(ctx, it.ID, 2); !errors.As(err, &p) || p.Status != 404 || p.Field != "n" {
		t.Fatalf("ItemAttachment 2: %v", err)
	}

	if _, err := c.Recall(ctx, s.ID, restapi.RecallRequest{Description: "Gửi nhầm"}, "r-1"); !errors.As(err, &p) || p.Reason != bus.RejectUnknownDocument {
		t.Fatalf("Recall before the axis accepted it: %v", err)
	}
	if err := e.mem.AddEvent(s.ID, bus.TimelineEvent{Kind: bus.TimelineAccepted}); err != nil {
		t.Fatal(err)
	}
	r, err := c.Recall(ctx, s.ID, restapi.RecallRequest{Description: "Gửi nhầm"}, "r-1")
	if err != nil {
		t.Fatalf("Recall: %v", err)
	}
	if again, err := c.Recall(ctx, s.ID, restapi.RecallRequest{Description: "Gửi nhầm"}, "r-1"); err != nil || again.ID != r.ID || !again.Replayed {
		t.Fatalf("Recall again: %+v %v", again, err)
	}

	ag, err := c.Agencies(ctx, restapi.AgencyQuery{Q: "đa nang"})
	if err != nil || len(ag.Agencies) != 1 || ag.Agencies[0].OrganID != "000.00.00.H15" {
		t.Fatalf("Agencies: %+v %v", ag, err)
	}
	if ag, err := c.Agencies(ctx, restapi.AgencyQuery{Q: "giai the", All: true}); err != nil || len(ag.Agencies) != 1 {
		t.Fatalf("Agencies all: %+v %v", ag, err)
	}
	if ag, err := c.Agencies(ctx, restapi.AgencyQuery{Parent: hanoi, Limit: 5}); err != nil || len(ag.Agencies) != 1 || ag.Agencies[0].OrganID != hanoiSub {
		t.Fatalf("Agencies under Hà Nội: %+v %v", ag, err)
	}

	failed := hook.Add(it.ID, "https://dms.example/hook", []string{hanoi}, restapi.WebhookFailed, 5, "HTTP 500")
	wp, err := c.WebhookDeliveries(ctx, restapi.WebhookDeliveryQuery{State: restapi.WebhookFailed, Limit: 10})
	if err != nil || len(wp.Deliveries) != 1 || wp.Next != failed.Seq {
		t.Fatalf("WebhookDeliveries: %+v %v", wp, err)
	}
	d, err := c.RetryWebhook(ctx, failed.ID)
	if err != nil || d.State != restapi.WebhookPending {
		t.Fatalf("RetryWebhook: %+v %v", d, err)
	}
}
