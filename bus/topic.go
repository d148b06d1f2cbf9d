package bus

import (
	"fmt"
	"strings"
)

// Default topic names, with the default prefix "truc". They are wire
// constants: processes of different versions must agree on them.
const (
	DefaultTopicPrefix = "truc"
	// TopicSubmit carries submissions from every edge to the axis, keyed by
	// root document.
	TopicSubmit = DefaultTopicPrefix + ".submit"
	// TopicDLQ keeps records that can never be processed, with the reason
	// (see DeadLetter).
	TopicDLQ = DefaultTopicPrefix + ".dlq"

	inboxInfix = ".inbox."
)

// Limits on names, chosen so that the longest inbox topic stays well inside
// Kafka's 249-byte topic name limit.
const (
	MaxTopicPrefixLen = 100
	MaxEdgeIDLen      = 64
	maxTopicLen       = 249 // Kafka's own limit
)

// Topics names the topics of one deployment. The zero value uses
// DefaultTopicPrefix; NewTopics sets another prefix (for several
// deployments sharing one Kafka cluster, or tests).
type Topics struct {
	prefix string
}

// NewTopics returns the topic names under prefix: 1–100 bytes of
// [A-Za-z0-9.-], starting and ending with a letter or digit, with no "..".
// Underscores are refused in every truc name because Kafka treats "." and
// "_" as the same in metric names, so "a.b" and "a_b" would collide.
func NewTopics(prefix string) (Topics, error) {
	if err := checkName("topic prefix", prefix, MaxTopicPrefixLen); err != nil {
		return Topics{}, err
	}
	return Topics{prefix: prefix}, nil
}

// Prefix returns the prefix every topic name starts with.
func (t Topics) Prefix() string {
	if t.prefix == "" {
		return DefaultTopicPrefix
	}
	return t.prefix
}

// Submit returns the topic edges publish submissions to ("truc.submit").
func (t Topics) Submit() string { return t.Prefix() + ".submit" }

// DLQ returns the dead-letter topic ("truc.dlq").
func (t Topics) DLQ() string { return t.Prefix() + ".dlq" }

// Inbox returns the topic the axis publishes to for one edge
// ("truc.inbox.<edge>"). The edge ID is checked by ValidateEdgeID.
func (t Topics) Inbox(edgeID string) (string, error) {
	if err := ValidateEdgeID(edgeID); err != nil {
		return "", err
	}
	return t.Prefix() + inboxInfix + edgeID, nil
}

// InboxEdge is the inverse of Inbox: it returns the edge ID of an inbox
// topic name, and false when topic is not a valid inbox topic under this
// prefix.
func (t Topics) InboxEdge(topic string) (string, bool) {
	edge, ok := strings.CutPrefix(topic, t.Prefix()+inboxInfix)
	if !ok || ValidateEdgeID(edge) != nil {
		return "", false
	}
	return edge, true
}

// InboxTopic returns the inbox topic of an edge under the default prefix.
func InboxTopic(edgeID string) (string, error) { return Topics{}.Inbox(edgeID) }

// ValidateEdgeID checks an edge identifier: 1–64 bytes of [A-Za-z0-9.-],
// starting and ending with a letter or digit, with no "..". Edge IDs are
// case-sensitive, as Kafka topic names are.
func ValidateEdgeID(id string) error { return checkName("edge ID", id, MaxEdgeIDLen) }

// ValidateTopic checks a topic name against Kafka's rules: 1–249 bytes of
// [A-Za-z0-9._-], and not "." or "..". Transports call it on every topic
// they are given, so that a bad name fails with a clear error before it
// reaches the broker.
func ValidateTopic(name string) error {
	if name == "" {
		return &NameError{What: "topic", Name: name, Rule: "a topic name is required"}
	}
	if len(name) > maxTopicLen {
		return &NameError{What: "topic", Name: name, Rule: fmt.Sprintf("a topic name has at most %d bytes, got %d", maxTopicLen, len(name))}
	}
	if name == "." || name == ".." {
		return &NameError{What: "topic", Name: name, Rule: `a topic name cannot be "." or ".."`}
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return &NameError{What: "topic", Name: name, Rule: fmt.Sprintf("a topic name is [A-Za-z0-9._-]; it has %q", rune(c))}
		}
	}
	return nil
}

// NameError is the error for a bad topic name, prefix or edge ID.
type NameError struct {
	What string // "topic", "topic prefix", "edge ID"
	Name string
	Rule string
}

func (e *NameError) Error() string {
	return fmt.Sprintf("invalid %s %q: %s", e.What, clip(e.Name), e.Rule)
}

func checkName(what, s string, max int) error {
	bad := func(rule string, args ...any) error {
		return &NameError{What: what, Name: s, Rule: fmt.Sprintf(rule, args...)}
	}
	switch {
	case s == "":
		return bad("must not be empty")
	case len(s) > max:
		return bad("at most %d bytes, got %d", max, len(s))
	case !isAlnum(s[0]) || !isAlnum(s[len(s)-1]):
		return bad("must start and end with a letter or digit")
	case strings.Contains(s, ".."):
		return bad(`must not contain ".."`)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '.' && c != '-' {
			return bad("allowed characters are [A-Za-z0-9.-]; it has %q", rune(c))
		}
	}
	return nil
}
