package directory

import (
	"bytes"
	"testing"
)

// FuzzParseEdgeAgencyRequest: any text is either refused or is the
// canonical text of the request it decodes to (so that what the axis
// verified is exactly what it acts on). Seeds are in
// testdata/fuzz/FuzzParseEdgeAgencyRequest.
func FuzzParseEdgeAgencyRequest(f *testing.F) {
	f.Add([]byte("truc-edge-request v1\nedge tayninh\nop put-agency\norgan-id 000.05.31.H53\nparent 000.00.31.H53\nname UBND xã Lợi Thuận\ntime 2026-11-22T05:21:08Z\nnonce 0123456789abcdef0123456789abcdef\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		r, err := ParseEdgeAgencyRequest(text)
		if err != nil {
			return
		}
		again, err := r.text()
		if err != nil {
			t.Fatalf("a parsed request does not encode: %v", err)
		}
		if !bytes.Equal(again, text) {
			t.Fatalf("a parsed request encodes to other text:\n%q\n%q", again, text)
		}
		if _, err := unverifiedRequestEdge(append(bytes.Clone(text), '\n')); err != nil {
			t.Fatalf("the edge of a valid request is not found: %v", err)
		}
	})
}
