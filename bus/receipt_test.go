package bus_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"truc.vn/truc/bus"
)

var t0 = time.Date(2026, 3, 2, 8, 0, 0, 123456789, time.UTC)

func fullEvent() bus.Event {
	return bus.Event{
		Kind:          bus.EventSubmissionRejected,
		Time:          t0,
		MessageID:     "msg-000.00.00.G22-42",
		PackageSHA256: sha256.Sum256([]byte("package")),
		Sender:        "000.00.00.G22",
		Recipients:    []string{"000.00.00.H41", "vxp.saas.02"},
		Edge:          "edge-hn-01",
		StatusCode:    "03",
		Reason:        "revoked",
		Detail:        `chứng thư "bị thu hồi" \ ngày 01/03`,
		Evidence: bus.Evidence{
			VerifiedAt: t0.Add(-time.Second).In(time.FixedZone("ICT", 7*3600)),
			Chain:      [][32]byte{sha256.Sum256([]byte("leaf")), sha256.Sum256([]byte("ca"))},
			CRLs:       []bus.CRLEvidence{{Issuer: sha256.Sum256([]byte("ca")), Number: "1234567890123456789012345678901234567890"}},
		},
	}
}

// TestEventEncodingGolden pins the canonical encoding byte for byte: a
// change here changes leaf hashes of events already in logs, which must
// never happen for a released EventVersion.
func TestEventEncodingGolden(t *testing.T) {
	cases := []struct {
		name string
		e    bus.Event
		want string
	}{
		{"every-field", fullEvent(), `{"v":1,"kind":"submission-rejected","time":"2026-03-02T08:00:00.123456789Z","msg_id":"msg-000.00.00.G22-42",` +
			`"sha256":"PKG",` +
			`"sender":"000.00.00.G22","recipients":["000.00.00.H41","vxp.saas.02"],"edge":"edge-hn-01","status":"03","reason":"revoked",` +
			`"detail":"chứng thư \"bị thu hồi\" \\ ngày 01/03",` +
			`"evidence":{"verified_at":"2026-03-02T07:59:59.123456789Z","chain":["LEAF","CA"],"crls":[{"issuer":"CA","number":"1234567890123456789012345678901234567890"}]}}`},
		{"minimal-accepted", bus.Event{
			Kind: bus.EventSubmissionAccepted, Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), MessageID: "m1",
			PackageSHA256: [32]byte{0xff}, Sender: "G22", Recipients: []string{"H41"},
		}, `{"v":1,"kind":"submission-accepted","time":"2026-01-01T00:00:00.000000000Z","msg_id":"m1",` +
			`"sha256":"ff00000000000000000000000000000000000000000000000000000000000000","sender":"G22","recipients":["H41"]}`},
	}
	hexOf := func(s string) string { h := sha256.Sum256([]byte(s)); return fmt.Sprintf("%x", h) }
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The fingerprints are SHA-256 values of fixed strings.
			want := strings.NewReplacer("PKG", hexOf("package"), "LEAF", hexOf("leaf"), "CA", hexOf("ca")).Replace(tc.want)
			got, err := tc.e.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != want {
				t.Fatalf("encoding changed:\n got %s\nwant %s", got, want)
			}
			if !json.Valid(got) {
				t.Fatal("not valid JSON")
			}
			back, err := bus.DecodeEvent(got)
			if err != nil {
				t.Fatalf("DecodeEvent: %v", err)
			}
			again, _ := back.Encode()
			if !bytes.Equal(again, got) {
				t.Fatal("decode and encode again changed the bytes")
			}
			if !back.Time.Equal(tc.e.Time) || !back.Evidence.VerifiedAt.Equal(tc.e.Evidence.VerifiedAt) {
				t.Fatal("times changed")
			}
			back.Time, back.Evidence.VerifiedAt = tc.e.Time, tc.e.Evidence.VerifiedAt
			if !reflect.DeepEqual(back, tc.e) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", back, tc.e)
			}
		})
	}
}

