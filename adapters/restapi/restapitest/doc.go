// Package restapitest holds a test double of restapi.Backend: Memory, an
// in-memory edge with an outbox and an inbox in maps, and NewDocument,
// which builds valid edXML document packages. They exist so that the API,
// its Go client and the truc send / truc inbox commands can be tested
// without a broker and a PKI; the end-to-end tests run the real edge.
//
// # What Memory guarantees
//
// Memory keeps the Backend contract as far as one process can: packages
// are parsed and validated with package edoc and refused with a
// *bus.RejectError naming the field; the sender must be one of the
// caller's OrganIds; Idempotency-Keys are scoped by client and a key
// reused with other bytes is bus.ErrConflict; inbox items are numbered in
// arrival order and WaitInbox wakes up when one arrives; Take records the
// first time and queues one status 01; PostStatus builds a real status
// package with edoc.NewStatus and refuses a second 01 with
// bus.ErrConflict.
//
// # Caveats
//
// Memory signs nothing, verifies nothing, sends nothing and keeps nothing
// across a restart: timeline events appear only when a test adds them
// (AddEvent). It is a test double, not an edge.
package restapitest
