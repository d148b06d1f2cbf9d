package edoc

// Namespaces of edXML packages.
const (
	// NamespaceQCVN is the namespace of every edXML element (spec §2.1).
	NamespaceQCVN = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
	// NamespaceXMLDSig is the W3C XML signature namespace.
	NamespaceXMLDSig = "http://www.w3.org/2000/09/xmldsig#"
)

// Kind tells a document package from a status package. The zero Kind is
// invalid: WriteTo refuses a package without one.
type Kind int

// Package kinds.
const (
	KindDocument Kind = iota + 1 // messagetype "edoc": a letter with attachments
	KindStatus                   // messagetype "status": a handling status about a letter
)

func (k Kind) String() string {
	switch k {
	case KindDocument:
		return "document"
	case KindStatus:
		return "status"
	}
	return "invalid"
}

// SignatureKind says which signature block, if any, the package's
// edXMLHeader carries. edoc never checks a signature; package signing does.
type SignatureKind int

// Signature kinds.
const (
	SignatureNone    SignatureKind = iota // no Signature in edXMLHeader
	SignatureLegacy                       // a Signature in the QCVN namespace, as the official SDK writes it
	SignatureXMLDSig                      // a W3C ds:Signature (what package signing writes)
)

func (k SignatureKind) String() string {
	switch k {
	case SignatureLegacy:
		return "legacy"
	case SignatureXMLDSig:
		return "xmldsig"
	}
	return "none"
}

// Package is one edXML package, document or status. Kind says which;
// a document uses Header, Trace, Manifest and Attachments, a status uses
// Status. All text is trimmed of XML whitespace at both ends.
//
// Reading never depends on element order or prefixes and ignores elements
// it does not know, so WriteTo writes those fields only: see the package
// documentation for what a round trip drops.
type Package struct {
	Kind Kind
	// Signature records the signature block found when reading. WriteTo
	// never writes one: a signature over other bytes would not verify, and
	// signing adds its own.
	Signature SignatureKind

	Header MessageHeader    // KindDocument: edXMLHeader/MessageHeader
	Trace  *TraceHeaderList // KindDocument: nil when the package has no TraceHeaderList
	Status *StatusHeader    // KindStatus: edXMLHeader/MessageHeader

	Manifest    []Reference   // edXMLBody/edXMLManifest/Reference, in document order
	Attachments []*Attachment // AttachmentEncoded/Attachment, in document order
}

// MessageHeader is the header of a document package (spec §2.3).
type MessageHeader struct {
	From         Organization
	To           []Organization
	DocumentID   string // opaque: "OrganId,yyyy/MM/dd,Number/Notation" or a UUID, never parsed
	Code         Code
	Promulgation PromulgationInfo
	DocumentType DocumentType
	Subject      string // trích yếu
	Content      string
	Signer       SignerInfo
	DueDate      Date
	OtherInfo    OtherInfo
	ResponseFor  []ResponseFor // documents this one answers; an empty entry is kept as such
	SteeringType string        // 0, 1 or 2; meaning unconfirmed (spec §2.3)

	ApplicationType string
	ResponseForTask []string // ResponseForTask/TaskCode
	ToPlaces        []string // ToPlaces/Place: recipients in words (nơi nhận)
}

// Organization is From or To of a document, or From of a status.
type Organization struct {
	OrganID              string // see IsOrganID and IsQCVNOrganID
	OrganizationInCharge string
	OrganName            string
	OrganAdd             string
	Email                string
	Telephone            string
	Fax                  string
	Website              string
}

// Code is the document's number and notation (số, ký hiệu), 7816 and
// VPCP-TTĐT in 7816/VPCP-TTĐT.
type Code struct {
	Number   string // CodeNumber
	Notation string // CodeNotation
}

// String returns Number/Notation, or whichever of the two is set.
func (c Code) String() string {
	switch {
	case c.Notation == "":
		return c.Number
	case c.Number == "":
		return c.Notation
	}
	return c.Number + "/" + c.Notation
}

// PromulgationInfo is where and when the document was issued.
type PromulgationInfo struct {
	Place string
	Date  Date // PromulgationDate
}

// DocumentType says what kind of document this is. The numeric codes are
// kept as text: their official meaning was not found (spec §2.3, §2.9).
type DocumentType struct {
	Type       string
	TypeDetail string
	TypeName   string // e.g. Công văn
}

// SignerInfo names who signed the document on paper.
type SignerInfo struct {
	Competence string // e.g. TL. BỘ TRƯỞNG
	Position   string
	FullName   string
}

// OtherInfo holds the document's remaining register data. ReplyFors and
// ReferenceCodes, whose structure no source documents, are not read.
type OtherInfo struct {
	Priority             Priority
	SphereOfPromulgation string
	TyperNotation        string // typist's initials
	PromulgationAmount   string // number of copies issued (unsigned integer)
	PageAmount           string // unsigned integer
	Direction            string // "true" or "false"; meaning unknown
	Appendixes           []string
}

// ResponseFor points at another document: the one a document answers, or
// in a status package the document the status is about.
type ResponseFor struct {
	OrganID          string // the sender of that document
	Code             string // its Number/Notation
	PromulgationDate Date
	DocumentID       string
}

