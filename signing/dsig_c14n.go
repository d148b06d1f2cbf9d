package signing

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/beevik/etree"
)

// This file implements Exclusive XML Canonicalization 1.0 without comments
// (https://www.w3.org/TR/xml-exc-c14n/) over an etree tree, for the two
// node-sets the profile needs: a whole document minus the enveloped
// Signature element, and the SignedInfo element in its document context.
//
// Why not goxmldsig's canonicalizer: it rewrites the tree in place, copies
// the whole tree once more to serialise it, copies a namespace map per
// element, and sorts namespaced attributes by local name instead of by
// namespace URI (C14N 1.0 §2.2), which is a digest mismatch with xmlsec1
// for elements carrying attributes from two namespaces. This one streams
// straight into the hash, allocates only for sorting attributes, and is
// cross-checked against xmlsec1 in both directions by the interop tests.

const xmlNamespace = "http://www.w3.org/XML/1998/namespace"
const xmlnsNamespace = "http://www.w3.org/2000/xmlns/"

// errCommentInText is returned for a comment inside an element that also
// holds non-whitespace text: the comment-injection shape ("a<!---->b"),
// which c14n ignores but naive readers of the bytes do not. See doc.go.
var errCommentInText = errors.New("comment inside element text")

// c14nOptions selects the node-set and side effects of one canonicalisation.
type c14nOptions struct {
	// exclude is left out with its whole subtree (the enveloped-signature
	// transform). nil excludes nothing.
	exclude *etree.Element
	// inclusive is the InclusiveNamespaces PrefixList ("#default" for the
	// default namespace).
	inclusive []string
	// rewrite turns each visited element into its canonical shape in
	// place: comments removed, adjacent text merged, namespace
	// declarations exactly those rendered, attributes in canonical order.
	// The tree then says what the canonical bytes say, no more.
	rewrite bool
}

type nsBinding struct{ prefix, uri string }

type c14nAttr struct {
	uri string
	a   etree.Attr
}

// canonicalizer holds the state of one canonicalisation. Not reusable
// across goroutines.
type canonicalizer struct {
	out      *bufWriter
	opt      c14nOptions
	scope    []nsBinding      // in-scope declarations, innermost last
	rendered []nsBinding      // declarations in force in the output, innermost last
	attrs    []c14nAttr       // scratch
	decls    []nsBinding      // scratch
	anc      []*etree.Element // scratch: the apex's ancestors
}

// canonicalize writes the exclusive canonical form of el to w. The
// namespace declarations of el's ancestors are in scope (as exc-c14n
// requires for a subtree apex, e.g. SignedInfo), but nothing is considered
// rendered above el.
func canonicalize(w io.Writer, el *etree.Element, opt c14nOptions) error {
	c := c14nPool.Get().(*canonicalizer)
	defer c.release()
	c.out.w, c.opt = w, opt
	for p := el.Parent(); p != nil; p = p.Parent() {
		c.anc = append(c.anc, p)
	}
	for i := len(c.anc) - 1; i >= 0; i-- {
		if err := c.pushScope(c.anc[i]); err != nil {
			return err
		}
	}
	if err := c.element(el); err != nil {
		return err
	}
	return c.out.flush()
}

// c14nPool recycles canonicalizers with their scratch slices and 32 KiB
// output buffer: a verification canonicalises twice, and fresh ones were a
// measurable share of its allocations.
var c14nPool = sync.Pool{New: func() any {
	return &canonicalizer{out: &bufWriter{buf: make([]byte, 0, 32<<10)}}
}}

func (c *canonicalizer) release() {
	c.out.w, c.out.err, c.out.buf = nil, nil, c.out.buf[:0]
	c.opt = c14nOptions{}
	// Drop every reference into the tree, beyond len too, so that a pooled
	// canonicalizer keeps no package content alive.
	clear(c.scope[:cap(c.scope)])
	clear(c.rendered[:cap(c.rendered)])
	clear(c.attrs[:cap(c.attrs)])
	clear(c.decls[:cap(c.decls)])
	clear(c.anc[:cap(c.anc)])
	c.scope, c.rendered, c.attrs, c.decls, c.anc = c.scope[:0], c.rendered[:0], c.attrs[:0], c.decls[:0], c.anc[:0]
	c14nPool.Put(c)
}

