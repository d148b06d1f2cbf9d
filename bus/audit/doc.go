// Package audit is the evidence bundle of a letter and its offline
// verifier: what lets any agency or auditor prove, years later and with no
// network, who sent what to whom and when, that each recipient got it and
// what they did with it, and that the axis never dropped, reordered or
// back-dated a record of it.
//
// Build exports a bundle from the axis's ledger and transparency log;
// Encode writes it; Decode reads it; Verify checks it with nothing but the
// keys and roots the auditor trusts. The package is pure: it reads stores
// through small interfaces (Ledger, Checkpoints, Trust) and never touches
// the network or the file system.
//
// # The bundle file
//
// A bundle is one zip archive (stored or deflated entries only):
//
//	manifest.json           {"format":"truc-audit-bundle","version":1,
//	                         "files":[{"name","sha256","size"},...]}: every other file
//	evidence.json           the evidence (below), JSON
//	summary.txt             the summary, Vietnamese then English, UTF-8
//	packages/<sha256>.xml   each document and status package, its exact bytes,
//	                        named by its SHA-256 (up to 16 MiB each at the axis's default)
//
// evidence.json holds: the letter's root key (OrganId/DocumentId) and the
// SHA-256 of the document package the bundle is about; the log part — its
// origin, its verifier keys as the exporter knew them (informational),
// the reference checkpoint (a signed note, with any witness
// cosignatures), the earlier checkpoints (each the first that covered some
// leaf: the checkpoint that leaf's receipt carried) each with its RFC 6962
// consistency proof to the reference checkpoint, and the log's signed
// index of the letter (Index); every leaf about the letter below the
// reference size (the exact bus.Event bytes, base64) with its inclusion
// proof in the reference checkpoint and in its receipt's checkpoint; the
// packages (by SHA-256: a file, or "purged"); the rejection notices (the
// edges' signed notes, or "purged"); the CA certificates of the recorded
// chains (DER, base64, from the axis's trust store); the CRLs the recorded
// verifications relied on (DER, base64, from the axis's CRL archive); and
// the seal certificates of edges that sent notices. Hashes in proofs are
// standard base64, SHA-256s of packages lowercase hex. Decode refuses
// unknown members, trailing data, files the manifest does not list and
// values of the wrong form, each with a *FormatError naming the file and
// member.
//
// # What Verify checks
//
// Each item gets a Verdict; the bundle verifies when every verdict is OK.
//
//   - Every file matches its SHA-256 in the manifest (a failure names the
//     file; the deeper checks below then say what the change broke).
//   - The reference checkpoint is signed by one of Options.AxisKeys under
//     the log's origin (never by a key inside the bundle), and carries at
//     least Options.MinWitnesses cosignatures by distinct
//     Options.WitnessKeys (bus.OpenCosigned).
//   - Each earlier checkpoint is signed by an axis key, of the same log,
//     smaller, and consistent with the reference checkpoint: a failure is
//     reported as a split view (the log showed two histories).
//   - The index is signed by an axis key, is about this letter at the
//     reference size, and lists exactly the bundle's leaves: a leaf left
//     out ("a receipt was dropped"), added or changed fails.
//   - Every leaf is listed by increasing index, has a valid inclusion
//     proof in the reference checkpoint (and in its receipt's checkpoint),
//     decodes as a canonical bus.Event, is not dated after Options.Now, and
//     is not dated more than Options.ClockSkew before the leaf the log
//     holds before it (back-dated or reordered).
//   - Every accepted document and status: its package's bytes hash to the
//     SHA-256 the log records; its XML signature verifies (signing.Verify)
//     as of the verification time the log records, with the bundled
//     certificates and exactly the CRLs the log records (so a certificate
//     expired since, or a CRL stale since, does not matter); the chain
//     built is the recorded chain and the CRLs checked the recorded ones;
//     the verified content is about this letter and says what the event
//     says (sender, recipients, status code). Statuses come from a
//     recipient of the letter, go to its sender, and come after a delivery
//     to that recipient in the log.
//   - Every delivery is of a package accepted earlier in the log (or of a
//     rejection notice forwarded to the sender), for recipients of it, and
//     is the first delivery to that edge.
//   - Every rejection notice is signed by a seal certificate of the edge
//     that chains to the anchors at the notice's time, refuses a package
//     the log shows delivered to that edge before, and says what the
//     event says.
//   - No package or notice is in the bundle that no verified leaf records.
//   - The bundle's document was accepted by the axis.
//   - summary.txt is exactly the summary recomputed from the verified items
//     only, so the human-readable text cannot say more than the evidence.
//
// # What a passing verdict guarantees
//
// Given that the auditor's axis keys are the log's, a bundle that verifies
// proves: the log, at the reference size, holds exactly these leaves about
// the letter (the log signed that), in this order, with these times; the
// log never showed a history inconsistent with the reference checkpoint to
// whoever holds the earlier checkpoints (each leaf's receipt checkpoint);
// each package present is the exact package the log recorded, signed by
// a certificate that chained to the anchor and was not revoked by the CRLs
// in force when the axis verified it; each status and notice is bound to
// the document by its digest and the log. With witness cosignatures
// required, that many independent witnesses saw a history consistent with
// the reference checkpoint.
//
// # Trust anchors
//
// With Options.TrustRoots, every chain must end in one of them (the
// auditor's own copy of the national root). Without, each signature is
// anchored in the bundled root certificate whose SHA-256 the log recorded
// as the chain's end: the log attests which root the axis used, not that
// it is the right one, and the verdict says so. Give roots for any audit
// that matters.
//
// # Exports on an edge
//
// The axis keeps every package for its retention period; an edge keeps
// its own agencies' packages for as long as it keeps its store. An edge
// exports by sending the axis a signed EvidenceRequest (its seal key, as
// for acks and notices): the axis checks that the edge sent or was routed
// an accepted package of the letter and answers with the bundle built
// with BuildConfig.Withhold (every package and notice declared withheld);
// the edge puts in those it holds (Include, IncludeNotice) and writes the
// summary again (Summarize). The log part is the axis's, so an edge's
// bundle proves as much as the axis's, except for the signatures of the
// packages it does not hold (declared withheld, checked as purged ones).
//
// # Witnesses
//
// See bus.Cosign: a witness (an edge) checks each new checkpoint against
// the last it saw and cosigns it with a plain signed-note signature under
// its own name (truc.vn/edge/<edge ID> with its seal key). Build takes the
// cosigned reference checkpoint from BuildConfig.Cosigned.
//
// # Rotating the axis log key
//
// The log key is the axis seal key under the name truc.vn/axis/<OrganId>
// (the log's origin). A checkpoint names its signer by key ID, so old and
// new keys coexist: checkpoints signed before the rotation stay signed by
// the old key, those after by the new one, and the tree is one tree (the
// consistency proof from any old checkpoint to any new one holds). The
// procedure:
//
//  1. Issue the new seal certificate and compute the new log key:
//     truc audit key --name truc.vn/axis/<OrganId> --cert new-seal.pem
//  2. Publish the new key to every edge and auditor next to the old one
//     (edges check receipts against axis.log_key_file: put both keys in it,
//     one per line) before the switch.
//  3. Append the old key (GET /v1/log/key before the switch) to
//     <data_dir>/previous-log-keys on the axis: /v1/log/keys then serves
//     the current key and every previous one, and bundles name them all.
//  4. Point the axis's seal at the new key and restart it. The store keeps
//     the origin (it refuses a signer of another name), verifies the
//     latest checkpoint against the stored tree, and signs from then on
//     with the new key.
//  5. Keep the old public key listed for ever: old receipts and bundles,
//     and the earlier checkpoints of new bundles, verify only with it.
//     Retire the old private key (never sign with it again).
//
// Auditors verify with every key: truc audit verify B --axis-key
// @axis-keys.txt (the output of /v1/log/keys). A bundle exported before
// the rotation verifies with the old key alone; one exported after needs
// both (the new key for the reference checkpoint and the index, the old
// for the earlier checkpoints). TestAuditKeyRotation follows these steps.
//
// # Retention
//
// The axis purges package bytes after its retention period
// (bus.Ledger.Purge); entries, log leaves, checkpoints and evidence stay.
// A bundle exported after a purge declares the package purged: the leaf,
// its proofs, the SHA-256 and the recorded evidence (times, chain
// fingerprints, CRL numbers) still verify, the signature cannot be
// re-checked, and the verdict and the summary say so. Whoever must be able
// to re-check signatures after the retention period keeps the bundle (or
// the package) from before the purge.
//
// # Caveats
//
//   - The log is trusted to have told the truth when it recorded an event
//     (a verification that happened, a delivery that was published); it
//     can lie only by signing the lie, and a split view needs witnesses
//     (or receipt holders comparing checkpoints) to be caught.
//   - A "purged" or "withheld" declaration is the exporter's word: the
//     verdict then says the signature was not re-checked. Acknowledgements of edges are not logged, so "the edge
//     stored it" is not in a bundle; deliveries and statuses are.
//   - The signer's binding to the sender OrganId (the directory's signer
//     bindings at that time) is not re-checked offline; the log records
//     that the axis checked it. Edge seal certificates are checked for
//     chain and validity at the notice's time, not for revocation.
//   - Leaves of the letter that the reference checkpoint does not cover
//     yet (the last second's) are not in the bundle; export again later.
//   - Times are the axis's clock. Back-dating is detected against the
//     order of the log with Options.ClockSkew of tolerance (concurrent
//     deliveries of one package reach the log a few milliseconds out of
//     time order), not against an outside clock.
//   - The axis must archive every CRL before a newer one replaces it in
//     its store (signing.CRLArchive, synced every second by the axis and
//     before each export); a verification that used a CRL replaced within
//     the same second, or before the archive existed, leaves that CRL out
//     of the bundle and the verdict names it.
//   - A bundle is held in memory to be verified (Limits bound it: 64 MiB
//     per file, 1 GiB in all by default).
package audit
