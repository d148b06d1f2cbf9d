package boltstore_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"truc.vn/truc/adapters/boltstore"
	"truc.vn/truc/bus"
)

// benchLeafSize is about the size of an encoded Event with a few
// recipients and verification evidence.
const benchLeafSize = 300

func benchLeaf() []byte {
	b := make([]byte, benchLeafSize)
	rand.Read(b)
	return b
}

// pair accumulates the time of a baseline and of the measured operation,
// run alternately in one loop so that load from other processes hits
// both alike.
type pair struct{ base, meas time.Duration }

func (p *pair) time(d *time.Duration, f func()) {
	t := time.Now()
	f()
	*d += time.Since(t)
}

// report writes both rates (per second of each one's own time) and their
// ratio (measured time / baseline time: 1.3 means 30 % slower).
func (p *pair) report(b *testing.B, unit string, perOp float64) {
	b.ReportMetric(perOp*float64(b.N)/p.base.Seconds(), "baseline-"+unit+"/s")
	b.ReportMetric(perOp*float64(b.N)/p.meas.Seconds(), unit+"/s")
	b.ReportMetric(p.meas.Seconds()/p.base.Seconds(), "x-baseline")
}

// BenchmarkAppend measures durable appends to the log against a baseline
// run alternately in the same loop: a bare bbolt Update (two fdatasyncs)
// putting the same leaf bytes under sequential keys, with the same number
// of leaves per transaction, or the same number of concurrent writers.
//
//	go test ./adapters/boltstore -run '^$' -bench Append -benchtime 3s -count 3
func BenchmarkAppend(b *testing.B) {
	leaf := benchLeaf()
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			leaves := make([][]byte, batch)
			for i := range leaves {
				leaves[i] = leaf
			}
			db, l := bareDB(b), benchStore(b).Log()
			ctx := context.Background()
			var n uint64
			var p pair
			for b.Loop() {
				p.time(&p.base, func() {
					err := db.Update(func(tx *bolt.Tx) error {
						bk := tx.Bucket([]byte("leaves"))
						for range batch {
							n++
							if err := bk.Put(binary.BigEndian.AppendUint64(nil, n), leaf); err != nil {
								return err
							}
						}
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
				})
				p.time(&p.meas, func() {
					if _, err := l.Append(ctx, leaves...); err != nil {
						b.Fatal(err)
					}
				})
			}
			p.report(b, "leaves", float64(batch))
		})
	}

	// Eight writers, one leaf per call: bare bbolt gives each Update its
	// own commit; the store batches what arrives while it syncs. One
	// operation is a round of writers × 10 calls.
	const writers, calls = 8, 10
	b.Run(fmt.Sprintf("writers=%d/batch=1", writers), func(b *testing.B) {
		db, s := bareDB(b), benchStore(b)
		l := s.Log()
		var n atomic.Uint64
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
					return db.Update(func(tx *bolt.Tx) error {
						return tx.Bucket([]byte("leaves")).Put(binary.BigEndian.AppendUint64(nil, n.Add(1)), leaf)
					})
				})
			})
			p.time(&p.meas, func() {
				round(func() error { _, err := l.Append(context.Background(), leaf); return err })
			})
		}
		p.report(b, "leaves", writers*calls)
		st := s.CommitStats()
		b.ReportMetric(float64(st.Requests)/float64(max(1, st.Commits)), "appends/commit")
	})
}

func bareDB(b *testing.B) *bolt.DB {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "bare.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if err := db.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucket([]byte("leaves"))
		bk.FillPercent = 1
		return err
	}); err != nil {
		b.Fatal(err)
	}
	return db
}

