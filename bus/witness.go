package bus

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// Witness cosignatures.
//
// A witness is a party other than the log (an edge, an auditor) that keeps
// the latest checkpoint it saw of a log and, for each new checkpoint it is
// shown, checks a consistency proof from the old one before it signs the
// new one. Signatures by independent witnesses make a split view (the log
// showing two histories to two parties) need their collusion: an auditor
// who requires cosignatures by witnesses it trusts knows that each of them
// saw a history that extends to this checkpoint.
//
// # Format
//
// A cosigned checkpoint is the log's signed checkpoint (a c2sp.org/
// signed-note) with one more signature line per witness, appended after
// the log's: the witness signs the same note text (the checkpoint) with
// its own key under its own key name. This is the plain signed-note
// cosignature; the C2SP tlog-cosignature format (signature type 0x04 over
// a "cosignature/v1" header with a timestamp) is not used, because the
// bus's keys are RSA and ECDSA seal keys (signing/notesig, type 0xff).
//
// A witness names its key after itself; an edge that witnesses uses its
// seal key under EdgeNoteName(edge ID), so that the witness keys an
// auditor configures are the edges' seal certificates of the directory. A
// witness key must never be named as the log's origin: OpenCosigned only
// counts a signature under the origin as the log's own.

// ErrSplitView is wrapped by Cosign's error when the new checkpoint is not
// consistent with the last one the witness saw: the log has shown two
// different histories. A witness that gets it must keep both checkpoints
// and the proof as evidence and raise an alert.
var ErrSplitView = errors.New("bus: split view: the log showed two histories that cannot both be true")

// ErrStaleCheckpoint is wrapped by Cosign's error when the checkpoint is
// smaller than the last one the witness saw: it is not cosigned (a
// witness cosigns forward only), which is no evidence of misbehaviour by
// itself (an old checkpoint replayed by a cache).
var ErrStaleCheckpoint = errors.New("bus: the checkpoint is older than the last one witnessed")

// MaxCosignatures bounds the signature lines of a cosigned checkpoint that
// OpenCosigned reads.
const MaxCosignatures = 64

// Cosign checks that the checkpoint cp extends prev, the latest checkpoint
// the witness saw of the same log (the zero SignedCheckpoint when it saw
// none: the first one is taken on trust), with proof (from
// Log.ConsistencyProof(prev.Size, cp.Size)), and returns cp.Note with a
// signature line by s added after the existing ones. Both cp and prev
// must come from OpenCheckpoint with the log's keys: Cosign checks that
// cp.Note's text is cp's checkpoint but not the log's signature.
//
// It refuses, changing nothing: a cp not consistent with prev (an error
// wrapping ErrSplitView and an *EvidenceError with ReasonInconsistent or
// ReasonProofMismatch), a cp smaller than prev (ErrStaleCheckpoint), a
// checkpoint of another origin, and a signer named as the log. Cosigning a
// note that s already signed returns it unchanged.
func Cosign(cp, prev SignedCheckpoint, proof [][32]byte, s note.Signer) ([]byte, error) {
	if s == nil {
		return nil, errors.New("cosigning a checkpoint: no witness signer")
	}
	if err := checkOrigin("checkpoint", cp.Origin); err != nil {
		return nil, fmt.Errorf("cosigning a checkpoint: %w", err)
	}
	if s.Name() == cp.Origin {
		return nil, fmt.Errorf("cosigning the checkpoint of %s: the witness key is named as the log; a witness signs under its own name", clip(cp.Origin))
	}
	text, sigs, err := splitNote(cp.Note)
	if err != nil {
		return nil, fmt.Errorf("cosigning the checkpoint of %s at size %d: %w", clip(cp.Origin), cp.Size, err)
	}
	parsed, err := ParseCheckpoint(text)
	if err != nil {
		return nil, fmt.Errorf("cosigning a checkpoint: %w", err)
	}
	if !sameCheckpoint(parsed, cp.Checkpoint) {
		return nil, fmt.Errorf("cosigning the checkpoint of %s at size %d: its note is of another checkpoint (%s at size %d)", clip(cp.Origin), cp.Size, clip(parsed.Origin), parsed.Size)
	}
	if prev.Origin != "" || prev.Size != 0 || len(prev.Note) > 0 {
		if prev.Origin != cp.Origin {
			return nil, fmt.Errorf("cosigning the checkpoint of %s: the last checkpoint witnessed is of another log (%s)", clip(cp.Origin), clip(prev.Origin))
		}
		if cp.Size < prev.Size {
			return nil, fmt.Errorf("cosigning the checkpoint of %s at size %d: the last one witnessed has size %d: %w", clip(cp.Origin), cp.Size, prev.Size, ErrStaleCheckpoint)
		}
		if err := VerifyConsistency(prev.Checkpoint, cp.Checkpoint, proof); err != nil {
			return nil, fmt.Errorf("cosigning the checkpoint of %s at size %d after size %d: %w: %w", clip(cp.Origin), cp.Size, prev.Size, ErrSplitView, err)
		}
	}
	line, err := signatureLine(text, s)
	if err != nil {
		return nil, fmt.Errorf("cosigning the checkpoint of %s at size %d: %w", clip(cp.Origin), cp.Size, err)
	}
	for _, l := range sigs {
		if sigKey(l) == sigKey(line) {
			return bytes.Clone(cp.Note), nil
		}
	}
	out := make([]byte, 0, len(cp.Note)+len(line))
	out = append(append(out, cp.Note...), line...)
	if len(out) > MaxSignedCheckpointLen {
		return nil, evidenceErr("checkpoint", "", ReasonTooLarge, "a cosigned checkpoint has at most %d bytes, got %d", MaxSignedCheckpointLen, len(out))
	}
	return out, nil
}

