package edoc

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/beevik/etree"
)

// Limits bound what a reader accepts, so that hostile input cannot exhaust
// memory. The zero value of a field means its default.
type Limits struct {
	// MaxBytes caps the size of the whole XML document in bytes.
	// Default DefaultMaxBytes (16 MiB, the inline package cap).
	MaxBytes int64
	// MaxDepth caps element nesting. Default DefaultMaxDepth.
	MaxDepth int
	// MaxElements caps the number of elements, comments and processing
	// instructions in the document. Default DefaultMaxElements.
	MaxElements int
	// MaxAttributes caps the attributes (namespace declarations included)
	// of one element. Default DefaultMaxAttributes. Without a cap, an
	// element with a million attributes costs quadratic time to build.
	MaxAttributes int
}

// Default limits. They may change between releases; callers that need a
// fixed value set it explicitly.
const (
	DefaultMaxBytes    = 16 << 20
	DefaultMaxDepth    = 64
	DefaultMaxElements = 200_000
	// DefaultMaxAttributes is far above what edXML and XML-DSig use (at
	// most a handful per element).
	DefaultMaxAttributes = 64
)

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxElements <= 0 {
		l.MaxElements = DefaultMaxElements
	}
	if l.MaxAttributes <= 0 {
		l.MaxAttributes = DefaultMaxAttributes
	}
	return l
}

// LimitError reports input that exceeded one of the Limits.
type LimitError struct {
	Limit string // "size", "depth", "elements" or "attributes"
	Max   int64  // the limit in force
}

func (e *LimitError) Error() string {
	switch e.Limit {
	case "size":
		return fmt.Sprintf("xml: document exceeds the size limit of %d bytes", e.Max)
	case "depth":
		return fmt.Sprintf("xml: nesting exceeds the depth limit of %d", e.Max)
	case "attributes":
		return fmt.Sprintf("xml: an element exceeds the limit of %d attributes", e.Max)
	default:
		return fmt.Sprintf("xml: document exceeds the limit of %d elements", e.Max)
	}
}

// SyntaxError reports XML that is not well-formed or that the hardened
// reader refuses (DOCTYPE, several roots, top-level text, duplicate
// attributes, a non-UTF-8 encoding). Offset is the byte offset in the input
// where the problem was detected.
type SyntaxError struct {
	Offset int64
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("xml: %s (at byte %d)", e.Msg, e.Offset)
}

// errSizeLimit is returned by limitedReader once more than max bytes were read.
var errSizeLimit = errors.New("size limit reached")

