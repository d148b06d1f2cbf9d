package notesig_test

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"truc.vn/truc/signing/notesig"
)

// fuzzKeyPEM is a P-256 key used only by the fuzz targets, so that the
// committed seed corpus holds notes that really verify.
const fuzzKeyPEM = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgALlfii8xnXFNVR/h
kTwXB941iQ3nobpiZEX3KZOZvn6hRANCAAQzzvltVcRYbFz/5noHQczWVxqcZ+tw
2EyTq0h1ewblLLT/Oh3Q93pjSK/uaCBPfhEbptNUOGC547rpZs3sgWO7
-----END PRIVATE KEY-----
`

func fuzzSigner(t testing.TB) *notesig.Signer {
	t.Helper()
	b, _ := pem.Decode([]byte(fuzzKeyPEM))
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	s, err := notesig.NewSigner(origin, k.(crypto.Signer))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// FuzzParseVerifierKey: no panic; an accepted key of this package prints
// back to a key that parses to the same verifier; every refusal is an
// *Error.
func FuzzParseVerifierKey(f *testing.F) {
	s := fuzzSigner(f)
	f.Add(s.Verifier().String())
	f.Add("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
	f.Add(origin + "+00000000+/w==")
	f.Add("a+b+c")
	f.Fuzz(func(t *testing.T, vkey string) {
		v, err := notesig.ParseVerifierKey(vkey)
		if err != nil {
			var e *notesig.Error
			if !errors.As(err, &e) || e.Reason == "" {
				t.Fatalf("error %v is not a *notesig.Error", err)
			}
			return
		}
		if v.Name() == "" {
			t.Fatal("accepted a key without a name")
		}
		if nv, ok := v.(*notesig.Verifier); ok {
			if !strings.EqualFold(nv.String(), vkey) {
				t.Fatalf("accepted %q but prints %q", vkey, nv.String())
			}
			again, err := notesig.ParseVerifierKey(nv.String())
			if err != nil || !again.(*notesig.Verifier).Equal(nv) {
				t.Fatalf("printed key does not parse back: %v", err)
			}
		}
	})
}

// FuzzOpen feeds hostile signed notes to Open with one known key. No
// panic; every refusal is an *Error; an accepted note ends in a newline
// and each verified signature is one the key really made over the text.
func FuzzOpen(f *testing.F) {
	s := fuzzSigner(f)
	v := s.Verifier()
	known, err := notesig.VerifierList(v)
	if err != nil {
		f.Fatal(err)
	}
	signed, err := note.Sign(&note.Note{Text: text}, s)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signed)
	f.Add([]byte(text + "\n— other.example/w AAAAAAAA\n"))
	f.Add([]byte("\n\n— a AAAAAAA=\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, msg []byte) {
		n, err := notesig.Open(msg, known)
		if err != nil {
			var e *notesig.Error
			if !errors.As(err, &e) || e.Reason == "" {
				t.Fatalf("error %v is not a *notesig.Error", err)
			}
			return
		}
		if !strings.HasSuffix(n.Text, "\n") || len(n.Sigs) == 0 {
			t.Fatalf("accepted a note without text or signatures: %+v", n)
		}
		for _, sig := range n.Sigs {
			raw, err := base64.StdEncoding.DecodeString(sig.Base64)
			if err != nil || sig.Hash != v.KeyHash() || !v.Verify([]byte(n.Text), raw[4:]) {
				t.Fatalf("signature %+v reported verified but is not", sig)
			}
		}
	})
}
