package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"truc.vn/truc/adapters/kafka/embedded"
)

const brokerExplain = `
Run the embedded Kafka-protocol broker (kfake) as its own process, keeping
its state in a data directory, for tests and single-machine pilots. It is a
single-node development broker: no replication. Production uses a real
Kafka cluster with the same truc code.

The first line on standard output is, once every listener accepts
connections:

    brokers HOST:PORT[,HOST:PORT...]

the bootstrap list clients use. The broker runs until SIGINT or SIGTERM,
then writes its state and exits 0. State survives a clean stop and a
kill -9 (topics, records, committed offsets); add -sync to also survive a
power loss, at some produce throughput.

The truc topics are normally created by the axis at start-up, with their
partition counts, limits and retention; -seed is for tests and tools.

Example:

    truc broker -data-dir /var/lib/truc/kafka -listen 127.0.0.1:9092
    truc broker -data-dir /tmp/kafka -listen 127.0.0.1:0 -seed events:4
`

// runBroker is "truc broker".
func runBroker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("broker", "broker -data-dir DIR [flags]", brokerExplain, stderr)
	var (
		dataDir   = fs.String("data-dir", "", "directory that keeps the broker's state (required; created if missing)")
		listen    = fs.String("listen", "127.0.0.1:9092", "comma-separated host:port per broker node; port 0 picks a free one")
		advertise = fs.String("advertise", "", "host name clients should connect to (required when listening on 0.0.0.0 or ::)")
		sync      = fs.Bool("sync", false, "fsync every produced batch before acknowledging it")
		parts     = fs.Int("partitions", embedded.DefaultPartitions, "partitions of topics created with count -1")
		maxBytes  = fs.Int("max-message-bytes", embedded.DefaultMaxMessageBytes, "largest record batch accepted (message.max.bytes)")
		tlsCert   = fs.String("tls-cert", "", "PEM certificate (chain) for TLS on every listener")
		tlsKey    = fs.String("tls-key", "", "PEM private key of -tls-cert")
		users     = fs.String("sasl-users", "", `file of SASL users, one "MECHANISM NAME PASSWORD" per line (mode 0600); turns SASL on for every listener`)
		clusterID = fs.String("cluster-id", embedded.DefaultClusterID, "cluster ID reported to clients")
		logLevel  = fs.String("log-level", "warn", "log level on standard error: error, warn, info or debug")
		minSess   = fs.Duration("group-min-session-timeout", 6*time.Second, "shortest consumer session timeout accepted (group.min.session.timeout.ms); tests lower it")
		seeds     seedFlag
	)
	fs.Var(&seeds, "seed", "topic:partitions to create on an empty data directory (repeatable)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Sprintf("broker: unexpected argument %q (see truc broker -h)", fs.Arg(0)))
	}
	if *dataDir == "" {
		return usageError("broker: -data-dir is required (see truc broker -h)")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usageError(fmt.Sprintf("broker: -log-level %q: use error, warn, info or debug", *logLevel))
	}
	cfg := embedded.Config{
		DataDir:           *dataDir,
		Listen:            strings.Split(*listen, ","),
		Advertise:         *advertise,
		SyncWrites:        *sync,
		DefaultPartitions: *parts,
		MaxMessageBytes:   *maxBytes,
		SeedTopics:        seeds,
		ClusterID:         *clusterID,

		GroupMinSessionTimeout: *minSess,
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return usageError("broker: -tls-cert and -tls-key go together")
	}
	if err := cfg.Validate(); err != nil {
		return usageError("broker: " + flagName(err.Error()))
	}
	if *tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
		if err != nil {
			return fmt.Errorf("broker: loading -tls-cert and -tls-key: %w", err)
		}
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if *users != "" {
		us, err := readSASLUsers(*users)
		if err != nil {
			return fmt.Errorf("broker: -sasl-users: %w", err)
		}
		cfg.Users = us
	}

	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	b, err := embedded.Start(cfg, log)
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	fmt.Fprintf(stdout, "brokers %s\n", strings.Join(b.Addrs(), ","))
	<-ctx.Done()
	if err := b.Close(); err != nil {
		return fmt.Errorf("broker: stopping: %w", err)
	}
	fmt.Fprintf(stderr, "truc broker: stopped; state kept in %s\n", *dataDir)
	return nil
}

// seedFlag collects -seed topic:partitions.
type seedFlag []embedded.SeedTopic

func (s *seedFlag) String() string { return "" }

func (s *seedFlag) Set(v string) error {
	name, n, ok := strings.Cut(v, ":")
	p, err := strconv.Atoi(n)
	if !ok || name == "" || err != nil {
		return fmt.Errorf("want topic:partitions, got %q", v)
	}
	*s = append(*s, embedded.SeedTopic{Name: name, Partitions: p})
	return nil
}

// flagName rewrites an embedded.Config field in an error into its flag.
func flagName(msg string) string {
	r := strings.NewReplacer(
		"embedded broker: ", "",
		"Listen[", "-listen[",
		"Advertise", "-advertise",
		"DefaultPartitions", "-partitions",
		"MaxMessageBytes", "-max-message-bytes",
		"SeedTopics[", "-seed[",
	)
	return r.Replace(msg)
}

// readSASLUsers reads "MECHANISM NAME PASSWORD" lines; blank lines and
// lines starting with # are skipped. The file must not be readable by
// others, as it holds passwords.
func readSASLUsers(path string) ([]embedded.User, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is readable by others (mode %v): chmod 600 it", path, st.Mode().Perm())
	}
	return parseSASLUsers(io.LimitReader(f, 1<<20), path)
}

// parseSASLUsers parses a -sasl-users file read from r; name is used in
// errors. Errors never quote a password.
func parseSASLUsers(r io.Reader, name string) ([]embedded.User, error) {
	var us []embedded.User
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 3 {
			return nil, fmt.Errorf("%s:%d: want MECHANISM NAME PASSWORD, got %d fields", name, n, len(fields))
		}
		us = append(us, embedded.User{Mechanism: fields[0], Name: fields[1], Password: fields[2]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(us) == 0 {
		return nil, errors.New(name + " lists no user")
	}
	if err := (embedded.Config{Users: us}).Validate(); err != nil {
		return nil, fmt.Errorf("%s: %v", name, strings.TrimPrefix(err.Error(), "embedded broker: "))
	}
	return us, nil
}
