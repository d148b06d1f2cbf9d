package vxp_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"

	"truc.vn/truc/adapters/vxp"
)

// BenchmarkHandler measures whole requests through the handler against the
// cryptography they cannot avoid, measured in the same run: one
// HMAC-SHA256 of the sign-header for a small call, one SHA-256 of the
// body for sendEdoc. See BENCHMARKS.md.
func BenchmarkHandler(b *testing.B) {
	h, err := vxp.NewHandler(goldenConfig(), stub{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	t := &testing.T{}

	small := signed(t, "POST", "countReceiveEdoc", []byte("{}"), [2]string{"servicetype", "eDoc"}, [2]string{"messagetype", "edoc"})
	signHeader := []byte(small.Header.Get("XroadVnpt-sign-header"))
	b.Run("count/baseline-hmac", func(b *testing.B) {
		for b.Loop() {
			m := hmac.New(sha256.New, []byte(goldenSecret))
			m.Write(signHeader)
			m.Sum(nil)
		}
	})
	b.Run("count/handler", func(b *testing.B) {
		for b.Loop() {
			small.Body = io.NopCloser(bytes.NewReader([]byte("{}")))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, small)
			if w.Code != http.StatusOK {
				b.Fatal(w.Body)
			}
		}
	})

	pkg := make([]byte, 1<<20)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range pkg {
		pkg[i] = byte(rng.Uint32())
	}
	sum := sha256.Sum256(pkg)
	body := append(append([]byte(nil), pkg...), '\r', '\n')
	send := signed(t, "POST", "sendEdoc", nil, [2]string{"servicetype", "eDoc"}, [2]string{"messagetype", "edoc"},
		[2]string{"hash-file", vxp.UnpaddedHex(sum[:])}, [2]string{"from", goldenOrgan})
	b.Run("sendEdoc-1MiB/baseline-sha256", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			sha256.Sum256(body)
		}
	})
	b.Run("sendEdoc-1MiB/handler", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			send.Body = io.NopCloser(bytes.NewReader(body))
			send.ContentLength = int64(len(body))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, send)
			if w.Code != http.StatusOK {
				b.Fatal(w.Body)
			}
		}
	})
}
