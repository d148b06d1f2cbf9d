package vxp

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"truc.vn/truc/edoc"
)

// ErrorCode values of the answers (see the table in the package
// documentation). Each is also the HTTP status of the answer, except "0"
// (200). Wire constants: they never change.
const (
	CodeOK               = "0"
	CodeBadRequest       = "400"
	CodeUnauthenticated  = "401"
	CodeForbidden        = "403"
	CodeNotFound         = "404"
	CodeMethodNotAllowed = "405"
	CodeConflict         = "409"
	CodeTooLarge         = "413"
	CodeInvalidPackage   = "422"
	CodeInternal         = "500"
	CodeUnavailable      = "503"
)

// The status member of the answers, and ErrorDesc of a success. Wire
// constants. The SDK treats any status but "FAIL" as success where it
// looks at status at all, and ErrorCode "0" as success elsewhere.
const (
	StatusOK    = "OK"
	StatusFail  = "FAIL"
	DescSuccess = "Success"
)

// rejection is a refusal decided by the handler, before or instead of the
// Backend: what the client is told and what is logged.
type rejection struct {
	code  string // ErrorCode
	field string // the header, key or body field at fault
	rule  string // stable rule name, for logs and ErrorDesc
	msg   string // for people
}

func reject(code, field, rule, format string, args ...any) *rejection {
	return &rejection{code: code, field: field, rule: rule, msg: fmt.Sprintf(format, args...)}
}

// desc is the ErrorDesc: "<field>: <message> (<rule>)".
func (r *rejection) desc() string {
	s := r.msg
	if r.field != "" {
		s = r.field + ": " + s
	}
	if r.rule != "" {
		s += " (" + r.rule + ")"
	}
	return asciiText(s)
}

// asciiText makes s printable ASCII, as ErrorDesc must be: the handler's
// own texts already are (see quote), but a Backend's Field, Rule and
// Message may hold anything, such as Vietnamese text or control characters
// quoted from a package. Other characters become Go escapes (\u1ed9,
// \x00), as with %+q.
func asciiText(s string) string {
	ok := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError:
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				fmt.Fprintf(&b, `\x%02x`, s[i])
			} else {
				b.WriteString(`\ufffd`)
			}
		case r >= 0x20 && r < 0x7f:
			b.WriteRune(r)
		case r < 0x10000:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	return b.String()
}

func httpStatus(code string) int {
	if code == CodeOK {
		return http.StatusOK
	}
	n, err := strconv.Atoi(code)
	if err != nil || n < 400 || n > 599 {
		return http.StatusInternalServerError
	}
	return n
}

// envelope is what every JSON answer starts with, in this order.
type envelope struct {
	Status    string `json:"status"`
	ErrorCode string `json:"ErrorCode"`
	ErrorDesc string `json:"ErrorDesc"`
}

var okEnvelope = envelope{Status: StatusOK, ErrorCode: CodeOK, ErrorDesc: DescSuccess}

// sendResponse answers sendEdoc. DocId is always present, "" on failure:
// the SDK reads it without checking the status and would fail on its
// absence before showing the error.
type sendResponse struct {
	envelope
	DocID string `json:"DocId"`
}

type dataResponse[T any] struct {
	envelope
	Data T `json:"data"`
}

type countResponse struct {
	envelope
	Count int `json:"count"`
}

// The items of the data arrays, with the member names the SDK reads. Every
// member is always written (the SDK calls getAsString on members it finds,
// and a JSON null would make it fail), and times are strings.
type receivedJSON struct {
	DocID       string `json:"docId"`
	ServiceType string `json:"serviceType"`
	MessageType string `json:"messageType"`
	CreatedTime string `json:"created_time"`
	UpdatedTime string `json:"updated_time"`
	From        string `json:"from"`
	To          string `json:"to"`
	Status      string `json:"status"`
	StatusDesc  string `json:"status_desc"`
}

type sentJSON struct {
	ServiceType       string `json:"serviceType"`
	MessageType       string `json:"messageType"`
	SenderDocID       string `json:"senderDocId"`
	ReceiverDocID     string `json:"receiverDocId"`
	FromCode          string `json:"fromCode"`
	ToCode            string `json:"toCode"`
	Title             string `json:"title"`
	Notation          string `json:"notation"`
	SentTime          string `json:"sentTime"`
	ReceivedTime      string `json:"receivedTime"`
	SendStatus        string `json:"sendStatus"`
	SendStatusDesc    string `json:"sendStatusDesc"`
	ReceiveStatus     string `json:"receiveStatus"`
	ReceiveStatusDesc string `json:"receiveStatusDesc"`
}

type agencyJSON struct {
	ID      string `json:"id"`
	PID     string `json:"pid"`
	Code    string `json:"code"`
	Name    string `json:"name"`
	Mail    string `json:"mail"`
	OldCode string `json:"oldCode"`
}

