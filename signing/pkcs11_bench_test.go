//go:build cgo

package signing_test

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"testing"
	"time"

	"truc.vn/truc/signing"
)

// BenchmarkKeySign compares one raw SHA-256 signature by the same key held
// in memory (the baseline) and on a SoftHSM2 token through PKCS#11. Each
// iteration signs once with each, alternately, so that machine noise hits
// both alike; the metrics are the mean of each and their ratio.
//
//	go test -run '^$' -bench KeySign -benchtime 3s -count 3 ./signing/
func BenchmarkKeySign(b *testing.B) {
	tok := newSoftToken(b, "bench-token")
	tok.importKey(b, "rsa2048-pkcs8.pem", "rsa", "01")
	tok.importKey(b, "p256-pkcs8.pem", "p256", "02")
	digest := sha256.Sum256([]byte("công văn"))
	for _, k := range []struct{ name, file, label string }{
		{"RSA-2048", "rsa2048-pkcs8.pem", "rsa"},
		{"P-256", "p256-pkcs8.pem", "p256"},
	} {
		mem, err := signing.ParsePrivateKeyPEM(keyFixture(b, k.file))
		if err != nil {
			b.Fatal(err)
		}
		token := openToken(b, tok.config(k.label, nil))
		b.Run(k.name, func(b *testing.B) {
			var memTime, tokTime time.Duration
			for b.Loop() {
				t0 := time.Now()
				if _, err := mem.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if _, err := token.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
					b.Fatal(err)
				}
				memTime, tokTime = memTime+t1.Sub(t0), tokTime+time.Since(t1)
			}
			b.ReportMetric(float64(memTime.Nanoseconds())/float64(b.N), "memory-ns/sign")
			b.ReportMetric(float64(tokTime.Nanoseconds())/float64(b.N), "softhsm-ns/sign")
			b.ReportMetric(float64(tokTime)/float64(memTime), "softhsm/memory")
		})
	}
}
