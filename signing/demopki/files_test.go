package demopki

import (
	"bytes"
	"testing"
	"time"
)

func FuzzParseIndex(f *testing.F) {
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	seed, err := marshalIndex([]Entry{{
		Serial: "1f2e3d", Name: "vpcp", Kind: Agency, Subject: "CN=VĂN PHÒNG CHÍNH PHỦ,C=VN",
		SHA256: "5d41402abc4b2a76b9719d911017c5925d41402abc4b2a76b9719d911017c592", KeyType: RSA2048,
		NotBefore: at, NotAfter: at.AddDate(5, 0, 0), RevokedAt: &at, Reason: KeyCompromise,
	}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"version":1,"issued":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := parseIndex(b)
		if err != nil {
			return
		}
		// What parses writes back to something that parses to the same.
		out, err := marshalIndex(entries)
		if err != nil {
			t.Fatal(err)
		}
		again, err := parseIndex(out)
		if err != nil {
			t.Fatalf("re-encoded index does not parse: %v", err)
		}
		out2, _ := marshalIndex(again)
		if !bytes.Equal(out, out2) {
			t.Fatal("index changed in a round trip")
		}
	})
}

func FuzzParseState(f *testing.F) {
	seed, err := caState{Version: 1, CRLBaseURL: DefaultCRLBaseURL, CRLValidity: duration(DefaultCRLValidity), RootCRLNumber: 2, IssuingCRLNumber: 7}.marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseState(b)
		if err != nil {
			return
		}
		out, err := s.marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parseState(out); err != nil {
			t.Fatalf("re-encoded state does not parse: %v", err)
		}
	})
}
