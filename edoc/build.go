package edoc

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// BuildError reports a value that WriteTo cannot write: text that is not
// valid UTF-8 or holds a character XML 1.0 does not allow, or a package
// whose Kind and content disagree.
type BuildError struct {
	Path string // e.g. "MessageHeader/Subject"
	Msg  string
}

func (e *BuildError) Error() string { return fmt.Sprintf("edoc: building %s: %s", e.Path, e.Msg) }

// WriteTo writes p in the official layout (as the official SDK writes it):
// an XML declaration, the root edXML with the QCVN namespace as default,
// an edXMLEnvelope declaring the edXML prefix with prefixed header and
// body elements in the standard order, then AttachmentEncoded as the
// envelope's sibling, each attachment's content as base64 without line
// breaks in edXML:ContentTransferEncoded. Empty optional fields and blocks
// are left out; an empty entry of a list (a ResponseFor with nothing in
// it) is written as an empty element.
//
// No signature is written (see Package.Signature). Attachments are
// streamed: a parsed one's base64 text is copied with any whitespace
// removed, a new one is read from its source through a base64 encoder, so
// the content is never held twice.
//
// Every text value is checked before anything is written: a *BuildError
// then means nothing was written. A text value with leading or trailing
// XML whitespace is refused, since Parse would read it back trimmed. An error reading an attachment's source
// happens mid-stream, after part of the package was written.
func (p *Package) WriteTo(w io.Writer) (int64, error) {
	if err := p.write(&xmlWriter{w: bufio.NewWriter(io.Discard), dryRun: true}); err != nil {
		return 0, err
	}
	cw := &countWriter{w: w}
	bw := bufio.NewWriterSize(cw, 64<<10)
	err := p.write(&xmlWriter{w: bw})
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	return cw.n, err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

const (
	pfx      = "edXML:"
	declNS   = ` xmlns="` + NamespaceQCVN + `"`
	declPfx  = ` xmlns:edXML="` + NamespaceQCVN + `"`
	xmlDecl  = `<?xml version="1.0" encoding="UTF-8"?>`
	indentBy = "  "
)

func (p *Package) write(x *xmlWriter) error {
	switch {
	case p.Kind == KindStatus && p.Status == nil:
		return &BuildError{Path: "MessageHeader", Msg: "a status package needs Status"}
	case p.Kind != KindStatus && p.Kind != KindDocument:
		return &BuildError{Path: "edXML", Msg: fmt.Sprintf("package kind %d is neither document nor status", p.Kind)}
	}
	x.raw(xmlDecl)
	x.open("edXML", declNS, true)
	x.open(pfx+"edXMLEnvelope", declPfx, true)
	x.open(pfx+"edXMLHeader", "", true)
	if p.Kind == KindStatus {
		x.statusHeader(p.Status)
	} else {
		x.messageHeader(&p.Header)
		x.traceHeaderList(p.Trace)
	}
	x.close() // edXMLHeader
	if p.Kind == KindDocument || len(p.Manifest) > 0 {
		x.open(pfx+"edXMLBody", "", true)
		x.open(pfx+"edXMLManifest", ` version="1.0"`, true)
		for i, r := range p.Manifest {
			x.openItem(pfx+"Reference", i)
			x.leaf(pfx+"ContentId", r.ContentID)
			x.leaf(pfx+"ContentType", r.ContentType)
			x.leaf(pfx+"Description", r.Description)
			x.leaf(pfx+"AttachmentName", r.AttachmentName)
			x.close()
		}
		x.close()
		x.close()
	}
	x.close() // edXMLEnvelope
	if len(p.Attachments) > 0 {
		x.open("AttachmentEncoded", "", true)
		for i, a := range p.Attachments {
			x.openItem("Attachment", i)
			x.attachment(a)
			x.close()
		}
		x.close()
	}
	x.close() // edXML
	x.raw("\n")
	return x.err
}

func (x *xmlWriter) messageHeader(h *MessageHeader) {
	x.open(pfx+"MessageHeader", "", true)
	x.open(pfx+"From", "", false)
	x.organization(h.From)
	x.close()
	for i, to := range h.To {
		x.openItem(pfx+"To", i)
		x.organization(to)
		x.close()
	}
	x.leaf(pfx+"DocumentId", h.DocumentID)
	x.open(pfx+"Code", "", false)
	x.leaf(pfx+"CodeNumber", h.Code.Number)
	x.leaf(pfx+"CodeNotation", h.Code.Notation)
	x.close()
	x.open(pfx+"PromulgationInfo", "", false)
	x.leaf(pfx+"Place", h.Promulgation.Place)
	x.leaf(pfx+"PromulgationDate", h.Promulgation.Date.Raw)
	x.close()
	x.open(pfx+"DocumentType", "", false)
	x.leaf(pfx+"Type", h.DocumentType.Type)
	x.leaf(pfx+"TypeDetail", h.DocumentType.TypeDetail)
	x.leaf(pfx+"TypeName", h.DocumentType.TypeName)
	x.close()
	x.leaf(pfx+"Subject", h.Subject)
	x.leaf(pfx+"Content", h.Content)
	x.open(pfx+"SignerInfo", "", false)
	x.leaf(pfx+"Competence", h.Signer.Competence)
	x.leaf(pfx+"Position", h.Signer.Position)
	x.leaf(pfx+"FullName", h.Signer.FullName)
	x.close()
	x.leaf(pfx+"DueDate", h.DueDate.Raw)
	o := &h.OtherInfo
	x.open(pfx+"OtherInfo", "", false)
	x.leaf(pfx+"Priority", string(o.Priority))
	x.leaf(pfx+"SphereOfPromulgation", o.SphereOfPromulgation)
	x.leaf(pfx+"TyperNotation", o.TyperNotation)
	x.leaf(pfx+"PromulgationAmount", o.PromulgationAmount)
	x.leaf(pfx+"PageAmount", o.PageAmount)
	x.leaf(pfx+"Direction", o.Direction)
	x.list(pfx+"Appendixes", pfx+"Appendix", o.Appendixes)
	x.close()
	for i, rf := range h.ResponseFor {
		x.openItem(pfx+"ResponseFor", i)
		x.responseFor(rf)
		x.close()
	}
	x.leaf(pfx+"SteeringType", h.SteeringType)
	x.leaf(pfx+"ApplicationType", h.ApplicationType)
	x.list(pfx+"ResponseForTask", pfx+"TaskCode", h.ResponseForTask)
	x.list(pfx+"ToPlaces", pfx+"Place", h.ToPlaces)
	x.close()
}

func (x *xmlWriter) statusHeader(s *StatusHeader) {
	x.open(pfx+"MessageHeader", "", true)
	x.open(pfx+"From", "", false)
	x.organization(s.From)
	x.close()
	x.open(pfx+"ResponseFor", "", false)
	x.responseFor(s.ResponseFor)
	x.close()
	x.staffInfo(s.Staff)
	code := string(s.Code)
	if s.CodeRaw != "" && ParseStatusCode(s.CodeRaw) == s.Code {
		code = s.CodeRaw
	}
	// StatusCode is what makes a header a status: written even empty.
	x.child()
	x.raw("<" + pfx + "StatusCode>" + x.escape(pfx+"StatusCode", code, false) + "</" + pfx + "StatusCode>")
	x.leaf(pfx+"Description", s.Description)
	x.leaf(pfx+"Timestamp", s.Timestamp.Raw)
	x.close()
}

// organization writes the children of From or To.
func (x *xmlWriter) organization(o Organization) {
	x.leaf(pfx+"OrganId", o.OrganID)
	x.leaf(pfx+"OrganizationInCharge", o.OrganizationInCharge)
	x.leaf(pfx+"OrganName", o.OrganName)
	x.leaf(pfx+"OrganAdd", o.OrganAdd)
	x.leaf(pfx+"Email", o.Email)
	x.leaf(pfx+"Telephone", o.Telephone)
	x.leaf(pfx+"Fax", o.Fax)
	x.leaf(pfx+"Website", o.Website)
}

// responseFor writes the children of a ResponseFor.
func (x *xmlWriter) responseFor(r ResponseFor) {
	x.leaf(pfx+"OrganId", r.OrganID)
	x.leaf(pfx+"Code", r.Code)
	x.leaf(pfx+"PromulgationDate", r.PromulgationDate.Raw)
	x.leaf(pfx+"DocumentId", r.DocumentID)
}

func (x *xmlWriter) staffInfo(s StaffInfo) {
	x.open(pfx+"StaffInfo", "", false)
	x.leaf(pfx+"Department", s.Department)
	x.leaf(pfx+"DepartmentId", s.DepartmentID)
	x.leaf(pfx+"Staff", s.Staff)
	x.leaf(pfx+"StaffId", s.StaffID)
	x.leaf(pfx+"Email", s.Email)
	x.leaf(pfx+"Mobile", s.Mobile)
	x.close()
}

func (x *xmlWriter) traceHeaderList(t *TraceHeaderList) {
	if t == nil {
		return
	}
	attrs := ""
	if t.ID != "" {
		attrs += ` id="` + x.escape(pfx+"TraceHeaderList/@id", t.ID, true) + `"`
	}
	if t.Version != "" {
		attrs += ` version="` + x.escape(pfx+"TraceHeaderList/@version", t.Version, true) + `"`
	}
	x.open(pfx+"TraceHeaderList", attrs, true)
	for i, th := range t.Headers {
		x.openItem(pfx+"TraceHeader", i)
		x.leaf(pfx+"OrganId", th.OrganID)
		x.leaf(pfx+"Timestamp", th.Timestamp.Raw)
		x.close()
	}
	if b := t.Business; b != nil {
		x.open(pfx+"Bussiness", "", true)
		x.leaf(pfx+"DocumentId", b.DocumentID)
		x.leaf(pfx+"BussinessDocType", string(b.DocType))
		x.leaf(pfx+"BussinessDocReason", b.DocReason)
		x.leaf(pfx+"Paper", b.Paper)
		if info := b.DocumentInfo; info != nil {
			x.open(pfx+"BussinessDocumentInfo", "", true)
			x.leaf(pfx+"DocumentInfo", info.DocumentInfo)
			x.leaf(pfx+"DocumentReceiver", info.DocumentReceiver)
			x.open(pfx+"ReceiverList", "", false)
			for i, r := range info.Receivers {
				x.openItem(pfx+"Receiver", i)
				x.leaf(pfx+"OrganId", r.OrganID)
				x.leaf(pfx+"ReceiverType", r.ReceiverType)
				x.close()
			}
			x.close()
			x.close()
		}
		x.open(pfx+"ReplacementInfoList", "", false)
		for i, ri := range b.Replacements {
			x.openItem(pfx+"ReplacementInfo", i)
			x.leaf(pfx+"DocumentId", ri.DocumentID)
			x.list(pfx+"OrganIdList", pfx+"OrganId", ri.OrganIDs)
			x.close()
		}
		x.close()
		x.staffInfo(b.Staff)
		x.close()
	}
	x.close()
}

// attachment writes the children of an Attachment. They are unprefixed
// (in the default namespace) except ContentTransferEncoded, as the
// official SDK writes them.
func (x *xmlWriter) attachment(a *Attachment) {
	x.leaf("ContentId", a.ContentID)
	x.leaf("AttachmentName", a.Name)
	x.leaf("Description", a.Description)
	x.leaf("FieldName", a.FieldName)
	x.leaf("MimeType", a.MimeType)
	x.leaf("ContentType", a.ContentType)
	if a.hasEncoded || a.open != nil {
		x.child()
		x.raw("<" + pfx + "ContentTransferEncoded" + declPfx + ">")
		x.payload(a)
		x.raw("</" + pfx + "ContentTransferEncoded>")
	}
}

// payload writes an attachment's content as base64 without line breaks.
func (x *xmlWriter) payload(a *Attachment) {
	if x.err != nil || x.dryRun {
		return
	}
	if a.hasEncoded {
		// Copy the text, dropping whitespace: the decoded bytes are
		// unchanged. Base64 needs no escaping, but text read from a
		// corrupt package may hold anything.
		if strings.IndexByte(a.encoded, '&') >= 0 || strings.IndexByte(a.encoded, '<') >= 0 || strings.IndexByte(a.encoded, '>') >= 0 {
			var b strings.Builder
			_, _ = io.Copy(&b, &spaceSkipper{s: a.encoded})
			x.raw(x.escape("ContentTransferEncoded", b.String(), false))
			return
		}
		if !hasXMLSpace(a.encoded) {
			x.raw(a.encoded)
			return
		}
		_, err := io.Copy(x.w, &spaceSkipper{s: a.encoded})
		x.setErr(err)
		return
	}
	rc, err := a.open()
	if err != nil {
		x.setErr(fmt.Errorf("edoc: opening attachment %q: %w", a.ContentID, err))
		return
	}
	defer rc.Close()
	enc := base64.NewEncoder(base64.StdEncoding, x.w)
	if _, err := io.Copy(enc, rc); err != nil {
		x.setErr(fmt.Errorf("edoc: writing attachment %q: %w", a.ContentID, err))
		return
	}
	x.setErr(enc.Close())
}

// xmlWriter writes indented XML. Elements opened with always == false are
// written only once something is written inside them, so empty optional
// blocks disappear. The first error sticks.
type xmlWriter struct {
	w      *bufio.Writer
	dryRun bool // check values only, write no attachment content
	stack  []openTag
	err    error
}

type openTag struct {
	name, attrs string
	label       string // how the element appears in error paths, e.g. To[2]
	always      bool
	written     bool
	hasChildren bool
}

// wrappers are left out of error paths, as Validate leaves them out.
var wrappers = map[string]bool{"edXML": true, pfx + "edXMLEnvelope": true, pfx + "edXMLHeader": true, pfx + "edXMLBody": true}

func (x *xmlWriter) setErr(err error) {
	if x.err == nil && err != nil {
		x.err = err
	}
}

func (x *xmlWriter) raw(s string) {
	if x.err != nil {
		return
	}
	_, err := x.w.WriteString(s)
	x.setErr(err)
}

// open starts an element; see xmlWriter for always.
func (x *xmlWriter) open(name, attrs string, always bool) {
	x.stack = append(x.stack, openTag{name: name, attrs: attrs, label: strings.TrimPrefix(name, pfx), always: always})
	if always {
		x.flush()
	}
}

// openItem opens the i-th (from 0) element of a list, which is always
// written.
func (x *xmlWriter) openItem(name string, i int) {
	x.stack = append(x.stack, openTag{name: name, label: fmt.Sprintf("%s[%d]", strings.TrimPrefix(name, pfx), i+1), always: true})
	x.flush()
}

// flush writes the start tags still pending, outermost first.
func (x *xmlWriter) flush() {
	for i := range x.stack {
		t := &x.stack[i]
		if t.written {
			continue
		}
		if i > 0 {
			x.stack[i-1].hasChildren = true
		}
		x.indent(i)
		x.raw("<" + t.name + t.attrs + ">")
		t.written = true
	}
}

// child prepares a line for a child of the innermost element.
func (x *xmlWriter) child() {
	x.flush()
	x.stack[len(x.stack)-1].hasChildren = true
	x.indent(len(x.stack))
}

func (x *xmlWriter) close() {
	n := len(x.stack) - 1
	switch t := x.stack[n]; {
	case !t.written:
		// an optional block with nothing in it
	case !t.hasChildren:
		x.raw("</" + t.name + ">")
	default:
		x.indent(n)
		x.raw("</" + t.name + ">")
	}
	x.stack = x.stack[:n]
}

func (x *xmlWriter) indent(depth int) {
	x.raw("\n")
	for range depth {
		x.raw(indentBy)
	}
}

// path names the element being written, as Validate's paths do.
func (x *xmlWriter) path(leaf string) string {
	var parts []string
	for _, t := range x.stack {
		if !wrappers[t.name] {
			parts = append(parts, t.label)
		}
	}
	if leaf != "" {
		parts = append(parts, strings.TrimPrefix(leaf, pfx))
	}
	return strings.Join(parts, "/")
}

// leaf writes <name>value</name>, or nothing for an empty value.
func (x *xmlWriter) leaf(name, value string) {
	if value == "" || x.err != nil {
		return
	}
	esc := x.escape(name, value, false)
	x.child()
	x.raw("<" + name + ">" + esc + "</" + name + ">")
}

// list writes a block holding one element per value, or nothing. An empty
// value is kept as an empty element: it is still a list entry.
func (x *xmlWriter) list(block, item string, values []string) {
	if len(values) == 0 {
		return
	}
	x.open(block, "", false)
	for i, v := range values {
		x.openItem(item, i)
		if v != "" {
			x.raw(x.escape("", v, false))
		}
		x.stack = x.stack[:len(x.stack)-1]
		x.raw("</" + item + ">")
	}
	x.close()
}

// escape returns the value s of element (or attribute) name escaped for text (or, with attr, for a double-quoted
// attribute), after checking that it is valid UTF-8 made of characters
// that XML 1.0 allows and, for text, not surrounded by whitespace. CR (and in attributes TAB and LF) is written as a
// character reference so that a reader's end-of-line and attribute
// normalisation gives the same value back.
func (x *xmlWriter) escape(name, s string, attr bool) string {
	if err := checkXMLText(s); err != nil {
		x.setErr(&BuildError{Path: x.path(name), Msg: err.Error()})
		return ""
	}
	if !attr && s != "" && (isXMLSpace(s[0]) || isXMLSpace(s[len(s)-1])) {
		// Parse trims text values: written as is, this one would read
		// back as another value, and differently by readers that do not
		// trim. Attribute values are not trimmed (and TAB, LF, CR are
		// written as references), so they need no such check.
		x.setErr(&BuildError{Path: x.path(name), Msg: "leading or trailing whitespace (space, TAB, LF or CR) would be lost: Parse reads text values trimmed"})
		return ""
	}
	if !strings.ContainsAny(s, "&<>\"\r\t\n") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '\r':
			b.WriteString("&#xD;")
		case '"':
			if attr {
				b.WriteString("&quot;")
			} else {
				b.WriteByte(c)
			}
		case '\t', '\n':
			if attr {
				fmt.Fprintf(&b, "&#x%X;", c)
			} else {
				b.WriteByte(c)
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// checkXMLText reports invalid UTF-8 and characters outside XML 1.0's Char
// production.
func checkXMLText(s string) error {
	for i, r := range s {
		switch {
		case r == utf8.RuneError:
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return fmt.Errorf("invalid UTF-8 at byte %d", i)
			}
		case r == 0x9 || r == 0xA || r == 0xD:
		case r < 0x20, r >= 0xD800 && r <= 0xDFFF, r == 0xFFFE, r == 0xFFFF:
			return fmt.Errorf("character U+%04X at byte %d is not allowed in XML", r, i)
		}
	}
	return nil
}
