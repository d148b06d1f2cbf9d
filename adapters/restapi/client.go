package restapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxResponseBytes caps what Client reads of an answer: a package
// at the default body cap, or a JSON answer.
const DefaultMaxResponseBytes = DefaultMaxBodyBytes

// Client calls the edge API of one edge with one bearer token. Errors the
// edge reports are *Problem (use errors.As); others are transport errors.
// It is safe for concurrent use.
type Client struct {
	base  string
	token string
	hc    *http.Client
}

// NewClient returns a client for the edge at baseURL (http or https; the
// API is under baseURL + "/v1"), calling with token. httpClient nil means
// http.DefaultClient; its Timeout, if any, must exceed the longest
// long poll (InboxQuery.Wait).
func NewClient(baseURL, token string, httpClient *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("restapi client: %q is not an http or https URL without query", baseURL)
	}
	if token == "" || len(token) > maxTokenLength || !isVisibleASCII(token) {
		return nil, errors.New("restapi client: the token must be 1–4096 visible ASCII characters")
	}
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	return &Client{base: strings.TrimSuffix(u.String(), "/"), token: token, hc: httpClient}, nil
}

// Submit sends an edXML package (POST /v1/documents). idempotencyKey may
// be empty; with one, a retry of the same package gets the same answer
// (Replayed set) and queues nothing.
func (c *Client) Submit(ctx context.Context, pkg []byte, idempotencyKey string) (Submitted, error) {
	hdr := http.Header{"Content-Type": {"application/xml"}}
	if idempotencyKey != "" {
		hdr.Set("Idempotency-Key", idempotencyKey)
	}
	var s Submitted
	err := c.doJSON(ctx, http.MethodPost, "/v1/documents", nil, hdr, pkg, http.StatusAccepted, &s)
	return s, err
}

// Document returns a message sent for the token's agencies with its
// timeline (GET /v1/documents/{id}).
func (c *Client) Document(ctx context.Context, id string) (Document, error) {
	var d Document
	err := c.doJSON(ctx, http.MethodGet, "/v1/documents/"+url.PathEscape(id), nil, nil, nil, http.StatusOK, &d)
	return d, err
}

// InboxQuery selects a page of the inbox.
type InboxQuery struct {
	After uint64        // the cursor: Next of the previous page, 0 at first
	Limit int           // 0 means the edge's default (DefaultInboxLimit)
	Wait  time.Duration // long poll: how long the edge may wait for an item, in whole seconds
}

// Inbox returns the items after q.After (GET /v1/inbox).
func (c *Client) Inbox(ctx context.Context, q InboxQuery) (InboxPage, error) {
	v := url.Values{}
	if q.After > 0 {
		v.Set("after", strconv.FormatUint(q.After, 10))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Wait > 0 {
		v.Set("wait", strconv.FormatInt(int64((q.Wait+time.Second-1)/time.Second), 10))
	}
	var p InboxPage
	err := c.doJSON(ctx, http.MethodGet, "/v1/inbox", v, nil, nil, http.StatusOK, &p)
	return p, err
}

// Item returns the exact bytes of inbox item id (GET /v1/inbox/{id}),
// checked against the SHA-256 the edge sends with them.
func (c *Client) Item(ctx context.Context, id string) ([]byte, error) {
	resp, err := c.do(ctx, http.MethodGet, "/v1/inbox/"+url.PathEscape(id), nil, nil, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := readAnswer(resp)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, answerProblem(resp, body)
	}
	want := resp.Header.Get("X-Truc-Sha256")
	if got := sha256.Sum256(body); hexSHA(got) != strings.ToLower(want) {
		return nil, fmt.Errorf("restapi client: item %s: the bytes received have SHA-256 %x, the edge says %q", id, got, want)
	}
	return body, nil
}

// Ack records that the DMS has taken inbox item id (POST
// /v1/inbox/{id}/ack) and returns the item.
func (c *Client) Ack(ctx context.Context, id string) (Item, error) {
	var it Item
	err := c.doJSON(ctx, http.MethodPost, "/v1/inbox/"+url.PathEscape(id)+"/ack", nil, nil, nil, http.StatusOK, &it)
	return it, err
}

// PostStatus asks the edge to send a status about inbox item id (POST
// /v1/inbox/{id}/status) and returns the status message.
func (c *Client) PostStatus(ctx context.Context, id string, s StatusRequest) (Submitted, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return Submitted{}, err
	}
	var out Submitted
	hdr := http.Header{"Content-Type": {"application/json"}}
	err = c.doJSON(ctx, http.MethodPost, "/v1/inbox/"+url.PathEscape(id)+"/status", nil, hdr, b, http.StatusAccepted, &out)
	return out, err
}

