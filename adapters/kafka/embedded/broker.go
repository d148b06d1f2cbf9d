package embedded

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"truc.vn/truc/bus"
)

// Config describes one embedded broker cluster.
type Config struct {
	// DataDir keeps the broker's state; it is created if missing and
	// reloaded on start. Empty: memory only (tests).
	DataDir string
	// Listen holds one host:port per broker node; port 0 picks a free
	// port. Default one node on 127.0.0.1:0.
	Listen []string
	// Advertise is the host clients are told to connect to, for listeners
	// on an unspecified address (0.0.0.0, ::). Default: the listen host.
	Advertise string
	// SyncWrites fsyncs every produced batch before acknowledging it.
	SyncWrites bool
	// DefaultPartitions is used when a topic is created with partition
	// count -1. Default 8.
	DefaultPartitions int
	// MaxMessageBytes is message.max.bytes, the largest record batch the
	// broker accepts. Default 21 MiB: a client batch of up to 20 MiB (a
	// 16 MiB letter plus headers) with 1 MiB of framing headroom.
	MaxMessageBytes int
	// RetentionCheckInterval is how often retention is applied
	// (log.cleaner.backoff.ms). Default 60s.
	RetentionCheckInterval time.Duration
	// SeedTopics are created on a fresh data directory (ignored when it
	// already holds state).
	SeedTopics []SeedTopic
	// TLS, when set, makes every listener TLS.
	TLS *tls.Config
	// Users are SASL users; any user turns SASL on for every listener.
	Users []User
	// ClusterID is reported in metadata. Default "truc-embedded".
	ClusterID string
	// GroupMinSessionTimeout is the shortest consumer session timeout the
	// broker accepts. Default 6s, as in Kafka; tests may lower it.
	GroupMinSessionTimeout time.Duration
}

// SeedTopic is a topic created on a fresh data directory.
type SeedTopic struct {
	Name       string
	Partitions int
}

// User is one SASL user.
type User struct {
	Mechanism string // PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
	Name      string
	Password  string
}

// Defaults.
const (
	DefaultMaxMessageBytes        = 21 << 20
	DefaultPartitions             = 8
	DefaultRetentionCheckInterval = time.Minute
	DefaultClusterID              = "truc-embedded"
)

// Broker is a running embedded cluster.
type Broker struct {
	cluster *kfake.Cluster
	lock    *os.File
	addrs   []string
	once    sync.Once
}

// Validate checks cfg with defaults applied and names the field it refuses.
func (cfg Config) Validate() error {
	cfg.setDefaults()
	return cfg.validate()
}

func (cfg *Config) setDefaults() {
	if len(cfg.Listen) == 0 {
		cfg.Listen = []string{"127.0.0.1:0"}
	}
	if cfg.DefaultPartitions == 0 {
		cfg.DefaultPartitions = DefaultPartitions
	}
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.RetentionCheckInterval == 0 {
		cfg.RetentionCheckInterval = DefaultRetentionCheckInterval
	}
	if cfg.ClusterID == "" {
		cfg.ClusterID = DefaultClusterID
	}
	if cfg.GroupMinSessionTimeout == 0 {
		cfg.GroupMinSessionTimeout = 6 * time.Second
	}
}

func (cfg *Config) validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("embedded broker: %s: %s", field, fmt.Sprintf(format, args...))
	}
	for i, l := range cfg.Listen {
		host, port, err := net.SplitHostPort(l)
		n, perr := strconv.Atoi(port)
		if err != nil || perr != nil || n < 0 || n > 65535 {
			return bad(fmt.Sprintf("Listen[%d]", i), "%q is not host:port with a port in 0–65535", l)
		}
		if ip := net.ParseIP(host); (host == "" || ip != nil && ip.IsUnspecified()) && cfg.Advertise == "" {
			return bad(fmt.Sprintf("Listen[%d]", i), "%q listens on every address: set Advertise to the host name clients should use", l)
		}
	}
	if cfg.Advertise != "" {
		if _, _, err := net.SplitHostPort(cfg.Advertise); err == nil {
			return bad("Advertise", "give a host name without a port (the port is the listener's), got %q", cfg.Advertise)
		}
	}
	if cfg.DefaultPartitions < 1 || cfg.DefaultPartitions > 10000 {
		return bad("DefaultPartitions", "must be between 1 and 10000, got %d", cfg.DefaultPartitions)
	}
	if cfg.MaxMessageBytes < 1<<20 || cfg.MaxMessageBytes > 128<<20 {
		return bad("MaxMessageBytes", "must be between 1 MiB and 128 MiB, got %d", cfg.MaxMessageBytes)
	}
	if cfg.RetentionCheckInterval < 100*time.Millisecond {
		return bad("RetentionCheckInterval", "must be at least 100ms, got %v", cfg.RetentionCheckInterval)
	}
	for i, s := range cfg.SeedTopics {
		if err := bus.ValidateTopic(s.Name); err != nil {
			return bad(fmt.Sprintf("SeedTopics[%d]", i), "%v", err)
		}
		if s.Partitions < 1 || s.Partitions > 10000 {
			return bad(fmt.Sprintf("SeedTopics[%d]", i), "partitions must be between 1 and 10000, got %d", s.Partitions)
		}
	}
	seen := map[string]bool{}
	for i, u := range cfg.Users {
		switch u.Mechanism {
		case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		default:
			return bad(fmt.Sprintf("Users[%d]", i), "mechanism must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, got %q", u.Mechanism)
		}
		if u.Name == "" || u.Password == "" {
			return bad(fmt.Sprintf("Users[%d]", i), "name and password are required")
		}
		if seen[u.Mechanism+"/"+u.Name] {
			return bad(fmt.Sprintf("Users[%d]", i), "user %s is listed twice for %s", u.Name, u.Mechanism)
		}
		seen[u.Mechanism+"/"+u.Name] = true
	}
	if cfg.GroupMinSessionTimeout < 100*time.Millisecond {
		return bad("GroupMinSessionTimeout", "must be at least 100ms, got %v", cfg.GroupMinSessionTimeout)
	}
	return nil
}

