package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	kafka "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"

	"truc.vn/truc/bus"
)

// Transport is a bus.Transport on Kafka. Create it with New.
type Transport struct {
	cfg    Config
	log    *slog.Logger
	topics bus.Topics
	tls    *tls.Config
	sasl   sasl.Mechanism

	kt     *kafka.Transport // shared by the writer and the admin client
	writer *kafka.Writer
	client *kafka.Client
	dialer *kafka.Dialer // consumer groups and partition readers

	ctx    context.Context // done on Close
	cancel context.CancelFunc

	mu        sync.Mutex
	closed    bool
	consumers sync.WaitGroup
}

var _ bus.Transport = (*Transport)(nil)

// New returns a Transport for cfg. It applies the defaults, validates cfg,
// and reads the TLS files it names; it does not contact the brokers (see
// Ping). log may be nil.
func New(cfg Config, log *slog.Logger) (*Transport, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "kafka")
	tlsCfg, err := cfg.TLS.tlsConfig()
	if err != nil {
		return nil, err
	}
	mech, err := cfg.SASL.mechanism()
	if err != nil {
		return nil, err
	}
	codec, _ := compressionCodec(cfg.Producer.Compression)
	topics, _ := bus.NewTopics(cfg.Topics.Prefix)

	ctx, cancel := context.WithCancel(context.Background())
	t := &Transport{cfg: cfg, log: log, topics: topics, tls: tlsCfg, sasl: mech, ctx: ctx, cancel: cancel}
	t.kt = t.newKafkaTransport(nil)
	t.writer = &kafka.Writer{
		Addr:         kafka.TCP(cfg.Brokers...),
		Transport:    t.kt,
		RequiredAcks: kafka.RequireAll,
		// Murmur2 is the Java client's default partitioner: any Kafka
		// tool that re-publishes a truc record by key puts it in the same
		// partition. It is part of the wire contract: changing it moves
		// every key and breaks ordering for letters in flight.
		Balancer:        &kafka.Murmur2Balancer{Consistent: true},
		BatchTimeout:    cfg.Producer.BatchTimeout,
		BatchSize:       cfg.Producer.BatchSize,
		BatchBytes:      int64(cfg.MaxMessageBytes),
		Compression:     codec,
		WriteTimeout:    cfg.Producer.WriteTimeout,
		ReadTimeout:     cfg.DialTimeout,
		MaxAttempts:     cfg.Producer.MaxAttempts,
		WriteBackoffMin: 100 * time.Millisecond,
		WriteBackoffMax: 2 * time.Second,
		ErrorLogger:     kafkaLogger(log, slog.LevelWarn),
	}
	t.client = &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Transport: t.kt, Timeout: cfg.DialTimeout}
	t.dialer = &kafka.Dialer{
		ClientID:      cfg.ClientID,
		Timeout:       cfg.DialTimeout,
		DualStack:     true,
		KeepAlive:     30 * time.Second,
		TLS:           tlsCfg,
		SASLMechanism: mech,
	}
	return t, nil
}

// newKafkaTransport returns a kafka-go transport with this Transport's
// security settings. onlyTopics limits the metadata it caches.
func (t *Transport) newKafkaTransport(onlyTopics []string) *kafka.Transport {
	return &kafka.Transport{
		DialTimeout:    t.cfg.DialTimeout,
		ClientID:       t.cfg.ClientID,
		TLS:            t.tls,
		SASL:           t.sasl,
		MetadataTopics: onlyTopics,
		Context:        t.ctx,
	}
}

// Topics returns the topic names this Transport's configuration uses.
func (t *Transport) Topics() bus.Topics { return t.topics }

