package notesig_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"truc.vn/truc/signing/notesig"
	"truc.vn/truc/signing/signingtest"
)

const origin = "truc.vn/axis/test-axis"

// keys caches generated keys: RSA key generation is slow on a shared
// machine, and every test needs the same few.
var keys = struct {
	sync.Mutex
	m map[signingtest.KeyAlg][]crypto.Signer
}{m: map[signingtest.KeyAlg][]crypto.Signer{}}

// key returns the i-th cached key of alg.
func key(t *testing.T, alg signingtest.KeyAlg, i int) crypto.Signer {
	t.Helper()
	keys.Lock()
	defer keys.Unlock()
	for len(keys.m[alg]) <= i {
		keys.m[alg] = append(keys.m[alg], signingtest.NewKey(t, alg))
	}
	return keys.m[alg][i]
}

func newSigner(t *testing.T, name string, k crypto.Signer) *notesig.Signer {
	t.Helper()
	s, err := notesig.NewSigner(name, k)
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	return s
}

func sign(t *testing.T, text string, signers ...note.Signer) []byte {
	t.Helper()
	msg, err := note.Sign(&note.Note{Text: text}, signers...)
	if err != nil {
		t.Fatalf("note.Sign: %v", err)
	}
	return msg
}

func verifiers(t *testing.T, vs ...note.Verifier) note.Verifiers {
	t.Helper()
	l, err := notesig.VerifierList(vs...)
	if err != nil {
		t.Fatalf("VerifierList: %v", err)
	}
	return l
}

func wantReason(t *testing.T, err error, r notesig.Reason) {
	t.Helper()
	var e *notesig.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *notesig.Error", err, err)
	}
	if e.Reason != r {
		t.Fatalf("reason %q, want %q (error: %v)", e.Reason, r, err)
	}
}

const text = "truc.vn/axis/test-axis\n42\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"

func TestSignVerify(t *testing.T) {
	tests := []struct {
		alg  signingtest.KeyAlg
		want notesig.Algorithm
	}{
		{signingtest.RSA2048, notesig.RSAPKCS1v15SHA256},
		{signingtest.RSA3072, notesig.RSAPKCS1v15SHA256},
		{signingtest.RSA4096, notesig.RSAPKCS1v15SHA256},
		{signingtest.P256, notesig.ECDSAP256SHA256},
		{signingtest.P384, notesig.ECDSAP384SHA384},
	}
	for _, tt := range tests {
		t.Run(string(tt.alg), func(t *testing.T) {
			s := newSigner(t, origin, key(t, tt.alg, 0))
			if s.Algorithm() != tt.want {
				t.Fatalf("algorithm %s, want %s", s.Algorithm(), tt.want)
			}
			msg := sign(t, text, s)

			// The verifier from the signer, and the same one through its
			// text form, both verify.
			parsed, err := notesig.ParseVerifierKey(s.Verifier().String())
			if err != nil {
				t.Fatalf("ParseVerifierKey(%s): %v", s.Verifier(), err)
			}
			for name, v := range map[string]note.Verifier{"signer's": s.Verifier(), "parsed": parsed} {
				n, err := notesig.Open(msg, verifiers(t, v))
				if err != nil {
					t.Fatalf("Open with the %s verifier: %v", name, err)
				}
				if n.Text != text || len(n.Sigs) != 1 || n.Sigs[0].Name != origin || n.Sigs[0].Hash != s.KeyHash() {
					t.Fatalf("Open with the %s verifier: got %+v", name, n)
				}
				// note.Open (not only the wrapper) accepts it.
				if _, err := note.Open(msg, note.VerifierList(v)); err != nil {
					t.Fatalf("note.Open with the %s verifier: %v", name, err)
				}
			}
			if !parsed.(*notesig.Verifier).Equal(s.Verifier()) {
				t.Fatal("parsed verifier differs from the signer's")
			}
		})
	}
}

