package edoc

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// TestHostileFiles: each attack fixture is refused by the XML layer with a
// clear error, never a panic and never a package.
func TestHostileFiles(t *testing.T) {
	want := map[string]string{
		"billion-laughs.xml":       "DOCTYPE is not allowed",
		"xxe-file.xml":             "DOCTYPE is not allowed",
		"xxe-parameter-entity.xml": "DOCTYPE is not allowed",
		"external-dtd.xml":         "DOCTYPE is not allowed",
		"undeclared-entity.xml":    "invalid character entity &lol9;",
		"duplicate-attribute.xml":  `duplicate attribute "version"`,
		"two-roots.xml":            "more than one root element",
		"trailing-text.xml":        "text outside the root element",
		"truncated.xml":            "unexpected EOF",
		"invalid-utf8.xml":         "invalid UTF-8",
		"latin1-declared.xml":      `encoding "ISO-8859-1" is not allowed`,
		"utf16-declared.xml":       `encoding "UTF-16" is not allowed`,
	}
	files := fixtures(t, "hostile/*.xml")
	if len(files) != len(want) {
		t.Fatalf("%d hostile fixtures, %d expectations: keep them in step", len(files), len(want))
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			p, err := Parse(readFile(t, path), Limits{})
			var se *SyntaxError
			if p != nil || !errors.As(err, &se) {
				t.Fatalf("Parse = %v, %v; want a *SyntaxError", p, err)
			}
			if !strings.Contains(err.Error(), want[name]) {
				t.Fatalf("error %q does not say %q", err, want[name])
			}
		})
	}
}

// allocatedBy returns the bytes allocated while f runs (a bound on the
// peak heap growth it can cause).
func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// genReader streams prefix, then fill repeated until size bytes in all,
// without ever holding them: a hostile body of any size.
type genReader struct {
	prefix []byte
	fill   []byte
	size   int64
	read   int64
	suffix string // appended after size bytes
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.read >= g.size {
		if g.suffix == "" {
			return 0, io.EOF
		}
		n := copy(p, g.suffix)
		g.suffix = g.suffix[n:]
		g.read += int64(n)
		return n, nil
	}
	n := 0
	for n < len(p) && g.read < g.size {
		var c int
		if g.read < int64(len(g.prefix)) {
			c = copy(p[n:], g.prefix[g.read:])
		} else {
			off := (g.read - int64(len(g.prefix))) % int64(len(g.fill))
			c = copy(p[n:], g.fill[off:])
		}
		if rest := g.size - g.read; int64(c) > rest {
			c = int(rest)
		}
		n += c
		g.read += int64(c)
	}
	return n, nil
}

