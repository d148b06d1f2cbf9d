package restapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"time"

	"truc.vn/truc/edoc"
)

// DocumentMetadata is the register data of a letter the edge builds into
// an edXML package: the body of POST /v1/documents as application/json,
// or its "metadata" part as multipart/form-data (whose "file" parts are
// the attachments). Member names are wire constants.
//
// Text is trimmed of surrounding white space; it must be valid UTF-8
// without control characters (content may hold line breaks and tabs).
// Limits are those of QCVN 102:2016 where it sets one.
type DocumentMetadata struct {
	// From is the sending agency: one of the OrganIds the token acts for.
	From string `json:"from"`
	// To are the recipient agencies: 1 to MaxBuildRecipients distinct
	// OrganIds.
	To []string `json:"to"`
	// DocumentID is the agency's identifier of the letter, at most 200
	// characters; default "From,yyyy/MM/dd,Number/Notation" (the official
	// SDK's form).
	DocumentID string       `json:"document_id,omitempty"`
	Code       DocumentCode `json:"code"`
	// Subject is the trích yếu, 1–500 characters.
	Subject string `json:"subject"`
	// Content is the letter's text or summary, at most 500 characters.
	Content string `json:"content,omitempty"`
	// TypeName names the kind of document ("Công văn"), at most 100
	// characters.
	TypeName     string       `json:"type_name,omitempty"`
	Promulgation Promulgation `json:"promulgation"`
	Signer       Signer       `json:"signer,omitzero"`
	// DueDate is the answer deadline, YYYY-MM-DD.
	DueDate string `json:"due_date,omitempty"`
	// Priority is the urgency code: 0 normal, 1 urgent, 2 very urgent,
	// 3 flash, 4 flash scheduled. Default 0.
	Priority string `json:"priority,omitempty"`
	// SteeringType is 0, 1 or 2 (meaning unconfirmed by any source:
	// probably none, steering, report on steering).
	SteeringType string `json:"steering_type,omitempty"`
	// ToPlaces are the recipients in words (nơi nhận), each at most 150
	// characters.
	ToPlaces []string `json:"to_places,omitempty"`
}

// DocumentCode is the number and notation of a letter (7816 and
// VPCP-TTĐT in 7816/VPCP-TTĐT).
type DocumentCode struct {
	Number   string `json:"number"`   // 1–11 characters
	Notation string `json:"notation"` // 1–30 characters
}

// Promulgation is where and when the letter was issued.
type Promulgation struct {
	Place string `json:"place,omitempty"` // at most 50 characters
	// Date is the promulgation date, YYYY-MM-DD. Required: it is part of
	// the letter, and with it the same request always builds the same
	// bytes (see POST /v1/documents).
	Date string `json:"date"`
}

// Signer is who signed the letter on paper, each at most
// MaxSignerChars characters.
type Signer struct {
	Competence string `json:"competence,omitempty"` // e.g. TL. BỘ TRƯỞNG
	Position   string `json:"position,omitempty"`
	FullName   string `json:"full_name,omitempty"`
}

// Bounds of a built document. Choices of this API where QCVN 102:2016
// sets none.
const (
	MaxBuildRecipients = 1000
	MaxAttachments     = 100
	MaxSignerChars     = 200
	MaxToPlaces        = 100
	// MaxFileNameChars bounds an attachment's file name (the standard's
	// AttachmentName limit).
	MaxFileNameChars = 500
)

// Limits of QCVN 102:2016 (edoc checks them too; they are repeated here
// so that a refusal names the JSON member).
const (
	maxDocumentIDChars = 200
	maxCodeNumber      = 11
	maxCodeNotation    = 30
	maxPlace           = 50
	maxTypeName        = 100
	maxSubject         = 500
	maxContent         = 500
	maxToPlace         = 150
)

// submissionTypes are the media types of POST /v1/documents: a package,
// or metadata to build one from.
var submissionTypes = append(slices.Clone(packageTypes), "application/json", "multipart/form-data")

// filePart is one uploaded attachment.
type filePart struct {
	name, contentType string
	data              []byte
}

