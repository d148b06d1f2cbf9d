package restapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"truc.vn/truc/bus"
	"truc.vn/truc/edoc"
)

// packageTypes are the media types of an edXML package sent as is.
var packageTypes = []string{"application/xml", "application/edxml+xml", "text/xml"}

// Bounds of GET /v1/documents?limit=.
const (
	DefaultDocumentLimit = 100
	MaxDocumentLimit     = 1000
)

// submit queues a package: sent as is, or built from JSON metadata (and
// multipart files).
func (h *Handler) submit(w http.ResponseWriter, r *http.Request, c *caller) *Problem {
	mt, params, p := submissionType(r)
	if p != nil {
		return p
	}
	key, p := idempotencyKey(r)
	if p != nil {
		return p
	}
	var (
		body  []byte
		built bool
	)
	if slices.Contains(packageTypes, mt) {
		if body, p = readBody(w, r, h.maxBody); p != nil {
			return p
		}
		if len(body) == 0 {
			return problem(http.StatusBadRequest, ReasonEmptyBody, "body", "the body must be the edXML package")
		}
	} else {
		md, files, digest, p := readBuildRequest(w, r, mt, params, h.maxBody)
		if p != nil {
			return p
		}
		if from := strings.TrimSpace(md.From); from != "" && edoc.IsOrganID(from) && !c.actsFor(from) {
			return problem(http.StatusUnprocessableEntity, ReasonInvalid, "from", "%s is not one of the OrganIds this token acts for", from)
		}
		if body, p = buildDocument(md, files, digest, h.agencyName); p != nil {
			return p
		}
		built = true
	}
	e, created, err := h.backend.Submit(r.Context(), c.name, c.organs, body, key)
	if err != nil {
		p := h.backendProblem(r, "submit", c, err, "", "the Idempotency-Key was already used with a different package")
		if built && p.Status == http.StatusUnprocessableEntity {
			p.Field = builtField(p.Field)
		}
		return p
	}
	if !isMessageID(e.Message.ID) {
		return h.backendProblem(r, "submit", c, fmt.Errorf("backend returned the unusable message ID %q", clip(e.Message.ID)), "", "")
	}
	h.log.Info("restapi package queued", "client", c.name, "msg_id", e.Message.ID, "sender", e.Message.Sender,
		"bytes", len(body), "built", built, "replayed", !created)
	h.answerSubmitted(w, r, e, created)
	return nil
}

// submissionType checks the Content-Type of POST /v1/documents: a package
// type or application/json (charset=utf-8 allowed), or
// multipart/form-data with its boundary; no Content-Encoding.
func submissionType(r *http.Request) (string, map[string]string, *Problem) {
	if enc := r.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		return "", nil, problem(http.StatusUnsupportedMediaType, ReasonMediaType, "Content-Encoding", "%s is not accepted: send the body as is", quote(enc))
	}
	want := strings.Join(submissionTypes, ", ")
	ct := r.Header.Values("Content-Type")
	if len(ct) != 1 {
		return "", nil, problem(http.StatusUnsupportedMediaType, ReasonMediaType, "Content-Type", "exactly one Content-Type is required: %s", want)
	}
	mt, params, err := mime.ParseMediaType(ct[0])
	if err != nil || !slices.Contains(submissionTypes, mt) {
		return "", nil, problem(http.StatusUnsupportedMediaType, ReasonMediaType, "Content-Type", "%s is not accepted: %s", quote(ct[0]), want)
	}
	for k, v := range params {
		switch {
		case k == "charset" && strings.EqualFold(v, "utf-8"):
		case k == "boundary" && mt == "multipart/form-data":
		default:
			return "", nil, problem(http.StatusUnsupportedMediaType, ReasonMediaType, "Content-Type", "the parameter %s is not accepted", quote(k+"="+v))
		}
	}
	return mt, params, nil
}

