package witness

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/http"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"truc.vn/truc/adapters/boltstore"
	"truc.vn/truc/bus"
	"truc.vn/truc/signing/notesig"
)

// Fixed P-256 keys used only by the fuzz targets, so that the committed
// seed corpus holds notes that really verify.
const (
	fuzzLogKeyPEM = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgbCXjGhnd5aqLlcwV
zTpfT+T47kPCLQj8tjiV8FcTBA2hRANCAAQYiEVEvWiFLQXm1NvCZ7JC2urwYCWP
tVosp0kGJ9shaQ2V/wbFlMM/NH4dinM8ZREvEy05z+e7gfrJDB5DxDrR
-----END PRIVATE KEY-----
`
	fuzzWitnessKeyPEM = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg5a6JlgVulUvR+v+t
CEN5IVoVvjPlxXrbSk4MmP2Jeb2hRANCAATAUaufrmm0GJjetM7UA6n1PcKS3n/Y
xd4o+e62UJChLXBXgLHJJFLgsvAUP+OK3vtdgGp+Kc2yWaf+zrCac036
-----END PRIVATE KEY-----
`
	fuzzOrigin  = "truc.vn/axis/fuzz"
	fuzzWitness = "truc.vn/edge/fuzz"
)

func fuzzSigner(t testing.TB, name, keyPEM string) *notesig.Signer {
	t.Helper()
	b, _ := pem.Decode([]byte(keyPEM))
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	s, err := notesig.NewSigner(name, k.(crypto.Signer))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func fuzzKeys(t testing.TB, s *notesig.Signer) note.Verifiers {
	t.Helper()
	vs, err := notesig.VerifierList(s.Verifier())
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// fuzzLog is a log of 5 leaves with its checkpoint signed by the fuzz
// log key: the same text every time.
func fuzzLog(t testing.TB) (*boltstore.Store, bus.SignedCheckpoint) {
	t.Helper()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "axis.db"), boltstore.Config{LogSigner: fuzzSigner(t, fuzzOrigin, fuzzLogKeyPEM)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	for i := range 5 {
		if _, err := s.Log().Append(ctx, []byte(fmt.Sprintf("leaf %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := s.Log().SignCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s, cp
}

// FuzzParseEvidence: no panic; an accepted file writes back to text that
// parses to the same evidence.
func FuzzParseEvidence(f *testing.F) {
	f.Add([]byte(evidenceMagic + "\ndetected-at: 2026-01-02T03:04:05Z\nwitness: w\nreason: r\n\n" +
		sectionOld + "\n    a\n    \n    — x AAAA\n" + sectionNew + "\n    b\n" + sectionProof + "\n" + sectionEnd + "\n"))
	f.Add([]byte(evidenceMagic + "\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := ParseEvidence(b)
		if err != nil {
			return
		}
		text, err := ev.MarshalText()
		if err != nil {
			t.Fatalf("accepted evidence does not write back: %v", err)
		}
		again, err := ParseEvidence(text)
		if err != nil {
			t.Fatalf("written evidence does not parse: %v\n%s", err, text)
		}
		if !reflect.DeepEqual(ev, again) {
			t.Fatalf("round trip changed the evidence:\n%+v\n%+v", ev, again)
		}
	})
}

// FuzzParseProof: no panic; an accepted proof has at most MaxProofLen
// hashes and prints back to the same lines.
func FuzzParseProof(f *testing.F) {
	f.Add("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\nbjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=")
	f.Add("")
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseProof(strings.Split(s, "\n"))
		if err != nil {
			return
		}
		if len(p) > bus.MaxProofLen {
			t.Fatalf("%d hashes accepted", len(p))
		}
		var lines []string
		for _, h := range p {
			lines = append(lines, base64.StdEncoding.EncodeToString(h[:]))
		}
		if strings.Join(lines, "\n") != s {
			t.Fatalf("accepted %q, prints %q", s, strings.Join(lines, "\n"))
		}
	})
}

// FuzzHandlerPost feeds hostile bodies to the axis's cosignature endpoint
// over a real log. No panic; every answer is one of the documented
// statuses; a body is accepted only if it opens with the log and witness
// keys, and then exactly its verified witness lines are stored.
func FuzzHandlerPost(f *testing.F) {
	store, cp := fuzzLog(f)
	logSigner := fuzzSigner(f, fuzzOrigin, fuzzLogKeyPEM)
	wit := fuzzSigner(f, fuzzWitness, fuzzWitnessKeyPEM)
	logKeys, witnesses := fuzzKeys(f, logSigner), fuzzKeys(f, wit)
	h, err := NewHandler(HandlerConfig{Store: store.Log(), LogKeys: logKeys, Witnesses: witnesses})
	if err != nil {
		f.Fatal(err)
	}
	good, err := bus.Cosign(cp, bus.SignedCheckpoint{}, nil, wit)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(cp.Note)
	f.Add(append(bytes.Clone(good), "— truc.vn/edge/other AAAAAAECAwQ=\n"...))
	f.Add([]byte("truc.vn/axis/fuzz\n5\nAAAA\n\n— x AAAA\n"))
	allowed := []int{http.StatusOK, http.StatusBadRequest, http.StatusForbidden, http.StatusConflict, http.StatusRequestEntityTooLarge}
	f.Fuzz(func(t *testing.T, body []byte) {
		res, p := h.accept(context.Background(), body)
		if p != nil {
			if !slices.Contains(allowed, p.Status) || p.Reason == "" || p.Detail == "" {
				t.Fatalf("problem %+v", p)
			}
			return
		}
		got, names, err := bus.OpenCosigned(body, logKeys, witnesses)
		if err != nil || len(names) == 0 || got.Size != res.Size || !slices.Equal(names, res.Witnesses) {
			t.Fatalf("accepted a body that does not open: %v %q", err, names)
		}
		stored, err := store.Log().Cosigned(context.Background(), res.Size)
		if err != nil {
			t.Fatal(err)
		}
		if _, snames, err := bus.OpenCosigned(stored, logKeys, witnesses); err != nil || !slices.Equal(snames, []string{fuzzWitness}) {
			t.Fatalf("stored note: %v %q\n%s", err, snames, stored)
		}
	})
}

// FuzzLogSigned appends hostile signature lines to a valid checkpoint:
// whenever the note still opens, the witness keeps only the log's own
// signatures, and the result opens too.
func FuzzLogSigned(f *testing.F) {
	_, cp := fuzzLog(f)
	logKeys := fuzzKeys(f, fuzzSigner(f, fuzzOrigin, fuzzLogKeyPEM))
	w := &Witness{cfg: Config{LogKeys: logKeys}}
	f.Add([]byte("— truc.vn/edge/x AAAAAAECAwQ=\n"))
	f.Add([]byte("— truc.vn/axis/fuzz AAAAAAECAwQ=\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, extra []byte) {
		msg := append(bytes.Clone(cp.Note), extra...)
		opened, err := bus.OpenCheckpoint(msg, logKeys)
		if err != nil {
			return
		}
		out := w.logSigned(opened)
		if _, err := bus.OpenCheckpoint(out, logKeys); err != nil {
			t.Fatalf("the stripped note does not open: %v\n%s", err, out)
		}
		for _, l := range signatureLines(out) {
			if !strings.HasPrefix(l, "— "+fuzzOrigin+" ") {
				t.Fatalf("kept a line not by the log: %q", l)
			}
		}
	})
}
