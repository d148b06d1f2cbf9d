package edoc

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"io"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"truc.vn/truc/edoc/edoctest"
)

// Benchmarks of parse and build, each next to a baseline run on the same
// bytes in the same process (machines are noisy: compare ratios):
//
//	go test ./edoc -run '^$' -bench . -benchtime 5x -count 3
//
// "alloc-B/B" is the bytes allocated per byte of input.

// benchInput is one package to benchmark, its bytes and the text of its
// first attachment.
type benchInput struct {
	name    string
	raw     []byte
	encoded []byte // the base64 text of the first attachment
}

var (
	bigOnce  sync.Once
	bigInput benchInput
)

// big50MB returns a package of about 50 MB: one incompressible attachment
// of 37.5 MB, base64 inline.
func big50MB(b *testing.B) benchInput {
	bigOnce.Do(func() {
		data := make([]byte, 75<<19) // 37.5 MiB
		rng := rand.NewChaCha8([32]byte{1})
		rng.Read(data)
		p := sampleDocument()
		p.Manifest, p.Attachments = nil, nil
		p.AddAttachment(bytesAttachment("cid:big", "big.pdf", "application/pdf", data))
		var buf bytes.Buffer
		if _, err := p.WriteTo(&buf); err != nil {
			panic(err)
		}
		bigInput = benchInput{name: "50MB", raw: buf.Bytes(), encoded: []byte(base64.StdEncoding.EncodeToString(data))}
	})
	return bigInput
}

func sample360KB(b *testing.B) benchInput {
	path := filepath.Join(edoctest.SharedDir(b), "conformance", "vxp-sdk", "edoc_new.edxml")
	raw := readFile(b, path)
	m := encodedRE.FindSubmatch(raw)
	return benchInput{name: "sample360KB", raw: raw, encoded: bytes.TrimSpace(m[1])}
}

var benchLimits = Limits{MaxBytes: 64 << 20}

// measure runs f b.N times and reports throughput over size bytes and
// allocation per byte.
func measure(b *testing.B, size int, f func() error) {
	b.Helper()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for b.Loop() {
		if err := f(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/float64(size), "alloc-B/B")
}

// benchInputs are the inputs every benchmark runs on, by name. The sample
// is skipped when the shared folder is absent.
var benchInputs = []struct {
	name string
	load func(*testing.B) benchInput
}{
	{"sample360KB", sample360KB},
	{"50MB", big50MB},
}

type variant struct {
	name string
	f    func(b *testing.B, in benchInput) func() error
}

// runVariants runs each variant on each input, as Name/input/variant, so
// that a baseline and what it is compared with sit next to each other.
func runVariants(b *testing.B, size func(benchInput) int, variants []variant) {
	for _, input := range benchInputs {
		b.Run(input.name, func(b *testing.B) {
			in := input.load(b)
			for _, v := range variants {
				b.Run(v.name, func(b *testing.B) { measure(b, size(in), v.f(b, in)) })
			}
		})
	}
}

func rawSize(in benchInput) int     { return len(in.raw) }
func encodedSize(in benchInput) int { return len(in.encoded) }

// BenchmarkParse measures Parse and, on the same bytes, the baselines: a
// bare encoding/xml token loop (the floor for any encoding/xml reader) and
// ReadTree alone (the hardened tree edoc builds on).
func BenchmarkParse(b *testing.B) {
	runVariants(b, rawSize, []variant{
		{"baseline-xml-tokens", func(b *testing.B, in benchInput) func() error {
			return func() error {
				dec := xml.NewDecoder(bytes.NewReader(in.raw))
				for {
					if _, err := dec.RawToken(); err == io.EOF {
						return nil
					} else if err != nil {
						return err
					}
				}
			}
		}},
		{"readtree", func(b *testing.B, in benchInput) func() error {
			return func() error { _, err := ReadTree(bytes.NewReader(in.raw), benchLimits); return err }
		}},
		{"parse", func(b *testing.B, in benchInput) func() error {
			return func() error { _, err := Parse(in.raw, benchLimits); return err }
		}},
		{"parse+validate", func(b *testing.B, in benchInput) func() error {
			return func() error {
				p, err := Parse(in.raw, benchLimits)
				if err == nil && HasErrors(p.Validate()) {
					b.Fatal("invalid input")
				}
				return err
			}
		}},
	})
}

// BenchmarkBuild measures WriteTo of a parsed package (which copies the
// base64 text) and of the same package with its attachment made from the
// decoded bytes (which encodes them as it writes), next to a bare base64
// encode of the attachment. Throughput is over the package size.
func BenchmarkBuild(b *testing.B) {
	runVariants(b, rawSize, []variant{
		{"baseline-base64-encode", func(b *testing.B, in benchInput) func() error {
			data := decoded(b, in)
			return func() error {
				enc := base64.NewEncoder(base64.StdEncoding, io.Discard)
				enc.Write(data)
				return enc.Close()
			}
		}},
		{"writeto-parsed", func(b *testing.B, in benchInput) func() error {
			p := parseBench(b, in)
			return func() error { _, err := p.WriteTo(io.Discard); return err }
		}},
		{"writeto-from-source", func(b *testing.B, in benchInput) func() error {
			p := parseBench(b, in)
			a := p.Attachments[0]
			p.Attachments[0] = bytesAttachment(a.ContentID, a.Name, a.ContentType, decoded(b, in))
			return func() error { _, err := p.WriteTo(io.Discard); return err }
		}},
	})
}

// BenchmarkDigest measures decoding and hashing a parsed attachment, next
// to a bare base64 decode and SHA-256 of the same text held in memory.
// Throughput is over the base64 text.
func BenchmarkDigest(b *testing.B) {
	runVariants(b, encodedSize, []variant{
		{"baseline-base64-decode+sha256", func(b *testing.B, in benchInput) func() error {
			buf := make([]byte, base64.StdEncoding.DecodedLen(len(in.encoded)))
			return func() error {
				n, err := base64.StdEncoding.Decode(buf, in.encoded)
				sha256.Sum256(buf[:n])
				return err
			}
		}},
		{"digest", func(b *testing.B, in benchInput) func() error {
			text := string(in.encoded)
			return func() error {
				a := &Attachment{encoded: text, hasEncoded: true}
				_, _, err := a.Digest()
				return err
			}
		}},
	})
}

func decoded(b *testing.B, in benchInput) []byte {
	data, err := base64.StdEncoding.DecodeString(string(in.encoded))
	if err != nil {
		b.Fatal(err)
	}
	return data
}

func parseBench(b *testing.B, in benchInput) *Package {
	p, err := Parse(in.raw, benchLimits)
	if err != nil {
		b.Fatal(err)
	}
	return p
}
