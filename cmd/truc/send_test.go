package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"truc.vn/truc/adapters/restapi"
	"truc.vn/truc/adapters/restapi/restapitest"
	"truc.vn/truc/bus"
)

// The agencies of the API tests: the DMS under test acts for Hà Nội; the
// ministry's DMS shares the edge.
const (
	apiHanoi = "000.00.00.H26"
	apiBNV   = "000.00.00.G09"
	apiVPCP  = "000.00.00.G22"

	apiToken    = "hanoi-dms-token-0123456789abcdef0123"
	apiTokenEnv = "TRUC_TEST_API_TOKEN"
)

// apiEdge is an edge API over a map-backed Backend, served over HTTP.
type apiEdge struct {
	url string
	mem *restapitest.Memory
}

func newAPIEdge(t *testing.T) *apiEdge {
	t.Helper()
	mem := restapitest.NewMemory()
	h, err := restapi.New(restapi.Config{Tokens: []restapi.Token{
		{Name: "hanoi-dms", SHA256: restapi.HashToken(apiToken), OrganIDs: []string{apiHanoi}},
		{Name: "bnv-dms", SHA256: restapi.HashToken("bnv-token-0123456789abcdef0123456789"), OrganIDs: []string{apiBNV}},
	}}, mem, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		h.EndLongPolls()
		srv.Close()
	})
	t.Setenv(apiTokenEnv, apiToken)
	return &apiEdge{url: srv.URL, mem: mem}
}

// apiRun runs truc send or truc inbox in-process with ctx (args[0] says
// which) and returns its output and exit code, as main would compute it.
func apiRun(ctx context.Context, args ...string) sigResult {
	var out, errOut bytes.Buffer
	cmd := runSend
	if args[0] == "inbox" {
		cmd = runInbox
	}
	err := cmd(ctx, args[1:], &out, &errOut)
	code := report(err, &errOut)
	return sigResult{out.String(), errOut.String(), code}
}

