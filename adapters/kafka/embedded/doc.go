// Package embedded runs a Kafka-protocol broker inside the process: kfake
// (github.com/twmb/franz-go/pkg/kfake) with its data kept in a directory.
// truc dev, truc broker and the tests use it, so that everything runs with
// nothing but Go; production points the same kafka-go code at a real Kafka
// cluster.
//
// # What it guarantees
//
// With Config.DataDir set, topics, records, committed group offsets and
// topic configs survive a clean Close and a kill -9 of the process (the
// data sits in the OS page cache until the kernel writes it). With
// Config.SyncWrites, every produced batch is fsynced before it is
// acknowledged, so acknowledged records also survive a power loss, at
// 15–40% of the produce throughput. A lock file keeps a second broker off a
// data directory that is in use.
//
// # Caveats
//
//   - It is a single-node development and pilot broker, not a production
//     Kafka: no replication (replication factors are bookkeeping), no
//     throttling; see kfake's skipped_features.
//   - kfake has no releases: it is pinned by pseudo-version with
//     franz-go v1.22.2, and its data format is only guaranteed readable by
//     the current and the previous kfake version: re-test reloading a data
//     directory whenever the pin moves.
//   - TLS and SASL apply to every listener: there is no mixed plaintext and
//     SASL set-up. kfake advertises SaslHandshake v1 only, so librdkafka
//     clients (kcat) cannot use SASL against it; kafka-go can.
//   - ACLs are not enabled yet: any client that authenticates may do
//     anything.
//   - Retention only runs for topics that set retention.ms or
//     retention.bytes (EnsureTopics does), checked every
//     Config.RetentionCheckInterval.
//   - Without DataDir it keeps everything in memory and never gives it
//     back: only for short tests.
package embedded
