package boltstore_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"truc.vn/truc/adapters/boltstore"
	"truc.vn/truc/bus"
	"truc.vn/truc/bus/bustest"
)

func TestLedger(t *testing.T) {
	bustest.TestLedger(t, func(t *testing.T) bus.Ledger {
		s := open(t, filepath.Join(t.TempDir(), "axis.db"), boltstore.Config{})
		t.Cleanup(func() {
			// Whatever the subtest did, the ledger and its log agree.
			if err := s.Ledger().Check(context.Background()); err != nil {
				t.Errorf("after the subtest: %v", err)
			}
		})
		return s.Ledger()
	})
}

var t0 = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

// letter is what Record takes for one accepted document.
type letter struct {
	e   bus.Entry
	pkg []byte
	ev  bus.Event
}

// newLetter is an accepted document named name (its message ID and
// document ID) with pkgSize bytes of package, one route (one recipient)
// per edge.
func newLetter(name string, pkgSize int, at time.Time, edges ...string) letter {
	pkg := make([]byte, pkgSize)
	copy(pkg, fmt.Sprintf("<edXML %s>", name))
	for i := len(name) + 8; i < len(pkg); i++ {
		pkg[i] = byte(i)
	}
	sha := sha256.Sum256(pkg)
	var recips []string
	var routes []bus.Route
	for i, edge := range edges {
		r := fmt.Sprintf("000.00.%02d.H01", i+1)
		recips = append(recips, r)
		routes = append(routes, bus.Route{Edge: edge, Recipients: []string{r}})
	}
	e := bus.Entry{
		SHA256: sha, MessageID: name, Type: bus.TypeDocument, Key: "000.00.00.G22/" + name,
		Sender: "000.00.00.G22", FromEdge: "edge-sender", At: at, Size: len(pkg), Recipients: recips, Routes: routes,
	}
	ev := bus.Event{Kind: bus.EventSubmissionAccepted, Time: at, MessageID: name, PackageSHA256: sha, Sender: e.Sender, Recipients: recips}
	return letter{e, pkg, ev}
}

func (l letter) delivered(edge string, at time.Time) bus.Event {
	ev := bus.Event{Kind: bus.EventDelivered, Time: at, MessageID: l.e.MessageID, PackageSHA256: l.e.SHA256, Sender: l.e.Sender, Edge: edge}
	for _, r := range l.e.Routes {
		if r.Edge == edge {
			ev.Recipients = r.Recipients
		}
	}
	return ev
}

func record(t testing.TB, lg *boltstore.Ledger, l letter) bus.Entry {
	t.Helper()
	e, created, err := lg.Record(ctxT(t), l.e, l.pkg, l.ev)
	if err != nil || !created {
		t.Fatalf("Record(%s): created=%t, %v", l.e.MessageID, created, err)
	}
	return e
}

func deliver(t testing.TB, lg *boltstore.Ledger, l letter, edge string, at time.Time) bus.Entry {
	t.Helper()
	e, err := lg.Delivered(ctxT(t), l.e.SHA256, edge, l.delivered(edge, at), at)
	if err != nil {
		t.Fatalf("Delivered(%s, %s): %v", l.e.MessageID, edge, err)
	}
	return e
}

// ledgerState is everything the ledger answers, for comparing before and
// after a reopen.
type ledgerState struct {
	Entries   []bus.Entry
	ByKey     [][]bus.Entry
	Timelines [][]int64
	Packages  [][]byte
	Due       []bus.Redelivery
	Leaves    [][]byte
}

