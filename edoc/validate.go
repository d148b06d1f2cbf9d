package edoc

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Severity says whether a Problem makes a package unacceptable.
type Severity int

// Severities.
const (
	Error   Severity = iota + 1 // the package breaks a rule: refuse it
	Warning                     // the package is acceptable but unusual
)

func (s Severity) String() string {
	switch s {
	case Error:
		return "error"
	case Warning:
		return "warning"
	}
	return "invalid"
}

// MarshalText writes "error" or "warning".
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Problem is one rule a package breaks.
type Problem struct {
	// Path names the field, from the header block down, with 1-based
	// indexes for repeated elements: "MessageHeader/To[2]/OrganId",
	// "edXMLManifest/Reference[1]/ContentId",
	// "AttachmentEncoded/Attachment[1]/ContentTransferEncoded".
	Path string `json:"path"`
	// Rule is a stable, machine-readable name of the rule broken:
	// "required", "max-length", "organid", "organid-qcvn",
	// "duplicate-recipient", "date", "timestamp", "integer",
	// "unknown-value", "status-code", "business-type",
	// "duplicate-content-id", "manifest-unmatched", "manifest-ambiguous",
	// "attachment-unreferenced", "base64", "empty-attachment",
	// "no-attachments", "no-business", "unexpected".
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"` // for people; may change
}

func (p Problem) String() string {
	return fmt.Sprintf("%s: %s: %s: %s", p.Path, p.Rule, p.Severity, p.Message)
}

// HasErrors reports whether any problem is an Error.
func HasErrors(problems []Problem) bool {
	for _, p := range problems {
		if p.Severity == Error {
			return true
		}
	}
	return false
}

// Validate checks p against the rules of QCVN 102:2016 as far as they are
// known (spec §2–§4) and returns every problem found, in document order;
// none means the package is good. Lengths are counted in characters.
//
// It decodes the base64 of every parsed attachment (streaming, cached by
// Digest); it does not open the source of attachments made with
// NewAttachment. It never checks a signature, nor the order of different
// dates, nor what a DocumentId contains (it is opaque).
func (p *Package) Validate() []Problem {
	v := &validator{}
	switch p.Kind {
	case KindDocument:
		v.document(p)
	case KindStatus:
		if p.Status == nil {
			v.add("MessageHeader", "required", Error, "status package without a status header")
			break
		}
		v.status(p)
	default:
		v.add("edXML", "required", Error, "package kind is neither document nor status")
	}
	return v.problems
}

type validator struct {
	problems []Problem
}

func (v *validator) add(path, rule string, sev Severity, format string, args ...any) {
	v.problems = append(v.problems, Problem{Path: path, Rule: rule, Severity: sev, Message: fmt.Sprintf(format, args...)})
}

// Length limits in characters, from the hub validators in use (spec §2.3).
// Fields that identify or register the document break the rule with an
// Error; contact and descriptive fields only with a Warning, since the
// national axis is not known to enforce them.
const (
	maxDocumentID     = 200
	maxCodeNumber     = 11
	maxCodeNotation   = 30
	maxPlace          = 50
	maxTypeName       = 100
	maxSubject        = 500
	maxContent        = 500
	maxOrganName      = 200
	maxInCharge       = 500
	maxOrganAdd       = 500
	maxEmail          = 100
	maxPhone          = 20
	maxWebsite        = 20
	maxSphere         = 100
	maxTyper          = 10
	maxToPlace        = 150
	maxAttachmentName = 500
)

func (v *validator) required(path, value string, sev Severity) bool {
	if value == "" {
		v.add(path, "required", sev, "%s is required", lastElem(path))
		return false
	}
	return true
}

func (v *validator) maxLen(path, value string, max int, sev Severity) {
	if n := utf8.RuneCountInString(value); n > max {
		v.add(path, "max-length", sev, "%d characters, at most %d allowed", n, max)
	}
}

// organID checks an OrganId that is present.
func (v *validator) organID(path, id string, sev Severity) {
	switch {
	case id == "":
	case !IsOrganID(id):
		v.add(path, "organid", sev,
			"%q is not an OrganId: dot-separated groups of letters and digits, at most %d characters", id, MaxOrganIDLength)
	case !IsQCVNOrganID(id):
		v.add(path, "organid-qcvn", Warning,
			"%q is not in the 13-character QCVN 102:2016 form NNN.NN.NN.XNN (allowed since amendment 1:2022, but unusual)", id)
	}
}

