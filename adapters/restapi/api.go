package restapi

import (
	"encoding/hex"
	"fmt"
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

// Document answers GET /v1/documents/{id}: a message the edge sent for
// the caller's agencies, and what happened to it.
type Document struct {
	ID         string   `json:"id"`
	Type       string   `json:"type"` // "document" or "status"
	SHA256     string   `json:"sha256"`
	Sender     string   `json:"sender"`
	Recipients []string `json:"recipients"`
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
	// Timeline has one entry per recipient, in the order of Recipients.
	Timeline []RecipientTimeline `json:"timeline"`
	// Receipts are the axis receipts that came with timeline events, in
	// arrival order.
	Receipts []Receipt `json:"receipts"`
}

// RecipientTimeline is what happened to a message for one recipient: the
// events that name it, and those that name no recipient (the axis
// accepting or rejecting the whole message).
type RecipientTimeline struct {
	OrganID string `json:"organ_id"`
	// Status is the latest status code the recipient reported, "" if none
	// yet.
	Status string  `json:"status,omitempty"`
	Events []Event `json:"events"`
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
	TakenAt    time.Time `json:"taken_at,omitzero"`
	Size       int       `json:"size"`
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
	ReasonMissingToken     = "missing-token"          // 401: no bearer token
	ReasonInvalidToken     = "invalid-token"          // 401: a token that is not configured, or malformed
	ReasonBadParameter     = "bad-parameter"          // 400: a header, query or path parameter breaks its rule
	ReasonUnknownParameter = "unknown-parameter"      // 400: a query parameter the endpoint does not take
	ReasonBadJSON          = "bad-json"               // 400: the body is not the JSON object expected
	ReasonUnknownField     = "unknown-field"          // 400: a JSON member the endpoint does not take
	ReasonDuplicateField   = "duplicate-field"        // 400: a JSON member given twice
	ReasonEmptyBody        = "empty-body"             // 400: a package is required
	ReasonInvalid          = "invalid"                // 422: a JSON member breaks its rule
	ReasonRequired         = "required"               // 422: a required JSON member is missing or empty
	ReasonTooLarge         = "too-large"              // 413: the body is over its cap
	ReasonMediaType        = "unsupported-media-type" // 415: Content-Type or Content-Encoding not accepted
	ReasonNotFound         = "not-found"              // 404: no such route, or nothing the caller may see with that ID
	ReasonMethod           = "method-not-allowed"     // 405
	ReasonConflict         = "conflict"               // 409
	ReasonUnavailable      = "unavailable"            // 503: the edge could not do it now; retry
	ReasonNotReady         = "not-ready"              // 503 from /readyz
	ReasonInternal         = "internal"               // 500
)

// Conversions from the bus types.

func hexSHA(sum [32]byte) string { return hex.EncodeToString(sum[:]) }

func statusURL(id string) string { return "/v1/documents/" + id }

func itemJSON(it bus.InboxItem) Item {
	rs := it.Recipients
	if rs == nil {
		rs = []string{}
	}
	return Item{
		ID:         it.ID,
		Seq:        it.Seq,
		Type:       string(it.Type),
		Sender:     it.Sender,
		Recipients: rs,
		Status:     it.StatusCode,
		MessageID:  it.MessageID,
		SHA256:     hexSHA(it.SHA256),
		ReceivedAt: it.ReceivedAt,
		TakenAt:    it.TakenAt,
		Size:       it.Size,
	}
}

func documentJSON(e bus.OutboxEntry) Document {
	m := e.Message
	d := Document{
		ID:         m.ID,
		Type:       string(m.Type),
		SHA256:     hexSHA(m.SHA256),
		Sender:     m.Sender,
		Recipients: slices.Clone(m.Recipients),
		InboxID:    e.InboxID,
		CreatedAt:  e.CreatedAt,
		Attempts:   e.Attempts,
		SentAt:     e.SentAt,
		Settled:    !e.Settled.IsZero(),
		SettledAt:  e.Settled,
		Timeline:   make([]RecipientTimeline, len(m.Recipients)),
		Receipts:   []Receipt{},
	}
	if d.Recipients == nil {
		d.Recipients = []string{}
	}
	if m.Type == bus.TypeStatus {
		d.Status = m.Attrs[bus.AttrStatus]
	}
	for i, organ := range m.Recipients {
		rt := RecipientTimeline{OrganID: organ, Events: []Event{}}
		for _, ev := range e.Timeline {
			named := slices.Contains(ev.Recipients, organ)
			if !named && len(ev.Recipients) > 0 {
				continue
			}
			rt.Events = append(rt.Events, eventJSON(ev))
			if named && ev.Kind == bus.TimelineStatus && ev.StatusCode != "" {
				rt.Status = ev.StatusCode
			}
		}
		d.Timeline[i] = rt
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
