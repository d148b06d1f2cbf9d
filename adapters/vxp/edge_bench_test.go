package vxp_test

import (
	"context"
	"fmt"
	"testing"

	"truc.vn/truc/adapters/vxp"
)

// BenchmarkEdgeBackendReceivedList measures getReceivedEdocList over a
// real edge whose inbox holds n letters for the caller (see
// BENCHMARKS.md). Baseline: the same backend made afresh for every call,
// so that it scans the whole inbox as it does after a restart ("cold");
// measured: a backend that has seen the letters acknowledged before
// ("warm"), which starts after them; and the worst case, every letter
// still waiting ("waiting": each call lists them all).
func BenchmarkEdgeBackendReceivedList(b *testing.B) {
	const n = 1000
	w := newEdgeWorld(b)
	a, bEdge := w.edges["a"], w.edges["b"]
	ctx := context.Background()
	for i := range n {
		id, err := a.backend.SendEdoc(ctx, sysA, vxp.SendRequest{From: organA, MessageType: vxp.MessageEdoc, Package: newLetter(b, organA, []string{organB}, fmt.Sprint(1000+i))})
		if err != nil {
			b.Fatal(err)
		}
		w.deliver(b, "a", "b", id)
	}
	list := func(be *vxp.EdgeBackend, want int) {
		l, err := be.ReceivedList(ctx, sysB, vxp.MessageEdoc)
		if err != nil || len(l) != want {
			b.Fatalf("%d listed, %v; want %d", len(l), err, want)
		}
	}
	b.Run("waiting", func(b *testing.B) {
		for b.Loop() {
			list(bEdge.backend, n)
		}
	})
	l, _ := bEdge.backend.ReceivedList(ctx, sysB, vxp.MessageEdoc)
	for _, it := range l {
		if err := bEdge.backend.UpdateStatus(ctx, sysB, it.DocID, vxp.AckDone); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("settled/cold-baseline", func(b *testing.B) {
		for b.Loop() {
			fresh, err := vxp.NewEdgeBackend(vxp.EdgeBackendConfig{Edge: bEdge.edge})
			if err != nil {
				b.Fatal(err)
			}
			list(fresh, 0)
		}
	})
	list(bEdge.backend, 0)
	b.Run("settled/warm", func(b *testing.B) {
		for b.Loop() {
			list(bEdge.backend, 0)
		}
	})
}
