package bus

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func validMessage() Message {
	pkg := []byte("<edXML:MessageHeader>…</edXML:MessageHeader>\x00\xff binary tail")
	return Message{
		ID:         "01JD3G7Q8Z9X.a_b:c-d",
		Type:       TypeDocument,
		Key:        "000.00.00.G22/000.00.00.G22,2015/09/30,7816/VPCP-TTĐT",
		Sender:     "000.00.00.G22",
		Recipients: []string{"000.00.00.H41", "vxp.saas.02"},
		SHA256:     sha256.Sum256(pkg),
		Package:    pkg,
		Attrs:      map[string]string{"status.code": "01", "x": ""},
	}
}

func TestMessageValidate(t *testing.T) {
	long := strings.Repeat("a", MaxIDLen+1)
	manyRecipients := make([]string, MaxRecipients+1)
	for i := range manyRecipients {
		manyRecipients[i] = fmt.Sprintf("000.00.%02d.H%02d", i/100, i%100)
	}
	manyAttrs := map[string]string{}
	for i := range MaxAttrs + 1 {
		manyAttrs[fmt.Sprintf("k%d", i)] = "v"
	}
	tests := []struct {
		name   string
		edit   func(m *Message)
		field  string
		reason Reason
	}{
		{"valid", func(*Message) {}, "", ""},
		{"valid without attrs", func(m *Message) { m.Attrs = nil }, "", ""},
		{"valid status", func(m *Message) { m.Type = TypeStatus }, "", ""},
		{"missing ID", func(m *Message) { m.ID = "" }, "ID", ReasonMissing},
		{"ID too long", func(m *Message) { m.ID = long }, "ID", ReasonTooLarge},
		{"ID with space", func(m *Message) { m.ID = "a b" }, "ID", ReasonInvalid},
		{"ID starting with dash", func(m *Message) { m.ID = "-a" }, "ID", ReasonInvalid},
		{"missing type", func(m *Message) { m.Type = "" }, "Type", ReasonMissing},
		{"unknown type", func(m *Message) { m.Type = "letter" }, "Type", ReasonInvalid},
		{"missing key", func(m *Message) { m.Key = "" }, "Key", ReasonMissing},
		{"key without slash", func(m *Message) { m.Key = "000.00.00.G22" }, "Key", ReasonInvalid},
		{"key with bad organ", func(m *Message) { m.Key = "000..00/doc" }, "Key", ReasonInvalid},
		{"key with empty document", func(m *Message) { m.Key = "000.00.00.G22/" }, "Key", ReasonMissing},
		{"key with control char", func(m *Message) { m.Key = "000.00.00.G22/a\nb" }, "Key", ReasonInvalid},
		{"key with bad UTF-8", func(m *Message) { m.Key = "000.00.00.G22/a\xffb" }, "Key", ReasonInvalid},
		{"key too long", func(m *Message) { m.Key = "A/" + strings.Repeat("d", MaxKeyLen) }, "Key", ReasonTooLarge},
		{"missing sender", func(m *Message) { m.Sender = "" }, "Sender", ReasonMissing},
		{"sender too long", func(m *Message) { m.Sender = strings.Repeat("1", MaxOrganIDLen+1) }, "Sender", ReasonTooLarge},
		{"sender with comma", func(m *Message) { m.Sender = "000,00" }, "Sender", ReasonInvalid},
		{"sender ending with dot", func(m *Message) { m.Sender = "000.00." }, "Sender", ReasonInvalid},
		{"no recipients", func(m *Message) { m.Recipients = nil }, "Recipients", ReasonMissing},
		{"bad recipient", func(m *Message) { m.Recipients = []string{"000.00.00.H41", "a b"} }, "Recipients[1]", ReasonInvalid},
		{"duplicate recipient", func(m *Message) { m.Recipients = []string{"A1", "B2", "A1"} }, "Recipients[2]", ReasonDuplicate},
		{"too many recipients", func(m *Message) { m.Recipients = manyRecipients }, "Recipients", ReasonTooLarge},
		{"empty package", func(m *Message) { m.Package = nil; m.SHA256 = sha256.Sum256(nil) }, "Package", ReasonMissing},
		{"hash of other bytes", func(m *Message) { m.SHA256 = sha256.Sum256([]byte("other")) }, "SHA256", ReasonHashMismatch},
		{"zero hash", func(m *Message) { m.SHA256 = [32]byte{} }, "SHA256", ReasonHashMismatch},
		{"too many attrs", func(m *Message) { m.Attrs = manyAttrs }, "Attrs", ReasonTooLarge},
		{"attr key uppercase", func(m *Message) { m.Attrs = map[string]string{"Code": "1"} }, `Attrs["Code"]`, ReasonInvalid},
		{"attr key empty", func(m *Message) { m.Attrs = map[string]string{"": "1"} }, `Attrs[""]`, ReasonMissing},
		{"attr key too long", func(m *Message) { m.Attrs = map[string]string{strings.Repeat("k", MaxAttrKeyLen+1): "1"} }, "Attrs", ReasonTooLarge},
		{"attr value too long", func(m *Message) { m.Attrs = map[string]string{"k": strings.Repeat("v", MaxAttrValueLen+1)} }, `Attrs["k"]`, ReasonTooLarge},
		{"attr value bad UTF-8", func(m *Message) { m.Attrs = map[string]string{"k": "\xff"} }, `Attrs["k"]`, ReasonInvalid},
		{"dead letter may lack routing", func(m *Message) {
			m.Type, m.Key, m.Sender, m.Recipients, m.Package = TypeDeadLetter, "dlq.t.0.1", "", nil, nil
			m.SHA256 = sha256.Sum256(nil)
		}, "", ""},
		{"dead letter still checks its sender", func(m *Message) { m.Type, m.Sender = TypeDeadLetter, "a b" }, "Sender", ReasonInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := validMessage()
			tt.edit(&m)
			err := m.Validate()
			checkMessageError(t, err, tt.field, tt.reason)
		})
	}
}

