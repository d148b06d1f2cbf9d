package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"truc.vn/truc/adapters/kafka"
	"truc.vn/truc/bus"
)

func TestBrokerUsage(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "users")
	os.WriteFile(users, []byte("SCRAM-SHA-256 axis pw\n"), 0o644)
	tests := []struct {
		name string
		args []string
		code int
		want string // in the error or output
	}{
		{"help", []string{"-h"}, exitOK, "Example:"},
		{"no data dir", nil, exitUsage, "-data-dir is required"},
		{"stray argument", []string{"-data-dir", dir, "extra"}, exitUsage, `unexpected argument "extra"`},
		{"bad listen", []string{"-data-dir", dir, "-listen", "nowhere"}, exitUsage, "-listen[0]"},
		{"wildcard without advertise", []string{"-data-dir", dir, "-listen", "0.0.0.0:9092"}, exitUsage, "-advertise"},
		{"bad seed", []string{"-data-dir", dir, "-seed", "events"}, exitUsage, "topic:partitions"},
		{"bad seed name", []string{"-data-dir", dir, "-seed", "a b:3"}, exitUsage, "-seed[0]"},
		{"tiny message limit", []string{"-data-dir", dir, "-max-message-bytes", "10"}, exitUsage, "-max-message-bytes"},
		{"cert without key", []string{"-data-dir", dir, "-tls-cert", "c.pem"}, exitUsage, "-tls-cert and -tls-key"},
		{"bad log level", []string{"-data-dir", dir, "-log-level", "loud"}, exitUsage, "-log-level"},
		{"users file readable by others", []string{"-data-dir", dir, "-listen", "127.0.0.1:0", "-sasl-users", users}, exitFailure, "chmod 600"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), append([]string{"broker"}, tt.args...), &out, &errOut)
			code := report(err, &errOut)
			if code != tt.code {
				t.Fatalf("exit %d, want %d (err %v)", code, tt.code, err)
			}
			if all := out.String() + errOut.String(); !strings.Contains(all, tt.want) {
				t.Fatalf("output %q does not contain %q", all, tt.want)
			}
		})
	}
}

// TestBrokerInProcess runs "truc broker" through run, talks to it with the
// Kafka transport and stops it with the context, as SIGTERM would.
func TestBrokerInProcess(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "users")
	os.WriteFile(users, []byte("# test users\nSCRAM-SHA-512 axis s3cret\n"), 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outR, outW := io.Pipe()
	var errOut syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"broker", "-data-dir", filepath.Join(dir, "kafka"), "-listen", "127.0.0.1:0", "-sasl-users", users}, outW, &errOut)
		outW.Close()
	}()
	addrs := readBrokersLine(t, outR)
	go io.Copy(io.Discard, outR)

	cfg := brokerTestConfig(addrs)
	cfg.SASL = kafka.SASLConfig{Mechanism: kafka.SASLScramSHA512, Username: "axis", Password: "s3cret"}
	tr := newBrokerTestTransport(t, cfg)
	if err := tr.EnsureTopics(timeoutCtx(t), "hanoi"); err != nil {
		t.Fatal(err)
	}
	sent := letters(t, 5, 0)
	publishAll(t, tr, bus.TopicSubmit, sent)
	got := consumeN(t, tr, bus.TopicSubmit, "axis", len(sent))
	checkExactly(t, got, sent)
	tr.Close()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("broker returned %v after cancel", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("broker did not stop")
	}
	if !strings.Contains(errOut.String(), "stopped") {
		t.Errorf("stderr %q does not report the stop", errOut.String())
	}
}

// TestBrokerProcessKill9 builds the truc binary, runs "truc broker" as its
// own process, kills it with SIGKILL, restarts it on the same data
// directory, and checks that every acknowledged record and every committed
// offset survived; then the same through a SIGTERM stop.
func TestBrokerProcessKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the truc binary")
	}
	bin := buildTruc(t)
	dataDir := filepath.Join(t.TempDir(), "kafka")

	// 1. Start, create topics, publish 100 letters, handle exactly 60 of
	// them in group "axis" and stop that consumer cleanly (it commits).
	p := startBrokerProcess(t, bin, dataDir)
	cfg := brokerTestConfig(p.addrs)
	tr := newBrokerTestTransport(t, cfg)
	if err := tr.EnsureTopics(timeoutCtx(t)); err != nil {
		t.Fatal(err)
	}
	sent := letters(t, 100, 0)
	publishAll(t, tr, bus.TopicSubmit, sent)
	handled := consumeAndStop(t, tr, bus.TopicSubmit, "axis", 60)
	tr.Close()

	// 2. kill -9 and restart on the same directory.
	p.kill(t)
	p = startBrokerProcess(t, bin, dataDir)
	tr = newBrokerTestTransport(t, brokerTestConfig(p.addrs))
	if err := tr.EnsureTopics(timeoutCtx(t)); err != nil {
		t.Fatalf("topics after kill -9: %v", err)
	}
	var rest []bus.Message
	for _, m := range sent {
		if !handled[m.ID] {
			rest = append(rest, m)
		}
	}
	// The group resumes exactly after what it committed: nothing handled
	// comes back, nothing unhandled is missing.
	checkExactly(t, consumeN(t, tr, bus.TopicSubmit, "axis", len(rest)), rest)
	// Every record is still there, byte for byte.
	checkExactly(t, consumeN(t, tr, bus.TopicSubmit, "auditor", len(sent)), sent)
	more := letters(t, 10, 100)
	publishAll(t, tr, bus.TopicSubmit, more)
	tr.Close()

	// 3. SIGTERM: a clean stop, exit status 0, and the state is kept.
	p.terminate(t)
	p = startBrokerProcess(t, bin, dataDir)
	tr = newBrokerTestTransport(t, brokerTestConfig(p.addrs))
	checkExactly(t, consumeN(t, tr, bus.TopicSubmit, "auditor-2", len(sent)+len(more)), append(sent, more...))
	tr.Close()
	p.terminate(t)
}

