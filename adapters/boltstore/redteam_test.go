package boltstore_test

// Red-team findings on the edge core over this store (see the review
// report). Each test shows one defect and fails until it is fixed.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"truc.vn/truc/adapters/boltstore"
	"truc.vn/truc/bus"
	"truc.vn/truc/edoc"
)

const (
	rtSender = "000.00.00.G22"
	rtA      = "000.00.00.H26"
	rtB      = "000.01.00.H26"
)

// rtDirectory serves rtA and rtB on edge "hanoi", rtSender elsewhere.
type rtDirectory struct{}

func (rtDirectory) Agency(id string) (bus.Agency, bool) {
	switch id {
	case rtA, rtB:
		return bus.Agency{OrganID: id, Name: "Cơ quan " + id, Edge: "hanoi", Active: true}, true
	case rtSender:
		return bus.Agency{OrganID: id, Name: "Văn phòng Chính phủ", Edge: "vpcp", Active: true}, true
	}
	return bus.Agency{}, false
}
func (rtDirectory) Edge(string) (bus.EdgeInfo, bool)                         { return bus.EdgeInfo{}, false }
func (rtDirectory) CheckSigner(string, []*x509.Certificate, time.Time) error { return nil }
func (rtDirectory) Version() int64                                           { return 1 }
func (d rtDirectory) Agencies() []bus.Agency                                 { return nil }
func (rtNoTransport) Publish(context.Context, string, ...bus.Message) error {
	return errors.New("offline")
}
func (rtNoTransport) Consume(context.Context, string, string, bus.Handler) error { return nil }
func (rtNoTransport) Close() error                                               { return nil }
func (rtVerifier) Verify(context.Context, []byte, time.Time) (*bus.Verified, error) {
	return nil, errors.New("not used")
}
func (rtSigner) Sign(_ context.Context, _ string, pkg []byte) ([]byte, error) { return pkg, nil }

type (
	rtNoTransport struct{}
	rtVerifier    struct{}
	rtSigner      struct{}
)

// failingPut fails the Put numbered failAt (1-based), as a full disk or a
// request cancelled by the DMS would.
type failingPut struct {
	bus.EdgeStore
	puts   atomic.Int32
	failAt int32
}

func (f *failingPut) Put(ctx context.Context, e bus.OutboxEntry) (bus.OutboxEntry, bool, error) {
	if f.puts.Add(1) == f.failAt {
		return bus.OutboxEntry{}, false, errors.New("disk full")
	}
	return f.EdgeStore.Put(ctx, e)
}

// PutMany hands the real store a batch whose entry numbered failAt the
// store must refuse (its SHA-256 does not match its bytes), as a write
// failing half-way would: the store must then put none of them.
func (f *failingPut) PutMany(ctx context.Context, es []bus.OutboxEntry) ([]bus.OutboxEntry, error) {
	es = slices.Clone(es)
	for i := range es {
		if f.puts.Add(1) == f.failAt {
			es[i].Message.SHA256[0] ^= 1
		}
	}
	return f.EdgeStore.PutMany(ctx, es)
}

