package bus

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Log is the axis's append-only transparency log: every axis event (see
// Event) is a leaf of an RFC 6962 Merkle tree (golang.org/x/mod/sumdb/tlog
// hashing), and the axis signs checkpoints of the tree (c2sp.org/
// tlog-checkpoint, a signed note) so that an auditor holding a receipt
// and a checkpoint can prove, offline, that the event is in the log and
// that the log never rewrote its past. Every implementation passes
// bustest.TestLog. All methods are safe for concurrent use.
//
// Indexes count from 0; a tree of size n holds leaves 0…n-1. A method
// given an index or size outside the log returns an error wrapping
// ErrOutOfRange and changes nothing.
type Log interface {
	// Append adds leaves at the end of the log, in the order given, and
	// returns the index of the first. It returns only once the leaves are
	// durable (on disk, fsynced): a crash after Append returned never
	// loses them. The leaves of one call are appended atomically (a crash
	// leaves all or none of them) and contiguously (leaves of calls
	// running at the same time never interleave with them).
	//
	// Each leaf must be 1–MaxLeafSize bytes and at least one leaf must be
	// given, or Append returns an error wrapping ErrInvalidLeaf and
	// appends nothing. If ctx is done before the write began, Append
	// returns ctx's error and appends nothing; once the write has begun it
	// waits for the outcome.
	//
	// A crash between Append and the next checkpoint loses nothing: the
	// leaves stay in the log, the next checkpoint covers them, and it is
	// consistent with every checkpoint signed before the crash.
	Append(ctx context.Context, leaves ...[]byte) (first int64, err error)

	// Size returns the number of leaves, including those not yet covered
	// by a checkpoint.
	Size(ctx context.Context) (int64, error)

	// Leaf returns a copy of the leaf at index.
	Leaf(ctx context.Context, index int64) ([]byte, error)

	// Checkpoint returns the latest signed checkpoint, or an error
	// wrapping ErrNoCheckpoint if none was ever signed. Its size may be
	// smaller than Size.
	Checkpoint(ctx context.Context) (SignedCheckpoint, error)

	// SignCheckpoint signs a checkpoint of the whole tree as it is now, if
	// the tree grew since the latest checkpoint (or none exists yet), keeps
	// it durably, and returns it; otherwise it returns the latest one
	// unchanged. Checkpoints are monotonic: each one's size is at least
	// that of every earlier one, and each is consistent with all earlier
	// ones (the log refuses to sign if its stored tree does not reproduce
	// the latest checkpoint's root). Every checkpoint signed is kept.
	SignCheckpoint(ctx context.Context) (SignedCheckpoint, error)

	// InclusionProof returns the RFC 6962 audit path proving that the leaf
	// at index is in the tree of size treeSize (index < treeSize ≤ Size).
	// VerifyInclusion checks it against a checkpoint of that size.
	InclusionProof(ctx context.Context, index, treeSize int64) ([][32]byte, error)

	// ConsistencyProof returns the RFC 6962 consistency proof that the
	// tree of size oldSize is a prefix of the tree of size newSize (0 ≤
	// oldSize ≤ newSize ≤ Size). The proof is empty when oldSize is 0 or
	// equals newSize. VerifyConsistency checks it between two checkpoints.
	ConsistencyProof(ctx context.Context, oldSize, newSize int64) ([][32]byte, error)
}

// Errors of Log methods, for errors.Is.
var (
	// ErrOutOfRange: an index or tree size outside the log.
	ErrOutOfRange = errors.New("bus: log index or tree size out of range")
	// ErrInvalidLeaf: an empty or oversized leaf, or no leaf at all.
	ErrInvalidLeaf = errors.New("bus: invalid log leaf")
	// ErrNoCheckpoint: the log has never signed a checkpoint.
	ErrNoCheckpoint = errors.New("bus: no checkpoint signed yet")
)

// Limits of the transparency log formats. They are part of the wire
// contract: a value outside them is refused by every process.
const (
	MaxLeafSize            = 1 << 20 // bytes in a leaf (an encoded Event)
	MaxCheckpointTextLen   = 4 << 10 // bytes in a checkpoint's text
	MaxSignedCheckpointLen = 64 << 10
	MaxOriginLen           = 255 // bytes in a log origin
	MaxProofLen            = 128 // hashes in an inclusion or consistency proof
)