// TestKeyHashDefinition recomputes the key ID exactly as the package
// comment documents it, and checks that note.Sign puts it in front of the
// signature.
func TestKeyHashDefinition(t *testing.T) {
	for _, alg := range []signingtest.KeyAlg{signingtest.RSA2048, signingtest.P256, signingtest.P384} {
		k := key(t, alg, 0)
		s := newSigner(t, origin, k)
		spki, err := x509.MarshalPKIXPublicKey(k.Public())
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		io.WriteString(h, origin+"\n")
		h.Write([]byte{0xff})
		io.WriteString(h, string(s.Algorithm())+"\n")
		h.Write(spki)
		want := binary.BigEndian.Uint32(h.Sum(nil))
		if s.KeyHash() != want {
			t.Errorf("%s: KeyHash %08x, documented computation gives %08x", alg, s.KeyHash(), want)
		}
		if got, err := notesig.KeyHash(origin, k.Public()); err != nil || got != want {
			t.Errorf("%s: KeyHash() = %08x, %v; want %08x", alg, got, err, want)
		}
		msg := sign(t, text, s)
		line := string(msg[strings.LastIndex(string(msg), "— ")+len("— "):])
		_, b64, _ := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || binary.BigEndian.Uint32(raw) != want {
			t.Errorf("%s: signature line %q does not start with key ID %08x", alg, line, want)
		}
		vkey := s.Verifier().String()
		wantPrefix := origin + "+" + fmt.Sprintf("%08x", want) + "+"
		if !strings.HasPrefix(vkey, wantPrefix) {
			t.Errorf("%s: verifier key %q does not start with %q", alg, vkey, wantPrefix)
		}
	}
}

func TestRefusedKeys(t *testing.T) {
	tests := []struct {
		name string
		key  crypto.Signer
	}{
		{"rsa-1024", key(t, signingtest.RSA1024, 0)},
		{"p-521", key(t, signingtest.P521, 0)},
		{"ed25519", key(t, signingtest.Ed25519, 0)},
		{"nil", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := notesig.NewSigner(origin, tt.key)
			wantReason(t, err, notesig.ReasonUnsupportedKey)
			if tt.key != nil {
				_, err = notesig.NewVerifier(origin, tt.key.Public())
				wantReason(t, err, notesig.ReasonUnsupportedKey)
			}
		})
	}
	t.Run("bad-names", func(t *testing.T) {
		k := key(t, signingtest.P256, 0)
		for _, name := range []string{"", "a b", "a+b", "a\nb", "a\tb", "\xff", strings.Repeat("a", 256)} {
			_, err := notesig.NewSigner(name, k)
			wantReason(t, err, notesig.ReasonMalformed)
		}
	})
}

func TestOpenRefuses(t *testing.T) {
	rsaSigner := newSigner(t, origin, key(t, signingtest.RSA2048, 0))
	other := newSigner(t, origin, key(t, signingtest.RSA2048, 1))
	ecSigner := newSigner(t, origin, key(t, signingtest.P256, 0))
	msg := sign(t, text, rsaSigner)
	ecMsg := sign(t, text, ecSigner)

	tampered := []byte(strings.Replace(string(msg), "\n42\n", "\n43\n", 1))
	// A signature of the right length by the other key, under the first
	// key's ID.
	swapped := resign(t, sign(t, text, other), rsaSigner.KeyHash(), func(sig []byte) []byte { return sig })
	ecTampered := []byte(strings.Replace(string(ecMsg), "\n42\n", "\n44\n", 1))
	truncated := resign(t, msg, rsaSigner.KeyHash(), func(sig []byte) []byte { return sig[:len(sig)-1] })

	tests := []struct {
		name string
		msg  []byte
		vs   []note.Verifier
		want notesig.Reason
	}{
		{"wrong-key", msg, []note.Verifier{other.Verifier()}, notesig.ReasonUnknownKey},
		{"no-keys", msg, nil, notesig.ReasonUnknownKey},
		{"tampered-text", tampered, []note.Verifier{rsaSigner.Verifier()}, notesig.ReasonBadSignature},
		{"tampered-ecdsa", ecTampered, []note.Verifier{ecSigner.Verifier()}, notesig.ReasonBadSignature},
		{"other-key-signature-under-this-key-id", swapped, []note.Verifier{rsaSigner.Verifier()}, notesig.ReasonBadSignature},
		{"truncated-signature", truncated, []note.Verifier{rsaSigner.Verifier()}, notesig.ReasonBadSignature},
		{"no-signature-block", []byte(text), []note.Verifier{rsaSigner.Verifier()}, notesig.ReasonMalformed},
		{"control-character", []byte("a\x01\n\n— x AAAAAAA=\n"), []note.Verifier{rsaSigner.Verifier()}, notesig.ReasonMalformed},
		{"not-utf8", []byte("a\xff\n\n— x AAAAAAA=\n"), []note.Verifier{rsaSigner.Verifier()}, notesig.ReasonMalformed},
		{"bad-base64", []byte(text + "\n— " + origin + " !!!!\n"), []note.Verifier{rsaSigner.Verifier()}, notesig.ReasonMalformed},
		{"too-large", make([]byte, notesig.MaxNoteLen+1), []note.Verifier{rsaSigner.Verifier()}, notesig.ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := notesig.Open(tt.msg, verifiers(t, tt.vs...))
			if err == nil {
				t.Fatalf("Open accepted the note: %+v", n)
			}
			wantReason(t, err, tt.want)
		})
	}
}

