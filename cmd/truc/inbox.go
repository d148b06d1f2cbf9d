package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"truc.vn/truc/adapters/restapi"
)

const inboxSynopsis = "inbox --edge URL (--token-env NAME | --token-file PATH) [--after N] [--limit N] [--wait S] [--follow] [--save DIR [--ack]] [--json]"

const inboxExplain = `
List what an edge node received for your agencies (GET /v1/inbox):
documents, statuses about documents you sent, and rejection notices, as a
table of seq, id, type, sender, status (the code of a status; new or taken
for a document) and when it was received.

The token (--token-env or --token-file, as for truc send) decides which
agencies are yours. --after N starts after sequence number N: the cursor
printed on standard error at the end ("next: N"), so that the next run
lists only what is new. --wait S holds the first request up to S seconds
while there is nothing. --follow keeps listing as items arrive (long
polling, 30 s at a time unless --wait says otherwise) until interrupted.

--save DIR writes each package, byte for byte as the sender signed it, to
DIR/<id>.xml (through a temporary file, synced and renamed, so a file is
complete or absent), after checking its SHA-256. --ack then tells the edge
the DMS has taken it, which sends status 01 (arrived) to the sender: only
after the file is safely on disk. A failure stops at that item; run again
with --after as printed to go on from there. --follow retries every 5 s
while the edge is unreachable or failing (5xx), and stops on any other
refusal.

--json prints one JSON object per page fetched ({"items": [...], "next":
N}; without --follow, all pages as one object).

Exit status: 0 listed (an interrupted --follow included); 1 the edge
refused or a package could not be saved or acknowledged; 2 wrong usage.

Examples:
  truc inbox --edge http://127.0.0.1:8080 --token-env TRUC_TOKEN
  truc inbox --edge http://127.0.0.1:8080 --token-file dms.token --after 41 --save incoming/ --ack
  truc inbox --edge https://edge.hanoi.gov.vn --token-file dms.token --follow --save incoming/ --ack --json
`

// defaultFollowWait is the long poll of --follow without --wait.
const defaultFollowWait = 30 * time.Second

// followRetry is the pause of --follow after the edge failed to answer (a
// variable for the tests).
var followRetry = 5 * time.Second

// secondsFlag is a duration given as whole seconds ("30") or as a Go
// duration ("30s", "2m").
type secondsFlag time.Duration

func (s *secondsFlag) String() string { return time.Duration(*s).String() }

func (s *secondsFlag) Set(v string) error {
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		*s = secondsFlag(time.Duration(n) * time.Second)
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return errors.New("want whole seconds (30) or a duration (30s, 2m)")
	}
	*s = secondsFlag(d)
	return nil
}

func runInbox(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("inbox", inboxSynopsis, inboxExplain, stderr)
	var ef edgeFlags
	ef.register(fs)
	after := fs.Uint64("after", 0, "list items after sequence number `N` (the next printed by an earlier run)")
	limit := fs.Int("limit", restapi.DefaultInboxLimit, "`N` items per request, 1 to 1000")
	var wait secondsFlag
	fs.Var(&wait, "wait", "wait up to `S` seconds for an item when there is none")
	follow := fs.Bool("follow", false, "keep listing new items until interrupted")
	save := fs.String("save", "", "write each package to `DIR`/<id>.xml")
	ack := fs.Bool("ack", false, "acknowledge each item once saved (needs --save)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usageError(fmt.Sprintf("inbox: unexpected argument %q (see truc inbox -h)", fs.Arg(0)))
	case *limit < 1 || *limit > restapi.MaxInboxLimit:
		return usageError(fmt.Sprintf("inbox: --limit must be from 1 to %d", restapi.MaxInboxLimit))
	case *ack && *save == "":
		return usageError("inbox: --ack needs --save: an item is acknowledged only once it is saved")
	}
	if *save != "" {
		if err := os.MkdirAll(*save, 0o750); err != nil {
			return usageError("inbox: --save: " + err.Error())
		}
	}
	client, err := ef.client("inbox", stderr)
	if err != nil {
		return err
	}
	if *follow && wait == 0 {
		wait = secondsFlag(defaultFollowWait)
	}

	l := &inboxLister{client: client, save: *save, ack: *ack, json: *asJSON, stdout: stdout, stderr: stderr}
	cursor := *after
	all := restapi.InboxPage{Items: []restapi.Item{}}
	first := true
	for {
		w := time.Duration(0)
		if first || *follow {
			w = time.Duration(wait)
		}
		first = false
		rctx, cancel := context.WithTimeout(ctx, w+2*time.Minute)
		page, err := client.Inbox(rctx, restapi.InboxQuery{After: cursor, Limit: *limit, Wait: w})
		cancel()
		if err != nil {
			if ctx.Err() != nil && *follow {
				break // interrupted: a normal end
			}
			var p *restapi.Problem
			if *follow && (!errors.As(err, &p) || p.Status >= 500) {
				// The edge is restarting or unreachable: keep following.
				fmt.Fprintf(stderr, "truc inbox: %v (retrying in %v)\n", err, followRetry)
				select {
				case <-ctx.Done():
				case <-time.After(followRetry):
				}
				continue
			}
			fmt.Fprintf(stderr, "truc inbox: %v\n", err)
			fmt.Fprintf(stderr, "next: %d\n", cursor)
			return failed(exitFailure)
		}
		done, err := l.handle(ctx, page, cursor)
		if err != nil {
			fmt.Fprintf(stderr, "truc inbox: %v\n", err)
			fmt.Fprintf(stderr, "next: %d (run again with --after %d to go on from there)\n", done, done)
			return failed(exitFailure)
		}
		if *asJSON && len(page.Items) > 0 {
			if *follow {
				writeJSONLine(stdout, page)
			} else {
				all.Items = append(all.Items, page.Items...)
			}
		}
		moved := page.Next != cursor
		cursor = page.Next
		all.Next = cursor
		if !*follow && !moved {
			break
		}
		if *follow && ctx.Err() != nil {
			break
		}
	}
	if *asJSON && !*follow {
		all.Next = cursor
		writeJSONLine(stdout, all)
	}
	fmt.Fprintf(stderr, "next: %d\n", cursor)
	return nil
}

