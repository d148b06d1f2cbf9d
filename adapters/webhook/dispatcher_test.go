package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"truc.vn/truc/bus"
)

// TestDeliversEveryItemOnceInOrder: documents, statuses and rejection
// notices for the subscription's agencies arrive once each, signed, with
// their exact bytes, in inbox order per document, and are taken for the
// subscription's agencies only; items for other agencies are not sent.
func TestDeliversEveryItemOnceInOrder(t *testing.T) {
	src := newEdgeSource(t)
	rcv := newReceiver(t)
	type sent struct {
		item bus.InboxItem
		pkg  []byte
	}
	var want []sent
	var other []bus.InboxItem
	// Items before the dispatcher starts and while it runs.
	add := func(round int) {
		for doc := range 4 {
			d := fmt.Sprintf("doc-%d", doc)
			it, pkg := src.receive(bus.TypeDocument, d, []string{organA, organC}, fmt.Sprintf("r%d-%s-letter", round, d))
			want = append(want, sent{it, pkg})
			it, pkg = src.receive(bus.TypeStatus, d, []string{organB}, fmt.Sprintf("r%d-%s-status", round, d))
			want = append(want, sent{it, pkg})
			it, _ = src.receive(bus.TypeDocument, d, []string{organC}, fmt.Sprintf("r%d-%s-other", round, d))
			other = append(other, it)
		}
		it, pkg := src.receive(bus.TypeRejection, "doc-0", []string{organB}, fmt.Sprintf("r%d-rejection", round))
		want = append(want, sent{it, pkg})
	}
	add(0)
	d := start(t, filepath.Join(t.TempDir(), "webhooks.db"), src, Config{Subscriptions: []Subscription{testSub("dms", rcv)}})
	add(1)
	waitFor(t, "every item delivered", func() (bool, string) {
		n := len(list(t, d.Dispatcher, Query{State: StateDelivered, Limit: MaxListLimit}))
		return n >= len(want), fmt.Sprintf("%d of %d", n, len(want))
	})
	time.Sleep(50 * time.Millisecond) // room for a wrong extra delivery to show

	hits := rcv.snapshot()
	if len(hits) != len(want) {
		t.Fatalf("the receiver got %d requests for %d items", len(hits), len(want))
	}
	byID := map[string]hit{}
	for _, h := range hits {
		if h.verr != nil {
			t.Fatalf("delivery %s does not verify: %v", h.id, h.verr)
		}
		if h.env.DeliveryID != h.id || h.attempt != "1" {
			t.Errorf("delivery %s: envelope ID %q, attempt %q", h.id, h.env.DeliveryID, h.attempt)
		}
		byID[h.id] = h
	}
	for _, w := range want {
		id := DeliveryID("dms", w.item.ID)
		h, ok := byID[id]
		if !ok {
			t.Fatalf("item %s (%s) was not delivered", w.item.ID, w.item.Type)
		}
		if !bytes.Equal(h.env.Package, w.pkg) {
			t.Errorf("delivery %s: the package bytes differ", id)
		}
		if h.env.Event != string(w.item.Type) || h.env.Item.Seq != w.item.Seq || h.env.Item.Key != w.item.Key || h.env.Item.Size != len(w.pkg) {
			t.Errorf("delivery %s: envelope %+v does not describe item %+v", id, h.env.Item, w.item)
		}
		if slices.Contains(h.env.Item.Recipients, organC) {
			t.Errorf("delivery %s lists %s, which the subscription is not for", id, organC)
		}
		takes := src.takesOf(w.item.ID)
		if len(takes) != 1 || slices.Contains(takes[0], organC) {
			t.Errorf("item %s was taken %v, want once for the subscription's agencies", w.item.ID, takes)
		}
	}
	for _, it := range other {
		if _, ok := byID[DeliveryID("dms", it.ID)]; ok {
			t.Errorf("item %s for %s only was delivered", it.ID, organC)
		}
		if len(src.takesOf(it.ID)) != 0 {
			t.Errorf("item %s for %s only was taken", it.ID, organC)
		}
	}
	// Per document, the order of arrival is the inbox order.
	last := map[string]uint64{}
	for _, id := range rcv.accepted() {
		env := byID[id].env
		if env.Item.Seq <= last[env.Item.Key] {
			t.Errorf("document %s: seq %d arrived after seq %d", env.Item.Key, env.Item.Seq, last[env.Item.Key])
		}
		last[env.Item.Key] = env.Item.Seq
	}
	got := list(t, d.Dispatcher, Query{State: StateDelivered, Limit: MaxListLimit})
	if len(got) != len(want) {
		t.Errorf("%d deliveries listed as delivered, want %d", len(got), len(want))
	}
	if st := d.Stats(); len(st) != 1 || st[0].Pending != 0 || st[0].Failed != 0 {
		t.Errorf("stats %+v, want nothing pending or failed", st)
	}
}

