package vxptest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"truc.vn/truc/adapters/vxp"
	"truc.vn/truc/edoc"
)

// Memory is an in-memory vxp.Backend (see the package documentation). The
// zero value is not usable; call NewMemory. It is safe for concurrent use.
type Memory struct {
	now func() time.Time

	mu       sync.Mutex
	docs     map[string]*record   // docID → record
	byHash   map[string]string    // sender OrganId + SHA-256 → sender docID
	order    int                  // arrival counter, orders lists
	agencies map[string]*vxp.Unit // code → directory entry
	old      map[string]string    // code → QCVN 102 code
	version  int                  // directory version counter
	nextID   int
}

// record is one package as held by Memory: the sender's copy (to == "")
// or one recipient's copy.
type record struct {
	id       string
	seq      int
	mt       vxp.MessageType
	pkg      []byte
	from, to string
	senderID string   // for a recipient copy: the sender's docID
	copies   []string // for the sender's copy: the recipients' docIDs
	docID    string   // the package's DocumentId (documents) or ResponseFor/DocumentId (statuses)
	title    string
	notation string
	created  time.Time
	updated  time.Time
	state    string // "pending" or an AckStatus
}

// NewMemory returns an empty Memory. now stamps what it records; nil means
// time.Now.
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{
		now:      now,
		docs:     make(map[string]*record),
		byHash:   make(map[string]string),
		agencies: make(map[string]*vxp.Unit),
		old:      make(map[string]string),
	}
}

var _ vxp.Backend = (*Memory)(nil)

const statePending = "pending"

var stateDesc = map[string]string{
	statePending:              "Chưa nhận",
	string(vxp.AckProcessing): "Đang xử lý",
	string(vxp.AckDone):       "Đã nhận",
	string(vxp.AckFail):       "Nhận lỗi",
}

// newID returns a fresh ID shaped like the axis's: 24 hex digits.
func newID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func invalid(field, rule, format string, args ...any) error {
	return &vxp.Error{Kind: vxp.KindInvalidPackage, Field: field, Rule: rule, Message: fmt.Sprintf(format, args...)}
}

// SendEdoc parses, validates and routes a package: a document to its To
// OrganIds, a status to ResponseFor/OrganId, a recall request (13) to the
// recipients of the document it names when Memory has seen it.
func (m *Memory) SendEdoc(ctx context.Context, c vxp.Caller, req vxp.SendRequest) (string, error) {
	if !c.ActsFor(req.From) {
		return "", &vxp.Error{Kind: vxp.KindForbidden, Field: "from", Rule: "not-own-organ", Message: "not one of the caller's OrganIds"}
	}
	p, err := edoc.Parse(req.Package, edoc.Limits{})
	if err != nil {
		var pe *edoc.ParseError
		var le *edoc.LimitError
		switch {
		case errors.As(err, &pe):
			return "", invalid(pe.Path, pe.Rule, "%s", pe.Msg)
		case errors.As(err, &le):
			return "", invalid("package", "limit", "%v", err)
		}
		return "", invalid("package", "xml", "%v", err)
	}
	for _, pr := range p.Validate() {
		if pr.Severity == edoc.Error {
			return "", invalid(pr.Path, pr.Rule, "%s", pr.Message)
		}
	}
	wantKind := edoc.KindDocument
	if req.MessageType == vxp.MessageStatus {
		wantKind = edoc.KindStatus
	}
	if p.Kind != wantKind {
		return "", invalid("messagetype", "kind-mismatch", "messagetype %s but the package is a %s", req.MessageType, p.Kind)
	}
	if p.Sender() != req.From {
		return "", invalid("From/OrganId", "sender-mismatch", "the package is from %s, the from header says %s", p.Sender(), req.From)
	}
	sum := sha256.Sum256(req.Package)
	hashKey := req.From + "\x00" + string(sum[:])

	m.mu.Lock()
	defer m.mu.Unlock()
	if id, ok := m.byHash[hashKey]; ok {
		return id, nil // the same letter again: the same DocId, nothing resent
	}
	rec := &record{
		mt: req.MessageType, pkg: slices.Clone(req.Package), from: req.From,
		created: m.now(), state: statePending,
	}
	var to []string
	if p.Kind == edoc.KindDocument {
		to = p.Recipients()
		rec.docID, rec.title, rec.notation = p.Header.DocumentID, p.Header.Subject, p.Header.Code.String()
	} else {
		s := p.Status
		rec.docID, rec.title, rec.notation = s.ResponseFor.DocumentID, s.Description, s.ResponseFor.Code
		to = []string{s.ResponseFor.OrganID}
		if s.Code == edoc.StatusRecallRequested {
			if r := m.recipientsOf(req.From, s.ResponseFor.DocumentID); len(r) > 0 {
				to = r
			}
		}
	}
	if len(to) == 0 {
		return "", invalid("To", "no-recipient", "the package names no recipient")
	}
	rec.updated = rec.created
	m.add(rec)
	for _, org := range to {
		cp := *rec
		cp.to, cp.senderID, cp.copies = org, rec.id, nil
		cp.pkg = rec.pkg // shared, never changed
		m.add(&cp)
		rec.copies = append(rec.copies, cp.id)
	}
	m.byHash[hashKey] = rec.id
	return rec.id, nil
}

