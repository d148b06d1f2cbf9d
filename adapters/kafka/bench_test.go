package kafka_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"truc.vn/truc/adapters/kafka"
	"truc.vn/truc/adapters/kafka/embedded"
	"truc.vn/truc/bus"
)

// BenchmarkPublishConsume5KB measures the throughput of 5 KiB letters
// through an in-process kfake broker (memory mode, one node, a 4-partition
// topic): b.N messages published in calls of 500, then consumed by a new
// consumer group. The baseline, "kafka-go", sends the same records (same
// key, value and headers) with a bare kafka-go Writer with the same
// settings, and reads them with a bare kafka-go group Reader
// (FetchMessage, CommitMessages with 50ms asynchronous commits); the
// "transport" case goes through bus.Transport, adding validation, the
// SHA-256 checks on both sides, decoding and per-partition commit
// tracking. BENCHMARKS.md ("bus/kafka") has the paired runs and the
// command; use -benchtime=40000x so that the group join does not dominate.
func BenchmarkPublishConsume5KB(b *testing.B) {
	const (
		size  = 5 << 10
		chunk = 500
		topic = "bench"
	)
	msgs := make([]bus.Message, chunk)
	for i := range msgs {
		pkg := make([]byte, size)
		rand.Read(pkg)
		key, _ := bus.RootKey("000.00.00.G22", fmt.Sprintf("doc-%d", i))
		msgs[i] = bus.Message{ID: fmt.Sprintf("bench-%d", i), Type: bus.TypeDocument, Key: key, Sender: "000.00.00.G22",
			Recipients: []string{"000.00.00.H41", "000.00.00.H42"}, SHA256: sha256.Sum256(pkg), Package: pkg}
	}
	setup := func(b *testing.B) (*kafka.Transport, []string) {
		addrs := startBroker(b, embedded.Config{})
		cfg := testConfig(addrs)
		tr := newTransport(b, cfg)
		if err := tr.EnsureTopicSpecs(context.Background(), kafka.TopicSpec{Name: topic, Partitions: 4}); err != nil {
			b.Fatal(err)
		}
		return tr, addrs
	}
	report := func(b *testing.B, pub, con time.Duration) {
		b.SetBytes(size)
		b.ReportMetric(float64(b.N)/pub.Seconds(), "pub-msg/s")
		b.ReportMetric(float64(b.N)/con.Seconds(), "con-msg/s")
		b.ReportMetric(0, "ns/op")
	}

	b.Run("kafka-go", func(b *testing.B) {
		_, addrs := setup(b)
		records := make([]kafkago.Message, chunk)
		for i, m := range msgs {
			records[i] = kafkago.Message{Key: []byte(m.Key), Value: m.Package}
			for _, h := range m.WireHeaders() {
				records[i].Headers = append(records[i].Headers, kafkago.Header{Key: h.Key, Value: h.Value})
			}
		}
		w := &kafkago.Writer{Addr: kafkago.TCP(addrs...), Topic: topic, RequiredAcks: kafkago.RequireAll,
			Balancer: &kafkago.Murmur2Balancer{Consistent: true}, BatchTimeout: 5 * time.Millisecond,
			BatchSize: 500, BatchBytes: 20 << 20}
		defer w.Close()
		b.ResetTimer()
		start := time.Now()
		for sent := 0; sent < b.N; sent += chunk {
			if err := w.WriteMessages(context.Background(), records[:min(chunk, b.N-sent)]...); err != nil {
				b.Fatal(err)
			}
		}
		pub := time.Since(start)

		start = time.Now()
		r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: addrs, GroupID: "bench", Topic: topic,
			StartOffset: kafkago.FirstOffset, MaxBytes: 20 << 20, MaxWait: 200 * time.Millisecond,
			HeartbeatInterval: 250 * time.Millisecond, SessionTimeout: 6 * time.Second,
			JoinGroupBackoff: 200 * time.Millisecond, CommitInterval: 50 * time.Millisecond})
		for got := 0; got < b.N; got++ {
			m, err := r.FetchMessage(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			if err := r.CommitMessages(context.Background(), m); err != nil {
				b.Fatal(err)
			}
		}
		con := time.Since(start)
		b.StopTimer()
		r.Close()
		report(b, pub, con)
	})

	b.Run("transport", func(b *testing.B) {
		tr, _ := setup(b)
		b.ResetTimer()
		start := time.Now()
		for sent := 0; sent < b.N; sent += chunk {
			if err := tr.Publish(context.Background(), topic, msgs[:min(chunk, b.N-sent)]...); err != nil {
				b.Fatal(err)
			}
		}
		pub := time.Since(start)

		start = time.Now()
		ctx, cancel := context.WithCancel(context.Background())
		var (
			got atomic.Int64
			con time.Duration // until the last record is handled, not until Consume has stopped
		)
		err := tr.Consume(ctx, topic, "bench", func(_ context.Context, d bus.Delivery) error {
			if d.Err != nil {
				b.Error(d.Err)
			}
			if got.Add(1) == int64(b.N) {
				con = time.Since(start)
				cancel()
			}
			return nil
		})
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		report(b, pub, con)
	})
}
