package vxp

import (
	"context"
	"errors"
	"slices"
	"time"
)

// Backend is what the handler calls once a request is authenticated and
// decoded: the edge node behind the VXP-compatible API. The handler has
// already checked everything this package can check without the edge's
// state (the signature, the parameters' syntax, that a sent package's from
// is one of the caller's OrganIds, that an agency code is under one of the
// caller's parent codes), so a Backend sees only well-formed requests from
// an authenticated Caller.
//
// Every method may be called concurrently. ctx is the request's context:
// a Backend stops and returns its error when it is cancelled. A method
// that changes state does all of it or nothing of it before returning an
// error.
//
// Errors: return an *Error to tell the client why (its Kind chooses the
// ErrorCode, its Message and Field/Rule become ErrorDesc). Any other error
// is answered as an internal error: logged in full, shown to the client
// only as "internal error".
type Backend interface {
	// SendEdoc accepts a package from the DMS (sendEdoc) and returns the
	// document ID the client keeps (DocId). Package holds the exact bytes
	// the DMS signed its hash-file over: the SDK's trailing "\r\n" has
	// already been removed when the hash-file said so.
	//
	// The Backend parses and validates the package, and refuses with
	// KindInvalidPackage (naming the field and rule) one that does not
	// parse, whose kind is not MessageType (a document for "edoc", a status
	// for "status"), or whose sender OrganId is not req.From. It signs an
	// unsigned package with the agency seal key before sending it, keeping
	// the bytes it signed unchanged from then on.
	//
	// Replay: the SDK's timestamp does not change between calls, so the
	// same request may arrive any number of times (a retry, a replay). The
	// same package bytes from the same caller must yield the same docID and
	// send the letter once (content deduplication), never a second letter.
	// The docID is safe in a file name: letters, digits, '.', '_', '-'
	// and ':' only (see MaxDocIDLength).
	SendEdoc(ctx context.Context, c Caller, req SendRequest) (docID string, err error)

	// ReceivedList lists the packages of type mt addressed to any of the
	// caller's OrganIds that the DMS has not yet finished taking delivery
	// of: every one not yet marked done or fail by UpdateStatus
	// (getReceivedEdocList). Oldest first.
	ReceivedList(ctx context.Context, c Caller, mt MessageType) ([]ReceivedItem, error)

	// GetEdoc returns the exact bytes of the package docID (getEdoc and
	// downloadEdoc): one received by one of the caller's OrganIds, or sent
	// by one. A docID unknown or not the caller's is KindNotFound, so that
	// a system cannot learn which IDs exist elsewhere. Reading does not
	// change the delivery state; UpdateStatus does.
	GetEdoc(ctx context.Context, c Caller, docID string) ([]byte, error)

	// UpdateStatus records how the DMS took delivery of the received
	// package docID (updateStatus): AckDone (stored; the package leaves
	// ReceivedList), AckFail (the DMS could not take it; it leaves
	// ReceivedList and the failure is recorded where it was received: no
	// bus message tells the sender, who sees no status 01 from that
	// recipient; a DMS that refuses a document sends status 02),
	// AckProcessing (still working; it stays listed). This is the transport-level
	// acknowledgement, not a QCVN status: VXP clients send their own status
	// 01 package with SendEdoc, so the edge must not add one on their
	// behalf. Repeating the same status is not an error; changing done to
	// fail or back is KindConflict; an unknown docID is KindNotFound.
	UpdateStatus(ctx context.Context, c Caller, docID string, status AckStatus) error

	// SentList reports the delivery of packages of type mt sent from the
	// caller's OrganIds (getSentEdocList): one item per recipient. docID,
	// when not empty, restricts it to that sent package. Newest first.
	SentList(ctx context.Context, c Caller, mt MessageType, docID string) ([]SentItem, error)

	// CountReceived is len(ReceivedList(ctx, c, mt)) without building the
	// list (countReceiveEdoc, countReceiveStatus).
	CountReceived(ctx context.Context, c Caller, mt MessageType) (int, error)

	// Agencies lists the agencies of the axis directory
	// (getAgenciesList, getAgenciesListQD20).
	Agencies(ctx context.Context, c Caller) ([]Agency, error)

	// SynchronizeUnits lists the directory's units with their version, so
	// that the DMS can update its copy (getSynchronizeUnit). Deleted units
	// stay listed with Deleted set.
	SynchronizeUnits(ctx context.Context, c Caller) ([]Unit, error)

	// RegisterAgency creates or updates an agency in the axis directory
	// (registerAgency). The handler has validated the registration and
	// checked that its Code (and ParentCode, when given) is under one of
	// the caller's ParentCodes.
	RegisterAgency(ctx context.Context, c Caller, reg AgencyRegistration) error

	// DeleteAgency removes the agency code from the axis directory
	// (deleteAgency); the handler has checked that code is under one of
	// the caller's ParentCodes. An unknown code is KindNotFound.
	DeleteAgency(ctx context.Context, c Caller, code string) error
}

// Caller is the authenticated system (a DMS installation) a request comes
// from. The slices are the handler's own copies: a Backend may keep them
// but must not change them.
type Caller struct {
	// SystemID is the systemid the request was signed with.
	SystemID string
	// OrganIDs are the OrganIds this system acts for: it sends as them and
	// receives what is addressed to them.
	OrganIDs []string
	// ParentCodes are the directory codes under which this system may
	// register and delete agencies (see Under).
	ParentCodes []string
}

// ActsFor reports whether organID is one of c.OrganIDs.
func (c Caller) ActsFor(organID string) bool { return slices.Contains(c.OrganIDs, organID) }

