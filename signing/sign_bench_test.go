package signing

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"truc.vn/truc/edoc"
	"truc.vn/truc/edoc/edoctest"
	"truc.vn/truc/signing/signingtest"
)

// The benchmarks compare sign and verify of whole packages with the raw
// private- and public-key operations they contain, measured in the same
// run (BENCHMARKS.md, section signing). Run:
//
//	go test ./signing -run '^$' -bench . -benchtime 2s -count 5

func BenchmarkRaw(b *testing.B) {
	digest := sha256.Sum256([]byte("edXML"))
	for _, alg := range []signingtest.KeyAlg{signingtest.RSA2048, signingtest.P256} {
		key := signingtest.NewKey(b, alg)
		sig, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(string(alg)+"/sign", func(b *testing.B) {
			for b.Loop() {
				if _, err := key.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
					b.Fatal(err)
				}
			}
		})
		sig = p1363(b, key, sig)
		b.Run(string(alg)+"/verify", func(b *testing.B) {
			for b.Loop() {
				if verr := checkSignature(key.Public(), sigAlgFor(alg), digest[:], sig); verr != nil {
					b.Fatal(verr)
				}
			}
		})
	}
}

func sigAlgFor(alg signingtest.KeyAlg) sigAlg {
	if alg == signingtest.P256 {
		return signatureAlgs[AlgECDSASHA256]
	}
	return signatureAlgs[AlgRSASHA256]
}

