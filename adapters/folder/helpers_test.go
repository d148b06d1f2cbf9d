package folder_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"truc.vn/truc/adapters/boltstore"
	"truc.vn/truc/adapters/directory"
	"truc.vn/truc/adapters/folder"
	"truc.vn/truc/adapters/kafka"
	"truc.vn/truc/adapters/kafka/embedded"
	"truc.vn/truc/bus"
	"truc.vn/truc/edoc"
	"truc.vn/truc/signing"
	"truc.vn/truc/signing/notesig"
	"truc.vn/truc/signing/signingtest"
)

// The test world: edge "vpcp" serves three agencies, edge "hanoi" one.
// The folder acts for the first two of vpcp's.
const (
	organA = "000.00.00.G22" // the folder's
	organB = "000.00.01.G22" // the folder's
	organC = "000.00.02.G22" // on the same edge, not the folder's
	organH = "000.00.00.H26" // on edge hanoi
)

// world is a real bus.Edge (edge "vpcp": bbolt store, a directory, the
// signing stack with a test PKI, a Kafka transport to an in-memory broker)
// for a folder to work against.
type world struct {
	t      testing.TB
	edge   *bus.Edge
	store  *boltstore.Store
	signer *signing.Signer
	notes  *notesig.Signer // hanoi's notice key
	n      atomic.Int64    // letters built
}