func readState(t *testing.T, s *boltstore.Store, letters []letter) ledgerState {
	t.Helper()
	lg, ctx := s.Ledger(), ctxT(t)
	var st ledgerState
	for _, l := range letters {
		e, err := lg.Get(ctx, l.e.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		st.Entries = append(st.Entries, e)
		byKey, err := lg.ByKey(ctx, l.e.Key)
		if err != nil {
			t.Fatal(err)
		}
		st.ByKey = append(st.ByKey, byKey)
		tl, err := lg.Timeline(ctx, l.e.Key)
		if err != nil {
			t.Fatal(err)
		}
		st.Timelines = append(st.Timelines, tl)
		pkg, err := lg.Package(ctx, l.e.SHA256)
		if err != nil && !errors.Is(err, bus.ErrNotFound) {
			t.Fatal(err)
		}
		st.Packages = append(st.Packages, pkg)
	}
	var err error
	if st.Due, err = lg.Due(ctx, t0.Add(1000*time.Hour), 1000); err != nil {
		t.Fatal(err)
	}
	n, err := lg.Log().Size(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		leaf, err := lg.Log().Leaf(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		st.Leaves = append(st.Leaves, leaf)
	}
	return st
}

// TestLedgerReopen: after a clean close and Open, the ledger answers
// exactly as before, and its checks pass.
func TestLedgerReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "axis.db")
	s := open(t, path, boltstore.Config{})
	lg := s.Ledger()
	var letters []letter
	for i := range 6 {
		l := newLetter(fmt.Sprintf("CV-%d", i), 5<<10, t0.Add(time.Duration(i)*time.Hour), "edge-a", "edge-b")
		record(t, lg, l)
		letters = append(letters, l)
	}
	deliver(t, lg, letters[0], "edge-a", t0.Add(time.Minute))
	deliver(t, lg, letters[1], "edge-b", t0.Add(2*time.Minute))
	deliver(t, lg, letters[1], "edge-b", t0.Add(3*time.Minute))
	if _, err := lg.Acked(ctxT(t), letters[0].e.SHA256, "edge-a", "", t0.Add(4*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := lg.Acked(ctxT(t), letters[2].e.SHA256, "edge-b", "bad-signature", t0.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	ev := letters[3].ev
	ev.Kind, ev.StatusCode, ev.Time = bus.EventStatus, "02", t0.Add(6*time.Minute)
	if _, err := lg.Append(ctxT(t), letters[3].e.SHA256, ev); err != nil {
		t.Fatal(err)
	}
	if n, err := lg.Purge(ctxT(t), t0.Add(90*time.Minute)); err != nil || n != 2 {
		t.Fatalf("Purge = %d, %v; want 2", n, err)
	}
	before := readState(t, s, letters)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path, boltstore.Config{})
	after := readState(t, s, letters)
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("the ledger answers differently after a reopen:\nbefore %+v\n after %+v", before, after)
	}
	if err := s.Ledger().Check(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if err := s.Log().Check(ctxT(t), nil); err != nil {
		t.Fatal(err)
	}
	// Writing goes on where it stopped.
	l := newLetter("CV-after", 100, t0.Add(10*time.Hour), "edge-a")
	if e := record(t, s.Ledger(), l); e.Leaf != int64(len(before.Leaves)) {
		t.Fatalf("the first entry after reopening has leaf %d, want %d", e.Leaf, len(before.Leaves))
	}
}

// TestLedgerRefuses covers what this Ledger refuses beyond the conformance
// suite: entries whose event is not about them, packages that do not match
// the entry, and deliveries whose event is not that delivery. Every refusal
// wraps ErrInvalid, names the field, and writes nothing.
func TestLedgerRefuses(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "axis.db"), boltstore.Config{})
	lg := s.Ledger()
	base := newLetter("CV-1", 64, t0, "edge-a", "edge-b")
	records := []struct {
		name, field string
		edit        func(l *letter)
	}{
		{"zero-at", "At", func(l *letter) { l.e.At = time.Time{} }},
		{"at-before-1970", "At", func(l *letter) { l.e.At = time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC) }},
		{"unknown-type", "Type", func(l *letter) { l.e.Type = bus.TypeAck }},
		{"no-message-id", "MessageID", func(l *letter) { l.e.MessageID = "" }},
		{"key-too-long", "Key", func(l *letter) { l.e.Key = strings.Repeat("k", bus.MaxKeyLen+1) }},
		{"accepted-without-package", "package", func(l *letter) { l.pkg = nil }},
		{"wrong-size", "Size", func(l *letter) { l.e.Size++ }},
		{"bytes-of-another-package", "SHA256", func(l *letter) { l.pkg = append([]byte(nil), l.pkg...); l.pkg[0] ^= 1 }},
		{"rejected-with-package", "package", func(l *letter) {
			l.e.Rejected, l.ev.Kind, l.ev.Reason, l.e.Routes = "revoked", bus.EventSubmissionRejected, "revoked", nil
		}},
		{"rejected-with-routes", "Routes", func(l *letter) {
			l.e.Rejected, l.ev.Kind, l.ev.Reason, l.pkg = "revoked", bus.EventSubmissionRejected, "revoked", nil
		}},
		{"rejected-bad-reason", "Rejected", func(l *letter) {
			l.e.Rejected, l.ev.Kind, l.ev.Reason, l.pkg = "Bad Reason", bus.EventSubmissionRejected, "revoked", nil
		}},
		{"duplicate-route-edge", "Routes[1].Edge", func(l *letter) { l.e.Routes = []bus.Route{l.e.Routes[0], l.e.Routes[0]} }},
		{"bad-route-recipient", "Routes[0].Recipients[0]", func(l *letter) { l.e.Routes = []bus.Route{{Edge: "edge-a", Recipients: []string{"not an organ id"}}} }},
		{"event-of-another-kind", "event Kind", func(l *letter) { l.ev.Kind = bus.EventStatus; l.ev.StatusCode = "01" }},
		{"event-about-another-package", "event PackageSHA256", func(l *letter) { l.ev.PackageSHA256[0] ^= 1 }},
		{"event-of-another-message", "event MessageID", func(l *letter) { l.ev.MessageID = "other" }},
		{"event-of-a-delivery", "event Kind", func(l *letter) { l.ev.Kind, l.ev.Edge = bus.EventDelivered, "edge-a" }},
	}
	for _, c := range records {
		l := base
		l.e.Routes = append([]bus.Route(nil), base.e.Routes...)
		c.edit(&l)
		_, _, err := lg.Record(ctxT(t), l.e, l.pkg, l.ev)
		if !errors.Is(err, boltstore.ErrInvalid) || !strings.Contains(err.Error(), c.field+":") {
			t.Errorf("%s: Record: %v; want ErrInvalid naming %s", c.name, err, c.field)
		}
	}
	if n, _ := lg.Log().Size(ctxT(t)); n != 0 {
		t.Fatalf("refused records appended %d leaves", n)
	}
	record(t, lg, base)
	entry, _ := lg.Get(ctxT(t), base.e.SHA256)
	deliveries := []struct {
		name, field string
		edge        string
		at          time.Time
		edit        func(ev *bus.Event)
	}{
		{"bad-edge", "edge", "edge_a", t0, func(ev *bus.Event) {}},
		{"zero-time", "at", "edge-a", time.Time{}, func(ev *bus.Event) {}},
		{"kind", "event Kind", "edge-a", t0, func(ev *bus.Event) { ev.Kind = bus.EventRejectionNotice; ev.Reason = "x" }},
		{"edge", "event Edge", "edge-a", t0, func(ev *bus.Event) { ev.Edge = "edge-b" }},
		{"package", "event PackageSHA256", "edge-a", t0, func(ev *bus.Event) { ev.PackageSHA256[31] ^= 1 }},
		{"recipients", "event Recipients", "edge-a", t0, func(ev *bus.Event) { ev.Recipients = []string{"000.00.02.H01"} }},
	}
	for _, c := range deliveries {
		ev := base.delivered("edge-a", t0)
		c.edit(&ev)
		_, err := lg.Delivered(ctxT(t), base.e.SHA256, c.edge, ev, c.at)
		if !errors.Is(err, boltstore.ErrInvalid) || !strings.Contains(err.Error(), c.field+":") {
			t.Errorf("Delivered with a wrong %s: %v; want ErrInvalid naming %s", c.name, err, c.field)
		}
	}
	for _, c := range []struct{ name, reason string }{{"bad-reason", "Not-A-Code"}, {"long-reason", strings.Repeat("a", 65)}} {
		if _, err := lg.Acked(ctxT(t), base.e.SHA256, "edge-a", c.reason, t0); !errors.Is(err, boltstore.ErrInvalid) {
			t.Errorf("Acked with %s: %v; want ErrInvalid", c.name, err)
		}
	}
	if _, err := lg.Due(ctxT(t), t0, 0); !errors.Is(err, boltstore.ErrInvalid) {
		t.Errorf("Due with limit 0: %v; want ErrInvalid", err)
	}
	if got, _ := lg.Get(ctxT(t), base.e.SHA256); !reflect.DeepEqual(got, entry) {
		t.Fatalf("refused calls changed the entry:\n got %+v\nwant %+v", got, entry)
	}
	if n, _ := lg.Log().Size(ctxT(t)); n != 1 {
		t.Fatalf("refused calls changed the log size to %d", n)
	}
	if err := lg.Check(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

func TestLedgerTimeline(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "axis.db"), boltstore.Config{})
	lg := s.Ledger()
	a := newLetter("CV-1", 64, t0, "edge-a", "edge-b")
	other := newLetter("CV-2", 64, t0, "edge-a")
	record(t, lg, a)                                   // 0
	record(t, lg, other)                               // 1
	deliver(t, lg, a, "edge-b", t0.Add(time.Second))   // 2
	deliver(t, lg, other, "edge-a", t0.Add(time.Hour)) // 3
	ev := a.ev
	ev.Kind, ev.StatusCode = bus.EventStatus, "03"
	if _, err := lg.Append(ctxT(t), a.e.SHA256, ev); err != nil { // 4
		t.Fatal(err)
	}
	deliver(t, lg, a, "edge-a", t0.Add(time.Minute)) // 5
	deliver(t, lg, a, "edge-a", t0.Add(time.Hour))   // a redelivery: no leaf
	got, err := lg.Timeline(ctxT(t), a.e.Key)
	if err != nil || !reflect.DeepEqual(got, []int64{0, 2, 4, 5}) {
		t.Fatalf("Timeline = %v, %v; want [0 2 4 5]", got, err)
	}
	if got, err := lg.Timeline(ctxT(t), "000.00.00.G22/none"); err != nil || len(got) != 0 {
		t.Fatalf("Timeline of an unknown key = %v, %v", got, err)
	}
}

