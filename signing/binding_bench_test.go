package signing_test

import (
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"truc.vn/truc/signing"
)

// BenchmarkBindings measures a directory-sized bindings file: parsing it
// (baseline: the YAML parse alone), and checking a signer bound by
// fingerprint and by subject rule (baseline: the SHA-256 of the signer's
// certificate, which any check does first). Each iteration runs the
// baseline and the measured work alternately, so that machine noise hits
// both alike.
//
//	go test -run '^$' -bench Bindings -benchtime 3s -count 3 ./signing/
func BenchmarkBindings(b *testing.B) {
	const n = 10_000 // agencies: a large province's directory
	ca := newBindingCert(b, pkix.Name{CommonName: "CA (BENCH)"}, nil)
	seal := newBindingCert(b, pkix.Name{CommonName: "VĂN PHÒNG", Organization: []string{"UBND"}}, ca)
	var y strings.Builder
	y.WriteString("version: 1\nbindings:\n")
	for i := range n - 2 {
		fmt.Fprintf(&y, "  - organ_id: %03d.%02d.%02d.H53\n    certificates: [%064x]\n", i%1000, i/1000, 1, i)
	}
	fmt.Fprintf(&y, "  - organ_id: 000.00.00.G22\n    certificates: [%s]\n", bindSHA256Hex(seal.cert))
	fmt.Fprintf(&y, "  - organ_id: 000.00.00.G12\n    subjects:\n      - issuer_sha256: %s\n        cn: VĂN PHÒNG\n        o: UBND\n", bindSHA256Hex(ca.cert))
	data := []byte(y.String())

	// Baseline: the YAML parse alone (into a yaml.Node), which
	// ParseBindings does first.
	b.Run(fmt.Sprintf("Parse/%d-entries", n), func(b *testing.B) {
		var yamlT, parseT time.Duration
		for b.Loop() {
			t0 := time.Now()
			var node yaml.Node
			if err := yaml.Unmarshal(data, &node); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if _, err := signing.ParseBindings(data); err != nil {
				b.Fatal(err)
			}
			yamlT, parseT = yamlT+t1.Sub(t0), parseT+time.Since(t1)
		}
		b.ReportMetric(float64(parseT.Nanoseconds())/float64(b.N)/n, "ns/entry")
		b.ReportMetric(float64(parseT)/float64(yamlT), "parse/yaml")
	})

	bs, err := signing.ParseBindings(data)
	if err != nil {
		b.Fatal(err)
	}
	at := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	chain := []*x509.Certificate{seal.cert, ca.cert}
	b.Run("Check", func(b *testing.B) {
		var hashT, fpT, subjT time.Duration
		for b.Loop() {
			t0 := time.Now()
			_ = sha256.Sum256(seal.cert.Raw)
			t1 := time.Now()
			if err := bs.CheckChain("000.00.00.G22", chain, at); err != nil {
				b.Fatal(err)
			}
			t2 := time.Now()
			if err := bs.CheckChain("000.00.00.G12", chain, at); err != nil {
				b.Fatal(err)
			}
			hashT, fpT, subjT = hashT+t1.Sub(t0), fpT+t2.Sub(t1), subjT+time.Since(t2)
		}
		b.ReportMetric(float64(hashT.Nanoseconds())/float64(b.N), "hash-ns")
		b.ReportMetric(float64(fpT.Nanoseconds())/float64(b.N), "fingerprint-ns")
		b.ReportMetric(float64(subjT.Nanoseconds())/float64(b.N), "subject-ns")
		b.ReportMetric(float64(fpT)/float64(hashT), "fingerprint/hash")
		b.ReportMetric(float64(subjT)/float64(hashT), "subject/hash")
	})
}
