package dashboard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"truc.vn/truc/adapters/boltstore"
	"truc.vn/truc/bus"
	"truc.vn/truc/edoc"
	"truc.vn/truc/signing/notesig"
	"truc.vn/truc/signing/signingtest"
)

// world is a real axis ledger (boltstore, with a signed log) that tests
// fill the way the axis does: real edXML documents and statuses, recorded
// with their events, deliveries and notices.
type world struct {
	t      testing.TB
	dir    string
	store  *boltstore.Store
	ledger *boltstore.Ledger
	signer *notesig.Signer
	edgeOf map[string]string // OrganId → edge
	names  map[string]string
	n      int
}

var t0 = time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC) // 08:00 in Hà Nội

func at(minutes float64) time.Time { return t0.Add(time.Duration(minutes * float64(time.Minute))) }

func newWorld(t testing.TB) *world {
	t.Helper()
	dir := t.TempDir()
	key := signingtest.NewKey(t, signingtest.P256)
	signer, err := notesig.NewSigner("truc.vn/axis/000.00.00.G22", key)
	if err != nil {
		t.Fatal(err)
	}
	s, err := boltstore.Open(filepath.Join(dir, "axis.db"), boltstore.Config{LogSigner: signer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	w := &world{t: t, dir: dir, store: s, ledger: s.Ledger(), signer: signer, edgeOf: map[string]string{}, names: map[string]string{}}
	for i, edge := range []string{"vpcp", "hanoi", "tayninh"} {
		suffix := []string{"G22", "H26", "H53"}[i]
		for j := range 5 {
			organ := fmt.Sprintf("000.00.%02d.%s", j, suffix)
			w.edgeOf[organ] = edge
			w.names[organ] = fmt.Sprintf("Cơ quan %d của %s", j, edge)
		}
	}
	return w
}

func organ(edge, j int) string {
	return fmt.Sprintf("000.00.%02d.%s", j, []string{"G22", "H26", "H53"}[edge])
}

// sent is a letter recorded in the world.
type sent struct {
	key, sender, msgID string
	sha                [32]byte
	pkg                *edoc.Package
	recipients         []string
}

func (w *world) nextID(prefix string) string {
	w.n++
	return fmt.Sprintf("%s-%d", prefix, w.n)
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// send records the axis accepting a letter from sender to recipients at
// when; due is its DueDate ("" for none). The letter is delivered to no
// edge yet.
func (w *world) send(sender string, recipients []string, number, due string, when time.Time) sent {
	w.t.Helper()
	var to []edoc.Organization
	for _, r := range recipients {
		to = append(to, edoc.Organization{OrganID: r, OrganName: w.names[r]})
	}
	p, err := edoc.NewDocument(edoc.DocumentSpec{
		From: edoc.Organization{OrganID: sender, OrganName: w.names[sender], OrganAdd: "Hà Nội"},
		To:   to, Code: edoc.Code{Number: number, Notation: "UBND-VP"},
		Place: "Hà Nội", Date: when, TypeName: "Công văn", Subject: "V/v thử nghiệm số " + number,
		Signer: edoc.SignerInfo{Competence: "TM. UBND", Position: "Chủ tịch", FullName: "Nguyễn Văn A"},
		Attachments: []*edoc.Attachment{edoc.NewAttachment("a.txt", "text/plain", func() (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader("nội dung " + number)), nil
		})},
	})
	if err != nil {
		w.t.Fatal(err)
	}
	if due != "" {
		p.Header.DueDate = edoc.Date{Raw: due}
	}
	var buf bytes.Buffer
	if _, err := p.WriteTo(&buf); err != nil {
		w.t.Fatal(err)
	}
	key, err := bus.RootKey(p.RootDocument())
	if err != nil {
		w.t.Fatal(err)
	}
	l := sent{key: key, sender: sender, msgID: w.nextID("doc"), sha: sha256.Sum256(buf.Bytes()), pkg: p, recipients: recipients}
	w.recordDoc(l, buf.Bytes(), when)
	return l
}

// update records a later document package for l's key (an update) to
// recipients, which may add new ones.
func (w *world) update(l sent, recipients []string, when time.Time) sent {
	w.t.Helper()
	body := []byte(fmt.Sprintf("<update %s %d/>", l.key, w.n))
	u := sent{key: l.key, sender: l.sender, msgID: w.nextID("upd"), sha: sha256.Sum256(body), pkg: l.pkg, recipients: recipients}
	w.recordDoc(u, body, when)
	return u
}

func (w *world) recordDoc(l sent, body []byte, when time.Time) {
	w.t.Helper()
	e := bus.Entry{SHA256: l.sha, MessageID: l.msgID, Type: bus.TypeDocument, Key: l.key, Sender: l.sender,
		FromEdge: w.edgeOf[l.sender], At: when, Size: len(body), Recipients: l.recipients, DocType: "0"}
	byEdge := map[string]int{}
	for _, r := range l.recipients {
		i, ok := byEdge[w.edgeOf[r]]
		if !ok {
			i = len(e.Routes)
			byEdge[w.edgeOf[r]] = i
			e.Routes = append(e.Routes, bus.Route{Edge: w.edgeOf[r]})
		}
		e.Routes[i].Recipients = append(e.Routes[i].Recipients, r)
	}
	ev := bus.Event{Kind: bus.EventSubmissionAccepted, Time: when, MessageID: l.msgID, PackageSHA256: l.sha, Sender: l.sender, Recipients: l.recipients}
	if _, created, err := w.ledger.Record(ctxT(w.t), e, body, ev); err != nil || !created {
		w.t.Fatalf("recording %s: created=%t, %v", l.msgID, created, err)
	}
}

// deliver records the delivery of l to every edge of its recipients.
func (w *world) deliver(l sent, when time.Time) {
	w.t.Helper()
	e, err := w.ledger.Get(ctxT(w.t), l.sha)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, r := range e.Routes {
		ev := bus.Event{Kind: bus.EventDelivered, Time: when, MessageID: e.MessageID, PackageSHA256: e.SHA256, Sender: e.Sender, Recipients: r.Recipients, Edge: r.Edge}
		if _, err := w.ledger.Delivered(ctxT(w.t), e.SHA256, r.Edge, ev, when); err != nil {
			w.t.Fatal(err)
		}
	}
}

// status records a status package with code from organ about l (13 from
// the sender goes to every recipient).
func (w *world) status(l sent, from, code string, when time.Time) {
	w.t.Helper()
	sp, err := edoc.NewStatus(l.pkg, edoc.Organization{OrganID: from, OrganName: w.names[from]}, edoc.StatusCode(code), "", edoc.StaffInfo{}, when)
	if err != nil {
		w.t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := sp.WriteTo(&buf); err != nil {
		w.t.Fatal(err)
	}
	// Status packages of the same code from the same agency at the same
	// second would be identical bytes: make them distinct.
	fmt.Fprintf(&buf, "<!-- %d -->", w.n)
	w.n++
	sha := sha256.Sum256(buf.Bytes())
	to := []string{l.sender}
	if code == "13" {
		// A recall goes to every recipient of every document of the key,
		// as the axis routes it.
		to = nil
		entries, err := w.ledger.ByKey(ctxT(w.t), l.key)
		if err != nil {
			w.t.Fatal(err)
		}
		for _, e := range entries {
			for _, r := range e.Recipients {
				if e.Type == bus.TypeDocument && e.Accepted() && !slices.Contains(to, r) {
					to = append(to, r)
				}
			}
		}
	}
	e := bus.Entry{SHA256: sha, MessageID: w.nextID("st"), Type: bus.TypeStatus, Key: l.key, Sender: from,
		FromEdge: w.edgeOf[from], At: when, Size: buf.Len(), Recipients: to, StatusCode: code}
	ev := bus.Event{Kind: bus.EventStatus, Time: when, MessageID: e.MessageID, PackageSHA256: sha, Sender: from, Recipients: to, StatusCode: code}
	if _, created, err := w.ledger.Record(ctxT(w.t), e, buf.Bytes(), ev); err != nil || !created {
		w.t.Fatalf("recording status %s: %v", code, err)
	}
}

// reject records the axis rejecting a document submission with key
// sender/docID; verified says whether its signature verified (the event
// then names the sender).
func (w *world) reject(sender, docID, reason string, verified bool, when time.Time) {
	w.t.Helper()
	body := []byte(w.nextID("rejected " + sender + docID))
	sha := sha256.Sum256(body)
	key, err := bus.RootKey(sender, docID)
	if err != nil {
		w.t.Fatal(err)
	}
	e := bus.Entry{SHA256: sha, MessageID: w.nextID("rej"), Type: bus.TypeDocument, Key: key, Sender: sender,
		FromEdge: w.edgeOf[sender], At: when, Size: len(body), Rejected: reason, Detail: "Signature: test"}
	ev := bus.Event{Kind: bus.EventSubmissionRejected, Time: when, MessageID: e.MessageID, PackageSHA256: sha, Reason: reason, Detail: e.Detail}
	if verified {
		ev.Sender = sender
	}
	if _, created, err := w.ledger.Record(ctxT(w.t), e, nil, ev); err != nil || !created {
		w.t.Fatalf("recording a rejection: %v", err)
	}
}

// refuse records the edge of recipients refusing l with a rejection notice.
func (w *world) refuse(l sent, edge string, recipients []string, reason string, when time.Time) {
	w.t.Helper()
	body := []byte(w.nextID("notice " + l.key))
	sha := sha256.Sum256(body)
	e := bus.Entry{SHA256: sha, MessageID: w.nextID("ntc"), Type: bus.TypeRejection, Key: l.key, Sender: recipients[0],
		FromEdge: edge, At: when, Size: len(body), Recipients: []string{l.sender}, Subject: hex.EncodeToString(l.sha[:]),
		Routes: []bus.Route{{Edge: w.edgeOf[l.sender], Recipients: []string{l.sender}}}}
	ev := bus.Event{Kind: bus.EventRejectionNotice, Time: when, MessageID: l.msgID, PackageSHA256: l.sha, Sender: l.sender,
		Recipients: recipients, Edge: edge, Reason: reason}
	if _, created, err := w.ledger.Record(ctxT(w.t), e, body, ev); err != nil || !created {
		w.t.Fatalf("recording a notice: %v", err)
	}
	if _, err := w.ledger.Acked(ctxT(w.t), l.sha, edge, reason, when); err != nil {
		w.t.Fatal(err)
	}
}

// directory is a bus.Directory over the world's agencies.
type directory struct{ w *world }

func (d directory) Agency(id string) (bus.Agency, bool) {
	edge, ok := d.w.edgeOf[id]
	if !ok {
		return bus.Agency{}, false
	}
	parent := ""
	if !strings.HasPrefix(id, "000.00.00.") {
		parent = "000.00.00." + id[len(id)-3:]
	}
	return bus.Agency{OrganID: id, Name: d.w.names[id], Edge: edge, Active: true, Parent: parent}, true
}
func (d directory) Edge(id string) (bus.EdgeInfo, bool) {
	for _, e := range d.w.edgeOf {
		if e == id {
			return bus.EdgeInfo{ID: id}, true
		}
	}
	return bus.EdgeInfo{}, false
}
func (directory) CheckSigner(string, []*x509.Certificate, time.Time) error { return nil }
func (directory) Version() int64                                           { return 1 }
func (d directory) Agencies() []bus.Agency {
	var out []bus.Agency
	for id := range d.w.edgeOf {
		a, _ := d.Agency(id)
		out = append(out, a)
	}
	return out
}

var (
	hashOnce sync.Once
	testHash string
)

// testUsers are an admin and a viewer, both with testPassword.
func testUsers(t testing.TB) []User {
	hashOnce.Do(func() {
		h, err := bcrypt.GenerateFromPassword([]byte("correct horse"), MinBcryptCost)
		if err != nil {
			panic(err)
		}
		testHash = string(h)
	})
	return []User{{Name: "admin", Role: RoleAdmin, PasswordBcrypt: testHash}, {Name: "viewer", Role: RoleViewer, PasswordBcrypt: testHash}}
}

const testPassword = "correct horse"

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) set(t time.Time)     { c.mu.Lock(); c.now = t; c.mu.Unlock() }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// open opens a dashboard over w's ledger at path with clk.
func (w *world) open(path string, clk *clock, edit ...func(*Config)) *Dashboard {
	w.t.Helper()
	cfg := Config{Path: path, Ledger: w.ledger, Directory: directory{w}, Users: testUsers(w.t), Now: clk.Now, Batch: 7}
	for _, e := range edit {
		e(&cfg)
	}
	d, err := Open(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	return d
}
