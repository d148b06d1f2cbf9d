package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzVerify: Verify never panics, says why with a known reason when it
// refuses, and accepts only a signature that is the HMAC of the timestamp,
// "." and the body.
func FuzzVerify(f *testing.F) {
	now := time.Unix(1795861200, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	body := []byte(`{"delivery_id":"dms.in-0123456789abcdef0123456789abcdef"}`)
	f.Add(ts, Sign(testSecret, ts, body), body)
	f.Add(ts, "sha256="+strings.Repeat("0", 64)+","+Sign(testSecret, ts, body), body)
	f.Add("+1795861200", Sign(testSecret, "+1795861200", body), body)
	f.Add(ts, "sha256=", []byte{})
	f.Add("", "", []byte(nil))
	f.Add(ts, "v1=abc, sha256=zz", body)
	f.Fuzz(func(t *testing.T, timestamp, signature string, body []byte) {
		h := http.Header{}
		h.Set(HeaderTimestamp, timestamp)
		h.Set(HeaderSignature, signature)
		err := Verify(testSecret, h, body, now, 0)
		if err != nil {
			var ve *VerifyError
			if !errors.As(err, &ve) || ve.Reason == "" {
				t.Fatalf("Verify: %v is not a *VerifyError with a reason", err)
			}
			return
		}
		m := hmac.New(sha256.New, testSecret)
		m.Write([]byte(h.Get(HeaderTimestamp) + "."))
		m.Write(body)
		want := hex.EncodeToString(m.Sum(nil))
		for el := range strings.SplitSeq(h.Get(HeaderSignature), ",") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(el), "sha256="); ok && strings.EqualFold(v, want) {
				return
			}
		}
		t.Fatalf("Verify accepted %q over %q", signature, body)
	})
}

// FuzzParseDeliveryID: what parses is a valid name and item ID that
// format back to the same ID.
func FuzzParseDeliveryID(f *testing.F) {
	f.Add("dms-hanoi.in-0123456789abcdef0123456789abcdef")
	f.Add("a.b.in-0123456789abcdef0123456789abcdef")
	f.Add(".in-")
	f.Add("dms.in-0123456789ABCDEF0123456789abcdef")
	f.Fuzz(func(t *testing.T, id string) {
		s, i, ok := ParseDeliveryID(id)
		if !ok {
			return
		}
		if !IsName(s) || !isItemID(i) || DeliveryID(s, i) != id {
			t.Fatalf("ParseDeliveryID(%q) = %q, %q", id, s, i)
		}
	})
}
