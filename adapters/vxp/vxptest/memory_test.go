package vxptest_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"truc.vn/truc/adapters/vxp"
	"truc.vn/truc/adapters/vxp/vxptest"
	"truc.vn/truc/edoc"
)

var (
	h53 = vxp.Caller{SystemID: "a", OrganIDs: []string{"000.00.01.H53"}}
	g22 = vxp.Caller{SystemID: "b", OrganIDs: []string{"000.00.00.G22"}}
)

func statusPackage(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "status_01.edxml"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMemorySendAndDeliver(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, edoc.ICT)
	m := vxptest.NewMemory(func() time.Time { return now })
	pkg := statusPackage(t)
	rec := &vxptest.Recorder{Next: m}

	id, err := rec.SendEdoc(ctx, h53, vxp.SendRequest{From: "000.00.01.H53", MessageType: vxp.MessageStatus, Package: pkg})
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := m.SendEdoc(ctx, h53, vxp.SendRequest{From: "000.00.01.H53", MessageType: vxp.MessageStatus, Package: pkg}); again != id {
		t.Fatalf("the same package got %s then %s", id, again)
	}
	// The sender may read its own package; the status went to ResponseFor.
	if got, err := m.GetEdoc(ctx, h53, id); err != nil || !bytes.Equal(got, pkg) {
		t.Fatalf("sender's GetEdoc: %v", err)
	}
	list, err := m.ReceivedList(ctx, g22, vxp.MessageStatus)
	if err != nil || len(list) != 1 || list[0].From != "000.00.01.H53" || !list[0].Created.Equal(now) || list[0].Status != "pending" {
		t.Fatalf("G22 received %+v, %v", list, err)
	}
	if n, _ := m.CountReceived(ctx, g22, vxp.MessageEdoc); n != 0 {
		t.Fatalf("a status counted as edoc")
	}
	// The sender cannot acknowledge what it sent.
	if err := m.UpdateStatus(ctx, h53, id, vxp.AckDone); vxp.KindOf(err) != vxp.KindNotFound {
		t.Fatalf("sender acknowledged its own package: %v", err)
	}
	if err := m.UpdateStatus(ctx, g22, list[0].DocID, vxp.AckFail); err != nil {
		t.Fatal(err)
	}
	sent, _ := m.SentList(ctx, h53, vxp.MessageStatus, id)
	if len(sent) != 1 || sent[0].ReceiveStatus != "fail" || !sent[0].ReceivedTime.IsZero() || sent[0].Notation != "120/VPCP-HC" {
		t.Fatalf("sent %+v", sent)
	}
	if calls := rec.Calls(); len(calls) != 1 || calls[0].Method != "SendEdoc" || calls[0].Caller.SystemID != "a" {
		t.Fatalf("recorded %+v", calls)
	}
	rec.Reset()
	if len(rec.Calls()) != 0 {
		t.Fatal("Reset kept calls")
	}
}

func TestMemoryRefusals(t *testing.T) {
	ctx := context.Background()
	m := vxptest.NewMemory(nil)
	pkg := statusPackage(t)
	tests := []struct {
		name string
		c    vxp.Caller
		req  vxp.SendRequest
		kind vxp.ErrorKind
	}{
		{"not the caller's OrganId", g22, vxp.SendRequest{From: "000.00.01.H53", MessageType: vxp.MessageStatus, Package: pkg}, vxp.KindForbidden},
		{"kind mismatch", h53, vxp.SendRequest{From: "000.00.01.H53", MessageType: vxp.MessageEdoc, Package: pkg}, vxp.KindInvalidPackage},
		{"not XML", h53, vxp.SendRequest{From: "000.00.01.H53", MessageType: vxp.MessageStatus, Package: []byte("{}")}, vxp.KindInvalidPackage},
		{"DOCTYPE", h53, vxp.SendRequest{From: "000.00.01.H53", MessageType: vxp.MessageStatus, Package: append([]byte("<!DOCTYPE x>"), pkg...)}, vxp.KindInvalidPackage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := m.SendEdoc(ctx, tt.c, tt.req); vxp.KindOf(err) != tt.kind {
				t.Fatalf("err = %v, want kind %v", err, tt.kind)
			}
		})
	}
	if n, _ := m.CountReceived(ctx, g22, vxp.MessageStatus); n != 0 {
		t.Fatalf("a refused package was delivered (%d)", n)
	}
}
