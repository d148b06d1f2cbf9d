package vxp

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"truc.vn/truc/edoc"
)

// Handler is the VXP-compatible API: an http.Handler serving the
// operations of the national axis at /<operation>, as SDKVXP 2.0.1 calls
// them. Mount it at the root of the endpoint DMS software is configured
// with (service.endpoint), or under a prefix with http.StripPrefix.
// It is safe for concurrent use.
type Handler struct {
	backend   Backend
	log       *slog.Logger
	systems   map[string]*system
	dummy     []byte // HMAC key for unknown systemids
	maxBody   int64
	maxSmall  int64
	operation map[string]*operation
}

var _ http.Handler = (*Handler)(nil)

// NewHandler checks cfg (applying its defaults) and returns the handler
// serving it with backend. logger may be nil (no logs); the handler logs
// rejections and backend failures with the operation, the systemid and the
// rule broken, never secrets, header values or package contents.
func NewHandler(cfg Config, backend Backend, logger *slog.Logger) (*Handler, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if backend == nil {
		return nil, errors.New("vxp: no backend")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{
		backend:  backend,
		log:      logger,
		systems:  make(map[string]*system, len(cfg.Systems)),
		dummy:    make([]byte, 32),
		maxBody:  cfg.MaxBodyBytes,
		maxSmall: cfg.MaxSmallBodyBytes,
	}
	rand.Read(h.dummy)
	for _, s := range cfg.Systems {
		h.systems[s.ID] = &system{
			secret: []byte(s.Secret),
			caller: Caller{
				SystemID:    s.ID,
				OrganIDs:    slices.Clone(s.OrganIDs),
				ParentCodes: slices.Clone(s.ParentCodes),
			},
		}
	}
	h.operation = make(map[string]*operation, len(operations))
	for i := range operations {
		h.operation[operations[i].name] = &operations[i]
	}
	return h, nil
}

// operation is one VXP operation: its path, the methods it accepts, the
// signed keys it needs (besides systemid and timestamp; "a|b" means either)
// and its body cap.
type operation struct {
	name     string
	methods  []string
	required []string
	large    bool // sendEdoc: MaxBodyBytes; others MaxSmallBodyBytes
	serve    func(h *Handler, w http.ResponseWriter, r *http.Request, sr *signedRequest) *rejection
}

// Operation names, as the paths of the API. Wire constants.
const (
	OpSendEdoc            = "sendEdoc"
	OpGetReceivedEdocList = "getReceivedEdocList"
	OpGetEdoc             = "getEdoc"
	OpDownloadEdoc        = "downloadEdoc"
	OpUpdateStatus        = "updateStatus"
	OpGetSentEdocList     = "getSentEdocList"
	OpCountReceiveEdoc    = "countReceiveEdoc"
	OpCountReceiveStatus  = "countReceiveStatus"
	OpGetAgenciesList     = "getAgenciesList"
	OpGetAgenciesListQD20 = "getAgenciesListQD20"
	OpGetSynchronizeUnit  = "getSynchronizeUnit"
	OpRegisterAgency      = "registerAgency"
	OpDeleteAgency        = "deleteAgency"
)

var (
	post       = []string{http.MethodPost}
	get        = []string{http.MethodGet}
	getAndPost = []string{http.MethodGet, http.MethodPost}
)

// operations is the routing table. Methods: what SDKVXP 2.0.1 sends
// (spec Appendix A) plus what spec §5.2 documents (GET for the counts).
var operations = []operation{
	{name: OpSendEdoc, methods: post, required: []string{KeyServiceType, KeyMessageType, KeyHashFile, KeyFrom}, large: true, serve: (*Handler).sendEdoc},
	{name: OpGetReceivedEdocList, methods: post, required: []string{KeyServiceType, KeyMessageType}, serve: (*Handler).receivedList},
	{name: OpGetEdoc, methods: post, required: []string{KeyDocID + "|" + KeyDocIDLower}, serve: (*Handler).getEdoc},
	{name: OpDownloadEdoc, methods: get, required: []string{KeyDocID + "|" + KeyDocIDLower}, serve: (*Handler).downloadEdoc},
	{name: OpUpdateStatus, methods: post, required: []string{KeyDocIDLower + "|" + KeyDocID, KeyStatus}, serve: (*Handler).updateStatus},
	{name: OpGetSentEdocList, methods: post, required: []string{KeyServiceType, KeyMessageType}, serve: (*Handler).sentList},
	{name: OpCountReceiveEdoc, methods: getAndPost, serve: (*Handler).countEdoc},
	{name: OpCountReceiveStatus, methods: getAndPost, serve: (*Handler).countStatus},
	{name: OpGetAgenciesList, methods: post, serve: (*Handler).agencies},
	{name: OpGetAgenciesListQD20, methods: post, serve: (*Handler).agenciesQD20},
	{name: OpGetSynchronizeUnit, methods: post, serve: (*Handler).synchronizeUnits},
	{name: OpRegisterAgency, methods: post, serve: (*Handler).registerAgency},
	{name: OpDeleteAgency, methods: post, required: []string{KeyAgencyCode}, serve: (*Handler).deleteAgency},
}

// ServeHTTP authenticates and decodes one request, calls the Backend and
// writes the answer. Every refusal is a JSON answer in the SDK's shape
// with status "FAIL" and an ErrorCode (see the package documentation);
// nothing reaches the Backend before the request is authenticated, its
// parameters checked and its body read within its cap.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimLeft(r.URL.Path, "/")
	op := h.operation[name]
	if op == nil {
		h.fail(w, r, name, "", reject(CodeNotFound, "path", "unknown-operation", "no operation %s", quote(name)))
		return
	}
	if !slices.Contains(op.methods, r.Method) {
		w.Header().Set("Allow", strings.Join(op.methods, ", "))
		h.fail(w, r, name, "", reject(CodeMethodNotAllowed, "method", "method", "%s does not accept %s", name, quote(r.Method)))
		return
	}
	sr, rj := authenticate(r.Header, h.systems, h.dummy)
	if rj != nil {
		h.fail(w, r, name, "", rj)
		return
	}
	for _, req := range op.required {
		if _, ok := sr.get(strings.Split(req, "|")...); !ok {
			rj := reject(CodeBadRequest, HeaderSignHeader, "required-key", "%s needs the signed key %s", name, strings.ReplaceAll(req, "|", " or "))
			h.fail(w, r, name, sr.sys.caller.SystemID, rj)
			return
		}
	}
	if rj := op.serve(h, w, r, sr); rj != nil {
		h.fail(w, r, name, sr.sys.caller.SystemID, rj)
		return
	}
	h.log.Debug("vxp request served", "op", name, "system_id", sr.sys.caller.SystemID)
}

