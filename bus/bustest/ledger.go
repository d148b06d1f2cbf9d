package bustest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"truc.vn/truc/bus"
)

// TestLedger runs the bus.Ledger conformance suite. newLedger is called
// once per subtest and returns a new, empty ledger whose log is empty and
// which nothing else appends to; the factory closes it (t.Cleanup).
// Subtests run in parallel.
func TestLedger(t *testing.T, newLedger func(t *testing.T) bus.Ledger) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, l bus.Ledger)
	}{
		{"RecordGetRoundTrip", testLedgerRoundTrip},
		{"RecordTwiceChangesNothing", testLedgerDedup},
		{"DeliveredAppendsOnceThenCounts", testLedgerDelivered},
		{"AckedIdempotent", testLedgerAcked},
		{"AppendAddsOneLeaf", testLedgerAppend},
		{"DueOrderAndFilter", testLedgerDue},
		{"ByKeyInRecordOrder", testLedgerByKey},
		{"PackagePurgeDue", testLedgerPurge},
		{"LargePackage", testLedgerLargePackage},
		{"ConcurrentRecordAndDelivered", testLedgerConcurrent},
		{"NotFound", testLedgerNotFound},
		{"InvalidInputChangesNothing", testLedgerInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newLedger(t))
		})
	}
}

// ledgerT0 is the suite's clock: every time is an offset from it.
var ledgerT0 = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return ledgerT0.Add(d) }

const (
	fixtureSender = "000.00.00.G22"
	senderEdge    = "edge-sender"
)

// fixture is what Record takes: an entry, its package and its event.
type fixture struct {
	e   bus.Entry
	pkg []byte
	ev  bus.Event
}

func fixtureKey(doc string) string { return fixtureSender + "/" + doc }

// recipientOf is the OrganId that route i of fixture n is for.
func recipientOf(n, i int) string { return fmt.Sprintf("000.%02d.%02d.H%02d", n%100, i, n/100%100) }

func routesFor(n int, edges []string) ([]string, []bus.Route) {
	var recips []string
	var routes []bus.Route
	for i, edge := range edges {
		r := recipientOf(n, i)
		recips = append(recips, r)
		routes = append(routes, bus.Route{Edge: edge, Recipients: []string{r}, State: bus.RoutePending, Leaf: -1})
	}
	return recips, routes
}

func pkgBytes(n int, what string) ([]byte, [32]byte) {
	pkg := fmt.Appendf(nil, "<edXML %s %d \x00\xff\xfe bytes a text encoding would mangle>", what, n)
	return pkg, sha256.Sum256(pkg)
}

// document is an accepted document n of letter doc recorded at when, with
// one route (one recipient) per edge.
func document(n int, doc string, when time.Time, edges ...string) fixture {
	pkg, sha := pkgBytes(n, "document")
	recips, routes := routesFor(n, edges)
	e := bus.Entry{
		SHA256:     sha,
		MessageID:  fmt.Sprintf("msg-doc-%d", n),
		Type:       bus.TypeDocument,
		Key:        fixtureKey(doc),
		Sender:     fixtureSender,
		FromEdge:   senderEdge,
		At:         when,
		Size:       len(pkg),
		Recipients: recips,
		DocType:    "0",
		Routes:     routes,
	}
	ev := bus.Event{
		Kind:          bus.EventSubmissionAccepted,
		Time:          when,
		MessageID:     e.MessageID,
		PackageSHA256: sha,
		Sender:        fixtureSender,
		Recipients:    recips,
		Evidence: bus.Evidence{
			VerifiedAt: when,
			Chain:      [][32]byte{sha256.Sum256([]byte("leaf cert")), sha256.Sum256([]byte("root cert"))},
			CRLs:       []bus.CRLEvidence{{Issuer: sha256.Sum256([]byte("root cert")), Number: "42"}},
		},
	}
	return fixture{e, pkg, ev}
}

// status is an accepted status 01 of letter doc from the recipient of
// route 0 of document n, going back to the sender's edge.
func status(n int, doc string, when time.Time) fixture {
	pkg, sha := pkgBytes(n, "status")
	from := recipientOf(n, 0)
	e := bus.Entry{
		SHA256:     sha,
		MessageID:  fmt.Sprintf("msg-status-%d", n),
		Type:       bus.TypeStatus,
		Key:        fixtureKey(doc),
		Sender:     from,
		FromEdge:   "edge-a",
		At:         when,
		Size:       len(pkg),
		Recipients: []string{fixtureSender},
		StatusCode: "01",
		Routes:     []bus.Route{{Edge: senderEdge, Recipients: []string{fixtureSender}}},
	}
	ev := bus.Event{Kind: bus.EventStatus, Time: when, MessageID: e.MessageID, PackageSHA256: sha, Sender: from, Recipients: e.Recipients, StatusCode: "01"}
	return fixture{e, pkg, ev}
}

