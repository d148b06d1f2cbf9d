package bus

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"

	"truc.vn/truc/edoc"
)

// Message attribute keys the bus sets. Stable wire values.
const (
	// AttrEdge is the ID of the edge that published a message to
	// truc.submit: a return address for receipts when the sender is not
	// known, never an identity.
	AttrEdge = "edge"
	// AttrStatus is the two-digit code of a status message.
	AttrStatus = "status"
	// AttrFor is the hex SHA-256 of the package a receipt or rejection
	// notice is about.
	AttrFor = "for-sha256"
	// AttrEvent is the event kind of a receipt.
	AttrEvent = "event"
)

// MaxTransientAttempts is how many times a record whose verification
// cannot run now (Transient) is tried before it is dead-lettered: with the
// transport's back-off (200 ms doubling to 30 s) about two and a half
// minutes.
const MaxTransientAttempts = 12

// Defaults of AxisConfig.
const (
	DefaultMaxPackageBytes = 16 << 20
	DefaultRedeliverAfter  = 5 * time.Minute
	DefaultRedeliverScan   = time.Second
	DefaultCheckpointEvery = time.Second
	DefaultRetention       = 30 * 24 * time.Hour
	DefaultAxisGroup       = "truc-axis"
	// MaxRedeliveryBackoff bounds the pause between two redeliveries of a
	// package to an edge that does not acknowledge it.
	MaxRedeliveryBackoff = time.Hour
)

// AxisConfig configures an Axis. Zero fields take the defaults above.
type AxisConfig struct {
	// OrganID is the OrganId of the axis operator: the Sender of receipts.
	OrganID string
	// Topics names the topics (prefix).
	Topics Topics
	// Group is the consumer group on the submit topic.
	Group string
	// MaxPackageBytes is the largest package accepted.
	MaxPackageBytes int
	// RedeliverAfter is how long a delivered package may stay
	// unacknowledged before the axis publishes it to the edge again; the
	// pause doubles with each redelivery, up to MaxRedeliveryBackoff.
	RedeliverAfter time.Duration
	// RedeliverScan is how often the axis looks for such packages.
	RedeliverScan time.Duration
	// CheckpointEvery is how often the axis signs a checkpoint when the
	// log grew, and sends the receipts it covers. At most 1s.
	CheckpointEvery time.Duration
	// Retention is how long package bytes are kept for redelivery.
	Retention time.Duration
	// NoticeVerifiers returns the note verifiers of an edge's seal
	// certificates, to check its rejection notices. Required.
	NoticeVerifiers func(EdgeInfo) (note.Verifiers, error)
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives operational events; nil discards them.
	Logger *slog.Logger
	// Hooks observe the axis, for metrics. Optional.
	Hooks AxisHooks
}

// AxisHooks are called as the axis works; each may be nil. They must be
// quick and safe for concurrent use.
type AxisHooks struct {
	Accepted   func(t Type, at time.Time)                     // a package was accepted
	Rejected   func(t Type, reason string)                    // a package was rejected
	Delivered  func(edge string, redelivery bool)             // a package was published to an edge
	Duplicate  func(t Type)                                   // a package seen before
	DeadLetter func(reason string)                            // a record went to the DLQ
	Receipts   func(n int, checkpoint int64, d time.Duration) // receipts sent after a checkpoint
	// Recorded: a package was accepted at at; published is its record's
	// timestamp (when the sender's edge published it).
	Recorded func(t Type, published, at time.Time)
	// Routed: a route was published to edge for the first time, at at;
	// recorded is when the axis recorded its package.
	Routed func(t Type, edge string, recorded, at time.Time)
	// Answered: a recipient's status was accepted at at; delivered is when
	// the document was last published to the recipient's edge.
	Answered func(status string, delivered, at time.Time)
}

