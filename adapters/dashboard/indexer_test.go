package dashboard

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"truc.vn/truc/bus"
	"truc.vn/truc/edoc"
)

// scenario fills w with a small exchange whose figures are worked out by
// hand in TestIndexerScenario.
type scenario struct {
	l1, l2, l3, l4, upd sent
}

func fillScenario(w *world) scenario {
	var s scenario
	s.l1 = w.send(organ(0, 0), []string{organ(1, 0), organ(1, 1), organ(2, 0)}, "1", "", at(0))
	w.deliver(s.l1, at(0.1))
	s.l2 = w.send(organ(1, 2), []string{organ(0, 1)}, "2", "2026/03/02", at(1))
	w.deliver(s.l2, at(1.1))
	s.l3 = w.send(organ(0, 0), []string{organ(2, 1), organ(2, 2)}, "3", "", at(2))
	w.refuse(s.l3, "tayninh", []string{organ(2, 1), organ(2, 2)}, "bad-signature", at(3))
	s.l4 = w.send(organ(0, 0), []string{organ(1, 3)}, "4", "", at(4))
	w.status(s.l1, organ(1, 0), "01", at(5))
	w.status(s.l4, organ(0, 0), "13", at(6))
	w.reject(organ(2, 3), "X1", "revoked", true, at(7))
	w.reject(organ(0, 2), "Y1", "bad-signature", false, at(8))
	w.status(s.l1, organ(1, 1), "01", at(10))
	w.status(s.l2, organ(0, 1), "02", at(20))
	w.status(s.l1, organ(1, 0), "03", at(30))
	s.upd = w.update(s.l1, []string{organ(1, 0), organ(2, 4)}, at(40))
	return s
}

