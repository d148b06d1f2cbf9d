package kafka_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"truc.vn/truc/adapters/kafka"
	"truc.vn/truc/adapters/kafka/embedded"
	"truc.vn/truc/bus"
	"truc.vn/truc/bus/bustest"
)

func TestTransportConformance(t *testing.T) {
	t.Run("Defaults", func(t *testing.T) { bustest.TestTransport(t, harness(func(*kafka.Config) {})) })
	// With commits only at the end of a generation, the suite checks that
	// a stop or a rebalance commits what was handled, which the periodic
	// commits would otherwise hide.
	t.Run("CommitOnlyOnStop", func(t *testing.T) {
		bustest.TestTransport(t, harness(func(c *kafka.Config) {
			c.Consumer.CommitInterval = time.Minute
			c.Consumer.CommitEvery = 1 << 30
		}))
	})
}

func harness(edit func(*kafka.Config)) func(t *testing.T) bustest.Harness {
	return func(t *testing.T) bustest.Harness {
		addrs := startBroker(t, embedded.Config{})
		admin := newTransport(t, testConfig(addrs))
		cfg := testConfig(addrs)
		edit(&cfg)
		return bustest.Harness{
			NewTransport: func(t *testing.T) bus.Transport { return newTransport(t, cfg) },
			CreateTopic: func(t *testing.T, topic string, partitions int) {
				t.Helper()
				if err := admin.EnsureTopicSpecs(ctxT(t), kafka.TopicSpec{Name: topic, Partitions: partitions}); err != nil {
					t.Fatal(err)
				}
			},
			PublishRaw: func(t *testing.T, topic string, partition int, key []byte, headers []bus.Header, value []byte) {
				t.Helper()
				publishRaw(t, addrs, topic, partition, key, headers, value)
			},
		}
	}
}

