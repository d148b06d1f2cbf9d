package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"truc.vn/truc/bus"
)

func sampleDelivery() Delivery {
	return Delivery{
		ID: "dms-hanoi.in-0123456789abcdef0123456789abcdef", Subscription: "dms-hanoi", Seq: 7, ItemSeq: 42,
		ItemID: "in-0123456789abcdef0123456789abcdef", Type: bus.TypeStatus, Key: "000.00.00.G22|123/UBND",
		MessageID: "edge-hcm.lq9.0011223344556677", Sender: "000.00.00.G22", Recipients: []string{organA},
		StatusCode: "03", SHA256: strings.Repeat("ab", 32), Size: 5,
		ReceivedAt: time.Date(2026, 11, 22, 9, 40, 0, 123456789, time.UTC),
	}
}

// TestEnvelopeBody: the body is exactly what json.Marshal makes of the
// Envelope, built in one allocation, and decodes back to the same values
// and the exact package bytes, whatever they hold.
func TestEnvelopeBody(t *testing.T) {
	for _, tc := range []struct {
		name string
		pkg  []byte
	}{
		{"empty", []byte{}},
		{"one byte", []byte{0}},
		{"xml", []byte(`<?xml version="1.0"?><edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">Hòa Bình "&" </edXML>`)},
		{"binary", bytes.Repeat([]byte{0xff, 0x00, 0xfe, '"', '\\'}, 1001)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := sampleDelivery()
			got, err := envelopeBody(r, tc.pkg)
			if err != nil {
				t.Fatal(err)
			}
			want, err := json.Marshal(Envelope{DeliveryID: r.ID, Subscription: r.Subscription, Event: string(r.Type), Item: envelopeItem(r), Package: tc.pkg})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("envelopeBody:\n%s\njson.Marshal:\n%s", got, want)
			}
			if cap(got) != len(got) {
				t.Errorf("body capacity %d for %d bytes: not one allocation of the final size", cap(got), len(got))
			}
			var env Envelope
			if err := json.Unmarshal(got, &env); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(env.Package, tc.pkg) || env.DeliveryID != r.ID || env.Event != "status" || env.Item.ID != r.ItemID ||
				env.Item.Seq != 42 || env.Item.Status != "03" || !env.Item.ReceivedAt.Equal(r.ReceivedAt) {
				t.Errorf("decoded %+v", env)
			}
		})
	}
}

