package vxp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"truc.vn/truc/edoc"
)

// FuzzParseSignHeader: the sign-header parser never panics; what it
// accepts is a set of distinct header-name keys within the bounds, and a
// re-encoding of it in Gson's form reads back the same.
func FuzzParseSignHeader(f *testing.F) {
	f.Add(`{"XroadVnpt-systemid":"vxp.saas.02","XroadVnpt-timestamp":"22112026T052108+0480","XroadVnpt-Content-Type":"application/json"}`)
	f.Add(`{"XroadVnpt-docId":"1","XroadVnpt-docid":"2"}`)
	f.Add(`{"XroadVnpt-a":"\u0041\u2028"}`)
	f.Add(`{"XroadVnpt-a":"1","XroadVnpt-a":"2"}`)
	f.Add(`{"XroadVnpt-a":{"b":"c"}}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, s string) {
		sh, err := parseSignHeader(s)
		if err != nil {
			return
		}
		if len(sh.keys) > MaxSignedKeys || len(sh.keys) != len(sh.values) {
			t.Fatalf("%d keys, %d values", len(sh.keys), len(sh.values))
		}
		entries := make([][2]string, len(sh.keys))
		for i, k := range sh.keys {
			if !isToken(k) {
				t.Fatalf("key %q accepted", k)
			}
			v := sh.values[k]
			if !utf8.ValidString(v) {
				t.Fatalf("value %q is not UTF-8", v)
			}
			entries[i] = [2]string{HeaderPrefix + k, v}
		}
		again, err := parseSignHeader(gsonObject(entries))
		if err != nil && len(gsonObject(entries)) <= MaxSignHeaderBytes {
			t.Fatalf("re-encoded sign-header refused: %v", err)
		}
		if err == nil {
			for _, k := range sh.keys {
				if again.values[k] != sh.values[k] {
					t.Fatalf("%s: %q became %q", k, sh.values[k], again.values[k])
				}
			}
		}
	})
}

// FuzzAuthenticate: authentication never panics, and accepts only a
// request whose HMAC is right and whose every signed key arrived with its
// signed value. With sign set, the fuzzer's sign-header is given a valid
// HMAC so that the checks after it are explored too.
func FuzzAuthenticate(f *testing.F) {
	f.Add("systemid;timestamp", `{"XroadVnpt-systemid":"sys.a","XroadVnpt-timestamp":"22112026T052108+0480"}`, true,
		"XroadVnpt-systemid: sys.a\nXroadVnpt-timestamp: 22112026T052108+0480")
	f.Add("systemid;docid;docId;timestamp", `{"XroadVnpt-systemid":"sys.a","XroadVnpt-docid":"1","XroadVnpt-docId":"2","XroadVnpt-timestamp":"22112026T052108+0480"}`, true,
		"XroadVnpt-systemid: sys.a\nXroadVnpt-docId: 2\nXroadVnpt-docid: 1\nXroadVnpt-timestamp: 22112026T052108+0480")
	f.Add("systemid", `{"XroadVnpt-systemid":"sys.a"}`, false, "XroadVnpt-systemid: sys.a")
	f.Add("systemid;timestamp", `{"XroadVnpt-systemid":"sys.b","XroadVnpt-timestamp":"x"}`, true, "XroadVnpt-systemid: sys.b")
	f.Fuzz(func(t *testing.T, keyList, signHeader string, sign bool, headers string) {
		h := http.Header{}
		for line := range strings.SplitSeq(headers, "\n") {
			if name, value, ok := strings.Cut(line, ": "); ok {
				h.Add(name, value)
			}
		}
		h.Set(HeaderSignHeaderKey, keyList)
		h.Set(HeaderSignHeader, signHeader)
		m := hmac.New(sha256.New, []byte(testSecret))
		m.Write([]byte(signHeader))
		mac := m.Sum(nil)
		if sign {
			h.Set(HeaderHashHeader, hex.EncodeToString(mac))
		} else {
			h.Set(HeaderHashHeader, strings.Repeat("0", 64))
		}
		sr, rj := authenticate(h, testSystems(), []byte("dummy"))
		if (sr == nil) == (rj == nil) {
			t.Fatalf("authenticate returned %v and %v", sr, rj)
		}
		if rj != nil {
			if rj.code == CodeOK || rj.desc() == "" {
				t.Fatalf("refusal without code or text: %+v", rj)
			}
			return
		}
		if !sign || sr.sys.caller.SystemID != "sys.a" {
			t.Fatalf("accepted with sign=%v as %q", sign, sr.sys.caller.SystemID)
		}
		for _, k := range sr.keys {
			found := false
			for _, v := range foldHeader(h).values(HeaderPrefix + k) {
				found = found || strings.Trim(v, " \t") == sr.values[k]
			}
			if !found {
				t.Fatalf("signed %s=%q accepted without that header", k, sr.values[k])
			}
		}
		if _, err := ParseTimestamp(sr.values[KeyTimestamp]); err != nil {
			t.Fatalf("accepted a bad timestamp: %v", err)
		}
	})
}

// FuzzParseTimestamp: never panics, and what it reads writes back to the
// same instant.
func FuzzParseTimestamp(f *testing.F) {
	for _, s := range []string{"22112026T052108+0480", "01012026T000000+7", "29022028T235959+0999", "31022026T000000+0000", "", "22112026T052108-0480"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ts, err := ParseTimestamp(s)
		if err != nil {
			return
		}
		back, err := ParseTimestamp(FormatTimestamp(ts))
		if err != nil || !back.Equal(ts) {
			t.Fatalf("%q read as %v, written as %q, read back as %v, %v", s, ts, FormatTimestamp(ts), back, err)
		}
	})
}

// FuzzParseRegistration: never panics, and what it accepts has a valid
// code and mail address and a name.
func FuzzParseRegistration(f *testing.F) {
	f.Add([]byte(`{"id":"","pcode":"000.00.31.H53","code":"000.05.31.H53","name":"UBND xã Lợi Thuận","mail":"loithuan@tayninh.example.gov.vn","mobile":"0276 3870 000","fax":""}`))
	f.Add([]byte(`{"id":"","pcode":"00.22.W00","code":"999.010.01.H22","name":"Hà giang","mail":cc"","mobile":333"","fax":333""}`))
	f.Add([]byte(`{"code":"a","name":"b","mail":"c@d.e","code":"x"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		reg, rj := parseRegistration(body)
		if rj != nil {
			return
		}
		if !edoc.IsOrganID(reg.Code) || reg.Name == "" || !isMailAddress(reg.Mail) || (reg.ParentCode != "" && !edoc.IsOrganID(reg.ParentCode)) {
			t.Fatalf("accepted %+v", reg)
		}
	})
}
