package witness

import (
	"bytes"
	"context"
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

	"truc.vn/truc/bus"
)

// Paths of the axis's log API. Wire constants: they never change.
const (
	PathCheckpoint   = "/v1/log/checkpoint"   // GET: the latest signed checkpoint
	PathConsistency  = "/v1/log/consistency"  // GET ?old=&new=: a consistency proof, one base64 hash per line
	PathCosignatures = "/v1/log/cosignatures" // POST: a cosigned checkpoint (Handler)
	PathCosigned     = "/v1/log/cosigned"     // GET [?size=|?min=|?after=&upto=]: a checkpoint with its cosignatures (Handler)
)

// Client is the axis's log API over HTTP, as a witness and an auditor use
// it. It is safe for concurrent use.
type Client struct {
	base string
	hc   *http.Client
}

var _ Log = (*Client)(nil)

// NewClient returns a client of the axis at baseURL (scheme, host and an
// optional path prefix). hc nil means a client with a 30 s timeout.
func NewClient(baseURL string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("witness client: the axis URL must be http(s)://host[:port][/prefix], got %q", clip(baseURL))
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{base: strings.TrimSuffix(u.String(), "/"), hc: hc}, nil
}

// StatusError is an answer of the axis other than success. Reason is the
// problem's reason code when the axis sent problem+json.
type StatusError struct {
	Op     string // "fetching the checkpoint", ...
	Status int
	Reason string
	Detail string
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("%s: the axis answered %d %s", e.Op, e.Status, http.StatusText(e.Status))
	if e.Reason != "" {
		s += " (" + e.Reason + ")"
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Checkpoint implements Log: GET /v1/log/checkpoint.
func (c *Client) Checkpoint(ctx context.Context) ([]byte, error) {
	return c.get(ctx, "fetching the log's checkpoint", PathCheckpoint, bus.MaxSignedCheckpointLen)
}

// Cosigned fetches a checkpoint with the cosignatures the axis holds for
// it: the one of the given size, or with size < 0 the largest one with at
// least min cosignatures.
func (c *Client) Cosigned(ctx context.Context, size int64, min int) ([]byte, error) {
	q := url.Values{}
	if size >= 0 {
		q.Set("size", strconv.FormatInt(size, 10))
	} else {
		q.Set("min", strconv.Itoa(max(min, 1)))
	}
	return c.get(ctx, "fetching a cosigned checkpoint", PathCosigned+"?"+q.Encode(), bus.MaxSignedCheckpointLen)
}

// MostCosigned implements Log: GET /v1/log/cosigned?after=&upto=. It
// returns nil without error when the axis has no cosigned checkpoint in
// the range (or does not serve the query).
func (c *Client) MostCosigned(ctx context.Context, after, upto int64) ([]byte, error) {
	q := url.Values{"after": {strconv.FormatInt(after, 10)}, "upto": {strconv.FormatInt(upto, 10)}}
	msg, err := c.get(ctx, "fetching the most cosigned checkpoint", PathCosigned+"?"+q.Encode(), bus.MaxSignedCheckpointLen)
	if IsStatus(err, http.StatusNotFound) {
		return nil, nil
	}
	return msg, err
}

// ConsistencyProof implements Log: GET /v1/log/consistency.
func (c *Client) ConsistencyProof(ctx context.Context, oldSize, newSize int64) ([][32]byte, error) {
	op := fmt.Sprintf("fetching the consistency proof from size %d to %d", oldSize, newSize)
	q := url.Values{"old": {strconv.FormatInt(oldSize, 10)}, "new": {strconv.FormatInt(newSize, 10)}}
	// A base64 hash and its newline are 45 bytes.
	body, err := c.get(ctx, op, PathConsistency+"?"+q.Encode(), 45*bus.MaxProofLen)
	if err != nil {
		return nil, err
	}
	text := string(body)
	if text == "" {
		return [][32]byte{}, nil
	}
	text, ok := strings.CutSuffix(text, "\n")
	if !ok {
		return nil, fmt.Errorf("%s: the proof must end with a newline", op)
	}
	proof, err := parseProof(strings.Split(text, "\n"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return proof, nil
}

// AddCosignature implements Log: POST /v1/log/cosignatures.
func (c *Client) AddCosignature(ctx context.Context, cosigned []byte) error {
	const op = "posting a cosignature"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+PathCosignatures, bytes.NewReader(cosigned))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	_, err = c.do(req, op, 64<<10)
	return err
}

func (c *Client) get(ctx context.Context, op, path string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return c.do(req, op, limit)
}

// do sends req and returns the body of a 2xx answer, at most limit bytes.
func (c *Client) do(req *http.Request, op string, limit int64) ([]byte, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading the answer: %w", op, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, statusError(op, resp, body)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%s: the answer exceeds %d bytes", op, limit)
	}
	return body, nil
}

func statusError(op string, resp *http.Response, body []byte) *StatusError {
	e := &StatusError{Op: op, Status: resp.StatusCode}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/problem+json" {
		var p Problem
		if json.Unmarshal(body, &p) == nil {
			e.Reason, e.Detail = p.Reason, clip(p.Detail)
			return e
		}
	}
	e.Detail = clip(strings.TrimSpace(strings.ToValidUTF8(string(body), "?")))
	return e
}

// IsStatus reports whether err is a *StatusError with that HTTP status.
func IsStatus(err error, status int) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Status == status
}
