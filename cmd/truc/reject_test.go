package main

// Rejection and dead-letter tests of the bus, through real processes: the
// built binary runs the broker, the axis and three edges (proc_test.go);
// the test plays a malicious or buggy edge by publishing records straight
// to truc.submit, reads what the axis answers with consumer groups of its
// own, and drives the edge API over HTTP.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"go.yaml.in/yaml/v3"
	"golang.org/x/mod/sumdb/note"

	"truc.vn/truc/adapters/kafka"
	"truc.vn/truc/adapters/restapi"
	"truc.vn/truc/bus"
	"truc.vn/truc/edoc"
	"truc.vn/truc/signing"
	"truc.vn/truc/signing/notesig"
	"truc.vn/truc/signing/signingtest"
)

func TestRejections(t *testing.T) {
	if testing.Short() {
		t.Skip("rejection tests: start 5 processes")
	}
	began := time.Now()
	w := startProcWorld(t, 3, 3)
	x := newRejWorld(t, w)
	t.Logf("world up in %s", time.Since(began).Round(time.Millisecond))

	t.Run("AtTheAxis", x.testAtTheAxis)
	t.Run("AtTheEdgeAPI", x.testAtTheEdgeAPI)
	t.Run("DeadLetters", x.testDeadLetters)
	t.Run("RejectionNotice", x.testRejectionNotice)
	t.Logf("TestRejections took %s", time.Since(began).Round(time.Millisecond))
}

// rejWorld is the process world with what the rejection tests need: a
// tap on the topics, each edge's seal signer, a foreign PKI, the axis
// log's verifier key.
type rejWorld struct {
	w       *procWorld
	ctx     context.Context
	tap     *rejTap
	topics  bus.Topics
	seals   map[string]*signing.Signer   // by edge ID
	sealEE  map[string]*x509.Certificate // seal certificate by edge ID
	foreign *signingtest.PKI
	axisLog note.Verifiers

	vpcp, hanoi, tayninh string              // edge IDs
	organs               map[string][]string // edge ID → its OrganIds, head first
	seq                  int
}

func newRejWorld(t *testing.T, w *procWorld) *rejWorld {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	x := &rejWorld{
		w: w, ctx: ctx,
		seals: map[string]*signing.Signer{}, sealEE: map[string]*x509.Certificate{}, organs: map[string][]string{},
		vpcp: w.m.Edges[0].ID, hanoi: w.m.Edges[1].ID, tayninh: w.m.Edges[2].ID,
	}
	for organ, edge := range w.m.Agencies {
		x.organs[edge] = append(x.organs[edge], organ)
	}
	for _, e := range w.m.Edges {
		slices.Sort(x.organs[e.ID])
		if x.organs[e.ID][0] != e.OrganID {
			t.Fatalf("edge %s: head agency %s is not the first of %v", e.ID, e.OrganID, x.organs[e.ID])
		}
		cfg, err := loadEdgeConfig(filepath.Join(w.dir, e.Config))
		if err != nil {
			t.Fatal(err)
		}
		s, err := loadSeal(cfg.Seal, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.close)
		signer, err := signing.NewSigner(s.key, s.chain)
		if err != nil {
			t.Fatal(err)
		}
		x.seals[e.ID], x.sealEE[e.ID] = signer, s.chain[0]
	}
	acfg, err := loadAxisConfig(filepath.Join(w.dir, w.m.Axis.Config))
	if err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(filepath.Join(w.dir, "axis-log.key"))
	if err != nil {
		t.Fatal(err)
	}
	if x.axisLog, err = verifiersFromText(strings.TrimSpace(string(key))); err != nil {
		t.Fatal(err)
	}
	x.foreign = signingtest.NewPKI(t, signingtest.WithNow(time.Now()))
	x.tap = newRejTap(t, acfg.Kafka, w)
	x.topics = x.tap.tr.Topics()
	return x
}

// head returns the head agency of an edge, sub the i-th sub-unit.
func (x *rejWorld) head(edge string) string       { return x.organs[edge][0] }
func (x *rejWorld) sub(edge string, i int) string { return x.organs[edge][i] }

// number returns a fresh letter number (CodeNumber: at most 11
// characters, so the tag is short).
func (x *rejWorld) number(tag string) string {
	x.seq++
	return fmt.Sprintf("%d%s", x.seq, tag)
}

// sealed builds a letter and signs it with the seal of edge.
func (x *rejWorld) sealed(t *testing.T, edge, from string, to []string, number string) []byte {
	t.Helper()
	return x.sign(t, x.seals[edge], letter(t, from, to, number, nil, nil))
}

