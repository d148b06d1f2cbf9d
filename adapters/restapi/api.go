package restapi

import (
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"time"

	"truc.vn/truc/bus"
)

// The JSON shapes of the API, shared by Handler and Client and described
// in openapi.json. Member names are wire constants: they never change
// once released; members may be added.

// Submitted answers POST /v1/documents and POST /v1/inbox/{id}/status
// (202): the message the edge queued.
type Submitted struct {
	// ID is the message ID, the key of GET /v1/documents/{id}.
	ID string `json:"id"`
	// SHA256 is the hex SHA-256 of the package as the edge queued it
	// (signed): its content identity on the bus.
	SHA256 string `json:"sha256"`
	// StatusURL is the path of the message's timeline, also sent as
	// Location.
	StatusURL string `json:"status_url"`
	// Replayed is true when the Idempotency-Key was seen before with the
	// same bytes: the answer is the first one's and nothing was queued
	// again.
	Replayed bool `json:"replayed"`
}

// DocumentHead is what GET /v1/documents/{id} and GET /v1/documents say
// of a message the edge sent for the caller's agencies.
type DocumentHead struct {
	ID string `json:"id"`
	// Seq is the message's place in the edge's outbox: the cursor of GET
	// /v1/documents.
	Seq    uint64 `json:"seq"`
	Type   string `json:"type"` // "document" or "status"
	SHA256 string `json:"sha256"`
	Size   int    `json:"size"`
	Sender string `json:"sender"`
	// DocumentFrom and DocumentID name the root document: the letter
	// itself, or for a status the letter it is about.
	DocumentFrom string   `json:"document_from"`
	DocumentID   string   `json:"document_id"`
	Recipients   []string `json:"recipients"`
	// Status is the code of a status message, "" for a document.
	Status string `json:"status,omitempty"`
	// InboxID is, for a status, the inbox item it answers.
	InboxID   string    `json:"inbox_id,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// Attempts counts publishes to the axis; SentAt is the latest.
	Attempts int       `json:"attempts"`
	SentAt   time.Time `json:"sent_at,omitzero"`
	// Settled is true once the axis's final receipt (accepted or
	// rejected) arrived, at SettledAt.
	Settled   bool      `json:"settled"`
	SettledAt time.Time `json:"settled_at,omitzero"`
	// Final is true when every recipient reached a final state
	// (RecipientState.Final): nothing more is expected.
	Final bool `json:"final"`
}

// Document answers GET /v1/documents/{id}: a message the edge sent for
// the caller's agencies, and what happened to it.
type Document struct {
	DocumentHead
	// Timeline has one entry per recipient, in the order of Recipients.
	Timeline []RecipientTimeline `json:"timeline"`
	// Receipts are the axis receipts that came with timeline events, in
	// arrival order.
	Receipts []Receipt `json:"receipts"`
}

// DocumentSummary is one entry of GET /v1/documents: a Document without
// events and receipts, with each recipient's state.
type DocumentSummary struct {
	DocumentHead
	States []RecipientState `json:"states"`
}

// DocumentPage answers GET /v1/documents, newest first. Next is the
// cursor to pass as before for the next (older) page: the Seq of the last
// message looked at, which may be past the last one listed when a
// recipient filter skipped some; 0 when there is nothing older.
type DocumentPage struct {
	Documents []DocumentSummary `json:"documents"`
	Next      uint64            `json:"next"`
}

// Recipient states, the values of RecipientState.State. Wire constants.
const (
	StateQueued    = "queued"    // the edge holds it; the axis has not answered yet
	StateAccepted  = "accepted"  // the axis accepted the message
	StateRejected  = "rejected"  // the axis rejected the message (final)
	StateDelivered = "delivered" // the axis delivered it to the recipient's edge
	StateRefused   = "refused"   // the recipient's edge refused it (final)
	StateStatus    = "status"    // the recipient reported a status (Status); final for 02 and 06
)

// RecipientState is where a message stands for one recipient: the
// furthest of queued, accepted, delivered and status it reached, or
// rejected or refused, whichever came. Events may arrive out of order (a
// fast 01 before the delivery receipt): the state is the furthest, not
// the latest.
type RecipientState struct {
	OrganID string `json:"organ_id"`
	State   string `json:"state"`
	// At is when the recipient reached State.
	At time.Time `json:"at"`
	// Final is true for rejected, refused, and the statuses 02 (refused
	// by the clerk) and 06 (handling finished): nothing more is expected.
	Final bool `json:"final"`
	// Status is the latest status code the recipient reported, "" if none
	// yet.
	Status string `json:"status,omitempty"`
}

// RecipientTimeline is what happened to a message for one recipient: its
// state, when each step happened, and the events that name it or name no
// recipient (the axis accepting or rejecting the whole message).
type RecipientTimeline struct {
	RecipientState
	AcceptedAt  time.Time `json:"accepted_at,omitzero"`
	RejectedAt  time.Time `json:"rejected_at,omitzero"`
	DeliveredAt time.Time `json:"delivered_at,omitzero"`
	RefusedAt   time.Time `json:"refused_at,omitzero"`
	// Reason and Detail explain a rejection or a refusal.
	Reason string `json:"reason,omitempty"`
	Detail string `json:"detail,omitempty"`
	// Statuses are the statuses the recipient reported, in arrival order.
	Statuses []StatusReport `json:"statuses"`
	Events   []Event        `json:"events"`
}

// StatusReport is one status a recipient reported about a message.
type StatusReport struct {
	Code      string    `json:"code"`
	At        time.Time `json:"at"`
	MessageID string    `json:"message_id,omitempty"`
	SHA256    string    `json:"sha256,omitempty"`
}

// Event is one timeline event (bus.TimelineEvent without the receipt
// bytes, which are in Document.Receipts).
type Event struct {
	Kind       string    `json:"kind"` // submitted, accepted, rejected, delivered, status, refused
	At         time.Time `json:"at"`
	SHA256     string    `json:"sha256,omitempty"`
	MessageID  string    `json:"message_id,omitempty"`
	Recipients []string  `json:"recipients,omitempty"`
	Edge       string    `json:"edge,omitempty"`
	Status     string    `json:"status,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	Detail     string    `json:"detail,omitempty"`
}