// TestBrokerKill9UnderLiveClients kills the broker process while a
// consumer and a publisher are running, and restarts it on the same port:
// the clients must ride over the outage on their own, and every letter
// acknowledged before or after it must reach the consumer.
func TestBrokerKill9UnderLiveClients(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the truc binary")
	}
	bin := buildTruc(t)
	dataDir := filepath.Join(t.TempDir(), "kafka")
	listen := freeAddr(t)
	p := startBrokerProcess(t, bin, dataDir, "-listen", listen)
	tr := newBrokerTestTransport(t, brokerTestConfig(p.addrs))
	if err := tr.EnsureTopics(timeoutCtx(t)); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu   sync.Mutex
		seen = map[string]int{}
	)
	done := make(chan error, 1)
	go func() {
		done <- tr.Consume(ctx, bus.TopicSubmit, "axis", func(_ context.Context, d bus.Delivery) error {
			mu.Lock()
			seen[d.Message.ID]++
			mu.Unlock()
			return nil
		})
	}()
	before := letters(t, 50, 0)
	publishAll(t, tr, bus.TopicSubmit, before)
	waitSeen(t, &mu, seen, before)

	p.kill(t)
	p = startBrokerProcess(t, bin, dataDir, "-listen", listen)
	after := letters(t, 50, 50)
	// The publisher retries until the broker is back, as an outbox would.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, c := context.WithTimeout(context.Background(), 10*time.Second)
		err := tr.Publish(ctx, bus.TopicSubmit, after...)
		c()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Publish after the restart: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	waitSeen(t, &mu, seen, append(before, after...))
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Consume across the broker restart returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Consume did not stop")
	}
	p.terminate(t)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitSeen(t *testing.T, mu *sync.Mutex, seen map[string]int, want []bus.Message) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		mu.Lock()
		missing := 0
		for _, m := range want {
			if seen[m.ID] == 0 {
				missing++
			}
		}
		mu.Unlock()
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d letters never reached the consumer", missing, len(want))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type brokerProcess struct {
	cmd    *exec.Cmd
	addrs  []string
	stderr *syncBuffer
	done   chan error
}

func buildTruc(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build truc: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "truc")
	cmd := exec.Command(goBin, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func startBrokerProcess(t *testing.T, bin, dataDir string, extra ...string) *brokerProcess {
	t.Helper()
	args := append([]string{"broker", "-data-dir", dataDir, "-listen", "127.0.0.1:0"}, extra...)
	cmd := exec.Command(bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &brokerProcess{cmd: cmd, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.done
		}
	})
	p.addrs = readBrokersLine(t, out)
	go io.Copy(io.Discard, out)
	return p
}

func (p *brokerProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := p.wait(t)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("broker after SIGKILL: %v", err)
	}
}

func (p *brokerProcess) terminate(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(t); err != nil {
		t.Fatalf("broker after SIGTERM: %v (want exit status 0)\n%s", err, p.stderr.String())
	}
	if !strings.Contains(p.stderr.String(), "stopped") {
		t.Errorf("stderr %q does not report the stop", p.stderr.String())
	}
}

func (p *brokerProcess) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-p.done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("broker process did not exit")
		return nil
	}
}

// readBrokersLine reads the first line of "truc broker" and returns the
// addresses it lists.
func readBrokersLine(t *testing.T, r io.Reader) []string {
	t.Helper()
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(r).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		list, ok := strings.CutPrefix(strings.TrimSpace(s), "brokers ")
		if !ok || list == "" {
			t.Fatalf("first line %q is not \"brokers ADDR[,ADDR...]\"", s)
		}
		return strings.Split(list, ",")
	case <-time.After(30 * time.Second):
		t.Fatal("broker printed no first line")
		return nil
	}
}

func brokerTestConfig(addrs []string) kafka.Config {
	return kafka.Config{
		Brokers: addrs,
		Topics:  kafka.TopicsConfig{Replication: 1, SubmitPartitions: 4},
		Consumer: kafka.ConsumerConfig{
			SessionTimeout:    6 * time.Second,
			HeartbeatInterval: 250 * time.Millisecond,
			JoinGroupBackoff:  200 * time.Millisecond,
			MaxWait:           200 * time.Millisecond,
		},
	}
}