// builtField names the JSON member a bus rejection of a built package is
// about ("To[2]/OrganId" is to[2]: the bus counts from 0 as JSON does).
func builtField(field string) string {
	switch {
	case field == "From/OrganId" || strings.HasPrefix(field, "MessageHeader/From"):
		return "from"
	case strings.HasPrefix(field, "To["):
		return "to" + strings.TrimSuffix(strings.TrimPrefix(field, "To"), "/OrganId")
	case field == "DocumentId":
		return "document_id"
	case strings.HasPrefix(field, "MessageHeader/") || strings.HasPrefix(field, "AttachmentEncoded/") || strings.HasPrefix(field, "edXMLManifest/"):
		return jsonFieldOf(field)
	}
	return field
}

// agencyName is an agency's name in the directory, "" when unknown.
func (h *Handler) agencyName(organID string) string {
	if ag, ok := h.backend.Directory().Agency(organID); ok {
		return ag.Name
	}
	return ""
}

// documents lists the messages sent by the caller's agencies, newest
// first.
func (h *Handler) documents(w http.ResponseWriter, r *http.Request, c *caller) *Problem {
	q, p := singleQuery(r, "GET /v1/documents", "before", "limit", "sender", "recipient", "type", "since", "until", "document_id", "document_from")
	if p != nil {
		return p
	}
	oq := bus.OutboxQuery{Senders: c.organs}
	limit := DefaultDocumentLimit
	if v, ok := q["before"]; ok {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return problem(http.StatusBadRequest, ReasonBadParameter, "before", "must be a cursor: a whole number from 0 (the next of a previous page)")
		}
		oq.Before = n
	}
	if v, ok := q["limit"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxDocumentLimit {
			return problem(http.StatusBadRequest, ReasonBadParameter, "limit", "must be a whole number from 1 to %d", MaxDocumentLimit)
		}
		limit = n
	}
	if v, ok := q["sender"]; ok {
		if !edoc.IsOrganID(v) {
			return problem(http.StatusBadRequest, ReasonBadParameter, "sender", "%s is not an OrganId", quote(v))
		}
		if !c.actsFor(v) {
			return problem(http.StatusBadRequest, ReasonBadParameter, "sender", "%s is not one of the OrganIds this token acts for", v)
		}
		oq.Senders = []string{v}
	}
	recipient, filterRecipient := q["recipient"]
	if filterRecipient && !edoc.IsOrganID(recipient) {
		return problem(http.StatusBadRequest, ReasonBadParameter, "recipient", "%s is not an OrganId", quote(recipient))
	}
	switch v, ok := q["type"]; {
	case !ok:
	case v == string(bus.TypeDocument) || v == string(bus.TypeStatus):
		oq.Types = []bus.Type{bus.Type(v)}
	default:
		return problem(http.StatusBadRequest, ReasonBadParameter, "type", "must be document or status")
	}
	for _, k := range []string{"since", "until"} {
		v, ok := q[k]
		if !ok {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return problem(http.StatusBadRequest, ReasonBadParameter, k, "must be an RFC 3339 date-time such as 2026-01-15T00:00:00+07:00")
		}
		if k == "since" {
			oq.Since = t
		} else {
			oq.Until = t
		}
	}
	if docID, ok := q["document_id"]; ok {
		from, ok := q["document_from"]
		switch {
		case ok:
		case len(oq.Senders) == 1:
			from = oq.Senders[0]
		default:
			return problem(http.StatusBadRequest, ReasonBadParameter, "document_from", "document_id needs document_from (the OrganId that issued the document) when the token acts for several agencies and no sender is given")
		}
		key, err := bus.RootKey(from, docID)
		if err != nil {
			return problem(http.StatusBadRequest, ReasonBadParameter, "document_id", "document_from and document_id do not name a document: %s", safeText(err.Error(), 200))
		}
		oq.Key = key
	} else if _, ok := q["document_from"]; ok {
		return problem(http.StatusBadRequest, ReasonBadParameter, "document_from", "document_from goes with document_id")
	}

	entries, next, err := h.outboxPage(r.Context(), c, oq, limit, func(e bus.OutboxEntry) bool {
		return !filterRecipient || slices.Contains(e.Message.Recipients, recipient)
	})
	if err != nil {
		return h.backendProblem(r, "documents", c, err, "", "")
	}
	page := DocumentPage{Documents: make([]DocumentSummary, len(entries)), Next: next}
	for i, e := range entries {
		page.Documents[i] = summaryJSON(e)
	}
	h.writeJSON(w, r, http.StatusOK, page)
	return nil
}