func checkMessageError(t *testing.T, err error, field string, reason Reason) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var me *MessageError
	if !errors.As(err, &me) {
		t.Fatalf("error = %v, want a *MessageError for %s", err, field)
	}
	if !strings.HasPrefix(me.Field, field) || me.Reason != reason {
		t.Fatalf("error = %v (field %q, reason %q), want field %q reason %q", err, me.Field, me.Reason, field, reason)
	}
	if !strings.Contains(err.Error(), me.Field) {
		t.Fatalf("error text %q does not name the field %q", err, me.Field)
	}
}

func TestRootKey(t *testing.T) {
	tests := []struct {
		name, organ, doc string
		want             string
		wantErr          Reason
	}{
		{"spec form", "000.00.00.G22", "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT", "000.00.00.G22/000.00.00.G22,2015/09/30,7816/VPCP-TTĐT", ""},
		{"uuid", "000.00.00.H41", "5bebcfef-f858-e3e0-cc15-4762aaaa0000", "000.00.00.H41/5bebcfef-f858-e3e0-cc15-4762aaaa0000", ""},
		{"empty organ", "", "d", "", ReasonMissing},
		{"bad organ", "a/b", "d", "", ReasonInvalid},
		{"empty document", "A1", "", "", ReasonMissing},
		{"document too long", "A1", strings.Repeat("x", MaxDocumentIDLen+1), "", ReasonTooLarge},
		{"document with tab", "A1", "a\tb", "", ReasonInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RootKey(tt.organ, tt.doc)
			if tt.wantErr != "" {
				var me *MessageError
				if !errors.As(err, &me) || me.Reason != tt.wantErr {
					t.Fatalf("RootKey error = %v, want reason %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("RootKey = %q, %v; want %q", got, err, tt.want)
			}
			organ, doc, err := ParseRootKey(got)
			if err != nil || organ != tt.organ || doc != tt.doc {
				t.Fatalf("ParseRootKey(%q) = %q, %q, %v", got, organ, doc, err)
			}
		})
	}
}

func TestWireRoundTrip(t *testing.T) {
	m := validMessage()
	hs := m.WireHeaders()
	got, err := DecodeMessage([]byte(m.Key), hs, m.Package)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("decoded %+v\nwant    %+v", got, m)
	}
	// The header order is fixed, so equal messages give equal records.
	if again := m.WireHeaders(); !reflect.DeepEqual(again, hs) {
		t.Fatal("WireHeaders is not deterministic")
	}
	// Foreign headers are ignored.
	extra := append([]Header{{"traceparent", []byte("00-abc")}, {"truc-future", []byte("x")}}, hs...)
	if got, err := DecodeMessage([]byte(m.Key), extra, m.Package); err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("with foreign headers: %v", err)
	}
}

