package restapitest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"truc.vn/truc/adapters/restapi"
	"truc.vn/truc/bus"
)

// Webhooks is an in-memory restapi.Webhooks: a list of deliveries that a
// test adds and moves between states, keeping the interface's contract
// (Seq order, the state filter, the organ filter, Retry's rules). It
// pushes nothing. The zero value is ready to use; it is safe for
// concurrent use.
type Webhooks struct {
	mu         sync.Mutex
	deliveries []restapi.WebhookDelivery // in Seq order
	now        func() time.Time
}

var _ restapi.Webhooks = (*Webhooks)(nil)

// Add records a delivery of item to url for organs, in state (with
// attempts and lastError as given), and returns it with its ID and Seq.
func (w *Webhooks) Add(item, url string, organs []string, state restapi.WebhookState, attempts int, lastError string) restapi.WebhookDelivery {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.clock()
	seq := uint64(len(w.deliveries) + 1)
	d := restapi.WebhookDelivery{
		ID: fmt.Sprintf("whd-%06d", seq), Seq: seq, ItemID: item, OrganIDs: slices.Clone(organs), URL: url,
		State: state, Attempts: attempts, LastError: lastError, CreatedAt: now,
	}
	if attempts > 0 {
		d.LastAttemptAt = now
	}
	switch state {
	case restapi.WebhookPending:
		d.NextAttemptAt = now.Add(time.Minute)
	case restapi.WebhookDelivered:
		d.DeliveredAt = now
	}
	w.deliveries = append(w.deliveries, d)
	return d
}

func (w *Webhooks) clock() time.Time {
	if w.now != nil {
		return w.now()
	}
	return time.Now()
}

// Deliveries implements restapi.Webhooks.
func (w *Webhooks) Deliveries(ctx context.Context, q restapi.WebhookQuery) ([]restapi.WebhookDelivery, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []restapi.WebhookDelivery
	for _, d := range w.deliveries {
		if len(out) == q.Limit {
			break
		}
		if d.Seq <= q.After || (q.State != "" && d.State != q.State) || !slices.ContainsFunc(d.OrganIDs, func(o string) bool { return slices.Contains(q.Organs, o) }) {
			continue
		}
		out = append(out, cloneDelivery(d))
	}
	return out, nil
}

// Delivery implements restapi.Webhooks.
func (w *Webhooks) Delivery(ctx context.Context, id string) (restapi.WebhookDelivery, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, d := range w.deliveries {
		if d.ID == id {
			return cloneDelivery(d), nil
		}
	}
	return restapi.WebhookDelivery{}, fmt.Errorf("webhook delivery %s: %w", id, bus.ErrNotFound)
}

// Retry implements restapi.Webhooks.
func (w *Webhooks) Retry(ctx context.Context, id string) (restapi.WebhookDelivery, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := range w.deliveries {
		d := &w.deliveries[i]
		if d.ID != id {
			continue
		}
		if d.State == restapi.WebhookDelivered {
			return restapi.WebhookDelivery{}, fmt.Errorf("webhook delivery %s was delivered: %w", id, bus.ErrConflict)
		}
		d.State, d.NextAttemptAt = restapi.WebhookPending, w.clock()
		return cloneDelivery(*d), nil
	}
	return restapi.WebhookDelivery{}, fmt.Errorf("webhook delivery %s: %w", id, bus.ErrNotFound)
}

func cloneDelivery(d restapi.WebhookDelivery) restapi.WebhookDelivery {
	d.OrganIDs = slices.Clone(d.OrganIDs)
	return d
}