// outboxPage lists up to limit outbox entries matching q and keep, newest
// first, scanning at most scanBatches batches. It returns the cursor of
// the next page: the Seq of the last entry looked at, or 0 when the
// outbox has nothing older.
func (h *Handler) outboxPage(ctx context.Context, c *caller, q bus.OutboxQuery, limit int, keep func(bus.OutboxEntry) bool) ([]bus.OutboxEntry, uint64, error) {
	var out []bus.OutboxEntry
	batch := limit
	if keep != nil {
		batch = max(limit, minScanBatch)
	}
	cursor := q.Before
	for range scanBatches {
		q.Before, q.Limit = cursor, batch
		got, err := h.backend.Outbox(ctx, q)
		if err != nil {
			return nil, 0, err
		}
		for _, e := range got {
			if e.Seq == 0 || (cursor != 0 && e.Seq >= cursor) {
				return nil, 0, fmt.Errorf("backend listed outbox entry %s with seq %d before cursor %d", e.Message.ID, e.Seq, cursor)
			}
			cursor = e.Seq
			if !c.actsFor(e.Message.Sender) || (e.Message.Type != bus.TypeDocument && e.Message.Type != bus.TypeStatus) {
				continue // the backend should not list it; never show it
			}
			if keep != nil && !keep(e) {
				continue
			}
			out = append(out, e)
			if len(out) == limit {
				return out, cursor, nil
			}
		}
		if len(got) < batch || cursor <= 1 {
			return out, 0, nil
		}
	}
	return out, cursor, nil
}

// singleQuery parses the query string of route: only the allowed keys,
// each at most once.
func singleQuery(r *http.Request, route string, allowed ...string) (map[string]string, *Problem) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, problem(http.StatusBadRequest, ReasonBadParameter, "query", "the query string is malformed")
	}
	out := make(map[string]string, len(q))
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if !slices.Contains(allowed, k) {
			return nil, problem(http.StatusBadRequest, ReasonUnknownParameter, clip(k), "%s takes %s only", route, strings.Join(allowed, ", "))
		}
		if v := q[k]; len(v) > 1 {
			return nil, problem(http.StatusBadRequest, ReasonBadParameter, k, "given %d times", len(v))
		}
		out[k] = q[k][0]
	}
	return out, nil
}

func (h *Handler) document(w http.ResponseWriter, r *http.Request, c *caller) *Problem {
	e, p := h.visibleDocument(r, c, "document")
	if p != nil {
		return p
	}
	h.writeJSON(w, r, http.StatusOK, documentJSON(e))
	return nil
}

// visibleDocument returns the sent message of the path's id if one of c's
// agencies sent it, else a 404 that does not tell whether it exists.
func (h *Handler) visibleDocument(r *http.Request, c *caller, op string) (bus.OutboxEntry, *Problem) {
	id := r.PathValue("id")
	if !isMessageID(id) {
		return bus.OutboxEntry{}, badMessageID(id)
	}
	notFound := "no document " + id + " sent by your agencies"
	e, err := h.backend.Document(r.Context(), id)
	if err != nil {
		return bus.OutboxEntry{}, h.backendProblem(r, op, c, err, notFound, "")
	}
	if t := e.Message.Type; (t != bus.TypeDocument && t != bus.TypeStatus) || !c.actsFor(e.Message.Sender) {
		h.log.Info("restapi document not shown", "client", c.name, "msg_id", id, "sender", e.Message.Sender, "type", string(t))
		return bus.OutboxEntry{}, problem(http.StatusNotFound, ReasonNotFound, "id", "%s", notFound)
	}
	return e, nil
}