// fail writes a refusal and logs it.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, op, systemID string, rj *rejection) {
	level := slog.LevelInfo
	if rj.code == CodeUnauthenticated || rj.code == CodeForbidden {
		level = slog.LevelWarn
	}
	h.log.Log(r.Context(), level, "vxp request refused", "op", op, "system_id", systemID,
		"error_code", rj.code, "field", rj.field, "rule", rj.rule, "remote", r.RemoteAddr)
	env := envelope{Status: StatusFail, ErrorCode: rj.code, ErrorDesc: rj.desc()}
	var v any = env
	if op == OpSendEdoc {
		v = sendResponse{envelope: env}
	}
	if err := writeJSON(w, httpStatus(rj.code), v); err != nil {
		h.log.Debug("vxp answer not written", "op", op, "err", err)
	}
}

// backendFailure turns a Backend error into a refusal: an *Error keeps its
// kind and text, anything else is an internal error whose details are
// logged only.
func (h *Handler) backendFailure(r *http.Request, op string, c Caller, err error) *rejection {
	var be *Error
	if errors.As(err, &be) {
		code := CodeInternal
		switch be.Kind {
		case KindNotFound:
			code = CodeNotFound
		case KindForbidden:
			code = CodeForbidden
		case KindInvalidPackage:
			code = CodeInvalidPackage
		case KindConflict:
			code = CodeConflict
		case KindUnavailable:
			code = CodeUnavailable
		}
		if code != CodeInternal {
			if be.Err != nil {
				h.log.Info("vxp backend refused", "op", op, "system_id", c.SystemID, "kind", be.Kind.String(), "err", be.Err)
			}
			return &rejection{code: code, field: be.Field, rule: be.Rule, msg: messageOr(be.Message, be.Kind.String())}
		}
	}
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		h.log.Info("vxp request abandoned by the client", "op", op, "system_id", c.SystemID)
		return reject(CodeUnavailable, "", "", "request cancelled")
	}
	h.log.Error("vxp backend failed", "op", op, "system_id", c.SystemID, "err", err)
	return reject(CodeInternal, "", "", "internal error")
}

func messageOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// readBody reads the whole body within limit. An over-size body is a
// refusal, and MaxBytesReader makes the server close the connection
// rather than read the rest.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *rejection) {
	if r.ContentLength > limit {
		return nil, reject(CodeTooLarge, "body", "max-bytes", "%d bytes, more than the %d accepted", r.ContentLength, limit)
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, reject(CodeTooLarge, "body", "max-bytes", "more than the %d bytes accepted", limit)
		}
		return nil, reject(CodeBadRequest, "body", "read", "reading the body failed")
	}
	return buf.Bytes(), nil
}

