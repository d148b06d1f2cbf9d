package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"truc.vn/truc/bus"
)

// Config is everything the Kafka transport needs. The zero value of every
// field but Brokers means "the default" written next to it; New applies the
// defaults and calls Validate. Field names in errors are the YAML keys.
type Config struct {
	// Brokers are bootstrap addresses, host:port. Required.
	Brokers []string `yaml:"brokers"`
	// ClientID names this process to the brokers (logs, quotas).
	// Default "truc".
	ClientID string `yaml:"client_id"`
	// DialTimeout bounds connection set-up including TLS and SASL.
	// Default 10s.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// MaxMessageBytes is the largest record this transport writes or
	// reads, headers included, and the most bytes of records it puts in
	// one batch. Default 20 MiB, so that a 16 MiB letter (the inline cap)
	// travels as one record with room for its headers. Topics and brokers
	// need max.message.bytes of at least MaxMessageBytes + 1 MiB
	// (TopicMaxMessageBytes), the batch framing and compression headroom;
	// EnsureTopics sets and checks it on truc topics.
	MaxMessageBytes int `yaml:"max_message_bytes"`

	TLS      TLSConfig      `yaml:"tls"`
	SASL     SASLConfig     `yaml:"sasl"`
	Topics   TopicsConfig   `yaml:"topics"`
	Producer ProducerConfig `yaml:"producer"`
	Consumer ConsumerConfig `yaml:"consumer"`
}

// TLSConfig sets up TLS to the brokers. Files are read by New.
type TLSConfig struct {
	Enabled bool `yaml:"enabled"`
	// CAFile holds the PEM certificates of the CAs that sign the broker
	// certificates. Empty: the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are this client's PEM certificate and key, for
	// brokers that authenticate clients by certificate (mTLS). Both or
	// neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked in broker certificates.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify turns off broker certificate checks. It is refused
	// unless AllowInsecureSkipVerify is also set, so that it cannot slip
	// into a production config by one line.
	InsecureSkipVerify      bool `yaml:"insecure_skip_verify"`
	AllowInsecureSkipVerify bool `yaml:"allow_insecure_skip_verify"`
}

// SASL mechanisms.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// SASLConfig authenticates this client to the brokers.
type SASLConfig struct {
	// Mechanism is empty (no SASL), SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN.
	// PLAIN sends the password itself and is refused without TLS.
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	// Password is the secret. It never comes from YAML: the config names
	// PasswordFile or PasswordEnv and the caller resolves it with
	// ResolveSecrets before New.
	Password     string `yaml:"-"`
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
}

// TopicsConfig says how truc topics are named and created (EnsureTopics).
type TopicsConfig struct {
	// Prefix of every topic name. Default "truc" (truc.submit, truc.dlq,
	// truc.inbox.<edge>).
	Prefix string `yaml:"prefix"`
	// SubmitPartitions is the partition count of truc.submit. Default 64:
	// it bounds how many axis processes can share the submit load, and it
	// cannot shrink; raising it later moves keys between partitions, which
	// breaks per-letter ordering for letters in flight. 64 partitions cost
	// a real cluster little and leave room for years of growth.
	SubmitPartitions int `yaml:"submit_partitions"`
	// InboxPartitions is the partition count of each truc.inbox.<edge>.
	// Default 8: an edge handles letters of different documents in
	// parallel, one ordered stream per partition.
	InboxPartitions int `yaml:"inbox_partitions"`
	// DLQPartitions is the partition count of truc.dlq. Default 4.
	DLQPartitions int `yaml:"dlq_partitions"`
	// Replication is the replication factor of created topics. Default 3
	// (production); 1 for the embedded single-node broker.
	Replication int `yaml:"replication"`
	// MinInsyncReplicas is min.insync.replicas of created topics: with
	// acks from all in-sync replicas, a write succeeds only once this many
	// replicas have it. Default 2 when Replication ≥ 3 (one broker may be
	// down without stopping writes or risking acknowledged data), else
	// Replication.
	MinInsyncReplicas int `yaml:"min_insync_replicas"`
	// Retention is retention.ms of created topics. Default 168h (7 days).
	// An edge offline longer still gets its letters: the axis keeps the
	// packages and redelivers.
	Retention time.Duration `yaml:"retention"`
}

