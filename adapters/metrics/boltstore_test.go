package metrics_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"truc.vn/truc/adapters/boltstore"
	"truc.vn/truc/adapters/metrics"
	"truc.vn/truc/signing/notesig"
)

// TestBoltstoreCollectors reads a real store's commit counters and log
// status through the adapters cmd/truc uses.
func TestBoltstoreCollectors(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := notesig.NewSigner("truc.vn/axis/metrics-test", key)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "axis.db"), boltstore.Config{LogSigner: signer, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewStoreStatsCollector(func() metrics.StoreStats {
		st := s.CommitStats()
		out := metrics.StoreStats{Commits: st.Commits, Requests: st.Requests, CommitTime: st.Time}
		for _, b := range st.Buckets {
			out.Buckets = append(out.Buckets, metrics.Bucket{UpperBound: b.UpperBound, Count: b.Count})
		}
		return out
	}))
	reg.MustRegister(metrics.NewLogCollector(func(ctx context.Context) (int64, int64, time.Time, error) {
		st, err := s.Log().Status(ctx)
		return st.Size, st.CheckpointSize, st.CheckpointSignedAt, err
	}, func() time.Time { return now.Add(3 * time.Second) }))

	before := series(t, reg)
	if _, ok := before["truc_log_checkpoint_age_seconds"]; ok {
		t.Error("checkpoint age reported before any checkpoint")
	}
	ctx := t.Context()
	for _, leaf := range []string{"a", "b", "c"} {
		if _, err := s.Log().Append(ctx, []byte(leaf)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Log().SignCheckpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Log().Append(ctx, []byte("d")); err != nil {
		t.Fatal(err)
	}
	after := series(t, reg)
	if got := after["truc_log_size"]; got != 4 {
		t.Errorf("truc_log_size = %g, want 4", got)
	}
	if got := after["truc_log_checkpoint_size"]; got != 3 {
		t.Errorf("truc_log_checkpoint_size = %g, want 3", got)
	}
	if got, ok := after["truc_log_checkpoint_age_seconds"]; !ok || got != 3 {
		t.Errorf("truc_log_checkpoint_age_seconds = %g (present %v), want 3", got, ok)
	}
	commits := after["truc_store_commits_total"] - before["truc_store_commits_total"]
	requests := after["truc_store_commit_requests_total"] - before["truc_store_commit_requests_total"]
	if commits < 4 || requests < 4 {
		t.Errorf("commits moved by %g and requests by %g, want at least 4 each (4 appends, 1 checkpoint)", commits, requests)
	}
	// The commit time histogram counts the same commits, each fsync
	// taking some time.
	if got := after["truc_store_commit_seconds_count"]; got != after["truc_store_commits_total"] {
		t.Errorf("truc_store_commit_seconds_count = %g, truc_store_commits_total = %g", got, after["truc_store_commits_total"])
	}
	if got := after["truc_store_commit_seconds_sum"] - before["truc_store_commit_seconds_sum"]; got <= 0 {
		t.Errorf("commit time moved by %g", got)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "truc_store_commit_seconds" {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		var last uint64
		for _, b := range h.GetBucket() {
			if b.GetCumulativeCount() < last || b.GetCumulativeCount() > h.GetSampleCount() {
				t.Errorf("bucket le=%g holds %d after %d, of %d commits", b.GetUpperBound(), b.GetCumulativeCount(), last, h.GetSampleCount())
			}
			last = b.GetCumulativeCount()
		}
		if len(h.GetBucket()) < 10 {
			t.Errorf("%d commit time buckets", len(h.GetBucket()))
		}
	}

	// A closed store makes the scrape carry the error, not stale values.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Gather(); err == nil {
		t.Error("gathering from a closed store: no error")
	}
}
