// Package bus is the vocabulary every part of truc speaks when it moves an
// edXML package between an edge and the axis: the Message (routing header,
// the exact package bytes and their SHA-256), the names of the topics it
// travels on, and the small interfaces the bus needs from the outside world,
// starting with Transport. It imports no adapter; adapters implement its
// interfaces and prove it by running the conformance suites in bus/bustest.
//
// # Messages
//
// A Message carries the exact bytes of a signed package (Package) and the
// routing data the bus needs before it has verified them: the type, the
// root-document Key that keeps a letter and all its statuses in one ordered
// stream, the sender and recipient OrganIds, the message ID and the SHA-256
// of Package. Validate checks every field against a written rule and names
// the field it rejects. On the wire the routing data travels as record
// headers (WireHeaders, DecodeMessage) and the package bytes as the record
// value, never re-serialised.
//
// # Delivery guarantees
//
// A Transport delivers at least once, in order per partition, and commits a
// consumer's position only after its handler returned nil for that message
// and every earlier one in the partition. Exactly-once effect is built above
// it, by deduplicating on the SHA-256 of the package (content identity) and
// on the message ID.
//
// # Evidence
//
// The axis records every event (submission accepted or rejected, delivery
// to an edge, each status, each rejection notice) as a leaf of an
// append-only RFC 6962 Merkle log (Log) and signs checkpoints of it. An
// Event is the canonical leaf encoding; a Receipt is an event with its leaf
// index, inclusion proof and signed checkpoint. VerifyInclusion,
// VerifyConsistency and Receipt.Verify check them offline, with no access to
// the log: what an auditor runs years later.
//
// # Caveats
//
//   - The routing data in headers is untrusted until the package signature
//     has been verified: the axis and every edge re-derive routing from the
//     verified bytes and treat a disagreement as a rejection.
//   - Ordering is per Key and only as strong as the publishing side makes
//     it: a failed Publish may have written some of its messages, and a
//     retry can write them again after later ones (see Transport).
//   - The wire constants (header names, type strings, topic names) are part
//     of the protocol between processes of different versions: they never
//     change once released; new ones may be added.
package bus