// ProducerConfig tunes Publish.
type ProducerConfig struct {
	// BatchTimeout is how long a partition's batch waits for more messages
	// before it is sent. Default 1ms (kafka-go's own default of 1s would
	// make every lone Publish take a second).
	BatchTimeout time.Duration `yaml:"batch_timeout"`
	// BatchSize is the most messages per batch and partition. Default 500.
	BatchSize int `yaml:"batch_size"`
	// Compression of record batches: none (default), gzip, snappy, lz4 or
	// zstd. The broker limit applies to the compressed batch.
	Compression string `yaml:"compression"`
	// WriteTimeout bounds one produce request. Default 30s (a 16 MiB
	// record over a slow provincial link).
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// MaxAttempts is how many times a batch is sent before Publish fails.
	// Default 5.
	MaxAttempts int `yaml:"max_attempts"`
}

// ConsumerConfig tunes Consume.
type ConsumerConfig struct {
	// SessionTimeout: a consumer silent this long is removed from its
	// group and its partitions move. Default 30s; at least 6s (the usual
	// broker minimum, group.min.session.timeout.ms).
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// HeartbeatInterval between heartbeats; at most SessionTimeout/3.
	// It also bounds how fast a consumer notices a rebalance. Default 3s.
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// RebalanceTimeout is how long the group waits for members to rejoin
	// in a rebalance. Default 30s.
	RebalanceTimeout time.Duration `yaml:"rebalance_timeout"`
	// JoinGroupBackoff is the pause before rejoining after a failed join.
	// Default 2s.
	JoinGroupBackoff time.Duration `yaml:"join_group_backoff"`
	// PartitionWatchInterval is how often the partition count is checked;
	// a change rebalances the group. Default 10s.
	PartitionWatchInterval time.Duration `yaml:"partition_watch_interval"`
	// MaxWait is how long a fetch waits for new records. It also bounds
	// how long stopping a partition takes. Default 500ms.
	MaxWait time.Duration `yaml:"max_wait"`
	// QueueCapacity is how many records each partition reads ahead of its
	// handler. Default 32. Memory held per assigned partition is up to
	// QueueCapacity records: keep it low where big letters are common.
	QueueCapacity int `yaml:"queue_capacity"`
	// CommitInterval is how often handled positions are committed.
	// Default 50ms. A crash replays at most what was handled since.
	CommitInterval time.Duration `yaml:"commit_interval"`
	// CommitEvery commits early once this many records were handled
	// since the last commit. Default 1000.
	CommitEvery int `yaml:"commit_every"`
	// RetryBackoffMin and RetryBackoffMax bound the pause before a failed
	// handler is called again with the same record; the pause doubles
	// from min to max. Defaults 200ms and 30s.
	RetryBackoffMin time.Duration `yaml:"retry_backoff_min"`
	RetryBackoffMax time.Duration `yaml:"retry_backoff_max"`
}

// Defaults.
const (
	DefaultClientID         = "truc"
	DefaultMaxMessageBytes  = 20 << 20
	DefaultSubmitPartitions = 64
	DefaultInboxPartitions  = 8
	DefaultDLQPartitions    = 4
	DefaultReplication      = 3
	DefaultRetention        = 7 * 24 * time.Hour
	// BatchHeadroom is what a topic's max.message.bytes needs above
	// MaxMessageBytes: a batch filled to MaxMessageBytes of records still
	// carries its own framing (61 bytes), and compression can grow
	// incompressible data a little.
	BatchHeadroom      = 1 << 20
	minMaxMessageBytes = 1 << 20
	maxMaxMessageBytes = 128 << 20
	maxPartitions      = 10000
)

