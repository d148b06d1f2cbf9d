package vxp

import (
	"testing"
	"time"

	"truc.vn/truc/bus"
)

// TestSentItemsOf checks how getSentEdocList reads a sent package's
// timeline, one recipient at a time.
func TestVXPSentItemsOf(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	const r1, r2 = "000.00.01.H53", "000.00.02.H26"
	sha := [32]byte{1, 2, 3}
	entry := func(typ bus.Type, tl ...bus.TimelineEvent) bus.OutboxEntry {
		return bus.OutboxEntry{
			Message:   bus.Message{ID: "a.m1", Type: typ, Sender: "000.00.00.G22", Recipients: []string{r1, r2}, SHA256: sha},
			CreatedAt: t0, Timeline: tl,
		}
	}
	type want struct {
		send, recv string
		receiver   bool // receiverDocId set
		received   time.Time
	}
	tests := []struct {
		name string
		e    bus.OutboxEntry
		want [2]want
	}{
		{"just submitted", entry(bus.TypeDocument, bus.TimelineEvent{Kind: bus.TimelineSubmitted, At: t0}),
			[2]want{{send: "pending", recv: "pending"}, {send: "pending", recv: "pending"}}},
		{"accepted", entry(bus.TypeDocument, bus.TimelineEvent{Kind: bus.TimelineAccepted, At: at(1)}),
			[2]want{{send: "accepted", recv: "pending"}, {send: "accepted", recv: "pending"}}},
		{"delivered to one edge", entry(bus.TypeDocument,
			bus.TimelineEvent{Kind: bus.TimelineAccepted, At: at(1)},
			bus.TimelineEvent{Kind: bus.TimelineDelivered, At: at(2), Recipients: []string{r1}}),
			[2]want{{send: "delivered", recv: "pending", receiver: true}, {send: "accepted", recv: "pending"}}},
		{"statuses, the last one counts", entry(bus.TypeDocument,
			bus.TimelineEvent{Kind: bus.TimelineAccepted, At: at(1)},
			bus.TimelineEvent{Kind: bus.TimelineDelivered, At: at(2), Recipients: []string{r1, r2}},
			bus.TimelineEvent{Kind: bus.TimelineStatus, At: at(3), Recipients: []string{r1}, StatusCode: "01"},
			bus.TimelineEvent{Kind: bus.TimelineStatus, At: at(4), Recipients: []string{r1}, StatusCode: "03"},
			bus.TimelineEvent{Kind: bus.TimelineStatus, At: at(5), Recipients: []string{r2}, StatusCode: "02"}),
			[2]want{{send: "delivered", recv: "03", receiver: true, received: at(3)}, {send: "delivered", recv: "02", receiver: true, received: at(5)}}},
		{"refused by one recipient's edge", entry(bus.TypeDocument,
			bus.TimelineEvent{Kind: bus.TimelineAccepted, At: at(1)},
			bus.TimelineEvent{Kind: bus.TimelineDelivered, At: at(2), Recipients: []string{r1, r2}},
			bus.TimelineEvent{Kind: bus.TimelineRefused, At: at(3), Recipients: []string{r2}, Reason: "signer-not-bound"}),
			[2]want{{send: "delivered", recv: "pending", receiver: true}, {send: "refused", recv: "pending", receiver: true}}},
		{"rejected by the axis", entry(bus.TypeDocument,
			bus.TimelineEvent{Kind: bus.TimelineRejected, At: at(1), Reason: "unknown-recipient", Detail: "gone"}),
			[2]want{{send: "rejected", recv: "pending"}, {send: "rejected", recv: "pending"}}},
		{"a status package delivered", entry(bus.TypeStatus,
			bus.TimelineEvent{Kind: bus.TimelineAccepted, At: at(1)},
			bus.TimelineEvent{Kind: bus.TimelineDelivered, At: at(2), Recipients: []string{r1}}),
			[2]want{{send: "delivered", recv: "received", receiver: true, received: at(2)}, {send: "accepted", recv: "pending"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			items := sentItemsOf(tc.e, packageMeta{title: "Trích yếu", notation: "1/VP"})
			if len(items) != 2 {
				t.Fatalf("%d items, want one per recipient", len(items))
			}
			for i, it := range items {
				w := tc.want[i]
				if it.ToCode != tc.e.Message.Recipients[i] || it.SenderDocID != "a.m1" || it.FromCode != "000.00.00.G22" ||
					it.Title != "Trích yếu" || it.Notation != "1/VP" || !it.SentTime.Equal(t0) {
					t.Errorf("item %d: %+v", i, it)
				}
				if it.SendStatus != w.send || it.ReceiveStatus != w.recv || (it.ReceiverDocID != "") != w.receiver || !it.ReceivedTime.Equal(w.received) {
					t.Errorf("item %d (%s): send %q recv %q receiver %q received %v; want %+v", i, it.ToCode, it.SendStatus, it.ReceiveStatus, it.ReceiverDocID, it.ReceivedTime, w)
				}
				if it.SendStatusDesc == "" || it.ReceiveStatusDesc == "" {
					t.Errorf("item %d: a status without its words: %+v", i, it)
				}
			}
		})
	}
}
