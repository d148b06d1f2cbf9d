package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"truc.vn/truc/adapters/restapi"
)

const sendSynopsis = "send --edge URL (--token-env NAME | --token-file PATH) [--idempotency-key KEY] [--wait DURATION] [--json] FILE..."

const sendExplain = `
Send edXML packages through an edge node's API (POST /v1/documents), as a
document-management system does. The edge validates each package, signs it
with the agency seal if it is not signed, and queues it durably before it
answers; the message ID it answers is printed on standard output (with the
file name after a tab when there are several files).

The API token comes from the environment variable --token-env names, or
from the first line of --token-file; never from the command line, where
other users could read it.

Each send carries an Idempotency-Key: --idempotency-key (one FILE only), or
by default "sha256:" and the SHA-256 of the file, so that running the same
command again after a network failure gets the same message ID instead of
sending the letter twice.

--wait polls each message's timeline every --interval until every
recipient has reported a status (01, arrived, or later), a recipient's
edge refused it, the axis rejected it, or the time is up, with a progress
line on standard error when something changes. --json prints, at the end,
a JSON array with one object per file (the edge's answer, the error if
any, and with --wait the final timeline).

"-" as the only FILE reads standard input.

Exit status: 0 all sent (and, with --wait, all arrived); 1 a package was
refused, a recipient refused it or the wait ran out; 2 wrong usage.

Examples:
  TRUC_TOKEN=$(cat dms.token) truc send --edge http://127.0.0.1:8080 --token-env TRUC_TOKEN letter.edxml
  truc send --edge https://edge.hanoi.gov.vn --token-file /etc/dms/truc.token --wait 2m --json out/*.edxml
`

// edgeFlags are the flags that say which edge to call and with what token.
type edgeFlags struct {
	edge, tokenEnv, tokenFile string
}

func (f *edgeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.edge, "edge", "", "the edge API's base `URL`, e.g. http://127.0.0.1:8080")
	fs.StringVar(&f.tokenEnv, "token-env", "", "read the API token from environment variable `NAME`")
	fs.StringVar(&f.tokenFile, "token-file", "", "read the API token from the first line of `PATH`")
}

