package dashboard

import (
	"container/heap"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"truc.vn/truc/bus"
)

// The query benchmark: a dashboard file seeded with a million letters
// through the indexer (synthetic events of a realistic shape, applied with
// the indexer's own batch code), then every page's API call timed through
// the HTTP handler, as the browser makes it.
//
//	go test -run '^$' -bench BenchmarkDashboard -benchtime 200x -timeout 60m ./adapters/dashboard/
//
// TRUC_DASHBOARD_BENCH_LETTERS changes the number of letters (default
// 1,000,000); TRUC_DASHBOARD_BENCH_DB keeps the seeded file at that path
// and reuses it on the next run.

const (
	benchAgencies = 2000
	benchEdges    = 64
	benchDays     = 60
)

var benchT0 = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

func benchOrgan(i int) string {
	return fmt.Sprintf("000.%02d.%02d.H%02d", i/1000, i/100%10*10+i%10, i/10%10+10)
}
func benchEdge(agency int) string { return fmt.Sprintf("edge-%02d", agency%benchEdges) }

// benchLetter is one synthetic letter, compactly.
type benchLetter struct {
	sender     int16
	recipients []int16
	at         int64
	due        bool
}

func (l *benchLetter) key(i int) string {
	return benchOrgan(int(l.sender)) + "/" + fmt.Sprintf("%s,%s,%d/UBND-VP", benchOrgan(int(l.sender)), time.Unix(0, l.at).UTC().Format("2006/01/02"), i)
}

// benchEvent is a future event of a letter, in a time-ordered heap.
type benchEvent struct {
	at        int64
	kind      byte // 'a' accepted, 'd' delivered, 's' status, 'n' notice, 'r' rejected, 'u' update
	letter    int32
	recipient int16
	code      string
}

type benchHeap []benchEvent