type agencyQD20JSON struct {
	ID      string `json:"id"`
	Code    string `json:"code"`
	Name    string `json:"name"`
	Mail    string `json:"mail"`
	Code102 string `json:"code102"`
}

type unitJSON struct {
	ID         string `json:"id"`
	PID        string `json:"pid"`
	Code       string `json:"code"`
	Name       string `json:"name"`
	Mail       string `json:"mail"`
	Version    int    `json:"version"`
	CenterCode string `json:"centerCode"`
	Deleted    bool   `json:"deleted"`
	ModifyDate string `json:"modifyDate"`
	IsAgency   bool   `json:"isAgency"`
}

// AnswerTimeLayout is how times are written in answers (created_time,
// sentTime, modifyDate …): the edXML timestamp layout, in Vietnam time.
// The SDK hands these strings to the DMS unparsed. "" means no time.
const AnswerTimeLayout = edoc.TimestampLayout

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(edoc.ICT).Format(AnswerTimeLayout)
}

func serviceTypeOr(s string) string {
	if s == "" {
		return ServiceType
	}
	return s
}

func receivedItems(items []ReceivedItem) []receivedJSON {
	out := make([]receivedJSON, len(items))
	for i, it := range items {
		out[i] = receivedJSON{
			DocID: it.DocID, ServiceType: serviceTypeOr(it.ServiceType), MessageType: string(it.MessageType),
			CreatedTime: formatTime(it.Created), UpdatedTime: formatTime(it.Updated),
			From: it.From, To: it.To, Status: it.Status, StatusDesc: it.StatusDesc,
		}
	}
	return out
}

func sentItems(items []SentItem) []sentJSON {
	out := make([]sentJSON, len(items))
	for i, it := range items {
		out[i] = sentJSON{
			ServiceType: serviceTypeOr(it.ServiceType), MessageType: string(it.MessageType),
			SenderDocID: it.SenderDocID, ReceiverDocID: it.ReceiverDocID,
			FromCode: it.FromCode, ToCode: it.ToCode, Title: it.Title, Notation: it.Notation,
			SentTime: formatTime(it.SentTime), ReceivedTime: formatTime(it.ReceivedTime),
			SendStatus: it.SendStatus, SendStatusDesc: it.SendStatusDesc,
			ReceiveStatus: it.ReceiveStatus, ReceiveStatusDesc: it.ReceiveStatusDesc,
		}
	}
	return out
}

func agencyItems(items []Agency) []agencyJSON {
	out := make([]agencyJSON, len(items))
	for i, a := range items {
		out[i] = agencyJSON{ID: a.ID, PID: a.ParentID, Code: a.Code, Name: a.Name, Mail: a.Mail, OldCode: a.OldCode}
	}
	return out
}

func agencyQD20Items(items []Agency) []agencyQD20JSON {
	out := make([]agencyQD20JSON, len(items))
	for i, a := range items {
		out[i] = agencyQD20JSON{ID: a.ID, Code: a.Code, Name: a.Name, Mail: a.Mail, Code102: a.OldCode}
	}
	return out
}

func unitItems(items []Unit) []unitJSON {
	out := make([]unitJSON, len(items))
	for i, u := range items {
		out[i] = unitJSON{
			ID: u.ID, PID: u.ParentID, Code: u.Code, Name: u.Name, Mail: u.Mail,
			Version: u.Version, CenterCode: u.CenterCode, Deleted: u.Deleted,
			ModifyDate: formatTime(u.Modified), IsAgency: u.IsAgency,
		}
	}
	return out
}

// writeJSON writes v as the whole answer. Non-ASCII text is written as
// UTF-8, as Gson does, and <, > and & are not escaped.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encoding the answer: %w", err)
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json; charset=utf-8")
	hdr.Set("Content-Length", strconv.Itoa(buf.Len()))
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// writeEdocData answers getEdoc: the envelope and data, the base64 of the
// whole package, streamed rather than built in memory.
func writeEdocData(w http.ResponseWriter, pkg []byte) error {
	head, err := json.Marshal(okEnvelope)
	if err != nil {
		return err
	}
	head = append(head[:len(head)-1], `,"data":"`...)
	tail := []byte("\"}\n")
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json; charset=utf-8")
	hdr.Set("Content-Length", strconv.Itoa(len(head)+base64.StdEncoding.EncodedLen(len(pkg))+len(tail)))
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(head); err != nil {
		return err
	}
	enc := base64.NewEncoder(base64.StdEncoding, w)
	if _, err := enc.Write(pkg); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	_, err = w.Write(tail)
	return err
}

// writePackage answers downloadEdoc: the package's bytes, unchanged.
func writePackage(w http.ResponseWriter, pkg []byte) error {
	hdr := w.Header()
	hdr.Set("Content-Type", "application/octet-stream")
	hdr.Set("Content-Length", strconv.Itoa(len(pkg)))
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(pkg)
	return err
}
