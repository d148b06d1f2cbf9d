package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"truc.vn/truc/adapters/boltstore"
	"truc.vn/truc/bus"
)

// Agencies of the test edge, and a sender elsewhere.
const (
	organA = "000.00.00.H26"
	organB = "000.00.01.H26"
	organC = "000.00.02.H26" // served by the edge, but no subscription is for it
	sender = "000.00.00.G22"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef-webhook")

// edgeSource is the edge's side of the dispatcher over a real boltstore
// EdgeStore, as bus.Edge implements it: Inbox, Item and Take go to the
// store, WaitInbox waits for LastSeq like the edge does. Items arrive with
// receive (EdgeStore.Receive).
type edgeSource struct {
	t     testing.TB
	store bus.EdgeStore

	mu        sync.Mutex
	arrived   chan struct{}
	takes     map[string][][]string // item ID → organs of each Take
	failTakes int                   // Take fails this many more times
	gone      map[string]bool       // Item answers ErrNotFound (an item purged from the inbox)
}

func newEdgeSource(t testing.TB) *edgeSource {
	t.Helper()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "edge.db"), boltstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &edgeSource{t: t, store: s.Edge(), arrived: make(chan struct{}), takes: map[string][][]string{}, gone: map[string]bool{}}
}

func (s *edgeSource) Inbox(ctx context.Context, after uint64, limit int) ([]bus.InboxItem, error) {
	return s.store.Inbox(ctx, after, limit)
}

func (s *edgeSource) WaitInbox(ctx context.Context, after uint64) error {
	for {
		s.mu.Lock()
		ch := s.arrived
		s.mu.Unlock()
		last, err := s.store.LastSeq(ctx)
		if err != nil {
			return err
		}
		if last > after {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

func (s *edgeSource) Item(ctx context.Context, id string) (bus.InboxItem, []byte, error) {
	s.mu.Lock()
	gone := s.gone[id]
	s.mu.Unlock()
	if gone {
		return bus.InboxItem{}, nil, fmt.Errorf("item %s: %w", id, bus.ErrNotFound)
	}
	return s.store.Item(ctx, id)
}

func (s *edgeSource) Take(ctx context.Context, id string, organs []string) (bus.InboxItem, error) {
	s.mu.Lock()
	if s.failTakes > 0 {
		s.failTakes--
		s.mu.Unlock()
		return bus.InboxItem{}, errors.New("disk full")
	}
	s.takes[id] = append(s.takes[id], slices.Clone(organs))
	s.mu.Unlock()
	return s.store.Take(ctx, id, bus.Taking{At: time.Now(), Organs: organs})
}

func (s *edgeSource) takesOf(id string) [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.takes[id])
}

// receive stores an incoming package for recipients about root document
// doc and returns the stored item and its bytes.
func (s *edgeSource) receive(typ bus.Type, doc string, recipients []string, tag string) (bus.InboxItem, []byte) {
	s.t.Helper()
	pkg := []byte(fmt.Sprintf("<edXML><!-- %s %s %s -->\x00\xff%s</edXML>", typ, doc, tag, bytes.Repeat([]byte{0xe1, 0xba, 0xa1}, 40)))
	key, err := bus.RootKey(sender, doc)
	if err != nil {
		s.t.Fatal(err)
	}
	item := bus.InboxItem{
		SHA256: sha256.Sum256(pkg), MessageID: "edge-hcm.msg." + tag, Type: typ, Key: key,
		Sender: sender, Recipients: recipients, ReceivedAt: time.Now(),
	}
	if typ == bus.TypeStatus {
		item.StatusCode = "03"
	}
	stored, created, err := s.store.Receive(context.Background(), item, pkg, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	if !created {
		s.t.Fatalf("item %s was already there", tag)
	}
	s.mu.Lock()
	close(s.arrived)
	s.arrived = make(chan struct{})
	s.mu.Unlock()
	return stored, pkg
}

// hit is one request the receiver got.
type hit struct {
	path    string
	id      string
	attempt string
	body    []byte
	env     Envelope
	verr    error // Verify's verdict
	status  int   // what the receiver answered
}

// receiver is a DMS endpoint on a real HTTP server. answer decides the
// status of each request (default 200); it runs after the request is
// recorded.
type receiver struct {
	t      testing.TB
	srv    *httptest.Server
	secret []byte

	mu       sync.Mutex
	hits     []hit
	answer   func(h hit, n int) int // n: how many requests with this Delivery-Id before this one
	inflight int
	peak     int
	hold     chan struct{} // when not nil, requests wait for it to close
}

func newReceiver(t testing.TB) *receiver {
	t.Helper()
	r := &receiver{t: t, secret: testSecret}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	h := hit{path: req.URL.Path, id: req.Header.Get(HeaderDeliveryID), attempt: req.Header.Get(HeaderAttempt), body: body}
	h.verr = Verify(r.secret, req.Header, body, time.Now(), 0)
	if err := json.Unmarshal(body, &h.env); err != nil {
		h.verr = errors.Join(h.verr, err)
	}
	r.mu.Lock()
	r.inflight++
	r.peak = max(r.peak, r.inflight)
	n := 0
	for _, p := range r.hits {
		if p.id == h.id {
			n++
		}
	}
	h.status = http.StatusOK
	if h.verr != nil {
		h.status = http.StatusUnauthorized
	} else if r.answer != nil {
		h.status = r.answer(h, n)
	}
	r.hits = append(r.hits, h)
	hold := r.hold
	r.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-req.Context().Done():
		}
	}
	r.mu.Lock()
	r.inflight--
	r.mu.Unlock()
	w.WriteHeader(h.status)
	io.WriteString(w, "thanks, secret=hunter2") // must not show up in LastError
}

func (r *receiver) setAnswer(f func(h hit, n int) int) {
	r.mu.Lock()
	r.answer = f
	r.mu.Unlock()
}

func (r *receiver) snapshot() []hit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.hits)
}

// accepted returns the Delivery-Ids answered 2xx, in the order they were.
func (r *receiver) accepted() []string {
	var out []string
	for _, h := range r.snapshot() {
		if h.status/100 == 2 {
			out = append(out, h.id)
		}
	}
	return out
}

// testSub is a subscription to rcv for organA and organB with fast
// back-off.
func testSub(name string, rcv *receiver) Subscription {
	return Subscription{
		Name: name, URL: rcv.srv.URL + "/hook?k=v", Secret: testSecret, OrganIDs: []string{organA, organB},
		Client: "dms-test", MaxAttempts: 5, Backoff: Backoff{Base: 10 * time.Millisecond, Max: 40 * time.Millisecond},
		Timeout: 5 * time.Second,
	}
}

// running is a dispatcher running in the background.
type running struct {
	*Dispatcher
	cancel context.CancelFunc
	done   chan error
}

func openDispatcher(t testing.TB, path string, src Source, cfg Config) *Dispatcher {
	t.Helper()
	d, err := Open(path, src, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func start(t testing.TB, path string, src Source, cfg Config) *running {
	t.Helper()
	d := openDispatcher(t, path, src, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Dispatcher: d, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- d.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

// stop cancels Run, waits for it and closes the file (idempotent).
func (r *running) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	if err := <-r.done; err != nil {
		panic(err)
	}
	r.Close()
	r.cancel = nil
}

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var state string
	for time.Now().Before(deadline) {
		var ok bool
		if ok, state = cond(); ok {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s: not after 20s; last state: %s", what, state)
}

func list(t testing.TB, d *Dispatcher, q Query) []Delivery {
	t.Helper()
	ds, err := d.Deliveries(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func ids(ds []Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}