// Start starts the broker and returns once every listener accepts
// connections. log may be nil.
func Start(cfg Config, log *slog.Logger) (*Broker, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Broker{}
	opts := []kfake.Opt{
		kfake.NumBrokers(len(cfg.Listen)),
		kfake.ClusterID(cfg.ClusterID),
		kfake.DefaultNumPartitions(cfg.DefaultPartitions),
		kfake.GroupMinSessionTimeout(cfg.GroupMinSessionTimeout),
		kfake.BrokerConfigs(map[string]string{
			"message.max.bytes":      strconv.Itoa(cfg.MaxMessageBytes),
			"log.cleaner.backoff.ms": strconv.FormatInt(cfg.RetentionCheckInterval.Milliseconds(), 10),
		}),
		kfake.WithLogger(logger{log.With("component", "kfake")}),
		kfake.ListenFn(listener(cfg.Listen, cfg.Advertise)),
	}
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("embedded broker: creating data directory: %w", err)
		}
		lock, err := lockDir(cfg.DataDir)
		if err != nil {
			return nil, fmt.Errorf("embedded broker: %w", err)
		}
		b.lock = lock
		opts = append(opts, kfake.DataDir(cfg.DataDir))
		if cfg.SyncWrites {
			opts = append(opts, kfake.SyncWrites())
		}
	}
	for _, s := range cfg.SeedTopics {
		opts = append(opts, kfake.SeedTopics(int32(s.Partitions), s.Name))
	}
	if cfg.TLS != nil {
		opts = append(opts, kfake.TLS(cfg.TLS))
	}
	if len(cfg.Users) > 0 {
		opts = append(opts, kfake.EnableSASL())
		for _, u := range cfg.Users {
			opts = append(opts, kfake.Superuser(u.Mechanism, u.Name, u.Password))
		}
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		b.unlock()
		return nil, fmt.Errorf("embedded broker: starting: %w", err)
	}
	b.cluster = c
	b.addrs = c.ListenAddrs()
	log.Info("embedded broker started", "addrs", b.addrs, "data_dir", cfg.DataDir, "sync_writes", cfg.SyncWrites,
		"tls", cfg.TLS != nil, "sasl", len(cfg.Users) > 0)
	return b, nil
}

// Addrs returns the addresses clients connect to, one per broker node.
func (b *Broker) Addrs() []string { return append([]string(nil), b.addrs...) }

// Close stops the broker, writes its state to the data directory and
// releases the directory. It is idempotent.
func (b *Broker) Close() error {
	b.once.Do(func() {
		b.cluster.Close()
		b.unlock()
	})
	return nil
}

func (b *Broker) unlock() {
	if b.lock != nil {
		b.lock.Close()
		b.lock = nil
	}
}

// listener returns a kfake.ListenFn that opens, for the i-th broker node,
// the i-th configured address, and makes the node advertise host:port
// where host is advertise (if set) and port the one actually bound.
func listener(listen []string, advertise string) func(network, address string) (net.Listener, error) {
	var (
		mu sync.Mutex
		i  int
	)
	return func(network, _ string) (net.Listener, error) {
		mu.Lock()
		defer mu.Unlock()
		if i >= len(listen) {
			return nil, errors.New("embedded broker: more broker nodes than listen addresses")
		}
		ln, err := net.Listen(network, listen[i])
		i++
		if err != nil {
			return nil, err
		}
		if advertise == "" {
			return ln, nil
		}
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		return advertised{ln, advertisedAddr(net.JoinHostPort(advertise, port))}, nil
	}
}

type advertised struct {
	net.Listener
	addr advertisedAddr
}

func (a advertised) Addr() net.Addr { return a.addr }

type advertisedAddr string

func (a advertisedAddr) Network() string { return "tcp" }
func (a advertisedAddr) String() string  { return string(a) }

// logger adapts kfake's logger to slog.
type logger struct{ log *slog.Logger }

func (l logger) Logf(level kfake.LogLevel, format string, args ...any) {
	var sl slog.Level
	switch level {
	case kfake.LogLevelError:
		sl = slog.LevelError
	case kfake.LogLevelWarn:
		sl = slog.LevelWarn
	case kfake.LogLevelInfo: // kfake logs every request at info
		sl = slog.LevelDebug
	case kfake.LogLevelDebug:
		sl = slog.LevelDebug - 4
	default:
		return
	}
	if l.log.Enabled(context.Background(), sl) {
		l.log.Log(context.Background(), sl, fmt.Sprintf(format, args...))
	}
}