// Reasons evidence (a checkpoint, a proof, a receipt, an event) is
// refused, in addition to the message Reasons (missing, invalid, too-large,
// unsupported-version). Stable wire values.
const (
	ReasonUnknownKey    Reason = "unknown-key"    // a checkpoint not signed by any trusted key of its log
	ReasonBadSignature  Reason = "bad-signature"  // a signature by a trusted key that does not verify
	ReasonProofMismatch Reason = "proof-mismatch" // a proof that does not lead to the checkpoint's root hash
	ReasonInconsistent  Reason = "inconsistent"   // two checkpoints that cannot both come from one append-only log
)

// EvidenceError is the error for a checkpoint, proof, receipt or event
// that is malformed or does not verify. What names the kind of evidence,
// Field the part refused (empty when it is the whole).
type EvidenceError struct {
	What   string // "checkpoint", "inclusion proof", "consistency proof", "receipt", "event"
	Field  string // "size", "root hash", "Recipients[2]", ...
	Reason Reason
	Rule   string // the rule that was broken, in words
	Err    error  // underlying cause, if any
}

func (e *EvidenceError) Error() string {
	what := e.What
	if e.Field != "" {
		what += " " + e.Field
	}
	return fmt.Sprintf("%s: %s: %s", what, e.Reason, e.Rule)
}

func (e *EvidenceError) Unwrap() error { return e.Err }

func evidenceErr(what, field string, r Reason, format string, args ...any) *EvidenceError {
	return &EvidenceError{What: what, Field: field, Reason: r, Rule: fmt.Sprintf(format, args...)}
}

// Checkpoint is a tree head in the c2sp.org/tlog-checkpoint format: the
// text a log signs. Its text form is
//
//	<origin>\n<size>\n<base64 root hash>\n[<extension line>\n]...
//
// The size is decimal without leading zeros; the hash is standard base64
// with padding. The axis's origin is "truc.vn/axis/<axis-id>" and its
// signing key has the origin as its key name. The axis writes no
// extension lines (tlog-checkpoint advises against them); ParseCheckpoint
// keeps any it finds.
type Checkpoint struct {
	Origin     string
	Size       int64
	Hash       [32]byte // RFC 6962 root hash of the first Size leaves
	Extensions []string // opaque, non-empty lines after the hash
}

// CheckOrigin checks a log origin: 1–MaxOriginLen bytes of UTF-8 with no
// spaces, control characters or '+', so that it can be the key name of
// the log's signing key (signed-note rules).
func CheckOrigin(origin string) error { return checkOrigin("checkpoint", origin) }

func checkOrigin(what, origin string) error {
	bad := func(r Reason, format string, args ...any) error {
		return evidenceErr(what, "origin", r, format, args...)
	}
	switch {
	case origin == "":
		return bad(ReasonMissing, "an origin is required")
	case len(origin) > MaxOriginLen:
		return bad(ReasonTooLarge, "at most %d bytes, got %d", MaxOriginLen, len(origin))
	case !utf8.ValidString(origin):
		return bad(ReasonInvalid, "must be valid UTF-8")
	case strings.Contains(origin, "+"):
		return bad(ReasonInvalid, "must not contain '+' (it is the log key's name)")
	}
	for _, r := range origin {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return bad(ReasonInvalid, "must not contain spaces or control characters (%U)", r)
		}
	}
	return nil
}

// Text returns the checkpoint's note text after checking every field.
func (c Checkpoint) Text() ([]byte, error) {
	if err := checkOrigin("checkpoint", c.Origin); err != nil {
		return nil, err
	}
	if c.Size < 0 {
		return nil, evidenceErr("checkpoint", "size", ReasonInvalid, "must not be negative, got %d", c.Size)
	}
	var b bytes.Buffer
	b.WriteString(c.Origin)
	b.WriteByte('\n')
	b.WriteString(strconv.FormatInt(c.Size, 10))
	b.WriteByte('\n')
	b.WriteString(base64.StdEncoding.EncodeToString(c.Hash[:]))
	b.WriteByte('\n')
	for i, ext := range c.Extensions {
		if err := checkExtension(i, ext); err != nil {
			return nil, err
		}
		b.WriteString(ext)
		b.WriteByte('\n')
	}
	if b.Len() > MaxCheckpointTextLen {
		return nil, evidenceErr("checkpoint", "", ReasonTooLarge, "the text has at most %d bytes, got %d", MaxCheckpointTextLen, b.Len())
	}
	return b.Bytes(), nil
}

