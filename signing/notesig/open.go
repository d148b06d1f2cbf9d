package notesig

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Reason is the stable, machine-readable cause of an *Error. The values
// never change once released; new ones may be added.
type Reason string

// Reasons.
const (
	ReasonMalformed       Reason = "malformed"         // a note, verifier key or key name that breaks its syntax
	ReasonUnsupportedKey  Reason = "unsupported-key"   // a key or certificate outside the profile
	ReasonKeyHashMismatch Reason = "key-hash-mismatch" // a verifier key whose key ID is not the one its name and key give
	ReasonAmbiguousKey    Reason = "ambiguous-key"     // two different keys with the same name and key ID
	ReasonUnknownKey      Reason = "unknown-key"       // a note signed by none of the known keys
	ReasonBadSignature    Reason = "bad-signature"     // a signature by a known key that does not verify
)

// Error is the error of every refusal in this package.
type Error struct {
	Reason Reason
	Detail string // human explanation; never contains key material
	Err    error  // underlying cause, if any
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return "notesig: " + string(e.Reason)
	}
	return "notesig: " + string(e.Reason) + ": " + e.Detail
}

func (e *Error) Unwrap() error { return e.Err }

func errorf(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// Limits on input read by this package.
const (
	MaxVerifierKeyLen = 8 << 10 // bytes in a verifier key (an RSA-4096 key is about 750)
	MaxNoteLen        = 1 << 20 // bytes in a signed note given to Open
)

// ParseVerifierKey reads a verifier key as Verifier.String writes it, and
// also note's own Ed25519 verifier keys (signature type 0x01, handed to
// note.NewVerifier), so that one configuration list can hold the axis's
// RSA seal key and witnesses' Ed25519 keys. For this package's keys it
// checks that the identifier names a supported algorithm that matches the
// key, that the key is within the profile, that the encoding is canonical
// (DER, base64 without newlines), and that the key ID is the one the name
// and key give.
func ParseVerifierKey(vkey string) (note.Verifier, error) {
	if len(vkey) > MaxVerifierKeyLen {
		return nil, errorf(ReasonMalformed, "verifier key: at most %d bytes, got %d", MaxVerifierKeyLen, len(vkey))
	}
	name, rest, ok1 := strings.Cut(vkey, "+")
	hash16, key64, ok2 := strings.Cut(rest, "+")
	if !ok1 || !ok2 {
		return nil, errorf(ReasonMalformed, "verifier key: want <name>+<key ID>+<key>")
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	hash, err := strconv.ParseUint(hash16, 16, 32)
	if len(hash16) != 8 || err != nil {
		return nil, errorf(ReasonMalformed, "verifier key %s: the key ID must be 8 hex digits, got %q", name, clip(hash16))
	}
	enc, err := base64.StdEncoding.DecodeString(key64)
	if err != nil || len(enc) == 0 || base64.StdEncoding.EncodeToString(enc) != key64 {
		return nil, errorf(ReasonMalformed, "verifier key %s: the key must be canonical standard base64", name)
	}
	switch enc[0] {
	case 1: // Ed25519, note's own type.
		v, err := note.NewVerifier(vkey)
		if err != nil {
			return nil, &Error{Reason: ReasonMalformed, Detail: fmt.Sprintf("verifier key %s: Ed25519 key: %v", name, err), Err: err}
		}
		return v, nil
	case SignatureType:
	default:
		return nil, errorf(ReasonUnsupportedKey, "verifier key %s: signature type 0x%02x is not supported (0x01 Ed25519 or 0xff with a truc.vn/notesig identifier)", name, enc[0])
	}
	id, spki, ok := bytes.Cut(enc[1:], []byte{'\n'})
	if !ok {
		return nil, errorf(ReasonMalformed, "verifier key %s: no newline after the algorithm identifier", name)
	}
	alg := Algorithm(id)
	switch alg {
	case RSAPKCS1v15SHA256, ECDSAP256SHA256, ECDSAP384SHA384:
	default:
		return nil, errorf(ReasonUnsupportedKey, "verifier key %s: unknown algorithm identifier %q", name, clip(string(id)))
	}
	pub, err := x509.ParsePKIXPublicKey(spki)
	if err != nil {
		return nil, &Error{Reason: ReasonMalformed, Detail: fmt.Sprintf("verifier key %s: public key: %v", name, err), Err: err}
	}
	v, err := NewVerifier(name, pub)
	if err != nil {
		return nil, err
	}
	if v.alg != alg {
		return nil, errorf(ReasonUnsupportedKey, "verifier key %s: the identifier says %s but the key is for %s", name, alg, v.alg)
	}
	if !bytes.Equal(v.enc, enc) {
		return nil, errorf(ReasonMalformed, "verifier key %s: the public key is not in canonical DER", name)
	}
	if uint32(hash) != v.hash {
		return nil, errorf(ReasonKeyHashMismatch, "verifier key %s: key ID %s, but the name and key give %08x", name, hash16, v.hash)
	}
	return v, nil
}

// VerifierList returns the note.Verifiers that Open and note.Open use to
// find keys, from a list that may hold several keys of one name (key
// rotation: the old and the new axis key are both accepted while both are
// listed). A key listed twice is kept once; two different keys with the
// same name and key ID are refused (note.Open would otherwise fail on
// every note that names them).
func VerifierList(vs ...note.Verifier) (note.Verifiers, error) {
	type nameHash struct {
		name string
		hash uint32
	}
	seen := make(map[nameHash]note.Verifier, len(vs))
	list := make([]note.Verifier, 0, len(vs))
	for i, v := range vs {
		if v == nil {
			return nil, errorf(ReasonMalformed, "verifier %d: missing", i)
		}
		k := nameHash{v.Name(), v.KeyHash()}
		if prev, dup := seen[k]; dup {
			if sameKey(prev, v) {
				continue
			}
			return nil, errorf(ReasonAmbiguousKey, "verifier %d: a different key named %s with key ID %08x is already listed", i, k.name, k.hash)
		}
		seen[k] = v
		list = append(list, v)
	}
	return note.VerifierList(list...), nil
}

func sameKey(a, b note.Verifier) bool {
	if a == b {
		return true
	}
	va, ok1 := a.(*Verifier)
	vb, ok2 := b.(*Verifier)
	return ok1 && ok2 && va.Equal(vb)
}

// Open verifies a signed note with the known keys, as note.Open does, and
// returns the note with its verified signatures (Sigs) and the signatures
// by keys it does not know (UnverifiedSigs). Every failure is an *Error:
// ReasonMalformed for a note that breaks the signed-note syntax or is over
// MaxNoteLen, ReasonUnknownKey when no known key signed it, ReasonBadSignature
// when a known key's signature does not verify (the whole note is refused,
// as the signed-note rules say).
func Open(msg []byte, known note.Verifiers) (*note.Note, error) {
	if len(msg) > MaxNoteLen {
		return nil, errorf(ReasonMalformed, "signed note: at most %d bytes, got %d", MaxNoteLen, len(msg))
	}
	n, err := note.Open(msg, known)
	if err == nil {
		return n, nil
	}
	var unverified *note.UnverifiedNoteError
	var invalid *note.InvalidSignatureError
	switch {
	case errors.As(err, &unverified):
		var names []string
		for _, s := range unverified.Note.UnverifiedSigs {
			names = append(names, fmt.Sprintf("%s+%08x", s.Name, s.Hash))
		}
		return nil, &Error{Reason: ReasonUnknownKey, Detail: "signed only by keys that are not trusted here: " + clip(strings.Join(names, ", ")), Err: err}
	case errors.As(err, &invalid):
		return nil, &Error{Reason: ReasonBadSignature, Detail: fmt.Sprintf("the signature by %s+%08x does not verify", invalid.Name, invalid.Hash), Err: err}
	}
	return nil, &Error{Reason: ReasonMalformed, Detail: "signed note: " + err.Error(), Err: err}
}

// clip shortens hostile input before it goes into an error message.
func clip(s string) string {
	const n = 80
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
