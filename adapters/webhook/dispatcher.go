package webhook

import (
	"container/heap"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"truc.vn/truc/bus"
)

// Source is what the dispatcher needs from the edge; *bus.Edge implements
// it. Every method may be called concurrently.
type Source interface {
	// Inbox returns up to limit inbox items with Seq > after, in Seq
	// order.
	Inbox(ctx context.Context, after uint64, limit int) ([]bus.InboxItem, error)
	// WaitInbox blocks until an item with Seq > after exists (nil) or ctx
	// ends (its error).
	WaitInbox(ctx context.Context, after uint64) error
	// Item returns an inbox item and its exact package bytes, or an error
	// wrapping bus.ErrNotFound.
	Item(ctx context.Context, id string) (bus.InboxItem, []byte, error)
	// Take records that the DMS of organs took item id (for a document,
	// the edge sends status 01 from each of them that has none yet).
	// Taking again is not an error.
	Take(ctx context.Context, id string, organs []string) (bus.InboxItem, error)
}

// State is where a delivery stands. The values are wire strings (the REST
// API shows them): they never change.
type State string

// Delivery states.
const (
	// StatePending: waiting for its next attempt, or for its turn behind
	// an earlier delivery of the same document.
	StatePending State = "pending"
	// StateFailed: it used its attempts (or its item is gone from the
	// inbox); its document is blocked until Retry.
	StateFailed State = "failed"
	// StateDelivered: the receiver answered 2xx (and the item was taken,
	// unless the subscription keeps items untaken).
	StateDelivered State = "delivered"
)

// Delivery is one inbox item for one subscription, with its attempts.
type Delivery struct {
	// ID is the Delivery-Id: Subscription, ".", ItemID.
	ID           string `json:"id"`
	Subscription string `json:"subscription"`
	// Seq orders the deliveries of all subscriptions: it grows with
	// every new delivery, and is the listing cursor. Within a
	// subscription it follows the inbox order.
	Seq uint64 `json:"seq"`
	// ItemSeq is the inbox Seq of the item.
	ItemSeq    uint64    `json:"item_seq"`
	ItemID     string    `json:"item_id"`
	Type       bus.Type  `json:"type"`
	Key        string    `json:"key"`
	MessageID  string    `json:"message_id"`
	Sender     string    `json:"sender"`
	Recipients []string  `json:"recipients"` // the subscription's agencies among the item's recipients
	StatusCode string    `json:"status,omitempty"`
	SHA256     string    `json:"sha256"` // hex, of the package
	Size       int       `json:"size"`
	ReceivedAt time.Time `json:"received_at"`

	State     State     `json:"state"`
	Attempts  int       `json:"attempts"` // since it was created or last retried
	CreatedAt time.Time `json:"created_at"`
	// LastAttemptAt is when the latest attempt ended.
	LastAttemptAt time.Time `json:"last_attempt_at,omitzero"`
	// NextAttemptAt is when a pending delivery is due; zero means at once
	// (when it is the head of its document).
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
	DeliveredAt   time.Time `json:"delivered_at,omitzero"`
	// LastStatus is the HTTP status of the latest attempt, 0 when it got
	// no answer.
	LastStatus int `json:"last_status,omitempty"`
	// LastError says why the latest attempt failed.
	LastError string `json:"last_error,omitempty"`
}

// Stats are a subscription's queue counts.
type Stats struct {
	Subscription string
	Pending      int // not yet delivered, including those waiting behind a failed one
	Failed       int
}

// Dispatcher pushes inbox items to the subscriptions' URLs. Open it, Run
// it, and Close it after Run returned. The admin methods (Deliveries,
// Delivery, Retry, Stats) work from Open to Close, whether or not Run
// runs.
type Dispatcher struct {
	cfg  Config
	src  Source
	st   *store
	log  *slog.Logger
	subs map[string]*subscription

	work chan *head
	wake chan struct{}

	mu      sync.Mutex // guards what follows, and orders every write transaction with the in-memory heads
	heads   map[headKey]*head
	due     headQueue
	running bool

	fmu       sync.Mutex   // guards finishing
	finishing []*finishing // outcomes waiting for the next commit
}

