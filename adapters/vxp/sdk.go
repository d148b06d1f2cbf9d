package vxp

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf16"
)

// This file reproduces, for the client, the two pieces of Java behind the
// SDK's headers: the iteration order of java.util.HashMap, which decides
// the order of the signed keys, and Gson's JsonObject.toString, which
// writes the sign-header that is HMAC'd. The server never relies on
// either: it verifies the string it receives.

// javaMap is a java.util.HashMap<String,String> reduced to what decides its
// iteration order: the table size and each key's bucket. Entries of one
// bucket iterate in insertion order (a resize splits a bucket's chain
// keeping its order), buckets in index order. The table starts at 16
// buckets and doubles when it holds more than 3/4 of that many keys, or
// when a bucket reaches 9 keys in a table of fewer than 64 buckets
// (treeifyBin). Buckets that Java turns into trees (9 keys or more in a
// table of 64 or more) are not reproduced: that takes dozens of keys,
// which no SDK call comes near.
type javaMap struct {
	capacity int
	entries  []javaEntry // insertion order
}

type javaEntry struct {
	key, value string
	hash       uint32 // the spread String.hashCode, as HashMap.hash
}

func (m *javaMap) put(k, v string) {
	for i := range m.entries {
		if m.entries[i].key == k {
			m.entries[i].value = v // an existing key keeps its place
			return
		}
	}
	if m.capacity == 0 {
		m.capacity = 16
	}
	h := javaSpread(javaStringHash(k))
	chain := 0
	for _, e := range m.entries {
		if m.bucket(e.hash) == m.bucket(h) {
			chain++
		}
	}
	m.entries = append(m.entries, javaEntry{key: k, value: v, hash: h})
	if chain >= 8 && m.capacity < 64 {
		m.capacity *= 2
	}
	if len(m.entries) > m.capacity*3/4 {
		m.capacity *= 2
	}
}

func (m *javaMap) bucket(h uint32) uint32 { return h & uint32(m.capacity-1) }

// ordered returns the entries in the order a Java iteration visits them.
func (m *javaMap) ordered() []javaEntry {
	out := slices.Clone(m.entries)
	slices.SortStableFunc(out, func(a, b javaEntry) int {
		return int(m.bucket(a.hash)) - int(m.bucket(b.hash))
	})
	return out
}

// javaStringHash is Java's String.hashCode: s[0]*31^(n-1) + … + s[n-1]
// over the UTF-16 code units, in 32-bit arithmetic.
func javaStringHash(s string) uint32 {
	var h uint32
	for _, u := range utf16.Encode([]rune(s)) {
		h = 31*h + uint32(u)
	}
	return h
}

// javaSpread is HashMap.hash: the hash code with its high half folded in.
func javaSpread(h uint32) uint32 { return h ^ h>>16 }

// gsonQuote writes s as a JSON string the way Gson's JsonWriter does when
// not HTML-safe (JsonElement.toString): control characters as \uXXXX with
// lower-case hex except \t \b \n \r \f, " and \ escaped, U+2028 and U+2029
// escaped, everything else (non-ASCII included) as UTF-8.
func gsonQuote(sb *strings.Builder, s string) {
	sb.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			sb.WriteString(`\"`)
		case r == '\\':
			sb.WriteString(`\\`)
		case r == '\t':
			sb.WriteString(`\t`)
		case r == '\b':
			sb.WriteString(`\b`)
		case r == '\n':
			sb.WriteString(`\n`)
		case r == '\r':
			sb.WriteString(`\r`)
		case r == '\f':
			sb.WriteString(`\f`)
		case r < 0x20, r == 0x2028, r == 0x2029:
			fmt.Fprintf(sb, `\u%04x`, r)
		default:
			sb.WriteRune(r)
		}
	}
	sb.WriteByte('"')
}

// gsonObject writes the entries as Gson's JsonObject.toString does: compact,
// in the given order.
func gsonObject(entries [][2]string) string {
	var sb strings.Builder
	sb.WriteByte('{')
	for i, e := range entries {
		if i > 0 {
			sb.WriteByte(',')
		}
		gsonQuote(&sb, e[0])
		sb.WriteByte(':')
		gsonQuote(&sb, e[1])
	}
	sb.WriteByte('}')
	return sb.String()
}