func (c *AxisConfig) setDefaults() {
	setDefaultVal(&c.Group, DefaultAxisGroup)
	setDefaultVal(&c.MaxPackageBytes, DefaultMaxPackageBytes)
	setDefaultVal(&c.RedeliverAfter, DefaultRedeliverAfter)
	setDefaultVal(&c.RedeliverScan, DefaultRedeliverScan)
	setDefaultVal(&c.CheckpointEvery, DefaultCheckpointEvery)
	setDefaultVal(&c.Retention, DefaultRetention)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

func setDefaultVal[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// Validate checks the configuration after defaults.
func (c AxisConfig) Validate() error {
	c.setDefaults()
	var errs []error
	if err := ValidateOrganID(c.OrganID); err != nil {
		errs = append(errs, fmt.Errorf("organ_id: %w", err))
	}
	if c.CheckpointEvery > time.Second {
		errs = append(errs, fmt.Errorf("checkpoint_every: at most 1s (the axis signs a checkpoint at least every second), got %s", c.CheckpointEvery))
	}
	if c.NoticeVerifiers == nil {
		errs = append(errs, errors.New("notice verifiers: required"))
	}
	if c.MaxPackageBytes < 1<<10 {
		errs = append(errs, fmt.Errorf("max_package_bytes: at least 1 KiB, got %d", c.MaxPackageBytes))
	}
	return errors.Join(errs...)
}

// Axis is the central router: it consumes truc.submit, verifies every
// package, records it in the ledger and the transparency log, routes it to
// the inbox topic of every recipient edge, and sends receipts to the
// sender's edge once a signed checkpoint covers them.
//
// For each record, in this order: deduplicate by the SHA-256 of the bytes
// (a package seen before gets its original receipt again, and any route it
// never published is published now); verify the signature and the signer's
// binding; derive routing from the verified package only; record the entry
// and its event durably (ledger and log in one transaction); publish the
// unchanged bytes once per recipient edge; record each delivery; and only
// then return, so that the transport commits the offset. A crash anywhere
// replays the record, and deduplication makes the replay harmless (I5).
type Axis struct {
	cfg       AxisConfig
	transport Transport
	ledger    Ledger
	dir       Directory
	verifier  Verifier
	log       *slog.Logger

	mu      sync.Mutex
	pending []pendingReceipt // receipts waiting for a checkpoint
	acks    chan Ack         // acks waiting to be recorded
}

type pendingReceipt struct {
	leaf      int64
	edge      string
	key       string
	recipient string // OrganId the receipt is addressed to
	kind      EventKind
	about     [32]byte
}

// NewAxis returns an Axis. Run starts it.
func NewAxis(cfg AxisConfig, t Transport, l Ledger, d Directory, v Verifier) (*Axis, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("axis config: %w", err)
	}
	if t == nil || l == nil || d == nil || v == nil {
		return nil, errors.New("axis: transport, ledger, directory and verifier are required")
	}
	return &Axis{cfg: cfg, transport: t, ledger: l, dir: d, verifier: v, log: cfg.Logger, acks: make(chan Ack, 4096)}, nil
}

// Run consumes the submit topic and runs the receipt, redelivery and purge
// loops until ctx is done. It returns nil on a clean stop.
func (a *Axis) Run(ctx context.Context) error {
	return runTasks(ctx, "axis",
		task{"consumer", func(ctx context.Context) error {
			return a.transport.Consume(ctx, a.cfg.Topics.Submit(), a.cfg.Group, a.Handle)
		}},
		task{"receipts", func(ctx context.Context) error {
			return every(ctx, a.cfg.CheckpointEvery, a.log, "axis: sending receipts", a.sendReceipts)
		}},
		task{"redelivery", func(ctx context.Context) error {
			return every(ctx, a.cfg.RedeliverScan, a.log, "axis: redelivery", a.Redeliver)
		}},
		task{"purge", a.purgeLoop},
		task{"acks", a.ackLoop},
	)
}

// Handle handles one record of the submit topic. It is the Handler the
// axis consumes with; exported for tests and benchmarks that drive the axis
// without a consumer group.
func (a *Axis) Handle(ctx context.Context, d Delivery) (err error) {
	defer func() {
		if p := recover(); p != nil {
			a.log.Error("axis: handler panic", "topic", d.Topic, "partition", d.Partition, "offset", d.Offset, "panic", p, "stack", string(debug.Stack()))
			err = a.deadLetter(ctx, d, fmt.Errorf("internal error handling the record: %v", p))
		}
	}()
	if d.Err != nil {
		return a.deadLetter(ctx, d, d.Err)
	}
	switch m := d.Message; m.Type {
	case TypeDocument, TypeStatus:
		return a.handlePackage(ctx, d)
	case TypeAck:
		return a.handleAck(ctx, m)
	case TypeRejection:
		return a.handleNotice(ctx, d)
	default:
		return a.deadLetter(ctx, d, fmt.Errorf("type %q is not accepted on %s", m.Type, a.cfg.Topics.Submit()))
	}
}

func (a *Axis) deadLetter(ctx context.Context, d Delivery, cause error) error {
	a.log.Warn("axis: dead-lettering a record", "topic", d.Topic, "partition", d.Partition, "offset", d.Offset, "msg_id", d.Message.ID, "reason", cause)
	if err := a.transport.Publish(ctx, a.cfg.Topics.DLQ(), DeadLetter(d, cause)); err != nil {
		return fmt.Errorf("publishing to the dead-letter topic: %w", err)
	}
	if h := a.cfg.Hooks.DeadLetter; h != nil {
		h(cause.Error())
	}
	return nil
}

// returnEdge is where receipts about a package from sender go: the edge
// serving sender, else the edge named by the message, if it exists.
func (a *Axis) returnEdge(sender, attrEdge string) string {
	// The edge that published the record names itself (an honest edge
	// always does): a rejection goes back to it, not to whichever agency
	// an unverified header claims.
	if _, ok := a.dir.Edge(attrEdge); ok {
		return attrEdge
	}
	if ag, ok := a.dir.Agency(sender); ok {
		return ag.Edge
	}
	return ""
}

func (a *Axis) handlePackage(ctx context.Context, d Delivery) error {
	m := d.Message
	if e, err := a.ledger.Get(ctx, m.SHA256); err == nil {
		return a.replay(ctx, e)
	} else if !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("dedup lookup of %s: %w", m.ID, err)
	}
	now := a.cfg.Now()
	if len(m.Package) > a.cfg.MaxPackageBytes {
		return a.reject(ctx, m, Reject(RejectTooLarge, "Package", "%d bytes, the limit is %d", len(m.Package), a.cfg.MaxPackageBytes), now, "")
	}
	v, err := a.verifier.Verify(ctx, m.Package, now)
	if err != nil {
		re := AsReject(err)
		if Transient(re.Reason) {
			// Not the package's fault: retry (the transport backs off)
			// rather than reject these bytes for ever, failing closed until
			// the CRLs are fresh again. After MaxTransientAttempts the
			// record goes to the dead-letter topic so that the partition
			// moves on; the sender's edge, which has no receipt, sends the
			// package again later.
			if d.Attempt < MaxTransientAttempts {
				a.log.Warn("axis: cannot verify now; will retry", "msg_id", m.ID, "reason", re.Reason, "detail", re.Detail, "attempt", d.Attempt)
				return fmt.Errorf("verifying %s from %s: %w", m.ID, m.Sender, err)
			}
			return a.deadLetter(ctx, d, re)
		}
		return a.reject(ctx, m, re, now, "")
	}
	e, re := a.route(ctx, m, v.Package)
	if re != nil {
		return a.reject(ctx, m, re, now, v.Package.Sender())
	}
	e.At = now
	ev := Event{
		Kind:          EventSubmissionAccepted,
		Time:          now,
		MessageID:     m.ID,
		PackageSHA256: m.SHA256,
		Sender:        e.Sender,
		Recipients:    e.Recipients,
		Evidence:      v.Evidence,
	}
	if m.Type == TypeStatus {
		ev.Kind, ev.StatusCode = EventStatus, e.StatusCode
	}
	stored, created, err := a.ledger.Record(ctx, e, m.Package, ev)
	if err != nil {
		return fmt.Errorf("recording %s: %w", m.ID, err)
	}
	if !created {
		return a.replay(ctx, stored)
	}
	if h := a.cfg.Hooks.Accepted; h != nil {
		h(m.Type, now)
	}
	if h := a.cfg.Hooks.Recorded; h != nil && !d.Time.IsZero() {
		h(m.Type, d.Time, now)
	}
	if h := a.cfg.Hooks.Answered; h != nil && m.Type == TypeStatus {
		if at, ok := a.deliveredTo(ctx, stored.Key, stored.Sender); ok {
			h(stored.StatusCode, at, now)
		}
	}
	a.log.Info("axis: accepted", "msg_id", m.ID, "type", m.Type, "sender", e.Sender, "recipients", len(e.Recipients), "edges", len(stored.Routes), "sha256", hex.EncodeToString(m.SHA256[:]), "leaf", stored.Leaf)
	if err := a.deliver(ctx, stored, m.Package); err != nil {
		return err
	}
	a.queueReceipt(stored, stored.Leaf, ev.Kind)
	return nil
}

