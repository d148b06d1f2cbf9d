package bus

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"

	"truc.vn/truc/edoc"
)

// PackageSigner signs an edXML package on behalf of an agency with the
// edge's seal key. The signing package provides it. It is safe for
// concurrent use.
type PackageSigner interface {
	// Sign returns pkg with an enveloped signature for organID. A
	// placeholder or legacy signature is replaced. It refuses an OrganId
	// it holds no key for.
	Sign(ctx context.Context, organID string, pkg []byte) ([]byte, error)
}

// EdgeNoteName is the signed-note key name of an edge's seal key: its
// rejection notices are signed under this name.
func EdgeNoteName(edgeID string) string { return "truc.vn/edge/" + edgeID }

// Defaults of EdgeConfig.
const (
	DefaultResendAfter = 30 * time.Second
	DefaultAckBatch    = 256
	// AckLinger is how long the edge gathers acks before it signs and
	// sends them as one note.
	AckLinger = 50 * time.Millisecond
)

// EdgeConfig configures an Edge. Zero fields take the defaults.
type EdgeConfig struct {
	// ID names the edge (ValidateEdgeID); its inbox topic is
	// Topics.Inbox(ID).
	ID string
	// Topics names the topics (prefix).
	Topics Topics
	// Group is the consumer group on the inbox topic; default
	// "truc-edge-" + ID.
	Group string
	// MaxPackageBytes is the largest package accepted from a DMS.
	MaxPackageBytes int
	// ResendAfter is how long the edge waits for the axis's receipt
	// before it publishes an outbox entry again.
	ResendAfter time.Duration
	// SendsOwn01 says the DMS sends its own status 01 (VXP clients do):
	// Take then only records the taking.
	SendsOwn01 bool
	// AxisVerifiers verify the axis's checkpoint signatures on receipts.
	// Required.
	AxisVerifiers note.Verifiers
	// NoticeSigner signs this edge's rejection notices with its seal key.
	// Required.
	NoticeSigner note.Signer
	// NoticeVerifiers returns the note verifiers of an edge's seal
	// certificates, to check rejection notices forwarded by the axis.
	// Required.
	NoticeVerifiers func(EdgeInfo) (note.Verifiers, error)
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives operational events; nil discards them.
	Logger *slog.Logger
	// Hooks observe the edge, for metrics. Optional.
	Hooks EdgeHooks
}

// EdgeHooks are called as the edge works; each may be nil.
type EdgeHooks struct {
	Submitted func(t Type)                 // a DMS submission or status was queued
	Published func(n int, d time.Duration) // n outbox entries were published
	Received  func(t Type, duplicate bool) // a package arrived on the inbox topic
	Refused   func(reason string)          // a package failed verification here
	Receipt   func(kind EventKind)         // an axis receipt arrived
	// Checkpoint: a verified axis receipt carried this signed checkpoint
	// (the edge's witness checks it against the last one it saw).
	Checkpoint func(note []byte)
	// Settled: the axis's first final receipt (accepted or rejected) for
	// an outbox entry arrived; submitted is the entry's CreatedAt.
	Settled func(t Type, accepted bool, submitted, at time.Time)
}

func (c *EdgeConfig) setDefaults() {
	setDefaultVal(&c.Group, "truc-edge-"+c.ID)
	setDefaultVal(&c.MaxPackageBytes, DefaultMaxPackageBytes)
	setDefaultVal(&c.ResendAfter, DefaultResendAfter)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate checks the configuration after defaults.
func (c EdgeConfig) Validate() error {
	c.setDefaults()
	var errs []error
	if err := ValidateEdgeID(c.ID); err != nil {
		errs = append(errs, fmt.Errorf("id: %w", err))
	}
	if c.AxisVerifiers == nil {
		errs = append(errs, errors.New("axis verifiers: required to check receipts"))
	}
	if c.NoticeSigner == nil {
		errs = append(errs, errors.New("notice signer: required to sign rejection notices"))
	}
	if c.NoticeVerifiers == nil {
		errs = append(errs, errors.New("notice verifiers: required"))
	}
	if c.ResendAfter < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("resend_after: at least 100ms, got %s", c.ResendAfter))
	}
	return errors.Join(errs...)
}

// Edge is an edge node: it takes packages from its DMS, signs them, keeps
// them in its outbox until the axis has receipted them, consumes its inbox
// topic (verifying every package again), keeps what arrives in its inbox
// until the DMS takes it, and sends the statuses the DMS reports.
//
// Submit returns only once the signed package is durably in the outbox
// (I1); a publisher sends outbox entries to truc.submit and sends them
// again after ResendAfter until the receipt arrives. Incoming packages are
// deduplicated by SHA-256 before they reach the inbox (I2).
type Edge struct {
	cfg       EdgeConfig
	transport Transport
	store     EdgeStore
	dir       Directory
	verifier  Verifier
	signer    PackageSigner
	log       *slog.Logger

	wake chan struct{}   // the outbox has new work
	acks chan pendingAck // deliveries to acknowledge

	mu      sync.Mutex
	arrived chan struct{} // closed and replaced when an inbox item arrives
}