// drainBody reads and drops a body the operation does not use ("{}" or
// nothing from the SDK), within the small cap.
func (h *Handler) drainBody(w http.ResponseWriter, r *http.Request) *rejection {
	_, rj := h.readBody(w, r, h.maxSmall)
	return rj
}

// Parameter checks. Each names the signed key at fault.

func serviceTypeParam(sr *signedRequest) *rejection {
	v, _ := sr.get(KeyServiceType)
	if !strings.EqualFold(v, ServiceType) {
		return reject(CodeBadRequest, HeaderPrefix+KeyServiceType, "value", "must be %s, got %s", ServiceType, quote(v))
	}
	return nil
}

func messageTypeParam(sr *signedRequest) (MessageType, *rejection) {
	v, _ := sr.get(KeyMessageType)
	switch {
	case strings.EqualFold(v, string(MessageEdoc)):
		return MessageEdoc, nil
	case strings.EqualFold(v, string(MessageStatus)):
		return MessageStatus, nil
	}
	return "", reject(CodeBadRequest, HeaderPrefix+KeyMessageType, "value", "must be edoc or status, got %s", quote(v))
}

// docIDParam returns the first of keys that was signed, checked.
func docIDParam(sr *signedRequest, keys ...string) (string, *rejection) {
	for _, k := range keys {
		if v, ok := sr.values[k]; ok {
			if !isDocID(v) {
				return "", reject(CodeBadRequest, HeaderPrefix+k, "docid", "not a document ID: 1–%d letters, digits, '.', '_', '-' or ':'", MaxDocIDLength)
			}
			return v, nil
		}
	}
	return "", reject(CodeBadRequest, HeaderSignHeader, "required-key", "no document ID signed")
}

func isDocID(s string) bool {
	if s == "" || len(s) > MaxDocIDLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isIDByte(s[i]) {
			return false
		}
	}
	return true
}

// The operations.

func (h *Handler) sendEdoc(w http.ResponseWriter, r *http.Request, sr *signedRequest) *rejection {
	c := sr.sys.caller
	if rj := serviceTypeParam(sr); rj != nil {
		return rj
	}
	mt, rj := messageTypeParam(sr)
	if rj != nil {
		return rj
	}
	from, _ := sr.get(KeyFrom)
	if !edoc.IsOrganID(from) {
		return reject(CodeBadRequest, HeaderPrefix+KeyFrom, "organid", "%s is not an OrganId", quote(from))
	}
	if !c.ActsFor(from) {
		return reject(CodeForbidden, HeaderPrefix+KeyFrom, "not-own-organ", "system %s does not act for %s", c.SystemID, from)
	}
	hashFile, _ := sr.get(KeyHashFile)
	if err := checkHashFileSyntax(hashFile); err != nil {
		return reject(CodeBadRequest, HeaderPrefix+KeyHashFile, "malformed", "%v", err)
	}
	body, rj := h.readBody(w, r, h.maxBody)
	if rj != nil {
		return rj
	}
	pkg, ok := matchHashFile(body, hashFile)
	if !ok {
		return reject(CodeUnauthenticated, HeaderPrefix+KeyHashFile, "hash-file-mismatch", "the SHA-256 of the body (with or without a trailing CRLF) is not the signed hash-file")
	}
	docID, err := h.backend.SendEdoc(r.Context(), c, SendRequest{From: from, MessageType: mt, Package: pkg})
	if err != nil {
		return h.backendFailure(r, OpSendEdoc, c, err)
	}
	if !isDocID(docID) {
		return h.backendFailure(r, OpSendEdoc, c, errors.New("backend returned an unusable document ID"))
	}
	h.log.Info("vxp package accepted", "op", OpSendEdoc, "system_id", c.SystemID, "sender", from,
		"message_type", string(mt), "doc_id", docID, "bytes", len(pkg))
	return h.answer(w, OpSendEdoc, sendResponse{envelope: okEnvelope, DocID: docID})
}

func (h *Handler) receivedList(w http.ResponseWriter, r *http.Request, sr *signedRequest) *rejection {
	if rj := serviceTypeParam(sr); rj != nil {
		return rj
	}
	mt, rj := messageTypeParam(sr)
	if rj != nil {
		return rj
	}
	if rj := h.drainBody(w, r); rj != nil {
		return rj
	}
	items, err := h.backend.ReceivedList(r.Context(), sr.sys.caller, mt)
	if err != nil {
		return h.backendFailure(r, OpGetReceivedEdocList, sr.sys.caller, err)
	}
	return h.answer(w, OpGetReceivedEdocList, dataResponse[[]receivedJSON]{envelope: okEnvelope, Data: receivedItems(items)})
}