func (x *rejWorld) sign(t *testing.T, s *signing.Signer, pkg []byte) []byte {
	t.Helper()
	out, err := s.Sign(pkg, signing.SignOptions{Resign: true, Limits: edoc.Limits{MaxBytes: 20 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// asEdge returns the message an honest edge would publish for pkg: the
// routing headers read from the package itself.
func (x *rejWorld) asEdge(t *testing.T, edge string, pkg []byte) bus.Message {
	t.Helper()
	p, err := edoc.Parse(pkg, edoc.Limits{MaxBytes: 20 << 20})
	if err != nil {
		t.Fatal(err)
	}
	key, err := bus.RootKey(p.RootDocument())
	if err != nil {
		t.Fatal(err)
	}
	x.seq++
	m := bus.Message{
		ID:      fmt.Sprintf("rejtest.%s.%d", edge, x.seq),
		Type:    bus.TypeDocument,
		Key:     key,
		Sender:  p.Sender(),
		SHA256:  sha256.Sum256(pkg),
		Package: pkg,
		Attrs:   map[string]string{bus.AttrEdge: edge},
	}
	if p.Kind == edoc.KindStatus {
		root, _, _ := bus.ParseRootKey(key)
		m.Type, m.Recipients = bus.TypeStatus, []string{root}
		m.Attrs[bus.AttrStatus] = string(p.StatusCode())
	} else {
		m.Recipients = p.Recipients()
	}
	return m
}

// inboxes lists every item of every edge's DMS inbox, by edge.
func (x *rejWorld) inboxes(t *testing.T) map[string][]restapi.Item {
	t.Helper()
	out := map[string][]restapi.Item{}
	for _, e := range x.w.m.Edges {
		var after uint64
		for {
			page, err := x.w.api[e.ID].Inbox(x.ctx, restapi.InboxQuery{After: after, Limit: restapi.MaxInboxLimit})
			if err != nil {
				t.Fatalf("edge %s inbox: %v", e.ID, err)
			}
			out[e.ID] = append(out[e.ID], page.Items...)
			if len(page.Items) == 0 || page.Next == after {
				break
			}
			after = page.Next
		}
	}
	return out
}

// checkNoNewItems polls every DMS inbox for a while and fails on any item
// not in before.
func (x *rejWorld) checkNoNewItems(t *testing.T, before map[string][]restapi.Item, window time.Duration) {
	t.Helper()
	known := map[string]bool{}
	for _, items := range before {
		for _, it := range items {
			known[it.ID] = true
		}
	}
	deadline := time.Now().Add(window)
	for {
		for edge, items := range x.inboxes(t) {
			for _, it := range items {
				if !known[it.ID] {
					t.Fatalf("the DMS of edge %s got a new item: %+v", edge, it)
				}
			}
		}
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// At the axis

// rejCase is a record published to truc.submit that the axis must reject.
type rejCase struct {
	name   string
	msg    bus.Message
	edge   string // the edge whose inbox topic gets the receipt
	reason string // the exact reason code
	field  string // what the event's detail must name ("" for signing reasons, which name no field)
	// sender is the sender the logged event must name: the one read from
	// the verified package, "" when the package did not verify (the
	// header's claim proves nothing).
	sender string
}

func (x *rejWorld) testAtTheAxis(t *testing.T) {
	vpcp, hanoi, tayninh := x.vpcp, x.hanoi, x.tayninh
	g22, h26, h53 := x.head(vpcp), x.head(hanoi), x.head(tayninh)

	// An accepted letter first, to replay later: through the edge API,
	// until the recipient's DMS has it and the sender has its receipt.
	orig := letter(t, g22, []string{h26}, x.number(""), nil, nil)
	sub, err := x.w.api[vpcp].Submit(x.ctx, orig, "")
	if err != nil {
		t.Fatal(err)
	}
	var origBytes []byte
	eventually(t, 30*time.Second, "the letter to replay delivered and receipted", func() (bool, string) {
		doc, err := x.w.api[vpcp].Document(x.ctx, sub.ID)
		if err != nil {
			return false, err.Error()
		}
		if !doc.Settled {
			return false, "not settled"
		}
		b, err := x.w.api[hanoi].Item(x.ctx, "in-"+sub.SHA256[:32])
		if err != nil {
			return false, "not in the DMS inbox of " + hanoi + ": " + err.Error()
		}
		origBytes = b
		return true, ""
	})
	origSHA := sha256.Sum256(origBytes)
	if hex.EncodeToString(origSHA[:]) != sub.SHA256 {
		t.Fatalf("the recipient holds bytes hashing to %x, the sender signed %s", origSHA, sub.SHA256)
	}
	first := x.tap.waitReceipts(t, x.axisLog, vpcp, origSHA, bus.EventSubmissionAccepted, 1)[0]

	// The bad records, each a fresh package so that none is a duplicate
	// of another.
	foreignSigner, err := signing.NewSigner(x.foreign.LeafKey, x.foreign.Chain())
	if err != nil {
		t.Fatal(err)
	}
	tampered := x.sealed(t, vpcp, g22, []string{h26}, x.number("TAMPERME"))
	i := bytes.Index(tampered, []byte("TAMPERME"))
	if i < 0 {
		t.Fatal("no marker in the letter to tamper with")
	}
	tampered = bytes.Clone(tampered)
	tampered[i] = 'X' // one byte of the signed content

	bigBody := make([]byte, 12*1024*1024+512*1024)
	_, _ = rand.Read(bigBody)
	big := x.sign(t, x.seals[vpcp], letter(t, g22, []string{h26}, x.number(""), nil, bigBody))
	if len(big) <= 16<<20 || len(big) >= 20<<20-4096 {
		t.Fatalf("the big package is %d bytes; want over 16 MiB and a record under 20 MiB", len(big))
	}

	// A status about a letter the axis never saw.
	never := letter(t, g22, []string{h26}, x.number(""), nil, nil)
	status := x.sign(t, x.seals[hanoi], statusPackage(t, never, h26, edoc.StatusArrived, ""))

	mismatch := func(edit func(*bus.Message)) bus.Message {
		m := x.asEdge(t, vpcp, x.sealed(t, vpcp, g22, []string{h26, h53}, x.number("")))
		edit(&m)
		return m
	}
	cases := []rejCase{
		{name: "forged", edge: vpcp, reason: string(signing.ReasonUntrustedChain),
			msg: x.asEdge(t, vpcp, x.sign(t, foreignSigner, letter(t, g22, []string{h26}, x.number(""), nil, nil)))},
		{name: "tampered", edge: vpcp, reason: string(signing.ReasonDigestMismatch),
			msg: x.asEdge(t, vpcp, tampered)},
		{name: "unknown sender", edge: vpcp, reason: bus.RejectUnknownSender, field: "MessageHeader/From/OrganId",
			msg: x.asEdge(t, vpcp, x.sealed(t, vpcp, "000.00.99."+strings.Split(g22, ".")[3], []string{h26}, x.number("")))},
		// A package from hanoi's agency signed with vpcp's seal, published
		// by vpcp: the receipt goes back to the edge that published it.
		{name: "signer not bound", edge: vpcp, reason: bus.RejectSignerNotBound, field: "MessageHeader/From/OrganId",
			msg: x.asEdge(t, vpcp, x.sealed(t, vpcp, h26, []string{h53}, x.number("")))},
		{name: "unknown recipient", edge: vpcp, reason: bus.RejectUnknownRecipient, field: "To/OrganId", sender: g22,
			msg: x.asEdge(t, vpcp, x.sealed(t, vpcp, g22, []string{h26, "000.00.88." + strings.Split(h26, ".")[3]}, x.number("")))},
		{name: "too large", edge: vpcp, reason: bus.RejectTooLarge, field: "Package",
			msg: x.asEdge(t, vpcp, big)},
		{name: "header sender", edge: vpcp, sender: g22, reason: bus.RejectHeaderMismatch, field: "header truc-sender",
			msg: mismatch(func(m *bus.Message) { m.Sender = x.sub(vpcp, 1) })},
		{name: "header type", edge: vpcp, sender: g22, reason: bus.RejectHeaderMismatch, field: "header truc-type",
			msg: mismatch(func(m *bus.Message) { m.Type = bus.TypeStatus })},
		{name: "header recipients", edge: vpcp, sender: g22, reason: bus.RejectHeaderMismatch, field: "header truc-recipients",
			msg: mismatch(func(m *bus.Message) { m.Recipients = m.Recipients[:1] })},
		{name: "record key", edge: vpcp, sender: g22, reason: bus.RejectHeaderMismatch, field: "record key",
			msg: mismatch(func(m *bus.Message) { m.Key = g22 + "/not-the-document" })},
		{name: "unknown document", edge: hanoi, reason: bus.RejectUnknownDocument, field: "ResponseFor", sender: h26,
			msg: x.asEdge(t, hanoi, status)},
	}

	before := x.inboxes(t)
	for _, c := range cases {
		if err := x.tap.tr.Publish(x.ctx, x.topics.Submit(), c.msg); err != nil {
			t.Fatalf("%s: publishing: %v", c.name, err)
		}
	}
	// The replay: the exact bytes accepted earlier, under another message
	// ID, as a malicious edge would send them.
	replay := x.asEdge(t, vpcp, origBytes)
	receiptsBefore := len(x.tap.receipts(t, x.axisLog, vpcp, origSHA, bus.EventSubmissionAccepted))
	if err := x.tap.tr.Publish(x.ctx, x.topics.Submit(), replay); err != nil {
		t.Fatal(err)
	}

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := x.tap.waitReceipts(t, x.axisLog, c.edge, c.msg.SHA256, bus.EventSubmissionRejected, 1)[0]
			ev := r.ev
			if ev.Kind != bus.EventSubmissionRejected || ev.Reason != c.reason {
				t.Fatalf("event %s %q (%s), want %s %q", ev.Kind, ev.Reason, ev.Detail, bus.EventSubmissionRejected, c.reason)
			}
			if want := sha256.Sum256(c.msg.Package); ev.PackageSHA256 != want {
				t.Errorf("the event is about %x, the package hashes to %x", ev.PackageSHA256, want)
			}
			if ev.MessageID != c.msg.ID || ev.Sender != c.sender {
				t.Errorf("the event names message %s from %q, want %s from %q", ev.MessageID, ev.Sender, c.msg.ID, c.sender)
			}
			if c.field != "" && !strings.HasPrefix(ev.Detail, c.field+": ") {
				t.Errorf("the detail %q does not name the field %q", ev.Detail, c.field)
			}
			if len(r.msg.Recipients) != 1 || r.msg.Recipients[0] != c.msg.Sender {
				t.Errorf("the receipt is addressed to %v, want the sender %s", r.msg.Recipients, c.msg.Sender)
			}
			t.Logf("%s: leaf %d, %s", ev.Reason, r.r.Index, ev.Detail)
			if got := x.tap.deliveredAnywhere(c.msg.SHA256); len(got) > 0 {
				t.Errorf("the rejected package was published to %v", got)
			}
		})
	}

	t.Run("replay", func(t *testing.T) {
		if replay.SHA256 != origSHA {
			t.Fatal("the replay is not the accepted bytes")
		}
		rs := x.tap.waitReceipts(t, x.axisLog, vpcp, origSHA, bus.EventSubmissionAccepted, receiptsBefore+1)
		for _, r := range rs {
			if r.r.Index != first.r.Index || !bytes.Equal(r.r.Event, first.r.Event) {
				t.Errorf("a receipt for the replay has leaf %d event %s; the original has leaf %d event %s",
					r.r.Index, r.r.Event, first.r.Index, first.r.Event)
			}
		}
		if ev := rs[len(rs)-1].ev; ev.MessageID != sub.ID {
			t.Errorf("the replay's receipt names message %s, want the original %s", ev.MessageID, sub.ID)
		}
		if n := len(x.tap.receipts(t, x.axisLog, vpcp, origSHA, bus.EventSubmissionRejected)); n != 0 {
			t.Errorf("the replay got %d rejection receipts, want none (it is a duplicate, not a new letter)", n)
		}
		t.Logf("%d receipts, all for leaf %d", len(rs), first.r.Index)
	})

	t.Run("nothing reached a recipient", func(t *testing.T) {
		x.checkNoNewItems(t, before, 3*time.Second)
		for edge, items := range x.inboxes(t) {
			for _, it := range items {
				if it.SHA256 == sub.SHA256 && edge != hanoi {
					t.Errorf("edge %s has the replayed letter", edge)
				}
			}
		}
		if n := countSHA(x.inboxes(t)[hanoi], sub.SHA256); n != 1 {
			t.Errorf("the DMS of %s lists the replayed letter %d times, want 1", hanoi, n)
		}
	})
}

func countSHA(items []restapi.Item, sha string) int {
	n := 0
	for _, it := range items {
		if it.SHA256 == sha {
			n++
		}
	}
	return n
}

// ---------------------------------------------------------------------------
// At the edge API

func (x *rejWorld) testAtTheEdgeAPI(t *testing.T) {
	vpcp, hanoi := x.vpcp, x.hanoi
	g22, h26 := x.head(vpcp), x.head(hanoi)
	suffix := strings.Split(g22, ".")[3]
	token, err := os.ReadFile(filepath.Join(x.w.dir, x.w.m.Edges[0].TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	url := x.w.m.Edges[0].URL + "/v1/documents"

	overCap := bytes.Repeat([]byte("<a/>"), (16<<20+1024)/4)
	overBody := bytes.Repeat([]byte("<a/>"), (17<<20+4096)/4)
	cases := []struct {
		name   string
		body   []byte
		status int
		reason string
		field  string
	}{
		{"unknown recipient", letter(t, g22, []string{"000.00.88." + strings.Split(h26, ".")[3]}, x.number(""), nil, nil),
			http.StatusUnprocessableEntity, bus.RejectUnknownRecipient, "To[0]/OrganId"},
		{"recipient unknown among known", letter(t, g22, []string{h26, "000.00.77." + strings.Split(h26, ".")[3]}, x.number(""), nil, nil),
			http.StatusUnprocessableEntity, bus.RejectUnknownRecipient, "To[1]/OrganId"},
		{"another edge's agency as sender", letter(t, h26, []string{g22}, x.number(""), nil, nil),
			http.StatusUnprocessableEntity, bus.RejectUnknownSender, "From/OrganId"},
		{"sender not in the directory", letter(t, "000.00.99."+suffix, []string{h26}, x.number(""), nil, nil),
			http.StatusUnprocessableEntity, bus.RejectUnknownSender, "From/OrganId"},
		{"malformed XML", []byte(`<?xml version="1.0" encoding="UTF-8"?><edXML:edXMLEnvelope xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016"><edXML:edXMLHeader>`),
			http.StatusUnprocessableEntity, bus.RejectMalformed, "body"},
		{"DOCTYPE", []byte(`<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>`),
			http.StatusUnprocessableEntity, bus.RejectMalformed, "body"},
		{"over the package cap", overCap, http.StatusUnprocessableEntity, bus.RejectTooLarge, "body"},
		{"oversized body", overBody, http.StatusRequestEntityTooLarge, restapi.ReasonTooLarge, "body"},
	}

	before := x.inboxes(t)
	// What vpcp has published so far. Its last package, the letter of the
	// previous subtest, was receipted seconds ago: the tap has it.
	published := map[string]bool{}
	for _, d := range x.tap.submitted(vpcp) {
		published[fmt.Sprintf("%d/%d", d.Partition, d.Offset)] = true
	}
	if len(published) == 0 {
		t.Fatalf("the tap saw nothing edge %s published", vpcp)
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(x.ctx, http.MethodPost, url, bytes.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+string(trimNL(token)))
			req.Header.Set("Content-Type", "application/xml")
			req.Header.Set("Idempotency-Key", fmt.Sprintf("rejtest-api-%d", i))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/problem+json" {
				t.Fatalf("%d with Content-Type %q, want application/problem+json: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			var p restapi.Problem
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatalf("the problem report does not decode: %v: %s", err, body)
			}
			if resp.StatusCode != c.status || p.Status != c.status || p.Reason != c.reason || p.Field != c.field {
				t.Fatalf("got %d %s field %q (%s), want %d %s field %q", resp.StatusCode, p.Reason, p.Field, p.Detail, c.status, c.reason, c.field)
			}
			if p.Type != restapi.ProblemTypePrefix+c.reason || p.Detail == "" {
				t.Errorf("problem type %q detail %q", p.Type, p.Detail)
			}
			t.Logf("%d %s %s: %s", p.Status, p.Reason, p.Field, p.Detail)
		})
	}

	t.Run("changes nothing", func(t *testing.T) {
		x.checkNoNewItems(t, before, 2*time.Second)
		for _, d := range x.tap.submitted(vpcp) {
			if !published[fmt.Sprintf("%d/%d", d.Partition, d.Offset)] {
				t.Fatalf("edge %s published %s (%s) to %s during the refusals", vpcp, d.Message.ID, d.Message.Type, x.topics.Submit())
			}
		}
		// The refused submissions left no idempotency record: a good
		// package under the key of the first one is a new submission.
		good := letter(t, g22, []string{h26}, x.number(""), nil, nil)
		sub, err := x.w.api[vpcp].Submit(x.ctx, good, "rejtest-api-0")
		if err != nil {
			t.Fatalf("a good package under a refused submission's Idempotency-Key: %v", err)
		}
		if sub.Replayed {
			t.Fatal("a good package under a refused submission's Idempotency-Key was answered as a replay")
		}
		// The tap sees what vpcp publishes (the check above can fail)...
		x.tap.wait(t, x.topics.Submit(), "the good letter", 1, func(d bus.Delivery) bool {
			return d.Message.ID == sub.ID && !published[fmt.Sprintf("%d/%d", d.Partition, d.Offset)]
		})
		// ...and the letter arrives, so that later subtests start from a
		// quiet bus.
		eventually(t, 30*time.Second, "the good letter at "+hanoi, func() (bool, string) {
			_, err := x.w.api[hanoi].Item(x.ctx, "in-"+sub.SHA256[:32])
			return err == nil, fmt.Sprint(err)
		})
	})
}

// ---------------------------------------------------------------------------
// Dead letters

func (x *rejWorld) testDeadLetters(t *testing.T) {
	g22, h26 := x.head(x.vpcp), x.head(x.hanoi)
	valid := func(tag string) (bus.Message, []kafkago.Header) {
		body := []byte("rejtest dead letter " + tag + " " + x.number(""))
		m := bus.Message{
			ID: "rejtest.dlq." + strings.ReplaceAll(tag, " ", "-"), Type: bus.TypeDocument,
			Key: g22 + "/dlq-" + strings.ReplaceAll(tag, " ", "-"), Sender: g22, Recipients: []string{h26},
			SHA256: sha256.Sum256(body), Package: body, Attrs: map[string]string{bus.AttrEdge: x.vpcp},
		}
		return m, kafkaHeaders(m.WireHeaders())
	}
	without := func(hs []kafkago.Header, name string) []kafkago.Header {
		return slices.DeleteFunc(slices.Clone(hs), func(h kafkago.Header) bool { return h.Key == name })
	}
	set := func(hs []kafkago.Header, name, value string) []kafkago.Header {
		hs = without(hs, name)
		return append(hs, kafkago.Header{Key: name, Value: []byte(value)})
	}

	// A rejection notice claiming to come from hanoi, signed with a key
	// that is not hanoi's seal.
	impostor, err := notesig.NewSigner(bus.EdgeNoteName(x.hanoi), x.foreign.LeafKey)
	if err != nil {
		t.Fatal(err)
	}
	someSHA := sha256.Sum256([]byte("a package"))
	forgedNotice, err := bus.Notice{Edge: x.hanoi, SHA256: someSHA, MessageID: "rejtest.forged", Reason: "digest-mismatch", Detail: "forged"}.Sign(impostor)
	if err != nil {
		t.Fatal(err)
	}

	type dlqCase struct {
		name    string
		key     string
		headers []kafkago.Header
		value   []byte
		code    bus.Reason // "" when the cause is no message rule
		reason  string     // what dlq.reason must start with
		id      string     // the original ID dlq.id must keep, if any
	}
	var cases []dlqCase
	add := func(name string, code bus.Reason, reason string, edit func(m *bus.Message, hs []kafkago.Header) (string, []kafkago.Header, []byte)) {
		m, hs := valid(name)
		key, hs, value := edit(&m, hs)
		id := m.ID // DecodeMessage keeps a valid ID whatever else is wrong
		if !slices.ContainsFunc(hs, func(h kafkago.Header) bool { return h.Key == bus.HeaderID }) {
			id = ""
		}
		cases = append(cases, dlqCase{name: name, key: key, headers: hs, value: value, code: code, reason: reason, id: id})
	}
	add("no truc-id", bus.ReasonMissing, "message header truc-id: missing", func(m *bus.Message, hs []kafkago.Header) (string, []kafkago.Header, []byte) {
		return m.Key, without(hs, bus.HeaderID), m.Package
	})
	add("no truc-sender", bus.ReasonMissing, "message header truc-sender: missing", func(m *bus.Message, hs []kafkago.Header) (string, []kafkago.Header, []byte) {
		return m.Key, without(hs, bus.HeaderSender), m.Package
	})
	add("no truc-sha256", bus.ReasonMissing, "message header truc-sha256: missing", func(m *bus.Message, hs []kafkago.Header) (string, []kafkago.Header, []byte) {
		return m.Key, without(hs, bus.HeaderSHA256), m.Package
	})
	add("wrong truc-sha256", bus.ReasonHashMismatch, "message header truc-sha256: hash-mismatch", func(m *bus.Message, hs []kafkago.Header) (string, []kafkago.Header, []byte) {
		other := sha256.Sum256([]byte("other bytes"))
		return m.Key, set(hs, bus.HeaderSHA256, hex.EncodeToString(other[:])), m.Package
	})
	add("bad truc-sha256", bus.ReasonInvalid, "message header truc-sha256: invalid", func(m *bus.Message, hs []kafkago.Header) (string, []kafkago.Header, []byte) {
		return m.Key, set(hs, bus.HeaderSHA256, strings.ToUpper(hex.EncodeToString(m.SHA256[:]))), m.Package
	})
	add("unknown truc-type", bus.ReasonInvalid, "message header truc-type: invalid", func(m *bus.Message, hs []kafkago.Header) (string, []kafkago.Header, []byte) {
		return m.Key, set(hs, bus.HeaderType, "letter"), m.Package
	})
	add("wire version 2", bus.ReasonVersion, "message header truc-v: unsupported-version", func(m *bus.Message, hs []kafkago.Header) (string, []kafkago.Header, []byte) {
		return m.Key, set(hs, bus.HeaderVersion, "2"), m.Package
	})
	add("bad recipients", bus.ReasonInvalid, "message header truc-recipients[0]: invalid", func(m *bus.Message, hs []kafkago.Header) (string, []kafkago.Header, []byte) {
		return m.Key, set(hs, bus.HeaderRecipients, "not an organ id"), m.Package
	})
	add("duplicate truc-id", bus.ReasonDuplicate, "message header truc-id: duplicate", func(m *bus.Message, hs []kafkago.Header) (string, []kafkago.Header, []byte) {
		return m.Key, append(hs, kafkago.Header{Key: bus.HeaderID, Value: []byte("second")}), m.Package
	})
	add("record key without document", bus.ReasonInvalid, "message record key: invalid", func(m *bus.Message, hs []kafkago.Header) (string, []kafkago.Header, []byte) {
		return "no-slash-here", hs, m.Package
	})
	// Well-formed records the axis will never process.
	add("receipt on the submit topic", "", `type "receipt" is not accepted on `+x.topics.Submit(), func(m *bus.Message, hs []kafkago.Header) (string, []kafkago.Header, []byte) {
		return m.Key, set(hs, bus.HeaderType, string(bus.TypeReceipt)), m.Package
	})
	add("forged rejection notice", "", bus.RejectBadNotice+": Package: ", func(m *bus.Message, hs []kafkago.Header) (string, []kafkago.Header, []byte) {
		n := *m
		n.Type, n.Package, n.SHA256 = bus.TypeRejection, forgedNotice, sha256.Sum256(forgedNotice)
		n.Attrs = map[string]string{bus.AttrEdge: x.hanoi}
		return n.Key, kafkaHeaders(n.WireHeaders()), n.Package
	})

	before := x.inboxes(t)
	wr := &kafkago.Writer{
		Addr: kafkago.TCP(x.w.m.Broker), Topic: x.topics.Submit(), Balancer: &kafkago.Hash{},
		RequiredAcks: kafkago.RequireAll, BatchTimeout: 5 * time.Millisecond,
	}
	defer wr.Close()
	var recs []kafkago.Message
	for _, c := range cases {
		recs = append(recs, kafkago.Message{Key: []byte(c.key), Headers: c.headers, Value: c.value})
	}
	if err := wr.WriteMessages(x.ctx, recs...); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sha := sha256.Sum256(c.value)
			d := x.tap.wait(t, x.topics.DLQ(), "the dead letter", 1, func(d bus.Delivery) bool { return d.Message.SHA256 == sha })[0]
			m := d.Message
			if d.Err != nil || m.Type != bus.TypeDeadLetter || !bytes.Equal(m.Package, c.value) {
				t.Fatalf("dead letter: err %v, type %s, %d bytes; want a valid %s keeping the %d bytes", d.Err, m.Type, len(m.Package), bus.TypeDeadLetter, len(c.value))
			}
			a := m.Attrs
			if a[bus.AttrDeadLetterTopic] != x.topics.Submit() || a[bus.AttrDeadLetterOffset] == "" || a[bus.AttrDeadLetterPartition] == "" {
				t.Errorf("the dead letter does not say where the record was: %v", a)
			}
			if a[bus.AttrDeadLetterCode] != string(c.code) {
				t.Errorf("dlq.code %q, want %q", a[bus.AttrDeadLetterCode], c.code)
			}
			if !strings.HasPrefix(a[bus.AttrDeadLetterReason], c.reason) {
				t.Errorf("dlq.reason %q, want it to start with %q", a[bus.AttrDeadLetterReason], c.reason)
			}
			if a[bus.AttrDeadLetterID] != c.id {
				t.Errorf("dlq.id %q, want %q", a[bus.AttrDeadLetterID], c.id)
			}
			t.Logf("dlq.code=%q dlq.reason=%q", a[bus.AttrDeadLetterCode], a[bus.AttrDeadLetterReason])
			if got := x.tap.aboutAnywhere(sha); len(got) > 0 {
				t.Errorf("the dead-lettered record led to messages on %v", got)
			}
		})
	}
	t.Run("nothing reached a recipient", func(t *testing.T) {
		x.checkNoNewItems(t, before, 2*time.Second)
	})
}

