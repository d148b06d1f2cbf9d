package directory

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"truc.vn/truc/signing"
	"truc.vn/truc/signing/signingtest"
)

// Each benchmark times the operation and a baseline (the irreducible part
// of the same work, done with signing or yaml alone) alternately in the
// same loop, so that both see the same machine load, and reports the
// ratio as the metric "x-baseline". BENCHMARKS.md reports these.

// paired runs measured and baseline b.N times each, interleaved.
func paired(b *testing.B, measured, baseline func()) {
	b.Helper()
	var m, base time.Duration
	for i := 0; b.Loop(); i++ {
		t0 := time.Now()
		if i%2 == 0 {
			measured()
			t1 := time.Now()
			baseline()
			m, base = m+t1.Sub(t0), base+time.Since(t1)
		} else {
			baseline()
			t1 := time.Now()
			measured()
			base, m = base+t1.Sub(t0), m+time.Since(t1)
		}
	}
	b.ReportMetric(float64(m.Nanoseconds())/float64(b.N), "ns/measured")
	b.ReportMetric(float64(base.Nanoseconds())/float64(b.N), "ns/baseline")
	b.ReportMetric(float64(m)/float64(base), "x-baseline")
}

// bigYAML returns a directory file of n agencies on one edge, each bound
// to one random fingerprint, and the bindings section alone as a bindings
// file.
func bigYAML(w *world, n int) (directory, bindings string) {
	var a, b strings.Builder
	for i := range n {
		id := fmt.Sprintf("%03d.%02d.%02d.H29", i/10000, i/100%100, i%100)
		fmt.Fprintf(&a, "  - organ_id: %s\n    name: Đơn vị số %d thuộc UBND thành phố Hà Nội\n    edge: hanoi\n", id, i)
		fp := make([]byte, 32)
		rand.Read(fp)
		fmt.Fprintf(&b, "  - organ_id: %s\n    certificates: [%s]\n", id, hex.EncodeToString(fp))
	}
	return "version: 1\nagencies:\n" + a.String() + "edges:\n" + w.edgesYAML("hanoi") + "bindings:\n" + b.String(),
		"version: 1\nbindings:\n" + b.String()
}

func BenchmarkParseFile(b *testing.B) {
	w := newWorld(b)
	for _, n := range []int{1000, 10000} {
		dir, bindings := bigYAML(w, n)
		b.Run(fmt.Sprintf("agencies=%d/vs-yaml-decode", n), func(b *testing.B) {
			paired(b, func() {
				if _, err := ParseFile([]byte(dir), FileOptions{}); err != nil {
					b.Fatal(err)
				}
			}, func() {
				var doc yaml.Node
				if err := yaml.Unmarshal([]byte(dir), &doc); err != nil {
					b.Fatal(err)
				}
			})
		})
		b.Run(fmt.Sprintf("agencies=%d/vs-ParseBindings", n), func(b *testing.B) {
			paired(b, func() {
				if _, err := ParseFile([]byte(dir), FileOptions{}); err != nil {
					b.Fatal(err)
				}
			}, func() {
				if _, err := signing.ParseBindings([]byte(bindings)); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// BenchmarkApply: one change to a directory of 100 or 10,000 agencies,
// recorded in an in-memory log, against compiling one binding entry.
func BenchmarkApply(b *testing.B) {
	w := newWorld(b)
	ctx := context.Background()
	one := []byte("version: 1\nbindings:\n  - organ_id: 000.00.00.H29\n    certificates: [" + signing.Fingerprint(w.seals["hanoi"]) + "]\n")
	compileOne := func() {
		if _, err := signing.ParseBindings(one); err != nil {
			b.Fatal(err)
		}
	}
	fp := signing.Fingerprint(w.seals["hanoi"])
	for _, n := range []int{100, 10000} {
		dir, _ := bigYAML(w, n)
		f, err := ParseFile([]byte(dir), FileOptions{})
		if err != nil {
			b.Fatal(err)
		}
		d, _, err := Open(ctx, Config{}, &memLog{}, f)
		if err != nil {
			b.Fatal(err)
		}
		i := 0
		b.Run(fmt.Sprintf("agencies=%d/put-agency", n), func(b *testing.B) {
			paired(b, func() {
				i++
				a := agency("000.00.00.H29", fmt.Sprintf("UBND thành phố Hà Nội %d", i), "hanoi", "")
				if _, err := d.Apply(ctx, Change{Op: OpPutAgency, Agency: a}); err != nil {
					b.Fatal(err)
				}
			}, compileOne)
		})
		b.Run(fmt.Sprintf("agencies=%d/put-binding", n), func(b *testing.B) {
			paired(b, func() {
				if _, err := d.Apply(ctx, Change{Op: OpPutBinding, Binding: &Binding{OrganID: "000.00.00.H29", Certificates: []string{fp}}}); err != nil {
					b.Fatal(err)
				}
			}, compileOne)
		})
	}
}

// BenchmarkCheckSigner: the directory's lookup and lock around
// signing.Bindings.CheckChain, against CheckChain alone.
func BenchmarkCheckSigner(b *testing.B) {
	w := newWorld(b)
	d, _ := w.openSeeded(b, Config{})
	chain := w.pki.Chain()
	bindings, err := signing.ParseBindings([]byte("version: 1\nbindings:\n  - organ_id: 000.00.00.G22\n    certificates: [" + signing.Fingerprint(w.pki.Leaf) + "]\n"))
	if err != nil {
		b.Fatal(err)
	}
	paired(b, func() {
		if err := d.CheckSigner("000.00.00.G22", chain, w.pki.Now); err != nil {
			b.Fatal(err)
		}
	}, func() {
		if err := bindings.CheckChain("000.00.00.G22", chain, w.pki.Now); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkBusVerify: signing.BusVerifier (signature, edXML read and
// rules, directory, evidence) against the signature verification alone.
func BenchmarkBusVerify(b *testing.B) {
	w := newWorld(b)
	d, _ := w.openSeeded(b, Config{})
	signer, err := signing.NewSigner(w.pki.LeafKey, w.pki.Chain())
	if err != nil {
		b.Fatal(err)
	}
	crls := signing.NewCRLStore()
	rootCRL, interCRL := w.pki.CRLs(b)
	for _, der := range [][]byte{rootCRL, interCRL} {
		if _, err := crls.Add(der, []*x509.Certificate{w.pki.Root.Cert, w.pki.Intermediate.Cert}, w.pki.Now); err != nil {
			b.Fatal(err)
		}
	}
	v, err := signing.NewVerifier(signing.VerifierConfig{Roots: []*x509.Certificate{w.pki.Root.Cert}, CRLs: crls})
	if err != nil {
		b.Fatal(err)
	}
	bv, err := signing.NewBusVerifier(v, d)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, size := range []int{5 << 10, 1 << 20} {
		pkg, err := signer.Sign(signingtest.Package(signingtest.PackageOptions{Size: size}), signing.SignOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := v.Verify(pkg, w.pki.Now); err != nil { // warm the chain cache
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("size=%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(len(pkg)))
			paired(b, func() {
				if _, err := bv.Verify(ctx, pkg, w.pki.Now); err != nil {
					b.Fatal(err)
				}
			}, func() {
				if _, err := v.Verify(pkg, w.pki.Now); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}
