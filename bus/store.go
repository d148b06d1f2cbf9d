package bus

import (
	"context"
	"errors"
	"time"
)

// Errors of the stores, for errors.Is.
var (
	// ErrNotFound: no entry with that key, or a package past retention.
	ErrNotFound = errors.New("bus: not found")
	// ErrConflict: the write contradicts what is stored (a status 01 for an
	// item that already had one, an idempotency key reused for other bytes).
	ErrConflict = errors.New("bus: conflict")
)

// ---------------------------------------------------------------------------
// Axis

// RouteState is how far the axis got in handing a package to one edge.
type RouteState string

// Route states, in the order a route moves through them.
const (
	RoutePending   RouteState = "pending"   // recorded, not yet published to the edge's inbox topic
	RouteDelivered RouteState = "delivered" // published to the inbox topic; the delivered event is in the log
	RouteAcked     RouteState = "acked"     // the edge acknowledged storing it (or sent a rejection notice)
)

// Route is the delivery of one package to one recipient edge.
type Route struct {
	Edge       string     `json:"edge"`
	Recipients []string   `json:"recipients"` // the OrganIds this edge serves among the package's recipients
	State      RouteState `json:"state"`
	// Leaf is the log index of the delivered event, -1 while pending.
	Leaf int64 `json:"leaf"`
	// Attempts counts publishes to the inbox topic (first delivery and
	// redeliveries).
	Attempts int       `json:"attempts"`
	SentAt   time.Time `json:"sent_at,omitzero"`  // the latest publish
	AckedAt  time.Time `json:"acked_at,omitzero"` // when the ack or rejection notice was recorded
	// Rejected is the reason code of the edge's rejection notice, if any.
	Rejected string `json:"rejected,omitempty"`
}

// Entry is the axis ledger's record of one package it handled, accepted or
// rejected, keyed by the SHA-256 of the package bytes (the dedup key).
type Entry struct {
	SHA256    [32]byte  `json:"sha256"`
	MessageID string    `json:"message_id"`
	Type      Type      `json:"type"`      // TypeDocument, TypeStatus or TypeRejection
	Key       string    `json:"key"`       // root-document key
	Sender    string    `json:"sender"`    // OrganId (verified when accepted)
	FromEdge  string    `json:"from_edge"` // edge receipts go to; "" when unknown
	At        time.Time `json:"at"`        // when the axis recorded it
	Size      int       `json:"size"`      // package bytes
	// Recipients: of a document, every To; of a status, the agencies it
	// goes to; of a rejection notice, the original sender.
	Recipients []string `json:"recipients,omitempty"`
	StatusCode string   `json:"status,omitempty"`   // two digits, for a status
	DocType    string   `json:"doc_type,omitempty"` // BussinessDocType of a document
	Subject    string   `json:"subject,omitempty"`  // hex SHA-256 of the package a rejection notice is about
	Rejected   string   `json:"rejected,omitempty"` // reason code when the axis rejected it
	Detail     string   `json:"detail,omitempty"`   // rejection detail
	// Leaf is the log index of the entry's own event (submission accepted
	// or rejected, status, rejection notice).
	Leaf   int64   `json:"leaf"`
	Routes []Route `json:"routes,omitempty"`
}

// Accepted reports whether the axis accepted the package.
func (e Entry) Accepted() bool { return e.Rejected == "" }

// Redelivery is a route the axis must publish (again): never published
// after a crash, or never acknowledged.
type Redelivery struct {
	SHA256 [32]byte
	Key    string
	Edge   string
	// Entry is the whole ledger entry, for the message headers.
	Entry Entry
}

