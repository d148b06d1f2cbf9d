package signing

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"truc.vn/truc/edoc"
	"truc.vn/truc/edoc/edoctest"
	"truc.vn/truc/signing/signingtest"
)

func parseTree(t testing.TB, s string) *etree.Element {
	t.Helper()
	doc, err := edoc.ReadTree(strings.NewReader(s), edoc.Limits{})
	if err != nil {
		t.Fatalf("ReadTree(%q): %v", s, err)
	}
	return doc.Root()
}

func c14nString(t testing.TB, el *etree.Element, opt c14nOptions) string {
	t.Helper()
	var b bytes.Buffer
	if err := canonicalize(&b, el, opt); err != nil {
		t.Fatalf("canonicalize: %v", err)
	}
	return b.String()
}

// The expected outputs follow Exclusive XML Canonicalization 1.0 and C14N
// 1.0 by hand; the interop tests check the same rules against xmlsec1.
var c14nVectors = []struct {
	name      string
	in        string
	inclusive []string
	want      string
}{
	{
		name: "attributes sorted by namespace URI, not prefix or local name",
		in:   `<r xmlns:a="urn:z" xmlns:b="urn:a"><e a:y="1" b:z="2" c="3"/></r>`,
		want: `<r><e xmlns:a="urn:z" xmlns:b="urn:a" c="3" b:z="2" a:y="1"></e></r>`,
	},
	{
		name: "declarations pushed to first use, unused ones dropped",
		in:   `<a:r xmlns:a="urn:a" xmlns:u="urn:unused"><a:c/><d xmlns="urn:d"><e/></d></a:r>`,
		want: `<a:r xmlns:a="urn:a"><a:c></a:c><d xmlns="urn:d"><e></e></d></a:r>`,
	},
	{
		name: "default namespace undeclared below a default",
		in:   `<r xmlns="urn:x"><c xmlns=""><g/></c></r>`,
		want: `<r xmlns="urn:x"><c xmlns=""><g></g></c></r>`,
	},
	{
		name: "empty default namespace with none in force is not rendered",
		in:   `<r xmlns=""><c/></r>`,
		want: `<r><c></c></r>`,
	},
	{
		name: "redundant redeclaration removed",
		in:   `<a:r xmlns:a="urn:a"><a:c xmlns:a="urn:a"/></a:r>`,
		want: `<a:r xmlns:a="urn:a"><a:c></a:c></a:r>`,
	},
	{
		name: "rebinding kept",
		in:   `<a:r xmlns:a="urn:a"><a:c xmlns:a="urn:b"/></a:r>`,
		want: `<a:r xmlns:a="urn:a"><a:c xmlns:a="urn:b"></a:c></a:r>`,
	},
	{
		name: "escaping of text and attribute values",
		in:   "<r a=\"x&amp;&lt;&gt;&quot;&#9;&#10;&#13;'\">t&amp;&lt;&gt;&#13;\"'</r>",
		want: "<r a=\"x&amp;&lt;>&quot;&#x9;&#xA;&#xD;'\">t&amp;&lt;&gt;&#xD;\"'</r>",
	},
	{
		name: "line ends normalised by the parser",
		in:   "<r>a\r\nb\rc</r>",
		want: "<r>a\nb\nc</r>",
	},
	{
		name: "processing instructions kept, comments dropped",
		in:   `<r><?pi  data ?><!--c--><x/><?empty?></r>`,
		want: `<r><?pi data ?><x></x><?empty?></r>`,
	},
	{
		name: "xml attributes are not inherited",
		in:   `<r xml:lang="vi"><c/></r>`,
		want: `<r xml:lang="vi"><c></c></r>`,
	},
	{
		name: "xml attributes sort by the XML namespace URI",
		in:   `<r b="1" xml:space="preserve" xmlns:z="urn:0" z:q="2"/>`,
		want: `<r xmlns:z="urn:0" b="1" xml:space="preserve" z:q="2"></r>`,
	},
	{
		name:      "inclusive prefix list renders an unused prefix once",
		in:        `<r xmlns:u="urn:u"><c/></r>`,
		inclusive: []string{"u"},
		want:      `<r xmlns:u="urn:u"><c></c></r>`,
	},
	{
		name:      "inclusive #default",
		in:        `<p:r xmlns:p="urn:p" xmlns="urn:d"><p:c/></p:r>`,
		inclusive: []string{"#default"},
		want:      `<p:r xmlns="urn:d" xmlns:p="urn:p"><p:c></p:c></p:r>`,
	},
	{
		name: "CDATA becomes text",
		in:   `<r><![CDATA[<a>&]]></r>`,
		want: `<r>&lt;a&gt;&amp;</r>`,
	},
	{
		name: "declaration and outside whitespace are not part of the element",
		in:   "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<r/>\n",
		want: `<r></r>`,
	},
	{
		name: "unprefixed attributes do not use the default namespace",
		in:   `<p:r xmlns:p="urn:p" xmlns="urn:d" a="1"/>`,
		want: `<p:r xmlns:p="urn:p" a="1"></p:r>`,
	},
	{
		name: "Vietnamese text is written as UTF-8",
		in:   `<r t="Hà Nội">Công văn số 12</r>`,
		want: `<r t="Hà Nội">Công văn số 12</r>`,
	},
}

