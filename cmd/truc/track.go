package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"truc.vn/truc/adapters/restapi"
	"truc.vn/truc/edoc"
)

const trackSynopsis = "track --edge URL (--token-env NAME | --token-file PATH) [--follow [--interval D] [--timeout D]] [--json] ID"

const trackExplain = `
Show where a message your agencies sent stands, recipient by recipient
(GET /v1/documents/{id}): ID is the message ID truc send or truc status
printed. For each recipient: its state, whether that is final, since when,
and then each step with its time (accepted by the axis, delivered to the
recipient's edge, every status it reported, a refusal with its reason).
Times are Vietnam time (ICT, UTC+7).

States: queued (the edge holds it, the axis has not answered), accepted,
rejected (by the axis: final), delivered (to the recipient's edge), refused
(by the recipient's edge: final), status NN (the latest status the
recipient reported; 02, refused by the clerk, and 06, finished, are final).

--follow polls every --interval, printing a progress line on standard
error whenever something changes, until every recipient is final, Ctrl-C,
or --timeout; then it prints the table.

--json prints the message and its timeline as JSON (the edge's answer).

Exit status: 0 shown (with --follow: every recipient final, or
interrupted); 1 the edge refused, the axis rejected the message or a
recipient's edge refused it, or --timeout ran out; 2 wrong usage.

Examples:
  truc track --edge http://127.0.0.1:8080 --token-file dms.token edge-hn.m42.0123456789abcdef
  truc track --edge http://127.0.0.1:8080 --token-file dms.token --follow --timeout 1h edge-hn.m42.0123456789abcdef
`

func runTrack(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("track", trackSynopsis, trackExplain, stderr)
	var ef edgeFlags
	ef.register(fs)
	follow := fs.Bool("follow", false, "poll until every recipient reaches a final state")
	interval := fs.Duration("interval", 2*time.Second, "with --follow, poll every `DURATION`")
	timeout := fs.Duration("timeout", 0, "with --follow, give up after `DURATION` (0: never)")
	asJSON := fs.Bool("json", false, "print the message and its timeline as JSON")
	rest, err := parseInterleaved(fs, args, stdout)
	if err != nil {
		return err
	}
	switch {
	case len(rest) != 1:
		return usageError("track: want one message ID (see truc track -h)")
	case restapi.IsInboxID(rest[0]):
		return usageError("track: " + rest[0] + " is an inbox item: track follows what your agencies sent (truc inbox lists what they received)")
	case *interval <= 0:
		return usageError("track: --interval must be positive")
	case *timeout < 0:
		return usageError("track: --timeout must not be negative")
	case !*follow && *timeout > 0:
		return usageError("track: --timeout goes with --follow")
	}
	id := rest[0]
	client, err := ef.client("track", stderr)
	if err != nil {
		return err
	}

	pollCtx := ctx
	if *timeout > 0 {
		var cancel context.CancelFunc
		pollCtx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	var (
		doc      restapi.Document
		have     bool
		lastLine string
		outcome  error
	)
	for {
		rctx, cancel := context.WithTimeout(pollCtx, time.Minute)
		d, err := client.Document(rctx, id)
		cancel()
		switch {
		case err == nil:
			doc, have = d, true
			if line := trackProgress(d); *follow && line != lastLine {
				fmt.Fprintf(stderr, "%s: %s\n", id, line)
				lastLine = line
			}
		case pollCtx.Err() != nil:
		default:
			var p *restapi.Problem
			if !*follow || (errors.As(err, &p) && p.Status < 500) {
				fmt.Fprintf(stderr, "truc track: %s: %v\n", id, err)
				return failed(exitFailure)
			}
			fmt.Fprintf(stderr, "truc track: %s: %v (retrying)\n", id, err)
		}
		if !*follow || (have && doc.Final) {
			break
		}
		if pollCtx.Err() != nil {
			if ctx.Err() == nil {
				outcome = fmt.Errorf("not every recipient reached a final state within %v", *timeout)
			}
			break
		}
		select {
		case <-pollCtx.Done():
		case <-time.After(*interval):
		}
	}
	if !have {
		fmt.Fprintf(stderr, "truc track: %s: no answer from the edge\n", id)
		return failed(exitFailure)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(doc); err != nil {
			return err
		}
	} else {
		printTimeline(stdout, doc)
	}
	if outcome != nil {
		fmt.Fprintf(stderr, "truc track: %s: %v\n", id, outcome)
		return failed(exitFailure)
	}
	if n := undelivered(doc); n > 0 {
		fmt.Fprintf(stderr, "truc track: %s: %d of %d recipients will not get it (rejected or refused)\n", id, n, len(doc.Timeline))
		return failed(exitFailure)
	}
	return nil
}

// undelivered counts the recipients the message will never reach.
func undelivered(d restapi.Document) int {
	n := 0
	for _, rt := range d.Timeline {
		if rt.State == restapi.StateRejected || rt.State == restapi.StateRefused {
			n++
		}
	}
	return n
}

// trackProgress is the one-line summary --follow prints on changes.
func trackProgress(d restapi.Document) string {
	final := 0
	parts := make([]string, len(d.Timeline))
	for i, rt := range d.Timeline {
		parts[i] = rt.OrganID + " " + stateText(rt.RecipientState)
		if rt.Final {
			final++
			parts[i] += " (final)"
		}
	}
	return fmt.Sprintf("%d/%d recipients final [%s]", final, len(d.Timeline), strings.Join(parts, ", "))
}

func stateText(s restapi.RecipientState) string {
	if s.State == restapi.StateStatus {
		return "status " + s.Status
	}
	return s.State
}

// ictTime formats t in Vietnam time, "" for zero.
func ictTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(edoc.ICT).Format(time.DateTime)
}

// printTimeline prints the message, a table of its recipients and each
// recipient's steps.
func printTimeline(w io.Writer, d restapi.Document) {
	what := d.Type
	if d.Type == "status" {
		what = "status " + d.Status
		if m := edoc.StatusCode(d.Status).Meaning(); m != "" {
			what += " (" + m + ")"
		}
	}
	fmt.Fprintf(w, "%s  %s from %s, document %s\n", d.ID, what, d.Sender, d.DocumentID)
	fmt.Fprintf(w, "queued %s", ictTime(d.CreatedAt))
	if !d.SentAt.IsZero() {
		fmt.Fprintf(w, ", sent to the axis %s (%d attempts)", ictTime(d.SentAt), d.Attempts)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RECIPIENT\tSTATE\tSINCE (ICT)\tFINAL")
	for _, rt := range d.Timeline {
		final := "no"
		if rt.Final {
			final = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", rt.OrganID, stateText(rt.RecipientState), ictTime(rt.At), final)
	}
	tw.Flush()
	for _, rt := range d.Timeline {
		var steps []string
		add := func(what string, at time.Time) {
			if !at.IsZero() {
				steps = append(steps, what+" "+ictTime(at))
			}
		}
		add("accepted", rt.AcceptedAt)
		add("rejected", rt.RejectedAt)
		add("delivered", rt.DeliveredAt)
		for _, s := range rt.Statuses {
			add(s.Code, s.At)
		}
		add("refused", rt.RefusedAt)
		line := "  " + rt.OrganID + ": " + strings.Join(steps, ", ")
		if len(steps) == 0 {
			line += "nothing yet"
		}
		if rt.Reason != "" {
			line += " — " + rt.Reason
			if rt.Detail != "" {
				line += ": " + rt.Detail
			}
		}
		fmt.Fprintln(w, line)
	}
}