// rejected is a submission of letter doc the axis refused: no bytes kept,
// no routes.
func rejected(n int, doc string, when time.Time) fixture {
	_, sha := pkgBytes(n, "rejected")
	e := bus.Entry{
		SHA256:    sha,
		MessageID: fmt.Sprintf("msg-rej-%d", n),
		Type:      bus.TypeDocument,
		Key:       fixtureKey(doc),
		Sender:    fixtureSender,
		FromEdge:  senderEdge,
		At:        when,
		Size:      1234,
		Rejected:  "revoked",
		Detail:    "the signer's certificate is revoked",
	}
	ev := bus.Event{Kind: bus.EventSubmissionRejected, Time: when, MessageID: e.MessageID, PackageSHA256: sha, Sender: fixtureSender, Reason: "revoked", Detail: e.Detail}
	return fixture{e, nil, ev}
}

// notice is edge's signed rejection notice for the package of about,
// routed back to the original sender's edge.
func notice(n int, about fixture, edge string, when time.Time) fixture {
	pkg, sha := pkgBytes(n, "rejection notice")
	from := about.e.Routes[slices.IndexFunc(about.e.Routes, func(r bus.Route) bool { return r.Edge == edge })].Recipients[0]
	e := bus.Entry{
		SHA256:     sha,
		MessageID:  fmt.Sprintf("msg-notice-%d", n),
		Type:       bus.TypeRejection,
		Key:        about.e.Key,
		Sender:     from,
		FromEdge:   edge,
		At:         when,
		Size:       len(pkg),
		Recipients: []string{about.e.Sender},
		Subject:    hex.EncodeToString(about.e.SHA256[:]),
		Routes:     []bus.Route{{Edge: about.e.FromEdge, Recipients: []string{about.e.Sender}, State: bus.RoutePending, Leaf: -1}},
	}
	ev := bus.Event{Kind: bus.EventRejectionNotice, Time: when, MessageID: about.e.MessageID, PackageSHA256: about.e.SHA256,
		Sender: about.e.Sender, Recipients: []string{from}, Edge: edge, Reason: "bad-signature", Detail: "signature does not verify"}
	return fixture{e, pkg, ev}
}

// deliveredEvent is the event of the delivery of f to edge at when.
func deliveredEvent(f fixture, edge string, when time.Time) bus.Event {
	var recips []string
	for _, r := range f.e.Routes {
		if r.Edge == edge {
			recips = r.Recipients
		}
	}
	return bus.Event{Kind: bus.EventDelivered, Time: when, MessageID: f.e.MessageID, PackageSHA256: f.e.SHA256, Sender: f.e.Sender, Recipients: recips, Edge: edge}
}

func encodeEvent(t *testing.T, ev bus.Event) []byte {
	t.Helper()
	b, err := ev.Encode()
	if err != nil {
		t.Fatalf("the suite built an invalid event: %v", err)
	}
	return b
}

// expected is what Record must store for f with its event at leaf.
func expected(f fixture, leaf int64) bus.Entry {
	e := f.e
	e.Leaf = leaf
	e.Routes = nil
	for _, r := range f.e.Routes {
		e.Routes = append(e.Routes, bus.Route{Edge: r.Edge, Recipients: r.Recipients, State: bus.RoutePending, Leaf: -1})
	}
	return e
}

// normTime drops the location and monotonic reading of non-zero times.
func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.Unix(0, t.UnixNano()).UTC()
}

// normEntry makes entries comparable with reflect.DeepEqual: times in
// UTC, empty slices nil.
func normEntry(e bus.Entry) bus.Entry {
	e.At = normTime(e.At)
	if len(e.Recipients) == 0 {
		e.Recipients = nil
	}
	routes := e.Routes
	e.Routes = nil
	for _, r := range routes {
		r.SentAt, r.AckedAt = normTime(r.SentAt), normTime(r.AckedAt)
		if len(r.Recipients) == 0 {
			r.Recipients = nil
		}
		e.Routes = append(e.Routes, r)
	}
	return e
}

