// Package webhook pushes an edge's inbox to its DMS: every document, status
// and rejection notice addressed to a subscription's agencies is POSTed to
// the subscription's URL as a signed JSON envelope, retried with back-off
// until the receiver answers 2xx, in order per document.
//
// A Dispatcher reads the edge inbox through Source (*bus.Edge implements
// it), keeps its own state in one bbolt file (webhooks.db in the edge data
// directory), and offers the admin operations the REST API exposes
// (Deliveries, Delivery, Retry).
//
// # What it guarantees
//
//   - At least once, across crashes: for each subscription a cursor (the
//     last inbox Seq looked at) and the queue of deliveries are written in
//     one fsynced transaction, so a crash (kill -9) neither skips an item
//     nor enqueues one twice. A delivery is marked delivered only after the
//     2xx (and the take, below); a crash in between repeats the POST.
//   - A stable Delivery-Id: "<subscription>.<inbox item ID>", the same on
//     every attempt, after a restart and after Retry. The receiver drops a
//     repeat by it (DESIGN.md invariant I2). The body is the same bytes on
//     every attempt too.
//   - Ordered per document: deliveries with the same root-document key
//     (bus.InboxItem.Key: a letter, its updates and its statuses) go out in
//     inbox Seq order, each only after the previous one was delivered. A
//     failing delivery blocks only its own document; other documents go on,
//     up to Config.Concurrency attempts at once over all subscriptions.
//   - Retries: a non-2xx answer, a transport error or no answer within
//     Subscription.Timeout is retried after Backoff (exponential, Base ×
//     2^(n-1) capped at Max, with jitter: half of it fixed, half random).
//     After MaxAttempts the delivery is failed, its document blocked, and
//     it is listed as failed until Retry puts it back to pending with its
//     attempts reset.
//   - Taking: after a 2xx the item is taken for the subscription's agencies
//     (Source.Take; for a document the edge then sends status 01), unless
//     Subscription.KeepUntaken. A failed take counts as a failed attempt, so
//     the item is posted again and taken then: never marked delivered
//     untaken.
//
// # The request
//
//	POST <url>
//	Content-Type: application/json
//	Delivery-Id: dms-hanoi.in-3f2a…(32 hex)
//	Webhook-Timestamp: 1795861200
//	Webhook-Signature: sha256=<64 hex>
//	Webhook-Attempt: 1
//
//	{"delivery_id":"dms-hanoi.in-3f2a…","subscription":"dms-hanoi","event":"document",
//	 "item":{"id":"in-3f2a…","seq":42,"type":"document","key":"…","message_id":"…",
//	         "sender":"000.00.00.G22","recipients":["000.00.00.H26"],"sha256":"…",
//	         "size":18231,"received_at":"2026-11-22T09:40:00Z"},
//	 "package":"<base64 of the exact package bytes>"}
//
// The signed string is exactly the Webhook-Timestamp value (decimal Unix
// seconds, as sent), one "." and the raw body bytes; the signature is the
// lowercase hex HMAC-SHA256 of it under the subscription secret, after
// "sha256=". A receiver recomputes it over the bytes it read (before any
// JSON parsing), compares in constant time, refuses a timestamp more than
// a few minutes from its clock (Verify does all three, DefaultTolerance 5
// minutes), then drops a Delivery-Id it has already stored. Several
// comma-separated values may appear in Webhook-Signature in a later
// release (secret rotation): accept if one matches. Schema returns the
// JSON Schema of the body; Envelope is its Go form.
//
// The package travels inline, base64 in the body, not as a URL to fetch:
// a 2xx then means the DMS holds the exact signed bytes, covered by the
// HMAC, with no second credential, no path back to the edge and no window
// in which the item could be purged between the push and the fetch. The
// cost is a body 4/3 the package size (a 16 MiB package makes about 22 MiB)
// and that much memory per attempt in flight; the item ID in the envelope
// still lets a DMS use the REST API for anything else.
//
// # Caveats
//
//   - Deduplication is the receiver's job: at least once means a repeat
//     after a crash, after a take that failed, or after a 2xx that was lost
//     on the way back. Keep Delivery-Ids for longer than MaxAttempts of
//     back-off plus any manual retry.
//   - A new subscription starts at the oldest item still in the inbox; a
//     renamed one is a new one (new Delivery-Ids, everything delivered
//     again). A subscription removed from the config keeps its state in
//     the file, untouched, until it comes back.
//   - Deliveries behind a failed one stay pending (not failed) until it is
//     retried: list failed ones to find what blocks a document.
//   - While a receiver is down, every document with something queued
//     retries on its own schedule: with many documents that is many
//     requests per back-off period, bounded by Concurrency.
//   - When the item has left the edge inbox before it was delivered, the
//     delivery fails at once; Retry cannot mend that.
//   - Memory: each attempt in flight holds its package and its envelope
//     (about 2.4 × the package size); Concurrency bounds how many.
//   - Every state change is fsynced before it counts (outcomes of
//     concurrent attempts share one transaction), and a taken item is
//     another fsynced write in the edge store: deliveries per second are
//     bounded by the disk (see BENCHMARKS.md), enough for an edge's inbox,
//     not a message broker. The state file is for one process at a time.
//   - The package imports bbolt directly for its own file rather than
//     going through boltstore: the queue is the dispatcher's state, not
//     the edge's, and lives and dies with the webhooks section.
//   - It connects directly (proxy environment variables are not read);
//     set Config.Transport for a proxy. Redirects are not followed.
package webhook