func TestEventKinds(t *testing.T) {
	base := bus.Event{Time: t0, MessageID: "m", PackageSHA256: [32]byte{1}}
	with := func(f func(*bus.Event)) bus.Event { e := base; f(&e); return e }
	cases := []struct {
		name  string
		e     bus.Event
		field string // "" = valid
		why   bus.Reason
	}{
		{"accepted", with(func(e *bus.Event) {
			e.Kind, e.Sender, e.Recipients = bus.EventSubmissionAccepted, "G22", []string{"H41"}
		}), "", ""},
		{"accepted-no-sender", with(func(e *bus.Event) { e.Kind, e.Recipients = bus.EventSubmissionAccepted, []string{"H41"} }), "Sender", ""},
		{"accepted-no-recipients", with(func(e *bus.Event) { e.Kind, e.Sender = bus.EventSubmissionAccepted, "G22" }), "Recipients", ""},
		{"accepted-with-reason", with(func(e *bus.Event) {
			e.Kind, e.Sender, e.Recipients, e.Reason = bus.EventSubmissionAccepted, "G22", []string{"H41"}, "revoked"
		}), "Reason", bus.ReasonInvalid},
		{"rejected", with(func(e *bus.Event) { e.Kind, e.Reason = bus.EventSubmissionRejected, "bad-signature" }), "", ""},
		{"rejected-no-reason", with(func(e *bus.Event) { e.Kind = bus.EventSubmissionRejected }), "Reason", ""},
		{"delivered", with(func(e *bus.Event) { e.Kind, e.Edge, e.Recipients = bus.EventDelivered, "edge-1", []string{"H41"} }), "", ""},
		{"delivered-no-edge", with(func(e *bus.Event) { e.Kind, e.Recipients = bus.EventDelivered, []string{"H41"} }), "Edge", ""},
		{"status", with(func(e *bus.Event) {
			e.Kind, e.StatusCode, e.Sender, e.Recipients = bus.EventStatus, "01", "H41", []string{"G22"}
		}), "", ""},
		{"status-no-code", with(func(e *bus.Event) { e.Kind, e.Sender, e.Recipients = bus.EventStatus, "H41", []string{"G22"} }), "StatusCode", ""},
		{"rejection-notice", with(func(e *bus.Event) { e.Kind, e.Edge, e.Reason = bus.EventRejectionNotice, "edge-2", "digest-mismatch" }), "", ""},
		{"rejection-notice-no-edge", with(func(e *bus.Event) { e.Kind, e.Reason = bus.EventRejectionNotice, "digest-mismatch" }), "Edge", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			leaf, err := tc.e.Encode()
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				if _, err := bus.DecodeEvent(leaf); err != nil {
					t.Fatalf("DecodeEvent: %v", err)
				}
				return
			}
			why := tc.why
			if why == "" {
				why = bus.ReasonMissing
			}
			wantEvidenceErr(t, err, tc.field, why)
		})
	}
}

