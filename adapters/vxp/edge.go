package vxp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	axisdir "truc.vn/truc/adapters/directory"
	"truc.vn/truc/bus"
	"truc.vn/truc/edoc"
)

// Edge is what EdgeBackend needs from the edge node; *bus.Edge implements
// it. The contracts are those of bus.Edge.
type Edge interface {
	Submit(ctx context.Context, client string, organs []string, pkg []byte, idempotencyKey string) (bus.OutboxEntry, bool, error)
	Document(ctx context.Context, id string) (bus.OutboxEntry, error)
	Inbox(ctx context.Context, after uint64, limit int) ([]bus.InboxItem, error)
	Item(ctx context.Context, id string) (bus.InboxItem, []byte, error)
	Acknowledge(ctx context.Context, id string, organs []string, ack bus.DMSAck) (bus.InboxItem, error)
	Outbox(ctx context.Context, q bus.OutboxQuery) ([]bus.OutboxEntry, error)
	// Directory is the edge's synced copy of the axis directory. For
	// getAgenciesList and getSynchronizeUnit it must also list its
	// agencies (AgencyLister), as *directory.Directory does.
	Directory() bus.Directory
}

// AgencyLister lists every agency of a directory, sorted by OrganId, and
// says its version. *directory.Directory implements it.
type AgencyLister interface {
	Agencies() []bus.Agency
	Version() int64
}

// AxisDirectory changes the axis directory on behalf of this edge: the
// registerAgency and deleteAgency of a DMS. *directory.EdgeClient
// implements it. A refusal by the axis is a *axisdir.EdgeAPIError.
type AxisDirectory interface {
	PutAgency(ctx context.Context, organID, name, parent string) (axisdir.EdgeAgencyResponse, error)
	DeactivateAgency(ctx context.Context, organID string) (axisdir.EdgeAgencyResponse, error)
}

// Defaults of EdgeBackendConfig.
const (
	DefaultMaxReceivedItems = 1000
	DefaultMaxSentPackages  = 500
	// inboxPage is how many inbox items one store read returns while
	// scanning.
	inboxPage = 256
	// metaCacheSize bounds the titles and notations of sent packages kept
	// in memory for getSentEdocList.
	metaCacheSize = 20000
)

// EdgeBackendConfig configures an EdgeBackend.
type EdgeBackendConfig struct {
	// Edge is the edge node. Required.
	Edge Edge
	// Axis forwards registerAgency and deleteAgency to the axis. nil (an
	// edge without an axis, a standalone pilot): both are refused with
	// KindUnavailable.
	Axis AxisDirectory
	// MaxReceivedItems caps getReceivedEdocList: the oldest items waiting
	// come first, and the DMS sees the next ones once it has acknowledged
	// those. Default DefaultMaxReceivedItems. The counts are not capped.
	MaxReceivedItems int
	// MaxSentPackages caps getSentEdocList without a docId: the newest
	// packages sent, each listed once per recipient. Default
	// DefaultMaxSentPackages.
	MaxSentPackages int
	// Logger receives what the DMS cannot see: internal failures, packages
	// whose metadata cannot be read. nil discards.
	Logger *slog.Logger
}

