package metrics_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"truc.vn/truc/adapters/kafka"
	"truc.vn/truc/adapters/kafka/embedded"
	"truc.vn/truc/adapters/metrics"
	"truc.vn/truc/bus"
)

func lagMessage(t *testing.T, n int) bus.Message {
	t.Helper()
	pkg := fmt.Appendf(nil, "<edXML lag %d>", n)
	return bus.Message{
		ID: fmt.Sprintf("lag-%d", n), Type: bus.TypeDocument, Key: rootKey(t, "000.00.00.G22", fmt.Sprintf("doc-%d", n%3)),
		Sender: "000.00.00.G22", Recipients: []string{"000.00.00.H41"}, SHA256: sha256.Sum256(pkg), Package: pkg,
	}
}

// TestConsumerLag runs kafka.Transport.ConsumerLag through the collector
// against a real (embedded) broker: the lag counts the records not
// handled yet, grows while the handler is stuck on a record (the end of
// the partition is asked of the broker every kafka.LagRefresh), and falls
// to 0 once everything is handled.
func TestConsumerLag(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for kafka.LagRefresh twice")
	}
	b, err := embedded.Start(embedded.Config{GroupMinSessionTimeout: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	tr, err := kafka.New(kafka.Config{
		Brokers: b.Addrs(),
		Topics:  kafka.TopicsConfig{Replication: 1},
		Consumer: kafka.ConsumerConfig{
			SessionTimeout: time.Second, HeartbeatInterval: 250 * time.Millisecond, RebalanceTimeout: 5 * time.Second,
			JoinGroupBackoff: 200 * time.Millisecond, PartitionWatchInterval: time.Second, MaxWait: 200 * time.Millisecond,
		},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	const topic = "truc.lagtest"
	if err := tr.EnsureTopicSpecs(ctx, kafka.TopicSpec{Name: topic, Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewConsumerLagCollector(func() []metrics.PartitionLag {
		var out []metrics.PartitionLag
		for _, l := range tr.ConsumerLag() {
			out = append(out, metrics.PartitionLag{Topic: l.Topic, Partition: l.Partition, Lag: l.Lag})
		}
		return out
	}))
	const series0 = `truc_kafka_consumer_lag{partition="0",topic="truc.lagtest"}`
	waitLag := func(what string, want float64, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			got, ok := series(t, reg)[series0]
			if ok && got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: lag %g (present %v), want %g", what, got, ok, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	publish := func(from, to int) {
		t.Helper()
		var msgs []bus.Message
		for i := from; i < to; i++ {
			msgs = append(msgs, lagMessage(t, i))
		}
		if err := tr.Publish(ctx, topic, msgs...); err != nil {
			t.Fatal(err)
		}
	}
	publish(0, 5)
	release := make(chan struct{})
	handled := make(chan int64, 100)
	consumed := make(chan error, 1)
	go func() {
		consumed <- tr.Consume(ctx, topic, "lag-group", func(ctx context.Context, d bus.Delivery) error {
			if d.Offset == 0 {
				select {
				case <-release:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			handled <- d.Offset
			return nil
		})
	}()

	// Stuck on record 0: five records to go.
	waitLag("stuck on the first of 5", 5, 30*time.Second)
	// More arrive while it is stuck: the fetches are blocked, the broker
	// is asked.
	publish(5, 8)
	waitLag("stuck, 3 more published", 8, 3*kafka.LagRefresh)
	close(release)
	waitLag("all handled", 0, 30*time.Second)
	if n := len(handled); n != 8 {
		t.Errorf("%d records handled, want 8", n)
	}
	cancel()
	if err := <-consumed; err != nil {
		t.Errorf("Consume: %v", err)
	}
	// The partition's reader is gone: no series.
	if _, ok := series(t, reg)[series0]; ok {
		t.Error("the lag is still reported after Consume returned")
	}
}
