package bustest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"truc.vn/truc/bus"
)

// TestEdgeStore runs the bus.EdgeStore conformance suite. newStore is
// called once per subtest and returns a new, empty store (the harness
// closes it with t.Cleanup); subtests run in parallel.
//
// Beyond the doc comments of bus.EdgeStore, the suite holds a store to
// these choices, which every implementation shares: package bytes are
// unique in the outbox (a second Put of the same bytes under another ID is
// ErrConflict); a status 01 given to Put for an item that does not exist
// is ErrNotFound; Unsettled lists sent entries in put order, not by
// SentAt; a MarkSent naming an unknown ID is ErrNotFound and records
// nothing; bad input is an error that is neither ErrConflict nor
// ErrNotFound and writes nothing; the store fills a zero CreatedAt or
// ReceivedAt from the wall clock.
func TestEdgeStore(t *testing.T, newStore func(t *testing.T) bus.EdgeStore) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s bus.EdgeStore)
	}{
		{"OutboxRoundTripEveryField", testEdgeOutboxRoundTrip},
		{"PutFillsCreatedAt", testEdgePutCreatedAt},
		{"PutRefusesInvalidWritingNothing", testEdgePutInvalid},
		{"PutIdempotencyKey", testEdgePutIdempotency},
		{"PutDuplicateIDOrBytesConflict", testEdgePutDuplicates},
		{"PutStatus01MarksItemOnce", testEdgePutStatus01},
		{"Take", testEdgeTake},
		{"TakeIsAtomic", testEdgeTakeAtomic},
		{"TakePerAgency", testEdgeTakePerAgency},
		{"TakeAcks", testEdgeTakeAcks},
		{"OutboxQuery", testEdgeOutboxQuery},
		{"PutManyAllOrNothing", testEdgePutMany},
		{"InboxByKey", testEdgeInboxByKey},
		{"ReceiveRoundTripAndDedup", testEdgeReceive},
		{"ReceiveTimeline", testEdgeReceiveTimeline},
		{"ReceiveRefusesInvalidWritingNothing", testEdgeReceiveInvalid},
		{"SettleAndAddTimeline", testEdgeSettle},
		{"UnsettledOrderAndCutoff", testEdgeUnsettled},
		{"MarkSent", testEdgeMarkSent},
		{"InboxPagingAndLastSeq", testEdgeInboxPaging},
		{"SentByKeyDocumentsOldestFirst", testEdgeSentByKey},
		{"ConcurrentPutSameIdempotencyKey", testEdgeConcurrentPut},
		{"ConcurrentReceiveSameSHA", testEdgeConcurrentReceive},
		{"ConcurrentTakeOne01", testEdgeConcurrentTake},
		{"Packages16MiB", testEdgeLarge},
		{"CancelledContextWritesNothing", testEdgeCancelled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newStore(t))
		})
	}
}

// Fixtures. The store never parses packages, so the suite's packages are
// distinct byte strings, not edXML.

var edgeT0 = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

// edgeAt is edgeT0 plus n seconds.
func edgeAt(n int) time.Time { return edgeT0.Add(time.Duration(n) * time.Second) }

const (
	edgeSender    = "000.00.00.G22"
	edgeRecipient = "000.00.00.H41"
	// edgeRecipient2 is a second agency on the same edge, with its own DMS.
	edgeRecipient2 = "000.00.00.H53"
)

// edgePkg returns size bytes (at least 64) that start with tag and are
// distinct per tag, with bytes a text encoding would mangle.
func edgePkg(tag string, size int) []byte {
	b := make([]byte, max(size, 64))
	seed := sha256.Sum256([]byte(tag))
	for i := range b {
		b[i] = seed[i%32] ^ byte(i>>5)
	}
	copy(b, tag+"\x00\xff")
	return b
}

