package restapitest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"truc.vn/truc/adapters/restapi"
	"truc.vn/truc/bus"
	"truc.vn/truc/edoc"
)

// Memory is an in-memory restapi.Backend (see the package documentation).
// The zero value is not usable; call NewMemory. It is safe for concurrent
// use.
type Memory struct {
	now func() time.Time
	dir *Directory

	mu     sync.Mutex
	outbox map[string]*bus.OutboxEntry // message ID → entry
	outSeq uint64                      // the Seq of the latest outbox entry
	idem   map[string]string           // client + "\x00" + key → message ID
	// statusIdem: client + "\x00" + key of a status request → the request
	// and its result.
	statusIdem map[string]statusRequest
	inbox      []*inboxItem // in Seq order; Seq = index + 1
	byID       map[string]*inboxItem
	changed    chan struct{} // closed and replaced when an item arrives
	nextID     int
	readyErr   error
	failNext   error
	calls      map[string]int
}

type statusRequest struct {
	request string // the item, code, description, staff and organs
	result  string // message ID of the first status
}

type inboxItem struct {
	item bus.InboxItem
	pkg  []byte
	doc  *edoc.Package
}

var _ restapi.Backend = (*Memory)(nil)

// NewMemory returns an empty Memory whose clock is time.Now and whose
// directory is empty (see SetAgencies).
func NewMemory() *Memory {
	return &Memory{
		now:        time.Now,
		dir:        &Directory{},
		outbox:     map[string]*bus.OutboxEntry{},
		idem:       map[string]string{},
		statusIdem: map[string]statusRequest{},
		byID:       map[string]*inboxItem{},
		changed:    make(chan struct{}),
		calls:      map[string]int{},
	}
}

// SetClock replaces the clock (time.Now).
func (m *Memory) SetClock(now func() time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = now
}

// SetAgencies replaces the agencies of the directory and bumps its
// version. Memory routes without it (any OrganId is accepted); it feeds
// Directory, hence agency search and the names in built documents.
func (m *Memory) SetAgencies(agencies ...bus.Agency) { m.dir.set(agencies) }

// FailNext makes the next Backend call return err.
func (m *Memory) FailNext(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failNext = err
}

// SetReady sets what Ready returns.
func (m *Memory) SetReady(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.readyErr = err
}

// Calls returns how many times the Backend method name was called.
func (m *Memory) Calls(name string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls[name]
}

// enter counts a call and returns the injected failure, if any. m.mu is
// held.
func (m *Memory) enter(name string) error {
	m.calls[name]++
	err := m.failNext
	m.failNext = nil
	return err
}

