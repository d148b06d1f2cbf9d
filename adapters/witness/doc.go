// Package witness makes edges witnesses of the axis's transparency log,
// and gives the axis the endpoint that collects their cosignatures.
//
// A Witness (run by each edge) fetches the log's latest signed checkpoint
// every Config.Every (10 s by default), and checks any checkpoint handed
// to Observe (those that come with axis receipts). For each one it
//
//  1. opens it with the log's keys (Config.LogKeys): a checkpoint not
//     signed by one of them under the log's origin is refused, never
//     cosigned, and counted as an error;
//  2. fetches from the log a consistency proof from the last checkpoint
//     it witnessed (the first one is taken on trust) and checks it with
//     bus.Cosign, which adds the witness's signature line (Config.Signer:
//     the edge's seal key under bus.EdgeNoteName);
//  3. persists the cosigned checkpoint as the new "last witnessed" one
//     (Dir/last.checkpoint, written to a temporary file, fsynced and
//     renamed, then the directory fsynced) BEFORE it publishes anything,
//     so that after a crash it never cosigns a checkpoint that conflicts
//     with one it already cosigned;
//  4. posts the cosigned note to the log (Client.AddCosignature: the
//     axis's POST /v1/log/cosignatures), retrying at later rounds until
//     the log takes it;
//  5. cosigns too the checkpoint that other witnesses cosigned most among
//     those it skipped over (Client.MostCosigned), once a proof shows it
//     is a prefix of the new one. Witnesses fetch at their own times, so
//     on a busy log each would otherwise cosign a different checkpoint;
//     this way cosignatures gather on common checkpoints within about one
//     round, which an auditor who requires several of them can use
//     (GET /v1/log/cosigned?min=K).
//
// A checkpoint smaller than the last one witnessed is not cosigned (a
// witness cosigns forward only) but is still checked: the witness fetches
// a proof that it is a prefix of the last one.
//
// The axis side is Handler: POST /v1/log/cosignatures verifies a cosigned
// note (the log's signature by the log keys, each witness signature by
// the keys the axis knows for that witness, in truc the seal certificates
// of the edges of its directory), checks that the checkpoint is one the
// log signed, and stores the witness lines in its Store;
// GET /v1/log/cosigned serves checkpoints with every cosignature stored:
// by size, the latest with at least K, or the most cosigned in a range.
//
// # Split views
//
// When a checkpoint is not consistent with the last one witnessed (two
// checkpoints of one size with different roots, or a proof that does not
// show one tree extends the other), the log has shown two histories, or
// failed to prove it did not. The witness then
//
//   - writes the evidence: Dir/splitview-<unix seconds>.txt with both
//     signed checkpoints and the proof (see Evidence; ParseEvidence and
//     Evidence.Verify check it again offline);
//   - logs at Error level ("witness: SPLIT VIEW"), counts it (Stats.SplitViews)
//     and sets Stats.Halted, which stays set across restarts;
//   - stops cosigning: Dir/halted exists and names the evidence file.
//     Every later round does nothing and returns ErrHalted.
//
// # Resuming after a split view
//
// Only an operator resumes, after the axis operator has explained the
// evidence (send the evidence file to them and to the auditors). With the
// edge running or stopped:
//
//   - to keep checking against the history this witness had seen (the
//     axis was restored to it), delete Dir/halted;
//   - to accept the axis's present history from now on, delete
//     Dir/last.checkpoint and then Dir/halted: the next checkpoint is
//     taken on trust, as at the first start.
//
// The witness notices the deletion at its next round and resumes; the
// evidence files stay.
//
// # Caveats
//
//   - The first checkpoint (and the first after last.checkpoint was
//     deleted) is taken on trust: a witness only proves that what it saw
//     later extends it.
//   - A proof that does not verify is treated as a split view even when
//     the two checkpoints have different sizes, although then it is
//     conclusive only once the log fails to give a valid proof between
//     the two sizes (Evidence.Verify reports which case it is): an honest
//     log can always prove consistency.
//   - last.checkpoint is read back without checking the log's signature
//     (the witness checked it before writing it), so that a rotation of
//     the log key does not stop the witness; protect the data directory.
//   - A cosignature that cannot be posted is not queued beyond the last
//     one: only the latest cosigned checkpoint is retried, at each round,
//     and not at all once the axis refused it for good (a 4xx answer
//     other than 408 and 429).
//   - The witness's metrics are read from Stats; this package imports no
//     metrics library.
package witness