func (h *Handler) documentPackage(w http.ResponseWriter, r *http.Request, c *caller) *Problem {
	e, p := h.visibleDocument(r, c, "document package")
	if p != nil {
		return p
	}
	return h.servePackage(w, r, c, e.Message.ID, e.Message.SHA256, e.Message.Package)
}

func (h *Handler) documentAttachments(w http.ResponseWriter, r *http.Request, c *caller) *Problem {
	e, p := h.visibleDocument(r, c, "document attachments")
	if p != nil {
		return p
	}
	return h.listAttachments(w, r, c, e.Message.ID, e.Message.Package)
}

func (h *Handler) documentAttachment(w http.ResponseWriter, r *http.Request, c *caller) *Problem {
	n, p := attachmentNumber(r)
	if p != nil {
		return p
	}
	e, p := h.visibleDocument(r, c, "document attachment")
	if p != nil {
		return p
	}
	return h.serveAttachment(w, r, c, e.Message.ID, e.Message.Package, n)
}

func (h *Handler) itemAttachments(w http.ResponseWriter, r *http.Request, c *caller) *Problem {
	it, pkg, p := h.visibleItem(r, c, r.PathValue("id"), "item attachments")
	if p != nil {
		return p
	}
	return h.listAttachments(w, r, c, it.ID, pkg)
}

func (h *Handler) itemAttachment(w http.ResponseWriter, r *http.Request, c *caller) *Problem {
	if !IsInboxID(r.PathValue("id")) {
		return badInboxID(r.PathValue("id"))
	}
	n, p := attachmentNumber(r)
	if p != nil {
		return p
	}
	it, pkg, p := h.visibleItem(r, c, r.PathValue("id"), "item attachment")
	if p != nil {
		return p
	}
	return h.serveAttachment(w, r, c, it.ID, pkg, n)
}

// recall sends status 13 about a document the caller's agency sent: the
// edge builds the status from the stored package, signs it and routes it
// to the document's recipients.
func (h *Handler) recall(w http.ResponseWriter, r *http.Request, c *caller) *Problem {
	if id := r.PathValue("id"); !isMessageID(id) {
		return badMessageID(id)
	}
	key, p := idempotencyKey(r)
	if p != nil {
		return p
	}
	body, p := readBody(w, r, maxSmallBody)
	if p != nil {
		return p
	}
	var req RecallRequest
	if len(bytes.TrimSpace(body)) > 0 {
		if p := checkMediaType(r, "application/json"); p != nil {
			return p
		}
		if p := decodeObject(body, &req); p != nil {
			return p
		}
	}
	desc := strings.TrimSpace(req.Description)
	if p := checkText("description", desc, MaxDescriptionChars, true); p != nil {
		return p
	}
	staff := strings.TrimSpace(req.Staff)
	if p := checkText("staff", staff, MaxStaffChars, false); p != nil {
		return p
	}
	e, p := h.visibleDocument(r, c, "recall")
	if p != nil {
		return p
	}
	if e.Message.Type != bus.TypeDocument {
		return problem(http.StatusUnprocessableEntity, ReasonInvalid, "id", "%s is a status: only a document can be recalled", e.Message.ID)
	}
	if key != "" {
		prev, found, err := h.previousRecall(r.Context(), c, e, key, desc, staff)
		if err != nil {
			return h.backendProblem(r, "recall", c, err, "no document "+e.Message.ID+" sent by your agencies", "the Idempotency-Key was already used for another request")
		}
		if found {
			h.answerSubmitted(w, r, prev, false)
			return nil
		}
	}
	doc, err := edoc.Parse(e.Message.Package, packageLimits(e.Message.Package))
	if err != nil || doc.Kind != edoc.KindDocument {
		return h.backendProblem(r, "recall", c, fmt.Errorf("sent document %s does not parse: %v", e.Message.ID, err), "", "")
	}
	st, err := edoc.NewStatus(doc, doc.Header.From, edoc.StatusRecallRequested, desc, edoc.StaffInfo{Staff: staff}, h.now())
	if err != nil {
		return problem(http.StatusUnprocessableEntity, ReasonInvalid, "id", "%s", safeText(err.Error(), 512))
	}
	var buf bytes.Buffer
	if _, err := st.WriteTo(&buf); err != nil {
		var be *edoc.BuildError
		if errors.As(err, &be) {
			return problem(http.StatusUnprocessableEntity, ReasonInvalid, "description", "%s", safeText(be.Msg, 512))
		}
		return h.backendProblem(r, "recall", c, err, "", "")
	}
	s, created, err := h.backend.Submit(r.Context(), c.name, c.organs, buf.Bytes(), key)
	if err != nil {
		return h.backendProblem(r, "recall", c, err, "", "the Idempotency-Key was already used for another request")
	}
	h.log.Info("restapi recall queued", "client", c.name, "msg_id", s.Message.ID, "document", e.Message.ID, "replayed", !created)
	h.answerSubmitted(w, r, s, created)
	return nil
}

