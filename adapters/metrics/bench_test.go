package metrics_test

import (
	"crypto/x509"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"truc.vn/truc/adapters/metrics"
	"truc.vn/truc/bus"
	"truc.vn/truc/signing"
	"truc.vn/truc/signing/signingtest"
)

// BenchmarkTimeSigner compares a seal signature through TimeSigner with
// the same signature made directly (the baseline), alternating the two in
// one loop so that both see the same load; it reports the ratio.
func BenchmarkTimeSigner(b *testing.B) {
	pki := signingtest.NewPKI(b, signingtest.WithLeafKey(signingtest.P256))
	s, err := signing.NewSigner(pki.LeafKey, []*x509.Certificate{pki.Leaf, pki.Intermediate.Cert})
	if err != nil {
		b.Fatal(err)
	}
	const organ = "000.00.00.G22"
	raw := signing.NewSealSigner(s, func(string) bool { return true })
	timed := metrics.TimeSigner(prometheus.NewRegistry(), raw)
	pkg := signingtest.Package(signingtest.PackageOptions{Size: 5 << 10})
	var rawTime, timedTime time.Duration
	for b.Loop() {
		for _, x := range []struct {
			s bus.PackageSigner
			d *time.Duration
		}{{raw, &rawTime}, {timed, &timedTime}} {
			start := time.Now()
			if _, err := x.s.Sign(b.Context(), organ, pkg); err != nil {
				b.Fatal(err)
			}
			*x.d += time.Since(start)
		}
	}
	b.ReportMetric(float64(rawTime.Nanoseconds())/float64(b.N), "raw-ns/op")
	b.ReportMetric(float64(timedTime.Nanoseconds())/float64(b.N), "timed-ns/op")
	b.ReportMetric(float64(timedTime)/float64(rawTime), "x-raw")
}

// BenchmarkScrape times one gather of a node's registry with its store
// holding a backlog, against the registry NewRegistry returns (Go runtime
// and process collectors only) as the baseline.
func BenchmarkScrape(b *testing.B) {
	pki := signingtest.NewPKI(b, signingtest.WithLeafKey(signingtest.P256))
	rootCRL, interCRL := pki.CRLs(b)
	for _, backlog := range []int{0, 1000} {
		s := openStore(b)
		ctx := b.Context()
		for i := range backlog {
			recordDocument(b, s.Ledger(), i, pendingT0, "edge-a")
			item, pkg := inboxItem(b, i, pendingT0)
			if _, _, err := s.Edge().Receive(ctx, item, pkg, nil); err != nil {
				b.Fatal(err)
			}
			if i%10 == 0 {
				if _, _, err := s.Edge().Put(ctx, outboxDoc(b, i, pendingT0)); err != nil {
					b.Fatal(err)
				}
			}
		}
		trust := metrics.NewTrustCollector([]metrics.Cert{{Role: metrics.RoleSeal, Cert: pki.Leaf}, {Role: metrics.RoleRoot, Cert: pki.Root.Cert}},
			[]*x509.Certificate{pki.Root.Cert, pki.Intermediate.Cert}, func() [][]byte { return [][]byte{rootCRL, interCRL} })
		axis := metrics.NewRegistry("bench")
		metrics.NewAxis(axis)
		metrics.TimeVerifier(axis, nil)
		axis.MustRegister(
			metrics.NewStoreCollector(func() (int64, int64) { return 1, 1 }),
			metrics.NewAxisPendingCollector(s.Ledger(), func() []string { return []string{"edge-a"} }, nil),
			trust,
		)
		edge := metrics.NewRegistry("bench")
		metrics.NewEdge(edge)
		edge.MustRegister(metrics.NewEdgePendingCollector(s.Edge(), nil))
		for _, bm := range []struct {
			name string
			g    prometheus.Gatherer
		}{
			{"baseline/NewRegistry", metrics.NewRegistry("bench")},
			{"axis", axis},
			{"edge", edge},
		} {
			b.Run(fmt.Sprintf("backlog=%d/%s", backlog, bm.name), func(b *testing.B) {
				for b.Loop() {
					if _, err := bm.g.Gather(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