func (m *Memory) add(r *record) {
	r.id = newID()
	m.order++
	r.seq = m.order
	m.docs[r.id] = r
}

// recipientsOf returns the recipients of the documents from sent with the
// DocumentId docID.
func (m *Memory) recipientsOf(from, docID string) []string {
	var out []string
	for _, r := range m.docs {
		if r.to == "" && r.from == from && r.mt == vxp.MessageEdoc && r.docID == docID {
			for _, id := range r.copies {
				if org := m.docs[id].to; !slices.Contains(out, org) {
					out = append(out, org)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// pending returns the copies of type mt waiting for c, oldest first.
func (m *Memory) pending(c vxp.Caller, mt vxp.MessageType) []*record {
	var out []*record
	for _, r := range m.docs {
		if r.to != "" && r.mt == mt && c.ActsFor(r.to) && (r.state == statePending || r.state == string(vxp.AckProcessing)) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *record) int { return a.seq - b.seq })
	return out
}

// ReceivedList lists the copies waiting for the caller.
func (m *Memory) ReceivedList(ctx context.Context, c vxp.Caller, mt vxp.MessageType) ([]vxp.ReceivedItem, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	recs := m.pending(c, mt)
	out := make([]vxp.ReceivedItem, len(recs))
	for i, r := range recs {
		out[i] = vxp.ReceivedItem{
			DocID: r.id, ServiceType: vxp.ServiceType, MessageType: r.mt,
			Created: r.created, Updated: r.updated, From: r.from, To: r.to,
			Status: r.state, StatusDesc: stateDesc[r.state],
		}
	}
	return out, nil
}

// CountReceived counts the copies waiting for the caller.
func (m *Memory) CountReceived(ctx context.Context, c vxp.Caller, mt vxp.MessageType) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.pending(c, mt)), nil
}

func notFound(field, id string) error {
	return &vxp.Error{Kind: vxp.KindNotFound, Field: field, Rule: "unknown", Message: "no such document: " + id}
}

// GetEdoc returns a copy the caller received or sent.
func (m *Memory) GetEdoc(ctx context.Context, c vxp.Caller, docID string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.docs[docID]
	if r == nil || !(c.ActsFor(r.to) || (r.to == "" && c.ActsFor(r.from))) {
		return nil, notFound("docId", docID)
	}
	return slices.Clone(r.pkg), nil
}

// UpdateStatus records how the caller took delivery of a copy.
func (m *Memory) UpdateStatus(ctx context.Context, c vxp.Caller, docID string, status vxp.AckStatus) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.docs[docID]
	if r == nil || r.to == "" || !c.ActsFor(r.to) {
		return notFound("docid", docID)
	}
	final := r.state == string(vxp.AckDone) || r.state == string(vxp.AckFail)
	if final && r.state != string(status) {
		return &vxp.Error{Kind: vxp.KindConflict, Field: "status", Rule: "final",
			Message: fmt.Sprintf("already %s, cannot become %s", r.state, status)}
	}
	if r.state != string(status) {
		r.state, r.updated = string(status), m.now()
	}
	return nil
}

// SentList lists, newest first, one item per recipient copy of what the
// caller's OrganIds sent.
func (m *Memory) SentList(ctx context.Context, c vxp.Caller, mt vxp.MessageType, docID string) ([]vxp.SentItem, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var recs []*record
	for _, r := range m.docs {
		if r.to != "" && r.mt == mt && c.ActsFor(r.from) && (docID == "" || r.senderID == docID) {
			recs = append(recs, r)
		}
	}
	slices.SortFunc(recs, func(a, b *record) int { return b.seq - a.seq })
	out := make([]vxp.SentItem, len(recs))
	for i, r := range recs {
		var received time.Time
		if r.state == string(vxp.AckDone) {
			received = r.updated
		}
		out[i] = vxp.SentItem{
			ServiceType: vxp.ServiceType, MessageType: r.mt, SenderDocID: r.senderID, ReceiverDocID: r.id,
			FromCode: r.from, ToCode: r.to, Title: r.title, Notation: r.notation,
			SentTime: r.created, ReceivedTime: received,
			SendStatus: "sent", SendStatusDesc: "Đã gửi",
			ReceiveStatus: r.state, ReceiveStatusDesc: stateDesc[r.state],
		}
	}
	return out, nil
}

// AddAgency puts an agency in the directory, as the axis's own data would
// hold it. It panics on a code that is not an OrganId: it is for test set-up.
func (m *Memory) AddAgency(a vxp.Agency) {
	if !edoc.IsOrganID(a.Code) {
		panic("vxptest: AddAgency with code " + a.Code)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.put(vxp.Unit{ID: a.ID, ParentID: a.ParentID, Code: a.Code, Name: a.Name, Mail: a.Mail, IsAgency: true}, a.OldCode)
}

// put stores u under its code with the next version.
func (m *Memory) put(u vxp.Unit, oldCode string) {
	if u.ID == "" {
		if old := m.agencies[u.Code]; old != nil {
			u.ID = old.ID
		} else {
			m.nextID++
			u.ID = fmt.Sprintf("%d", m.nextID)
		}
	}
	m.version++
	u.Version, u.Modified = m.version, m.now()
	m.agencies[u.Code] = &u
	m.old[u.Code] = oldCode
}

// Agencies lists the agencies not deleted, by code.
func (m *Memory) Agencies(ctx context.Context, c vxp.Caller) ([]vxp.Agency, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []vxp.Agency
	for _, u := range m.sortedUnits() {
		if !u.Deleted {
			out = append(out, vxp.Agency{ID: u.ID, ParentID: u.ParentID, Code: u.Code, Name: u.Name, Mail: u.Mail, OldCode: m.old[u.Code]})
		}
	}
	return out, nil
}

// SynchronizeUnits lists every unit, deleted ones included, by code.
func (m *Memory) SynchronizeUnits(ctx context.Context, c vxp.Caller) ([]vxp.Unit, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	units := m.sortedUnits()
	out := make([]vxp.Unit, len(units))
	for i, u := range units {
		out[i] = *u
		out[i].CenterCode = c.SystemID
	}
	return out, nil
}

func (m *Memory) sortedUnits() []*vxp.Unit {
	out := make([]*vxp.Unit, 0, len(m.agencies))
	for _, u := range m.agencies {
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b *vxp.Unit) int { return strings.Compare(a.Code, b.Code) })
	return out
}

// RegisterAgency creates or updates the agency reg.Code. The parent, when
// given, must be in the directory.
func (m *Memory) RegisterAgency(ctx context.Context, c vxp.Caller, reg vxp.AgencyRegistration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	pid := ""
	if reg.ParentCode != "" {
		p := m.agencies[reg.ParentCode]
		if p == nil || p.Deleted {
			return &vxp.Error{Kind: vxp.KindNotFound, Field: "pcode", Rule: "unknown", Message: "no such parent agency: " + reg.ParentCode}
		}
		pid = p.ID
	}
	if old := m.agencies[reg.Code]; reg.ID != "" && (old == nil || old.ID != reg.ID) {
		return &vxp.Error{Kind: vxp.KindConflict, Field: "id", Rule: "mismatch", Message: "id does not name the agency with this code"}
	}
	m.put(vxp.Unit{ID: reg.ID, ParentID: pid, Code: reg.Code, Name: reg.Name, Mail: reg.Mail, IsAgency: true}, m.old[reg.Code])
	return nil
}

// DeleteAgency marks the agency code deleted.
func (m *Memory) DeleteAgency(ctx context.Context, c vxp.Caller, code string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.agencies[code]
	if u == nil || u.Deleted {
		return &vxp.Error{Kind: vxp.KindNotFound, Field: "AgencyCode", Rule: "unknown", Message: "no such agency: " + code}
	}
	d := *u
	d.Deleted = true
	m.put(d, m.old[code])
	return nil
}
