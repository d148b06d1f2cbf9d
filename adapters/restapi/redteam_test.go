package restapi_test

// Red-team findings on the DMS API (see the review report). Each test shows
// one defect and fails until it is fixed.

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"truc.vn/truc/adapters/restapi"
)

// stalledBody gives a few bytes and then blocks until released, as a
// client that declared a large Content-Length and stopped sending.
type stalledBody struct {
	sent    atomic.Bool
	release chan struct{}
}

func (b *stalledBody) Read(p []byte) (int, error) {
	if !b.sent.Swap(true) {
		return copy(p, "<?xml vers"), nil
	}
	<-b.release
	return 0, io.ErrUnexpectedEOF
}

// TestRedteamDeclaredLengthPinsMemory: POST /v1/documents grows its buffer
// to the declared Content-Length (up to MaxBodyBytes, 17 MiB) before a
// byte of the body has arrived. The edge serves the API with serveHTTP,
// which sets no ReadTimeout, so a DMS connection that declares 17 MiB and
// stalls pins 17 MiB for as long as it stays open; sixty of them pin a
// gigabyte. Memory should follow the bytes received.
func TestRedteamDeclaredLengthPinsMemory(t *testing.T) {
	e := newEnv(t)
	body := &stalledBody{release: make(chan struct{})}
	r := httptest.NewRequest("POST", "/v1/documents", body)
	r.ContentLength = restapi.DefaultMaxBodyBytes
	r.Header.Set("Authorization", "Bearer "+tokHanoi)
	r.Header.Set("Content-Type", "application/xml")

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	done := make(chan int)
	go func() {
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		done <- w.Code
	}()
	// Wait until the handler is blocked reading the stalled body.
	for deadline := time.Now().Add(5 * time.Second); !body.sent.Load() && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
	}
	time.Sleep(50 * time.Millisecond)
	var during runtime.MemStats
	runtime.ReadMemStats(&during)
	close(body.release)
	if code := <-done; code != http.StatusBadRequest {
		t.Logf("answer to the broken body: %d", code)
	}
	const bound = 4 << 20
	if grown := during.TotalAlloc - before.TotalAlloc; grown > bound {
		t.Errorf("a request that declared %d bytes and sent 10 made the handler allocate %d MiB before the body arrived; want at most %d MiB",
			restapi.DefaultMaxBodyBytes, grown>>20, bound>>20)
	}
}
