// Package restapi is the edge node's HTTP API for document-management
// software (DMS): send edXML packages (as they are, or built by the edge
// from JSON metadata and files) and follow their delivery recipient by
// recipient, receive incoming documents and statuses, download packages
// and single attachments, acknowledge and answer them, search the
// directory, and administer webhook deliveries. Handler serves it over a
// Backend (the edge, which implements it) and an optional Webhooks (the
// webhook dispatcher); Client calls it, and is what truc send, inbox,
// status and track use. openapi.json (OpenAPI 3.1), served at
// /v1/openapi.json, describes every route, parameter, header, body and
// answer; the contract test validates every request and answer it
// provokes against it with a JSON Schema 2020-12 validator.
//
// # Endpoints
//
//	POST /v1/documents                     an edXML package, or DocumentMetadata (JSON) or metadata + files (multipart) → 202 Submitted
//	GET  /v1/documents                     ?before&limit&sender&recipient&type&since&until&document_id&document_from → DocumentPage, newest first
//	GET  /v1/documents/{id}                a sent message: per-recipient state, steps, statuses, events, receipts
//	GET  /v1/documents/{id}/package        its exact bytes (ETag and X-Truc-Sha256: their SHA-256)
//	GET  /v1/documents/{id}/attachments    its attachments; /{n}: attachment n decoded
//	POST /v1/documents/{id}/recall         status 13 to the document's recipients → 202 Submitted
//	GET  /v1/inbox                         ?after&limit&wait → InboxPage (long poll); items show per-agency Deliveries
//	GET  /v1/inbox/{id}, /{id}/package     the exact package bytes
//	GET  /v1/inbox/{id}/attachments        its attachments; /{n}: attachment n decoded
//	POST /v1/inbox/{id}/ack                the DMS has taken it → 200 Item
//	POST /v1/inbox/{id}/status             {code, description, staff} → 202 Submitted
//	GET  /v1/directory/agencies            ?q&limit&cursor&parent&all: accent-insensitive search
//	GET  /v1/webhooks/deliveries           ?state&after&limit (404 without Webhooks)
//	POST /v1/webhooks/deliveries/{id}/retry
//	GET  /healthz, /readyz                 liveness, readiness (Backend.Ready); no token
//	GET  /v1/openapi.json                  the OpenAPI document; no token
//	GET  /metrics                          the handler given WithMetrics, if any; no token
//
// # What it guarantees
//
//   - Every /v1 endpoint but the document needs "Authorization: Bearer
//     <token>". Tokens are configured by their SHA-256 and compared with
//     every configured hash in constant time; a token is never logged. A
//     missing or wrong token is 401 with WWW-Authenticate: Bearer, and no
//     Backend method is called. A token bound to a client certificate
//     (Token.ClientCertSHA256) is refused, 401 client-certificate, unless
//     the TLS connection presented that certificate and it verified
//     against the configured client CAs.
//   - A token acts for its OrganIds only: the Backend refuses a package
//     whose sender is not one of them; the document routes show only
//     messages one of them sent; the inbox lists, serves, acknowledges and
//     answers only items addressed to one of them, with the deliveries of
//     its own agencies only; the webhook routes show only deliveries for
//     them. Anything else is 404, as if it did not exist.
//   - 202 for a package, a built document, a status or a recall means the
//     Backend wrote it durably to the outbox. An Idempotency-Key (1–255
//     printable ASCII) scoped by token makes a retry answer 202 with the
//     same ID (replayed: true, Idempotent-Replayed: true); the key with
//     another request is 409. A built document is a pure function of the
//     request (attachment ContentIds derive from its SHA-256; the trace
//     timestamp is the promulgation date at 00:00 ICT), so the Backend's
//     byte comparison recognises a retry.
//   - Cursors: the inbox's is the item sequence number (next = the last
//     looked at, past items for other agencies); the documents list's is
//     the outbox Seq, newest first (next = the last looked at, 0 at the
//     end); the directory's is the last OrganId listed. A client following
//     next never sees an entry twice nor misses one. A page scans at most
//     10 batches of max(limit, 100): with few matches it may be short or
//     empty with next set. wait holds an inbox request while there is
//     nothing, up to min(wait, MaxWait).
//   - Package bytes are served exactly as stored, after checking their
//     SHA-256 (a mismatch is 500, never wrong bytes). Attachments are
//     decoded from the stored package with edoc's reader, served with the
//     declared type (application/octet-stream if it is not a media type),
//     a Content-Disposition (RFC 6266 with an ASCII filename and, for
//     other names, filename*: path parts, controls and bidirectional
//     characters removed), nosniff and a sandboxing CSP.
//   - Directory search folds case and Vietnamese diacritics (precomposed
//     through a table of the 134 letters, decomposed by dropping combining
//     marks; đ is d) in the query and in "OrganId name", and requires every
//     word of the query as a substring.
//   - Bad input is refused before the Backend is called, with an RFC 9457
//     problem report naming the field (JSON members as code.number, to[1];
//     parts as metadata, file[0]): 400 for a malformed header, query
//     parameter, path parameter, JSON body (unknown members at any depth,
//     members given twice, members in another case, null, trailing data)
//     or multipart body (truncated, unknown part), 413 over the body cap,
//     415 for another Content-Type or any Content-Encoding, 422 for a
//     value that breaks a rule. Backend errors: *bus.RejectError → 422
//     with its field and reason (for a built document, the package field
//     is translated to the JSON member); bus.ErrNotFound → 404;
//     bus.ErrConflict → 409; context.DeadlineExceeded (or a
//     verification-error rejection) → 503 with Retry-After; anything else
//     → 500 "internal error", logged, never shown.
//
// # Choices where the brief and the standard are silent
//
//   - A replayed submission answers 202, like the first (not 200), so
//     that a DMS retrying after a lost answer sees what it would have seen.
//   - A built document needs its promulgation date (that makes the build
//     repeatable). Its DocumentType is Type 1 with the given type name;
//     agencies' names come from the directory; priority defaults to 0.
//     At most 100 attachments, file names of at most 500 characters, each
//     file non-empty; limits of QCVN 102:2016 where it has one (subject
//     and content 500, code number 11, notation 30, place 50, type name
//     100, document ID 200, each place of to_places 150), 200 characters
//     per signer field.
//   - A recipient's state is the furthest reached (queued < accepted <
//     delivered < status), or rejected/refused, so that a late receipt
//     does not move it back. Final: rejected, refused, status 02 or 06;
//     15 and 16 answer an update or a recall and handling may go on.
//   - A recall (13) is built from the stored document, from its From, with
//     the handler's clock; its Idempotency-Key is checked against the
//     caller's earlier statuses about the same document (the Backend
//     compares bytes, and two builds differ by their timestamp).
//   - A status request's description is at most 2000 characters and may
//     hold line breaks and tabs; staff at most 200 characters on one line;
//     both are trimmed of surrounding spaces. Code 14 is read as 15.
//   - An acknowledgement, a webhook retry and a recall without text take
//     no body, or an empty JSON object.
//   - GET /v1/inbox/{id} stays (the bytes), as /package does.
//   - /metrics is mounted by the handler when New is given WithMetrics,
//     public like /healthz; request metrics can be taken around the
//     handler from http.Request.Pattern, which ServeMux sets.
//   - Statuses about an inbox item, and takings, are posted to the
//     Backend with the caller's OrganIds among the item's recipients.
//   - A token is bound to one certificate by its SHA-256 fingerprint, not
//     to a subject: a CA may issue many certificates with one subject.
//
// # Caveats
//
//   - A package body, and a multipart body with its files, is held in
//     memory whole (up to MaxBodyBytes); size concurrent uploads
//     accordingly. Server sets header, read and write timeouts sized for
//     17 MiB over a slow link; a caller building its own http.Server must
//     set them, and register EndLongPolls on shutdown.
//   - Acknowledging, posting a status, listing and serving attachments
//     read the item or message with its bytes; attachment routes parse
//     the package on every request.
//   - Sequence numbers travel as JSON numbers: exact in JavaScript up to
//     2^53, which an outbox or inbox does not reach.
//   - The recipient filter of GET /v1/documents is applied by the handler
//     (bus.OutboxQuery has none): a DMS looking for a rare recipient pages
//     through short pages.
//   - TLS files are read once, by TLSConfig.Load: restart to rotate them.
//     Without Config.TLS the API is plain HTTP: put it on a trusted
//     network or behind a TLS terminator (which then cannot pass client
//     certificates: bound tokens need the handler to see the TLS
//     connection).
package restapi
