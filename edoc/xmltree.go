package edoc

import (
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
}

// Default limits. They may change between releases; callers that need a
// fixed value set it explicitly.
const (
	DefaultMaxBytes    = 16 << 20
	DefaultMaxDepth    = 64
	DefaultMaxElements = 200_000
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
	return l
}

// LimitError reports input that exceeded one of the Limits.
type LimitError struct {
	Limit string // "size", "depth" or "elements"
	Max   int64  // the limit in force
}

func (e *LimitError) Error() string {
	switch e.Limit {
	case "size":
		return fmt.Sprintf("xml: document exceeds the size limit of %d bytes", e.Max)
	case "depth":
		return fmt.Sprintf("xml: nesting exceeds the depth limit of %d", e.Max)
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
// UTF-8, invalid UTF-8, and anything over the Limits. It reads at most
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
	dec := xml.NewDecoder(lr)
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
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return fail("%s", se.Msg)
			}
			return fail("%v", err)
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
				if len(bytes.TrimSpace(t)) > 0 {
					return fail("text outside the root element")
				}
				continue // top-level whitespace carries no information
			}
			if !utf8.Valid(t) {
				return fail("invalid UTF-8 in text")
			}
			stack[len(stack)-1].CreateCharData(string(t))
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