func (c *Config) setDefaults() {
	setDefault(&c.ClientID, DefaultClientID)
	setDefault(&c.DialTimeout, 10*time.Second)
	setDefault(&c.MaxMessageBytes, DefaultMaxMessageBytes)

	t := &c.Topics
	setDefault(&t.Prefix, bus.DefaultTopicPrefix)
	setDefault(&t.SubmitPartitions, DefaultSubmitPartitions)
	setDefault(&t.InboxPartitions, DefaultInboxPartitions)
	setDefault(&t.DLQPartitions, DefaultDLQPartitions)
	setDefault(&t.Replication, DefaultReplication)
	if t.Replication >= 3 {
		setDefault(&t.MinInsyncReplicas, 2)
	} else {
		setDefault(&t.MinInsyncReplicas, t.Replication)
	}
	setDefault(&t.Retention, DefaultRetention)

	p := &c.Producer
	setDefault(&p.BatchTimeout, time.Millisecond)
	setDefault(&p.BatchSize, 500)
	setDefault(&p.Compression, "none")
	setDefault(&p.WriteTimeout, 30*time.Second)
	setDefault(&p.MaxAttempts, 5)

	k := &c.Consumer
	setDefault(&k.SessionTimeout, 30*time.Second)
	setDefault(&k.HeartbeatInterval, 3*time.Second)
	setDefault(&k.RebalanceTimeout, 30*time.Second)
	setDefault(&k.JoinGroupBackoff, 2*time.Second)
	setDefault(&k.PartitionWatchInterval, 10*time.Second)
	setDefault(&k.MaxWait, 500*time.Millisecond)
	setDefault(&k.QueueCapacity, 32)
	setDefault(&k.CommitInterval, 50*time.Millisecond)
	setDefault(&k.CommitEvery, 1000)
	setDefault(&k.RetryBackoffMin, 200*time.Millisecond)
	setDefault(&k.RetryBackoffMax, 30*time.Second)
}

// TopicMaxMessageBytes is the max.message.bytes truc topics get and need:
// MaxMessageBytes plus BatchHeadroom.
func (c Config) TopicMaxMessageBytes() int {
	c.setDefaults()
	return c.MaxMessageBytes + BatchHeadroom
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// ConfigError is the error Validate returns: Field is the YAML path of the
// offending setting.
type ConfigError struct {
	Field string
	Rule  string
}

func (e *ConfigError) Error() string { return "kafka config: " + e.Field + ": " + e.Rule }

func cfgErr(field, format string, args ...any) error {
	return &ConfigError{Field: field, Rule: fmt.Sprintf(format, args...)}
}

// Validate checks c, with defaults applied, and returns a *ConfigError
// naming the first setting it refuses. It reads no files.
func (c Config) Validate() error {
	c.setDefaults()
	return c.validate()
}

func (c *Config) validate() error {
	if len(c.Brokers) == 0 {
		return cfgErr("brokers", "at least one broker address (host:port) is required")
	}
	for i, b := range c.Brokers {
		host, port, err := net.SplitHostPort(b)
		n, perr := strconv.Atoi(port)
		if err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			return cfgErr(fmt.Sprintf("brokers[%d]", i), "%q is not host:port with a port in 1–65535", b)
		}
	}
	if c.ClientID != strings.TrimSpace(c.ClientID) || strings.ContainsFunc(c.ClientID, isControl) {
		return cfgErr("client_id", "must not have control characters or surrounding spaces")
	}
	if err := durationIn("dial_timeout", c.DialTimeout, time.Second, 5*time.Minute); err != nil {
		return err
	}
	if c.MaxMessageBytes < minMaxMessageBytes || c.MaxMessageBytes > maxMaxMessageBytes {
		return cfgErr("max_message_bytes", "must be between %d (1 MiB) and %d (128 MiB), got %d", minMaxMessageBytes, maxMaxMessageBytes, c.MaxMessageBytes)
	}
	if err := c.TLS.validate(); err != nil {
		return err
	}
	if err := c.SASL.validate(c.TLS.Enabled); err != nil {
		return err
	}
	if err := c.Topics.validate(); err != nil {
		return err
	}
	if err := c.Producer.validate(); err != nil {
		return err
	}
	return c.Consumer.validate()
}