// File is an attachment of a document the edge builds (SubmitDocument).
type File struct {
	// Name is the file name (UTF-8; sent as filename and, outside ASCII,
	// filename*).
	Name string
	// ContentType defaults to application/octet-stream.
	ContentType string
	Data        []byte
}

// SubmitDocument asks the edge to build a document package from md and
// files (POST /v1/documents, multipart/form-data) and send it. With an
// idempotencyKey, a retry of the same metadata and files gets the same
// answer (Replayed set) and queues nothing.
func (c *Client) SubmitDocument(ctx context.Context, md DocumentMetadata, files []File, idempotencyKey string) (Submitted, error) {
	meta, err := json.Marshal(md)
	if err != nil {
		return Submitted{}, fmt.Errorf("restapi client: encoding the metadata: %w", err)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	pw, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Disposition": {`form-data; name="metadata"`},
		"Content-Type":        {"application/json"},
	})
	if err != nil {
		return Submitted{}, err
	}
	pw.Write(meta)
	for _, f := range files {
		ct := f.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Disposition": {formDataFile(f.Name)},
			"Content-Type":        {ct},
		})
		if err != nil {
			return Submitted{}, err
		}
		pw.Write(f.Data)
	}
	if err := mw.Close(); err != nil {
		return Submitted{}, err
	}
	hdr := http.Header{"Content-Type": {mw.FormDataContentType()}}
	if idempotencyKey != "" {
		hdr.Set("Idempotency-Key", idempotencyKey)
	}
	var s Submitted
	err = c.doJSON(ctx, http.MethodPost, "/v1/documents", nil, hdr, buf.Bytes(), http.StatusAccepted, &s)
	return s, err
}

// formDataFile is the Content-Disposition of a file part: the name as
// filename (ASCII-folded when it is not ASCII) and filename* (RFC 5987).
func formDataFile(name string) string {
	ascii := asciiFileName(name)
	v := `form-data; name="file"; filename="` + ascii + `"`
	if ascii != name {
		v += "; filename*=UTF-8''" + encodeRFC8187(name)
	}
	return v
}

// DocumentQuery selects a page of GET /v1/documents. Zero fields select
// everything.
type DocumentQuery struct {
	Before    uint64 // the cursor: Next of the previous page, 0 from the newest
	Limit     int    // 0 means the edge's default (DefaultDocumentLimit)
	Sender    string
	Recipient string
	Type      string // "document" or "status"
	Since     time.Time
	Until     time.Time
	// DocumentID and DocumentFrom select the messages about one letter.
	DocumentID   string
	DocumentFrom string
}