// route derives the ledger entry of an accepted package from the verified
// package only, and checks the message headers against it.
func (a *Axis) route(ctx context.Context, m Message, p *edoc.Package) (Entry, *RejectError) {
	e := Entry{SHA256: m.SHA256, MessageID: m.ID, Type: m.Type, Size: len(m.Package)}
	wantType := TypeDocument
	if p.Kind == edoc.KindStatus {
		wantType = TypeStatus
	}
	if m.Type != wantType {
		return e, Reject(RejectHeaderMismatch, "header truc-type", "the header says %s, the package is a %s", m.Type, wantType)
	}
	e.Sender = p.Sender()
	if m.Sender != e.Sender {
		return e, Reject(RejectHeaderMismatch, "header truc-sender", "the header says %s, the package is from %s", m.Sender, e.Sender)
	}
	sender, ok := a.dir.Agency(e.Sender)
	if !ok || !sender.Active {
		return e, Reject(RejectUnknownSender, "From/OrganId", "%s is not an active agency in the directory", e.Sender)
	}
	e.FromEdge = sender.Edge
	key, err := RootKey(p.RootDocument())
	if err != nil {
		return e, Reject(RejectInvalid, "DocumentId", "%v", err)
	}
	e.Key = key
	if m.Key != key {
		return e, Reject(RejectHeaderMismatch, "record key", "the key is %q, the package's root document is %q", m.Key, key)
	}
	switch m.Type {
	case TypeDocument:
		e.DocType = string(p.BusinessType())
		e.Recipients = p.Recipients()
	case TypeStatus:
		code := p.StatusCode()
		e.StatusCode = string(code)
		entries, err := a.ledger.ByKey(ctx, key)
		if err != nil {
			return e, &RejectError{Reason: RejectVerificationError, Detail: err.Error(), Err: err}
		}
		rootSender, _, _ := ParseRootKey(key)
		var docRecipients []string
		for _, x := range entries {
			if x.Type == TypeDocument && x.Accepted() {
				for _, r := range x.Recipients {
					if !slices.Contains(docRecipients, r) {
						docRecipients = append(docRecipients, r)
					}
				}
			}
		}
		if len(docRecipients) == 0 {
			return e, Reject(RejectUnknownDocument, "ResponseFor", "the axis routed no document %s", key)
		}
		switch code {
		case edoc.StatusRecallRequested:
			if e.Sender != rootSender {
				return e, Reject(RejectNotParticipant, "From/OrganId", "only the original sender %s may recall its document", rootSender)
			}
			e.Recipients = docRecipients
		case edoc.StatusArrived, edoc.StatusRejected, edoc.StatusAccepted, edoc.StatusAssigned, edoc.StatusProcessing, edoc.StatusFinished,
			edoc.StatusChangeAccepted, edoc.StatusChangeRejected:
			if !slices.Contains(docRecipients, e.Sender) {
				return e, Reject(RejectNotParticipant, "From/OrganId", "%s is not a recipient of document %s", e.Sender, key)
			}
			e.Recipients = []string{rootSender}
		default:
			return e, Reject(RejectStatusDirection, "StatusCode", "status %s does not travel between agencies", code)
		}
	}
	// A document's header must list what the package lists. A status goes
	// where the ledger says; its header recipients are the sending edge's
	// guess (it may not know every recipient of a recalled document yet).
	if want := slices.Sorted(slices.Values(e.Recipients)); m.Type == TypeDocument && !slices.Equal(want, slices.Sorted(slices.Values(m.Recipients))) {
		return e, Reject(RejectHeaderMismatch, "header truc-recipients", "the header lists %d recipients, the package routes to %d others", len(m.Recipients), len(e.Recipients))
	}
	byEdge := map[string]int{}
	for _, r := range e.Recipients {
		ag, ok := a.dir.Agency(r)
		if !ok || !ag.Active {
			return e, Reject(RejectUnknownRecipient, "To/OrganId", "%s is not an active agency in the directory", r)
		}
		if _, ok := a.dir.Edge(ag.Edge); !ok {
			return e, Reject(RejectUnknownRecipient, "To/OrganId", "%s is served by edge %s, which is not in the directory", r, ag.Edge)
		}
		i, ok := byEdge[ag.Edge]
		if !ok {
			i = len(e.Routes)
			byEdge[ag.Edge] = i
			e.Routes = append(e.Routes, Route{Edge: ag.Edge, State: RoutePending, Leaf: -1})
		}
		e.Routes[i].Recipients = append(e.Routes[i].Recipients, r)
	}
	return e, nil
}

