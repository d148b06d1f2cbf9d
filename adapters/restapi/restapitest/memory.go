package restapitest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
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

	mu       sync.Mutex
	outbox   map[string]*bus.OutboxEntry // message ID → entry
	idem     map[string]string           // client + "\x00" + key → message ID
	inbox    []*inboxItem                // in Seq order; Seq = index + 1
	byID     map[string]*inboxItem
	changed  chan struct{} // closed and replaced when an item arrives
	nextID   int
	readyErr error
	failNext error
	calls    map[string]int
}

type inboxItem struct {
	item bus.InboxItem
	pkg  []byte
	doc  *edoc.Package
}

var _ restapi.Backend = (*Memory)(nil)

// NewMemory returns an empty Memory whose clock is time.Now.
func NewMemory() *Memory {
	return &Memory{
		now:     time.Now,
		outbox:  map[string]*bus.OutboxEntry{},
		idem:    map[string]string{},
		byID:    map[string]*inboxItem{},
		changed: make(chan struct{}),
		calls:   map[string]int{},
	}
}

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

// Submit implements restapi.Backend.
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
			if e.Message.SHA256 != sum {
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
		from, docID string
		to          []string
		typ         = bus.TypeDocument
		attrs       map[string]string
	)
	switch p.Kind {
	case edoc.KindDocument:
		from, docID = p.Header.From.OrganID, p.Header.DocumentID
		for _, o := range p.Header.To {
			to = append(to, o.OrganID)
		}
	default:
		typ = bus.TypeStatus
		from = p.Status.From.OrganID
		docID = p.Status.ResponseFor.DocumentID
		to = []string{p.Status.ResponseFor.OrganID}
		attrs = map[string]string{bus.AttrStatus: string(p.Status.Code)}
	}
	if !slices.Contains(organs, from) {
		return bus.OutboxEntry{}, false, bus.Reject("not-own-organ", "From/OrganId", "%s is not one of the OrganIds this client acts for", from)
	}
	key, err := bus.RootKey(from, docID)
	if err != nil {
		return bus.OutboxEntry{}, false, bus.Reject(bus.RejectInvalid, "MessageHeader/DocumentId", "%v", err)
	}
	e := m.put(bus.Message{Type: typ, Key: key, Sender: from, Recipients: to, Package: pkg, SHA256: sum, Attrs: attrs}, client, "")
	e.IdempotencyKey = idempotencyKey
	if idempotencyKey != "" {
		m.idem[client+"\x00"+idempotencyKey] = e.Message.ID
	}
	return clone(e), true, nil
}

// put adds a message to the outbox with a fresh ID and the submitted
// event. m.mu is held.
func (m *Memory) put(msg bus.Message, client, inboxID string) *bus.OutboxEntry {
	m.nextID++
	msg.ID = fmt.Sprintf("msg-%06d", m.nextID)
	msg.Package = bytes.Clone(msg.Package)
	at := m.now()
	e := &bus.OutboxEntry{
		Message:   msg,
		Client:    client,
		InboxID:   inboxID,
		CreatedAt: at,
		Timeline: []bus.TimelineEvent{{
			Kind: bus.TimelineSubmitted, At: at, SHA256: fmt.Sprintf("%x", msg.SHA256), MessageID: msg.ID,
		}},
	}
	m.outbox[msg.ID] = e
	return e
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

// Outbox returns every outbox entry, in ID order.
func (m *Memory) Outbox() []bus.OutboxEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]bus.OutboxEntry, 0, len(m.outbox))
	for _, e := range m.outbox {
		out = append(out, clone(e))
	}
	slices.SortFunc(out, func(a, b bus.OutboxEntry) int { return cmpString(a.Message.ID, b.Message.ID) })
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
		it.Key, _ = bus.RootKey(p.Header.From.OrganID, p.Header.DocumentID)
	default:
		it.Type, it.Sender, it.StatusCode = bus.TypeStatus, p.Status.From.OrganID, string(p.Status.Code)
		it.Key, _ = bus.RootKey(p.Status.ResponseFor.OrganID, p.Status.ResponseFor.DocumentID)
	}
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

// Take implements restapi.Backend: it records the first time and queues
// status 01 once.
func (m *Memory) Take(ctx context.Context, id string, _ []string) (bus.InboxItem, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.enter("Take"); err != nil {
		return bus.InboxItem{}, err
	}
	in, ok := m.byID[id]
	if !ok {
		return bus.InboxItem{}, fmt.Errorf("inbox item %s: %w", id, bus.ErrNotFound)
	}
	if in.item.TakenAt.IsZero() {
		in.item.TakenAt = m.now()
	}
	if in.item.Type == bus.TypeDocument && in.item.Status01 == "" {
		e, err := m.status(in, edoc.StatusArrived, "", "")
		if err != nil {
			return bus.InboxItem{}, err
		}
		in.item.Status01 = e.Message.ID
	}
	return cloneItem(in.item), nil
}

// PostStatus implements restapi.Backend. The status is sent by the item's
// first recipient.
func (m *Memory) PostStatus(ctx context.Context, id string, _ []string, code, description, staff string) (bus.OutboxEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.enter("PostStatus"); err != nil {
		return bus.OutboxEntry{}, err
	}
	in, ok := m.byID[id]
	if !ok {
		return bus.OutboxEntry{}, fmt.Errorf("inbox item %s: %w", id, bus.ErrNotFound)
	}
	if in.item.Type != bus.TypeDocument {
		return bus.OutboxEntry{}, bus.Reject("not-a-document", "id", "a status answers a document; %s is a %s", id, in.item.Type)
	}
	c := edoc.ParseStatusCode(code)
	switch {
	case !c.Known():
		return bus.OutboxEntry{}, bus.Reject(bus.RejectInvalid, "code", "%q is not a status code", code)
	case c == edoc.StatusRecallRequested:
		return bus.OutboxEntry{}, bus.Reject(bus.RejectStatusDirection, "code", "a recipient cannot send 13 (recall): only the sender can")
	case c == edoc.StatusArrived && in.item.Status01 != "":
		return bus.OutboxEntry{}, fmt.Errorf("status 01 for %s: %w", id, bus.ErrConflict)
	}
	e, err := m.status(in, c, description, staff)
	if err != nil {
		return bus.OutboxEntry{}, err
	}
	if c == edoc.StatusArrived {
		in.item.Status01 = e.Message.ID
	}
	return clone(e), nil
}

// status builds and queues a status package about in. m.mu is held.
func (m *Memory) status(in *inboxItem, code edoc.StatusCode, description, staff string) (*bus.OutboxEntry, error) {
	from := edoc.Organization{OrganID: in.item.Recipients[0]}
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
	return m.put(msg, "", in.item.ID), nil
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

func clone(e *bus.OutboxEntry) bus.OutboxEntry {
	c := *e
	c.Message.Recipients = slices.Clone(e.Message.Recipients)
	c.Message.Package = bytes.Clone(e.Message.Package)
	c.Timeline = slices.Clone(e.Timeline)
	return c
}

func cloneItem(it bus.InboxItem) bus.InboxItem {
	it.Recipients = slices.Clone(it.Recipients)
	return it
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
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