// startBroker starts an in-memory embedded broker for one test.
func startBroker(t testing.TB, cfg embedded.Config) []string {
	t.Helper()
	b, err := embedded.Start(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b.Addrs()
}

// testConfig is a configuration for a single-node broker, with group
// timings short enough for tests (kfake's minimum session timeout is 6s).
func testConfig(addrs []string) kafka.Config {
	return kafka.Config{
		Brokers: addrs,
		Topics:  kafka.TopicsConfig{Replication: 1},
		Consumer: kafka.ConsumerConfig{
			SessionTimeout:         6 * time.Second,
			HeartbeatInterval:      250 * time.Millisecond,
			RebalanceTimeout:       10 * time.Second,
			JoinGroupBackoff:       200 * time.Millisecond,
			PartitionWatchInterval: time.Second,
			MaxWait:                200 * time.Millisecond,
			RetryBackoffMin:        20 * time.Millisecond,
			RetryBackoffMax:        200 * time.Millisecond,
		},
	}
}

func newTransport(t testing.TB, cfg kafka.Config) *kafka.Transport {
	t.Helper()
	tr, err := kafka.New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// testLogger logs to the test log with TRUC_TEST_LOG=1, else discards.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("TRUC_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func publishRaw(t testing.TB, addrs []string, topic string, partition int, key []byte, headers []bus.Header, value []byte) {
	t.Helper()
	w := &kafkago.Writer{
		Addr:         kafkago.TCP(addrs...),
		Topic:        topic,
		RequiredAcks: kafkago.RequireAll,
		BatchTimeout: time.Millisecond,
		BatchBytes:   32 << 20,
		Balancer:     kafkago.BalancerFunc(func(kafkago.Message, ...int) int { return partition }),
	}
	defer w.Close()
	m := kafkago.Message{Key: key, Value: value}
	for _, h := range headers {
		m.Headers = append(m.Headers, kafkago.Header{Key: h.Key, Value: h.Value})
	}
	if err := w.WriteMessages(ctxT(t), m); err != nil {
		t.Fatalf("raw publish to %s/%d: %v", topic, partition, err)
	}
}

func message(t testing.TB, id string, pkg []byte) bus.Message {
	t.Helper()
	key, err := bus.RootKey("000.00.00.G22", "doc-"+id)
	if err != nil {
		t.Fatal(err)
	}
	return bus.Message{ID: id, Type: bus.TypeDocument, Key: key, Sender: "000.00.00.G22",
		Recipients: []string{"000.00.00.H41"}, SHA256: sha256.Sum256(pkg), Package: pkg}
}

// roundTrip publishes one message with tr and consumes it back.
func roundTrip(t *testing.T, tr *kafka.Transport, topic string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m := message(t, "rt-"+topic, []byte("<round trip/>"))
	if err := tr.Publish(ctx, topic, m); err != nil {
		return err
	}
	got := make(chan bus.Delivery, 1)
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	errc := make(chan error, 1)
	go func() {
		errc <- tr.Consume(cctx, topic, "rt", func(_ context.Context, d bus.Delivery) error {
			select {
			case got <- d:
			default:
			}
			return nil
		})
	}()
	select {
	case d := <-got:
		stop()
		<-errc
		if d.Err != nil || d.Message.ID != m.ID || string(d.Message.Package) != string(m.Package) {
			t.Fatalf("round trip delivered %+v (err %v)", d.Message, d.Err)
		}
		return nil
	case err := <-errc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestEnsureTopics(t *testing.T) {
	addrs := startBroker(t, embedded.Config{})
	cfg := testConfig(addrs)
	cfg.Topics.SubmitPartitions = 12
	cfg.Topics.InboxPartitions = 3
	tr := newTransport(t, cfg)
	ctx := ctxT(t)

	if err := tr.EnsureTopics(ctx, "hanoi", "000.00.00.H41"); err != nil {
		t.Fatalf("first EnsureTopics: %v", err)
	}
	if err := tr.EnsureTopics(ctx, "hanoi", "000.00.00.H41", "hue"); err != nil {
		t.Fatalf("second EnsureTopics (idempotent, one new edge): %v", err)
	}
	admin := &kafkago.Client{Addr: kafkago.TCP(addrs...)}
	md, err := admin.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{"truc.submit", "truc.dlq", "truc.inbox.hanoi", "truc.inbox.hue"}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"truc.submit": 12, "truc.dlq": 4, "truc.inbox.hanoi": 3, "truc.inbox.hue": 3}
	for _, tm := range md.Topics {
		if tm.Error != nil || len(tm.Partitions) != want[tm.Name] {
			t.Errorf("topic %s: %d partitions (err %v), want %d", tm.Name, len(tm.Partitions), tm.Error, want[tm.Name])
		}
	}
	dc, err := admin.DescribeConfigs(ctx, &kafkago.DescribeConfigsRequest{Resources: []kafkago.DescribeConfigRequestResource{{
		ResourceType: kafkago.ResourceTypeTopic, ResourceName: "truc.submit",
		ConfigNames: []string{"max.message.bytes", "retention.ms", "min.insync.replicas"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	gotCfg := map[string]string{}
	for _, e := range dc.Resources[0].ConfigEntries {
		gotCfg[e.ConfigName] = e.ConfigValue
	}
	if gotCfg["max.message.bytes"] != "22020096" || gotCfg["retention.ms"] != "604800000" || gotCfg["min.insync.replicas"] != "1" {
		t.Errorf("truc.submit configs %v", gotCfg)
	}

	// An existing topic that differs is reported, not changed.
	res, err := admin.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{{
		Topic: "truc.inbox.danang", NumPartitions: 2, ReplicationFactor: 1,
		ConfigEntries: []kafkago.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: "1048576"}},
	}}})
	if err != nil || res.Errors["truc.inbox.danang"] != nil {
		t.Fatalf("creating a bad topic: %v %v", err, res.Errors)
	}
	err = tr.EnsureTopics(ctx, "danang")
	var mm *kafka.TopicMismatchError
	if !errors.As(err, &mm) || len(mm.Problems) != 2 ||
		!strings.Contains(mm.Problems[0], "2 partitions, configured 3") || !strings.Contains(mm.Problems[1], "max.message.bytes") {
		t.Fatalf("EnsureTopics on a mismatching topic: %v", err)
	}

	if err := tr.EnsureTopics(ctx, "bad_edge"); err == nil {
		t.Error("EnsureTopics accepted an invalid edge ID")
	}
}

func TestRecordLimits(t *testing.T) {
	t.Run("over our limit fails before sending", func(t *testing.T) {
		addrs := startBroker(t, embedded.Config{})
		cfg := testConfig(addrs)
		cfg.MaxMessageBytes = 2 << 20
		tr := newTransport(t, cfg)
		if err := tr.EnsureTopicSpecs(ctxT(t), kafka.TopicSpec{Name: "t", Partitions: 1}); err != nil {
			t.Fatal(err)
		}
		err := tr.Publish(ctxT(t), "t", message(t, "big", make([]byte, 2<<20)))
		var me *bus.MessageError
		if !errors.As(err, &me) || me.Reason != bus.ReasonTooLarge || !strings.Contains(err.Error(), "max_message_bytes") {
			t.Fatalf("Publish over max_message_bytes: %v", err)
		}
	})
	t.Run("batches filled to the limit are accepted", func(t *testing.T) {
		// Two records that kafka-go puts in one batch of just under
		// max_message_bytes: the batch's own framing pushes it over, which
		// the topic's headroom must absorb (without it, these sizes fail
		// with MessageSizeTooLarge every time they are retried).
		addrs := startBroker(t, embedded.Config{})
		tr := newTransport(t, testConfig(addrs))
		if err := tr.EnsureTopicSpecs(ctxT(t), kafka.TopicSpec{Name: "t", Partitions: 1}); err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{10<<20 - 232, 10<<20 - 224, 10<<20 - 216} {
			a, b := message(t, "a", make([]byte, n)), message(t, "b", make([]byte, n))
			b.Key = a.Key
			if err := tr.Publish(ctxT(t), "t", a, b); err != nil {
				t.Fatalf("two records of %d bytes: %v", n, err)
			}
		}
	})
	t.Run("broker limit not raised fails cleanly", func(t *testing.T) {
		// A broker left at Kafka's default 1 MiB limit refuses a 2 MiB
		// record: Publish must say so, not hang or half-succeed.
		addrs := startBroker(t, embedded.Config{MaxMessageBytes: 1 << 20})
		tr := newTransport(t, testConfig(addrs))
		admin := &kafkago.Client{Addr: kafkago.TCP(addrs...)}
		if _, err := admin.CreateTopics(ctxT(t), &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{{Topic: "small", NumPartitions: 1, ReplicationFactor: 1}}}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		err := tr.Publish(ctxT(t), "small", message(t, "big", make([]byte, 2<<20)))
		if err == nil || !errors.Is(err, kafkago.MessageSizeTooLarge) {
			t.Fatalf("Publish of 2 MiB to a 1 MiB broker: %v, want MessageSizeTooLarge", err)
		}
		if time.Since(start) > 10*time.Second {
			t.Errorf("refusal took %v", time.Since(start))
		}
		if err := tr.EnsureTopicSpecs(ctxT(t), kafka.TopicSpec{Name: "small", Partitions: 1}); err == nil {
			t.Error("EnsureTopicSpecs accepted a topic whose max.message.bytes is below max_message_bytes")
		}
	})
}

func TestPublishSeesTopicCreatedElsewhere(t *testing.T) {
	addrs := startBroker(t, embedded.Config{})
	tr := newTransport(t, testConfig(addrs))
	ctx := ctxT(t)
	// Warm the writer's metadata cache while the topic does not exist.
	if err := tr.Publish(ctx, "later", message(t, "m0", []byte("x"))); err == nil {
		t.Fatal("Publish to a missing topic succeeded")
	}
	other := newTransport(t, testConfig(addrs))
	if err := other.EnsureTopicSpecs(ctx, kafka.TopicSpec{Name: "later", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	if err := tr.Publish(ctx, "later", message(t, "m1", []byte("y"))); err != nil {
		t.Fatalf("Publish right after another process created the topic: %v", err)
	}
}

func TestPing(t *testing.T) {
	addrs := startBroker(t, embedded.Config{})
	if err := newTransport(t, testConfig(addrs)).Ping(ctxT(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	cfg := testConfig([]string{"127.0.0.1:1"})
	cfg.DialTimeout = time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := newTransport(t, cfg).Ping(ctx); err == nil {
		t.Fatal("Ping of a closed port succeeded")
	}
}
