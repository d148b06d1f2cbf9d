package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"truc.vn/truc/bus"
)

// takeTimeout bounds Source.Take after a 2xx.
const takeTimeout = 10 * time.Second

// maxAnswer is how much of a receiver's answer body is read and dropped.
const maxAnswer = 64 << 10

// post makes one attempt of delivery r: it reads the package, POSTs the
// envelope and, on a 2xx, takes the item unless s keeps items untaken.
func (d *Dispatcher) post(ctx context.Context, s *subscription, r Delivery) outcome {
	// Only the agencies the subscription serves now: one may have left it
	// since the delivery was queued.
	r.Recipients = slices.DeleteFunc(slices.Clone(r.Recipients), func(o string) bool { return !s.organs[o] })
	if len(r.Recipients) == 0 {
		return outcome{permanent: true, err: "the subscription no longer serves any recipient of the item"}
	}
	_, pkg, err := d.src.Item(ctx, r.ItemID)
	if errors.Is(err, bus.ErrNotFound) {
		return outcome{permanent: true, err: "the item is no longer in the edge inbox"}
	}
	if err != nil {
		return outcome{err: "reading the item from the inbox: " + clipErr(err.Error())}
	}
	body, err := envelopeBody(r, pkg)
	if err != nil {
		return outcome{err: "building the envelope: " + clipErr(err.Error())}
	}
	actx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return outcome{err: "building the request: " + clipErr(err.Error())}
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "truc-webhook/1")
	req.Header.Set(HeaderDeliveryID, r.ID)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(s.Secret, ts, body))
	req.Header.Set(HeaderAttempt, strconv.Itoa(r.Attempts+1))
	resp, err := s.client.Do(req)
	if err != nil {
		if actx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
			return outcome{err: fmt.Sprintf("no answer within %s", s.Timeout)}
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which may carry a query the receiver wants kept
		}
		return outcome{err: "posting: " + clipErr(err.Error())}
	}
	// Read a little of the answer so that the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// The answer body is not kept: LastError is shown through the API
		// and must say only what the edge saw.
		return outcome{status: resp.StatusCode, err: fmt.Sprintf("the receiver answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))}
	}
	if !s.KeepUntaken {
		// The receiver has it: finish the taking even when stopping, so
		// that a restart does not post it again.
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), takeTimeout)
		defer cancel()
		if _, err := d.src.Take(tctx, r.ItemID, r.Recipients); err != nil {
			// Not delivered: the next attempt posts again (the receiver
			// drops the repeat by its Delivery-Id) and takes again.
			return outcome{status: resp.StatusCode, err: "the receiver answered, but taking the item failed: " + clipErr(err.Error())}
		}
	}
	return outcome{ok: true, status: resp.StatusCode}
}

func clipErr(s string) string {
	const n = 300
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