func (h benchHeap) Len() int           { return len(h) }
func (h benchHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h benchHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *benchHeap) Push(x any)        { *h = append(*h, x.(benchEvent)) }
func (h *benchHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// benchSeeder generates the events of n letters over benchDays days, in
// time order: per letter 1–63 recipients (mostly 1–3), a delivery per
// edge, a 01 from 92% of recipients after log-normal minutes, a 03 from
// 75% after hours, 1% declined, 0.1% refused by an edge, 0.3% recalled,
// 2% updated, and 1% of submissions rejected.
type benchSeeder struct {
	rng     *rand.Rand
	letters []benchLetter
	h       benchHeap
	n       int
	next    int // next letter to start
	leaf    int64
}

func newBenchSeeder(n int) *benchSeeder {
	return &benchSeeder{rng: rand.New(rand.NewPCG(11, 12)), letters: make([]benchLetter, n), n: n}
}

func (s *benchSeeder) recipientsCount() int {
	switch x := s.rng.Float64(); {
	case x < 0.5:
		return 1
	case x < 0.85:
		return 2 + s.rng.IntN(2)
	case x < 0.98:
		return 4 + s.rng.IntN(7)
	default:
		return 11 + s.rng.IntN(53)
	}
}

func (s *benchSeeder) lognormal(medianMin, sigma float64) int64 {
	return int64(math.Exp(math.Log(medianMin)+sigma*s.rng.NormFloat64()) * float64(time.Minute))
}

// startAt is when the axis accepts letter i: evenly over benchDays.
func (s *benchSeeder) startAt(i int) int64 {
	return benchT0.UnixNano() + int64(benchDays*24*time.Hour)/int64(s.n)*int64(i)
}

// start creates letter i and schedules its events.
func (s *benchSeeder) start(i int) {
	at := s.startAt(i)
	l := &s.letters[i]
	// Senders and recipients are skewed: a few agencies send and receive
	// much more than most.
	l.sender = int16(min(benchAgencies-1, int(math.Abs(s.rng.NormFloat64())*benchAgencies/3)))
	l.at, l.due = at, s.rng.IntN(5) == 0
	if s.rng.IntN(100) == 0 {
		heap.Push(&s.h, benchEvent{at: at, kind: 'r', letter: int32(i)})
		return
	}
	n := s.recipientsCount()
	seen := map[int16]bool{l.sender: true}
	for len(l.recipients) < n {
		r := int16(s.rng.IntN(benchAgencies))
		if !seen[r] {
			seen[r] = true
			l.recipients = append(l.recipients, r)
		}
	}
	heap.Push(&s.h, benchEvent{at: at, kind: 'a', letter: int32(i)})
	heap.Push(&s.h, benchEvent{at: at + int64(20*time.Millisecond), kind: 'd', letter: int32(i)})
	recalled := s.rng.IntN(1000) < 3
	refusedEdge := -1
	if s.rng.IntN(1000) == 0 {
		refusedEdge = int(l.recipients[0]) % benchEdges
		heap.Push(&s.h, benchEvent{at: at + int64(time.Second), kind: 'n', letter: int32(i), recipient: l.recipients[0]})
	}
	for _, r := range l.recipients {
		if int(r)%benchEdges == refusedEdge {
			continue
		}
		if s.rng.IntN(100) < 92 {
			t01 := at + s.lognormal(20, 1.2)
			heap.Push(&s.h, benchEvent{at: t01, kind: 's', letter: int32(i), recipient: r, code: "01"})
			switch x := s.rng.IntN(100); {
			case x < 1:
				heap.Push(&s.h, benchEvent{at: t01 + s.lognormal(60, 1), kind: 's', letter: int32(i), recipient: r, code: "02"})
			case x < 76:
				heap.Push(&s.h, benchEvent{at: t01 + s.lognormal(8*60, 1.3), kind: 's', letter: int32(i), recipient: r, code: "03"})
			}
		}
	}
	if recalled {
		heap.Push(&s.h, benchEvent{at: at + s.lognormal(60, 1), kind: 's', letter: int32(i), recipient: l.sender, code: "13"})
	}
	if s.rng.IntN(50) == 0 {
		heap.Push(&s.h, benchEvent{at: at + s.lognormal(120, 1), kind: 'u', letter: int32(i)})
	}
}

// nextFact returns the next event as a fact, false when all are done.
func (s *benchSeeder) nextFact() (fact, bool) {
	for s.next < s.n && (len(s.h) == 0 || s.h[0].at >= s.startAt(s.next)) {
		s.start(s.next)
		s.next++
	}
	if len(s.h) == 0 {
		return fact{}, false
	}
	e := heap.Pop(&s.h).(benchEvent)
	l := &s.letters[e.letter]
	key := l.key(int(e.letter))
	sender := benchOrgan(int(l.sender))
	when := time.Unix(0, e.at).UTC()
	sha := func(tag string) (h [32]byte) {
		binary.BigEndian.PutUint32(h[:], uint32(e.letter))
		h = sha256.Sum256(append(h[:4], tag...))
		return h
	}
	var recips []string
	var routes []bus.Route
	byEdge := map[string]int{}
	for _, r := range l.recipients {
		o, edge := benchOrgan(int(r)), benchEdge(int(r))
		recips = append(recips, o)
		j, ok := byEdge[edge]
		if !ok {
			j = len(routes)
			byEdge[edge] = j
			routes = append(routes, bus.Route{Edge: edge})
		}
		routes[j].Recipients = append(routes[j].Recipients, o)
	}
	f := fact{index: s.leaf, ok: true}
	s.leaf++
	entry := bus.Entry{Key: key, Type: bus.TypeDocument, Sender: sender, FromEdge: benchEdge(int(l.sender)), Routes: routes}
	switch e.kind {
	case 'a', 'u':
		f.ev = bus.Event{Kind: bus.EventSubmissionAccepted, Time: when, MessageID: fmt.Sprintf("m%d%c", e.letter, e.kind), PackageSHA256: sha(string(e.kind)), Sender: sender, Recipients: recips}
		if e.kind == 'a' {
			f.head = &header{Code: fmt.Sprintf("%d/UBND-VP", e.letter), Notation: "UBND-VP", Subject: "V/v triển khai nhiệm vụ số " + fmt.Sprint(e.letter), TypeName: "Công văn", SenderName: "Cơ quan " + sender}
			if l.due {
				f.head.DueDate = when.Add(72 * time.Hour).Format("2006/01/02")
				f.head.DueEnd = when.Add(96 * time.Hour).Truncate(24 * time.Hour)
			}
		}
	case 'r':
		f.ev = bus.Event{Kind: bus.EventSubmissionRejected, Time: when, MessageID: fmt.Sprintf("m%dr", e.letter), PackageSHA256: sha("r"), Sender: sender, Reason: []string{"revoked", "bad-signature", "unknown-recipient"}[e.letter%3]}
		entry.Routes, entry.Rejected = nil, f.ev.Reason
	case 'd':
		// One event per edge, as the axis appends them; the rest follow.
		f.ev = bus.Event{Kind: bus.EventDelivered, Time: when, MessageID: fmt.Sprintf("m%da", e.letter), PackageSHA256: sha("a"), Sender: sender, Edge: routes[0].Edge, Recipients: routes[0].Recipients}
		for _, rt := range routes[1:] {
			heap.Push(&s.h, benchEvent{at: e.at + 1, kind: 'D', letter: e.letter, recipient: int16(slices.IndexFunc(routes, func(x bus.Route) bool { return x.Edge == rt.Edge }))})
		}
	case 'D':
		rt := routes[e.recipient]
		f.ev = bus.Event{Kind: bus.EventDelivered, Time: when, MessageID: fmt.Sprintf("m%da", e.letter), PackageSHA256: sha("a"), Sender: sender, Edge: rt.Edge, Recipients: rt.Recipients}
	case 's':
		from := benchOrgan(int(e.recipient))
		to := []string{sender}
		if e.code == "13" {
			to = recips
		}
		f.ev = bus.Event{Kind: bus.EventStatus, Time: when, MessageID: fmt.Sprintf("s%d-%d-%s", e.letter, e.recipient, e.code), PackageSHA256: sha("s" + fmt.Sprint(e.recipient) + e.code), Sender: from, Recipients: to, StatusCode: e.code}
		entry.Type = bus.TypeStatus
	case 'n':
		edge := benchEdge(int(e.recipient))
		f.ev = bus.Event{Kind: bus.EventRejectionNotice, Time: when, MessageID: fmt.Sprintf("m%da", e.letter), PackageSHA256: sha("a"), Sender: sender, Edge: edge, Recipients: routes[byEdge[edge]].Recipients, Reason: "bad-signature"}
	}
	f.entry = &entry
	return f, true
}

// seedBench applies n synthetic letters to d through the indexer's batch
// code, in transactions of 20,000 events, and returns the events applied.
func seedBench(b *testing.B, d *Dashboard, n int) int64 {
	s := newBenchSeeder(n)
	d.db.NoSync = true
	defer func() { d.db.NoSync = false }()
	cfg := applyConfig{sla01: d.cfg.SLA01, sla03: d.cfg.SLA03}
	start := time.Now()
	done := false
	for !done {
		err := d.db.Update(func(tx *bolt.Tx) error {
			bt := newBatch(tx, cfg)
			for range 20_000 {
				f, ok := s.nextFact()
				if !ok {
					done = true
					break
				}
				if err := bt.apply(&f); err != nil {
					return err
				}
			}
			if err := bt.flush(); err != nil {
				return err
			}
			if err := tx.Bucket(bucketMeta).Put(keyLeaf, leafHash(benchLeaf)); err != nil {
				return err
			}
			return tx.Bucket(bucketMeta).Put(keyCursor, u64(s.leaf))
		})
		if err != nil {
			b.Fatal(err)
		}
		if s.next%100_000 < 2000 {
			b.Logf("seeded %d letters, %d events in %s", s.next, s.leaf, time.Since(start).Round(time.Second))
		}
	}
	if err := d.db.Sync(); err != nil {
		b.Fatal(err)
	}
	return s.leaf
}

// emptyLedger is a ledger without entries: the benchmark's letters exist
// only in the dashboard's aggregates (a letter page then shows no ledger
// timeline; BenchmarkLetterPage times that part on a real ledger). Its log
// claims to hold every leaf the seeding indexed, so that a seeded file
// passes Open's check and can be reused (TRUC_DASHBOARD_BENCH_DB).
type emptyLedger struct{ bus.Ledger }

type benchLog struct{ bus.Log }

var benchLeaf = []byte("bench")

func (emptyLedger) Log() bus.Log { return benchLog{} }
func (emptyLedger) ByKey(ctx context.Context, key string) ([]bus.Entry, error) {
	return nil, nil
}
func (benchLog) Size(ctx context.Context) (int64, error)           { return 1 << 40, nil }
func (benchLog) Leaf(ctx context.Context, i int64) ([]byte, error) { return benchLeaf, nil }

func BenchmarkDashboard(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("TRUC_DASHBOARD_BENCH_LETTERS"); v != "" {
		fmt.Sscan(v, &n)
	}
	path := os.Getenv("TRUC_DASHBOARD_BENCH_DB")
	if path == "" {
		path = filepath.Join(b.TempDir(), "dashboard.db")
	}
	_, statErr := os.Stat(path)
	now := benchT0.Add(benchDays * 24 * time.Hour)
	d, err := Open(Config{Path: path, Ledger: emptyLedger{}, Users: testUsers(b), Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	if statErr != nil {
		start := time.Now()
		events := seedBench(b, d, n)
		b.Logf("seeded %d letters (%d events) in %s", n, events, time.Since(start).Round(time.Second))
		st := time.Now()
		d.state.Cursor, d.state.LogSize = events, events
		if err := d.sweep(ctxT(b)); err != nil {
			b.Fatal(err)
		}
		b.Logf("first overdue sweep in %s", time.Since(st).Round(time.Millisecond))
	}
	if got := d.State().Cursor; got < int64(n) {
		b.Fatalf("the dashboard file holds %d events, fewer than %d letters", got, n)
	}
	if fi, err := os.Stat(path); err == nil {
		b.Logf("dashboard file: %d MiB", fi.Size()>>20)
	}
	_, token, _, err := d.auth.login("viewer", testPassword, "bench")
	if err != nil {
		b.Fatal(err)
	}
	h := d.Handler()
	get := func(b *testing.B, path string) {
		req := httptest.NewRequest("GET", path, nil)
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: token})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body.String())
		}
	}
	// Real keys, read back from the time index (a random day).
	var keys []string
	if err := d.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketTime).Cursor()
		for k, _ := c.Seek(u64(benchT0.Add(37 * 24 * time.Hour).UnixNano())); k != nil && len(keys) < 200; k, _ = c.Next() {
			keys = append(keys, string(k[8:]))
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	day := benchT0.Add(41 * 24 * time.Hour).Format("2006-01-02")
	queries := []struct {
		name  string
		paths func(i int) string
	}{
		{"overview", func(int) string { return "/dashboard/api/overview?hours=48" }},
		{"agencies-by-overdue", func(int) string { return "/dashboard/api/agencies?sort=overdue&order=desc&limit=100" }},
		{"agencies-by-median-01", func(int) string { return "/dashboard/api/agencies?sort=median_01_ms&order=desc&limit=100" }},
		{"agencies-filtered", func(int) string { return "/dashboard/api/agencies?q=H12&sort=sent" }},
		{"edges", func(int) string { return "/dashboard/api/edges?sort=await_01" }},
		{"search-document-id", func(i int) string {
			_, id, _ := cutRootKey(keys[i%len(keys)])
			return "/dashboard/api/search?document_id=" + url.QueryEscape(id)
		}},
		{"search-code", func(i int) string { return "/dashboard/api/search?code=" + fmt.Sprint(100+i%900) + "%2F" }},
		{"search-notation", func(int) string { return "/dashboard/api/search?code=UBND-VP" }},
		{"search-sender", func(i int) string { return "/dashboard/api/search?sender=" + benchOrgan(i%benchAgencies) }},
		{"search-recipient-day", func(i int) string {
			return "/dashboard/api/search?recipient=" + benchOrgan(i%benchAgencies) + "&from=" + day + "&to=" + day
		}},
		{"search-day", func(int) string { return "/dashboard/api/search?from=" + day + "&to=" + day }},
		{"search-sender-recipient", func(i int) string {
			return "/dashboard/api/search?sender=" + benchOrgan(i%50) + "&recipient=" + benchOrgan(1000+i%50)
		}},
		{"letter", func(i int) string { return "/dashboard/api/letter?key=" + url.QueryEscape(keys[i%len(keys)]) }},
	}
	for _, q := range queries {
		b.Run(q.name, func(b *testing.B) {
			var worst time.Duration
			for i := range b.N {
				st := time.Now()
				get(b, q.paths(i))
				worst = max(worst, time.Since(st))
			}
			b.ReportMetric(float64(worst.Microseconds())/1000, "max-ms")
		})
	}
	// The baseline: what answering the overview by reading every letter
	// once (no decoding) would cost, which the aggregates avoid.
	b.Run("baseline-scan-all-letters", func(b *testing.B) {
		for range b.N {
			count := 0
			if err := d.db.View(func(tx *bolt.Tx) error {
				return tx.Bucket(bucketLetters).ForEach(func(k, v []byte) error { count++; return nil })
			}); err != nil {
				b.Fatal(err)
			}
			if count < n*98/100 {
				b.Fatalf("%d letters", count)
			}
		}
	})
}

