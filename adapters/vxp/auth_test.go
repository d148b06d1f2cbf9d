package vxp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"truc.vn/truc/edoc"
)

func TestUnpaddedHex(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, ""},
		{"zero byte is one digit", []byte{0x00}, "0"},
		{"below 0x10 loses its leading zero", []byte{0x0a, 0x01}, "a1"},
		{"0x10 and above keep two digits", []byte{0x10, 0xff, 0xab}, "10ffab"},
		{"mixed", []byte{0xde, 0x05, 0xbe, 0x0f}, "de5bef"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := UnpaddedHex(tt.in); got != tt.want {
				t.Errorf("UnpaddedHex(% x) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseTimestamp(t *testing.T) {
	tests := []struct {
		name, in string
		want     time.Time // zero: must fail
	}{
		{"Appendix A", "22112026T052108+0480", time.Date(2026, 11, 22, 5, 21, 8, 480e6, edoc.ICT)},
		{"spec §5.1 example", "22112025T104501+0123", time.Date(2025, 11, 22, 10, 45, 1, 123e6, edoc.ICT)},
		{"one millisecond digit", "01012026T000000+7", time.Date(2026, 1, 1, 0, 0, 0, 7e6, edoc.ICT)},
		{"29 February of a leap year", "29022028T235959+0999", time.Date(2028, 2, 29, 23, 59, 59, 999e6, edoc.ICT)},
		{"29 February of another year", "29022026T000000+0000", time.Time{}},
		{"month 13", "01132026T000000+0000", time.Time{}},
		{"day 0", "00112026T000000+0000", time.Time{}},
		{"hour 24", "22112026T240000+0000", time.Time{}},
		{"minute 60", "22112026T056000+0000", time.Time{}},
		{"1000 ms", "22112026T052108+1000", time.Time{}},
		{"year 0", "22110000T052108+0480", time.Time{}},
		{"minus instead of plus", "22112026T052108-0480", time.Time{}},
		{"no T", "22112026 052108+0480", time.Time{}},
		{"no milliseconds", "22112026T052108+", time.Time{}},
		{"five digits", "22112026T052108+04800", time.Time{}},
		{"letter", "2211202xT052108+0480", time.Time{}},
		{"ISO 8601", "2026-11-22T05:21:08", time.Time{}},
		{"empty", "", time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTimestamp(tt.in)
			if tt.want.IsZero() {
				if err == nil {
					t.Fatalf("ParseTimestamp(%q) = %v, want an error", tt.in, got)
				}
				return
			}
			if err != nil || !got.Equal(tt.want) {
				t.Fatalf("ParseTimestamp(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestFormatTimestamp(t *testing.T) {
	// 22:21:08.480 UTC is 05:21:08.480 the next day in Vietnam.
	got := FormatTimestamp(time.Date(2026, 11, 21, 22, 21, 8, 480e6, time.UTC))
	if got != "22112026T052108+0480" {
		t.Fatalf("FormatTimestamp = %q", got)
	}
}

func TestParseSignHeader(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		keys    []string
		values  map[string]string
		wantErr string
	}{
		{name: "SDK form", in: `{"XroadVnpt-systemid":"vxp.saas.02","XroadVnpt-timestamp":"22112026T052108+0480","XroadVnpt-Content-Type":"application/json"}`,
			keys:   []string{"systemid", "timestamp", "Content-Type"},
			values: map[string]string{"systemid": "vxp.saas.02", "timestamp": "22112026T052108+0480", "Content-Type": "application/json"}},
		{name: "escapes are decoded", in: `{"XroadVnpt-a":"\u0041\u003d","XroadVnpt-b":"T\u00e2y"}`,
			keys: []string{"a", "b"}, values: map[string]string{"a": "A=", "b": "Tây"}},
		{name: "values trimmed like header values", in: `{"XroadVnpt-a":"  x \t"}`,
			keys: []string{"a"}, values: map[string]string{"a": "x"}},
		{name: "docId and docid are distinct keys", in: `{"XroadVnpt-docId":"1","XroadVnpt-docid":"2"}`,
			keys: []string{"docId", "docid"}, values: map[string]string{"docId": "1", "docid": "2"}},
		{name: "empty object", in: `{}`, keys: []string{}, values: map[string]string{}},
		{name: "duplicate key", in: `{"XroadVnpt-a":"1","XroadVnpt-a":"2"}`, wantErr: "appears twice"},
		{name: "number value", in: `{"XroadVnpt-a":1}`, wantErr: "not a string"},
		{name: "null value", in: `{"XroadVnpt-a":null}`, wantErr: "not a string"},
		{name: "nested object", in: `{"XroadVnpt-a":{}}`, wantErr: "not a string"},
		{name: "array", in: `["XroadVnpt-a"]`, wantErr: "not a JSON object"},
		{name: "string", in: `"x"`, wantErr: "not a JSON object"},
		{name: "trailing data", in: `{"XroadVnpt-a":"1"}{}`, wantErr: "data after"},
		{name: "truncated", in: `{"XroadVnpt-a":"1"`, wantErr: "not JSON"},
		{name: "no prefix", in: `{"systemid":"x"}`, wantErr: "does not start with XroadVnpt-"},
		{name: "prefix in other case", in: `{"xroadvnpt-systemid":"x"}`, wantErr: "does not start with XroadVnpt-"},
		{name: "empty key after prefix", in: `{"XroadVnpt-":"x"}`, wantErr: "not a header name"},
		{name: "key with a space", in: `{"XroadVnpt-a b":"x"}`, wantErr: "not a header name"},
		{name: "key with a colon", in: `{"XroadVnpt-a:b":"x"}`, wantErr: "not a header name"},
		{name: "invalid UTF-8", in: "{\"XroadVnpt-a\":\"\xff\"}", wantErr: "UTF-8"},
		{name: "too long", in: `{"XroadVnpt-a":"` + strings.Repeat("x", MaxSignHeaderBytes) + `"}`, wantErr: "longer than"},
		{name: "too many keys", in: manyKeys(MaxSignedKeys + 1), wantErr: "more than"},
		{name: "not JSON", in: `{XroadVnpt-a:"1"}`, wantErr: "not JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sh, err := parseSignHeader(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(sh.keys, ";") != strings.Join(tt.keys, ";") || len(sh.values) != len(tt.values) {
				t.Fatalf("keys %q values %q, want %q %q", sh.keys, sh.values, tt.keys, tt.values)
			}
			for k, v := range tt.values {
				if sh.values[k] != v {
					t.Errorf("value of %s = %q, want %q", k, sh.values[k], v)
				}
			}
		})
	}
	if _, err := parseSignHeader(manyKeys(MaxSignedKeys)); err != nil {
		t.Errorf("%d keys refused: %v", MaxSignedKeys, err)
	}
}

func manyKeys(n int) string {
	parts := make([][2]string, n)
	for i := range parts {
		parts[i] = [2]string{HeaderPrefix + "k" + string(rune('a'+i%26)) + strings.Repeat("x", i/26), "v"}
	}
	return gsonObject(parts)
}

func TestCheckKeyList(t *testing.T) {
	keys := []string{"systemid", "docId", "timestamp"}
	tests := []struct {
		name, list, wantErr string
	}{
		{"same order", "systemid;docId;timestamp", ""},
		{"other order", "timestamp;systemid;docId", ""},
		{"missing one", "systemid;docId", "signed but not listed"},
		{"extra one", "systemid;docId;timestamp;from", "listed but not in"},
		{"twice", "systemid;docId;timestamp;docId", "listed twice"},
		{"case differs", "systemid;docid;timestamp", "listed but not in"},
		{"trailing separator", "systemid;docId;timestamp;", "listed but not in"},
		{"empty", "", "listed but not in"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkKeyList(tt.list, keys)
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("checkKeyList(%q) = %v, want %q", tt.list, err, tt.wantErr)
			}
		})
	}
}

// signedHeader builds the headers a well-behaved client sends for entries.
func signedHeader(secret string, entries [][2]string) http.Header {
	h := http.Header{}
	signed := make([][2]string, len(entries))
	keys := make([]string, len(entries))
	for i, e := range entries {
		h.Add(HeaderPrefix+e[0], e[1])
		signed[i] = [2]string{HeaderPrefix + e[0], e[1]}
		keys[i] = e[0]
	}
	sh := gsonObject(signed)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(sh))
	h.Set(HeaderSignHeaderKey, strings.Join(keys, ";"))
	h.Set(HeaderSignHeader, sh)
	h.Set(HeaderHashHeader, hex.EncodeToString(m.Sum(nil)))
	return h
}

