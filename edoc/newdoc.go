package edoc

import (
	"errors"
	"fmt"
	"time"
)

// DocumentSpec is what NewDocument needs to build a document package: the
// register data a DMS holds for an outgoing letter.
type DocumentSpec struct {
	From Organization
	To   []Organization
	// DocumentID defaults to "From,yyyy/MM/dd,Number/Notation", the form
	// the official SDK writes.
	DocumentID   string
	Code         Code
	Place        string
	Date         time.Time // promulgation date; default now
	TypeName     string    // e.g. "Công văn"
	Subject      string
	Content      string
	Signer       SignerInfo
	ToPlaces     []string
	Business     *Business // nil for a new document
	Attachments  []*Attachment
	Priority     Priority
	TraceOrganID string // the OrganId of the hop; default From
}

// NewDocument builds a document package from spec, with a TraceHeader for
// the sender at the promulgation time. It checks the result with Validate
// and returns the first error found.
func NewDocument(spec DocumentSpec) (*Package, error) {
	if spec.Date.IsZero() {
		spec.Date = time.Now()
	}
	if spec.DocumentID == "" {
		spec.DocumentID = fmt.Sprintf("%s,%s,%s", spec.From.OrganID, spec.Date.In(ICT).Format(DateLayout), spec.Code)
	}
	if spec.TraceOrganID == "" {
		spec.TraceOrganID = spec.From.OrganID
	}
	p := &Package{
		Kind: KindDocument,
		Header: MessageHeader{
			From:         spec.From,
			To:           spec.To,
			DocumentID:   spec.DocumentID,
			Code:         spec.Code,
			Promulgation: PromulgationInfo{Place: spec.Place, Date: DateOf(spec.Date)},
			DocumentType: DocumentType{Type: "1", TypeDetail: "0", TypeName: spec.TypeName},
			Subject:      spec.Subject,
			Content:      spec.Content,
			Signer:       spec.Signer,
			OtherInfo:    OtherInfo{Priority: spec.Priority, PromulgationAmount: "1", PageAmount: "1"},
			ToPlaces:     spec.ToPlaces,
		},
		Trace: &TraceHeaderList{
			Headers:  []TraceHeader{{OrganID: spec.TraceOrganID, Timestamp: TimestampOf(spec.Date)}},
			Business: spec.Business,
		},
	}
	for _, a := range spec.Attachments {
		p.AddAttachment(a)
	}
	for _, pr := range p.Validate() {
		if pr.Severity == Error {
			return nil, errors.New("edoc: new document: " + pr.Path + ": " + pr.Rule + ": " + pr.Message)
		}
	}
	return p, nil
}
