package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	kafka "github.com/segmentio/kafka-go"
)

// TopicSpec is how one truc topic must look.
type TopicSpec struct {
	Name       string
	Partitions int
}

// TopicSpecs returns the specs of truc.submit, truc.dlq and the inbox topic
// of each edge, from the configuration.
func (t *Transport) TopicSpecs(edgeIDs ...string) ([]TopicSpec, error) {
	tc := t.cfg.Topics
	specs := []TopicSpec{
		{t.topics.Submit(), tc.SubmitPartitions},
		{t.topics.DLQ(), tc.DLQPartitions},
	}
	for _, e := range edgeIDs {
		name, err := t.topics.Inbox(e)
		if err != nil {
			return nil, err
		}
		specs = append(specs, TopicSpec{name, tc.InboxPartitions})
	}
	return specs, nil
}

// TopicMismatchError lists every way existing topics differ from their
// specs. EnsureTopics never changes an existing topic: partition counts
// cannot shrink and growing them moves keys, so an operator decides.
type TopicMismatchError struct {
	Problems []string
}

func (e *TopicMismatchError) Error() string {
	return "kafka topics do not match the configuration: " + strings.Join(e.Problems, "; ")
}

// EnsureTopics makes truc.submit, truc.dlq and the inbox topic of each
// given edge exist as configured. A missing topic is created with the
// configured partitions, replication, min.insync.replicas,
// max.message.bytes (TopicMaxMessageBytes) and retention.ms. An existing
// topic is checked, not changed: a different partition count, a smaller
// replication factor or min.insync.replicas, or a max.message.bytes below
// TopicMaxMessageBytes is reported in a *TopicMismatchError listing every
// problem. It is safe to call at every start-up and from several processes
// at once.
//
// It needs the Create and DescribeConfigs permissions on the topics (the
// axis has them; edges do not call it).
func (t *Transport) EnsureTopics(ctx context.Context, edgeIDs ...string) error {
	specs, err := t.TopicSpecs(edgeIDs...)
	if err != nil {
		return fmt.Errorf("ensuring topics: %w", err)
	}
	return t.EnsureTopicSpecs(ctx, specs...)
}

// EnsureTopicSpecs is EnsureTopics for explicit specs.
func (t *Transport) EnsureTopicSpecs(ctx context.Context, specs ...TopicSpec) error {
	if len(specs) == 0 {
		return nil
	}
	existing, err := t.describeTopics(ctx, specs)
	if err != nil {
		return err
	}
	var create []kafka.TopicConfig
	for _, s := range specs {
		if _, ok := existing[s.Name]; ok {
			continue
		}
		create = append(create, kafka.TopicConfig{
			Topic:             s.Name,
			NumPartitions:     s.Partitions,
			ReplicationFactor: t.cfg.Topics.Replication,
			ConfigEntries: []kafka.ConfigEntry{
				{ConfigName: "max.message.bytes", ConfigValue: strconv.Itoa(t.cfg.TopicMaxMessageBytes())},
				{ConfigName: "min.insync.replicas", ConfigValue: strconv.Itoa(t.cfg.Topics.MinInsyncReplicas)},
				{ConfigName: "retention.ms", ConfigValue: strconv.FormatInt(t.cfg.Topics.Retention.Milliseconds(), 10)},
				{ConfigName: "cleanup.policy", ConfigValue: "delete"},
			},
		})
	}
	if len(create) > 0 {
		res, err := t.client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: create})
		if err != nil {
			return fmt.Errorf("creating topics: %w", err)
		}
		var failed []string
		for _, c := range create {
			switch err := res.Errors[c.Topic]; {
			case err == nil:
				t.log.Info("topic created", "topic", c.Topic, "partitions", c.NumPartitions, "replication", c.ReplicationFactor)
			case errors.Is(err, kafka.TopicAlreadyExists):
				// Created meanwhile by another process: checked below.
			default:
				failed = append(failed, fmt.Sprintf("%s: %v", c.Topic, err))
			}
		}
		if len(failed) > 0 {
			return fmt.Errorf("creating topics: %s", strings.Join(failed, "; "))
		}
		if existing, err = t.describeTopics(ctx, specs); err != nil {
			return err
		}
	}
	return t.checkTopics(ctx, specs, existing)
}

