package vxp_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"testing"

	"truc.vn/truc/adapters/vxp"
)

// Red-team tests of the VXP handler: requests that must not reach the
// Backend, and answers that must keep their promises whatever the Backend
// says.

// TestRedteamUnderRejectsParentAliases: a zero group means "not
// applicable" whatever its width, so 0.00.00.H53 and 00.00.00.H53 name
// the province 000.00.00.H53 itself. Under counted them as below it, so a
// system allowed to manage the province's children could register (or
// delete) a second directory entry for the province under another
// spelling.
func TestRedteamUnderRejectsParentAliases(t *testing.T) {
	for _, tt := range []struct{ code, parent string }{
		{"00.00.00.H53", "000.00.00.H53"},
		{"0.0.0.H53", "000.00.00.H53"},
		{"0000.00.00.H53", "000.00.00.H53"},
		{"000.0.31.H53", "000.00.31.H53"},
		{"00.000.31.H53", "000.00.31.H53"},
	} {
		if vxp.Under(tt.code, tt.parent) {
			t.Errorf("Under(%q, %q) = true: the same unit spelt differently", tt.code, tt.parent)
		}
	}
	// What is really below still is.
	for _, tt := range []struct{ code, parent string }{
		{"0.00.31.H53", "000.00.00.H53"},
		{"001.0.0.H53", "000.00.00.H53"},
		{"1.00.31.H53", "000.00.31.H53"},
	} {
		if !vxp.Under(tt.code, tt.parent) {
			t.Errorf("Under(%q, %q) = false", tt.code, tt.parent)
		}
	}
}

func TestRedteamRegisterAgencyParentAlias(t *testing.T) {
	// goldenParent is 000.00.00.H53.
	body := []byte(`{"code":"00.00.00.H53","name":"UBND tỉnh Tây Ninh","mail":"ubnd@tayninh.example.gov.vn"}`)
	r := signed(t, http.MethodPost, vxp.OpRegisterAgency, body, [2]string{"Content-Type", "application/json"})
	w, rec := serve(t, goldenConfig(), stub{}, r)
	if w.Code != http.StatusForbidden || len(rec.Calls()) != 0 {
		t.Fatalf("registerAgency of an alias of the parent: HTTP %d, calls %+v, %s", w.Code, rec.Calls(), w.Body)
	}
	r = signed(t, http.MethodPost, vxp.OpDeleteAgency, []byte("{}"), [2]string{"AgencyCode", "0.0.0.H53"})
	w, rec = serve(t, goldenConfig(), stub{}, r)
	if w.Code != http.StatusForbidden || len(rec.Calls()) != 0 {
		t.Fatalf("deleteAgency of an alias of the parent: HTTP %d, calls %+v, %s", w.Code, rec.Calls(), w.Body)
	}
}

// chatty is a Backend whose refusals carry Vietnamese text, markup and
// control characters, as a Backend quoting a package's values would.
type chatty struct{ stub }

func (chatty) SendEdoc(context.Context, vxp.Caller, vxp.SendRequest) (string, error) {
	return "", &vxp.Error{Kind: vxp.KindInvalidPackage, Field: "MessageHeader/Từ\r\n", Rule: "organid\x00",
		Message: "\"Bộ Tài chính\" <script>\u2028\x1b[31m is not an OrganId"}
}

// TestRedteamErrorDescASCII: the package documentation promises an ASCII
// ErrorDesc (the SDK reads a sendEdoc answer as US-ASCII); a Backend's
// Field, Rule and Message were copied into it unchanged.
func TestRedteamErrorDescASCII(t *testing.T) {
	pkg := []byte("<edXML/>")
	r := signed(t, http.MethodPost, vxp.OpSendEdoc, pkg,
		[2]string{"servicetype", "eDoc"}, [2]string{"messagetype", "edoc"},
		[2]string{"hash-file", sha256Hex(pkg)}, [2]string{"from", goldenOrgan})
	w, rec := serve(t, goldenConfig(), chatty{}, r)
	if len(rec.Calls()) != 1 || w.Code != http.StatusUnprocessableEntity {
		t.Fatalf("HTTP %d, calls %d: %s", w.Code, len(rec.Calls()), w.Body)
	}
	for i, c := range w.Body.Bytes() {
		if c >= 0x80 {
			t.Fatalf("answer byte %d is not ASCII: %s", i, w.Body)
		}
	}
	var a struct{ ErrorDesc string }
	if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
		t.Fatal(err)
	}
	for _, c := range []byte(a.ErrorDesc) {
		if c < 0x20 || c >= 0x7f {
			t.Fatalf("ErrorDesc %q holds a control or non-ASCII character", a.ErrorDesc)
		}
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
