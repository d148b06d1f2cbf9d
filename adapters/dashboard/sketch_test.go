package dashboard

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestSketchQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct {
		name string
		gen  func() time.Duration
	}{
		{"seconds", func() time.Duration { return time.Duration(rng.IntN(600)+1) * time.Second }},
		{"log-normal minutes", func() time.Duration { return time.Duration(math.Exp(rng.NormFloat64()*1.5+4) * float64(time.Minute)) }},
		{"days", func() time.Duration { return time.Duration(rng.Float64() * 30 * 24 * float64(time.Hour)) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			var s Sketch
			var all []time.Duration
			for range 20_000 {
				d := c.gen()
				s.Add(d)
				all = append(all, d)
			}
			slices.Sort(all)
			for _, q := range []float64{0.01, 0.5, 0.9, 0.99} {
				exact := all[int(math.Ceil(q*float64(len(all))))-1]
				got, ok := s.Quantile(q)
				if !ok {
					t.Fatal("empty")
				}
				if rel := math.Abs(float64(got-exact)) / float64(exact); rel > 0.095 {
					t.Errorf("q%.2f = %s, exact %s: off by %.1f%% (bound 9%%)", q, got, exact, rel*100)
				}
			}
			if s.Count() != 20_000 {
				t.Errorf("count %d", s.Count())
			}
		})
	}
}

func TestSketchMergeAndEncode(t *testing.T) {
	var a, b, both Sketch
	for i := range 1000 {
		d := time.Duration(i*i) * time.Millisecond
		if i%3 == 0 {
			a.Add(d)
		} else {
			b.Add(d)
		}
		both.Add(d)
	}
	a.Add(-time.Second)               // counts as zero
	a.Add(100 * 365 * 24 * time.Hour) // clamps to the last bucket
	both.Add(0)
	both.Add(100 * 365 * 24 * time.Hour)
	m := a
	m.counts = slices.Clone(a.counts)
	m.Merge(b)
	for _, q := range []float64{0, 0.25, 0.5, 0.75, 1} {
		x, _ := m.Quantile(q)
		y, _ := both.Quantile(q)
		if x != y {
			t.Errorf("q%.2f: merged %s, whole %s", q, x, y)
		}
	}
	dec, rest, err := readSketch(appendSketch(nil, m))
	if err != nil || len(rest) != 0 || !slices.Equal(dec.counts, m.counts) || dec.n != m.n {
		t.Fatalf("round trip: %v, %d bytes left, %v vs %v", err, len(rest), dec, m)
	}
	var empty Sketch
	if _, ok := empty.Quantile(0.5); ok {
		t.Error("an empty sketch has a median")
	}
}

func TestRecordsRoundTrip(t *testing.T) {
	s := Stats{Sent: 5, Updates: -1, Rejected: 1 << 40, Await01: 3, Overdue: 2}
	s.T01.Add(time.Minute)
	s.T03.Add(time.Hour)
	got, err := decodeStats(encodeStats(&s))
	if err != nil || got.Sent != 5 || got.Updates != -1 || got.Rejected != 1<<40 || got.T01.Count() != 1 || got.T03.Count() != 1 {
		t.Fatalf("stats round trip: %+v, %v", got, err)
	}
	p := pair{Stage: StageAwait03, Overdue: true, Edge: "hanoi", Sent: 1, Delivered: 2, At01: 3, DueEnd: 5, Deadline: 6, Last: "01"}
	gp, err := decodePair(encodePair(&p))
	if err != nil || gp != p {
		t.Fatalf("pair round trip: %+v, %v", gp, err)
	}
	for _, bad := range [][]byte{nil, {9}, {pairVersion, 99, 0}, {pairVersion, 1, 2}, append(encodePair(&p), 0)} {
		if _, err := decodePair(bad); err == nil {
			t.Errorf("decodePair(%x) accepted", bad)
		}
	}
	for _, bad := range [][]byte{nil, {9}, append(encodeStats(&s), 1), encodeStats(&s)[:5]} {
		if _, err := decodeStats(bad); err == nil {
			t.Errorf("decodeStats(%x) accepted", bad)
		}
	}
}
