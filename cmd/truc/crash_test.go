package main

// The crash test of the bus: a stream of letters through the built binary
// run as separate processes (broker, axis, three edges), while the axis,
// a recipient edge and the broker are killed with SIGKILL at seeded random
// moments. Afterwards it counts what reached whom and checks the
// transparency log: invariants I1 (no loss), I2 (exactly-once effect) and
// I5 (record before ack) of DESIGN.md.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"truc.vn/truc/adapters/boltstore"
	"truc.vn/truc/adapters/restapi"
	"truc.vn/truc/bus"
	"truc.vn/truc/signing/notesig"
)

// The shape of the crash run. The letter count and the kills are the
// issue's; the rate is chosen so that the kills fall inside the stream on
// a loaded 2-core machine.
const (
	crashLetters    = 2000
	crashAgencies   = 4  // agencies per edge
	crashRate       = 25 // letters submitted per second
	crashSubmitters = 6  // DMS clients submitting at once
	crashKillsEach  = 5  // kills of each of the axis, the recipient edge and the broker
)

// crashSeedEnv replays one run: TRUC_CRASH_SEED=<seed printed by a run>.
const crashSeedEnv = "TRUC_CRASH_SEED"

// keepLogsEnv names a directory where a failed process test leaves its
// world (process logs, stores, broker data), which is in a t.TempDir
// otherwise.
const keepLogsEnv = "TRUC_KEEP_LOGS"

// crashLetter is one letter of the stream.
type crashLetter struct {
	n    int
	edge string   // the sender's edge
	from string   // the sender's OrganId
	to   []string // recipient OrganIds, all on other edges
	pkg  []byte   // unsigned package, as the DMS submits it
	key  string   // Idempotency-Key
}

// crashKill is one kill of the schedule.
type crashKill struct {
	target string        // "axis", "edge" or "broker"
	at     int           // kill once this many letters are acknowledged
	pause  time.Duration // between the kill and the restart
}

// crashRun is the state of one crash test shared by its goroutines.
type crashRun struct {
	t       *testing.T
	w       *procWorld
	letters []crashLetter
	victim  string // the edge that is killed: it only receives

	mu    sync.Mutex
	subs  []restapi.Submitted // by letter number; ID "" until acknowledged
	tries []int               // submit attempts per letter

	acked    atomic.Int64
	expected map[string]*atomic.Int64 // edge → 01s its recipients owe for acknowledged letters
	dmss     map[string]*dms          // by edge
}

// keepLogsOnFailure copies the world directory of w (logs in logs/) to
// $TRUC_KEEP_LOGS/<test>-<time> when the test fails and the variable is
// set.
func keepLogsOnFailure(t *testing.T, w *procWorld) {
	dest := os.Getenv(keepLogsEnv)
	if dest == "" {
		return
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		dir := filepath.Join(dest, t.Name()+"-"+time.Now().Format("20060102-150405"))
		if err := os.CopyFS(dir, os.DirFS(w.dir)); err != nil {
			t.Logf("keeping the world: %v", err)
			return
		}
		t.Logf("the world and its process logs are kept in %s", dir)
	})
}

