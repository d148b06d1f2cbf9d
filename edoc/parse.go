package edoc

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/beevik/etree"
)

// ParseError reports a package that is well-formed XML but cannot be read
// as edXML: a wrong root, a missing envelope or MessageHeader, an element
// that may appear once appearing twice, an element inside a text field, or
// a header that is both a document and a status. Problems with values
// (required fields, dates, codes) are not parse errors: Validate reports
// them.
type ParseError struct {
	Path string // where, e.g. "MessageHeader/From"
	Rule string // stable: "root", "missing", "duplicate", "mixed-content", "ambiguous-kind"
	Msg  string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("edoc: %s: %s", e.Path, e.Msg)
}

// Parse reads one package from b. See ParseReader.
func Parse(b []byte, lim Limits) (*Package, error) {
	return ParseReader(bytes.NewReader(b), lim)
}

// ParseReader reads one package from r with ReadTree's hardening and lim,
// then FromElement. It reads at most lim.MaxBytes+1 bytes. Errors are
// *LimitError, *SyntaxError, *ParseError or an error from r.
func ParseReader(r io.Reader, lim Limits) (*Package, error) {
	doc, err := ReadTree(r, lim)
	if err != nil {
		return nil, err
	}
	return FromElement(doc.Root())
}

// FromElement reads a package from an already parsed tree whose root is
// the edXML element: for example the element that a signature
// verification returns, so that nothing is read that was not signed. The
// element may be detached, with its namespace declarations on itself or
// its descendants, or still in its tree (declarations on ancestors are
// then seen too). FromElement does not modify the tree; the package keeps
// references to its strings (attachments are not copied).
//
// Elements are matched by namespace URI (the QCVN namespace or none) and
// local name, never by prefix or order, and unknown elements are ignored.
// The text of an element is the concatenation of its character data,
// comments and processing instructions skipped, trimmed of XML whitespace:
// exactly what exclusive canonicalisation without comments signs.
//
// Errors are *ParseError.
func FromElement(root *etree.Element) (*Package, error) {
	if root == nil {
		return nil, &ParseError{Path: "edXML", Rule: "missing", Msg: "no root element"}
	}
	if root.Tag != "edXML" || !isEdXML(root) {
		uri, _ := namespaceOf(root)
		return nil, &ParseError{Path: root.FullTag(), Rule: "root",
			Msg: fmt.Sprintf("root element is {%s}%s, want edXML in namespace %s", uri, root.Tag, NamespaceQCVN)}
	}
	d := &decoder{}
	p := d.pkg(d.node(root, "edXML"))
	if d.err != nil {
		return nil, d.err
	}
	return p, nil
}

// decoder walks the tree. The first error sticks; later calls do nothing
// useful and FromElement returns that error.
type decoder struct {
	err error
}

func (d *decoder) fail(path, rule, format string, args ...any) {
	if d.err == nil {
		d.err = &ParseError{Path: path, Rule: rule, Msg: fmt.Sprintf(format, args...)}
	}
}

// node is one element with its edXML children grouped by local name. An
// absent element is a node with el == nil and no children, so that reading
// from it yields zero values.
type node struct {
	el   *etree.Element
	path string
	kids map[string][]*etree.Element
}

// spellings maps the correct spelling of the Bussiness names, which some
// producers write, to the standard's misspelling.
var spellings = map[string]string{
	"Business":             "Bussiness",
	"BusinessDocType":      "BussinessDocType",
	"BusinessDocReason":    "BussinessDocReason",
	"BusinessDocumentInfo": "BussinessDocumentInfo",
}

func (d *decoder) node(el *etree.Element, path string) *node {
	n := &node{el: el, path: path}
	if el == nil {
		return n
	}
	for _, c := range el.Child {
		ce, ok := c.(*etree.Element)
		if !ok || !isEdXML(ce) {
			continue
		}
		name := ce.Tag
		if s, ok := spellings[name]; ok {
			name = s
		}
		if n.kids == nil {
			n.kids = make(map[string][]*etree.Element, len(el.Child)/2+1)
		}
		n.kids[name] = append(n.kids[name], ce)
	}
	return n
}

// one returns the only child called name, nil if there is none; a second
// one is an error, because two readers could then disagree on the value.
func (d *decoder) one(n *node, name string) *etree.Element {
	els := n.kids[name]
	if len(els) > 1 {
		d.fail(n.path+"/"+name, "duplicate", "<%s> appears %d times, at most once is allowed", name, len(els))
	}
	if len(els) == 0 {
		return nil
	}
	return els[0]
}