// TestHostileGenerated streams inputs far over the limits and checks that
// each is refused with the limit named, having read and allocated only a
// bounded amount.
func TestHostileGenerated(t *testing.T) {
	const maxBytes = 4 << 20
	header := `<?xml version="1.0" encoding="UTF-8"?><edXML xmlns="` + NamespaceQCVN + `"><AttachmentEncoded><Attachment><ContentTransferEncoded>`
	cases := []struct {
		name  string
		input *genReader
		limit string
	}{
		// 8 GB of base64 text: the read stops at the size limit.
		{"several GB of base64", &genReader{prefix: []byte(header), fill: []byte("QUJD"), size: 8 << 30}, "size"},
		// 8 GB made of empty elements: the element cap stops it first.
		{"several GB of elements", &genReader{prefix: []byte(header[:strings.Index(header, "<AttachmentEncoded>")]), fill: []byte("<a/>"), size: 8 << 30}, "elements"},
		// 100,000-deep nesting.
		{"100000-deep nesting", &genReader{prefix: []byte(strings.Repeat("<a>", 100_000)), fill: []byte("</a>"), size: 700_000}, "depth"},
		// One element with a million attributes: refused before etree
		// would spend quadratic time adding them.
		{"attribute flood", &genReader{prefix: []byte("<edXML"), fill: []byte(" a=''"), size: 6 + 5*600_000, suffix: "/>"}, "attributes"},
		// A huge single comment.
		{"several GB comment", &genReader{prefix: []byte("<edXML><!--"), fill: []byte("-x"), size: 8 << 30}, "size"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			start := time.Now()
			alloc := allocatedBy(func() {
				_, err = ParseReader(c.input, Limits{MaxBytes: maxBytes, MaxElements: 100_000})
			})
			var le *LimitError
			if !errors.As(err, &le) || le.Limit != c.limit {
				t.Fatalf("err = %v, want a %s *LimitError", err, c.limit)
			}
			if !strings.Contains(err.Error(), "limit") {
				t.Errorf("error %q does not name the limit", err)
			}
			if c.input.read > maxBytes+64<<10 {
				t.Errorf("read %d bytes with a %d-byte limit", c.input.read, maxBytes)
			}
			// Attribute floods are the worst case: encoding/xml builds
			// every attribute before ReadTree can count them.
			if bound := uint64(25 * maxBytes); alloc > bound {
				t.Errorf("allocated %d MiB for a %d MiB limit (bound %d MiB)", alloc>>20, maxBytes>>20, bound>>20)
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("took %v", d)
			}
			t.Logf("%s: read %d KiB, allocated %d MiB, %v", c.limit, c.input.read>>10, alloc>>20, time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestTruncated cuts a valid package at many points: every prefix must be
// refused (or, once only trailing whitespace is missing, read) without a
// panic.
func TestTruncated(t *testing.T) {
	full := readFile(t, filepath.Join("testdata", "producers", "legacy-signature-update.edxml"))
	end := len(bytes.TrimRight(full, " \r\n"))
	for n := 0; n < len(full); n += 7 {
		p, err := Parse(full[:n], Limits{})
		if n < end && err == nil {
			t.Fatalf("prefix of %d bytes parsed", n)
		}
		if n >= end && err != nil {
			t.Fatalf("complete document (%d bytes) failed: %v", n, err)
		}
		if err != nil && p != nil {
			t.Fatalf("both a package and an error")
		}
	}
}

const hdrOpen = `<edXML xmlns="` + NamespaceQCVN + `"><edXMLEnvelope><edXMLHeader><MessageHeader>`
const hdrClose = `</MessageHeader></edXMLHeader></edXMLEnvelope></edXML>`

// TestCommentInjection: a comment or processing instruction inside a value
// does not cut it: edoc reads the concatenated text, which is what
// exclusive canonicalisation without comments (what a signature covers)
// keeps.
func TestCommentInjection(t *testing.T) {
	cases := []struct{ name, organID, want string }{
		{"comment", `000.00.00.G22<!---->X`, "000.00.00.G22X"},
		{"comment with text", `000.00.00.G22<!-- .H41 -->.evil`, "000.00.00.G22.evil"},
		{"processing instruction", `000.00<?pi ignore?>.00.G22`, "000.00.00.G22"},
		{"CDATA", `<![CDATA[000.00]]>.00.G22`, "000.00.00.G22"},
		{"entity", `000.00.00.G22&#x20;`, "000.00.00.G22"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := hdrOpen + `<From><OrganId>` + c.organID + `</OrganId></From>` + hdrClose
			p := mustParse(t, []byte(doc))
			if got := p.Sender(); got != c.want {
				t.Fatalf("Sender = %q, want %q", got, c.want)
			}
			// What the signature would cover reads the same.
			tree, err := ReadTree(strings.NewReader(doc), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			canon, err := dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("").Canonicalize(tree.Root().Copy())
			if err != nil {
				t.Fatal(err)
			}
			q := mustParse(t, canon)
			if got := q.Sender(); got != c.want {
				t.Fatalf("after exclusive c14n Sender = %q, want %q", got, c.want)
			}
		})
	}
}

// TestParseErrors: well-formed XML that cannot be read as edXML gives a
// *ParseError naming the element and the rule.
func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, doc, path, rule string
	}{
		{"wrong root", `<edXMLX xmlns="` + NamespaceQCVN + `"/>`, "edXMLX", "root"},
		{"root in another namespace", `<edXML xmlns="urn:other"/>`, "edXML", "root"},
		{"root with undeclared prefix", `<q:edXML/>`, "q:edXML", "root"},
		{"no envelope", `<edXML/>`, "edXML", "missing"},
		{"no header", `<edXML><edXMLEnvelope/></edXML>`, "edXMLEnvelope", "missing"},
		{"no message header", `<edXML><edXMLEnvelope><edXMLHeader/></edXMLEnvelope></edXML>`, "edXMLHeader", "missing"},
		{"two envelopes", `<edXML><edXMLEnvelope/><edXMLEnvelope/></edXML>`, "edXML/edXMLEnvelope", "duplicate"},
		{"two From", hdrOpen + `<From><OrganId>A</OrganId></From><From><OrganId>B</OrganId></From>` + hdrClose, "MessageHeader/From", "duplicate"},
		{"two OrganId", hdrOpen + `<From><OrganId>A</OrganId><OrganId>B</OrganId></From>` + hdrClose, "MessageHeader/From/OrganId", "duplicate"},
		{"prefixed and unprefixed From", hdrOpen + `<From><OrganId>A</OrganId></From><e:From xmlns:e="` + NamespaceQCVN + `"><e:OrganId>B</e:OrganId></e:From>` + hdrClose, "MessageHeader/From", "duplicate"},
		{"both spellings of Bussiness", hdrOpen + `<To/>` + `</MessageHeader><TraceHeaderList><Bussiness/><Business/></TraceHeaderList></edXMLHeader></edXMLEnvelope></edXML>`, "TraceHeaderList/Bussiness", "duplicate"},
		{"two StatusCode", hdrOpen + `<StatusCode>01</StatusCode><StatusCode>02</StatusCode>` + hdrClose, "MessageHeader/StatusCode", "duplicate"},
		{"element in a value", hdrOpen + `<From><OrganId>000<b>X</b>.00</OrganId></From>` + hdrClose, "MessageHeader/From/OrganId", "mixed-content"},
		{"both To and StatusCode", hdrOpen + `<To><OrganId>A</OrganId></To><StatusCode>01</StatusCode>` + hdrClose, "MessageHeader", "ambiguous-kind"},
		{"two attachment contents", `<edXML><edXMLEnvelope><edXMLHeader><MessageHeader/></edXMLHeader></edXMLEnvelope><AttachmentEncoded><Attachment><ContentTransferEncoded>QQ==</ContentTransferEncoded><ContentTransferEncoded>Qg==</ContentTransferEncoded></Attachment></AttachmentEncoded></edXML>`, "AttachmentEncoded/Attachment[1]/ContentTransferEncoded", "duplicate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Parse([]byte(c.doc), Limits{})
			var pe *ParseError
			if p != nil || !errors.As(err, &pe) {
				t.Fatalf("Parse = %v, %v; want a *ParseError", p, err)
			}
			if pe.Path != c.path || pe.Rule != c.rule {
				t.Fatalf("error at %q rule %q (%v), want %q %q", pe.Path, pe.Rule, err, c.path, c.rule)
			}
			if !strings.HasPrefix(err.Error(), "edoc: "+c.path+": ") {
				t.Fatalf("error %q does not name %s", err, c.path)
			}
		})
	}
}

// TestNamespaces: elements count only in the QCVN namespace or none; an
// element in another namespace, or with an undeclared prefix, is ignored
// even if its local name matches.
func TestNamespaces(t *testing.T) {
	doc := hdrOpen +
		`<evil:From xmlns:evil="urn:evil"><evil:OrganId>000.00.00.X99</evil:OrganId></evil:From>` +
		`<x:To><x:OrganId>000.00.00.X98</x:OrganId></x:To>` +
		`<From><OrganId>000.00.00.G22</OrganId></From>` +
		`<To xmlns="urn:evil"><OrganId>000.00.00.X97</OrganId></To>` +
		`<To><OrganId>000.00.00.H41</OrganId><OrganId xmlns="urn:evil">000.00.00.X96</OrganId></To>` +
		hdrClose
	p := mustParse(t, []byte(doc))
	if p.Sender() != "000.00.00.G22" || !equalStrings(p.Recipients(), []string{"000.00.00.H41"}) {
		t.Fatalf("Sender %q, Recipients %q", p.Sender(), p.Recipients())
	}
}

// TestFromElement reads from trees that did not come from Parse: a detached
// copy carrying its own declarations, an element whose declarations are on
// an ancestor, and checks that the tree is left untouched.
func TestFromElement(t *testing.T) {
	raw := readFile(t, filepath.Join("testdata", "producers", "xmldsig-signed.edxml"))
	want := mustParse(t, raw)

	t.Run("detached copy", func(t *testing.T) {
		tree, err := ReadTree(bytes.NewReader(raw), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		root := tree.Root().Copy() // no parent
		before := serialize(t, root)
		p, err := FromElement(root)
		if err != nil {
			t.Fatal(err)
		}
		sameValues(t, want, p)
		if p.Signature != SignatureXMLDSig {
			t.Errorf("Signature = %v", p.Signature)
		}
		if after := serialize(t, root); after != before {
			t.Fatal("FromElement modified the tree")
		}
	})

	t.Run("declarations on an ancestor", func(t *testing.T) {
		doc := `<wrap xmlns:q="` + NamespaceQCVN + `"><q:edXML><q:edXMLEnvelope><q:edXMLHeader><q:MessageHeader>` +
			`<q:From><q:OrganId>000.00.00.G22</q:OrganId></q:From></q:MessageHeader></q:edXMLHeader></q:edXMLEnvelope></q:edXML></wrap>`
		tree, err := ReadTree(strings.NewReader(doc), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		p, err := FromElement(tree.Root().ChildElements()[0])
		if err != nil {
			t.Fatal(err)
		}
		if p.Sender() != "000.00.00.G22" {
			t.Fatalf("Sender = %q", p.Sender())
		}
	})

	t.Run("nil", func(t *testing.T) {
		var pe *ParseError
		if _, err := FromElement(nil); !errors.As(err, &pe) {
			t.Fatalf("err = %v", err)
		}
	})
}

func serialize(t *testing.T, el *etree.Element) string {
	t.Helper()
	doc := etree.NewDocument()
	doc.SetRoot(el.Copy())
	s, err := doc.WriteToString()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDefaultSizeLimit: with zero Limits, an endless attachment stops at
// the 16 MiB inline cap.
func TestDefaultSizeLimit(t *testing.T) {
	in := &genReader{
		prefix: []byte(`<edXML xmlns="` + NamespaceQCVN + `"><AttachmentEncoded><Attachment><ContentTransferEncoded>`),
		fill:   []byte("QUJD"), size: 8 << 30,
	}
	var err error
	alloc := allocatedBy(func() { _, err = ParseReader(in, Limits{}) })
	var le *LimitError
	if !errors.As(err, &le) || le.Limit != "size" || le.Max != 16<<20 || !strings.Contains(err.Error(), "16777216 bytes") {
		t.Fatalf("err = %v, want the 16 MiB size limit", err)
	}
	if in.read > 16<<20+64<<10 {
		t.Errorf("read %d bytes", in.read)
	}
	if alloc > 6*16<<20 {
		t.Errorf("allocated %d MiB", alloc>>20)
	}
}