// inboxLister prints, saves and acknowledges the items of each page.
type inboxLister struct {
	client        *restapi.Client
	save          string
	ack, json     bool
	stdout        io.Writer
	stderr        io.Writer
	headerPrinted bool
}

// handle deals with one page fetched after cursor. On error it returns
// the cursor up to which every item was dealt with.
func (l *inboxLister) handle(ctx context.Context, page restapi.InboxPage, cursor uint64) (uint64, error) {
	for _, it := range page.Items {
		if !l.json {
			l.printRow(it)
		}
		if l.save != "" {
			if err := l.saveItem(ctx, it); err != nil {
				return cursor, fmt.Errorf("%s (seq %d): %w", it.ID, it.Seq, err)
			}
		}
		cursor = it.Seq
	}
	return page.Next, nil
}

func (l *inboxLister) printRow(it restapi.Item) {
	if !l.headerPrinted {
		fmt.Fprintf(l.stdout, "%-8s %-35s %-9s %-15s %-6s %s\n", "SEQ", "ID", "TYPE", "SENDER", "STATUS", "RECEIVED")
		l.headerPrinted = true
	}
	status := it.Status
	if it.Type == "document" {
		status = "new"
		if !it.TakenAt.IsZero() {
			status = "taken"
		}
	}
	fmt.Fprintf(l.stdout, "%-8d %-35s %-9s %-15s %-6s %s\n", it.Seq, it.ID, it.Type, it.Sender, status,
		it.ReceivedAt.Local().Format("2006-01-02 15:04:05"))
}

// saveItem fetches the package, checks it, writes it durably and, with
// --ack, acknowledges it.
func (l *inboxLister) saveItem(ctx context.Context, it restapi.Item) error {
	if !restapi.IsInboxID(it.ID) {
		return fmt.Errorf("the edge listed %q, which is not an inbox item ID", it.ID)
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	pkg, err := l.client.Item(rctx, it.ID)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(pkg)
	if hex.EncodeToString(sum[:]) != it.SHA256 {
		return fmt.Errorf("the package's SHA-256 is %x, the inbox listed %s", sum, it.SHA256)
	}
	path := filepath.Join(l.save, it.ID+".xml")
	if err := writeFileAtomic(path, pkg, 0o640); err != nil {
		return fmt.Errorf("saving: %w", err)
	}
	if err := syncDir(l.save); err != nil {
		return fmt.Errorf("saving: %w", err)
	}
	fmt.Fprintf(l.stderr, "saved %s (%d bytes)\n", path, len(pkg))
	if !l.ack || !it.TakenAt.IsZero() {
		return nil
	}
	if _, err := l.client.Ack(rctx, it.ID); err != nil {
		return fmt.Errorf("acknowledging: %w", err)
	}
	fmt.Fprintf(l.stderr, "acknowledged %s\n", it.ID)
	return nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// writeJSONLine writes v as one line of JSON.
func writeJSONLine(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