// child returns the node of the only child called name (an empty node if
// absent).
func (d *decoder) child(n *node, name string) *node {
	return d.node(d.one(n, name), n.path+"/"+name)
}

// children returns a node for every child called name, in document order.
func (d *decoder) children(n *node, name string) []*node {
	els := n.kids[name]
	if len(els) == 0 {
		return nil
	}
	out := make([]*node, len(els))
	for i, el := range els {
		out[i] = d.node(el, fmt.Sprintf("%s/%s[%d]", n.path, name, i+1))
	}
	return out
}

// text returns the text of the only child called name, "" if absent.
func (d *decoder) text(n *node, name string) string {
	el := d.one(n, name)
	if el == nil {
		return ""
	}
	return d.textOf(el, n.path+"/"+name)
}

// texts returns the text of every child called name.
func (d *decoder) texts(n *node, name string) []string {
	els := n.kids[name]
	if len(els) == 0 {
		return nil
	}
	out := make([]string, len(els))
	for i, el := range els {
		out[i] = d.textOf(el, fmt.Sprintf("%s/%s[%d]", n.path, name, i+1))
	}
	return out
}

// textOf concatenates the character data children of el, skipping comments
// and processing instructions, and trims the result. An element child
// makes it an error: a text field has no structure, and readers that
// flatten the child's text would see another value.
func (d *decoder) textOf(el *etree.Element, path string) string {
	var first string
	var b *strings.Builder
	for _, c := range el.Child {
		switch c := c.(type) {
		case *etree.CharData:
			switch {
			case b != nil:
				b.WriteString(c.Data)
			case first == "":
				first = c.Data
			default:
				b = &strings.Builder{}
				b.WriteString(first)
				b.WriteString(c.Data)
			}
		case *etree.Element:
			d.fail(path, "mixed-content", "text field contains element <%s>", c.FullTag())
			return ""
		}
	}
	if b != nil {
		return trimSpace(b.String())
	}
	return trimSpace(first)
}

func (d *decoder) pkg(root *node) *Package {
	p := &Package{}
	envEl := d.one(root, "edXMLEnvelope")
	if envEl == nil {
		d.fail("edXML", "missing", "no edXMLEnvelope element")
		return nil
	}
	env := d.node(envEl, "edXMLEnvelope")
	hdrEl := d.one(env, "edXMLHeader")
	if hdrEl == nil {
		d.fail("edXMLEnvelope", "missing", "no edXMLHeader element")
		return nil
	}
	hdr := d.node(hdrEl, "edXMLHeader")
	mhEl := d.one(hdr, "MessageHeader")
	if mhEl == nil {
		d.fail("edXMLHeader", "missing", "no MessageHeader element")
		return nil
	}
	mh := d.node(mhEl, "MessageHeader")
	p.Signature = signatureKind(hdrEl)

	_, hasStatus := mh.kids["StatusCode"]
	_, hasTo := mh.kids["To"]
	switch {
	case hasStatus && hasTo:
		d.fail("MessageHeader", "ambiguous-kind",
			"header has both To (a document) and StatusCode (a status); a reader could route it either way")
		return nil
	case hasStatus:
		p.Kind = KindStatus
		p.Status = d.statusHeader(mh)
	default:
		p.Kind = KindDocument
		p.Header = d.messageHeader(mh)
		if tl := d.one(hdr, "TraceHeaderList"); tl != nil {
			p.Trace = d.traceHeaderList(d.node(tl, "TraceHeaderList"))
		}
	}

	body := d.child(env, "edXMLBody")
	manifest := d.node(d.one(body, "edXMLManifest"), "edXMLManifest")
	for _, r := range d.children(manifest, "Reference") {
		p.Manifest = append(p.Manifest, Reference{
			ContentID:      d.text(r, "ContentId"),
			ContentType:    d.text(r, "ContentType"),
			Description:    d.text(r, "Description"),
			AttachmentName: d.text(r, "AttachmentName"),
		})
	}
	encoded := d.node(d.one(root, "AttachmentEncoded"), "AttachmentEncoded")
	for _, a := range d.children(encoded, "Attachment") {
		p.Attachments = append(p.Attachments, d.attachment(a))
	}
	return p
}