// MessageType is the messagetype of the SDK: what a package is. The values
// are wire constants and never change.
type MessageType string

// Message types.
const (
	MessageEdoc   MessageType = "edoc"   // a document package
	MessageStatus MessageType = "status" // a status package (QCVN status codes 01–16)
)

// ServiceType is the only servicetype the SDK sends. Wire constant.
const ServiceType = "eDoc"

// AckStatus is the status of updateStatus: how the DMS took delivery of a
// received package. The values are wire constants and never change.
type AckStatus string

// Delivery acknowledgements.
const (
	AckDone       AckStatus = "done"       // stored by the DMS
	AckFail       AckStatus = "fail"       // the DMS could not take it
	AckProcessing AckStatus = "processing" // the DMS is still working on it
)

// SendRequest is a package a DMS hands to sendEdoc.
type SendRequest struct {
	// From is the signed from header: the sender OrganId, one of the
	// caller's OrganIds.
	From string
	// MessageType says whether Package is a document or a status.
	MessageType MessageType
	// Package is the edXML package, exactly as hashed by the client.
	Package []byte
}

// ReceivedItem is one entry of getReceivedEdocList.
type ReceivedItem struct {
	DocID       string      // docId: the ID to getEdoc and updateStatus
	ServiceType string      // serviceType; "" is written as ServiceType
	MessageType MessageType // messageType
	Created     time.Time   // created_time: when the edge received it
	Updated     time.Time   // updated_time: last change of its delivery state
	From        string      // from: sender OrganId
	To          string      // to: the recipient OrganId it was delivered for
	Status      string      // status: the delivery state, e.g. "pending", "processing"
	StatusDesc  string      // status_desc: the state in words
}

// SentItem is one entry of getSentEdocList: one recipient of one sent
// package.
type SentItem struct {
	ServiceType       string      // serviceType; "" is written as ServiceType
	MessageType       MessageType // messageType
	SenderDocID       string      // senderDocId: the DocId sendEdoc returned
	ReceiverDocID     string      // receiverDocId: the ID at the recipient, when known
	FromCode          string      // fromCode: sender OrganId
	ToCode            string      // toCode: recipient OrganId
	Title             string      // title: the document's subject
	Notation          string      // notation: its number/notation (Code)
	SentTime          time.Time   // sentTime
	ReceivedTime      time.Time   // receivedTime: zero until the recipient took it
	SendStatus        string      // sendStatus
	SendStatusDesc    string      // sendStatusDesc
	ReceiveStatus     string      // receiveStatus
	ReceiveStatusDesc string      // receiveStatusDesc
}

// Agency is one agency of the directory (getAgenciesList: id, pid, code,
// name, mail, oldCode; getAgenciesListQD20: id, code, name, mail, code102).
type Agency struct {
	ID       string
	ParentID string // pid
	Code     string // the current (QĐ 20/2020) code
	Name     string
	Mail     string
	OldCode  string // the QCVN 102:2016 code where it differs: oldCode and code102
}

// Unit is one unit of getSynchronizeUnit.
type Unit struct {
	ID         string
	ParentID   string // pid
	Code       string
	Name       string
	Mail       string
	Version    int       // increases with every change of the unit
	CenterCode string    // the interconnection centre (systemid) serving it
	Deleted    bool      // the unit was removed; kept so that copies learn it
	Modified   time.Time // modifyDate
	IsAgency   bool      // isAgency
}

// AgencyRegistration is the body of registerAgency, validated.
type AgencyRegistration struct {
	ID         string // id: "" to create, the directory ID to update
	ParentCode string // pcode: the parent's code, "" when not given
	Code       string // code: the agency's OrganId
	Name       string
	Mail       string
	Mobile     string
	Fax        string
}

// ErrorKind says why a Backend refused a call; it chooses the ErrorCode
// the client gets (see the package documentation).
type ErrorKind int

// Kinds of Backend errors.
const (
	// KindNotFound: the docID or agency does not exist, or is not the
	// caller's.
	KindNotFound ErrorKind = iota + 1
	// KindForbidden: the caller may not do this.
	KindForbidden
	// KindInvalidPackage: the package breaks a rule; Field and Rule say
	// which.
	KindInvalidPackage
	// KindConflict: the request contradicts the current state, such as an
	// updateStatus from done to fail.
	KindConflict
	// KindUnavailable: the edge cannot serve the call now (shutting down,
	// store unavailable); the client may retry later.
	KindUnavailable
)

func (k ErrorKind) String() string {
	switch k {
	case KindNotFound:
		return "not found"
	case KindForbidden:
		return "forbidden"
	case KindInvalidPackage:
		return "invalid package"
	case KindConflict:
		return "conflict"
	case KindUnavailable:
		return "unavailable"
	}
	return "unknown"
}

// Error is an error a Backend returns to tell the client why a call
// failed. Message, Field and Rule leave the process in ErrorDesc; Err does
// not (it is logged).
type Error struct {
	Kind ErrorKind
	// Field names what is at fault, e.g. "MessageHeader/To[2]/OrganId" or
	// "docId". Optional.
	Field string
	// Rule is a stable machine-readable name of the rule broken, e.g.
	// "organid" or "required". Optional.
	Rule string
	// Message is a short text for people, without secrets or package
	// contents.
	Message string
	// Err is the cause, for the log only.
	Err error
}

func (e *Error) Error() string {
	s := "vxp backend: " + e.Kind.String()
	if e.Field != "" {
		s += ": " + e.Field
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Rule != "" {
		s += " (" + e.Rule + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of the *Error in err's chain, or 0 when there is
// none (an internal error).
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}