type topicState struct {
	partitions  int
	replication int
}

// describeTopics reads the current state of the topics that exist, from
// the brokers (not a cache).
func (t *Transport) describeTopics(ctx context.Context, specs []TopicSpec) (map[string]topicState, error) {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	kt := t.newKafkaTransport(names)
	defer kt.CloseIdleConnections()
	cl := &kafka.Client{Addr: kafka.TCP(t.cfg.Brokers...), Transport: kt, Timeout: t.cfg.DialTimeout}
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
	if err != nil {
		return nil, fmt.Errorf("reading topic metadata: %w", err)
	}
	out := map[string]topicState{}
	for _, tm := range md.Topics {
		switch {
		case errors.Is(tm.Error, kafka.UnknownTopicOrPartition):
			continue
		case tm.Error != nil:
			return nil, fmt.Errorf("reading metadata of topic %s: %w", tm.Name, tm.Error)
		}
		st := topicState{partitions: len(tm.Partitions)}
		for i, p := range tm.Partitions {
			if i == 0 || len(p.Replicas) < st.replication {
				st.replication = len(p.Replicas)
			}
		}
		out[tm.Name] = st
	}
	return out, nil
}

func (t *Transport) checkTopics(ctx context.Context, specs []TopicSpec, existing map[string]topicState) error {
	req := &kafka.DescribeConfigsRequest{}
	for _, s := range specs {
		req.Resources = append(req.Resources, kafka.DescribeConfigRequestResource{
			ResourceType: kafka.ResourceTypeTopic,
			ResourceName: s.Name,
			ConfigNames:  []string{"max.message.bytes", "min.insync.replicas"},
		})
	}
	res, err := t.client.DescribeConfigs(ctx, req)
	if err != nil {
		return fmt.Errorf("reading topic configs: %w", err)
	}
	configs := map[string]map[string]string{}
	for _, r := range res.Resources {
		if r.Error != nil {
			return fmt.Errorf("reading configs of topic %s: %w", r.ResourceName, r.Error)
		}
		m := map[string]string{}
		for _, e := range r.ConfigEntries {
			m[e.ConfigName] = e.ConfigValue
		}
		configs[r.ResourceName] = m
	}

	var problems []string
	for _, s := range specs {
		st, ok := existing[s.Name]
		if !ok {
			problems = append(problems, s.Name+": does not exist after creation")
			continue
		}
		if st.partitions != s.Partitions {
			problems = append(problems, fmt.Sprintf("%s: %d partitions, configured %d", s.Name, st.partitions, s.Partitions))
		}
		if st.replication < t.cfg.Topics.Replication {
			problems = append(problems, fmt.Sprintf("%s: replication factor %d, configured %d", s.Name, st.replication, t.cfg.Topics.Replication))
		}
		cfg := configs[s.Name]
		if v, err := strconv.Atoi(cfg["max.message.bytes"]); err != nil || v < t.cfg.TopicMaxMessageBytes() {
			problems = append(problems, fmt.Sprintf("%s: max.message.bytes %q, need at least %d (max_message_bytes + 1 MiB)", s.Name, cfg["max.message.bytes"], t.cfg.TopicMaxMessageBytes()))
		}
		if v, err := strconv.Atoi(cfg["min.insync.replicas"]); err != nil || v < t.cfg.Topics.MinInsyncReplicas {
			problems = append(problems, fmt.Sprintf("%s: min.insync.replicas %q, configured %d", s.Name, cfg["min.insync.replicas"], t.cfg.Topics.MinInsyncReplicas))
		}
	}
	if len(problems) > 0 {
		return &TopicMismatchError{Problems: problems}
	}
	return nil
}