// reject records the rejection of m. verifiedSender is the sender read
// from the verified package, "" when the package did not verify: the log
// then names no sender, since the header's claim proves nothing (the
// receipt still goes back to the edge that published the record).
func (a *Axis) reject(ctx context.Context, m Message, re *RejectError, now time.Time, verifiedSender string) error {
	detail := re.Detail
	if re.Field != "" {
		detail = re.Field + ": " + detail
	}
	detail = truncateUTF8(sanitizeDetail(detail), MaxDetailLen)
	e := Entry{
		SHA256:    m.SHA256,
		MessageID: m.ID,
		Type:      m.Type,
		Key:       m.Key,
		Sender:    m.Sender,
		FromEdge:  a.returnEdge(m.Sender, m.Attrs[AttrEdge]),
		At:        now,
		Size:      len(m.Package),
		Rejected:  re.Reason,
		Detail:    detail,
	}
	ev := Event{
		Kind:          EventSubmissionRejected,
		Time:          now,
		MessageID:     m.ID,
		PackageSHA256: m.SHA256,
		Sender:        verifiedSender,
		Reason:        re.Reason,
		Detail:        detail,
	}
	if checkReasonCode(re.Reason) != nil {
		ev.Reason, e.Rejected = RejectVerificationError, RejectVerificationError
	}
	stored, created, err := a.ledger.Record(ctx, e, nil, ev)
	if err != nil {
		return fmt.Errorf("recording the rejection of %s: %w", m.ID, err)
	}
	if !created {
		return a.replay(ctx, stored)
	}
	if h := a.cfg.Hooks.Rejected; h != nil {
		h(m.Type, stored.Rejected)
	}
	a.log.Warn("axis: rejected", "msg_id", m.ID, "type", m.Type, "sender", m.Sender, "reason", stored.Rejected, "detail", detail, "leaf", stored.Leaf)
	a.queueReceipt(stored, stored.Leaf, EventSubmissionRejected)
	return nil
}

