// Package edoc reads, writes and validates edXML packages, the format of
// QCVN 102:2016 in which Vietnamese agencies exchange official documents
// and the statuses of their handling. It is pure: bytes in, values out; no
// keys, no network, no files, no logging.
//
// A Package is either a document (KindDocument: a MessageHeader, a
// TraceHeaderList with its misspelt Bussiness block, a manifest and
// base64 attachments) or a status (KindStatus: a StatusHeader answering a
// document). Parse, ParseReader and FromElement read one; Validate lists
// what is wrong with it; WriteTo writes it in the official layout;
// NewStatus answers a document with a status.
//
// # What reading guarantees
//
// All input goes through ReadTree, which rejects DOCTYPE and every other
// markup declaration (so no entity is ever declared, let alone expanded),
// several roots, text outside the root, duplicate attributes, encodings
// other than UTF-8 and invalid UTF-8, and caps size, depth, element and
// attribute counts (Limits; 16 MiB by default), counting attributes before
// the XML decoder builds them. It reads at most Limits.MaxBytes+1 bytes
// from its reader whatever the reader holds.
//
// Elements are matched by namespace URI (the QCVN namespace, or none for
// tolerance) and local name: never by prefix, never by order. Unknown
// elements are ignored. Bussiness and Business are both accepted. An
// element that may appear once but appears twice, or a text field that
// contains an element, is a *ParseError rather than a guess, because two
// readers could otherwise see different values in the same signed bytes.
// For the same reason the text of an element is its character data only:
// a comment splitting a value (000.00.00.G22<!---->X) reads as the
// concatenation, which is what exclusive canonicalisation signs.
//
// Values are kept as written. Nothing about a value makes reading fail: a
// bad date, an unknown status code or a malformed OrganId is a Problem
// that Validate reports, with the field's path, a stable rule name and a
// severity. DocumentId is opaque and never parsed.
//
// Attachments are not decoded when read: a parsed Attachment keeps its
// base64 text (the one copy, shared with the XML tree) and decodes it as a
// stream when opened, hashed (Digest) or checked (IsZIP, Validate).
//
// # What writing guarantees
//
// WriteTo writes the layout the official SDK writes: root edXML with the
// QCVN namespace as default, an edXML-prefixed envelope, header and body in
// the standard element order, AttachmentEncoded beside the envelope and
// base64 without line breaks. It checks every text value first (UTF-8,
// characters allowed by XML 1.0, no leading or trailing whitespace, which
// Parse would trim), so that a *BuildError means nothing was written, and streams attachments without holding them twice.
//
// # Caveats
//
// A round trip (read, WriteTo, read) keeps every value this package models
// but drops what it does not: unknown elements, OtherInfo's ReplyFors and
// ReferenceCodes (whose structure no source documents), attributes other
// than TraceHeaderList's id and version, comments, and any signature.
// WriteTo never writes a Signature: the legacy QCVN-namespace block of the
// official SDK holds placeholders, and any real signature would no longer
// match the rewritten bytes; package signing adds a fresh one. Never
// rewrite a signed package you forward: pass its bytes on unchanged.
//
// Parse reads only the Signature's kind (none, legacy, XML-DSig), never
// its content: it checks no signature. Read a signed package from the
// element that signature verification returns (FromElement), not from the
// raw bytes, so that only signed content is used.
//
// The rules Validate applies come from the official SDK's samples and
// code and from hub validators in use, not from the full text of QCVN
// 102:2016, which was not available; lengths in particular are soft
// limits (spec §2.3, §8). OrganIds are checked against the lenient
// grammar (an error when broken) and the strict 13-character form (only a
// warning since amendment 1:2022).
//
// Memory: reading a package made mostly of one large attachment allocates
// about 3.5 bytes per input byte (the XML decoder's growing buffer, then
// the one copy of the text the package keeps); inputs made of many small
// elements cost more per byte but are capped by Limits.MaxElements (about
// 250 bytes per element). Budget concurrent reads with Limits.MaxBytes
// accordingly. See BENCHMARKS.md.
package edoc