type limitedReader struct {
	r   io.Reader
	n   int64 // bytes left before the limit
	hit bool
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// Probe one byte: reaching the limit exactly at EOF is fine.
		var b [1]byte
		n, err := l.r.Read(b[:])
		if n > 0 {
			l.hit = true
			return 0, errSizeLimit
		}
		return 0, err
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// ReadTree reads one XML document from r into an etree document, rejecting
// what an edXML package never contains and what attacks XML parsers:
// DOCTYPE and every other <! directive (so no entity can be declared),
// more than one root element, non-whitespace text outside the root,
// duplicate attributes on an element, an encoding declaration other than
// UTF-8, invalid UTF-8, and anything over the Limits. A UTF-8 byte order
// mark at the very start is skipped (.NET writers emit one by default).
// It reads at most
// lim.MaxBytes+1 bytes from r, so memory stays bounded whatever r holds.
//
// The tree keeps prefixes as written; resolve names with
// (*etree.Element).NamespaceURI, never by prefix. Whitespace, comments and
// processing instructions are kept, so that a signature over the tree can be
// checked.
//
// Errors are *LimitError or *SyntaxError (or an error from r).
func ReadTree(r io.Reader, lim Limits) (*etree.Document, error) {
	lim = lim.withDefaults()
	lr := &limitedReader{r: r, n: lim.MaxBytes}
	br := bufio.NewReader(&attrGuard{r: lr, max: lim.MaxAttributes})
	if bom, err := br.Peek(3); err == nil && string(bom) == "\ufeff" {
		_, _ = br.Discard(3)
	}
	dec := xml.NewDecoder(br)
	dec.Strict = true
	dec.CharsetReader = func(charset string, input io.Reader) (io.Reader, error) {
		if strings.EqualFold(charset, "utf-8") || strings.EqualFold(charset, "utf8") {
			return input, nil
		}
		return nil, fmt.Errorf("encoding %q is not allowed: edXML is UTF-8", charset)
	}

	doc := etree.NewDocument()
	var stack []*etree.Element
	var roots, nodes int
	fail := func(format string, args ...any) (*etree.Document, error) {
		return nil, &SyntaxError{Offset: dec.InputOffset(), Msg: fmt.Sprintf(format, args...)}
	}
	seen := make(map[xml.Name]struct{}, 8)
	for {
		tok, err := dec.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			if lr.hit || errors.Is(err, errSizeLimit) {
				return nil, &LimitError{Limit: "size", Max: lim.MaxBytes}
			}
			var le *LimitError
			if errors.As(err, &le) {
				return nil, le
			}
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return fail("%s", se.Msg)
			}
			return fail("%s", strings.TrimPrefix(err.Error(), "xml: "))
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) == 0 {
				roots++
				if roots > 1 {
					return fail("more than one root element (second is <%s>)", qname(t.Name))
				}
			}
			if len(stack) >= lim.MaxDepth {
				return nil, &LimitError{Limit: "depth", Max: int64(lim.MaxDepth)}
			}
			if nodes++; nodes > lim.MaxElements {
				return nil, &LimitError{Limit: "elements", Max: int64(lim.MaxElements)}
			}
			if len(t.Attr) > lim.MaxAttributes {
				return nil, &LimitError{Limit: "attributes", Max: int64(lim.MaxAttributes)}
			}
			// encoding/xml leaves a colon in Local when the name is not a
			// QName (":b", "a:"); etree would then split it and read ":b"
			// as "b", a name other parsers refuse. Refuse it here.
			if strings.Contains(t.Name.Local, ":") {
				return fail("element name %q is not a namespace-well-formed name", qname(t.Name))
			}
			for _, a := range t.Attr {
				if strings.Contains(a.Name.Local, ":") {
					return fail("attribute name %q on <%s> is not a namespace-well-formed name", qname(a.Name), qname(t.Name))
				}
			}
			el := etree.NewElement(qname(t.Name))
			if len(t.Attr) > 1 {
				clear(seen)
				for _, a := range t.Attr {
					if _, dup := seen[a.Name]; dup {
						return fail("duplicate attribute %q on <%s>", qname(a.Name), qname(t.Name))
					}
					seen[a.Name] = struct{}{}
				}
			}
			for _, a := range t.Attr {
				if !utf8.ValidString(a.Value) {
					return fail("invalid UTF-8 in attribute %q", qname(a.Name))
				}
				el.CreateAttr(qname(a.Name), a.Value)
			}
			if len(stack) == 0 {
				doc.AddChild(el)
			} else {
				stack[len(stack)-1].AddChild(el)
			}
			stack = append(stack, el)
		case xml.EndElement:
			if len(stack) == 0 {
				return fail("unexpected end element </%s>", qname(t.Name))
			}
			top := stack[len(stack)-1]
			if top.Space != t.Name.Space || top.Tag != t.Name.Local {
				return fail("element <%s> closed by </%s>", top.FullTag(), qname(t.Name))
			}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				// XML whitespace only: bytes.TrimSpace would also take
				// U+00A0, U+0085, U+3000... for whitespace, which makes the
				// document not well-formed for every other parser (and hid
				// a processing instruction from signing's prolog check).
				if len(bytes.TrimLeft(t, " \t\r\n")) > 0 {
					return fail("text outside the root element")
				}
				continue // top-level whitespace carries no information
			}
			if !utf8.Valid(t) {
				return fail("invalid UTF-8 in text")
			}
			stack[len(stack)-1].CreateText(string(t))
		case xml.Comment:
			if nodes++; nodes > lim.MaxElements {
				return nil, &LimitError{Limit: "elements", Max: int64(lim.MaxElements)}
			}
			if !utf8.Valid(t) {
				return fail("invalid UTF-8 in comment")
			}
			if len(stack) == 0 {
				continue
			}
			stack[len(stack)-1].CreateComment(string(t))
		case xml.ProcInst:
			if nodes++; nodes > lim.MaxElements {
				return nil, &LimitError{Limit: "elements", Max: int64(lim.MaxElements)}
			}
			if !utf8.Valid(t.Inst) {
				return fail("invalid UTF-8 in processing instruction")
			}
			if len(stack) == 0 {
				if t.Target == "xml" && roots == 0 {
					doc.CreateProcInst(t.Target, string(t.Inst))
				}
				continue
			}
			stack[len(stack)-1].CreateProcInst(t.Target, string(t.Inst))
		case xml.Directive:
			if bytes.HasPrefix(bytes.TrimSpace(t), []byte("DOCTYPE")) {
				return fail("DOCTYPE is not allowed")
			}
			return fail("markup declaration <!%.20s> is not allowed", t)
		}
	}
	if len(stack) != 0 {
		return fail("unexpected end of input inside <%s>", stack[len(stack)-1].FullTag())
	}
	if roots == 0 {
		return fail("no root element")
	}
	return doc, nil
}