// Submit implements restapi.Backend. A status 13 (recall) goes to the
// recipients of the documents with its root key that the axis accepted
// (an accepted event, see AddEvent), as the edge routes it.
func (m *Memory) Submit(ctx context.Context, client string, organs []string, pkg []byte, idempotencyKey string) (bus.OutboxEntry, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.enter("Submit"); err != nil {
		return bus.OutboxEntry{}, false, err
	}
	sum := sha256.Sum256(pkg)
	if idempotencyKey != "" {
		if id, ok := m.idem[client+"\x00"+idempotencyKey]; ok {
			e := m.outbox[id]
			if e.InputSHA256 != sum {
				return bus.OutboxEntry{}, false, fmt.Errorf("idempotency key of %s: %w", client, bus.ErrConflict)
			}
			return clone(e), false, nil
		}
	}
	p, err := edoc.Parse(pkg, edoc.Limits{})
	if err != nil {
		var pe *edoc.ParseError
		if errors.As(err, &pe) {
			return bus.OutboxEntry{}, false, &bus.RejectError{Reason: bus.RejectMalformed, Field: pe.Path, Detail: pe.Msg, Err: err}
		}
		return bus.OutboxEntry{}, false, &bus.RejectError{Reason: bus.RejectMalformed, Detail: "the package cannot be read", Err: err}
	}
	for _, pr := range p.Validate() {
		if pr.Severity == edoc.Error {
			return bus.OutboxEntry{}, false, bus.Reject(bus.RejectInvalid, pr.Path, "%s", pr.Message)
		}
	}
	var (
		from  string
		to    []string
		typ   = bus.TypeDocument
		attrs map[string]string
	)
	switch p.Kind {
	case edoc.KindDocument:
		from = p.Header.From.OrganID
		for _, o := range p.Header.To {
			to = append(to, o.OrganID)
		}
	default:
		typ = bus.TypeStatus
		from = p.Status.From.OrganID
		to = []string{p.Status.ResponseFor.OrganID}
		attrs = map[string]string{bus.AttrStatus: string(p.Status.Code)}
	}
	if !slices.Contains(organs, from) {
		return bus.OutboxEntry{}, false, bus.Reject("not-own-organ", "From/OrganId", "%s is not one of the OrganIds this client acts for", from)
	}
	key, err := bus.RootKey(p.RootDocument())
	if err != nil {
		return bus.OutboxEntry{}, false, bus.Reject(bus.RejectInvalid, "MessageHeader/DocumentId", "%v", err)
	}
	if typ == bus.TypeStatus && p.Status.Code == edoc.StatusRecallRequested {
		if to = m.recallRecipients(key); len(to) == 0 {
			return bus.OutboxEntry{}, false, bus.Reject(bus.RejectUnknownDocument, "ResponseFor", "this edge sent no accepted document %s to recall", key)
		}
	}
	e := m.put(bus.Message{Type: typ, Key: key, Sender: from, Recipients: to, Package: pkg, SHA256: sum, Attrs: attrs}, client, "")
	e.IdempotencyKey = idempotencyKey
	e.InputSHA256 = sum
	if idempotencyKey != "" {
		m.idem[client+"\x00"+idempotencyKey] = e.Message.ID
	}
	return clone(e), true, nil
}

// recallRecipients returns the recipients of the documents with root key
// key that the axis accepted. m.mu is held.
func (m *Memory) recallRecipients(key string) []string {
	var to []string
	for _, e := range m.sorted() {
		accepted := slices.ContainsFunc(e.Timeline, func(ev bus.TimelineEvent) bool { return ev.Kind == bus.TimelineAccepted })
		if e.Message.Type != bus.TypeDocument || e.Message.Key != key || !accepted {
			continue
		}
		for _, r := range e.Message.Recipients {
			if !slices.Contains(to, r) {
				to = append(to, r)
			}
		}
	}
	return to
}

// put adds a message to the outbox with a fresh ID and Seq and the
// submitted event. m.mu is held.
func (m *Memory) put(msg bus.Message, client, inboxID string) *bus.OutboxEntry {
	m.nextID++
	m.outSeq++
	msg.ID = fmt.Sprintf("msg-%06d", m.nextID)
	msg.Package = bytes.Clone(msg.Package)
	at := m.now()
	e := &bus.OutboxEntry{
		Message:   msg,
		Client:    client,
		InboxID:   inboxID,
		CreatedAt: at,
		Seq:       m.outSeq,
		Size:      len(msg.Package),
		Timeline: []bus.TimelineEvent{{
			Kind: bus.TimelineSubmitted, At: at, SHA256: fmt.Sprintf("%x", msg.SHA256), MessageID: msg.ID,
		}},
	}
	m.outbox[msg.ID] = e
	return e
}