const testSecret = "0123456789abcdef-test"

func testSystems() map[string]*system {
	return map[string]*system{"sys.a": {secret: []byte(testSecret), caller: Caller{SystemID: "sys.a"}}}
}

func TestAuthenticate(t *testing.T) {
	base := [][2]string{{"systemid", "sys.a"}, {"docId", "abc"}, {"timestamp", "22112026T052108+0480"}, {"Content-Type", "application/json"}}
	tests := []struct {
		name     string
		header   func() http.Header
		wantCode string
		wantRule string
	}{
		{"valid", func() http.Header { return signedHeader(testSecret, base) }, "", ""},
		{"uppercase HMAC accepted", func() http.Header {
			h := signedHeader(testSecret, base)
			h.Set(HeaderHashHeader, strings.ToUpper(h.Get(HeaderHashHeader)))
			return h
		}, "", ""},
		{"header names in any case", func() http.Header {
			h := http.Header{}
			for k, v := range signedHeader(testSecret, base) {
				h[strings.ToLower(k)] = v
			}
			return h
		}, "", ""},
		{"leaked docid beside docId, both sent", func() http.Header {
			return signedHeader(testSecret, append([][2]string{{"docid", "old"}}, base...))
		}, "", ""},
		{"leaked docid signed but its header swapped with docId's", func() http.Header {
			h := signedHeader(testSecret, append([][2]string{{"docid", "old"}}, base...))
			h.Del("XroadVnpt-docId")
			h.Add("XroadVnpt-docId", "abc")
			h.Add("XroadVnpt-docId", "abc")
			return h
		}, CodeUnauthenticated, "signed-header-mismatch"},
		{"wrong secret", func() http.Header { return signedHeader("another-secret-0000", base) }, CodeUnauthenticated, "authentication"},
		{"unknown systemid", func() http.Header {
			return signedHeader(testSecret, append([][2]string{{"systemid", "sys.b"}}, base[1:]...))
		}, CodeUnauthenticated, "authentication"},
		{"signed header changed", func() http.Header {
			h := signedHeader(testSecret, base)
			h.Set("XroadVnpt-docId", "abd")
			return h
		}, CodeUnauthenticated, "signed-header-mismatch"},
		{"signed header repeated", func() http.Header {
			h := signedHeader(testSecret, base)
			h.Add("XroadVnpt-docId", "abc")
			return h
		}, CodeUnauthenticated, "signed-header-mismatch"},
		{"signed header not sent", func() http.Header {
			h := signedHeader(testSecret, base)
			h.Del("XroadVnpt-docId")
			return h
		}, CodeUnauthenticated, "signed-header-missing"},
		{"unsigned extra header ignored", func() http.Header {
			h := signedHeader(testSecret, base)
			h.Set("XroadVnpt-from", "000.00.00.G22")
			return h
		}, "", ""},
		{"sign-header missing", func() http.Header {
			h := signedHeader(testSecret, base)
			h.Del(HeaderSignHeader)
			return h
		}, CodeBadRequest, "missing"},
		{"sign-header repeated", func() http.Header {
			h := signedHeader(testSecret, base)
			h.Add(HeaderSignHeader, h.Get(HeaderSignHeader))
			return h
		}, CodeBadRequest, "repeated"},
		{"key list missing", func() http.Header {
			h := signedHeader(testSecret, base)
			h.Del(HeaderSignHeaderKey)
			return h
		}, CodeBadRequest, "missing"},
		{"hash-header missing", func() http.Header {
			h := signedHeader(testSecret, base)
			h.Del(HeaderHashHeader)
			return h
		}, CodeBadRequest, "missing"},
		{"hash-header short", func() http.Header {
			h := signedHeader(testSecret, base)
			h.Set(HeaderHashHeader, h.Get(HeaderHashHeader)[:63])
			return h
		}, CodeBadRequest, "malformed"},
		{"systemid not signed", func() http.Header { return signedHeader(testSecret, base[1:]) }, CodeBadRequest, "required-key"},
		{"timestamp not signed", func() http.Header {
			return signedHeader(testSecret, [][2]string{base[0], base[1], base[3]})
		}, CodeBadRequest, "required-key"},
		{"timestamp malformed", func() http.Header {
			return signedHeader(testSecret, [][2]string{base[0], base[1], {"timestamp", "2026-11-22T05:21:08Z"}})
		}, CodeBadRequest, "timestamp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sr, rj := authenticate(tt.header(), testSystems(), []byte("dummy"))
			if tt.wantCode == "" {
				if rj != nil {
					t.Fatalf("refused: %s", rj.desc())
				}
				if sr.sys.caller.SystemID != "sys.a" || sr.values["docId"] != "abc" {
					t.Fatalf("authenticated %+v", sr)
				}
				return
			}
			if rj == nil {
				t.Fatal("accepted")
			}
			if rj.code != tt.wantCode || rj.rule != tt.wantRule {
				t.Fatalf("refused with %s %s (%s), want %s %s", rj.code, rj.rule, rj.desc(), tt.wantCode, tt.wantRule)
			}
		})
	}
}

