package boltstore_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

// openEdge opens a store at path and returns its edge store; at the end
// of the test the store must pass Check.
func openEdge(t *testing.T, path string) (*boltstore.Store, *boltstore.EdgeStore) {
	t.Helper()
	s := open(t, path, boltstore.Config{})
	es := s.Edge()
	t.Cleanup(func() {
		if err := es.Check(context.Background()); err != nil && !errors.Is(err, boltstore.ErrClosed) {
			t.Errorf("Check at the end of the test: %v", err)
		}
	})
	return s, es
}

func TestEdgeStore(t *testing.T) {
	bustest.TestEdgeStore(t, func(t *testing.T) bus.EdgeStore {
		_, es := openEdge(t, filepath.Join(t.TempDir(), "edge.db"))
		return es
	})
}

// Fixtures of this file's own tests.

var edgeT0 = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

func edgeRootKey(t testing.TB, doc string) string {
	k, err := bus.RootKey("000.00.00.G22", doc)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// edgePackage is size bytes distinct per tag.
func edgePackage(tag string, size int) []byte {
	b := bytes.Repeat([]byte{0xa5}, max(size, len(tag)+1))
	copy(b, tag+"\x00")
	return b
}

func edgeDocument(t testing.TB, id string, size int) bus.OutboxEntry {
	pkg := edgePackage("document "+id, size)
	return bus.OutboxEntry{
		Message: bus.Message{
			ID: id, Type: bus.TypeDocument, Key: edgeRootKey(t, "doc-"+id), Sender: "000.00.00.G22",
			Recipients: []string{"000.00.00.H41"}, SHA256: sha256.Sum256(pkg), Package: pkg,
		},
		CreatedAt: edgeT0,
	}
}

func edgeStatus01(t testing.TB, id, inboxID string) bus.OutboxEntry {
	return edgeStatus01From(t, id, inboxID, "000.00.00.G22")
}

// edgeStatus01From is a status 01 from sender, one of the incoming items'
// recipients (edgeIncoming).
func edgeStatus01From(t testing.TB, id, inboxID, sender string) bus.OutboxEntry {
	pkg := edgePackage("status "+id, 1<<10)
	return bus.OutboxEntry{
		Message: bus.Message{
			ID: id, Type: bus.TypeStatus, Key: edgeRootKey(t, "incoming"), Sender: sender,
			Recipients: []string{"000.00.00.H41"}, SHA256: sha256.Sum256(pkg), Package: pkg,
			Attrs: map[string]string{bus.AttrStatus: "01"},
		},
		InboxID:   inboxID,
		CreatedAt: edgeT0,
	}
}

func edgeIncoming(t testing.TB, tag string, size int) (bus.InboxItem, []byte) {
	pkg := edgePackage("incoming "+tag, size)
	return bus.InboxItem{
		SHA256: sha256.Sum256(pkg), MessageID: "in." + tag, Type: bus.TypeDocument, Key: edgeRootKey(t, "in-"+tag),
		Sender: "000.00.00.H41", Recipients: []string{"000.00.00.G22", "000.00.01.G22"}, ReceivedAt: edgeT0,
	}, pkg
}

// TestEdgeReopen: after a clean restart every entry, item, timeline and
// index is there, and Seq continues after the last one.
func TestEdgeReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	s, es := openEdge(t, path)
	ctx := ctxT(t)
	var items []bus.InboxItem
	for i := range 5 {
		it, pkg := edgeIncoming(t, fmt.Sprint(i), 2<<10)
		stored, _, err := es.Receive(ctx, it, pkg, nil)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, stored)
	}
	doc := edgeDocument(t, "m1", 5<<10)
	doc.Client, doc.IdempotencyKey, doc.InputSHA256 = "dms", "k1", sha256.Sum256([]byte("input"))
	for _, e := range []bus.OutboxEntry{doc, edgeDocument(t, "m2", 100), edgeDocument(t, "m3", 100)} {
		if _, _, err := es.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := es.MarkSent(ctx, []string{"m2"}, edgeT0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	ev := bus.TimelineEvent{Kind: bus.TimelineAccepted, At: edgeT0, SHA256: hex.EncodeToString(doc.Message.SHA256[:])}
	if err := es.Settle(ctx, doc.Message.SHA256, ev, edgeT0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := es.Take(ctx, items[1].ID, bus.Taking{At: edgeT0.Add(3 * time.Minute), Statuses: []bus.OutboxEntry{edgeStatus01(t, "s01", "")}}); err != nil {
		t.Fatal(err)
	}
	before := edgeSnapshot(t, es)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	_, es = openEdge(t, path)
	if after := edgeSnapshot(t, es); after != before {
		t.Fatalf("after reopen:\n%s\nbefore:\n%s", after, before)
	}
	if e, err := es.ByIdempotencyKey(ctx, "dms", "k1"); err != nil || e.Message.ID != "m1" {
		t.Fatalf("ByIdempotencyKey after reopen = %s, %v", e.Message.ID, err)
	}
	it, pkg := edgeIncoming(t, "after", 100)
	stored, created, err := es.Receive(ctx, it, pkg, nil)
	if err != nil || !created || stored.Seq != items[4].Seq+1 {
		t.Fatalf("Receive after reopen = Seq %d created %v, %v; want Seq %d", stored.Seq, created, err, items[4].Seq+1)
	}
}

// edgeSnapshot renders everything the edge store returns, for comparing
// before and after a restart.
func edgeSnapshot(t *testing.T, es *boltstore.EdgeStore) string {
	t.Helper()
	ctx := ctxT(t)
	var b strings.Builder
	items, err := es.Inbox(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		_, pkg, err := es.Item(ctx, it.ID)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "item %d %s %s taken=%s 01=%s pkg=%x\n", it.Seq, it.ID, it.MessageID, it.TakenAt.UTC(), it.Status01, sha256.Sum256(pkg))
	}
	last, err := es.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "last seq %d\n", last)
	for _, id := range []string{"m1", "m2", "m3", "s01"} {
		e, err := es.Sent(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "entry %s attempts=%d sent=%s settled=%s inbox=%s idem=%s/%s pkg=%x timeline=%d\n", e.Message.ID, e.Attempts,
			e.SentAt.UTC(), e.Settled.UTC(), e.InboxID, e.Client, e.IdempotencyKey, sha256.Sum256(e.Message.Package), len(e.Timeline))
	}
	due, err := es.Unsettled(ctx, edgeT0.Add(time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range due {
		fmt.Fprintf(&b, "due %s\n", e.Message.ID)
	}
	return b.String()
}

// TestEdgeUnsettledBudget: Unsettled stops once the packages it loaded
// reach UnsettledBudget, and always returns at least one entry.
func TestEdgeUnsettledBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 80 MiB")
	}
	_, es := openEdge(t, filepath.Join(t.TempDir(), "edge.db"))
	const size = 16 << 20
	n := boltstore.UnsettledBudget/size + 1
	for i := range n {
		if _, _, err := es.Put(ctxT(t), edgeDocument(t, fmt.Sprintf("big%d", i), size)); err != nil {
			t.Fatal(err)
		}
	}
	due, err := es.Unsettled(ctxT(t), edgeT0.Add(time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != n-1 {
		t.Fatalf("Unsettled loaded %d entries of %d bytes, want %d (budget %d bytes)", len(due), size, n-1, boltstore.UnsettledBudget)
	}
}

// TestEdgeCheckDetectsDamage: Check finds each kind of inconsistency
// planted behind the store's back.
func TestEdgeCheckDetectsDamage(t *testing.T) {
	cases := []struct {
		name string
		want string
		harm func(t *testing.T, tx *bolt.Tx)
	}{
		{"missing-unsettled", "edge.outbox.due has", func(t *testing.T, tx *bolt.Tx) {
			c := tx.Bucket([]byte("edge.outbox.due")).Cursor()
			if k, _ := c.First(); k == nil {
				t.Fatal("no unsettled entry")
			}
			if err := c.Delete(); err != nil {
				t.Fatal(err)
			}
		}},
		{"stray-sha-index", "edge.outbox.sha", func(t *testing.T, tx *bolt.Tx) {
			if err := tx.Bucket([]byte("edge.outbox.sha")).Put(make([]byte, 32), []byte("m1")); err != nil {
				t.Fatal(err)
			}
		}},
		{"changed-package", "do not hash", func(t *testing.T, tx *bolt.Tx) {
			if err := tx.Bucket([]byte("edge.outbox.pkg")).Put([]byte("m1"), []byte("other bytes")); err != nil {
				t.Fatal(err)
			}
		}},
		{"answered-without-01", "not a status 01 for it", func(t *testing.T, tx *bolt.Tx) {
			if err := tx.Bucket([]byte("edge.outbox")).Delete([]byte("s01")); err != nil {
				t.Fatal(err)
			}
			if err := tx.Bucket([]byte("edge.outbox.pkg")).Delete([]byte("s01")); err != nil {
				t.Fatal(err)
			}
		}},
		{"duplicate-event", "holds an event twice", func(t *testing.T, tx *bolt.Tx) {
			b := tx.Bucket([]byte("edge.outbox.events"))
			k, v := b.Cursor().First()
			k = bytes.Clone(k)
			k[len(k)-1]++
			if err := b.Put(k, bytes.Clone(v)); err != nil {
				t.Fatal(err)
			}
		}},
		{"inbox-id-index", "edge.inbox.id", func(t *testing.T, tx *bolt.Tx) {
			c := tx.Bucket([]byte("edge.inbox.id")).Cursor()
			c.First()
			if err := c.Delete(); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "edge.db")
			s := open(t, path, boltstore.Config{})
			es := s.Edge()
			doc := edgeDocument(t, "m1", 100)
			doc.Timeline = []bus.TimelineEvent{{Kind: bus.TimelineSubmitted, At: edgeT0, SHA256: hex.EncodeToString(doc.Message.SHA256[:])}}
			if _, _, err := es.Put(ctxT(t), doc); err != nil {
				t.Fatal(err)
			}
			it, pkg := edgeIncoming(t, "a", 100)
			in, _, err := es.Receive(ctxT(t), it, pkg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := es.Take(ctxT(t), in.ID, bus.Taking{At: edgeT0, Statuses: []bus.OutboxEntry{edgeStatus01(t, "s01", in.ID)}}); err != nil {
				t.Fatal(err)
			}
			if err := es.Check(ctxT(t)); err != nil {
				t.Fatalf("Check before the damage: %v", err)
			}
			db := rawDB(t, s)
			if err := db.Update(func(tx *bolt.Tx) error { c.harm(t, tx); return nil }); err != nil {
				t.Fatal(err)
			}
			db.Close()
			s = open(t, path, boltstore.Config{})
			err = s.Edge().Check(ctxT(t))
			if !errors.Is(err, boltstore.ErrCorrupt) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Check: %v; want ErrCorrupt with %q", err, c.want)
			}
		})
	}
}

// TestEdgeRefusalsWrapErrInvalid: input errors wrap ErrInvalid and, for
// message fields, the *bus.MessageError.
func TestEdgeRefusalsWrapErrInvalid(t *testing.T) {
	_, es := openEdge(t, filepath.Join(t.TempDir(), "edge.db"))
	bad := edgeDocument(t, "m1", 100)
	bad.Message.Recipients = []string{"000.00.00.H41", "000.00.00.H41"}
	_, _, err := es.Put(ctxT(t), bad)
	var me *bus.MessageError
	if !errors.Is(err, boltstore.ErrInvalid) || !errors.As(err, &me) || me.Field != "Recipients[1]" || me.Reason != bus.ReasonDuplicate {
		t.Fatalf("Put with a duplicate recipient: %v", err)
	}
	it, pkg := edgeIncoming(t, "a", 100)
	it.MessageID = "bad id"
	_, _, err = es.Receive(ctxT(t), it, pkg, nil)
	if !errors.Is(err, boltstore.ErrInvalid) || !errors.As(err, &me) || me.Field != "MessageID" {
		t.Fatalf("Receive with a bad message ID: %v", err)
	}
	err = es.MarkSent(ctxT(t), []string{"m1"}, time.Time{})
	if !errors.Is(err, boltstore.ErrInvalid) || !strings.Contains(err.Error(), "at:") {
		t.Fatalf("MarkSent at the zero time: %v", err)
	}
}

// edgeCrashDirEnv, when set, turns TestEdgeKill9Child into the child
// process of TestEdgeKill9.
const edgeCrashDirEnv = "TRUC_BOLTSTORE_EDGE_CRASH_DIR"

// TestEdgeKill9 runs a child process (this test binary) that puts
// documents, receives items and takes them with their statuses 01 from
// four goroutines, printing each call the moment it returns, and kills it
// with SIGKILL in the middle; twice over on the same file. After each
// kill: every acknowledged Put, Receive and Take is there; no item is
// answered with a 01 that is missing (Check); sequence numbers are unique
// and keep growing across the crashes.
func TestEdgeKill9(t *testing.T) {
	if os.Getenv(edgeCrashDirEnv) != "" {
		t.Skip("running as the child")
	}
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "edge.db")
	seqOwner := map[uint64]string{} // item seq → item ID, over both rounds
	var lastRound uint64
	for round := 1; round <= 2; round++ {
		acked := runEdgeChild(t, dir, round)
		s := open(t, path, boltstore.Config{})
		es := s.Edge()
		ctx := ctxT(t)
		if err := es.Check(ctx); err != nil {
			t.Fatalf("round %d: after kill -9: %v", round, err)
		}
		for id, sha := range acked.puts {
			e, err := es.Sent(ctx, id)
			if err != nil || e.Message.SHA256 != sha {
				t.Fatalf("round %d: acknowledged Put %s: %v (SHA-256 %x, want %x)", round, id, err, e.Message.SHA256[:4], sha[:4])
			}
		}
		var minSeq uint64 = 1 << 63
		for id, seq := range acked.receives {
			it, _, err := es.Item(ctx, id)
			if err != nil || it.Seq != seq {
				t.Fatalf("round %d: acknowledged Receive %s (Seq %d): Seq %d, %v", round, id, seq, it.Seq, err)
			}
			if owner, dup := seqOwner[seq]; dup && owner != id {
				t.Fatalf("round %d: Seq %d given to %s and %s", round, seq, owner, id)
			}
			seqOwner[seq] = id
			minSeq = min(minSeq, seq)
		}
		if minSeq <= lastRound {
			t.Fatalf("round %d: Seq %d is not after the previous round's %d", round, minSeq, lastRound)
		}
		for id, st := range acked.takes {
			it, _, err := es.Item(ctx, id)
			if err != nil || it.Status01 != st || it.TakenAt.IsZero() {
				t.Fatalf("round %d: acknowledged Take of %s with 01 %s: Status01 %q TakenAt %v, %v", round, id, st, it.Status01, it.TakenAt, err)
			}
			if _, err := es.Sent(ctx, st); err != nil {
				t.Fatalf("round %d: the 01 %s of %s: %v", round, st, id, err)
			}
		}
		all, err := es.Inbox(ctx, 0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(all); i++ {
			if all[i].Seq <= all[i-1].Seq {
				t.Fatalf("round %d: inbox Seq %d after %d", round, all[i].Seq, all[i-1].Seq)
			}
		}
		lastRound, err = es.LastSeq(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: %d puts, %d receives, %d takes acknowledged; inbox has %d items", round, len(acked.puts), len(acked.receives), len(acked.takes), len(all))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

type edgeAcks struct {
	puts     map[string][32]byte // message ID → package SHA-256
	receives map[string]uint64   // item ID → Seq
	takes    map[string]string   // item ID → Status01
}

// runEdgeChild starts the child, lets it work until it has acknowledged
// 300 calls, kills it with SIGKILL and returns what it acknowledged.
func runEdgeChild(t *testing.T, dir string, round int) edgeAcks {
	t.Helper()
	acked := edgeAcks{puts: map[string][32]byte{}, receives: map[string]uint64{}, takes: map[string]string{}}
	killChild(t, "TestEdgeKill9Child", edgeCrashDirEnv, dir, round, 300, 90*time.Second, func(line string) (int, error) {
		f := strings.Fields(line)
		if len(f) != 3 {
			return 0, nil
		}
		switch f[0] {
		case "put":
			var sha [32]byte
			if _, err := hex.Decode(sha[:], []byte(f[2])); err != nil {
				return 0, fmt.Errorf("bad line %q", line)
			}
			acked.puts[f[1]] = sha
		case "recv":
			seq, err := strconv.ParseUint(f[2], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("bad line %q", line)
			}
			acked.receives[f[1]] = seq
		case "take":
			acked.takes[f[1]] = f[2]
		default:
			return 0, nil
		}
		return 1, nil
	})
	return acked
}

// TestEdgeKill9Child is the child of TestEdgeKill9; without
// edgeCrashDirEnv it skips.
func TestEdgeKill9Child(t *testing.T) {
	dir := os.Getenv(edgeCrashDirEnv)
	if dir == "" {
		t.Skip("only runs as the child process of TestEdgeKill9")
	}
	s, err := boltstore.Open(filepath.Join(dir, "edge.db"), boltstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	es := s.Edge()
	ctx := context.Background()
	round := os.Getenv("TRUC_CRASH_ROUND")

	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	ack := func(format string, args ...any) {
		line := fmt.Appendf(nil, format+"\n", args...)
		mu.Lock()
		w.Write(line) // one write per line, so that a kill never splits one
		w.Flush()
		mu.Unlock()
	}
	fail := func(what string, err error) {
		fmt.Fprintln(os.Stderr, what+":", err)
		os.Exit(3)
	}
	var published atomic.Int64
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for n := 0; ; n++ {
				tag := fmt.Sprintf("r%s-g%d-n%d", round, g, n)
				doc := edgeDocument(t, "m-"+tag, 1<<10+n)
				if _, _, err := es.Put(ctx, doc); err != nil {
					fail("put", err)
				}
				ack("put %s %x", doc.Message.ID, doc.Message.SHA256)

				it, pkg := edgeIncoming(t, tag, 2<<10)
				stored, _, err := es.Receive(ctx, it, pkg, nil)
				if err != nil {
					fail("receive", err)
				}
				ack("recv %s %d", stored.ID, stored.Seq)

				// Publish and settle some, so that the unsettled index moves.
				if published.Add(1)%3 == 0 {
					if err := es.MarkSent(ctx, []string{doc.Message.ID}, time.Now()); err != nil {
						fail("mark sent", err)
					}
				}
				if n%2 == 0 {
					ev := bus.TimelineEvent{Kind: bus.TimelineAccepted, At: time.Now(), SHA256: hex.EncodeToString(doc.Message.SHA256[:])}
					if err := es.Settle(ctx, doc.Message.SHA256, ev, time.Now()); err != nil {
						fail("settle", err)
					}
				}

				sts := []bus.OutboxEntry{edgeStatus01(t, "s01a-"+tag, stored.ID), edgeStatus01From(t, "s01b-"+tag, stored.ID, "000.00.01.G22")}
				taken, err := es.Take(ctx, stored.ID, bus.Taking{At: time.Now(), Statuses: sts})
				if err != nil {
					fail("take", err)
				}
				ack("take %s %s", taken.ID, taken.Status01)
			}
		})
	}
	wg.Wait()
}

// ---------------------------------------------------------------------------
// Benchmarks

const edgeBenchSize = 5 << 10

// BenchmarkEdge measures durable Put and Receive of 5 KiB packages against
// a baseline run alternately in the same loop: a bare bbolt Update (two
// fdatasyncs) putting the same package bytes under a sequential key. With
// 8 writers, one operation is a round of 8 writers × 10 calls, and the
// baseline gives each writer's Update its own commit, as bare bbolt does.
//
//	go test ./adapters/boltstore -run '^$' -bench Edge -benchtime 200x -count 3
func BenchmarkEdge(b *testing.B) {
	ops := []struct {
		name string
		// prepare builds the call for the i-th operation (outside the
		// timing: generating distinct packages hashes them).
		prepare func(b *testing.B, es *boltstore.EdgeStore, i int) (pkg []byte, call func() error)
	}{
		{"Put", func(b *testing.B, es *boltstore.EdgeStore, i int) ([]byte, func() error) {
			e := edgeDocument(b, fmt.Sprintf("m%d", i), edgeBenchSize)
			e.Timeline = []bus.TimelineEvent{{Kind: bus.TimelineSubmitted, At: edgeT0, SHA256: hex.EncodeToString(e.Message.SHA256[:]), MessageID: e.Message.ID}}
			return e.Message.Package, func() error { _, _, err := es.Put(context.Background(), e); return err }
		}},
		{"Receive", func(b *testing.B, es *boltstore.EdgeStore, i int) ([]byte, func() error) {
			it, pkg := edgeIncoming(b, strconv.Itoa(i), edgeBenchSize)
			return pkg, func() error { _, _, err := es.Receive(context.Background(), it, pkg, nil); return err }
		}},
	}
	for _, op := range ops {
		b.Run(op.name+"/writers=1", func(b *testing.B) {
			db, s := bareDB(b), benchEdgeStore(b)
			es := s.Edge()
			var n uint64
			var p pair
			for b.Loop() {
				n++
				pkg, call := op.prepare(b, es, int(n))
				p.time(&p.base, func() {
					if err := db.Update(func(tx *bolt.Tx) error {
						return tx.Bucket([]byte("leaves")).Put(u64(n), pkg)
					}); err != nil {
						b.Fatal(err)
					}
				})
				p.time(&p.meas, func() {
					if err := call(); err != nil {
						b.Fatal(err)
					}
				})
			}
			p.report(b, "ops", 1)
		})
		const writers, calls = 8, 10
		b.Run(op.name+"/writers=8", func(b *testing.B) {
			db, s := bareDB(b), benchEdgeStore(b)
			es := s.Edge()
			var n uint64
			var p pair
			round := func(work [][]func() error) {
				var wg sync.WaitGroup
				for _, w := range work {
					wg.Go(func() {
						for _, call := range w {
							if err := call(); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
			}
			for b.Loop() {
				base := make([][]func() error, writers)
				meas := make([][]func() error, writers)
				for w := range writers {
					for range calls {
						n++
						key := u64(n)
						pkg, call := op.prepare(b, es, int(n))
						base[w] = append(base[w], func() error {
							return db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("leaves")).Put(key, pkg) })
						})
						meas[w] = append(meas[w], call)
					}
				}
				p.time(&p.base, func() { round(base) })
				p.time(&p.meas, func() { round(meas) })
			}
			p.report(b, "ops", writers*calls)
			st := s.CommitStats()
			b.ReportMetric(float64(st.Requests)/float64(max(1, st.Commits)), "requests/commit")
		})
	}
}

func benchEdgeStore(b *testing.B) *boltstore.Store {
	s, err := boltstore.Open(filepath.Join(b.TempDir(), "edge.db"), boltstore.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}