// pushScope adds el's namespace declarations to the scope, checking the
// rules of Namespaces in XML 1.0 that a well-formedness parser leaves out.
func (c *canonicalizer) pushScope(el *etree.Element) error {
	for _, a := range el.Attr {
		switch {
		case a.Space == "xmlns":
			switch {
			case a.Key == "xmlns":
				return fmt.Errorf("element <%s> declares the reserved prefix xmlns", el.FullTag())
			case a.Key == "xml" && a.Value != xmlNamespace, a.Key != "xml" && a.Value == xmlNamespace:
				return fmt.Errorf("element <%s> binds the xml prefix or namespace wrongly", el.FullTag())
			case a.Value == "":
				return fmt.Errorf("element <%s> undeclares prefix %q, which XML 1.0 namespaces forbid", el.FullTag(), a.Key)
			case a.Value == xmlnsNamespace:
				return fmt.Errorf("element <%s> binds prefix %q to the xmlns namespace", el.FullTag(), a.Key)
			}
			c.scope = append(c.scope, nsBinding{a.Key, a.Value})
		case a.Space == "" && a.Key == "xmlns":
			if a.Value == xmlNamespace || a.Value == xmlnsNamespace {
				return fmt.Errorf("element <%s> makes a reserved namespace the default", el.FullTag())
			}
			c.scope = append(c.scope, nsBinding{"", a.Value})
		}
	}
	return nil
}

// ncName reports whether a prefix or local name, as etree split it, can
// be an NCName. encoding/xml has checked the whole name's characters; what
// is left is an empty part or one that starts with a character allowed
// only inside names (a digit, '.', '-', ...), which is how names such as
// "a:" or ":0" arrive. (A leading colon followed by a name start, ":b",
// cannot be seen here: etree turns it into "b". See doc.go.)
func ncName(s string) bool {
	if s == "" {
		return false
	}
	c := s[0]
	if c < utf8.RuneSelf {
		return c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
	}
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsLetter(r)
}

func lookup(list []nsBinding, prefix string) (string, bool) {
	for i := len(list) - 1; i >= 0; i-- {
		if list[i].prefix == prefix {
			return list[i].uri, true
		}
	}
	return "", false
}

// resolve returns the namespace URI of prefix in the current scope. The
// empty prefix resolves to "" when no default namespace is declared.
func (c *canonicalizer) resolve(prefix string) (string, error) {
	if prefix == "xml" {
		return xmlNamespace, nil
	}
	if prefix == "xmlns" {
		return "", errors.New("the xmlns prefix may not name an element or attribute")
	}
	uri, ok := lookup(c.scope, prefix)
	if !ok && prefix != "" {
		return "", fmt.Errorf("undeclared namespace prefix %q", prefix)
	}
	return uri, nil
}