func checkExtension(i int, ext string) error {
	field := fmt.Sprintf("extension line %d", i+1)
	if ext == "" {
		return evidenceErr("checkpoint", field, ReasonInvalid, "extension lines must not be empty")
	}
	if !utf8.ValidString(ext) {
		return evidenceErr("checkpoint", field, ReasonInvalid, "must be valid UTF-8")
	}
	for _, r := range ext {
		if unicode.IsControl(r) {
			return evidenceErr("checkpoint", field, ReasonInvalid, "must not contain control characters (%U)", r)
		}
	}
	return nil
}

// ParseCheckpoint reads a checkpoint's note text (without signatures).
// It checks the syntax only; OpenCheckpoint also checks the signature.
func ParseCheckpoint(text []byte) (Checkpoint, error) {
	if len(text) > MaxCheckpointTextLen {
		return Checkpoint{}, evidenceErr("checkpoint", "", ReasonTooLarge, "the text has at most %d bytes, got %d", MaxCheckpointTextLen, len(text))
	}
	if len(text) == 0 || text[len(text)-1] != '\n' {
		return Checkpoint{}, evidenceErr("checkpoint", "", ReasonInvalid, "the text must end with a newline")
	}
	lines := strings.Split(string(text[:len(text)-1]), "\n")
	if len(lines) < 3 {
		return Checkpoint{}, evidenceErr("checkpoint", "", ReasonMissing, "the text has origin, size and root hash lines; got %d lines", len(lines))
	}
	var c Checkpoint
	if err := checkOrigin("checkpoint", lines[0]); err != nil {
		return Checkpoint{}, err
	}
	c.Origin = lines[0]
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || lines[1] != strconv.FormatInt(size, 10) {
		return Checkpoint{}, evidenceErr("checkpoint", "size", ReasonInvalid, "must be a decimal number ≥ 0 without sign or leading zeros, got %q", clip(lines[1]))
	}
	c.Size = size
	h, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(h) != sha256.Size || base64.StdEncoding.EncodeToString(h) != lines[2] {
		return Checkpoint{}, evidenceErr("checkpoint", "root hash", ReasonInvalid, "must be the standard base64 of 32 bytes, got %q", clip(lines[2]))
	}
	copy(c.Hash[:], h)
	for i, ext := range lines[3:] {
		if err := checkExtension(i, ext); err != nil {
			return Checkpoint{}, err
		}
		c.Extensions = append(c.Extensions, ext)
	}
	return c, nil
}

// SignedCheckpoint is a checkpoint with the exact signed note it came
// from. Note is what travels in receipts and what witnesses cosign.
type SignedCheckpoint struct {
	Checkpoint
	Note []byte
}

// SignCheckpoint formats c and signs it with s, whose key name must be
// c.Origin (the log's key is named after the log).
func SignCheckpoint(c Checkpoint, s note.Signer) (SignedCheckpoint, error) {
	text, err := c.Text()
	if err != nil {
		return SignedCheckpoint{}, err
	}
	if s == nil {
		return SignedCheckpoint{}, errors.New("signing checkpoint: no signer")
	}
	if s.Name() != c.Origin {
		return SignedCheckpoint{}, fmt.Errorf("signing checkpoint of %s: the signer's key is named %q; a log's key is named after its origin", c.Origin, s.Name())
	}
	msg, err := note.Sign(&note.Note{Text: string(text)}, s)
	if err != nil {
		return SignedCheckpoint{}, fmt.Errorf("signing checkpoint of %s at size %d: %w", c.Origin, c.Size, err)
	}
	return SignedCheckpoint{Checkpoint: c, Note: msg}, nil
}