func (h *Handler) getEdoc(w http.ResponseWriter, r *http.Request, sr *signedRequest) *rejection {
	pkg, rj := h.fetch(w, r, sr, OpGetEdoc)
	if rj != nil {
		return rj
	}
	if err := writeEdocData(w, pkg); err != nil {
		h.log.Debug("vxp answer not written", "op", OpGetEdoc, "err", err)
	}
	return nil
}

func (h *Handler) downloadEdoc(w http.ResponseWriter, r *http.Request, sr *signedRequest) *rejection {
	pkg, rj := h.fetch(w, r, sr, OpDownloadEdoc)
	if rj != nil {
		return rj
	}
	if err := writePackage(w, pkg); err != nil {
		h.log.Debug("vxp answer not written", "op", OpDownloadEdoc, "err", err)
	}
	return nil
}

// fetch is getEdoc and downloadEdoc up to the answer. The SDK signs
// docId; docid is accepted too.
func (h *Handler) fetch(w http.ResponseWriter, r *http.Request, sr *signedRequest, op string) ([]byte, *rejection) {
	docID, rj := docIDParam(sr, KeyDocID, KeyDocIDLower)
	if rj != nil {
		return nil, rj
	}
	if rj := h.drainBody(w, r); rj != nil {
		return nil, rj
	}
	pkg, err := h.backend.GetEdoc(r.Context(), sr.sys.caller, docID)
	if err != nil {
		return nil, h.backendFailure(r, op, sr.sys.caller, err)
	}
	return pkg, nil
}

func (h *Handler) updateStatus(w http.ResponseWriter, r *http.Request, sr *signedRequest) *rejection {
	// The SDK's updateStatus signs docid; its sample also uses docId.
	docID, rj := docIDParam(sr, KeyDocIDLower, KeyDocID)
	if rj != nil {
		return rj
	}
	v, _ := sr.get(KeyStatus)
	var st AckStatus
	for _, s := range []AckStatus{AckDone, AckFail, AckProcessing} {
		if strings.EqualFold(v, string(s)) {
			st = s
		}
	}
	if st == "" {
		return reject(CodeBadRequest, HeaderPrefix+KeyStatus, "value", "must be done, fail or processing, got %s", quote(v))
	}
	if rj := h.drainBody(w, r); rj != nil {
		return rj
	}
	if err := h.backend.UpdateStatus(r.Context(), sr.sys.caller, docID, st); err != nil {
		return h.backendFailure(r, OpUpdateStatus, sr.sys.caller, err)
	}
	return h.answer(w, OpUpdateStatus, okEnvelope)
}

func (h *Handler) sentList(w http.ResponseWriter, r *http.Request, sr *signedRequest) *rejection {
	if rj := serviceTypeParam(sr); rj != nil {
		return rj
	}
	mt, rj := messageTypeParam(sr)
	if rj != nil {
		return rj
	}
	var docID string
	if _, ok := sr.values[KeyDocID]; ok {
		if docID, rj = docIDParam(sr, KeyDocID); rj != nil {
			return rj
		}
	}
	if rj := h.drainBody(w, r); rj != nil {
		return rj
	}
	items, err := h.backend.SentList(r.Context(), sr.sys.caller, mt, docID)
	if err != nil {
		return h.backendFailure(r, OpGetSentEdocList, sr.sys.caller, err)
	}
	return h.answer(w, OpGetSentEdocList, dataResponse[[]sentJSON]{envelope: okEnvelope, Data: sentItems(items)})
}

func (h *Handler) countEdoc(w http.ResponseWriter, r *http.Request, sr *signedRequest) *rejection {
	return h.count(w, r, sr, OpCountReceiveEdoc, MessageEdoc)
}

func (h *Handler) countStatus(w http.ResponseWriter, r *http.Request, sr *signedRequest) *rejection {
	return h.count(w, r, sr, OpCountReceiveStatus, MessageStatus)
}

// count answers the two count operations. The path says what is counted;
// a signed messagetype is not used, because a leaky SDK client may carry
// one left over from an earlier call.
func (h *Handler) count(w http.ResponseWriter, r *http.Request, sr *signedRequest, op string, mt MessageType) *rejection {
	if rj := h.drainBody(w, r); rj != nil {
		return rj
	}
	n, err := h.backend.CountReceived(r.Context(), sr.sys.caller, mt)
	if err != nil {
		return h.backendFailure(r, op, sr.sys.caller, err)
	}
	return h.answer(w, op, countResponse{envelope: okEnvelope, Count: n})
}

