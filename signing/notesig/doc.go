// Package notesig signs and verifies signed notes (c2sp.org/signed-note,
// golang.org/x/mod/sumdb/note) with the keys a government PKI issues: RSA
// with PKCS #1 v1.5 and SHA-256 (2048–4096 bits), and ECDSA on P-256 with
// SHA-256 or P-384 with SHA-384. The note package itself knows only
// Ed25519; the axis signs its transparency-log checkpoints with its seal
// key, behind a crypto.Signer (a file, a PKCS #12 bundle, a PKCS #11
// token), so that auditors trust checkpoints through the same government
// roots as documents.
//
// # Signature types and key IDs
//
// Keys use the signed-note extension signature type 0xff ("reserved for
// signature types without an identifier byte"), followed by an identifier
// string that names the algorithm, then a newline, then the public key as
// DER SubjectPublicKeyInfo (x509.MarshalPKIXPublicKey). The encoded public
// key is therefore
//
//	0xff || identifier || 0x0a || SPKI
//
// with identifier one of (wire constants, never changed once released):
//
//	truc.vn/notesig/rsa-pkcs1v15-sha256
//	truc.vn/notesig/ecdsa-p256-sha256
//	truc.vn/notesig/ecdsa-p384-sha384
//
// and the key ID (note's "key hash") is computed exactly as note computes
// it for its own keys: the first four bytes, read big-endian, of
//
//	SHA-256(key name || 0x0a || 0xff || identifier || 0x0a || SPKI)
//
// The signature bytes in a signature line (after the four key-ID bytes) are
// the RSASSA-PKCS1-v1_5 signature of SHA-256(note text), or the ASN.1 DER
// ECDSA signature of SHA-256/SHA-384(note text). The note text is what
// note signs: everything up to and including the newline before the blank
// line.
//
// A verifier key (the public, shareable text form, like note's) is
//
//	<name>+<8 hex digits of the key ID>+<base64 of the encoded public key>
//
// ParseVerifierKey reads it (and note's own Ed25519 keys), and
// Verifier.String writes it.
//
// # What it guarantees
//
//   - Signer and Verifier refuse keys outside the profile at construction
//     (RSA under 2048 or over 4096 bits, other curves, Ed25519, DSA).
//   - Signer.Sign checks every signature it produces against the public
//     key before returning it, so a faulty token or a signer that answers
//     in another ECDSA encoding (r‖s) never yields a bad checkpoint. An r‖s
//     ECDSA answer is converted to DER.
//   - Verify never panics, whatever the signature bytes.
//   - VerifierList refuses two different keys with the same name and key
//     ID instead of leaving note.Open to fail later.
//   - Open wraps note.Open and returns an *Error with a stable Reason.
//
// # Caveats
//
//   - NewCertVerifier takes the key from a certificate and checks only that
//     the certificate may sign (key usage). It does not build or check the
//     chain, validity dates or revocation: the caller does that with the
//     trust store in package signing, at the time it decides to trust the
//     key. A checkpoint carries no time, so "was the certificate valid when
//     this checkpoint was signed" is a question for the evidence around it.
//   - Clients that only know note's Ed25519 keys cannot verify these
//     signatures; they see them as signatures by unknown keys, which the
//     signed-note rules tell them to ignore.
//   - Signing is as slow as the key behind the crypto.Signer: RSA-2048 in
//     software costs about 1 ms, a USB token much more. The axis signs one
//     checkpoint per second at most, so that is never the bottleneck.
package notesig