// Receipt is an encoded axis receipt (bus.Receipt) with the event it came
// with. Receipt is the exact bytes, base64 in JSON: they verify offline.
type Receipt struct {
	Kind       string    `json:"kind"`
	At         time.Time `json:"at"`
	Edge       string    `json:"edge,omitempty"`
	Recipients []string  `json:"recipients,omitempty"`
	Receipt    []byte    `json:"receipt"`
}

// Item is one inbox item: a package the edge received for the caller's
// agencies (a document, a status about a document they sent, or a
// rejection notice).
type Item struct {
	ID         string    `json:"id"`
	Seq        uint64    `json:"seq"`
	Type       string    `json:"type"` // document, status or rejection
	Sender     string    `json:"sender"`
	Recipients []string  `json:"recipients"`
	Status     string    `json:"status,omitempty"` // the code, for a status
	MessageID  string    `json:"message_id"`
	SHA256     string    `json:"sha256"`
	ReceivedAt time.Time `json:"received_at"`
	// TakenAt is when a DMS of the caller's agencies first took the item,
	// zero until then.
	TakenAt time.Time `json:"taken_at,omitzero"`
	Size    int       `json:"size"`
	// Deliveries says, for each of the caller's agencies among the
	// recipients whose DMS took the item, when and how (ordered by
	// OrganId). Agencies that have not taken it are absent.
	Deliveries []Delivery `json:"deliveries"`
}

// Delivery is how the DMS of one recipient agency took an inbox item.
type Delivery struct {
	OrganID string    `json:"organ_id"`
	TakenAt time.Time `json:"taken_at"`
	// Status01 is the ID of the 01 status the edge sent for this agency
	// (GET /v1/documents/{id}), "" when none was sent (yet, or the DMS
	// sends its own).
	Status01 string `json:"status01,omitempty"`
	// Ack is the DMS's transport acknowledgement (processing, done or
	// fail: VXP updateStatus), "" if none.
	Ack string `json:"ack,omitempty"`
}