func (h *Handler) agencies(w http.ResponseWriter, r *http.Request, sr *signedRequest) *rejection {
	list, rj := h.agencyList(w, r, sr, OpGetAgenciesList)
	if rj != nil {
		return rj
	}
	return h.answer(w, OpGetAgenciesList, dataResponse[[]agencyJSON]{envelope: okEnvelope, Data: agencyItems(list)})
}

func (h *Handler) agenciesQD20(w http.ResponseWriter, r *http.Request, sr *signedRequest) *rejection {
	list, rj := h.agencyList(w, r, sr, OpGetAgenciesListQD20)
	if rj != nil {
		return rj
	}
	return h.answer(w, OpGetAgenciesListQD20, dataResponse[[]agencyQD20JSON]{envelope: okEnvelope, Data: agencyQD20Items(list)})
}

func (h *Handler) agencyList(w http.ResponseWriter, r *http.Request, sr *signedRequest, op string) ([]Agency, *rejection) {
	if rj := h.drainBody(w, r); rj != nil {
		return nil, rj
	}
	list, err := h.backend.Agencies(r.Context(), sr.sys.caller)
	if err != nil {
		return nil, h.backendFailure(r, op, sr.sys.caller, err)
	}
	return list, nil
}

func (h *Handler) synchronizeUnits(w http.ResponseWriter, r *http.Request, sr *signedRequest) *rejection {
	if rj := h.drainBody(w, r); rj != nil {
		return rj
	}
	units, err := h.backend.SynchronizeUnits(r.Context(), sr.sys.caller)
	if err != nil {
		return h.backendFailure(r, OpGetSynchronizeUnit, sr.sys.caller, err)
	}
	return h.answer(w, OpGetSynchronizeUnit, dataResponse[[]unitJSON]{envelope: okEnvelope, Data: unitItems(units)})
}

func (h *Handler) registerAgency(w http.ResponseWriter, r *http.Request, sr *signedRequest) *rejection {
	c := sr.sys.caller
	body, rj := h.readBody(w, r, h.maxSmall)
	if rj != nil {
		return rj
	}
	reg, rj := parseRegistration(body)
	if rj != nil {
		return rj
	}
	if !underAny(reg.Code, c.ParentCodes) {
		return reject(CodeForbidden, "code", "not-under-parent", "%s is not under a parent code of system %s", reg.Code, c.SystemID)
	}
	if reg.ParentCode != "" && !slices.Contains(c.ParentCodes, reg.ParentCode) && !underAny(reg.ParentCode, c.ParentCodes) {
		return reject(CodeForbidden, "pcode", "not-under-parent", "%s is neither a parent code of system %s nor under one", reg.ParentCode, c.SystemID)
	}
	if err := h.backend.RegisterAgency(r.Context(), c, reg); err != nil {
		return h.backendFailure(r, OpRegisterAgency, c, err)
	}
	h.log.Info("vxp agency registered", "system_id", c.SystemID, "agency", reg.Code)
	return h.answer(w, OpRegisterAgency, okEnvelope)
}

func (h *Handler) deleteAgency(w http.ResponseWriter, r *http.Request, sr *signedRequest) *rejection {
	c := sr.sys.caller
	code, _ := sr.get(KeyAgencyCode)
	if !edoc.IsOrganID(code) {
		return reject(CodeBadRequest, HeaderPrefix+KeyAgencyCode, "organid", "%s is not an OrganId", quote(code))
	}
	if !underAny(code, c.ParentCodes) {
		return reject(CodeForbidden, HeaderPrefix+KeyAgencyCode, "not-under-parent", "%s is not under a parent code of system %s", code, c.SystemID)
	}
	if rj := h.drainBody(w, r); rj != nil {
		return rj
	}
	if err := h.backend.DeleteAgency(r.Context(), c, code); err != nil {
		return h.backendFailure(r, OpDeleteAgency, c, err)
	}
	h.log.Info("vxp agency deleted", "system_id", c.SystemID, "agency", code)
	return h.answer(w, OpDeleteAgency, okEnvelope)
}

// answer writes a successful JSON answer. A write error means the client
// went away after the work was done; it is logged, not answered.
func (h *Handler) answer(w http.ResponseWriter, op string, v any) *rejection {
	if err := writeJSON(w, http.StatusOK, v); err != nil {
		h.log.Debug("vxp answer not written", "op", op, "err", err)
	}
	return nil
}