func sameCheckpoint(a, b Checkpoint) bool {
	return a.Origin == b.Origin && a.Size == b.Size && a.Hash == b.Hash && slices.Equal(a.Extensions, b.Extensions)
}

// splitNote splits a signed note into its text (ending in a newline) and
// its signature lines (each with its newline), checking the signed-note
// shape but no signature.
func splitNote(msg []byte) (text []byte, sigs []string, err error) {
	if !utf8.Valid(msg) {
		return nil, nil, errors.New("not a signed note: not valid UTF-8")
	}
	i := bytes.LastIndex(msg, []byte("\n\n"))
	if i < 0 {
		return nil, nil, errors.New("not a signed note: no blank line before the signatures")
	}
	text, rest := msg[:i+1], string(msg[i+2:])
	if rest == "" || !strings.HasSuffix(rest, "\n") {
		return nil, nil, errors.New("not a signed note: the signatures must end with a newline")
	}
	for _, l := range strings.SplitAfter(rest, "\n") {
		if l == "" {
			continue
		}
		if !strings.HasPrefix(l, "— ") {
			return nil, nil, errors.New("not a signed note: a signature line starts with an em dash and a space")
		}
		if len(sigs) == MaxCosignatures+1 {
			return nil, nil, fmt.Errorf("more than %d signatures", MaxCosignatures+1)
		}
		sigs = append(sigs, l)
	}
	return text, sigs, nil
}

// sigKey returns the name and key ID part of a signature line: two lines
// with the same sigKey are signatures by the same key.
func sigKey(line string) string {
	name, b64, ok := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(line, "— "), "\n"), " ")
	if !ok {
		return line
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) < 4 {
		return line
	}
	return name + "+" + fmt.Sprintf("%08x", binary.BigEndian.Uint32(raw))
}

// signatureLine signs text with s and returns the signed-note signature
// line "— <name> <base64(key ID || signature)>\n".
func signatureLine(text []byte, s note.Signer) (string, error) {
	name := s.Name()
	if name == "" || strings.ContainsAny(name, " \n+") || !utf8.ValidString(name) {
		return "", fmt.Errorf("the witness key name %q is not a valid note key name", clip(name))
	}
	sig, err := s.Sign(text)
	if err != nil {
		return "", fmt.Errorf("signing as %s: %w", clip(name), err)
	}
	raw := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(sig)), s.KeyHash())
	raw = append(raw, sig...)
	return "— " + name + " " + base64.StdEncoding.EncodeToString(raw) + "\n", nil
}

// OpenCosigned verifies a cosigned checkpoint: the log's signature as
// OpenCheckpoint does with log (signatures under the checkpoint's origin
// are checked against log only), and every signature by a key in
// witnesses (signatures under any other name are checked against
// witnesses only). It returns the checkpoint and the names of the
// witnesses whose signatures verified, sorted and without repeats.
// Signatures by unknown keys are ignored; a signature by a known key that
// does not verify refuses the whole note (*EvidenceError,
// ReasonBadSignature). witnesses may be nil.
func OpenCosigned(msg []byte, log, witnesses note.Verifiers) (SignedCheckpoint, []string, error) {
	if len(msg) > MaxSignedCheckpointLen {
		return SignedCheckpoint{}, nil, evidenceErr("checkpoint", "", ReasonTooLarge, "a signed checkpoint has at most %d bytes, got %d", MaxSignedCheckpointLen, len(msg))
	}
	text, sigs, err := splitNote(msg)
	if err != nil {
		return SignedCheckpoint{}, nil, evidenceErr("checkpoint", "", ReasonInvalid, "%v", err)
	}
	if len(sigs) > MaxCosignatures+1 {
		return SignedCheckpoint{}, nil, evidenceErr("checkpoint", "", ReasonTooLarge, "at most %d cosignatures, got %d", MaxCosignatures, len(sigs)-1)
	}
	c, err := ParseCheckpoint(text)
	if err != nil {
		return SignedCheckpoint{}, nil, err
	}
	n, err := note.Open(msg, splitVerifiers{origin: c.Origin, log: log, witnesses: witnesses})
	if err != nil {
		return SignedCheckpoint{}, nil, noteErr(err)
	}
	var names []string
	logSigned := false
	for _, s := range n.Sigs {
		if s.Name == c.Origin {
			logSigned = true
		} else if !slices.Contains(names, s.Name) {
			names = append(names, s.Name)
		}
	}
	if !logSigned {
		return SignedCheckpoint{}, nil, evidenceErr("checkpoint", "", ReasonUnknownKey, "no trusted key of the log %s signed it", clip(c.Origin))
	}
	slices.Sort(names)
	return SignedCheckpoint{Checkpoint: c, Note: bytes.Clone(msg)}, names, nil
}

// splitVerifiers looks up keys named as the log's origin in log, and every
// other key in witnesses, so that a witness key can never pass for the
// log's nor the reverse.
type splitVerifiers struct {
	origin         string
	log, witnesses note.Verifiers
}

func (v splitVerifiers) Verifier(name string, hash uint32) (note.Verifier, error) {
	list := v.witnesses
	if name == v.origin {
		list = v.log
	}
	if list == nil {
		return nil, &note.UnknownVerifierError{Name: name, KeyHash: hash}
	}
	return list.Verifier(name, hash)
}
