package kafka_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"truc.vn/truc/adapters/kafka"
)

func validConfig() kafka.Config {
	return kafka.Config{Brokers: []string{"kafka-1:9092", "[::1]:9093"}}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(c *kafka.Config)
		field string // "" = valid
	}{
		{"defaults", func(*kafka.Config) {}, ""},
		{"no brokers", func(c *kafka.Config) { c.Brokers = nil }, "brokers"},
		{"broker without port", func(c *kafka.Config) { c.Brokers = []string{"kafka-1"} }, "brokers[0]"},
		{"broker port zero", func(c *kafka.Config) { c.Brokers = append(c.Brokers, "k:0") }, "brokers[2]"},
		{"client id with newline", func(c *kafka.Config) { c.ClientID = "a\nb" }, "client_id"},
		{"message limit too small", func(c *kafka.Config) { c.MaxMessageBytes = 1000 }, "max_message_bytes"},
		{"message limit too large", func(c *kafka.Config) { c.MaxMessageBytes = 1 << 30 }, "max_message_bytes"},
		{"tls settings without tls", func(c *kafka.Config) { c.TLS.CAFile = "ca.pem" }, "tls.enabled"},
		{"cert without key", func(c *kafka.Config) { c.TLS = kafka.TLSConfig{Enabled: true, CertFile: "c.pem"} }, "tls.cert_file"},
		{"insecure skip verify alone", func(c *kafka.Config) { c.TLS = kafka.TLSConfig{Enabled: true, InsecureSkipVerify: true} }, "tls.insecure_skip_verify"},
		{"insecure skip verify allowed", func(c *kafka.Config) {
			c.TLS = kafka.TLSConfig{Enabled: true, InsecureSkipVerify: true, AllowInsecureSkipVerify: true}
		}, ""},
		{"unknown mechanism", func(c *kafka.Config) { c.SASL = kafka.SASLConfig{Mechanism: "GSSAPI", Username: "u", Password: "p"} }, "sasl.mechanism"},
		{"plain without tls", func(c *kafka.Config) { c.SASL = kafka.SASLConfig{Mechanism: "PLAIN", Username: "u", Password: "p"} }, "sasl.mechanism"},
		{"plain with tls", func(c *kafka.Config) {
			c.TLS.Enabled = true
			c.SASL = kafka.SASLConfig{Mechanism: "PLAIN", Username: "u", Password: "p"}
		}, ""},
		{"scram without user", func(c *kafka.Config) { c.SASL = kafka.SASLConfig{Mechanism: "SCRAM-SHA-256", Password: "p"} }, "sasl.username"},
		{"scram without password", func(c *kafka.Config) {
			c.SASL = kafka.SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "u", PasswordFile: "/run/secret"}
		}, "sasl.password"},
		{"password file and env", func(c *kafka.Config) {
			c.SASL = kafka.SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "u", Password: "p", PasswordFile: "f", PasswordEnv: "E"}
		}, "sasl.password_file"},
		{"credentials without mechanism", func(c *kafka.Config) { c.SASL.Username = "u" }, "sasl.mechanism"},
		{"bad prefix", func(c *kafka.Config) { c.Topics.Prefix = "truc_prod" }, "topics.prefix"},
		{"negative partitions", func(c *kafka.Config) { c.Topics.SubmitPartitions = -1 }, "topics.submit_partitions"},
		{"too many inbox partitions", func(c *kafka.Config) { c.Topics.InboxPartitions = 20000 }, "topics.inbox_partitions"},
		{"min insync above replication", func(c *kafka.Config) { c.Topics.Replication, c.Topics.MinInsyncReplicas = 2, 3 }, "topics.min_insync_replicas"},
		{"replication 1 defaults min insync 1", func(c *kafka.Config) { c.Topics.Replication = 1 }, ""},
		{"retention too short", func(c *kafka.Config) { c.Topics.Retention = time.Minute }, "topics.retention"},
		{"unknown compression", func(c *kafka.Config) { c.Producer.Compression = "brotli" }, "producer.compression"},
		{"zstd", func(c *kafka.Config) { c.Producer.Compression = "zstd" }, ""},
		{"huge batch", func(c *kafka.Config) { c.Producer.BatchSize = 1 << 20 }, "producer.batch_size"},
		{"heartbeat too slow", func(c *kafka.Config) {
			c.Consumer.SessionTimeout, c.Consumer.HeartbeatInterval = 6*time.Second, 3*time.Second
		}, "consumer.heartbeat_interval"},
		{"retry max below min", func(c *kafka.Config) {
			c.Consumer.RetryBackoffMin, c.Consumer.RetryBackoffMax = time.Second, 10*time.Millisecond
		}, "consumer.retry_backoff_max"},
		{"negative max wait", func(c *kafka.Config) { c.Consumer.MaxWait = -time.Second }, "consumer.max_wait"},
		{"queue too deep", func(c *kafka.Config) { c.Consumer.QueueCapacity = 1 << 20 }, "consumer.queue_capacity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.edit(&c)
			err := c.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var ce *kafka.ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.field {
				t.Fatalf("error %v, want a *kafka.ConfigError on %s", err, tt.field)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("error %q does not name %s", err, tt.field)
			}
			if _, nerr := kafka.New(c, nil); nerr == nil {
				t.Fatal("New accepted a config Validate refuses")
			}
		})
	}
}

