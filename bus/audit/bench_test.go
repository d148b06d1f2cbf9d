package audit_test

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"truc.vn/truc/bus/audit"
)

// The large-log benchmarks build an axis log of TRUC_AUDIT_BENCH_LEAVES
// leaves (default 1,000,000; the figures in BENCHMARKS.md are at
// 10,000,000) in TRUC_BENCH_DIR (default a temporary directory; 10M
// leaves take about 5 GB for the log and 3.5 GB for the baseline file).
// A letter is recorded at the start, its statuses in the middle and at
// the end, with a checkpoint every million leaves, as an axis that signs
// every second would leave them in a busy log. They only run with -bench:
//
//	TRUC_AUDIT_BENCH_LEAVES=10000000 go test ./bus/audit -run '^$' -bench Large -benchtime 200x -timeout 60m -v

const (
	benchLeafSize = 300    // about an encoded event with evidence
	benchBatch    = 10_000 // leaves per Append: the axis's batched commits under load
)

type largeLog struct {
	w    *world
	key  string
	data []byte // the letter's bundle at the full size
	n    int64
}

var (
	largeOnce  sync.Once
	large      *largeLog
	small      *largeLog
	largeError error
)

func benchLeaves(b *testing.B) int64 {
	n := int64(1_000_000)
	if v := os.Getenv("TRUC_AUDIT_BENCH_LEAVES"); v != "" {
		var err error
		if n, err = strconv.ParseInt(v, 10, 64); err != nil || n < 10_000 {
			b.Fatalf("TRUC_AUDIT_BENCH_LEAVES=%q: want a number ≥ 10000", v)
		}
	}
	return n
}