// p1363 converts an ECDSA DER signature to r‖s (RSA signatures pass).
func p1363(b *testing.B, key crypto.Signer, sig []byte) []byte {
	pub, ok := key.Public().(*ecdsa.PublicKey)
	if !ok {
		return sig
	}
	out, err := ecdsaDERToP1363(sig, ecdsaByteLen(pub))
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// benchPackages returns the 5 KB synthetic package and the 360 KB
// official sample (edoc_new.edxml), when the shared folder is present.
func benchPackages(b *testing.B) map[string][]byte {
	pkgs := map[string][]byte{"5KB": signingtest.Package(signingtest.PackageOptions{Size: 5 << 10})}
	for _, f := range edoctest.ConformanceFiles(b) {
		if filepath.Base(f) == "edoc_new.edxml" {
			data, err := os.ReadFile(f)
			if err != nil {
				b.Fatal(err)
			}
			pkgs["360KB"] = data
		}
	}
	return pkgs
}

func BenchmarkSign(b *testing.B) {
	pkgs := benchPackages(b)
	for _, size := range []string{"5KB", "360KB"} {
		for _, alg := range []signingtest.KeyAlg{signingtest.RSA2048, signingtest.P256} {
			pkg, ok := pkgs[size]
			if !ok {
				continue
			}
			f := newFixture(b, signingtest.WithLeafKey(alg))
			b.Run(size+"/"+string(alg), func(b *testing.B) {
				b.SetBytes(int64(len(pkg)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := f.signer.Sign(pkg, SignOptions{}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkVerify measures Verify with the chain cached (the steady state
// of a node: a few hundred signers, each seen again and again) and CRLs
// loaded and checked.
func BenchmarkVerify(b *testing.B) {
	pkgs := benchPackages(b)
	for _, size := range []string{"5KB", "360KB"} {
		for _, alg := range []signingtest.KeyAlg{signingtest.RSA2048, signingtest.P256} {
			pkg, ok := pkgs[size]
			if !ok {
				continue
			}
			f := newFixture(b, signingtest.WithLeafKey(alg))
			signed := mustSign(b, f.signer, pkg)
			mustVerify(b, f.verifier, signed, f.at) // warm the chain cache
			b.Run(size+"/"+string(alg), func(b *testing.B) {
				b.SetBytes(int64(len(signed)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := f.verifier.Verify(signed, f.at); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkVerifyUncached is Verify with a cold chain cache every time
// (x509.Verify with two P-384 CA signatures dominates).
func BenchmarkVerifyUncached(b *testing.B) {
	f := newFixture(b)
	signed := mustSign(b, f.signer, signingtest.Package(signingtest.PackageOptions{Size: 5 << 10}))
	b.ReportAllocs()
	for b.Loop() {
		v := f.newVerifier(b, Policy{})
		if _, err := v.Verify(signed, f.at); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCanonicalize compares this package's exclusive c14n with
// goxmldsig's on the same parsed 5 KB package (each iteration gets a fresh
// tree, since goxmldsig's rewrites it).
func BenchmarkCanonicalize(b *testing.B) {
	pkg := signingtest.Package(signingtest.PackageOptions{Size: 5 << 10})
	parse := func() *etree.Element {
		doc, err := edoc.ReadTree(bytes.NewReader(pkg), edoc.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		return doc.Root()
	}
	b.Run("ours", func(b *testing.B) {
		r := parse()
		for b.Loop() {
			h := sha256.New()
			if err := canonicalize(h, r, c14nOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("goxmldsig", func(b *testing.B) {
		c := dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
		for b.Loop() {
			b.StopTimer()
			r := parse()
			b.StartTimer()
			if _, err := c.Canonicalize(r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parse", func(b *testing.B) {
		for b.Loop() {
			parse()
		}
	})
}

// BenchmarkReadTree is edoc.ReadTree alone on the signed 5 KB package:
// the floor under Verify, which must parse.
func BenchmarkReadTree(b *testing.B) {
	f := newFixture(b)
	signed := mustSign(b, f.signer, signingtest.Package(signingtest.PackageOptions{Size: 5 << 10}))
	b.SetBytes(int64(len(signed)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := edoc.ReadTree(bytes.NewReader(signed), edoc.Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVsRaw times each package operation right after the raw
// operation it contains, alternating in the same loop, and reports their
// ratio (x-raw): on a shared, noisy machine this pairs both under the same
// load, where separate benchmarks minutes apart do not. pkg-ns/op and
// raw-ns/op are the two halves; ns/op is their sum.
func BenchmarkVsRaw(b *testing.B) {
	digest := sha256.Sum256([]byte("edXML"))
	pkgs := benchPackages(b)
	for _, size := range []string{"5KB", "360KB"} {
		for _, alg := range []signingtest.KeyAlg{signingtest.RSA2048, signingtest.P256} {
			pkg, ok := pkgs[size]
			if !ok {
				continue
			}
			f := newFixture(b, signingtest.WithLeafKey(alg))
			key := f.pki.LeafKey
			signed := mustSign(b, f.signer, pkg)
			mustVerify(b, f.verifier, signed, f.at)
			rawSig := p1363(b, key, must(key.Sign(rand.Reader, digest[:], crypto.SHA256)))
			paired(b, "sign/"+size+"/"+string(alg),
				func() { must(key.Sign(rand.Reader, digest[:], crypto.SHA256)) },
				func() { must(f.signer.Sign(pkg, SignOptions{})) })
			paired(b, "verify/"+size+"/"+string(alg),
				func() {
					if verr := checkSignature(key.Public(), sigAlgFor(alg), digest[:], rawSig); verr != nil {
						b.Fatal(verr)
					}
				},
				func() { must(f.verifier.Verify(signed, f.at)) })
			if size == "5KB" && alg == signingtest.RSA2048 {
				// The floor under verify: edoc.ReadTree of the same bytes.
				paired(b, "readtree/5KB/rsa-2048",
					func() {
						if verr := checkSignature(key.Public(), sigAlgFor(alg), digest[:], rawSig); verr != nil {
							b.Fatal(verr)
						}
					},
					func() { must(edoc.ReadTree(bytes.NewReader(signed), edoc.Limits{})) })
			}
		}
	}
}

func paired(b *testing.B, name string, raw, full func()) {
	b.Run(name, func(b *testing.B) {
		b.ReportAllocs()
		var rawT, fullT time.Duration
		for b.Loop() {
			t0 := time.Now()
			raw()
			t1 := time.Now()
			full()
			rawT += t1.Sub(t0)
			fullT += time.Since(t1)
		}
		b.ReportMetric(float64(fullT)/float64(rawT), "x-raw")
		b.ReportMetric(float64(fullT.Nanoseconds())/float64(b.N), "pkg-ns/op")
		b.ReportMetric(float64(rawT.Nanoseconds())/float64(b.N), "raw-ns/op")
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