// sorted returns the outbox entries in Seq order. m.mu is held.
func (m *Memory) sorted() []*bus.OutboxEntry {
	out := slices.Collect(maps.Values(m.outbox))
	slices.SortFunc(out, func(a, b *bus.OutboxEntry) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}

// Document implements restapi.Backend.
func (m *Memory) Document(ctx context.Context, id string) (bus.OutboxEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.enter("Document"); err != nil {
		return bus.OutboxEntry{}, err
	}
	e, ok := m.outbox[id]
	if !ok {
		return bus.OutboxEntry{}, fmt.Errorf("outbox entry %s: %w", id, bus.ErrNotFound)
	}
	return clone(e), nil
}

// Outbox implements restapi.Backend with the filters of bus.OutboxQuery.
func (m *Memory) Outbox(ctx context.Context, q bus.OutboxQuery) ([]bus.OutboxEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.enter("Outbox"); err != nil {
		return nil, err
	}
	types := q.Types
	if types == nil {
		types = []bus.Type{bus.TypeDocument, bus.TypeStatus}
	}
	all := m.sorted()
	var out []bus.OutboxEntry
	for i := len(all) - 1; i >= 0 && len(out) < q.Limit; i-- {
		e := all[i]
		switch {
		case q.Before != 0 && e.Seq >= q.Before,
			!slices.Contains(types, e.Message.Type),
			q.Senders != nil && !slices.Contains(q.Senders, e.Message.Sender),
			q.Client != "" && e.Client != q.Client,
			q.Key != "" && e.Message.Key != q.Key,
			!q.Since.IsZero() && e.CreatedAt.Before(q.Since),
			!q.Until.IsZero() && !e.CreatedAt.Before(q.Until):
			continue
		}
		c := clone(e)
		c.Message.Package = nil
		out = append(out, c)
	}
	return out, nil
}

// Directory implements restapi.Backend.
func (m *Memory) Directory() bus.Directory { return m.dir }

// AddEvent appends ev to the timeline of outbox entry id, and settles the
// entry when ev is an accepted or rejected receipt.
func (m *Memory) AddEvent(id string, ev bus.TimelineEvent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.outbox[id]
	if !ok {
		return fmt.Errorf("outbox entry %s: %w", id, bus.ErrNotFound)
	}
	if ev.At.IsZero() {
		ev.At = m.now()
	}
	e.Timeline = append(e.Timeline, ev)
	if (ev.Kind == bus.TimelineAccepted || ev.Kind == bus.TimelineRejected) && e.Settled.IsZero() {
		e.Settled = ev.At
	}
	return nil
}

// Sent returns every outbox entry, in Seq order.
func (m *Memory) Sent() []bus.OutboxEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []bus.OutboxEntry
	for _, e := range m.sorted() {
		out = append(out, clone(e))
	}
	return out
}

// Deliver adds a package received for recipients (OrganIds this edge
// serves) to the inbox, as the edge does when the axis delivers it, and
// wakes up WaitInbox. The same bytes twice give the stored item.
func (m *Memory) Deliver(pkg []byte, recipients ...string) (bus.InboxItem, error) {
	p, err := edoc.Parse(pkg, edoc.Limits{})
	if err != nil {
		return bus.InboxItem{}, err
	}
	sum := sha256.Sum256(pkg)
	it := bus.InboxItem{
		ID: bus.InboxID(sum), SHA256: sum, Recipients: slices.Clone(recipients), Size: len(pkg),
	}
	switch p.Kind {
	case edoc.KindDocument:
		it.Type, it.Sender = bus.TypeDocument, p.Header.From.OrganID
	default:
		it.Type, it.Sender, it.StatusCode = bus.TypeStatus, p.Status.From.OrganID, string(p.Status.Code)
	}
	it.Key, _ = bus.RootKey(p.RootDocument())
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.byID[it.ID]; ok {
		return cloneItem(old.item), nil
	}
	it.Seq = uint64(len(m.inbox) + 1)
	it.MessageID = fmt.Sprintf("axis-%06d", it.Seq)
	it.ReceivedAt = m.now()
	in := &inboxItem{item: it, pkg: bytes.Clone(pkg), doc: p}
	m.inbox = append(m.inbox, in)
	m.byID[it.ID] = in
	close(m.changed)
	m.changed = make(chan struct{})
	return cloneItem(it), nil
}

// Inbox implements restapi.Backend.
func (m *Memory) Inbox(ctx context.Context, after uint64, limit int) ([]bus.InboxItem, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.enter("Inbox"); err != nil {
		return nil, err
	}
	var out []bus.InboxItem
	for i := after; i < uint64(len(m.inbox)) && len(out) < limit; i++ {
		out = append(out, cloneItem(m.inbox[i].item))
	}
	return out, nil
}