// TestFailingHeadBlocksOnlyItsDocument: a document whose first delivery
// keeps failing waits, failed after MaxAttempts, while other documents go
// on; Retry sends it (same Delivery-Id) and then the rest of its document,
// in order.
func TestFailingHeadBlocksOnlyItsDocument(t *testing.T) {
	src := newEdgeSource(t)
	rcv := newReceiver(t)
	var badKey string
	rcv.setAnswer(func(h hit, n int) int {
		if h.env.Item.Key == badKey {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	bad1, _ := src.receive(bus.TypeDocument, "bad", []string{organA}, "bad-1")
	badKey = bad1.Key
	bad2, _ := src.receive(bus.TypeStatus, "bad", []string{organA}, "bad-2")
	bad3, _ := src.receive(bus.TypeDocument, "bad", []string{organA}, "bad-3")
	var good []bus.InboxItem
	for i := range 5 {
		it, _ := src.receive(bus.TypeDocument, fmt.Sprintf("good-%d", i), []string{organA}, fmt.Sprintf("good-%d", i))
		good = append(good, it)
	}
	sub := testSub("dms", rcv)
	sub.MaxAttempts = 3
	d := start(t, filepath.Join(t.TempDir(), "webhooks.db"), src, Config{Subscriptions: []Subscription{sub}})

	headID := DeliveryID("dms", bad1.ID)
	waitFor(t, "the bad head failed", func() (bool, string) {
		f := list(t, d.Dispatcher, Query{State: StateFailed})
		return len(f) == 1, fmt.Sprint(ids(f))
	})
	failed := list(t, d.Dispatcher, Query{State: StateFailed})
	if failed[0].ID != headID || failed[0].Attempts != 3 || failed[0].LastStatus != 503 {
		t.Fatalf("failed: %+v, want %s after 3 attempts answered 503", failed[0], headID)
	}
	if e := failed[0].LastError; !strings.Contains(e, "503") || strings.Contains(e, "hunter2") {
		t.Errorf("last error %q: want the status, never the receiver's answer body", e)
	}
	waitFor(t, "the good documents delivered", func() (bool, string) {
		return len(list(t, d.Dispatcher, Query{State: StateDelivered})) == len(good), fmt.Sprint(rcv.accepted())
	})
	for _, h := range rcv.snapshot() {
		if h.id == DeliveryID("dms", bad2.ID) || h.id == DeliveryID("dms", bad3.ID) {
			t.Fatalf("%s was sent while the head of its document was failing", h.id)
		}
	}
	if n := len(list(t, d.Dispatcher, Query{State: StatePending})); n != 2 {
		t.Errorf("%d pending, want the 2 behind the failed head", n)
	}
	if st := d.Stats(); st[0].Pending != 2 || st[0].Failed != 1 {
		t.Errorf("stats %+v, want 2 pending and 1 failed", st)
	}

	// The DMS is mended; retry.
	rcv.setAnswer(nil)
	r, err := d.Retry(context.Background(), headID)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != StatePending || r.Attempts != 0 || r.ID != headID {
		t.Errorf("after Retry: %+v, want pending with attempts reset", r)
	}
	waitFor(t, "the bad document delivered", func() (bool, string) {
		n := len(list(t, d.Dispatcher, Query{State: StateDelivered}))
		return n == len(good)+3, fmt.Sprint(rcv.accepted())
	})
	acc := rcv.accepted()
	if want := []string{headID, DeliveryID("dms", bad2.ID), DeliveryID("dms", bad3.ID)}; !slices.Equal(acc[len(good):], want) {
		t.Errorf("after the retry: %v, want %v", acc[len(good):], want)
	}
	// Every attempt of the head carried the same ID and the same body.
	var bodies [][]byte
	for _, h := range rcv.snapshot() {
		if h.id == headID {
			bodies = append(bodies, h.body)
		}
	}
	if len(bodies) != 4 {
		t.Errorf("the head was posted %d times, want 3 + 1 after the retry", len(bodies))
	}
	for _, b := range bodies[1:] {
		if !bytes.Equal(b, bodies[0]) {
			t.Errorf("the body of a repeat differs from the first attempt's")
		}
	}
	got, err := d.Delivery(context.Background(), headID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != StateDelivered || got.Attempts != 1 || got.LastError != "" || got.DeliveredAt.IsZero() {
		t.Errorf("after delivery: %+v", got)
	}
	if _, err := d.Retry(context.Background(), headID); !errors.Is(err, bus.ErrConflict) {
		t.Errorf("Retry of a delivered delivery: %v, want ErrConflict", err)
	}
}

// TestRestartKeepsCursorQueueAndIDs: a dispatcher stopped while the
// receiver is down and items keep arriving picks up where it was after
// Open: every item is delivered, none twice enqueued, and a repeat carries
// the Delivery-Id and body of the first attempt.
func TestRestartKeepsCursorQueueAndIDs(t *testing.T) {
	src := newEdgeSource(t)
	rcv := newReceiver(t)
	// The first run posts to /down, always refused; the second to /up.
	// (A request of the first run may reach the handler after that run
	// stopped: its answer would be lost, and the repeat legitimate.)
	rcv.setAnswer(func(h hit, _ int) int {
		if h.path == "/down" {
			return http.StatusBadGateway
		}
		return http.StatusOK
	})
	path := filepath.Join(t.TempDir(), "webhooks.db")
	sub := testSub("dms", rcv)
	sub.MaxAttempts = 1000
	sub.URL = rcv.srv.URL + "/down"
	cfg := Config{Subscriptions: []Subscription{sub}}
	var items []bus.InboxItem
	recv := func(n int) {
		for i := range n {
			it, _ := src.receive(bus.TypeDocument, fmt.Sprintf("doc-%d", len(items)%3), []string{organA}, fmt.Sprintf("item-%d", len(items)))
			items = append(items, it)
			_ = i
		}
	}
	recv(6)
	d := start(t, path, src, cfg)
	waitFor(t, "attempts while the receiver is down", func() (bool, string) {
		return len(rcv.snapshot()) >= 6, fmt.Sprint(len(rcv.snapshot()))
	})
	recv(3)
	d.stop()
	recv(3) // while stopped
	cfg.Subscriptions[0].URL = rcv.srv.URL + "/up"
	d = start(t, path, src, cfg)
	recv(3) // after the restart
	waitFor(t, "every item delivered", func() (bool, string) {
		n := len(list(t, d.Dispatcher, Query{State: StateDelivered, Limit: MaxListLimit}))
		return n == len(items), fmt.Sprintf("%d of %d", n, len(items))
	})
	all := list(t, d.Dispatcher, Query{Limit: MaxListLimit})
	if len(all) != len(items) {
		t.Errorf("%d deliveries for %d items", len(all), len(items))
	}
	for i := 1; i < len(all); i++ {
		if all[i].Seq <= all[i-1].Seq || all[i].ItemSeq <= all[i-1].ItemSeq {
			t.Errorf("deliveries out of order: %d/%d after %d/%d", all[i].Seq, all[i].ItemSeq, all[i-1].Seq, all[i-1].ItemSeq)
		}
	}
	first := map[string][]byte{}
	for _, h := range rcv.snapshot() {
		if b, ok := first[h.id]; ok && !bytes.Equal(b, h.body) {
			t.Errorf("%s: a repeat's body differs from the first attempt's", h.id)
		}
		if _, ok := first[h.id]; !ok {
			first[h.id] = h.body
		}
	}
	acc := rcv.accepted()
	seen := map[string]bool{}
	for _, id := range acc {
		if seen[id] {
			t.Errorf("%s accepted twice", id)
		}
		seen[id] = true
	}
	for _, it := range items {
		if !seen[DeliveryID("dms", it.ID)] {
			t.Errorf("item %s never delivered", it.ID)
		}
	}
}

// TestSubscriptions: an item for the agencies of two subscriptions goes to
// both, under two Delivery-Ids, each taking it for its own agencies.
func TestSubscriptions(t *testing.T) {
	src := newEdgeSource(t)
	rcvA, rcvB := newReceiver(t), newReceiver(t)
	subA, subB := testSub("dms-a", rcvA), testSub("dms-b", rcvB)
	subA.OrganIDs, subB.OrganIDs = []string{organA}, []string{organB}
	both, _ := src.receive(bus.TypeDocument, "doc", []string{organA, organB}, "both")
	onlyB, _ := src.receive(bus.TypeDocument, "doc", []string{organB}, "only-b")
	d := start(t, filepath.Join(t.TempDir(), "webhooks.db"), src, Config{Subscriptions: []Subscription{subA, subB}})
	waitFor(t, "deliveries", func() (bool, string) {
		return len(list(t, d.Dispatcher, Query{State: StateDelivered})) == 3, fmt.Sprint(rcvA.accepted(), rcvB.accepted())
	})
	if got, want := rcvA.accepted(), []string{"dms-a." + both.ID}; !slices.Equal(got, want) {
		t.Errorf("dms-a got %v, want %v", got, want)
	}
	if got, want := rcvB.accepted(), []string{"dms-b." + both.ID, "dms-b." + onlyB.ID}; !slices.Equal(got, want) {
		t.Errorf("dms-b got %v, want %v", got, want)
	}
	takes := src.takesOf(both.ID)
	slices.SortFunc(takes, func(a, b []string) int { return strings.Compare(a[0], b[0]) })
	if want := [][]string{{organA}, {organB}}; !slices.EqualFunc(takes, want, slices.Equal) {
		t.Errorf("item taken %v, want %v", takes, want)
	}
	// Listing: by subscription, by agency, and with a cursor.
	all := list(t, d.Dispatcher, Query{})
	if len(all) != 3 || all[0].Seq >= all[1].Seq || all[1].Seq >= all[2].Seq {
		t.Fatalf("list: %v", ids(all))
	}
	if got := ids(list(t, d.Dispatcher, Query{Organs: []string{organA}})); !slices.Equal(got, []string{"dms-a." + both.ID}) {
		t.Errorf("list for %s: %v", organA, got)
	}
	if got := ids(list(t, d.Dispatcher, Query{Subscriptions: []string{"dms-b"}, Limit: 1})); len(got) != 1 || got[0] != "dms-b."+both.ID {
		t.Errorf("list dms-b limit 1: %v", got)
	}
	if got := list(t, d.Dispatcher, Query{After: all[1].Seq}); len(got) != 1 || got[0].ID != all[2].ID {
		t.Errorf("list after %d: %v", all[1].Seq, ids(got))
	}
	if _, err := d.Deliveries(context.Background(), Query{Subscriptions: []string{"nope"}}); !errors.Is(err, bus.ErrNotFound) {
		t.Errorf("list of an unknown subscription: %v, want ErrNotFound", err)
	}
}

// TestAttemptFailures: each way an attempt fails is retried with the same
// Delivery-Id, and recorded.
func TestAttemptFailures(t *testing.T) {
	cases := []struct {
		name    string
		setup   func(rcv *receiver, src *edgeSource, sub *Subscription)
		wantErr string
	}{
		{"server error", func(rcv *receiver, _ *edgeSource, _ *Subscription) {
			rcv.setAnswer(func(_ hit, n int) int { return []int{500, 200}[min(n, 1)] })
		}, "answered 500"},
		{"redirect not followed", func(rcv *receiver, _ *edgeSource, _ *Subscription) {
			rcv.setAnswer(func(_ hit, n int) int { return []int{302, 200}[min(n, 1)] })
		}, "answered 302"},
		{"timeout", func(rcv *receiver, _ *edgeSource, sub *Subscription) {
			sub.Timeout = 200 * time.Millisecond
			hold := make(chan struct{})
			rcv.hold = hold
			rcv.setAnswer(func(_ hit, n int) int {
				if n == 1 {
					rcv.hold = nil // under rcv.mu
				}
				return 200
			})
		}, "no answer within 200ms"},
		{"wrong secret", func(_ *receiver, _ *edgeSource, sub *Subscription) {
			sub.Secret = []byte("another secret, 32 bytes or more, yes")
		}, "answered 401"},
		{"take fails", func(_ *receiver, src *edgeSource, _ *Subscription) {
			src.failTakes = 1
		}, "taking the item failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := newEdgeSource(t)
			rcv := newReceiver(t)
			sub := testSub("dms", rcv)
			sub.MaxAttempts = 2
			sub.Backoff = Backoff{Base: 400 * time.Millisecond, Max: 400 * time.Millisecond}
			tc.setup(rcv, src, &sub)
			it, _ := src.receive(bus.TypeDocument, "doc", []string{organA}, "x")
			d := start(t, filepath.Join(t.TempDir(), "webhooks.db"), src, Config{Subscriptions: []Subscription{sub}})
			id := DeliveryID("dms", it.ID)
			var got Delivery
			waitFor(t, "the first attempt", func() (bool, string) {
				var err error
				got, err = d.Delivery(context.Background(), id)
				return err == nil && got.Attempts >= 1, fmt.Sprintf("%+v %v", got, err)
			})
			if got.Attempts != 1 || got.State != StatePending || !strings.Contains(got.LastError, tc.wantErr) {
				t.Errorf("after the first attempt: %+v, want pending with an error saying %q", got, tc.wantErr)
			}
			waitFor(t, "two attempts", func() (bool, string) {
				var err error
				got, err = d.Delivery(context.Background(), id)
				return err == nil && got.Attempts == 2 && got.State != StatePending, fmt.Sprintf("%+v %v", got, err)
			})
			if tc.name == "wrong secret" {
				if got.State != StateFailed {
					t.Errorf("state %s, want failed", got.State)
				}
				for _, h := range rcv.snapshot() {
					var ve *VerifyError
					if !errors.As(h.verr, &ve) || ve.Reason != ReasonSignatureMismatch {
						t.Errorf("the receiver's check: %v, want %s", h.verr, ReasonSignatureMismatch)
					}
				}
				if !strings.Contains(got.LastError, tc.wantErr) {
					t.Errorf("last error %q, want %q", got.LastError, tc.wantErr)
				}
				return
			}
			if got.State != StateDelivered {
				t.Fatalf("state %s after 2 attempts (%s), want delivered", got.State, got.LastError)
			}
			hits := rcv.snapshot()
			if len(hits) != 2 || hits[0].id != id || hits[1].id != id || hits[1].attempt != "2" {
				t.Fatalf("requests: %+v", hits)
			}
			if tc.name == "take fails" {
				if n := len(src.takesOf(it.ID)); n != 1 {
					t.Errorf("taken %d times, want once (the failed take is not recorded)", n)
				}
			}
		})
	}
}

// TestLastErrorRecorded: while attempts fail, the pending delivery shows
// why and when the next attempt is due.
func TestLastErrorRecorded(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		setup      func(rcv *receiver, sub *Subscription)
	}{
		{"status", "answered 500 Internal Server Error", func(rcv *receiver, _ *Subscription) {
			rcv.setAnswer(func(hit, int) int { return 500 })
		}},
		{"redirect", "answered 302 Found", func(rcv *receiver, _ *Subscription) {
			rcv.setAnswer(func(hit, int) int { return 302 })
		}},
		{"refused", "posting: ", func(rcv *receiver, sub *Subscription) {
			rcv.srv.Close()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := newEdgeSource(t)
			rcv := newReceiver(t)
			sub := testSub("dms", rcv)
			sub.MaxAttempts = 1000
			sub.Backoff = Backoff{Base: time.Hour, Max: time.Hour}
			tc.setup(rcv, &sub)
			it, _ := src.receive(bus.TypeDocument, "doc", []string{organA}, "x")
			d := start(t, filepath.Join(t.TempDir(), "webhooks.db"), src, Config{Subscriptions: []Subscription{sub}})
			id := DeliveryID("dms", it.ID)
			var got Delivery
			waitFor(t, "one attempt", func() (bool, string) {
				got, _ = d.Delivery(context.Background(), id)
				return got.Attempts == 1, fmt.Sprintf("%+v", got)
			})
			if !strings.Contains(got.LastError, tc.want) || strings.Contains(got.LastError, "hunter2") {
				t.Errorf("last error %q, want %q", got.LastError, tc.want)
			}
			if wait := time.Until(got.NextAttemptAt); wait < 29*time.Minute || wait > time.Hour {
				t.Errorf("next attempt in %s, want 30m–1h", wait)
			}
			// Retry of a pending delivery makes it due now.
			before := len(rcv.snapshot())
			if _, err := d.Retry(context.Background(), id); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the retried attempt", func() (bool, string) {
				got, _ = d.Delivery(context.Background(), id)
				return got.Attempts == 2, fmt.Sprintf("%+v", got)
			})
			if tc.name != "refused" && len(rcv.snapshot()) != before+1 {
				t.Errorf("%d requests after the retry, want %d", len(rcv.snapshot()), before+1)
			}
		})
	}
}