// NewEdge returns an Edge. Run starts its background work; the DMS-facing
// methods (Submit, Inbox, Take, ...) work once the store is open, and
// their effects travel once Run runs.
func NewEdge(cfg EdgeConfig, t Transport, s EdgeStore, d Directory, v Verifier, signer PackageSigner) (*Edge, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("edge config: %w", err)
	}
	if t == nil || s == nil || d == nil || v == nil || signer == nil {
		return nil, errors.New("edge: transport, store, directory, verifier and signer are required")
	}
	return &Edge{
		cfg: cfg, transport: t, store: s, dir: d, verifier: v, signer: signer, log: cfg.Logger,
		wake:    make(chan struct{}, 1),
		acks:    make(chan pendingAck, DefaultAckBatch),
		arrived: make(chan struct{}),
	}, nil
}

// ID returns the edge's ID.
func (e *Edge) ID() string { return e.cfg.ID }

// Run consumes the inbox topic and runs the outbox publisher and the ack
// sender until ctx is done. It returns nil on a clean stop.
func (e *Edge) Run(ctx context.Context) error {
	topic, err := e.cfg.Topics.Inbox(e.cfg.ID)
	if err != nil {
		return err
	}
	return runTasks(ctx, "edge "+e.cfg.ID,
		task{"consumer", func(ctx context.Context) error { return e.transport.Consume(ctx, topic, e.cfg.Group, e.Handle) }},
		task{"publisher", e.publishLoop},
		task{"acks", e.ackLoop},
	)
}

// newID returns a fresh message ID: the edge ID, the time in
// milliseconds, and 8 random bytes.
func (e *Edge) newID() string {
	var r [8]byte
	_, _ = rand.Read(r[:])
	return e.cfg.ID + "." + strconv.FormatInt(e.cfg.Now().UnixMilli(), 36) + "." + hex.EncodeToString(r[:])
}

// ---------------------------------------------------------------------------
// DMS side

// Submit takes an edXML package from client, acting for one of organs (nil
// means any agency this edge serves), checks it, signs it with the seal
// key of its sender, and durably queues it for the axis. A retry with the
// same idempotency key returns the first entry (created=false) without
// signing again; the same key with other bytes is ErrConflict.
func (e *Edge) Submit(ctx context.Context, client string, organs []string, pkg []byte, idempotencyKey string) (OutboxEntry, bool, error) {
	input := sha256.Sum256(pkg)
	if idempotencyKey != "" {
		prev, err := e.store.ByIdempotencyKey(ctx, client, idempotencyKey)
		if err == nil {
			if prev.InputSHA256 != input {
				return OutboxEntry{}, false, fmt.Errorf("idempotency key %q was used for other bytes: %w", idempotencyKey, ErrConflict)
			}
			return prev, false, nil
		} else if !errors.Is(err, ErrNotFound) {
			return OutboxEntry{}, false, err
		}
	}
	if len(pkg) > e.cfg.MaxPackageBytes {
		return OutboxEntry{}, false, Reject(RejectTooLarge, "body", "%d bytes, the limit is %d", len(pkg), e.cfg.MaxPackageBytes)
	}
	p, err := edoc.Parse(pkg, edoc.Limits{MaxBytes: int64(e.cfg.MaxPackageBytes)})
	if err != nil {
		return OutboxEntry{}, false, &RejectError{Reason: RejectMalformed, Field: "body", Detail: err.Error(), Err: err}
	}
	if re := firstProblem(p); re != nil {
		return OutboxEntry{}, false, re
	}
	sender := p.Sender()
	if organs != nil && !slices.Contains(organs, sender) {
		return OutboxEntry{}, false, Reject(RejectUnknownSender, "From/OrganId", "this client may not send for %s", sender)
	}
	if err := e.servedHere(sender); err != nil {
		return OutboxEntry{}, false, err
	}
	msg, err := e.routing(ctx, p)
	if err != nil {
		return OutboxEntry{}, false, err
	}
	inboxID, err := e.answers01(ctx, msg)
	if err != nil {
		return OutboxEntry{}, false, err
	}
	// A package the DMS signed itself with a certificate bound to its
	// sender goes as it is; anything else (no signature, a legacy or
	// placeholder one, a signer not bound) is signed with the seal key.
	// (No XML-DSig namespace at all: nothing to verify.)
	signed := pkg
	if !e.signedBy(ctx, pkg, sender) {
		if signed, err = e.signer.Sign(ctx, sender, pkg); err != nil {
			return OutboxEntry{}, false, fmt.Errorf("signing for %s: %w", sender, err)
		}
	}
	msg.ID = e.newID()
	msg.Package, msg.SHA256 = signed, sha256.Sum256(signed)
	entry := OutboxEntry{
		Message:        msg,
		IdempotencyKey: idempotencyKey,
		InputSHA256:    input,
		Client:         client,
		InboxID:        inboxID,
		CreatedAt:      e.cfg.Now(),
	}
	entry.Timeline = []TimelineEvent{{Kind: TimelineSubmitted, At: entry.CreatedAt, SHA256: hex.EncodeToString(msg.SHA256[:]), MessageID: msg.ID}}
	return e.put(ctx, entry)
}

