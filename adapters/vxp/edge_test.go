package vxp_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"truc.vn/truc/adapters/boltstore"
	"truc.vn/truc/adapters/directory"
	"truc.vn/truc/adapters/kafka"
	"truc.vn/truc/adapters/kafka/embedded"
	"truc.vn/truc/adapters/vxp"
	"truc.vn/truc/bus"
	"truc.vn/truc/edoc"
	"truc.vn/truc/signing"
	"truc.vn/truc/signing/notesig"
	"truc.vn/truc/signing/signingtest"
)

// The edges of the backend tests: two real bus.Edges (bbolt stores, the
// seal signer and the signature verifier of package signing, a Kafka
// transport on an embedded broker) sharing one directory, which is also
// the axis directory their EdgeClients change. The edges run (they
// publish their outboxes and acks to the broker), but the axis does not:
// a test delivers a package from one edge to the other by handing the
// receiving edge the message the axis would publish (bus.Edge.Handle),
// which verifies it as a real delivery is verified.
const (
	organA  = "000.00.00.G22" // on edge a
	organA1 = "000.00.01.G22" // on edge a
	organB  = "000.00.00.H53" // on edge b
	organB1 = "000.00.01.H53" // on edge b
	organB2 = "000.00.02.H53" // on edge b
)

type testEdge struct {
	id      string
	edge    *bus.Edge
	backend *vxp.EdgeBackend
}

type edgeWorld struct {
	dir   *directory.Directory
	edges map[string]*testEdge
}

var (
	// Systems: sysA sends for edge a's agencies; sysB and sysB1 share edge
	// b, each with its own agency.
	sysA  = vxp.Caller{SystemID: "dms.a", OrganIDs: []string{organA, organA1}, ParentCodes: []string{"000.00.00.G22"}}
	sysB  = vxp.Caller{SystemID: "dms.b", OrganIDs: []string{organB, organB2}, ParentCodes: []string{"000.00.00.H53"}}
	sysB1 = vxp.Caller{SystemID: "dms.b1", OrganIDs: []string{organB1}}
)