// previousRecall finds the recall c sent about e with Idempotency-Key
// key: found with the same text, bus.ErrConflict when the key was used for
// something else.
func (h *Handler) previousRecall(ctx context.Context, c *caller, e bus.OutboxEntry, key, desc, staff string) (bus.OutboxEntry, bool, error) {
	const maxStatuses = 1000
	sent, err := h.backend.Outbox(ctx, bus.OutboxQuery{
		Limit: maxStatuses, Types: []bus.Type{bus.TypeStatus}, Senders: []string{e.Message.Sender}, Client: c.name, Key: e.Message.Key,
	})
	if err != nil {
		return bus.OutboxEntry{}, false, err
	}
	for _, s := range sent {
		if s.IdempotencyKey != key || s.Client != c.name {
			continue
		}
		if s.Message.Attrs[bus.AttrStatus] != string(edoc.StatusRecallRequested) {
			return bus.OutboxEntry{}, false, fmt.Errorf("idempotency key %q names status %s: %w", key, s.Message.ID, bus.ErrConflict)
		}
		full, err := h.backend.Document(ctx, s.Message.ID)
		if err != nil {
			return bus.OutboxEntry{}, false, err
		}
		st, err := edoc.Parse(full.Message.Package, packageLimits(full.Message.Package))
		if err != nil || st.Kind != edoc.KindStatus {
			return bus.OutboxEntry{}, false, fmt.Errorf("recall %s does not parse: %v", s.Message.ID, err)
		}
		if st.Status.Description != desc || st.Status.Staff.Staff != staff {
			return bus.OutboxEntry{}, false, fmt.Errorf("idempotency key %q was used with another description: %w", key, bus.ErrConflict)
		}
		return full, true, nil
	}
	return bus.OutboxEntry{}, false, nil
}