// TestLedgerKeysExtendingAnother: the key indexes separate a root key
// from keys that extend it, even with the separator byte in the key.
func TestLedgerKeysExtendingAnother(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "axis.db"), boltstore.Config{})
	lg := s.Ledger()
	keys := []string{"K", "K\x00", "K\x00\x00\x00\x00\x00\x00\x00\x00\x01", "K0", ""}
	for i, key := range keys[:4] {
		l := newLetter(fmt.Sprintf("CV-%d", i), 64, t0, "edge-a")
		l.e.Key = key
		record(t, lg, l)
	}
	for i, key := range keys {
		got, err := lg.ByKey(ctxT(t), key)
		if err != nil {
			t.Fatal(err)
		}
		tl, err := lg.Timeline(ctxT(t), key)
		if err != nil {
			t.Fatal(err)
		}
		want := 1
		if key == "" {
			want = 0
		}
		if len(got) != want || len(tl) != want || want == 1 && (got[0].Key != key || tl[0] != int64(i)) {
			t.Errorf("ByKey(%q) = %d entries, Timeline %v; want only its own", key, len(got), tl)
		}
	}
}

// TestLedgerPurgeInSmallTransactions: Purge deletes in transactions of at
// most a few hundred packages, oldest first, and stops at a cancelled
// context between them.
func TestLedgerPurgeInSmallTransactions(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "axis.db"), boltstore.Config{})
	lg := s.Ledger()
	const n = 805
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				record(t, lg, newLetter(fmt.Sprintf("CV-%d", i), 200, t0.Add(time.Duration(i)*time.Second), "edge-a"))
			}
		})
	}
	wg.Wait()
	commits := s.CommitStats().Commits
	got, err := lg.Purge(ctxT(t), t0.Add(time.Hour))
	if err != nil || got != n {
		t.Fatalf("Purge = %d, %v; want %d", got, err, n)
	}
	if c := s.CommitStats().Commits - commits; c != 3 {
		t.Fatalf("Purge of %d packages took %d commits, want 3 (of at most 400)", n, c)
	}
	if err := lg.Check(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if due, err := lg.Due(ctxT(t), t0.Add(time.Hour), 10); err != nil || len(due) != 0 {
		t.Fatalf("Due after purging everything: %d routes, %v", len(due), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := lg.Purge(ctx, t0.Add(time.Hour)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Purge with a cancelled context: %v", err)
	}
}

// TestLedgerCheckDetectsDamage: Check finds a leaf without its entry, an
// entry without its leaf, and broken indexes.
func TestLedgerCheckDetectsDamage(t *testing.T) {
	cases := []struct {
		name string
		want string
		harm func(t *testing.T, tx *bolt.Tx, l letter)
	}{
		{"leaf-without-entry", "belongs to no ledger entry", func(t *testing.T, tx *bolt.Tx, l letter) {
			if err := tx.Bucket([]byte("ledger.entries")).Delete(l.e.SHA256[:]); err != nil {
				t.Fatal(err)
			}
			if err := tx.Bucket([]byte("ledger.bykey")).Delete(append(append([]byte(l.e.Key), 0), make([]byte, 8)...)); err != nil {
				t.Fatal(err)
			}
		}},
		{"missing-due-route", "not in the due index", func(t *testing.T, tx *bolt.Tx, l letter) {
			c := tx.Bucket([]byte("ledger.due")).Cursor()
			k, _ := c.First()
			if err := c.Delete(); err != nil || k == nil {
				t.Fatal(err)
			}
		}},
		{"extra-due-route", "due index has", func(t *testing.T, tx *bolt.Tx, l letter) {
			if err := tx.Bucket([]byte("ledger.due")).Put([]byte("\x01\x00\x00\x00\x00\x00\x00\x00\x01extra-key-of-41-bytes-and-an-edge....."), nil); err != nil {
				t.Fatal(err)
			}
		}},
		{"missing-key-index", "not in the key index", func(t *testing.T, tx *bolt.Tx, l letter) {
			if err := tx.Bucket([]byte("ledger.bykey")).Delete(append(append([]byte(l.e.Key), 0), make([]byte, 8)...)); err != nil {
				t.Fatal(err)
			}
		}},
		{"package-without-time-index", "not in the time index", func(t *testing.T, tx *bolt.Tx, l letter) {
			c := tx.Bucket([]byte("ledger.kept")).Cursor()
			c.First()
			if err := c.Delete(); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "axis.db")
			s := open(t, path, boltstore.Config{})
			l := newLetter("CV-1", 64, t0, "edge-a")
			record(t, s.Ledger(), l)
			if err := s.Ledger().Check(ctxT(t)); err != nil {
				t.Fatalf("Check before the damage: %v", err)
			}
			db := rawDB(t, s)
			if err := db.Update(func(tx *bolt.Tx) error { c.harm(t, tx, l); return nil }); err != nil {
				t.Fatal(err)
			}
			db.Close()
			s = open(t, path, boltstore.Config{})
			err := s.Ledger().Check(ctxT(t))
			if !errors.Is(err, boltstore.ErrCorrupt) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Check: %v; want ErrCorrupt with %q", err, c.want)
			}
		})
	}
	// A leaf appended behind the ledger's back.
	s := open(t, filepath.Join(t.TempDir(), "axis.db"), boltstore.Config{})
	record(t, s.Ledger(), newLetter("CV-1", 64, t0, "edge-a"))
	if _, err := s.Log().Append(ctxT(t), []byte("stray")); err != nil {
		t.Fatal(err)
	}
	if err := s.Ledger().Check(ctxT(t)); !errors.Is(err, boltstore.ErrCorrupt) || !strings.Contains(err.Error(), "leaf 1") {
		t.Fatalf("Check with a stray leaf: %v", err)
	}
}