// Ping checks that the brokers answer and accept this client's credentials.
func (t *Transport) Ping(ctx context.Context) error {
	if err := t.dialAny(ctx); err != nil {
		return fmt.Errorf("reaching kafka brokers %v: %w", t.cfg.Brokers, err)
	}
	kt := t.newKafkaTransport([]string{})
	defer kt.CloseIdleConnections()
	cl := &kafka.Client{Addr: kafka.TCP(t.cfg.Brokers...), Transport: kt, Timeout: t.cfg.DialTimeout}
	if _, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{}}); err != nil {
		return fmt.Errorf("reaching kafka brokers %v: %w", t.cfg.Brokers, err)
	}
	return nil
}

// Publish implements bus.Transport. Every message is validated, then sent
// in one call to the kafka-go writer with acks from all in-sync replicas.
func (t *Transport) Publish(ctx context.Context, topic string, msgs ...bus.Message) error {
	if t.isClosed() {
		return bus.ErrClosed
	}
	if err := bus.ValidateTopic(topic); err != nil {
		return fmt.Errorf("publishing: %w", err)
	}
	records := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		if err := m.Validate(); err != nil {
			return fmt.Errorf("publishing to %s: message %d (%s): %w", topic, i, m.ID, err)
		}
		r := kafka.Message{Topic: topic, Key: []byte(m.Key), Value: m.Package}
		for _, h := range m.WireHeaders() {
			r.Headers = append(r.Headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
		if n := recordSize(r); n > t.cfg.MaxMessageBytes {
			return fmt.Errorf("publishing to %s: message %d (%s): %w", topic, i, m.ID, &bus.MessageError{
				Field: "Package", Reason: bus.ReasonTooLarge,
				Rule: fmt.Sprintf("the record is %d bytes, over the %d-byte limit (max_message_bytes)", n, t.cfg.MaxMessageBytes),
			})
		}
		records[i] = r
	}
	if len(records) == 0 {
		return nil
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer context.AfterFunc(t.ctx, func() { cancel(bus.ErrClosed) })()

	err := t.writer.WriteMessages(ctx, records...)
	if errors.Is(err, kafka.UnknownTopicOrPartition) {
		// The writer answers from cached metadata, up to a few seconds
		// old. If the topic has just been created elsewhere, wait for the
		// cache rather than fail.
		err = t.retryStaleTopic(ctx, topic, records)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(context.Cause(ctx), bus.ErrClosed) || errors.Is(err, io.ErrClosedPipe):
		return bus.ErrClosed
	case ctx.Err() != nil:
		return fmt.Errorf("publishing %d messages to %s: %w", len(records), topic, context.Cause(ctx))
	case errors.Is(err, kafka.UnknownTopicOrPartition):
		return fmt.Errorf("publishing to %s: the topic does not exist (topics are created by EnsureTopics, never on publish): %w", topic, err)
	}
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) {
		var first error
		for _, e := range werrs {
			if e != nil {
				first = e
				break
			}
		}
		return fmt.Errorf("publishing to %s: %d of %d messages not acknowledged (some may be written; retry all): %w", topic, werrs.Count(), len(records), first)
	}
	return fmt.Errorf("publishing %d messages to %s: %w", len(records), topic, err)
}

func (t *Transport) retryStaleTopic(ctx context.Context, topic string, records []kafka.Message) error {
	if _, err := t.partitionCount(ctx, topic); err != nil {
		return err
	}
	t.log.Info("topic exists but metadata cache is stale; waiting", "topic", topic)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if !sleepCtx(ctx, 250*time.Millisecond) {
			return ctx.Err()
		}
		err := t.writer.WriteMessages(ctx, records...)
		if !errors.Is(err, kafka.UnknownTopicOrPartition) || time.Now().After(deadline) {
			return err
		}
	}
}

// dialAny connects to the first broker that answers, with TLS and SASL,
// and hangs up. Unlike the pooled transport, whose failed SASL exchange
// shows only as a dropped connection, the dialer reports a refused login
// as such, so that callers can give up instead of retrying.
func (t *Transport) dialAny(ctx context.Context) error {
	var last error
	for _, b := range t.cfg.Brokers {
		conn, err := t.dialer.DialContext(ctx, "tcp", b)
		if err == nil {
			return conn.Close()
		}
		if fatalBrokerError(err) {
			return err
		}
		last = err
	}
	return last
}

