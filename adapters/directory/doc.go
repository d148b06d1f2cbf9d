// Package directory is the axis's directory of agencies, edges and signer
// bindings, and every edge's synchronised copy of it. Directory implements
// bus.Directory: which edge serves an OrganId, which edges exist with their
// inbox topics and seal certificates, and which certificates may sign for
// which OrganId (signing.Bindings).
//
// # The directory file
//
// The axis is seeded from a YAML file (configs/directory.example.yaml is a
// commented example). It is read strictly: unknown fields, YAML aliases,
// null required values and a second document are errors, and every error
// names the line, the entry and the field ("line 14: agencies[3].edge:
// unknown edge "x"").
//
//	version: 1
//	agencies:
//	  - organ_id: 000.00.00.G22         # required, edoc.IsOrganID; unique
//	    name: Văn phòng Chính phủ       # required, ≤ 200 characters
//	    parent: ""                      # optional: an agency of this file; no loops
//	    edge: vpcp                      # required: an edge of this file
//	    active: true                    # optional, default true
//	edges:
//	  - id: vpcp                        # required, bus.ValidateEdgeID; unique
//	    inbox_topic: truc.inbox.vpcp    # optional: default Topics.Inbox(id); unique
//	    certificates: |                 # PEM of the edge's seal certificate(s); private keys refused
//	      -----BEGIN CERTIFICATE-----
//	    certificate_files: [vpcp.pem]   # or/and files, relative to the directory file
//	bindings:                           # optional: signing.ParseBindings entries, for agencies of this file
//	  - organ_id: 000.00.00.G22
//	    certificates: [<sha256 fingerprint>]
//
// The bindings section is checked by signing.ParseBindings itself (as a
// bindings file of its own), so its rules and messages are exactly those of
// the bindings format; the directory adds that each bound OrganId is an
// agency.
//
// # Versions, the change log and the seed file
//
// Every change is a version: Apply checks one or more Changes (put-agency,
// put-edge, put-binding, remove-binding) against the current state, records
// them in the ChangeLog as the next version, and only then makes them
// visible; on any error nothing changes. Several changes applied together
// (an onboarding) are one version, so they are atomic in memory, in the log
// and for the edges that sync them.
//
// How a restarted axis combines its file and its log (Open):
//
//   - The change log is the authority. On the first start it is empty: the
//     file is read and recorded as version 1 (one snapshot record holding
//     the whole directory and the file's SHA-256).
//   - On every later start the log is replayed (each record checked again)
//     and the file is not used: OpenResult.SeedChanged tells the caller
//     that the file is not the one recorded, so that `truc axis` can warn
//     that edits to the file are not in effect and that changes go through
//     the admin API. Re-reading the file would silently undo admin changes
//     or fight them; this way a running directory has one history.
//   - To start over from a file, start with an empty change log.
//
// Load reads a file into a directory at version 1 with no log, for tools
// and tests. New gives an empty directory (an edge before its first sync).
//
// # Synchronisation
//
// The directory keeps the last Config.HistoryLimit versions in memory.
// Edges poll the axis's sync API (SyncHandler, GET /v1/directory?since=V)
// with a Syncer: the answer is the versions after V, applied with
// Replicate (which refuses a gap), or, when V is 0 or older than the
// history kept, a full snapshot applied with Reset. An edge's copy can have its own ChangeLog (its directory cache),
// opened with Open and no seed. The sync API also serves the CRLs the axis
// holds, which edges without internet access need.
//
// # Admin API
//
// AdminHandler changes the axis directory over HTTP with bearer tokens
// (compared by SHA-256 in constant time); POST /admin/v1/onboard registers
// an edge, its agencies and the binding of its seal certificate to each of
// them in one version, after calling AdminConfig.OnEdge (the axis creates
// the inbox topic there).
//
// # Edge API
//
// EdgeAPIHandler lets an edge put or deactivate, on the axis, the
// agencies it serves (what a DMS asks with VXP registerAgency and
// deleteAgency): POST /v1/edge/agencies with the sync token and an
// EdgeAgencyRequest signed with the edge's seal key, checked against the
// edge's certificates in the directory. An edge may create agencies and
// change only its own; a new agency's parent must be one of its own, and
// its seal is bound to the agency in the same version. EdgeClient is the
// edge's side.
//
// # Caveats
//
//   - Agencies and edges are never removed, only replaced (an agency that
//     stops is put with Active false), so that the history of past
//     documents keeps resolving; bindings can be removed.
//   - Since and sync answers come from memory; a client further behind
//     than HistoryLimit versions receives the whole directory.
//   - An edge whose copy is ahead of the axis (the axis lost its log) stops
//     following with ErrAxisBehind rather than going back; an operator
//     resets the edge's cache.
//   - The HTTP handlers authenticate but do not rate-limit; put them behind
//     the axis's TLS listener.
//   - Certificates of edges are parsed, not validated: expiry and chain are
//     checked where a signature made with them is verified.
//   - The sync format is strict both ways: an edge refuses an answer with
//     a member or an op it does not know rather than apply part of it. A
//     release that extends Change or Snapshot must reach the edges before
//     the axis uses the extension.
package directory
