package main

// Red-team tests of the bus core (axis, edges, stores), in one process on
// the demo world (startDevWorld): the test plays a malicious or unlucky
// edge by publishing records straight to truc.submit with the axis's own
// transport, and reads the axis ledger and the edges' stores directly.
// Each test is a finding: it fails while the defect is there.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"truc.vn/truc/bus"
	"truc.vn/truc/edoc"
	"truc.vn/truc/signing"
	"truc.vn/truc/signing/demopki"
	"truc.vn/truc/signing/notesig"
)

// busRTWorld is a demo world of edges edges (3 agencies each) where only
// the edges listed in running are started; the others exist in the
// directory (and have inbox topics) but are offline. syncEvery, if set,
// replaces every edge's directory sync period.
type busRTWorld struct {
	dir string
	m   *devManifest
	w   *devWorld
	ctx context.Context
}

func startBusRTWorld(t *testing.T, edges int, running []int, syncEvery string) *busRTWorld {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a broker, an axis and edges")
	}
	dir := t.TempDir()
	base := freeBasePort(t, 2+edges)
	m, err := devInit(dir, devOptions{Edges: edges, Agencies: 3, Host: "127.0.0.1", BasePort: base, KeyType: demopki.ECDSAP256, Prefix: "truc", FastTimes: true})
	if err != nil {
		t.Fatal(err)
	}
	if syncEvery != "" {
		for _, e := range m.Edges {
			busRTSetEdgeYAML(t, filepath.Join(dir, e.Config), func(cfg map[string]any) {
				cfg["axis"].(map[string]any)["sync_every"] = syncEvery
			})
		}
	}
	started := *m
	started.Edges = nil
	for _, i := range running {
		started.Edges = append(started.Edges, m.Edges[i])
	}
	ctx, cancel := context.WithCancel(context.Background())
	w, err := startDevWorld(ctx, dir, &started, slog.New(slog.DiscardHandler), os.Stderr)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); w.stop(); w.close() })
	return &busRTWorld{dir: dir, m: m, w: w, ctx: ctx}
}

func busRTSetEdgeYAML(t *testing.T, path string, edit func(map[string]any)) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	edit(cfg)
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// publish writes msgs to truc.submit as an edge would.
func (x *busRTWorld) publish(t *testing.T, msgs ...bus.Message) {
	t.Helper()
	if err := x.w.axis.transport.Publish(x.ctx, x.w.axis.transport.Topics().Submit(), msgs...); err != nil {
		t.Fatal(err)
	}
}

// submitted submits pkg on running edge i and waits until the axis has
// published it to every recipient edge.
func (x *busRTWorld) submitted(t *testing.T, i int, pkg []byte) bus.OutboxEntry {
	t.Helper()
	entry, _, err := x.w.edge(x.m.Edges[i].ID).edge.Submit(x.ctx, "", nil, pkg, "")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the axis delivers the letter", func() (bool, string) {
		e, err := x.w.axis.store.Ledger().Get(x.ctx, entry.Message.SHA256)
		if err != nil {
			return false, err.Error()
		}
		for _, r := range e.Routes {
			if r.State == bus.RoutePending {
				return false, fmt.Sprintf("%+v", e.Routes)
			}
		}
		return true, ""
	})
	return entry
}

func busRTRoute(e bus.Entry, edge string) bus.Route {
	for _, r := range e.Routes {
		if r.Edge == edge {
			return r
		}
	}
	return bus.Route{}
}

