package embedded_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"

	"truc.vn/truc/adapters/kafka/embedded"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func start(t *testing.T, cfg embedded.Config) *embedded.Broker {
	t.Helper()
	b, err := embedded.Start(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func produce(t *testing.T, addrs []string, topic string, n int) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(addrs...), Topic: topic, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	var msgs []kafka.Message
	for i := range n {
		msgs = append(msgs, kafka.Message{Key: []byte(strconv.Itoa(i)), Value: []byte("v" + strconv.Itoa(i))})
	}
	if err := w.WriteMessages(ctxT(t), msgs...); err != nil {
		t.Fatal(err)
	}
}

// TestRestartKeepsState stops a broker with a data directory and starts a
// new one on it: records, topic configs and committed group offsets must
// all be back.
func TestRestartKeepsState(t *testing.T) {
	dir := t.TempDir()
	b := start(t, embedded.Config{DataDir: dir, SeedTopics: []embedded.SeedTopic{{Name: "letters", Partitions: 2}}})
	produce(t, b.Addrs(), "letters", 100)
	cl := &kafka.Client{Addr: kafka.TCP(b.Addrs()...)}
	if _, err := cl.OffsetCommit(ctxT(t), &kafka.OffsetCommitRequest{
		GroupID: "axis", GenerationID: -1,
		Topics: map[string][]kafka.OffsetCommit{"letters": {{Partition: 0, Offset: 7}, {Partition: 1, Offset: 3}}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	// The seed list is ignored on a data directory that has state.
	b2 := start(t, embedded.Config{DataDir: dir, SeedTopics: []embedded.SeedTopic{{Name: "other", Partitions: 1}}})
	cl = &kafka.Client{Addr: kafka.TCP(b2.Addrs()...)}
	md, err := cl.Metadata(ctxT(t), &kafka.MetadataRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tm := range md.Topics {
		names = append(names, tm.Name)
	}
	if len(names) != 1 || names[0] != "letters" {
		t.Fatalf("topics after restart: %v, want [letters]", names)
	}
	lo, err := cl.ListOffsets(ctxT(t), &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
		"letters": {kafka.LastOffsetOf(0), kafka.LastOffsetOf(1)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, p := range lo.Topics["letters"] {
		total += p.LastOffset
	}
	if total != 100 {
		t.Fatalf("%d records after restart, want 100", total)
	}
	of, err := cl.OffsetFetch(ctxT(t), &kafka.OffsetFetchRequest{GroupID: "axis", Topics: map[string][]int{"letters": {0, 1}}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]int64{}
	for _, p := range of.Topics["letters"] {
		got[p.Partition] = p.CommittedOffset
	}
	if got[0] != 7 || got[1] != 3 {
		t.Fatalf("committed offsets after restart %v, want 0:7 1:3", got)
	}
}

func TestDataDirLocked(t *testing.T) {
	dir := t.TempDir()
	start(t, embedded.Config{DataDir: dir})
	if b, err := embedded.Start(embedded.Config{DataDir: dir}, nil); err == nil {
		b.Close()
		t.Fatal("a second broker started on a data directory in use")
	} else if !strings.Contains(err.Error(), "in use") {
		t.Fatalf("error %q does not say the directory is in use", err)
	}
}

func TestAdvertise(t *testing.T) {
	b := start(t, embedded.Config{Listen: []string{"0.0.0.0:0"}, Advertise: "localhost"})
	addrs := b.Addrs()
	host, _, err := net.SplitHostPort(addrs[0])
	if err != nil || host != "localhost" {
		t.Fatalf("Addrs = %v, want localhost:<port>", addrs)
	}
	cl := &kafka.Client{Addr: kafka.TCP(addrs...)}
	md, err := cl.Metadata(ctxT(t), &kafka.MetadataRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Brokers) != 1 || md.Brokers[0].Host != "localhost" {
		t.Fatalf("metadata brokers %+v, want the advertised host", md.Brokers)
	}
}

func TestSeveralNodes(t *testing.T) {
	b := start(t, embedded.Config{Listen: []string{"127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"}, SeedTopics: []embedded.SeedTopic{{Name: "t", Partitions: 3}}})
	if n := len(b.Addrs()); n != 3 {
		t.Fatalf("%d addresses, want 3", n)
	}
	produce(t, b.Addrs(), "t", 30)
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		cfg   embedded.Config
		field string
	}{
		{"defaults", embedded.Config{}, ""},
		{"bad listen", embedded.Config{Listen: []string{"localhost"}}, "Listen[0]"},
		{"bad port", embedded.Config{Listen: []string{"127.0.0.1:70000"}}, "Listen[0]"},
		{"wildcard without advertise", embedded.Config{Listen: []string{"0.0.0.0:9092"}}, "Listen[0]"},
		{"empty host without advertise", embedded.Config{Listen: []string{":9092"}}, "Listen[0]"},
		{"advertise with port", embedded.Config{Listen: []string{"0.0.0.0:0"}, Advertise: "h:1"}, "Advertise"},
		{"small message limit", embedded.Config{MaxMessageBytes: 100}, "MaxMessageBytes"},
		{"bad seed name", embedded.Config{SeedTopics: []embedded.SeedTopic{{Name: "a b", Partitions: 1}}}, "SeedTopics[0]"},
		{"bad seed count", embedded.Config{SeedTopics: []embedded.SeedTopic{{Name: "a", Partitions: 0}}}, "SeedTopics[0]"},
		{"bad mechanism", embedded.Config{Users: []embedded.User{{Mechanism: "MD5", Name: "a", Password: "b"}}}, "Users[0]"},
		{"empty password", embedded.Config{Users: []embedded.User{{Mechanism: "PLAIN", Name: "a"}}}, "Users[0]"},
		{"duplicate user", embedded.Config{Users: []embedded.User{{"PLAIN", "a", "b"}, {"PLAIN", "a", "c"}}}, "Users[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.field+":") {
				t.Fatalf("error %v, want one naming %s", err, tt.field)
			}
			if b, err := embedded.Start(tt.cfg, nil); err == nil {
				b.Close()
				t.Fatal("Start accepted a config Validate refuses")
			}
		})
	}
}
