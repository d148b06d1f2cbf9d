package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"truc.vn/truc/bus"
	"truc.vn/truc/edoc"

	"truc.vn/truc/adapters/restapi"
	"truc.vn/truc/signing/demopki"
)

// TestDevWorldInProcess runs the whole exchange in this process (so that
// -race sees the axis, the edges and the stores together): a letter goes
// from one edge to another, is taken, and its 01 comes back; after a stop
// and a restart on the same data directory everything is still there and
// a second letter flows.
func TestDevWorldInProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker, an axis and two edges")
	}
	dir := t.TempDir()
	base := freeBasePort(t, 4)
	m, err := devInit(dir, devOptions{Edges: 2, Agencies: 3, Host: "127.0.0.1", BasePort: base, KeyType: demopki.ECDSAP256, Prefix: "truc", FastTimes: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := writeExampleLetter(dir, m); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	ctx := context.Background()

	w, err := startDevWorld(ctx, dir, m, log, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	sender, recipient := clientFor(t, dir, m, 0), clientFor(t, dir, m, 1)
	example, err := os.ReadFile(filepath.Join(dir, "examples", "letter.xml"))
	if err != nil {
		t.Fatal(err)
	}
	first := sendAndTake(t, ctx, sender, recipient, example, m.Edges[1].OrganID)
	checkAxisLetter(t, dir, m, example, m.Edges[1].OrganID)
	checkOnboard(t, ctx, dir, m)
	w.stop()
	w.close()

	// Resume: the sent letter, its timeline and the inbox survive.
	w, err = startDevWorld(ctx, dir, m, log, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { w.stop(); w.close() }()
	doc, err := sender.Document(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(statusesBy(doc)[m.Edges[1].OrganID], "01") {
		t.Fatalf("after a restart the timeline lost the 01: %+v", doc.Timeline)
	}
	second := letter(t, m.Edges[0].OrganID, []string{m.Edges[1].OrganID}, "2", nil, nil)
	sendAndTake(t, ctx, sender, recipient, second, m.Edges[1].OrganID)
	page, err := recipient.Inbox(ctx, restapi.InboxQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 2 {
		t.Fatalf("the recipient's inbox has %d items after two letters, want 2: %+v", len(page.Items), page.Items)
	}
}

func clientFor(t *testing.T, dir string, m *devManifest, i int) *restapi.Client {
	t.Helper()
	token, err := os.ReadFile(filepath.Join(dir, m.Edges[i].TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	c, err := restapi.NewClient(m.Edges[i].URL, strings.TrimSpace(string(token)), &http.Client{Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sendAndTake sends pkg through sender, waits for it at recipient, takes it
// and waits for the 01 at the sender. It returns the message ID.
func sendAndTake(t *testing.T, ctx context.Context, sender, recipient *restapi.Client, pkg []byte, to string) string {
	t.Helper()
	sub, err := sender.Submit(ctx, pkg, "")
	if err != nil {
		t.Fatal(err)
	}
	var item restapi.Item
	eventually(t, 30*time.Second, "the letter at the recipient", func() (bool, string) {
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
	body, err := recipient.Item(ctx, item.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(body, []byte("Signature")) {
		t.Error("the recipient got an unsigned package")
	}
	if _, err := recipient.Ack(ctx, item.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "01 at the sender", func() (bool, string) {
		doc, err := sender.Document(ctx, sub.ID)
		if err != nil {
			return false, err.Error()
		}
		return slices.Contains(statusesBy(doc)[to], "01"), "no 01 yet"
	})
	return sub.ID
}

// checkAxisLetter reads the axis's ledger view of a letter through the admin
// API and checks that recipient's route is acked and its latest status 01.
func checkAxisLetter(t *testing.T, dir string, m *devManifest, pkg []byte, recipient string) {
	t.Helper()
	p, err := edoc.Parse(pkg, edoc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	key, err := bus.RootKey(p.RootDocument())
	if err != nil {
		t.Fatal(err)
	}
	token, err := os.ReadFile(filepath.Join(dir, m.Axis.TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	get := func(token string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, m.Axis.URL+"/admin/v1/letters?key="+url.QueryEscape(key), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if resp := get("wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a wrong admin token: %s, want 401", resp.Status)
	}
	var body struct {
		Recipients []bus.RecipientState `json:"recipients"`
	}
	eventually(t, 10*time.Second, "the ack in the axis ledger", func() (bool, string) {
		resp := get(strings.TrimSpace(string(token)))
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, resp.Status
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			return false, err.Error()
		}
		for _, r := range body.Recipients {
			if r.OrganID == recipient {
				return r.Route == bus.RouteAcked && r.Status == "01", fmt.Sprintf("%+v", r)
			}
		}
		return false, "recipient not listed"
	})
}

// checkOnboard registers a new edge with `truc axis onboard` against the
// running axis and checks what it prints and what the directory holds.
func checkOnboard(t *testing.T, ctx context.Context, dir string, m *devManifest) {
	t.Helper()
	ca, err := demopki.Open(filepath.Join(dir, "pki"), demopki.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	seal, err := ca.Issue(demopki.IssueRequest{Kind: demopki.Agency, CommonName: "UBND tỉnh Quảng Ninh", Organization: "UBND tỉnh Quảng Ninh", Locality: "Quảng Ninh", Name: "edge-quangninh", Key: demopki.ECDSAP256})
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--axis", m.Axis.URL, "--token-file", filepath.Join(dir, m.Axis.TokenFile), "--edge", "quangninh", "--cert", seal.CertFile,
		"--agency", "000.00.00.H44=UBND tỉnh Quảng Ninh", "--agency", "000.00.01.H44=Sở Nội vụ tỉnh Quảng Ninh", "--parent", "000.00.00.H44"}
	var out, errOut bytes.Buffer
	if err := runAxisOnboard(ctx, args, &out, &errOut); err != nil {
		t.Fatalf("onboard: %v\n%s", err, errOut.String())
	}
	for _, want := range []string{"onboarded edge quangninh with 2 agencies", "truc.inbox.quangninh", "User:truc-edge-quangninh", "--operation Read --group truc-edge-quangninh"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("onboard output lacks %q:\n%s", want, out.String())
		}
	}
	bad := append([]string{}, args...)
	bad[3] = filepath.Join(dir, m.Edges[0].TokenFile) // a DMS token is not an admin token
	if err := runAxisOnboard(ctx, bad, &out, &errOut); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("onboarding with a DMS token: %v, want a 401 refusal", err)
	}
}

// startTestDevWorld makes a fast demo world of edges × agencies in a
// temporary directory and runs it in this process until the test ends.
func startTestDevWorld(t *testing.T, edges, agencies int) (string, *devManifest, *devWorld) {
	t.Helper()
	dir := t.TempDir()
	m, err := devInit(dir, devOptions{Edges: edges, Agencies: agencies, Host: "127.0.0.1", BasePort: freeBasePort(t, edges+2), KeyType: demopki.ECDSAP256, Prefix: "truc", FastTimes: true})
	if err != nil {
		t.Fatal(err)
	}
	w, err := startDevWorld(context.Background(), dir, m, slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.stop(); w.close() })
	return dir, m, w
}