func kafkaHeaders(hs []bus.Header) []kafkago.Header {
	out := make([]kafkago.Header, len(hs))
	for i, h := range hs {
		out[i] = kafkago.Header{Key: h.Key, Value: h.Value}
	}
	return out
}

// ---------------------------------------------------------------------------
// Rejection notice from a recipient edge

func (x *rejWorld) testRejectionNotice(t *testing.T) {
	vpcp, hanoi, tayninh := x.vpcp, x.hanoi, x.tayninh
	g22, h26, h53 := x.head(vpcp), x.sub(hanoi, 1), x.head(tayninh)

	// tayninh now trusts only a foreign root: it can verify nothing the
	// demo PKI signed.
	p := x.w.edges[tayninh]
	p.stop()
	rootFile := signingtest.WriteFile(t, x.w.dir, "foreign-root.pem", signingtest.CertPEM(x.foreign.Root.Cert))
	cfgFile := filepath.Join(x.w.dir, x.w.m.Edges[2].Config)
	raw, err := os.ReadFile(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["trust"] = map[string]any{"roots": []string{rootFile}}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgFile, out, 0o600); err != nil {
		t.Fatal(err)
	}
	x.w.restart(p)

	sub, err := x.w.api[vpcp].Submit(x.ctx, letter(t, g22, []string{h53, h26}, x.number(""), nil, nil), "")
	if err != nil {
		t.Fatal(err)
	}
	sha, err := hex.DecodeString(sub.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	letterSHA := [32]byte(sha)

	var doc restapi.Document
	eventually(t, 30*time.Second, "the refusal in the sender's timeline", func() (bool, string) {
		doc, err = x.w.api[vpcp].Document(x.ctx, sub.ID)
		if err != nil {
			return false, err.Error()
		}
		for _, rt := range doc.Timeline {
			if rt.OrganID == h53 && slices.ContainsFunc(rt.Events, func(e restapi.Event) bool { return e.Kind == "refused" }) {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", doc.Timeline)
	})
	for _, rt := range doc.Timeline {
		var refused []restapi.Event
		for _, e := range rt.Events {
			if e.Kind == "refused" {
				refused = append(refused, e)
			}
		}
		switch rt.OrganID {
		case h53:
			if len(refused) != 1 || refused[0].Reason != string(signing.ReasonUntrustedChain) || refused[0].Edge != tayninh {
				t.Errorf("the timeline of %s has refusals %+v; want one by edge %s for %s", h53, refused, tayninh, signing.ReasonUntrustedChain)
			}
		case h26:
			if len(refused) != 0 {
				t.Errorf("the timeline of %s, whose edge %s did not refuse, shows refusals %+v", h26, hanoi, refused)
			}
		}
	}

	// The notice tayninh signed, on truc.submit.
	notices := x.tap.wait(t, x.topics.Submit(), "tayninh's rejection notice", 1, func(d bus.Delivery) bool {
		return d.Message.Type == bus.TypeRejection && d.Message.Attrs[bus.AttrFor] == sub.SHA256
	})
	nm := notices[0].Message
	if nm.Attrs[bus.AttrEdge] != tayninh {
		t.Errorf("the notice was published by edge %q, want %s", nm.Attrs[bus.AttrEdge], tayninh)
	}
	nv, err := notesig.NewCertVerifier(bus.EdgeNoteName(tayninh), x.sealEE[tayninh])
	if err != nil {
		t.Fatal(err)
	}
	n, err := bus.OpenNotice(nm.Package, note.VerifierList(nv))
	if err != nil {
		t.Fatalf("the notice does not verify with %s's seal certificate: %v", tayninh, err)
	}
	if n.Edge != tayninh || n.SHA256 != letterSHA || n.Reason != string(signing.ReasonUntrustedChain) || n.MessageID != sub.ID {
		t.Errorf("notice %+v; want edge %s, the letter %s (%s), reason %s", n, tayninh, sub.ID, sub.SHA256, signing.ReasonUntrustedChain)
	}

	// The axis forwarded the same bytes to the sender's edge, whose DMS
	// sees the notice.
	fwd := x.tap.wait(t, mustInbox(t, x.topics, vpcp), "the forwarded notice", 1, func(d bus.Delivery) bool {
		return d.Message.Type == bus.TypeRejection && d.Message.SHA256 == nm.SHA256
	})
	if !bytes.Equal(fwd[0].Message.Package, nm.Package) || !slices.Equal(fwd[0].Message.Recipients, []string{g22}) {
		t.Errorf("the forwarded notice differs: recipients %v, %d bytes", fwd[0].Message.Recipients, len(fwd[0].Message.Package))
	}
	noticeItem := bus.InboxID(nm.SHA256)
	eventually(t, 10*time.Second, "the notice in the sender's DMS inbox", func() (bool, string) {
		body, err := x.w.api[vpcp].Item(x.ctx, noticeItem)
		if err != nil {
			return false, err.Error()
		}
		return bytes.Equal(body, nm.Package), "other bytes"
	})

	// The axis logged it: a rejection-notice event, receipted.
	t.Run("logged and receipted", func(t *testing.T) {
		var found []rejReceipt
		eventually(t, 10*time.Second, "a rejection-notice receipt", func() (bool, string) {
			found = nil
			for _, e := range x.w.m.Edges {
				found = append(found, x.tap.receipts(t, x.axisLog, e.ID, nm.SHA256, bus.EventRejectionNotice)...)
			}
			return len(found) > 0, "none on any inbox topic"
		})
		r := found[0]
		ev := r.ev
		if ev.Kind != bus.EventRejectionNotice || ev.Edge != tayninh || ev.Reason != string(signing.ReasonUntrustedChain) ||
			ev.PackageSHA256 != letterSHA || ev.MessageID != sub.ID || !slices.Equal(ev.Recipients, []string{h53}) {
			t.Errorf("event %+v", ev)
		}
		if r.edge != tayninh {
			t.Errorf("the receipt went to edge %s, want %s, whose notice it is", r.edge, tayninh)
		}
	})

	// The other recipient got the letter; tayninh did not, and the axis
	// does not send it again (the route is answered).
	eventually(t, 20*time.Second, "the letter at "+hanoi, func() (bool, string) {
		_, err := x.w.api[hanoi].Item(x.ctx, "in-"+sub.SHA256[:32])
		return err == nil, fmt.Sprint(err)
	})
	const quiet = 7 * time.Second // RedeliverAfter is 5s in the demo world, scanned every second
	time.Sleep(quiet)
	isLetter := func(d bus.Delivery) bool { return d.Message.SHA256 == letterSHA }
	if n := len(x.tap.records(mustInbox(t, x.topics, tayninh), isLetter)); n != 1 {
		t.Errorf("the letter was published to %s's inbox %d times in %s, want once", tayninh, n, quiet)
	}
	if n := len(x.tap.records(x.topics.Submit(), func(d bus.Delivery) bool {
		return d.Message.Type == bus.TypeRejection && d.Message.Attrs[bus.AttrFor] == sub.SHA256
	})); n != 1 {
		t.Errorf("%s sent %d rejection notices, want 1", tayninh, n)
	}
	items := x.inboxes(t)
	if n := countSHA(items[tayninh], sub.SHA256); n != 0 {
		t.Errorf("the DMS of %s, which cannot verify, lists the letter %d times", tayninh, n)
	}
	if n := countSHA(items[hanoi], sub.SHA256); n != 1 {
		t.Errorf("the DMS of %s lists the letter %d times, want 1", hanoi, n)
	}
}

func mustInbox(t *testing.T, topics bus.Topics, edge string) string {
	t.Helper()
	s, err := topics.Inbox(edge)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ---------------------------------------------------------------------------
// The tap: consumer groups of the test's own on the bus topics.

type rejTap struct {
	tr   *kafka.Transport
	mu   sync.Mutex
	recs map[string][]bus.Delivery // by topic
}

func newRejTap(t *testing.T, cfg kafka.Config, w *procWorld) *rejTap {
	t.Helper()
	cfg.ClientID = "truc-rejtest"
	tr, err := kafka.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	x := &rejTap{tr: tr, recs: map[string][]bus.Delivery{}}
	topics := []string{tr.Topics().Submit(), tr.Topics().DLQ()}
	for _, e := range w.m.Edges {
		topics = append(topics, mustInbox(t, tr.Topics(), e.ID))
	}
	var r [6]byte
	_, _ = rand.Read(r[:])
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, topic := range topics {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := tr.Consume(ctx, topic, "rejtest-"+hex.EncodeToString(r[:])+"-"+topic, func(_ context.Context, d bus.Delivery) error {
				x.mu.Lock()
				x.recs[d.Topic] = append(x.recs[d.Topic], d)
				x.mu.Unlock()
				return nil
			})
			if err != nil && ctx.Err() == nil {
				t.Errorf("tap on %s: %v", topic, err)
			}
		}()
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		_ = tr.Close()
	})
	return x
}

// records returns the records of topic that match.
func (x *rejTap) records(topic string, match func(bus.Delivery) bool) []bus.Delivery {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []bus.Delivery
	for _, d := range x.recs[topic] {
		if match(d) {
			out = append(out, d)
		}
	}
	return out
}

// wait waits until topic has at least n records that match.
func (x *rejTap) wait(t *testing.T, topic, what string, n int, match func(bus.Delivery) bool) []bus.Delivery {
	t.Helper()
	var got []bus.Delivery
	eventually(t, 30*time.Second, fmt.Sprintf("%s on %s", what, topic), func() (bool, string) {
		got = x.records(topic, match)
		return len(got) >= n, fmt.Sprintf("%d of %d", len(got), n)
	})
	return got
}

// rejReceipt is a verified receipt read from an inbox topic.
type rejReceipt struct {
	edge string
	msg  bus.Message
	r    bus.Receipt
	ev   bus.Event
}

// receipts returns the receipts of kind about the package with SHA-256
// about on edge's inbox topic, each verified with the axis log key (a
// receipt that does not verify fails the test).
func (x *rejTap) receipts(t *testing.T, axisLog note.Verifiers, edge string, about [32]byte, kind bus.EventKind) []rejReceipt {
	t.Helper()
	hexAbout := hex.EncodeToString(about[:])
	var out []rejReceipt
	for _, d := range x.records(mustInbox(t, x.tr.Topics(), edge), func(d bus.Delivery) bool {
		m := d.Message
		return m.Type == bus.TypeReceipt && m.Attrs[bus.AttrFor] == hexAbout && m.Attrs[bus.AttrEvent] == string(kind)
	}) {
		r, err := bus.DecodeReceipt(d.Message.Package)
		if err != nil {
			t.Fatalf("receipt %s: %v", d.Message.ID, err)
		}
		if err := r.Verify(axisLog); err != nil {
			t.Fatalf("receipt %s does not verify with the axis log key: %v", d.Message.ID, err)
		}
		ev, _, err := r.Open(axisLog)
		if err != nil {
			t.Fatalf("receipt %s: %v", d.Message.ID, err)
		}
		out = append(out, rejReceipt{edge: edge, msg: d.Message, r: r, ev: ev})
	}
	return out
}

// waitReceipts waits for at least n receipts (see receipts).
func (x *rejTap) waitReceipts(t *testing.T, axisLog note.Verifiers, edge string, about [32]byte, kind bus.EventKind, n int) []rejReceipt {
	t.Helper()
	var got []rejReceipt
	eventually(t, 30*time.Second, fmt.Sprintf("%d %s receipts for %x on %s's inbox", n, kind, about[:6], edge), func() (bool, string) {
		got = x.receipts(t, axisLog, edge, about, kind)
		return len(got) >= n, fmt.Sprintf("%d", len(got))
	})
	return got
}

// deliveredAnywhere returns the inbox topics that carry a document or
// status with SHA-256 sha.
func (x *rejTap) deliveredAnywhere(sha [32]byte) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []string
	for topic, ds := range x.recs {
		if !strings.Contains(topic, ".inbox.") {
			continue
		}
		for _, d := range ds {
			if (d.Message.Type == bus.TypeDocument || d.Message.Type == bus.TypeStatus) && d.Message.SHA256 == sha {
				out = append(out, topic)
			}
		}
	}
	return out
}

// aboutAnywhere returns the inbox topics that carry anything with
// SHA-256 sha or about it (a receipt, a notice).
func (x *rejTap) aboutAnywhere(sha [32]byte) []string {
	h := hex.EncodeToString(sha[:])
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []string
	for topic, ds := range x.recs {
		if !strings.Contains(topic, ".inbox.") {
			continue
		}
		for _, d := range ds {
			if d.Message.SHA256 == sha || d.Message.Attrs[bus.AttrFor] == h {
				out = append(out, topic)
			}
		}
	}
	return out
}

// submitted returns the documents and statuses edge published to the
// submit topic.
func (x *rejTap) submitted(edge string) []bus.Delivery {
	return x.records(x.tr.Topics().Submit(), func(d bus.Delivery) bool {
		return (d.Message.Type == bus.TypeDocument || d.Message.Type == bus.TypeStatus) && d.Message.Attrs[bus.AttrEdge] == edge
	})
}