func (c *canonicalizer) element(el *etree.Element) error {
	scopeMark, renderedMark := len(c.scope), len(c.rendered)
	if err := c.pushScope(el); err != nil {
		return err
	}
	if !ncName(el.Tag) || (el.Space != "" && !ncName(el.Space)) {
		return fmt.Errorf("element name <%s> is not a namespace-well-formed QName", el.FullTag())
	}
	if _, err := c.resolve(el.Space); err != nil {
		return fmt.Errorf("element <%s>: %w", el.FullTag(), err)
	}

	// Attributes other than namespace declarations, with their URIs; and
	// the prefixes they visibly utilise.
	c.attrs = c.attrs[:0]
	c.decls = c.decls[:0]
	c.considerPrefix(el.Space)
	for _, a := range el.Attr {
		if a.Space == "xmlns" || (a.Space == "" && a.Key == "xmlns") {
			continue
		}
		if !ncName(a.Key) || (a.Space != "" && !ncName(a.Space)) {
			return fmt.Errorf("attribute name %s on <%s> is not a namespace-well-formed QName", a.FullKey(), el.FullTag())
		}
		uri := ""
		if a.Space != "" {
			var err error
			if uri, err = c.resolve(a.Space); err != nil {
				return fmt.Errorf("attribute %s on <%s>: %w", a.FullKey(), el.FullTag(), err)
			}
			c.considerPrefix(a.Space)
		}
		c.attrs = append(c.attrs, c14nAttr{uri, a})
	}
	for _, p := range c.opt.inclusive {
		if p == "#default" {
			p = ""
		}
		if _, ok := lookup(c.scope, p); ok || p == "" {
			c.considerPrefix(p)
		}
	}
	slices.SortFunc(c.decls, func(a, b nsBinding) int { return strings.Compare(a.prefix, b.prefix) })
	slices.SortFunc(c.attrs, func(a, b c14nAttr) int {
		if d := strings.Compare(a.uri, b.uri); d != 0 {
			return d
		}
		return strings.Compare(a.a.Key, b.a.Key)
	})
	for i := 1; i < len(c.attrs); i++ {
		if c.attrs[i].uri == c.attrs[i-1].uri && c.attrs[i].a.Key == c.attrs[i-1].a.Key {
			return fmt.Errorf("element <%s> has attributes %s and %s with the same expanded name",
				el.FullTag(), c.attrs[i-1].a.FullKey(), c.attrs[i].a.FullKey())
		}
	}

	w := c.out
	w.writeByte('<')
	w.writeQName(el.Space, el.Tag)
	for _, d := range c.decls {
		if d.prefix == "" {
			w.writeString(` xmlns="`)
		} else {
			w.writeString(" xmlns:")
			w.writeString(d.prefix)
			w.writeString(`="`)
		}
		c14nAttrEscapes.escape(w, d.uri)
		w.writeByte('"')
	}
	for _, a := range c.attrs {
		w.writeByte(' ')
		w.writeQName(a.a.Space, a.a.Key)
		w.writeString(`="`)
		c14nAttrEscapes.escape(w, a.a.Value)
		w.writeByte('"')
	}
	w.writeByte('>')
	if c.opt.rewrite {
		c.rewriteAttrs(el)
	}

	if err := c.children(el); err != nil {
		return err
	}

	w.writeString("</")
	w.writeQName(el.Space, el.Tag)
	w.writeByte('>')
	c.scope, c.rendered = c.scope[:scopeMark], c.rendered[:renderedMark]
	return w.err
}

// considerPrefix renders the declaration of prefix on the current element
// unless the output already has it in force with the same URI (exc-c14n
// §3, with the C14N 1.0 rule for xmlns="").
func (c *canonicalizer) considerPrefix(prefix string) {
	if prefix == "xml" {
		return
	}
	for _, d := range c.decls {
		if d.prefix == prefix {
			return
		}
	}
	uri, _ := lookup(c.scope, prefix) // resolved before: present, or "" for the default
	had, ok := lookup(c.rendered, prefix)
	if prefix == "" && uri == "" {
		if !ok || had == "" {
			return // no default namespace, and none in force in the output
		}
	} else if ok && had == uri {
		return
	}
	c.decls = append(c.decls, nsBinding{prefix, uri})
	c.rendered = append(c.rendered, nsBinding{prefix, uri})
}

// rewriteAttrs replaces el's attributes with the canonical ones. New
// etree.Attr values are copied from one bound to el, so that
// (*etree.Attr).NamespaceURI keeps working on them. c.attrs holds copies,
// so el.Attr's array can be reused.
func (c *canonicalizer) rewriteAttrs(el *etree.Element) {
	if len(c.decls) == 0 && len(c.attrs) == 0 {
		el.Attr = el.Attr[:0]
		return
	}
	var proto etree.Attr
	if len(el.Attr) > 0 {
		proto = el.Attr[0]
	} else {
		proto = *el.CreateAttr("xmlns", "")
	}
	attrs := el.Attr[:0]
	for _, d := range c.decls {
		a := proto
		if d.prefix == "" {
			a.Space, a.Key = "", "xmlns"
		} else {
			a.Space, a.Key = "xmlns", d.prefix
		}
		a.Value = d.uri
		attrs = append(attrs, a)
	}
	for _, x := range c.attrs {
		attrs = append(attrs, x.a)
	}
	el.Attr = attrs
}

func (c *canonicalizer) children(el *etree.Element) error {
	var hasComment, hasText bool
	for _, t := range el.Child {
		switch t := t.(type) {
		case *etree.Element:
			if t == c.opt.exclude {
				continue
			}
			if err := c.element(t); err != nil {
				return err
			}
		case *etree.CharData:
			if !hasText && strings.TrimLeft(t.Data, " \t\r\n") != "" {
				hasText = true
			}
			c14nTextEscapes.escape(c.out, t.Data)
		case *etree.Comment:
			hasComment = true
		case *etree.ProcInst:
			c.out.writeString("<?")
			c.out.writeString(t.Target)
			if t.Inst != "" {
				c.out.writeByte(' ')
				c.out.writeString(t.Inst)
			}
			c.out.writeString("?>")
		default:
			return fmt.Errorf("element <%s> holds a %T, which has no canonical form", el.FullTag(), t)
		}
	}
	if hasComment && hasText {
		return fmt.Errorf("%w of <%s>: a comment may not split a signed value", errCommentInText, el.FullTag())
	}
	if c.opt.rewrite && hasComment {
		dropComments(el)
	}
	return nil
}

