package bus_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"truc.vn/truc/bus"
)

func wantEvidenceError(t *testing.T, err error) {
	t.Helper()
	var e *bus.EvidenceError
	if !errors.As(err, &e) || e.Reason == "" || e.What == "" {
		t.Fatalf("error %v is not a complete *EvidenceError", err)
	}
}

// FuzzParseCheckpoint: no panic; every refusal is an *EvidenceError; an
// accepted text is printed back by Text byte for byte (one text, one
// checkpoint).
func FuzzParseCheckpoint(f *testing.F) {
	f.Add([]byte("example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"))
	f.Add([]byte(testOrigin + "\n0\n" + emptyTreeHashB + "\next\n"))
	f.Add([]byte("a\n01\n" + emptyTreeHashB + "\n"))
	f.Add([]byte("\n\n\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		c, err := bus.ParseCheckpoint(text)
		if err != nil {
			wantEvidenceError(t, err)
			return
		}
		again, err := c.Text()
		if err != nil {
			t.Fatalf("accepted %q but Text refuses it: %v", text, err)
		}
		if !bytes.Equal(again, text) {
			t.Fatalf("accepted %q but prints %q", text, again)
		}
	})
}

// FuzzOpenCheckpoint feeds hostile signed notes with the log's key and a
// witness key known. No panic; every refusal is an *EvidenceError; an
// accepted note carries a valid log signature over a checkpoint text that
// parses to the same checkpoint.
func FuzzOpenCheckpoint(f *testing.F) {
	m := newMemTree(f, 3)
	sc, err := bus.SignCheckpoint(m.checkpoint(f, 3), signer(f, logSkey))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sc.Note)
	f.Add(bytes.Replace(sc.Note, []byte("\n3\n"), []byte("\n4\n"), 1))
	f.Add([]byte("x\n\n— truc.vn/axis/test-axis AAAAAAA=\n"))
	known := note.VerifierList(verifier(f, logVkey), verifier(f, witnessVkey))
	f.Fuzz(func(t *testing.T, msg []byte) {
		got, err := bus.OpenCheckpoint(msg, known)
		if err != nil {
			wantEvidenceError(t, err)
			return
		}
		n, err := note.Open(msg, note.VerifierList(verifier(t, logVkey)))
		if err != nil {
			t.Fatalf("accepted a note the log key did not sign: %v", err)
		}
		c, err := bus.ParseCheckpoint([]byte(n.Text))
		if err != nil || c.Size != got.Size || c.Hash != got.Hash || c.Origin != got.Origin {
			t.Fatalf("accepted checkpoint %+v differs from its text (%v)", got.Checkpoint, err)
		}
	})
}

// FuzzDecodeEvent: no panic; every refusal is an *EvidenceError; an
// accepted leaf is the canonical encoding of the event it decodes to.
func FuzzDecodeEvent(f *testing.F) {
	for _, e := range []bus.Event{fullEvent(), {Kind: bus.EventStatus, Time: t0, MessageID: "m", PackageSHA256: [32]byte{1}, StatusCode: "01", Sender: "H41", Recipients: []string{"G22"}}} {
		leaf, err := e.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(leaf)
	}
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`{"v":2,"kind":"status"}`))
	f.Fuzz(func(t *testing.T, leaf []byte) {
		e, err := bus.DecodeEvent(leaf)
		if err != nil {
			wantEvidenceError(t, err)
			return
		}
		again, err := e.Encode()
		if err != nil || !bytes.Equal(again, leaf) {
			t.Fatalf("accepted %q but encodes it as %q (%v)", leaf, again, err)
		}
	})
}

// FuzzDecodeReceipt: no panic; every refusal is an *EvidenceError; an
// accepted receipt encodes and decodes back to itself; Verify never
// panics on it.
func FuzzDecodeReceipt(f *testing.F) {
	m, sc := logWithEvents(f, 3)
	enc, err := receiptFor(f, m, sc, 1).Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(enc)
	f.Add([]byte(`{"v":1,"index":0,"event":"eA==","proof":[],"checkpoint":"eA=="}`))
	f.Add([]byte(`{"v":3}`))
	known := note.VerifierList(verifier(f, logVkey))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := bus.DecodeReceipt(data)
		if err != nil {
			wantEvidenceError(t, err)
			return
		}
		enc, err := r.Encode()
		if err != nil {
			t.Fatalf("accepted a receipt Encode refuses: %v", err)
		}
		back, err := bus.DecodeReceipt(enc)
		if err != nil || !reflect.DeepEqual(back, r) {
			t.Fatalf("receipt does not survive encode/decode: %v", err)
		}
		if err := r.Verify(known); err != nil {
			wantEvidenceErrorOrWrapped(t, err)
		}
	})
}

func wantEvidenceErrorOrWrapped(t *testing.T, err error) {
	t.Helper()
	var e *bus.EvidenceError
	if !errors.As(err, &e) {
		t.Fatalf("Verify error %v does not wrap an *EvidenceError", err)
	}
}