func TestEventValidate(t *testing.T) {
	valid := fullEvent()
	with := func(f func(*bus.Event)) bus.Event {
		e := fullEvent()
		f(&e)
		return e
	}
	if err := valid.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		e      bus.Event
		field  string
		reason bus.Reason
	}{
		{"no-kind", with(func(e *bus.Event) { e.Kind = "" }), "Kind", bus.ReasonMissing},
		{"unknown-kind", with(func(e *bus.Event) { e.Kind = "exploded" }), "Kind", bus.ReasonInvalid},
		{"no-time", with(func(e *bus.Event) { e.Time = time.Time{} }), "Time", bus.ReasonMissing},
		{"time-before-1970", with(func(e *bus.Event) { e.Time = time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC) }), "Time", bus.ReasonInvalid},
		{"time-after-9999", with(func(e *bus.Event) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }), "Time", bus.ReasonInvalid},
		{"no-message-id", with(func(e *bus.Event) { e.MessageID = "" }), "MessageID", bus.ReasonMissing},
		{"bad-message-id", with(func(e *bus.Event) { e.MessageID = "a b" }), "MessageID", bus.ReasonInvalid},
		{"no-sha256", with(func(e *bus.Event) { e.PackageSHA256 = [32]byte{} }), "PackageSHA256", bus.ReasonMissing},
		{"bad-sender", with(func(e *bus.Event) { e.Sender = "G22." }), "Sender", bus.ReasonInvalid},
		{"duplicate-recipient", with(func(e *bus.Event) { e.Recipients = []string{"H41", "H41"} }), "Recipients[1]", bus.ReasonDuplicate},
		{"bad-recipient", with(func(e *bus.Event) { e.Recipients = []string{"H41", "x y"} }), "Recipients[1]", bus.ReasonInvalid},
		{"bad-edge", with(func(e *bus.Event) { e.Edge = "edge..1" }), "Edge", bus.ReasonInvalid},
		{"status-one-digit", with(func(e *bus.Event) { e.StatusCode = "1" }), "StatusCode", bus.ReasonInvalid},
		{"status-letters", with(func(e *bus.Event) { e.StatusCode = "0a" }), "StatusCode", bus.ReasonInvalid},
		{"reason-upper", with(func(e *bus.Event) { e.Reason = "Revoked" }), "Reason", bus.ReasonInvalid},
		{"reason-space", with(func(e *bus.Event) { e.Reason = "re voked" }), "Reason", bus.ReasonInvalid},
		{"reason-long", with(func(e *bus.Event) { e.Reason = strings.Repeat("a", bus.MaxReasonLen+1) }), "Reason", bus.ReasonTooLarge},
		{"detail-control", with(func(e *bus.Event) { e.Detail = "a\nb" }), "Detail", bus.ReasonInvalid},
		{"detail-not-utf8", with(func(e *bus.Event) { e.Detail = "\xff" }), "Detail", bus.ReasonInvalid},
		{"detail-long", with(func(e *bus.Event) { e.Detail = strings.Repeat("a", bus.MaxDetailLen+1) }), "Detail", bus.ReasonTooLarge},
		{"evidence-no-time", with(func(e *bus.Event) { e.Evidence.VerifiedAt = time.Time{} }), "Evidence.VerifiedAt", bus.ReasonMissing},
		{"evidence-no-chain", with(func(e *bus.Event) { e.Evidence.Chain = nil }), "Evidence.Chain", bus.ReasonMissing},
		{"evidence-zero-fingerprint", with(func(e *bus.Event) { e.Evidence.Chain[1] = [32]byte{} }), "Evidence.Chain[1]", bus.ReasonMissing},
		{"evidence-long-chain", with(func(e *bus.Event) { e.Evidence.Chain = make([][32]byte, bus.MaxChainLen+1) }), "Evidence.Chain", bus.ReasonTooLarge},
		{"crl-no-issuer", with(func(e *bus.Event) { e.Evidence.CRLs[0].Issuer = [32]byte{} }), "Evidence.CRLs[0].Issuer", bus.ReasonMissing},
		{"crl-number-leading-zero", with(func(e *bus.Event) { e.Evidence.CRLs[0].Number = "012" }), "Evidence.CRLs[0].Number", bus.ReasonInvalid},
		{"crl-number-hex", with(func(e *bus.Event) { e.Evidence.CRLs[0].Number = "0x12" }), "Evidence.CRLs[0].Number", bus.ReasonInvalid},
		{"crl-number-empty", with(func(e *bus.Event) { e.Evidence.CRLs[0].Number = "" }), "Evidence.CRLs[0].Number", bus.ReasonInvalid},
		{"too-many-crls", with(func(e *bus.Event) {
			e.Evidence.CRLs = make([]bus.CRLEvidence, bus.MaxCRLs+1)
		}), "Evidence.CRLs", bus.ReasonTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantEvidenceErr(t, tc.e.Validate(), tc.field, tc.reason)
			if _, err := tc.e.Encode(); err == nil {
				t.Fatal("Encode accepted an invalid event")
			}
		})
	}
}

func TestDecodeEventRefuses(t *testing.T) {
	good, err := fullEvent().Encode()
	if err != nil {
		t.Fatal(err)
	}
	s := string(good)
	cases := []struct {
		name   string
		leaf   string
		field  string
		reason bus.Reason
	}{
		{"empty", "", "", bus.ReasonInvalid},
		{"not-json", "event", "", bus.ReasonInvalid},
		{"array", "[]", "", bus.ReasonInvalid},
		{"spaces", strings.Replace(s, `,"kind"`, `, "kind"`, 1), "", bus.ReasonInvalid},
		{"trailing-newline", s + "\n", "", bus.ReasonInvalid},
		{"trailing-data", s + "{}", "", bus.ReasonInvalid},
		{"reordered", strings.Replace(s, `"v":1,"kind":"submission-rejected"`, `"kind":"submission-rejected","v":1`, 1), "", bus.ReasonInvalid},
		{"unicode-escape", strings.Replace(s, `"reason":"revoked"`, `"reason":"\u0072evoked"`, 1), "", bus.ReasonInvalid},
		{"duplicate-member", strings.Replace(s, `"reason":"revoked"`, `"reason":"expired","reason":"revoked"`, 1), "", bus.ReasonInvalid},
		{"unknown-member", strings.Replace(s, `"reason":"revoked"`, `"reason":"revoked","extra":1`, 1), "", bus.ReasonInvalid},
		{"empty-optional-written", strings.Replace(s, `"edge":"edge-hn-01"`, `"edge":"edge-hn-01","sender":""`, 1), "", bus.ReasonInvalid},
		{"uppercase-hex", strings.Replace(s, `"sha256":"`+fmt.Sprintf("%x", sha256.Sum256([]byte("package")))[:2], `"sha256":"`+strings.ToUpper(fmt.Sprintf("%x", sha256.Sum256([]byte("package")))[:2]), 1), "", bus.ReasonInvalid},
		{"time-without-nanos", strings.Replace(s, `08:00:00.123456789Z`, `08:00:00Z`, 1), "time", bus.ReasonInvalid},
		{"time-with-offset", strings.Replace(s, `08:00:00.123456789Z`, `15:00:00.123456789+07:00`, 1), "time", bus.ReasonInvalid},
		{"short-sha256", `{"v":1,"kind":"submission-rejected","time":"2026-03-02T08:00:00.123456789Z","msg_id":"m","sha256":"00","reason":"x"}`, "sha256", bus.ReasonInvalid},
		{"version-2", strings.Replace(s, `"v":1`, `"v":2`, 1), "v", bus.ReasonVersion},
		{"version-float", strings.Replace(s, `"v":1`, `"v":1.0`, 1), "", bus.ReasonInvalid},
		{"no-version", strings.Replace(s, `"v":1,`, ``, 1), "v", bus.ReasonMissing},
		{"invalid-field", strings.Replace(s, `"status":"03"`, `"status":"3"`, 1), "StatusCode", bus.ReasonInvalid},
		{"too-large", `{"v":1,"detail":"` + strings.Repeat("a", bus.MaxLeafSize) + `"}`, "", bus.ReasonTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := bus.DecodeEvent([]byte(tc.leaf))
			if err == nil {
				t.Fatalf("accepted %+v", e)
			}
			wantEvidenceErr(t, err, tc.field, tc.reason)
		})
	}
}