// TestItemGone: an item no longer in the inbox fails at once.
func TestItemGone(t *testing.T) {
	src := newEdgeSource(t)
	rcv := newReceiver(t)
	it, _ := src.receive(bus.TypeDocument, "doc", []string{organA}, "x")
	src.gone[it.ID] = true
	d := start(t, filepath.Join(t.TempDir(), "webhooks.db"), src, Config{Subscriptions: []Subscription{testSub("dms", rcv)}})
	var got Delivery
	waitFor(t, "failed", func() (bool, string) {
		got, _ = d.Delivery(context.Background(), DeliveryID("dms", it.ID))
		return got.State == StateFailed, fmt.Sprintf("%+v", got)
	})
	if got.Attempts != 1 || !strings.Contains(got.LastError, "no longer in the edge inbox") || len(rcv.snapshot()) != 0 {
		t.Errorf("%+v, %d requests", got, len(rcv.snapshot()))
	}
}

// TestKeepUntaken: the item is delivered but not taken.
func TestKeepUntaken(t *testing.T) {
	src := newEdgeSource(t)
	rcv := newReceiver(t)
	sub := testSub("dms", rcv)
	sub.KeepUntaken = true
	it, _ := src.receive(bus.TypeDocument, "doc", []string{organA}, "x")
	d := start(t, filepath.Join(t.TempDir(), "webhooks.db"), src, Config{Subscriptions: []Subscription{sub}})
	waitFor(t, "delivered", func() (bool, string) { return len(list(t, d.Dispatcher, Query{State: StateDelivered})) == 1, "" })
	if n := len(src.takesOf(it.ID)); n != 0 {
		t.Errorf("taken %d times", n)
	}
	stored, _, err := src.Item(context.Background(), it.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !stored.TakenAt.IsZero() {
		t.Errorf("the item is marked taken")
	}
}

// TestConcurrency: documents go out in parallel, never more than
// Concurrency at once; one document never has two attempts at once.
func TestConcurrency(t *testing.T) {
	src := newEdgeSource(t)
	rcv := newReceiver(t)
	hold := make(chan struct{})
	rcv.hold = hold
	for i := range 12 {
		src.receive(bus.TypeDocument, fmt.Sprintf("doc-%d", i%6), []string{organA}, fmt.Sprintf("x%d", i))
	}
	d := start(t, filepath.Join(t.TempDir(), "webhooks.db"), src, Config{Concurrency: 3, Subscriptions: []Subscription{testSub("dms", rcv)}})
	waitFor(t, "3 requests in flight", func() (bool, string) {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		return rcv.inflight == 3, fmt.Sprint(rcv.inflight)
	})
	time.Sleep(50 * time.Millisecond)
	rcv.mu.Lock()
	keys := map[string]bool{}
	for _, h := range rcv.hits {
		if keys[h.env.Item.Key] {
			t.Errorf("two attempts of document %s at once", h.env.Item.Key)
		}
		keys[h.env.Item.Key] = true
	}
	rcv.hold = nil
	rcv.mu.Unlock()
	close(hold)
	waitFor(t, "all delivered", func() (bool, string) {
		return len(list(t, d.Dispatcher, Query{State: StateDelivered})) == 12, fmt.Sprint(len(rcv.accepted()))
	})
	rcv.mu.Lock()
	peak := rcv.peak
	rcv.mu.Unlock()
	if peak != 3 {
		t.Errorf("peak %d requests in flight, want 3", peak)
	}
}

// TestRetryErrors: Retry refuses what it cannot do, naming it.
func TestRetryErrors(t *testing.T) {
	src := newEdgeSource(t)
	rcv := newReceiver(t)
	d := openDispatcher(t, filepath.Join(t.TempDir(), "webhooks.db"), src, Config{Subscriptions: []Subscription{testSub("dms", rcv)}})
	defer d.Close()
	for _, tc := range []struct {
		id   string
		want error
	}{
		{"", bus.ErrNotFound},
		{"dms", bus.ErrNotFound},
		{"dms.in-00", bus.ErrNotFound},
		{"other.in-0123456789abcdef0123456789abcdef", bus.ErrNotFound},
		{"dms.in-0123456789abcdef0123456789abcdef", bus.ErrNotFound},
		{"dms.in-0123456789ABCDEF0123456789abcdef", bus.ErrNotFound},
	} {
		if _, err := d.Retry(context.Background(), tc.id); !errors.Is(err, tc.want) {
			t.Errorf("Retry(%q): %v, want %v", tc.id, err, tc.want)
		}
		if _, err := d.Delivery(context.Background(), tc.id); !errors.Is(err, tc.want) {
			t.Errorf("Delivery(%q): %v, want %v", tc.id, err, tc.want)
		}
	}
	if _, err := d.Deliveries(context.Background(), Query{State: "lost"}); err == nil || !strings.Contains(err.Error(), "state") {
		t.Errorf("Deliveries with state lost: %v", err)
	}
}

// TestRunStopsPromptly: cancelling Run cuts attempts in flight without
// counting them.
func TestRunStopsPromptly(t *testing.T) {
	src := newEdgeSource(t)
	rcv := newReceiver(t)
	rcv.hold = make(chan struct{})
	defer close(rcv.hold)
	it, _ := src.receive(bus.TypeDocument, "doc", []string{organA}, "x")
	path := filepath.Join(t.TempDir(), "webhooks.db")
	d := start(t, path, src, Config{Subscriptions: []Subscription{testSub("dms", rcv)}})
	waitFor(t, "in flight", func() (bool, string) { return len(rcv.snapshot()) == 1, "" })
	began := time.Now()
	d.stop()
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("stopping took %s", took)
	}
	d2 := openDispatcher(t, path, src, Config{Subscriptions: []Subscription{testSub("dms", rcv)}})
	defer d2.Close()
	got, err := d2.Delivery(context.Background(), DeliveryID("dms", it.ID))
	if err != nil {
		t.Fatal(err)
	}
	if got.State != StatePending || got.Attempts != 0 {
		t.Errorf("after a stop mid-attempt: %+v, want pending with no attempt counted", got)
	}
}