// answers01 returns, for a status 01 a DMS sends itself (VXP clients do),
// the inbox item it answers: the newest document with its key addressed
// to its sender that the sender has not answered with 01 yet. The outbox
// then records the 01 against the item in the same transaction, so that
// an agency never sends two (ErrConflict when it already did). It returns
// "" for other messages, and for a 01 about a document this edge never
// received (the axis judges it).
func (e *Edge) answers01(ctx context.Context, m Message) (string, error) {
	if m.Type != TypeStatus || m.Attrs[AttrStatus] != string(edoc.StatusArrived) {
		return "", nil
	}
	items, err := e.store.InboxByKey(ctx, m.Key)
	if err != nil {
		return "", err
	}
	answered := ""
	for _, it := range slices.Backward(items) {
		if it.Type != TypeDocument || !slices.Contains(it.Recipients, m.Sender) {
			continue
		}
		if d := it.Deliveries[m.Sender]; d.Status01 != "" {
			answered = d.Status01
			continue
		}
		return it.ID, nil
	}
	if answered != "" {
		return "", fmt.Errorf("%s already answered the document with status 01 (%s): %w", m.Sender, answered, ErrConflict)
	}
	return "", nil
}

// signedBy reports whether pkg already carries a signature that verifies
// and is bound to sender.
func (e *Edge) signedBy(ctx context.Context, pkg []byte, sender string) bool {
	if !bytes.Contains(pkg, []byte(edoc.NamespaceXMLDSig)) {
		return false
	}
	v, err := e.verifier.Verify(ctx, pkg, e.cfg.Now())
	return err == nil && v.Package.Sender() == sender
}

func (e *Edge) put(ctx context.Context, entry OutboxEntry) (OutboxEntry, bool, error) {
	stored, created, err := e.store.Put(ctx, entry)
	if err != nil {
		return OutboxEntry{}, false, fmt.Errorf("queueing %s: %w", entry.Message.ID, err)
	}
	if created {
		if h := e.cfg.Hooks.Submitted; h != nil {
			h(stored.Message.Type)
		}
		e.log.Info("edge: queued", "msg_id", stored.Message.ID, "type", stored.Message.Type, "sender", stored.Message.Sender, "recipients", len(stored.Message.Recipients))
		e.kickPublisher()
	}
	return stored, created, nil
}

func firstProblem(p *edoc.Package) *RejectError {
	for _, pr := range p.Validate() {
		if pr.Severity == edoc.Error {
			return Reject(RejectInvalid, pr.Path, "%s: %s", pr.Rule, pr.Message)
		}
	}
	return nil
}

// servedHere checks that organID is an active agency served by this edge.
func (e *Edge) servedHere(organID string) error {
	ag, ok := e.dir.Agency(organID)
	if !ok || !ag.Active {
		return Reject(RejectUnknownSender, "From/OrganId", "%s is not an active agency in the directory", organID)
	}
	if ag.Edge != e.cfg.ID {
		return Reject(RejectWrongEdge, "From/OrganId", "%s is served by edge %s, not %s", organID, ag.Edge, e.cfg.ID)
	}
	return nil
}

// routing fills the routing header of a package the edge is about to send
// (everything but ID, Package and SHA256), checking the recipients against
// the directory so that the DMS hears of an unknown recipient at once.
func (e *Edge) routing(ctx context.Context, p *edoc.Package) (Message, error) {
	key, err := RootKey(p.RootDocument())
	if err != nil {
		return Message{}, Reject(RejectInvalid, "DocumentId", "%v", err)
	}
	m := Message{Key: key, Sender: p.Sender(), Attrs: map[string]string{AttrEdge: e.cfg.ID}}
	switch p.Kind {
	case edoc.KindDocument:
		m.Type = TypeDocument
		m.Recipients = p.Recipients()
		for i, r := range m.Recipients {
			if ag, ok := e.dir.Agency(r); !ok || !ag.Active {
				return Message{}, Reject(RejectUnknownRecipient, fmt.Sprintf("To[%d]/OrganId", i), "%s is not an active agency in the directory", r)
			}
		}
	case edoc.KindStatus:
		m.Type = TypeStatus
		code := p.StatusCode()
		m.Attrs[AttrStatus] = string(code)
		rootSender, _, _ := ParseRootKey(key)
		if code != edoc.StatusRecallRequested {
			m.Recipients = []string{rootSender}
			break
		}
		sent, err := e.store.SentByKey(ctx, key)
		if err != nil {
			return Message{}, err
		}
		for _, s := range sent {
			if s.Settled.IsZero() || slices.ContainsFunc(s.Timeline, func(t TimelineEvent) bool { return t.Kind == TimelineRejected }) {
				continue
			}
			for _, r := range s.Message.Recipients {
				if !slices.Contains(m.Recipients, r) {
					m.Recipients = append(m.Recipients, r)
				}
			}
		}
		if len(m.Recipients) == 0 {
			return Message{}, Reject(RejectUnknownDocument, "ResponseFor", "this edge sent no accepted document %s to recall", key)
		}
	default:
		return Message{}, Reject(RejectInvalid, "body", "not an edXML document or status package")
	}
	return m, nil
}

// Document returns a sent entry with its timeline.
func (e *Edge) Document(ctx context.Context, id string) (OutboxEntry, error) {
	return e.store.Sent(ctx, id)
}

// Inbox lists inbox items after the cursor.
func (e *Edge) Inbox(ctx context.Context, after uint64, limit int) ([]InboxItem, error) {
	return e.store.Inbox(ctx, after, limit)
}

