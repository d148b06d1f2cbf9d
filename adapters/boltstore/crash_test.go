//go:build unix

package boltstore_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"truc.vn/truc/adapters/boltstore"
	"truc.vn/truc/bus"
	"truc.vn/truc/signing/notesig"
	"truc.vn/truc/signing/signingtest"
)

// crashDirEnv, when set, turns TestKill9Child into the child process of
// TestKill9: it appends to the store in that directory until killed.
const crashDirEnv = "TRUC_BOLTSTORE_CRASH_DIR"

// TestKill9 runs a child process (this test binary) that appends to a
// store from four goroutines, prints every append the moment it returns,
// and signs checkpoints every 20 ms; kills it with SIGKILL in the middle;
// and checks, twice over (the second child continues on the crashed
// file): every acknowledged leaf is there at its index; the tree recomputed
// from the leaves matches the stored hashes and every checkpoint the child
// signed; the checkpoint signed after the restart covers everything and is
// consistent with all of them.
func TestKill9(t *testing.T) {
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("running as the child")
	}
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := t.TempDir()
	key := signingtest.NewKey(t, signingtest.P256) // fast to generate; RSA is covered elsewhere
	writeKey(t, filepath.Join(dir, "key.pem"), key)
	signer, err := notesig.NewSigner(origin, key)
	if err != nil {
		t.Fatal(err)
	}
	known := verifiersFor(t, signer)

	acked := map[int64]string{} // index → leaf, over both rounds
	checkpointsBefore := 0
	for round := 1; round <= 2; round++ {
		for i, leaf := range runAndKill(t, dir, round) {
			if prev, dup := acked[i]; dup {
				t.Fatalf("round %d: index %d acknowledged twice (%q, %q)", round, i, prev, leaf)
			}
			acked[i] = leaf
		}

		s, err := boltstore.Open(filepath.Join(dir, "axis.db"), boltstore.Config{LogSigner: signer})
		if err != nil {
			t.Fatalf("round %d: reopening after kill -9: %v", round, err)
		}
		l := s.Log()
		size, err := l.Size(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		var maxAcked int64 = -1
		for i, want := range acked {
			maxAcked = max(maxAcked, i)
			got, err := l.Leaf(ctxT(t), i)
			if err != nil || string(got) != want {
				t.Fatalf("round %d: acknowledged leaf %d = %q, %v; want %q", round, i, got, err, want)
			}
		}
		if size <= maxAcked {
			t.Fatalf("round %d: size %d but leaf %d was acknowledged", round, size, maxAcked)
		}
		// Stored hashes and every stored checkpoint against the leaves.
		if err := l.Check(ctxT(t), known); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		old, err := l.Checkpoints(ctxT(t), 0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(old)-checkpointsBefore < 2 {
			t.Fatalf("round %d: the child signed %d checkpoints; the test needs a few", round, len(old)-checkpointsBefore)
		}
		// The tree hash from the stored hashes (the new checkpoint) equals
		// the one recomputed from the leaves.
		leaves := make([][]byte, size)
		for i := range leaves {
			if leaves[i], err = l.Leaf(ctxT(t), int64(i)); err != nil {
				t.Fatal(err)
			}
		}
		cp, err := l.SignCheckpoint(ctxT(t))
		if err != nil {
			t.Fatalf("round %d: signing after the crash: %v", round, err)
		}
		if cp.Size != size || cp.Hash != bus.TreeHash(leaves) {
			t.Fatalf("round %d: checkpoint size %d root %x; the leaves give %d and %x", round, cp.Size, cp.Hash, size, bus.TreeHash(leaves))
		}
		for _, o := range old {
			if _, err := bus.OpenCheckpoint(o.Note, known); err != nil {
				t.Fatal(err)
			}
			proof, err := l.ConsistencyProof(ctxT(t), o.Size, cp.Size)
			if err != nil {
				t.Fatal(err)
			}
			if err := bus.VerifyConsistency(o.Checkpoint, cp.Checkpoint, proof); err != nil {
				t.Fatalf("round %d: checkpoint %d → %d after the crash: %v", round, o.Size, cp.Size, err)
			}
		}
		t.Logf("round %d: %d leaves (%d acknowledged), %d checkpoints before the crash", round, size, len(acked), len(old)-checkpointsBefore)
		checkpointsBefore = len(old) + 1
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// runAndKill starts the child, lets it append until it has acknowledged
// 2000 leaves, kills it with SIGKILL and returns every append it
// acknowledged (index → leaf).
func runAndKill(t *testing.T, dir string, round int) map[int64]string {
	t.Helper()
	acked := map[int64]string{}
	killChild(t, "TestKill9Child", crashDirEnv, dir, round, 2000, 60*time.Second, func(line string) (int, error) {
		// "ack <first> <leaf>|<leaf>|..."
		rest, ok := strings.CutPrefix(line, "ack ")
		if !ok {
			return 0, nil
		}
		first, leaves, _ := strings.Cut(rest, " ")
		i, err := strconv.ParseInt(first, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bad ack line %q", line)
		}
		ls := strings.Split(leaves, "|")
		for j, leaf := range ls {
			acked[i+int64(j)] = leaf
		}
		return len(ls), nil
	})
	return acked
}

// killChild runs the test named test of this test binary as a child
// process, with envName set to dir (which turns that test into the
// child's work) and TRUC_CRASH_ROUND to round. It hands every line the
// child prints to line, which records what the child acknowledged and
// returns how many calls that line acknowledged; once enough are
// recorded, it kills the child with SIGKILL, in the middle of its work, and
// returns when the child is gone and every line it printed is read. It
// fails the test if the child acknowledges too little within limit, prints
// a line line refuses, or ends other than by the kill.
func killChild(t *testing.T, test, envName, dir string, round, enough int, limit time.Duration, line func(string) (int, error)) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), envName+"="+dir, "TRUC_CRASH_ROUND="+strconv.Itoa(round))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	reached := make(chan struct{})
	readDone := make(chan error, 1)
	n := 0
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			k, err := line(sc.Text())
			if err != nil {
				readDone <- err
				return
			}
			if n < enough && n+k >= enough {
				close(reached)
			}
			n += k
		}
		readDone <- sc.Err()
	}()
	select {
	case <-reached:
	case err := <-readDone:
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("round %d: the child stopped early (%v); stderr:\n%s", round, err, stderr.String())
	case <-time.After(limit):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("round %d: the child acknowledged too little in %s; stderr:\n%s", round, limit, stderr.String())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-readDone; err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("round %d: the child was not killed by SIGKILL (%v); stderr:\n%s", round, err, stderr.String())
	}
}