// OpenCheckpoint verifies a signed checkpoint and parses it. It requires
// at least one valid signature by a known key whose name is the
// checkpoint's origin (the log's own key; signatures by other known keys,
// such as witnesses, do not suffice). Signatures by unknown keys are
// ignored; a signature by a known key that does not verify refuses the
// whole note. known typically comes from notesig.VerifierList and may
// hold several keys of the log (the old and new keys during a rotation).
//
// Every failure is an *EvidenceError: ReasonInvalid or ReasonTooLarge for
// a malformed note, ReasonUnknownKey, ReasonBadSignature.
func OpenCheckpoint(msg []byte, known note.Verifiers) (SignedCheckpoint, error) {
	if len(msg) > MaxSignedCheckpointLen {
		return SignedCheckpoint{}, evidenceErr("checkpoint", "", ReasonTooLarge, "a signed checkpoint has at most %d bytes, got %d", MaxSignedCheckpointLen, len(msg))
	}
	n, err := note.Open(msg, known)
	if err != nil {
		return SignedCheckpoint{}, noteErr(err)
	}
	c, err := ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return SignedCheckpoint{}, err
	}
	for _, s := range n.Sigs {
		if s.Name == c.Origin {
			return SignedCheckpoint{Checkpoint: c, Note: bytes.Clone(msg)}, nil
		}
	}
	return SignedCheckpoint{}, evidenceErr("checkpoint", "", ReasonUnknownKey, "no trusted key of the log %s signed it", clip(c.Origin))
}

func noteErr(err error) error {
	var unverified *note.UnverifiedNoteError
	var invalid *note.InvalidSignatureError
	e := &EvidenceError{What: "checkpoint", Err: err}
	switch {
	case errors.As(err, &unverified):
		e.Reason = ReasonUnknownKey
		names := make([]string, 0, len(unverified.Note.UnverifiedSigs))
		for _, s := range unverified.Note.UnverifiedSigs {
			names = append(names, fmt.Sprintf("%s+%08x", s.Name, s.Hash))
		}
		e.Rule = "signed only by keys that are not trusted here: " + clip(strings.Join(names, ", "))
	case errors.As(err, &invalid):
		e.Reason = ReasonBadSignature
		e.Rule = fmt.Sprintf("the signature by %s+%08x does not verify", invalid.Name, invalid.Hash)
	default:
		e.Reason = ReasonInvalid
		e.Rule = "not a signed note: " + err.Error()
	}
	return e
}

// ParseUnverifiedCheckpoint parses a signed checkpoint WITHOUT checking
// any signature. It is for a log reading back what it signed itself, and
// for display; anything received from elsewhere goes through
// OpenCheckpoint.
func ParseUnverifiedCheckpoint(msg []byte) (SignedCheckpoint, error) {
	if len(msg) > MaxSignedCheckpointLen {
		return SignedCheckpoint{}, evidenceErr("checkpoint", "", ReasonTooLarge, "a signed checkpoint has at most %d bytes, got %d", MaxSignedCheckpointLen, len(msg))
	}
	i := bytes.LastIndex(msg, []byte("\n\n"))
	if i < 0 {
		return SignedCheckpoint{}, evidenceErr("checkpoint", "", ReasonInvalid, "not a signed note: no blank line before the signatures")
	}
	c, err := ParseCheckpoint(msg[:i+1])
	if err != nil {
		return SignedCheckpoint{}, err
	}
	return SignedCheckpoint{Checkpoint: c, Note: bytes.Clone(msg)}, nil
}

// LeafHash returns the RFC 6962 leaf hash SHA-256(0x00 || leaf).
func LeafHash(leaf []byte) [32]byte { return tlog.RecordHash(leaf) }

// TreeHash computes the RFC 6962 root hash of leaves in memory, without
// tlog's stored-hash layout: an independent recomputation for audits and
// tests. The hash of no leaves is SHA-256 of the empty string.
func TreeHash(leaves [][]byte) [32]byte {
	hs := make([][32]byte, len(leaves))
	for i, l := range leaves {
		hs[i] = LeafHash(l)
	}
	return merkleRoot(hs)
}

// merkleRoot is RFC 6962 §2.1 MTH over leaf hashes.
func merkleRoot(hs [][32]byte) [32]byte {
	switch len(hs) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return hs[0]
	}
	k := 1
	for k<<1 < len(hs) {
		k <<= 1
	}
	return tlog.NodeHash(merkleRoot(hs[:k]), merkleRoot(hs[k:]))
}

