package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names of a delivery POST. Wire constants: they never change.
const (
	// HeaderDeliveryID is the delivery's stable ID: the same on every
	// attempt and after a restart (subscription name, ".", inbox item
	// ID). A receiver drops a repeat by it.
	HeaderDeliveryID = "Delivery-Id"
	// HeaderTimestamp is the Unix time in seconds (decimal ASCII digits)
	// at which this attempt was signed. Each attempt has its own.
	HeaderTimestamp = "Webhook-Timestamp"
	// HeaderSignature is "sha256=" followed by the lowercase hex
	// HMAC-SHA256, under the subscription secret, of the Webhook-Timestamp
	// value, one "." (0x2E) and the raw body bytes (SignedBytes).
	HeaderSignature = "Webhook-Signature"
	// HeaderAttempt is the attempt number, from 1 (informational: not
	// signed).
	HeaderAttempt = "Webhook-Attempt"
)

// DefaultTolerance is how far from the receiver's clock a
// Webhook-Timestamp may be for Verify to accept it, when tolerance is 0.
const DefaultTolerance = 5 * time.Minute

// maxSignatureHeader bounds the Webhook-Signature value Verify parses.
const maxSignatureHeader = 4096

// SignedBytes returns the exact bytes the signature covers: timestamp
// (the Webhook-Timestamp value), ".", body.
func SignedBytes(timestamp string, body []byte) []byte {
	b := make([]byte, 0, len(timestamp)+1+len(body))
	b = append(b, timestamp...)
	b = append(b, '.')
	return append(b, body...)
}

// Sign returns the Webhook-Signature value for body signed at timestamp
// (the Webhook-Timestamp value): "sha256=" and the lowercase hex
// HMAC-SHA256(secret, timestamp + "." + body).
func Sign(secret []byte, timestamp string, body []byte) string {
	return "sha256=" + hex.EncodeToString(mac(secret, timestamp, body))
}

func mac(secret []byte, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Reasons of a VerifyError. Wire-stable: a receiver may return them.
const (
	ReasonTimestampMissing   = "timestamp-missing"
	ReasonTimestampMalformed = "timestamp-malformed"
	ReasonTimestampStale     = "timestamp-out-of-tolerance"
	ReasonSignatureMissing   = "signature-missing"
	ReasonSignatureMalformed = "signature-malformed"
	ReasonSignatureMismatch  = "signature-mismatch"
)

// VerifyError is why Verify refused a delivery.
type VerifyError struct {
	Reason string // one of the Reason* constants
	Detail string
}

func (e *VerifyError) Error() string {
	return "webhook signature: " + e.Reason + ": " + e.Detail
}

// Verify checks a delivery as a receiver gets it: the Webhook-Timestamp
// header is decimal Unix seconds within tolerance (DefaultTolerance when
// 0) of now, and one of the comma-separated "sha256=<hex>" values of
// Webhook-Signature is the HMAC-SHA256 under secret of the timestamp, "."
// and body (values with another scheme are skipped, so that a later
// release may add one). It returns a *VerifyError, or nil.
//
// It does not check the Delivery-Id: deduplicating by it is the
// receiver's job, and it must remember IDs for longer than the sender
// retries (a retry may come hours later, with a fresh timestamp).
func Verify(secret []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	ts := h.Get(HeaderTimestamp)
	if ts == "" {
		return &VerifyError{ReasonTimestampMissing, "no " + HeaderTimestamp + " header"}
	}
	sec, ok := parseUnixSeconds(ts)
	if !ok {
		return &VerifyError{ReasonTimestampMalformed, fmt.Sprintf("%s %q is not decimal Unix seconds", HeaderTimestamp, clip(ts))}
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return &VerifyError{ReasonTimestampStale, fmt.Sprintf("%s is %s from now, the tolerance is %s", HeaderTimestamp, d.Round(time.Second), tolerance)}
	}
	sig := h.Get(HeaderSignature)
	if sig == "" {
		return &VerifyError{ReasonSignatureMissing, "no " + HeaderSignature + " header"}
	}
	sums, err := parseSignatures(sig)
	if err != nil {
		return &VerifyError{ReasonSignatureMalformed, err.Error()}
	}
	want := mac(secret, ts, body)
	for _, s := range sums {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return &VerifyError{ReasonSignatureMismatch, "no sha256 signature matches the body under this secret"}
}

// parseUnixSeconds reads 1–18 ASCII digits (no sign, no space).
func parseUnixSeconds(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// parseSignatures returns the sha256 values of a Webhook-Signature header:
// comma-separated scheme=hex elements, spaces around them ignored.
func parseSignatures(v string) ([][]byte, error) {
	if len(v) > maxSignatureHeader {
		return nil, fmt.Errorf("%s is %d bytes, at most %d", HeaderSignature, len(v), maxSignatureHeader)
	}
	var out [][]byte
	for el := range strings.SplitSeq(v, ",") {
		el = strings.TrimSpace(el)
		scheme, val, ok := strings.Cut(el, "=")
		if !ok || scheme == "" {
			return nil, fmt.Errorf("%s element %q is not scheme=value", HeaderSignature, clip(el))
		}
		if scheme != "sha256" {
			continue
		}
		if len(val) != 2*sha256.Size {
			return nil, fmt.Errorf("%s sha256 value has %d characters, want %d hex digits", HeaderSignature, len(val), 2*sha256.Size)
		}
		b, err := hex.DecodeString(val)
		if err != nil {
			return nil, fmt.Errorf("%s sha256 value is not hex", HeaderSignature)
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s has no sha256= value", HeaderSignature)
	}
	return out, nil
}
