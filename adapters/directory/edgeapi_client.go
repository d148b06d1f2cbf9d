package directory

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// EdgeClient is the edge's side of the edge API: it signs requests with
// the edge's seal key and sends them to the axis (EdgeAPIHandler). The
// zero value of HTTPClient and Now means the defaults written next to
// them. It is safe for concurrent use.
type EdgeClient struct {
	// URL is the base URL of the axis, as for the Syncer:
	// "https://axis.truc.gov.vn:8443". Required.
	URL string
	// Token is the edge's sync bearer token. Required. Never logged.
	Token string
	// Edge is the edge's ID. Required.
	Edge string
	// Signer signs as the edge's seal key under bus.EdgeNoteName(Edge).
	// Required.
	Signer note.Signer
	// HTTPClient sends the requests (default: a client with a 1-minute
	// timeout).
	HTTPClient *http.Client
	// Now stamps the requests; default time.Now.
	Now func() time.Time
}

// EdgeAPIError is a refusal by the axis's edge API: the HTTP status and
// the problem it answered.
type EdgeAPIError struct {
	Status  int
	Problem Problem
}

func (e *EdgeAPIError) Error() string {
	s := fmt.Sprintf("axis edge API: %d", e.Status)
	if e.Problem.Reason != "" {
		s += " " + e.Problem.Reason
	}
	if e.Problem.Field != "" {
		s += ": " + e.Problem.Field
	}
	if e.Problem.Detail != "" {
		s += ": " + e.Problem.Detail
	}
	return s
}

// PutAgency asks the axis to put the agency organID, named name, under
// parent ("" for none) on this edge (EdgePutAgency).
func (c *EdgeClient) PutAgency(ctx context.Context, organID, name, parent string) (EdgeAgencyResponse, error) {
	return c.send(ctx, EdgeAgencyRequest{Op: EdgePutAgency, OrganID: organID, Name: name, Parent: parent})
}

// DeactivateAgency asks the axis to mark the agency organID, which this
// edge serves, inactive (EdgeDeactivateAgency).
func (c *EdgeClient) DeactivateAgency(ctx context.Context, organID string) (EdgeAgencyResponse, error) {
	return c.send(ctx, EdgeAgencyRequest{Op: EdgeDeactivateAgency, OrganID: organID})
}

// send signs req (filling Edge, Time and Nonce) and posts it. A refusal
// is an *EdgeAPIError; a failure to reach the axis or to read its answer
// is another error.
func (c *EdgeClient) send(ctx context.Context, req EdgeAgencyRequest) (EdgeAgencyResponse, error) {
	if c.URL == "" || c.Token == "" || c.Signer == nil {
		return EdgeAgencyResponse{}, errors.New("axis edge API: URL, Token and Signer are required")
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return EdgeAgencyResponse{}, fmt.Errorf("axis edge API: %w", err)
	}
	req.Edge, req.Time, req.Nonce = c.Edge, now().UTC().Truncate(time.Second), hex.EncodeToString(nonce[:])
	body, err := req.Sign(c.Signer)
	if err != nil {
		return EdgeAgencyResponse{}, fmt.Errorf("axis edge API: %w", err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.URL, "/")+EdgeAgencyPath, bytes.NewReader(body))
	if err != nil {
		return EdgeAgencyResponse{}, fmt.Errorf("axis edge API: %w", err)
	}
	hreq.Header.Set("Authorization", "Bearer "+c.Token)
	hreq.Header.Set("Content-Type", "text/plain; charset=utf-8")
	hreq.Header.Set("Accept", "application/json")
	hc := c.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: time.Minute}
	}
	resp, err := hc.Do(hreq)
	if err != nil {
		return EdgeAgencyResponse{}, fmt.Errorf("axis edge API: %s %s: %w", req.Op, req.OrganID, err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, maxProblemBytes))
	if err != nil {
		return EdgeAgencyResponse{}, fmt.Errorf("axis edge API: %s %s: reading the answer: %w", req.Op, req.OrganID, err)
	}
	if resp.StatusCode != http.StatusOK {
		e := &EdgeAPIError{Status: resp.StatusCode}
		if json.Unmarshal(rb, &e.Problem) != nil {
			e.Problem = Problem{Status: resp.StatusCode, Title: http.StatusText(resp.StatusCode)}
		}
		return EdgeAgencyResponse{}, e
	}
	var out EdgeAgencyResponse
	if err := strictJSON(rb, &out); err != nil {
		return EdgeAgencyResponse{}, fmt.Errorf("axis edge API: %s %s: the answer is not valid: %w", req.Op, req.OrganID, err)
	}
	if out.Agency.OrganID != req.OrganID {
		return EdgeAgencyResponse{}, fmt.Errorf("axis edge API: %s %s: the answer is about %q", req.Op, req.OrganID, clip(out.Agency.OrganID))
	}
	return out, nil
}