// EdgeBackend is the Backend of a truc edge: the VXP operations over the
// edge's outbox, inbox and directory. It is safe for concurrent use.
//
// # Identifiers
//
// The DocId of a sent package is its outbox message ID (the ID the REST
// API and the timeline use); the docId of a received package is its inbox
// item ID ("in-" and 32 hex digits), the same at every recipient edge.
// Both are usable as file names, as the SDK needs.
//
// # Sending (sendEdoc)
//
// The package is parsed, and refused (KindInvalidPackage, naming the
// field and rule) when it does not parse, when its kind is not the
// messagetype, or when its sender is not the from header; then it is
// handed to the edge's Submit as client "vxp:<systemid>" acting for the
// caller's OrganIds, with the hex SHA-256 of the bytes as idempotency
// key. So the same bytes from the same system give the same DocId and one
// letter, however often the SDK repeats or an attacker replays the
// request (content deduplication; the SDK's timestamp never changes). The
// edge validates the package fully, checks the recipients against its
// directory, and signs it with the agency seal key unless it already
// carries a signature bound to its sender; its refusals are
// KindInvalidPackage with their field and reason.
//
// # Receiving (getReceivedEdocList, countReceive*, getEdoc, updateStatus)
//
// A received package is listed for a system when it is of the asked type
// (documents for edoc, statuses for status), one of its recipients at
// this edge is one of the system's OrganIds, and for at least one such
// recipient the DMS has not acknowledged it with done or fail. It is
// listed once, whatever the number of such recipients, with to the first
// of them still waiting and status "pending" or "processing" (the latter
// when that DMS said processing for one of them). Oldest first.
//
// updateStatus records the acknowledgement for every recipient of the
// package among the system's OrganIds (bus.Edge.Acknowledge): done and
// fail take the package out of the list and are final (changing one into
// the other is KindConflict; repeating one is fine); processing keeps it
// listed. It never sends a status 01: VXP software sends its own with
// sendEdoc. A fail is recorded at this edge only: the bus has no message
// that tells the sender, who sees no 01 from that recipient and can ask
// again; the DMS reports a real refusal with status 02.
//
// getEdoc and downloadEdoc return the exact bytes of a package the system
// received (one of its OrganIds is a recipient here) or sent (its sender
// is one of them); anything else, rejection notices included, is
// KindNotFound. Reading changes nothing.
//
// # Tracking (getSentEdocList)
//
// One item per recipient of each document or status package the system's
// OrganIds sent (whoever submitted it: VXP, REST or the drop folder), newest
// first, from the package's timeline at this edge:
//
//	sendStatus     pending    the axis has not receipted it yet
//	               accepted   the axis accepted it
//	               delivered  the axis delivered it to the recipient's edge
//	               refused    the recipient's edge refused it (signature, directory)
//	               rejected   the axis rejected it (reason in sendStatusDesc)
//	receiveStatus  pending    no status from the recipient yet
//	               01 … 16    the last status code the recipient sent about it (documents)
//	               received   delivered to the recipient's edge (status packages,
//	                          which are not answered)
//
// receivedTime is when the recipient's first status arrived (documents) or
// when the package was delivered (statuses); receiverDocId is the
// recipient's docId once delivered. title and notation are the document's
// subject and number/notation, or for a status its description and the
// number/notation of the document it is about.
//
// # Directory (getAgenciesList, getSynchronizeUnit, registerAgency, deleteAgency)
//
// The agency lists come from the edge's synced copy of the axis
// directory, whose agencies have no numeric ID and no mail: id is the
// OrganId, pid the parent's OrganId, mail and oldCode are empty, version
// is the directory version (it grows with every change of any unit), and
// centerCode is the ID of the edge serving the unit. Inactive agencies are
// left out of getAgenciesList and listed as deleted by
// getSynchronizeUnit.
//
// registerAgency and deleteAgency go to the axis (AxisDirectory), which
// puts the agency on this edge (binding the edge's seal to it) or marks it
// inactive; the axis refuses an agency served by another edge and a
// parent that is not this edge's. The mail, mobile and fax of a
// registration are not kept (the directory has no place for them), and
// an id must be empty or the code itself. The change reaches this edge's
// copy, and so the lists and sendEdoc, with the next directory sync.
//
// # Caveats
//
//   - Listing the received packages scans the inbox from the oldest
//     package a system has not acknowledged (kept per system and type in
//     memory, from the start of the inbox after a restart): a system that
//     never acknowledges makes every list a scan of everything after it.
//   - getSentEdocList reads each listed package once to find its title,
//     then keeps it in memory (metaCacheSize entries).
//   - sendEdoc parses the package with edoc's default limits (16 MiB,
//     DefaultMaxBodyBytes of the handler), whatever the edge's
//     max_package_bytes.
//   - A package addressed to several of a system's OrganIds has one docId
//     and one acknowledgement for all of them, unlike the national axis,
//     which gives each recipient its own copy.
type EdgeBackend struct {
	edge     Edge
	agencies AgencyLister
	axis     AxisDirectory
	maxRecv  int
	maxSent  int
	log      *slog.Logger

	mu    sync.Mutex
	marks map[markKey]uint64 // every inbox item with Seq ≤ the mark is settled for that system and type
	meta  map[string]packageMeta
}

var _ Backend = (*EdgeBackend)(nil)

type markKey struct {
	system string
	typ    bus.Type
}

// packageMeta is what getSentEdocList shows of a sent package besides its
// routing.
type packageMeta struct{ title, notation string }

