package vxp

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// The fixed headers SDKVXP 2.0.1 sends with every call. Wire constants.
const (
	SDKUserAgent = "JAVASDKAgent/1.0.0 XRoad/VPCP"
	SDKVersion   = "3.0.201608"
)

// DefaultMaxResponseBytes caps what the client reads of an answer: the
// base64 of a 16 MiB package in getEdoc is 21.4 MiB.
const DefaultMaxResponseBytes = 64 << 20

// Client calls a VXP endpoint, the national axis or a truc edge, exactly
// as SDKVXP 2.0.1 does (spec §5 and Appendix A): the same paths, methods
// and bodies, the same signed keys in the same order (that of the SDK's
// java.util.HashMap), the sign-header written as Gson writes it and
// HMAC'd with the secret, the unpadded hash-file and the "\r\n" after the
// package on sendEdoc, the SDK's User-Agent and XroadVnpt-version, and
// the SDK's spelling of header names. It is safe for concurrent use.
//
// By default each call builds its headers afresh with the current time as
// timestamp, as a careful client would. WithHeaderLeak reproduces the
// SDK's own behaviour instead.
//
// What differs from the SDK on the wire: the order of the header lines
// (Go writes them sorted; no server may depend on it) and the headers Go
// adds itself (Accept-Encoding, Host, Content-Length).
type Client struct {
	endpoint    string
	systemID    string
	secret      []byte
	hc          *http.Client
	now         func() time.Time
	leak        bool
	filePath    string
	maxResponse int64

	mu sync.Mutex
	// With the leak: the header maps of the SDK's two service objects
	// (KnobstickServiceImp for documents, AgencyServiceImp for the
	// directory), kept across calls.
	docMap, agencyMap *javaMap
}

// ClientOption configures a Client.
type ClientOption func(*Client)

// WithClock sets the clock that stamps requests (default time.Now).
func WithClock(now func() time.Time) ClientOption { return func(c *Client) { c.now = now } }

// WithHeaderLeak makes the client behave like the SDK: the timestamp is
// set once, when the client is made, and every key a call adds stays in
// the headers of later calls of the same service (documents or
// directory), so that a countReceiveStatus made after a getEdoc also
// signs and sends docId and filePath. Use it to test servers against the
// SDK's real behaviour.
func WithHeaderLeak() ClientOption { return func(c *Client) { c.leak = true } }

// WithFilePath sets the filePath key that getEdoc and downloadEdoc sign,
// as SDK users pass the folder where the SDK stores what it fetches. The
// Go client writes no file; the key only makes requests identical to the
// SDK's.
func WithFilePath(dir string) ClientOption { return func(c *Client) { c.filePath = dir } }

// WithMaxResponseBytes caps the answers read (default
// DefaultMaxResponseBytes).
func WithMaxResponseBytes(n int64) ClientOption { return func(c *Client) { c.maxResponse = n } }

// NewClient returns a client for the endpoint (service.endpoint of the
// SDK, e.g. http://vxpdungchung.vnpt.vn), signing as systemID with secret.
// httpClient nil means http.DefaultClient.
func NewClient(endpoint, systemID, secret string, httpClient *http.Client, opts ...ClientOption) (*Client, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("vxp client: endpoint %q is not an http or https URL", endpoint)
	}
	if systemID == "" || !isHeaderValue(systemID) {
		return nil, errors.New("vxp client: systemid empty or not sendable in a header")
	}
	if secret == "" {
		return nil, errors.New("vxp client: empty secret")
	}
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	c := &Client{
		endpoint:    strings.TrimSuffix(endpoint, "/"),
		systemID:    systemID,
		secret:      []byte(secret),
		hc:          httpClient,
		now:         time.Now,
		maxResponse: DefaultMaxResponseBytes,
	}
	for _, o := range opts {
		o(c)
	}
	if c.leak {
		// The SDK's VnptService constructor: timestamp, then systemid.
		ts := FormatTimestamp(c.now())
		c.docMap, c.agencyMap = newSDKMap(ts, systemID), newSDKMap(ts, systemID)
	}
	return c, nil
}

func newSDKMap(timestamp, systemID string) *javaMap {
	m := &javaMap{}
	m.put(KeyTimestamp, timestamp)
	m.put(KeySystemID, systemID)
	return m
}

// service says which of the SDK's service objects makes a call.
type service int

const (
	documents service = iota
	directory
)