// WaitInbox implements restapi.Backend.
func (m *Memory) WaitInbox(ctx context.Context, after uint64) error {
	for {
		m.mu.Lock()
		if err := m.enter("WaitInbox"); err != nil {
			m.mu.Unlock()
			return err
		}
		if uint64(len(m.inbox)) > after {
			m.mu.Unlock()
			return nil
		}
		ch := m.changed
		m.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// Item implements restapi.Backend.
func (m *Memory) Item(ctx context.Context, id string) (bus.InboxItem, []byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.enter("Item"); err != nil {
		return bus.InboxItem{}, nil, err
	}
	in, ok := m.byID[id]
	if !ok {
		return bus.InboxItem{}, nil, fmt.Errorf("inbox item %s: %w", id, bus.ErrNotFound)
	}
	return cloneItem(in.item), bytes.Clone(in.pkg), nil
}

// Take implements restapi.Backend as the edge does: the taking of each of
// the item's recipients among organs (nil: all) is recorded the first
// time, and each of them that sent no 01 for a document sends one.
func (m *Memory) Take(ctx context.Context, id string, organs []string) (bus.InboxItem, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.enter("Take"); err != nil {
		return bus.InboxItem{}, err
	}
	in, ok := m.byID[id]
	if !ok {
		return bus.InboxItem{}, fmt.Errorf("inbox item %s: %w", id, bus.ErrNotFound)
	}
	takers, err := recipientsAmong(in.item, organs)
	if err != nil {
		return bus.InboxItem{}, err
	}
	now := m.now()
	for _, o := range takers {
		if in.item.Type == bus.TypeDocument && in.item.Deliveries[o].Status01 == "" {
			if _, err := m.status01(in, o, now); err != nil {
				return bus.InboxItem{}, err
			}
		}
		m.taken(in, o, now)
	}
	return cloneItem(in.item), nil
}

// taken records the taking of in by organ's DMS. m.mu is held.
func (m *Memory) taken(in *inboxItem, organ string, at time.Time) {
	if in.item.Deliveries == nil {
		in.item.Deliveries = map[string]bus.ItemDelivery{}
	}
	d := in.item.Deliveries[organ]
	if d.TakenAt.IsZero() {
		d.TakenAt = at
	}
	in.item.Deliveries[organ] = d
	if in.item.TakenAt.IsZero() {
		in.item.TakenAt = at
	}
}

// status01 queues the 01 of organ about in. m.mu is held.
func (m *Memory) status01(in *inboxItem, organ string, at time.Time) (*bus.OutboxEntry, error) {
	e, err := m.status(in, organ, edoc.StatusArrived, "", "")
	if err != nil {
		return nil, err
	}
	if in.item.Deliveries == nil {
		in.item.Deliveries = map[string]bus.ItemDelivery{}
	}
	d := in.item.Deliveries[organ]
	d.Status01 = e.Message.ID
	in.item.Deliveries[organ] = d
	if in.item.Status01 == "" {
		in.item.Status01 = e.Message.ID
	}
	return e, nil
}

// recipientsAmong returns the item's recipients among organs (nil: all),
// or a rejection when there are none.
func recipientsAmong(it bus.InboxItem, organs []string) ([]string, error) {
	if organs == nil {
		return slices.Clone(it.Recipients), nil
	}
	var out []string
	for _, r := range it.Recipients {
		if slices.Contains(organs, r) {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, bus.Reject(bus.RejectNotParticipant, "id", "none of the recipients of item %s is an agency this client acts for", it.ID)
	}
	return out, nil
}

// PostStatus implements restapi.Backend as the edge does: one status from
// each of the item's recipients among organs (nil: all); for 01, only
// from those that sent none (bus.ErrConflict when all did), recorded as
// their taking. It returns the first status.
//
// With an idempotency key, the same request again returns the first result
// and queues nothing; another request under the key is bus.ErrConflict.
func (m *Memory) PostStatus(ctx context.Context, client, idempotencyKey, id string, organs []string, code, description, staff string) (bus.OutboxEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.enter("PostStatus"); err != nil {
		return bus.OutboxEntry{}, err
	}
	request := strings.Join(append([]string{id, code, description, staff}, organs...), "\x00")
	idem := client + "\x00" + idempotencyKey
	if prev, ok := m.statusIdem[idem]; ok && idempotencyKey != "" {
		if prev.request != request {
			return bus.OutboxEntry{}, fmt.Errorf("idempotency key %q was used for another status request: %w", idempotencyKey, bus.ErrConflict)
		}
		return clone(m.outbox[prev.result]), nil
	}
	e, err := m.postStatus(id, organs, code, description, staff)
	if err == nil && idempotencyKey != "" {
		m.statusIdem[idem] = statusRequest{request: request, result: e.Message.ID}
	}
	return e, err
}

// postStatus is PostStatus without its idempotency key; m.mu is held.
func (m *Memory) postStatus(id string, organs []string, code, description, staff string) (bus.OutboxEntry, error) {
	in, ok := m.byID[id]
	if !ok {
		return bus.OutboxEntry{}, fmt.Errorf("inbox item %s: %w", id, bus.ErrNotFound)
	}
	c := edoc.ParseStatusCode(code)
	switch {
	case !c.Known():
		return bus.OutboxEntry{}, bus.Reject(bus.RejectInvalid, "code", "%q is not a status code", code)
	case c == edoc.StatusRecallRequested:
		return bus.OutboxEntry{}, bus.Reject(bus.RejectStatusDirection, "code", "a recipient cannot send 13 (recall): only the sender can")
	case in.item.Type != bus.TypeDocument:
		return bus.OutboxEntry{}, bus.Reject(bus.RejectStatusDirection, "id", "a status answers a document; %s is a %s", id, in.item.Type)
	}
	senders, err := recipientsAmong(in.item, organs)
	if err != nil {
		return bus.OutboxEntry{}, err
	}
	now := m.now()
	var first *bus.OutboxEntry
	for _, o := range senders {
		var e *bus.OutboxEntry
		if c == edoc.StatusArrived {
			if in.item.Deliveries[o].Status01 != "" {
				continue
			}
			if e, err = m.status01(in, o, now); err != nil {
				return bus.OutboxEntry{}, err
			}
			m.taken(in, o, now)
		} else if e, err = m.status(in, o, c, description, staff); err != nil {
			return bus.OutboxEntry{}, err
		}
		if first == nil {
			first = e
		}
	}
	if first == nil {
		return bus.OutboxEntry{}, fmt.Errorf("status 01 for %s: %w", id, bus.ErrConflict)
	}
	return clone(first), nil
}

// status builds and queues a status package from organ about in. m.mu is
// held.
func (m *Memory) status(in *inboxItem, organ string, code edoc.StatusCode, description, staff string) (*bus.OutboxEntry, error) {
	from := edoc.Organization{OrganID: organ}
	for _, o := range in.doc.Header.To {
		if o.OrganID == from.OrganID {
			from = o
		}
	}
	p, err := edoc.NewStatus(in.doc, from, code, description, edoc.StaffInfo{Staff: staff}, m.now())
	if err != nil {
		return nil, bus.Reject(bus.RejectInvalid, "code", "%v", err)
	}
	var buf bytes.Buffer
	if _, err := p.WriteTo(&buf); err != nil {
		return nil, bus.Reject(bus.RejectInvalid, "description", "%v", err)
	}
	msg := bus.Message{
		Type: bus.TypeStatus, Key: in.item.Key, Sender: from.OrganID, Recipients: []string{in.item.Sender},
		Package: buf.Bytes(), SHA256: sha256.Sum256(buf.Bytes()), Attrs: map[string]string{bus.AttrStatus: string(code)},
	}
	e := m.put(msg, "", in.item.ID)
	e.InputSHA256 = msg.SHA256
	return e, nil
}

// Ready implements restapi.Backend.
func (m *Memory) Ready(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.enter("Ready"); err != nil {
		return err
	}
	return m.readyErr
}

// Directory is a bus.Directory of agencies only (no edges, no
// certificates: CheckSigner refuses every signer), for Memory.
type Directory struct {
	mu       sync.Mutex
	version  int64
	agencies map[string]bus.Agency
}

var _ bus.Directory = (*Directory)(nil)

func (d *Directory) set(agencies []bus.Agency) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.agencies = make(map[string]bus.Agency, len(agencies))
	for _, a := range agencies {
		d.agencies[a.OrganID] = a
	}
	d.version++
}

// Agency implements bus.Directory.
func (d *Directory) Agency(organID string) (bus.Agency, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a, ok := d.agencies[organID]
	return a, ok
}

// Edge implements bus.Directory: there are none.
func (d *Directory) Edge(string) (bus.EdgeInfo, bool) { return bus.EdgeInfo{}, false }

// CheckSigner implements bus.Directory: no certificate is bound.
func (d *Directory) CheckSigner(organID string, _ []*x509.Certificate, _ time.Time) error {
	return bus.Reject(bus.RejectSignerNotBound, "signer", "the test directory binds no certificate to %s", organID)
}

// Version implements bus.Directory.
func (d *Directory) Version() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.version
}

// Agencies implements bus.Directory.
func (d *Directory) Agencies() []bus.Agency {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := slices.Collect(maps.Values(d.agencies))
	slices.SortFunc(out, func(a, b bus.Agency) int { return strings.Compare(a.OrganID, b.OrganID) })
	return out
}

func clone(e *bus.OutboxEntry) bus.OutboxEntry {
	c := *e
	c.Message.Recipients = slices.Clone(e.Message.Recipients)
	c.Message.Package = bytes.Clone(e.Message.Package)
	c.Timeline = slices.Clone(e.Timeline)
	c.Message.Attrs = maps.Clone(e.Message.Attrs)
	return c
}

func cloneItem(it bus.InboxItem) bus.InboxItem {
	it.Recipients = slices.Clone(it.Recipients)
	it.Deliveries = maps.Clone(it.Deliveries)
	return it
}

var docCounter atomic.Int64

// NewDocument returns a valid, unsigned edXML document package from one
// OrganId to others, with a small PDF-like attachment. Every call gives a
// different DocumentId, hence different bytes.
func NewDocument(tb testing.TB, from string, to ...string) []byte {
	tb.Helper()
	n := docCounter.Add(1)
	p := &edoc.Package{
		Kind: edoc.KindDocument,
		Header: edoc.MessageHeader{
			From:         edoc.Organization{OrganID: from, OrganName: "Cơ quan " + from},
			DocumentID:   fmt.Sprintf("%s,2026/01/15,%d/CV-VP", from, n),
			Code:         edoc.Code{Number: fmt.Sprint(n), Notation: "CV-VP"},
			Promulgation: edoc.PromulgationInfo{Place: "Hà Nội", Date: edoc.Date{Raw: "2026/01/15"}},
			DocumentType: edoc.DocumentType{Type: "1", TypeDetail: "0", TypeName: "Công văn"},
			Subject:      fmt.Sprintf("Công văn số %d về việc thử nghiệm", n),
			Signer:       edoc.SignerInfo{Competence: "TL. CHÁNH VĂN PHÒNG", Position: "Trưởng phòng", FullName: "Nguyễn Văn A"},
		},
		Trace: &edoc.TraceHeaderList{
			Headers:  []edoc.TraceHeader{{OrganID: from, Timestamp: edoc.Timestamp{Raw: "2026/01/15 09:30:00"}}},
			Business: &edoc.Business{DocType: edoc.BusinessNew, Paper: "0"},
		},
	}
	for _, o := range to {
		p.Header.To = append(p.Header.To, edoc.Organization{OrganID: o, OrganName: "Cơ quan " + o})
	}
	content := fmt.Appendf(nil, "%%PDF-1.4\n%% document %d\n%%%%EOF\n", n)
	p.AddAttachment(edoc.NewAttachment(fmt.Sprintf("cv-%d.pdf", n), "application/pdf", func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(content)), nil
	}))
	var buf bytes.Buffer
	if _, err := p.WriteTo(&buf); err != nil {
		tb.Fatalf("building a document: %v", err)
	}
	return buf.Bytes()
}