func rtEdge(t *testing.T, s bus.EdgeStore) *bus.Edge {
	t.Helper()
	skey, _, err := note.GenerateKey(nil, "truc.vn/edge/hanoi")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	e, err := bus.NewEdge(bus.EdgeConfig{
		ID: "hanoi", AxisVerifiers: note.VerifierList(), NoticeSigner: signer,
		NoticeVerifiers: func(bus.EdgeInfo) (note.Verifiers, error) { return note.VerifierList(), nil },
	}, rtNoTransport{}, s, rtDirectory{}, rtVerifier{}, rtSigner{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// rtReceive stores a letter from rtSender to rtA and rtB in the inbox.
func rtReceive(t *testing.T, s bus.EdgeStore) bus.InboxItem {
	t.Helper()
	att := edoc.NewAttachment("cv.txt", "text/plain", func() (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader("Nội dung")), nil
	})
	p, err := edoc.NewDocument(edoc.DocumentSpec{
		From:        edoc.Organization{OrganID: rtSender, OrganName: "Văn phòng Chính phủ", OrganAdd: "Hà Nội"},
		To:          []edoc.Organization{{OrganID: rtA, OrganName: "Cơ quan A"}, {OrganID: rtB, OrganName: "Cơ quan B"}},
		Code:        edoc.Code{Number: "7", Notation: "VPCP-TTĐT"},
		Place:       "Hà Nội",
		TypeName:    "Công văn",
		Subject:     "V/v kiểm thử",
		Signer:      edoc.SignerInfo{Competence: "TL. BỘ TRƯỞNG", Position: "Chánh Văn phòng", FullName: "Trần Thị B"},
		Attachments: []*edoc.Attachment{att},
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := p.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	pkg := buf.Bytes()
	key, err := bus.RootKey(p.RootDocument())
	if err != nil {
		t.Fatal(err)
	}
	item, _, err := s.Receive(context.Background(), bus.InboxItem{
		SHA256: sha256.Sum256(pkg), MessageID: "vpcp.msg.1", Type: bus.TypeDocument, Key: key,
		Sender: rtSender, Recipients: []string{rtA, rtB}, ReceivedAt: time.Now(),
	}, pkg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return item
}

// TestRedteamPostStatusPartialOnError: a DMS acting for two recipient
// agencies posts status 03. The edge builds one status per agency and
// puts them in the outbox one by one, in separate transactions; when the
// second put fails (full disk, or the DMS's request cancelled between the
// two), PostStatus returns an error and the DMS is told nothing was
// done, but agency A's 03 is already queued and will be sent. The DMS
// retries, as it must, and the sender's DMS receives A's 03 twice (I2),
// from two messages with different IDs that nothing can deduplicate. The
// statuses of one PostStatus should be queued all together or not at all.
func TestRedteamPostStatusPartialOnError(t *testing.T) {
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "edge.db"), boltstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	store := &failingPut{EdgeStore: st.Edge(), failAt: 2}
	e := rtEdge(t, store)
	item := rtReceive(t, store)
	ctx := context.Background()

	if _, err := e.PostStatus(ctx, "dms", "", item.ID, []string{rtA, rtB}, "03", "", ""); err == nil {
		t.Fatal("PostStatus succeeded although the second put failed")
	}
	sent, err := e.Outbox(ctx, bus.OutboxQuery{Limit: 10, Types: []bus.Type{bus.TypeStatus}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sent {
		t.Errorf("PostStatus failed, but status %s from %s is queued and will be sent; the DMS's retry sends it again", s.Message.Attrs[bus.AttrStatus], s.Message.Sender)
	}

	// With an idempotency key, the DMS's retry of a request that
	// succeeded (its answer lost) queues nothing more.
	store.failAt = -1
	first, err := e.PostStatus(ctx, "dms", "k1", item.ID, []string{rtA, rtB}, "03", "", "")
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.PostStatus(ctx, "dms", "k1", item.ID, []string{rtA, rtB}, "03", "", "")
	if err != nil || again.Message.ID != first.Message.ID {
		t.Fatalf("retry with the same key = %s, %v; want %s", again.Message.ID, err, first.Message.ID)
	}
	if _, err := e.PostStatus(ctx, "dms", "k1", item.ID, []string{rtA, rtB}, "05", "", ""); !errors.Is(err, bus.ErrConflict) {
		t.Fatalf("the same key for another request: %v, want ErrConflict", err)
	}
	if sent, _ = e.Outbox(ctx, bus.OutboxQuery{Limit: 10, Types: []bus.Type{bus.TypeStatus}}); len(sent) != 2 {
		t.Fatalf("%d statuses queued after a request and its retry, want 2 (one per agency)", len(sent))
	}
}
