// Package vxptest holds test doubles for the VXP protocol layer: Memory,
// an in-memory vxp.Backend that routes packages between OrganIds like a
// small edge, and Recorder, a Backend decorator that records every call.
// They exist so that the protocol layer, and later the end-to-end tests,
// can run every SDK operation without the real edge.
//
// # What Memory guarantees
//
// Memory keeps the Backend contract as far as one process can: packages
// are parsed and validated with package edoc and refused with the field
// and rule at fault; the sender must be the from header; the same bytes
// from the same sender give the same DocId (content deduplication); every
// recipient gets its own copy with its own docId; updateStatus moves a
// copy out of the received list and refuses to change done into fail; a
// system sees only what its OrganIds sent or received.
//
// # Caveats
//
// Memory signs nothing, verifies no signature, keeps nothing across a
// restart and routes by OrganId alone (every OrganId is reachable). It is
// a test double, not an edge: the real Backend is the edge node's.
package vxptest