func checkEntry(t *testing.T, what string, got, want bus.Entry) {
	t.Helper()
	if g, w := normEntry(got), normEntry(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

func ledgerCtx(t *testing.T) context.Context { return logCtx(t) }

func mustRecord(t *testing.T, l bus.Ledger, f fixture) bus.Entry {
	t.Helper()
	stored, created, err := l.Record(ledgerCtx(t), f.e, f.pkg, f.ev)
	if err != nil {
		t.Fatalf("Record(%s): %v", f.e.MessageID, err)
	}
	if !created {
		t.Fatalf("Record(%s): created=false for a new SHA-256", f.e.MessageID)
	}
	return stored
}

func mustGet(t *testing.T, l bus.Ledger, sha [32]byte) bus.Entry {
	t.Helper()
	e, err := l.Get(ledgerCtx(t), sha)
	if err != nil {
		t.Fatalf("Get(%x): %v", sha[:8], err)
	}
	return e
}

func mustDelivered(t *testing.T, l bus.Ledger, f fixture, edge string, when time.Time) bus.Entry {
	t.Helper()
	e, err := l.Delivered(ledgerCtx(t), f.e.SHA256, edge, deliveredEvent(f, edge, when), when)
	if err != nil {
		t.Fatalf("Delivered(%s, %s): %v", f.e.MessageID, edge, err)
	}
	return e
}

func mustAcked(t *testing.T, l bus.Ledger, f fixture, edge, reason string, when time.Time) bus.Entry {
	t.Helper()
	e, err := l.Acked(ledgerCtx(t), f.e.SHA256, edge, reason, when)
	if err != nil {
		t.Fatalf("Acked(%s, %s): %v", f.e.MessageID, edge, err)
	}
	return e
}

func route(t *testing.T, e bus.Entry, edge string) bus.Route {
	t.Helper()
	for _, r := range e.Routes {
		if r.Edge == edge {
			return r
		}
	}
	t.Fatalf("entry %s has no route to %s", e.MessageID, edge)
	return bus.Route{}
}

// checkLeaf requires leaf index of l's log to be exactly want.
func checkLeaf(t *testing.T, l bus.Ledger, index int64, want []byte) {
	t.Helper()
	got, err := l.Log().Leaf(ledgerCtx(t), index)
	if err != nil {
		t.Fatalf("Log().Leaf(%d): %v", index, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Log().Leaf(%d) = %.120q, want %.120q", index, got, want)
	}
}

func testLedgerRoundTrip(t *testing.T, l bus.Ledger) {
	doc := document(1, "CV-1", at(0), "edge-a", "edge-b")
	// Whatever state the caller puts in routes, Record stores them pending.
	doc.e.Routes[1] = bus.Route{Edge: "edge-b", Recipients: doc.e.Routes[1].Recipients, State: bus.RouteAcked, Leaf: 7, Attempts: 3, SentAt: at(1), AckedAt: at(2), Rejected: "x"}
	fixtures := []fixture{doc, status(2, "CV-1", at(time.Second)), rejected(3, "CV-1", at(2*time.Second)), notice(4, doc, "edge-b", at(3*time.Second))}
	for i, f := range fixtures {
		stored := mustRecord(t, l, f)
		want := expected(f, int64(i))
		checkEntry(t, "Record's entry of "+f.e.MessageID, stored, want)
		checkEntry(t, "Get of "+f.e.MessageID, mustGet(t, l, f.e.SHA256), want)
		// The leaf is the event's encoding, at the entry's Leaf.
		checkLeaf(t, l, stored.Leaf, encodeEvent(t, f.ev))
		pkg, err := l.Package(ledgerCtx(t), f.e.SHA256)
		if f.pkg == nil {
			if !errors.Is(err, bus.ErrNotFound) {
				t.Fatalf("Package of a rejected entry: %d bytes, %v; want ErrNotFound", len(pkg), err)
			}
			continue
		}
		if err != nil || !bytes.Equal(pkg, f.pkg) {
			t.Fatalf("Package(%s) = %q, %v; want %q", f.e.MessageID, pkg, err, f.pkg)
		}
		clear(pkg) // a copy: scribbling on it changes nothing
		if again, _ := l.Package(ledgerCtx(t), f.e.SHA256); !bytes.Equal(again, f.pkg) {
			t.Fatalf("Package after modifying a returned copy = %q", again)
		}
	}
	if n := mustSize(t, l.Log()); n != int64(len(fixtures)) {
		t.Fatalf("log size %d after %d records", n, len(fixtures))
	}
	// Entries returned are copies.
	e := mustGet(t, l, doc.e.SHA256)
	e.Recipients[0], e.Routes[0].Recipients[0], e.Routes[0].State = "999", "999", bus.RouteAcked
	checkEntry(t, "Get after modifying a returned entry", mustGet(t, l, doc.e.SHA256), expected(doc, 0))
}

func testLedgerDedup(t *testing.T, l bus.Ledger) {
	first := document(1, "CV-1", at(0), "edge-a")
	mustRecord(t, l, first)
	mustDelivered(t, l, first, "edge-a", at(time.Second))
	want := mustGet(t, l, first.e.SHA256)
	size := mustSize(t, l.Log())

	// The same SHA-256 with other data (a replay recorded later, or the
	// same bytes rejected this time) changes nothing.
	later := first
	later.e.At, later.ev.Time = at(time.Hour), at(time.Hour)
	later.e.Routes = []bus.Route{{Edge: "edge-z", Recipients: []string{"000.99.99.H99"}}}
	asRejected := rejected(9, "CV-9", at(time.Hour))
	asRejected.e.SHA256, asRejected.ev.PackageSHA256 = first.e.SHA256, first.e.SHA256
	asRejected.e.MessageID, asRejected.ev.MessageID = first.e.MessageID, first.e.MessageID
	for _, f := range []fixture{first, later, asRejected} {
		stored, created, err := l.Record(ledgerCtx(t), f.e, f.pkg, f.ev)
		if err != nil || created {
			t.Fatalf("second Record of %x: created=%t, %v; want created=false", f.e.SHA256[:8], created, err)
		}
		checkEntry(t, "the entry a duplicate Record returns", stored, want)
	}
	checkEntry(t, "Get after duplicate records", mustGet(t, l, first.e.SHA256), want)
	if n := mustSize(t, l.Log()); n != size {
		t.Fatalf("duplicate records changed the log size from %d to %d", size, n)
	}
	if pkg, err := l.Package(ledgerCtx(t), first.e.SHA256); err != nil || !bytes.Equal(pkg, first.pkg) {
		t.Fatalf("Package after duplicate records = %q, %v", pkg, err)
	}
}

func testLedgerDelivered(t *testing.T, l bus.Ledger) {
	f := document(1, "CV-1", at(0), "edge-a", "edge-b")
	mustRecord(t, l, f)
	size := mustSize(t, l.Log())

	e := mustDelivered(t, l, f, "edge-a", at(time.Second))
	r := route(t, e, "edge-a")
	if r.State != bus.RouteDelivered || r.Leaf != size || r.Attempts != 1 || !r.SentAt.Equal(at(time.Second)) {
		t.Fatalf("route after the first delivery: %+v; want delivered, leaf %d, 1 attempt, sent at +1s", r, size)
	}
	if other := route(t, e, "edge-b"); other.State != bus.RoutePending || other.Leaf != -1 || other.Attempts != 0 {
		t.Fatalf("the other route changed: %+v", other)
	}
	checkEntry(t, "Get after Delivered", mustGet(t, l, f.e.SHA256), e)
	checkLeaf(t, l, r.Leaf, encodeEvent(t, deliveredEvent(f, "edge-a", at(time.Second))))
	if n := mustSize(t, l.Log()); n != size+1 {
		t.Fatalf("the first delivery grew the log from %d to %d, want one leaf", size, n)
	}

	// A redelivery only counts the attempt and moves SentAt.
	e = mustDelivered(t, l, f, "edge-a", at(time.Minute))
	r2 := route(t, e, "edge-a")
	if r2.State != bus.RouteDelivered || r2.Leaf != r.Leaf || r2.Attempts != 2 || !r2.SentAt.Equal(at(time.Minute)) {
		t.Fatalf("route after a redelivery: %+v; want delivered, leaf %d, 2 attempts, sent at +1m", r2, r.Leaf)
	}
	// So does a delivery of an acked route; it stays acked.
	mustAcked(t, l, f, "edge-a", "", at(2*time.Minute))
	e = mustDelivered(t, l, f, "edge-a", at(3*time.Minute))
	r3 := route(t, e, "edge-a")
	if r3.State != bus.RouteAcked || r3.Leaf != r.Leaf || r3.Attempts != 3 || !r3.SentAt.Equal(at(3*time.Minute)) || !r3.AckedAt.Equal(at(2*time.Minute)) {
		t.Fatalf("acked route after another delivery: %+v; want acked, leaf %d, 3 attempts, sent at +3m, acked at +2m", r3, r.Leaf)
	}
	if n := mustSize(t, l.Log()); n != size+1 {
		t.Fatalf("redeliveries grew the log to %d, want %d", n, size+1)
	}
	checkEntry(t, "Get after redeliveries", mustGet(t, l, f.e.SHA256), e)

	// The second route gets its own leaf.
	e = mustDelivered(t, l, f, "edge-b", at(4*time.Minute))
	if rb := route(t, e, "edge-b"); rb.Leaf != size+1 || rb.State != bus.RouteDelivered {
		t.Fatalf("second route after its delivery: %+v; want leaf %d", rb, size+1)
	}
	checkLeaf(t, l, size+1, encodeEvent(t, deliveredEvent(f, "edge-b", at(4*time.Minute))))
}

func testLedgerAcked(t *testing.T, l bus.Ledger) {
	f := document(1, "CV-1", at(0), "edge-a", "edge-b", "edge-c")
	mustRecord(t, l, f)
	mustDelivered(t, l, f, "edge-a", at(time.Second))
	mustDelivered(t, l, f, "edge-b", at(time.Second))
	size := mustSize(t, l.Log())

	e := mustAcked(t, l, f, "edge-a", "", at(time.Minute))
	ra := route(t, e, "edge-a")
	if ra.State != bus.RouteAcked || !ra.AckedAt.Equal(at(time.Minute)) || ra.Rejected != "" || ra.Leaf != size-2 {
		t.Fatalf("route after Acked: %+v", ra)
	}
	// Acking again keeps the first time and outcome.
	again := mustAcked(t, l, f, "edge-a", "bad-signature", at(time.Hour))
	if r := route(t, again, "edge-a"); !reflect.DeepEqual(normEntry(bus.Entry{Routes: []bus.Route{r}}), normEntry(bus.Entry{Routes: []bus.Route{ra}})) {
		t.Fatalf("route after a second Acked: %+v; want it unchanged %+v", r, ra)
	}
	checkEntry(t, "Get after two acks", mustGet(t, l, f.e.SHA256), again)

	// A rejection notice's reason is kept.
	e = mustAcked(t, l, f, "edge-b", "bad-signature", at(2*time.Minute))
	if rb := route(t, e, "edge-b"); rb.State != bus.RouteAcked || rb.Rejected != "bad-signature" || !rb.AckedAt.Equal(at(2*time.Minute)) {
		t.Fatalf("route after a rejection: %+v", rb)
	}
	// A route can be acked before its delivery was recorded (the axis
	// crashed between publishing and recording).
	e = mustAcked(t, l, f, "edge-c", "", at(3*time.Minute))
	if rc := route(t, e, "edge-c"); rc.State != bus.RouteAcked || rc.Leaf != -1 {
		t.Fatalf("pending route after Acked: %+v", rc)
	}
	if n := mustSize(t, l.Log()); n != size {
		t.Fatalf("acks changed the log size from %d to %d", size, n)
	}
}

func testLedgerAppend(t *testing.T, l bus.Ledger) {
	f := document(1, "CV-1", at(0), "edge-a")
	mustRecord(t, l, f)
	before := mustGet(t, l, f.e.SHA256)
	size := mustSize(t, l.Log())
	ev := bus.Event{Kind: bus.EventStatus, Time: at(time.Hour), MessageID: "msg-status-x", PackageSHA256: sha256.Sum256([]byte("x")),
		Sender: recipientOf(1, 0), Recipients: []string{fixtureSender}, StatusCode: "03"}
	idx, err := l.Append(ledgerCtx(t), f.e.SHA256, ev)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	if idx != size {
		t.Fatalf("Append returned leaf %d, want %d", idx, size)
	}
	checkLeaf(t, l, idx, encodeEvent(t, ev))
	if n := mustSize(t, l.Log()); n != size+1 {
		t.Fatalf("Append grew the log from %d to %d", size, n)
	}
	checkEntry(t, "entry after Append", mustGet(t, l, f.e.SHA256), before)
}

// dueList renders Due's answer as "message-id→edge" for comparison.
func dueList(t *testing.T, l bus.Ledger, sentBefore time.Time, limit int) []string {
	t.Helper()
	due, err := l.Due(ledgerCtx(t), sentBefore, limit)
	if err != nil {
		t.Fatalf("Due: %v", err)
	}
	var out []string
	for _, d := range due {
		if d.SHA256 != d.Entry.SHA256 || d.Key != d.Entry.Key {
			t.Fatalf("Redelivery %x/%s has the entry of %x/%s", d.SHA256[:8], d.Key, d.Entry.SHA256[:8], d.Entry.Key)
		}
		checkEntry(t, "the entry of a Redelivery", d.Entry, mustGet(t, l, d.SHA256))
		route(t, d.Entry, d.Edge)
		out = append(out, d.Entry.MessageID+"→"+d.Edge)
	}
	return out
}

func testLedgerDue(t *testing.T, l bus.Ledger) {
	if got := dueList(t, l, at(time.Hour), 10); len(got) != 0 {
		t.Fatalf("Due of an empty ledger: %q", got)
	}
	d1 := document(1, "CV-1", at(0), "edge-a", "edge-b")
	d2 := document(2, "CV-2", at(time.Second), "edge-a", "edge-b")
	d3 := document(3, "CV-3", at(2*time.Second), "edge-a")
	d4 := document(4, "CV-4", at(3*time.Second), "edge-c")
	rej := rejected(5, "CV-5", at(4*time.Second))
	for _, f := range []fixture{d1, d2, d3, d4, rej} {
		mustRecord(t, l, f)
	}
	mustDelivered(t, l, d1, "edge-a", at(30*time.Second)) // delivered, not acked
	mustDelivered(t, l, d1, "edge-b", at(10*time.Second)) // delivered, acked below
	mustAcked(t, l, d1, "edge-b", "", at(11*time.Second))
	mustDelivered(t, l, d2, "edge-b", at(20*time.Second)) // delivered, not acked
	mustDelivered(t, l, d3, "edge-a", at(50*time.Second)) // delivered just at the cut below
	mustAcked(t, l, d4, "edge-c", "", at(time.Minute))    // acked while pending
	// Pending routes first, in record order; then delivered ones, oldest
	// publish first (d2→edge-b at +20s, d1→edge-a at +30s, d3→edge-a at
	// +50s); not acked ones, not those sent at or after the cut.
	cases := []struct {
		name       string
		sentBefore time.Time
		limit      int
		want       []string
	}{
		{"all", at(time.Hour), 100, []string{"msg-doc-2→edge-a", "msg-doc-2→edge-b", "msg-doc-1→edge-a", "msg-doc-3→edge-a"}},
		{"cut-excludes-sent-at-cut", at(50 * time.Second), 100, []string{"msg-doc-2→edge-a", "msg-doc-2→edge-b", "msg-doc-1→edge-a"}},
		{"cut-between", at(25 * time.Second), 100, []string{"msg-doc-2→edge-a", "msg-doc-2→edge-b"}},
		{"pending-regardless-of-cut", at(0), 100, []string{"msg-doc-2→edge-a"}},
		{"limit", at(time.Hour), 2, []string{"msg-doc-2→edge-a", "msg-doc-2→edge-b"}},
		{"limit-one", at(time.Hour), 1, []string{"msg-doc-2→edge-a"}},
	}
	for _, c := range cases {
		if got := dueList(t, l, c.sentBefore, c.limit); !slices.Equal(got, c.want) {
			t.Errorf("%s: Due = %q, want %q", c.name, got, c.want)
		}
	}
	// Several pending routes come in record order, before any delivered
	// one, however old.
	d6 := document(6, "CV-6", at(5*time.Second), "edge-a")
	d7 := document(7, "CV-7", at(6*time.Second), "edge-b")
	mustRecord(t, l, d6)
	mustRecord(t, l, d7)
	if got, want := dueList(t, l, at(time.Hour), 4), []string{"msg-doc-2→edge-a", "msg-doc-6→edge-a", "msg-doc-7→edge-b", "msg-doc-2→edge-b"}; !slices.Equal(got, want) {
		t.Errorf("Due with three pending routes = %q, want %q", got, want)
	}
	// A redelivery moves the route to its new SentAt; an ack removes it.
	mustDelivered(t, l, d2, "edge-b", at(40*time.Second))
	mustAcked(t, l, d6, "edge-a", "", at(time.Minute))
	if got, want := dueList(t, l, at(time.Hour), 100), []string{"msg-doc-2→edge-a", "msg-doc-7→edge-b", "msg-doc-1→edge-a", "msg-doc-2→edge-b", "msg-doc-3→edge-a"}; !slices.Equal(got, want) {
		t.Errorf("Due after a redelivery and an ack = %q, want %q", got, want)
	}
}

func testLedgerByKey(t *testing.T, l bus.Ledger) {
	d1 := document(1, "CV-1", at(0), "edge-a")
	other := document(2, "CV-10", at(time.Second), "edge-a") // a key that extends CV-1's
	s1 := status(1, "CV-1", at(2*time.Second))
	d3 := document(3, "CV-1", at(3*time.Second), "edge-a", "edge-b") // an update
	r4 := rejected(4, "CV-1", at(4*time.Second))
	n5 := notice(5, d3, "edge-b", at(5*time.Second))
	for _, f := range []fixture{d1, other, s1, d3, r4, n5} {
		mustRecord(t, l, f)
	}
	mustDelivered(t, l, d1, "edge-a", at(time.Minute))
	mustAcked(t, l, d3, "edge-b", "bad-signature", at(time.Minute))

	got, err := l.ByKey(ledgerCtx(t), fixtureKey("CV-1"))
	if err != nil {
		t.Fatalf("ByKey: %v", err)
	}
	want := []bus.Entry{mustGet(t, l, d1.e.SHA256), mustGet(t, l, s1.e.SHA256), mustGet(t, l, d3.e.SHA256), mustGet(t, l, r4.e.SHA256), mustGet(t, l, n5.e.SHA256)}
	if len(got) != len(want) {
		t.Fatalf("ByKey returned %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		checkEntry(t, fmt.Sprintf("ByKey entry %d", i), got[i], want[i])
	}
	if got, err := l.ByKey(ledgerCtx(t), fixtureKey("CV-10")); err != nil || len(got) != 1 || got[0].SHA256 != other.e.SHA256 {
		t.Fatalf("ByKey(CV-10) = %d entries, %v; want only its own", len(got), err)
	}
	for _, key := range []string{fixtureKey("CV-404"), fixtureKey("CV"), fixtureSender} {
		if got, err := l.ByKey(ledgerCtx(t), key); err != nil || len(got) != 0 {
			t.Fatalf("ByKey(%q) = %d entries, %v; want none and no error", key, len(got), err)
		}
	}
}

func testLedgerPurge(t *testing.T, l bus.Ledger) {
	old := document(1, "CV-1", at(0), "edge-a")
	edge := document(2, "CV-2", at(time.Hour), "edge-a") // recorded exactly at the cut
	young := document(3, "CV-3", at(2*time.Hour), "edge-a")
	rej := rejected(4, "CV-4", at(0))
	for _, f := range []fixture{old, edge, young, rej} {
		mustRecord(t, l, f)
	}
	mustDelivered(t, l, edge, "edge-a", at(time.Hour))
	size := mustSize(t, l.Log())

	n, err := l.Purge(ledgerCtx(t), at(time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("Purge(+1h) = %d, %v; want 1 (only the package recorded before)", n, err)
	}
	if pkg, err := l.Package(ledgerCtx(t), old.e.SHA256); !errors.Is(err, bus.ErrNotFound) {
		t.Fatalf("Package of a purged entry = %d bytes, %v; want ErrNotFound", len(pkg), err)
	}
	for _, f := range []fixture{edge, young} {
		if pkg, err := l.Package(ledgerCtx(t), f.e.SHA256); err != nil || !bytes.Equal(pkg, f.pkg) {
			t.Fatalf("Package of %s after a purge of older ones: %q, %v", f.e.MessageID, pkg, err)
		}
	}
	// The entry stays, and so does deduplication.
	checkEntry(t, "a purged entry", mustGet(t, l, old.e.SHA256), expected(old, 0))
	if _, created, err := l.Record(ledgerCtx(t), old.e, old.pkg, old.ev); err != nil || created {
		t.Fatalf("Record of a purged entry's package: created=%t, %v; want a duplicate", created, err)
	}
	if _, err := l.Package(ledgerCtx(t), old.e.SHA256); !errors.Is(err, bus.ErrNotFound) {
		t.Fatalf("a duplicate Record brought a purged package back: %v", err)
	}
	// Due skips routes whose package is gone, even after a delivery.
	want := []string{"msg-doc-3→edge-a", "msg-doc-2→edge-a"}
	if got := dueList(t, l, at(3*time.Hour), 100); !slices.Equal(got, want) {
		t.Fatalf("Due after a purge = %q, want %q", got, want)
	}
	mustDelivered(t, l, old, "edge-a", at(90*time.Minute))
	want = []string{"msg-doc-3→edge-a", "msg-doc-2→edge-a"}
	if got := dueList(t, l, at(3*time.Hour), 100); !slices.Equal(got, want) {
		t.Fatalf("Due after delivering a purged entry = %q, want %q", got, want)
	}
	if n, err := l.Purge(ledgerCtx(t), at(time.Hour)); err != nil || n != 0 {
		t.Fatalf("the same Purge again = %d, %v; want 0", n, err)
	}
	if n, err := l.Purge(ledgerCtx(t), at(1000*time.Hour)); err != nil || n != 2 {
		t.Fatalf("Purge of everything = %d, %v; want 2", n, err)
	}
	if got := dueList(t, l, at(3*time.Hour), 100); len(got) != 0 {
		t.Fatalf("Due after purging every package = %q", got)
	}
	if n := mustSize(t, l.Log()); n != size+1 {
		t.Fatalf("log size %d, want %d: purges append nothing", n, size+1)
	}
	for _, f := range []fixture{old, edge, young, rej} {
		mustGet(t, l, f.e.SHA256)
	}
}

func testLedgerLargePackage(t *testing.T, l bus.Ledger) {
	f := document(1, "CV-1", at(0), "edge-a")
	big := make([]byte, 16<<20+4<<10)
	for i := range big {
		big[i] = byte(i*7 + i>>13)
	}
	f.pkg = big
	f.e.SHA256, f.ev.PackageSHA256 = sha256.Sum256(big), sha256.Sum256(big)
	f.e.Size = len(big)
	mustRecord(t, l, f)
	pkg, err := l.Package(ledgerCtx(t), f.e.SHA256)
	if err != nil || !bytes.Equal(pkg, big) {
		t.Fatalf("Package of a 16 MiB package: %d bytes, %v", len(pkg), err)
	}
	if got := dueList(t, l, at(time.Hour), 10); !slices.Equal(got, []string{"msg-doc-1→edge-a"}) {
		t.Fatalf("Due = %q", got)
	}
}

func testLedgerConcurrent(t *testing.T, l bus.Ledger) {
	const writers, own, shared = 16, 6, 8
	type result struct {
		sha     [32]byte
		leaf    int64
		created bool
	}
	results := make([][]result, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range own + shared {
				n := 1000 + w*own + i // own fixtures
				if i >= own {
					n = i - own // shared by every writer
				}
				f := document(n, fmt.Sprintf("CV-%d", n), at(time.Duration(n)*time.Millisecond), "edge-a", "edge-b")
				stored, created, err := l.Record(ledgerCtx(t), f.e, f.pkg, f.ev)
				if err != nil {
					t.Errorf("writer %d: Record(%s): %v", w, f.e.MessageID, err)
					return
				}
				if stored.SHA256 != f.e.SHA256 {
					t.Errorf("writer %d: Record(%s) returned the entry of %x", w, f.e.MessageID, stored.SHA256[:8])
					return
				}
				results[w] = append(results[w], result{f.e.SHA256, stored.Leaf, created})
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	created := map[[32]byte]int{}
	leafOf := map[[32]byte]int64{}
	owner := map[int64][32]byte{}
	for _, rs := range results {
		for _, r := range rs {
			if r.created {
				created[r.sha]++
			}
			if prev, ok := leafOf[r.sha]; ok && prev != r.leaf {
				t.Fatalf("entry %x returned with leaves %d and %d", r.sha[:8], prev, r.leaf)
			}
			leafOf[r.sha] = r.leaf
			if o, ok := owner[r.leaf]; ok && o != r.sha {
				t.Fatalf("leaf %d returned for entries %x and %x", r.leaf, o[:8], r.sha[:8])
			}
			owner[r.leaf] = r.sha
		}
	}
	distinct := writers*own + shared
	if len(leafOf) != distinct {
		t.Fatalf("%d distinct entries, want %d", len(leafOf), distinct)
	}
	for sha := range leafOf {
		if created[sha] != 1 {
			t.Fatalf("entry %x: created=true returned %d times, want exactly once", sha[:8], created[sha])
		}
	}
	if n := mustSize(t, l.Log()); n != int64(distinct) {
		t.Fatalf("log size %d after %d distinct records", n, distinct)
	}

	// Every writer delivers the same route: one leaf, every attempt counted.
	f := document(0, "CV-0", at(0), "edge-a", "edge-b")
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			when := at(time.Minute + time.Duration(w)*time.Second)
			_, err := l.Delivered(ledgerCtx(t), f.e.SHA256, "edge-b", deliveredEvent(f, "edge-b", when), when)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Delivered: %v", err)
		}
	}
	r := route(t, mustGet(t, l, f.e.SHA256), "edge-b")
	if r.State != bus.RouteDelivered || r.Attempts != writers || r.Leaf != int64(distinct) {
		t.Fatalf("route after %d concurrent deliveries: %+v; want delivered, %d attempts, leaf %d", writers, r, writers, distinct)
	}
	if n := mustSize(t, l.Log()); n != int64(distinct)+1 {
		t.Fatalf("log size %d after concurrent deliveries of one route, want %d", n, distinct+1)
	}
}

func testLedgerNotFound(t *testing.T, l bus.Ledger) {
	f := document(1, "CV-1", at(0), "edge-a")
	mustRecord(t, l, f)
	size := mustSize(t, l.Log())
	unknown := document(2, "CV-2", at(0), "edge-a")
	ctx := ledgerCtx(t)
	calls := []struct {
		name string
		call func() error
	}{
		{"Get", func() error { _, err := l.Get(ctx, unknown.e.SHA256); return err }},
		{"Package", func() error { _, err := l.Package(ctx, unknown.e.SHA256); return err }},
		{"Delivered/unknown-entry", func() error {
			_, err := l.Delivered(ctx, unknown.e.SHA256, "edge-a", deliveredEvent(unknown, "edge-a", at(time.Second)), at(time.Second))
			return err
		}},
		{"Delivered/unknown-edge", func() error {
			ev := deliveredEvent(f, "edge-a", at(time.Second))
			ev.Edge = "edge-z"
			_, err := l.Delivered(ctx, f.e.SHA256, "edge-z", ev, at(time.Second))
			return err
		}},
		{"Acked/unknown-entry", func() error { _, err := l.Acked(ctx, unknown.e.SHA256, "edge-a", "", at(time.Second)); return err }},
		{"Acked/unknown-edge", func() error { _, err := l.Acked(ctx, f.e.SHA256, "edge-z", "", at(time.Second)); return err }},
		{"Append", func() error { _, err := l.Append(ctx, unknown.e.SHA256, unknown.ev); return err }},
	}
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, bus.ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", c.name, err)
		}
	}
	if n := mustSize(t, l.Log()); n != size {
		t.Fatalf("calls that found nothing changed the log size from %d to %d", size, n)
	}
	checkEntry(t, "the entry after calls that found nothing", mustGet(t, l, f.e.SHA256), expected(f, 0))
}

func testLedgerInvalid(t *testing.T, l bus.Ledger) {
	base := document(1, "CV-1", at(0), "edge-a", "edge-b")
	cases := []struct {
		name  string
		field string // the error must name it
		edit  func(f *fixture)
	}{
		{"zero-sha", "SHA256", func(f *fixture) { f.e.SHA256 = [32]byte{} }},
		{"empty-key", "Key", func(f *fixture) { f.e.Key = "" }},
		{"route-without-edge", "Edge", func(f *fixture) { f.e.Routes[1].Edge = "" }},
		{"route-with-bad-edge", "Edge", func(f *fixture) { f.e.Routes[1].Edge = "edge/../a" }},
		{"route-without-recipients", "Recipients", func(f *fixture) { f.e.Routes[0].Recipients = nil }},
		{"event-without-kind", "Kind", func(f *fixture) { f.ev.Kind = "" }},
		{"event-without-time", "Time", func(f *fixture) { f.ev.Time = time.Time{} }},
		{"event-with-bad-reason", "Reason", func(f *fixture) { f.ev.Kind, f.ev.Reason = bus.EventSubmissionRejected, "Not A Code" }},
		{"event-without-sha", "PackageSHA256", func(f *fixture) { f.ev.PackageSHA256 = [32]byte{} }},
	}
	for _, c := range cases {
		f := base
		f.e.Routes = slices.Clone(base.e.Routes)
		f.e.Routes[0].Recipients = slices.Clone(base.e.Routes[0].Recipients)
		c.edit(&f)
		_, _, err := l.Record(ledgerCtx(t), f.e, f.pkg, f.ev)
		if err == nil {
			t.Errorf("%s: Record accepted it", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: the error %q does not name %s", c.name, err, c.field)
		}
	}
	if n := mustSize(t, l.Log()); n != 0 {
		t.Fatalf("refused records appended %d leaves", n)
	}
	if _, err := l.Get(ledgerCtx(t), base.e.SHA256); !errors.Is(err, bus.ErrNotFound) {
		t.Fatalf("a refused record left an entry: %v", err)
	}
	if due, err := l.Due(ledgerCtx(t), at(time.Hour), 10); err != nil || len(due) != 0 {
		t.Fatalf("refused records left %d due routes, %v", len(due), err)
	}

	// A cancelled context records nothing.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := l.Record(ctx, base.e, base.pkg, base.ev); !errors.Is(err, context.Canceled) {
		t.Fatalf("Record with a cancelled context: %v, want context.Canceled", err)
	}
	if _, err := l.Get(ledgerCtx(t), base.e.SHA256); !errors.Is(err, bus.ErrNotFound) {
		t.Fatalf("Record with a cancelled context left an entry: %v", err)
	}

	// Invalid events for Delivered and Append change nothing either.
	mustRecord(t, l, base)
	before := mustGet(t, l, base.e.SHA256)
	badDelivery := deliveredEvent(base, "edge-a", at(time.Second))
	badDelivery.Recipients = nil
	if _, err := l.Delivered(ledgerCtx(t), base.e.SHA256, "edge-a", badDelivery, at(time.Second)); err == nil || !strings.Contains(err.Error(), "Recipients") {
		t.Errorf("Delivered with an event without recipients: %v, want an error naming Recipients", err)
	}
	if _, err := l.Append(ledgerCtx(t), base.e.SHA256, bus.Event{Kind: "unknown-kind", Time: at(0), MessageID: "m", PackageSHA256: base.e.SHA256}); err == nil || !strings.Contains(err.Error(), "Kind") {
		t.Errorf("Append of an event of unknown kind: %v, want an error naming Kind", err)
	}
	if n := mustSize(t, l.Log()); n != 1 {
		t.Fatalf("refused Delivered and Append changed the log size to %d", n)
	}
	checkEntry(t, "the entry after refused calls", mustGet(t, l, base.e.SHA256), before)
}