// answerSubmitted answers 202 with the queued message.
func (h *Handler) answerSubmitted(w http.ResponseWriter, r *http.Request, e bus.OutboxEntry, created bool) {
	s := Submitted{ID: e.Message.ID, SHA256: hexSHA(e.Message.SHA256), StatusURL: statusURL(e.Message.ID), Replayed: !created}
	w.Header().Set("Location", s.StatusURL)
	if !created {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	h.writeJSON(w, r, http.StatusAccepted, s)
}

// packageLimits are the parse limits for a package the edge stored: the
// defaults, with room for the package's own size.
func packageLimits(pkg []byte) edoc.Limits {
	return edoc.Limits{MaxBytes: max(int64(len(pkg)), edoc.DefaultMaxBytes)}
}

// attachmentNumber reads the path's n: 1 to maxAttachmentNumber.
func attachmentNumber(r *http.Request) (int, *Problem) {
	v := r.PathValue("n")
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxAttachmentNumber {
		return 0, problem(http.StatusBadRequest, ReasonBadParameter, "n", "%s is not an attachment number: a whole number from 1", quote(v))
	}
	return n, nil
}

// maxAttachmentNumber bounds {n}: far above what a package holds.
const maxAttachmentNumber = 1_000_000

// parseStored parses a stored package to read its attachments.
func (h *Handler) parseStored(r *http.Request, c *caller, name string, pkg []byte) (*edoc.Package, *Problem) {
	p, err := edoc.Parse(pkg, packageLimits(pkg))
	if err != nil {
		return nil, h.backendProblem(r, "attachments", c, fmt.Errorf("stored package %s does not parse: %w", name, err), "", "")
	}
	return p, nil
}

func (h *Handler) listAttachments(w http.ResponseWriter, r *http.Request, c *caller, name string, pkg []byte) *Problem {
	p, prob := h.parseStored(r, c, name, pkg)
	if prob != nil {
		return prob
	}
	list := AttachmentList{Attachments: make([]AttachmentInfo, 0, len(p.Attachments))}
	for i, a := range p.Attachments {
		sum, size, err := a.Digest()
		if err != nil {
			return h.backendProblem(r, "attachments", c, fmt.Errorf("%s attachment %d does not decode: %w", name, i+1, err), "", "")
		}
		isZIP, _ := a.IsZIP()
		list.Attachments = append(list.Attachments, AttachmentInfo{
			N: i + 1, Name: a.Name, ContentType: a.ContentType, Description: a.Description,
			Size: size, SHA256: hexSHA(sum), ZIP: isZIP,
		})
	}
	h.writeJSON(w, r, http.StatusOK, list)
	return nil
}

// serveAttachment serves the decoded bytes of attachment n of pkg, with
// its declared content type (application/octet-stream when that is not a
// media type), a Content-Disposition that saves it under a safe name, and
// a sandboxing Content-Security-Policy in case a browser opens it.
func (h *Handler) serveAttachment(w http.ResponseWriter, r *http.Request, c *caller, name string, pkg []byte, n int) *Problem {
	p, prob := h.parseStored(r, c, name, pkg)
	if prob != nil {
		return prob
	}
	if n > len(p.Attachments) {
		return problem(http.StatusNotFound, ReasonNotFound, "n", "%s has %d attachments, not %d", name, len(p.Attachments), n)
	}
	a := p.Attachments[n-1]
	// Decoded once, into memory (at most the package's size): the
	// headers need the size and the SHA-256 before the first byte.
	rc, err := a.Open()
	if err != nil {
		return h.backendProblem(r, "attachment", c, fmt.Errorf("%s attachment %d: %w", name, n, err), "", "")
	}
	var data bytes.Buffer
	_, err = data.ReadFrom(rc)
	rc.Close()
	if err != nil {
		return h.backendProblem(r, "attachment", c, fmt.Errorf("%s attachment %d does not decode: %w", name, n, err), "", "")
	}
	hexSum := hexSHA(sha256.Sum256(data.Bytes()))
	etag := `"` + hexSum + `"`
	hd := w.Header()
	hd.Set("ETag", etag)
	hd.Set("X-Truc-Sha256", hexSum)
	hd.Set("Cache-Control", "private, no-cache")
	if etagMatches(r.Header.Values("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	hd.Set("Content-Type", attachmentType(a.ContentType))
	hd.Set("Content-Length", strconv.Itoa(data.Len()))
	hd.Set("Content-Disposition", ContentDisposition(a.Name, fmt.Sprintf("attachment-%d", n)))
	hd.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	if _, err := w.Write(data.Bytes()); err != nil {
		h.log.Debug("restapi answer not written", "route", r.Pattern, "err", err)
	}
	return nil
}

// attachmentType is the Content-Type to serve an attachment with: the
// declared type when it is a valid media type, else
// application/octet-stream.
func attachmentType(declared string) string {
	mt, params, err := mime.ParseMediaType(declared)
	if err != nil || !strings.Contains(mt, "/") {
		return "application/octet-stream"
	}
	if s := mime.FormatMediaType(mt, params); s != "" {
		return s
	}
	return "application/octet-stream"
}
