package webhook

import (
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// Envelope is the JSON body of every delivery POST. Its shape is wire-
// stable (fields may be added, never removed or changed); Schema returns
// it as a JSON Schema. The body of a delivery is the same bytes on every
// attempt: only the Webhook-Timestamp, Webhook-Signature and
// Webhook-Attempt headers change.
type Envelope struct {
	// DeliveryID repeats the Delivery-Id header.
	DeliveryID string `json:"delivery_id"`
	// Subscription is the subscription's name.
	Subscription string `json:"subscription"`
	// Event is the item type: "document", "status" or "rejection".
	Event string `json:"event"`
	// Item describes the inbox item.
	Item EnvelopeItem `json:"item"`
	// Package is the item's exact package bytes (standard base64 with
	// padding): a signed edXML document or status package, or for a
	// rejection the signed notice. Its SHA-256 is Item.SHA256.
	Package []byte `json:"package"`
}

// EnvelopeItem is the metadata of an inbox item, as the REST inbox lists
// it (GET /v1/inbox), with its root-document key.
type EnvelopeItem struct {
	// ID is the inbox item ID ("in-" and 32 hex digits), usable with the
	// REST API (GET /v1/inbox/{id}).
	ID string `json:"id"`
	// Seq is the item's place in the edge inbox.
	Seq  uint64 `json:"seq"`
	Type string `json:"type"`
	// Key is the root-document key shared by a letter, its updates and
	// its statuses: deliveries with the same key arrive in Seq order.
	Key       string `json:"key"`
	MessageID string `json:"message_id"`
	Sender    string `json:"sender"`
	// Recipients are the subscription's agencies among the item's
	// recipients.
	Recipients []string `json:"recipients"`
	// Status is the two-digit code of a status item.
	Status     string    `json:"status,omitempty"`
	SHA256     string    `json:"sha256"`
	Size       int       `json:"size"`
	ReceivedAt time.Time `json:"received_at"`
}

//go:embed envelope.schema.json
var schema []byte

// Schema returns the JSON Schema (draft 2020-12) of Envelope, for DMS
// developers.
func Schema() []byte { return append([]byte(nil), schema...) }

// DeliveryID returns the Delivery-Id of inbox item itemID for
// subscription: the name, ".", the item ID.
func DeliveryID(subscription, itemID string) string { return subscription + "." + itemID }

// ParseDeliveryID splits a Delivery-Id into the subscription name and the
// inbox item ID.
func ParseDeliveryID(id string) (subscription, itemID string, ok bool) {
	subscription, itemID, ok = strings.Cut(id, ".")
	if !ok || !IsName(subscription) || !isItemID(itemID) {
		return "", "", false
	}
	return subscription, itemID, true
}

// isItemID reports whether s has the form of bus.InboxID: "in-" and 32
// lowercase hex digits.
func isItemID(s string) bool {
	if len(s) != 3+32 || !strings.HasPrefix(s, "in-") {
		return false
	}
	for i := 3; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// envelopeBody returns the JSON body of delivery d with pkg as its
// package: the same bytes as json.Marshal of the Envelope, built in one
// allocation of the final size. (json.Marshal would encode a 16 MiB
// package into a 22 MiB pooled buffer and copy it out: 22 MiB more at
// peak per attempt, kept in its pool afterwards.)
func envelopeBody(d Delivery, pkg []byte) ([]byte, error) {
	head, err := json.Marshal(struct {
		DeliveryID   string       `json:"delivery_id"`
		Subscription string       `json:"subscription"`
		Event        string       `json:"event"`
		Item         EnvelopeItem `json:"item"`
	}{d.ID, d.Subscription, string(d.Type), envelopeItem(d)})
	if err != nil {
		return nil, err
	}
	const key = `,"package":"`
	head = head[:len(head)-1] // drop the closing brace
	b := make([]byte, 0, len(head)+len(key)+base64.StdEncoding.EncodedLen(len(pkg))+2)
	b = append(b, head...)
	b = append(b, key...)
	b = base64.StdEncoding.AppendEncode(b, pkg)
	return append(b, '"', '}'), nil
}

func envelopeItem(d Delivery) EnvelopeItem {
	return EnvelopeItem{
		ID: d.ItemID, Seq: d.ItemSeq, Type: string(d.Type), Key: d.Key, MessageID: d.MessageID, Sender: d.Sender,
		Recipients: d.Recipients, Status: d.StatusCode, SHA256: d.SHA256, Size: d.Size, ReceivedAt: d.ReceivedAt,
	}
}
