package restapi

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"truc.vn/truc/bus"
)

// Webhooks is what the API needs from the webhook dispatcher (the package
// that pushes inbox items to DMS URLs implements it) to let a DMS see and
// re-trigger its deliveries:
//
//	GET  /v1/webhooks/deliveries?state=&after=&limit=   → WebhookPage
//	POST /v1/webhooks/deliveries/{id}/retry             → 202 WebhookDelivery
//
// It is optional: a Handler made without WithWebhooks answers both routes
// 404 with reason "webhooks-not-configured".
//
// Every method may be called concurrently; ctx is the request's context.
// Errors: an error wrapping bus.ErrNotFound is 404, bus.ErrConflict 409,
// context.DeadlineExceeded 503; anything else is 500 (logged, not shown).
// The handler checks every parameter's syntax before calling, and shows a
// caller only deliveries whose OrganIDs include one of its own.
type Webhooks interface {
	// Deliveries lists up to q.Limit deliveries with Seq > q.After that
	// are in q.State (any state when "") and concern one of q.Organs
	// (never empty: the caller's OrganIds), in Seq order.
	Deliveries(ctx context.Context, q WebhookQuery) ([]WebhookDelivery, error)
	// Delivery returns the delivery with id (bus.ErrNotFound).
	Delivery(ctx context.Context, id string) (WebhookDelivery, error)
	// Retry makes a failed delivery pending again, due now, with the same
	// ID (the Delivery-Id the DMS sees does not change), and returns it.
	// A pending delivery stays pending and becomes due now. A delivered
	// one is bus.ErrConflict; an unknown id bus.ErrNotFound. Retry is
	// durable when it returns nil.
	Retry(ctx context.Context, id string) (WebhookDelivery, error)
}

// WithWebhooks serves the webhook administration routes over w.
func WithWebhooks(w Webhooks) Option { return func(h *Handler) { h.webhooks = w } }

// WebhookState is where a delivery stands. Wire constants.
type WebhookState string

// Webhook delivery states.
const (
	// WebhookPending: not delivered yet; attempts go on (NextAttemptAt).
	WebhookPending WebhookState = "pending"
	// WebhookDelivered: the DMS answered 2xx to an attempt.
	WebhookDelivered WebhookState = "delivered"
	// WebhookFailed: the attempts ran out; nothing more happens until a
	// retry. Later items of the same document wait behind it (deliveries
	// are ordered per document).
	WebhookFailed WebhookState = "failed"
)

// Valid reports whether s is one of the three states.
func (s WebhookState) Valid() bool {
	return s == WebhookPending || s == WebhookDelivered || s == WebhookFailed
}

// WebhookQuery selects deliveries for Webhooks.Deliveries.
type WebhookQuery struct {
	// State selects one state; "" means any.
	State WebhookState
	// After is the cursor: only deliveries with Seq > After.
	After uint64
	// Limit caps the deliveries returned (1 to MaxWebhookLimit).
	Limit int
	// Organs are the OrganIds of the caller: only deliveries whose
	// OrganIDs include one of them.
	Organs []string
	// Client is the caller's token name: only deliveries of subscriptions
	// it administers (WebhookDelivery.Client).
	Client string
}