// call describes one SDK call: what it puts in the header map, in the
// SDK's order (Content-Type first, then the caller's JSON keys, then
// hash-file), and what it sends.
type call struct {
	op          string
	svc         service
	method      string
	contentType string
	params      [][2]string
	body        []byte
}

// ResponseError is an answer with status "FAIL" or an ErrorCode other
// than "0", or an HTTP error without a readable answer.
type ResponseError struct {
	Op         string
	HTTPStatus int
	Status     string
	ErrorCode  string
	ErrorDesc  string
}

func (e *ResponseError) Error() string {
	if e.ErrorCode == "" && e.Status == "" {
		return fmt.Sprintf("vxp %s: HTTP %d without a VXP answer", e.Op, e.HTTPStatus)
	}
	return fmt.Sprintf("vxp %s: %s, ErrorCode %s: %s", e.Op, e.Status, e.ErrorCode, e.ErrorDesc)
}

// do signs and sends one call and returns the HTTP status and body.
func (c *Client) do(ctx context.Context, cl call) (int, []byte, error) {
	for _, p := range cl.params {
		if !isHeaderValue(p[1]) {
			return 0, nil, fmt.Errorf("vxp %s: %s: value not sendable in a header (control characters or invalid UTF-8)", cl.op, p[0])
		}
	}
	var m *javaMap
	c.mu.Lock()
	if c.leak {
		m = c.docMap
		if cl.svc == directory {
			m = c.agencyMap
		}
	} else {
		m = newSDKMap(FormatTimestamp(c.now()), c.systemID)
	}
	m.put(KeyContentType, cl.contentType)
	for _, p := range cl.params {
		m.put(p[0], p[1])
	}
	entries := m.ordered()
	c.mu.Unlock()

	req, err := http.NewRequestWithContext(ctx, cl.method, c.endpoint+"/"+cl.op, bodyReader(cl))
	if err != nil {
		return 0, nil, fmt.Errorf("vxp %s: %w", cl.op, err)
	}
	// The SDK's headers, in its spelling (assigned directly: Header.Set
	// would canonicalise XroadVnpt-sign-header to Xroadvnpt-Sign-Header).
	signed := make([][2]string, len(entries))
	keys := make([]string, len(entries))
	for i, e := range entries {
		if e.key == KeyContentType {
			req.Header["Content-Type"] = []string{e.value}
		}
		name := HeaderPrefix + e.key
		req.Header[name] = append(req.Header[name], e.value)
		signed[i] = [2]string{name, e.value}
		keys[i] = e.key
	}
	signHeader := gsonObject(signed)
	mac := hmac.New(sha256.New, c.secret)
	io.WriteString(mac, signHeader)
	req.Header[HeaderSignHeaderKey] = []string{strings.Join(keys, ";")}
	req.Header[HeaderSignHeader] = []string{signHeader}
	req.Header[HeaderHashHeader] = []string{hex.EncodeToString(mac.Sum(nil))}
	req.Header["User-Agent"] = []string{SDKUserAgent}
	req.Header[HeaderVersion] = []string{SDKVersion}

	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("vxp %s: %w", cl.op, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxResponse+1))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("vxp %s: reading the answer: %w", cl.op, err)
	}
	if int64(len(body)) > c.maxResponse {
		return resp.StatusCode, nil, fmt.Errorf("vxp %s: answer larger than %d bytes", cl.op, c.maxResponse)
	}
	return resp.StatusCode, body, nil
}

func bodyReader(cl call) io.Reader {
	if cl.body == nil {
		return http.NoBody
	}
	return bytes.NewReader(cl.body)
}

// isHeaderValue reports whether s can travel as a header value unchanged:
// valid UTF-8 without control characters or surrounding blanks.
func isHeaderValue(s string) bool {
	return utf8.ValidString(s) && s == strings.Trim(s, " \t") &&
		!strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// Bodies the SDK sends (spec §5.2, from the bytecode of HttpConnection):
// nothing for the lists and the directory, "{}" for the calls it makes
// through its multipart path.
var emptyObject = []byte("{}")

// exchange makes a call whose answer is JSON and returns its members,
// or a *ResponseError when the answer says the call failed.
func (c *Client) exchange(ctx context.Context, cl call) (map[string]json.RawMessage, error) {
	status, body, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return decodeAnswer(cl.op, status, body)
}

// decodeAnswer reads an answer as the SDK does: a JSON object with status,
// ErrorCode and ErrorDesc, whatever the HTTP status. It is lenient where
// the SDK is (getAsString accepts numbers), since the national axis is
// not this package's server.
func decodeAnswer(op string, httpStatus int, body []byte) (map[string]json.RawMessage, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil || members == nil {
		if httpStatus != http.StatusOK {
			return nil, &ResponseError{Op: op, HTTPStatus: httpStatus}
		}
		return nil, fmt.Errorf("vxp %s: the answer is not a JSON object", op)
	}
	st, err1 := text(members["status"])
	code, err2 := text(members["ErrorCode"])
	desc, err3 := text(members["ErrorDesc"])
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("vxp %s: malformed answer: %w", op, err)
	}
	if st == StatusFail || code != CodeOK {
		return nil, &ResponseError{Op: op, HTTPStatus: httpStatus, Status: st, ErrorCode: code, ErrorDesc: desc}
	}
	return members, nil
}

