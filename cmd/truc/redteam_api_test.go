package main

// Red-team findings on truc axis / truc edge (see the review report). Each
// test shows one defect and fails until it is fixed.

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"truc.vn/truc/adapters/directory"
	"truc.vn/truc/adapters/restapi"
	"truc.vn/truc/signing/demopki"
)

// redteamWorld writes a one-edge demo world (configs, PKI, tokens) without
// starting anything.
func redteamWorld(t *testing.T) (string, *devManifest) {
	t.Helper()
	dir := t.TempDir()
	m, err := devInit(dir, devOptions{Edges: 1, Agencies: 1, Host: "127.0.0.1", BasePort: freeBasePort(t, 3),
		KeyType: demopki.ECDSAP256, Prefix: "truc", FastTimes: true})
	if err != nil {
		t.Fatal(err)
	}
	return dir, m
}

// editFile rewrites the file at path with edit.
func editFile(t *testing.T, path string, edit func(string) string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	after := edit(string(b))
	if after == string(b) {
		t.Fatalf("%s: the edit changed nothing", path)
	}
	writeTestFile(t, path, after)
}

// TestRedteamAxisCheckConfigAcceptsUnstartable: -check-config says "ok"
// for axis configs that truc axis then refuses at start, after it has
// opened the store and created topics (directory.NewAdminHandler and
// NewSyncHandler are what startAxis calls in routes()). A sync token
// equal to an admin token is accepted too: every edge then holds an admin
// token of the axis.
func TestRedteamAxisCheckConfigAcceptsUnstartable(t *testing.T) {
	syncLine := regexp.MustCompile(`(?m)^    sync_tokens_sha256:\n        - [0-9a-f]{64}\n`)
	adminLine := regexp.MustCompile(`(?m)^(    admin_tokens_sha256:\n        - )[0-9a-f]{64}\n`)
	cases := []struct {
		name string
		edit func(dir, s string) string
	}{
		{"no sync tokens", func(_, s string) string { return syncLine.ReplaceAllString(s, "") }},
		{"admin token hash not hex", func(_, s string) string { return adminLine.ReplaceAllString(s, "${1}not-a-sha256\n") }},
		{"sync token is the admin token", func(dir, s string) string {
			admin, err := os.ReadFile(filepath.Join(dir, "tokens", "admin.token"))
			if err != nil {
				t.Fatal(err)
			}
			return syncLine.ReplaceAllString(s, "    sync_tokens_sha256:\n        - "+tokenHash(strings.TrimSpace(string(admin)))+"\n")
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, m := redteamWorld(t)
			path := filepath.Join(dir, m.Axis.Config)
			editFile(t, path, func(s string) string { return c.edit(dir, s) })
			var out, errb bytes.Buffer
			err := runAxis(context.Background(), []string{"--config", path, "-check-config"}, &out, &errb)
			if err != nil {
				return // refused: fixed
			}
			// It was accepted: show that starting would fail, or that the
			// sync token opens the admin API.
			cfg, lerr := loadAxisConfig(path)
			if lerr != nil {
				t.Fatalf("check-config said ok, loading says %v", lerr)
			}
			_, aerr := directory.NewAdminHandler(emptyDirectory(t), directory.AdminConfig{TokensSHA256: cfg.Directory.AdminTokens})
			_, serr := directory.NewSyncHandler(emptyDirectory(t), directory.SyncConfig{TokensSHA256: cfg.Directory.SyncTokens})
			overlap := false
			for _, a := range cfg.Directory.AdminTokens {
				for _, s := range cfg.Directory.SyncTokens {
					overlap = overlap || strings.EqualFold(a, s)
				}
			}
			t.Errorf("truc axis -check-config printed %q for a config it cannot run safely: admin API: %v; sync API: %v; a sync token is an admin token: %v",
				strings.TrimSpace(out.String()), aerr, serr, overlap)
		})
	}
}

// TestRedteamEdgeCheckConfigAcceptsUnstartable: an edge config with
// axis.url but no usable sync token passes -check-config (the token is
// never read), and truc edge then cannot start: the Syncer refuses an
// empty token, or the token file does not exist.
func TestRedteamEdgeCheckConfigAcceptsUnstartable(t *testing.T) {
	cases := []struct {
		name, from, to string
	}{
		{"no token", "    token_file: tokens/sync.token\n", ""},
		{"missing token file", "    token_file: tokens/sync.token\n", "    token_file: tokens/nope.token\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, m := redteamWorld(t)
			path := filepath.Join(dir, m.Edges[0].Config)
			editFile(t, path, func(s string) string { return strings.Replace(s, c.from, c.to, 1) })
			var out, errb bytes.Buffer
			if err := runEdge(context.Background(), []string{"--config", path, "-check-config"}, &out, &errb); err != nil {
				return // refused: fixed
			}
			cfg, err := loadEdgeConfig(path)
			if err != nil {
				t.Fatal(err)
			}
			token, terr := readToken(cfg.Axis.TokenFile, cfg.Axis.TokenEnv)
			s := directory.Syncer{URL: cfg.Axis.URL, Token: token}
			serr := s.SyncOnce(context.Background(), emptyDirectory(t))
			t.Errorf("truc edge -check-config printed %q, but the sync token does not load (%v) or the syncer refuses it (%v)",
				strings.TrimSpace(out.String()), terr, serr)
		})
	}
}

// TestRedteamEdgeShutdownEndsLongPolls: the edge serves the DMS API with
// serveHTTP, which never calls restapi.Handler.EndLongPolls. A DMS long
// polling (truc inbox --follow always is) holds the edge's shutdown for
// serveHTTP's whole 10 s grace, after which the store is closed under a
// request that is still running.
func TestRedteamEdgeShutdownEndsLongPolls(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker, an axis and an edge")
	}
	dir, m := redteamWorld(t)
	w, err := startDevWorld(context.Background(), dir, m, slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			w.stop()
			w.close()
		}
	}()
	client := clientFor(t, dir, m, 0)
	pctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	answered := make(chan error, 1)
	go func() {
		_, err := client.Inbox(pctx, restapi.InboxQuery{Wait: time.Minute})
		answered <- err
	}()
	waitInStack(t, "(*Handler).longPoll")

	start := time.Now()
	w.stop()
	took := time.Since(start)
	w.close()
	closed = true
	if took > 5*time.Second {
		t.Errorf("stopping the edge took %v with one long poll open; EndLongPolls should end it at once", took.Round(time.Millisecond))
	}
	select {
	case err := <-answered:
		if err != nil {
			t.Errorf("the long poll ended with %v, want an empty page", err)
		}
	case <-time.After(time.Second):
		t.Error("the long poll is still open after the edge stopped and closed its store")
	}
}

// waitInStack waits until some goroutine's stack holds fn.
func waitInStack(t *testing.T, fn string) {
	t.Helper()
	buf := make([]byte, 4<<20)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if n := runtime.Stack(buf, true); bytes.Contains(buf[:n], []byte(fn)) {
			return
		}
	}
	t.Fatalf("no goroutine in %s", fn)
}

func emptyDirectory(t *testing.T) *directory.Directory {
	t.Helper()
	d, err := directory.New(directory.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}
