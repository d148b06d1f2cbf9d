package main

// Metrics wiring of the axis and the edges: what each exports at /metrics
// (see adapters/metrics for the list).

import (
	"github.com/prometheus/client_golang/prometheus"

	"truc.vn/truc/adapters/boltstore"
	"truc.vn/truc/adapters/kafka"
	"truc.vn/truc/adapters/metrics"
	"truc.vn/truc/bus"
)

// instrument creates the axis's registry (n.registry) with every axis
// metric, and returns the hooks for bus.AxisConfig and v timed. Call it
// once the store, transport, directory, trust and seal are loaded, before
// bus.NewAxis.
func (n *axisNode) instrument(v bus.Verifier) (bus.AxisHooks, bus.Verifier) {
	n.registry = metrics.NewRegistry(version)
	am := metrics.NewAxis(n.registry)
	n.registry.MustRegister(
		metrics.NewStoreStatsCollector(storeStats(n.store)),
		metrics.NewLogCollector(n.logStatus, nil),
		metrics.NewAxisPendingCollector(n.store.Ledger(), func() []string {
			var ids []string
			for _, e := range n.dir.Edges() {
				ids = append(ids, e.ID)
			}
			return ids
		}, nil),
		metrics.NewConsumerLagCollector(consumerLag(n.transport)),
		metrics.NewTrustCollector(trustCerts(n.trust, n.seal), n.trust.issuers, n.trust.crls.DER),
	)
	return am.Hooks(), metrics.TimeVerifier(n.registry, v)
}

// instrument creates the edge's registry with every edge metric, and
// returns it with the hooks for bus.EdgeConfig and v and s timed. Call it
// once the store, transport, trust and seal are loaded, before
// bus.NewEdge.
func (n *edgeNode) instrument(v bus.Verifier, s bus.PackageSigner) (*prometheus.Registry, bus.EdgeHooks, bus.Verifier, bus.PackageSigner) {
	reg := metrics.NewRegistry(version)
	em := metrics.NewEdge(reg)
	reg.MustRegister(
		metrics.NewStoreStatsCollector(storeStats(n.store)),
		metrics.NewEdgePendingCollector(n.store.Edge(), nil),
		metrics.NewConsumerLagCollector(consumerLag(n.transport)),
		metrics.NewTrustCollector(trustCerts(n.trust, n.seal), n.trust.issuers, n.trust.crls.DER),
	)
	return reg, em.Hooks(), metrics.TimeVerifier(reg, v), metrics.TimeSigner(reg, s)
}

// storeStats adapts the store's commit statistics.
func storeStats(s *boltstore.Store) func() metrics.StoreStats {
	return func() metrics.StoreStats {
		st := s.CommitStats()
		out := metrics.StoreStats{Commits: st.Commits, Requests: st.Requests, CommitTime: st.Time, Buckets: make([]metrics.Bucket, len(st.Buckets))}
		for i, b := range st.Buckets {
			out.Buckets[i] = metrics.Bucket{UpperBound: b.UpperBound, Count: b.Count}
		}
		return out
	}
}

// consumerLag adapts the transport's consumer lag.
func consumerLag(t *kafka.Transport) func() []metrics.PartitionLag {
	return func() []metrics.PartitionLag {
		lags := t.ConsumerLag()
		out := make([]metrics.PartitionLag, len(lags))
		for i, l := range lags {
			out[i] = metrics.PartitionLag{Topic: l.Topic, Partition: l.Partition, Lag: l.Lag}
		}
		return out
	}
}

// trustCerts lists the certificates whose expiry a node reports: its seal
// certificate, its trust anchors and its intermediate CAs.
func trustCerts(t *trust, s *seal) []metrics.Cert {
	var out []metrics.Cert
	if s != nil && len(s.chain) > 0 {
		out = append(out, metrics.Cert{Role: metrics.RoleSeal, Cert: s.chain[0]})
	}
	for _, c := range t.roots {
		out = append(out, metrics.Cert{Role: metrics.RoleRoot, Cert: c})
	}
	for _, c := range t.issuers[len(t.roots):] {
		out = append(out, metrics.Cert{Role: metrics.RoleIntermediate, Cert: c})
	}
	return out
}