// partitionCount asks the brokers (not a cache) how many partitions topic
// has. A missing topic is an error wrapping kafka.UnknownTopicOrPartition.
func (t *Transport) partitionCount(ctx context.Context, topic string) (int, error) {
	if err := t.dialAny(ctx); err != nil {
		return 0, err
	}
	kt := t.newKafkaTransport([]string{topic})
	defer kt.CloseIdleConnections()
	cl := &kafka.Client{Addr: kafka.TCP(t.cfg.Brokers...), Transport: kt, Timeout: t.cfg.DialTimeout}
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, fmt.Errorf("reading metadata of %s: %w", topic, err)
	}
	for _, tm := range md.Topics {
		if tm.Name != topic {
			continue
		}
		if tm.Error != nil {
			return 0, fmt.Errorf("topic %s: %w", topic, tm.Error)
		}
		return len(tm.Partitions), nil
	}
	return 0, fmt.Errorf("topic %s: %w", topic, kafka.UnknownTopicOrPartition)
}

// Close implements bus.Transport.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.mu.Unlock()

	t.cancel()
	t.consumers.Wait()
	err := t.writer.Close()
	t.kt.CloseIdleConnections()
	if err != nil {
		return fmt.Errorf("closing kafka writer: %w", err)
	}
	return nil
}

func (t *Transport) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// enterConsume registers a running Consume; false once closed.
func (t *Transport) enterConsume() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.consumers.Add(1)
	return true
}

// recordSize is the record's size as the broker limits count it, within a
// few bytes of framing.
func recordSize(m kafka.Message) int {
	n := 70 + len(m.Key) + len(m.Value) // batch and record framing
	for _, h := range m.Headers {
		n += 10 + len(h.Key) + len(h.Value)
	}
	return n
}

func compressionCodec(name string) (kafka.Compression, error) {
	switch name {
	case "", "none":
		return 0, nil
	case "gzip":
		return kafka.Gzip, nil
	case "snappy":
		return kafka.Snappy, nil
	case "lz4":
		return kafka.Lz4, nil
	case "zstd":
		return kafka.Zstd, nil
	}
	return 0, cfgErr("producer.compression", "must be none, gzip, snappy, lz4 or zstd, got %q", name)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// kafkaLogger routes kafka-go's printf logging into slog at one level.
// kafka-go logs topics, partitions and offsets, never record contents.
func kafkaLogger(log *slog.Logger, level slog.Level) kafka.Logger {
	return kafka.LoggerFunc(func(format string, args ...any) {
		if log.Enabled(context.Background(), level) {
			log.Log(context.Background(), level, "kafka-go: "+fmt.Sprintf(format, args...))
		}
	})
}

// fatalBrokerError reports errors that retrying cannot fix: refused
// credentials or permissions, a rejected configuration, an untrusted
// broker certificate.
func fatalBrokerError(err error) bool {
	var ke kafka.Error
	if errors.As(err, &ke) {
		switch ke {
		case kafka.GroupAuthorizationFailed, kafka.TopicAuthorizationFailed, kafka.ClusterAuthorizationFailed,
			kafka.SASLAuthenticationFailed, kafka.UnsupportedSASLMechanism, kafka.IllegalSASLState,
			kafka.InvalidSessionTimeout, kafka.InvalidGroupId, kafka.UnsupportedVersion:
			return true
		}
	}
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		verify           *tls.CertificateVerificationError
		notTLS           tls.RecordHeaderError
	)
	return errors.As(err, &unknownAuthority) || errors.As(err, &hostname) || errors.As(err, &verify) || errors.As(err, &notTLS)
}