// WebhookDelivery is the push of one inbox item to one DMS URL, through
// all its attempts. JSON member names are wire constants.
type WebhookDelivery struct {
	// ID is the delivery ID, sent as Delivery-Id on every attempt: 1–255
	// of [A-Za-z0-9._:-], starting with a letter or digit (the message
	// ID rule).
	ID string `json:"id"`
	// Seq orders deliveries (it grows with every new delivery): the
	// cursor of GET /v1/webhooks/deliveries.
	Seq uint64 `json:"seq"`
	// ItemID is the inbox item pushed (GET /v1/inbox/{id}/package).
	ItemID string `json:"item_id"`
	// OrganIDs are the recipient agencies the push is for.
	OrganIDs []string `json:"organ_ids"`
	// Client is the token name that administers the delivery's
	// subscription: only it may see and retry the delivery. "" lets any
	// token acting for one of OrganIDs (a backend without the notion).
	Client string `json:"-"`
	// URL is where it is pushed, without any user information.
	URL   string       `json:"url"`
	State WebhookState `json:"state"`
	// Attempts counts the attempts made so far.
	Attempts int `json:"attempts"`
	// LastError says why the latest attempt failed ("" when it did not):
	// an HTTP status or a transport error, never the DMS's answer body.
	LastError     string    `json:"last_error,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	LastAttemptAt time.Time `json:"last_attempt_at,omitzero"`
	// NextAttemptAt is when the next attempt is due, zero unless pending.
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
	DeliveredAt   time.Time `json:"delivered_at,omitzero"`
}

// WebhookPage answers GET /v1/webhooks/deliveries. Next is the cursor to
// pass as after: the Seq of the last delivery listed, or after itself when
// there was none.
type WebhookPage struct {
	Deliveries []WebhookDelivery `json:"deliveries"`
	Next       uint64            `json:"next"`
}

// Bounds of GET /v1/webhooks/deliveries?limit=.
const (
	DefaultWebhookLimit = 100
	MaxWebhookLimit     = 1000
)

// noWebhooks answers the webhook routes of an edge without webhooks.
func noWebhooks() *Problem {
	return problem(http.StatusNotFound, ReasonNoWebhooks, "", "this edge pushes no webhooks: its DMS pull the inbox")
}

func (h *Handler) webhookDeliveries(w http.ResponseWriter, r *http.Request, c *caller) *Problem {
	q, p := singleQuery(r, "GET /v1/webhooks/deliveries", "state", "after", "limit")
	if p != nil {
		return p
	}
	wq := WebhookQuery{Limit: DefaultWebhookLimit, Organs: slices.Clone(c.organs), Client: c.name}
	if v, ok := q["state"]; ok {
		if wq.State = WebhookState(v); !wq.State.Valid() {
			return problem(http.StatusBadRequest, ReasonBadParameter, "state", "must be pending, delivered or failed")
		}
	}
	if v, ok := q["after"]; ok {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return problem(http.StatusBadRequest, ReasonBadParameter, "after", "must be a cursor: a whole number from 0 (the next of a previous page)")
		}
		wq.After = n
	}
	if v, ok := q["limit"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxWebhookLimit {
			return problem(http.StatusBadRequest, ReasonBadParameter, "limit", "must be a whole number from 1 to %d", MaxWebhookLimit)
		}
		wq.Limit = n
	}
	if h.webhooks == nil {
		return noWebhooks()
	}
	got, err := h.webhooks.Deliveries(r.Context(), wq)
	if err != nil {
		return h.backendProblem(r, "webhook deliveries", c, err, "", "")
	}
	page := WebhookPage{Deliveries: []WebhookDelivery{}, Next: wq.After}
	for _, d := range got {
		if d.Seq <= page.Next || (wq.State != "" && d.State != wq.State) {
			return h.backendProblem(r, "webhook deliveries", c, fmt.Errorf("webhooks listed delivery %s (seq %d, %s) for cursor %d, state %q", d.ID, d.Seq, d.State, page.Next, wq.State), "", "")
		}
		page.Next = d.Seq
		if !slices.ContainsFunc(d.OrganIDs, c.actsFor) || d.Client != "" && d.Client != c.name {
			continue // not the caller's: never shown
		}
		page.Deliveries = append(page.Deliveries, webhookJSON(d))
		if len(page.Deliveries) == wq.Limit {
			break
		}
	}
	h.writeJSON(w, r, http.StatusOK, page)
	return nil
}

func (h *Handler) retryWebhook(w http.ResponseWriter, r *http.Request, c *caller) *Problem {
	id := r.PathValue("id")
	if !isMessageID(id) {
		return problem(http.StatusBadRequest, ReasonBadParameter, "id", "%s is not a delivery ID: 1–%d of [A-Za-z0-9._:-], starting with a letter or digit", quote(id), bus.MaxIDLen)
	}
	body, p := readBody(w, r, maxSmallBody)
	if p != nil {
		return p
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if p := checkMediaType(r, "application/json"); p != nil {
			return p
		}
		var none struct{}
		if p := decodeObject(body, &none); p != nil {
			return p
		}
	}
	if h.webhooks == nil {
		return noWebhooks()
	}
	notFound := "no webhook delivery " + id + " for your agencies"
	d, err := h.webhooks.Delivery(r.Context(), id)
	if err != nil {
		return h.backendProblem(r, "webhook retry", c, err, notFound, "")
	}
	if !slices.ContainsFunc(d.OrganIDs, c.actsFor) || d.Client != "" && d.Client != c.name {
		return problem(http.StatusNotFound, ReasonNotFound, "id", "%s", notFound)
	}
	d, err = h.webhooks.Retry(r.Context(), id)
	if err != nil {
		return h.backendProblem(r, "webhook retry", c, err, notFound, "the delivery was already delivered: there is nothing to retry")
	}
	h.log.Info("restapi webhook retry", "client", c.name, "delivery_id", id, "item_id", d.ItemID)
	h.writeJSON(w, r, http.StatusAccepted, webhookJSON(d))
	return nil
}

// webhookJSON normalises a delivery for JSON: no null list.
func webhookJSON(d WebhookDelivery) WebhookDelivery {
	if d.OrganIDs == nil {
		d.OrganIDs = []string{}
	}
	return d
}
