package webhook

// Red-team findings on the webhook dispatcher (see the review report).
// Each test shows one defect and fails until it is fixed.

import (
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"truc.vn/truc/bus"
)

// TestRedteamPushAfterAgencyRemovedFromSubscription: a delivery records
// the subscription's agencies when the item is enqueued, and every later
// attempt pushes to the URL and takes the item for those agencies without
// looking at the configuration again. When an agency leaves a
// subscription (it moved to another DMS, or was put in by mistake), the
// deliveries still pending for it keep going to the old DMS, which is
// then also recorded as having taken the item for that agency (and, for a
// document, the edge sends status 01 in its name). An attempt should push
// only for agencies the subscription still serves.
func TestRedteamPushAfterAgencyRemovedFromSubscription(t *testing.T) {
	src := newEdgeSource(t)
	rcv := newReceiver(t)
	rcv.setAnswer(func(hit, int) int { return http.StatusServiceUnavailable })
	path := filepath.Join(t.TempDir(), "webhooks.db")

	sub := testSub("dms-old", rcv)
	sub.OrganIDs = []string{organA, organB}
	sub.MaxAttempts = 1000
	sub.Backoff = Backoff{Base: 50 * time.Millisecond, Max: 50 * time.Millisecond}
	r := start(t, path, src, Config{Subscriptions: []Subscription{sub}})
	item, _ := src.receive(bus.TypeDocument, "letter-for-a", []string{organA}, "a1")
	waitFor(t, "a failed attempt", func() (bool, string) { return len(rcv.snapshot()) > 0, "" })
	r.stop()

	// Agency A is moved off this subscription; the receiver is back up.
	n := len(rcv.snapshot())
	rcv.setAnswer(func(hit, int) int { return http.StatusOK })
	sub.OrganIDs = []string{organB}
	r = start(t, path, src, Config{Subscriptions: []Subscription{sub}})
	time.Sleep(500 * time.Millisecond) // several back-off periods
	r.stop()

	for _, h := range rcv.snapshot()[n:] {
		if h.env.Item.ID == item.ID {
			t.Errorf("item %s for %s was pushed to subscription %s, which serves only %v now (attempt %s, recipients %v)",
				item.ID, organA, sub.Name, sub.OrganIDs, h.attempt, h.env.Item.Recipients)
			break
		}
	}
	for _, organs := range src.takesOf(item.ID) {
		if slices.Contains(organs, organA) {
			t.Errorf("subscription %s took item %s for %s, an agency it no longer serves", sub.Name, item.ID, organA)
		}
	}
}