func TestDecodeMessageRejects(t *testing.T) {
	m := validMessage()
	key := []byte(m.Key)
	set := func(name, value string) func([]Header) []Header {
		return func(hs []Header) []Header {
			for i := range hs {
				if hs[i].Key == name {
					hs[i].Value = []byte(value)
				}
			}
			return hs
		}
	}
	drop := func(name string) func([]Header) []Header {
		return func(hs []Header) []Header {
			out := hs[:0]
			for _, h := range hs {
				if h.Key != name {
					out = append(out, h)
				}
			}
			return out
		}
	}
	tests := []struct {
		name    string
		key     []byte
		value   []byte
		headers func([]Header) []Header
		field   string
		reason  Reason
	}{
		{"no headers at all", key, m.Package, func([]Header) []Header { return nil }, "header truc-v", ReasonMissing},
		{"other version", key, m.Package, set(HeaderVersion, "2"), "header truc-v", ReasonVersion},
		{"missing id", key, m.Package, drop(HeaderID), "header truc-id", ReasonMissing},
		{"bad id", key, m.Package, set(HeaderID, "a b"), "header truc-id", ReasonInvalid},
		{"unknown type", key, m.Package, set(HeaderType, "letter"), "header truc-type", ReasonInvalid},
		{"bad key", []byte("no-slash"), m.Package, nil, "record key", ReasonInvalid},
		{"missing sender", key, m.Package, drop(HeaderSender), "header truc-sender", ReasonMissing},
		{"empty recipient", key, m.Package, set(HeaderRecipients, "A1,,B2"), "header truc-recipients[1]", ReasonMissing},
		{"duplicate recipient", key, m.Package, set(HeaderRecipients, "A1,A1"), "header truc-recipients[1]", ReasonDuplicate},
		{"missing hash", key, m.Package, drop(HeaderSHA256), "header truc-sha256", ReasonMissing},
		{"uppercase hash", key, m.Package, set(HeaderSHA256, strings.ToUpper(hex.EncodeToString(m.SHA256[:]))), "header truc-sha256", ReasonInvalid},
		{"short hash", key, m.Package, set(HeaderSHA256, "abcd"), "header truc-sha256", ReasonInvalid},
		{"tampered value", key, append([]byte("x"), m.Package...), nil, "header truc-sha256", ReasonHashMismatch},
		{"empty value", key, nil, set(HeaderSHA256, hex.EncodeToString(make([]byte, 32))), "header truc-sha256", ReasonHashMismatch},
		{"duplicate header", key, m.Package, func(hs []Header) []Header { return append(hs, Header{HeaderID, []byte("x")}) }, "header truc-id", ReasonDuplicate},
		{"bad attr key", key, m.Package, func(hs []Header) []Header { return append(hs, Header{HeaderAttrPrefix + "UP", nil}) }, "headers truc-attr-*", ReasonInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := m.WireHeaders()
			if tt.headers != nil {
				hs = tt.headers(hs)
			}
			got, err := DecodeMessage(tt.key, hs, tt.value)
			checkMessageError(t, err, tt.field, tt.reason)
			if string(got.Package) != string(tt.value) || got.SHA256 != sha256.Sum256(tt.value) {
				t.Fatal("a refused record must still carry its exact value and the value's SHA-256")
			}
		})
	}
}