// dropComments removes el's comment children and merges the character
// data they separated, in one pass (no quadratic RemoveChildAt).
func dropComments(el *etree.Element) {
	kept := el.Child[:0]
	for _, t := range el.Child {
		switch t := t.(type) {
		case *etree.Comment:
			continue
		case *etree.CharData:
			if n := len(kept); n > 0 {
				if prev, ok := kept[n-1].(*etree.CharData); ok {
					prev.SetData(prev.Data + t.Data)
					continue
				}
			}
		}
		kept = append(kept, t)
	}
	clear(el.Child[len(kept):])
	el.Child = kept
	el.ReindexChildren()
}

// The escapes of canonical XML (C14N 1.0 §2.3), and the ones Sign's
// output adds so that no parser normalises a signed value.
var (
	c14nTextEscapes = newEscaper("&<>\r", "&amp;", "&lt;", "&gt;", "&#xD;")
	c14nAttrEscapes = newEscaper("&<\"\t\n\r", "&amp;", "&lt;", "&quot;", "&#x9;", "&#xA;", "&#xD;")
	outAttrEscapes  = newEscaper("&<>\"\t\n\r", "&amp;", "&lt;", "&gt;", "&quot;", "&#x9;", "&#xA;", "&#xD;")
)

// escaper replaces a few special bytes. It finds them with
// strings.IndexByte, which is vectorised: base64 attachments, the bulk of
// a package, hold none, and a byte-at-a-time loop over them was a tenth of
// verifying a large package.
type escaper struct {
	specials string
	repl     []string
}

func newEscaper(specials string, repl ...string) *escaper {
	return &escaper{specials: specials, repl: repl}
}

type stringWriter interface{ WriteString(string) (int, error) }

// escape writes s to w with the special bytes replaced. It keeps the next
// position of each special byte, so every byte of s is scanned once per
// special at most: linear however many escapes s holds.
func (e *escaper) escape(w stringWriter, s string) {
	var next [8]int
	for k := 0; k < len(e.specials); k++ {
		next[k] = indexFrom(s, e.specials[k], 0)
	}
	last := 0
	for {
		k := -1
		for j := 0; j < len(e.specials); j++ {
			if next[j] >= 0 && (k < 0 || next[j] < next[k]) {
				k = j
			}
		}
		if k < 0 {
			break
		}
		i := next[k]
		w.WriteString(s[last:i])
		w.WriteString(e.repl[k])
		last = i + 1
		next[k] = indexFrom(s, e.specials[k], last)
	}
	w.WriteString(s[last:])
}

func indexFrom(s string, c byte, from int) int {
	if j := strings.IndexByte(s[from:], c); j >= 0 {
		return from + j
	}
	return -1
}

// bufWriter is a minimal buffered writer that remembers the first error,
// so that the canonicaliser checks once per element instead of per write.
type bufWriter struct {
	w   io.Writer
	buf []byte
	err error
}

// WriteString implements stringWriter; it never fails (errors stick in b.err).
func (b *bufWriter) WriteString(s string) (int, error) {
	b.writeString(s)
	return len(s), nil
}

func (b *bufWriter) writeString(s string) {
	for len(s) > 0 && b.err == nil {
		if len(b.buf) == cap(b.buf) {
			b.flush()
			continue
		}
		n := copy(b.buf[len(b.buf):cap(b.buf)], s)
		b.buf = b.buf[:len(b.buf)+n]
		s = s[n:]
	}
}

func (b *bufWriter) writeByte(c byte) {
	if len(b.buf) == cap(b.buf) {
		b.flush()
	}
	b.buf = append(b.buf, c)
}

func (b *bufWriter) writeQName(space, local string) {
	if space != "" {
		b.writeString(space)
		b.writeByte(':')
	}
	b.writeString(local)
}

func (b *bufWriter) flush() error {
	if b.err == nil && len(b.buf) > 0 {
		_, b.err = b.w.Write(b.buf)
	}
	b.buf = b.buf[:0]
	return b.err
}