// VerifyInclusion checks offline that leaf is the leaf at index in the tree
// that checkpoint c describes, with the audit path proof (from
// Log.InclusionProof(index, c.Size)). It does not check c's signature:
// get c from OpenCheckpoint. Failures are *EvidenceError.
func VerifyInclusion(leaf []byte, index int64, proof [][32]byte, c Checkpoint) error {
	const what = "inclusion proof"
	switch {
	case index < 0 || index >= c.Size:
		return evidenceErr(what, "index", ReasonInvalid, "leaf %d is not in a tree of size %d", index, c.Size)
	case len(proof) > MaxProofLen:
		return evidenceErr(what, "", ReasonTooLarge, "at most %d hashes, got %d", MaxProofLen, len(proof))
	}
	if err := tlog.CheckRecord(tlogHashes(proof), c.Size, c.Hash, index, tlog.RecordHash(leaf)); err != nil {
		return &EvidenceError{What: what, Reason: ReasonProofMismatch, Rule: fmt.Sprintf("leaf %d does not lead to the root hash of the tree of size %d", index, c.Size), Err: err}
	}
	return nil
}

// VerifyConsistency checks offline that checkpoint old describes a prefix
// of the tree that checkpoint new describes, with proof (from
// Log.ConsistencyProof(old.Size, new.Size)). Both must have the same
// origin and old.Size ≤ new.Size. Two checkpoints of the same size must
// have the same root hash and an empty proof; a checkpoint of size 0 must
// have the empty tree's hash. It does not check signatures: get both from
// OpenCheckpoint. Failures are *EvidenceError; ReasonInconsistent means
// the log showed two different histories.
func VerifyConsistency(old, new Checkpoint, proof [][32]byte) error {
	const what = "consistency proof"
	switch {
	case old.Origin != new.Origin:
		return evidenceErr(what, "", ReasonInconsistent, "checkpoints of different logs (%s and %s)", clip(old.Origin), clip(new.Origin))
	case old.Size < 0 || old.Size > new.Size:
		return evidenceErr(what, "", ReasonInvalid, "the old size %d must be between 0 and the new size %d", old.Size, new.Size)
	case len(proof) > MaxProofLen:
		return evidenceErr(what, "", ReasonTooLarge, "at most %d hashes, got %d", MaxProofLen, len(proof))
	case old.Size == 0:
		if old.Hash != sha256.Sum256(nil) {
			return evidenceErr(what, "", ReasonInconsistent, "a checkpoint of size 0 must have the empty tree's root hash")
		}
		if len(proof) != 0 {
			return evidenceErr(what, "", ReasonProofMismatch, "the proof from an empty tree is empty, got %d hashes", len(proof))
		}
		return nil
	case old.Size == new.Size:
		if old.Hash != new.Hash {
			return evidenceErr(what, "", ReasonInconsistent, "two checkpoints of size %d with different root hashes", old.Size)
		}
		if len(proof) != 0 {
			return evidenceErr(what, "", ReasonProofMismatch, "the proof between equal sizes is empty, got %d hashes", len(proof))
		}
		return nil
	}
	if err := tlog.CheckTree(tlogHashes(proof), new.Size, new.Hash, old.Size, old.Hash); err != nil {
		return &EvidenceError{What: what, Reason: ReasonProofMismatch, Rule: fmt.Sprintf("the tree of size %d is not shown to extend the tree of size %d", new.Size, old.Size), Err: err}
	}
	return nil
}

func tlogHashes(p [][32]byte) []tlog.Hash {
	out := make([]tlog.Hash, len(p))
	for i, h := range p {
		out[i] = h
	}
	return out
}

// CheckLeaves checks leaves against the Append rules, naming the first
// leaf that breaks one; implementations of Log call it before writing.
func CheckLeaves(leaves [][]byte) error {
	if len(leaves) == 0 {
		return fmt.Errorf("appending to the log: no leaves given: %w", ErrInvalidLeaf)
	}
	for i, l := range leaves {
		if len(l) == 0 || len(l) > MaxLeafSize {
			return fmt.Errorf("appending to the log: leaf %d has %d bytes, want 1–%d: %w", i, len(l), MaxLeafSize, ErrInvalidLeaf)
		}
	}
	return nil
}
