// Package restapi is the edge node's HTTP API for document-management
// software (DMS): send edXML packages and follow their delivery, receive
// incoming documents and statuses, acknowledge them and report how they
// were handled. Handler serves it over a Backend (the edge, which
// implements it); Client calls it, and is what truc send and truc inbox
// use. openapi.json, served at /v1/openapi.json, describes every route,
// parameter, body and answer, and the tests check each answer they
// provoke against it.
//
// # Endpoints
//
//	POST /v1/documents              an edXML package → 202 {id, sha256, status_url, replayed} + Location
//	GET  /v1/documents/{id}         a sent message with its per-recipient timeline and receipts
//	GET  /v1/inbox                  ?after=CURSOR&limit=N&wait=SECONDS → {items, next} (long poll)
//	GET  /v1/inbox/{id}             the exact package bytes (ETag and X-Truc-Sha256: its SHA-256)
//	POST /v1/inbox/{id}/ack         the DMS has taken it → 200 with the item
//	POST /v1/inbox/{id}/status      {code, description, staff} → 202 with the status message
//	GET  /healthz, /readyz          liveness, readiness (Backend.Ready); no token
//	GET  /v1/openapi.json           the OpenAPI 3.1 document; no token
//	GET  /metrics                   the handler given WithMetrics, if any; no token
//
// # What it guarantees
//
//   - Every /v1 endpoint but the document needs "Authorization: Bearer
//     <token>". Tokens are configured by their SHA-256 and compared with
//     every configured hash in constant time; a token is never logged. A
//     missing or wrong token is 401 with WWW-Authenticate: Bearer, and no
//     Backend method is called.
//   - A token acts for its OrganIds only: the Backend refuses a package
//     whose sender is not one of them, GET /v1/documents/{id} shows only
//     documents and statuses one of them sent, and the inbox lists, serves,
//     acknowledges and answers only items addressed to one of them.
//     Anything else is 404, as if it did not exist.
//   - 202 for a package or a status means the Backend wrote it durably to
//     the outbox. An Idempotency-Key (1–255 printable ASCII) scoped by
//     token makes a retry answer 202 with the same ID (replayed: true,
//     Idempotent-Replayed: true); the key with other bytes is 409.
//   - The inbox cursor is the item sequence number. A page's next is the
//     last sequence number looked at, past items for other agencies, so a
//     client following next never sees an item twice nor misses one. A
//     page scans at most 10 batches of max(limit, 100) items; a DMS with
//     few items on a busy edge may get short or empty pages whose next
//     moves on. wait holds the request while there is nothing, up to
//     min(wait, MaxWait), and loops when what arrives is for others.
//   - Package bytes are served exactly as stored, after checking their
//     SHA-256 against the item's (a mismatch is 500, never wrong bytes).
//   - Bad input is refused before the Backend is called, with an RFC 9457
//     problem report naming the field: 400 for a malformed header, query
//     parameter, path ID or JSON body (unknown members, members given
//     twice, members in another case, trailing data), 413 over the body
//     cap, 415 for another Content-Type or any Content-Encoding, 422 for a
//     status request that breaks a rule. Backend errors: *bus.RejectError
//     → 422 with its field and reason; bus.ErrNotFound → 404;
//     bus.ErrConflict → 409; context.DeadlineExceeded (or a
//     verification-error rejection) → 503 with Retry-After; anything else
//     → 500 "internal error", logged, never shown.
//
// # Choices where the brief and the standard are silent
//
//   - A replayed submission answers 202, like the first (not 200), so
//     that a DMS retrying after a lost answer sees what it would have seen.
//   - A status request's description is at most 2000 characters and may
//     hold line breaks and tabs; staff at most 200 characters on one line;
//     both are trimmed of surrounding spaces. Code 14 is read as 15.
//   - An acknowledgement takes no body, or an empty JSON object.
//   - The per-recipient timeline gives each recipient the events that name
//     it and those that name no recipient (the axis's accepted or
//     rejected receipt); its status is the latest status code from an
//     event that names it.
//   - /metrics is mounted by the handler when New is given WithMetrics,
//     public like /healthz; request metrics can be taken around the
//     handler from http.Request.Pattern, which ServeMux sets.
//   - Statuses about an inbox item are posted to the Backend without the
//     caller's OrganIds: the Backend chooses the item's recipient that
//     sends it. The handler has checked that the item concerns the caller.
//
// # Caveats
//
//   - A package body is held in memory whole (up to MaxBodyBytes); size
//     concurrent uploads accordingly. Server sets header, read and write
//     timeouts sized for 17 MiB over a slow link; a caller building its own
//     http.Server must set them, and register EndLongPolls on shutdown.
//   - Acknowledging and posting a status read the item with Backend.Item
//     (bytes included) to check that it concerns the caller.
//   - Sequence numbers travel as JSON numbers: exact in JavaScript up to
//     2^53, which an inbox does not reach.
//   - Nothing here parses or signs a package; the Backend does. No TLS:
//     put the API on a trusted network or behind a TLS terminator until
//     mTLS is added.
package restapi
