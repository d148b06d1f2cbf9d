package edoc

import (
	"errors"
	"fmt"
	"time"
)

// NewStatus returns the status package that from sends about the document
// doc: ResponseFor names doc's sender (From/OrganId), its Code as
// Number/Notation, its PromulgationDate and its DocumentId; the Timestamp
// is at in Vietnam time.
//
// code is normalised (14 becomes 15) and must be known. A recall request
// (StatusRecallRequested) is sent by the document's own sender; every other
// status by one of its recipients. NewStatus checks both, and that from
// has a valid OrganId, and returns an error naming the field otherwise. It
// does not validate doc itself.
func NewStatus(doc *Package, from Organization, code StatusCode, description string, staff StaffInfo, at time.Time) (*Package, error) {
	if doc == nil || doc.Kind != KindDocument {
		return nil, errors.New("edoc: a status answers a document package")
	}
	code = ParseStatusCode(string(code))
	if !code.Known() {
		return nil, fmt.Errorf("edoc: status code %q is not one of 01-06, 13, 15, 16", code)
	}
	if !IsOrganID(from.OrganID) {
		return nil, fmt.Errorf("edoc: From/OrganId %q is not an OrganId", from.OrganID)
	}
	if at.IsZero() {
		return nil, errors.New("edoc: the status has no time")
	}
	h := &doc.Header
	if code == StatusRecallRequested {
		if from.OrganID != h.From.OrganID {
			return nil, fmt.Errorf("edoc: a recall request comes from the document's sender %q, not %q", h.From.OrganID, from.OrganID)
		}
	} else if !isRecipient(h, from.OrganID) {
		return nil, fmt.Errorf("edoc: %q is not a recipient of document %q and cannot report its status", from.OrganID, h.DocumentID)
	}
	return &Package{
		Kind: KindStatus,
		Status: &StatusHeader{
			From: from,
			ResponseFor: ResponseFor{
				OrganID:          h.From.OrganID,
				Code:             h.Code.String(),
				PromulgationDate: h.Promulgation.Date,
				DocumentID:       h.DocumentID,
			},
			Staff:       staff,
			Code:        code,
			CodeRaw:     string(code),
			Description: trimSpace(description),
			Timestamp:   TimestampOf(at),
		},
	}, nil
}

func isRecipient(h *MessageHeader, organID string) bool {
	for _, to := range h.To {
		if to.OrganID == organID {
			return true
		}
	}
	return false
}