// Ledger is the axis's durable record of every package it handled. It owns
// the transparency log: every method that records an event appends its leaf
// in the same durable transaction as the ledger change, so the two never
// disagree after a crash. It keeps the package bytes of accepted entries
// for a retention period (for redelivery), and entries (the dedup table)
// for as long as the ledger exists. All methods are safe for concurrent
// use; writes are durable (fsynced) when they return nil, and batched with
// concurrent writes.
type Ledger interface {
	// Log is the transparency log the ledger appends to.
	Log() Log

	// Get returns the entry for sha, or ErrNotFound.
	Get(ctx context.Context, sha [32]byte) (Entry, error)

	// Record stores e (keyed by e.SHA256) with the package bytes pkg (nil
	// for a rejected entry: rejected bytes are not kept) and appends ev as
	// one log leaf, setting e.Leaf to its index; routes are stored with
	// Leaf -1 and State RoutePending. If an entry with the same SHA-256
	// exists it changes nothing and returns the stored entry with
	// created=false. ev must be a valid Event (Event.Encode). It refuses,
	// changing nothing and with an error naming the field, an entry with a
	// zero SHA256 or an empty Key, a route with an invalid edge or no
	// recipients, and an ev that does not encode; an implementation may
	// refuse more (an event that is not about the entry).
	Record(ctx context.Context, e Entry, pkg []byte, ev Event) (stored Entry, created bool, err error)

	// Delivered marks the route of sha to edge delivered at at, appending
	// ev (an EventDelivered) as one log leaf and setting the route's Leaf,
	// unless the route is already delivered or acked, in which case it only
	// counts the attempt and updates SentAt. It returns the updated entry.
	Delivered(ctx context.Context, sha [32]byte, edge string, ev Event, at time.Time) (Entry, error)

	// Acked marks the route of sha to edge acknowledged (rejected is the
	// reason code of a rejection notice, "" for an ack). Acking twice is
	// not an error; the first time is kept. ErrNotFound when there is no
	// such route.
	Acked(ctx context.Context, sha [32]byte, edge string, rejected string, at time.Time) (Entry, error)

	// Append records ev as one log leaf against the entry of sha (the
	// timeline of a document gains it) without other change, and returns
	// the leaf index. Used for events with no route change.
	Append(ctx context.Context, sha [32]byte, ev Event) (int64, error)

	// Due returns up to limit routes that are pending, or delivered and
	// not acked with SentAt before sentBefore, oldest first, for routes
	// whose package is still kept. Pending routes come first, in the
	// order their entries were recorded; then delivered ones, by SentAt.
	Due(ctx context.Context, sentBefore time.Time, limit int) ([]Redelivery, error)

	// ByKey returns every entry with root-document key, in the order they
	// were recorded: a letter, its updates, its statuses. A key with no
	// entry gives an empty list and no error.
	ByKey(ctx context.Context, key string) ([]Entry, error)

	// Package returns the bytes of an accepted package, or ErrNotFound if
	// it was never kept or is past retention.
	Package(ctx context.Context, sha [32]byte) ([]byte, error)

	// Purge deletes the bytes of packages recorded before before, in small
	// transactions, and returns how many it deleted. Entries stay.
	Purge(ctx context.Context, before time.Time) (int, error)
}

// ---------------------------------------------------------------------------
// Edge

// TimelineKind says what a timeline event of a sent document records.
type TimelineKind string

// Timeline kinds.
const (
	TimelineSubmitted TimelineKind = "submitted" // the edge accepted it from the DMS
	TimelineAccepted  TimelineKind = "accepted"  // the axis accepted it (receipt)
	TimelineRejected  TimelineKind = "rejected"  // the axis rejected it (receipt), Reason set
	TimelineDelivered TimelineKind = "delivered" // the axis delivered it to an edge (receipt), Recipients set
	TimelineStatus    TimelineKind = "status"    // a status package from a recipient, StatusCode set
	TimelineRefused   TimelineKind = "refused"   // a recipient edge sent a rejection notice, Reason set
)

// TimelineEvent is one thing that happened to a document an edge sent.
type TimelineEvent struct {
	Kind TimelineKind `json:"kind"`
	At   time.Time    `json:"at"`
	// SHA256 is the hex SHA-256 of the package the event is about: the
	// sent document for receipts, the status package for a status.
	SHA256     string   `json:"sha256"`
	MessageID  string   `json:"message_id,omitempty"`
	Recipients []string `json:"recipients,omitempty"` // the OrganIds concerned
	Edge       string   `json:"edge,omitempty"`
	StatusCode string   `json:"status,omitempty"`
	Reason     string   `json:"reason,omitempty"`
	Detail     string   `json:"detail,omitempty"`
	// Receipt is the encoded axis receipt, when the event came with one.
	Receipt []byte `json:"receipt,omitempty"`
}

// OutboxEntry is one message the edge sends: a DMS's document, a status, a
// rejection notice, or an ack.
type OutboxEntry struct {
	// Message is what goes to the axis; Message.ID is the entry's ID.
	Message Message
	// IdempotencyKey is the DMS's key for the submission, "" if none.
	IdempotencyKey string
	// InputSHA256 is the SHA-256 of the bytes the DMS submitted (before
	// the edge signed them): a retry with the same IdempotencyKey must
	// carry the same bytes.
	InputSHA256 [32]byte
	// Client names the API client (DMS) that submitted it, "" for the
	// edge's own messages.
	Client string
	// InboxID is, for a status answering an incoming item, that item's ID.
	InboxID   string
	CreatedAt time.Time
	// Attempts counts publishes to the axis; SentAt is the latest.
	Attempts int
	SentAt   time.Time
	// Settled is when the axis's final receipt (accepted or rejected)
	// arrived: the entry is no longer resent. Zero while it is not. Acks
	// are settled when published.
	Settled time.Time
	// Timeline holds what happened to the message, in arrival order.
	Timeline []TimelineEvent
	// Seq is the entry's position in the outbox, assigned by the store
	// (it grows with every Put): the cursor of OutboxQuery.
	Seq uint64
	// Size is the length of the package in bytes, set by the store (an
	// entry listed by Outbox has no Package, only its Size).
	Size int
}

