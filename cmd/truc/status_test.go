package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"truc.vn/truc/adapters/restapi"
	"truc.vn/truc/adapters/restapi/restapitest"
	"truc.vn/truc/bus"
	"truc.vn/truc/edoc"
)

// cmdRun runs one subcommand in-process and returns its output and exit
// code, as main would compute it.
func cmdRun(ctx context.Context, cmd func(context.Context, []string, io.Writer, io.Writer) error, args ...string) sigResult {
	var out, errOut bytes.Buffer
	code := report(cmd(ctx, args, &out, &errOut), &errOut)
	return sigResult{out.String(), errOut.String(), code}
}

func TestStatus(t *testing.T) {
	ctx := context.Background()
	e := newAPIEdge(t)
	pkg := restapitest.NewDocument(t, apiVPCP, apiHanoi)
	it, err := e.mem.Deliver(pkg, apiHanoi)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := e.mem.Deliver(restapitest.NewDocument(t, apiVPCP, apiBNV), apiBNV)
	if err != nil {
		t.Fatal(err)
	}
	base := []string{"--edge", e.url, "--token-env", apiTokenEnv}

	t.Run("posts a status", func(t *testing.T) {
		r := cmdRun(ctx, runStatus, append(base, "--description", "Đã vào sổ", "--staff", "Văn thư", it.ID, "03")...)
		r.expect(t, exitOK, "status 03 (accepted and registered)", "truc track")
		id := strings.TrimSpace(r.stdout)
		sent := e.mem.Sent()
		if len(sent) != 1 || sent[0].Message.ID != id {
			t.Fatalf("stdout %q, outbox %d", id, len(sent))
		}
		p, err := edoc.Parse(sent[0].Message.Package, edoc.Limits{})
		if err != nil || p.StatusCode() != edoc.StatusAccepted || p.Status.Description != "Đã vào sổ" || p.Status.Staff.Staff != "Văn thư" {
			t.Fatalf("status package: %v", err)
		}
	})
	t.Run("14 is 15, json", func(t *testing.T) {
		r := cmdRun(ctx, runStatus, append(base, "--json", it.ID, "14")...)
		r.expect(t, exitOK, "status 15")
		var s restapi.Submitted
		if err := json.Unmarshal([]byte(r.stdout), &s); err != nil || s.ID == "" {
			t.Fatalf("%q: %v", r.stdout, err)
		}
	})
	t.Run("refused by the edge", func(t *testing.T) {
		r := cmdRun(ctx, runStatus, append(base, theirs.ID, "03")...)
		r.expect(t, exitFailure, "404 not-found")
	})
	t.Run("01 twice", func(t *testing.T) {
		cmdRun(ctx, runStatus, append(base, it.ID, "01")...).expect(t, exitOK)
		cmdRun(ctx, runStatus, append(base, it.ID, "01")...).expect(t, exitFailure, "409 conflict")
	})
	t.Run("recall", func(t *testing.T) {
		s, _, err := e.mem.Submit(ctx, "hanoi-dms", []string{apiHanoi}, restapitest.NewDocument(t, apiHanoi, apiBNV, apiVPCP), "")
		if err != nil {
			t.Fatal(err)
		}
		cmdRun(ctx, runStatus, append(base, s.Message.ID, "13")...).expect(t, exitFailure, "422 unknown-document")
		if err := e.mem.AddEvent(s.Message.ID, bus.TimelineEvent{Kind: bus.TimelineAccepted}); err != nil {
			t.Fatal(err)
		}
		r := cmdRun(ctx, runStatus, append(base, "--description", "Gửi nhầm", s.Message.ID, "13")...)
		r.expect(t, exitOK, "status 13 (sender requests recall)")
		again := cmdRun(ctx, runStatus, append(base, "--description", "Gửi nhầm", s.Message.ID, "13")...)
		again.expect(t, exitOK, "already sent")
		if again.stdout != r.stdout {
			t.Fatalf("the same recall twice: %q then %q", r.stdout, again.stdout)
		}
	})
}

func TestStatusUsage(t *testing.T) {
	ctx := context.Background()
	e := newAPIEdge(t)
	base := []string{"--edge", e.url, "--token-env", apiTokenEnv}
	item := "in-0123456789abcdef0123456789abcdef"
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"nothing", base, "want ID and CODE"},
		{"unknown code", append(base, item, "07"), `"07" is not a status code`},
		{"three digits", append(base, item, "003"), "is not a status code"},
		{"not an item", append(base, "msg-1", "03"), "not an inbox item ID"},
		{"recall of an item", append(base, item, "13"), "not an inbox item"},
		{"no edge", []string{"--token-env", apiTokenEnv, item, "03"}, "--edge is required"},
		{"no token", []string{"--edge", e.url, item, "03"}, "--token-env or --token-file"},
		{"long description", append(base, "--description", strings.Repeat("ư", 2001), item, "02"), "--description has more than 2000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmdRun(ctx, runStatus, tt.args...).expect(t, exitUsage, tt.want)
		})
	}
	if n := e.mem.Calls("PostStatus") + e.mem.Calls("Submit"); n != 0 {
		t.Fatalf("wrong usage reached the edge %d times", n)
	}
	t.Run("help lists the codes", func(t *testing.T) {
		r := cmdRun(ctx, runStatus, "-h")
		r.expect(t, exitOK, "Usage: truc status", "02  refused by the clerk", "16  refuses", "13 asks the recipients", "Examples:")
	})
}
