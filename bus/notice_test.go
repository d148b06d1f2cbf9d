package bus_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"truc.vn/truc/bus"
	"truc.vn/truc/signing/notesig"
)

func TestAckRoundTrip(t *testing.T) {
	a := bus.Ack{Edge: "hanoi", SHA256: [32]byte{1, 2, 3}}
	b, err := a.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := bus.DecodeAck(b)
	if err != nil || got != a {
		t.Fatalf("DecodeAck(Encode(a)) = %+v, %v; want %+v", got, err, a)
	}
	for name, bad := range map[string]string{
		"no header":     strings.TrimPrefix(string(b), "truc-ack v1\n"),
		"upper hex":     strings.ToUpper(string(b)),
		"extra line":    string(b) + "x\n",
		"no newline":    strings.TrimSuffix(string(b), "\n"),
		"bad edge":      strings.Replace(string(b), "edge hanoi", "edge Hà Nội", 1),
		"short sha256":  strings.Replace(string(b), "sha256 01", "sha256 1", 1),
		"crlf":          strings.ReplaceAll(string(b), "\n", "\r\n"),
		"double spaced": strings.Replace(string(b), "edge hanoi", "edge  hanoi", 1),
	} {
		if _, err := bus.DecodeAck([]byte(bad)); err == nil {
			t.Errorf("%s: DecodeAck accepted %q", name, bad)
		}
	}
	if _, err := (bus.Ack{Edge: ""}).Encode(); err == nil {
		t.Error("an ack without an edge encoded")
	}
}

func noticeKeys(t testing.TB, edge string) (note.Signer, note.Verifiers) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := notesig.NewSigner(bus.EdgeNoteName(edge), k)
	if err != nil {
		t.Fatal(err)
	}
	return s, note.VerifierList(s.Verifier())
}

func TestNotice(t *testing.T) {
	signer, verifiers := noticeKeys(t, "tayninh")
	n := bus.Notice{Edge: "tayninh", SHA256: [32]byte{9}, MessageID: "vpcp.1.abc", Reason: "untrusted-chain", Detail: "chain: no root\nnext line"}
	msg, err := n.Sign(signer)
	if err != nil {
		t.Fatal(err)
	}
	got, err := bus.OpenNotice(msg, verifiers)
	if err != nil {
		t.Fatal(err)
	}
	if got.Edge != n.Edge || got.SHA256 != n.SHA256 || got.MessageID != n.MessageID || got.Reason != n.Reason || got.Detail != "chain: no root next line" {
		t.Errorf("OpenNotice = %+v", got)
	}
	if u, err := bus.ParseUnverifiedNotice(msg); err != nil || u != got {
		t.Errorf("ParseUnverifiedNotice = %+v, %v", u, err)
	}
	// Another edge's key, or a changed byte, does not open it.
	_, other := noticeKeys(t, "tayninh")
	if _, err := bus.OpenNotice(msg, other); err == nil {
		t.Error("a notice opened with another key")
	}
	tampered := bytes.Replace(msg, []byte("untrusted-chain"), []byte("untrusted-chaim"), 1)
	if _, err := bus.OpenNotice(tampered, verifiers); err == nil {
		t.Error("a tampered notice opened")
	}
	if _, err := (bus.Notice{Edge: "tayninh", MessageID: "x", Reason: ""}).Sign(signer); err == nil {
		t.Error("a notice without a reason signed")
	}
}

func FuzzDecodeAck(f *testing.F) {
	good, _ := bus.Ack{Edge: "hanoi", SHA256: [32]byte{1}}.Encode()
	f.Add(good)
	f.Add([]byte("truc-ack v1\nedge x\nsha256 \n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := bus.DecodeAck(b)
		if err != nil {
			return
		}
		again, err := a.Encode()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("DecodeAck accepted %q, which does not re-encode to itself (%q, %v)", b, again, err)
		}
	})
}

func FuzzParseNoticeText(f *testing.F) {
	f.Add([]byte("truc-rejection v1\nedge e\nsha256 " + strings.Repeat("0", 64) + "\nmessage-id m\nreason r\ndetail d\n"))
	f.Add([]byte("truc-rejection v1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := bus.ParseNoticeText(b)
		if err != nil {
			return
		}
		if n.Edge == "" || n.Reason == "" || n.MessageID == "" {
			t.Fatalf("ParseNoticeText accepted %q with an empty field: %+v", b, n)
		}
	})
}

func TestSignedAcks(t *testing.T) {
	signer, verifiers := noticeKeys(t, "hanoi")
	shas := [][32]byte{{1}, {2}, {3}}
	msg, err := bus.SignAcks("hanoi", shas, signer)
	if err != nil {
		t.Fatal(err)
	}
	if edge, err := bus.UnverifiedAckEdge(msg); err != nil || edge != "hanoi" {
		t.Fatalf("UnverifiedAckEdge = %q, %v", edge, err)
	}
	acks, err := bus.OpenAcks(msg, verifiers)
	if err != nil || len(acks) != 3 || acks[2].SHA256 != shas[2] || acks[0].Edge != "hanoi" {
		t.Fatalf("OpenAcks = %+v, %v", acks, err)
	}
	// Another edge's key cannot ack in hanoi's name, nor can a bare text.
	other, _ := noticeKeys(t, "hanoi")
	forged, _ := bus.SignAcks("hanoi", shas, other)
	if _, err := bus.OpenAcks(forged, verifiers); err == nil {
		t.Error("an ack signed with another key opened")
	}
	text, _ := bus.EncodeAcks("hanoi", shas)
	if _, err := bus.OpenAcks(text, verifiers); err == nil {
		t.Error("an unsigned ack opened")
	}
	if _, err := bus.EncodeAcks("hanoi", nil); err == nil {
		t.Error("an ack of nothing encoded")
	}
}