// NewEdgeBackend returns the Backend over cfg.Edge.
func NewEdgeBackend(cfg EdgeBackendConfig) (*EdgeBackend, error) {
	if cfg.Edge == nil {
		return nil, errors.New("vxp edge backend: no edge")
	}
	lister, ok := cfg.Edge.Directory().(AgencyLister)
	if !ok {
		return nil, fmt.Errorf("vxp edge backend: the edge's directory (%T) does not list its agencies", cfg.Edge.Directory())
	}
	if cfg.MaxReceivedItems < 0 || cfg.MaxSentPackages < 0 {
		return nil, errors.New("vxp edge backend: MaxReceivedItems and MaxSentPackages must not be negative")
	}
	if cfg.MaxReceivedItems == 0 {
		cfg.MaxReceivedItems = DefaultMaxReceivedItems
	}
	if cfg.MaxSentPackages == 0 {
		cfg.MaxSentPackages = DefaultMaxSentPackages
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &EdgeBackend{
		edge: cfg.Edge, agencies: lister, axis: cfg.Axis, maxRecv: cfg.MaxReceivedItems, maxSent: cfg.MaxSentPackages,
		log: log, marks: map[markKey]uint64{}, meta: map[string]packageMeta{},
	}, nil
}

// ClientName is the API client name under which the edge records what a
// VXP system submitted: its idempotency keys are scoped by it.
func ClientName(systemID string) string { return "vxp:" + systemID }

func (mt MessageType) busType() bus.Type {
	if mt == MessageStatus {
		return bus.TypeStatus
	}
	return bus.TypeDocument
}

func messageTypeOf(t bus.Type) MessageType {
	if t == bus.TypeStatus {
		return MessageStatus
	}
	return MessageEdoc
}

// SendEdoc checks the package against the request and submits it to the
// edge with its content hash as idempotency key.
func (b *EdgeBackend) SendEdoc(ctx context.Context, c Caller, req SendRequest) (string, error) {
	p, err := edoc.Parse(req.Package, edoc.Limits{})
	if err != nil {
		return "", parseFailure(err)
	}
	want := edoc.KindDocument
	if req.MessageType == MessageStatus {
		want = edoc.KindStatus
	}
	if p.Kind != want {
		return "", &Error{Kind: KindInvalidPackage, Field: HeaderPrefix + KeyMessageType, Rule: "kind-mismatch",
			Message: fmt.Sprintf("messagetype is %s but the package is a %s", req.MessageType, kindName(p.Kind))}
	}
	if p.Sender() != req.From {
		return "", &Error{Kind: KindInvalidPackage, Field: "From/OrganId", Rule: "sender-mismatch",
			Message: fmt.Sprintf("the package is from %s, the from header says %s", p.Sender(), req.From)}
	}
	sum := sha256.Sum256(req.Package)
	entry, _, err := b.edge.Submit(ctx, ClientName(c.SystemID), c.OrganIDs, req.Package, hex.EncodeToString(sum[:]))
	if err != nil {
		return "", b.edgeFailure("submitting from "+req.From, err)
	}
	return entry.Message.ID, nil
}

func kindName(k edoc.Kind) string {
	if k == edoc.KindStatus {
		return "status"
	}
	return "document"
}

// parseFailure explains why a package does not parse.
func parseFailure(err error) error {
	var pe *edoc.ParseError
	var le *edoc.LimitError
	var se *edoc.SyntaxError
	switch {
	case errors.As(err, &pe):
		return &Error{Kind: KindInvalidPackage, Field: pe.Path, Rule: pe.Rule, Message: pe.Msg, Err: err}
	case errors.As(err, &le):
		return &Error{Kind: KindInvalidPackage, Field: "package", Rule: "limit", Message: le.Error(), Err: err}
	case errors.As(err, &se):
		return &Error{Kind: KindInvalidPackage, Field: "package", Rule: "xml", Message: se.Error(), Err: err}
	}
	return &Error{Kind: KindInvalidPackage, Field: "package", Rule: "xml", Message: "not an edXML package", Err: err}
}

// edgeFailure turns an error of the edge into what the client is told:
// a refusal keeps its field, reason and detail; anything unexpected stays
// an internal error (logged by the handler).
func (b *EdgeBackend) edgeFailure(action string, err error) error {
	var re *bus.RejectError
	switch {
	case errors.As(err, &re):
		kind := KindInvalidPackage
		switch re.Reason {
		case bus.RejectVerificationError, bus.RejectCRLUnavailable:
			kind = KindUnavailable
		case bus.RejectNotParticipant:
			kind = KindNotFound
		}
		return &Error{Kind: kind, Field: re.Field, Rule: re.Reason, Message: re.Detail, Err: err}
	case errors.Is(err, bus.ErrNotFound):
		return &Error{Kind: KindNotFound, Field: "docId", Rule: "unknown", Message: "no such document", Err: err}
	case errors.Is(err, bus.ErrConflict):
		return &Error{Kind: KindConflict, Rule: "conflict", Message: "the request contradicts what the edge holds", Err: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Kind: KindUnavailable, Message: "the edge did not answer in time", Err: err}
	}
	return fmt.Errorf("%s: %w", action, err)
}

// ReceivedList lists the packages of type mt waiting for the caller.
func (b *EdgeBackend) ReceivedList(ctx context.Context, c Caller, mt MessageType) ([]ReceivedItem, error) {
	var out []ReceivedItem
	err := b.waiting(ctx, c, mt, func(it bus.InboxItem, organs []string) bool {
		out = append(out, receivedItem(it, organs, mt))
		return len(out) < b.maxRecv
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CountReceived counts the packages of type mt waiting for the caller.
func (b *EdgeBackend) CountReceived(ctx context.Context, c Caller, mt MessageType) (int, error) {
	n := 0
	err := b.waiting(ctx, c, mt, func(bus.InboxItem, []string) bool { n++; return true })
	return n, err
}

// Delivery states of getReceivedEdocList. Wire values.
const (
	statePending    = "pending"
	stateProcessing = string(AckProcessing)
)

func receivedItem(it bus.InboxItem, organs []string, mt MessageType) ReceivedItem {
	ri := ReceivedItem{
		DocID: it.ID, ServiceType: ServiceType, MessageType: mt,
		Created: it.ReceivedAt, Updated: it.ReceivedAt, From: it.Sender,
		Status: statePending, StatusDesc: "Chưa nhận",
	}
	for _, o := range organs {
		d := it.Deliveries[o]
		if d.Ack.Final() {
			continue
		}
		if ri.To == "" {
			ri.To = o
		}
		if d.Ack == bus.DMSAckProcessing {
			ri.Status, ri.StatusDesc = stateProcessing, "Đang xử lý"
		}
		if d.TakenAt.After(ri.Updated) {
			ri.Updated = d.TakenAt
		}
	}
	return ri
}

// waiting calls yield, oldest first, with every inbox item of type mt
// that waits for an acknowledgement from one of the caller's OrganIds,
// and those of its recipients that are the caller's, until yield returns
// false. It scans from the caller's mark and moves the mark past the
// items it finds settled: an item never becomes unsettled again (done and
// fail are final, new items come with higher Seq).
func (b *EdgeBackend) waiting(ctx context.Context, c Caller, mt MessageType, yield func(bus.InboxItem, []string) bool) error {
	key := markKey{c.SystemID, mt.busType()}
	b.mu.Lock()
	after := b.marks[key]
	b.mu.Unlock()
	mark, settled := after, true
	defer func() {
		b.mu.Lock()
		if mark > b.marks[key] {
			b.marks[key] = mark
		}
		b.mu.Unlock()
	}()
	for {
		items, err := b.edge.Inbox(ctx, after, inboxPage)
		if err != nil {
			return b.edgeFailure("reading the inbox", err)
		}
		for _, it := range items {
			after = it.Seq
			organs := callerRecipients(it, c)
			if it.Type != key.typ || !awaited(it, organs) {
				if settled {
					mark = it.Seq
				}
				continue
			}
			settled = false
			if !yield(it, organs) {
				return nil
			}
		}
		if len(items) < inboxPage {
			return nil
		}
	}
}

// callerRecipients returns the item's recipients that are among the
// caller's OrganIds, in the item's order.
func callerRecipients(it bus.InboxItem, c Caller) []string {
	var out []string
	for _, r := range it.Recipients {
		if c.ActsFor(r) {
			out = append(out, r)
		}
	}
	return out
}

// awaited reports whether one of organs has not acknowledged the item
// with done or fail.
func awaited(it bus.InboxItem, organs []string) bool {
	for _, o := range organs {
		if !it.Deliveries[o].Ack.Final() {
			return true
		}
	}
	return false
}

// GetEdoc returns a package the caller received or sent.
func (b *EdgeBackend) GetEdoc(ctx context.Context, c Caller, docID string) ([]byte, error) {
	it, pkg, err := b.edge.Item(ctx, docID)
	switch {
	case err == nil:
		if (it.Type == bus.TypeDocument || it.Type == bus.TypeStatus) && len(callerRecipients(it, c)) > 0 && pkg != nil {
			return pkg, nil
		}
		return nil, notFound(docID)
	case !errors.Is(err, bus.ErrNotFound):
		return nil, b.edgeFailure("reading inbox item "+docID, err)
	}
	e, err := b.edge.Document(ctx, docID)
	switch {
	case errors.Is(err, bus.ErrNotFound):
		return nil, notFound(docID)
	case err != nil:
		return nil, b.edgeFailure("reading sent package "+docID, err)
	}
	if (e.Message.Type == bus.TypeDocument || e.Message.Type == bus.TypeStatus) && c.ActsFor(e.Message.Sender) && e.Message.Package != nil {
		return e.Message.Package, nil
	}
	return nil, notFound(docID)
}

func notFound(docID string) error {
	return &Error{Kind: KindNotFound, Field: "docId", Rule: "unknown", Message: "no document " + docID + " for this system"}
}

// UpdateStatus records the caller's acknowledgement of a received package.
func (b *EdgeBackend) UpdateStatus(ctx context.Context, c Caller, docID string, status AckStatus) error {
	it, _, err := b.edge.Item(ctx, docID)
	switch {
	case errors.Is(err, bus.ErrNotFound):
		return notFound(docID)
	case err != nil:
		return b.edgeFailure("reading inbox item "+docID, err)
	}
	organs := callerRecipients(it, c)
	if len(organs) == 0 || (it.Type != bus.TypeDocument && it.Type != bus.TypeStatus) {
		return notFound(docID)
	}
	if _, err := b.edge.Acknowledge(ctx, docID, organs, bus.DMSAck(status)); err != nil {
		if errors.Is(err, bus.ErrConflict) {
			return &Error{Kind: KindConflict, Field: HeaderPrefix + KeyStatus, Rule: "final",
				Message: fmt.Sprintf("%s was already acknowledged with another final status; it cannot become %s", docID, status), Err: err}
		}
		return b.edgeFailure("acknowledging "+docID, err)
	}
	return nil
}

// SentList reports the delivery of what the caller's OrganIds sent.
func (b *EdgeBackend) SentList(ctx context.Context, c Caller, mt MessageType, docID string) ([]SentItem, error) {
	var entries []bus.OutboxEntry
	if docID != "" {
		e, err := b.edge.Document(ctx, docID)
		switch {
		case errors.Is(err, bus.ErrNotFound):
			return nil, notFound(docID)
		case err != nil:
			return nil, b.edgeFailure("reading sent package "+docID, err)
		}
		if !c.ActsFor(e.Message.Sender) || (e.Message.Type != bus.TypeDocument && e.Message.Type != bus.TypeStatus) {
			return nil, notFound(docID)
		}
		if e.Message.Type == mt.busType() {
			entries = append(entries, e)
		}
	} else {
		var err error
		entries, err = b.edge.Outbox(ctx, bus.OutboxQuery{Limit: b.maxSent, Types: []bus.Type{mt.busType()}, Senders: c.OrganIDs})
		if err != nil {
			return nil, b.edgeFailure("listing the outbox", err)
		}
	}
	out := []SentItem{}
	for _, e := range entries {
		meta := b.metaOf(ctx, e)
		out = append(out, sentItemsOf(e, meta)...)
	}
	return out, nil
}

// metaOf returns the title and notation of a sent package, reading the
// package the first time.
func (b *EdgeBackend) metaOf(ctx context.Context, e bus.OutboxEntry) packageMeta {
	id := e.Message.ID
	b.mu.Lock()
	m, ok := b.meta[id]
	b.mu.Unlock()
	if ok {
		return m
	}
	pkg := e.Message.Package
	if pkg == nil {
		full, err := b.edge.Document(ctx, id)
		if err != nil {
			if !errors.Is(err, bus.ErrNotFound) {
				b.log.Warn("vxp: reading a sent package for its title", "msg_id", id, "err", err)
			}
			return m
		}
		pkg = full.Message.Package
	}
	if pkg == nil {
		return m // past retention: the list shows no title
	}
	p, err := edoc.Parse(pkg, edoc.Limits{MaxBytes: int64(len(pkg)) + 1})
	if err != nil {
		b.log.Warn("vxp: a sent package does not parse", "msg_id", id, "err", err)
		return m
	}
	if p.Kind == edoc.KindStatus && p.Status != nil {
		m = packageMeta{title: p.Status.Description, notation: p.Status.ResponseFor.Code}
	} else {
		m = packageMeta{title: p.Header.Subject, notation: p.Header.Code.String()}
	}
	b.mu.Lock()
	if len(b.meta) >= metaCacheSize {
		clear(b.meta)
	}
	b.meta[id] = m
	b.mu.Unlock()
	return m
}

// Send and receive states of getSentEdocList. Wire values.
const (
	sendPending   = "pending"
	sendAccepted  = "accepted"
	sendDelivered = "delivered"
	sendRefused   = "refused"
	sendRejected  = "rejected"
	recvPending   = "pending"
	recvReceived  = "received"
)

// statusWords are the QCVN status codes in the words Vietnamese DMS show.
var statusWords = map[string]string{
	"01": "Đã đến", "02": "Từ chối tiếp nhận", "03": "Đã tiếp nhận", "04": "Đã phân công",
	"05": "Đang xử lý", "06": "Đã hoàn thành", "13": "Đề nghị lấy lại",
	"15": "Đồng ý cập nhật, thu hồi", "16": "Từ chối cập nhật, thu hồi",
}

// sentItemsOf derives one SentItem per recipient of a sent package from its
// timeline (see the EdgeBackend documentation for the values).
func sentItemsOf(e bus.OutboxEntry, meta packageMeta) []SentItem {
	m := e.Message
	mt := messageTypeOf(m.Type)
	out := make([]SentItem, 0, len(m.Recipients))
	for _, r := range m.Recipients {
		it := SentItem{
			ServiceType: ServiceType, MessageType: mt, SenderDocID: m.ID,
			FromCode: m.Sender, ToCode: r, Title: meta.title, Notation: meta.notation, SentTime: e.CreatedAt,
			SendStatus: sendPending, SendStatusDesc: "Chờ trục tiếp nhận",
			ReceiveStatus: recvPending, ReceiveStatusDesc: "Chưa nhận",
		}
		delivered := time.Time{}
		for _, ev := range e.Timeline {
			concerns := len(ev.Recipients) == 0 || slices.Contains(ev.Recipients, r)
			if !concerns {
				continue
			}
			switch ev.Kind {
			case bus.TimelineAccepted:
				if it.SendStatus == sendPending {
					it.SendStatus, it.SendStatusDesc = sendAccepted, "Trục đã tiếp nhận"
				}
			case bus.TimelineRejected:
				it.SendStatus, it.SendStatusDesc = sendRejected, oneLine("Trục từ chối: "+ev.Reason+" "+ev.Detail)
			case bus.TimelineDelivered:
				if it.SendStatus != sendRejected && it.SendStatus != sendRefused {
					it.SendStatus, it.SendStatusDesc = sendDelivered, "Đã chuyển đến đơn vị nhận"
				}
				if delivered.IsZero() {
					delivered = ev.At
				}
				it.ReceiverDocID = bus.InboxID(m.SHA256)
			case bus.TimelineRefused:
				it.SendStatus, it.SendStatusDesc = sendRefused, oneLine("Đơn vị nhận từ chối gói tin: "+ev.Reason+" "+ev.Detail)
			case bus.TimelineStatus:
				if ev.StatusCode == "" || len(ev.Recipients) == 0 {
					continue
				}
				if it.ReceivedTime.IsZero() {
					it.ReceivedTime = ev.At
				}
				it.ReceiveStatus, it.ReceiveStatusDesc = ev.StatusCode, statusWords[ev.StatusCode]
				if it.ReceiveStatusDesc == "" {
					it.ReceiveStatusDesc = "Trạng thái " + ev.StatusCode
				}
			}
		}
		if m.Type == bus.TypeStatus && !delivered.IsZero() && it.SendStatus == sendDelivered {
			it.ReceiveStatus, it.ReceiveStatusDesc, it.ReceivedTime = recvReceived, "Đã nhận", delivered
		}
		out = append(out, it)
	}
	return out
}

// oneLine trims a description to one line of reasonable length.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	const max = 300
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "…"
	}
	return s
}

// Agencies lists the active agencies of the edge's directory.
func (b *EdgeBackend) Agencies(ctx context.Context, c Caller) ([]Agency, error) {
	all := b.agencies.Agencies()
	out := make([]Agency, 0, len(all))
	for _, a := range all {
		if a.Active {
			out = append(out, Agency{ID: a.OrganID, ParentID: a.Parent, Code: a.OrganID, Name: a.Name})
		}
	}
	return out, nil
}

// SynchronizeUnits lists every agency of the edge's directory.
func (b *EdgeBackend) SynchronizeUnits(ctx context.Context, c Caller) ([]Unit, error) {
	version := int(min(b.agencies.Version(), int64(^uint32(0)>>1)))
	all := b.agencies.Agencies()
	out := make([]Unit, 0, len(all))
	for _, a := range all {
		out = append(out, Unit{
			ID: a.OrganID, ParentID: a.Parent, Code: a.OrganID, Name: a.Name,
			Version: version, CenterCode: a.Edge, Deleted: !a.Active, IsAgency: true,
		})
	}
	return out, nil
}

// RegisterAgency forwards a registration to the axis.
func (b *EdgeBackend) RegisterAgency(ctx context.Context, c Caller, reg AgencyRegistration) error {
	if reg.ID != "" && reg.ID != reg.Code {
		return &Error{Kind: KindConflict, Field: "id", Rule: "mismatch",
			Message: fmt.Sprintf("the id of an agency is its code; %s does not name %s", quote(reg.ID), reg.Code)}
	}
	if reg.ParentCode == reg.Code {
		return &Error{Kind: KindInvalidPackage, Field: "pcode", Rule: "own-parent", Message: "an agency cannot be its own parent"}
	}
	if n := utf8.RuneCountInString(reg.Name); n > axisdir.MaxNameLength {
		return &Error{Kind: KindInvalidPackage, Field: "name", Rule: "max-length",
			Message: fmt.Sprintf("the directory keeps names of at most %d characters, this one has %d", axisdir.MaxNameLength, n)}
	}
	if b.axis == nil {
		return &Error{Kind: KindUnavailable, Rule: "no-axis", Message: "this edge has no axis to register agencies with"}
	}
	_, err := b.axis.PutAgency(ctx, reg.Code, reg.Name, reg.ParentCode)
	return b.axisFailure("registering "+reg.Code, map[string]string{"organ_id": "code", "parent": "pcode"}, err)
}

// DeleteAgency forwards a deletion to the axis.
func (b *EdgeBackend) DeleteAgency(ctx context.Context, c Caller, code string) error {
	if b.axis == nil {
		return &Error{Kind: KindUnavailable, Rule: "no-axis", Message: "this edge has no axis to delete agencies from"}
	}
	_, err := b.axis.DeactivateAgency(ctx, code)
	return b.axisFailure("deleting "+code, map[string]string{"organ_id": HeaderPrefix + KeyAgencyCode}, err)
}

// axisFailure turns the axis's refusal into what the client is told,
// naming the field in the request's terms (fields maps the axis's).
func (b *EdgeBackend) axisFailure(action string, fields map[string]string, err error) error {
	if err == nil {
		return nil
	}
	var ae *axisdir.EdgeAPIError
	if !errors.As(err, &ae) {
		var ue *url.Error
		if errors.As(err, &ue) && !errors.Is(err, context.Canceled) {
			return &Error{Kind: KindUnavailable, Rule: "axis-unreachable", Message: "the axis directory does not answer; retry later", Err: err}
		}
		return fmt.Errorf("%s: %w", action, err)
	}
	field := ae.Problem.Field
	if f, ok := fields[field]; ok {
		field = f
	}
	var kind ErrorKind
	switch ae.Status {
	case http.StatusNotFound:
		kind = KindNotFound
	case http.StatusForbidden:
		kind = KindForbidden
	case http.StatusConflict:
		kind = KindConflict
	case http.StatusUnprocessableEntity:
		kind = KindInvalidPackage
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		kind = KindUnavailable
	default:
		// 400, 401, 500: the edge's request or credentials are wrong, or
		// the axis failed; nothing the DMS can fix.
		return fmt.Errorf("%s: %w", action, err)
	}
	return &Error{Kind: kind, Field: field, Rule: ae.Problem.Reason, Message: ae.Problem.Detail, Err: err}
}