func TestCanonicalizeVectors(t *testing.T) {
	for _, tc := range c14nVectors {
		t.Run(tc.name, func(t *testing.T) {
			got := c14nString(t, parseTree(t, tc.in), c14nOptions{inclusive: tc.inclusive})
			if got != tc.want {
				t.Errorf("canonical form\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestCanonicalizeSubtreeInContext is the SignedInfo case: an element
// canonicalised alone keeps the namespaces its ancestors declare
// (signing-stack note §1.4-5: goxmldsig loses them).
func TestCanonicalizeSubtreeInContext(t *testing.T) {
	root := parseTree(t, `<a:r xmlns:a="urn:a" xmlns="urn:d"><a:c><e/></a:c></a:r>`)
	got := c14nString(t, root.ChildElements()[0], c14nOptions{})
	if want := `<a:c xmlns:a="urn:a"><e xmlns="urn:d"></e></a:c>`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// TestCanonicalizeRewrite checks that the rewritten tree says what the
// canonical bytes say: canonicalising it again gives the same bytes, and
// so does parsing those bytes and canonicalising them.
func TestCanonicalizeRewrite(t *testing.T) {
	for _, tc := range c14nVectors {
		t.Run(tc.name, func(t *testing.T) {
			el := parseTree(t, tc.in)
			first := c14nString(t, el, c14nOptions{inclusive: tc.inclusive, rewrite: true})
			if again := c14nString(t, el, c14nOptions{inclusive: tc.inclusive}); again != first {
				t.Errorf("rewritten tree canonicalises to\n%s\nnot\n%s", again, first)
			}
			if reparsed := c14nString(t, parseTree(t, first), c14nOptions{inclusive: tc.inclusive}); reparsed != first {
				t.Errorf("canonical form is not a fixed point:\n%s\n%s", reparsed, first)
			}
			var comments int
			var walk func(*etree.Element)
			walk = func(e *etree.Element) {
				for _, c := range e.Child {
					switch c := c.(type) {
					case *etree.Comment:
						comments++
					case *etree.Element:
						walk(c)
					}
				}
			}
			if walk(el); comments != 0 {
				t.Errorf("%d comments left in the rewritten tree", comments)
			}
		})
	}
}

func TestCanonicalizeRewriteMergesText(t *testing.T) {
	el := parseTree(t, "<r>\n  <!-- a -->\n  <!-- b -->\n  <c/>\n</r>")
	c14nString(t, el, c14nOptions{rewrite: true})
	if len(el.Child) != 3 {
		t.Fatalf("children after rewrite: %d, want text, element, text", len(el.Child))
	}
	if cd, ok := el.Child[0].(*etree.CharData); !ok || cd.Data != "\n  \n  \n  " {
		t.Errorf("merged text = %#v", el.Child[0])
	}
	for i, c := range el.Child {
		if c.Index() != i {
			t.Errorf("child %d has index %d", i, c.Index())
		}
	}
}

func TestCanonicalizeErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"undeclared element prefix", `<p:r/>`, `undeclared namespace prefix "p"`},
		{"undeclared attribute prefix", `<r p:a="1"/>`, `undeclared namespace prefix "p"`},
		{"prefix undeclaration", `<r xmlns:p=""/>`, `undeclares prefix "p"`},
		{"xml prefix rebound", `<r xmlns:xml="urn:x"/>`, `xml prefix`},
		{"comment splitting text", `<r>000.00.00.G22<!---->.X</r>`, `comment inside element text`},
		{"comment before text", `<r><!---->000</r>`, `comment inside element text`},
		{"same expanded attribute name", `<r xmlns:a="urn:x" xmlns:b="urn:x" a:k="1" b:k="2"/>`, `same expanded name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := canonicalize(&bytes.Buffer{}, parseTree(t, tc.in), c14nOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if err := canonicalize(&bytes.Buffer{}, parseTree(t, `<r>a<!--x-->b</r>`), c14nOptions{}); !errors.Is(err, errCommentInText) {
		t.Errorf("comment injection error %v is not errCommentInText", err)
	}
	if got := c14nString(t, parseTree(t, "<r>\n <!--x-->\n <c/></r>"), c14nOptions{}); got != "<r>\n \n <c></c></r>" {
		t.Errorf("comment between elements: %q", got)
	}
}

// TestCanonicalizeMatchesGoxmldsig compares with goxmldsig's exclusive
// canonicaliser on real packages (no element there has attributes from two
// namespaces, where goxmldsig sorts wrongly; see the first vector).
func TestCanonicalizeMatchesGoxmldsig(t *testing.T) {
	inputs := map[string][]byte{
		"synthetic": signingtest.Package(signingtest.PackageOptions{Size: 8 << 10, Places: 50, LegacySignature: true}),
	}
	for _, f := range edoctest.ConformanceFiles(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inputs[f] = data
	}
	for name, data := range inputs {
		doc, err := edoc.ReadTree(bytes.NewReader(data), edoc.Limits{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var ours bytes.Buffer
		if err := canonicalize(&ours, doc.Root(), c14nOptions{}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		theirs, err := dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("").Canonicalize(doc.Root().Copy())
		if err != nil {
			t.Fatalf("%s: goxmldsig: %v", name, err)
		}
		if !bytes.Equal(ours.Bytes(), theirs) {
			t.Errorf("%s: canonical forms differ (%d vs %d bytes)", name, ours.Len(), len(theirs))
		}
	}
}

// FuzzCanonicalize checks, for any document the hardened reader accepts,
// that canonicalisation never panics and that its output is a fixed point:
// parsing and canonicalising it again gives the same bytes, and so does
// canonicalising the rewritten tree.
func FuzzCanonicalize(f *testing.F) {
	for _, v := range c14nVectors {
		f.Add([]byte(v.in))
	}
	f.Add(signingtest.Package(signingtest.PackageOptions{Size: 1024, Places: 3}))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := edoc.ReadTree(bytes.NewReader(data), edoc.Limits{MaxBytes: 1 << 20})
		if err != nil {
			return
		}
		var first bytes.Buffer
		if err := canonicalize(&first, doc.Root(), c14nOptions{rewrite: true}); err != nil {
			return
		}
		var again bytes.Buffer
		if err := canonicalize(&again, doc.Root(), c14nOptions{}); err != nil {
			t.Fatalf("rewritten tree fails: %v", err)
		}
		if !bytes.Equal(first.Bytes(), again.Bytes()) {
			t.Fatalf("rewritten tree canonicalises differently:\n%q\n%q", first.Bytes(), again.Bytes())
		}
		doc2, err := edoc.ReadTree(bytes.NewReader(first.Bytes()), edoc.Limits{MaxBytes: 4 << 20})
		if err != nil {
			t.Fatalf("canonical form does not parse: %v\n%q", err, first.Bytes())
		}
		var third bytes.Buffer
		if err := canonicalize(&third, doc2.Root(), c14nOptions{}); err != nil {
			t.Fatalf("canonical form fails: %v", err)
		}
		if !bytes.Equal(first.Bytes(), third.Bytes()) {
			t.Fatalf("canonical form is not a fixed point:\n%q\n%q", first.Bytes(), third.Bytes())
		}
	})
}

func TestEscaper(t *testing.T) {
	naive := func(s string, specials string, repl []string) string {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			if k := strings.IndexByte(specials, s[i]); k >= 0 {
				b.WriteString(repl[k])
			} else {
				b.WriteByte(s[i])
			}
		}
		return b.String()
	}
	alphabet := "ab&<>\"\t\n\rà"
	rng := uint32(1)
	for n := range 2000 {
		var in strings.Builder
		for range n % 40 {
			rng = rng*1664525 + 1013904223
			in.WriteByte(alphabet[rng>>24%uint32(len(alphabet))])
		}
		for _, e := range []*escaper{c14nTextEscapes, c14nAttrEscapes, outAttrEscapes} {
			var got bytes.Buffer
			e.escape(&got, in.String())
			if want := naive(in.String(), e.specials, e.repl); got.String() != want {
				t.Fatalf("escape(%q) = %q, want %q", in.String(), got.String(), want)
			}
		}
	}
	// Linear in the number of escapes: a quadratic scan would not finish.
	var got bytes.Buffer
	c14nAttrEscapes.escape(&got, strings.Repeat("&<\r", 1<<20))
	if got.Len() != (5+4+5)<<20 {
		t.Errorf("escaped length %d", got.Len())
	}
}