// WaitInbox blocks until the inbox has an item with Seq > after, or ctx
// ends (then it returns ctx's error).
func (e *Edge) WaitInbox(ctx context.Context, after uint64) error {
	for {
		e.mu.Lock()
		ch := e.arrived
		e.mu.Unlock()
		last, err := e.store.LastSeq(ctx)
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

func (e *Edge) notifyArrived() {
	e.mu.Lock()
	close(e.arrived)
	e.arrived = make(chan struct{})
	e.mu.Unlock()
}

// Item returns an inbox item and its exact package bytes.
func (e *Edge) Item(ctx context.Context, id string) (InboxItem, []byte, error) {
	return e.store.Item(ctx, id)
}

// Take records that the DMS acting for organs (nil: every agency) has
// taken item id and, unless the DMS sends its own (SendsOwn01), queues
// status 01 from each of the item's recipient agencies among organs that
// has not sent one yet. Several DMS may share an item on one edge: each
// answers for its own agencies, once.
func (e *Edge) Take(ctx context.Context, id string, organs []string) (InboxItem, error) {
	item, pkg, err := e.store.Item(ctx, id)
	if err != nil {
		return InboxItem{}, err
	}
	takers, err := recipientsAmong(item, organs)
	if err != nil {
		return InboxItem{}, err
	}
	var statuses []OutboxEntry
	if !e.cfg.SendsOwn01 && item.Type == TypeDocument {
		if need := unanswered(item, takers); len(need) > 0 {
			if statuses, err = e.statuses(ctx, item, pkg, need, edoc.StatusArrived, "", ""); err != nil {
				return InboxItem{}, err
			}
		}
	}
	item, err = e.store.Take(ctx, id, Taking{At: e.cfg.Now(), Organs: takers, Statuses: statuses})
	if err != nil {
		return InboxItem{}, err
	}
	if len(statuses) > 0 {
		e.kickPublisher()
	}
	return item, nil
}

// Acknowledge records a DMS's acknowledgement of item id (VXP
// updateStatus) for the item's recipient agencies among organs (nil:
// all): the taking, and ack. It never sends a 01: a DMS that acknowledges
// sends its own. Done and fail are final; changing one into the other is
// ErrConflict.
func (e *Edge) Acknowledge(ctx context.Context, id string, organs []string, ack DMSAck) (InboxItem, error) {
	if !ack.Valid() || ack == DMSAckNone {
		return InboxItem{}, Reject(RejectInvalid, "status", "%q is not processing, done or fail", ack)
	}
	item, _, err := e.store.Item(ctx, id)
	if err != nil {
		return InboxItem{}, err
	}
	takers, err := recipientsAmong(item, organs)
	if err != nil {
		return InboxItem{}, err
	}
	return e.store.Take(ctx, id, Taking{At: e.cfg.Now(), Organs: takers, Ack: ack})
}

// recipientsAmong returns the item's recipients among organs (nil: all of
// them), or a rejection when there are none.
func recipientsAmong(item InboxItem, organs []string) ([]string, error) {
	if organs == nil {
		return item.Recipients, nil
	}
	var out []string
	for _, r := range item.Recipients {
		if slices.Contains(organs, r) {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, Reject(RejectNotParticipant, "id", "none of the recipients of item %s is an agency this client acts for", item.ID)
	}
	return out, nil
}

// unanswered returns the agencies among organs that sent no 01 for item.
func unanswered(item InboxItem, organs []string) []string {
	var out []string
	for _, o := range organs {
		if item.Deliveries[o].Status01 == "" {
			out = append(out, o)
		}
	}
	return out
}

// Outbox lists what the edge sent (see EdgeStore.Outbox): newest first,
// without package bytes.
func (e *Edge) Outbox(ctx context.Context, q OutboxQuery) ([]OutboxEntry, error) {
	return e.store.Outbox(ctx, q)
}

// Directory returns the directory the edge routes with (a synced copy of
// the axis's).
func (e *Edge) Directory() Directory { return e.dir }

// PostStatus builds, signs and queues a status about inbox item id from
// each of its recipient agencies among organs (nil: all of them), on
// behalf of client. Only a document can be answered, with 01–06, 15 or 16;
// a 01 from agencies that all sent one already is ErrConflict. The
// statuses are queued in one transaction: all or none.
//
// With an idempotency key, a retry of the same request (same item, code,
// description and staff) returns the first result and queues nothing; the
// same key for another request is ErrConflict.
func (e *Edge) PostStatus(ctx context.Context, client, idempotencyKey, id string, organs []string, code, description, staff string) (OutboxEntry, error) {
	sc := edoc.ParseStatusCode(code)
	switch sc {
	case edoc.StatusArrived, edoc.StatusRejected, edoc.StatusAccepted, edoc.StatusAssigned, edoc.StatusProcessing, edoc.StatusFinished,
		edoc.StatusChangeAccepted, edoc.StatusChangeRejected:
	default:
		return OutboxEntry{}, Reject(RejectStatusDirection, "code", "a recipient may send 01–06, 15 or 16, not %q", code)
	}
	item, pkg, err := e.store.Item(ctx, id)
	if err != nil {
		return OutboxEntry{}, err
	}
	if item.Type != TypeDocument {
		return OutboxEntry{}, Reject(RejectStatusDirection, "id", "item %s is a %s; only documents are answered with a status", id, item.Type)
	}
	senders, err := recipientsAmong(item, organs)
	if err != nil {
		return OutboxEntry{}, err
	}
	input := statusInput(id, code, description, staff, senders)
	if idempotencyKey != "" {
		prev, err := e.store.ByIdempotencyKey(ctx, client, statusKey(idempotencyKey, senders[0]))
		switch {
		case err == nil && prev.InputSHA256 != input:
			return OutboxEntry{}, fmt.Errorf("idempotency key %q was used for another status request: %w", idempotencyKey, ErrConflict)
		case err == nil:
			return prev, nil
		case !errors.Is(err, ErrNotFound):
			return OutboxEntry{}, err
		}
	}
	if sc == edoc.StatusArrived {
		if senders = unanswered(item, senders); len(senders) == 0 {
			return OutboxEntry{}, fmt.Errorf("item %s was already answered with 01 (%s): %w", id, item.Status01, ErrConflict)
		}
	}
	statuses, err := e.statuses(ctx, item, pkg, senders, sc, description, staff)
	if err != nil {
		return OutboxEntry{}, err
	}
	for i := range statuses {
		statuses[i].Client = client
		if idempotencyKey != "" {
			statuses[i].IdempotencyKey = statusKey(idempotencyKey, statuses[i].Message.Sender)
			statuses[i].InputSHA256 = input
		}
	}
	if sc == edoc.StatusArrived {
		item, err := e.store.Take(ctx, id, Taking{At: e.cfg.Now(), Organs: senders, Statuses: statuses})
		if err != nil {
			return OutboxEntry{}, err
		}
		e.kickPublisher()
		return e.store.Sent(ctx, item.Deliveries[senders[0]].Status01)
	}
	stored, err := e.store.PutMany(ctx, statuses)
	if err != nil {
		return OutboxEntry{}, fmt.Errorf("queueing status %s about %s: %w", code, id, err)
	}
	if h := e.cfg.Hooks.Submitted; h != nil {
		for range stored {
			h(TypeStatus)
		}
	}
	e.log.Info("edge: queued statuses", "item_id", id, "status", code, "count", len(stored))
	e.kickPublisher()
	return stored[0], nil
}

// statusInput identifies a status request, for its idempotency key.
func statusInput(id, code, description, staff string, senders []string) [32]byte {
	h := sha256.New()
	for _, f := range append([]string{id, code, description, staff}, senders...) {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	return [32]byte(h.Sum(nil))
}

// statusKey is the idempotency key of the status from sender of a request
// with key: one request queues one status per agency. A long key is
// hashed, so that the result stays within the stores' 255 bytes.
func statusKey(key, sender string) string {
	if k := key + "/" + sender; len(k) <= 128 {
		return k
	}
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:]) + "/" + sender
}

// statuses builds and signs one status package per recipient of item
// among organs (nil: every recipient).
func (e *Edge) statuses(ctx context.Context, item InboxItem, pkg []byte, organs []string, code edoc.StatusCode, description, staff string) ([]OutboxEntry, error) {
	doc, err := edoc.Parse(pkg, edoc.Limits{MaxBytes: int64(len(pkg)) + 1})
	if err != nil {
		return nil, fmt.Errorf("reading inbox item %s: %w", item.ID, err)
	}
	now := e.cfg.Now()
	var out []OutboxEntry
	for _, r := range item.Recipients {
		if organs != nil && !slices.Contains(organs, r) {
			continue
		}
		from := edoc.Organization{OrganID: r}
		if ag, ok := e.dir.Agency(r); ok {
			from.OrganName = ag.Name
		}
		for _, to := range doc.Header.To {
			if to.OrganID == r && to.OrganName != "" {
				from = to
			}
		}
		st, err := edoc.NewStatus(doc, from, code, description, edoc.StaffInfo{Staff: staff}, now)
		if err != nil {
			return nil, Reject(RejectInvalid, "code", "%v", err)
		}
		var buf bytes.Buffer
		if _, err := st.WriteTo(&buf); err != nil {
			return nil, Reject(RejectInvalid, "description", "%v", err)
		}
		signed, err := e.signer.Sign(ctx, r, buf.Bytes())
		if err != nil {
			return nil, fmt.Errorf("signing status %s for %s: %w", code, r, err)
		}
		key, err := RootKey(st.RootDocument())
		if err != nil {
			return nil, err
		}
		m := Message{
			ID:         e.newID(),
			Type:       TypeStatus,
			Key:        key,
			Sender:     r,
			Recipients: []string{doc.Sender()},
			SHA256:     sha256.Sum256(signed),
			Package:    signed,
			Attrs:      map[string]string{AttrEdge: e.cfg.ID, AttrStatus: string(code)},
		}
		out = append(out, OutboxEntry{
			Message:   m,
			InboxID:   item.ID,
			CreatedAt: now,
			Timeline:  []TimelineEvent{{Kind: TimelineSubmitted, At: now, SHA256: hex.EncodeToString(m.SHA256[:]), MessageID: m.ID, StatusCode: string(code)}},
		})
	}
	return out, nil
}

// Ready reports whether the edge can take work: its store answers.
func (e *Edge) Ready(ctx context.Context) error {
	_, err := e.store.LastSeq(ctx)
	return err
}

// ---------------------------------------------------------------------------
// Outbox publisher

func (e *Edge) kickPublisher() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *Edge) publishLoop(ctx context.Context) error {
	idle := min(e.cfg.ResendAfter/2, time.Second)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-e.wake:
		case <-t.C:
		}
		n, err := e.publishDue(ctx)
		if err != nil && ctx.Err() == nil {
			e.log.Warn("edge: publishing the outbox", "err", err)
			n = 0
		}
		if n > 0 {
			e.kickPublisher() // there may be more
		}
		t.Reset(idle)
	}
}