// Finding: acks are not authenticated. Any party that can write
// truc.submit (every edge can) acks a delivery in the name of another
// edge, and the axis stops redelivering a letter that edge never stored:
// an edge offline past the inbox topic's retention never gets it (I1).
// The bus.Ack comment says "a forged ack can at worst delay a
// redelivery"; it ends it.
func TestRedteamForgedAckEndsRedelivery(t *testing.T) {
	x := startBusRTWorld(t, 3, []int{0, 1}, "")
	sender, attacker, victim := x.m.Edges[0], x.m.Edges[1], x.m.Edges[2] // victim: offline
	entry := x.submitted(t, 0, letter(t, sender.OrganID, []string{victim.OrganID}, "1", nil, nil))
	sha := entry.Message.SHA256

	body, err := bus.Ack{Edge: victim.ID, SHA256: sha}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	x.publish(t, bus.Message{
		ID: "ack.forged.1", Type: bus.TypeAck, Key: entry.Message.Key, Sender: entry.Message.Sender,
		Recipients: []string{victim.OrganID}, SHA256: sha256.Sum256(body), Package: body,
		Attrs: map[string]string{bus.AttrEdge: attacker.ID},
	})
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		e, err := x.w.axis.store.Ledger().Get(x.ctx, sha)
		if err != nil {
			t.Fatal(err)
		}
		if r := busRTRoute(e, victim.ID); r.State == bus.RouteAcked {
			t.Fatalf("I1: an ack published by edge %s in the name of edge %s (offline, never stored the letter) marked the route acked at %s; the axis will never redeliver it", attacker.ID, victim.ID, r.AckedAt)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Finding: a refusal signed twice is two refusals. A recipient edge that
// handles the same inbox record twice (Kafka redelivers it after a crash
// before the commit, or the axis publishes it twice) signs a second
// rejection notice; the edge seal is ECDSA (randomised signatures), so the
// second notice has other bytes, and the axis, which deduplicates notices
// by the SHA-256 of their bytes only, logs it and forwards it as a new
// one: the sender's DMS sees the refusal twice (I2).
func TestRedteamDuplicateRefusalReachesSenderTwice(t *testing.T) {
	x := startBusRTWorld(t, 3, []int{0, 1}, "")
	sender, refuser := x.m.Edges[0], x.m.Edges[2]
	entry := x.submitted(t, 0, letter(t, sender.OrganID, []string{refuser.OrganID}, "1", nil, nil))

	ecfg, err := loadEdgeConfig(filepath.Join(x.dir, refuser.Config))
	if err != nil {
		t.Fatal(err)
	}
	seal, err := loadSeal(ecfg.Seal, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(seal.close)
	ns, err := notesig.NewSigner(bus.EdgeNoteName(refuser.ID), seal.key)
	if err != nil {
		t.Fatal(err)
	}
	// What Edge.refuse signs, twice: the same notice.
	n := bus.Notice{Edge: refuser.ID, SHA256: entry.Message.SHA256, MessageID: entry.Message.ID, Reason: string(signing.ReasonUntrustedChain), Detail: "the signer's chain is not trusted here"}
	var msgs []bus.Message
	for range 2 {
		body, err := n.Sign(ns)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, bus.Message{
			ID: "rej." + refuser.ID + "." + hex.EncodeToString(entry.Message.SHA256[:12]), Type: bus.TypeRejection,
			Key: entry.Message.Key, Sender: entry.Message.Sender, Recipients: []string{entry.Message.Sender},
			SHA256: sha256.Sum256(body), Package: body,
			Attrs: map[string]string{bus.AttrEdge: refuser.ID, bus.AttrFor: hex.EncodeToString(entry.Message.SHA256[:])},
		})
	}
	if msgs[0].SHA256 == msgs[1].SHA256 {
		t.Log("the two signatures of one notice are identical (deterministic seal key): the duplicate is caught by SHA-256")
	}
	x.publish(t, msgs[0])
	x.publish(t, msgs[1])

	senderEdge := x.w.edge(sender.ID).edge
	var refusals []bus.InboxItem
	eventually(t, 30*time.Second, "the refusal reaches the sender's inbox", func() (bool, string) {
		items, err := senderEdge.Inbox(x.ctx, 0, 100)
		if err != nil {
			return false, err.Error()
		}
		refusals = refusals[:0]
		for _, it := range items {
			if it.Type == bus.TypeRejection {
				refusals = append(refusals, it)
			}
		}
		return len(refusals) > 0, fmt.Sprintf("%d items", len(items))
	})
	time.Sleep(3 * time.Second) // let a second one arrive
	items, err := senderEdge.Inbox(x.ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	refusals = refusals[:0]
	for _, it := range items {
		if it.Type == bus.TypeRejection {
			refusals = append(refusals, it)
		}
	}
	if len(refusals) != 1 {
		t.Errorf("I2: edge %s refused letter %s once (the same notice, signed twice); the sender's DMS inbox has %d refusals: %+v", refuser.ID, entry.Message.ID, len(refusals), refusals)
	}
}

// Finding: a recipient edge refuses for good what only its directory
// cache does not know yet. The axis (the directory authority) accepts a
// letter from an agency onboarded a moment ago; the recipient edge, whose
// cache is up to sync_every old (30s by default), verifies it, gets
// unknown-sender, and sends a signed rejection notice: the axis marks the
// route answered and never redelivers it, and the valid recipient never
// gets the letter (I1). The same happens with signer-not-bound when an
// agency's seal certificate is renewed, and wrong-edge when an agency
// moves to another edge.
func TestRedteamStaleDirectoryRefusal(t *testing.T) {
	x := startBusRTWorld(t, 2, []int{0, 1}, "10s")
	recipient := x.m.Edges[1]
	const newOrgan = "000.00.00.H44"

	ca, err := demopki.Open(filepath.Join(x.dir, "pki"), demopki.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	qn, err := ca.Issue(demopki.IssueRequest{Kind: demopki.Agency, CommonName: "UBND tỉnh Quảng Ninh", Organization: "UBND tỉnh Quảng Ninh", Locality: "Quảng Ninh", Name: "edge-quangninh", Key: demopki.ECDSAP256})
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--axis", x.m.Axis.URL, "--token-file", filepath.Join(x.dir, x.m.Axis.TokenFile), "--edge", "quangninh", "--cert", qn.CertFile,
		"--agency", newOrgan + "=UBND tỉnh Quảng Ninh"}
	if err := runAxisOnboard(x.ctx, args, io.Discard, os.Stderr); err != nil {
		t.Fatalf("onboard: %v", err)
	}
	if _, ok := x.w.edge(recipient.ID).dir.Agency(newOrgan); ok {
		t.Skip("the recipient edge synced the directory already: the window was missed, nothing shown")
	}

	// The new edge's first letter, published as that edge would.
	signer, err := signing.NewSigner(qn.Key, qn.Chain)
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := signer.Sign(letter(t, newOrgan, []string{recipient.OrganID}, "1", nil, nil), signing.SignOptions{Resign: true, Limits: edoc.Limits{MaxBytes: 20 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := edoc.Parse(pkg, edoc.Limits{MaxBytes: 20 << 20})
	if err != nil {
		t.Fatal(err)
	}
	key, err := bus.RootKey(p.RootDocument())
	if err != nil {
		t.Fatal(err)
	}
	sha := sha256.Sum256(pkg)
	x.publish(t, bus.Message{
		ID: "quangninh.first.1", Type: bus.TypeDocument, Key: key, Sender: newOrgan, Recipients: []string{recipient.OrganID},
		SHA256: sha, Package: pkg, Attrs: map[string]string{bus.AttrEdge: "quangninh"},
	})

	eventually(t, 40*time.Second, "the new agency's letter in the recipient's inbox", func() (bool, string) {
		if _, _, err := x.w.edge(recipient.ID).edge.Item(x.ctx, bus.InboxID(sha)); err == nil {
			return true, ""
		}
		e, err := x.w.axis.store.Ledger().Get(x.ctx, sha)
		if err != nil {
			return false, err.Error()
		}
		r := busRTRoute(e, recipient.ID)
		if r.Rejected != "" {
			t.Fatalf("I1: edge %s refused the letter of %s for good (%s) because its directory cache did not know the agency yet; the axis accepted it (leaf %d) and will not redeliver it", recipient.ID, newOrgan, r.Rejected, e.Leaf)
		}
		return false, fmt.Sprintf("route %+v", r)
	})
}

// Finding: a rejection event names whoever the record header claims as
// the sender. An edge publishes garbage with the header truc-sender set to
// another edge's agency: the axis logs "submission rejected, sender <the
// victim>" as a signed leaf (Event.Sender "is set when it was known"; here
// it was never verified), and sends the rejection receipt to the victim's
// edge, not to the edge that published it.
func TestRedteamRejectionBlamesClaimedSender(t *testing.T) {
	x := startBusRTWorld(t, 2, []int{0, 1}, "")
	victim, attacker := x.m.Edges[0], x.m.Edges[1]
	junk := []byte("<not-an-edxml-package/>")
	sha := sha256.Sum256(junk)
	key, err := bus.RootKey(victim.OrganID, "forged,2026/1")
	if err != nil {
		t.Fatal(err)
	}
	x.publish(t, bus.Message{
		ID: "forged.1", Type: bus.TypeDocument, Key: key, Sender: victim.OrganID, Recipients: []string{attacker.OrganID},
		SHA256: sha, Package: junk, Attrs: map[string]string{bus.AttrEdge: attacker.ID},
	})
	var e bus.Entry
	eventually(t, 30*time.Second, "the axis rejects the forged record", func() (bool, string) {
		e, err = x.w.axis.store.Ledger().Get(x.ctx, sha)
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	leaf, err := x.w.axis.store.Log().Leaf(x.ctx, e.Leaf)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := bus.DecodeEvent(leaf)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Sender == victim.OrganID {
		t.Errorf("evidence: the signed log leaf %d says %s submitted a package rejected for %s; the sender was never verified (edge %s published it)", e.Leaf, ev.Sender, ev.Reason, attacker.ID)
	}
	if e.FromEdge == victim.ID {
		t.Errorf("the rejection receipt goes to the victim's edge %s, not to the edge %s that published the record", victim.ID, attacker.ID)
	}
}
