package bus_test

import (
	"testing"
	"time"

	"truc.vn/truc/bus"
)

func TestTimeline(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	doc := bus.Entry{
		SHA256: [32]byte{1}, MessageID: "vpcp.1", Type: bus.TypeDocument, Key: "000.00.00.G22/D1",
		Sender: "000.00.00.G22", At: t0, Recipients: []string{"000.00.00.H26", "000.00.00.H53"}, Leaf: 0,
		Routes: []bus.Route{
			{Edge: "hanoi", Recipients: []string{"000.00.00.H26"}, State: bus.RouteAcked, Leaf: 1, SentAt: t0.Add(time.Second), AckedAt: t0.Add(2 * time.Second)},
			{Edge: "tayninh", Recipients: []string{"000.00.00.H53"}, State: bus.RouteAcked, Leaf: 2, SentAt: t0.Add(time.Second), AckedAt: t0.Add(3 * time.Second), Rejected: "untrusted-chain"},
		},
	}
	st := bus.Entry{SHA256: [32]byte{2}, MessageID: "hanoi.1", Type: bus.TypeStatus, Key: doc.Key, Sender: "000.00.00.H26", At: t0.Add(4 * time.Second), StatusCode: "01", Leaf: 3}
	st3 := st
	st3.SHA256, st3.StatusCode, st3.At, st3.Leaf = [32]byte{3}, "03", t0.Add(5*time.Second), 4
	rejected := bus.Entry{SHA256: [32]byte{4}, Type: bus.TypeStatus, Key: doc.Key, Sender: "000.00.00.H53", StatusCode: "06", Rejected: "not-a-participant"}

	got := bus.Timeline([]bus.Entry{doc, st, st3, rejected})
	if len(got) != 2 {
		t.Fatalf("%d recipients, want 2: %+v", len(got), got)
	}
	h, tn := got[0], got[1]
	if h.OrganID != "000.00.00.H26" || h.Edge != "hanoi" || h.Route != bus.RouteAcked || h.Status != "03" {
		t.Errorf("H26: %+v", h)
	}
	var kinds []string
	for _, e := range h.Events {
		kinds = append(kinds, e.Kind+e.Status)
	}
	if want := []string{"sent", "delivered", "acked", "status01", "status03"}; !equal(kinds, want) {
		t.Errorf("H26 events %v, want %v", kinds, want)
	}
	if tn.Status != "" || tn.Events[len(tn.Events)-1].Kind != "refused" || tn.Events[len(tn.Events)-1].Reason != "untrusted-chain" {
		t.Errorf("H53 (refused; its rejected status must not count): %+v", tn)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestTransient(t *testing.T) {
	for reason, want := range map[string]bool{
		bus.RejectVerificationError: true, bus.RejectCRLUnavailable: true,
		"revoked": false, "digest-mismatch": false, bus.RejectUnknownRecipient: false, "": false,
	} {
		if got := bus.Transient(reason); got != want {
			t.Errorf("Transient(%q) = %v, want %v", reason, got, want)
		}
	}
}
