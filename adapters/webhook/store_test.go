package webhook

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"truc.vn/truc/adapters/boltstore"
	"truc.vn/truc/bus"
)

// TestPurgeNeverRedelivers: delivered deliveries are purged after
// KeepDelivered, and neither the purge nor a restart after it makes an
// item go out again (the cursor, not the records, says what was seen).
func TestPurgeNeverRedelivers(t *testing.T) {
	src := newEdgeSource(t)
	rcv := newReceiver(t)
	path := filepath.Join(t.TempDir(), "webhooks.db")
	cfg := Config{Subscriptions: []Subscription{testSub("dms", rcv)}}
	var items []bus.InboxItem
	for i := range 5 {
		it, _ := src.receive(bus.TypeDocument, fmt.Sprintf("doc-%d", i), []string{organA}, fmt.Sprintf("x%d", i))
		items = append(items, it)
	}
	d := start(t, path, src, cfg)
	waitFor(t, "delivered", func() (bool, string) {
		return len(list(t, d.Dispatcher, Query{State: StateDelivered})) == 5, ""
	})
	d.stop()

	d2 := openDispatcher(t, path, src, cfg)
	if n, err := d2.purge("dms", time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("purge of deliveries older than an hour: %d, %v; want 0", n, err)
	}
	if n, err := d2.purge("dms", time.Now().Add(time.Second)); err != nil || n != 5 {
		t.Fatalf("purge: %d, %v; want 5", n, err)
	}
	if got := list(t, d2, Query{}); len(got) != 0 {
		t.Errorf("after the purge: %v", ids(got))
	}
	if _, err := d2.Delivery(context.Background(), DeliveryID("dms", items[0].ID)); !errors.Is(err, bus.ErrNotFound) {
		t.Errorf("a purged delivery: %v, want ErrNotFound", err)
	}
	d2.Close()

	d3 := start(t, path, src, cfg)
	late, _ := src.receive(bus.TypeDocument, "doc-late", []string{organA}, "late")
	waitFor(t, "the late item delivered", func() (bool, string) { return len(rcv.accepted()) == 6, fmt.Sprint(rcv.accepted()) })
	time.Sleep(50 * time.Millisecond)
	if acc := rcv.accepted(); len(acc) != 6 || acc[5] != DeliveryID("dms", late.ID) {
		t.Errorf("after purge and restart: %v", acc)
	}
	if got := list(t, d3.Dispatcher, Query{}); len(got) != 1 {
		t.Errorf("listed %v, want only the late one", ids(got))
	}
}

// TestOpenRefuses: a file that is not a webhook state file, or is held by
// another process, is refused without being changed.
func TestOpenRefuses(t *testing.T) {
	src := newEdgeSource(t)
	cfg := Config{Subscriptions: []Subscription{testSub("dms", newReceiver(t))}}
	dir := t.TempDir()

	edgeDB := filepath.Join(dir, "edge.db")
	s, err := boltstore.Open(edgeDB, boltstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	schema2 := filepath.Join(dir, "schema2.db")
	d := openDispatcher(t, schema2, src, cfg)
	d.Close()
	db, err := bolt.Open(schema2, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchema, []byte{0, 0, 0, 2}) }); err != nil {
		t.Fatal(err)
	}
	db.Close()

	held := filepath.Join(dir, "held.db")
	d = openDispatcher(t, held, src, cfg)
	defer d.Close()

	for _, tc := range []struct {
		name, path string
		want       error
	}{
		{"the edge store", edgeDB, ErrNotState},
		{"another schema", schema2, ErrSchema},
		{"held", held, ErrInUse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg
			c.LockTimeout = 50 * time.Millisecond
			if _, err := Open(tc.path, src, c); !errors.Is(err, tc.want) {
				t.Errorf("Open: %v, want %v", err, tc.want)
			}
		})
	}
}

// TestNewSubscriptionStartsAtTheOldestItem: a subscription added later
// gets every item still in the inbox; the existing one is not disturbed.
func TestNewSubscriptionStartsAtTheOldestItem(t *testing.T) {
	src := newEdgeSource(t)
	rcvA, rcvB := newReceiver(t), newReceiver(t)
	path := filepath.Join(t.TempDir(), "webhooks.db")
	for i := range 3 {
		src.receive(bus.TypeDocument, fmt.Sprintf("doc-%d", i), []string{organA}, fmt.Sprintf("x%d", i))
	}
	d := start(t, path, src, Config{Subscriptions: []Subscription{testSub("a", rcvA)}})
	waitFor(t, "a delivered", func() (bool, string) { return len(list(t, d.Dispatcher, Query{State: StateDelivered})) == 3, "" })
	d.stop()
	start(t, path, src, Config{Subscriptions: []Subscription{testSub("a", rcvA), testSub("b", rcvB)}})
	waitFor(t, "b delivered", func() (bool, string) { return len(rcvB.accepted()) == 3, "" })
	time.Sleep(30 * time.Millisecond)
	if n := len(rcvA.snapshot()); n != 3 {
		t.Errorf("subscription a got %d requests, want its 3", n)
	}
}
