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
	"net/http"
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