// signatureKind looks at the Signature children of edXMLHeader. A W3C
// signature wins over a legacy one if, oddly, both are there.
func signatureKind(hdr *etree.Element) SignatureKind {
	kind := SignatureNone
	for _, c := range hdr.ChildElements() {
		if c.Tag != "Signature" {
			continue
		}
		switch uri, ok := namespaceOf(c); {
		case ok && uri == NamespaceXMLDSig:
			return SignatureXMLDSig
		case ok && (uri == NamespaceQCVN || uri == ""):
			kind = SignatureLegacy
		}
	}
	return kind
}

func (d *decoder) messageHeader(mh *node) MessageHeader {
	h := MessageHeader{
		From:            d.organization(d.child(mh, "From")),
		DocumentID:      d.text(mh, "DocumentId"),
		Subject:         d.text(mh, "Subject"),
		Content:         d.text(mh, "Content"),
		DueDate:         Date{Raw: d.text(mh, "DueDate")},
		SteeringType:    d.text(mh, "SteeringType"),
		ApplicationType: d.text(mh, "ApplicationType"),
	}
	for _, to := range d.children(mh, "To") {
		h.To = append(h.To, d.organization(to))
	}
	code := d.child(mh, "Code")
	h.Code = Code{Number: d.text(code, "CodeNumber"), Notation: d.text(code, "CodeNotation")}
	pi := d.child(mh, "PromulgationInfo")
	h.Promulgation = PromulgationInfo{Place: d.text(pi, "Place"), Date: Date{Raw: d.text(pi, "PromulgationDate")}}
	dt := d.child(mh, "DocumentType")
	h.DocumentType = DocumentType{Type: d.text(dt, "Type"), TypeDetail: d.text(dt, "TypeDetail"), TypeName: d.text(dt, "TypeName")}
	si := d.child(mh, "SignerInfo")
	h.Signer = SignerInfo{Competence: d.text(si, "Competence"), Position: d.text(si, "Position"), FullName: d.text(si, "FullName")}
	oi := d.child(mh, "OtherInfo")
	h.OtherInfo = OtherInfo{
		Priority:             Priority(d.text(oi, "Priority")),
		SphereOfPromulgation: d.text(oi, "SphereOfPromulgation"),
		TyperNotation:        d.text(oi, "TyperNotation"),
		PromulgationAmount:   d.text(oi, "PromulgationAmount"),
		PageAmount:           d.text(oi, "PageAmount"),
		Direction:            d.text(oi, "Direction"),
		Appendixes:           d.texts(d.child(oi, "Appendixes"), "Appendix"),
	}
	for _, rf := range d.children(mh, "ResponseFor") {
		h.ResponseFor = append(h.ResponseFor, d.responseFor(rf))
	}
	h.ResponseForTask = d.texts(d.child(mh, "ResponseForTask"), "TaskCode")
	h.ToPlaces = d.texts(d.child(mh, "ToPlaces"), "Place")
	return h
}

func (d *decoder) statusHeader(mh *node) *StatusHeader {
	raw := d.text(mh, "StatusCode")
	return &StatusHeader{
		From:        d.organization(d.child(mh, "From")),
		ResponseFor: d.responseFor(d.child(mh, "ResponseFor")),
		Staff:       d.staffInfo(d.child(mh, "StaffInfo")),
		Code:        ParseStatusCode(raw),
		CodeRaw:     raw,
		Description: d.text(mh, "Description"),
		Timestamp:   Timestamp{Raw: d.text(mh, "Timestamp")},
	}
}

func (d *decoder) organization(n *node) Organization {
	return Organization{
		OrganID:              d.text(n, "OrganId"),
		OrganizationInCharge: d.text(n, "OrganizationInCharge"),
		OrganName:            d.text(n, "OrganName"),
		OrganAdd:             d.text(n, "OrganAdd"),
		Email:                d.text(n, "Email"),
		Telephone:            d.text(n, "Telephone"),
		Fax:                  d.text(n, "Fax"),
		Website:              d.text(n, "Website"),
	}
}

func (d *decoder) responseFor(n *node) ResponseFor {
	return ResponseFor{
		OrganID:          d.text(n, "OrganId"),
		Code:             d.text(n, "Code"),
		PromulgationDate: Date{Raw: d.text(n, "PromulgationDate")},
		DocumentID:       d.text(n, "DocumentId"),
	}
}

