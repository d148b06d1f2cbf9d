package bus

import (
	"errors"
	"strings"
	"testing"
)

func TestTopics(t *testing.T) {
	var def Topics
	if def.Submit() != TopicSubmit || def.DLQ() != TopicDLQ || def.Prefix() != DefaultTopicPrefix {
		t.Fatalf("zero Topics: %q %q %q", def.Submit(), def.DLQ(), def.Prefix())
	}
	inbox, err := InboxTopic("hanoi-1")
	if err != nil || inbox != "truc.inbox.hanoi-1" {
		t.Fatalf("InboxTopic = %q, %v", inbox, err)
	}
	if edge, ok := def.InboxEdge(inbox); !ok || edge != "hanoi-1" {
		t.Fatalf("InboxEdge(%q) = %q, %v", inbox, edge, ok)
	}

	staging, err := NewTopics("staging.truc")
	if err != nil {
		t.Fatal(err)
	}
	if got := staging.Submit(); got != "staging.truc.submit" {
		t.Errorf("Submit = %q", got)
	}
	if got, _ := staging.Inbox("000.00.00.H41"); got != "staging.truc.inbox.000.00.00.H41" {
		t.Errorf("Inbox = %q", got)
	}
	if _, ok := staging.InboxEdge("truc.inbox.x"); ok {
		t.Error("InboxEdge accepted a topic of another prefix")
	}
	if _, ok := def.InboxEdge("truc.inbox."); ok {
		t.Error("InboxEdge accepted an empty edge")
	}
	if _, ok := def.InboxEdge("truc.submit"); ok {
		t.Error("InboxEdge accepted the submit topic")
	}
	longest, _ := NewTopics(strings.Repeat("p", MaxTopicPrefixLen))
	name, err := longest.Inbox(strings.Repeat("e", MaxEdgeIDLen))
	if err != nil || ValidateTopic(name) != nil {
		t.Fatalf("the longest inbox topic %d bytes is not a valid Kafka topic: %v", len(name), err)
	}
}

func TestNames(t *testing.T) {
	tests := []struct {
		name    string
		check   func(string) error
		input   string
		wantErr bool
	}{
		{"edge plain", ValidateEdgeID, "hanoi", false},
		{"edge organ-like", ValidateEdgeID, "000.00.00.H41", false},
		{"edge empty", ValidateEdgeID, "", true},
		{"edge underscore", ValidateEdgeID, "ha_noi", true},
		{"edge leading dot", ValidateEdgeID, ".a", true},
		{"edge trailing dash", ValidateEdgeID, "a-", true},
		{"edge double dot", ValidateEdgeID, "a..b", true},
		{"edge slash", ValidateEdgeID, "a/b", true},
		{"edge unicode", ValidateEdgeID, "hànội", true},
		{"edge too long", ValidateEdgeID, strings.Repeat("a", MaxEdgeIDLen+1), true},
		{"prefix ok", func(s string) error { _, err := NewTopics(s); return err }, "truc-test.a1", false},
		{"prefix trailing dot", func(s string) error { _, err := NewTopics(s); return err }, "truc.", true},
		{"prefix too long", func(s string) error { _, err := NewTopics(s); return err }, strings.Repeat("p", MaxTopicPrefixLen+1), true},
		{"topic ok", ValidateTopic, "__consumer_offsets", false},
		{"topic dot", ValidateTopic, ".", true},
		{"topic dotdot", ValidateTopic, "..", true},
		{"topic empty", ValidateTopic, "", true},
		{"topic space", ValidateTopic, "a b", true},
		{"topic too long", ValidateTopic, strings.Repeat("t", 250), true},
		{"topic max", ValidateTopic, strings.Repeat("t", 249), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.check(tt.input)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got %v, want error %v", err, tt.wantErr)
			}
			var ne *NameError
			if err != nil && !errors.As(err, &ne) {
				t.Fatalf("error %v is not a *NameError", err)
			}
		})
	}
}
