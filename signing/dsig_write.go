package signing

import (
	"bytes"

	"github.com/beevik/etree"
)

// writeDocument serialises a signed package. It keeps everything the tree
// holds (namespace declarations where they were, attribute order,
// comments, processing instructions) and escapes text and attribute values
// so that any XML parser reads back exactly the values that were
// canonicalised: CR in text, and TAB, LF and CR in attribute values, are
// written as character references, since a parser would otherwise
// normalise them (XML 1.0 §2.11 and §3.3.3). It is etree's writer with
// those settings, minus the per-rune work that made it a visible share of
// signing a small package.
func writeDocument(out *bytes.Buffer, doc *etree.Document) {
	for _, t := range doc.Child {
		writeToken(out, t)
	}
	out.WriteByte('\n')
}

func writeToken(out *bytes.Buffer, t etree.Token) {
	switch t := t.(type) {
	case *etree.Element:
		out.WriteByte('<')
		writeQName(out, t.Space, t.Tag)
		for _, a := range t.Attr {
			out.WriteByte(' ')
			writeQName(out, a.Space, a.Key)
			out.WriteString(`="`)
			writeEscaped(out, a.Value, true)
			out.WriteByte('"')
		}
		if len(t.Child) == 0 {
			out.WriteString("/>")
			return
		}
		out.WriteByte('>')
		for _, c := range t.Child {
			writeToken(out, c)
		}
		out.WriteString("</")
		writeQName(out, t.Space, t.Tag)
		out.WriteByte('>')
	case *etree.CharData:
		writeEscaped(out, t.Data, false)
	case *etree.Comment:
		out.WriteString("<!--")
		out.WriteString(t.Data)
		out.WriteString("-->")
	case *etree.ProcInst:
		out.WriteString("<?")
		out.WriteString(t.Target)
		if t.Inst != "" {
			out.WriteByte(' ')
			out.WriteString(t.Inst)
		}
		out.WriteString("?>")
	}
}

func writeQName(out *bytes.Buffer, space, local string) {
	if space != "" {
		out.WriteString(space)
		out.WriteByte(':')
	}
	out.WriteString(local)
}

// writeEscaped writes s with &, < and > (and in attributes ", TAB, LF and
// CR; in text CR) as references.
func writeEscaped(out *bytes.Buffer, s string, attr bool) {
	if attr {
		outAttrEscapes.escape(out, s)
	} else {
		c14nTextEscapes.escape(out, s)
	}
}
