package main

// A harness that runs the built truc binary as separate processes: one
// broker, one axis and several edges, from the demo world `truc dev
// --init-only` writes. End-to-end and crash tests use it.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"truc.vn/truc/adapters/restapi"
)

var (
	buildOnce sync.Once
	builtPath string
	buildErr  error
)

// TestMain removes the binary trucBinary built once the tests are done.
func TestMain(m *testing.M) {
	code := m.Run()
	if builtPath != "" {
		os.RemoveAll(filepath.Dir(builtPath))
	}
	os.Exit(code)
}

// trucBinary builds cmd/truc once per test binary and returns its path.
func trucBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "truc-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtPath = filepath.Join(dir, "truc")
		out, err := exec.Command("go", "build", "-o", builtPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtPath
}

// proc is one running truc process.
type proc struct {
	t    testing.TB
	name string
	args []string
	log  string // stdout and stderr, appended across restarts
	cmd  *exec.Cmd
	done chan struct{}
}

func startProc(t testing.TB, logDir, name string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, args: args, log: filepath.Join(logDir, name+".log")}
	p.start()
	t.Cleanup(p.stop)
	return p
}

func (p *proc) start() {
	p.t.Helper()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	fmt.Fprintf(f, "\n=== start %s %v at %s\n", p.name, p.args, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(trucBinary(p.t), p.args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		p.t.Fatalf("starting %s: %v", p.name, err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(p.done)
	}()
}

// kill9 kills the process with SIGKILL and waits for it to be gone.
func (p *proc) kill9() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	p.cmd = nil
}

// stop asks the process to stop (SIGTERM) and waits, killing it after 15s.
func (p *proc) stop() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.t.Logf("%s did not stop in 15s after SIGTERM; killing it", p.name)
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
	p.cmd = nil
}

// exited reports whether the process ended on its own.
func (p *proc) exited() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) logTail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}

// procWorld is a demo world run as separate processes.
type procWorld struct {
	t      testing.TB
	dir    string
	m      *devManifest
	broker *proc
	axis   *proc
	edges  map[string]*proc
	api    map[string]*restapi.Client // DMS clients per edge
}

// freeBasePort finds n consecutive free TCP ports on 127.0.0.1.
func freeBasePort(t testing.TB, n int) int {
	t.Helper()
	base, err := freePorts("127.0.0.1", n)
	if err != nil {
		t.Fatal(err)
	}
	return base
}

// startProcWorld writes a demo world with edges × agencies and starts the
// broker, the axis and every edge as processes, waiting until each serves.
func startProcWorld(t testing.TB, edges, agencies int) *procWorld {
	t.Helper()
	return startProcWorldWith(t, edges, agencies, nil)
}

// startProcWorldWith is startProcWorld, calling edit (if not nil) on the
// demo world's files before any process starts: a test adds its own
// config sections there.
func startProcWorldWith(t testing.TB, edges, agencies int, edit func(dir string, m *devManifest)) *procWorld {
	t.Helper()
	dir := t.TempDir()
	base := freeBasePort(t, edges+2)
	out, err := exec.Command(trucBinary(t), "dev", "--init-only", "--fast", "--integrations=false", "--data", dir,
		"--edges", strconv.Itoa(edges), "--agencies", strconv.Itoa(agencies), "--port", strconv.Itoa(base)).CombinedOutput()
	if err != nil {
		t.Fatalf("truc dev --init-only: %v\n%s", err, out)
	}
	m, err := readDevManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(dir, m)
	}
	w := &procWorld{t: t, dir: dir, m: m, edges: map[string]*proc{}, api: map[string]*restapi.Client{}}
	logs := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	w.broker = startProc(t, logs, "broker", "broker", "--data-dir", filepath.Join(dir, "data", "broker"),
		"--listen", m.Broker, "--group-min-session-timeout", "1s")
	waitTCP(t, m.Broker, 20*time.Second)
	w.axis = startProc(t, logs, "axis", "axis", "--config", filepath.Join(dir, m.Axis.Config))
	w.waitReady(w.axis, m.Axis.URL, 60*time.Second)
	for _, e := range m.Edges {
		w.edges[e.ID] = startProc(t, logs, "edge-"+e.ID, "edge", "--config", filepath.Join(dir, e.Config))
		token, err := os.ReadFile(filepath.Join(dir, e.TokenFile))
		if err != nil {
			t.Fatal(err)
		}
		c, err := restapi.NewClient(e.URL, string(trimNL(token)), &http.Client{Timeout: 90 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		w.api[e.ID] = c
	}
	for _, e := range m.Edges {
		w.waitReady(w.edges[e.ID], e.URL, 60*time.Second)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range w.all() {
				t.Logf("--- log of %s (tail):\n%s", p.name, p.logTail())
			}
		}
	})
	return w
}

func (w *procWorld) all() []*proc {
	ps := []*proc{w.broker, w.axis}
	for _, e := range w.m.Edges {
		ps = append(ps, w.edges[e.ID])
	}
	return ps
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func waitTCP(t testing.TB, addr string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s after %s", addr, limit)
}

// waitReady polls url/readyz until it answers 200.
func (w *procWorld) waitReady(p *proc, url string, limit time.Duration) {
	w.t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if p.exited() {
			w.t.Fatalf("%s exited:\n%s", p.name, p.logTail())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		cancel()
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	w.t.Fatalf("%s not ready at %s after %s:\n%s", p.name, url, limit, p.logTail())
}

// restart starts a stopped or killed process again and waits until it
// serves.
func (w *procWorld) restart(p *proc) {
	w.t.Helper()
	p.start()
	switch {
	case p == w.broker:
		waitTCP(w.t, w.m.Broker, 30*time.Second)
	case p == w.axis:
		w.waitReady(p, w.m.Axis.URL, 60*time.Second)
	default:
		for _, e := range w.m.Edges {
			if w.edges[e.ID] == p {
				w.waitReady(p, e.URL, 60*time.Second)
			}
		}
	}
}