// TestKill9Child is the child of TestKill9; without crashDirEnv it skips.
func TestKill9Child(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("only runs as the child process of TestKill9")
	}
	key, err := readKey(filepath.Join(dir, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := notesig.NewSigner(origin, key)
	if err != nil {
		t.Fatal(err)
	}
	s, err := boltstore.Open(filepath.Join(dir, "axis.db"), boltstore.Config{LogSigner: signer})
	if err != nil {
		t.Fatal(err)
	}
	l := s.Log()
	ctx := context.Background()
	go l.RunCheckpointer(ctx, 20*time.Millisecond)

	// One write per line, so that a line is never split by the kill.
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	ack := func(first int64, leaves [][]byte) {
		line := fmt.Appendf(nil, "ack %d %s\n", first, bytes.Join(leaves, []byte("|")))
		mu.Lock()
		w.Write(line)
		w.Flush()
		mu.Unlock()
	}
	round := os.Getenv("TRUC_CRASH_ROUND")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for seq := 0; ; seq++ {
				var leaves [][]byte
				for j := range 1 + seq%5 {
					leaves = append(leaves, fmt.Appendf(nil, "r%s-g%d-s%d-l%d", round, g, seq, j))
				}
				first, err := l.Append(ctx, leaves...)
				if err != nil {
					fmt.Fprintln(os.Stderr, "append:", err)
					os.Exit(3)
				}
				ack(first, leaves)
			}
		})
	}
	wg.Wait()
}
