package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"truc.vn/truc/adapters/restapi"
	"truc.vn/truc/adapters/restapi/restapitest"
	"truc.vn/truc/bus"
)

func TestTrack(t *testing.T) {
	ctx := context.Background()
	e := newAPIEdge(t)
	send := func() string {
		t.Helper()
		s, _, err := e.mem.Submit(ctx, "hanoi-dms", []string{apiHanoi}, restapitest.NewDocument(t, apiHanoi, apiBNV, apiVPCP), "")
		if err != nil {
			t.Fatal(err)
		}
		return s.Message.ID
	}
	event := func(id string, ev bus.TimelineEvent) {
		t.Helper()
		if err := e.mem.AddEvent(id, ev); err != nil {
			t.Fatal(err)
		}
	}
	ict := time.FixedZone("ICT", 7*3600)
	base := []string{"--edge", e.url, "--token-env", apiTokenEnv}

	t.Run("table", func(t *testing.T) {
		id := send()
		event(id, bus.TimelineEvent{Kind: bus.TimelineAccepted, At: time.Date(2026, 1, 15, 9, 30, 1, 0, ict)})
		event(id, bus.TimelineEvent{Kind: bus.TimelineDelivered, Recipients: []string{apiBNV}, At: time.Date(2026, 1, 15, 9, 30, 2, 0, ict)})
		event(id, bus.TimelineEvent{Kind: bus.TimelineStatus, Recipients: []string{apiBNV}, StatusCode: "01", At: time.Date(2026, 1, 15, 9, 31, 0, 0, time.UTC)})
		r := cmdRun(ctx, runTrack, append(base, id)...)
		r.expect(t, exitOK, id, "RECIPIENT", apiBNV+"  status 01", apiVPCP+"  accepted",
			"accepted 2026-01-15 09:30:01, delivered 2026-01-15 09:30:02, 01 2026-01-15 16:31:00")
		if r.stderr != "" {
			t.Errorf("stderr without --follow: %q", r.stderr)
		}
	})
	t.Run("follow until final", func(t *testing.T) {
		id := send()
		done := make(chan sigResult, 1)
		go func() {
			done <- cmdRun(ctx, runTrack, append(base, "--follow", "--interval", "5ms", id)...)
		}()
		for _, ev := range []bus.TimelineEvent{
			{Kind: bus.TimelineAccepted},
			{Kind: bus.TimelineDelivered, Recipients: []string{apiBNV, apiVPCP}},
			{Kind: bus.TimelineStatus, Recipients: []string{apiBNV}, StatusCode: "06"},
			{Kind: bus.TimelineStatus, Recipients: []string{apiVPCP}, StatusCode: "02"},
		} {
			time.Sleep(30 * time.Millisecond)
			event(id, ev)
		}
		var r sigResult
		select {
		case r = <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("truc track --follow did not end when every recipient was final")
		}
		r.expect(t, exitOK, "2/2 recipients final", "0/2 recipients final", apiVPCP+"  status 02")
		if n := strings.Count(r.stderr, id+": "); n < 3 {
			t.Errorf("%d progress lines:\n%s", n, r.stderr)
		}
	})
	t.Run("follow ends on Ctrl-C", func(t *testing.T) {
		id := send()
		cctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(50*time.Millisecond, cancel)
		r := cmdRun(cctx, runTrack, append(base, "--follow", "--interval", "5ms", id)...)
		r.expect(t, exitOK, "0/2 recipients final", "queued")
	})
	t.Run("timeout", func(t *testing.T) {
		id := send()
		r := cmdRun(ctx, runTrack, append(base, "--follow", "--interval", "5ms", "--timeout", "60ms", id)...)
		r.expect(t, exitFailure, "not every recipient reached a final state within 60ms")
	})
	t.Run("refused", func(t *testing.T) {
		id := send()
		event(id, bus.TimelineEvent{Kind: bus.TimelineAccepted})
		event(id, bus.TimelineEvent{Kind: bus.TimelineRefused, Recipients: []string{apiVPCP}, Reason: "signer-not-bound", Detail: "no binding"})
		event(id, bus.TimelineEvent{Kind: bus.TimelineStatus, Recipients: []string{apiBNV}, StatusCode: "06"})
		r := cmdRun(ctx, runTrack, append(base, "--follow", "--json", id)...)
		r.expect(t, exitFailure, "1 of 2 recipients will not get it", "signer-not-bound")
		var d restapi.Document
		if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || !d.Final || d.Timeline[1].State != restapi.StateRefused {
			t.Fatalf("json: %+v %v", d, err)
		}
	})
	t.Run("not ours", func(t *testing.T) {
		s, _, err := e.mem.Submit(ctx, "bnv-dms", []string{apiBNV}, restapitest.NewDocument(t, apiBNV, apiHanoi), "")
		if err != nil {
			t.Fatal(err)
		}
		cmdRun(ctx, runTrack, append(base, s.Message.ID)...).expect(t, exitFailure, "404 not-found")
		cmdRun(ctx, runTrack, append(base, "--follow", s.Message.ID)...).expect(t, exitFailure, "404 not-found")
	})
}