func cutRootKey(k string) (string, string, bool) {
	for i := 0; i < len(k); i++ {
		if k[i] == '/' {
			return k[:i], k[i+1:], true
		}
	}
	return "", "", false
}

// BenchmarkLetterPage times one letter's page on a real ledger (boltstore):
// the dashboard's records plus the ledger's ByKey and bus.Timeline, for a
// letter to 63 recipients with a 01 and a 03 from each. ByKey is an index
// seek, so the size of the rest of the ledger does not change it.
func BenchmarkLetterPage(b *testing.B) {
	w := newWorld(b)
	var to []string
	for i := 0; len(to) < 63; i++ {
		w.edgeOf[fmt.Sprintf("000.01.%02d.H%02d", i%100, 10+i/100)] = []string{"vpcp", "hanoi", "tayninh"}[i%3]
		to = append(to, fmt.Sprintf("000.01.%02d.H%02d", i%100, 10+i/100))
	}
	l := w.send(organ(0, 0), to, "63", "", at(0))
	w.deliver(l, at(0.1))
	for i, r := range to {
		w.status(l, r, "01", at(1+float64(i)/10))
		w.status(l, r, "03", at(100+float64(i)/10))
	}
	d := w.open(filepath.Join(b.TempDir(), "dashboard.db"), &clock{now: at(200)}, func(c *Config) { c.Batch = 1000 })
	defer d.Close()
	mustSync(b, d)
	b.Run("baseline-ledger-bykey", func(b *testing.B) {
		for range b.N {
			if e, err := w.ledger.ByKey(ctxT(b), l.key); err != nil || len(e) != 1+2*63 {
				b.Fatalf("%v, %d entries", err, len(e))
			}
		}
	})
	b.Run("page", func(b *testing.B) {
		for range b.N {
			v, err := d.Letter(ctxT(b), l.key)
			if err != nil || len(v.Recipients) != 63 || len(v.Recipients[0].Events) < 4 {
				b.Fatalf("%v, %d recipients", err, len(v.Recipients))
			}
		}
	})
}

