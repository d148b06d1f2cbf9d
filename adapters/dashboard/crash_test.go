//go:build unix

package dashboard

import (
	"bufio"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"truc.vn/truc/adapters/boltstore"
)

// crashDirEnv, when set, turns TestKill9Child into the child process of
// TestKill9: it indexes the axis store in that directory, printing the
// cursor after every transaction, until it is killed.
const crashDirEnv = "TRUC_DASHBOARD_CRASH_DIR"

var crashNow = at(40 * 24 * 60)

func TestKill9Child(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("only runs as the child of TestKill9")
	}
	s, err := boltstore.Open(filepath.Join(dir, "axis.db"), boltstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(Config{Path: filepath.Join(dir, "dashboard.db"), Ledger: s.Ledger(), Users: testUsers(t), Batch: 3, Now: func() time.Time { return crashNow }})
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("open\n")
	for {
		n, err := d.step(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := d.sweep(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		os.Stdout.WriteString("step\n")
		if n == 0 {
			os.Stdout.WriteString("done\n")
			time.Sleep(time.Hour) // wait to be killed
		}
	}
}

// TestKill9 kills (SIGKILL) a process indexing the log at random points,
// many times, letting each new process resume from the saved cursor, and
// checks that the dashboard file ends byte for byte equal to one built in
// a single pass: the cursor and the counters are committed together, so
// nothing is counted twice or lost.
func TestKill9(t *testing.T) {
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("running as the child")
	}
	if testing.Short() {
		t.Skip("starts child processes")
	}
	w := newWorld(t)
	rng := rand.New(rand.NewPCG(7, 9))
	newTraffic(w, rng).run(250)
	size, err := w.ledger.Log().Size(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.store.Close(); err != nil {
		t.Fatal(err)
	}
	kills := 0
	for round := 0; ; round++ {
		if round > 200 {
			t.Fatal("the child never finished")
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestKill9Child$", "-test.v")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+w.dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAfter := 1 + rng.IntN(6)
		steps, done := 0, false
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "done" {
				done = true
				break
			}
			if line == "step" {
				if steps++; steps == killAfter {
					break
				}
			}
		}
		// Land anywhere in the next transactions, not just between them.
		time.Sleep(time.Duration(rng.IntN(8000)) * time.Microsecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		if done {
			break
		}
		kills++
	}
	if kills < 5 {
		t.Fatalf("only %d kills before the child finished: the log is too short to test anything", kills)
	}
	s, err := boltstore.Open(filepath.Join(w.dir, "axis.db"), boltstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w.store, w.ledger = s, s.Ledger()
	clk := &clock{now: crashNow}
	d := w.open(filepath.Join(w.dir, "dashboard.db"), clk)
	defer d.Close()
	if got := d.State().Cursor; got != size {
		t.Fatalf("after the last child the cursor is %d, the log has %d", got, size)
	}
	fresh := w.open(filepath.Join(t.TempDir(), "fresh.db"), clk, func(c *Config) { c.Batch = 10_000 })
	defer fresh.Close()
	mustSync(t, fresh)
	mustSync(t, d)
	sameDump(t, "after kill -9s vs single pass", dump(t, d), dump(t, fresh))
	t.Logf("%d leaves indexed across %d kill -9s", size, kills)
}