// sanitizeDetail makes s fit a detail field: valid UTF-8 with every
// control character replaced by a space.
func sanitizeDetail(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

// replay answers a package seen before: its routes never published are
// published now (a crash between recording and publishing), and its
// receipts are sent again.
func (a *Axis) replay(ctx context.Context, e Entry) error {
	if h := a.cfg.Hooks.Duplicate; h != nil {
		h(e.Type)
	}
	kind := EventSubmissionAccepted
	switch {
	case !e.Accepted():
		kind = EventSubmissionRejected
	case e.Type == TypeStatus:
		kind = EventStatus
	case e.Type == TypeRejection:
		kind = EventRejectionNotice
	}
	if e.Accepted() && slices.ContainsFunc(e.Routes, func(r Route) bool { return r.State == RoutePending }) {
		pkg, err := a.ledger.Package(ctx, e.SHA256)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("reading package %s: %w", e.MessageID, err)
		}
		if err == nil {
			if err := a.deliver(ctx, e, pkg); err != nil {
				return err
			}
		}
	}
	a.queueReceipt(e, e.Leaf, kind)
	for _, r := range e.Routes {
		if r.Leaf >= 0 && e.Type != TypeRejection {
			a.queueReceipt(e, r.Leaf, EventDelivered)
		}
	}
	return nil
}