func (t *TLSConfig) validate() error {
	if !t.Enabled {
		if t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "" || t.InsecureSkipVerify {
			return cfgErr("tls.enabled", "TLS settings are given but tls.enabled is false")
		}
		return nil
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return cfgErr("tls.cert_file", "tls.cert_file and tls.key_file go together (client certificate and its key)")
	}
	if t.InsecureSkipVerify && !t.AllowInsecureSkipVerify {
		return cfgErr("tls.insecure_skip_verify", "refused: it accepts any broker certificate; set tls.allow_insecure_skip_verify too if this is really a throw-away setup")
	}
	return nil
}

func (s *SASLConfig) validate(tlsOn bool) error {
	switch s.Mechanism {
	case "":
		if s.Username != "" || s.Password != "" || s.PasswordFile != "" || s.PasswordEnv != "" {
			return cfgErr("sasl.mechanism", "SASL credentials are given but no mechanism (SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN)")
		}
		return nil
	case SASLScramSHA256, SASLScramSHA512:
	case SASLPlain:
		if !tlsOn {
			return cfgErr("sasl.mechanism", "PLAIN sends the password as is and requires tls.enabled")
		}
	default:
		return cfgErr("sasl.mechanism", "must be SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN, got %q", s.Mechanism)
	}
	if s.Username == "" {
		return cfgErr("sasl.username", "required with sasl.mechanism %s", s.Mechanism)
	}
	if s.PasswordFile != "" && s.PasswordEnv != "" {
		return cfgErr("sasl.password_file", "give sasl.password_file or sasl.password_env, not both")
	}
	if s.Password == "" {
		return cfgErr("sasl.password", "empty: set sasl.password_file or sasl.password_env and resolve it (ResolveSecrets)")
	}
	return nil
}

func (t *TopicsConfig) validate() error {
	if _, err := bus.NewTopics(t.Prefix); err != nil {
		return cfgErr("topics.prefix", "%v", err)
	}
	for _, p := range []struct {
		field string
		n     int
	}{
		{"topics.submit_partitions", t.SubmitPartitions},
		{"topics.inbox_partitions", t.InboxPartitions},
		{"topics.dlq_partitions", t.DLQPartitions},
	} {
		if p.n < 1 || p.n > maxPartitions {
			return cfgErr(p.field, "must be between 1 and %d, got %d", maxPartitions, p.n)
		}
	}
	if t.Replication < 1 || t.Replication > 16 {
		return cfgErr("topics.replication", "must be between 1 and 16, got %d", t.Replication)
	}
	if t.MinInsyncReplicas < 1 || t.MinInsyncReplicas > t.Replication {
		return cfgErr("topics.min_insync_replicas", "must be between 1 and topics.replication (%d), got %d", t.Replication, t.MinInsyncReplicas)
	}
	return durationIn("topics.retention", t.Retention, time.Hour, 100*365*24*time.Hour)
}

func (p *ProducerConfig) validate() error {
	if err := durationIn("producer.batch_timeout", p.BatchTimeout, 0, 10*time.Second); err != nil {
		return err
	}
	if p.BatchSize < 1 || p.BatchSize > 100000 {
		return cfgErr("producer.batch_size", "must be between 1 and 100000, got %d", p.BatchSize)
	}
	if _, err := compressionCodec(p.Compression); err != nil {
		return err
	}
	if err := durationIn("producer.write_timeout", p.WriteTimeout, time.Second, 10*time.Minute); err != nil {
		return err
	}
	if p.MaxAttempts < 1 || p.MaxAttempts > 100 {
		return cfgErr("producer.max_attempts", "must be between 1 and 100, got %d", p.MaxAttempts)
	}
	return nil
}

