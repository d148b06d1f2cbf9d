package edoc

import (
	"errors"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadTree(t *testing.T) {
	cases := []struct {
		name  string
		in    string
		lim   Limits
		limit string // a *LimitError with this Limit is wanted
		msg   string // else a *SyntaxError containing msg; "" means success
	}{
		{name: "plain", in: `<a x="1"><b/>text</a>`},
		{name: "declaration and comment", in: "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!-- c --><a/>\n<!-- after -->\n"},
		{name: "UTF-8 byte order mark", in: "\ufeff<?xml version=\"1.0\"?><a/>"},
		{name: "byte order mark not at the start", in: "<a/>\ufeff", msg: "text outside the root element"},
		{name: "byte order mark after whitespace", in: " \ufeff<a/>", msg: "text outside the root element"},
		{name: "DOCTYPE", in: `<!DOCTYPE a><a/>`, msg: "DOCTYPE is not allowed"},
		{name: "other declaration", in: `<!ELEMENT a ANY><a/>`, msg: "markup declaration"},
		{name: "two roots", in: `<a/><b/>`, msg: "more than one root element (second is <b>)"},
		{name: "no root", in: "<!-- only a comment -->", msg: "no root element"},
		{name: "empty", in: "", msg: "no root element"},
		{name: "top-level text", in: `<a/>x`, msg: "text outside the root element"},
		{name: "duplicate attribute", in: `<a x="1" x="2"/>`, msg: `duplicate attribute "x"`},
		{name: "same local name, other prefixes", in: `<a p:x="1" q:x="2" xmlns:p="u" xmlns:q="v"/>`},
		{name: "mismatched end", in: `<a></b>`, msg: "element <a> closed by </b>"},
		{name: "unclosed", in: `<a><b>`, msg: "unexpected end of input inside <b>"},
		{name: "cut in a tag", in: `<a><b x="1`, msg: "unexpected EOF"},
		{name: "invalid UTF-8 in text", in: "<a>\xff</a>", msg: "invalid UTF-8"},
		{name: "invalid UTF-8 in attribute", in: "<a x=\"\xff\"/>", msg: "invalid UTF-8"},
		{name: "invalid UTF-8 in comment", in: "<a><!-- \xff --></a>", msg: "invalid UTF-8 in comment"},
		{name: "invalid UTF-8 in processing instruction", in: "<a><?pi \xff?></a>", msg: "invalid UTF-8 in processing instruction"},
		{name: "control character", in: "<a>\x01</a>", msg: "illegal character code U+0001"},
		{name: "character reference to NUL", in: "<a>&#0;</a>", msg: "illegal character code U+0000"},
		{name: "latin-1", in: `<?xml version="1.0" encoding="ISO-8859-1"?><a/>`, msg: "is not allowed: edXML is UTF-8"},
		{name: "size at the limit", in: `<a>1234</a>`, lim: Limits{MaxBytes: 11}},
		{name: "size over the limit", in: `<a>12345</a>`, lim: Limits{MaxBytes: 11}, limit: "size"},
		{name: "depth at the limit", in: `<a><b><c/></b></a>`, lim: Limits{MaxDepth: 3}},
		{name: "depth over the limit", in: `<a><b><c><d/></c></b></a>`, lim: Limits{MaxDepth: 3}, limit: "depth"},
		{name: "elements over the limit", in: `<a><b/><c/></a>`, lim: Limits{MaxElements: 2}, limit: "elements"},
		{name: "comments count as nodes", in: `<a><!--1--><!--2--></a>`, lim: Limits{MaxElements: 2}, limit: "elements"},
		{name: "attributes at the limit", in: `<a x="1" y="2"/>`, lim: Limits{MaxAttributes: 2}},
		{name: "attributes over the limit", in: `<a x="1" y="2" z="3"/>`, lim: Limits{MaxAttributes: 2}, limit: "attributes"},
		{name: "namespace declarations are attributes", in: `<a xmlns="u" xmlns:p="v" p:x="1"/>`, lim: Limits{MaxAttributes: 2}, limit: "attributes"},
		{name: "limit is per element", in: `<a x="1" y="2"><b x="1" y="2"/></a>`, lim: Limits{MaxAttributes: 2}},
		{name: "quoted = and > are not attributes", in: `<a x="a=b>c=d" y='=>='/>`, lim: Limits{MaxAttributes: 2}},
		{name: "= in text is not an attribute", in: `<a x="1">a=b=c=d</a>`, lim: Limits{MaxAttributes: 1}},
		{name: "= in comments, CDATA and PIs is not an attribute", in: `<a><!-- <b c=1 d=2 e=3> --><![CDATA[<b c=1 d=2 e=3>]]><?pi c=1 d=2 e=3?></a>`, lim: Limits{MaxAttributes: 1}},
		{name: "element name with a leading colon", in: `<a><:b/></a>`, msg: "not a namespace-well-formed name"},
		{name: "element name with a trailing colon", in: `<a><b:></b:></a>`, msg: "not a namespace-well-formed name"},
		{name: "attribute name with a leading colon", in: `<a :x="1"/>`, msg: "not a namespace-well-formed name"},
		{name: "comment with dashes", in: `<a><!-- - -x- --><b x="1" y="2"/></a>`, lim: Limits{MaxAttributes: 1}, limit: "attributes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// One byte at a time, so that the attribute guard's state is
			// carried across reads.
			for _, r := range []string{"whole", "bytewise"} {
				in := strings.NewReader(c.in)
				var err error
				if r == "whole" {
					_, err = ReadTree(in, c.lim)
				} else {
					_, err = ReadTree(iotest.OneByteReader(in), c.lim)
				}
				var le *LimitError
				var se *SyntaxError
				switch {
				case c.limit != "":
					if !errors.As(err, &le) || le.Limit != c.limit {
						t.Fatalf("%s: err = %v, want a %s limit", r, err, c.limit)
					}
				case c.msg != "":
					if !errors.As(err, &se) || !strings.Contains(err.Error(), c.msg) {
						t.Fatalf("%s: err = %v, want a syntax error saying %q", r, err, c.msg)
					}
				case err != nil:
					t.Fatalf("%s: err = %v", r, err)
				}
			}
		})
	}
}

// TestReadTreeKeepsContent: comments, processing instructions and prefixes
// survive, as signature checking needs them.
func TestReadTreeKeepsContent(t *testing.T) {
	doc, err := ReadTree(strings.NewReader(`<p:a xmlns:p="u"><!--c--><?pi x?>t<![CDATA[<d>]]></p:a>`), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	root := doc.Root()
	if root.Space != "p" || root.NamespaceURI() != "u" || len(root.Child) != 4 {
		t.Fatalf("root %s in %q with %d children", root.FullTag(), root.NamespaceURI(), len(root.Child))
	}
	got, err := doc.WriteToString()
	if err != nil {
		t.Fatal(err)
	}
	if want := `<p:a xmlns:p="u"><!--c--><?pi x?>t&lt;d&gt;</p:a>`; got != want {
		t.Fatalf("tree = %s, want %s", got, want)
	}
}

func TestLimitErrorMessages(t *testing.T) {
	for _, c := range []struct {
		err  *LimitError
		want string
	}{
		{&LimitError{"size", 16}, "size limit of 16 bytes"},
		{&LimitError{"depth", 64}, "depth limit of 64"},
		{&LimitError{"elements", 5}, "limit of 5 elements"},
		{&LimitError{"attributes", 64}, "limit of 64 attributes"},
	} {
		if !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%q does not say %q", c.err.Error(), c.want)
		}
	}
}