// deliver publishes pkg to every route of e that is still pending, then
// records each delivery. (Redeliver publishes the others again.)
func (a *Axis) deliver(ctx context.Context, e Entry, pkg []byte) error {
	var wg sync.WaitGroup
	errs := make([]error, len(e.Routes))
	for i, r := range e.Routes {
		if r.State != RoutePending {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = a.deliverOne(ctx, e, r, pkg)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (a *Axis) deliverOne(ctx context.Context, e Entry, r Route, pkg []byte) error {
	info, ok := a.dir.Edge(r.Edge)
	if !ok {
		return fmt.Errorf("delivering %s: edge %s is no longer in the directory", e.MessageID, r.Edge)
	}
	msg := Message{
		ID:         e.MessageID,
		Type:       e.Type,
		Key:        e.Key,
		Sender:     e.Sender,
		Recipients: r.Recipients,
		SHA256:     e.SHA256,
		Package:    pkg,
	}
	if e.StatusCode != "" {
		msg.Attrs = map[string]string{AttrStatus: e.StatusCode}
	}
	if e.Subject != "" {
		msg.Attrs = map[string]string{AttrFor: e.Subject}
	}
	topic := info.InboxTopic
	if topic == "" {
		var err error
		if topic, err = a.cfg.Topics.Inbox(r.Edge); err != nil {
			return err
		}
	}
	if err := a.transport.Publish(ctx, topic, msg); err != nil {
		return fmt.Errorf("delivering %s to edge %s: %w", e.MessageID, r.Edge, err)
	}
	return a.recordDelivery(ctx, e, r)
}

// recordDelivery records that e was published to route r's edge: a log
// leaf for a first delivery, and its receipt for the sender.
func (a *Axis) recordDelivery(ctx context.Context, e Entry, r Route) error {
	now := a.cfg.Now()
	ev := Event{
		Kind:          EventDelivered,
		Time:          now,
		MessageID:     e.MessageID,
		PackageSHA256: e.SHA256,
		Sender:        e.Sender,
		Recipients:    r.Recipients,
		Edge:          r.Edge,
	}
	stored, err := a.ledger.Delivered(ctx, e.SHA256, r.Edge, ev, now)
	if err != nil {
		return fmt.Errorf("recording the delivery of %s to edge %s: %w", e.MessageID, r.Edge, err)
	}
	if h := a.cfg.Hooks.Delivered; h != nil {
		h(r.Edge, r.State != RoutePending)
	}
	if h := a.cfg.Hooks.Routed; h != nil && r.State == RoutePending {
		h(e.Type, r.Edge, e.At, now)
	}
	if r.State == RoutePending && e.Type != TypeRejection {
		for _, sr := range stored.Routes {
			if sr.Edge == r.Edge && sr.Leaf >= 0 {
				a.queueReceipt(stored, sr.Leaf, EventDelivered)
			}
		}
	}
	return nil
}

// deliveredTo returns when the latest document with root key key was last
// published to the edge of recipient organ, for the Answered hook.
func (a *Axis) deliveredTo(ctx context.Context, key, organ string) (time.Time, bool) {
	entries, err := a.ledger.ByKey(ctx, key)
	if err != nil {
		return time.Time{}, false
	}
	var at time.Time
	for _, x := range entries {
		if x.Type != TypeDocument || !x.Accepted() {
			continue
		}
		for _, r := range x.Routes {
			if r.State != RoutePending && slices.Contains(r.Recipients, organ) {
				at = r.SentAt
			}
		}
	}
	return at, !at.IsZero()
}

// handleAck checks an edge's signed ack note and queues its acks for the
// ack writers, then returns: the
// record's offset may be committed before the ack is durable. That is
// safe, unlike for a package: an ack lost in a crash only means the
// delivery is published again after RedeliverAfter, and the edge, which
// deduplicates, acks it again. It keeps the partition from waiting for a
// durable commit on every second record it carries.
func (a *Axis) handleAck(ctx context.Context, m Message) error {
	edge, err := UnverifiedAckEdge(m.Package)
	if err != nil {
		a.log.Warn("axis: ignoring a malformed ack", "msg_id", m.ID, "err", err)
		return nil
	}
	info, ok := a.dir.Edge(edge)
	if !ok {
		a.log.Warn("axis: ignoring an ack from an edge not in the directory", "msg_id", m.ID, "edge", edge)
		return nil
	}
	verifiers, err := a.cfg.NoticeVerifiers(info)
	if err != nil {
		a.log.Warn("axis: ignoring an ack: the edge has no usable certificate", "msg_id", m.ID, "edge", edge, "err", err)
		return nil
	}
	acks, err := OpenAcks(m.Package, verifiers)
	if err != nil {
		a.log.Warn("axis: ignoring an ack whose signature does not verify", "msg_id", m.ID, "edge", edge, "err", err)
		return nil
	}
	for _, ack := range acks {
		select {
		case a.acks <- ack:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// ackWriters is how many acks are recorded concurrently (their commits
// share transactions).
const ackWriters = 8

func (a *Axis) ackLoop(ctx context.Context) error {
	var wg sync.WaitGroup
	for range ackWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				var ack Ack
				select {
				case <-ctx.Done():
					return
				case ack = <-a.acks:
				}
				a.recordAck(ctx, ack)
			}
		}()
	}
	wg.Wait()
	return nil
}

func (a *Axis) recordAck(ctx context.Context, ack Ack) {
	// An ack for a route still pending: the axis published the package and
	// stopped before recording it, and the edge acked meanwhile. Record
	// the delivery first (its leaf and the sender's receipt), or the
	// route, once acked, would never get them.
	if e, err := a.ledger.Get(ctx, ack.SHA256); err == nil {
		for _, r := range e.Routes {
			if r.Edge == ack.Edge && r.State == RoutePending {
				if err := a.recordDelivery(ctx, e, r); err != nil {
					if ctx.Err() == nil {
						a.log.Error("axis: recording a delivery proven by an ack (the delivery will be published again)", "edge", ack.Edge, "err", err)
					}
					return
				}
			}
		}
	}
	if _, err := a.ledger.Acked(ctx, ack.SHA256, ack.Edge, "", a.cfg.Now()); err != nil {
		if errors.Is(err, ErrNotFound) {
			a.log.Warn("axis: ack for an unknown delivery", "edge", ack.Edge, "sha256", hex.EncodeToString(ack.SHA256[:]))
		} else if ctx.Err() == nil {
			a.log.Error("axis: recording an ack (the delivery will be published again)", "edge", ack.Edge, "err", err)
		}
	}
}

// handleNotice logs a recipient edge's signed rejection notice, marks that
// route answered, and forwards the notice to the original sender's edge.
func (a *Axis) handleNotice(ctx context.Context, d Delivery) error {
	m := d.Message
	if e, err := a.ledger.Get(ctx, m.SHA256); err == nil {
		return a.replay(ctx, e)
	} else if !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("dedup lookup of notice %s: %w", m.ID, err)
	}
	claimed, err := ParseUnverifiedNotice(m.Package)
	if err != nil {
		return a.deadLetter(ctx, d, Reject(RejectBadNotice, "Package", "%v", err))
	}
	info, ok := a.dir.Edge(claimed.Edge)
	if !ok {
		return a.deadLetter(ctx, d, Reject(RejectUnknownEdge, "edge", "%s is not in the directory", claimed.Edge))
	}
	verifiers, err := a.cfg.NoticeVerifiers(info)
	if err != nil {
		return a.deadLetter(ctx, d, Reject(RejectBadNotice, "edge", "no usable certificate for edge %s: %v", claimed.Edge, err))
	}
	n, err := OpenNotice(m.Package, verifiers)
	if err != nil {
		return a.deadLetter(ctx, d, Reject(RejectBadNotice, "Package", "%v", err))
	}
	orig, err := a.ledger.Get(ctx, n.SHA256)
	if errors.Is(err, ErrNotFound) {
		return a.deadLetter(ctx, d, Reject(RejectUnknownDocument, "sha256", "the notice is about a package the axis never handled"))
	} else if err != nil {
		return fmt.Errorf("looking up the package of notice %s: %w", m.ID, err)
	}
	var route *Route
	for i := range orig.Routes {
		if orig.Routes[i].Edge == n.Edge {
			route = &orig.Routes[i]
		}
	}
	if route == nil {
		return a.deadLetter(ctx, d, Reject(RejectWrongEdge, "edge", "package %s was not delivered to edge %s", orig.MessageID, n.Edge))
	}
	if route.State == RouteAcked && route.Rejected != "" {
		// The edge refused this package before: an ECDSA seal signs the
		// same notice into other bytes each time, so look for the first
		// notice rather than trusting the SHA-256 dedup.
		entries, err := a.ledger.ByKey(ctx, orig.Key)
		if err != nil {
			return fmt.Errorf("looking up the notices of %s: %w", orig.MessageID, err)
		}
		for _, x := range entries {
			if x.Type == TypeRejection && x.FromEdge == n.Edge && x.Subject == hex.EncodeToString(n.SHA256[:]) {
				return a.replay(ctx, x)
			}
		}
	}
	now := a.cfg.Now()
	e := Entry{
		SHA256:     m.SHA256,
		MessageID:  m.ID,
		Type:       TypeRejection,
		Key:        orig.Key,
		Sender:     route.Recipients[0],
		FromEdge:   n.Edge,
		At:         now,
		Size:       len(m.Package),
		Recipients: []string{orig.Sender},
		Subject:    hex.EncodeToString(n.SHA256[:]),
	}
	if orig.FromEdge != "" {
		e.Routes = []Route{{Edge: orig.FromEdge, Recipients: []string{orig.Sender}, State: RoutePending, Leaf: -1}}
	}
	ev := Event{
		Kind:          EventRejectionNotice,
		Time:          now,
		MessageID:     orig.MessageID,
		PackageSHA256: n.SHA256,
		Sender:        orig.Sender,
		Recipients:    route.Recipients,
		Edge:          n.Edge,
		Reason:        n.Reason,
		Detail:        n.Detail,
	}
	if checkReasonCode(n.Reason) != nil {
		ev.Reason = RejectBadNotice
	}
	stored, created, err := a.ledger.Record(ctx, e, m.Package, ev)
	if err != nil {
		return fmt.Errorf("recording notice %s: %w", m.ID, err)
	}
	if !created {
		return a.replay(ctx, stored)
	}
	// A notice about a route still pending proves the delivery, as an ack
	// does (see recordAck).
	for _, r := range orig.Routes {
		if r.Edge == n.Edge && r.State == RoutePending {
			if err := a.recordDelivery(ctx, orig, r); err != nil {
				return err
			}
		}
	}
	if _, err := a.ledger.Acked(ctx, orig.SHA256, n.Edge, n.Reason, now); err != nil {
		return fmt.Errorf("recording notice %s against %s: %w", m.ID, orig.MessageID, err)
	}
	a.log.Warn("axis: rejection notice", "msg_id", orig.MessageID, "edge", n.Edge, "reason", n.Reason)
	if err := a.deliver(ctx, stored, m.Package); err != nil {
		return err
	}
	// The refusing edge gets the receipt of its notice, as a replay of the
	// notice would give it.
	a.queueReceipt(stored, stored.Leaf, EventRejectionNotice)
	return nil
}

// queueReceipt asks for a receipt for leaf to be sent to e's sender edge
// once a checkpoint covers it.
func (a *Axis) queueReceipt(e Entry, leaf int64, kind EventKind) {
	if e.FromEdge == "" || leaf < 0 || checkOrganID("", e.Sender) != nil {
		return
	}
	a.mu.Lock()
	a.pending = append(a.pending, pendingReceipt{leaf: leaf, edge: e.FromEdge, key: e.Key, recipient: e.Sender, kind: kind, about: e.SHA256})
	a.mu.Unlock()
}

// sendReceipts signs a checkpoint if the log grew and sends every pending
// receipt it covers.
func (a *Axis) sendReceipts(ctx context.Context) error {
	start := time.Now()
	cp, err := a.ledger.Log().SignCheckpoint(ctx)
	if err != nil {
		if errors.Is(err, ErrInvalidLeaf) || errors.Is(err, ErrNoCheckpoint) {
			return nil
		}
		return fmt.Errorf("signing a checkpoint: %w", err)
	}
	a.mu.Lock()
	// A receipt waits while another one about the same package is not
	// covered yet: the receipt that settles the sender's entry (accepted,
	// rejected) must not leave before the delivery receipts queued ahead
	// of it, or a crash in between loses those for good (the settled
	// sender never resends, so no replay queues them again).
	held := map[[32]byte]bool{}
	for _, p := range a.pending {
		if p.leaf >= cp.Size {
			held[p.about] = true
		}
	}
	var due, later []pendingReceipt
	for _, p := range a.pending {
		if p.leaf < cp.Size && !held[p.about] {
			due = append(due, p)
		} else {
			later = append(later, p)
		}
	}
	a.pending = later
	a.mu.Unlock()
	if len(due) == 0 {
		return nil
	}
	// Delivery receipts go first; the receipt that settles the sender's
	// entry (accepted, rejected, a status or notice accepted) goes only
	// once every delivery receipt about the same package was published:
	// the settled sender never resends, so a delivery receipt lost after
	// the settling one went would be lost for good (a batch can fail half
	// way when the broker goes down).
	deliveries, settling := map[string][]Message{}, map[string][]Message{}
	for _, p := range due {
		r, err := ReceiptFor(ctx, a.ledger.Log(), p.leaf, cp)
		if err != nil {
			return err
		}
		body, err := r.Encode()
		if err != nil {
			return err
		}
		info, ok := a.dir.Edge(p.edge)
		if !ok {
			continue
		}
		topic := info.InboxTopic
		if topic == "" {
			if topic, err = a.cfg.Topics.Inbox(p.edge); err != nil {
				continue
			}
		}
		msg := Message{
			ID:         "rcpt." + strconv.FormatInt(p.leaf, 10) + "." + strconv.FormatInt(cp.Size, 10),
			Type:       TypeReceipt,
			Key:        p.key,
			Sender:     a.cfg.OrganID,
			Recipients: []string{p.recipient},
			Package:    body,
			Attrs:      map[string]string{AttrFor: hex.EncodeToString(p.about[:]), AttrEvent: string(p.kind)},
		}
		msg.SHA256 = sha256.Sum256(body)
		if p.kind == EventDelivered {
			deliveries[topic] = append(deliveries[topic], msg)
		} else {
			settling[topic] = append(settling[topic], msg)
		}
	}
	var errs []error
	failed := map[string]bool{} // AttrFor of packages whose delivery receipts did not all go
	for topic, msgs := range deliveries {
		if err := a.transport.Publish(ctx, topic, msgs...); err != nil {
			errs = append(errs, fmt.Errorf("publishing %d receipts to %s: %w", len(msgs), topic, err))
			for _, m := range msgs {
				failed[m.Attrs[AttrFor]] = true
			}
		}
	}
	for topic, msgs := range settling {
		msgs = slices.DeleteFunc(msgs, func(m Message) bool { return failed[m.Attrs[AttrFor]] })
		if len(msgs) == 0 {
			continue
		}
		if err := a.transport.Publish(ctx, topic, msgs...); err != nil {
			errs = append(errs, fmt.Errorf("publishing %d receipts to %s: %w", len(msgs), topic, err))
		}
	}
	if h := a.cfg.Hooks.Receipts; h != nil {
		h(len(due), cp.Size, time.Since(start))
	}
	// Receipts that failed to go are not retried here: the sender's edge
	// resends its package until it has one, and the replay sends it again.
	return errors.Join(errs...)
}

// Redeliver publishes again every route that was never published (a crash
// between recording and publishing) or was not acknowledged within
// RedeliverAfter.
func (a *Axis) Redeliver(ctx context.Context) error {
	now := a.cfg.Now()
	// Due lists pending routes first, and the newest of them are probably
	// being published by their handler right now: ask for many, skip
	// those, and redeliver at most maxRedeliveries per scan.
	const maxRedeliveries = 256
	due, err := a.ledger.Due(ctx, now.Add(-a.cfg.RedeliverAfter), 16*maxRedeliveries)
	if err != nil {
		return err
	}
	var errs []error
	done := 0
	for _, rd := range due {
		if done == maxRedeliveries {
			break
		}
		var route Route
		for _, r := range rd.Entry.Routes {
			if r.Edge == rd.Edge {
				route = r
			}
		}
		if route.State == RoutePending && now.Sub(rd.Entry.At) < a.cfg.RedeliverScan*2 {
			continue // its handler is probably publishing it right now
		}
		if route.State == RouteDelivered && now.Before(route.SentAt.Add(a.redeliveryBackoff(route.Attempts))) {
			continue // an edge that is away gets its backlog less and less often
		}
		pkg, err := a.ledger.Package(ctx, rd.SHA256)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		done++
		a.log.Info("axis: redelivering", "msg_id", rd.Entry.MessageID, "edge", rd.Edge, "attempts", route.Attempts)
		if err := a.deliverOne(ctx, rd.Entry, route, pkg); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// redeliveryBackoff is how long after its latest publish a route that was
// published attempts times is published again: RedeliverAfter, doubling
// with each attempt up to MaxRedeliveryBackoff (or RedeliverAfter if that
// is longer).
func (a *Axis) redeliveryBackoff(attempts int) time.Duration {
	d := a.cfg.RedeliverAfter
	for i := 1; i < attempts && d < MaxRedeliveryBackoff; i++ {
		d *= 2
	}
	return min(d, max(MaxRedeliveryBackoff, a.cfg.RedeliverAfter))
}

func (a *Axis) purgeLoop(ctx context.Context) error {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		n, err := a.ledger.Purge(ctx, a.cfg.Now().Add(-a.cfg.Retention))
		if err != nil && ctx.Err() == nil {
			a.log.Error("axis: purging packages", "err", err)
		} else if n > 0 {
			a.log.Info("axis: purged packages past retention", "count", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