// logWithEvents builds an in-memory log of encoded events and a signed
// checkpoint over all of them.
func logWithEvents(t testing.TB, n int) (*memTree, bus.SignedCheckpoint) {
	m := &memTree{}
	for i := range n {
		e := fullEvent()
		e.MessageID = fmt.Sprintf("msg-%d", i)
		leaf, err := e.Encode()
		if err != nil {
			t.Fatal(err)
		}
		m.add(t, leaf)
	}
	sc, err := bus.SignCheckpoint(m.checkpoint(t, int64(n)), signer(t, logSkey))
	if err != nil {
		t.Fatal(err)
	}
	return m, sc
}

func receiptFor(t testing.TB, m *memTree, sc bus.SignedCheckpoint, i int64) bus.Receipt {
	p, err := tlog.ProveRecord(sc.Size, i, m)
	if err != nil {
		t.Fatal(err)
	}
	return bus.Receipt{Event: m.leaves[i], Index: i, Proof: toProof(p), Checkpoint: sc.Note}
}

func TestReceiptRoundTripAndVerify(t *testing.T) {
	m, sc := logWithEvents(t, 11)
	known := note.VerifierList(verifier(t, logVkey))
	for i := range int64(11) {
		r := receiptFor(t, m, sc, i)
		enc, err := r.Encode()
		if err != nil {
			t.Fatal(err)
		}
		dec, err := bus.DecodeReceipt(enc)
		if err != nil {
			t.Fatalf("DecodeReceipt: %v", err)
		}
		if !reflect.DeepEqual(dec, r) {
			t.Fatalf("round trip changed the receipt")
		}
		e, cp, err := dec.Open(known)
		if err != nil {
			t.Fatalf("receipt %d: %v", i, err)
		}
		if e.MessageID != fmt.Sprintf("msg-%d", i) || cp.Size != 11 {
			t.Fatalf("receipt %d opened to %s at size %d", i, e.MessageID, cp.Size)
		}
	}
	// A pretty-printed receipt still decodes.
	enc, _ := receiptFor(t, m, sc, 3).Encode()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, enc, "", "  "); err != nil {
		t.Fatal(err)
	}
	if r, err := bus.DecodeReceipt(pretty.Bytes()); err != nil || r.Verify(known) != nil {
		t.Fatalf("pretty-printed receipt: %v", err)
	}
	if !strings.HasPrefix(string(enc), `{"v":1,"index":3,"event":"`) {
		t.Fatalf("encoding starts %.40s", enc)
	}
}