func newBrokerTestTransport(t *testing.T, cfg kafka.Config) *kafka.Transport {
	t.Helper()
	tr, err := kafka.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func timeoutCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func letters(t *testing.T, n, from int) []bus.Message {
	t.Helper()
	var ms []bus.Message
	for i := from; i < from+n; i++ {
		key, err := bus.RootKey("000.00.00.G22", fmt.Sprintf("000.00.00.G22,2026/11/22,%d/VPCP", i))
		if err != nil {
			t.Fatal(err)
		}
		pkg := fmt.Appendf(nil, "<edXML letter=%q>%s</edXML>", fmt.Sprint(i), strings.Repeat("x", i))
		ms = append(ms, bus.Message{ID: fmt.Sprintf("msg-%04d", i), Type: bus.TypeDocument, Key: key, Sender: "000.00.00.G22",
			Recipients: []string{"000.00.00.H41"}, SHA256: sha256.Sum256(pkg), Package: pkg})
	}
	return ms
}

func publishAll(t *testing.T, tr *kafka.Transport, topic string, ms []bus.Message) {
	t.Helper()
	if err := tr.Publish(timeoutCtx(t), topic, ms...); err != nil {
		t.Fatalf("Publish: %v", err)
	}
}

// consumeAndStop handles exactly n records in group, stopping Consume from
// the n-th handler (which still succeeds), and returns the handled IDs.
func consumeAndStop(t *testing.T, tr *kafka.Transport, topic, group string, n int) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithCancel(timeoutCtx(t))
	defer cancel()
	var mu sync.Mutex
	handled := map[string]bool{}
	err := tr.Consume(ctx, topic, group, func(hctx context.Context, d bus.Delivery) error {
		mu.Lock()
		defer mu.Unlock()
		if len(handled) >= n {
			return errors.New("stopping")
		}
		handled[d.Message.ID] = true
		if len(handled) == n {
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Consume: %v", err)
	}
	if len(handled) != n {
		t.Fatalf("handled %d records, want %d", len(handled), n)
	}
	return handled
}

// consumeN consumes in group until n records were handled, then waits a
// little for any extra (duplicate) delivery, and returns them all.
func consumeN(t *testing.T, tr *kafka.Transport, topic, group string, n int) []bus.Delivery {
	t.Helper()
	ctx, cancel := context.WithCancel(timeoutCtx(t))
	defer cancel()
	var (
		mu  sync.Mutex
		got []bus.Delivery
	)
	done := make(chan error, 1)
	go func() {
		done <- tr.Consume(ctx, topic, group, func(_ context.Context, d bus.Delivery) error {
			mu.Lock()
			got = append(got, d)
			mu.Unlock()
			return nil
		})
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		k := len(got)
		mu.Unlock()
		if k >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s got %d of %d records", group, k, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Consume: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	return got
}

// checkExactly requires got to be want, each exactly once, byte for byte.
func checkExactly(t *testing.T, got []bus.Delivery, want []bus.Message) {
	t.Helper()
	byID := map[string]bus.Message{}
	for _, m := range want {
		byID[m.ID] = m
	}
	seen := map[string]bool{}
	for _, d := range got {
		if d.Err != nil {
			t.Fatalf("record at %d/%d: %v", d.Partition, d.Offset, d.Err)
		}
		m, ok := byID[d.Message.ID]
		if !ok {
			t.Fatalf("unexpected record %s", d.Message.ID)
		}
		if seen[m.ID] {
			t.Fatalf("record %s delivered twice", m.ID)
		}
		seen[m.ID] = true
		if !bytes.Equal(d.Message.Package, m.Package) || d.Message.SHA256 != m.SHA256 {
			t.Fatalf("record %s changed", m.ID)
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("%d of %d records delivered", len(seen), len(want))
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// FuzzParseSASLUsers checks that the -sasl-users parser never panics and
// only accepts well-formed users.
func FuzzParseSASLUsers(f *testing.F) {
	f.Add("SCRAM-SHA-256 axis s3cret\n# comment\n\nSCRAM-SHA-512 edge-hanoi other\n")
	f.Add("PLAIN a b c\n")
	f.Add("MD5 a b\n")
	f.Add("PLAIN a b\nPLAIN a c\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, in string) {
		us, err := parseSASLUsers(strings.NewReader(in), "users")
		if err != nil {
			return
		}
		if len(us) == 0 {
			t.Fatal("accepted a file with no user")
		}
		for _, u := range us {
			switch u.Mechanism {
			case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
			default:
				t.Fatalf("accepted mechanism %q", u.Mechanism)
			}
			if u.Name == "" || u.Password == "" || strings.ContainsAny(u.Name+u.Password, " \t\n") {
				t.Fatalf("accepted user %q", u.Name)
			}
		}
	})
}