func benchStore(b *testing.B) *boltstore.Store {
	s, err := boltstore.Open(filepath.Join(b.TempDir(), "axis.db"), boltstore.Config{LogSigner: sealSigner(b)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkProofsLarge builds a log of TRUC_BENCH_LEAVES leaves (default
// 1,000,000; the evidence work runs it at 10,000,000) in
// TRUC_BENCH_DIR (default a temporary directory), then measures proof
// generation and verification. It is skipped unless TRUC_BENCH_LARGE=1:
//
//	TRUC_BENCH_LARGE=1 go test ./adapters/boltstore -run '^$' -bench ProofsLarge -benchtime 2000x -timeout 1h
//
// The baseline reads, in one read transaction, as many random stored
// hashes as an inclusion proof at that size needs: the raw bbolt cost
// under the proof.
func BenchmarkProofsLarge(b *testing.B) {
	if os.Getenv("TRUC_BENCH_LARGE") != "1" {
		b.Skip("set TRUC_BENCH_LARGE=1 to build a large log (1M leaves by default, TRUC_BENCH_LEAVES to change)")
	}
	n := int64(1_000_000)
	if v := os.Getenv("TRUC_BENCH_LEAVES"); v != "" {
		var err error
		if n, err = strconv.ParseInt(v, 10, 64); err != nil || n < 2 {
			b.Fatalf("TRUC_BENCH_LEAVES=%q: want a number ≥ 2", v)
		}
	}
	dir := os.Getenv("TRUC_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	path := filepath.Join(dir, fmt.Sprintf("bench-%d.db", n))
	os.Remove(path)
	b.Cleanup(func() { os.Remove(path) })
	s, err := boltstore.Open(path, boltstore.Config{LogSigner: sealSigner(b)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	l := s.Log()
	ctx := context.Background()

	const chunk = 10_000
	leaf := benchLeaf()
	start := time.Now()
	for done := int64(0); done < n; {
		k := min(chunk, n-done)
		leaves := make([][]byte, k)
		for i := range leaves {
			leaves[i] = binary.BigEndian.AppendUint64(append([]byte(nil), leaf[:benchLeafSize-8]...), uint64(done)+uint64(i))
		}
		if _, err := l.Append(ctx, leaves...); err != nil {
			b.Fatal(err)
		}
		done += k
	}
	build := time.Since(start)
	start = time.Now()
	cp, err := l.SignCheckpoint(ctx)
	if err != nil {
		b.Fatal(err)
	}
	sign := time.Since(start)
	fi, _ := os.Stat(path)
	b.Logf("built %d leaves in %s (%.0f leaves/s in transactions of %d), file %d MB; first checkpoint signed in %s",
		n, build.Round(time.Millisecond), float64(n)/build.Seconds(), chunk, fi.Size()>>20, sign.Round(time.Microsecond))
	if os.Getenv("TRUC_BENCH_CHECK") == "1" {
		start = time.Now()
		if err := l.Check(ctx, nil); err != nil {
			b.Fatal(err)
		}
		b.Logf("Check of %d leaves: %s", n, time.Since(start).Round(time.Millisecond))
	}

	rng := mrand.New(mrand.NewPCG(1, 2))
	proofLen := len(must(l.InclusionProof(ctx, n/3, n)))
	var hashCount int64
	if err := s.View(func(tx *bolt.Tx) error {
		hashCount = int64(tx.Bucket([]byte("log.hashes")).Stats().KeyN)
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	// The baseline: as many random stored-hash reads as a proof makes, in
	// one read transaction.
	readHashes := func() {
		err := s.View(func(tx *bolt.Tx) error {
			bk := tx.Bucket([]byte("log.hashes"))
			for range proofLen {
				if bk.Get(binary.BigEndian.AppendUint64(nil, uint64(rng.Int64N(hashCount)))) == nil {
					return fmt.Errorf("missing hash")
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Run(fmt.Sprintf("InclusionProof/leaves=%d", n), func(b *testing.B) {
		var p pair
		for b.Loop() {
			p.time(&p.base, readHashes)
			p.time(&p.meas, func() {
				if _, err := l.InclusionProof(ctx, rng.Int64N(n), n); err != nil {
					b.Fatal(err)
				}
			})
		}
		p.report(b, "proofs", 1)
	})
	b.Run(fmt.Sprintf("ConsistencyProof/leaves=%d", n), func(b *testing.B) {
		var p pair
		for b.Loop() {
			p.time(&p.base, readHashes)
			p.time(&p.meas, func() {
				if _, err := l.ConsistencyProof(ctx, 1+rng.Int64N(n-1), n); err != nil {
					b.Fatal(err)
				}
			})
		}
		p.report(b, "proofs", 1)
	})
	idx := n / 3
	proof := must(l.InclusionProof(ctx, idx, n))
	lf := must(l.Leaf(ctx, idx))
	b.Run(fmt.Sprintf("VerifyInclusion/leaves=%d", n), func(b *testing.B) {
		// Baseline: the SHA-256 work of the proof (one leaf hash, one node
		// hash per proof entry) without the proof logic.
		var buf [65]byte
		var p pair
		for b.Loop() {
			p.time(&p.base, func() {
				h := sha256.Sum256(append([]byte{0}, lf...))
				for range proof {
					copy(buf[1:], h[:])
					h = sha256.Sum256(buf[:])
				}
			})
			p.time(&p.meas, func() {
				if err := bus.VerifyInclusion(lf, idx, proof, cp.Checkpoint); err != nil {
					b.Fatal(err)
				}
			})
		}
		p.report(b, "verifications", 1)
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
