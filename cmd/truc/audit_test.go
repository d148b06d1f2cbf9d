package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"truc.vn/truc/adapters/restapi"
	"truc.vn/truc/bus"
	"truc.vn/truc/bus/audit"
	"truc.vn/truc/edoc"
	"truc.vn/truc/signing/notesig"
	"truc.vn/truc/signing/signingtest"
)

// TestAuditDevWorld exports the bundle of a letter from a real axis (the
// demo world, in this process) through the audit API and verifies it with
// the CLI: as is, years later, and after tampering.
func TestAuditDevWorld(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker, an axis and two edges")
	}
	dir, m, w := startTestDevWorld(t, 2, 2)
	ctx := context.Background()
	archCtx, stopArch := context.WithCancel(ctx)
	defer stopArch()
	go w.axis.runCRLArchive(archCtx)

	sender, recipient := clientFor(t, dir, m, 0), clientFor(t, dir, m, 1)
	pkg := letter(t, m.Edges[0].OrganID, []string{m.Edges[1].OrganID}, "77", nil, nil)
	id := sendAndTake(t, ctx, sender, recipient, pkg, m.Edges[1].OrganID)
	var itemID string
	page, err := recipient.Inbox(ctx, restapi.InboxQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range page.Items {
		if it.MessageID == id {
			itemID = it.ID
		}
	}
	if _, err := recipient.PostStatus(ctx, itemID, restapi.StatusRequest{Code: "03", Staff: "Văn thư"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "03 at the sender", func() (bool, string) {
		doc, err := sender.Document(ctx, id)
		if err != nil {
			return false, err.Error()
		}
		for _, s := range statusesBy(doc)[m.Edges[1].OrganID] {
			if s == "03" {
				return true, ""
			}
		}
		return false, "no 03 yet"
	})
	p, err := edoc.Parse(pkg, edoc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	key, err := bus.RootKey(p.RootDocument())
	if err != nil {
		t.Fatal(err)
	}

	mux := http.NewServeMux()
	w.axis.auditRoutes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	adminToken := filepath.Join(dir, m.Axis.TokenFile)
	out := filepath.Join(t.TempDir(), "letter.zip")

	// The acceptance and the statuses are under a checkpoint within a
	// second; export retries until then.
	var stdout, stderr bytes.Buffer
	if err := runAudit(ctx, []string{"export", "--axis", srv.URL, "--token-file", adminToken, "--document", key, "-o", out}, &stdout, &stderr); err != nil {
		t.Fatalf("export: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "wrote "+out) {
		t.Errorf("export output:\n%s", stdout.String())
	}
	// A rotation happened before: the previous key is listed after the
	// current one.
	oldKey, err := notesig.NewSigner("truc.vn/axis/"+m.Axis.OrganID, signingtest.NewKey(t, signingtest.P256))
	if err != nil {
		t.Fatal(err)
	}
	acfg, err := loadAxisConfig(filepath.Join(dir, m.Axis.Config))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(acfg.DataDir, previousLogKeysFile), []byte("# before 2026-11\n"+oldKey.Verifier().String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := get(t, srv.URL+"/v1/log/keys", "")
	if lines := strings.Split(strings.TrimSpace(string(keys)), "\n"); len(lines) != 2 || lines[0] != w.axis.logKey || lines[1] != oldKey.Verifier().String() {
		t.Errorf("GET /v1/log/keys after a rotation:\n%s", keys)
	}
	keysFile := filepath.Join(t.TempDir(), "axis-keys.txt")
	if err := os.WriteFile(keysFile, keys, 0o600); err != nil {
		t.Fatal(err)
	}
	rootPEM := filepath.Join(dir, "pki", "root-ca.pem")

	verifyCLI := func(args ...string) (string, int) {
		var o, e bytes.Buffer
		err := runAudit(ctx, append([]string{"verify", out, "--axis-key", "@" + keysFile}, args...), &o, &e)
		return o.String() + e.String(), report(err, io.Discard)
	}
	text, code := verifyCLI("--summary")
	if code != exitOK {
		t.Fatalf("the exported bundle does not verify (exit %d):\n%s", code, text)
	}
	for _, want := range []string{"verdict: " + out + " verifies", "trạng thái 01 (đã đến)", "status 03 (accepted)", "delivered to edge " + m.Edges[1].ID} {
		if !strings.Contains(text, want) {
			t.Errorf("the verify output lacks %q:\n%s", want, text)
		}
	}
	if _, err := os.Stat(rootPEM); err == nil {
		if text, code := verifyCLI("--trust-root", rootPEM); code != exitOK || !strings.Contains(text, "anchored in a trust root the auditor supplied") {
			t.Errorf("with the demo root (exit %d):\n%s", code, text)
		}
	}
	// Years later: the demo certificates have expired, the CRLs are stale.
	if text, code := verifyCLI("--now", time.Now().AddDate(12, 0, 0).Format(time.RFC3339)); code != exitOK {
		t.Errorf("verifying twelve years later (exit %d):\n%s", code, text)
	}
	// truc audit key gives the log key from the seal certificate.
	var ko bytes.Buffer
	if err := runAudit(ctx, []string{"key", "--name", "truc.vn/axis/" + m.Axis.OrganID, "--cert", acfg.Seal.Cert}, &ko, io.Discard); err != nil || strings.TrimSpace(ko.String()) != w.axis.logKey {
		t.Errorf("audit key: %v: %q, want %q", err, ko.String(), w.axis.logKey)
	}
	// The edges witness the log: once both cosigned a checkpoint covering
	// the letter, a new export carries their cosignatures, and an auditor
	// can require two.
	var witnessArgs []string
	for _, e := range m.Edges {
		ecfg, err := loadEdgeConfig(filepath.Join(dir, e.Config))
		if err != nil {
			t.Fatal(err)
		}
		var wk bytes.Buffer
		if err := runAudit(ctx, []string{"key", "--name", bus.EdgeNoteName(e.ID), "--cert", ecfg.Seal.Cert}, &wk, io.Discard); err != nil {
			t.Fatal(err)
		}
		witnessArgs = append(witnessArgs, "--witness-key", strings.TrimSpace(wk.String()))
	}
	size, err := w.axis.store.Log().Size(ctx)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "a checkpoint covering the letter cosigned by both edges", func() (bool, string) {
		cp, err := w.axis.store.Log().LatestCosigned(ctx, 2)
		if err != nil || cp.Size < size {
			return false, fmt.Sprintf("%d < %d, %v", cp.Size, size, err)
		}
		return true, ""
	})
	witnessed := filepath.Join(t.TempDir(), "witnessed.zip")
	if err := runAudit(ctx, []string{"export", "--axis", srv.URL, "--token-file", adminToken, "--document", key, "-o", witnessed}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	var wo bytes.Buffer
	if err := runAudit(ctx, append([]string{"verify", witnessed, "--axis-key", "@" + keysFile, "--min-witnesses", "2"}, witnessArgs...), &wo, &wo); err != nil {
		t.Errorf("a bundle cosigned by both edges, two required: %v\n%s", err, wo.String())
	}
	wo.Reset()
	if err := runAudit(ctx, append([]string{"verify", witnessed, "--axis-key", "@" + keysFile, "--min-witnesses", "3"}, witnessArgs...), &wo, &wo); err == nil {
		t.Errorf("three cosignatures required of a bundle with two: it verifies\n%s", wo.String())
	}
	// JSON.
	text, code = verifyCLI("--json")
	var js verifyJSON
	if err := json.Unmarshal([]byte(text), &js); err != nil || !js.OK || js.Key != key || code != exitOK {
		t.Errorf("--json: %v %+v", err, js)
	}

	// A tampered bundle: a byte of the document package.
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	b, err := audit.Decode(bytes.NewReader(data), int64(len(data)), audit.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range b.Packages {
		if b.Packages[i].SHA256 == b.Document {
			b.Packages[i].Bytes = bytes.Replace(b.Packages[i].Bytes, []byte("77"), []byte("78"), 1)
		}
	}
	var buf bytes.Buffer
	if err := b.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	text, code = verifyCLI()
	if code != exitFailure || !strings.Contains(text, "FAIL package") || !strings.Contains(text, "DOES NOT VERIFY") {
		t.Errorf("a tampered bundle (exit %d):\n%s", code, text)
	}

	// On an edge: the sender's edge asks the axis for the evidence with a
	// request signed by its seal and puts in the packages it holds (its
	// document, the statuses it received).
	sendEdge := w.edge(m.Edges[0].ID)
	eb, warnings, err := exportFromEdge(ctx, sendEdge.cfg.ID, sendEdge.store.Edge(), sendEdge.seal.key, srv.URL, id, time.Minute)
	if err != nil || len(warnings) > 0 {
		t.Fatalf("export on the edge: %v %q", err, warnings)
	}
	for _, p := range eb.Packages {
		if p.Withheld {
			t.Errorf("the sender's edge did not put in package %x", p.SHA256[:8])
		}
	}
	var ebuf bytes.Buffer
	if err := eb.Encode(&ebuf); err != nil {
		t.Fatal(err)
	}
	edgeOut := filepath.Join(t.TempDir(), "edge.zip")
	if err := os.WriteFile(edgeOut, ebuf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var eo bytes.Buffer
	if err := runAudit(ctx, []string{"verify", edgeOut, "--axis-key", "@" + keysFile}, &eo, &eo); err != nil {
		t.Fatalf("the edge's bundle does not verify: %v\n%s", err, eo.String())
	}
	// The recipient's edge holds the document (its inbox) and the statuses
	// it sent (its outbox).
	recvEdge := w.edge(m.Edges[1].ID)
	rb, _, err := exportFromEdge(ctx, recvEdge.cfg.ID, recvEdge.store.Edge(), recvEdge.seal.key, srv.URL, itemID, time.Minute)
	if err != nil {
		t.Fatalf("export on the recipient's edge: %v", err)
	}
	for _, p := range rb.Packages {
		if p.Withheld {
			t.Errorf("the recipient's edge did not put in package %x", p.SHA256[:8])
		}
	}
	// An edge that is no party to a letter gets nothing.
	var local []string
	for _, a := range w.axis.dir.Agencies() {
		if a.Edge == m.Edges[0].ID {
			local = append(local, a.OrganID)
		}
	}
	if len(local) < 2 {
		t.Fatalf("edge %s serves %d agencies, want 2", m.Edges[0].ID, len(local))
	}
	inside := letter(t, local[0], local[1:2], "78", nil, nil)
	sub, err := sender.Submit(ctx, inside, "")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the internal letter accepted", func() (bool, string) {
		doc, err := sender.Document(ctx, sub.ID)
		return err == nil && doc.Settled, "not settled"
	})
	var insideSHA [32]byte
	if doc, err := sender.Document(ctx, sub.ID); err == nil {
		hex.Decode(insideSHA[:], []byte(doc.SHA256))
	}
	ip, _ := edoc.Parse(inside, edoc.Limits{})
	insideKey, _ := bus.RootKey(ip.RootDocument())
	recvSigner, err := notesig.NewSigner(bus.EdgeNoteName(recvEdge.cfg.ID), recvEdge.seal.key)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		req  audit.EvidenceRequest
		want int
	}{
		{"no party", audit.EvidenceRequest{Edge: recvEdge.cfg.ID, Key: insideKey, Document: insideSHA, Time: time.Now()}, http.StatusForbidden},
		{"an old request", audit.EvidenceRequest{Edge: recvEdge.cfg.ID, Key: key, Document: b.Document, Time: time.Now().Add(-time.Hour)}, http.StatusForbidden},
		{"a party", audit.EvidenceRequest{Edge: recvEdge.cfg.ID, Key: key, Document: b.Document, Time: time.Now()}, http.StatusOK},
	} {
		msg, err := c.req.Sign(recvSigner)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post(srv.URL+"/v1/audit/evidence", "text/plain", bytes.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("evidence request, %s: %s, want %d", c.name, resp.Status, c.want)
		}
	}
	// A request signed by another key than the edge's seal.
	forger, _ := notesig.NewSigner(bus.EdgeNoteName(recvEdge.cfg.ID), signingtest.NewKey(t, signingtest.P256))
	msg, _ := audit.EvidenceRequest{Edge: recvEdge.cfg.ID, Key: key, Document: b.Document, Time: time.Now()}.Sign(forger)
	if resp, err := http.Post(srv.URL+"/v1/audit/evidence", "text/plain", bytes.NewReader(msg)); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("a forged evidence request: %v %v", resp, err)
	}

	// The log endpoints.
	cp := get(t, srv.URL+"/v1/log/checkpoint/"+strings.Split(string(get(t, m.Axis.URL+"/v1/log/checkpoint", "")), "\n")[1], "")
	if !bytes.HasPrefix(cp, []byte("truc.vn/axis/")) {
		t.Errorf("checkpoint at a size: %q", cp)
	}
	if proof := get(t, srv.URL+"/v1/log/inclusion?index=0&size=2", ""); len(bytes.Fields(proof)) != 1 {
		t.Errorf("inclusion proof of leaf 0 in a tree of 2: %q", proof)
	}
	if resp, err := http.Get(srv.URL + "/admin/v1/log/leaves?key=" + url.QueryEscape(key)); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("leaves without a token: %v %v", resp, err)
	}
	ecfg, err := loadEdgeConfig(filepath.Join(dir, m.Edges[0].Config))
	if err != nil {
		t.Fatal(err)
	}
	var leaves leavesResponse
	if err := json.Unmarshal(get(t, srv.URL+"/admin/v1/log/leaves?key="+url.QueryEscape(key), adminToken), &leaves); err != nil {
		t.Fatal(err)
	}
	if len(leaves.Leaves) < 5 || leaves.Index == "" {
		t.Errorf("leaves of the letter: %d leaves, index %q", len(leaves.Leaves), leaves.Index)
	}
	for _, c := range []struct{ path, token string }{
		{"/admin/v1/audit/bundle?document=" + url.QueryEscape(key), ecfg.Axis.TokenFile}, // a sync token is not an admin token
		{"/admin/v1/log/leaves?key=" + url.QueryEscape(key), ecfg.Axis.TokenFile},
		{"/admin/v1/audit/bundle?document=nothing", adminToken},
		{"/admin/v1/audit/bundle?document=" + url.QueryEscape(m.Edges[0].OrganID+"/nothing"), adminToken},
		{"/v1/log/checkpoint/123456789", ""},
		{"/v1/log/inclusion?index=5&size=2", ""},
	} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+c.path, nil)
		if c.token != "" {
			tok, _ := os.ReadFile(c.token)
			req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("GET %s: %s, want a 4xx refusal", c.path, resp.Status)
		}
	}
}