// OutboxQuery selects outbox entries for EdgeStore.Outbox. Zero fields
// select everything.
type OutboxQuery struct {
	// Before is the cursor: only entries with Seq < Before; 0 starts at
	// the newest.
	Before uint64
	// Limit caps the entries returned; ≤ 0 returns none.
	Limit int
	// Types selects the message types; nil means documents and statuses
	// (what DMS send), never acks or notices.
	Types []Type
	// Senders selects by sender OrganId; nil means any.
	Senders []string
	// Client selects the submitting API client; "" means any.
	Client string
	// Key selects by root-document key; "" means any.
	Key string
	// Since and Until bound CreatedAt (Since ≤ CreatedAt < Until); zero
	// means open.
	Since, Until time.Time
}

// DMSAck is a DMS's transport-level acknowledgement of an inbox item: what
// VXP clients report with updateStatus. It is not a QCVN status.
type DMSAck string

// DMS acks. Done and fail are final.
const (
	DMSAckNone       DMSAck = ""
	DMSAckProcessing DMSAck = "processing" // the DMS is still taking it; it stays listed
	DMSAckDone       DMSAck = "done"       // the DMS has stored it
	DMSAckFail       DMSAck = "fail"       // the DMS could not take it
)

// Final reports whether a is done or fail.
func (a DMSAck) Final() bool { return a == DMSAckDone || a == DMSAckFail }

// Valid reports whether a is one of the DMSAck values.
func (a DMSAck) Valid() bool { return a == DMSAckNone || a == DMSAckProcessing || a.Final() }

// ItemDelivery is how the DMS of one recipient agency took an inbox item.
type ItemDelivery struct {
	// TakenAt is when that DMS first took the item.
	TakenAt time.Time `json:"taken_at"`
	// Status01 is the outbox ID of the 01 status sent from this agency
	// for the item, "" if none was sent (yet, or by the DMS itself).
	Status01 string `json:"status01,omitempty"`
	// Ack is the DMS's last acknowledgement (VXP updateStatus).
	Ack DMSAck `json:"ack,omitempty"`
}

// Taking is what EdgeStore.Take records about an inbox item.
type Taking struct {
	// At is when the DMS took it. Required.
	At time.Time
	// Organs are the recipient agencies whose DMS took it; nil means
	// every recipient of the item. An OrganId not among the item's
	// recipients is refused.
	Organs []string
	// Ack, when set, becomes the ack of each of Organs. Done and fail
	// are final: changing one into the other is ErrConflict (nothing is
	// written); setting processing after either keeps the final one.
	Ack DMSAck
	// Statuses are 01 statuses to queue, each from one of Organs
	// (Message.Sender). The store puts only those whose sender has no 01
	// for the item yet, in the same transaction.
	Statuses []OutboxEntry
}

// InboxItem is one package the edge received for its agencies.
type InboxItem struct {
	// Seq orders the inbox: it grows with every new item and is the
	// pagination cursor.
	Seq uint64
	// ID is the item ID in the DMS APIs: "in-" and the first 16 bytes of
	// the SHA-256 in hex.
	ID         string
	SHA256     [32]byte
	MessageID  string
	Type       Type // TypeDocument, TypeStatus or TypeRejection
	Key        string
	Sender     string
	Recipients []string // the OrganIds this edge serves among the package's recipients
	StatusCode string   // for a status
	Size       int
	ReceivedAt time.Time
	// TakenAt is when a DMS first took delivery (Take), zero until then.
	TakenAt time.Time
	// Status01 is the outbox ID of the first 01 status sent for it, ""
	// until one was sent.
	Status01 string
	// Deliveries records, per recipient OrganId, how that agency's DMS
	// took the item: only agencies that took it have an entry. (Several
	// DMS may share an item on one edge, each answering for its own
	// agencies.)
	Deliveries map[string]ItemDelivery
}

// InboxID returns the inbox item ID for a package SHA-256.
func InboxID(sha [32]byte) string {
	const hexdigits = "0123456789abcdef"
	b := make([]byte, 0, 3+32)
	b = append(b, "in-"...)
	for _, c := range sha[:16] {
		b = append(b, hexdigits[c>>4], hexdigits[c&15])
	}
	return string(b)
}