// readBuildRequest reads a document to build: JSON metadata alone, or a
// multipart form with one "metadata" part and "file" parts. It returns the
// metadata, the files and the SHA-256 of the request's content (metadata
// bytes and every file's name, type and bytes), from which the build
// derives what would otherwise be random.
func readBuildRequest(w http.ResponseWriter, r *http.Request, mediaType string, params map[string]string, limit int64) (DocumentMetadata, []filePart, [32]byte, *Problem) {
	var (
		md     DocumentMetadata
		files  []filePart
		digest = sha256.New()
		meta   []byte
	)
	if mediaType == "application/json" {
		body, p := readBody(w, r, limit)
		if p != nil {
			return md, nil, [32]byte{}, p
		}
		meta = body
	} else {
		boundary := params["boundary"]
		if boundary == "" {
			return md, nil, [32]byte{}, problem(http.StatusUnsupportedMediaType, ReasonMediaType, "Content-Type", "multipart/form-data needs a boundary parameter")
		}
		if r.ContentLength > limit {
			return md, nil, [32]byte{}, problem(http.StatusRequestEntityTooLarge, ReasonTooLarge, "body", "%d bytes, more than the %d accepted", r.ContentLength, limit)
		}
		mr := multipart.NewReader(http.MaxBytesReader(w, r.Body, limit), boundary)
		seenMeta := false
		for {
			part, err := mr.NextPart()
			if err == io.EOF { // the closing delimiter; a truncated body is a wrapped EOF
				break
			}
			if err != nil {
				return md, nil, [32]byte{}, multipartProblem(err, limit)
			}
			name := part.FormName()
			switch name {
			case "metadata":
				if seenMeta {
					return md, nil, [32]byte{}, problem(http.StatusBadRequest, ReasonDuplicateField, "metadata", "the metadata part is given twice")
				}
				seenMeta = true
				if ct := part.Header.Get("Content-Type"); ct != "" {
					if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
						return md, nil, [32]byte{}, problem(http.StatusUnsupportedMediaType, ReasonMediaType, "metadata", "the metadata part must be application/json, not %s", quote(ct))
					}
				}
				if meta, err = io.ReadAll(part); err != nil {
					return md, nil, [32]byte{}, multipartProblem(err, limit)
				}
			case "file":
				field := fmt.Sprintf("file[%d]", len(files))
				if len(files) == MaxAttachments {
					return md, nil, [32]byte{}, problem(http.StatusUnprocessableEntity, ReasonInvalid, field, "at most %d attachments", MaxAttachments)
				}
				f, p := readFilePart(part, field)
				if p != nil {
					return md, nil, [32]byte{}, p
				}
				if f.data, err = io.ReadAll(part); err != nil {
					return md, nil, [32]byte{}, multipartProblem(err, limit)
				}
				if len(f.data) == 0 {
					return md, nil, [32]byte{}, problem(http.StatusUnprocessableEntity, ReasonInvalid, field, "the file %s is empty", quote(f.name))
				}
				files = append(files, f)
			default:
				return md, nil, [32]byte{}, problem(http.StatusBadRequest, ReasonUnknownField, clip(name), "not a part of this request (parts: metadata, file)")
			}
		}
		if !seenMeta {
			return md, nil, [32]byte{}, problem(http.StatusUnprocessableEntity, ReasonRequired, "metadata", "the metadata part (application/json) is required")
		}
	}
	if p := decodeObject(meta, &md); p != nil {
		if p.Field == "body" && mediaType != "application/json" {
			p.Field = "metadata"
		}
		return md, nil, [32]byte{}, p
	}
	writeField(digest, meta)
	for _, f := range files {
		writeField(digest, []byte(f.name))
		writeField(digest, []byte(f.contentType))
		writeField(digest, f.data)
	}
	var sum [32]byte
	digest.Sum(sum[:0])
	return md, files, sum, nil
}

// writeField writes b with its length, so that field boundaries count.
func writeField(w io.Writer, b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	w.Write(n[:])
	w.Write(b)
}