// ledgerCrashDirEnv, when set, turns TestLedgerKill9Child into the child
// process of TestLedgerKill9.
const ledgerCrashDirEnv = "TRUC_LEDGER_CRASH_DIR"

// crashLetter is the letter goroutine g of the child records as its seq-th
// in round round: the parent rebuilds it to look for the one a goroutine
// may have had in flight when it was killed.
func crashLetter(round, g, seq int) letter {
	return newLetter(fmt.Sprintf("r%d-g%d-s%d", round, g, seq), 1<<10, t0.Add(time.Duration(seq)*time.Millisecond), "edge-a", "edge-b")
}

// TestLedgerKill9 runs a child process (this test binary) that records
// letters and their deliveries from four goroutines, printing each call
// the moment it returns, kills it with SIGKILL in the middle, and checks,
// twice over (the second child continues on the crashed file): every
// Record and Delivered that returned is there with its leaf; every log
// leaf belongs to an entry or a delivery and every one of those has its
// leaf (the log size is the number of leaves they refer to); Ledger.Check
// and Log.Check pass.
func TestLedgerKill9(t *testing.T) {
	if os.Getenv(ledgerCrashDirEnv) != "" {
		t.Skip("running as the child")
	}
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := t.TempDir()
	lastSeq := map[int][]int{} // round → goroutine → last seq it acknowledged (-1: none)
	for round := 1; round <= 2; round++ {
		recs, dels, seqs := runLedgerChild(t, dir, round)
		lastSeq[round] = seqs
		s, err := boltstore.Open(filepath.Join(dir, "axis.db"), boltstore.Config{})
		if err != nil {
			t.Fatalf("round %d: reopening after kill -9: %v", round, err)
		}
		lg := s.Ledger()
		for sha, leaf := range recs {
			e, err := lg.Get(ctxT(t), sha)
			if err != nil || e.Leaf != leaf {
				t.Fatalf("round %d: acknowledged Record %x: leaf %d, %v; want leaf %d", round, sha[:8], e.Leaf, err, leaf)
			}
		}
		for d, leaf := range dels {
			e, err := lg.Get(ctxT(t), d.sha)
			if err != nil {
				t.Fatalf("round %d: the entry of an acknowledged delivery: %v", round, err)
			}
			var r bus.Route
			for _, x := range e.Routes {
				if x.Edge == d.edge {
					r = x
				}
			}
			if r.State != bus.RouteDelivered || r.Leaf != leaf {
				t.Fatalf("round %d: acknowledged delivery %x→%s: route %+v, want delivered with leaf %d", round, d.sha[:8], d.edge, r, leaf)
			}
		}
		// Count the leaves of every entry the child may have written: those
		// it acknowledged and, per goroutine, the one it had in flight.
		var referenced int64
		for r := 1; r <= round; r++ {
			for g, last := range lastSeq[r] {
				for seq := 0; seq <= last+1; seq++ {
					l := crashLetter(r, g, seq)
					e, err := lg.Get(ctxT(t), l.e.SHA256)
					if errors.Is(err, bus.ErrNotFound) && seq == last+1 {
						continue
					}
					if err != nil {
						t.Fatalf("round %d: entry %s: %v", round, l.e.MessageID, err)
					}
					referenced++
					for _, x := range e.Routes {
						if x.Leaf >= 0 {
							referenced++
						}
					}
				}
			}
		}
		size, err := lg.Log().Size(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if size != referenced {
			t.Fatalf("round %d: the log has %d leaves; the entries and deliveries refer to %d", round, size, referenced)
		}
		if err := lg.Check(ctxT(t)); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if err := s.Log().Check(ctxT(t), nil); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		t.Logf("round %d: %d leaves, %d records and %d deliveries acknowledged", round, size, len(recs), len(dels))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

type delivery struct {
	sha  [32]byte
	edge string
}

// runLedgerChild starts the child, lets it work until it acknowledged
// 1500 calls, kills it and returns what it acknowledged: records (SHA-256
// → leaf), deliveries (→ leaf) and the last seq of each goroutine.
func runLedgerChild(t *testing.T, dir string, round int) (recs map[[32]byte]int64, dels map[delivery]int64, seqs []int) {
	t.Helper()
	recs, dels = map[[32]byte]int64{}, map[delivery]int64{}
	seqs = []int{-1, -1, -1, -1}
	killChild(t, "TestLedgerKill9Child", ledgerCrashDirEnv, dir, round, 1500, 60*time.Second, func(line string) (int, error) {
		// "rec <g> <seq> <sha hex> <leaf>" or "del <sha hex> <edge> <leaf>"
		f := strings.Fields(line)
		switch {
		case len(f) == 5 && f[0] == "rec":
			g, err1 := strconv.Atoi(f[1])
			seq, err2 := strconv.Atoi(f[2])
			sha, err3 := hex.DecodeString(f[3])
			leaf, err4 := strconv.ParseInt(f[4], 10, 64)
			if errors.Join(err1, err2, err3, err4) != nil || len(sha) != 32 || g < 0 || g >= len(seqs) {
				return 0, fmt.Errorf("bad line %q", line)
			}
			recs[[32]byte(sha)] = leaf
			seqs[g] = max(seqs[g], seq)
		case len(f) == 4 && f[0] == "del":
			sha, err1 := hex.DecodeString(f[1])
			leaf, err2 := strconv.ParseInt(f[3], 10, 64)
			if errors.Join(err1, err2) != nil || len(sha) != 32 {
				return 0, fmt.Errorf("bad line %q", line)
			}
			dels[delivery{[32]byte(sha), f[2]}] = leaf
		default:
			return 0, nil
		}
		return 1, nil
	})
	return recs, dels, seqs
}

// TestLedgerKill9Child is the child of TestLedgerKill9; without
// ledgerCrashDirEnv it skips.
func TestLedgerKill9Child(t *testing.T) {
	dir := os.Getenv(ledgerCrashDirEnv)
	if dir == "" {
		t.Skip("only runs as the child process of TestLedgerKill9")
	}
	round, _ := strconv.Atoi(os.Getenv("TRUC_CRASH_ROUND"))
	s, err := boltstore.Open(filepath.Join(dir, "axis.db"), boltstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	lg := s.Ledger()
	ctx := context.Background()
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	say := func(format string, args ...any) { // one write per line
		mu.Lock()
		fmt.Fprintf(w, format, args...)
		w.Flush()
		mu.Unlock()
	}
	die := func(what string, err error) {
		fmt.Fprintln(os.Stderr, what+":", err)
		os.Exit(3)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for seq := 0; ; seq++ {
				l := crashLetter(round, g, seq)
				e, created, err := lg.Record(ctx, l.e, l.pkg, l.ev)
				if err != nil || !created {
					die("record", fmt.Errorf("created=%t, %v", created, err))
				}
				say("rec %d %d %x %d\n", g, seq, l.e.SHA256, e.Leaf)
				edges := []string{"edge-a", "edge-b"}[:1+seq%2]
				for _, edge := range edges {
					at := t0.Add(time.Duration(seq) * time.Second)
					e, err := lg.Delivered(ctx, l.e.SHA256, edge, l.delivered(edge, at), at)
					if err != nil {
						die("delivered", err)
					}
					for _, r := range e.Routes {
						if r.Edge == edge {
							say("del %x %s %d\n", l.e.SHA256, edge, r.Leaf)
						}
					}
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkLedger measures a durable Record of a 5 KiB package, alone and
// followed by its Delivered, against a baseline run alternately in the
// same loop: a bare bbolt Update (two fdatasyncs) putting the same package
// bytes under its SHA-256. With 8 writers each side runs 8 goroutines, 10
// calls each, per round; the store batches what arrives while it syncs,
// bare bbolt commits each Update on its own.
//
//	go test ./adapters/boltstore -run '^$' -bench Ledger -benchtime 2s -count 3
func BenchmarkLedger(b *testing.B) {
	const pkgSize = 5 << 10
	var seq atomic.Int64
	next := func() letter {
		n := seq.Add(1)
		return newLetter(fmt.Sprintf("CV-%d", n), pkgSize, t0.Add(time.Duration(n)*time.Millisecond), "edge-a")
	}
	for _, op := range []string{"Record", "Record+Delivered"} {
		for _, writers := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/writers=%d", op, writers), func(b *testing.B) {
				db, s := bareDB(b), benchStore(b)
				lg := s.Ledger()
				calls := 1
				if writers > 1 {
					calls = 10
				}
				round := func(call func() error) {
					var wg sync.WaitGroup
					for range writers {
						wg.Go(func() {
							for range calls {
								if err := call(); err != nil {
									b.Error(err)
									return
								}
							}
						})
					}
					wg.Wait()
				}
				var p pair
				for b.Loop() {
					p.time(&p.base, func() {
						round(func() error {
							l := next()
							return db.Update(func(tx *bolt.Tx) error {
								return tx.Bucket([]byte("leaves")).Put(l.e.SHA256[:], l.pkg)
							})
						})
					})
					p.time(&p.meas, func() {
						round(func() error {
							l := next()
							if _, _, err := lg.Record(context.Background(), l.e, l.pkg, l.ev); err != nil {
								return err
							}
							if op == "Record" {
								return nil
							}
							at := l.e.At.Add(time.Second)
							_, err := lg.Delivered(context.Background(), l.e.SHA256, "edge-a", l.delivered("edge-a", at), at)
							return err
						})
					})
				}
				p.report(b, "letters", float64(writers*calls))
				st := s.CommitStats()
				b.ReportMetric(float64(st.Requests)/float64(max(1, st.Commits)), "requests/commit")
			})
		}
	}
}