// publishDue publishes up to one batch of outbox entries that are due and
// returns how many it published.
func (e *Edge) publishDue(ctx context.Context) (int, error) {
	start := time.Now()
	now := e.cfg.Now()
	due, err := e.store.Unsettled(ctx, now.Add(-e.cfg.ResendAfter), 256)
	if err != nil || len(due) == 0 {
		return 0, err
	}
	msgs := make([]Message, len(due))
	ids := make([]string, len(due))
	for i, d := range due {
		msgs[i], ids[i] = d.Message, d.Message.ID
	}
	if err := e.transport.Publish(ctx, e.cfg.Topics.Submit(), msgs...); err != nil {
		return 0, err
	}
	if err := e.store.MarkSent(ctx, ids, now); err != nil {
		return 0, err
	}
	if h := e.cfg.Hooks.Published; h != nil {
		h(len(msgs), time.Since(start))
	}
	return len(msgs), nil
}

// pendingAck is a delivery waiting to be acknowledged.
type pendingAck struct {
	sha        [32]byte
	key        string
	sender     string
	recipients []string
}

func (e *Edge) ackLoop(ctx context.Context) error {
	for {
		var batch []pendingAck
		select {
		case <-ctx.Done():
			return nil
		case p := <-e.acks:
			batch = append(batch, p)
		}
		// Acks are not urgent (the axis redelivers only after minutes):
		// gather for a moment so that one seal signature covers many.
		linger := time.NewTimer(AckLinger)
	more:
		for len(batch) < DefaultAckBatch {
			select {
			case p := <-e.acks:
				batch = append(batch, p)
			case <-linger.C:
				break more
			case <-ctx.Done():
				break more
			}
		}
		linger.Stop()
		msg, err := e.ackMessage(batch)
		if err != nil {
			// Only a broken seal key gets here; the axis redelivers and
			// the duplicates are acked again.
			e.log.Error("edge: signing acks", "count", len(batch), "err", err)
			continue
		}
		for {
			err := e.transport.Publish(ctx, e.cfg.Topics.Submit(), msg)
			if err == nil || ctx.Err() != nil {
				break
			}
			// An ack lost here only delays the axis: it redelivers, and the
			// duplicate is acked again.
			e.log.Warn("edge: publishing acks", "count", len(batch), "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
		}
	}
}

// ackMessage signs one ack note for batch (one signature for all) and
// wraps it in a message routed like the first delivery it acknowledges.
func (e *Edge) ackMessage(batch []pendingAck) (Message, error) {
	shas := make([][32]byte, len(batch))
	for i, p := range batch {
		shas[i] = p.sha
	}
	body, err := SignAcks(e.cfg.ID, shas, e.cfg.NoticeSigner)
	if err != nil {
		return Message{}, err
	}
	sum := sha256.Sum256(body)
	return Message{
		ID:         "ack." + e.cfg.ID + "." + hex.EncodeToString(sum[:12]),
		Type:       TypeAck,
		Key:        batch[0].key,
		Sender:     batch[0].sender,
		Recipients: batch[0].recipients,
		SHA256:     sum,
		Package:    body,
		Attrs:      map[string]string{AttrEdge: e.cfg.ID},
	}, nil
}

// ack queues an ack for a delivery of m.
func (e *Edge) ack(ctx context.Context, m Message) {
	select {
	case e.acks <- pendingAck{sha: m.SHA256, key: m.Key, sender: m.Sender, recipients: m.Recipients}:
	case <-ctx.Done():
	}
}

// ---------------------------------------------------------------------------
// Inbox consumer

// Handle handles one record of the edge's inbox topic.
func (e *Edge) Handle(ctx context.Context, d Delivery) (err error) {
	defer func() {
		if p := recover(); p != nil {
			e.log.Error("edge: handler panic", "offset", d.Offset, "panic", p, "stack", string(debug.Stack()))
			err = e.deadLetter(ctx, d, fmt.Errorf("internal error handling the record: %v", p))
		}
	}()
	if d.Err != nil {
		return e.deadLetter(ctx, d, d.Err)
	}
	switch d.Message.Type {
	case TypeDocument, TypeStatus:
		return e.handlePackage(ctx, d)
	case TypeReceipt:
		return e.handleReceipt(ctx, d)
	case TypeRejection:
		return e.handleNotice(ctx, d)
	default:
		return e.deadLetter(ctx, d, fmt.Errorf("type %q is not expected on an inbox topic", d.Message.Type))
	}
}

func (e *Edge) deadLetter(ctx context.Context, d Delivery, cause error) error {
	e.log.Warn("edge: dead-lettering a record", "topic", d.Topic, "partition", d.Partition, "offset", d.Offset, "reason", cause)
	if err := e.transport.Publish(ctx, e.cfg.Topics.DLQ(), DeadLetter(d, cause)); err != nil {
		return fmt.Errorf("publishing to the dead-letter topic: %w", err)
	}
	return nil
}

func (e *Edge) handlePackage(ctx context.Context, d Delivery) error {
	m := d.Message
	if _, _, err := e.store.Item(ctx, InboxID(m.SHA256)); err == nil {
		if h := e.cfg.Hooks.Received; h != nil {
			h(m.Type, true)
		}
		e.ack(ctx, m)
		return nil
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	now := e.cfg.Now()
	v, err := e.verifier.Verify(ctx, m.Package, now)
	if err != nil {
		re := AsReject(err)
		if Transient(re.Reason) {
			if d.Attempt < MaxTransientAttempts {
				e.log.Warn("edge: cannot verify now; will retry", "msg_id", m.ID, "reason", re.Reason, "detail", re.Detail, "attempt", d.Attempt)
				return fmt.Errorf("verifying %s: %w", m.ID, err)
			}
			// Not acked: the axis delivers it again later.
			return e.deadLetter(ctx, d, re)
		}
		if directoryReason(re.Reason) && d.Attempt < MaxTransientAttempts {
			e.log.Warn("edge: the directory copy may be behind the axis's; will retry", "msg_id", m.ID, "reason", re.Reason, "attempt", d.Attempt)
			return fmt.Errorf("verifying %s: %w", m.ID, err)
		}
		return e.refuse(ctx, m, re)
	}
	p := v.Package
	if re := e.checkIncoming(m, p); re != nil {
		if directoryReason(re.Reason) && d.Attempt < MaxTransientAttempts {
			e.log.Warn("edge: the directory copy may be behind the axis's; will retry", "msg_id", m.ID, "reason", re.Reason, "attempt", d.Attempt)
			return fmt.Errorf("checking %s: %w", m.ID, re)
		}
		return e.refuse(ctx, m, re)
	}
	item := InboxItem{
		SHA256:     m.SHA256,
		MessageID:  m.ID,
		Type:       m.Type,
		Key:        m.Key,
		Sender:     p.Sender(),
		Recipients: m.Recipients,
		StatusCode: string(p.StatusCode()),
		Size:       len(m.Package),
		ReceivedAt: now,
	}
	var ref *TimelineRef
	if m.Type == TypeStatus && p.StatusCode() != edoc.StatusRecallRequested {
		if sent, err := e.store.SentByKey(ctx, m.Key); err == nil && len(sent) > 0 {
			doc := sent[len(sent)-1]
			ref = &TimelineRef{SHA256: doc.Message.SHA256, Event: TimelineEvent{
				Kind: TimelineStatus, At: now, SHA256: hex.EncodeToString(m.SHA256[:]), MessageID: m.ID,
				Recipients: []string{p.Sender()}, StatusCode: string(p.StatusCode()),
			}}
		} else if err != nil {
			return err
		}
	}
	_, created, err := e.store.Receive(ctx, item, m.Package, ref)
	if err != nil {
		return fmt.Errorf("storing %s: %w", m.ID, err)
	}
	if h := e.cfg.Hooks.Received; h != nil {
		h(m.Type, !created)
	}
	if created {
		e.log.Info("edge: received", "msg_id", m.ID, "type", m.Type, "sender", item.Sender, "recipients", len(item.Recipients), "status", item.StatusCode)
		e.notifyArrived()
	}
	e.ack(ctx, m)
	return nil
}

// directoryReason reports whether a refusal may come from this edge's copy
// of the directory lagging the axis's (a new agency, a renewed seal, an
// agency that moved): the axis accepted the package with its own, newer
// directory. The edge retries for a while before it refuses.
func directoryReason(r string) bool {
	return r == RejectUnknownSender || r == RejectSignerNotBound || r == RejectWrongEdge
}

// checkIncoming checks the routing headers of a verified incoming package
// against the package itself and this edge's agencies.
func (e *Edge) checkIncoming(m Message, p *edoc.Package) *RejectError {
	if p.Sender() != m.Sender {
		return Reject(RejectHeaderMismatch, "header truc-sender", "the header says %s, the package is from %s", m.Sender, p.Sender())
	}
	if key, err := RootKey(p.RootDocument()); err != nil || key != m.Key {
		return Reject(RejectHeaderMismatch, "record key", "the key is %q, the package's root document is %q", m.Key, key)
	}
	var allowed []string
	switch {
	case m.Type == TypeDocument && p.Kind == edoc.KindDocument:
		allowed = p.Recipients()
	case m.Type == TypeStatus && p.Kind == edoc.KindStatus:
		if p.StatusCode() == edoc.StatusRecallRequested {
			allowed = m.Recipients // the recipients of the recalled document: the axis took them from its ledger
		} else {
			o, _ := p.ResponseFor()
			allowed = []string{o}
		}
	default:
		return Reject(RejectHeaderMismatch, "header truc-type", "the header says %s", m.Type)
	}
	for _, r := range m.Recipients {
		if !slices.Contains(allowed, r) {
			return Reject(RejectHeaderMismatch, "header truc-recipients", "%s is not a recipient of the package", r)
		}
		if ag, ok := e.dir.Agency(r); !ok || ag.Edge != e.cfg.ID {
			return Reject(RejectWrongEdge, "header truc-recipients", "%s is not served by edge %s", r, e.cfg.ID)
		}
	}
	return nil
}

// refuse sends a signed rejection notice for m to the axis.
func (e *Edge) refuse(ctx context.Context, m Message, re *RejectError) error {
	if h := e.cfg.Hooks.Refused; h != nil {
		h(re.Reason)
	}
	e.log.Warn("edge: refusing a package", "msg_id", m.ID, "sender", m.Sender, "reason", re.Reason, "detail", re.Detail)
	reason := re.Reason
	if checkReasonCode(reason) != nil {
		reason = RejectVerificationError
	}
	detail := re.Detail
	if re.Field != "" {
		detail = re.Field + ": " + detail
	}
	id := m.ID
	if checkID("", id) != nil {
		id = "unknown"
	}
	body, err := Notice{Edge: e.cfg.ID, SHA256: m.SHA256, MessageID: id, Reason: reason, Detail: detail}.Sign(e.cfg.NoticeSigner)
	if err != nil {
		return fmt.Errorf("signing a rejection notice for %s: %w", m.ID, err)
	}
	notice := Message{
		ID:         "rej." + e.cfg.ID + "." + hex.EncodeToString(m.SHA256[:12]),
		Type:       TypeRejection,
		Key:        m.Key,
		Sender:     m.Sender,
		Recipients: []string{m.Sender},
		SHA256:     sha256.Sum256(body),
		Package:    body,
		Attrs:      map[string]string{AttrEdge: e.cfg.ID, AttrFor: hex.EncodeToString(m.SHA256[:])},
	}
	if err := notice.Validate(); err != nil {
		// The header the notice must repeat is itself broken: keep the
		// record for an operator instead.
		return e.deadLetter(ctx, Delivery{Message: m, Topic: "inbox"}, re)
	}
	return e.transport.Publish(ctx, e.cfg.Topics.Submit(), notice)
}

func (e *Edge) handleReceipt(ctx context.Context, d Delivery) error {
	r, err := DecodeReceipt(d.Message.Package)
	if err != nil {
		return e.deadLetter(ctx, d, fmt.Errorf("undecodable receipt: %w", err))
	}
	ev, _, err := r.Open(e.cfg.AxisVerifiers)
	if err != nil {
		return e.deadLetter(ctx, d, fmt.Errorf("receipt does not verify: %w", err))
	}
	if h := e.cfg.Hooks.Receipt; h != nil {
		h(ev.Kind)
	}
	if h := e.cfg.Hooks.Checkpoint; h != nil {
		h(r.Checkpoint)
	}
	tl := TimelineEvent{At: ev.Time, SHA256: hex.EncodeToString(ev.PackageSHA256[:]), MessageID: ev.MessageID, Receipt: d.Message.Package}
	var sent OutboxEntry // before settling, for the Settled hook
	if e.cfg.Hooks.Settled != nil && (ev.Kind == EventSubmissionAccepted || ev.Kind == EventStatus || ev.Kind == EventSubmissionRejected) {
		sent, _ = e.store.SentBySHA(ctx, ev.PackageSHA256)
	}
	switch ev.Kind {
	case EventSubmissionAccepted, EventStatus:
		tl.Kind = TimelineAccepted
		err = e.store.Settle(ctx, ev.PackageSHA256, tl, e.cfg.Now())
	case EventSubmissionRejected:
		tl.Kind, tl.Reason, tl.Detail = TimelineRejected, ev.Reason, ev.Detail
		err = e.store.Settle(ctx, ev.PackageSHA256, tl, e.cfg.Now())
	case EventDelivered:
		tl.Kind, tl.Edge, tl.Recipients = TimelineDelivered, ev.Edge, ev.Recipients
		err = e.store.AddTimeline(ctx, ev.PackageSHA256, tl)
	default:
		return nil
	}
	if h := e.cfg.Hooks.Settled; h != nil && err == nil && sent.Settled.IsZero() && !sent.CreatedAt.IsZero() {
		h(sent.Message.Type, ev.Kind != EventSubmissionRejected, sent.CreatedAt, e.cfg.Now())
	}
	if errors.Is(err, ErrNotFound) {
		e.log.Warn("edge: receipt for a package this edge did not send", "kind", ev.Kind, "msg_id", ev.MessageID)
		return nil
	}
	return err
}

// handleNotice records a rejection notice forwarded by the axis: a
// recipient edge refused a package this edge sent.
func (e *Edge) handleNotice(ctx context.Context, d Delivery) error {
	m := d.Message
	claimed, err := ParseUnverifiedNotice(m.Package)
	if err != nil {
		return e.deadLetter(ctx, d, err)
	}
	info, ok := e.dir.Edge(claimed.Edge)
	if !ok {
		return e.deadLetter(ctx, d, Reject(RejectUnknownEdge, "edge", "%s is not in the directory", claimed.Edge))
	}
	vs, err := e.cfg.NoticeVerifiers(info)
	if err != nil {
		return e.deadLetter(ctx, d, err)
	}
	n, err := OpenNotice(m.Package, vs)
	if err != nil {
		return e.deadLetter(ctx, d, err)
	}
	if _, _, err := e.store.Item(ctx, InboxID(m.SHA256)); err == nil {
		e.ack(ctx, m)
		return nil
	}
	now := e.cfg.Now()
	item := InboxItem{
		SHA256: m.SHA256, MessageID: m.ID, Type: TypeRejection, Key: m.Key, Sender: m.Sender,
		Recipients: m.Recipients, Size: len(m.Package), ReceivedAt: now,
	}
	// The refusal concerns the recipients the refusing edge serves.
	var refused []string
	if sent, err := e.store.SentBySHA(ctx, n.SHA256); err == nil {
		for _, r := range sent.Message.Recipients {
			if ag, ok := e.dir.Agency(r); ok && ag.Edge == n.Edge {
				refused = append(refused, r)
			}
		}
	}
	ref := &TimelineRef{SHA256: n.SHA256, Event: TimelineEvent{
		Kind: TimelineRefused, At: now, SHA256: hex.EncodeToString(n.SHA256[:]), MessageID: n.MessageID,
		Recipients: refused, Edge: n.Edge, Reason: n.Reason, Detail: n.Detail,
	}}
	if _, created, err := e.store.Receive(ctx, item, m.Package, ref); err != nil {
		return err
	} else if created {
		e.notifyArrived()
	}
	e.ack(ctx, m)
	return nil
}