// EdgeStore is an edge's durable state: its outbox (messages to the axis,
// with the timeline of each sent document) and its inbox (packages for its
// agencies). Outbox and inbox live in one store so that the writes that must
// happen together (taking an item and queueing its 01 status; storing a
// status and adding it to the timeline of the sent document) are one
// transaction. All methods are safe for concurrent use; writes are durable
// (fsynced) when they return nil and batched with concurrent writes.
type EdgeStore interface {
	// Put adds e to the outbox. If e.IdempotencyKey is set and an entry
	// with the same key and Client exists, Put changes nothing and returns
	// that entry with created=false, or ErrConflict if its InputSHA256
	// differs (the DMS reused the key for other bytes). Message IDs are
	// unique: a second Put of the same ID returns ErrConflict. (Status 01
	// entries are put by Take, never by Put.)
	Put(ctx context.Context, e OutboxEntry) (stored OutboxEntry, created bool, err error)

	// PutMany puts entries as Put does, all in one transaction: all of
	// them or none. An entry whose idempotency key was seen (same bytes)
	// is not put again; the stored entry takes its place in the result.
	PutMany(ctx context.Context, entries []OutboxEntry) ([]OutboxEntry, error)

	// ByIdempotencyKey returns the entry put by client with key, or
	// ErrNotFound: the edge checks it before signing a retried submission.
	ByIdempotencyKey(ctx context.Context, client, key string) (OutboxEntry, error)

	// Sent returns the outbox entry with message ID id, or ErrNotFound.
	Sent(ctx context.Context, id string) (OutboxEntry, error)

	// SentBySHA returns the outbox entry whose package has SHA-256 sha.
	SentBySHA(ctx context.Context, sha [32]byte) (OutboxEntry, error)

	// SentByKey returns the outbox entries of type document with
	// root-document key key, oldest first.
	SentByKey(ctx context.Context, key string) ([]OutboxEntry, error)

	// Unsettled returns up to limit outbox entries not settled whose
	// SentAt is before sentBefore (never-sent entries first), in the order
	// they were put: the publisher's work list.
	Unsettled(ctx context.Context, sentBefore time.Time, limit int) ([]OutboxEntry, error)

	// MarkSent records a publish of the entries with ids at at (Attempts
	// counts up, SentAt = at); entries of type ack are settled too.
	MarkSent(ctx context.Context, ids []string, at time.Time) error

	// Settle marks the entry with package SHA-256 sha settled at at and
	// appends ev to its timeline, in one transaction. Settling twice keeps
	// the first time but still appends ev unless an identical event is
	// already there (receipts may arrive twice).
	Settle(ctx context.Context, sha [32]byte, ev TimelineEvent, at time.Time) error

	// AddTimeline appends ev to the timeline of the entry with package
	// SHA-256 sha unless an identical event is already there.
	AddTimeline(ctx context.Context, sha [32]byte, ev TimelineEvent) error

	// Receive adds item (with its package bytes) to the inbox unless an
	// item with the same SHA-256 exists, assigning Seq, ID and ReceivedAt;
	// created=false returns the stored item unchanged. When created and
	// timeline is not nil, ev is appended to the timeline of the outbox
	// entry with SHA-256 timeline.SHA256 in the same transaction (a status
	// about a document this edge sent). The stored item is returned.
	Receive(ctx context.Context, item InboxItem, pkg []byte, timeline *TimelineRef) (stored InboxItem, created bool, err error)

	// Inbox returns up to limit items with Seq > after, in Seq order.
	Inbox(ctx context.Context, after uint64, limit int) ([]InboxItem, error)

	// InboxByKey returns the inbox items with root-document key key, in
	// Seq order.
	InboxByKey(ctx context.Context, key string) ([]InboxItem, error)

	// Item returns the inbox item with id and its package bytes, or
	// ErrNotFound.
	Item(ctx context.Context, id string) (InboxItem, []byte, error)

	// Take records that the DMS of t.Organs took item id (per organ, the
	// first time is kept), sets their ack, and puts the 01 statuses of
	// t.Statuses whose sender has none for the item yet, in one
	// transaction (never two 01s from one agency for one item). It
	// returns the item. ErrNotFound for an unknown id.
	Take(ctx context.Context, id string, t Taking) (InboxItem, error)

	// Outbox lists outbox entries matching q, newest first, without their
	// package bytes (Size says how large) but with their timelines.
	Outbox(ctx context.Context, q OutboxQuery) ([]OutboxEntry, error)

	// LastSeq is the Seq of the newest inbox item, 0 when empty.
	LastSeq(ctx context.Context) (uint64, error)
}

// TimelineRef is a timeline event for the outbox entry whose package has
// SHA-256 SHA256.
type TimelineRef struct {
	SHA256 [32]byte
	Event  TimelineEvent
}
