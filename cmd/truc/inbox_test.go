package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"truc.vn/truc/adapters/restapi"
	"truc.vn/truc/adapters/restapi/restapitest"
	"truc.vn/truc/bus"
)

func TestInbox(t *testing.T) {
	ctx := context.Background()
	e := newAPIEdge(t)
	var mine []bus.InboxItem
	pkgs := map[string][]byte{}
	for i, to := range []string{apiHanoi, apiBNV, apiHanoi} {
		pkg := restapitest.NewDocument(t, apiVPCP, to)
		it, err := e.mem.Deliver(pkg, to)
		if err != nil {
			t.Fatal(err)
		}
		if i != 1 {
			mine = append(mine, it)
			pkgs[it.ID] = pkg
		}
	}
	base := []string{"inbox", "--edge", e.url, "--token-env", apiTokenEnv}

	t.Run("table", func(t *testing.T) {
		r := apiRun(ctx, base...)
		r.expect(t, exitOK, "SEQ", "RECEIVED", mine[0].ID, mine[1].ID, "next: 3")
		if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 3 {
			t.Fatalf("%d lines:\n%s", len(lines), r.stdout)
		}
		if strings.Contains(r.stdout, "000.00.00.G09") {
			t.Fatal("another agency's item is listed")
		}
	})
	t.Run("paged, json", func(t *testing.T) {
		r := apiRun(ctx, append(base, "--limit", "1", "--json")...)
		r.expect(t, exitOK, "next: 3")
		var p restapi.InboxPage
		if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
			t.Fatalf("%q: %v", r.stdout, err)
		}
		if len(p.Items) != 2 || p.Items[0].ID != mine[0].ID || p.Items[1].ID != mine[1].ID || p.Next != 3 {
			t.Fatalf("%+v", p)
		}
	})
	t.Run("after", func(t *testing.T) {
		r := apiRun(ctx, append(base, "--after", "1")...)
		r.expect(t, exitOK, mine[1].ID)
		if strings.Contains(r.stdout, mine[0].ID) {
			t.Fatal("an item before the cursor is listed")
		}
	})
	t.Run("save and ack", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "incoming")
		r := apiRun(ctx, append(base, "--save", dir, "--ack")...)
		r.expect(t, exitOK, "saved", "acknowledged "+mine[0].ID, "acknowledged "+mine[1].ID)
		for _, it := range mine {
			b, err := os.ReadFile(filepath.Join(dir, it.ID+".xml"))
			if err != nil || !bytes.Equal(b, pkgs[it.ID]) {
				t.Fatalf("%s: %v", it.ID, err)
			}
			stored, _, _ := e.mem.Item(ctx, it.ID)
			if stored.TakenAt.IsZero() || stored.Status01 == "" {
				t.Fatalf("%s not taken: %+v", it.ID, stored)
			}
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 2 {
			t.Fatalf("%d files in %s (temporary files left?)", len(entries), dir)
		}
		// Again: the items are taken; files are rewritten, nothing acked twice.
		r = apiRun(ctx, append(base, "--save", dir, "--ack")...)
		r.expect(t, exitOK, "taken")
		if strings.Contains(r.stderr, "acknowledged") {
			t.Fatalf("acknowledged again:\n%s", r.stderr)
		}
	})
	t.Run("save fails: stops at the item", func(t *testing.T) {
		dir := t.TempDir()
		// A directory where the second package should go: the rename
		// fails, even for root.
		if err := os.Mkdir(filepath.Join(dir, mine[1].ID+".xml"), 0o700); err != nil {
			t.Fatal(err)
		}
		r := apiRun(ctx, append(base, "--save", dir)...)
		r.expect(t, exitFailure, mine[1].ID, "next: 1 (run again with --after 1")
		if _, err := os.Stat(filepath.Join(dir, mine[0].ID+".xml")); err != nil {
			t.Fatalf("the first item was not saved: %v", err)
		}
	})
}

func TestInboxFollow(t *testing.T) {
	e := newAPIEdge(t)
	dir := t.TempDir()
	old := followRetry
	followRetry = 10 * time.Millisecond
	t.Cleanup(func() { followRetry = old })
	e.mem.FailNext(errors.New("store closed")) // the first request fails: follow retries
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		r  sigResult
		wg sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		r = apiRun(ctx, "inbox", "--edge", e.url, "--token-env", apiTokenEnv, "--follow", "--wait", "5", "--save", dir, "--ack", "--json")
	}()
	var ids []string
	for range 3 {
		time.Sleep(30 * time.Millisecond)
		it, err := e.mem.Deliver(restapitest.NewDocument(t, apiVPCP, apiHanoi), apiHanoi)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, it.ID)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		taken := 0
		for _, id := range ids {
			if it, _, _ := e.mem.Item(context.Background(), id); !it.TakenAt.IsZero() {
				taken++
			}
		}
		if taken == len(ids) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d items taken", taken, len(ids))
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	r.expect(t, exitOK, "next: 3", "500 internal", "retrying")
	var seen []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var p restapi.InboxPage
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		for _, it := range p.Items {
			seen = append(seen, it.ID)
		}
	}
	if strings.Join(seen, ",") != strings.Join(ids, ",") {
		t.Fatalf("listed %v, want %v", seen, ids)
	}
	for _, id := range ids {
		if _, err := os.Stat(filepath.Join(dir, id+".xml")); err != nil {
			t.Fatal(err)
		}
	}
}

func TestInboxUsage(t *testing.T) {
	ctx := context.Background()
	e := newAPIEdge(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"ack without save", []string{"--ack"}, "--ack needs --save"},
		{"limit zero", []string{"--limit", "0"}, "--limit"},
		{"bad wait", []string{"--wait", "soon"}, "whole seconds"},
		{"negative after", []string{"--after", "-1"}, "after"},
		{"an argument", []string{"extra"}, "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"inbox", "--edge", e.url, "--token-env", apiTokenEnv}, tt.args...)
			apiRun(ctx, args...).expect(t, exitUsage, tt.want)
		})
	}
	t.Run("wait in seconds or as a duration", func(t *testing.T) {
		for _, w := range []string{"1", "1s", "500ms"} {
			start := time.Now()
			apiRun(ctx, "inbox", "--edge", e.url, "--token-env", apiTokenEnv, "--wait", w).expect(t, exitOK, "next: 0")
			if d := time.Since(start); d < 500*time.Millisecond {
				t.Errorf("--wait %s returned after %v", w, d)
			}
		}
	})
	t.Run("edge down", func(t *testing.T) {
		apiRun(ctx, "inbox", "--edge", "http://127.0.0.1:1", "--token-env", apiTokenEnv).expect(t, exitFailure, "connect")
	})
	t.Run("help", func(t *testing.T) {
		apiRun(ctx, "inbox", "-h").expect(t, exitOK, "Usage: truc inbox", "Examples:", "--save", "--ack")
	})
}
