package restapi

import (
	"context"

	"truc.vn/truc/bus"
)

// Backend is what the API needs from the edge node (bus.Edge implements
// it). The handler has authenticated the caller and checked every
// parameter's syntax before it calls a method; it also checks, before and
// after, that what a caller sees concerns one of its OrganIds.
//
// Every method may be called concurrently. ctx is the request's context:
// a Backend stops and returns its error when it ends. A method that changes
// state does all of it or nothing of it before returning an error.
//
// Errors: a *bus.RejectError is answered 422 with its Field, Reason and
// Detail (except Reason bus.RejectVerificationError, answered 503: the
// edge could not verify now, the client did nothing wrong); an error
// wrapping bus.ErrNotFound is 404, bus.ErrConflict 409,
// context.DeadlineExceeded 503. Anything else is 500 with a generic
// detail; the error itself is logged, never shown.
type Backend interface {
	// Submit signs (if needed) and durably queues an edXML package from
	// client on behalf of one of organs (the OrganIds the client may act
	// for; the package's From must be one of them, else a *bus.RejectError
	// with Field "From/OrganId"). It returns the outbox entry; created is
	// false when the idempotency key was seen (same bytes), and the API
	// then answers 202 with the same ID as the first time. A reused key
	// with other bytes is bus.ErrConflict. The entry is durable when
	// Submit returns nil: the API answers 202 only then.
	Submit(ctx context.Context, client string, organs []string, pkg []byte, idempotencyKey string) (e bus.OutboxEntry, created bool, err error)
	// Document returns a sent entry with its package bytes and timeline
	// (bus.ErrNotFound).
	Document(ctx context.Context, id string) (bus.OutboxEntry, error)
	// Outbox lists outbox entries matching q, newest first (Seq
	// descending), without their package bytes (Size says how large) but
	// with their timelines. The handler always sets q.Senders to OrganIds
	// of the caller and q.Limit from 1 to a few thousand.
	Outbox(ctx context.Context, q bus.OutboxQuery) ([]bus.OutboxEntry, error)
	// Inbox lists up to limit items with Seq > after, in Seq order.
	Inbox(ctx context.Context, after uint64, limit int) ([]bus.InboxItem, error)
	// WaitInbox blocks until an item with Seq > after exists (nil) or ctx
	// ends (ctx.Err()).
	WaitInbox(ctx context.Context, after uint64) error
	// Item returns an inbox item and its exact package bytes
	// (bus.ErrNotFound).
	Item(ctx context.Context, id string) (bus.InboxItem, []byte, error)
	// Take records that the DMS of organs (the caller's OrganIds among the
	// item's recipients, never empty) has taken the item, sends one 01
	// per such agency that has none yet (unless the edge's DMS sends its
	// own), and returns the item with its Deliveries. Taking twice is not
	// an error; the first time is kept.
	Take(ctx context.Context, id string, organs []string) (bus.InboxItem, error)
	// PostStatus builds, signs and queues a status package about inbox
	// item id from one of organs (the caller's OrganIds among the item's
	// recipients) (code: two digits, allowed codes depend on direction;
	// *bus.RejectError with Field "code" when not allowed; bus.ErrConflict
	// for a second 01).
	//
	// client and idempotencyKey ("" for none) make a retry safe: the same
	// key for the same request returns the first result; for another
	// request it is bus.ErrConflict.
	PostStatus(ctx context.Context, client, idempotencyKey, id string, organs []string, code, description, staff string) (bus.OutboxEntry, error)
	// Directory is the directory the edge routes with (its Agencies feed
	// GET /v1/directory/agencies and the names of built documents). It
	// may change between calls; Version tells when.
	Directory() bus.Directory
	// Ready reports whether the edge can accept work (broker reachable,
	// store open).
	Ready(ctx context.Context) error
}