// BenchmarkIndexer times the indexer over a real ledger (boltstore) of
// real edXML letters: a first start (Sync from an empty file) over 1,000
// letters to 1–3 recipients, each delivered, with a 01 from every
// recipient and a 03 from most. The baseline reads the same leaves and
// decodes them, the floor of any indexer of this log.
func BenchmarkIndexer(b *testing.B) {
	w := newWorld(b)
	tr := newTraffic(w, rand.New(rand.NewPCG(21, 22)))
	for i := range 1000 {
		l := w.send(tr.organs[i%len(tr.organs)], []string{tr.organs[(i+1)%len(tr.organs)], tr.organs[(i+5)%len(tr.organs)]}[:1+i%2], fmt.Sprint(i), "", at(float64(i)))
		w.deliver(l, at(float64(i)+0.1))
		for _, r := range l.recipients {
			w.status(l, r, "01", at(float64(i)+0.5))
			if i%4 != 0 {
				w.status(l, r, "03", at(float64(i)+0.7))
			}
		}
	}
	size, err := w.ledger.Log().Size(ctxT(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("baseline-read-and-decode", func(b *testing.B) {
		for range b.N {
			for i := range size {
				leaf, err := w.ledger.Log().Leaf(ctxT(b), i)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := bus.DecodeEvent(leaf); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(size*int64(b.N))/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("sync-from-empty", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			d := w.open(filepath.Join(b.TempDir(), "dashboard.db"), &clock{now: at(2000)}, func(c *Config) { c.Batch = DefaultBatch })
			b.StartTimer()
			mustSync(b, d)
			b.StopTimer()
			if st := d.State(); st.Cursor != size {
				b.Fatalf("cursor %d of %d", st.Cursor, size)
			}
			d.Close()
			b.StartTimer()
		}
		b.ReportMetric(float64(size*int64(b.N))/b.Elapsed().Seconds(), "events/s")
	})
}