// readFilePart checks the headers of a "file" part: a file name and a
// content type (default application/octet-stream).
func readFilePart(part *multipart.Part, field string) (filePart, *Problem) {
	name := strings.TrimSpace(part.FileName())
	if name == "" || name == "." || name == "/" {
		return filePart{}, problem(http.StatusUnprocessableEntity, ReasonRequired, field, "a file part needs a file name (Content-Disposition: form-data; name=\"file\"; filename=\"...\")")
	}
	if p := checkText(field, name, MaxFileNameChars, false); p != nil {
		return filePart{}, p
	}
	ct := "application/octet-stream"
	if v := part.Header.Get("Content-Type"); v != "" {
		mt, params, err := mime.ParseMediaType(v)
		if err != nil || len(mt) > 127 || !strings.Contains(mt, "/") {
			return filePart{}, problem(http.StatusUnprocessableEntity, ReasonInvalid, field, "Content-Type %s is not a media type", quote(v))
		}
		ct = mime.FormatMediaType(mt, params)
		if ct == "" {
			ct = mt
		}
	}
	return filePart{name: name, contentType: ct}, nil
}

func multipartProblem(err error, limit int64) *Problem {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return problem(http.StatusRequestEntityTooLarge, ReasonTooLarge, "body", "more than the %d bytes accepted", limit)
	}
	return problem(http.StatusBadRequest, ReasonBadParameter, "body", "the multipart body is malformed")
}

// buildDocument checks md (every refusal names its JSON member) and
// builds the package with edoc.NewDocument. names gives agencies' names
// from the directory ("" when unknown). The same md, files and digest
// give the same bytes: attachment ContentIds derive from digest, and the
// trace timestamp is the promulgation date at midnight, Vietnam time.
func buildDocument(md DocumentMetadata, files []filePart, digest [32]byte, names func(string) string) ([]byte, *Problem) {
	spec, p := documentSpec(&md, names)
	if p != nil {
		return nil, p
	}
	for i, f := range files {
		data := f.data
		a := edoc.NewAttachment(f.name, f.contentType, func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(data)), nil
		})
		a.ContentID = "cid:" + derivedUUID(digest, i)
		spec.Attachments = append(spec.Attachments, a)
	}
	pkg, err := edoc.NewDocument(spec)
	if err != nil {
		return nil, edocProblem(err)
	}
	pkg.Header.DueDate = dateField(md.DueDate)
	pkg.Header.SteeringType = md.SteeringType
	pkg.Header.OtherInfo.Priority = edoc.Priority(md.Priority)
	if md.Priority == "" {
		pkg.Header.OtherInfo.Priority = edoc.PriorityNormal
	}
	for _, pr := range pkg.Validate() {
		if pr.Severity == edoc.Error {
			return nil, problem(http.StatusUnprocessableEntity, ReasonInvalid, jsonFieldOf(pr.Path), "%s: %s", pr.Rule, pr.Message)
		}
	}
	var buf bytes.Buffer
	if _, err := pkg.WriteTo(&buf); err != nil {
		return nil, edocProblem(err)
	}
	return buf.Bytes(), nil
}