// Documents lists the messages sent by the token's agencies, newest first
// (GET /v1/documents).
func (c *Client) Documents(ctx context.Context, q DocumentQuery) (DocumentPage, error) {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	if q.Before > 0 {
		v.Set("before", strconv.FormatUint(q.Before, 10))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	set("sender", q.Sender)
	set("recipient", q.Recipient)
	set("type", q.Type)
	set("document_id", q.DocumentID)
	set("document_from", q.DocumentFrom)
	if !q.Since.IsZero() {
		v.Set("since", q.Since.Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.Format(time.RFC3339Nano))
	}
	var p DocumentPage
	err := c.doJSON(ctx, http.MethodGet, "/v1/documents", v, nil, nil, http.StatusOK, &p)
	return p, err
}

// DocumentPackage returns the exact bytes of a sent message (GET
// /v1/documents/{id}/package), checked against their SHA-256.
func (c *Client) DocumentPackage(ctx context.Context, id string) ([]byte, error) {
	d, err := c.download(ctx, "/v1/documents/"+url.PathEscape(id)+"/package")
	return d.Data, err
}

// Download is a file the edge served: its bytes, as checked against the
// SHA-256 the edge sent, its name and its content type.
type Download struct {
	Name        string
	ContentType string
	Data        []byte
}

// DocumentAttachments lists the attachments of a sent message.
func (c *Client) DocumentAttachments(ctx context.Context, id string) (AttachmentList, error) {
	var l AttachmentList
	err := c.doJSON(ctx, http.MethodGet, "/v1/documents/"+url.PathEscape(id)+"/attachments", nil, nil, nil, http.StatusOK, &l)
	return l, err
}

// DocumentAttachment returns attachment n (from 1) of a sent message,
// decoded.
func (c *Client) DocumentAttachment(ctx context.Context, id string, n int) (Download, error) {
	return c.download(ctx, "/v1/documents/"+url.PathEscape(id)+"/attachments/"+strconv.Itoa(n))
}

// ItemAttachments lists the attachments of inbox item id.
func (c *Client) ItemAttachments(ctx context.Context, id string) (AttachmentList, error) {
	var l AttachmentList
	err := c.doJSON(ctx, http.MethodGet, "/v1/inbox/"+url.PathEscape(id)+"/attachments", nil, nil, nil, http.StatusOK, &l)
	return l, err
}

// ItemAttachment returns attachment n (from 1) of inbox item id, decoded.
func (c *Client) ItemAttachment(ctx context.Context, id string, n int) (Download, error) {
	return c.download(ctx, "/v1/inbox/"+url.PathEscape(id)+"/attachments/"+strconv.Itoa(n))
}

// Recall asks the recipients of a sent document to give it back: the edge
// sends status 13 (POST /v1/documents/{id}/recall). With an
// idempotencyKey, a retry with the same text gets the same answer.
func (c *Client) Recall(ctx context.Context, id string, r RecallRequest, idempotencyKey string) (Submitted, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return Submitted{}, err
	}
	hdr := http.Header{"Content-Type": {"application/json"}}
	if idempotencyKey != "" {
		hdr.Set("Idempotency-Key", idempotencyKey)
	}
	var s Submitted
	err = c.doJSON(ctx, http.MethodPost, "/v1/documents/"+url.PathEscape(id)+"/recall", nil, hdr, b, http.StatusAccepted, &s)
	return s, err
}

// AgencyQuery selects a page of GET /v1/directory/agencies.
type AgencyQuery struct {
	Q      string // words to find in the OrganId or name, accents ignored
	Limit  int    // 0 means the edge's default (DefaultAgencyLimit)
	Cursor string // Next of the previous page
	Parent string // only the agencies directly under this OrganId
	All    bool   // include inactive agencies
}

