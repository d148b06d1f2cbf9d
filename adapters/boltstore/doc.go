// Package boltstore keeps truc's durable state in one bbolt file: on the
// axis the ledger (dedup table, per-route delivery state, package store,
// due index), the transparency log and the directory change log (Store.Ledger,
// Store.Log, Store.DirectoryLog); on an edge the outbox with its timelines,
// the inbox and the directory copy (Store.Edge, Store.DirectoryLog). (The
// webhook dispatcher and the dashboard keep their own bbolt files, with
// cursors over this store's inbox and log.)
//
// # What it guarantees
//
//   - Open refuses a file written with another schema version (ErrSchema)
//     or by another program (ErrNotStore), and fails fast with ErrInUse
//     when another process holds the file (Config.LockTimeout) instead of
//     hanging. A new file is initialised with SchemaVersion.
//   - Every write is durable when the call returns: bbolt commits with two
//     fdatasyncs (pages, then meta). Writes from concurrent callers are
//     batched by one writer goroutine into one transaction (up to
//     Config.MaxBatch requests), so the fsync cost is shared: a lone
//     caller never waits for company, and a batch forms from whatever
//     arrived while the previous commit was syncing. bbolt's DB.Batch is
//     not used: its default 10 ms delay caps a few writers at ~90
//     commits/s (see the project's signing-stack notes, §5).
//   - Log is a bus.Log (it passes bustest.TestLog): an RFC 6962 Merkle
//     log whose Append is durable on return and atomic per call, and
//     whose SignCheckpoint never signs a tree that does not reproduce the
//     latest checkpoint's root. A crash (kill -9) between Append and the
//     next checkpoint loses nothing: the next checkpoint covers those
//     leaves and is consistent with the earlier ones. Check recomputes
//     the whole tree from the leaves.
//   - Stores of this package that record axis events append their log
//     leaves inside their own transaction (appendLeavesTx), so that the
//     event and its leaf are durable together (invariant I5).
//
// # File layout (schema 1)
//
// All integer keys are 8-byte big-endian, so that keys sort as numbers.
//
//	meta              "format" → "truc.vn/boltstore"; "schema" → uint32 BE (1);
//	                  "log.size" → uint64 BE number of leaves
//	log.leaves        leaf index → leaf bytes
//	log.hashes        tlog stored-hash index (tlog.StoredHashIndex) → 32-byte hash
//	log.checkpoints   tree size → uint64 BE Unix nanoseconds signed at || signed note
//	dir.changes       directory version → change record (JSON)
//	ledger.*          the axis ledger: entries by SHA-256, indexes by root key,
//	                  packages and their record times, the due index (see ledger.go)
//	edge.*            the edge outbox, inbox and timelines (see edge.go)
//
// Every checkpoint ever signed is kept: auditors need consistency proofs
// from the old checkpoints they hold.
//
// # Caveats
//
//   - Commit functions run on the writer goroutine and may run more than
//     once per commit (a failing request rolls its batch back and the rest
//     are run again); they must only touch the transaction.
//   - The file never shrinks (bbolt reuses freed pages but does not give
//     them back); purge in small transactions over time-ordered keys and
//     compact offline.
//   - A long read (Check on a large log, a backup) pins old pages while it
//     runs and grows the file; Check reads in chunks of 4096 leaves for
//     that reason.
//   - Durability is only as good as the disk's fsync: a disk or hypervisor
//     that acknowledges fdatasync without persisting loses acknowledged
//     writes on power loss, whatever this package does.
//   - The store is for one process at a time (bbolt takes an exclusive
//     file lock). Axis scale-out keeps one store per partition owner.
package boltstore