func (v *validator) date(path string, d Date, sev Severity) {
	if d.IsZero() {
		return
	}
	if _, err := d.Time(); err != nil {
		v.add(path, "date", sev, "%v; want a real date as yyyy/MM/dd", err)
	}
}

func (v *validator) timestamp(path string, ts Timestamp, sev Severity) {
	if ts.IsZero() {
		return
	}
	if _, err := ts.Time(); err != nil {
		v.add(path, "timestamp", sev, "%v; want a real time as yyyy/MM/dd HH:mm:ss (Vietnam time)", err)
	}
}

// integer checks a present value that must be an unsigned integer no
// larger than max.
func (v *validator) integer(path, value string, max uint64, sev Severity) {
	if value == "" {
		return
	}
	if n, err := strconv.ParseUint(value, 10, 64); err != nil || n > max {
		v.add(path, "integer", sev, "%q is not an integer from 0 to %d", value, max)
	}
}

func (v *validator) organization(path string, o Organization, nameSev Severity) {
	if v.required(path+"/OrganId", o.OrganID, Error) {
		v.organID(path+"/OrganId", o.OrganID, Error)
	}
	v.required(path+"/OrganName", o.OrganName, nameSev)
	v.maxLen(path+"/OrganizationInCharge", o.OrganizationInCharge, maxInCharge, Warning)
	v.maxLen(path+"/OrganName", o.OrganName, maxOrganName, Warning)
	v.maxLen(path+"/OrganAdd", o.OrganAdd, maxOrganAdd, Warning)
	v.maxLen(path+"/Email", o.Email, maxEmail, Warning)
	v.maxLen(path+"/Telephone", o.Telephone, maxPhone, Warning)
	v.maxLen(path+"/Fax", o.Fax, maxPhone, Warning)
	v.maxLen(path+"/Website", o.Website, maxWebsite, Warning)
}

func (v *validator) document(p *Package) {
	h := &p.Header
	const mh = "MessageHeader"
	// Real traffic omits OrganName, so its absence is only a warning.
	v.organization(mh+"/From", h.From, Warning)
	if len(h.To) == 0 {
		v.add(mh+"/To", "required", Error, "a document needs at least one To")
	}
	seen := make(map[string]int, len(h.To))
	for i, to := range h.To {
		path := fmt.Sprintf("%s/To[%d]", mh, i+1)
		v.organization(path, to, Warning)
		if to.OrganID == "" {
			continue
		}
		if first, dup := seen[to.OrganID]; dup {
			v.add(path+"/OrganId", "duplicate-recipient", Error, "%q is already To[%d]", to.OrganID, first)
			continue
		}
		seen[to.OrganID] = i + 1
	}
	if v.required(mh+"/DocumentId", h.DocumentID, Error) {
		v.maxLen(mh+"/DocumentId", h.DocumentID, maxDocumentID, Error)
	}
	if v.required(mh+"/Code/CodeNumber", h.Code.Number, Error) {
		v.maxLen(mh+"/Code/CodeNumber", h.Code.Number, maxCodeNumber, Error)
	}
	if v.required(mh+"/Code/CodeNotation", h.Code.Notation, Error) {
		v.maxLen(mh+"/Code/CodeNotation", h.Code.Notation, maxCodeNotation, Error)
	}
	v.maxLen(mh+"/PromulgationInfo/Place", h.Promulgation.Place, maxPlace, Error)
	if v.required(mh+"/PromulgationInfo/PromulgationDate", h.Promulgation.Date.Raw, Error) {
		v.date(mh+"/PromulgationInfo/PromulgationDate", h.Promulgation.Date, Error)
	}
	v.required(mh+"/DocumentType/Type", h.DocumentType.Type, Warning)
	v.integer(mh+"/DocumentType/Type", h.DocumentType.Type, 65535, Error)
	v.integer(mh+"/DocumentType/TypeDetail", h.DocumentType.TypeDetail, 65535, Error)
	v.maxLen(mh+"/DocumentType/TypeName", h.DocumentType.TypeName, maxTypeName, Error)
	if v.required(mh+"/Subject", h.Subject, Error) {
		v.maxLen(mh+"/Subject", h.Subject, maxSubject, Error)
	}
	v.maxLen(mh+"/Content", h.Content, maxContent, Warning)
	v.date(mh+"/DueDate", h.DueDate, Error)

	o := &h.OtherInfo
	const oi = mh + "/OtherInfo"
	if o.Priority != "" && !o.Priority.Known() {
		if _, err := strconv.ParseUint(string(o.Priority), 10, 16); err != nil {
			v.add(oi+"/Priority", "integer", Error, "%q is not an integer", o.Priority)
		} else {
			v.add(oi+"/Priority", "unknown-value", Warning, "priority %q is not one of 0 to 4", o.Priority)
		}
	}
	v.maxLen(oi+"/SphereOfPromulgation", o.SphereOfPromulgation, maxSphere, Warning)
	v.maxLen(oi+"/TyperNotation", o.TyperNotation, maxTyper, Warning)
	v.integer(oi+"/PromulgationAmount", o.PromulgationAmount, 65535, Error)
	v.integer(oi+"/PageAmount", o.PageAmount, 65535, Error)
	if o.Direction != "" && o.Direction != "true" && o.Direction != "false" {
		v.add(oi+"/Direction", "unknown-value", Warning, "%q is neither true nor false", o.Direction)
	}

	for i, rf := range h.ResponseFor {
		path := fmt.Sprintf("%s/ResponseFor[%d]", mh, i+1)
		v.organID(path+"/OrganId", rf.OrganID, Error)
		v.date(path+"/PromulgationDate", rf.PromulgationDate, Error)
	}
	v.integer(mh+"/SteeringType", h.SteeringType, 65535, Error)
	if h.SteeringType != "" && h.SteeringType != "0" && h.SteeringType != "1" && h.SteeringType != "2" {
		v.add(mh+"/SteeringType", "unknown-value", Warning, "steering type %q is not 0, 1 or 2", h.SteeringType)
	}
	for i, place := range h.ToPlaces {
		v.maxLen(fmt.Sprintf("%s/ToPlaces/Place[%d]", mh, i+1), place, maxToPlace, Warning)
	}

	v.trace(p.Trace)
	v.attachments(p, Error)
	if len(p.Attachments) == 0 && len(p.Manifest) == 0 {
		v.add("edXMLManifest", "no-attachments", Warning, "the document carries no attachment")
	}
}

