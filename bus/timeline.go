package bus

import (
	"encoding/hex"
	"slices"
	"sort"
	"time"
)

// RecipientState is the delivery state of one document to one recipient
// agency, as the axis ledger knows it, with its full timeline.
type RecipientState struct {
	OrganID string `json:"organ_id"`
	Edge    string `json:"edge,omitempty"`
	// Route is the state of the delivery to the recipient's edge of the
	// latest document package (pending, delivered, acked), "" when the
	// axis routed none to it.
	Route RouteState `json:"route,omitempty"`
	// Status is the latest status code the recipient reported, "" if none.
	Status string        `json:"status,omitempty"`
	Events []LedgerEvent `json:"events"`
	LastAt time.Time     `json:"last_at,omitzero"`
}

// LedgerEvent is one step of a recipient's timeline.
type LedgerEvent struct {
	// Kind: "sent" (the axis accepted a document package listing the
	// recipient), "delivered" (published to its edge), "acked" (its edge
	// stored it), "refused" (its edge sent a rejection notice), "status"
	// (the recipient reported a status), "recall" (the sender asked for
	// the document back).
	Kind      string    `json:"kind"`
	At        time.Time `json:"at"`
	MessageID string    `json:"message_id"`
	SHA256    string    `json:"sha256"`
	DocType   string    `json:"doc_type,omitempty"`
	Status    string    `json:"status,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Leaf      int64     `json:"leaf"`
}

// Timeline derives, from the ledger entries of one root document (as
// Ledger.ByKey returns them), the state and timeline of every recipient.
// Recipients come in the order the first document listed them.
func Timeline(entries []Entry) []RecipientState {
	var order []string
	byOrgan := map[string]*RecipientState{}
	get := func(organ string) *RecipientState {
		r, ok := byOrgan[organ]
		if !ok {
			r = &RecipientState{OrganID: organ}
			byOrgan[organ] = r
			order = append(order, organ)
		}
		return r
	}
	add := func(r *RecipientState, ev LedgerEvent) {
		r.Events = append(r.Events, ev)
		if ev.At.After(r.LastAt) {
			r.LastAt = ev.At
		}
	}
	for _, e := range entries {
		if !e.Accepted() {
			continue
		}
		sha := hex.EncodeToString(e.SHA256[:])
		switch e.Type {
		case TypeDocument:
			for _, organ := range e.Recipients {
				r := get(organ)
				add(r, LedgerEvent{Kind: "sent", At: e.At, MessageID: e.MessageID, SHA256: sha, DocType: e.DocType, Leaf: e.Leaf})
			}
			for _, rt := range e.Routes {
				for _, organ := range rt.Recipients {
					r := get(organ)
					r.Edge, r.Route = rt.Edge, rt.State
					if rt.State != RoutePending {
						add(r, LedgerEvent{Kind: "delivered", At: rt.SentAt, MessageID: e.MessageID, SHA256: sha, Leaf: rt.Leaf})
					}
					switch {
					case rt.State == RouteAcked && rt.Rejected != "":
						add(r, LedgerEvent{Kind: "refused", At: rt.AckedAt, MessageID: e.MessageID, SHA256: sha, Reason: rt.Rejected, Leaf: -1})
					case rt.State == RouteAcked:
						add(r, LedgerEvent{Kind: "acked", At: rt.AckedAt, MessageID: e.MessageID, SHA256: sha, Leaf: -1})
					}
				}
			}
		case TypeStatus:
			if e.StatusCode == "13" {
				for _, organ := range e.Recipients {
					add(get(organ), LedgerEvent{Kind: "recall", At: e.At, MessageID: e.MessageID, SHA256: sha, Status: e.StatusCode, Leaf: e.Leaf})
				}
				continue
			}
			r := get(e.Sender)
			r.Status = e.StatusCode
			add(r, LedgerEvent{Kind: "status", At: e.At, MessageID: e.MessageID, SHA256: sha, Status: e.StatusCode, Leaf: e.Leaf})
		}
	}
	out := make([]RecipientState, 0, len(order))
	for _, organ := range order {
		r := byOrgan[organ]
		sort.SliceStable(r.Events, func(i, j int) bool { return r.Events[i].At.Before(r.Events[j].At) })
		out = append(out, *r)
	}
	return slices.Clip(out)
}