func TestReceiptVerifyRefuses(t *testing.T) {
	m, sc := logWithEvents(t, 6)
	known := note.VerifierList(verifier(t, logVkey))
	good := receiptFor(t, m, sc, 2)
	with := func(f func(*bus.Receipt)) bus.Receipt {
		r := good
		r.Proof = append([][32]byte(nil), good.Proof...)
		f(&r)
		return r
	}
	otherEvent := fullEvent()
	otherEvent.MessageID = "forged"
	forged, _ := otherEvent.Encode()
	cases := []struct {
		name   string
		r      bus.Receipt
		known  note.Verifiers
		reason bus.Reason
	}{
		{"other-event", with(func(r *bus.Receipt) { r.Event = forged }), known, bus.ReasonProofMismatch},
		{"other-index", with(func(r *bus.Receipt) { r.Index = 3 }), known, bus.ReasonProofMismatch},
		{"tampered-proof", with(func(r *bus.Receipt) { r.Proof[0][0] ^= 1 }), known, bus.ReasonProofMismatch},
		{"index-past-checkpoint", with(func(r *bus.Receipt) { r.Index = 6 }), known, bus.ReasonInvalid},
		{"untrusted-key", good, note.VerifierList(verifier(t, witnessVkey)), bus.ReasonUnknownKey},
		{"tampered-checkpoint", with(func(r *bus.Receipt) { r.Checkpoint = bytes.Replace(r.Checkpoint, []byte("\n6\n"), []byte("\n7\n"), 1) }), known, bus.ReasonBadSignature},
		{"no-event", with(func(r *bus.Receipt) { r.Event = nil }), known, bus.ReasonMissing},
		{"no-checkpoint", with(func(r *bus.Receipt) { r.Checkpoint = nil }), known, bus.ReasonMissing},
		{"negative-index", with(func(r *bus.Receipt) { r.Index = -1 }), known, bus.ReasonInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantEvidenceErr(t, tc.r.Verify(tc.known), "*", tc.reason)
		})
	}
	// A receipt whose proof verifies but whose event is not canonical
	// verifies (inclusion does not need the event format) and fails Open.
	m2 := &memTree{}
	m2.add(t, []byte("not an event"))
	sc2, _ := bus.SignCheckpoint(m2.checkpoint(t, 1), signer(t, logSkey))
	r := bus.Receipt{Event: m2.leaves[0], Index: 0, Proof: [][32]byte{}, Checkpoint: sc2.Note}
	if err := r.Verify(known); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if _, _, err := r.Open(known); err == nil {
		t.Fatal("Open decoded a leaf that is not an event")
	}
}

func TestDecodeReceiptRefuses(t *testing.T) {
	m, sc := logWithEvents(t, 3)
	enc, _ := receiptFor(t, m, sc, 1).Encode()
	s := string(enc)
	cases := []struct {
		name   string
		data   string
		field  string
		reason bus.Reason
	}{
		{"empty", "", "", bus.ReasonInvalid},
		{"unknown-member", strings.Replace(s, `{"v":1,`, `{"v":1,"x":2,`, 1), "", bus.ReasonInvalid},
		{"trailing-data", s + "x", "", bus.ReasonInvalid},
		{"version-2", strings.Replace(s, `"v":1`, `"v":2`, 1), "v", bus.ReasonVersion},
		{"no-version", strings.Replace(s, `"v":1,`, ``, 1), "v", bus.ReasonMissing},
		{"no-index", strings.Replace(s, `"index":1,`, ``, 1), "index", bus.ReasonMissing},
		{"short-hash", strings.Replace(s, `"proof":["`, `"proof":["AAAA","`, 1), "proof[0]", bus.ReasonInvalid},
		{"bad-base64-event", strings.Replace(s, `"event":"`, `"event":"!`, 1), "", bus.ReasonInvalid},
		{"no-event", `{"v":1,"index":1,"proof":[],"checkpoint":"eA=="}`, "event", bus.ReasonMissing},
		{"too-many-hashes", `{"v":1,"index":1,"event":"eA==","checkpoint":"eA==","proof":[` + strings.Repeat(`"`+strings.Repeat("A", 43)+`=",`, bus.MaxProofLen) + `"` + strings.Repeat("A", 43) + `="]}`, "proof", bus.ReasonTooLarge},
		{"too-large", strings.Repeat(" ", bus.MaxReceiptLen+1), "", bus.ReasonTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := bus.DecodeReceipt([]byte(tc.data))
			if err == nil {
				t.Fatalf("accepted %+v", r)
			}
			wantEvidenceErr(t, err, tc.field, tc.reason)
		})
	}
	if _, err := (bus.Receipt{Event: []byte("x"), Checkpoint: []byte("y"), Proof: make([][32]byte, bus.MaxProofLen+1)}).Encode(); err == nil {
		t.Fatal("Encode accepted a proof that is too long")
	}
	var e *bus.EvidenceError
	if _, err := bus.DecodeReceipt([]byte(`{"v":1,"index":-1,"event":"eA==","proof":[],"checkpoint":"eA=="}`)); !errors.As(err, &e) || e.Field != "index" {
		t.Fatalf("negative index: %v", err)
	}
}