func TestTrackUsage(t *testing.T) {
	ctx := context.Background()
	e := newAPIEdge(t)
	base := []string{"--edge", e.url, "--token-env", apiTokenEnv}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no ID", base, "want one message ID"},
		{"two IDs", append(base, "a", "b"), "want one message ID"},
		{"an inbox item", append(base, "in-0123456789abcdef0123456789abcdef"), "is an inbox item"},
		{"timeout without follow", append(base, "--timeout", "1m", "msg-1"), "--timeout goes with --follow"},
		{"zero interval", append(base, "--follow", "--interval", "0s", "msg-1"), "--interval must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmdRun(ctx, runTrack, tt.args...).expect(t, exitUsage, tt.want)
		})
	}
	cmdRun(ctx, runTrack, "--help").expect(t, exitOK, "Usage: truc track", "final", "Examples:")
}

// TestStatusTrackEndToEnd runs the new API paths over real edges (an
// in-process demo world: broker, axis, two edges with their bbolt stores
// and signing keys): directory search, a document built from metadata
// and a file, its attachment at the recipient, per-agency deliveries,
// truc status (06, then a recall from the sender) and truc track
// --follow until every recipient is final.
func TestStatusTrackEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker, an axis and two edges")
	}
	dir, m, _ := startTestDevWorld(t, 2, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sender, recipient := clientFor(t, dir, m, 0), clientFor(t, dir, m, 1)
	senderFlags := []string{"--edge", m.Edges[0].URL, "--token-file", filepath.Join(dir, m.Edges[0].TokenFile)}
	recipientFlags := []string{"--edge", m.Edges[1].URL, "--token-file", filepath.Join(dir, m.Edges[1].TokenFile)}
	hanoi, hanoiUnit := m.Edges[1].OrganID, "000.00.01.H26"

	found, err := sender.Agencies(ctx, restapi.AgencyQuery{Q: "ha noi"})
	if err != nil || len(found.Agencies) == 0 || found.Agencies[0].OrganID != hanoi {
		t.Fatalf("search for ha noi: %+v %v", found, err)
	}

	file := restapi.File{Name: "Tờ trình số 12.pdf", ContentType: "application/pdf", Data: []byte("%PDF-1.4\n% tờ trình\n%%EOF\n")}
	sub, err := sender.SubmitDocument(ctx, restapi.DocumentMetadata{
		From: m.Edges[0].OrganID, To: []string{hanoi, hanoiUnit},
		Code: restapi.DocumentCode{Number: "12", Notation: "VPCP-TTĐT"}, Subject: "Về việc thử nghiệm trục",
		TypeName: "Công văn", Promulgation: restapi.Promulgation{Place: "Hà Nội", Date: "2026-01-15"},
	}, []restapi.File{file}, "e2e-12")
	if err != nil {
		t.Fatal(err)
	}
	var item restapi.Item
	eventually(t, time.Minute, "the built letter at the recipient", func() (bool, string) {
		page, err := recipient.Inbox(ctx, restapi.InboxQuery{Wait: time.Second})
		if err != nil {
			return false, err.Error()
		}
		for _, it := range page.Items {
			if it.MessageID == sub.ID {
				item = it
				return true, ""
			}
		}
		return false, "not there"
	})
	att, err := recipient.ItemAttachment(ctx, item.ID, 1)
	if err != nil || att.Name != file.Name || !bytes.Equal(att.Data, file.Data) {
		t.Fatalf("the attachment at the recipient: %q %v", att.Name, err)
	}
	taken, err := recipient.Ack(ctx, item.ID)
	if err != nil || len(taken.Deliveries) != 2 || taken.Deliveries[0].Status01 == "" || taken.Deliveries[1].Status01 == "" {
		t.Fatalf("ack: %+v %v", taken.Deliveries, err)
	}
	cmdRun(ctx, runStatus, append(recipientFlags, "--description", "Đã xử lý xong", item.ID, "06")...).expect(t, exitOK, "status 06")

	r := cmdRun(ctx, runTrack, append(senderFlags, "--follow", "--interval", "200ms", "--timeout", "90s", sub.ID)...)
	r.expect(t, exitOK, "2/2 recipients final", hanoi+"  status 06", hanoiUnit+"  status 06")
	page, err := sender.Documents(ctx, restapi.DocumentQuery{Recipient: hanoiUnit, Type: "document"})
	if err != nil || len(page.Documents) != 1 || page.Documents[0].ID != sub.ID || !page.Documents[0].Final {
		t.Fatalf("the sender's list: %+v %v", page, err)
	}
	signed, err := sender.DocumentPackage(ctx, sub.ID)
	if err != nil || !bytes.Contains(signed, []byte("Signature")) {
		t.Fatalf("the sent package: %v", err)
	}

	recall := cmdRun(ctx, runStatus, append(senderFlags, "--description", "Gửi nhầm", sub.ID, "13")...)
	recall.expect(t, exitOK, "status 13")
	eventually(t, time.Minute, "the recall at the recipient", func() (bool, string) {
		page, err := recipient.Inbox(ctx, restapi.InboxQuery{After: item.Seq, Wait: time.Second})
		if err != nil {
			return false, err.Error()
		}
		for _, it := range page.Items {
			if it.Type == "status" && it.Status == "13" {
				return true, ""
			}
		}
		return false, "no 13 yet"
	})
}