func newWorld(t testing.TB) *world {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	pki := signingtest.NewPKI(t, signingtest.WithLeafKey(signingtest.P256), signingtest.WithNow(time.Now()))
	fp := signing.Fingerprint(pki.Leaf)
	pem := func() string {
		var b strings.Builder
		for _, l := range strings.Split(strings.TrimSpace(string(signingtest.CertPEM(pki.Leaf))), "\n") {
			b.WriteString("      " + l + "\n")
		}
		return b.String()
	}()
	dirYAML := `version: 1
agencies:
  - {organ_id: ` + organA + `, name: Văn phòng Chính phủ, edge: vpcp}
  - {organ_id: ` + organB + `, name: Cục Kiểm soát thủ tục hành chính, parent: ` + organA + `, edge: vpcp}
  - {organ_id: ` + organC + `, name: Vụ Tổng hợp, parent: ` + organA + `, edge: vpcp}
  - {organ_id: ` + organH + `, name: UBND thành phố Hà Nội, edge: hanoi}
edges:
  - id: vpcp
    certificates: |
` + pem + `  - id: hanoi
    certificates: |
` + pem + `bindings:
  - {organ_id: ` + organA + `, certificates: [` + fp + `]}
  - {organ_id: ` + organB + `, certificates: [` + fp + `]}
  - {organ_id: ` + organC + `, certificates: [` + fp + `]}
  - {organ_id: ` + organH + `, certificates: [` + fp + `]}
`
	dirFile := filepath.Join(dir, "directory.yaml")
	if err := os.WriteFile(dirFile, []byte(dirYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := directory.Load(dirFile, directory.Config{})
	if err != nil {
		t.Fatal(err)
	}
	crls := signing.NewCRLStore()
	rootCRL, interCRL := pki.CRLs(t)
	issuers := []*x509.Certificate{pki.Root.Cert, pki.Intermediate.Cert}
	for _, der := range [][]byte{rootCRL, interCRL} {
		if _, err := crls.Add(der, issuers, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	v, err := signing.NewVerifier(signing.VerifierConfig{Roots: issuers[:1], Intermediates: issuers[1:], CRLs: crls})
	if err != nil {
		t.Fatal(err)
	}
	bv, err := signing.NewBusVerifier(v, d)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := signing.NewSigner(pki.LeafKey, pki.Chain())
	if err != nil {
		t.Fatal(err)
	}
	seal := signing.NewSealSigner(signer, func(o string) bool { a, ok := d.Agency(o); return ok && a.Edge == "vpcp" })
	vpcpNotes, err := notesig.NewSigner(bus.EdgeNoteName("vpcp"), pki.LeafKey)
	if err != nil {
		t.Fatal(err)
	}
	hanoiNotes, err := notesig.NewSigner(bus.EdgeNoteName("hanoi"), pki.LeafKey)
	if err != nil {
		t.Fatal(err)
	}
	axisNotes, err := notesig.NewSigner("truc.vn/axis", pki.LeafKey)
	if err != nil {
		t.Fatal(err)
	}

	broker, err := embedded.Start(embedded.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { broker.Close() })
	tr, err := kafka.New(kafka.Config{
		Brokers: broker.Addrs(),
		Topics:  kafka.TopicsConfig{Replication: 1},
		Consumer: kafka.ConsumerConfig{
			SessionTimeout:    6 * time.Second,
			HeartbeatInterval: 250 * time.Millisecond,
			RebalanceTimeout:  10 * time.Second,
			JoinGroupBackoff:  200 * time.Millisecond,
			MaxWait:           200 * time.Millisecond,
			RetryBackoffMin:   20 * time.Millisecond,
			RetryBackoffMax:   200 * time.Millisecond,
		},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	if err := tr.EnsureTopics(ctx, "vpcp", "hanoi"); err != nil {
		t.Fatal(err)
	}
	store, err := boltstore.Open(filepath.Join(dir, "edge.db"), boltstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	edge, err := bus.NewEdge(bus.EdgeConfig{
		ID:            "vpcp",
		Topics:        tr.Topics(),
		AxisVerifiers: note.VerifierList(axisNotes.Verifier()),
		NoticeSigner:  vpcpNotes,
		NoticeVerifiers: func(e bus.EdgeInfo) (note.Verifiers, error) {
			var vs []note.Verifier
			for _, c := range e.Certificates {
				if v, err := notesig.NewCertVerifier(bus.EdgeNoteName(e.ID), c); err == nil {
					vs = append(vs, v)
				}
			}
			return note.VerifierList(vs...), nil
		},
	}, tr, store.Edge(), d, bv, seal)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = edge.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	return &world{t: t, edge: edge, store: store, signer: signer, notes: hanoiNotes}
}

// letter builds an unsigned document package from from to to.
func (w *world) letter(from string, to ...string) []byte {
	w.t.Helper()
	number := fmt.Sprintf("%d", w.n.Add(1))
	var orgs []edoc.Organization
	for _, r := range to {
		orgs = append(orgs, edoc.Organization{OrganID: r, OrganName: "Cơ quan " + r})
	}
	att := edoc.NewAttachment("cong-van-"+number+".txt", "text/plain", func() (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader("Nội dung công văn số " + number)), nil
	})
	p, err := edoc.NewDocument(edoc.DocumentSpec{
		From:        edoc.Organization{OrganID: from, OrganName: "Cơ quan " + from, OrganAdd: "Hà Nội"},
		To:          orgs,
		DocumentID:  from + ",2026/11/22," + number + "/FOLDER",
		Code:        edoc.Code{Number: number, Notation: "FOLDER"},
		Place:       "Hà Nội",
		TypeName:    "Công văn",
		Subject:     "V/v kiểm thử thư mục " + number,
		Signer:      edoc.SignerInfo{Competence: "TL. BỘ TRƯỞNG", Position: "Chánh Văn phòng", FullName: "Trần Thị B"},
		Attachments: []*edoc.Attachment{att},
	})
	if err != nil {
		w.t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := p.WriteTo(&buf); err != nil {
		w.t.Fatal(err)
	}
	return buf.Bytes()
}

// receive hands the edge a signed package from hanoi, as its inbox topic
// would, and returns the inbox item it became.
func (w *world) receive(pkg []byte, typ bus.Type, to ...string) bus.InboxItem {
	w.t.Helper()
	signed, err := w.signer.Sign(pkg, signing.SignOptions{Resign: true})
	if err != nil {
		w.t.Fatal(err)
	}
	p, err := edoc.Parse(signed, edoc.Limits{})
	if err != nil {
		w.t.Fatal(err)
	}
	key, err := bus.RootKey(p.RootDocument())
	if err != nil {
		w.t.Fatal(err)
	}
	m := bus.Message{
		ID: fmt.Sprintf("hanoi.test.%d", w.n.Add(1)), Type: typ, Key: key, Sender: p.Sender(), Recipients: to,
		SHA256: sha256.Sum256(signed), Package: signed, Attrs: map[string]string{bus.AttrEdge: "hanoi"},
	}
	if typ == bus.TypeStatus {
		m.Attrs[bus.AttrStatus] = string(p.StatusCode())
	}
	return w.handle(m)
}

func (w *world) handle(m bus.Message) bus.InboxItem {
	w.t.Helper()
	if err := w.edge.Handle(context.Background(), bus.Delivery{Message: m, Topic: "truc.inbox.vpcp", Attempt: 1}); err != nil {
		w.t.Fatal(err)
	}
	it, _, err := w.edge.Item(context.Background(), bus.InboxID(m.SHA256))
	if err != nil {
		w.t.Fatalf("the edge did not keep %s: %v", m.ID, err)
	}
	return it
}

// receiveLetter delivers a letter from hanoi to the given agencies.
func (w *world) receiveLetter(to ...string) bus.InboxItem {
	w.t.Helper()
	return w.receive(w.letter(organH, to...), bus.TypeDocument, to...)
}

// startFolder runs a folder over cfg.Root until the test ends or stop is
// called.
func startFolder(t *testing.T, w *world, cfg folder.Config) (stop func()) {
	t.Helper()
	f, err := folder.New(cfg, w.edge)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// config is a folder config over a new root with quick timings.
func config(t *testing.T) folder.Config {
	return folder.Config{
		Root:     t.TempDir(),
		OrganIDs: []string{organA, organB},
		Settle:   200 * time.Millisecond,
		Poll:     20 * time.Millisecond,
	}
}

// drop writes a file into outbox/ the safe way: under a temporary name,
// then renamed.
func drop(t *testing.T, root, name string, data []byte) {
	t.Helper()
	tmp := filepath.Join(root, "outbox", fmt.Sprintf(".drop-%d.tmp", dropped.Add(1)))
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(root, "outbox", name)); err != nil {
		t.Fatal(err)
	}
}

var dropped atomic.Int64

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// names lists the names in dir, sorted.
func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out
}