func TestNewReadsTLSFiles(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "junk.pem")
	os.WriteFile(notPEM, []byte("not a certificate"), 0o600)
	for _, tt := range []struct {
		name  string
		tls   kafka.TLSConfig
		field string
	}{
		{"missing CA file", kafka.TLSConfig{Enabled: true, CAFile: filepath.Join(dir, "nope.pem")}, "tls.ca_file"},
		{"CA file without PEM", kafka.TLSConfig{Enabled: true, CAFile: notPEM}, "tls.ca_file"},
		{"bad client pair", kafka.TLSConfig{Enabled: true, CertFile: notPEM, KeyFile: notPEM}, "tls.cert_file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			c.TLS = tt.tls
			_, err := kafka.New(c, nil)
			var ce *kafka.ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.field {
				t.Fatalf("New: %v, want a *kafka.ConfigError on %s", err, tt.field)
			}
		})
	}
}

func TestResolveSecrets(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	os.WriteFile(file, []byte("from-file\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	env := func(k string) (string, bool) {
		if k == "TRUC_KAFKA_PASSWORD" {
			return "from-env", true
		}
		return "", false
	}
	tests := []struct {
		name      string
		sasl      kafka.SASLConfig
		want      string
		wantField string
	}{
		{"file", kafka.SASLConfig{PasswordFile: file}, "from-file", ""},
		{"env", kafka.SASLConfig{PasswordEnv: "TRUC_KAFKA_PASSWORD"}, "from-env", ""},
		{"neither keeps the password", kafka.SASLConfig{Password: "given"}, "given", ""},
		{"missing file", kafka.SASLConfig{PasswordFile: filepath.Join(dir, "nope")}, "", "sasl.password_file"},
		{"empty file", kafka.SASLConfig{PasswordFile: empty}, "", "sasl.password_file"},
		{"unset env", kafka.SASLConfig{PasswordEnv: "UNSET"}, "", "sasl.password_env"},
		{"both", kafka.SASLConfig{PasswordFile: file, PasswordEnv: "TRUC_KAFKA_PASSWORD"}, "", "sasl.password_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			c.SASL = tt.sasl
			err := c.ResolveSecrets(env)
			if tt.wantField != "" {
				var ce *kafka.ConfigError
				if !errors.As(err, &ce) || ce.Field != tt.wantField {
					t.Fatalf("ResolveSecrets: %v, want an error on %s", err, tt.wantField)
				}
				return
			}
			if err != nil || c.SASL.Password != tt.want {
				t.Fatalf("ResolveSecrets: password %q, err %v; want %q", c.SASL.Password, err, tt.want)
			}
		})
	}
}

// TestConfigFile parses configs/kafka.yaml strictly (unknown keys fail) and
// validates it, so that the example can never drift from the code.
func TestConfigFile(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "configs", "kafka.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	var c kafka.Config
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("configs/kafka.yaml: %v", err)
	}
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("secret\n"), 0o600)
	if c.SASL.PasswordFile == "" {
		t.Fatal("the example should show sasl.password_file")
	}
	c.SASL.PasswordFile = pw
	if err := c.ResolveSecrets(nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("configs/kafka.yaml does not validate: %v", err)
	}
	// The file documents the defaults: applying them must change nothing
	// but what it leaves out on purpose.
	if c.Topics.SubmitPartitions != kafka.DefaultSubmitPartitions || c.MaxMessageBytes != kafka.DefaultMaxMessageBytes ||
		c.Topics.Replication != 3 || c.Topics.MinInsyncReplicas != 2 || c.Producer.BatchTimeout != time.Millisecond ||
		c.Consumer.CommitInterval != 50*time.Millisecond || c.Topics.Retention != kafka.DefaultRetention {
		t.Errorf("configs/kafka.yaml disagrees with the defaults: %+v", c)
	}
}
