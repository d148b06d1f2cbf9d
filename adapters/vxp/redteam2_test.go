package vxp_test

import (
	"context"
	"testing"
	"time"

	"truc.vn/truc/adapters/vxp"
	"truc.vn/truc/bus"
	"truc.vn/truc/edoc"
)

// Red-team tests of the VXP backend over the edge (session 3 review).

// TestRedteamVXPSecond01FromOneAgency: VXP software sends its own status
// 01 with sendEdoc. The edge takes it as any status package: it is not
// linked to the inbox item it answers, so nothing stops a second 01 from
// the same agency for the same document (a DMS that builds the status
// again on a retry: a new time, other bytes, so content deduplication does
// not catch it), and the item never shows that its recipient answered
// with 01, so a REST or drop-folder Take for the same agency would add a
// third. The REST API and the drop folder refuse a second 01 (PostStatus:
// ErrConflict); sendEdoc should too.
func TestRedteamVXPSecond01FromOneAgency(t *testing.T) {
	w := newEdgeWorld(t)
	a, b := w.edges["a"], w.edges["b"]
	ctx := context.Background()
	id, err := a.backend.SendEdoc(ctx, sysA, vxp.SendRequest{From: organA, MessageType: vxp.MessageEdoc, Package: newLetter(t, organA, []string{organB}, "71")})
	if err != nil {
		t.Fatal(err)
	}
	w.deliver(t, "a", "b", id)
	l, err := b.backend.ReceivedList(ctx, sysB, vxp.MessageEdoc)
	if err != nil || len(l) != 1 {
		t.Fatalf("ReceivedList: %+v, %v", l, err)
	}
	received, err := b.backend.GetEdoc(ctx, sysB, l[0].DocID)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.backend.UpdateStatus(ctx, sysB, l[0].DocID, vxp.AckDone); err != nil {
		t.Fatal(err)
	}
	first := newStatus(t, received, organB, edoc.StatusArrived)
	if _, err := b.backend.SendEdoc(ctx, sysB, vxp.SendRequest{From: organB, MessageType: vxp.MessageStatus, Package: first}); err != nil {
		t.Fatalf("the first 01: %v", err)
	}
	time.Sleep(1100 * time.Millisecond) // the status time has whole seconds
	second := newStatus(t, received, organB, edoc.StatusArrived)
	if string(second) == string(first) {
		t.Fatal("the two 01 packages are the same bytes; the test needs two builds")
	}
	_, err = b.backend.SendEdoc(ctx, sysB, vxp.SendRequest{From: organB, MessageType: vxp.MessageStatus, Package: second})
	n01 := 0
	sent, _ := b.edge.Outbox(ctx, bus.OutboxQuery{Limit: 100, Types: []bus.Type{bus.TypeStatus}})
	for _, e := range sent {
		if e.Message.Sender == organB && e.Message.Attrs[bus.AttrStatus] == string(edoc.StatusArrived) {
			n01++
		}
	}
	if err == nil || n01 != 1 {
		t.Errorf("a second 01 from %s for one document: err %v, %d statuses 01 queued; want a conflict and 1", organB, err, n01)
	}
	if item, _, _ := b.edge.Item(ctx, l[0].DocID); item.Deliveries[organB].Status01 == "" {
		t.Errorf("the item does not show the 01 %s sent through VXP (a Take elsewhere would send another): %+v", organB, item.Deliveries)
	}
}
