// Package kafka is the bus.Transport on Apache Kafka, written on
// github.com/segmentio/kafka-go. The axis consumes truc.submit as one
// consumer group and publishes to one truc.inbox.<edge> topic per edge;
// each edge publishes to truc.submit and consumes its own inbox. The
// embedded single-node broker used by truc dev, truc broker and the tests
// is in the subpackage embedded.
//
// # What it guarantees
//
//   - Publish returns nil only after every message was acknowledged by all
//     in-sync replicas (acks=all). With the production topic settings
//     (replication 3, min.insync.replicas 2) an acknowledged message is on
//     at least two brokers.
//   - Records are keyed by the message's root-document Key and placed with
//     the murmur2 partitioner (the Java client's default), so a letter and
//     its statuses share a partition.
//   - Consume commits a partition's offset only up to the last record whose
//     handler returned nil; records in a partition are handled one at a
//     time, in order; a failed handler is retried on the same record with
//     back-off. Commits are batched (every consumer.commit_interval or
//     consumer.commit_every records) and made once more when a partition is
//     revoked or Consume stops, while the generation can still commit.
//   - Every record's SHA-256 header is checked against its value on
//     receipt; a record that does not decode is delivered with
//     bus.Delivery.Err set, never skipped.
//   - Topics are never created implicitly. EnsureTopics creates the truc
//     topics with the configured partition counts, replication,
//     min.insync.replicas, max.message.bytes (21 MiB by default: batches of
//     up to 20 MiB, so a 16 MiB letter is one record, plus framing) and
//     retention, and reports existing topics that
//     differ instead of changing them.
//   - TLS (with optional client certificates) and SASL SCRAM-SHA-256,
//     SCRAM-SHA-512 or PLAIN (over TLS only) protect every connection.
//
// # Supported Kafka versions
//
// The minimum is Apache Kafka 2.1. The APIs kafka-go v0.4.51 uses set the
// floor below that: record headers need the v2 record format (0.11),
// SaslAuthenticate needs 1.0, consumer-group rebalance timeouts need
// 0.10.1, CreateTopics with configs and DescribeConfigs need 0.11. 2.1 is
// chosen because of KIP-211: before it a committed offset expires a day
// after its last commit even while the group is active, and an inbox
// partition that is idle for longer would be replayed from its beginning.
// 2.1 is also the protocol floor Kafka 4 keeps for clients.
//
// The maximum is 3.9. Kafka 4.0 removed old protocol versions (KIP-896),
// and kafka-go v0.4.51's consumer-group code pins old versions of the group
// APIs (SyncGroup, Heartbeat, LeaveGroup and FindCoordinator v0,
// OffsetFetch v1, OffsetCommit v2, JoinGroup v1–v2); JoinGroup v0–v1, for
// one, were removed in 4.0.0 and restored in 4.0.1. Treat 4.x as
// unsupported until a conformance run against a real 4.x broker says
// otherwise.
//
// # Production settings
//
// Three or more brokers; topics with replication 3 and
// min.insync.replicas 2 (the defaults here); broker message.max.bytes and
// replica.fetch.max.bytes at least max_message_bytes + 1 MiB;
// auto.create.topics.enable=false; unclean.leader.election.enable=false;
// listeners with TLS, and SASL/SCRAM or mTLS per edge with ACLs that let
// an edge write truc.submit and read only its own inbox.
//
// # Caveats
//
//   - Tested against kfake only (the embedded broker); no real Apache Kafka
//     could run where this was written.
//   - Ordering per key holds for a Publish call and for calls made one after
//     another; a failed Publish retried by the caller may land after later
//     messages (kafka-go has no idempotent producer).
//   - A partition that a consumer reads ahead holds up to
//     consumer.queue_capacity records in memory, for each assigned
//     partition: with many partitions and 16 MiB letters, lower it.
//   - kafka-go's partition readers ask for metadata with
//     AllowAutoTopicCreation set, so a cluster that auto-creates topics
//     would create a mistyped topic on Consume; keep auto-creation off.
//   - Consume returns an error when the topic does not exist, because
//     topics are created by the axis; an edge started before its inbox
//     topic exists fails fast rather than waiting.
//   - Raising a topic's partition count moves keys to other partitions and
//     breaks per-letter ordering for letters in flight; EnsureTopics never
//     does it.
package kafka