// documentSpec checks and trims md and returns the spec to build.
func documentSpec(md *DocumentMetadata, names func(string) string) (edoc.DocumentSpec, *Problem) {
	var spec edoc.DocumentSpec
	trim := func(s *string) { *s = strings.TrimSpace(*s) }
	for _, s := range []*string{&md.From, &md.DocumentID, &md.Code.Number, &md.Code.Notation, &md.Subject, &md.Content,
		&md.TypeName, &md.Promulgation.Place, &md.Promulgation.Date, &md.Signer.Competence, &md.Signer.Position,
		&md.Signer.FullName, &md.DueDate, &md.Priority, &md.SteeringType} {
		trim(s)
	}
	if md.From == "" {
		return spec, problem(http.StatusUnprocessableEntity, ReasonRequired, "from", "the sending agency's OrganId is required")
	}
	if !edoc.IsOrganID(md.From) {
		return spec, problem(http.StatusUnprocessableEntity, ReasonInvalid, "from", "%s is not an OrganId", quote(md.From))
	}
	switch n := len(md.To); {
	case n == 0:
		return spec, problem(http.StatusUnprocessableEntity, ReasonRequired, "to", "at least one recipient OrganId is required")
	case n > MaxBuildRecipients:
		return spec, problem(http.StatusUnprocessableEntity, ReasonInvalid, "to", "%d recipients, at most %d", n, MaxBuildRecipients)
	}
	seen := make(map[string]int, len(md.To))
	for i, id := range md.To {
		field := fmt.Sprintf("to[%d]", i)
		id = strings.TrimSpace(id)
		if !edoc.IsOrganID(id) {
			return spec, problem(http.StatusUnprocessableEntity, ReasonInvalid, field, "%s is not an OrganId", quote(id))
		}
		if j, dup := seen[id]; dup {
			return spec, problem(http.StatusUnprocessableEntity, ReasonInvalid, field, "%s is also to[%d]", id, j)
		}
		seen[id] = i
		spec.To = append(spec.To, edoc.Organization{OrganID: id, OrganName: names(id)})
	}
	texts := []struct {
		field, value string
		max          int
		required     bool
		lines        bool
	}{
		{"document_id", md.DocumentID, maxDocumentIDChars, false, false},
		{"code.number", md.Code.Number, maxCodeNumber, true, false},
		{"code.notation", md.Code.Notation, maxCodeNotation, true, false},
		{"subject", md.Subject, maxSubject, true, true},
		{"content", md.Content, maxContent, false, true},
		{"type_name", md.TypeName, maxTypeName, false, false},
		{"promulgation.place", md.Promulgation.Place, maxPlace, false, false},
		{"signer.competence", md.Signer.Competence, MaxSignerChars, false, false},
		{"signer.position", md.Signer.Position, MaxSignerChars, false, false},
		{"signer.full_name", md.Signer.FullName, MaxSignerChars, false, false},
	}
	for _, t := range texts {
		if t.required && t.value == "" {
			return spec, problem(http.StatusUnprocessableEntity, ReasonRequired, t.field, "required")
		}
		if p := checkText(t.field, t.value, t.max, t.lines); p != nil {
			return spec, p
		}
	}
	if md.Promulgation.Date == "" {
		return spec, problem(http.StatusUnprocessableEntity, ReasonRequired, "promulgation.date", "the promulgation date (YYYY-MM-DD) is required")
	}
	date, err := time.ParseInLocation(time.DateOnly, md.Promulgation.Date, edoc.ICT)
	if err != nil {
		return spec, problem(http.StatusUnprocessableEntity, ReasonInvalid, "promulgation.date", "%s is not a date YYYY-MM-DD", quote(md.Promulgation.Date))
	}
	if md.DueDate != "" {
		if _, err := time.Parse(time.DateOnly, md.DueDate); err != nil {
			return spec, problem(http.StatusUnprocessableEntity, ReasonInvalid, "due_date", "%s is not a date YYYY-MM-DD", quote(md.DueDate))
		}
	}
	if md.Priority != "" && !edoc.Priority(md.Priority).Known() {
		return spec, problem(http.StatusUnprocessableEntity, ReasonInvalid, "priority", "%s is not a priority: 0 normal, 1 urgent, 2 very urgent, 3 flash, 4 flash scheduled", quote(md.Priority))
	}
	switch md.SteeringType {
	case "", "0", "1", "2":
	default:
		return spec, problem(http.StatusUnprocessableEntity, ReasonInvalid, "steering_type", "%s is not a steering type: 0, 1 or 2", quote(md.SteeringType))
	}
	if len(md.ToPlaces) > MaxToPlaces {
		return spec, problem(http.StatusUnprocessableEntity, ReasonInvalid, "to_places", "%d places, at most %d", len(md.ToPlaces), MaxToPlaces)
	}
	for i := range md.ToPlaces {
		field := fmt.Sprintf("to_places[%d]", i)
		md.ToPlaces[i] = strings.TrimSpace(md.ToPlaces[i])
		if md.ToPlaces[i] == "" {
			return spec, problem(http.StatusUnprocessableEntity, ReasonRequired, field, "a place must not be empty")
		}
		if p := checkText(field, md.ToPlaces[i], maxToPlace, false); p != nil {
			return spec, p
		}
	}
	spec.From = edoc.Organization{OrganID: md.From, OrganName: names(md.From)}
	spec.DocumentID = md.DocumentID
	spec.Code = edoc.Code{Number: md.Code.Number, Notation: md.Code.Notation}
	spec.Place = md.Promulgation.Place
	spec.Date = date
	spec.TypeName = md.TypeName
	spec.Subject = md.Subject
	spec.Content = md.Content
	spec.Signer = edoc.SignerInfo{Competence: md.Signer.Competence, Position: md.Signer.Position, FullName: md.Signer.FullName}
	spec.ToPlaces = md.ToPlaces
	return spec, nil
}

