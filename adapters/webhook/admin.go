package webhook

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"truc.vn/truc/bus"
)

// Query selects deliveries to list.
type Query struct {
	// Subscriptions limits the list to these names; nil means every
	// configured subscription. A name not configured is bus.ErrNotFound.
	Subscriptions []string
	// Organs limits the list to deliveries for one of these agencies
	// (Delivery.Recipients); nil means any.
	Organs []string
	// State limits the list to one state; "" means any.
	State State
	// After is the cursor: deliveries with Seq > After.
	After uint64
	// Limit caps the list (default 100, at most 1000).
	Limit int
}

// Query bounds.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// Subscription returns the configuration of subscription name (without
// its secret), or false when it is not configured.
func (d *Dispatcher) Subscription(name string) (Subscription, bool) {
	s, ok := d.subs[name]
	if !ok {
		return Subscription{}, false
	}
	c := s.Subscription
	c.Secret, c.RootCAs = nil, nil
	c.OrganIDs = slices.Clone(c.OrganIDs)
	return c, true
}

// Subscriptions returns the names of the configured subscriptions, sorted.
func (d *Dispatcher) Subscriptions() []string {
	names := make([]string, 0, len(d.subs))
	for n := range d.subs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Deliveries lists the deliveries q selects, in Seq order.
func (d *Dispatcher) Deliveries(ctx context.Context, q Query) ([]Delivery, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	names := q.Subscriptions
	if names == nil {
		names = d.Subscriptions()
	}
	for _, n := range names {
		if _, ok := d.subs[n]; !ok {
			return nil, fmt.Errorf("subscription %q is not configured: %w", clip(n), bus.ErrNotFound)
		}
	}
	var organs map[string]bool
	if q.Organs != nil {
		organs = map[string]bool{}
		for _, o := range q.Organs {
			organs[o] = true
		}
	}
	switch q.State {
	case "", StatePending, StateFailed, StateDelivered:
	default:
		return nil, fmt.Errorf("state: one of pending, failed, delivered, got %q", clip(string(q.State)))
	}
	if q.After == math.MaxUint64 {
		return nil, nil
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)
	var out []Delivery
	err := d.st.db.View(func(tx *bolt.Tx) error {
		for _, n := range names {
			if organs != nil && !slices.ContainsFunc(d.subs[n].OrganIDs, func(o string) bool { return organs[o] }) {
				continue
			}
			b, err := sub(tx, n)
			if err != nil {
				return err
			}
			got, err := b.list(q.State, q.After, limit, organs)
			if err != nil {
				return err
			}
			for i := range got {
				got[i].ID, got[i].Subscription = DeliveryID(n, got[i].ItemID), n
			}
			out = append(out, got...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Delivery) int { return cmp.Compare(a.Seq, b.Seq) })
	return out[:min(len(out), limit)], nil
}

// list returns up to limit deliveries with Seq > after, in state s ("" =
// any), for one of organs (nil = any), in Seq order.
func (b subTx) list(s State, after uint64, limit int, organs map[string]bool) ([]Delivery, error) {
	var out []Delivery
	keep := func(r Delivery) {
		if organs == nil || slices.ContainsFunc(r.Recipients, func(o string) bool { return organs[o] }) {
			out = append(out, r)
		}
	}
	if s == "" {
		c := b.d.Cursor()
		for k, _ := c.Seek(u64(after + 1)); k != nil && len(out) < limit; k, _ = c.Next() {
			r, err := b.get(binary.BigEndian.Uint64(k))
			if err != nil {
				return nil, err
			}
			keep(r)
		}
		return out, nil
	}
	c := b.state.Cursor()
	letter := stateLetter(s)
	for k, _ := c.Seek(stateKey(s, after+1)); k != nil && k[0] == letter && len(out) < limit; k, _ = c.Next() {
		if len(k) != 9 {
			return nil, fmt.Errorf("%w: state index key %x", ErrCorrupt, k)
		}
		r, err := b.get(binary.BigEndian.Uint64(k[1:]))
		if err != nil {
			return nil, err
		}
		keep(r)
	}
	return out, nil
}

// Delivery returns the delivery with Delivery-Id id, or an error wrapping
// bus.ErrNotFound (also once a delivered one is purged).
func (d *Dispatcher) Delivery(ctx context.Context, id string) (Delivery, error) {
	if err := ctx.Err(); err != nil {
		return Delivery{}, err
	}
	name, itemID, ok := ParseDeliveryID(id)
	if !ok {
		return Delivery{}, fmt.Errorf("delivery %q: not a Delivery-Id (subscription.in-<32 hex>): %w", clip(id), bus.ErrNotFound)
	}
	var r Delivery
	err := d.st.db.View(func(tx *bolt.Tx) error {
		b, err := sub(tx, name)
		if err != nil {
			return err
		}
		r, err = b.byItem(itemID)
		return err
	})
	if err != nil {
		return Delivery{}, fmt.Errorf("delivery %s: %w", id, err)
	}
	r.ID, r.Subscription = id, name
	return r, nil
}

func (b subTx) byItem(itemID string) (Delivery, error) {
	v := b.ids.Get([]byte(itemID))
	if v == nil {
		return Delivery{}, bus.ErrNotFound
	}
	if len(v) != 8 {
		return Delivery{}, fmt.Errorf("%w: ids entry of %s", ErrCorrupt, itemID)
	}
	return b.get(binary.BigEndian.Uint64(v))
}

// Retry puts a failed delivery back to pending with its attempts reset
// (same Delivery-Id): its document moves on once it is delivered. A
// pending delivery is made due at once (when it is the head of its
// document; otherwise it goes when its turn comes). Retrying a delivered
// delivery is bus.ErrConflict; an unknown one bus.ErrNotFound, as is one
// of a subscription that is no longer configured.
func (d *Dispatcher) Retry(ctx context.Context, id string) (Delivery, error) {
	if err := ctx.Err(); err != nil {
		return Delivery{}, err
	}
	name, itemID, ok := ParseDeliveryID(id)
	if !ok {
		return Delivery{}, fmt.Errorf("delivery %q: not a Delivery-Id (subscription.in-<32 hex>): %w", clip(id), bus.ErrNotFound)
	}
	s, ok := d.subs[name]
	if !ok {
		return Delivery{}, fmt.Errorf("delivery %s: subscription %q is not configured: %w", id, name, bus.ErrNotFound)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var r, old Delivery
	err := d.st.db.Update(func(tx *bolt.Tx) error {
		b, err := sub(tx, name)
		if err != nil {
			return err
		}
		if old, err = b.byItem(itemID); err != nil {
			return err
		}
		r = old
		switch r.State {
		case StateDelivered:
			return fmt.Errorf("it was delivered at %s: %w", r.DeliveredAt.Format(time.RFC3339), bus.ErrConflict)
		case StateFailed:
			r.State, r.Attempts = StatePending, 0
		}
		r.NextAttemptAt = time.Time{}
		return b.put(&old, r)
	})
	if err != nil {
		return Delivery{}, fmt.Errorf("retrying delivery %s: %w", id, err)
	}
	if old.State == StateFailed {
		s.counts[0]++
		s.counts[1]--
	}
	if h := d.heads[headKey{name, r.Key}]; h != nil && h.seq == r.Seq && !h.busy {
		h.state, h.next = StatePending, time.Time{}
		d.queue(h)
	}
	d.log.Info("webhook: retry requested", "subscription", name, "delivery_id", id, "was", old.State)
	r.ID, r.Subscription = id, name
	return r, nil
}

// Stats returns the queue counts of every configured subscription, sorted
// by name.
func (d *Dispatcher) Stats() []Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Stats, 0, len(d.subs))
	for _, n := range d.Subscriptions() {
		s := d.subs[n]
		out = append(out, Stats{Subscription: n, Pending: s.counts[0], Failed: s.counts[1]})
	}
	return out
}

// ---------------------------------------------------------------------------
// Purge

// purgeChunk bounds one purge transaction.
const purgeChunk = 1000

func (d *Dispatcher) purgeLoop(ctx context.Context) {
	every := min(d.cfg.KeepDelivered/4, time.Hour)
	for {
		for _, n := range d.Subscriptions() {
			if _, err := d.purge(n, time.Now().Add(-d.cfg.KeepDelivered)); err != nil && ctx.Err() == nil {
				d.log.Warn("webhook: purging delivered deliveries", "subscription", n, "err", err)
			}
		}
		sleep(ctx, every)
		if ctx.Err() != nil {
			return
		}
	}
}

// purge deletes the deliveries of subscription name delivered before
// before, in small transactions, and returns how many it deleted.
func (d *Dispatcher) purge(name string, before time.Time) (int, error) {
	total := 0
	for {
		n := 0
		err := d.st.db.Update(func(tx *bolt.Tx) error {
			n = 0
			b, err := sub(tx, name)
			if err != nil {
				return err
			}
			var victims []Delivery
			c := b.done.Cursor()
			for k, _ := c.First(); k != nil && len(victims) < purgeChunk; k, _ = c.Next() {
				if len(k) != 16 {
					return fmt.Errorf("%w: done index key %x", ErrCorrupt, k)
				}
				if int64(binary.BigEndian.Uint64(k)) >= before.UnixNano() {
					break
				}
				r, err := b.get(binary.BigEndian.Uint64(k[8:]))
				if err != nil {
					return err
				}
				victims = append(victims, r)
			}
			for _, r := range victims {
				if err := b.remove(r); err != nil {
					return err
				}
			}
			n = len(victims)
			return nil
		})
		total += n
		if err != nil || n < purgeChunk {
			return total, err
		}
	}
}