func edgeKey(t *testing.T, doc string) string {
	t.Helper()
	k, err := bus.RootKey(edgeSender, doc)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// edgeDoc is a document entry with ID id about root document doc.
func edgeDoc(t *testing.T, id, doc string) bus.OutboxEntry {
	t.Helper()
	pkg := edgePkg("document "+id, 5<<10)
	return bus.OutboxEntry{
		Message: bus.Message{
			ID: id, Type: bus.TypeDocument, Key: edgeKey(t, doc), Sender: edgeSender,
			Recipients: []string{edgeRecipient, "vxp.saas.02"},
			SHA256:     sha256.Sum256(pkg), Package: pkg,
			Attrs: map[string]string{bus.AttrEdge: "edge-hn-01"},
		},
		CreatedAt: edgeAt(0),
	}
}

// edgeStatus is a status entry with code answering inbox item inboxID.
func edgeStatus(t *testing.T, id, code, inboxID string) bus.OutboxEntry {
	t.Helper()
	return edgeStatusFrom(t, id, code, inboxID, edgeRecipient)
}

// edgeStatusFrom is edgeStatus sent by sender.
func edgeStatusFrom(t *testing.T, id, code, inboxID, sender string) bus.OutboxEntry {
	t.Helper()
	pkg := edgePkg("status "+id, 2<<10)
	return bus.OutboxEntry{
		Message: bus.Message{
			ID: id, Type: bus.TypeStatus, Key: edgeKey(t, "incoming-1"), Sender: sender,
			Recipients: []string{edgeSender}, SHA256: sha256.Sum256(pkg), Package: pkg,
			Attrs: map[string]string{bus.AttrStatus: code},
		},
		InboxID:   inboxID,
		CreatedAt: edgeAt(0),
	}
}

// edgeItem is an incoming document item and its package.
func edgeItem(t *testing.T, tag string) (bus.InboxItem, []byte) {
	t.Helper()
	pkg := edgePkg("incoming "+tag, 5<<10)
	return bus.InboxItem{
		SHA256: sha256.Sum256(pkg), MessageID: "edge-hcm-01.msg." + tag, Type: bus.TypeDocument,
		Key: edgeKey(t, "incoming-"+tag), Sender: edgeSender, Recipients: []string{edgeRecipient},
		ReceivedAt: edgeAt(1),
	}, pkg
}

// edgeItem2 is an incoming document item for two agencies of the edge.
func edgeItem2(t *testing.T, tag string) (bus.InboxItem, []byte) {
	t.Helper()
	item, pkg := edgeItem(t, tag)
	item.Recipients = []string{edgeRecipient, edgeRecipient2}
	return item, pkg
}

func edgeEvent(kind bus.TimelineKind, n int, sha [32]byte) bus.TimelineEvent {
	return bus.TimelineEvent{Kind: kind, At: edgeAt(n), SHA256: hex.EncodeToString(sha[:]), MessageID: fmt.Sprintf("event-%d", n)}
}

func mustPut(t *testing.T, s bus.EdgeStore, e bus.OutboxEntry) bus.OutboxEntry {
	t.Helper()
	stored, created, err := s.Put(logCtx(t), e)
	if err != nil || !created {
		t.Fatalf("Put(%s) = created %v, %v", e.Message.ID, created, err)
	}
	return stored
}

func mustReceive(t *testing.T, s bus.EdgeStore, item bus.InboxItem, pkg []byte, ref *bus.TimelineRef) bus.InboxItem {
	t.Helper()
	stored, created, err := s.Receive(logCtx(t), item, pkg, ref)
	if err != nil || !created {
		t.Fatalf("Receive(%s) = created %v, %v", item.MessageID, created, err)
	}
	return stored
}

func mustSent(t *testing.T, s bus.EdgeStore, id string) bus.OutboxEntry {
	t.Helper()
	e, err := s.Sent(logCtx(t), id)
	if err != nil {
		t.Fatalf("Sent(%s): %v", id, err)
	}
	return e
}

func mustItem(t *testing.T, s bus.EdgeStore, id string) (bus.InboxItem, []byte) {
	t.Helper()
	it, pkg, err := s.Item(logCtx(t), id)
	if err != nil {
		t.Fatalf("Item(%s): %v", id, err)
	}
	return it, pkg
}

func wantNotSent(t *testing.T, s bus.EdgeStore, id string) {
	t.Helper()
	if e, err := s.Sent(logCtx(t), id); !errors.Is(err, bus.ErrNotFound) {
		t.Fatalf("Sent(%s) = %s, %v; want ErrNotFound", id, e.Message.ID, err)
	}
}

// wantUnsettled checks the IDs Unsettled(sentBefore, limit) lists, in order.
func wantUnsettled(t *testing.T, s bus.EdgeStore, sentBefore time.Time, limit int, want ...string) []bus.OutboxEntry {
	t.Helper()
	got, err := s.Unsettled(logCtx(t), sentBefore, limit)
	if err != nil {
		t.Fatalf("Unsettled: %v", err)
	}
	ids := make([]string, len(got))
	for i, e := range got {
		ids[i] = e.Message.ID
	}
	if !slices.Equal(ids, want) && !(len(ids) == 0 && len(want) == 0) {
		t.Fatalf("Unsettled(%s, %d) = %q, want %q", sentBefore.Format(time.TimeOnly), limit, ids, want)
	}
	return got
}

// sameTime compares instants; the zero time only equals itself.
func sameTime(a, b time.Time) bool { return a.IsZero() == b.IsZero() && a.Equal(b) }

func sameEvents(a, b []bus.TimelineEvent) bool {
	return slices.EqualFunc(a, b, func(x, y bus.TimelineEvent) bool {
		return x.Kind == y.Kind && sameTime(x.At, y.At) && x.SHA256 == y.SHA256 && x.MessageID == y.MessageID &&
			slices.Equal(x.Recipients, y.Recipients) && x.Edge == y.Edge && x.StatusCode == y.StatusCode &&
			x.Reason == y.Reason && x.Detail == y.Detail && bytes.Equal(x.Receipt, y.Receipt)
	})
}

// diffEntry describes how got differs from want, field by field ("" when
// they are the same): times as instants, nil and empty alike.
func diffEntry(got, want bus.OutboxEntry) string {
	g, w := got.Message, want.Message
	var d []string
	check := func(field string, same bool, gv, wv any) {
		if !same {
			d = append(d, fmt.Sprintf("%s = %v, want %v", field, gv, wv))
		}
	}
	check("ID", g.ID == w.ID, g.ID, w.ID)
	check("Type", g.Type == w.Type, g.Type, w.Type)
	check("Key", g.Key == w.Key, g.Key, w.Key)
	check("Sender", g.Sender == w.Sender, g.Sender, w.Sender)
	check("Recipients", slices.Equal(g.Recipients, w.Recipients), g.Recipients, w.Recipients)
	check("SHA256", g.SHA256 == w.SHA256, hex.EncodeToString(g.SHA256[:8]), hex.EncodeToString(w.SHA256[:8]))
	check("Package", bytes.Equal(g.Package, w.Package), fmt.Sprintf("%d bytes", len(g.Package)), fmt.Sprintf("%d bytes", len(w.Package)))
	check("Attrs", len(g.Attrs) == len(w.Attrs) && func() bool {
		for k, v := range w.Attrs {
			if gv, ok := g.Attrs[k]; !ok || gv != v {
				return false
			}
		}
		return true
	}(), g.Attrs, w.Attrs)
	check("IdempotencyKey", got.IdempotencyKey == want.IdempotencyKey, got.IdempotencyKey, want.IdempotencyKey)
	check("InputSHA256", got.InputSHA256 == want.InputSHA256, hex.EncodeToString(got.InputSHA256[:8]), hex.EncodeToString(want.InputSHA256[:8]))
	check("Client", got.Client == want.Client, got.Client, want.Client)
	check("InboxID", got.InboxID == want.InboxID, got.InboxID, want.InboxID)
	check("CreatedAt", sameTime(got.CreatedAt, want.CreatedAt), got.CreatedAt, want.CreatedAt)
	check("Attempts", got.Attempts == want.Attempts, got.Attempts, want.Attempts)
	check("SentAt", sameTime(got.SentAt, want.SentAt), got.SentAt, want.SentAt)
	check("Settled", sameTime(got.Settled, want.Settled), got.Settled, want.Settled)
	check("Timeline", sameEvents(got.Timeline, want.Timeline), got.Timeline, want.Timeline)
	if len(d) == 0 {
		return ""
	}
	return fmt.Sprint(d)
}

func wantEntry(t *testing.T, what string, got, want bus.OutboxEntry) {
	t.Helper()
	if d := diffEntry(got, want); d != "" {
		t.Fatalf("%s: %s", what, d)
	}
}

// diffItem is diffEntry for inbox items.
func diffItem(got, want bus.InboxItem) string {
	var d []string
	check := func(field string, same bool, gv, wv any) {
		if !same {
			d = append(d, fmt.Sprintf("%s = %v, want %v", field, gv, wv))
		}
	}
	check("Seq", got.Seq == want.Seq, got.Seq, want.Seq)
	check("ID", got.ID == want.ID, got.ID, want.ID)
	check("SHA256", got.SHA256 == want.SHA256, hex.EncodeToString(got.SHA256[:8]), hex.EncodeToString(want.SHA256[:8]))
	check("MessageID", got.MessageID == want.MessageID, got.MessageID, want.MessageID)
	check("Type", got.Type == want.Type, got.Type, want.Type)
	check("Key", got.Key == want.Key, got.Key, want.Key)
	check("Sender", got.Sender == want.Sender, got.Sender, want.Sender)
	check("Recipients", slices.Equal(got.Recipients, want.Recipients), got.Recipients, want.Recipients)
	check("StatusCode", got.StatusCode == want.StatusCode, got.StatusCode, want.StatusCode)
	check("Size", got.Size == want.Size, got.Size, want.Size)
	check("ReceivedAt", sameTime(got.ReceivedAt, want.ReceivedAt), got.ReceivedAt, want.ReceivedAt)
	check("TakenAt", sameTime(got.TakenAt, want.TakenAt), got.TakenAt, want.TakenAt)
	check("Status01", got.Status01 == want.Status01, got.Status01, want.Status01)
	check("Deliveries", len(got.Deliveries) == len(want.Deliveries) && func() bool {
		for k, w := range want.Deliveries {
			g, ok := got.Deliveries[k]
			if !ok || !sameTime(g.TakenAt, w.TakenAt) || g.Status01 != w.Status01 || g.Ack != w.Ack {
				return false
			}
		}
		return true
	}(), got.Deliveries, want.Deliveries)
	if len(d) == 0 {
		return ""
	}
	return fmt.Sprint(d)
}

func wantItem(t *testing.T, what string, got, want bus.InboxItem) {
	t.Helper()
	if d := diffItem(got, want); d != "" {
		t.Fatalf("%s: %s", what, d)
	}
}

// ---------------------------------------------------------------------------
// Outbox

func testEdgeOutboxRoundTrip(t *testing.T, s bus.EdgeStore) {
	item, ipkg := edgeItem(t, "rt")
	in := mustReceive(t, s, item, ipkg, nil)

	doc := edgeDoc(t, "edge-hn-01.m1", "doc-1")
	doc.IdempotencyKey = "dms-key-1 ✓"
	doc.InputSHA256 = sha256.Sum256([]byte("the bytes the DMS submitted"))
	doc.Client = "dms-văn-thư"
	doc.CreatedAt = edgeAt(2).In(time.FixedZone("ICT", 7*3600))
	doc.Attempts = 3
	doc.SentAt = edgeAt(3)
	doc.Message.Attrs["x-extra"] = "giá trị"
	doc.Timeline = []bus.TimelineEvent{
		{Kind: bus.TimelineSubmitted, At: edgeAt(2), SHA256: hex.EncodeToString(doc.Message.SHA256[:]), MessageID: doc.Message.ID},
		{
			Kind: bus.TimelineDelivered, At: edgeAt(4), SHA256: hex.EncodeToString(doc.Message.SHA256[:]), MessageID: doc.Message.ID,
			Recipients: []string{edgeRecipient, "vxp.saas.02"}, Edge: "edge-hcm-01", StatusCode: "01", Reason: "revoked",
			Detail: "chi tiết \"quoted\"\n", Receipt: []byte{0, 1, 0xff, '\n'},
		},
	}
	// A settled status 02 (not 01) answering an inbox item.
	st := edgeStatus(t, "edge-hn-01.s2", "02", in.ID)
	st.Settled = edgeAt(5)
	st.Attempts, st.SentAt = 1, edgeAt(4)
	ack := edgeDoc(t, "edge-hn-01.ack1", "doc-ack")
	ack.Message.Type = bus.TypeAck
	rej := edgeDoc(t, "edge-hn-01.rej1", "doc-rej")
	rej.Message.Type = bus.TypeRejection

	for _, want := range []bus.OutboxEntry{doc, st, ack, rej} {
		orig := slices.Clone(want.Message.Package)
		got := mustPut(t, s, want)
		wantEntry(t, "Put returned", got, want)
		wantEntry(t, "Sent", mustSent(t, s, want.Message.ID), want)
		bySHA, err := s.SentBySHA(logCtx(t), want.Message.SHA256)
		if err != nil {
			t.Fatalf("SentBySHA(%s): %v", want.Message.ID, err)
		}
		wantEntry(t, "SentBySHA", bySHA, want)
		// What the store returns is a copy.
		clear(bySHA.Message.Package)
		bySHA.Message.Recipients[0] = "0.0.0.X"
		if again := mustSent(t, s, want.Message.ID); !bytes.Equal(again.Message.Package, orig) || again.Message.Recipients[0] == "0.0.0.X" {
			t.Fatalf("modifying a returned entry changed the stored %s", want.Message.ID)
		}
	}
	byKey, err := s.SentByKey(logCtx(t), doc.Message.Key)
	if err != nil || len(byKey) != 1 {
		t.Fatalf("SentByKey = %d entries, %v; want 1", len(byKey), err)
	}
	wantEntry(t, "SentByKey", byKey[0], doc)
	byIdem, err := s.ByIdempotencyKey(logCtx(t), doc.Client, doc.IdempotencyKey)
	if err != nil {
		t.Fatalf("ByIdempotencyKey: %v", err)
	}
	wantEntry(t, "ByIdempotencyKey", byIdem, doc)
	// A status other than 01 does not answer the item.
	if got, _ := mustItem(t, s, in.ID); got.Status01 != "" {
		t.Fatalf("a status 02 set the item's Status01 to %q", got.Status01)
	}
	for name, call := range map[string]func() error{
		"Sent":             func() error { _, err := s.Sent(logCtx(t), "no-such-id"); return err },
		"SentBySHA":        func() error { _, err := s.SentBySHA(logCtx(t), sha256.Sum256([]byte("none"))); return err },
		"ByIdempotencyKey": func() error { _, err := s.ByIdempotencyKey(logCtx(t), doc.Client, "other-key"); return err },
		"ByIdempotencyKey(other client)": func() error {
			_, err := s.ByIdempotencyKey(logCtx(t), "other-client", doc.IdempotencyKey)
			return err
		},
	} {
		if err := call(); !errors.Is(err, bus.ErrNotFound) {
			t.Errorf("%s of something absent: %v, want ErrNotFound", name, err)
		}
	}
	if got, err := s.SentByKey(logCtx(t), edgeKey(t, "no-such-doc")); err != nil || len(got) != 0 {
		t.Errorf("SentByKey of an unknown key = %d entries, %v; want none", len(got), err)
	}
}

func testEdgePutCreatedAt(t *testing.T, s bus.EdgeStore) {
	e := edgeDoc(t, "m1", "d1")
	e.CreatedAt = time.Time{}
	before := time.Now()
	got := mustPut(t, s, e)
	after := time.Now()
	if got.CreatedAt.Before(before.Add(-time.Minute)) || got.CreatedAt.After(after.Add(time.Minute)) {
		t.Fatalf("CreatedAt of an entry put with none = %v, want about %v", got.CreatedAt, before)
	}
	if stored := mustSent(t, s, "m1"); !stored.CreatedAt.Equal(got.CreatedAt) {
		t.Fatalf("stored CreatedAt %v, Put returned %v", stored.CreatedAt, got.CreatedAt)
	}
}

func testEdgePutInvalid(t *testing.T, s bus.EdgeStore) {
	item, ipkg := edgeItem(t, "inv")
	in := mustReceive(t, s, item, ipkg, nil)
	cases := []struct {
		name   string
		change func(e *bus.OutboxEntry)
	}{
		{"empty-id", func(e *bus.OutboxEntry) { e.Message.ID = "" }},
		{"bad-id", func(e *bus.OutboxEntry) { e.Message.ID = "-starts-with-dash" }},
		{"sha-mismatch", func(e *bus.OutboxEntry) { e.Message.SHA256[0] ^= 1 }},
		{"no-package", func(e *bus.OutboxEntry) { e.Message.Package, e.Message.SHA256 = nil, sha256.Sum256(nil) }},
		{"no-recipients", func(e *bus.OutboxEntry) { e.Message.Recipients = nil }},
		{"bad-key", func(e *bus.OutboxEntry) { e.Message.Key = "no-slash" }},
		{"receipt-type", func(e *bus.OutboxEntry) { e.Message.Type = bus.TypeReceipt }},
		{"unknown-type", func(e *bus.OutboxEntry) { e.Message.Type = "letter" }},
		{"bad-attr", func(e *bus.OutboxEntry) { e.Message.Attrs = map[string]string{"Upper": "x"} }},
		{"negative-attempts", func(e *bus.OutboxEntry) { e.Attempts = -1 }},
		{"idempotency-key-not-utf8", func(e *bus.OutboxEntry) { e.IdempotencyKey = "k\xff" }},
		{"idempotency-key-too-long", func(e *bus.OutboxEntry) { e.IdempotencyKey = string(bytes.Repeat([]byte("k"), 100000)) }},
		{"bad-inbox-id", func(e *bus.OutboxEntry) { e.InboxID = "not-an-item" }},
		{"event-without-kind", func(e *bus.OutboxEntry) {
			e.Timeline = []bus.TimelineEvent{{At: edgeAt(1), SHA256: hex.EncodeToString(e.Message.SHA256[:])}}
		}},
		{"event-without-time", func(e *bus.OutboxEntry) { e.Timeline = []bus.TimelineEvent{{Kind: bus.TimelineSubmitted}} }},
		{"event-bad-sha", func(e *bus.OutboxEntry) {
			e.Timeline = []bus.TimelineEvent{{Kind: bus.TimelineSubmitted, At: edgeAt(1), SHA256: "XYZ"}}
		}},
		{"event-bad-recipient", func(e *bus.OutboxEntry) {
			e.Timeline = []bus.TimelineEvent{{Kind: bus.TimelineDelivered, At: edgeAt(1), Recipients: []string{"not an organ"}}}
		}},
	}
	for _, c := range cases {
		e := edgeDoc(t, "m-"+c.name, "d-"+c.name)
		e.IdempotencyKey, e.Client = "key-"+c.name, "dms"
		c.change(&e)
		_, _, err := s.Put(logCtx(t), e)
		if err == nil || errors.Is(err, bus.ErrConflict) || errors.Is(err, bus.ErrNotFound) {
			t.Errorf("%s: Put error %v, want a validation error", c.name, err)
			continue
		}
		wantNotSent(t, s, e.Message.ID)
		if _, err := s.SentBySHA(logCtx(t), e.Message.SHA256); !errors.Is(err, bus.ErrNotFound) {
			t.Errorf("%s: the refused entry is found by SHA-256: %v", c.name, err)
		}
	}
	// A status 01 for an unknown item is refused with ErrNotFound.
	st := edgeStatus(t, "s01-unknown", "01", bus.InboxID(sha256.Sum256([]byte("never received"))))
	if _, _, err := s.Put(logCtx(t), st); !errors.Is(err, bus.ErrNotFound) {
		t.Errorf("Put of a status 01 for an unknown item: %v, want ErrNotFound", err)
	}
	wantNotSent(t, s, st.Message.ID)
	wantUnsettled(t, s, edgeAt(1000), 100)
	if got, _ := mustItem(t, s, in.ID); got.Status01 != "" {
		t.Fatalf("refused puts changed the item: Status01 %q", got.Status01)
	}
	// The same entries, valid, go in: nothing of the refused ones is left.
	for _, c := range cases[:3] {
		e := edgeDoc(t, "m-"+c.name, "d-"+c.name)
		if c.name == "empty-id" || c.name == "bad-id" {
			e.Message.ID = "m-fixed-" + c.name
		}
		e.IdempotencyKey, e.Client = "key-"+c.name, "dms"
		mustPut(t, s, e)
	}
}

func testEdgePutIdempotency(t *testing.T, s bus.EdgeStore) {
	first := edgeDoc(t, "m1", "d1")
	first.Client, first.IdempotencyKey = "dms-a", "submit-42"
	first.InputSHA256 = sha256.Sum256([]byte("input 1"))
	mustPut(t, s, first)

	// A retry: the edge signed the same input again (new ID, new bytes).
	retry := edgeDoc(t, "m2", "d1")
	retry.Client, retry.IdempotencyKey, retry.InputSHA256 = first.Client, first.IdempotencyKey, first.InputSHA256
	got, created, err := s.Put(logCtx(t), retry)
	if err != nil || created {
		t.Fatalf("Put of a retry = created %v, %v; want the stored entry", created, err)
	}
	wantEntry(t, "Put of a retry", got, first)
	wantNotSent(t, s, "m2")

	// The same key for other input bytes.
	other := edgeDoc(t, "m3", "d3")
	other.Client, other.IdempotencyKey, other.InputSHA256 = first.Client, first.IdempotencyKey, sha256.Sum256([]byte("input 2"))
	if _, _, err := s.Put(logCtx(t), other); !errors.Is(err, bus.ErrConflict) {
		t.Fatalf("Put of the same key with other input: %v, want ErrConflict", err)
	}
	wantNotSent(t, s, "m3")

	// Keys belong to a client; no key means no idempotency.
	otherClient := edgeDoc(t, "m4", "d4")
	otherClient.Client, otherClient.IdempotencyKey, otherClient.InputSHA256 = "dms-b", first.IdempotencyKey, other.InputSHA256
	mustPut(t, s, otherClient)
	for _, id := range []string{"m5", "m6"} {
		e := edgeDoc(t, id, "d5")
		e.Client, e.InputSHA256 = first.Client, first.InputSHA256
		mustPut(t, s, e)
	}
	got, err = s.ByIdempotencyKey(logCtx(t), "dms-b", first.IdempotencyKey)
	if err != nil || got.Message.ID != "m4" {
		t.Fatalf("ByIdempotencyKey(dms-b) = %s, %v; want m4", got.Message.ID, err)
	}
	got, err = s.ByIdempotencyKey(logCtx(t), "dms-a", first.IdempotencyKey)
	if err != nil || got.Message.ID != "m1" {
		t.Fatalf("ByIdempotencyKey(dms-a) = %s, %v; want m1", got.Message.ID, err)
	}
	if _, err := s.ByIdempotencyKey(logCtx(t), "dms-a", ""); !errors.Is(err, bus.ErrNotFound) {
		t.Fatalf("ByIdempotencyKey with an empty key: %v, want ErrNotFound", err)
	}
}

func testEdgePutDuplicates(t *testing.T, s bus.EdgeStore) {
	first := edgeDoc(t, "m1", "d1")
	mustPut(t, s, first)
	sameID := edgeDoc(t, "other", "d2")
	sameID.Message.ID = "m1"
	if _, _, err := s.Put(logCtx(t), sameID); !errors.Is(err, bus.ErrConflict) {
		t.Fatalf("Put of an existing message ID: %v, want ErrConflict", err)
	}
	if _, err := s.SentBySHA(logCtx(t), sameID.Message.SHA256); !errors.Is(err, bus.ErrNotFound) {
		t.Fatalf("the conflicting entry is found by SHA-256: %v", err)
	}
	sameBytes := first
	sameBytes.Message.ID = "m2"
	if _, _, err := s.Put(logCtx(t), sameBytes); !errors.Is(err, bus.ErrConflict) {
		t.Fatalf("Put of the same package bytes under another ID: %v, want ErrConflict", err)
	}
	wantNotSent(t, s, "m2")
	wantEntry(t, "the first entry after conflicts", mustSent(t, s, "m1"), first)
	wantUnsettled(t, s, edgeAt(1000), 10, "m1")
}

func testEdgePutStatus01(t *testing.T, s bus.EdgeStore) {
	item, pkg := edgeItem(t, "a")
	in := mustReceive(t, s, item, pkg, nil)
	mustPut(t, s, edgeStatus(t, "s01", "01", in.ID))
	got, _ := mustItem(t, s, in.ID)
	if got.Status01 != "s01" {
		t.Fatalf("after Put of a status 01, Status01 = %q, want s01", got.Status01)
	}
	if _, _, err := s.Put(logCtx(t), edgeStatus(t, "s01-again", "01", in.ID)); !errors.Is(err, bus.ErrConflict) {
		t.Fatalf("second status 01 for one item: %v, want ErrConflict", err)
	}
	wantNotSent(t, s, "s01-again")
	// Other codes are not limited, and a 01 without InboxID answers nothing.
	mustPut(t, s, edgeStatus(t, "s02", "02", in.ID))
	mustPut(t, s, edgeStatus(t, "s01-no-item", "01", ""))
	got, _ = mustItem(t, s, in.ID)
	if got.Status01 != "s01" {
		t.Fatalf("Status01 = %q after other statuses, want s01", got.Status01)
	}
	// Take does not queue another 01 for an item Put answered.
	taken, err := s.Take(logCtx(t), in.ID, bus.Taking{At: edgeAt(9), Statuses: []bus.OutboxEntry{edgeStatus(t, "s01-take", "01", in.ID)}})
	if err != nil || taken.Status01 != "s01" || !taken.TakenAt.Equal(edgeAt(9)) || taken.Deliveries[edgeRecipient].Status01 != "s01" {
		t.Fatalf("Take of an answered item = Status01 %q TakenAt %v, %v", taken.Status01, taken.TakenAt, err)
	}
	wantNotSent(t, s, "s01-take")
}

func testEdgeTake(t *testing.T, s bus.EdgeStore) {
	if _, err := s.Take(logCtx(t), bus.InboxID(sha256.Sum256([]byte("x"))), bus.Taking{At: edgeAt(1)}); !errors.Is(err, bus.ErrNotFound) {
		t.Fatalf("Take of an unknown item: %v, want ErrNotFound", err)
	}
	item, pkg := edgeItem2(t, "a")
	in := mustReceive(t, s, item, pkg, nil)

	// Without statuses: taken by every recipient, not answered; the first
	// time is kept.
	got, err := s.Take(logCtx(t), in.ID, bus.Taking{At: edgeAt(10)})
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.TakenAt = edgeAt(10)
	want.Deliveries = map[string]bus.ItemDelivery{edgeRecipient: {TakenAt: edgeAt(10)}, edgeRecipient2: {TakenAt: edgeAt(10)}}
	wantItem(t, "Take without statuses", got, want)
	if got, err = s.Take(logCtx(t), in.ID, bus.Taking{At: edgeAt(20)}); err != nil {
		t.Fatal(err)
	}
	wantItem(t, "Take again", got, want)

	// With one 01 per recipient agency: all put, Status01 the first.
	sts := []bus.OutboxEntry{edgeStatusFrom(t, "s01-a", "01", in.ID, edgeRecipient), edgeStatusFrom(t, "s01-b", "01", "", edgeRecipient2)}
	got, err = s.Take(logCtx(t), in.ID, bus.Taking{At: edgeAt(30), Statuses: sts})
	if err != nil {
		t.Fatalf("Take with statuses: %v", err)
	}
	want.Status01 = "s01-a"
	want.Deliveries = map[string]bus.ItemDelivery{
		edgeRecipient:  {TakenAt: edgeAt(10), Status01: "s01-a"},
		edgeRecipient2: {TakenAt: edgeAt(10), Status01: "s01-b"},
	}
	wantItem(t, "Take with statuses", got, want)
	stored, _ := mustItem(t, s, in.ID)
	wantItem(t, "Item after Take", stored, want)
	for _, st := range sts {
		st.InboxID = in.ID // the store fills an empty one
		wantEntry(t, "status put by Take", mustSent(t, s, st.Message.ID), st)
	}
	wantUnsettled(t, s, edgeAt(1000), 10, "s01-a", "s01-b")

	// Never two 01s from one agency.
	got, err = s.Take(logCtx(t), in.ID, bus.Taking{At: edgeAt(40), Statuses: []bus.OutboxEntry{edgeStatus(t, "s01-c", "01", in.ID)}})
	if err != nil {
		t.Fatal(err)
	}
	wantItem(t, "Take of an answered item", got, want)
	wantNotSent(t, s, "s01-c")
	if _, _, err := s.Put(logCtx(t), edgeStatus(t, "s01-d", "01", in.ID)); !errors.Is(err, bus.ErrConflict) {
		t.Fatalf("Put of a 01 after Take: %v, want ErrConflict", err)
	}
}

// testEdgeTakePerAgency: two DMS share an item (one recipient agency
// each); each takes it and answers 01 for its own agency, once.
func testEdgeTakePerAgency(t *testing.T, s bus.EdgeStore) {
	item, pkg := edgeItem2(t, "shared")
	in := mustReceive(t, s, item, pkg, nil)
	got, err := s.Take(logCtx(t), in.ID, bus.Taking{At: edgeAt(10), Organs: []string{edgeRecipient},
		Statuses: []bus.OutboxEntry{edgeStatusFrom(t, "s01-1", "01", in.ID, edgeRecipient)}})
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.TakenAt, want.Status01 = edgeAt(10), "s01-1"
	want.Deliveries = map[string]bus.ItemDelivery{edgeRecipient: {TakenAt: edgeAt(10), Status01: "s01-1"}}
	wantItem(t, "the first DMS took it", got, want)

	got, err = s.Take(logCtx(t), in.ID, bus.Taking{At: edgeAt(20), Organs: []string{edgeRecipient2},
		Statuses: []bus.OutboxEntry{edgeStatusFrom(t, "s01-2", "01", in.ID, edgeRecipient2)}})
	if err != nil {
		t.Fatal(err)
	}
	want.Deliveries[edgeRecipient2] = bus.ItemDelivery{TakenAt: edgeAt(20), Status01: "s01-2"}
	wantItem(t, "the second DMS took it", got, want)
	wantUnsettled(t, s, edgeAt(1000), 10, "s01-1", "s01-2")

	// Refused, writing nothing: an agency that is not a recipient, a 01
	// from an agency not taking it, an unknown ack, a zero time.
	for _, c := range []struct {
		name string
		tk   bus.Taking
	}{
		{"organ-not-recipient", bus.Taking{At: edgeAt(30), Organs: []string{edgeSender}}},
		{"status-from-other-organ", bus.Taking{At: edgeAt(30), Organs: []string{edgeRecipient},
			Statuses: []bus.OutboxEntry{edgeStatusFrom(t, "s01-x", "01", in.ID, edgeRecipient2)}}},
		{"two-01s-one-agency", bus.Taking{At: edgeAt(30), Statuses: []bus.OutboxEntry{
			edgeStatusFrom(t, "s01-y", "01", in.ID, edgeRecipient), edgeStatusFrom(t, "s01-z", "01", in.ID, edgeRecipient)}}},
		{"unknown-ack", bus.Taking{At: edgeAt(30), Ack: "maybe"}},
		{"zero-time", bus.Taking{}},
	} {
		if _, err := s.Take(logCtx(t), in.ID, c.tk); err == nil || errors.Is(err, bus.ErrConflict) || errors.Is(err, bus.ErrNotFound) {
			t.Errorf("%s: Take error %v, want a refusal", c.name, err)
		}
		got, _ := mustItem(t, s, in.ID)
		wantItem(t, c.name+": item after a refused Take", got, want)
	}
	wantNotSent(t, s, "s01-x")
	wantNotSent(t, s, "s01-y")
}

// testEdgeTakeAcks: VXP acknowledgements, per agency; done and fail are
// final.
func testEdgeTakeAcks(t *testing.T, s bus.EdgeStore) {
	item, pkg := edgeItem2(t, "acks")
	in := mustReceive(t, s, item, pkg, nil)
	r1 := []string{edgeRecipient}
	step := func(what string, tk bus.Taking, wantErr error, want1, want2 bus.DMSAck) {
		t.Helper()
		_, err := s.Take(logCtx(t), in.ID, tk)
		if !errors.Is(err, wantErr) || (wantErr == nil) != (err == nil) {
			t.Fatalf("%s: Take error %v, want %v", what, err, wantErr)
		}
		got, _ := mustItem(t, s, in.ID)
		if got.Deliveries[edgeRecipient].Ack != want1 || got.Deliveries[edgeRecipient2].Ack != want2 {
			t.Fatalf("%s: acks %q, %q; want %q, %q", what, got.Deliveries[edgeRecipient].Ack, got.Deliveries[edgeRecipient2].Ack, want1, want2)
		}
		if len(got.Deliveries) > 0 && got.Deliveries[edgeRecipient].TakenAt.IsZero() {
			t.Fatalf("%s: acknowledged without a taking time", what)
		}
	}
	step("processing", bus.Taking{At: edgeAt(1), Organs: r1, Ack: bus.DMSAckProcessing}, nil, bus.DMSAckProcessing, "")
	step("done", bus.Taking{At: edgeAt(2), Organs: r1, Ack: bus.DMSAckDone}, nil, bus.DMSAckDone, "")
	step("done again", bus.Taking{At: edgeAt(3), Organs: r1, Ack: bus.DMSAckDone}, nil, bus.DMSAckDone, "")
	step("processing after done keeps done", bus.Taking{At: edgeAt(4), Organs: r1, Ack: bus.DMSAckProcessing}, nil, bus.DMSAckDone, "")
	step("fail after done", bus.Taking{At: edgeAt(5), Organs: r1, Ack: bus.DMSAckFail}, bus.ErrConflict, bus.DMSAckDone, "")
	// All or nothing: the second agency's ack is not set when the first
	// one's conflicts.
	step("fail for both conflicts", bus.Taking{At: edgeAt(6), Ack: bus.DMSAckFail}, bus.ErrConflict, bus.DMSAckDone, "")
	step("fail for the second", bus.Taking{At: edgeAt(7), Organs: []string{edgeRecipient2}, Ack: bus.DMSAckFail}, nil, bus.DMSAckDone, bus.DMSAckFail)
	got, _ := mustItem(t, s, in.ID)
	if got.Status01 != "" || got.Deliveries[edgeRecipient].Status01 != "" {
		t.Fatalf("acks answered the item with a 01: %+v", got.Deliveries)
	}
}

func testEdgeTakeAtomic(t *testing.T, s bus.EdgeStore) {
	item, pkg := edgeItem2(t, "a")
	in := mustReceive(t, s, item, pkg, nil)
	mustPut(t, s, edgeDoc(t, "taken-id", "d1"))
	cases := []struct {
		name     string
		statuses []bus.OutboxEntry
		conflict bool
	}{
		{"not-a-01", []bus.OutboxEntry{edgeStatus(t, "s02", "02", in.ID)}, false},
		{"not-a-status", []bus.OutboxEntry{edgeDoc(t, "doc", "d2")}, false},
		{"other-item", []bus.OutboxEntry{edgeStatus(t, "s01-x", "01", bus.InboxID(sha256.Sum256([]byte("x"))))}, false},
		{"invalid-second", []bus.OutboxEntry{edgeStatus(t, "s01-y", "01", in.ID), func() bus.OutboxEntry {
			e := edgeStatusFrom(t, "s01-z", "01", in.ID, edgeRecipient2)
			e.Message.SHA256[0] ^= 1
			return e
		}()}, false},
		{"second-id-taken", []bus.OutboxEntry{edgeStatus(t, "s01-y", "01", in.ID), edgeStatusFrom(t, "taken-id", "01", in.ID, edgeRecipient2)}, true},
		{"same-id-twice", []bus.OutboxEntry{edgeStatus(t, "s01-y", "01", in.ID), edgeStatusFrom(t, "s01-y", "01", in.ID, edgeRecipient2)}, true},
	}
	for _, c := range cases {
		_, err := s.Take(logCtx(t), in.ID, bus.Taking{At: edgeAt(5), Statuses: c.statuses})
		if err == nil || c.conflict != errors.Is(err, bus.ErrConflict) {
			t.Errorf("%s: Take error %v, want conflict %v", c.name, err, c.conflict)
		}
		for _, st := range c.statuses {
			if st.Message.ID != "taken-id" {
				wantNotSent(t, s, st.Message.ID)
			}
		}
		got, _ := mustItem(t, s, in.ID)
		wantItem(t, c.name+": item after a failed Take", got, in)
	}
	if _, err := s.Take(logCtx(t), in.ID, bus.Taking{}); err == nil {
		t.Error("Take with a zero time succeeded")
	}
	got, _ := mustItem(t, s, in.ID)
	wantItem(t, "item after failed Takes", got, in)
	wantUnsettled(t, s, edgeAt(1000), 10, "taken-id")
}

// testEdgeInboxByKey: the items of one root-document key, in Seq order.
func testEdgeInboxByKey(t *testing.T, s bus.EdgeStore) {
	a, apkg := edgeItem(t, "k1")
	b, bpkg := edgeItem(t, "k2")
	c, cpkg := edgeItem(t, "k3")
	c.Key = a.Key // an update of the first letter
	ia := mustReceive(t, s, a, apkg, nil)
	mustReceive(t, s, b, bpkg, nil)
	ic := mustReceive(t, s, c, cpkg, nil)
	got, err := s.InboxByKey(logCtx(t), a.Key)
	if err != nil || len(got) != 2 || got[0].ID != ia.ID || got[1].ID != ic.ID {
		t.Fatalf("InboxByKey = %v, %v; want %s then %s", got, err, ia.ID, ic.ID)
	}
	if got, err := s.InboxByKey(logCtx(t), a.Key+"x"); err != nil || len(got) != 0 {
		t.Fatalf("InboxByKey of an unknown key = %v, %v", got, err)
	}
}

// testEdgePutMany: entries are put together or not at all; a retry with
// the same idempotency keys puts nothing and returns the stored entries.
func testEdgePutMany(t *testing.T, s bus.EdgeStore) {
	item, pkg := edgeItem2(t, "many")
	in := mustReceive(t, s, item, pkg, nil)
	keyed := func(e bus.OutboxEntry, key string) bus.OutboxEntry {
		e.Client, e.IdempotencyKey, e.InputSHA256 = "dms-a", key, sha256.Sum256([]byte("request"))
		return e
	}
	a := keyed(edgeStatusFrom(t, "s03-a", "03", in.ID, edgeRecipient), "k/a")
	b := keyed(edgeStatusFrom(t, "s03-b", "03", in.ID, edgeRecipient2), "k/b")
	bad := b
	bad.Message.SHA256[0] ^= 1
	if _, err := s.PutMany(logCtx(t), []bus.OutboxEntry{a, bad}); err == nil {
		t.Fatal("PutMany with an invalid second entry succeeded")
	}
	wantNotSent(t, s, "s03-a")
	taken := edgeDoc(t, "taken", "d1")
	mustPut(t, s, taken)
	clash := b
	clash.Message.ID = "taken"
	if _, err := s.PutMany(logCtx(t), []bus.OutboxEntry{a, clash}); !errors.Is(err, bus.ErrConflict) {
		t.Fatalf("PutMany with a taken message ID: %v, want ErrConflict", err)
	}
	wantNotSent(t, s, "s03-a")

	stored, err := s.PutMany(logCtx(t), []bus.OutboxEntry{a, b})
	if err != nil || len(stored) != 2 || stored[0].Message.ID != "s03-a" || stored[1].Message.ID != "s03-b" {
		t.Fatalf("PutMany = %d entries, %v", len(stored), err)
	}
	again := []bus.OutboxEntry{keyed(edgeStatusFrom(t, "s03-a2", "03", in.ID, edgeRecipient), "k/a"), keyed(edgeStatusFrom(t, "s03-b2", "03", in.ID, edgeRecipient2), "k/b")}
	stored, err = s.PutMany(logCtx(t), again)
	if err != nil || len(stored) != 2 || stored[0].Message.ID != "s03-a" || stored[1].Message.ID != "s03-b" {
		t.Fatalf("PutMany retried with the same keys = %v, %v; want the first entries", stored, err)
	}
	wantNotSent(t, s, "s03-a2")
	wantNotSent(t, s, "s03-b2")
	wantUnsettled(t, s, edgeAt(1000), 10, "taken", "s03-a", "s03-b")
}

// testEdgeOutboxQuery: Outbox lists newest first, filters, pages by Seq,
// and leaves out package bytes and acks.
func testEdgeOutboxQuery(t *testing.T, s bus.EdgeStore) {
	if got, err := s.Outbox(logCtx(t), bus.OutboxQuery{Limit: 10}); err != nil || len(got) != 0 {
		t.Fatalf("Outbox of an empty store = %d entries, %v", len(got), err)
	}
	var ids []string // in put order
	put := func(e bus.OutboxEntry, client string, at int) {
		e.Client, e.CreatedAt = client, edgeAt(at)
		mustPut(t, s, e)
		ids = append(ids, e.Message.ID)
	}
	put(edgeDoc(t, "d1", "doc-1"), "dms-a", 1)
	put(edgeDoc(t, "d2", "doc-2"), "dms-b", 2)
	put(edgeStatusFrom(t, "st1", "03", "", edgeRecipient), "dms-a", 3)
	ack := edgeDoc(t, "ack1", "ack-1")
	ack.Message.Type = bus.TypeAck
	put(ack, "", 4)
	put(edgeDoc(t, "d3", "doc-3"), "dms-a", 5)
	list := func(what string, q bus.OutboxQuery, want ...string) []bus.OutboxEntry {
		t.Helper()
		got, err := s.Outbox(logCtx(t), q)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		var gotIDs []string
		for _, e := range got {
			gotIDs = append(gotIDs, e.Message.ID)
		}
		if !slices.Equal(gotIDs, want) {
			t.Fatalf("%s: Outbox = %q, want %q", what, gotIDs, want)
		}
		return got
	}
	all := list("everything", bus.OutboxQuery{Limit: 10}, "d3", "st1", "d2", "d1")
	for i, e := range all {
		if e.Message.Package != nil || e.Size == 0 || e.Seq == 0 || len(e.Timeline) != 0 && e.Timeline[0].Kind == "" {
			t.Fatalf("entry %d: Package %d bytes, Size %d, Seq %d", i, len(e.Message.Package), e.Size, e.Seq)
		}
		if i > 0 && e.Seq >= all[i-1].Seq {
			t.Fatalf("entry %d has Seq %d after %d: not newest first", i, e.Seq, all[i-1].Seq)
		}
		full := mustSent(t, s, e.Message.ID)
		if full.Seq != e.Seq || full.Size != len(full.Message.Package) || e.Size != full.Size {
			t.Fatalf("entry %s: listed Seq %d Size %d, Sent gives Seq %d Size %d (package %d bytes)", e.Message.ID, e.Seq, e.Size, full.Seq, full.Size, len(full.Message.Package))
		}
	}
	page := list("first page", bus.OutboxQuery{Limit: 2}, "d3", "st1")
	list("next page", bus.OutboxQuery{Limit: 2, Before: page[1].Seq}, "d2", "d1")
	list("acks when asked", bus.OutboxQuery{Limit: 10, Types: []bus.Type{bus.TypeAck}}, "ack1")
	list("documents", bus.OutboxQuery{Limit: 10, Types: []bus.Type{bus.TypeDocument}}, "d3", "d2", "d1")
	list("by client", bus.OutboxQuery{Limit: 10, Client: "dms-a"}, "d3", "st1", "d1")
	list("by sender", bus.OutboxQuery{Limit: 10, Senders: []string{edgeRecipient}}, "st1")
	list("by key", bus.OutboxQuery{Limit: 10, Key: all[3].Message.Key}, "d1")
	list("by time", bus.OutboxQuery{Limit: 10, Since: edgeAt(2), Until: edgeAt(5)}, "st1", "d2")
	list("no limit", bus.OutboxQuery{})
}

// ---------------------------------------------------------------------------
// Inbox

func testEdgeReceive(t *testing.T, s bus.EdgeStore) {
	if n, err := s.LastSeq(logCtx(t)); err != nil || n != 0 {
		t.Fatalf("LastSeq of an empty inbox = %d, %v", n, err)
	}
	doc, docPkg := edgeItem(t, "doc")
	stPkg := edgePkg("incoming status", 1500)
	status := bus.InboxItem{
		SHA256: sha256.Sum256(stPkg), MessageID: "edge-hcm-01.st", Type: bus.TypeStatus, Key: edgeKey(t, "mine"),
		Sender: edgeRecipient, Recipients: []string{edgeSender}, StatusCode: "03", Size: len(stPkg),
		ReceivedAt: edgeAt(7).In(time.FixedZone("ICT", 7*3600)),
	}
	rejPkg := edgePkg("incoming notice", 300)
	notice := bus.InboxItem{
		SHA256: sha256.Sum256(rejPkg), MessageID: "rej.edge-hcm-01.x", Type: bus.TypeRejection, Key: edgeKey(t, "mine"),
		Sender: edgeSender, Recipients: []string{edgeSender, "vxp.saas.02"}, ReceivedAt: edgeAt(8),
	}
	var last uint64
	for _, c := range []struct {
		item bus.InboxItem
		pkg  []byte
	}{{doc, docPkg}, {status, stPkg}, {notice, rejPkg}} {
		got := mustReceive(t, s, c.item, c.pkg, nil)
		want := c.item
		want.Seq, want.ID, want.Size = got.Seq, bus.InboxID(c.item.SHA256), len(c.pkg)
		if got.Seq <= last {
			t.Fatalf("Seq %d after %d: not increasing", got.Seq, last)
		}
		last = got.Seq
		wantItem(t, "Receive returned", got, want)
		stored, pkg := mustItem(t, s, want.ID)
		wantItem(t, "Item", stored, want)
		if !bytes.Equal(pkg, c.pkg) {
			t.Fatalf("Item returned %d package bytes, want the %d received", len(pkg), len(c.pkg))
		}
		clear(pkg)
		if _, again := mustItem(t, s, want.ID); !bytes.Equal(again, c.pkg) {
			t.Fatal("modifying the returned package changed the stored one")
		}
		if n, err := s.LastSeq(logCtx(t)); err != nil || n != got.Seq {
			t.Fatalf("LastSeq = %d, %v; want %d", n, err, got.Seq)
		}

		// The same package again, with other fields: nothing changes.
		again := c.item
		again.MessageID, again.ReceivedAt = "another-id", edgeAt(99)
		dup, created, err := s.Receive(logCtx(t), again, c.pkg, nil)
		if err != nil || created {
			t.Fatalf("second Receive of %s = created %v, %v", c.item.MessageID, created, err)
		}
		wantItem(t, "second Receive returned", dup, want)
	}
	if n, err := s.LastSeq(logCtx(t)); err != nil || n != last {
		t.Fatalf("LastSeq after duplicates = %d, %v; want %d", n, err, last)
	}
	if _, _, err := s.Item(logCtx(t), bus.InboxID(sha256.Sum256([]byte("none")))); !errors.Is(err, bus.ErrNotFound) {
		t.Fatalf("Item of an unknown ID: %v, want ErrNotFound", err)
	}

	// A zero ReceivedAt is filled with the current time.
	now, nowPkg := edgeItem(t, "now")
	now.ReceivedAt = time.Time{}
	before := time.Now()
	got := mustReceive(t, s, now, nowPkg, nil)
	if got.ReceivedAt.Before(before.Add(-time.Minute)) || got.ReceivedAt.After(time.Now().Add(time.Minute)) {
		t.Fatalf("ReceivedAt of an item received with none = %v, want about %v", got.ReceivedAt, before)
	}
}

func testEdgeReceiveTimeline(t *testing.T, s bus.EdgeStore) {
	doc := mustPut(t, s, edgeDoc(t, "m1", "d1"))
	stPkg := edgePkg("status 03", 800)
	item := bus.InboxItem{
		SHA256: sha256.Sum256(stPkg), MessageID: "st-1", Type: bus.TypeStatus, Key: doc.Message.Key,
		Sender: edgeRecipient, Recipients: []string{edgeSender}, StatusCode: "03", ReceivedAt: edgeAt(5),
	}
	ev := bus.TimelineEvent{
		Kind: bus.TimelineStatus, At: edgeAt(5), SHA256: hex.EncodeToString(item.SHA256[:]), MessageID: "st-1",
		Recipients: []string{edgeRecipient}, StatusCode: "03",
	}
	ref := &bus.TimelineRef{SHA256: doc.Message.SHA256, Event: ev}
	mustReceive(t, s, item, stPkg, ref)
	if got := mustSent(t, s, "m1"); !sameEvents(got.Timeline, []bus.TimelineEvent{ev}) {
		t.Fatalf("timeline after a status arrived = %+v", got.Timeline)
	}
	// A redelivery of the same status adds nothing, even with a new event.
	ev2 := ev
	ev2.At = edgeAt(6)
	if _, created, err := s.Receive(logCtx(t), item, stPkg, &bus.TimelineRef{SHA256: doc.Message.SHA256, Event: ev2}); err != nil || created {
		t.Fatalf("second Receive = created %v, %v", created, err)
	}
	if got := mustSent(t, s, "m1"); !sameEvents(got.Timeline, []bus.TimelineEvent{ev}) {
		t.Fatalf("timeline after a duplicate status = %+v", got.Timeline)
	}
	// A status about a document not in the outbox is stored all the same.
	orphanPkg := edgePkg("status about nothing", 800)
	orphan := item
	orphan.SHA256, orphan.MessageID = sha256.Sum256(orphanPkg), "st-2"
	got := mustReceive(t, s, orphan, orphanPkg, &bus.TimelineRef{SHA256: sha256.Sum256([]byte("unknown document")), Event: ev2})
	mustItem(t, s, got.ID)
}

func testEdgeReceiveInvalid(t *testing.T, s bus.EdgeStore) {
	good, goodPkg := edgeItem(t, "good")
	first := mustReceive(t, s, good, goodPkg, nil)
	doc := mustPut(t, s, edgeDoc(t, "m1", "d1"))
	cases := []struct {
		name   string
		change func(it *bus.InboxItem, pkg *[]byte, ref **bus.TimelineRef)
	}{
		{"sha-mismatch", func(it *bus.InboxItem, _ *[]byte, _ **bus.TimelineRef) { it.SHA256[5] ^= 1 }},
		{"package-changed", func(_ *bus.InboxItem, pkg *[]byte, _ **bus.TimelineRef) { (*pkg)[100] ^= 1 }},
		{"no-package", func(it *bus.InboxItem, pkg *[]byte, _ **bus.TimelineRef) { *pkg, it.SHA256 = nil, sha256.Sum256(nil) }},
		{"no-message-id", func(it *bus.InboxItem, _ *[]byte, _ **bus.TimelineRef) { it.MessageID = "" }},
		{"bad-sender", func(it *bus.InboxItem, _ *[]byte, _ **bus.TimelineRef) { it.Sender = "not an organ" }},
		{"no-recipients", func(it *bus.InboxItem, _ *[]byte, _ **bus.TimelineRef) { it.Recipients = nil }},
		{"ack-type", func(it *bus.InboxItem, _ *[]byte, _ **bus.TimelineRef) { it.Type = bus.TypeAck }},
		{"no-type", func(it *bus.InboxItem, _ *[]byte, _ **bus.TimelineRef) { it.Type = "" }},
		{"status-without-code", func(it *bus.InboxItem, _ *[]byte, _ **bus.TimelineRef) { it.Type = bus.TypeStatus }},
		{"document-with-code", func(it *bus.InboxItem, _ *[]byte, _ **bus.TimelineRef) { it.StatusCode = "01" }},
		{"wrong-size", func(it *bus.InboxItem, _ *[]byte, _ **bus.TimelineRef) { it.Size = 7 }},
		{"already-taken", func(it *bus.InboxItem, _ *[]byte, _ **bus.TimelineRef) { it.TakenAt = edgeAt(3) }},
		{"already-answered", func(it *bus.InboxItem, _ *[]byte, _ **bus.TimelineRef) { it.Status01 = "m1" }},
		{"bad-event", func(_ *bus.InboxItem, _ *[]byte, ref **bus.TimelineRef) {
			*ref = &bus.TimelineRef{SHA256: doc.Message.SHA256, Event: bus.TimelineEvent{Kind: bus.TimelineStatus}}
		}},
	}
	for _, c := range cases {
		it, pkg := edgeItem(t, c.name)
		var ref *bus.TimelineRef
		c.change(&it, &pkg, &ref)
		_, _, err := s.Receive(logCtx(t), it, pkg, ref)
		if err == nil || errors.Is(err, bus.ErrConflict) || errors.Is(err, bus.ErrNotFound) {
			t.Errorf("%s: Receive error %v, want a validation error", c.name, err)
			continue
		}
		if _, _, err := s.Item(logCtx(t), bus.InboxID(it.SHA256)); !errors.Is(err, bus.ErrNotFound) {
			t.Errorf("%s: the refused item is stored: %v", c.name, err)
		}
	}
	if n, err := s.LastSeq(logCtx(t)); err != nil || n != first.Seq {
		t.Fatalf("LastSeq = %d, %v after refused receives; want %d", n, err, first.Seq)
	}
	items, err := s.Inbox(logCtx(t), 0, 100)
	if err != nil || len(items) != 1 {
		t.Fatalf("Inbox = %d items, %v; want only the valid one", len(items), err)
	}
	if got := mustSent(t, s, "m1"); len(got.Timeline) != 0 {
		t.Fatalf("a refused Receive changed a timeline: %+v", got.Timeline)
	}
}

func testEdgeInboxPaging(t *testing.T, s bus.EdgeStore) {
	if items, err := s.Inbox(logCtx(t), 0, 10); err != nil || len(items) != 0 {
		t.Fatalf("Inbox of an empty store = %d items, %v", len(items), err)
	}
	var seqs []uint64
	var ids []string
	for i := range 7 {
		it, pkg := edgeItem(t, fmt.Sprint(i))
		got := mustReceive(t, s, it, pkg, nil)
		seqs, ids = append(seqs, got.Seq), append(ids, got.ID)
	}
	var walked []string
	for after := uint64(0); ; {
		page, err := s.Inbox(logCtx(t), after, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		if len(page) > 3 {
			t.Fatalf("Inbox(%d, 3) returned %d items", after, len(page))
		}
		for _, it := range page {
			if it.Seq <= after {
				t.Fatalf("Inbox(%d) returned Seq %d", after, it.Seq)
			}
			after = it.Seq
			walked = append(walked, it.ID)
		}
	}
	if !slices.Equal(walked, ids) {
		t.Fatalf("paging the inbox gave %q, want %q", walked, ids)
	}
	page, err := s.Inbox(logCtx(t), seqs[3], 2)
	if err != nil || len(page) != 2 || page[0].Seq != seqs[4] || page[1].Seq != seqs[5] {
		t.Fatalf("Inbox(after item 4, 2) = %+v, %v", page, err)
	}
	for _, limit := range []int{0, -1} {
		if page, err := s.Inbox(logCtx(t), 0, limit); err != nil || len(page) != 0 {
			t.Fatalf("Inbox(0, %d) = %d items, %v; want none", limit, len(page), err)
		}
	}
	if n, err := s.LastSeq(logCtx(t)); err != nil || n != seqs[6] {
		t.Fatalf("LastSeq = %d, %v; want %d", n, err, seqs[6])
	}
}

// ---------------------------------------------------------------------------
// Publishing, receipts and timelines

func testEdgeSettle(t *testing.T, s bus.EdgeStore) {
	doc := edgeDoc(t, "m1", "d1")
	sub := bus.TimelineEvent{Kind: bus.TimelineSubmitted, At: edgeAt(0), SHA256: hex.EncodeToString(doc.Message.SHA256[:]), MessageID: "m1"}
	doc.Timeline = []bus.TimelineEvent{sub}
	mustPut(t, s, doc)
	// A later entry with a timeline of its own, which must stay apart.
	doc2 := edgeDoc(t, "m2", "d2")
	doc2.Timeline = []bus.TimelineEvent{{Kind: bus.TimelineSubmitted, At: edgeAt(1), SHA256: hex.EncodeToString(doc2.Message.SHA256[:]), MessageID: "m2"}}
	mustPut(t, s, doc2)
	sha := doc.Message.SHA256

	delivered := edgeEvent(bus.TimelineDelivered, 2, sha)
	delivered.Edge, delivered.Recipients, delivered.Receipt = "edge-hcm-01", []string{edgeRecipient}, []byte("receipt")
	if err := s.AddTimeline(logCtx(t), sha, delivered); err != nil {
		t.Fatalf("AddTimeline: %v", err)
	}
	// The same event in another time zone is the same instant: identical.
	again := delivered
	again.At = again.At.In(time.FixedZone("ICT", 7*3600))
	again.Receipt = slices.Clone(delivered.Receipt)
	if err := s.AddTimeline(logCtx(t), sha, again); err != nil {
		t.Fatal(err)
	}
	accepted := edgeEvent(bus.TimelineAccepted, 3, sha)
	if err := s.Settle(logCtx(t), sha, accepted, edgeAt(10)); err != nil {
		t.Fatalf("Settle: %v", err)
	}
	got := mustSent(t, s, "m1")
	if !got.Settled.Equal(edgeAt(10)) {
		t.Fatalf("Settled = %v, want %v", got.Settled, edgeAt(10))
	}
	want := []bus.TimelineEvent{sub, delivered, accepted}
	if !sameEvents(got.Timeline, want) {
		t.Fatalf("timeline = %+v\nwant %+v", got.Timeline, want)
	}
	wantUnsettled(t, s, edgeAt(1000), 10, "m2")

	// A receipt twice: the first time is kept, the event not repeated; a
	// different event is still appended.
	if err := s.Settle(logCtx(t), sha, accepted, edgeAt(20)); err != nil {
		t.Fatal(err)
	}
	delivered2 := delivered
	delivered2.Recipients = []string{"vxp.saas.02"}
	if err := s.Settle(logCtx(t), sha, delivered2, edgeAt(30)); err != nil {
		t.Fatal(err)
	}
	got = mustSent(t, s, "m1")
	want = append(want, delivered2)
	if !got.Settled.Equal(edgeAt(10)) || !sameEvents(got.Timeline, want) {
		t.Fatalf("after settling again: Settled %v, timeline %+v", got.Settled, got.Timeline)
	}
	if byKey, err := s.SentByKey(logCtx(t), doc.Message.Key); err != nil || len(byKey) != 1 || !sameEvents(byKey[0].Timeline, want) {
		t.Fatalf("SentByKey does not return the timeline: %v", err)
	}
	if got := mustSent(t, s, "m2"); !sameEvents(got.Timeline, doc2.Timeline) {
		t.Fatalf("the timeline of m2 = %+v, want only its own event", got.Timeline)
	}

	unknown := sha256.Sum256([]byte("unknown"))
	if err := s.Settle(logCtx(t), unknown, accepted, edgeAt(10)); !errors.Is(err, bus.ErrNotFound) {
		t.Errorf("Settle of an unknown SHA-256: %v, want ErrNotFound", err)
	}
	if err := s.AddTimeline(logCtx(t), unknown, accepted); !errors.Is(err, bus.ErrNotFound) {
		t.Errorf("AddTimeline of an unknown SHA-256: %v, want ErrNotFound", err)
	}
	if err := s.Settle(logCtx(t), sha, bus.TimelineEvent{At: edgeAt(1)}, edgeAt(10)); err == nil || errors.Is(err, bus.ErrNotFound) {
		t.Errorf("Settle with an event without kind: %v, want a validation error", err)
	}
	if err := s.Settle(logCtx(t), doc2SHA(t, s), accepted, time.Time{}); err == nil {
		t.Error("Settle at the zero time succeeded")
	}
	wantUnsettled(t, s, edgeAt(1000), 10, "m2")
}

func doc2SHA(t *testing.T, s bus.EdgeStore) [32]byte {
	t.Helper()
	return mustSent(t, s, "m2").Message.SHA256
}

func testEdgeUnsettled(t *testing.T, s bus.EdgeStore) {
	for i := 1; i <= 6; i++ {
		mustPut(t, s, edgeDoc(t, fmt.Sprintf("m%d", i), fmt.Sprintf("d%d", i)))
	}
	ctx := logCtx(t)
	// m4 published first, then m2; m6 settled.
	if err := s.MarkSent(ctx, []string{"m4"}, edgeAt(10)); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkSent(ctx, []string{"m2"}, edgeAt(20)); err != nil {
		t.Fatal(err)
	}
	if err := s.Settle(ctx, mustSent(t, s, "m6").Message.SHA256, edgeEvent(bus.TimelineAccepted, 5, [32]byte{}), edgeAt(25)); err != nil {
		t.Fatal(err)
	}
	wantUnsettled(t, s, edgeAt(5), 10, "m1", "m3", "m5")
	wantUnsettled(t, s, edgeAt(10), 10, "m1", "m3", "m5") // sent at 10 is not before 10
	wantUnsettled(t, s, edgeAt(15), 10, "m1", "m3", "m5", "m4")
	got := wantUnsettled(t, s, edgeAt(30), 10, "m1", "m3", "m5", "m2", "m4") // put order, not SentAt order
	for _, e := range got {
		want := mustSent(t, s, e.Message.ID)
		wantEntry(t, "Unsettled entry", e, want)
		if len(e.Message.Package) == 0 {
			t.Fatalf("Unsettled returned %s without its package", e.Message.ID)
		}
	}
	wantUnsettled(t, s, edgeAt(30), 2, "m1", "m3")
	wantUnsettled(t, s, edgeAt(30), 4, "m1", "m3", "m5", "m2")
	wantUnsettled(t, s, edgeAt(30), 0)
	// Publishing everything due moves the never-sent ones behind.
	if err := s.MarkSent(ctx, []string{"m1", "m3", "m5"}, edgeAt(40)); err != nil {
		t.Fatal(err)
	}
	wantUnsettled(t, s, edgeAt(30), 10, "m2", "m4")
	wantUnsettled(t, s, edgeAt(50), 10, "m1", "m2", "m3", "m4", "m5")
	for i := 1; i <= 5; i++ {
		if err := s.Settle(ctx, mustSent(t, s, fmt.Sprintf("m%d", i)).Message.SHA256, edgeEvent(bus.TimelineAccepted, 50, [32]byte{}), edgeAt(50)); err != nil {
			t.Fatal(err)
		}
	}
	wantUnsettled(t, s, edgeAt(1000), 10)
}

func testEdgeMarkSent(t *testing.T, s bus.EdgeStore) {
	mustPut(t, s, edgeDoc(t, "m1", "d1"))
	ack := edgeDoc(t, "ack1", "d2")
	ack.Message.Type = bus.TypeAck
	mustPut(t, s, ack)
	ctx := logCtx(t)
	if err := s.MarkSent(ctx, []string{"m1", "ack1"}, edgeAt(10)); err != nil {
		t.Fatalf("MarkSent: %v", err)
	}
	if err := s.MarkSent(ctx, []string{"m1"}, edgeAt(20)); err != nil {
		t.Fatal(err)
	}
	m1 := mustSent(t, s, "m1")
	if m1.Attempts != 2 || !m1.SentAt.Equal(edgeAt(20)) || !m1.Settled.IsZero() {
		t.Fatalf("after two publishes: Attempts %d SentAt %v Settled %v", m1.Attempts, m1.SentAt, m1.Settled)
	}
	a := mustSent(t, s, "ack1")
	if a.Attempts != 1 || !a.SentAt.Equal(edgeAt(10)) || !a.Settled.Equal(edgeAt(10)) {
		t.Fatalf("ack after its publish: Attempts %d SentAt %v Settled %v; want settled when published", a.Attempts, a.SentAt, a.Settled)
	}
	wantUnsettled(t, s, edgeAt(1000), 10, "m1")

	// An unknown ID fails the call and records nothing.
	if err := s.MarkSent(ctx, []string{"m1", "no-such-id"}, edgeAt(30)); !errors.Is(err, bus.ErrNotFound) {
		t.Fatalf("MarkSent with an unknown ID: %v, want ErrNotFound", err)
	}
	if got := mustSent(t, s, "m1"); got.Attempts != 2 || !got.SentAt.Equal(edgeAt(20)) {
		t.Fatalf("a failed MarkSent changed m1: Attempts %d SentAt %v", got.Attempts, got.SentAt)
	}
	if err := s.MarkSent(ctx, []string{"m1"}, time.Time{}); err == nil {
		t.Fatal("MarkSent at the zero time succeeded")
	}
	if err := s.MarkSent(ctx, nil, edgeAt(40)); err != nil {
		t.Fatalf("MarkSent of nothing: %v", err)
	}
	// Settled entries count publishes but stay settled.
	if err := s.MarkSent(ctx, []string{"ack1"}, edgeAt(50)); err != nil {
		t.Fatal(err)
	}
	if a := mustSent(t, s, "ack1"); a.Attempts != 2 || !a.Settled.Equal(edgeAt(10)) {
		t.Fatalf("ack after a second publish: Attempts %d Settled %v", a.Attempts, a.Settled)
	}
	wantUnsettled(t, s, edgeAt(1000), 10, "m1")
}

func testEdgeSentByKey(t *testing.T, s bus.EdgeStore) {
	item, pkg := edgeItem(t, "a")
	in := mustReceive(t, s, item, pkg, nil)
	// A letter, its update, a status and an ack with the same key, and a
	// document with a key that extends it.
	mustPut(t, s, edgeDoc(t, "m1", "d1"))
	st := edgeStatus(t, "s1", "02", in.ID)
	st.Message.Key = edgeKey(t, "d1")
	mustPut(t, s, st)
	mustPut(t, s, edgeDoc(t, "m2", "d1/x"))
	mustPut(t, s, edgeDoc(t, "m3", "d1"))
	ack := edgeDoc(t, "ack", "d1")
	ack.Message.Type = bus.TypeAck
	mustPut(t, s, ack)
	got, err := s.SentByKey(logCtx(t), edgeKey(t, "d1"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range got {
		ids = append(ids, e.Message.ID)
		wantEntry(t, "SentByKey entry", e, mustSent(t, s, e.Message.ID))
	}
	if !slices.Equal(ids, []string{"m1", "m3"}) {
		t.Fatalf("SentByKey(d1) = %q, want the documents m1, m3", ids)
	}
}

// ---------------------------------------------------------------------------
// Concurrency

const edgeRacers = 16

func testEdgeConcurrentPut(t *testing.T, s bus.EdgeStore) {
	input := sha256.Sum256([]byte("one submission"))
	results := make([]bus.OutboxEntry, edgeRacers)
	created := make([]bool, edgeRacers)
	var wg sync.WaitGroup
	for g := range edgeRacers {
		wg.Go(func() {
			e := edgeDoc(t, fmt.Sprintf("m%d", g), "d1") // each signed anew: own ID, own bytes
			e.Client, e.IdempotencyKey, e.InputSHA256 = "dms", "retry-storm", input
			var err error
			results[g], created[g], err = s.Put(logCtx(t), e)
			if err != nil {
				t.Errorf("goroutine %d: Put: %v", g, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	winner := -1
	for g := range edgeRacers {
		if created[g] {
			if winner >= 0 {
				t.Fatalf("goroutines %d and %d both created an entry for one idempotency key", winner, g)
			}
			winner = g
		}
	}
	if winner < 0 {
		t.Fatal("no goroutine created the entry")
	}
	want := fmt.Sprintf("m%d", winner)
	for g, r := range results {
		if r.Message.ID != want {
			t.Fatalf("goroutine %d got entry %s, want %s", g, r.Message.ID, want)
		}
		if g != winner {
			wantNotSent(t, s, fmt.Sprintf("m%d", g))
		}
	}
	wantUnsettled(t, s, edgeAt(1000), 100, want)
}

func testEdgeConcurrentReceive(t *testing.T, s bus.EdgeStore) {
	item, pkg := edgeItem(t, "once")
	results := make([]bus.InboxItem, edgeRacers)
	created := make([]bool, edgeRacers)
	var wg sync.WaitGroup
	for g := range edgeRacers {
		wg.Go(func() {
			var err error
			results[g], created[g], err = s.Receive(logCtx(t), item, slices.Clone(pkg), nil)
			if err != nil {
				t.Errorf("goroutine %d: Receive: %v", g, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	n := 0
	for g := range edgeRacers {
		if created[g] {
			n++
		}
		if results[g].Seq != results[0].Seq || results[g].ID != bus.InboxID(item.SHA256) {
			t.Fatalf("goroutine %d got Seq %d ID %s; goroutine 0 got Seq %d", g, results[g].Seq, results[g].ID, results[0].Seq)
		}
	}
	if n != 1 {
		t.Fatalf("%d goroutines created the item, want 1", n)
	}
	items, err := s.Inbox(logCtx(t), 0, 100)
	if err != nil || len(items) != 1 {
		t.Fatalf("Inbox = %d items, %v; want 1", len(items), err)
	}
	if last, err := s.LastSeq(logCtx(t)); err != nil || last != results[0].Seq {
		t.Fatalf("LastSeq = %d, %v; want %d", last, err, results[0].Seq)
	}
}

func testEdgeConcurrentTake(t *testing.T, s bus.EdgeStore) {
	item, pkg := edgeItem2(t, "a")
	in := mustReceive(t, s, item, pkg, nil)
	results := make([]bus.InboxItem, edgeRacers)
	var wg sync.WaitGroup
	for g := range edgeRacers {
		wg.Go(func() {
			var err error
			results[g], err = s.Take(logCtx(t), in.ID, bus.Taking{At: edgeAt(10 + g), Statuses: []bus.OutboxEntry{
				edgeStatusFrom(t, fmt.Sprintf("s01-%d-a", g), "01", in.ID, edgeRecipient),
				edgeStatusFrom(t, fmt.Sprintf("s01-%d-b", g), "01", in.ID, edgeRecipient2),
			}})
			if err != nil {
				t.Errorf("goroutine %d: Take: %v", g, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	stored, _ := mustItem(t, s, in.ID)
	var put []string
	for g := range edgeRacers {
		for _, suffix := range []string{"a", "b"} {
			id := fmt.Sprintf("s01-%d-%s", g, suffix)
			if _, err := s.Sent(logCtx(t), id); err == nil {
				put = append(put, id)
			} else if !errors.Is(err, bus.ErrNotFound) {
				t.Fatal(err)
			}
		}
		if results[g].Status01 != stored.Status01 || !results[g].TakenAt.Equal(stored.TakenAt) {
			t.Fatalf("goroutine %d saw Status01 %q TakenAt %v; stored %q %v", g, results[g].Status01, results[g].TakenAt, stored.Status01, stored.TakenAt)
		}
	}
	if len(put) != 2 || put[0] != stored.Status01 || put[1] != stored.Status01[:len(stored.Status01)-1]+"b" {
		t.Fatalf("statuses 01 in the outbox: %q (Status01 %q); want one Take's pair", put, stored.Status01)
	}
	wantUnsettled(t, s, edgeAt(1000), 100, put...)
}

// ---------------------------------------------------------------------------
// Limits and cancellation

func testEdgeLarge(t *testing.T, s bus.EdgeStore) {
	const size = 16 << 20
	e := edgeDoc(t, "big", "d1")
	e.Message.Package = edgePkg("a big document", size)
	e.Message.SHA256 = sha256.Sum256(e.Message.Package)
	mustPut(t, s, e)
	got := mustSent(t, s, "big")
	if !bytes.Equal(got.Message.Package, e.Message.Package) {
		t.Fatalf("Sent returned %d package bytes, want the %d put", len(got.Message.Package), size)
	}
	due := wantUnsettled(t, s, edgeAt(1000), 10, "big")
	if !bytes.Equal(due[0].Message.Package, e.Message.Package) {
		t.Fatal("Unsettled returned other package bytes")
	}

	item, _ := edgeItem(t, "big")
	pkg := edgePkg("a big incoming document", size)
	item.SHA256 = sha256.Sum256(pkg)
	in := mustReceive(t, s, item, pkg, nil)
	if in.Size != size {
		t.Fatalf("Size = %d, want %d", in.Size, size)
	}
	_, back := mustItem(t, s, in.ID)
	if !bytes.Equal(back, pkg) {
		t.Fatalf("Item returned %d package bytes, want the %d received", len(back), size)
	}
}

func testEdgeCancelled(t *testing.T, s bus.EdgeStore) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e := edgeDoc(t, "m1", "d1")
	if _, _, err := s.Put(ctx, e); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a cancelled context: %v, want context.Canceled", err)
	}
	item, pkg := edgeItem(t, "a")
	if _, _, err := s.Receive(ctx, item, pkg, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Receive with a cancelled context: %v, want context.Canceled", err)
	}
	wantNotSent(t, s, "m1")
	if n, err := s.LastSeq(logCtx(t)); err != nil || n != 0 {
		t.Fatalf("LastSeq after cancelled receives = %d, %v", n, err)
	}
	// The same calls with a live context work.
	mustPut(t, s, e)
	mustReceive(t, s, item, pkg, nil)
}