func qname(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

// attrGuard counts the attributes of each start tag in the bytes on their
// way to the decoder, and fails the read once a tag has more than max.
// encoding/xml builds every attribute of a start tag before returning it,
// at about 50 bytes of memory per attribute of 5 bytes of input, so the
// count must be kept before the decoder sees the tag. It follows just
// enough XML to know where start tags are: comments, CDATA sections,
// processing instructions and declarations are skipped, and quoted values
// may hold '>' and '='. Malformed input may confuse it; the decoder then
// rejects that input anyway.
type attrGuard struct {
	r      io.Reader
	max    int
	state  guardState
	quote  byte // the quote that closes the current attribute value
	run    int  // consecutive '-' (comment) or ']' (CDATA) seen
	prev   byte // previous byte in a processing instruction
	nattrs int  // attributes in the current start tag
	err    error
}

// errRawAttrWhitespace refuses a literal TAB, LF or CR inside an attribute
// value. XML 1.0 §3.3.3 has parsers turn each into a space; encoding/xml
// keeps them, so this reader and every other one would read different
// values from the same bytes (and a signature checked over our reading
// would vouch for bytes others read differently). Writers use character
// references (&#x9; &#xA; &#xD;), which all parsers read alike.
var errRawAttrWhitespace = errors.New("literal TAB, LF or CR in an attribute value: XML parsers read it as a space, this reader would not; write it as a character reference")

type guardState uint8

const (
	inText        guardState = iota
	afterLT                  // just read '<'
	afterBang                // just read "<!"
	afterBangDash            // just read "<!-"
	inTag                    // in a start or end tag
	inComment
	inCDATA
	inPI
	inDecl // <!DOCTYPE and other declarations, which the decoder rejects
)

func (g *attrGuard) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err // sticky: bufio.Reader forgets an error once returned
	}
	n, err := g.r.Read(p)
	for i := 0; i < n; i++ {
		c := p[i]
		switch g.state {
		case inText:
			j := bytes.IndexByte(p[i:n], '<')
			if j < 0 {
				i = n
				continue
			}
			i += j
			g.state = afterLT
		case afterLT:
			switch c {
			case '!':
				g.state = afterBang
			case '?':
				g.state, g.prev = inPI, 0
			default:
				g.state, g.quote, g.nattrs = inTag, 0, 0
				i-- // this byte belongs to the tag
			}
		case afterBang:
			switch c {
			case '-':
				g.state = afterBangDash
			case '[':
				g.state, g.run = inCDATA, 0
			default:
				g.state = inDecl
			}
		case afterBangDash:
			if c == '-' {
				g.state, g.run = inComment, 0
			} else {
				g.state = inDecl
			}
		case inTag:
			switch {
			case g.quote != 0:
				switch c {
				case g.quote:
					g.quote = 0
				case '\t', '\n', '\r':
					g.err = errRawAttrWhitespace
					return 0, g.err
				}
			case c == '"' || c == '\'':
				g.quote = c
			case c == '=':
				if g.nattrs++; g.nattrs > g.max {
					g.err = &LimitError{Limit: "attributes", Max: int64(g.max)}
					return 0, g.err
				}
			case c == '>':
				g.state = inText
			}
		case inComment, inCDATA:
			closer := byte('-')
			if g.state == inCDATA {
				closer = ']'
			}
			switch {
			case c == closer:
				g.run++
			case c == '>' && g.run >= 2:
				g.state = inText
			default:
				g.run = 0
			}
		case inPI:
			if c == '>' && g.prev == '?' {
				g.state = inText
			}
			g.prev = c
		case inDecl:
			if c == '>' {
				g.state = inText
			}
		}
	}
	return n, err
}
