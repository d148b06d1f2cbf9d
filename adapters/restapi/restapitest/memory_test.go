package restapitest

import (
	"context"
	"errors"
	"testing"
	"time"

	"truc.vn/truc/bus"
	"truc.vn/truc/edoc"
)

func TestNewDocumentIsValid(t *testing.T) {
	b := NewDocument(t, "000.00.00.H26", "000.00.00.G09", "000.00.00.G22")
	p, err := edoc.Parse(b, edoc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range p.Validate() {
		if pr.Severity == edoc.Error {
			t.Errorf("problem: %v", pr)
		}
	}
	if string(NewDocument(t, "000.00.00.H26", "000.00.00.G09")) == string(b) {
		t.Error("two calls gave the same bytes")
	}
}

func TestMemory(t *testing.T) {
	ctx := context.Background()
	m := NewMemory()
	doc := NewDocument(t, "000.00.00.H26", "000.00.00.G09")

	e, created, err := m.Submit(ctx, "dms", []string{"000.00.00.H26"}, doc, "k1")
	if err != nil || !created {
		t.Fatalf("Submit: %v %v", created, err)
	}
	again, created, err := m.Submit(ctx, "dms", []string{"000.00.00.H26"}, doc, "k1")
	if err != nil || created || again.Message.ID != e.Message.ID {
		t.Fatalf("replay: %v %v %v", again.Message.ID, created, err)
	}
	if _, _, err := m.Submit(ctx, "dms", []string{"000.00.00.H26"}, NewDocument(t, "000.00.00.H26", "000.00.00.G09"), "k1"); !errors.Is(err, bus.ErrConflict) {
		t.Fatalf("key reused with other bytes: %v", err)
	}
	var re *bus.RejectError
	if _, _, err := m.Submit(ctx, "dms", []string{"000.00.00.G01"}, doc, ""); !errors.As(err, &re) || re.Field != "From/OrganId" {
		t.Fatalf("foreign sender: %v", err)
	}
	if _, _, err := m.Submit(ctx, "dms", []string{"000.00.00.H26"}, []byte("<edXML"), ""); !errors.As(err, &re) {
		t.Fatalf("malformed: %v", err)
	}

	in, err := m.Deliver(NewDocument(t, "000.00.00.G09", "000.00.00.H26"), "000.00.00.H26")
	if err != nil || in.Seq != 1 {
		t.Fatalf("Deliver: %+v %v", in, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := m.WaitInbox(wctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitInbox with nothing new: %v", err)
	}
	if err := m.WaitInbox(ctx, 0); err != nil {
		t.Fatalf("WaitInbox: %v", err)
	}
	taken, err := m.Take(ctx, in.ID, nil)
	if err != nil || taken.TakenAt.IsZero() || taken.Status01 == "" {
		t.Fatalf("Take: %+v %v", taken, err)
	}
	if _, err := m.PostStatus(ctx, "dms", "", in.ID, nil, "01", "", ""); !errors.Is(err, bus.ErrConflict) {
		t.Fatalf("second 01: %v", err)
	}
	if _, err := m.PostStatus(ctx, "dms", "", in.ID, nil, "13", "", ""); !errors.As(err, &re) || re.Field != "code" {
		t.Fatalf("13 from a recipient: %v", err)
	}
	st, err := m.PostStatus(ctx, "dms", "", in.ID, nil, "03", "Đã vào sổ", "Văn thư")
	if err != nil {
		t.Fatal(err)
	}
	p, err := edoc.Parse(st.Message.Package, edoc.Limits{})
	if err != nil || p.StatusCode() != edoc.StatusAccepted || p.Status.From.OrganID != "000.00.00.H26" {
		t.Fatalf("status package: %v", err)
	}
}
