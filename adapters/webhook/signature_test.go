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

// TestSignKnownAnswer pins the signed string: the timestamp, ".", the
// body, under HMAC-SHA256 (computed here independently of Sign).
func TestSignKnownAnswer(t *testing.T) {
	secret := []byte("whsec-0123456789abcdef0123456789ab")
	body := []byte(`{"delivery_id":"dms.in-00"}`)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("1795861200." + string(body)))
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	if got := Sign(secret, "1795861200", body); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
	if got := string(SignedBytes("1795861200", body)); got != "1795861200."+string(body) {
		t.Errorf("SignedBytes = %q", got)
	}
	// A fixed vector (computed with Python's hmac module), for receivers
	// in other languages: HMAC-SHA256("secret", "1.{}").
	if got, want := Sign([]byte("secret"), "1", []byte("{}")), "sha256=1122767b193110cfec322b6f199b599edbf608ed087f2d27afb0b97d99523908"; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(1795861200, 0)
	body := []byte(`{"delivery_id":"dms.in-0123456789abcdef0123456789abcdef","package":"PGVkWE1MLz4="}`)
	ts := strconv.FormatInt(now.Unix(), 10)
	good := Sign(testSecret, ts, body)
	headers := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	tampered := append([]byte(nil), body...)
	tampered[len(tampered)-3] ^= 1
	cases := []struct {
		name   string
		secret []byte
		h      http.Header
		body   []byte
		now    time.Time
		want   string // reason, "" for success
	}{
		{"good", testSecret, headers(HeaderTimestamp, ts, HeaderSignature, good), body, now, ""},
		{"within tolerance", testSecret, headers(HeaderTimestamp, ts, HeaderSignature, good), body, now.Add(4 * time.Minute), ""},
		{"one of several", testSecret, headers(HeaderTimestamp, ts, HeaderSignature, "sha256="+strings.Repeat("0", 64)+", v2=abc , "+good), body, now, ""},
		{"tampered body", testSecret, headers(HeaderTimestamp, ts, HeaderSignature, good), tampered, now, ReasonSignatureMismatch},
		{"wrong secret", []byte("another secret of at least 32 bytes!"), headers(HeaderTimestamp, ts, HeaderSignature, good), body, now, ReasonSignatureMismatch},
		{"timestamp changed", testSecret, headers(HeaderTimestamp, strconv.FormatInt(now.Unix()+1, 10), HeaderSignature, good), body, now, ReasonSignatureMismatch},
		{"replayed later", testSecret, headers(HeaderTimestamp, ts, HeaderSignature, good), body, now.Add(6 * time.Minute), ReasonTimestampStale},
		{"from the future", testSecret, headers(HeaderTimestamp, ts, HeaderSignature, good), body, now.Add(-6 * time.Minute), ReasonTimestampStale},
		{"no timestamp", testSecret, headers(HeaderSignature, good), body, now, ReasonTimestampMissing},
		{"signed timestamp", testSecret, headers(HeaderTimestamp, "+"+ts, HeaderSignature, good), body, now, ReasonTimestampMalformed},
		{"milliseconds", testSecret, headers(HeaderTimestamp, ts+"000000000", HeaderSignature, good), body, now, ReasonTimestampMalformed},
		{"no signature", testSecret, headers(HeaderTimestamp, ts), body, now, ReasonSignatureMissing},
		{"bare hex", testSecret, headers(HeaderTimestamp, ts, HeaderSignature, good[len("sha256="):]), body, now, ReasonSignatureMalformed},
		{"short hex", testSecret, headers(HeaderTimestamp, ts, HeaderSignature, good[:20]), body, now, ReasonSignatureMalformed},
		{"not hex", testSecret, headers(HeaderTimestamp, ts, HeaderSignature, "sha256="+strings.Repeat("z", 64)), body, now, ReasonSignatureMalformed},
		{"other scheme only", testSecret, headers(HeaderTimestamp, ts, HeaderSignature, "sha512=abcd"), body, now, ReasonSignatureMalformed},
		{"huge header", testSecret, headers(HeaderTimestamp, ts, HeaderSignature, strings.Repeat(good+",", 100)), body, now, ReasonSignatureMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(tc.secret, tc.h, tc.body, tc.now, 0)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			var ve *VerifyError
			if !errors.As(err, &ve) || ve.Reason != tc.want {
				t.Fatalf("Verify: %v, want reason %s", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "webhook signature: "+tc.want+": ") {
				t.Errorf("error text %q", err)
			}
		})
	}
}
