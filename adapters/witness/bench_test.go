package witness_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"truc.vn/truc/adapters/boltstore"
	"truc.vn/truc/adapters/witness"
	"truc.vn/truc/bus"
	"truc.vn/truc/signing/notesig"
	"truc.vn/truc/signing/signingtest"
)

// The witness benchmarks are reported as ratios to BenchmarkBaselineAppend
// (one durable commit of the axis store) measured in the same run.

// BenchmarkBaselineAppend: one leaf appended to a boltstore log (one
// fsynced commit).
func BenchmarkBaselineAppend(b *testing.B) {
	s, err := boltstore.Open(filepath.Join(b.TempDir(), "axis.db"), boltstore.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Log().Append(ctx, []byte(fmt.Sprint("leaf ", i))); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHandlerPost: the axis taking one cosignature over HTTP
// (loopback): the log's signature (RSA-2048, as a government seal) and
// the witness's (P-256) verified, the checkpoint compared with the stored
// one, the line stored durably. 64 witnesses cosign each checkpoint, so
// that every post stores a new line.
func BenchmarkHandlerPost(b *testing.B) {
	a := newAxisWorldKey(b, signingtest.NewKey(b, signingtest.RSA2048))
	const keys = 64
	var signers []*notesig.Signer
	for i := range keys {
		s, err := notesig.NewSigner(bus.EdgeNoteName(fmt.Sprint("e", i)), signingtest.NewKey(b, signingtest.P256))
		if err != nil {
			b.Fatal(err)
		}
		a.witnesses.add(s.Verifier())
		signers = append(signers, s)
	}
	bodies := make([][]byte, keys)
	size := int64(100)
	cosignAll := func() {
		cp := a.grow(a.store.Log(), size, false)
		for i, s := range signers {
			msg, err := bus.Cosign(cp, bus.SignedCheckpoint{}, nil, s)
			if err != nil {
				b.Fatal(err)
			}
			bodies[i] = msg
		}
		size++
	}
	cosignAll()
	client, err := witness.NewClient(a.srv.URL, a.srv.Client())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		if i > 0 && i%keys == 0 {
			b.StopTimer()
			cosignAll()
			b.StartTimer()
		}
		if err := client.AddCosignature(ctx, bodies[i%keys]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWitnessRound: one witness round over HTTP (loopback) when the
// log grew: fetch and verify the checkpoint (RSA-2048 log key, as the
// axis seal), fetch the consistency proof, cosign (P-256 seal), write
// last.checkpoint durably, post the cosignature (stored durably).
func BenchmarkWitnessRound(b *testing.B) {
	a := newAxisWorldKey(b, signingtest.NewKey(b, signingtest.RSA2048))
	w, _ := a.witnessAt(b.TempDir(), "hanoi", signingtest.NewKey(b, signingtest.P256), nil)
	ctx := context.Background()
	size := int64(1000)
	a.grow(a.store.Log(), size, false)
	if err := w.Check(ctx); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		b.StopTimer()
		size += 10
		a.grow(a.store.Log(), size, false)
		b.StartTimer()
		if err := w.Check(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