func get(t testing.TB, u, tokenFile string) []byte {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tokenFile != "" {
		tok, err := os.ReadFile(tokenFile)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", u, resp.Status, body)
	}
	return body
}

func TestAuditCLIUsage(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no subcommand", nil, "a subcommand is required"},
		{"unknown subcommand", []string{"frob"}, "unknown subcommand"},
		{"export without axis", []string{"export", "--token-file", "x", "--document", "a/b"}, "--axis is required"},
		{"export with a bad document", []string{"export", "--axis", "http://x", "--token-file", "x", "--document", "nothing"}, "--document"},
		{"verify without keys", []string{"verify", "b.zip"}, "--axis-key is required"},
		{"verify without a file", []string{"verify", "--axis-key", "x"}, "exactly one bundle"},
		{"verify with a bad key", []string{"verify", "b.zip", "--axis-key", "not-a-key"}, "--axis-key"},
		{"key without cert", []string{"key", "--name", "truc.vn/axis/x"}, "--name and --cert are required"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var o, e bytes.Buffer
			err := runAudit(ctx, c.args, &o, &e)
			if code := report(err, io.Discard); code != exitUsage || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("exit %d, %v; want a usage error with %q", code, err, c.want)
			}
		})
	}
	var o bytes.Buffer
	if err := runAudit(ctx, []string{"-h"}, &o, io.Discard); err != flagHelp || !strings.Contains(o.String(), "Examples:") {
		t.Errorf("-h: %v\n%s", err, o.String())
	}
}