// TestEnvelopeMatchesSchema: every envelope the dispatcher builds is valid
// against the published schema, the schema describes every member the Go
// type has (and no other), and the schema rejects what it should.
func TestEnvelopeMatchesSchema(t *testing.T) {
	var schema map[string]any
	if err := json.Unmarshal(Schema(), &schema); err != nil {
		t.Fatalf("the schema is not JSON: %v", err)
	}
	for _, typ := range []bus.Type{bus.TypeDocument, bus.TypeStatus, bus.TypeRejection} {
		r := sampleDelivery()
		r.Type = typ
		if typ != bus.TypeStatus {
			r.StatusCode = ""
		}
		body, err := envelopeBody(r, []byte("<edXML/>"))
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatal(err)
		}
		if errs := validate(schema, doc, "$"); len(errs) > 0 {
			t.Errorf("%s envelope: %v\n%s", typ, errs, body)
		}
	}
	// Members: the schema's properties are the Go type's JSON names.
	full, _ := json.Marshal(Envelope{Item: EnvelopeItem{Status: "03", Recipients: []string{}}})
	var m map[string]any
	json.Unmarshal(full, &m)
	props := schema["properties"].(map[string]any)
	if got, want := sortedKeys(m), sortedKeys(props); !slices.Equal(got, want) {
		t.Errorf("envelope members %v, schema properties %v", got, want)
	}
	itemProps := props["item"].(map[string]any)["properties"].(map[string]any)
	if got, want := sortedKeys(m["item"].(map[string]any)), sortedKeys(itemProps); !slices.Equal(got, want) {
		t.Errorf("item members %v, schema properties %v", got, want)
	}
	// The schema refuses broken envelopes.
	for name, mutate := range map[string]func(map[string]any){
		"no package":      func(m map[string]any) { delete(m, "package") },
		"unknown event":   func(m map[string]any) { m["event"] = "receipt" },
		"bad delivery id": func(m map[string]any) { m["delivery_id"] = "dms.in-XYZ" },
		"package not b64": func(m map[string]any) { m["package"] = "<edXML/>" },
		"seq zero":        func(m map[string]any) { m["item"].(map[string]any)["seq"] = 0 },
		"no recipients":   func(m map[string]any) { m["item"].(map[string]any)["recipients"] = []any{} },
		"bad time":        func(m map[string]any) { m["item"].(map[string]any)["received_at"] = "yesterday" },
	} {
		body, _ := envelopeBody(sampleDelivery(), []byte("x"))
		var doc map[string]any
		json.Unmarshal(body, &doc)
		mutate(doc)
		if errs := validate(schema, doc, "$"); len(errs) == 0 {
			t.Errorf("%s: the schema accepts it", name)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// validate checks doc against the JSON Schema subset the envelope schema
// uses: type, required, properties, items, enum, pattern, minLength,
// minItems, minimum, format date-time.
func validate(schema map[string]any, doc any, path string) []string {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, path+": "+fmt.Sprintf(format, args...)) }
	switch schema["type"] {
	case "object":
		obj, ok := doc.(map[string]any)
		if !ok {
			bad("not an object")
			return errs
		}
		for _, r := range asSlice(schema["required"]) {
			if _, ok := obj[r.(string)]; !ok {
				bad("missing %s", r)
			}
		}
		props, _ := schema["properties"].(map[string]any)
		for k, v := range obj {
			if p, ok := props[k].(map[string]any); ok {
				errs = append(errs, validate(p, v, path+"."+k)...)
			}
		}
	case "array":
		arr, ok := doc.([]any)
		if !ok {
			bad("not an array")
			return errs
		}
		if n, ok := schema["minItems"].(float64); ok && float64(len(arr)) < n {
			bad("%d items, at least %v", len(arr), n)
		}
		if it, ok := schema["items"].(map[string]any); ok {
			for i, v := range arr {
				errs = append(errs, validate(it, v, fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	case "integer":
		n, ok := doc.(float64)
		if !ok || n != float64(int64(n)) {
			bad("not an integer")
			return errs
		}
		if min, ok := schema["minimum"].(float64); ok && n < min {
			bad("%v below %v", n, min)
		}
	case "string":
		s, ok := doc.(string)
		if !ok {
			bad("not a string")
			return errs
		}
		if n, ok := schema["minLength"].(float64); ok && float64(len([]rune(s))) < n {
			bad("shorter than %v", n)
		}
		if p, ok := schema["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(s) {
			bad("%q does not match %s", s, p)
		}
		if schema["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
				bad("not a date-time: %v", err)
			}
		}
	default:
		bad("schema type %v not handled by this validator", schema["type"])
	}
	if enum := asSlice(schema["enum"]); enum != nil && !slices.Contains(enum, doc) {
		bad("%v not in %v", doc, enum)
	}
	return errs
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// TestDeliveryID: IDs split back into their parts; anything else is
// refused.
func TestDeliveryID(t *testing.T) {
	item := bus.InboxID([32]byte{1, 2, 3})
	id := DeliveryID("dms-hanoi", item)
	if s, i, ok := ParseDeliveryID(id); !ok || s != "dms-hanoi" || i != item {
		t.Errorf("ParseDeliveryID(%q) = %q, %q, %v", id, s, i, ok)
	}
	for _, bad := range []string{"", ".", "dms-hanoi", "dms-hanoi.", "." + item, "dms.hanoi." + item, "dms-hanoi." + item + "0", "dms hanoi." + item, "dms-hanoi.IN-" + item[3:], "-dms." + item, "_dms." + item} {
		if _, _, ok := ParseDeliveryID(bad); ok {
			t.Errorf("ParseDeliveryID(%q) accepted", bad)
		}
	}
}