func (d *decoder) staffInfo(n *node) StaffInfo {
	return StaffInfo{
		Department:   d.text(n, "Department"),
		DepartmentID: d.text(n, "DepartmentId"),
		Staff:        d.text(n, "Staff"),
		StaffID:      d.text(n, "StaffId"),
		Email:        d.text(n, "Email"),
		Mobile:       d.text(n, "Mobile"),
	}
}

func (d *decoder) traceHeaderList(n *node) *TraceHeaderList {
	t := &TraceHeaderList{ID: attr(n.el, "id"), Version: attr(n.el, "version")}
	for _, th := range d.children(n, "TraceHeader") {
		t.Headers = append(t.Headers, TraceHeader{
			OrganID:   d.text(th, "OrganId"),
			Timestamp: Timestamp{Raw: d.text(th, "Timestamp")},
		})
	}
	if el := d.one(n, "Bussiness"); el != nil {
		t.Business = d.business(d.node(el, n.path+"/Bussiness"))
	}
	return t
}

func (d *decoder) business(n *node) *Business {
	b := &Business{
		DocumentID: d.text(n, "DocumentId"),
		DocType:    BusinessDocType(d.text(n, "BussinessDocType")),
		DocReason:  d.text(n, "BussinessDocReason"),
		Paper:      d.text(n, "Paper"),
		Staff:      d.staffInfo(d.child(n, "StaffInfo")),
	}
	if el := d.one(n, "BussinessDocumentInfo"); el != nil {
		info := d.node(el, n.path+"/BussinessDocumentInfo")
		b.DocumentInfo = &BusinessDocumentInfo{
			DocumentInfo:     d.text(info, "DocumentInfo"),
			DocumentReceiver: d.text(info, "DocumentReceiver"),
		}
		for _, r := range d.children(d.child(info, "ReceiverList"), "Receiver") {
			b.DocumentInfo.Receivers = append(b.DocumentInfo.Receivers, Receiver{
				OrganID:      d.text(r, "OrganId"),
				ReceiverType: d.text(r, "ReceiverType"),
			})
		}
	}
	for _, ri := range d.children(d.child(n, "ReplacementInfoList"), "ReplacementInfo") {
		b.Replacements = append(b.Replacements, ReplacementInfo{
			DocumentID: d.text(ri, "DocumentId"),
			OrganIDs:   d.texts(d.child(ri, "OrganIdList"), "OrganId"),
		})
	}
	return b
}

func (d *decoder) attachment(n *node) *Attachment {
	a := &Attachment{
		ContentID:   d.text(n, "ContentId"),
		Name:        d.text(n, "AttachmentName"),
		Description: d.text(n, "Description"),
		FieldName:   d.text(n, "FieldName"),
		MimeType:    d.text(n, "MimeType"),
		ContentType: d.text(n, "ContentType"),
	}
	if el := d.one(n, "ContentTransferEncoded"); el != nil {
		a.encoded = d.textOf(el, n.path+"/ContentTransferEncoded")
		a.hasEncoded = true
	}
	return a
}

// attr returns the value of el's unprefixed attribute key, "" if absent.
func attr(el *etree.Element, key string) string {
	for _, a := range el.Attr {
		if a.Space == "" && a.Key == key {
			return a.Value
		}
	}
	return ""
}

// isEdXML reports whether el is in the QCVN namespace or in none.
func isEdXML(el *etree.Element) bool {
	uri, ok := namespaceOf(el)
	return ok && (uri == NamespaceQCVN || uri == "")
}

// namespaceOf resolves el's namespace URI from the xmlns declarations on el
// and its ancestors. ok is false when el's prefix is declared nowhere: such
// an element is in no namespace we know, and is never taken for an edXML
// one (etree's NamespaceURI would return "" for it).
func namespaceOf(el *etree.Element) (uri string, ok bool) {
	prefix := el.Space
	for e := el; e != nil; e = e.Parent() {
		for _, a := range e.Attr {
			if prefix == "" {
				if a.Space == "" && a.Key == "xmlns" {
					return a.Value, true
				}
			} else if a.Space == "xmlns" && a.Key == prefix {
				return a.Value, a.Value != ""
			}
		}
	}
	switch prefix {
	case "":
		return "", true
	case "xml":
		return "http://www.w3.org/XML/1998/namespace", true
	}
	return "", false
}