// writePackage writes pkg to a file in a fresh directory.
func writePackage(t *testing.T, name string, pkg []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, pkg, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSend(t *testing.T) {
	ctx := context.Background()
	e := newAPIEdge(t)
	pkg := restapitest.NewDocument(t, apiHanoi, apiBNV)
	file := writePackage(t, "letter.edxml", pkg)

	r := apiRun(ctx, "send", "--edge", e.url, "--token-env", apiTokenEnv, file)
	r.expect(t, exitOK, "queued as")
	id := strings.TrimSpace(r.stdout)
	out := e.mem.Sent()
	if len(out) != 1 || out[0].Message.ID != id || !bytes.Equal(out[0].Message.Package, pkg) {
		t.Fatalf("stdout %q, outbox %+v", r.stdout, out)
	}
	sum := sha256.Sum256(pkg)
	if out[0].IdempotencyKey != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Errorf("default Idempotency-Key %q", out[0].IdempotencyKey)
	}
	if strings.Contains(r.stdout+r.stderr, apiToken) {
		t.Fatal("the token is printed")
	}

	t.Run("again: same message", func(t *testing.T) {
		r := apiRun(ctx, "send", "--edge", e.url, "--token-env", apiTokenEnv, file)
		r.expect(t, exitOK, "already sent")
		if strings.TrimSpace(r.stdout) != id || len(e.mem.Sent()) != 1 {
			t.Fatalf("stdout %q, %d outbox entries", r.stdout, len(e.mem.Sent()))
		}
	})
	t.Run("token file and explicit key", func(t *testing.T) {
		tokFile := filepath.Join(t.TempDir(), "dms.token")
		if err := os.WriteFile(tokFile, []byte(apiToken+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		other := writePackage(t, "other.edxml", restapitest.NewDocument(t, apiHanoi, apiBNV))
		r := apiRun(ctx, "send", "--edge", e.url, "--token-file", tokFile, "--idempotency-key", "dms-7", other)
		r.expect(t, exitOK)
		out := e.mem.Sent()
		if out[len(out)-1].IdempotencyKey != "dms-7" {
			t.Fatalf("key %q", out[len(out)-1].IdempotencyKey)
		}
	})
	t.Run("several files, one refused, json", func(t *testing.T) {
		good := writePackage(t, "good.edxml", restapitest.NewDocument(t, apiHanoi, apiVPCP))
		foreign := writePackage(t, "foreign.edxml", restapitest.NewDocument(t, apiBNV, apiHanoi))
		r := apiRun(ctx, "send", "--edge", e.url, "--token-env", apiTokenEnv, "--json", good, foreign)
		r.expect(t, exitFailure, "foreign.edxml: FAILED", "From/OrganId", "1 of 2 packages failed")
		var res []map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
			t.Fatalf("stdout %q: %v", r.stdout, err)
		}
		if len(res) != 2 || res[0]["id"] == nil || res[0]["file"] != good || res[1]["error"] == nil || res[1]["id"] != nil {
			t.Fatalf("results %v", res)
		}
	})
	t.Run("wrong token", func(t *testing.T) {
		t.Setenv("TRUC_TEST_WRONG", "nope")
		r := apiRun(ctx, "send", "--edge", e.url, "--token-env", "TRUC_TEST_WRONG", file)
		r.expect(t, exitFailure, "401", "invalid-token")
	})
}

func TestSendWait(t *testing.T) {
	ctx := context.Background()
	e := newAPIEdge(t)
	file := writePackage(t, "letter.edxml", restapitest.NewDocument(t, apiHanoi, apiBNV, apiVPCP))
	args := func(wait string) []string {
		return []string{"send", "--edge", e.url, "--token-env", apiTokenEnv, "--wait", wait, "--interval", "10ms", "--json", file}
	}

	t.Run("times out", func(t *testing.T) {
		r := apiRun(ctx, args("150ms")...)
		r.expect(t, exitFailure, "0/2 recipients reported a status", "not every recipient reported a status within 150ms")
		var res []sendResult
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res[0].Outcome != "timeout" || res[0].Document == nil {
			t.Fatalf("%q: %v", r.stdout, err)
		}
	})

	id := e.mem.Sent()[0].Message.ID
	t.Run("arrives while waiting", func(t *testing.T) {
		go func() {
			time.Sleep(50 * time.Millisecond)
			e.mem.AddEvent(id, bus.TimelineEvent{Kind: bus.TimelineAccepted})
			e.mem.AddEvent(id, bus.TimelineEvent{Kind: bus.TimelineDelivered, Recipients: []string{apiBNV, apiVPCP}})
			time.Sleep(50 * time.Millisecond)
			e.mem.AddEvent(id, bus.TimelineEvent{Kind: bus.TimelineStatus, Recipients: []string{apiBNV}, StatusCode: "01"})
			time.Sleep(50 * time.Millisecond)
			e.mem.AddEvent(id, bus.TimelineEvent{Kind: bus.TimelineStatus, Recipients: []string{apiVPCP}, StatusCode: "01"})
		}()
		r := apiRun(ctx, args("10s")...)
		r.expect(t, exitOK, "000.00.00.G09 status 01", "2/2 recipients reported a status")
		var res []sendResult
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res[0].Outcome != "delivered" {
			t.Fatalf("%q: %v", r.stdout, err)
		}
	})
	t.Run("refused by a recipient's edge", func(t *testing.T) {
		file := writePackage(t, "letter2.edxml", restapitest.NewDocument(t, apiHanoi, apiBNV))
		r := apiRun(ctx, "send", "--edge", e.url, "--token-env", apiTokenEnv, file)
		r.expect(t, exitOK)
		id := strings.TrimSpace(r.stdout)
		e.mem.AddEvent(id, bus.TimelineEvent{Kind: bus.TimelineRefused, Recipients: []string{apiBNV}, Reason: "revoked"})
		r = apiRun(ctx, "send", "--edge", e.url, "--token-env", apiTokenEnv, "--wait", "5s", "--interval", "10ms", file)
		r.expect(t, exitFailure, "refused by its edge (revoked)")
	})
}

func TestSendUsage(t *testing.T) {
	ctx := context.Background()
	e := newAPIEdge(t)
	file := writePackage(t, "letter.edxml", restapitest.NewDocument(t, apiHanoi, apiBNV))
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no file", []string{"--edge", e.url, "--token-env", apiTokenEnv}, "no package"},
		{"no edge", []string{"--token-env", apiTokenEnv, file}, "--edge is required"},
		{"no token", []string{"--edge", e.url, file}, "--token-env or --token-file"},
		{"both token sources", []string{"--edge", e.url, "--token-env", apiTokenEnv, "--token-file", "x", file}, "not both"},
		{"unset variable", []string{"--edge", e.url, "--token-env", "TRUC_TEST_UNSET_VARIABLE", file}, "TRUC_TEST_UNSET_VARIABLE is not set"},
		{"token as a flag", []string{"--edge", e.url, "--token", apiToken, file}, "flag provided but not defined"},
		{"bad URL", []string{"--edge", "edge:8080", "--token-env", apiTokenEnv, file}, "not an http or https URL"},
		{"key with several files", []string{"--edge", e.url, "--token-env", apiTokenEnv, "--idempotency-key", "k", file, file}, "one FILE"},
		{"negative wait", []string{"--edge", e.url, "--token-env", apiTokenEnv, "--wait", "-1s", file}, "--wait"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := apiRun(ctx, append([]string{"send"}, tt.args...)...)
			r.expect(t, exitUsage, tt.want)
			if strings.Contains(r.stdout+r.stderr, apiToken) {
				t.Fatal("the token is printed")
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		apiRun(ctx, "send", "--edge", e.url, "--token-env", apiTokenEnv, filepath.Join(t.TempDir(), "nope.edxml")).
			expect(t, exitFailure, "no such file")
	})
	t.Run("help", func(t *testing.T) {
		r := apiRun(ctx, "send", "-h")
		r.expect(t, exitOK, "Usage: truc send", "Examples:", "--token-env", "Idempotency-Key")
	})
	if n := len(e.mem.Sent()); n != 0 {
		t.Fatalf("usage errors sent %d packages", n)
	}
}