// InboxPage answers GET /v1/inbox. Next is the cursor to pass as after
// next time: the Seq of the last item looked at, which may be past the
// last item listed (items for other agencies are skipped), and equals
// after when there was nothing.
type InboxPage struct {
	Items []Item `json:"items"`
	Next  uint64 `json:"next"`
}

// StatusRequest is the body of POST /v1/inbox/{id}/status.
type StatusRequest struct {
	// Code is the two-digit status code (01–06, 15, 16; 14 is read as 15).
	Code string `json:"code"`
	// Description is free text (a reason for 02 or 16), at most
	// MaxDescriptionChars characters.
	Description string `json:"description,omitempty"`
	// Staff is who handled it, at most MaxStaffChars characters.
	Staff string `json:"staff,omitempty"`
}

// RecallRequest is the body of POST /v1/documents/{id}/recall (optional:
// no body, or an empty object, is a recall without text).
type RecallRequest struct {
	// Description is why the sender recalls the document, at most
	// MaxDescriptionChars characters.
	Description string `json:"description,omitempty"`
	// Staff is who asks, at most MaxStaffChars characters.
	Staff string `json:"staff,omitempty"`
}

// AttachmentInfo describes one attachment of a package: GET
// .../attachments lists them, GET .../attachments/{n} serves the bytes.
type AttachmentInfo struct {
	// N is its position in the package, from 1.
	N    int    `json:"n"`
	Name string `json:"name"`
	// ContentType is the type the sender declared (it may be wrong: ZIP
	// says whether the content is a ZIP archive).
	ContentType string `json:"content_type,omitempty"`
	Description string `json:"description,omitempty"`
	// Size and SHA256 are those of the decoded content.
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	ZIP    bool   `json:"zip"`
}

// AttachmentList answers GET /v1/inbox/{id}/attachments and GET
// /v1/documents/{id}/attachments.
type AttachmentList struct {
	Attachments []AttachmentInfo `json:"attachments"`
}

// Agency is one agency of the directory, as GET /v1/directory/agencies
// lists them.
type Agency struct {
	OrganID string `json:"organ_id"`
	Name    string `json:"name"`
	Parent  string `json:"parent,omitempty"`
	Edge    string `json:"edge"`
	Active  bool   `json:"active"`
}

// AgencyPage answers GET /v1/directory/agencies, in OrganId order. Next
// is the cursor for the next page (the OrganId of the last agency
// listed), "" when there is no more.
type AgencyPage struct {
	Agencies []Agency `json:"agencies"`
	Next     string   `json:"next,omitempty"`
}

// Bounds on StatusRequest text, in characters. Choices of this API: the
// standard sets none.
const (
	MaxDescriptionChars = 2000
	MaxStaffChars       = 200
)