type subscription struct {
	Subscription
	client *http.Client
	organs map[string]bool
	cursor uint64 // owned by the ingest loop once Run starts
	counts [2]int // pending, failed; guarded by Dispatcher.mu
}

type headKey struct{ sub, key string }

// head is the first undelivered delivery of one document in one
// subscription: the only one of that document that may be attempted.
type head struct {
	sub   *subscription
	key   string
	seq   uint64
	state State     // pending or failed
	next  time.Time // due time when pending
	busy  bool      // an attempt is running
	index int       // in Dispatcher.due, -1 when not queued
}

// Open opens (creating if needed) the state file at path and prepares the
// subscriptions of cfg. src is the edge the items come from.
func Open(path string, src Source, cfg Config) (*Dispatcher, error) {
	cfg.Subscriptions = slices.Clone(cfg.Subscriptions)
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("webhook config: %w", err)
	}
	if src == nil {
		return nil, errors.New("webhook: a source is required")
	}
	st, err := openStore(path, cfg.LockTimeout)
	if err != nil {
		return nil, err
	}
	d := &Dispatcher{
		cfg: cfg, src: src, st: st, log: cfg.Logger,
		subs:  map[string]*subscription{},
		work:  make(chan *head),
		wake:  make(chan struct{}, 1),
		heads: map[headKey]*head{},
	}
	for _, s := range cfg.Subscriptions {
		sub := &subscription{Subscription: s, organs: map[string]bool{}}
		sub.OrganIDs = slices.Clone(s.OrganIDs)
		for _, o := range s.OrganIDs {
			sub.organs[o] = true
		}
		sub.client = newClient(s.RootCAs, cfg)
		d.subs[s.Name] = sub
	}
	if err := d.load(); err != nil {
		st.close()
		return nil, fmt.Errorf("webhook: loading %s: %w", path, err)
	}
	return d, nil
}

// newClient returns the HTTP client of a subscription: a direct
// connection (no proxy from the environment), no redirects followed.
func newClient(roots *x509.CertPool, cfg Config) *http.Client {
	rt := cfg.Transport
	if rt == nil {
		rt = &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots},
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConnsPerHost: cfg.Concurrency,
			IdleConnTimeout:     90 * time.Second,
			ForceAttemptHTTP2:   true,
		}
	}
	return &http.Client{
		Transport:     rt,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// load creates the buckets of new subscriptions and rebuilds the heads
// and counts from the file.
func (d *Dispatcher) load() error {
	return d.st.db.Update(func(tx *bolt.Tx) error {
		for name, s := range d.subs {
			b, err := sub(tx, name)
			if err != nil {
				return err
			}
			s.cursor = b.cursor()
			s.counts = [2]int{b.count(StatePending), b.count(StateFailed)}
			heads, err := b.heads()
			if err != nil {
				return err
			}
			for _, r := range heads {
				h := &head{sub: s, key: r.Key, seq: r.Seq, state: r.State, next: r.NextAttemptAt, index: -1}
				d.heads[headKey{name, r.Key}] = h
				if h.state == StatePending {
					heap.Push(&d.due, h)
				}
			}
		}
		return nil
	})
}

// Close closes the state file. Call it after Run has returned.
func (d *Dispatcher) Close() error { return d.st.close() }

// Run delivers until ctx ends, then waits for the attempts in flight to
// stop (cut short, they are not counted; one that was answered 2xx is
// still recorded) and returns nil. Errors of the inbox or the state file
// are logged and retried, not returned. Run may be called once.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.mu.Lock()
	if d.running {
		d.mu.Unlock()
		return errors.New("webhook: Run called twice")
	}
	d.running = true
	d.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range d.subs {
		wg.Go(func() { d.ingest(ctx, s) })
	}
	for range d.cfg.Concurrency {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case h := <-d.work:
					d.attempt(ctx, h)
				}
			}
		})
	}
	wg.Go(func() { d.purgeLoop(ctx) })
	d.schedule(ctx)
	cancel()
	wg.Wait()
	return nil
}

