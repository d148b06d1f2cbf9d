package vxptest

import (
	"context"
	"slices"
	"sync"

	"truc.vn/truc/adapters/vxp"
)

// Call is one Backend call as a Recorder saw it.
type Call struct {
	Method string     // the Backend method, e.g. "SendEdoc"
	Caller vxp.Caller // who made it
	// Args are the arguments after the Caller, as passed: a
	// vxp.SendRequest (with its own copy of the package), a
	// vxp.MessageType, a docID string, a vxp.AckStatus, a
	// vxp.AgencyRegistration or an agency code.
	Args []any
}

// Recorder is a vxp.Backend that records every call and passes it to Next.
// It is safe for concurrent use.
type Recorder struct {
	Next vxp.Backend

	mu    sync.Mutex
	calls []Call
}

var _ vxp.Backend = (*Recorder)(nil)

// Calls returns the calls so far, oldest first.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// Reset forgets the calls so far.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = nil
}

func (r *Recorder) record(method string, c vxp.Caller, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, Call{Method: method, Caller: c, Args: args})
}

func (r *Recorder) SendEdoc(ctx context.Context, c vxp.Caller, req vxp.SendRequest) (string, error) {
	cp := req
	cp.Package = slices.Clone(req.Package)
	r.record("SendEdoc", c, cp)
	return r.Next.SendEdoc(ctx, c, req)
}

func (r *Recorder) ReceivedList(ctx context.Context, c vxp.Caller, mt vxp.MessageType) ([]vxp.ReceivedItem, error) {
	r.record("ReceivedList", c, mt)
	return r.Next.ReceivedList(ctx, c, mt)
}

func (r *Recorder) GetEdoc(ctx context.Context, c vxp.Caller, docID string) ([]byte, error) {
	r.record("GetEdoc", c, docID)
	return r.Next.GetEdoc(ctx, c, docID)
}

func (r *Recorder) UpdateStatus(ctx context.Context, c vxp.Caller, docID string, status vxp.AckStatus) error {
	r.record("UpdateStatus", c, docID, status)
	return r.Next.UpdateStatus(ctx, c, docID, status)
}

func (r *Recorder) SentList(ctx context.Context, c vxp.Caller, mt vxp.MessageType, docID string) ([]vxp.SentItem, error) {
	r.record("SentList", c, mt, docID)
	return r.Next.SentList(ctx, c, mt, docID)
}

func (r *Recorder) CountReceived(ctx context.Context, c vxp.Caller, mt vxp.MessageType) (int, error) {
	r.record("CountReceived", c, mt)
	return r.Next.CountReceived(ctx, c, mt)
}

func (r *Recorder) Agencies(ctx context.Context, c vxp.Caller) ([]vxp.Agency, error) {
	r.record("Agencies", c)
	return r.Next.Agencies(ctx, c)
}

func (r *Recorder) SynchronizeUnits(ctx context.Context, c vxp.Caller) ([]vxp.Unit, error) {
	r.record("SynchronizeUnits", c)
	return r.Next.SynchronizeUnits(ctx, c)
}

func (r *Recorder) RegisterAgency(ctx context.Context, c vxp.Caller, reg vxp.AgencyRegistration) error {
	r.record("RegisterAgency", c, reg)
	return r.Next.RegisterAgency(ctx, c, reg)
}

func (r *Recorder) DeleteAgency(ctx context.Context, c vxp.Caller, code string) error {
	r.record("DeleteAgency", c, code)
	return r.Next.DeleteAgency(ctx, c, code)
}