// dateField converts YYYY-MM-DD (checked) to an edXML date.
func dateField(s string) edoc.Date {
	if s == "" {
		return edoc.Date{}
	}
	return edoc.Date{Raw: strings.ReplaceAll(s, "-", "/")}
}

// derivedUUID is a UUID (version 8, RFC 9562) made from digest and i: the
// same request gives its attachments the same ContentIds.
func derivedUUID(digest [32]byte, i int) string {
	h := sha256.New()
	h.Write([]byte("truc restapi content id\x00"))
	h.Write(digest[:])
	binary.Write(h, binary.BigEndian, uint32(i))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x80 // version 8
	u[8] = u[8]&0x3f | 0x80 // variant 10
	x := hex.EncodeToString(u[:])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// edocProblem turns an error of edoc.NewDocument or WriteTo (checked
// input should not cause one) into a 422 naming the field when it can.
func edocProblem(err error) *Problem {
	var be *edoc.BuildError
	if errors.As(err, &be) {
		return problem(http.StatusUnprocessableEntity, ReasonInvalid, jsonFieldOf(be.Path), "%s", safeText(be.Msg, 512))
	}
	// NewDocument: "edoc: new document: PATH: RULE: MESSAGE".
	msg, ok := strings.CutPrefix(err.Error(), "edoc: new document: ")
	field := "metadata"
	if ok {
		if path, _, found := strings.Cut(msg, ": "); found {
			field = jsonFieldOf(path)
		}
	}
	return problem(http.StatusUnprocessableEntity, ReasonInvalid, field, "%s", safeText(msg, 512))
}

// jsonFieldOf names the DocumentMetadata member (or file part) that an
// edXML path comes from; "metadata" when none does.
func jsonFieldOf(path string) string {
	fields := []struct{ prefix, field string }{
		{"MessageHeader/From/", "from"},
		{"MessageHeader/DocumentId", "document_id"},
		{"MessageHeader/Code/CodeNumber", "code.number"},
		{"MessageHeader/Code/CodeNotation", "code.notation"},
		{"MessageHeader/Code", "code"},
		{"MessageHeader/PromulgationInfo/Place", "promulgation.place"},
		{"MessageHeader/PromulgationInfo", "promulgation.date"},
		{"MessageHeader/DocumentType", "type_name"},
		{"MessageHeader/Subject", "subject"},
		{"MessageHeader/Content", "content"},
		{"MessageHeader/SignerInfo/Competence", "signer.competence"},
		{"MessageHeader/SignerInfo/Position", "signer.position"},
		{"MessageHeader/SignerInfo/FullName", "signer.full_name"},
		{"MessageHeader/DueDate", "due_date"},
		{"MessageHeader/OtherInfo/Priority", "priority"},
		{"MessageHeader/SteeringType", "steering_type"},
		{"MessageHeader/ToPlaces", "to_places"},
	}
	for _, f := range fields {
		if strings.HasPrefix(path, f.prefix) {
			return f.field
		}
	}
	var n int
	if _, err := fmt.Sscanf(path, "MessageHeader/To[%d]", &n); err == nil && n > 0 {
		return fmt.Sprintf("to[%d]", n-1)
	}
	for _, pfx := range []string{"AttachmentEncoded/Attachment[", "edXMLManifest/Reference["} {
		if rest, ok := strings.CutPrefix(path, pfx); ok {
			if _, err := fmt.Sscanf(rest, "%d]", &n); err == nil && n > 0 {
				return fmt.Sprintf("file[%d]", n-1)
			}
		}
	}
	return "metadata"
}