func TestMatchHashFile(t *testing.T) {
	pkg := []byte("<edXML>tiny</edXML>")
	sum := sha256.Sum256(pkg)
	crlfPkg := []byte("<edXML>tiny</edXML>\r\n")
	crlfSum := sha256.Sum256(crlfPkg)
	tests := []struct {
		name     string
		body     []byte
		hashFile string
		want     []byte // nil: no match
	}{
		{"SDK: file then CRLF, unpadded hash", append(append([]byte{}, pkg...), '\r', '\n'), UnpaddedHex(sum[:]), pkg},
		{"no CRLF appended", pkg, UnpaddedHex(sum[:]), pkg},
		{"padded hex accepted", append(append([]byte{}, pkg...), '\r', '\n'), hex.EncodeToString(sum[:]), pkg},
		{"upper case accepted", pkg, strings.ToUpper(UnpaddedHex(sum[:])), pkg},
		{"file ending in CRLF, SDK adds another", append(append([]byte{}, crlfPkg...), '\r', '\n'), UnpaddedHex(crlfSum[:]), crlfPkg},
		{"file ending in CRLF, nothing added", crlfPkg, UnpaddedHex(crlfSum[:]), crlfPkg},
		{"only one CRLF is stripped", append(append([]byte{}, pkg...), '\r', '\n', '\r', '\n'), UnpaddedHex(sum[:]), nil},
		{"LF only is not stripped", append(append([]byte{}, pkg...), '\n'), UnpaddedHex(sum[:]), nil},
		{"other content", []byte("<edXML>tinY</edXML>\r\n"), UnpaddedHex(sum[:]), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := matchHashFile(tt.body, tt.hashFile)
			if ok != (tt.want != nil) || string(got) != string(tt.want) {
				t.Fatalf("matchHashFile = %q, %v; want %q", got, ok, tt.want)
			}
		})
	}
}

func TestCheckHashFileSyntax(t *testing.T) {
	for _, s := range []string{strings.Repeat("a", 31), strings.Repeat("a", 65), strings.Repeat("g", 40), ""} {
		if checkHashFileSyntax(s) == nil {
			t.Errorf("%q accepted", s)
		}
	}
	for _, s := range []string{strings.Repeat("a", 32), strings.Repeat("F", 64), "eae116e3d1eaa2d694eca8d9eb692625365acbb4bbaff8057cb255aaffdb3"} {
		if err := checkHashFileSyntax(s); err != nil {
			t.Errorf("%q refused: %v", s, err)
		}
	}
}