func crashSeed(t *testing.T) uint64 {
	t.Helper()
	if s := os.Getenv(crashSeedEnv); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want an unsigned decimal integer", crashSeedEnv, s)
		}
		return seed
	}
	return uint64(time.Now().UnixNano())
}

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: runs 5 processes for a few minutes")
	}
	begin := time.Now()
	seed := crashSeed(t)
	t.Logf("seed %d (replay with %s=%d)", seed, crashSeedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	w := startProcWorld(t, 3, crashAgencies)
	keepLogsOnFailure(t, w)
	t.Logf("world up in %s: broker, axis, edges %s, %s, %s", time.Since(begin).Round(time.Millisecond), w.m.Edges[0].ID, w.m.Edges[1].ID, w.m.Edges[2].ID)
	r := &crashRun{
		t:        t,
		w:        w,
		victim:   w.m.Edges[2].ID,
		subs:     make([]restapi.Submitted, crashLetters),
		tries:    make([]int, crashLetters),
		expected: map[string]*atomic.Int64{},
		dmss:     map[string]*dms{},
	}
	for _, e := range w.m.Edges {
		r.expected[e.ID] = new(atomic.Int64)
	}
	r.letters = crashPlan(t, w, rng)
	kills := crashSchedule(rng)
	verifiers := crashLogVerifiers(t, w)

	// Every goroutine ends when ctx does, before the test returns.
	ctx, cancel := context.WithCancel(context.Background())
	var dmsWG, streamWG sync.WaitGroup
	defer func() {
		cancel()
		streamWG.Wait()
		dmsWG.Wait()
	}()
	for _, e := range w.m.Edges {
		d := newDMS(e.ID, w.api[e.ID], true)
		r.dmss[e.ID] = d
		dmsWG.Go(func() { d.run(ctx) })
	}

	// The stream: a pacer hands out letter numbers at crashRate; the
	// submitters retry each until its edge answers 202.
	streamStart := time.Now()
	next := make(chan int)
	streamWG.Go(func() {
		defer close(next)
		for i := range r.letters {
			sleepCtx(ctx, time.Until(streamStart.Add(time.Duration(i)*time.Second/crashRate)))
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	})
	for range crashSubmitters {
		streamWG.Go(func() {
			for i := range next {
				if err := r.submit(ctx, r.letters[i]); err != nil {
					if ctx.Err() == nil {
						t.Errorf("letter %d: %v", i, err)
						cancel()
					}
					return
				}
			}
		})
	}
	streamDone := make(chan struct{})
	go func() { streamWG.Wait(); close(streamDone) }()

	// The kills, from this goroutine (restarts may fail the test).
	for k, kl := range kills {
		r.kill(ctx, k, len(kills), kl)
	}
	killsDone := time.Since(streamStart)
	select {
	case <-streamDone:
	case <-time.After(3 * time.Minute):
		t.Fatalf("the stream did not end 3 minutes after the last kill: %d of %d letters acknowledged", r.acked.Load(), crashLetters)
	}
	if t.Failed() {
		t.FailNow()
	}
	streamTime := time.Since(streamStart)
	t.Logf("stream: %d letters acknowledged in %s (kills done at %s); %d submits retried", r.acked.Load(), streamTime.Round(time.Millisecond), killsDone.Round(time.Millisecond), r.retried())
	r.checkProcesses()

	// Every 01 comes back to its sender's DMS. If some never do, the
	// checks below say which letters lack what, where.
	quiet := time.Now()
	for deadline := quiet.Add(4 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		r.checkProcesses()
		missing := r.outstanding()
		if missing[""] == 0 {
			t.Logf("all 01s arrived %s after the stream ended", time.Since(quiet).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("%d 01s still outstanding %s after the stream ended (%s)", missing[""], time.Since(quiet).Round(time.Second), formatOutstanding(w, missing))
			break
		}
	}

	checks := time.Now()
	docs := r.senderTimelines(ctx)
	cps := map[int64][]bus.SignedCheckpoint{}
	undelivered := r.checkTimelines(docs, verifiers, cps)
	statusDocs := r.statusTimelines(ctx, docs)
	r.checkStatusReceipts(statusDocs, verifiers, cps)
	r.checkConsistency(ctx, verifiers, cps)
	cancel()
	dmsWG.Wait()
	r.checkDMSs(docs)
	r.checkStores(verifiers, docs, undelivered)
	t.Logf("checks took %s; total %s", time.Since(checks).Round(time.Millisecond), time.Since(begin).Round(time.Millisecond))
}

// crashPlan builds the letters: senders on the first two edges, each
// letter to 1–3 agencies on the other edges.
func crashPlan(t *testing.T, w *procWorld, rng *rand.Rand) []crashLetter {
	t.Helper()
	byEdge := map[string][]string{}
	for organ, edge := range w.m.Agencies {
		byEdge[edge] = append(byEdge[edge], organ)
	}
	for _, organs := range byEdge {
		sort.Strings(organs)
	}
	letters := make([]crashLetter, crashLetters)
	for i := range letters {
		sender := w.m.Edges[rng.IntN(2)]
		from := byEdge[sender.ID][rng.IntN(len(byEdge[sender.ID]))]
		var pool []string
		for _, e := range w.m.Edges {
			if e.ID != sender.ID {
				pool = append(pool, byEdge[e.ID]...)
			}
		}
		var to []string
		for _, j := range rng.Perm(len(pool))[:1+rng.IntN(3)] {
			to = append(to, pool[j])
		}
		sort.Strings(to)
		number := strconv.Itoa(i + 1)
		letters[i] = crashLetter{
			n: i, edge: sender.ID, from: from, to: to,
			pkg: letter(t, from, to, number, nil, nil),
			key: "crash-" + number,
		}
	}
	return letters
}

// crashSchedule draws the kills: crashKillsEach of each target in a
// shuffled order, one in each equal slot of the stream from 5% to 85% of
// its letters, at a random point of its slot. The last 15% leave room for
// restarts that run late on a slow machine: every kill must still find
// work in flight.
func crashSchedule(rng *rand.Rand) []crashKill {
	var targets []string
	for range crashKillsEach {
		targets = append(targets, "axis", "edge", "broker")
	}
	rng.Shuffle(len(targets), func(i, j int) { targets[i], targets[j] = targets[j], targets[i] })
	first, span := crashLetters/20, crashLetters*8/10
	slot := span / len(targets)
	kills := make([]crashKill, len(targets))
	for k, target := range targets {
		kills[k] = crashKill{
			target: target,
			at:     first + k*slot + rng.IntN(slot),
			pause:  100*time.Millisecond + time.Duration(rng.IntN(1900))*time.Millisecond,
		}
	}
	return kills
}

// crashLogVerifiers returns the axis log key from axis-log.key, after
// checking that the running axis serves the same one.
func crashLogVerifiers(t *testing.T, w *procWorld) note.Verifiers {
	t.Helper()
	file, err := os.ReadFile(filepath.Join(w.dir, "axis-log.key"))
	if err != nil {
		t.Fatal(err)
	}
	served, err := crashGet(context.Background(), w.m.Axis.URL+"/v1/log/key")
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(string(file))
	if strings.TrimSpace(string(served)) != key {
		t.Fatalf("the axis serves the log key %q, axis-log.key holds %q", served, key)
	}
	v, err := notesig.ParseVerifierKey(key)
	if err != nil {
		t.Fatalf("axis-log.key: %v", err)
	}
	vs, err := notesig.VerifierList(v)
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// submit sends one letter until its edge acknowledges it with 202. A
// refusal (4xx) is an error; anything else (the edge is down or
// restarting) is retried with the same Idempotency-Key.
func (r *crashRun) submit(ctx context.Context, l crashLetter) error {
	api := r.w.api[l.edge]
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		sub, err := api.Submit(actx, l.pkg, l.key)
		cancel()
		if err == nil {
			r.mu.Lock()
			r.subs[l.n], r.tries[l.n] = sub, attempt
			r.mu.Unlock()
			for _, organ := range l.to {
				r.expected[r.w.m.Agencies[organ]].Add(1)
			}
			r.acked.Add(1)
			return nil
		}
		var p *restapi.Problem
		if errors.As(err, &p) && p.Status >= 400 && p.Status < 500 && p.Status != http.StatusTooManyRequests {
			return fmt.Errorf("edge %s refused the submission: %w", l.edge, err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if attempt%20 == 0 {
			r.t.Logf("letter %d: submit attempt %d to edge %s failed: %v", l.n, attempt, l.edge, err)
		}
		sleepCtx(ctx, 100*time.Millisecond)
	}
}

func (r *crashRun) retried() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, tries := range r.tries {
		if tries > 1 {
			n++
		}
	}
	return n
}

// outstanding returns, per recipient edge and in total (key ""), the 01s
// owed for acknowledged letters that the senders' DMSs have not seen yet.
func (r *crashRun) outstanding() map[string]int64 {
	seen := map[string]int64{}
	for _, e := range r.w.m.Edges[:2] {
		d := r.dmss[e.ID]
		d.mu.Lock()
		for _, it := range d.items {
			if it.Type == "status" && it.Status == "01" {
				seen[r.w.m.Agencies[it.Sender]]++
			}
		}
		d.mu.Unlock()
	}
	out := map[string]int64{}
	for _, e := range r.w.m.Edges {
		n := r.expected[e.ID].Load() - seen[e.ID]
		out[e.ID] = n
		out[""] += n
	}
	return out
}

// checkProcesses fails the test if a process ended on its own.
func (r *crashRun) checkProcesses() {
	r.t.Helper()
	for _, p := range r.w.all() {
		if p.exited() {
			r.t.Fatalf("%s exited on its own:\n%s", p.name, p.logTail())
		}
	}
}

// kill runs one kill of the schedule: it waits for the moment, asserts
// that work is in flight where the kill hits, kills the process with
// SIGKILL, and restarts it after the pause.
func (r *crashRun) kill(ctx context.Context, k, of int, kl crashKill) {
	r.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for r.acked.Load() < int64(kl.at) {
		if ctx.Err() != nil || time.Now().After(deadline) {
			r.t.Fatalf("kill %d/%d: %d of %d letters acknowledged, waiting for %d", k+1, of, r.acked.Load(), crashLetters, kl.at)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.checkProcesses()
	var p *proc
	scope := ""
	switch kl.target {
	case "axis":
		p = r.w.axis
	case "broker":
		p = r.w.broker
	case "edge":
		p, scope = r.w.edges[r.victim], r.victim
	}
	// Work in flight: 01s owed for acknowledged letters and not yet back
	// (for the edge, those its own recipients owe). Poll briefly: a kill
	// with nothing in flight tests nothing.
	var missing map[string]int64
	inFlight := time.Now().Add(15 * time.Second)
	for {
		missing = r.outstanding()
		if missing[scope] > 0 {
			break
		}
		if time.Now().After(inFlight) {
			r.t.Fatalf("kill %d/%d (%s): nothing in flight for 15s (%d letters acknowledged, 01s outstanding %v)", k+1, of, p.name, r.acked.Load(), missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
	acked := r.acked.Load()
	p.kill9()
	killed := time.Now()
	r.t.Logf("kill %2d/%d: SIGKILL %-12s at %4d letters acknowledged; in flight: %d 01s outstanding (%s)",
		k+1, of, p.name, acked, missing[""], formatOutstanding(r.w, missing))
	time.Sleep(kl.pause)
	r.w.restart(p)
	r.t.Logf("           %s restarted after a %s pause, serving %s after the kill",
		p.name, kl.pause.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
}

func formatOutstanding(w *procWorld, m map[string]int64) string {
	var parts []string
	for _, e := range w.m.Edges {
		parts = append(parts, fmt.Sprintf("%s %d", e.ID, m[e.ID]))
	}
	return "by recipient edge: " + strings.Join(parts, ", ")
}

// senderTimelines fetches every letter's timeline from its sender edge.
func (r *crashRun) senderTimelines(ctx context.Context) []restapi.Document {
	r.t.Helper()
	docs := make([]restapi.Document, len(r.letters))
	errs := r.parallel(len(r.letters), func(i int) error {
		var err error
		docs[i], err = r.w.api[r.letters[i].edge].Document(ctx, r.subs[i].ID)
		return err
	})
	if len(errs) > 0 {
		r.t.Fatalf("fetching %d sender timelines failed; first: %v", len(errs), errs[0])
	}
	return docs
}

// parallel runs f for 0..n-1 on a few goroutines and returns the errors.
func (r *crashRun) parallel(n int, f func(i int) error) []error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		next atomic.Int64
	)
	for range 4 {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if err := f(i); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("item %d: %w", i, err))
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return errs
}

// crashCounts counts one kind of failure, keeping the first examples.
type crashCounts struct {
	n        map[string]int
	examples map[string][]string
}

func newCrashCounts() *crashCounts {
	return &crashCounts{n: map[string]int{}, examples: map[string][]string{}}
}

func (c *crashCounts) add(kind, format string, args ...any) {
	c.n[kind]++
	if len(c.examples[kind]) < 10 {
		c.examples[kind] = append(c.examples[kind], fmt.Sprintf(format, args...))
	}
}

// report logs every count (zero ones too) and fails on a non-zero one.
func (c *crashCounts) report(t *testing.T, what string, kinds ...string) {
	t.Helper()
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s %d", k, c.n[k]))
	}
	for k := range c.n {
		if !slices.Contains(kinds, k) {
			parts = append(parts, fmt.Sprintf("%s %d", k, c.n[k]))
			kinds = append(kinds, k)
		}
	}
	t.Logf("%s: %s", what, strings.Join(parts, ", "))
	for _, k := range kinds {
		if c.n[k] > 0 {
			t.Errorf("%s: %d × %s; first ones:\n  %s", what, c.n[k], k, strings.Join(c.examples[k], "\n  "))
		}
	}
}

// checkTimelines checks every letter's sender timeline: exactly one 01
// from each recipient and none from anyone else, the letter settled
// (accepted), a delivery receipt for each recipient edge, and every
// receipt verifying and speaking of this letter. It collects the
// checkpoints the receipts carry.
func (r *crashRun) checkTimelines(docs []restapi.Document, verifiers note.Verifiers, cps map[int64][]bus.SignedCheckpoint) (undelivered []int) {
	r.t.Helper()
	c := newCrashCounts()
	receipts := 0
	for i, doc := range docs {
		l := r.letters[i]
		got := statusesBy(doc)
		for _, organ := range l.to {
			switch n := count(got[organ], "01"); {
			case n == 0:
				c.add("missing 01", "letter %d (%s): no 01 from %s", i, doc.ID, organ)
			case n > 1:
				c.add("duplicate 01", "letter %d (%s): %d 01s from %s", i, doc.ID, n, organ)
			}
		}
		for organ, codes := range got {
			if !slices.Contains(l.to, organ) {
				c.add("status from a non-recipient", "letter %d (%s): statuses %v from %s", i, doc.ID, codes, organ)
			}
		}
		if !doc.Settled {
			c.add("not settled", "letter %d (%s): no accepted receipt", i, doc.ID)
		}
		delivered := map[string]bool{}
		for _, rc := range doc.Receipts {
			receipts++
			ev, cp, err := openReceipt(rc.Receipt, verifiers)
			if err != nil {
				c.add("broken receipt", "letter %d (%s): %s receipt: %v", i, doc.ID, rc.Kind, err)
				continue
			}
			if fmt.Sprintf("%x", ev.PackageSHA256) != doc.SHA256 {
				c.add("receipt about another package", "letter %d (%s): %s receipt about %x", i, doc.ID, rc.Kind, ev.PackageSHA256)
			}
			if ev.Kind == bus.EventDelivered {
				delivered[ev.Edge] = true
			}
			addCheckpoint(cps, cp)
		}
		for _, organ := range l.to {
			if edge := r.w.m.Agencies[organ]; !delivered[edge] {
				c.add("missing delivery receipt", "letter %d (%s, sha256 %s): no delivered receipt for edge %s; receipts: %s", i, doc.ID, doc.SHA256, edge, receiptKinds(doc))
				delivered[edge] = true
				if !slices.Contains(undelivered, i) {
					undelivered = append(undelivered, i)
				}
			}
		}
	}
	r.t.Logf("sender timelines: %d letters, %d receipts, %d distinct checkpoints", len(docs), receipts, len(cps))
	c.report(r.t, "sender timelines", "missing 01", "duplicate 01", "status from a non-recipient", "not settled", "missing delivery receipt", "broken receipt", "receipt about another package")
	return undelivered
}

func receiptKinds(doc restapi.Document) string {
	var kinds []string
	for _, rc := range doc.Receipts {
		k := rc.Kind
		if rc.Edge != "" {
			k += " " + rc.Edge
		}
		kinds = append(kinds, k)
	}
	return strings.Join(kinds, ", ")
}

func openReceipt(b []byte, verifiers note.Verifiers) (bus.Event, bus.SignedCheckpoint, error) {
	rc, err := bus.DecodeReceipt(b)
	if err != nil {
		return bus.Event{}, bus.SignedCheckpoint{}, err
	}
	if err := rc.Verify(verifiers); err != nil {
		return bus.Event{}, bus.SignedCheckpoint{}, err
	}
	return rc.Open(verifiers)
}

func addCheckpoint(cps map[int64][]bus.SignedCheckpoint, cp bus.SignedCheckpoint) {
	for _, have := range cps[cp.Size] {
		if have.Hash == cp.Hash {
			return
		}
	}
	cps[cp.Size] = append(cps[cp.Size], cp)
}

// statusTimelines fetches, from each recipient edge, the timeline of every
// 01 it sent, waiting for those not yet settled (their receipt may still
// be on its way when the 01 itself has arrived).
func (r *crashRun) statusTimelines(ctx context.Context, docs []restapi.Document) map[string]restapi.Document {
	r.t.Helper()
	type ref struct{ edge, id string }
	var refs []ref
	for _, doc := range docs {
		for _, rt := range doc.Timeline {
			for _, ev := range rt.Events {
				if ev.Kind == "status" && ev.Status == "01" {
					refs = append(refs, ref{r.w.m.Agencies[rt.OrganID], ev.MessageID})
				}
			}
		}
	}
	out := make([]restapi.Document, len(refs))
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		var todo []int
		for i := range refs {
			if !out[i].Settled {
				todo = append(todo, i)
			}
		}
		if len(todo) == 0 {
			break
		}
		if time.Now().After(deadline) {
			var first []string
			for _, i := range todo[:min(len(todo), 10)] {
				first = append(first, fmt.Sprintf("%s at edge %s (%d receipts)", refs[i].id, refs[i].edge, len(out[i].Receipts)))
			}
			r.t.Errorf("%d of %d statuses 01 not settled (no accepted receipt) at their edge after a minute; first ones:\n  %s", len(todo), len(refs), strings.Join(first, "\n  "))
			break
		}
		errs := r.parallel(len(todo), func(j int) error {
			i := todo[j]
			doc, err := r.w.api[refs[i].edge].Document(ctx, refs[i].id)
			if err != nil {
				return fmt.Errorf("status %s at edge %s: %w", refs[i].id, refs[i].edge, err)
			}
			out[i] = doc // each index is written by one goroutine
			return nil
		})
		if len(errs) > 0 {
			r.t.Fatalf("fetching %d status timelines failed; first: %v", len(errs), errs[0])
		}
	}
	m := make(map[string]restapi.Document, len(out))
	for _, doc := range out {
		m[doc.ID] = doc
	}
	return m
}

// checkStatusReceipts checks every receipt of every 01 at its edge.
func (r *crashRun) checkStatusReceipts(docs map[string]restapi.Document, verifiers note.Verifiers, cps map[int64][]bus.SignedCheckpoint) {
	r.t.Helper()
	c := newCrashCounts()
	receipts := 0
	for id, doc := range docs {
		for _, rc := range doc.Receipts {
			receipts++
			ev, cp, err := openReceipt(rc.Receipt, verifiers)
			if err != nil {
				c.add("broken receipt", "status %s: %s receipt: %v", id, rc.Kind, err)
				continue
			}
			if fmt.Sprintf("%x", ev.PackageSHA256) != doc.SHA256 {
				c.add("receipt about another package", "status %s: %s receipt about %x", id, rc.Kind, ev.PackageSHA256)
			}
			addCheckpoint(cps, cp)
		}
	}
	r.t.Logf("status timelines: %d statuses 01, %d receipts; %d distinct checkpoints in all", len(docs), receipts, len(cps))
	c.report(r.t, "status receipts", "broken receipt", "receipt about another package")
}

// checkConsistency checks that the checkpoints seen in receipts and the
// axis's latest one, sorted by size, are each consistent with the next.
func (r *crashRun) checkConsistency(ctx context.Context, verifiers note.Verifiers, cps map[int64][]bus.SignedCheckpoint) {
	r.t.Helper()
	latest, err := crashGet(ctx, r.w.m.Axis.URL+"/v1/log/checkpoint")
	if err != nil {
		r.t.Fatal(err)
	}
	cp, err := bus.OpenCheckpoint(latest, verifiers)
	if err != nil {
		r.t.Fatalf("the axis's latest checkpoint: %v", err)
	}
	addCheckpoint(cps, cp)
	var all []bus.SignedCheckpoint
	for _, list := range cps {
		all = append(all, list...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Size < all[j].Size })
	c := newCrashCounts()
	if top := all[len(all)-1]; top.Size != cp.Size {
		c.add("checkpoint beyond the latest", "a receipt carries a checkpoint of size %d, the axis's latest is %d", top.Size, cp.Size)
	}
	errs := r.parallel(len(all)-1, func(i int) error {
		old, new := all[i], all[i+1]
		proof, err := consistencyProof(ctx, r.w.m.Axis.URL, old.Size, new.Size)
		if err != nil {
			return err
		}
		if err := bus.VerifyConsistency(old.Checkpoint, new.Checkpoint, proof); err != nil {
			return fmt.Errorf("checkpoints of sizes %d and %d: %w", old.Size, new.Size, err)
		}
		return nil
	})
	for _, err := range errs {
		c.add("inconsistent checkpoints", "%v", err)
	}
	r.t.Logf("log: %d distinct checkpoints from size %d to %d, %d consistency proofs checked", len(all), all[0].Size, cp.Size, len(all)-1)
	c.report(r.t, "log consistency", "inconsistent checkpoints", "checkpoint beyond the latest")
}

func consistencyProof(ctx context.Context, axisURL string, old, new int64) ([][32]byte, error) {
	body, err := crashGet(ctx, fmt.Sprintf("%s/v1/log/consistency?old=%d&new=%d", axisURL, old, new))
	if err != nil {
		return nil, err
	}
	var proof [][32]byte
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		h, err := base64.StdEncoding.DecodeString(sc.Text())
		if err != nil || len(h) != 32 {
			return nil, fmt.Errorf("consistency proof %d→%d: line %q is not a base64 hash", old, new, sc.Text())
		}
		proof = append(proof, [32]byte(h))
	}
	return proof, sc.Err()
}

func crashGet(ctx context.Context, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(body))
	}
	return body, nil
}

// checkDMSs counts, at every DMS: letters missing (I1), letters seen twice
// by SHA-256 or message ID, items listed twice, letters listing other
// recipients, unexpected items, and at the senders 01s missing or twice.
func (r *crashRun) checkDMSs(docs []restapi.Document) {
	r.t.Helper()
	c := newCrashCounts()
	type pair struct {
		letter int
		organ  string
	}
	statusOf := map[string]pair{} // 01 message ID → (letter, recipient)
	bySHA := map[string]int{}     // letter SHA-256 → letter number
	for i, doc := range docs {
		bySHA[doc.SHA256] = i
		for _, rt := range doc.Timeline {
			for _, ev := range rt.Events {
				if ev.Kind == "status" && ev.Status == "01" {
					statusOf[ev.MessageID] = pair{i, rt.OrganID}
				}
			}
		}
	}
	documents, statuses := 0, 0
	seen01 := map[pair]int{}
	for _, e := range r.w.m.Edges {
		d := r.dmss[e.ID]
		d.mu.Lock()
		for id, n := range d.seen {
			if n > 1 {
				c.add("item listed twice", "edge %s listed item %s %d times", e.ID, id, n)
			}
		}
		got := map[int][]restapi.Item{} // letter → document items at this DMS
		byMsgID := map[string]int{}
		for _, it := range d.items {
			switch it.Type {
			case "document":
				documents++
				i, ok := bySHA[it.SHA256]
				if !ok {
					c.add("unexpected item", "edge %s: document %s (%s) is no letter of the stream", e.ID, it.ID, it.MessageID)
					continue
				}
				got[i] = append(got[i], it)
				byMsgID[it.MessageID]++
			case "status":
				statuses++
				p, ok := statusOf[it.MessageID]
				if it.Status != "01" || !ok {
					c.add("unexpected item", "edge %s: status %s %s (%s) from %s is no 01 of a sender timeline", e.ID, it.Status, it.ID, it.MessageID, it.Sender)
					continue
				}
				if p.organ != it.Sender || r.letters[p.letter].edge != e.ID {
					c.add("misrouted status", "edge %s: 01 %s from %s is, by the sender timeline, from %s about letter %d of edge %s", e.ID, it.MessageID, it.Sender, p.organ, p.letter, r.letters[p.letter].edge)
				}
				seen01[p]++
			default:
				c.add("unexpected item", "edge %s: %s item %s (%s)", e.ID, it.Type, it.ID, it.MessageID)
			}
		}
		d.mu.Unlock()
		for id, n := range byMsgID {
			if n > 1 {
				c.add("letter twice by message ID", "edge %s: message %s %d times", e.ID, id, n)
			}
		}
		for i, l := range r.letters {
			var want []string
			for _, organ := range l.to {
				if r.w.m.Agencies[organ] == e.ID {
					want = append(want, organ)
				}
			}
			items := got[i]
			switch {
			case len(want) == 0 && len(items) > 0:
				c.add("letter at a non-recipient", "edge %s: letter %d (%s) for %v arrived", e.ID, i, docs[i].ID, l.to)
			case len(want) > 0 && len(items) == 0:
				c.add("lost letter", "edge %s: letter %d (%s) from %s for %v never reached the DMS", e.ID, i, docs[i].ID, l.from, want)
			case len(items) > 1:
				c.add("letter twice by SHA-256", "edge %s: letter %d (%s) %d times", e.ID, i, docs[i].ID, len(items))
			}
			for _, it := range items {
				if got := slices.Sorted(slices.Values(it.Recipients)); !slices.Equal(got, want) {
					c.add("wrong recipients", "edge %s: letter %d item %s lists %v, want %v", e.ID, i, it.ID, got, want)
				}
				if it.MessageID != docs[i].ID {
					c.add("wrong message ID", "edge %s: letter %d item %s has message ID %s, the sender gave %s", e.ID, i, it.ID, it.MessageID, docs[i].ID)
				}
			}
		}
	}
	want01, wantDocs := 0, 0
	for _, l := range r.letters {
		edges := map[string]bool{}
		for _, organ := range l.to {
			edges[r.w.m.Agencies[organ]] = true
		}
		wantDocs += len(edges)
	}
	for i, l := range r.letters {
		for _, organ := range l.to {
			want01++
			switch n := seen01[pair{i, organ}]; {
			case n == 0:
				c.add("01 missing at the sender DMS", "letter %d (%s): the sender's DMS has no 01 from %s", i, docs[i].ID, organ)
			case n > 1:
				c.add("01 twice at the sender DMS", "letter %d (%s): the sender's DMS has %d 01s from %s", i, docs[i].ID, n, organ)
			}
		}
	}
	r.t.Logf("DMSs: %d document items (want %d), %d status items (want %d)", documents, wantDocs, statuses, want01)
	c.report(r.t, "DMSs", "lost letter", "letter twice by SHA-256", "letter twice by message ID", "item listed twice",
		"01 missing at the sender DMS", "01 twice at the sender DMS", "wrong recipients", "wrong message ID", "letter at a non-recipient", "misrouted status", "unexpected item")
}

// checkStores stops the axis and the edges (SIGTERM) and checks their
// stores: the axis ledger against the log, the log's tree and checkpoint
// signatures, and each edge store's invariants. For the letters listed in
// undelivered it logs their ledger routes, to explain a missing receipt.
func (r *crashRun) checkStores(verifiers note.Verifiers, docs []restapi.Document, undelivered []int) {
	r.t.Helper()
	ctx := context.Background()
	r.w.axis.stop()
	st, err := boltstore.Open(filepath.Join(r.w.dir, "data", "axis", "axis.db"), boltstore.Config{})
	if err != nil {
		r.t.Fatalf("opening the axis store: %v", err)
	}
	defer st.Close()
	if err := st.Ledger().Check(ctx); err != nil {
		r.t.Errorf("axis ledger check: %v", err)
	}
	if err := st.Log().Check(ctx, verifiers); err != nil {
		r.t.Errorf("axis log check: %v", err)
	}
	size, err := st.Log().Size(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	due, err := st.Ledger().Due(ctx, time.Now(), 10000)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Logf("axis store: ledger and log (%d leaves) check; %d routes not acknowledged by their edge at the stop", size, len(due))
	for _, i := range undelivered {
		sha, err := hex.DecodeString(docs[i].SHA256)
		if err != nil || len(sha) != 32 {
			r.t.Fatalf("letter %d: sha256 %q: %v", i, docs[i].SHA256, err)
		}
		e, err := st.Ledger().Get(ctx, [32]byte(sha))
		if err != nil {
			r.t.Errorf("letter %d: the axis ledger: %v", i, err)
			continue
		}
		var routes []string
		for _, rt := range e.Routes {
			routes = append(routes, fmt.Sprintf("%s: %s leaf %d, %d attempts, sent %s, acked %s",
				rt.Edge, rt.State, rt.Leaf, rt.Attempts, rt.SentAt.Format(time.StampMilli), rt.AckedAt.Format(time.StampMilli)))
		}
		r.t.Logf("letter %d (%s) in the axis ledger: accepted at %s, leaf %d; routes: %s", i, e.MessageID, e.At.Format(time.StampMilli), e.Leaf, strings.Join(routes, "; "))
	}
	for _, e := range r.w.m.Edges {
		r.w.edges[e.ID].stop()
		es, err := boltstore.Open(filepath.Join(r.w.dir, "data", "edge-"+e.ID, "edge.db"), boltstore.Config{})
		if err != nil {
			r.t.Fatalf("opening the store of edge %s: %v", e.ID, err)
		}
		if err := es.Edge().Check(ctx); err != nil {
			r.t.Errorf("edge %s store check: %v", e.ID, err)
		}
		es.Close()
	}
	r.t.Logf("edge stores: %d checked", len(r.w.m.Edges))
}
