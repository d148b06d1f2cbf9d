package vxp

import (
	"strings"
	"testing"
)

func TestJavaStringHash(t *testing.T) {
	// Values of String.hashCode() in Java.
	tests := map[string]uint32{
		"":         0,
		"hello":    99162322,
		"Aa":       2112,
		"BB":       2112,
		"systemid": 1976086410,
		"Tây Ninh": 2575657130, // -1719310166 as a Java int
		"😀":        1772899,    // a surrogate pair: two UTF-16 units
	}
	for s, want := range tests {
		if got := javaStringHash(s); got != want {
			t.Errorf("javaStringHash(%q) = %d, want %d", s, got, want)
		}
	}
}

// TestJavaMapAppendixA checks the emulated HashMap against the key orders
// recorded from the SDK (spec Appendix A), each from the SDK's insertion
// sequence: timestamp and systemid when the service is made, Content-Type
// by the operation, then the caller's keys, then hash-file.
func TestJavaMapAppendixA(t *testing.T) {
	tests := []struct {
		name   string
		insert []string
		want   string
	}{
		{"sendEdoc", []string{"timestamp", "systemid", "Content-Type", "from", "servicetype", "messagetype", "hash-file"},
			"systemid;servicetype;messagetype;hash-file;from;timestamp;Content-Type"},
		{"getReceivedEdocList", []string{"timestamp", "systemid", "Content-Type", "servicetype", "messagetype"},
			"systemid;servicetype;messagetype;timestamp;Content-Type"},
		{"getEdoc", []string{"timestamp", "systemid", "Content-Type", "filePath", "docId"},
			"systemid;docId;filePath;timestamp;Content-Type"},
		{"updateStatus", []string{"timestamp", "systemid", "Content-Type", "status", "docid"},
			"systemid;docid;timestamp;Content-Type;status"},
		{"getAgenciesList", []string{"timestamp", "systemid", "Content-Type"},
			"systemid;timestamp;Content-Type"},
		{"countReceiveStatus after getEdoc (leak)", []string{"timestamp", "systemid", "Content-Type", "filePath", "docId", "servicetype", "messagetype"},
			"systemid;servicetype;messagetype;docId;filePath;timestamp;Content-Type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &javaMap{}
			for _, k := range tt.insert {
				m.put(k, "v")
			}
			if got := keysOf(m); got != tt.want {
				t.Fatalf("order %s, want %s", got, tt.want)
			}
		})
	}
}

func keysOf(m *javaMap) string {
	var ks []string
	for _, e := range m.ordered() {
		ks = append(ks, e.key)
	}
	return strings.Join(ks, ";")
}

func TestJavaMapPutKeepsPlace(t *testing.T) {
	m := &javaMap{}
	for _, k := range []string{"Aa", "BB", "x"} { // Aa and BB share a bucket
		m.put(k, "1")
	}
	m.put("Aa", "2")
	if got := keysOf(m); got != "Aa;BB;x" && got != "x;Aa;BB" {
		t.Fatalf("order %s", got)
	}
	if e := m.ordered(); len(e) != 3 {
		t.Fatalf("%d entries after replacing a value", len(e))
	}
	for _, e := range m.ordered() {
		if e.key == "Aa" && e.value != "2" {
			t.Fatalf("Aa = %q after put", e.value)
		}
	}
}

func TestGsonQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", `"plain"`},
		{`a"b\c`, `"a\"b\\c"`},
		{"tab\tnl\ncr\rbs\bff\f", `"tab\tnl\ncr\rbs\bff\f"`},
		{"\x00\x1f", `"\u0000\u001f"`},
		{"<a href='x'>&=</a>", `"<a href='x'>&=</a>"`}, // not HTML-safe: Gson's JsonElement.toString
		{"Tây Ninh", `"Tây Ninh"`},
		{"\u2028\u2029", `"\u2028\u2029"`},
		{"\x7f/", "\"\x7f/\""},
	}
	for _, tt := range tests {
		var sb strings.Builder
		gsonQuote(&sb, tt.in)
		if sb.String() != tt.want {
			t.Errorf("gsonQuote(%q) = %s, want %s", tt.in, sb.String(), tt.want)
		}
	}
	if got := gsonObject([][2]string{{"XroadVnpt-a", "1"}, {"XroadVnpt-b", "2"}}); got != `{"XroadVnpt-a":"1","XroadVnpt-b":"2"}` {
		t.Errorf("gsonObject = %s", got)
	}
}