func (v *validator) trace(t *TraceHeaderList) {
	const tl = "TraceHeaderList"
	if t == nil || t.Business == nil {
		v.add(tl+"/Bussiness", "no-business", Warning, "no Bussiness block: the document is taken as new (BussinessDocType 0)")
	}
	if t == nil {
		return
	}
	for i, th := range t.Headers {
		path := fmt.Sprintf("%s/TraceHeader[%d]", tl, i+1)
		// Hops are appended in transit, not by the sender, and real ones
		// hold odd values ("null"): a bad OrganId is only a warning.
		v.organID(path+"/OrganId", th.OrganID, Warning)
		v.timestamp(path+"/Timestamp", th.Timestamp, Error)
	}
	b := t.Business
	if b == nil {
		return
	}
	const bp = tl + "/Bussiness"
	switch {
	case b.DocType == "":
		v.add(bp+"/BussinessDocType", "required", Error, "BussinessDocType is required")
	case !b.DocType.Known():
		v.add(bp+"/BussinessDocType", "business-type", Error, "%q is not a business type: 0 new, 1 revocation, 2 update, 3 replacement", b.DocType)
	case b.DocType == BusinessReplace && len(b.Replacements) == 0:
		v.add(bp+"/ReplacementInfoList", "required", Warning, "a replacement names no replaced document")
	}
	v.integer(bp+"/Paper", b.Paper, 65535, Error)
	if info := b.DocumentInfo; info != nil {
		for i, r := range info.Receivers {
			path := fmt.Sprintf("%s/BussinessDocumentInfo/ReceiverList/Receiver[%d]", bp, i+1)
			if v.required(path+"/OrganId", r.OrganID, Error) {
				v.organID(path+"/OrganId", r.OrganID, Error)
			}
			v.integer(path+"/ReceiverType", r.ReceiverType, 65535, Error)
		}
	}
	for i, ri := range b.Replacements {
		path := fmt.Sprintf("%s/ReplacementInfoList/ReplacementInfo[%d]", bp, i+1)
		v.required(path+"/DocumentId", ri.DocumentID, Error)
		for j, id := range ri.OrganIDs {
			v.organID(fmt.Sprintf("%s/OrganIdList/OrganId[%d]", path, j+1), id, Error)
		}
	}
}