func TestDeadLetter(t *testing.T) {
	orig := validMessage()
	hs := orig.WireHeaders()
	tampered := append([]byte(nil), orig.Package...)
	tampered[0] ^= 1
	decoded, derr := DecodeMessage([]byte(orig.Key), hs, tampered)
	if derr == nil {
		t.Fatal("tampered value decoded without error")
	}
	d := Delivery{Message: decoded, Err: derr, Topic: TopicSubmit, Partition: 3, Offset: 42, Attempt: 1}
	dl := DeadLetter(d, fmt.Errorf("decoding record: %w", derr))
	if err := dl.Validate(); err != nil {
		t.Fatalf("dead letter does not validate: %v", err)
	}
	if string(dl.Package) != string(tampered) || dl.SHA256 != sha256.Sum256(tampered) {
		t.Fatal("dead letter does not keep the exact record value")
	}
	want := map[string]string{
		AttrDeadLetterTopic:     TopicSubmit,
		AttrDeadLetterPartition: "3",
		AttrDeadLetterOffset:    "42",
		AttrDeadLetterCode:      string(ReasonHashMismatch),
		AttrDeadLetterID:        orig.ID,
	}
	for k, v := range want {
		if dl.Attrs[k] != v {
			t.Errorf("Attrs[%s] = %q, want %q", k, dl.Attrs[k], v)
		}
	}
	if !strings.Contains(dl.Attrs[AttrDeadLetterReason], "truc-sha256") {
		t.Errorf("reason %q does not name the header", dl.Attrs[AttrDeadLetterReason])
	}
	if dl.Key != orig.Key || dl.Sender != orig.Sender || !reflect.DeepEqual(dl.Recipients, orig.Recipients) {
		t.Errorf("dead letter lost valid routing data: %+v", dl)
	}
	if again := DeadLetter(d, derr); again.ID != dl.ID {
		t.Errorf("dead-letter ID is not stable: %q then %q", dl.ID, again.ID)
	}

	// A record with nothing valid still gives a valid dead letter, and a
	// huge hostile reason is cut to size on a rune boundary.
	junk := Delivery{Message: Message{Key: "\x00bad", Package: []byte{}}, Topic: "t", Offset: 7}
	dl = DeadLetter(junk, errors.New(strings.Repeat("é", 500)))
	if err := dl.Validate(); err != nil {
		t.Fatalf("dead letter of junk does not validate: %v", err)
	}
	if dl.Key != dl.ID || dl.Sender != "" || dl.Recipients != nil {
		t.Errorf("invalid routing data leaked into the dead letter: %+v", dl)
	}
	// A long topic name still gives a well-formed, stable ID.
	long := Delivery{Topic: strings.Repeat("t", 249), Offset: 1}
	if dl := DeadLetter(long, nil); dl.Validate() != nil || dl.ID != DeadLetter(long, nil).ID {
		t.Errorf("dead letter of a long topic: %v", dl.Validate())
	}
}

func TestValidateOrganID(t *testing.T) {
	for _, ok := range []string{"000.00.00.G22", "vxp.saas.02", "01.02.G22", "00.22.W00", "A", strings.Repeat("9", MaxOrganIDLen)} {
		if err := ValidateOrganID(ok); err != nil {
			t.Errorf("ValidateOrganID(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".A", "A.", "A..B", "A B", "A_B", "Đ", "A,B", strings.Repeat("9", MaxOrganIDLen+1)} {
		if err := ValidateOrganID(bad); err == nil {
			t.Errorf("ValidateOrganID(%q) accepted", bad)
		}
	}
}