// buildLog records a letter, fills the log to about n leaves in
// benchBatch appends (timing each against a bare bbolt transaction
// putting the same leaves, when base is set), and exports the letter.
func buildLog(b *testing.B, dir string, n int64, base *bolt.DB) *largeLog {
	w := newWorldIn(b, dir)
	doc := w.letter("10M", recipA, recipB)
	e := w.submit(doc)
	w.checkpoint()
	w.deliver(e, edgeA)
	w.deliver(e, edgeB)
	leaf := make([]byte, benchLeafSize)
	rand.Read(leaf)
	var logTime, baseTime, lastLog, lastBase time.Duration
	var appended int64
	fill := func(upTo int64) {
		for appended < upTo {
			k := min(int64(benchBatch), upTo-appended)
			leaves := make([][]byte, k)
			for i := range leaves {
				leaves[i] = binary.BigEndian.AppendUint64(append([]byte(nil), leaf[:benchLeafSize-8]...), uint64(appended)+uint64(i))
			}
			start := time.Now()
			if _, err := w.store.Log().Append(w.ctx, leaves...); err != nil {
				b.Fatal(err)
			}
			d := time.Since(start)
			logTime += d
			if appended >= n*9/10 {
				lastLog += d
			}
			if base != nil {
				start = time.Now()
				err := base.Update(func(tx *bolt.Tx) error {
					bk, err := tx.CreateBucketIfNotExists([]byte("leaves"))
					if err != nil {
						return err
					}
					bk.FillPercent = 1
					for i, l := range leaves {
						if err := bk.Put(binary.BigEndian.AppendUint64(nil, uint64(appended)+uint64(i)), l); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				d := time.Since(start)
				baseTime += d
				if appended >= n*9/10 {
					lastBase += d
				}
			}
			appended += k
			if appended%1_000_000 == 0 {
				w.tick(time.Second)
				w.checkpoint()
			}
		}
	}
	fill(n / 2)
	st := w.submit(w.statusPkg(doc, recipA, "01"))
	w.deliver(st, senderEdge)
	w.checkpoint()
	fill(n - 2)
	w.submit(w.statusPkg(doc, recipA, "03"))
	w.checkpoint()
	if base != nil {
		b.Logf("appended %d filler leaves of %d bytes in transactions of %d: log %.0f leaves/s, bare bbolt %.0f leaves/s (x-baseline %.2f); last 10%%: log %.0f leaves/s, bare bbolt %.0f leaves/s (x-baseline %.2f)",
			appended, benchLeafSize, benchBatch,
			float64(appended)/logTime.Seconds(), float64(appended)/baseTime.Seconds(), logTime.Seconds()/baseTime.Seconds(),
			float64(appended/10)/lastLog.Seconds(), float64(appended/10)/lastBase.Seconds(), lastLog.Seconds()/lastBase.Seconds())
		if fi, err := os.Stat(filepath.Join(dir, "axis.db")); err == nil {
			b.Logf("log file %d MB", fi.Size()>>20)
		}
	}
	l := &largeLog{w: w, key: keyOf(b, doc)}
	l.n, _ = w.store.Log().Size(w.ctx)
	l.data = w.export(l.key)
	return l
}

func setupLarge(b *testing.B) {
	largeOnce.Do(func() {
		n := benchLeaves(b)
		dir := os.Getenv("TRUC_BENCH_DIR")
		if dir == "" {
			dir = b.TempDir()
		} else {
			var err error
			if dir, err = os.MkdirTemp(dir, "audit-bench-"); err != nil {
				largeError = err
				return
			}
			b.Cleanup(func() { os.RemoveAll(dir) })
		}
		base, err := bolt.Open(filepath.Join(dir, "baseline.db"), 0o600, nil)
		if err != nil {
			largeError = err
			return
		}
		start := time.Now()
		large = buildLog(b, filepath.Join(dir, "large"), n, base)
		b.Logf("built the %d-leaf log in %s", large.n, time.Since(start).Round(time.Second))
		base.Close()
		os.Remove(filepath.Join(dir, "baseline.db"))
		small = buildLog(b, filepath.Join(dir, "small"), 10_000, nil)
	})
	if largeError != nil {
		b.Fatal(largeError)
	}
}

// pair times a baseline and the measured operation alternately.
type pair struct{ base, meas time.Duration }

func (p *pair) run(d *time.Duration, f func()) {
	t := time.Now()
	f()
	*d += time.Since(t)
}

func (p *pair) report(b *testing.B) {
	b.ReportMetric(float64(p.base.Microseconds())/float64(b.N), "baseline-µs/op")
	b.ReportMetric(float64(p.meas.Microseconds())/float64(b.N), "µs/op-measured")
	b.ReportMetric(p.meas.Seconds()/p.base.Seconds(), "x-baseline")
}

// BenchmarkLarge measures, at the full log size, against the same
// operation on a 10,000-leaf log run alternately in the same loop:
// inclusion and consistency proofs, exporting the letter's bundle
// (audit.Build and Encode) and verifying it (audit.Verify).
func BenchmarkLarge(b *testing.B) {
	setupLarge(b)
	rng := mrand.New(mrand.NewPCG(1, 2))
	b.Run(fmt.Sprintf("InclusionProof/leaves=%d", large.n), func(b *testing.B) {
		var p pair
		for b.Loop() {
			p.run(&p.base, func() {
				if _, err := small.w.store.Log().InclusionProof(small.w.ctx, rng.Int64N(small.n), small.n); err != nil {
					b.Fatal(err)
				}
			})
			p.run(&p.meas, func() {
				if _, err := large.w.store.Log().InclusionProof(large.w.ctx, rng.Int64N(large.n), large.n); err != nil {
					b.Fatal(err)
				}
			})
		}
		p.report(b)
	})
	b.Run(fmt.Sprintf("ConsistencyProof/leaves=%d", large.n), func(b *testing.B) {
		var p pair
		for b.Loop() {
			p.run(&p.base, func() {
				if _, err := small.w.store.Log().ConsistencyProof(small.w.ctx, 1+rng.Int64N(small.n-1), small.n); err != nil {
					b.Fatal(err)
				}
			})
			p.run(&p.meas, func() {
				if _, err := large.w.store.Log().ConsistencyProof(large.w.ctx, 1+rng.Int64N(large.n-1), large.n); err != nil {
					b.Fatal(err)
				}
			})
		}
		p.report(b)
	})
	export := func(l *largeLog) func() {
		return func() {
			bd, _, err := audit.Build(l.w.ctx, l.w.buildConfig(), audit.Request{Key: l.key})
			if err != nil {
				b.Fatal(err)
			}
			var buf bytes.Buffer
			if err := bd.Encode(&buf); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run(fmt.Sprintf("Export/leaves=%d", large.n), func(b *testing.B) {
		var p pair
		for b.Loop() {
			p.run(&p.base, export(small))
			p.run(&p.meas, export(large))
		}
		p.report(b)
	})
	verifyOne := func(l *largeLog) func() {
		return func() {
			rep, err := audit.Verify(bytes.NewReader(l.data), int64(len(l.data)), l.w.opts())
			if err != nil || !rep.OK {
				b.Fatalf("the bundle does not verify: %v\n%s", err, reportText(rep))
			}
		}
	}
	b.Run(fmt.Sprintf("Verify/leaves=%d", large.n), func(b *testing.B) {
		var p pair
		for b.Loop() {
			p.run(&p.base, verifyOne(small))
			p.run(&p.meas, verifyOne(large))
		}
		p.report(b)
	})
}