func (k *ConsumerConfig) validate() error {
	for _, d := range []struct {
		field    string
		v        time.Duration
		min, max time.Duration
	}{
		{"consumer.session_timeout", k.SessionTimeout, time.Second, time.Hour},
		{"consumer.heartbeat_interval", k.HeartbeatInterval, 10 * time.Millisecond, time.Hour},
		{"consumer.rebalance_timeout", k.RebalanceTimeout, time.Second, time.Hour},
		{"consumer.join_group_backoff", k.JoinGroupBackoff, 10 * time.Millisecond, time.Hour},
		{"consumer.partition_watch_interval", k.PartitionWatchInterval, 100 * time.Millisecond, time.Hour},
		{"consumer.max_wait", k.MaxWait, 10 * time.Millisecond, time.Minute},
		{"consumer.commit_interval", k.CommitInterval, time.Millisecond, time.Minute},
		{"consumer.retry_backoff_min", k.RetryBackoffMin, time.Millisecond, time.Hour},
		{"consumer.retry_backoff_max", k.RetryBackoffMax, time.Millisecond, 24 * time.Hour},
	} {
		if err := durationIn(d.field, d.v, d.min, d.max); err != nil {
			return err
		}
	}
	if k.HeartbeatInterval > k.SessionTimeout/3 {
		return cfgErr("consumer.heartbeat_interval", "must be at most a third of consumer.session_timeout (%v), got %v", k.SessionTimeout, k.HeartbeatInterval)
	}
	if k.RetryBackoffMax < k.RetryBackoffMin {
		return cfgErr("consumer.retry_backoff_max", "must be at least consumer.retry_backoff_min (%v), got %v", k.RetryBackoffMin, k.RetryBackoffMax)
	}
	if k.QueueCapacity < 1 || k.QueueCapacity > 10000 {
		return cfgErr("consumer.queue_capacity", "must be between 1 and 10000, got %d", k.QueueCapacity)
	}
	if k.CommitEvery < 1 {
		return cfgErr("consumer.commit_every", "must be at least 1, got %d", k.CommitEvery)
	}
	return nil
}

func durationIn(field string, v, min, max time.Duration) error {
	if v < min || v > max {
		return cfgErr(field, "must be between %v and %v, got %v", min, max, v)
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// ResolveSecrets fills SASL.Password from SASL.PasswordFile (read now; one
// trailing newline is dropped) or from the environment variable
// SASL.PasswordEnv, looked up with lookupEnv (os.LookupEnv in a program;
// the library never reads the environment itself). It does nothing when
// neither is set.
func (c *Config) ResolveSecrets(lookupEnv func(string) (string, bool)) error {
	s := &c.SASL
	switch {
	case s.PasswordFile != "" && s.PasswordEnv != "":
		return cfgErr("sasl.password_file", "give sasl.password_file or sasl.password_env, not both")
	case s.PasswordFile != "":
		b, err := os.ReadFile(s.PasswordFile)
		if err != nil {
			return cfgErr("sasl.password_file", "reading the password: %v", err)
		}
		s.Password = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if s.Password == "" {
			return cfgErr("sasl.password_file", "%s is empty", s.PasswordFile)
		}
	case s.PasswordEnv != "":
		if lookupEnv == nil {
			return cfgErr("sasl.password_env", "no environment lookup given")
		}
		v, ok := lookupEnv(s.PasswordEnv)
		if !ok || v == "" {
			return cfgErr("sasl.password_env", "environment variable %s is not set or empty", s.PasswordEnv)
		}
		s.Password = v
	}
	return nil
}

// tlsConfig reads the files named in t. It returns nil when TLS is off.
func (t *TLSConfig) tlsConfig() (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify && t.AllowInsecureSkipVerify,
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, cfgErr("tls.ca_file", "reading CA certificates: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, cfgErr("tls.ca_file", "%s holds no PEM certificate", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, cfgErr("tls.cert_file", "loading the client certificate and key: %v", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func (s *SASLConfig) mechanism() (sasl.Mechanism, error) {
	switch s.Mechanism {
	case "":
		return nil, nil
	case SASLPlain:
		return plain.Mechanism{Username: s.Username, Password: s.Password}, nil
	case SASLScramSHA256, SASLScramSHA512:
		algo := scram.SHA256
		if s.Mechanism == SASLScramSHA512 {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, s.Username, s.Password)
		if err != nil {
			return nil, cfgErr("sasl.username", "%v", err)
		}
		return m, nil
	}
	return nil, errors.New("unreachable: mechanism validated")
}