// text reads a JSON scalar as the SDK's getAsString does: a string as is,
// a number or boolean as written; absent or null is "".
func text(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	switch raw[0] {
	case '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case '{', '[':
		return "", errors.New("an object or array where text was expected")
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", err
	}
	return string(raw), nil
}

// decodeItems reads the data array of op's answer as a list of objects,
// one T each: bind names the members to read as text and where to put them.
func decodeItems[T any](op string, members map[string]json.RawMessage, bind func(e *T) map[string]*string) ([]T, error) {
	raw, ok := members["data"]
	if !ok {
		return nil, fmt.Errorf("vxp %s: the answer has no data", op)
	}
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("vxp %s: data is not an array of objects: %w", op, err)
	}
	out := make([]T, len(list))
	for i, it := range list {
		if err := fields(op, it, bind(&out[i])); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// fields reads the named members of an item as text, into the pointers.
func fields(op string, item map[string]json.RawMessage, into map[string]*string) error {
	for name, p := range into {
		v, err := text(item[name])
		if err != nil {
			return fmt.Errorf("vxp %s: data member %s: %w", op, name, err)
		}
		*p = v
	}
	return nil
}

// SendEdoc sends a package (sendEdoc) from the OrganId from and returns
// the DocId the server gives it. The package travels as the SDK sends a
// file: its bytes followed by "\r\n", with the unpadded SHA-256 of the
// bytes alone as hash-file.
func (c *Client) SendEdoc(ctx context.Context, from string, mt MessageType, pkg []byte) (string, error) {
	sum := sha256.Sum256(pkg)
	body := make([]byte, 0, len(pkg)+2)
	body = append(append(body, pkg...), '\r', '\n')
	m, err := c.exchange(ctx, call{
		op: OpSendEdoc, svc: documents, method: http.MethodPost, contentType: "application/octet-stream",
		params: [][2]string{{KeyFrom, from}, {KeyServiceType, ServiceType}, {KeyMessageType, string(mt)}, {KeyHashFile, UnpaddedHex(sum[:])}},
		body:   body,
	})
	if err != nil {
		return "", err
	}
	id, err := text(m["DocId"])
	if err != nil || id == "" {
		return "", fmt.Errorf("vxp %s: the answer has no DocId", OpSendEdoc)
	}
	return id, nil
}

// ReceivedEntry is one item of getReceivedEdocList, as the SDK hands it
// over (its Knobstick): every member as text.
type ReceivedEntry struct {
	DocID, ServiceType, MessageType, CreatedTime, UpdatedTime, From, To, Status, StatusDesc string
}

// ReceivedList lists what is waiting for the client's OrganIds
// (getReceivedEdocList).
func (c *Client) ReceivedList(ctx context.Context, mt MessageType) ([]ReceivedEntry, error) {
	m, err := c.exchange(ctx, c.listCall(OpGetReceivedEdocList, mt, ""))
	if err != nil {
		return nil, err
	}
	return decodeItems(OpGetReceivedEdocList, m, func(e *ReceivedEntry) map[string]*string {
		return map[string]*string{
			"docId": &e.DocID, "serviceType": &e.ServiceType, "messageType": &e.MessageType,
			"created_time": &e.CreatedTime, "updated_time": &e.UpdatedTime, "from": &e.From, "to": &e.To,
			"status": &e.Status, "status_desc": &e.StatusDesc,
		}
	})
}

func (c *Client) listCall(op string, mt MessageType, docID string) call {
	params := [][2]string{{KeyServiceType, ServiceType}, {KeyMessageType, string(mt)}}
	if docID != "" {
		params = append(params, [2]string{KeyDocID, docID})
	}
	return call{op: op, svc: documents, method: http.MethodPost, contentType: "application/json", params: params}
}

func (c *Client) docParams(docID string) [][2]string {
	if c.filePath != "" {
		return [][2]string{{KeyFilePath, c.filePath}, {KeyDocID, docID}}
	}
	return [][2]string{{KeyDocID, docID}}
}

// GetEdoc fetches a package (getEdoc): the answer's data is the base64 of
// the whole package.
func (c *Client) GetEdoc(ctx context.Context, docID string) ([]byte, error) {
	m, err := c.exchange(ctx, call{
		op: OpGetEdoc, svc: documents, method: http.MethodPost, contentType: "application/json",
		params: c.docParams(docID), body: emptyObject,
	})
	if err != nil {
		return nil, err
	}
	data, err := text(m["data"])
	if err != nil {
		return nil, fmt.Errorf("vxp %s: data: %w", OpGetEdoc, err)
	}
	pkg, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return nil, fmt.Errorf("vxp %s: data is not base64: %w", OpGetEdoc, err)
	}
	return pkg, nil
}

// DownloadEdoc fetches a package as raw bytes (downloadEdoc, GET). An
// answer other than HTTP 200 is read as a VXP error.
func (c *Client) DownloadEdoc(ctx context.Context, docID string) ([]byte, error) {
	status, body, err := c.do(ctx, call{
		op: OpDownloadEdoc, svc: documents, method: http.MethodGet, contentType: "application/json",
		params: c.docParams(docID),
	})
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		_, err := decodeAnswer(OpDownloadEdoc, status, body)
		if err == nil {
			err = &ResponseError{Op: OpDownloadEdoc, HTTPStatus: status}
		}
		return nil, err
	}
	return body, nil
}

// UpdateStatus tells the server how the DMS took delivery of a received
// package (updateStatus, which signs docid with a lower-case i).
func (c *Client) UpdateStatus(ctx context.Context, docID string, status AckStatus) error {
	_, err := c.exchange(ctx, call{
		op: OpUpdateStatus, svc: documents, method: http.MethodPost, contentType: "application/json",
		params: [][2]string{{KeyStatus, string(status)}, {KeyDocIDLower, docID}}, body: emptyObject,
	})
	return err
}

// SentEntry is one item of getSentEdocList (the SDK's StatusResult).
type SentEntry struct {
	ServiceType, MessageType, SenderDocID, ReceiverDocID, FromCode, ToCode, Title, Notation string
	SentTime, ReceivedTime, SendStatus, SendStatusDesc, ReceiveStatus, ReceiveStatusDesc    string
}

// SentList reports the delivery of sent packages (getSentEdocList);
// docID, when not empty, restricts it to one.
func (c *Client) SentList(ctx context.Context, mt MessageType, docID string) ([]SentEntry, error) {
	m, err := c.exchange(ctx, c.listCall(OpGetSentEdocList, mt, docID))
	if err != nil {
		return nil, err
	}
	return decodeItems(OpGetSentEdocList, m, func(e *SentEntry) map[string]*string {
		return map[string]*string{
			"serviceType": &e.ServiceType, "messageType": &e.MessageType, "senderDocId": &e.SenderDocID,
			"receiverDocId": &e.ReceiverDocID, "fromCode": &e.FromCode, "toCode": &e.ToCode,
			"title": &e.Title, "notation": &e.Notation, "sentTime": &e.SentTime, "receivedTime": &e.ReceivedTime,
			"sendStatus": &e.SendStatus, "sendStatusDesc": &e.SendStatusDesc,
			"receiveStatus": &e.ReceiveStatus, "receiveStatusDesc": &e.ReceiveStatusDesc,
		}
	})
}

// CountReceived counts what is waiting (countReceiveEdoc or
// countReceiveStatus, by mt). Like the SDK, it POSTs "{}".
func (c *Client) CountReceived(ctx context.Context, mt MessageType) (int, error) {
	op := OpCountReceiveEdoc
	if mt == MessageStatus {
		op = OpCountReceiveStatus
	}
	cl := c.listCall(op, mt, "")
	cl.body = emptyObject
	m, err := c.exchange(ctx, cl)
	if err != nil {
		return 0, err
	}
	s, err := text(m["count"])
	if err != nil {
		return 0, fmt.Errorf("vxp %s: count: %w", op, err)
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("vxp %s: count %q is not an integer", op, s)
	}
	return n, nil
}

// AgencyEntry is one agency of getAgenciesList (which fills OldCode) or
// getAgenciesListQD20 (which fills Code102).
type AgencyEntry struct {
	ID, PID, Code, Name, Mail, OldCode, Code102 string
}

// Agencies lists the directory (getAgenciesList).
func (c *Client) Agencies(ctx context.Context) ([]AgencyEntry, error) {
	return c.agencies(ctx, OpGetAgenciesList)
}

// AgenciesQD20 lists the directory with QĐ 20/2020 codes and their QCVN
// 102 counterparts (getAgenciesListQD20).
func (c *Client) AgenciesQD20(ctx context.Context) ([]AgencyEntry, error) {
	return c.agencies(ctx, OpGetAgenciesListQD20)
}

func (c *Client) agencies(ctx context.Context, op string) ([]AgencyEntry, error) {
	m, err := c.exchange(ctx, call{op: op, svc: directory, method: http.MethodPost, contentType: "application/json"})
	if err != nil {
		return nil, err
	}
	return decodeItems(op, m, func(e *AgencyEntry) map[string]*string {
		return map[string]*string{
			"id": &e.ID, "pid": &e.PID, "code": &e.Code, "name": &e.Name, "mail": &e.Mail,
			"oldCode": &e.OldCode, "code102": &e.Code102,
		}
	})
}

// UnitEntry is one unit of getSynchronizeUnit (the SDK's UnitSynchronize).
type UnitEntry struct {
	ID, PID, Code, Name, Mail string
	Version                   int
	CenterCode                string
	Deleted                   bool
	ModifyDate                string
	IsAgency                  bool
}

// SynchronizeUnits lists the directory's units with versions
// (getSynchronizeUnit).
func (c *Client) SynchronizeUnits(ctx context.Context) ([]UnitEntry, error) {
	const op = OpGetSynchronizeUnit
	m, err := c.exchange(ctx, call{op: op, svc: directory, method: http.MethodPost, contentType: "application/json"})
	if err != nil {
		return nil, err
	}
	// version, deleted and isAgency arrive as text and are converted after.
	type unitText struct {
		e                          UnitEntry
		version, deleted, isAgency string
	}
	list, err := decodeItems(op, m, func(u *unitText) map[string]*string {
		return map[string]*string{
			"id": &u.e.ID, "pid": &u.e.PID, "code": &u.e.Code, "name": &u.e.Name, "mail": &u.e.Mail,
			"version": &u.version, "centerCode": &u.e.CenterCode, "deleted": &u.deleted,
			"modifyDate": &u.e.ModifyDate, "isAgency": &u.isAgency,
		}
	})
	if err != nil {
		return nil, err
	}
	out := make([]UnitEntry, len(list))
	for i := range list {
		u, e := &list[i], &out[i]
		*e = u.e
		if u.version != "" {
			if e.Version, err = strconv.Atoi(u.version); err != nil {
				return nil, fmt.Errorf("vxp %s: version %q is not an integer", op, u.version)
			}
		}
		// Gson's getAsBoolean reads "true" (any case) as true, anything
		// else as false.
		e.Deleted = strings.EqualFold(u.deleted, "true")
		e.IsAgency = strings.EqualFold(u.isAgency, "true")
	}
	return out, nil
}

// RegisterAgency creates or updates an agency (registerAgency): the one
// call with a meaningful JSON body, written in the SDK sample's key order.
func (c *Client) RegisterAgency(ctx context.Context, reg AgencyRegistration) error {
	body := gsonObject([][2]string{
		{"id", reg.ID}, {"pcode", reg.ParentCode}, {"code", reg.Code}, {"name", reg.Name},
		{"mail", reg.Mail}, {"mobile", reg.Mobile}, {"fax", reg.Fax},
	})
	_, err := c.exchange(ctx, call{
		op: OpRegisterAgency, svc: directory, method: http.MethodPost, contentType: "application/json",
		body: []byte(body),
	})
	return err
}

// DeleteAgency removes an agency (deleteAgency, code in the AgencyCode
// header).
func (c *Client) DeleteAgency(ctx context.Context, code string) error {
	_, err := c.exchange(ctx, call{
		op: OpDeleteAgency, svc: directory, method: http.MethodPost, contentType: "application/json",
		params: [][2]string{{KeyAgencyCode, code}}, body: emptyObject,
	})
	return err
}