// resign rewrites the single signature line of msg: the key ID becomes id
// and the signature bytes edit(signature).
func resign(t *testing.T, msg []byte, id uint32, edit func([]byte) []byte) []byte {
	t.Helper()
	s := string(msg)
	i := strings.LastIndex(s, "\n\n— ")
	name, b64, _ := strings.Cut(strings.TrimSuffix(s[i+len("\n\n— "):], "\n"), " ")
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	out := binary.BigEndian.AppendUint32(nil, id)
	out = append(out, edit(raw[4:])...)
	return []byte(s[:i] + "\n\n— " + name + " " + base64.StdEncoding.EncodeToString(out) + "\n")
}

// TestKeyRotation: a note signed by the old axis key and one signed by the
// new key both open when both keys are configured; one signed by a third
// key does not; a note cosigned by a witness (unknown key) still opens.
func TestKeyRotation(t *testing.T) {
	oldKey := newSigner(t, origin, key(t, signingtest.RSA2048, 0))
	newKey := newSigner(t, origin, key(t, signingtest.P384, 0))
	third := newSigner(t, origin, key(t, signingtest.P256, 0))
	witnessSkey, _, err := note.GenerateKey(rand.Reader, "witness.example/w1")
	if err != nil {
		t.Fatal(err)
	}
	witness, err := note.NewSigner(witnessSkey)
	if err != nil {
		t.Fatal(err)
	}
	known := verifiers(t, oldKey.Verifier(), newKey.Verifier())
	for name, msg := range map[string][]byte{
		"old":                sign(t, text, oldKey),
		"new":                sign(t, text, newKey),
		"both":               sign(t, text, oldKey, newKey),
		"old-plus-witness":   sign(t, text, witness, oldKey),
		"third-plus-new-key": sign(t, text, third, newKey),
	} {
		n, err := notesig.Open(msg, known)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(n.Sigs) == 0 {
			t.Errorf("%s: no verified signatures", name)
		}
	}
	_, err = notesig.Open(sign(t, text, third), known)
	wantReason(t, err, notesig.ReasonUnknownKey)
}

// rawECDSA signs like goxmldsig's P1363 wrapper: r‖s instead of DER.
type rawECDSA struct{ *ecdsa.PrivateKey }

func (k rawECDSA) Sign(r io.Reader, digest []byte, _ crypto.SignerOpts) ([]byte, error) {
	der, err := k.PrivateKey.Sign(r, digest, nil)
	if err != nil {
		return nil, err
	}
	var sig struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(der, &sig); err != nil {
		return nil, err
	}
	n := (k.Curve.Params().BitSize + 7) / 8
	out := make([]byte, 2*n)
	sig.R.FillBytes(out[:n])
	sig.S.FillBytes(out[n:])
	return out, nil
}

// brokenSigner answers with bytes that are not a signature.
type brokenSigner struct{ crypto.Signer }

func (b brokenSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return make([]byte, 256), nil
}

// failingSigner fails like an unplugged token.
type failingSigner struct{ crypto.Signer }

func (f failingSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("token removed")
}

