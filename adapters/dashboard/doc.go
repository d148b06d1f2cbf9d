// Package dashboard is the central office's view of the exchange, served
// by the axis under /dashboard/: whether letters are flowing, which agency
// is late, and what happened to any one letter.
//
// # Aggregates
//
// An indexer tails the axis transparency log (every leaf is a bus.Event:
// a submission accepted or rejected, a delivery, a status, a rejection
// notice) and keeps, in its own bbolt file (dashboard.db next to the axis
// store), aggregates that it updates as events arrive:
//
//   - counters of the whole exchange, of each agency and of each edge: letters
//     sent, updates, rejections, deliveries, recipients waiting for status 01
//     and for 03, overdue, refused by an edge, declined (02), recalled (13);
//   - per agency and per edge, latency sketches of the time from the axis
//     accepting a letter to the recipient's first 01 and first 03 (fixed
//     log-scale buckets, mergeable, quantiles within 9%);
//   - counts per status code and per rejection reason, per hour and (for the
//     last 48 hours) per minute;
//   - per letter, its header (code and notation, subject, due date: read once
//     from the package in the ledger when its first document is indexed) and
//     each recipient's stage; and search indexes by DocumentId, code and
//     notation, sender, recipient and date.
//
// Queries read only these aggregates (and, for one letter's page, that
// letter's ledger entries), never all letters, so that every page answers
// in well under 200 ms with a million letters (see BENCHMARKS.md).
//
// # What it guarantees
//
//   - Each log leaf is counted exactly once: the indexer commits the counters
//     of a batch of leaves and the index of the next leaf in one transaction,
//     so a crash (kill -9) replays at most the uncommitted batch.
//   - The file is derived data. Open checks that the last leaf it indexed is
//     the log's; a file ahead of the log or from another log is emptied and
//     rebuilt from the start of the log.
//   - A recipient is overdue when it has no 01 by its deadline (SLA01 after
//     the axis accepted the letter, or the end of the letter's DueDate in
//     Vietnam time if that comes first), or has a 01 but no 03 (or later
//     status) by the end of the DueDate, or SLA03 after acceptance for a letter
//     without one. Deadlines are marked as the clock passes them; while the
//     indexer catches up, "now" is the time of the latest event indexed.
//   - Sign-in: users from the configuration with bcrypt hashes; sessions in
//     HttpOnly, SameSite=Strict cookies (Secure over TLS or with
//     SecureCookies); a CSRF token (per session; double-submit for the
//     sign-in itself) on every POST, which must also be JSON and not
//     cross-site; failed sign-ins limited per user name and per address.
//     Viewers see everything; admins may also list and end sessions (the
//     dashboard has no other admin action).
//   - The pages are plain HTML, CSS and JavaScript embedded in the binary,
//     served under a strict Content-Security-Policy; nothing is fetched from
//     elsewhere. Labels are in Vietnamese and English. They update live from
//     a Server-Sent Events stream.
//
// # Routes (mounted at Prefix)
//
//	GET  /dashboard/                 the pages (sign-in required)
//	GET  /dashboard/login            the sign-in page
//	GET  /dashboard/assets/...       scripts, styles, string tables
//	     /dashboard/api/...          the JSON API: see assets/openapi.json,
//	                                 served at /dashboard/api/openapi.json
//
// # Caveats
//
//   - An agency is charged with a rejection only when the rejected package's
//     signature verified (the event names the sender); an unverified one is
//     counted against the edge that published it and in the totals.
//   - Stages follow the first answer: any status 01–06 ends the wait for 01
//     (02 is "declined", 03–06 also end the wait for 03); a recall (13) ends
//     every wait of the letter; a rejection notice ends the wait of the
//     recipients of that edge. A recipient added by an update waits anew.
//   - Deadlines are fixed when a letter is indexed: a change of SLA applies
//     to later letters. Hours and days are UTC in the API (Vietnam has no
//     daylight saving, so an hour is the same hour in Hà Nội); search dates
//     are days in Vietnam time.
//   - Text search is a case-insensitive prefix match with spaces removed,
//     without Unicode normalisation: a notation typed in decomposed form
//     (NFD) does not match one stored precomposed.
//   - Sessions live in memory: restarting the axis signs everyone out. The
//     per-address sign-in limit sees the proxy's address when the axis is
//     behind a reverse proxy.
//   - The file only grows with the log (letters, pairs, indexes are kept for
//     ever; per-minute counters for 48 hours). A first start over a long log
//     indexes it from the beginning, reading each letter's package once.
package dashboard
