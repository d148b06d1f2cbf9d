// Package folder lets a document-management software (DMS) that can only
// write and read files exchange letters through folders on the edge's
// disk: the drop folder.
//
// # Layout
//
// Under Config.Root:
//
//	outbox/    the DMS drops edXML packages (documents, statuses) and status
//	           request files (<name>.status.json) here
//	sent/      files the edge queued for the axis, each with <name>.json:
//	           message_id, sha256 of the file, package_sha256, queued_at, ...
//	failed/    files the edge refused, each with <name>.error.txt: the
//	           reason code, the field and the rule
//	inbox/     packages for the folder's agencies (InboxName): documents,
//	           statuses, rejection notices
//	.state/    the folder's own: lock, inbox cursor, status-request journal
//
// # What it guarantees
//
//   - A file in outbox/ is taken only once complete: names starting with
//     "." or ending in ".tmp" or ".part" are never touched (write under
//     such a name, then rename), and any other file only once its size
//     and modification time have not changed for Config.Settle. A file
//     that changes while it is read is put back to settle again.
//   - A taken file is submitted to the edge (which validates, signs and
//     durably queues it) with an idempotency key made of its name and the
//     SHA-256 of its bytes, then moved to sent/ beside its record, or to
//     failed/ beside a report naming the reason, the field and the rule
//     (the edge's *bus.RejectError, or the folder's own reason: not a
//     regular file, over Config.MaxFileBytes, unreadable, a malformed
//     status request). The record is fsynced before the move; the move is
//     not (a power loss that undoes it makes the file be taken again). A
//     crash anywhere in between submits the file again and gets the same
//     outbox entry back: it is sent once, and sent/ says replayed.
//   - Passing failures (a verification that cannot run now, a store that
//     does not answer, ctx ending) leave the file in outbox/ and are
//     retried with a back-off growing to a minute: nothing is failed for
//     them.
//   - A name already used in sent/ or failed/ gets "~2", "~3", ... before
//     its extension; a name too long for the sidecar is cut (keeping its
//     extension and a hash of the whole name). Names that are not UTF-8
//     are kept as they are; reports quote them.
//   - Every inbox item addressed to one of Config.OrganIDs is written to
//     inbox/ atomically (a hidden temporary file in inbox/, fsynced, then
//     renamed) under a name that depends only on the item (InboxName).
//     Items are handled a page at a time: once the page's files are
//     durable (inbox/ fsynced), its documents are taken (Edge.Take: status
//     01 from each recipient among OrganIDs) unless Config.NoTake, and only
//     then is the cursor (.state/cursor.json, written the same way) moved
//     past the page. A crash in between writes the same files again with
//     the same bytes, and taking again sends no second 01.
//   - A status request file is posted with Edge.PostStatus, with a
//     journal in .state/status/ so that a crash between the post and the
//     move does not post it twice: a restart looks the status up in the
//     edge's outbox first.
//   - One process at a time: Run holds a lock on .state/lock.
//
// # Caveats
//
//   - A DMS that writes a file in place under its final name must not
//     pause longer than Settle in the middle (nor for longer than the file
//     system's timestamp granularity when Settle is near it): the folder
//     would take a part, which then fails as malformed. Writing under a
//     temporary name and renaming is always safe.
//   - Dropping the same bytes under the same name again, after the first
//     file went to sent/, does not send them again: the record in sent/
//     says replayed. Rename the file (or change it) to send it again.
//   - A DMS that removes a file from inbox/ may see it written again after
//     a crash of the edge (between the write and the cursor): items are
//     named by their ID, so the DMS can tell.
//   - The cursor belongs to the edge's store: after replacing edge.db,
//     remove .state/cursor.json (every item is then written again).
//   - A DMS that replaces a file in outbox/ under the same name while the
//     folder submits it gets the first version sent (recorded in sent/
//     <name>.json) and the second taken in its turn.
//   - Files are submitted oldest first, Config.Workers at a time: the
//     folder does not promise an order between files.
//   - The folder polls (Config.Poll); it does not use inotify.
package folder