// client checks the flags and returns the API client; cmd names the
// command in errors.
func (f *edgeFlags) client(cmd string, stderr io.Writer) (*restapi.Client, error) {
	switch {
	case f.edge == "":
		return nil, usageError(cmd + ": --edge is required (see truc " + cmd + " -h)")
	case f.tokenEnv == "" && f.tokenFile == "":
		return nil, usageError(cmd + ": give the API token with --token-env or --token-file")
	case f.tokenEnv != "" && f.tokenFile != "":
		return nil, usageError(cmd + ": give --token-env or --token-file, not both")
	}
	token, err := readSecret(f.tokenEnv, f.tokenFile, stderr)
	if err != nil {
		return nil, usageError(cmd + ": token: " + strings.Replace(err.Error(), "PIN file", "token file", 1))
	}
	c, err := restapi.NewClient(f.edge, token, &http.Client{Transport: http.DefaultTransport})
	if err != nil {
		return nil, usageError(cmd + ": --edge: " + err.Error())
	}
	if u, err := url.Parse(f.edge); err == nil && u.Scheme == "http" && !isLoopback(u.Hostname()) {
		fmt.Fprintf(stderr, "truc: warning: the token goes to %s without TLS\n", u.Host)
	}
	return c, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sendResult is what truc send reports about one file.
type sendResult struct {
	File string `json:"file"`
	*restapi.Submitted
	Error string `json:"error,omitempty"`
	// With --wait: delivered (every recipient reported a status), failed
	// (refused or rejected) or timeout; and the last timeline seen.
	Outcome  string            `json:"outcome,omitempty"`
	Document *restapi.Document `json:"document,omitempty"`
}

func runSend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("send", sendSynopsis, sendExplain, stderr)
	var ef edgeFlags
	ef.register(fs)
	key := fs.String("idempotency-key", "", "the Idempotency-Key of the submission (one FILE only; default sha256:<hex of the file>)")
	wait := fs.Duration("wait", 0, "wait up to `DURATION` (e.g. 2m) until every recipient has reported a status")
	interval := fs.Duration("interval", 2*time.Second, "with --wait, poll the timeline every `DURATION`")
	asJSON := fs.Bool("json", false, "print a JSON array of results")
	files, err := parseInterleaved(fs, args, stdout)
	if err != nil {
		return err
	}
	switch {
	case len(files) == 0:
		return usageError("send: no package to send (see truc send -h)")
	case *key != "" && len(files) > 1:
		return usageError("send: --idempotency-key takes one FILE; without it each file gets its own key")
	case *wait < 0:
		return usageError("send: --wait must not be negative")
	case *interval <= 0:
		return usageError("send: --interval must be positive")
	}
	for _, f := range files {
		if f == "-" && len(files) > 1 {
			return usageError("send: - (standard input) must be the only FILE")
		}
	}
	client, err := ef.client("send", stderr)
	if err != nil {
		return err
	}

	results := make([]sendResult, len(files))
	bad := 0
	for i, f := range files {
		results[i].File = f
		prefix := ""
		if len(files) > 1 {
			prefix = fmt.Sprintf("[%d/%d] ", i+1, len(files))
		}
		s, err := sendFile(ctx, client, f, *key)
		if err != nil {
			bad++
			results[i].Error = err.Error()
			fmt.Fprintf(stderr, "%s%s: FAILED: %v\n", prefix, f, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		results[i].Submitted = &s
		note := ""
		if s.Replayed {
			note = " (already sent with this Idempotency-Key: the same message)"
		}
		fmt.Fprintf(stderr, "%s%s: queued as %s%s\n", prefix, f, s.ID, note)
		if !*asJSON {
			if len(files) > 1 {
				fmt.Fprintf(stdout, "%s\t%s\n", s.ID, f)
			} else {
				fmt.Fprintln(stdout, s.ID)
			}
		}
	}
	if *wait > 0 && bad < len(files) {
		bad += waitArrived(ctx, client, results, *wait, *interval, stderr)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(results); err != nil {
			return err
		}
	}
	if bad > 0 {
		fmt.Fprintf(stderr, "truc send: %d of %d packages failed\n", bad, len(files))
		return failed(exitFailure)
	}
	return nil
}

// sendFile reads one package and submits it.
func sendFile(ctx context.Context, c *restapi.Client, path, key string) (restapi.Submitted, error) {
	var (
		data []byte
		err  error
	)
	if path == "-" {
		data, err = readCapped(os.Stdin, restapi.DefaultMaxBodyBytes)
	} else {
		data, err = readSendFile(path)
	}
	if err != nil {
		return restapi.Submitted{}, err
	}
	if key == "" {
		sum := sha256.Sum256(data)
		key = "sha256:" + hex.EncodeToString(sum[:])
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	return c.Submit(ctx, data, key)
}

// readSendFile reads a package of at most restapi.DefaultMaxBodyBytes: the
// edge refuses anything larger, and reading it all would only waste
// memory.
func readSendFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := readCapped(f, restapi.DefaultMaxBodyBytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

// waitArrived polls the timelines of the messages sent until each is
// final or wait is up, and returns how many did not arrive everywhere.
func waitArrived(ctx context.Context, c *restapi.Client, results []sendResult, wait, interval time.Duration, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	last := make([]string, len(results))
poll:
	for {
		pending := 0
		for i := range results {
			r := &results[i]
			if r.Submitted == nil || r.Outcome != "" {
				continue
			}
			d, err := c.Document(ctx, r.ID)
			if err != nil {
				if ctx.Err() != nil {
					pending++
					continue
				}
				var p *restapi.Problem
				if errors.As(err, &p) && p.Status < 500 {
					r.Outcome, r.Error = "failed", err.Error()
					fmt.Fprintf(stderr, "%s: %v\n", r.ID, err)
					continue
				}
				fmt.Fprintf(stderr, "%s: %v (retrying)\n", r.ID, err)
				pending++
				continue
			}
			r.Document = &d
			line, outcome := progress(d)
			if line != last[i] {
				fmt.Fprintf(stderr, "%s: %s\n", r.ID, line)
				last[i] = line
			}
			if outcome == "" {
				pending++
			}
			r.Outcome = outcome
		}
		if pending == 0 {
			break
		}
		select {
		case <-ctx.Done():
			break poll
		case <-time.After(interval):
		}
	}
	notArrived := 0
	for i := range results {
		r := &results[i]
		if r.Submitted == nil {
			continue
		}
		if r.Outcome == "" {
			r.Outcome = "timeout"
			fmt.Fprintf(stderr, "%s: not every recipient reported a status within %v\n", r.ID, wait)
		}
		if r.Outcome != "delivered" {
			notArrived++
		}
	}
	return notArrived
}

// progress summarises a timeline: one line, and the outcome when it is
// final ("delivered" when every recipient reported a status, "failed" when
// every recipient is done and one refused or the axis rejected it).
func progress(d restapi.Document) (string, string) {
	var parts []string
	arrived, failedN := 0, 0
	for _, rt := range d.Timeline {
		state, bad := recipientState(rt)
		switch {
		case rt.Status != "":
			arrived++
		case bad:
			failedN++
		}
		parts = append(parts, rt.OrganID+" "+state)
	}
	line := fmt.Sprintf("%d/%d recipients reported a status [%s]", arrived, len(d.Timeline), strings.Join(parts, ", "))
	switch {
	case arrived+failedN < len(d.Timeline):
		return line, ""
	case failedN > 0:
		return line, "failed"
	}
	return line, "delivered"
}

// recipientState is how far a message got for one recipient, and whether
// that is a failure.
func recipientState(rt restapi.RecipientTimeline) (string, bool) {
	if rt.Status != "" {
		return "status " + rt.Status, false
	}
	state := "queued"
	for _, ev := range rt.Events {
		switch ev.Kind {
		case "rejected":
			return "rejected by the axis (" + ev.Reason + ")", true
		case "refused":
			return "refused by its edge (" + ev.Reason + ")", true
		case "delivered":
			state = "delivered"
		case "accepted":
			if state == "queued" {
				state = "accepted"
			}
		}
	}
	return state, false
}
