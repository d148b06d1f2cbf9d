package bus

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzDecodeMessage feeds hostile records to DecodeMessage. The headers are
// encoded in one string as "key=value" lines so that the fuzzer can change
// names, values, order and duplicates. Properties: no panic; a refused
// record carries a *MessageError and still the exact value and its hash; an
// accepted one validates and encodes back to a record that decodes to the
// same message.
func FuzzDecodeMessage(f *testing.F) {
	m := validMessage()
	f.Add([]byte(m.Key), encodeHeaderLines(m.WireHeaders()), m.Package)
	dl := DeadLetter(Delivery{Message: m, Topic: TopicSubmit, Partition: 1, Offset: 2}, errors.New("poison"))
	f.Add([]byte(dl.Key), encodeHeaderLines(dl.WireHeaders()), dl.Package)
	f.Add([]byte("A/b"), "truc-v=1\ntruc-id=x\ntruc-type=status\ntruc-sender=A\ntruc-recipients=B,C\ntruc-sha256=00", []byte("v"))
	f.Add([]byte{}, "", []byte{})
	f.Fuzz(func(t *testing.T, key []byte, lines string, value []byte) {
		hs := decodeHeaderLines(lines)
		got, err := DecodeMessage(key, hs, value)
		if !bytes.Equal(got.Package, value) || got.SHA256 != sha256.Sum256(value) {
			t.Fatal("decoded message lost the exact value or its hash")
		}
		if err != nil {
			var me *MessageError
			if !errors.As(err, &me) || me.Field == "" || me.Reason == "" {
				t.Fatalf("error %v is not a complete *MessageError", err)
			}
			_ = DeadLetter(Delivery{Message: got, Err: err, Topic: "t"}, err).Validate()
			return
		}
		if verr := got.Validate(); verr != nil {
			t.Fatalf("decoded message does not validate: %v", verr)
		}
		again, err := DecodeMessage([]byte(got.Key), got.WireHeaders(), got.Package)
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("re-encoding changed the message: %v", err)
		}
	})
}

// FuzzInboxTopic checks that every edge ID Inbox accepts yields a valid Kafka
// topic that InboxEdge maps back to the same edge.
func FuzzInboxTopic(f *testing.F) {
	for _, s := range []string{"hanoi", "000.00.00.H41", "a..b", "", "x_y", strings.Repeat("e", 65)} {
		f.Add("truc", s)
	}
	f.Add("staging.truc", "edge-1")
	f.Fuzz(func(t *testing.T, prefix, edge string) {
		topics, err := NewTopics(prefix)
		if err != nil {
			return
		}
		name, err := topics.Inbox(edge)
		if err != nil {
			return
		}
		if err := ValidateTopic(name); err != nil {
			t.Fatalf("Inbox(%q) = %q is not a valid topic: %v", edge, name, err)
		}
		if back, ok := topics.InboxEdge(name); !ok || back != edge {
			t.Fatalf("InboxEdge(%q) = %q, %v; want %q", name, back, ok, edge)
		}
		if strings.Contains(name, "_") {
			t.Fatalf("topic %q contains an underscore", name)
		}
	})
}

func encodeHeaderLines(hs []Header) string {
	var b strings.Builder
	for _, h := range hs {
		b.WriteString(h.Key)
		b.WriteByte('=')
		b.Write(h.Value)
		b.WriteByte('\n')
	}
	return b.String()
}

func decodeHeaderLines(s string) []Header {
	var hs []Header
	for line := range strings.SplitSeq(s, "\n") {
		if line == "" {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		hs = append(hs, Header{Key: k, Value: []byte(v)})
	}
	return hs
}