func newEdgeWorld(t testing.TB) *edgeWorld {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	pki := signingtest.NewPKI(t, signingtest.WithNow(now))
	crls := signing.NewCRLStore()
	rootCRL, interCRL := pki.CRLs(t)
	issuers := []*x509.Certificate{pki.Root.Cert, pki.Intermediate.Cert}
	for _, der := range [][]byte{rootCRL, interCRL} {
		if _, err := crls.Add(der, issuers, now); err != nil {
			t.Fatal(err)
		}
	}
	verifier, err := signing.NewVerifier(signing.VerifierConfig{Roots: issuers[:1], Intermediates: issuers[1:], CRLs: crls})
	if err != nil {
		t.Fatal(err)
	}
	dir, err := directory.New(directory.Config{})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]crypto.Signer{}
	certs := map[string]*x509.Certificate{}
	var changes []directory.Change
	for _, id := range []string{"a", "b"} {
		keys[id], certs[id] = pki.IssueLeaf(t, signingtest.P256)
		changes = append(changes, directory.Change{Op: directory.OpPutEdge, Edge: &directory.Edge{ID: id, Certificates: [][]byte{certs[id].Raw}}})
	}
	for organ, edge := range map[string]string{organA: "a", organA1: "a", organB: "b", organB1: "b", organB2: "b"} {
		changes = append(changes,
			directory.Change{Op: directory.OpPutAgency, Agency: &bus.Agency{OrganID: organ, Name: "Cơ quan " + organ, Edge: edge, Active: true}},
			directory.Change{Op: directory.OpPutBinding, Binding: &directory.Binding{OrganID: organ, Certificates: []string{signing.Fingerprint(certs[edge])}}})
	}
	if _, err := dir.Apply(ctx, changes...); err != nil {
		t.Fatal(err)
	}

	broker, err := embedded.Start(embedded.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { broker.Close() })
	axisKey := signingtest.NewKey(t, signingtest.P256)
	axisSigner, err := notesig.NewSigner("truc.vn/axis/"+organA, axisKey)
	if err != nil {
		t.Fatal(err)
	}
	busVerifier, err := signing.NewBusVerifier(verifier, dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mustEdgeAPI(t, dir))
	t.Cleanup(srv.Close)

	w := &edgeWorld{dir: dir, edges: map[string]*testEdge{}}
	for _, id := range []string{"a", "b"} {
		tr, err := kafka.New(kafka.Config{Brokers: broker.Addrs(), Topics: kafka.TopicsConfig{Replication: 1, SubmitPartitions: 4, InboxPartitions: 2}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		store, err := boltstore.Open(filepath.Join(t.TempDir(), "edge.db"), boltstore.Config{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		signer, err := signing.NewSigner(keys[id], []*x509.Certificate{certs[id], pki.Intermediate.Cert, pki.Root.Cert})
		if err != nil {
			t.Fatal(err)
		}
		noteSigner, err := notesig.NewSigner(bus.EdgeNoteName(id), keys[id])
		if err != nil {
			t.Fatal(err)
		}
		served := func(organ string) bool { a, ok := dir.Agency(organ); return ok && a.Edge == id }
		e, err := bus.NewEdge(bus.EdgeConfig{
			ID: id, Topics: tr.Topics(), SendsOwn01: true,
			AxisVerifiers: note.VerifierList(axisSigner.Verifier()), NoticeSigner: noteSigner, NoticeVerifiers: edgeVerifiers,
		}, tr, store.Edge(), dir, busVerifier, signing.NewSealSigner(signer, served))
		if err != nil {
			t.Fatal(err)
		}
		backend, err := vxp.NewEdgeBackend(vxp.EdgeBackendConfig{
			Edge: e,
			Axis: &directory.EdgeClient{URL: srv.URL, Token: edgeToken, Edge: id, Signer: noteSigner, HTTPClient: srv.Client()},
		})
		if err != nil {
			t.Fatal(err)
		}
		w.edges[id] = &testEdge{id: id, edge: e, backend: backend}
		// Run publishes the outbox to the broker (no axis reads it) and
		// sends the acks of what Handle stored, as a running edge does.
		if err := tr.EnsureTopics(ctx, id); err != nil {
			t.Fatal(err)
		}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- e.Run(runCtx) }()
		t.Cleanup(func() {
			stop()
			if err := <-done; err != nil {
				t.Errorf("edge %s: %v", id, err)
			}
		})
	}
	return w
}

const edgeToken = "edge-sync-token-for-the-vxp-tests"

func tokenSHA256(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func mustEdgeAPI(t testing.TB, dir *directory.Directory) *directory.EdgeAPIHandler {
	t.Helper()
	h, err := directory.NewEdgeAPIHandler(dir, directory.EdgeAPIConfig{TokensSHA256: []string{tokenSHA256(edgeToken)}, Verifiers: edgeVerifiers})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func edgeVerifiers(e bus.EdgeInfo) (note.Verifiers, error) {
	var vs []note.Verifier
	for _, c := range e.Certificates {
		if v, err := notesig.NewCertVerifier(bus.EdgeNoteName(e.ID), c); err == nil {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return nil, errors.New("no usable certificate")
	}
	return note.VerifierList(vs...), nil
}

// deliver hands edge to the package id that edge from sent, as the axis
// would: with the recipients to serves.
func (w *edgeWorld) deliver(t testing.TB, from, to, id string) {
	t.Helper()
	ctx := context.Background()
	e, err := w.edges[from].edge.Document(ctx, id)
	if err != nil {
		t.Fatalf("Document(%s): %v", id, err)
	}
	m := e.Message
	m.Recipients = slices.DeleteFunc(slices.Clone(m.Recipients), func(r string) bool { a, _ := w.dir.Agency(r); return a.Edge != to })
	if len(m.Recipients) == 0 {
		t.Fatalf("%s has no recipient at edge %s", id, to)
	}
	if err := w.edges[to].edge.Handle(ctx, bus.Delivery{Message: m, Topic: "truc.inbox." + to, Attempt: 1}); err != nil {
		t.Fatalf("delivering %s to %s: %v", id, to, err)
	}
}

// newLetter builds an unsigned document package.
func newLetter(t testing.TB, from string, to []string, number string) []byte {
	t.Helper()
	var orgs []edoc.Organization
	for _, r := range to {
		orgs = append(orgs, edoc.Organization{OrganID: r, OrganName: "Cơ quan " + r})
	}
	p, err := edoc.NewDocument(edoc.DocumentSpec{
		From:       edoc.Organization{OrganID: from, OrganName: "Cơ quan " + from, OrganAdd: "Hà Nội"},
		To:         orgs,
		DocumentID: from + ",2026/11/22," + number + "/VXP",
		Code:       edoc.Code{Number: number, Notation: "VXP"},
		Place:      "Hà Nội",
		TypeName:   "Công văn",
		Subject:    "V/v thử nghiệm VXP số " + number,
		Signer:     edoc.SignerInfo{Competence: "TL. BỘ TRƯỞNG", Position: "Chánh Văn phòng", FullName: "Trần Thị B"},
		Attachments: []*edoc.Attachment{edoc.NewAttachment("cv-"+number+".txt", "text/plain", func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader([]byte("Nội dung " + number))), nil
		})},
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := p.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// newStatus builds an unsigned status package about the document pkg.
func newStatus(t *testing.T, pkg []byte, from string, code edoc.StatusCode) []byte {
	t.Helper()
	doc, err := edoc.Parse(pkg, edoc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := edoc.NewStatus(doc, edoc.Organization{OrganID: from, OrganName: "Cơ quan " + from}, code, "Trạng thái "+string(code), edoc.StaffInfo{Staff: "Văn thư"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := st.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func wantKind(t *testing.T, err error, kind vxp.ErrorKind, field string) {
	t.Helper()
	var e *vxp.Error
	if !errors.As(err, &e) || e.Kind != kind || (field != "" && e.Field != field) {
		t.Fatalf("err = %v; want a %s error on %q", err, kind, field)
	}
}

func TestVXPEdgeSend(t *testing.T) {
	w := newEdgeWorld(t)
	a := w.edges["a"]
	ctx := context.Background()
	pkg := newLetter(t, organA, []string{organB, organB1}, "1")

	id, err := a.backend.SendEdoc(ctx, sysA, vxp.SendRequest{From: organA, MessageType: vxp.MessageEdoc, Package: pkg})
	if err != nil {
		t.Fatal(err)
	}
	// A replay: the same DocId, and still one letter in the outbox.
	for range 3 {
		again, err := a.backend.SendEdoc(ctx, sysA, vxp.SendRequest{From: organA, MessageType: vxp.MessageEdoc, Package: pkg})
		if err != nil || again != id {
			t.Fatalf("replay: %q, %v; want %q", again, err, id)
		}
	}
	sent, err := a.edge.Outbox(ctx, bus.OutboxQuery{Limit: 10})
	if err != nil || len(sent) != 1 || sent[0].Message.ID != id || sent[0].Client != vxp.ClientName(sysA.SystemID) {
		t.Fatalf("outbox: %d entries, %v", len(sent), err)
	}
	// The edge signed it with the seal: the stored bytes verify.
	signed, err := a.backend.GetEdoc(ctx, sysA, id)
	if err != nil || bytes.Equal(signed, pkg) || !bytes.Contains(signed, []byte(edoc.NamespaceXMLDSig)) {
		t.Fatalf("GetEdoc of the sent package: %d bytes, %v; want the signed package", len(signed), err)
	}

	tests := []struct {
		name  string
		c     vxp.Caller
		req   vxp.SendRequest
		kind  vxp.ErrorKind
		field string
	}{
		{"a document sent as a status", sysA, vxp.SendRequest{From: organA, MessageType: vxp.MessageStatus, Package: newLetter(t, organA, []string{organB}, "2")}, vxp.KindInvalidPackage, "XroadVnpt-messagetype"},
		{"from another agency than the package", sysA, vxp.SendRequest{From: organA1, MessageType: vxp.MessageEdoc, Package: newLetter(t, organA, []string{organB}, "3")}, vxp.KindInvalidPackage, "From/OrganId"},
		{"not XML", sysA, vxp.SendRequest{From: organA, MessageType: vxp.MessageEdoc, Package: []byte("%PDF-1.7")}, vxp.KindInvalidPackage, "package"},
		{"a DOCTYPE", sysA, vxp.SendRequest{From: organA, MessageType: vxp.MessageEdoc, Package: append([]byte("<!DOCTYPE x>"), pkg...)}, vxp.KindInvalidPackage, "package"},
		{"an unknown recipient", sysA, vxp.SendRequest{From: organA, MessageType: vxp.MessageEdoc, Package: newLetter(t, organA, []string{"000.00.09.H53"}, "4")}, vxp.KindInvalidPackage, "To[0]/OrganId"},
		{"a sender at another edge", sysB, vxp.SendRequest{From: organB, MessageType: vxp.MessageEdoc, Package: newLetter(t, organB, []string{organA}, "5")}, vxp.KindInvalidPackage, "From/OrganId"},
		{"a status about a document this edge never sent", sysA, vxp.SendRequest{From: organA, MessageType: vxp.MessageStatus, Package: newStatus(t, newLetter(t, organA, []string{organB}, "6"), organA, edoc.StatusRecallRequested)}, vxp.KindInvalidPackage, "ResponseFor"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := a.backend.SendEdoc(ctx, tc.c, tc.req)
			wantKind(t, err, tc.kind, tc.field)
			if after, _ := a.edge.Outbox(ctx, bus.OutboxQuery{Limit: 10}); len(after) != 1 {
				t.Fatalf("a refused package was queued: %d entries", len(after))
			}
		})
	}
}

func TestVXPEdgeReceive(t *testing.T) {
	w := newEdgeWorld(t)
	a, b := w.edges["a"], w.edges["b"]
	ctx := context.Background()
	var ids []string
	for i, to := range [][]string{{organB, organB1}, {organB2}, {organB1}} {
		id, err := a.backend.SendEdoc(ctx, sysA, vxp.SendRequest{From: organA, MessageType: vxp.MessageEdoc, Package: newLetter(t, organA, to, fmt.Sprint(10+i))})
		if err != nil {
			t.Fatal(err)
		}
		w.deliver(t, "a", "b", id)
		ids = append(ids, id)
	}
	list := func(c vxp.Caller, mt vxp.MessageType) []vxp.ReceivedItem {
		t.Helper()
		l, err := b.backend.ReceivedList(ctx, c, mt)
		if err != nil {
			t.Fatal(err)
		}
		n, err := b.backend.CountReceived(ctx, c, mt)
		if err != nil || n != len(l) {
			t.Fatalf("CountReceived = %d, %v; the list has %d", n, err, len(l))
		}
		return l
	}
	docIDs := func(l []vxp.ReceivedItem) []string {
		var out []string
		for _, it := range l {
			out = append(out, it.DocID)
		}
		return out
	}
	// sysB (organB, organB2) gets the first two letters, sysB1 (organB1)
	// the first and third; nobody lists them as statuses.
	lb, lb1 := list(sysB, vxp.MessageEdoc), list(sysB1, vxp.MessageEdoc)
	if len(lb) != 2 || len(lb1) != 2 || lb[0].DocID != lb1[0].DocID || len(list(sysB, vxp.MessageStatus)) != 0 {
		t.Fatalf("sysB lists %+v, sysB1 %+v", lb, lb1)
	}
	first := lb[0]
	if first.From != organA || first.To != organB || first.Status != "pending" || first.MessageType != vxp.MessageEdoc || first.Created.IsZero() {
		t.Errorf("listed %+v", first)
	}
	if lb1[0].To != organB1 || lb[1].To != organB2 {
		t.Errorf("to: %q and %q", lb1[0].To, lb[1].To)
	}
	// The package at the recipient is the one the sender signed.
	got, err := b.backend.GetEdoc(ctx, sysB, first.DocID)
	sentBytes, _ := a.backend.GetEdoc(ctx, sysA, ids[0])
	if err != nil || !bytes.Equal(got, sentBytes) {
		t.Fatalf("GetEdoc at the recipient: %d bytes, %v", len(got), err)
	}
	// Nobody else reads it: not sysB1 the third letter's, not sysA the
	// received copy, not a sender ID through the recipient edge.
	for _, c := range []struct {
		who   vxp.Caller
		edge  *testEdge
		docID string
	}{{sysB, b, lb1[1].DocID}, {sysA, b, first.DocID}, {sysB, a, ids[0]}, {sysA, a, "in-00000000000000000000000000000000"}} {
		_, err := c.edge.backend.GetEdoc(ctx, c.who, c.docID)
		wantKind(t, err, vxp.KindNotFound, "docId")
	}

	// processing keeps it listed; done takes it out for sysB only.
	if err := b.backend.UpdateStatus(ctx, sysB, first.DocID, vxp.AckProcessing); err != nil {
		t.Fatal(err)
	}
	if l := list(sysB, vxp.MessageEdoc); len(l) != 2 || l[0].Status != "processing" {
		t.Fatalf("after processing: %+v", l)
	}
	if err := b.backend.UpdateStatus(ctx, sysB, first.DocID, vxp.AckDone); err != nil {
		t.Fatal(err)
	}
	if err := b.backend.UpdateStatus(ctx, sysB, first.DocID, vxp.AckDone); err != nil {
		t.Fatalf("done twice: %v", err)
	}
	wantKind(t, b.backend.UpdateStatus(ctx, sysB, first.DocID, vxp.AckFail), vxp.KindConflict, "XroadVnpt-status")
	if l := list(sysB, vxp.MessageEdoc); len(l) != 1 || l[0].DocID != lb[1].DocID {
		t.Fatalf("after done: %v", docIDs(l))
	}
	if l := list(sysB1, vxp.MessageEdoc); !slices.Equal(docIDs(l), docIDs(lb1)) {
		t.Fatalf("sysB's done changed sysB1's list: %v", docIDs(l))
	}
	// fail is final too; a processing after it changes nothing.
	if err := b.backend.UpdateStatus(ctx, sysB1, lb1[1].DocID, vxp.AckFail); err != nil {
		t.Fatal(err)
	}
	if err := b.backend.UpdateStatus(ctx, sysB1, lb1[1].DocID, vxp.AckProcessing); err != nil {
		t.Fatal(err)
	}
	if l := list(sysB1, vxp.MessageEdoc); !slices.Equal(docIDs(l), docIDs(lb1[:1])) {
		t.Fatalf("after fail: %v", docIDs(l))
	}
	wantKind(t, b.backend.UpdateStatus(ctx, sysB1, lb[1].DocID, vxp.AckDone), vxp.KindNotFound, "docId")
	wantKind(t, b.backend.UpdateStatus(ctx, sysB1, "in-0123456789abcdef0123456789abcdef", vxp.AckDone), vxp.KindNotFound, "docId")
	if item, _, _ := b.edge.Item(ctx, lb1[1].DocID); item.Deliveries[organB1].Ack != bus.DMSAckFail || item.Status01 != "" {
		t.Errorf("the fail is recorded as %+v; no 01 may be sent", item.Deliveries)
	}

	// A letter arriving after everything was settled is listed.
	id, err := a.backend.SendEdoc(ctx, sysA, vxp.SendRequest{From: organA1, MessageType: vxp.MessageEdoc, Package: newLetter(t, organA1, []string{organB}, "20")})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.backend.UpdateStatus(ctx, sysB, lb[1].DocID, vxp.AckDone); err != nil {
		t.Fatal(err)
	}
	if l := list(sysB, vxp.MessageEdoc); len(l) != 0 {
		t.Fatalf("everything done, still listed: %v", docIDs(l))
	}
	w.deliver(t, "a", "b", id)
	if l := list(sysB, vxp.MessageEdoc); len(l) != 1 || l[0].From != organA1 {
		t.Fatalf("a new letter after a settled inbox: %+v", l)
	}
}

func TestVXPEdgeStatusesAndTracking(t *testing.T) {
	w := newEdgeWorld(t)
	a, b := w.edges["a"], w.edges["b"]
	ctx := context.Background()
	pkg := newLetter(t, organA, []string{organB, organB1}, "30")
	id, err := a.backend.SendEdoc(ctx, sysA, vxp.SendRequest{From: organA, MessageType: vxp.MessageEdoc, Package: pkg})
	if err != nil {
		t.Fatal(err)
	}
	sent, err := a.backend.SentList(ctx, sysA, vxp.MessageEdoc, "")
	if err != nil || len(sent) != 2 {
		t.Fatalf("SentList: %+v, %v", sent, err)
	}
	for _, s := range sent {
		if s.SenderDocID != id || s.FromCode != organA || s.SendStatus != "pending" || s.ReceiveStatus != "pending" ||
			s.Title != "V/v thử nghiệm VXP số 30" || s.Notation != "30/VXP" || s.SentTime.IsZero() || !s.ReceivedTime.IsZero() {
			t.Errorf("sent entry %+v", s)
		}
	}
	if got := []string{sent[0].ToCode, sent[1].ToCode}; !slices.Equal(got, []string{organB, organB1}) {
		t.Errorf("recipients %v", got)
	}

	// The recipient's DMS takes it and sends its own 01 (and 03 from the
	// other recipient): they arrive in the sender's timeline.
	w.deliver(t, "a", "b", id)
	var own01 string
	l, _ := b.backend.ReceivedList(ctx, sysB, vxp.MessageEdoc)
	received, err := b.backend.GetEdoc(ctx, sysB, l[0].DocID)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.backend.UpdateStatus(ctx, sysB, l[0].DocID, vxp.AckDone); err != nil {
		t.Fatal(err)
	}
	for _, st := range []struct {
		c     vxp.Caller
		organ string
		code  edoc.StatusCode
	}{{sysB, organB, edoc.StatusArrived}, {sysB1, organB1, edoc.StatusAccepted}} {
		sid, err := b.backend.SendEdoc(ctx, st.c, vxp.SendRequest{From: st.organ, MessageType: vxp.MessageStatus, Package: newStatus(t, received, st.organ, st.code)})
		if err != nil {
			t.Fatalf("status %s: %v", st.code, err)
		}
		if st.code == edoc.StatusArrived {
			own01 = sid
		}
		w.deliver(t, "b", "a", sid)
	}
	// The item records the DMS's own 01, and no other.
	if item, _, _ := b.edge.Item(ctx, l[0].DocID); item.Status01 != own01 || item.Deliveries[organB].Status01 != own01 {
		t.Errorf("the item's 01 is %q (%+v), want the DMS's own %s: the edge sent one of its own", item.Status01, item.Deliveries, own01)
	}
	sent, err = a.backend.SentList(ctx, sysA, vxp.MessageEdoc, id)
	if err != nil || len(sent) != 2 {
		t.Fatalf("SentList(%s): %+v, %v", id, sent, err)
	}
	if sent[0].ReceiveStatus != "01" || sent[0].ReceiveStatusDesc != "Đã đến" || sent[0].ReceivedTime.IsZero() ||
		sent[1].ReceiveStatus != "03" || sent[1].ReceivedTime.IsZero() {
		t.Errorf("after the statuses: %+v", sent)
	}

	// The statuses are received packages of type status at the sender.
	st, err := a.backend.ReceivedList(ctx, sysA, vxp.MessageStatus)
	if err != nil || len(st) != 2 || st[0].From != organB || st[0].To != organA || st[0].MessageType != vxp.MessageStatus {
		t.Fatalf("statuses received: %+v, %v", st, err)
	}
	// And sent packages of type status at the recipient edge, each to the
	// original sender.
	sst, err := b.backend.SentList(ctx, sysB, vxp.MessageStatus, "")
	if err != nil || len(sst) != 1 || sst[0].ToCode != organA || sst[0].Notation != "30/VXP" || sst[0].MessageType != vxp.MessageStatus {
		t.Fatalf("statuses sent by sysB: %+v, %v", sst, err)
	}
	// Someone else's docId, or one of the other type, lists nothing.
	if _, err := a.backend.SentList(ctx, sysB, vxp.MessageEdoc, id); err == nil {
		t.Error("sysB read sysA's sent list")
	}
	if l, err := a.backend.SentList(ctx, sysA, vxp.MessageStatus, id); err != nil || len(l) != 0 {
		t.Errorf("a document listed as a status: %+v, %v", l, err)
	}
}

func TestVXPEdgeDirectory(t *testing.T) {
	w := newEdgeWorld(t)
	b := w.edges["b"]
	ctx := context.Background()
	ags, err := b.backend.Agencies(ctx, sysB)
	if err != nil || len(ags) != 5 || ags[0].Code != organA || ags[0].ID != organA || ags[0].Name != "Cơ quan "+organA {
		t.Fatalf("Agencies: %+v, %v", ags, err)
	}

	reg := vxp.AgencyRegistration{ParentCode: organB, Code: "000.05.00.H53", Name: "UBND xã Lợi Thuận", Mail: "loithuan@tayninh.example.gov.vn"}
	if err := b.backend.RegisterAgency(ctx, sysB, reg); err != nil {
		t.Fatal(err)
	}
	if a, ok := w.dir.Agency(reg.Code); !ok || a.Edge != "b" || a.Parent != organB || !a.Active {
		t.Fatalf("registered: %+v", a)
	}
	if err := b.backend.RegisterAgency(ctx, sysB, reg); err != nil {
		t.Fatalf("registering again: %v", err)
	}
	units, err := b.backend.SynchronizeUnits(ctx, sysB)
	if err != nil || len(units) != 6 {
		t.Fatalf("SynchronizeUnits: %+v, %v", units, err)
	}
	for _, u := range units {
		if u.Code == reg.Code && (u.ParentID != organB || u.CenterCode != "b" || u.Deleted || u.Version != int(w.dir.Version())) {
			t.Errorf("unit %+v", u)
		}
	}
	// A letter from the new agency: the edge signs it with the seal the
	// registration bound to it.
	if _, err := b.backend.SendEdoc(ctx, vxp.Caller{SystemID: "dms.new", OrganIDs: []string{reg.Code}},
		vxp.SendRequest{From: reg.Code, MessageType: vxp.MessageEdoc, Package: newLetter(t, reg.Code, []string{organA}, "40")}); err != nil {
		t.Fatalf("a letter from the registered agency: %v", err)
	}

	tests := []struct {
		name  string
		err   error
		kind  vxp.ErrorKind
		field string
	}{
		{"an agency of another edge", b.backend.RegisterAgency(ctx, sysB, vxp.AgencyRegistration{Code: organA1, Name: "X", Mail: "x@example.gov.vn"}), vxp.KindForbidden, "code"},
		{"a parent of another edge", b.backend.RegisterAgency(ctx, sysB, vxp.AgencyRegistration{ParentCode: organA, Code: "000.06.00.H53", Name: "X", Mail: "x@example.gov.vn"}), vxp.KindForbidden, "pcode"},
		{"an unknown parent", b.backend.RegisterAgency(ctx, sysB, vxp.AgencyRegistration{ParentCode: "000.00.31.H53", Code: "000.06.31.H53", Name: "X", Mail: "x@example.gov.vn"}), vxp.KindNotFound, "pcode"},
		{"an id that is not the code", b.backend.RegisterAgency(ctx, sysB, vxp.AgencyRegistration{ID: "17", Code: "000.06.00.H53", Name: "X", Mail: "x@example.gov.vn"}), vxp.KindConflict, "id"},
		{"a name longer than the directory keeps", b.backend.RegisterAgency(ctx, sysB, vxp.AgencyRegistration{Code: "000.06.00.H53", Name: strings.Repeat("x", directory.MaxNameLength+1), Mail: "x@example.gov.vn"}), vxp.KindInvalidPackage, "name"},
		{"its own parent", b.backend.RegisterAgency(ctx, sysB, vxp.AgencyRegistration{ParentCode: "000.06.00.H53", Code: "000.06.00.H53", Name: "X", Mail: "x@example.gov.vn"}), vxp.KindInvalidPackage, "pcode"},
		{"deleting an agency of another edge", b.backend.DeleteAgency(ctx, sysB, organA1), vxp.KindForbidden, "XroadVnpt-AgencyCode"},
		{"deleting an unknown agency", b.backend.DeleteAgency(ctx, sysB, "000.09.00.H53"), vxp.KindNotFound, "XroadVnpt-AgencyCode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { wantKind(t, tc.err, tc.kind, tc.field) })
	}

	if err := b.backend.DeleteAgency(ctx, sysB, reg.Code); err != nil {
		t.Fatal(err)
	}
	wantKind(t, b.backend.DeleteAgency(ctx, sysB, reg.Code), vxp.KindNotFound, "XroadVnpt-AgencyCode")
	ags, _ = b.backend.Agencies(ctx, sysB)
	if slices.ContainsFunc(ags, func(a vxp.Agency) bool { return a.Code == reg.Code }) {
		t.Error("a deleted agency is listed")
	}
	units, _ = b.backend.SynchronizeUnits(ctx, sysB)
	if i := slices.IndexFunc(units, func(u vxp.Unit) bool { return u.Code == reg.Code }); i < 0 || !units[i].Deleted {
		t.Error("a deleted agency is not listed as deleted")
	}

	// Without an axis, or with one that does not answer, registrations
	// are refused as unavailable, and nothing changes.
	alone, err := vxp.NewEdgeBackend(vxp.EdgeBackendConfig{Edge: b.edge})
	if err != nil {
		t.Fatal(err)
	}
	wantKind(t, alone.RegisterAgency(ctx, sysB, reg), vxp.KindUnavailable, "")
	wantKind(t, alone.DeleteAgency(ctx, sysB, reg.Code), vxp.KindUnavailable, "")
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	key := signingtest.NewKey(t, signingtest.P256)
	signer, err := notesig.NewSigner(bus.EdgeNoteName("b"), key)
	if err != nil {
		t.Fatal(err)
	}
	unreachable, err := vxp.NewEdgeBackend(vxp.EdgeBackendConfig{Edge: b.edge, Axis: &directory.EdgeClient{URL: down.URL, Token: edgeToken, Edge: "b", Signer: signer}})
	if err != nil {
		t.Fatal(err)
	}
	before := w.dir.Version()
	wantKind(t, unreachable.RegisterAgency(ctx, sysB, reg), vxp.KindUnavailable, "")
	if w.dir.Version() != before {
		t.Error("the directory changed")
	}
}
