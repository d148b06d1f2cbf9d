package vxp_test

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"truc.vn/truc/adapters/vxp"
	"truc.vn/truc/adapters/vxp/vxptest"
)

// FuzzHandler replays raw HTTP requests, seeded with the golden ones. The
// handler never panics, always answers JSON in the SDK's shape (or the
// package for downloadEdoc), and lets nothing reach the backend unless
// the request carries a valid HMAC over its sign-header.
func FuzzHandler(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.http"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	pkg, err := os.ReadFile(filepath.Join("testdata", "status_01.edxml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return
		}
		rec := &vxptest.Recorder{Next: stub{pkg: pkg}}
		cfg := goldenConfig()
		cfg.MaxBodyBytes = 64 << 10
		h, err := vxp.NewHandler(cfg, rec, nil)
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)

		if len(rec.Calls()) > 0 {
			m := hmac.New(sha256.New, []byte(goldenSecret))
			m.Write([]byte(r.Header.Get("XroadVnpt-sign-header")))
			got, _ := hex.DecodeString(r.Header.Get("XroadVnpt-hash-header"))
			if !hmac.Equal(m.Sum(nil), got) {
				t.Fatalf("a request without a valid HMAC reached the backend: %+v", rec.Calls())
			}
		}
		if w.Code == http.StatusOK && w.Header().Get("Content-Type") == "application/octet-stream" {
			if !bytes.Equal(w.Body.Bytes(), pkg) {
				t.Fatal("downloadEdoc answered something else than the package")
			}
			return
		}
		var a map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
			t.Fatalf("answer %q is not JSON", w.Body)
		}
		code, _ := a["ErrorCode"].(string)
		if _, ok := a["ErrorDesc"].(string); !ok || code == "" {
			t.Fatalf("answer %s lacks ErrorCode or ErrorDesc", w.Body)
		}
		if (w.Code == http.StatusOK) != (code == vxp.CodeOK) || (a["status"] == vxp.StatusFail) == (code == vxp.CodeOK) {
			t.Fatalf("HTTP %d with %s", w.Code, w.Body)
		}
	})
}