func TestSignerOutputChecked(t *testing.T) {
	t.Run("raw-ecdsa-converted", func(t *testing.T) {
		s := newSigner(t, origin, rawECDSA{key(t, signingtest.P384, 0).(*ecdsa.PrivateKey)})
		msg := sign(t, text, s)
		if _, err := notesig.Open(msg, verifiers(t, s.Verifier())); err != nil {
			t.Fatalf("Open: %v", err)
		}
	})
	t.Run("garbage-refused", func(t *testing.T) {
		s := newSigner(t, origin, brokenSigner{key(t, signingtest.RSA2048, 0)})
		if _, err := note.Sign(&note.Note{Text: text}, s); err == nil || !strings.Contains(err.Error(), "does not verify") {
			t.Fatalf("note.Sign with a broken key: %v", err)
		}
	})
	t.Run("token-error-wrapped", func(t *testing.T) {
		s := newSigner(t, origin, failingSigner{key(t, signingtest.P256, 0)})
		if _, err := note.Sign(&note.Note{Text: text}, s); err == nil || !strings.Contains(err.Error(), "token removed") {
			t.Fatalf("note.Sign with a failing key: %v", err)
		}
	})
}

func TestCertVerifier(t *testing.T) {
	pki := signingtest.NewPKI(t)
	s := newSigner(t, origin, pki.LeafKey)
	v, err := notesig.NewCertVerifier(origin, pki.Leaf)
	if err != nil {
		t.Fatalf("NewCertVerifier: %v", err)
	}
	if v.Certificate() != pki.Leaf || v.KeyHash() != s.KeyHash() {
		t.Fatal("certificate verifier does not match the signer")
	}
	if _, err := notesig.Open(sign(t, text, s), verifiers(t, v)); err != nil {
		t.Fatalf("Open: %v", err)
	}

	// A CA certificate (keyCertSign only) may not sign checkpoints.
	_, err = notesig.NewCertVerifier(origin, pki.Intermediate.Cert)
	wantReason(t, err, notesig.ReasonUnsupportedKey)
	_, err = notesig.NewCertVerifier(origin, nil)
	wantReason(t, err, notesig.ReasonUnsupportedKey)
	// A P-384 CA key is in profile, but its key usage is not.
	_, ecCert := pki.IssueLeaf(t, signingtest.P521)
	_, err = notesig.NewCertVerifier(origin, ecCert)
	wantReason(t, err, notesig.ReasonUnsupportedKey)
}

// otherVerifier claims a notesig key's name and ID with another key.
type otherVerifier struct{ note.Verifier }

func TestVerifierList(t *testing.T) {
	a := newSigner(t, origin, key(t, signingtest.P256, 0)).Verifier()
	a2, err := notesig.ParseVerifierKey(a.String())
	if err != nil {
		t.Fatal(err)
	}
	b := newSigner(t, origin, key(t, signingtest.P256, 1)).Verifier()
	if _, err := notesig.VerifierList(a, a2, b, a); err != nil {
		t.Fatalf("same key listed twice: %v", err)
	}
	_, err = notesig.VerifierList(a, otherVerifier{a})
	wantReason(t, err, notesig.ReasonAmbiguousKey)
	_, err = notesig.VerifierList(a, nil)
	wantReason(t, err, notesig.ReasonMalformed)
}

