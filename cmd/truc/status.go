package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"truc.vn/truc/adapters/restapi"
	"truc.vn/truc/edoc"
)

const statusSynopsis = "status --edge URL (--token-env NAME | --token-file PATH) [--description TEXT] [--staff NAME] [--json] ID CODE"

const statusExplain = `
Report how your agency handled a document it received: the edge builds the
edXML status package about it, signs it with the agency seal and sends it
to the document's sender (POST /v1/inbox/{id}/status). ID is the inbox item
ID of the document (in-..., as truc inbox lists it); the message ID of the
status is printed on standard output.

CODE is one of the codes a recipient may send (QCVN 102:2016):
  01  arrived: the DMS has the document (sent once per agency; the edge
      sends it by itself when the DMS acknowledges the item)
  02  refused by the clerk (give the reason with --description)
  03  accepted and registered as an incoming document
  04  assigned to a handler
  05  being processed
  06  processing finished
  15  agrees to an update or a recall (14, which one SDK sends, means 15)
  16  refuses an update or a recall (give the reason with --description)

13 asks the recipients to give back a document your agency sent: ID is then
that document's message ID (as truc send printed it), and the edge sends
the recall to every recipient it was delivered to (POST
/v1/documents/{id}/recall). Running the same recall again is harmless: it
carries an Idempotency-Key made from the ID and the text.

The token (--token-env or --token-file, as for truc send) must act for one
of the document's recipients (for 13, for its sender). --json prints the
edge's answer as JSON.

Exit status: 0 queued; 1 the edge refused it (the reason is printed); 2
wrong usage.

Examples:
  truc status --edge http://127.0.0.1:8080 --token-file dms.token in-3f0c9a8e1b2d4c5f6a7b8c9d0e1f2a3b 03
  truc status --edge http://127.0.0.1:8080 --token-file dms.token --description "Sai thẩm quyền" in-3f0c9a8e1b2d4c5f6a7b8c9d0e1f2a3b 02
  truc status --edge http://127.0.0.1:8080 --token-file dms.token --description "Gửi nhầm" edge-hn.m42.0123456789abcdef 13
`

// recipientCodes are the codes a recipient may post, in order.
var recipientCodes = []string{"01", "02", "03", "04", "05", "06", "15", "16"}

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("status", statusSynopsis, statusExplain, stderr)
	var ef edgeFlags
	ef.register(fs)
	description := fs.String("description", "", "free `TEXT`: the reason for 02, 16 or 13 (at most 2000 characters)")
	staff := fs.String("staff", "", "who handled it (at most 200 characters)")
	asJSON := fs.Bool("json", false, "print the edge's answer as JSON")
	rest, err := parseInterleaved(fs, args, stdout)
	if err != nil {
		return err
	}
	if len(rest) != 2 {
		return usageError("status: want ID and CODE (see truc status -h)")
	}
	id, code := rest[0], edoc.ParseStatusCode(rest[1])
	recall := code == edoc.StatusRecallRequested
	switch {
	case !recall && !slices.Contains(recipientCodes, string(code)):
		return usageError(fmt.Sprintf("status: %q is not a status code a recipient sends: %s, or 13 to recall a document you sent", rest[1], strings.Join(recipientCodes, ", ")))
	case !recall && !restapi.IsInboxID(id):
		return usageError(fmt.Sprintf("status: %q is not an inbox item ID (in- and 32 hex digits, as truc inbox lists them)", id))
	case recall && restapi.IsInboxID(id):
		return usageError("status: 13 recalls a document your agency sent: give its message ID (as truc send printed it), not an inbox item")
	case len([]rune(*description)) > restapi.MaxDescriptionChars:
		return usageError(fmt.Sprintf("status: --description has more than %d characters", restapi.MaxDescriptionChars))
	case len([]rune(*staff)) > restapi.MaxStaffChars:
		return usageError(fmt.Sprintf("status: --staff has more than %d characters", restapi.MaxStaffChars))
	}
	client, err := ef.client("status", stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var s restapi.Submitted
	if recall {
		s, err = client.Recall(ctx, id, restapi.RecallRequest{Description: *description, Staff: *staff}, recallKey(id, *description, *staff))
	} else {
		s, err = client.PostStatus(ctx, id, restapi.StatusRequest{Code: string(code), Description: *description, Staff: *staff})
	}
	if err != nil {
		fmt.Fprintf(stderr, "truc status: %s about %s: %v\n", code, id, err)
		return failed(exitFailure)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(stdout, s.ID)
	}
	note := ""
	if s.Replayed {
		note = " (already sent: the same message)"
	}
	fmt.Fprintf(stderr, "status %s (%s) about %s queued as %s%s; follow it with truc track %s\n", code, code.Meaning(), id, s.ID, note, s.ID)
	return nil
}

// recallKey is the Idempotency-Key of a recall: the same recall twice is
// one.
func recallKey(id, description, staff string) string {
	h := sha256.New()
	for _, s := range []string{id, description, staff} {
		fmt.Fprintf(h, "%d:%s", len(s), s)
	}
	return "recall:" + hex.EncodeToString(h.Sum(nil))[:32]
}