// Agencies searches the directory (GET /v1/directory/agencies).
func (c *Client) Agencies(ctx context.Context, q AgencyQuery) (AgencyPage, error) {
	v := url.Values{}
	if q.Q != "" {
		v.Set("q", q.Q)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Cursor != "" {
		v.Set("cursor", q.Cursor)
	}
	if q.Parent != "" {
		v.Set("parent", q.Parent)
	}
	if q.All {
		v.Set("all", "true")
	}
	var p AgencyPage
	err := c.doJSON(ctx, http.MethodGet, "/v1/directory/agencies", v, nil, nil, http.StatusOK, &p)
	return p, err
}

// WebhookDeliveryQuery selects a page of GET /v1/webhooks/deliveries.
type WebhookDeliveryQuery struct {
	State WebhookState // "" for any
	After uint64
	Limit int
}

// WebhookDeliveries lists the edge's pushes to the token's agencies.
func (c *Client) WebhookDeliveries(ctx context.Context, q WebhookDeliveryQuery) (WebhookPage, error) {
	v := url.Values{}
	if q.State != "" {
		v.Set("state", string(q.State))
	}
	if q.After > 0 {
		v.Set("after", strconv.FormatUint(q.After, 10))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var p WebhookPage
	err := c.doJSON(ctx, http.MethodGet, "/v1/webhooks/deliveries", v, nil, nil, http.StatusOK, &p)
	return p, err
}

// RetryWebhook makes a failed webhook delivery pending again (POST
// /v1/webhooks/deliveries/{id}/retry).
func (c *Client) RetryWebhook(ctx context.Context, id string) (WebhookDelivery, error) {
	var d WebhookDelivery
	err := c.doJSON(ctx, http.MethodPost, "/v1/webhooks/deliveries/"+url.PathEscape(id)+"/retry", nil, nil, nil, http.StatusAccepted, &d)
	return d, err
}

// download GETs bytes served with X-Truc-Sha256 and checks them.
func (c *Client) download(ctx context.Context, path string) (Download, error) {
	resp, err := c.do(ctx, http.MethodGet, path, nil, nil, nil)
	if err != nil {
		return Download{}, err
	}
	defer resp.Body.Close()
	body, err := readAnswer(resp)
	if err != nil {
		return Download{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return Download{}, answerProblem(resp, body)
	}
	want := resp.Header.Get("X-Truc-Sha256")
	if got := sha256.Sum256(body); hexSHA(got) != strings.ToLower(want) {
		return Download{}, fmt.Errorf("restapi client: %s: the bytes received have SHA-256 %x, the edge says %q", path, got, want)
	}
	d := Download{ContentType: resp.Header.Get("Content-Type"), Data: body}
	if _, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); err == nil {
		d.Name = params["filename"] // mime decodes filename* into filename
	}
	return d, nil
}

// doJSON makes a call whose success is want with a JSON body decoded into
// out.
func (c *Client) doJSON(ctx context.Context, method, path string, q url.Values, hdr http.Header, body []byte, want int, out any) error {
	resp, err := c.do(ctx, method, path, q, hdr, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := readAnswer(resp)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return answerProblem(resp, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("restapi client: %s %s: reading the answer: %w", method, path, err)
	}
	return nil
}

func (c *Client) do(ctx context.Context, method, path string, q url.Values, hdr http.Header, body []byte) (*http.Response, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("restapi client: %w", err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json, application/problem+json, application/xml")
	req.Header.Set("User-Agent", "truc-restapi-client/1")
	resp, err := c.hc.Do(req)
	if err != nil {
		// The URL may be in err; the token never is.
		return nil, fmt.Errorf("restapi client: %s %s: %w", method, path, err)
	}
	return resp, nil
}

// readAnswer reads a body within DefaultMaxResponseBytes.
func readAnswer(resp *http.Response) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(resp.Body, DefaultMaxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("restapi client: reading the answer: %w", err)
	}
	if len(b) > DefaultMaxResponseBytes {
		return nil, fmt.Errorf("restapi client: the answer is larger than %d bytes", DefaultMaxResponseBytes)
	}
	return b, nil
}

// answerProblem is the *Problem of an error answer: its problem report,
// or one made from the status when the body is not one (a proxy's page).
func answerProblem(resp *http.Response, body []byte) *Problem {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "application/problem+json" {
		var p Problem
		if json.Unmarshal(body, &p) == nil && p.Status != 0 {
			p.Status = resp.StatusCode
			return &p
		}
	}
	p := problem(resp.StatusCode, "http-"+strconv.Itoa(resp.StatusCode), "", "unexpected answer: %s", resp.Status)
	p.Type = "about:blank"
	return p
}