func TestParseVerifierKey(t *testing.T) {
	rsaV := newSigner(t, origin, key(t, signingtest.RSA2048, 0)).Verifier()
	ecV := newSigner(t, origin, key(t, signingtest.P256, 0)).Verifier()
	_, edVkey, err := note.GenerateKey(rand.Reader, "witness.example/w1")
	if err != nil {
		t.Fatal(err)
	}
	// Build keys by hand from parts, with a correct key ID unless said.
	mk := func(name string, enc []byte) string {
		h := sha256.New()
		io.WriteString(h, name+"\n")
		h.Write(enc)
		return name + "+" + fmt.Sprintf("%08x", binary.BigEndian.Uint32(h.Sum(nil))) + "+" + base64.StdEncoding.EncodeToString(enc)
	}
	spki := func(k crypto.Signer) []byte {
		b, err := x509.MarshalPKIXPublicKey(k.Public())
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	enc := func(alg string, spki []byte) []byte {
		return append(append([]byte{0xff}, alg+"\n"...), spki...)
	}
	rsaSPKI := spki(key(t, signingtest.RSA2048, 0))
	ecSPKI := spki(key(t, signingtest.P256, 0))
	parts := strings.SplitN(rsaV.String(), "+", 3)

	tests := []struct {
		name string
		vkey string
		want notesig.Reason // "" = accepted
	}{
		{"rsa", rsaV.String(), ""},
		{"ecdsa", ecV.String(), ""},
		{"ed25519-note-key", edVkey, ""},
		{"hand-built-rsa", mk(origin, enc(string(notesig.RSAPKCS1v15SHA256), rsaSPKI)), ""},
		{"uppercase-key-id", parts[0] + "+" + strings.ToUpper(parts[1]) + "+" + parts[2], ""},
		{"empty", "", notesig.ReasonMalformed},
		{"no-plus", "abc", notesig.ReasonMalformed},
		{"two-parts", origin + "+12345678", notesig.ReasonMalformed},
		{"bad-name", "a b+12345678+AQ==", notesig.ReasonMalformed},
		{"short-key-id", origin + "+1234567+" + parts[2], notesig.ReasonMalformed},
		{"non-hex-key-id", origin + "+1234567g+" + parts[2], notesig.ReasonMalformed},
		{"base64-with-newline", parts[0] + "+" + parts[1] + "+" + parts[2][:10] + "\n" + parts[2][10:], notesig.ReasonMalformed},
		{"bad-base64", origin + "+12345678+@@@", notesig.ReasonMalformed},
		{"empty-key", origin + "+12345678+", notesig.ReasonMalformed},
		{"wrong-key-id", parts[0] + "+00000000+" + parts[2], notesig.ReasonKeyHashMismatch},
		{"renamed", "truc.vn/axis/other+" + parts[1] + "+" + parts[2], notesig.ReasonKeyHashMismatch},
		{"unknown-type", mk(origin, append([]byte{0x02}, ecSPKI...)), notesig.ReasonUnsupportedKey},
		{"unknown-identifier", mk(origin, enc("truc.vn/notesig/rsa-pss-sha256", rsaSPKI)), notesig.ReasonUnsupportedKey},
		{"identifier-key-mismatch", mk(origin, enc(string(notesig.RSAPKCS1v15SHA256), ecSPKI)), notesig.ReasonUnsupportedKey},
		{"p256-key-as-p384", mk(origin, enc(string(notesig.ECDSAP384SHA384), ecSPKI)), notesig.ReasonUnsupportedKey},
		{"no-newline", mk(origin, append([]byte{0xff}, notesig.RSAPKCS1v15SHA256...)), notesig.ReasonMalformed},
		{"trailing-data", mk(origin, append(enc(string(notesig.RSAPKCS1v15SHA256), rsaSPKI), 0)), notesig.ReasonMalformed},
		{"not-spki", mk(origin, enc(string(notesig.RSAPKCS1v15SHA256), []byte("junk"))), notesig.ReasonMalformed},
		{"small-rsa", mk(origin, enc(string(notesig.RSAPKCS1v15SHA256), spki(key(t, signingtest.RSA1024, 0)))), notesig.ReasonUnsupportedKey},
		{"bad-ed25519", mk(origin, []byte{1, 2, 3}), notesig.ReasonMalformed},
		{"too-long", strings.Repeat("a", notesig.MaxVerifierKeyLen+1), notesig.ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := notesig.ParseVerifierKey(tt.vkey)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ParseVerifierKey: %v", err)
				}
				if v.Name() == "" {
					t.Fatal("verifier without a name")
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted %q", tt.vkey)
			}
			wantReason(t, err, tt.want)
		})
	}
}

// TestVerifyHostileSignatures: Verify answers false, never panics, on
// signatures of every odd shape.
func TestVerifyHostileSignatures(t *testing.T) {
	for _, alg := range []signingtest.KeyAlg{signingtest.RSA2048, signingtest.P256, signingtest.P384} {
		v := newSigner(t, origin, key(t, alg, 0)).Verifier()
		for _, sig := range [][]byte{nil, {}, {0}, make([]byte, 64), make([]byte, 256), make([]byte, 4096), {0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00}} {
			if v.Verify([]byte(text), sig) {
				t.Errorf("%s: Verify accepted %x", alg, sig)
			}
		}
	}
}
