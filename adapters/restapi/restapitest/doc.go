// Package restapitest holds test doubles of restapi.Backend and
// restapi.Webhooks: Memory, an in-memory edge with an outbox, an inbox and
// a directory in maps; Webhooks, a list of webhook deliveries; and
// NewDocument, which builds valid edXML document packages. They exist so
// that the API, its Go client and the truc send, inbox, status and track
// commands can be tested without a broker and a PKI; the end-to-end tests
// run the real edge.
//
// # What Memory guarantees
//
// Memory keeps the Backend contract as far as one process can: packages
// are parsed and validated with package edoc and refused with a
// *bus.RejectError naming the field; the sender must be one of the
// caller's OrganIds; Idempotency-Keys are scoped by client and a key
// reused with other bytes is bus.ErrConflict; outbox entries get a Seq
// and Outbox filters them as bus.OutboxQuery says, newest first; a status
// 13 goes to the recipients of the accepted documents with its root key,
// as the edge routes it (bus.RejectUnknownDocument when there is none);
// inbox items are numbered in arrival order and WaitInbox wakes up when
// one arrives; Take records, per recipient agency among the caller's,
// the first taking and queues one status 01 from each agency that has
// none; PostStatus builds a real status package with edoc.NewStatus from
// each of those agencies, and refuses a 01 when every one of them sent
// one with bus.ErrConflict. Directory is the agencies given to
// SetAgencies, with a version that grows with every call.
//
// # Caveats
//
// Memory signs nothing, verifies nothing, routes by no directory, sends
// nothing and keeps nothing across a restart: timeline events appear
// only when a test adds them (AddEvent). Webhooks pushes nothing: a test
// adds deliveries in the state it wants. They are test doubles, not an
// edge nor a dispatcher.
package restapitest