// TraceHeaderList records the hops of a document and what it does.
type TraceHeaderList struct {
	ID      string // id attribute
	Version string // version attribute
	Headers []TraceHeader
	// Business is the Bussiness block (the misspelling is the standard's);
	// nil when absent, which means a new document.
	Business *Business
}

// TraceHeader is one hop: who handled the package and when.
type TraceHeader struct {
	OrganID   string
	Timestamp Timestamp
}

// Business is the Bussiness block of a TraceHeaderList (spec §2.4). Its
// element names are misspelt in the standard (Bussiness, BussinessDocType,
// ...); both spellings are read, the standard one is written.
type Business struct {
	DocumentID   string // the document acted on (revocation, update)
	DocType      BusinessDocType
	DocReason    string
	Paper        string                // 0: no paper copy follows
	DocumentInfo *BusinessDocumentInfo // update only
	Replacements []ReplacementInfo     // replacement only: ReplacementInfoList/ReplacementInfo
	Staff        StaffInfo
}

// BusinessDocumentInfo describes what an update changes.
type BusinessDocumentInfo struct {
	DocumentInfo     string // "1": the document's content or data changed
	DocumentReceiver string // "1": the recipient list changed
	Receivers        []Receiver
}

// Receiver is one entry of BussinessDocumentInfo/ReceiverList.
type Receiver struct {
	OrganID      string
	ReceiverType string // 0 or 1; exact meaning unknown (spec §2.4)
}

// ReplacementInfo names a replaced document and the recipients concerned.
type ReplacementInfo struct {
	DocumentID string
	OrganIDs   []string // OrganIdList/OrganId
}

// StaffInfo names the clerk who handled the package.
type StaffInfo struct {
	Department   string
	DepartmentID string
	Staff        string
	StaffID      string
	Email        string
	Mobile       string
}

// StatusHeader is the MessageHeader of a status package (spec §3.1).
type StatusHeader struct {
	From        Organization // who reports the status
	ResponseFor ResponseFor  // the document the status is about
	Staff       StaffInfo
	// Code is the status, normalised (see ParseStatusCode); CodeRaw is the
	// text as read. WriteTo writes CodeRaw when it normalises to Code, so
	// that a round trip keeps the bytes, and Code otherwise.
	Code        StatusCode
	CodeRaw     string
	Description string
	Timestamp   Timestamp
}

// Reference is one entry of the manifest: it announces an attachment.
type Reference struct {
	ContentID      string // "cid:209" or "209": matched with or without the cid: prefix
	ContentType    string
	Description    string
	AttachmentName string
}

// Sender returns the OrganId of From, for documents and statuses alike.
func (p *Package) Sender() string {
	if p.Kind == KindStatus && p.Status != nil {
		return p.Status.From.OrganID
	}
	return p.Header.From.OrganID
}

// Recipients returns the OrganId of every To of a document, in order. A
// status package has none: it goes where ResponseFor says.
func (p *Package) Recipients() []string {
	if p.Kind != KindDocument {
		return nil
	}
	ids := make([]string, len(p.Header.To))
	for i, to := range p.Header.To {
		ids[i] = to.OrganID
	}
	return ids
}

// ResponseFor returns the OrganId and DocumentId of the document a status
// package is about, "" for a document package.
func (p *Package) ResponseFor() (organID, documentID string) {
	if p.Kind != KindStatus || p.Status == nil {
		return "", ""
	}
	return p.Status.ResponseFor.OrganID, p.Status.ResponseFor.DocumentID
}

// RootDocument returns the original sender and DocumentId of the letter a
// package belongs to, so that a letter and everything said about it can be
// kept together. For a document that is its own From and DocumentId. For a
// status it is ResponseFor, except for a recall request
// (StatusRecallRequested), which the original sender sends and whose
// ResponseFor OrganId producers fill inconsistently (spec §3.4): there the
// sender is From.
func (p *Package) RootDocument() (organID, documentID string) {
	if p.Kind != KindStatus || p.Status == nil {
		return p.Header.From.OrganID, p.Header.DocumentID
	}
	s := p.Status
	if s.Code == StatusRecallRequested {
		return s.From.OrganID, s.ResponseFor.DocumentID
	}
	return s.ResponseFor.OrganID, s.ResponseFor.DocumentID
}

// BusinessType returns what a document package does: its BussinessDocType,
// or BusinessNew when it has no Bussiness block. It is "" for a status.
func (p *Package) BusinessType() BusinessDocType {
	if p.Kind != KindDocument {
		return ""
	}
	if p.Trace == nil || p.Trace.Business == nil {
		return BusinessNew
	}
	return p.Trace.Business.DocType
}

// StatusCode returns the normalised code of a status package, "" for a
// document.
func (p *Package) StatusCode() StatusCode {
	if p.Kind != KindStatus || p.Status == nil {
		return ""
	}
	return p.Status.Code
}

// AddAttachment appends a to the package together with the manifest
// Reference that announces it.
func (p *Package) AddAttachment(a *Attachment) {
	p.Attachments = append(p.Attachments, a)
	p.Manifest = append(p.Manifest, Reference{
		ContentID:      a.ContentID,
		ContentType:    a.ContentType,
		Description:    a.Description,
		AttachmentName: a.Name,
	})
}