// ---------------------------------------------------------------------------
// Ingest: inbox → queue

const ingestBatch = 256

// ingest enqueues the inbox items for s, from its cursor on, until ctx
// ends. Enqueueing a batch and moving the cursor past it are one
// transaction: a crash neither skips an item nor enqueues one twice.
func (d *Dispatcher) ingest(ctx context.Context, s *subscription) {
	for ctx.Err() == nil {
		items, err := d.src.Inbox(ctx, s.cursor, ingestBatch)
		if err != nil {
			if ctx.Err() == nil {
				d.log.Warn("webhook: reading the inbox", "subscription", s.Name, "after", s.cursor, "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		if len(items) == 0 {
			if err := d.src.WaitInbox(ctx, s.cursor); err != nil && ctx.Err() == nil {
				d.log.Warn("webhook: waiting for the inbox", "subscription", s.Name, "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		now := time.Now().UTC()
		var add []Delivery
		for _, it := range items {
			if r := s.deliveryFor(it, now); r != nil {
				add = append(add, *r)
			}
		}
		last := items[len(items)-1].Seq
		if last <= s.cursor {
			d.log.Error("webhook: the inbox went backwards; not moving the cursor", "subscription", s.Name, "cursor", s.cursor, "last", last)
			sleep(ctx, time.Second)
			continue
		}
		if err := d.enqueue(s, add, last); err != nil {
			d.log.Error("webhook: enqueueing deliveries", "subscription", s.Name, "count", len(add), "err", err)
			sleep(ctx, time.Second)
			continue
		}
		s.cursor = last
	}
}

// deliveryFor returns the delivery of it for s, or nil when none of its
// recipients is one of s's agencies.
func (s *subscription) deliveryFor(it bus.InboxItem, now time.Time) *Delivery {
	var to []string
	for _, r := range it.Recipients {
		if s.organs[r] {
			to = append(to, r)
		}
	}
	if len(to) == 0 || it.Seq == 0 || !isItemID(it.ID) {
		return nil
	}
	return &Delivery{
		ID: DeliveryID(s.Name, it.ID), Subscription: s.Name, ItemSeq: it.Seq, ItemID: it.ID,
		Type: it.Type, Key: it.Key, MessageID: it.MessageID, Sender: it.Sender, Recipients: to,
		StatusCode: it.StatusCode, SHA256: fmt.Sprintf("%x", it.SHA256), Size: it.Size,
		ReceivedAt: it.ReceivedAt.UTC(), State: StatePending, CreatedAt: now,
	}
}

func (d *Dispatcher) enqueue(s *subscription, add []Delivery, cursor uint64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var created []Delivery
	err := d.st.db.Update(func(tx *bolt.Tx) error {
		created = created[:0]
		b, err := sub(tx, s.Name)
		if err != nil {
			return err
		}
		if b.cursor() >= cursor {
			return fmt.Errorf("%w: stored cursor %d is not before %d", ErrCorrupt, b.cursor(), cursor)
		}
		meta := tx.Bucket(bucketMeta)
		last, err := lastSeq(meta)
		if err != nil {
			return err
		}
		for _, r := range add {
			if b.ids.Get([]byte(r.ItemID)) != nil {
				continue
			}
			last++
			r.Seq = last
			if err := b.put(nil, r); err != nil {
				return err
			}
			created = append(created, r)
		}
		if err := meta.Put(keyLastSeq, u64(last)); err != nil {
			return err
		}
		return b.root.Put(keyCursor, u64(cursor))
	})
	if err != nil {
		return err
	}
	for _, r := range created {
		s.counts[0]++
		k := headKey{s.Name, r.Key}
		if d.heads[k] == nil {
			h := &head{sub: s, key: r.Key, seq: r.Seq, state: StatePending, index: -1}
			d.heads[k] = h
			heap.Push(&d.due, h)
		}
	}
	if len(created) > 0 {
		d.kick()
	}
	return nil
}

// ---------------------------------------------------------------------------
// Scheduling: due heads → workers

func (d *Dispatcher) kick() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// schedule hands due heads to the workers until ctx ends.
func (d *Dispatcher) schedule(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		d.mu.Lock()
		var h *head
		wait := time.Duration(-1)
		if len(d.due) > 0 {
			top := d.due[0]
			if wait = time.Until(top.next); wait <= 0 {
				heap.Pop(&d.due)
				top.busy = true
				h = top
			}
		}
		d.mu.Unlock()
		if h != nil {
			select {
			case d.work <- h:
				continue
			case <-ctx.Done():
				return
			}
		}
		if wait > 0 {
			timer.Reset(wait)
		}
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// headQueue orders pending heads by due time, then inbox order.
type headQueue []*head

func (q headQueue) Len() int { return len(q) }
func (q headQueue) Less(i, j int) bool {
	if !q[i].next.Equal(q[j].next) {
		return q[i].next.Before(q[j].next)
	}
	return q[i].seq < q[j].seq
}
func (q headQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *headQueue) Push(x any) {
	h := x.(*head)
	h.index = len(*q)
	*q = append(*q, h)
}
func (q *headQueue) Pop() any {
	old := *q
	h := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	h.index = -1
	return h
}

// queue puts a pending head that is not busy into the due queue (or moves
// it there). Call with d.mu held.
func (d *Dispatcher) queue(h *head) {
	if h.busy || h.state != StatePending {
		return
	}
	if h.index >= 0 {
		heap.Fix(&d.due, h.index)
	} else {
		heap.Push(&d.due, h)
	}
	d.kick()
}

// ---------------------------------------------------------------------------
// Attempts

// outcome is how one attempt ended.
type outcome struct {
	ok        bool
	permanent bool // no further attempt can succeed (the item is gone)
	status    int
	err       string
}

func (d *Dispatcher) attempt(ctx context.Context, h *head) {
	s := h.sub
	var r Delivery
	err := d.st.db.View(func(tx *bolt.Tx) error {
		b, err := sub(tx, s.Name)
		if err != nil {
			return err
		}
		r, err = b.get(h.seq)
		return err
	})
	var out outcome
	if err != nil {
		out = outcome{err: "reading the delivery: " + err.Error()}
	} else {
		r.ID, r.Subscription = DeliveryID(s.Name, r.ItemID), s.Name
		start := time.Now()
		out = d.post(ctx, s, r)
		if !out.ok && ctx.Err() != nil {
			// Stopping: the attempt was cut short, not answered. It
			// stays pending and runs again after the restart.
			return
		}
		if hk := d.cfg.Hooks.Attempt; hk != nil {
			hk(s.Name, out.ok, time.Since(start))
		}
	}
	d.finish(h, out)
}

// finishing is the outcome of one attempt waiting to be recorded.
type finishing struct {
	h   *head
	out outcome
	at  time.Time
	// Set by the commit that records it, under Dispatcher.mu.
	done  bool
	final Delivery
	err   error
}

// finish records the outcome of an attempt of head h and moves the head
// on: to the next delivery of its document when delivered, to a later
// due time, or to failed. Outcomes of concurrent workers are recorded
// together, in one transaction (one pair of fsyncs): each worker queues
// its outcome, then whoever holds d.mu commits every outcome queued.
func (d *Dispatcher) finish(h *head, out outcome) {
	f := &finishing{h: h, out: out, at: time.Now().UTC()}
	d.fmu.Lock()
	d.finishing = append(d.finishing, f)
	d.fmu.Unlock()
	d.mu.Lock()
	if !f.done {
		d.fmu.Lock()
		batch := d.finishing
		d.finishing = nil
		d.fmu.Unlock()
		d.commit(batch)
	}
	d.mu.Unlock()

	s, r := h.sub, f.final
	switch {
	case f.err != nil:
		// The outcome is lost; the delivery is attempted again (a repeat
		// the receiver drops by its Delivery-Id).
		d.log.Error("webhook: recording an attempt", "subscription", s.Name, "err", f.err)
	case r.State == StateDelivered:
		d.log.Info("webhook: delivered", "subscription", s.Name, "delivery_id", DeliveryID(s.Name, r.ItemID), "type", r.Type, "attempts", r.Attempts)
		if hk := d.cfg.Hooks.Delivered; hk != nil {
			hk(s.Name, r.Attempts)
		}
	case r.State == StateFailed:
		d.log.Warn("webhook: delivery failed; its document waits for a retry", "subscription", s.Name, "delivery_id", DeliveryID(s.Name, r.ItemID), "attempts", r.Attempts, "err", r.LastError)
		if hk := d.cfg.Hooks.Failed; hk != nil {
			hk(s.Name)
		}
	default:
		d.log.Debug("webhook: attempt failed", "subscription", s.Name, "delivery_id", DeliveryID(s.Name, r.ItemID), "attempts", r.Attempts, "next", r.NextAttemptAt, "err", r.LastError)
	}
}

// commit records batch in one transaction and moves the heads on. Call
// with d.mu held. The heads of a batch are distinct (a head has one
// attempt at a time), and so are their documents.
func (d *Dispatcher) commit(batch []*finishing) {
	next := make([]*Delivery, len(batch))
	err := d.st.db.Update(func(tx *bolt.Tx) error {
		for i, f := range batch {
			next[i] = nil
			s := f.h.sub
			b, err := sub(tx, s.Name)
			if err != nil {
				return err
			}
			old, err := b.get(f.h.seq)
			if err != nil {
				return err
			}
			r := old
			r.Attempts++
			r.LastAttemptAt, r.LastStatus, r.LastError = f.at, f.out.status, f.out.err
			switch {
			case f.out.ok:
				r.State, r.DeliveredAt, r.NextAttemptAt, r.LastError = StateDelivered, f.at, time.Time{}, ""
			case f.out.permanent || r.Attempts >= s.MaxAttempts:
				r.State, r.NextAttemptAt = StateFailed, time.Time{}
			default:
				r.NextAttemptAt = f.at.Add(s.Backoff.delay(r.Attempts))
			}
			if err := b.put(&old, r); err != nil {
				return err
			}
			f.final = r
			if r.State == StateDelivered {
				n, ok, err := b.head(r.Key)
				if err != nil {
					return err
				}
				if ok {
					next[i] = &n
				}
			}
		}
		return nil
	})
	for i, f := range batch {
		h, s := f.h, f.h.sub
		f.done, f.err = true, err
		h.busy = false
		if err != nil {
			h.next = f.at.Add(s.Backoff.Base)
			d.queue(h)
			continue
		}
		switch f.final.State {
		case StateDelivered:
			s.counts[0]--
			if next[i] == nil {
				delete(d.heads, headKey{s.Name, h.key})
			} else {
				h.seq, h.state, h.next = next[i].Seq, next[i].State, next[i].NextAttemptAt
				d.queue(h)
			}
		case StateFailed:
			s.counts[0]--
			s.counts[1]++
			h.state = StateFailed
		default:
			h.next = f.final.NextAttemptAt
			d.queue(h)
		}
	}
}

// delay is the wait after attempt n (1-based): d/2 plus a random part of
// d/2, d = min(Max, Base × 2^(n-1)).
func (b Backoff) delay(n int) time.Duration {
	d := b.Base
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2 // Max is at most a day: no overflow
	}
	d = min(d, b.Max)
	half := d / 2
	return half + rand.N(d-half+1)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