func (v *validator) status(p *Package) {
	s := p.Status
	const mh = "MessageHeader"
	v.organization(mh+"/From", s.From, Warning)
	rf := s.ResponseFor
	if v.required(mh+"/ResponseFor/OrganId", rf.OrganID, Error) {
		v.organID(mh+"/ResponseFor/OrganId", rf.OrganID, Error)
	}
	v.required(mh+"/ResponseFor/Code", rf.Code, Error)
	if v.required(mh+"/ResponseFor/DocumentId", rf.DocumentID, Error) {
		v.maxLen(mh+"/ResponseFor/DocumentId", rf.DocumentID, maxDocumentID, Error)
	}
	v.date(mh+"/ResponseFor/PromulgationDate", rf.PromulgationDate, Error)
	switch raw := s.CodeRaw; {
	case raw == "" && s.Code == "":
		v.add(mh+"/StatusCode", "required", Error, "StatusCode is required")
	case !isTwoDigits(string(s.Code)):
		v.add(mh+"/StatusCode", "status-code", Error, "%q is not a two-digit status code", s.Code)
	case !s.Code.Known():
		v.add(mh+"/StatusCode", "unknown-value", Warning, "status code %q is not one of 01-06, 13, 15, 16", s.Code)
	}
	if v.required(mh+"/Timestamp", s.Timestamp.Raw, Warning) {
		v.timestamp(mh+"/Timestamp", s.Timestamp, Error)
	}
	if len(p.Manifest) > 0 || len(p.Attachments) > 0 {
		v.add("edXMLManifest", "unexpected", Warning, "a status package normally carries no attachment")
		v.attachments(p, Warning)
	}
}

func isTwoDigits(s string) bool {
	return len(s) == 2 && s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9'
}

// attachments checks that the manifest and the attachments match one to
// one by ContentId (with or without cid:) and that every parsed attachment
// decodes.
func (v *validator) attachments(p *Package, sev Severity) {
	// Count the attachments per bare ContentId once: matching every
	// Reference against every Attachment would be quadratic, and a 4 MiB
	// package can hold 60,000 of each.
	attCount := make(map[string]int, len(p.Attachments))
	for _, a := range p.Attachments {
		attCount[bareContentID(a.ContentID)]++
	}
	refIDs := make(map[string]int, len(p.Manifest))
	for i, r := range p.Manifest {
		path := fmt.Sprintf("edXMLManifest/Reference[%d]", i+1)
		if !v.required(path+"/ContentId", r.ContentID, sev) {
			continue
		}
		id := bareContentID(r.ContentID)
		if first, dup := refIDs[id]; dup {
			v.add(path+"/ContentId", "duplicate-content-id", sev, "%q is already Reference[%d]", r.ContentID, first)
			continue
		}
		refIDs[id] = i + 1
		switch matches := attCount[id]; {
		case matches == 0:
			v.add(path+"/ContentId", "manifest-unmatched", sev, "no attachment has ContentId %q", r.ContentID)
		case matches > 1:
			v.add(path+"/ContentId", "manifest-ambiguous", sev, "%d attachments have ContentId %q", matches, r.ContentID)
		}
	}
	attIDs := make(map[string]int, len(p.Attachments))
	for i, a := range p.Attachments {
		path := fmt.Sprintf("AttachmentEncoded/Attachment[%d]", i+1)
		if v.required(path+"/ContentId", a.ContentID, sev) {
			id := bareContentID(a.ContentID)
			if first, dup := attIDs[id]; dup {
				v.add(path+"/ContentId", "duplicate-content-id", sev, "%q is already Attachment[%d]", a.ContentID, first)
			} else {
				attIDs[id] = i + 1
				if _, ok := refIDs[id]; !ok {
					v.add(path+"/ContentId", "attachment-unreferenced", sev, "no manifest Reference has ContentId %q", a.ContentID)
				}
			}
		}
		v.required(path+"/AttachmentName", a.Name, Warning)
		v.maxLen(path+"/AttachmentName", a.Name, maxAttachmentName, Warning)
		if !a.hasEncoded {
			if a.open == nil {
				v.add(path+"/ContentTransferEncoded", "required", sev, "the attachment has no content")
			}
			continue
		}
		_, size, err := a.Digest()
		switch {
		case err != nil:
			v.add(path+"/ContentTransferEncoded", "base64", sev, "content is not valid base64: %v", err)
		case size == 0:
			v.add(path+"/ContentTransferEncoded", "empty-attachment", Warning, "the attachment is empty")
		}
	}
}

func lastElem(path string) string {
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '/' {
			return path[i+1:]
		}
	}
	return path
}