func mustSync(t testing.TB, d *Dashboard) {
	t.Helper()
	if err := d.Sync(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

func overview(t testing.TB, d *Dashboard) Overview {
	t.Helper()
	o, err := d.Overview(ctxT(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func row(t testing.TB, d *Dashboard, agencies bool, id string) Row {
	t.Helper()
	q := d.Edges
	if agencies {
		q = d.Agencies
	}
	tab, err := q(ctxT(t), TableQuery{Filter: id, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range tab.Rows {
		if r.ID == id {
			return r
		}
	}
	t.Fatalf("no row %s in %+v", id, tab.Rows)
	return Row{}
}

// counters are the plain counters of a StatsView, for comparing.
type counters struct {
	Sent, Updates, Rejected, Pairs, Received, Await01, Await03, Overdue, Refused, Declined, Recalled int64
	Answered01, Answered03                                                                           uint64
}

func countersOf(v StatsView) counters {
	return counters{v.Sent, v.Updates, v.Rejected, v.Pairs, v.Received, v.Await01, v.Await03, v.Overdue, v.Refused, v.Declined, v.Recalled, v.Answered01, v.Answered03}
}

func TestIndexerScenario(t *testing.T) {
	w := newWorld(t)
	s := fillScenario(w)
	clk := &clock{now: at(45)}
	d := w.open(filepath.Join(t.TempDir(), "dashboard.db"), clk)
	defer d.Close()
	mustSync(t, d)

	o := overview(t, d)
	want := counters{Sent: 4, Updates: 1, Rejected: 2, Pairs: 8, Received: 4, Await01: 2, Await03: 1, Refused: 2, Declined: 1, Recalled: 1, Answered01: 3, Answered03: 1}
	if got := countersOf(o.Totals); got != want {
		t.Errorf("totals:\n got %+v\nwant %+v", got, want)
	}
	size, _ := w.ledger.Log().Size(ctxT(t))
	if o.Index.Cursor != size || o.Index.LogSize != size || o.Events != size {
		t.Errorf("index state %+v, events %d; the log has %d leaves", o.Index, o.Events, size)
	}
	wantCounts := func(what string, got map[string]int64, want map[string]int64) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: got %v, want %v", what, got, want)
		}
	}
	wantCounts("statuses", o.Statuses, map[string]int64{"01": 2, "02": 1, "03": 1, "13": 1})
	wantCounts("reasons", o.Reasons, map[string]int64{"bad-signature": 1, "revoked": 1})
	wantCounts("refusals", o.Refusals, map[string]int64{"bad-signature": 1})
	var hourSent, minuteSent int64
	for _, h := range o.Hours {
		hourSent += h.Counts["sent"]
	}
	for _, m := range o.Minutes {
		minuteSent += m.Counts["sent"]
	}
	if hourSent != 4 || minuteSent != 4 {
		t.Errorf("sent per hour sums to %d, per minute to %d; want 4", hourSent, minuteSent)
	}

	// Per agency: as sender and as recipient.
	for _, c := range []struct {
		id   string
		want counters
	}{
		{organ(0, 0), counters{Sent: 3, Updates: 1}},
		{organ(1, 0), counters{Pairs: 1, Received: 1, Answered01: 1, Answered03: 1}},
		{organ(1, 1), counters{Pairs: 1, Received: 1, Await03: 1, Answered01: 1}},
		{organ(2, 0), counters{Pairs: 1, Received: 1, Await01: 1}},
		{organ(2, 1), counters{Pairs: 1, Refused: 1}},
		{organ(1, 3), counters{Pairs: 1, Recalled: 1}},
		{organ(0, 1), counters{Pairs: 1, Received: 1, Declined: 1, Answered01: 1}},
		{organ(2, 3), counters{Rejected: 1}},
		{organ(0, 2), counters{}}, // its rejection did not verify: not charged
		{organ(2, 4), counters{Pairs: 1, Await01: 1}},
	} {
		if got := countersOf(row(t, d, true, c.id).StatsView); got != c.want {
			t.Errorf("agency %s:\n got %+v\nwant %+v", c.id, got, c.want)
		}
	}
	r := row(t, d, true, organ(1, 0))
	if r.Name != w.names[organ(1, 0)] || r.Edge != "hanoi" {
		t.Errorf("agency row names %q on %q", r.Name, r.Edge)
	}
	near := func(what string, got *int64, want time.Duration) {
		t.Helper()
		if got == nil {
			t.Errorf("%s: no value, want about %s", what, want)
			return
		}
		if g := time.Duration(*got) * time.Millisecond; g < want*91/100 || g > want*110/100 {
			t.Errorf("%s = %s, want %s ± 9%%", what, g, want)
		}
	}
	near("median time to 01 of "+organ(1, 0), r.Median01Ms, 5*time.Minute)
	near("median time to 03 of "+organ(1, 0), r.Median03Ms, 30*time.Minute)

	for _, c := range []struct {
		id   string
		want counters
	}{
		{"vpcp", counters{Sent: 3, Updates: 1, Rejected: 1, Pairs: 1, Received: 1, Declined: 1, Answered01: 1}},
		{"hanoi", counters{Sent: 1, Pairs: 3, Received: 2, Await03: 1, Recalled: 1, Answered01: 2, Answered03: 1}},
		{"tayninh", counters{Rejected: 1, Pairs: 4, Received: 1, Await01: 2, Refused: 2}},
	} {
		if got := countersOf(row(t, d, false, c.id).StatsView); got != c.want {
			t.Errorf("edge %s:\n got %+v\nwant %+v", c.id, got, c.want)
		}
	}

	// Deadlines: the 01 SLA (24 h) passes for the two recipients without
	// any answer; the 03 SLA (72 h) for the one with only a 01. L2's
	// recipient declined before its DueDate.
	clk.set(at(25 * 60))
	mustSync(t, d)
	if got := overview(t, d).Totals.Overdue; got != 2 {
		t.Errorf("overdue after 25 h: %d, want 2", got)
	}
	if got := row(t, d, false, "tayninh").Overdue; got != 2 {
		t.Errorf("overdue at tayninh after 25 h: %d, want 2", got)
	}
	clk.set(at(73 * 60))
	mustSync(t, d)
	if got := overview(t, d).Totals.Overdue; got != 3 {
		t.Errorf("overdue after 73 h: %d, want 3", got)
	}
	// A late 01: the recipient leaves "overdue for 01" and, its 03
	// deadline having passed too, is overdue again for 03.
	w.status(s.l1, organ(2, 0), "01", at(80*60))
	clk.set(at(80*60 + 1))
	mustSync(t, d)
	o = overview(t, d)
	if o.Totals.Overdue != 3 || o.Totals.Await01 != 1 || o.Totals.Await03 != 2 {
		t.Errorf("after a late 01: overdue %d, await 01 %d, await 03 %d; want 3, 1, 2", o.Totals.Overdue, o.Totals.Await01, o.Totals.Await03)
	}
	if got := row(t, d, true, organ(2, 0)); got.Overdue != 1 || got.Await03 != 1 || got.Await01 != 0 {
		t.Errorf("agency %s after its late 01: %+v", organ(2, 0), countersOf(got.StatsView))
	}
	// Its 03 ends the wait.
	w.status(s.l1, organ(2, 0), "03", at(81*60))
	mustSync(t, d)
	if got := overview(t, d).Totals.Overdue; got != 2 {
		t.Errorf("overdue after the 03: %d, want 2", got)
	}
	checkAgainstLedger(t, w, d)
}

func TestIndexerDueDate(t *testing.T) {
	w := newWorld(t)
	// Due 2026/03/02: the end of that day in Hà Nội is 17:00 UTC, before
	// the 24 h SLA would run out.
	l := w.send(organ(0, 0), []string{organ(1, 0), organ(1, 1)}, "9", "2026/03/02", at(0))
	w.status(l, organ(1, 1), "01", at(5))
	clk := &clock{now: time.Date(2026, 3, 2, 16, 59, 0, 0, time.UTC)}
	d := w.open(filepath.Join(t.TempDir(), "dashboard.db"), clk)
	defer d.Close()
	mustSync(t, d)
	if got := overview(t, d).Totals.Overdue; got != 0 {
		t.Fatalf("overdue before the due date ends: %d", got)
	}
	clk.set(time.Date(2026, 3, 2, 17, 0, 0, 0, time.UTC))
	mustSync(t, d)
	if got := overview(t, d).Totals.Overdue; got != 2 {
		t.Fatalf("overdue once the due date ended: %d, want 2 (one without 01, one without 03)", got)
	}
	v, err := d.Letter(ctxT(t), l.key)
	if err != nil {
		t.Fatal(err)
	}
	if v.Letter == nil || v.Letter.DueDate != "2026/03/02" {
		t.Fatalf("letter record: %+v", v.Letter)
	}
	for _, r := range v.Recipients {
		if !r.Overdue {
			t.Errorf("recipient %s is not overdue: %+v", r.OrganID, r)
		}
	}
}

func TestIndexerSLADisabled(t *testing.T) {
	w := newWorld(t)
	w.send(organ(0, 0), []string{organ(1, 0)}, "9", "", at(0))
	clk := &clock{now: at(100 * 24 * 60)}
	d := w.open(filepath.Join(t.TempDir(), "dashboard.db"), clk, func(c *Config) { c.SLA01, c.SLA03 = -1, -1 })
	defer d.Close()
	mustSync(t, d)
	if o := overview(t, d); o.Totals.Overdue != 0 || o.SLA01 != "" {
		t.Fatalf("with the SLAs off: overdue %d, sla_01 %q", o.Totals.Overdue, o.SLA01)
	}
}

// dump returns every key and value of the dashboard file except the meta
// bucket, bucket by bucket.
func dump(t testing.TB, d *Dashboard) map[string][][2]string {
	t.Helper()
	out := map[string][][2]string{}
	err := d.db.View(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if bytes.Equal(name, bucketMeta) {
				continue
			}
			err := tx.Bucket(name).ForEach(func(k, v []byte) error {
				out[string(name)] = append(out[string(name)], [2]string{string(k), string(v)})
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameDump(t testing.TB, what string, got, want map[string][][2]string) {
	t.Helper()
	for _, name := range allBuckets {
		g, w := got[string(name)], want[string(name)]
		if !slices.Equal(g, w) {
			t.Errorf("%s: bucket %s differs: %d entries, want %d", what, name, len(g), len(w))
			for i := range max(len(g), len(w)) {
				if i >= len(g) || i >= len(w) || g[i] != w[i] {
					var gi, wi [2]string
					if i < len(g) {
						gi = g[i]
					}
					if i < len(w) {
						wi = w[i]
					}
					t.Errorf("  first difference at %d:\n   got %q\n  want %q", i, gi, wi)
					break
				}
			}
		}
	}
}

// TestIndexerRestart indexes a few batches, closes, reopens and finishes,
// several times over, while the log grows, and checks that the file ends
// byte for byte equal to one built in a single pass: no event counted
// twice or missed.
func TestIndexerRestart(t *testing.T) {
	w := newWorld(t)
	clk := &clock{now: at(30 * 60)}
	path := filepath.Join(t.TempDir(), "dashboard.db")
	rng := rand.New(rand.NewPCG(1, 2))
	traffic := newTraffic(w, rng)
	for round := range 6 {
		traffic.run(25)
		d := w.open(path, clk, func(c *Config) { c.Batch = 1 + rng.IntN(9) })
		for range 1 + rng.IntN(4) {
			if _, err := d.step(ctxT(t)); err != nil {
				t.Fatal(err)
			}
		}
		if round%2 == 1 {
			mustSync(t, d)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
	}
	d := w.open(path, clk)
	defer d.Close()
	mustSync(t, d)
	fresh := w.open(filepath.Join(t.TempDir(), "fresh.db"), clk, func(c *Config) { c.Batch = 10_000 })
	defer fresh.Close()
	mustSync(t, fresh)
	sameDump(t, "restarted vs single pass", dump(t, d), dump(t, fresh))
	checkAgainstLedger(t, w, d)
}

// TestIndexerOtherLog reopens a dashboard file over another axis's log:
// it is rebuilt from that log, not mixed with it.
func TestIndexerOtherLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dashboard.db")
	clk := &clock{now: at(60)}
	a := newWorld(t)
	fillScenario(a)
	d := a.open(path, clk)
	mustSync(t, d)
	d.Close()

	b := newWorld(t)
	b.send(organ(1, 0), []string{organ(0, 0)}, "77", "", at(1))
	d = b.open(path, clk)
	defer d.Close()
	mustSync(t, d)
	if o := overview(t, d); o.Totals.Sent != 1 || o.Index.Cursor != 1 {
		t.Fatalf("over another log: sent %d, cursor %d; want 1, 1", o.Totals.Sent, o.Index.Cursor)
	}
}

// traffic sends random letters, deliveries, statuses, recalls, refusals
// and rejections into a world, remembering what it sent.
type traffic struct {
	w       *world
	rng     *rand.Rand
	letters []sent
	now     float64 // minutes
	organs  []string
}

func newTraffic(w *world, rng *rand.Rand) *traffic {
	tr := &traffic{w: w, rng: rng}
	for o := range w.edgeOf {
		tr.organs = append(tr.organs, o)
	}
	slices.Sort(tr.organs)
	return tr
}

func (tr *traffic) run(n int) {
	for range n {
		tr.now += 0.05 + tr.rng.Float64()*20
		when := at(tr.now)
		switch k := tr.rng.IntN(10); {
		case k < 4 || len(tr.letters) == 0:
			sender := tr.organs[tr.rng.IntN(len(tr.organs))]
			var to []string
			for _, i := range tr.rng.Perm(len(tr.organs))[:1+tr.rng.IntN(4)] {
				if tr.organs[i] != sender {
					to = append(to, tr.organs[i])
				}
			}
			if len(to) == 0 {
				continue
			}
			due := ""
			if tr.rng.IntN(4) == 0 {
				due = when.Add(time.Duration(tr.rng.IntN(72)) * time.Hour).In(edoc.ICT).Format("2006/01/02")
			}
			l := tr.w.send(sender, to, fmt.Sprint(len(tr.letters)+1), due, when)
			tr.letters = append(tr.letters, l)
			if tr.rng.IntN(5) > 0 {
				tr.w.deliver(l, when.Add(time.Second))
			}
		case k < 8:
			l := tr.letters[tr.rng.IntN(len(tr.letters))]
			r := l.recipients[tr.rng.IntN(len(l.recipients))]
			tr.w.status(l, r, []string{"01", "01", "02", "03", "04", "05", "06", "15"}[tr.rng.IntN(8)], when)
		case k == 8:
			l := tr.letters[tr.rng.IntN(len(tr.letters))]
			if tr.rng.IntN(2) == 0 {
				tr.w.status(l, l.sender, "13", when)
			} else {
				to := slices.Clone(l.recipients)
				if extra := tr.organs[tr.rng.IntN(len(tr.organs))]; !slices.Contains(to, extra) && extra != l.sender {
					to = append(to, extra)
				}
				tr.w.update(l, to, when)
			}
		default:
			if tr.rng.IntN(2) == 0 {
				sender := tr.organs[tr.rng.IntN(len(tr.organs))]
				tr.w.reject(sender, fmt.Sprintf("R%d", tr.rng.IntN(1000)), []string{"revoked", "bad-signature", "unknown-recipient"}[tr.rng.IntN(3)], tr.rng.IntN(2) == 0, when)
			} else {
				l := tr.letters[tr.rng.IntN(len(tr.letters))]
				e, _ := tr.w.ledger.Get(ctxT(tr.w.t), l.sha)
				rt := e.Routes[tr.rng.IntN(len(e.Routes))]
				if rt.State == bus.RouteAcked {
					continue
				}
				tr.w.refuse(l, rt.Edge, rt.Recipients, "bad-signature", when)
			}
		}
	}
}

// checkAgainstLedger recomputes, from the ledger entries of every letter
// the dashboard lists (ByKey, bus.Timeline), the number of letters, of
// recipients waiting for 01 and for 03, and of statuses per code, and
// compares them with the dashboard's totals.
func checkAgainstLedger(t *testing.T, w *world, d *Dashboard) {
	t.Helper()
	ctx := ctxT(t)
	var keys []string
	if err := d.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLetters).ForEach(func(k, _ []byte) error {
			keys = append(keys, string(k))
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	var letters, await01, await03 int64
	statuses := map[string]int64{}
	for _, key := range keys {
		entries, err := w.ledger.ByKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		accepted := false
		for _, e := range entries {
			if e.Type == bus.TypeDocument && e.Accepted() {
				accepted = true
			}
			if e.Type == bus.TypeStatus && e.Accepted() {
				statuses[e.StatusCode]++
			}
		}
		if !accepted {
			continue
		}
		letters++
		for _, rs := range bus.Timeline(entries) {
			// The dashboard's state machine, run over the ledger's
			// timeline of the recipient.
			stage := Stage(0)
			for _, ev := range rs.Events {
				switch {
				case ev.Kind == "sent" && stage == 0:
					stage = StageAwait01
				case ev.Kind == "refused" && stage.waiting():
					stage = StageRefused
				case ev.Kind == "recall" && stage.waiting():
					stage = StageRecalled
				case ev.Kind == "status" && ev.Status == "01" && stage == StageAwait01:
					stage = StageAwait03
				case ev.Kind == "status" && ev.Status >= "02" && ev.Status <= "06" && stage.waiting():
					stage = StageDone
				}
			}
			switch stage {
			case StageAwait01:
				await01++
			case StageAwait03:
				await03++
			}
		}
	}
	o := overview(t, d)
	if o.Totals.Sent != letters || o.Totals.Await01 != await01 || o.Totals.Await03 != await03 {
		t.Errorf("dashboard: sent %d, await 01 %d, await 03 %d; the ledger says %d, %d, %d",
			o.Totals.Sent, o.Totals.Await01, o.Totals.Await03, letters, await01, await03)
	}
	if fmt.Sprint(o.Statuses) != fmt.Sprint(statuses) {
		t.Errorf("statuses: dashboard %v, ledger %v", o.Statuses, statuses)
	}
	t.Logf("checked against the ledger: %d letters, %d waiting for 01, %d for 03, statuses %v", letters, await01, await03, statuses)
	if t.Failed() {
		t.Logf("letters checked: %s", strings.Join(keys, " "))
	}
}