// Problem is an RFC 9457 problem report, the body of every error answer
// (application/problem+json), and the error Client returns for them.
type Problem struct {
	// Type is a URI naming the problem: ProblemTypePrefix + Reason.
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Field names what is at fault: a header (Authorization,
	// Idempotency-Key, Content-Type), a query parameter, the path
	// parameter "id", a JSON member, "body", or a package field
	// ("MessageHeader/From/OrganId").
	Field string `json:"field,omitempty"`
	// Reason is a stable machine-readable code (the Reason constants, or a
	// bus or signing rejection reason).
	Reason string `json:"reason"`
}

func (p *Problem) Error() string {
	s := fmt.Sprintf("%d %s", p.Status, p.Reason)
	if p.Field != "" {
		s += ": " + p.Field
	}
	if p.Detail != "" {
		s += ": " + p.Detail
	}
	return s
}

// ProblemTypePrefix starts every Problem.Type (a tag URI, RFC 4151: it
// names, it does not resolve).
const ProblemTypePrefix = "tag:truc.vn,2026:problem:"

// Reasons the handler gives itself. Wire constants. Rejections by the
// edge carry the bus and signing reason codes instead.
const (
	ReasonMissingToken     = "missing-token"           // 401: no bearer token
	ReasonInvalidToken     = "invalid-token"           // 401: a token that is not configured, or malformed
	ReasonClientCert       = "client-certificate"      // 401: the token is bound to a client certificate the connection did not present
	ReasonNoWebhooks       = "webhooks-not-configured" // 404: the edge pushes no webhooks
	ReasonBadParameter     = "bad-parameter"           // 400: a header, query or path parameter breaks its rule
	ReasonUnknownParameter = "unknown-parameter"       // 400: a query parameter the endpoint does not take
	ReasonBadJSON          = "bad-json"                // 400: the body is not the JSON object expected
	ReasonUnknownField     = "unknown-field"           // 400: a JSON member the endpoint does not take
	ReasonDuplicateField   = "duplicate-field"         // 400: a JSON member given twice
	ReasonEmptyBody        = "empty-body"              // 400: a package is required
	ReasonInvalid          = "invalid"                 // 422: a JSON member breaks its rule
	ReasonRequired         = "required"                // 422: a required JSON member is missing or empty
	ReasonTooLarge         = "too-large"               // 413: the body is over its cap
	ReasonMediaType        = "unsupported-media-type"  // 415: Content-Type or Content-Encoding not accepted
	ReasonNotFound         = "not-found"               // 404: no such route, or nothing the caller may see with that ID
	ReasonMethod           = "method-not-allowed"      // 405
	ReasonConflict         = "conflict"                // 409
	ReasonUnavailable      = "unavailable"             // 503: the edge could not do it now; retry
	ReasonNotReady         = "not-ready"               // 503 from /readyz
	ReasonInternal         = "internal"                // 500
)

// Conversions from the bus types.

func hexSHA(sum [32]byte) string { return hex.EncodeToString(sum[:]) }

func statusURL(id string) string { return "/v1/documents/" + id }

// itemJSON shows it to c: the deliveries of c's agencies only, and when
// one of them first took it.
func itemJSON(it bus.InboxItem, c *caller) Item {
	rs := it.Recipients
	if rs == nil {
		rs = []string{}
	}
	out := Item{
		ID:         it.ID,
		Seq:        it.Seq,
		Type:       string(it.Type),
		Sender:     it.Sender,
		Recipients: rs,
		Status:     it.StatusCode,
		MessageID:  it.MessageID,
		SHA256:     hexSHA(it.SHA256),
		ReceivedAt: it.ReceivedAt,
		Size:       it.Size,
		Deliveries: []Delivery{},
	}
	for _, organ := range slices.Sorted(maps.Keys(it.Deliveries)) {
		if !c.actsFor(organ) {
			continue
		}
		d := it.Deliveries[organ]
		out.Deliveries = append(out.Deliveries, Delivery{OrganID: organ, TakenAt: d.TakenAt, Status01: d.Status01, Ack: string(d.Ack)})
		if out.TakenAt.IsZero() || d.TakenAt.Before(out.TakenAt) {
			out.TakenAt = d.TakenAt
		}
	}
	if len(it.Deliveries) == 0 {
		// An item taken before deliveries were recorded per agency.
		out.TakenAt = it.TakenAt
	}
	return out
}

func documentJSON(e bus.OutboxEntry) Document {
	m := e.Message
	from, docID, _ := bus.ParseRootKey(m.Key)
	size := e.Size
	if m.Package != nil {
		size = len(m.Package)
	}
	d := Document{DocumentHead: DocumentHead{
		ID:           m.ID,
		Seq:          e.Seq,
		Type:         string(m.Type),
		SHA256:       hexSHA(m.SHA256),
		Size:         size,
		Sender:       m.Sender,
		DocumentFrom: from,
		DocumentID:   docID,
		Recipients:   slices.Clone(m.Recipients),
		InboxID:      e.InboxID,
		CreatedAt:    e.CreatedAt,
		Attempts:     e.Attempts,
		SentAt:       e.SentAt,
		Settled:      !e.Settled.IsZero(),
		SettledAt:    e.Settled,
	},
		Timeline: make([]RecipientTimeline, len(m.Recipients)),
		Receipts: []Receipt{},
	}
	if d.Recipients == nil {
		d.Recipients = []string{}
	}
	if m.Type == bus.TypeStatus {
		d.Status = m.Attrs[bus.AttrStatus]
	}
	d.Final = len(m.Recipients) > 0
	for i, organ := range m.Recipients {
		d.Timeline[i] = recipientTimeline(organ, e.CreatedAt, e.Timeline)
		d.Final = d.Final && d.Timeline[i].Final
	}
	for _, ev := range e.Timeline {
		if len(ev.Receipt) > 0 {
			d.Receipts = append(d.Receipts, Receipt{
				Kind: string(ev.Kind), At: ev.At, Edge: ev.Edge,
				Recipients: slices.Clone(ev.Recipients), Receipt: slices.Clone(ev.Receipt),
			})
		}
	}
	return d
}

// summaryJSON is documentJSON without events and receipts.
func summaryJSON(e bus.OutboxEntry) DocumentSummary {
	d := documentJSON(e)
	s := DocumentSummary{DocumentHead: d.DocumentHead, States: make([]RecipientState, len(d.Timeline))}
	for i, rt := range d.Timeline {
		s.States[i] = rt.RecipientState
	}
	return s
}

// Ranks of the recipient states: a state is replaced only by a higher
// one, so that late receipts do not move a recipient back.
const (
	rankQueued = iota
	rankAccepted
	rankDelivered
	rankStatus
	rankFinal
)

// recipientTimeline derives one recipient's state and timeline from the
// events that name it or name no recipient.
func recipientTimeline(organ string, created time.Time, events []bus.TimelineEvent) RecipientTimeline {
	rt := RecipientTimeline{
		RecipientState: RecipientState{OrganID: organ, State: StateQueued, At: created},
		Statuses:       []StatusReport{},
		Events:         []Event{},
	}
	rank := rankQueued
	set := func(state string, r int, at time.Time) {
		if r > rank || (r == rank && r == rankStatus) {
			rank, rt.State, rt.At = r, state, at
		}
	}
	for _, ev := range events {
		named := slices.Contains(ev.Recipients, organ)
		if !named && len(ev.Recipients) > 0 {
			continue
		}
		rt.Events = append(rt.Events, eventJSON(ev))
		switch ev.Kind {
		case bus.TimelineSubmitted:
			rt.At = ev.At
		case bus.TimelineAccepted:
			if rt.AcceptedAt.IsZero() {
				rt.AcceptedAt = ev.At
			}
			set(StateAccepted, rankAccepted, ev.At)
		case bus.TimelineDelivered:
			if rt.DeliveredAt.IsZero() {
				rt.DeliveredAt = ev.At
			}
			set(StateDelivered, rankDelivered, ev.At)
		case bus.TimelineRejected:
			rt.RejectedAt, rt.Reason, rt.Detail = ev.At, ev.Reason, ev.Detail
			set(StateRejected, rankFinal, ev.At)
		case bus.TimelineRefused:
			rt.RefusedAt, rt.Reason, rt.Detail = ev.At, ev.Reason, ev.Detail
			set(StateRefused, rankFinal, ev.At)
		case bus.TimelineStatus:
			if !named || ev.StatusCode == "" {
				continue
			}
			rt.Status = ev.StatusCode
			rt.Statuses = append(rt.Statuses, StatusReport{Code: ev.StatusCode, At: ev.At, MessageID: ev.MessageID, SHA256: ev.SHA256})
			set(StateStatus, rankStatus, ev.At)
		}
	}
	switch rt.State {
	case StateRejected, StateRefused:
		rt.Final = true
	case StateStatus:
		rt.Final = finalStatus(rt.Status)
	}
	return rt
}

// finalStatus reports whether a recipient's status code ends its handling
// of a document: 02 (refused by the clerk) and 06 (finished). 15 and 16
// answer an update or a recall, after which handling may go on.
func finalStatus(code string) bool { return code == "02" || code == "06" }

func eventJSON(ev bus.TimelineEvent) Event {
	return Event{
		Kind:       string(ev.Kind),
		At:         ev.At,
		SHA256:     ev.SHA256,
		MessageID:  ev.MessageID,
		Recipients: slices.Clone(ev.Recipients),
		Edge:       ev.Edge,
		Status:     ev.StatusCode,
		Reason:     ev.Reason,
		Detail:     ev.Detail,
	}
}
