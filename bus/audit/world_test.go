package audit_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"truc.vn/truc/adapters/boltstore"
	"truc.vn/truc/bus"
	"truc.vn/truc/bus/audit"
	"truc.vn/truc/edoc"
	"truc.vn/truc/signing"
	"truc.vn/truc/signing/notesig"
	"truc.vn/truc/signing/signingtest"
)

// The test world plays the axis with the real pieces it is made of: a
// boltstore ledger and transparency log in a temporary directory, a real
// signing.Verifier with a test PKI and CRLs, real XML-DSig signatures,
// real edge seal notes. It records what bus.Axis records (see record*).

const (
	axisOrgan  = "000.00.00.A00"
	senderOrg  = "000.00.00.G22"
	recipA     = "000.00.00.H41"
	recipB     = "000.00.00.H42"
	senderEdge = "vpcp"
	edgeA      = "nghean"
	edgeB      = "hatinh"
)

var origin = "truc.vn/axis/" + axisOrgan

type world struct {
	t    testing.TB
	ctx  context.Context
	dir  string
	pki  *signingtest.PKI
	crls *signing.CRLStore
	arch *signing.CRLArchive
	ver  *signing.Verifier

	senderSigner *signing.Signer
	recipSigners map[string]*signing.Signer

	logKey    crypto.Signer
	logSigner *notesig.Signer
	store     *boltstore.Store
	ledger    *boltstore.Ledger

	edgeKeys  map[string]crypto.Signer
	edgeCerts map[string]*x509.Certificate

	now time.Time
}

func newWorld(t testing.TB) *world { t.Helper(); return newWorldIn(t, t.TempDir()) }

// newWorldIn is newWorld with the store and the CRL archive in dir.
func newWorldIn(t testing.TB, dir string) *world {
	t.Helper()
	w := &world{t: t, ctx: context.Background(), dir: dir, now: signingtest.Epoch.Add(time.Minute),
		recipSigners: map[string]*signing.Signer{}, edgeKeys: map[string]crypto.Signer{}, edgeCerts: map[string]*x509.Certificate{}}
	w.pki = signingtest.NewPKI(t, signingtest.WithLeafKey(signingtest.P256), signingtest.WithCAKey(signingtest.P256))
	w.crls = signing.NewCRLStore()
	rootCRL, interCRL := w.pki.CRLs(t)
	w.addCRL(rootCRL, w.pki.Now)
	w.addCRL(interCRL, w.pki.Now)
	var err error
	if w.arch, err = signing.OpenCRLArchive(filepath.Join(w.dir, "crls")); err != nil {
		t.Fatal(err)
	}
	w.syncArchive()
	w.ver, err = signing.NewVerifier(signing.VerifierConfig{Roots: []*x509.Certificate{w.pki.Root.Cert}, Intermediates: []*x509.Certificate{w.pki.Intermediate.Cert}, CRLs: w.crls})
	if err != nil {
		t.Fatal(err)
	}
	if w.senderSigner, err = signing.NewSigner(w.pki.LeafKey, w.pki.Chain()); err != nil {
		t.Fatal(err)
	}
	for _, org := range []string{recipA, recipB} {
		key, cert := w.pki.IssueLeaf(t, signingtest.P256, func(c *x509.Certificate) { c.Subject.SerialNumber = org; c.Subject.CommonName = "UBND " + org })
		if w.recipSigners[org], err = signing.NewSigner(key, []*x509.Certificate{cert, w.pki.Intermediate.Cert}); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range []string{edgeA, edgeB} {
		key, cert := w.pki.IssueLeaf(t, signingtest.P256, func(c *x509.Certificate) { c.Subject.CommonName = "edge " + e })
		w.edgeKeys[e], w.edgeCerts[e] = key, cert
	}
	w.logKey = signingtest.NewKey(t, signingtest.P256)
	w.openStore(w.logKey)
	return w
}

func (w *world) addCRL(der []byte, now time.Time) {
	w.t.Helper()
	if _, err := w.crls.Add(der, []*x509.Certificate{w.pki.Root.Cert, w.pki.Intermediate.Cert}, now); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) syncArchive() {
	w.t.Helper()
	if _, err := w.arch.Sync(w.crls); err != nil {
		w.t.Fatal(err)
	}
}

// openStore (re)opens the axis store with key as the log's signing key.
func (w *world) openStore(key crypto.Signer) {
	w.t.Helper()
	if w.store != nil {
		if err := w.store.Close(); err != nil {
			w.t.Fatal(err)
		}
	}
	var err error
	if w.logSigner, err = notesig.NewSigner(origin, key); err != nil {
		w.t.Fatal(err)
	}
	w.store, err = boltstore.Open(filepath.Join(w.dir, "axis.db"), boltstore.Config{LogSigner: w.logSigner, Now: func() time.Time { return w.now }})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { w.store.Close() })
	w.ledger = w.store.Ledger()
}

// tick advances the world's clock.
func (w *world) tick(d time.Duration) time.Time { w.now = w.now.Add(d); return w.now }

func (w *world) checkpoint() bus.SignedCheckpoint {
	w.t.Helper()
	cp, err := w.store.Log().SignCheckpoint(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	return cp
}

// letter builds and signs a document package from senderOrg to recipients.
func (w *world) letter(number string, recipients ...string) []byte {
	w.t.Helper()
	var to []edoc.Organization
	for _, r := range recipients {
		to = append(to, edoc.Organization{OrganID: r, OrganName: "UBND tỉnh " + r})
	}
	att := edoc.NewAttachment("cong-van-"+number+".txt", "text/plain", func() (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader("Nội dung công văn số " + number)), nil
	})
	p, err := edoc.NewDocument(edoc.DocumentSpec{
		From:        edoc.Organization{OrganID: senderOrg, OrganName: "Văn phòng Chính phủ", OrganAdd: "Hà Nội"},
		To:          to,
		DocumentID:  senderOrg + ",2026/03/02," + number + "/VPCP-KSTT",
		Code:        edoc.Code{Number: number, Notation: "VPCP-KSTT"},
		Place:       "Hà Nội",
		TypeName:    "Công văn",
		Subject:     "V/v kiểm thử hồ sơ chứng cứ " + number,
		Signer:      edoc.SignerInfo{Competence: "KT. BỘ TRƯỞNG", Position: "Phó Chủ nhiệm", FullName: "Nguyễn Văn A"},
		Attachments: []*edoc.Attachment{att},
	})
	if err != nil {
		w.t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := p.WriteTo(&buf); err != nil {
		w.t.Fatal(err)
	}
	signed, err := w.senderSigner.Sign(buf.Bytes(), signing.SignOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	return signed
}

// statusPkg builds and signs the status code that from sends about doc.
func (w *world) statusPkg(doc []byte, from, code string) []byte {
	w.t.Helper()
	p, err := edoc.Parse(doc, edoc.Limits{})
	if err != nil {
		w.t.Fatal(err)
	}
	s, err := edoc.NewStatus(p, edoc.Organization{OrganID: from, OrganName: "UBND tỉnh " + from}, edoc.StatusCode(code), "Kiểm thử", edoc.StaffInfo{Department: "Văn thư", Staff: "Lê C"}, w.now)
	if err != nil {
		w.t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := s.WriteTo(&buf); err != nil {
		w.t.Fatal(err)
	}
	signed, err := w.recipSigners[from].Sign(buf.Bytes(), signing.SignOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	return signed
}

func busEvidence(e signing.Evidence) bus.Evidence {
	ev := bus.Evidence{VerifiedAt: e.At}
	for _, h := range e.ChainSHA256 {
		var sum [32]byte
		hex.Decode(sum[:], []byte(h))
		ev.Chain = append(ev.Chain, sum)
	}
	for _, c := range e.CRLs {
		var sum [32]byte
		hex.Decode(sum[:], []byte(c.IssuerSHA256))
		ev.CRLs = append(ev.CRLs, bus.CRLEvidence{Issuer: sum, Number: c.Number})
	}
	return ev
}

var edgeOf = map[string]string{senderOrg: senderEdge, recipA: edgeA, recipB: edgeB}

// submit verifies pkg as the axis does and records it accepted, with one
// route per recipient edge, as bus.Axis.handlePackage does.
func (w *world) submit(pkg []byte) bus.Entry {
	w.t.Helper()
	at := w.tick(time.Second)
	res, err := w.ver.Verify(pkg, at)
	if err != nil {
		w.t.Fatal(err)
	}
	p, err := edoc.FromElement(res.Element)
	if err != nil {
		w.t.Fatal(err)
	}
	key, err := bus.RootKey(p.RootDocument())
	if err != nil {
		w.t.Fatal(err)
	}
	sha := sha256.Sum256(pkg)
	e := bus.Entry{SHA256: sha, MessageID: "msg-" + hex.EncodeToString(sha[:6]), Key: key, Sender: p.Sender(), FromEdge: edgeOf[p.Sender()], At: at, Size: len(pkg)}
	ev := bus.Event{Kind: bus.EventSubmissionAccepted, Time: at, MessageID: e.MessageID, PackageSHA256: sha, Sender: e.Sender, Evidence: busEvidence(res.Evidence)}
	if p.Kind == edoc.KindDocument {
		e.Type, e.DocType = bus.TypeDocument, "0"
		e.Recipients = p.Recipients()
	} else {
		e.Type, e.StatusCode = bus.TypeStatus, string(p.StatusCode())
		e.Recipients = []string{senderOrg}
		ev.Kind, ev.StatusCode = bus.EventStatus, e.StatusCode
	}
	ev.Recipients = e.Recipients
	for _, r := range e.Recipients {
		e.Routes = append(e.Routes, bus.Route{Edge: edgeOf[r], Recipients: []string{r}})
	}
	stored, created, err := w.ledger.Record(w.ctx, e, pkg, ev)
	if err != nil || !created {
		w.t.Fatalf("record: created=%v err=%v", created, err)
	}
	return stored
}

// deliver records the first delivery of e to edge.
func (w *world) deliver(e bus.Entry, edge string) {
	w.t.Helper()
	at := w.tick(time.Second)
	var rcpts []string
	for _, r := range e.Routes {
		if r.Edge == edge {
			rcpts = r.Recipients
		}
	}
	ev := bus.Event{Kind: bus.EventDelivered, Time: at, MessageID: e.MessageID, PackageSHA256: e.SHA256, Sender: e.Sender, Recipients: rcpts, Edge: edge}
	if _, err := w.ledger.Delivered(w.ctx, e.SHA256, edge, ev, at); err != nil {
		w.t.Fatal(err)
	}
}

// reject records the axis refusing pkg.
func (w *world) reject(pkg []byte, key, reason string) {
	w.t.Helper()
	at := w.tick(time.Second)
	sha := sha256.Sum256(pkg)
	e := bus.Entry{SHA256: sha, MessageID: "bad-" + hex.EncodeToString(sha[:6]), Type: bus.TypeDocument, Key: key, Sender: senderOrg, FromEdge: senderEdge, At: at, Size: len(pkg), Rejected: reason, Detail: "kiểm thử"}
	ev := bus.Event{Kind: bus.EventSubmissionRejected, Time: at, MessageID: e.MessageID, PackageSHA256: sha, Reason: reason, Detail: "kiểm thử"}
	if _, _, err := w.ledger.Record(w.ctx, e, nil, ev); err != nil {
		w.t.Fatal(err)
	}
}

// notice records edge's signed rejection notice of e, as
// bus.Axis.handleNotice does.
func (w *world) notice(e bus.Entry, edge, reason string) {
	w.t.Helper()
	at := w.tick(time.Second)
	s, err := notesig.NewSigner(bus.EdgeNoteName(edge), w.edgeKeys[edge])
	if err != nil {
		w.t.Fatal(err)
	}
	n := bus.Notice{Edge: edge, SHA256: e.SHA256, MessageID: e.MessageID, Reason: reason, Detail: "không đúng định dạng"}
	msg, err := n.Sign(s)
	if err != nil {
		w.t.Fatal(err)
	}
	var route bus.Route
	for _, r := range e.Routes {
		if r.Edge == edge {
			route = r
		}
	}
	sha := sha256.Sum256(msg)
	ne := bus.Entry{SHA256: sha, MessageID: "rej-" + hex.EncodeToString(sha[:6]), Type: bus.TypeRejection, Key: e.Key, Sender: route.Recipients[0], FromEdge: edge, At: at,
		Size: len(msg), Recipients: []string{e.Sender}, Subject: hex.EncodeToString(e.SHA256[:]),
		Routes: []bus.Route{{Edge: e.FromEdge, Recipients: []string{e.Sender}}}}
	ev := bus.Event{Kind: bus.EventRejectionNotice, Time: at, MessageID: e.MessageID, PackageSHA256: e.SHA256, Sender: e.Sender, Recipients: route.Recipients, Edge: edge, Reason: reason, Detail: n.Detail}
	stored, _, err := w.ledger.Record(w.ctx, ne, msg, ev)
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.ledger.Acked(w.ctx, e.SHA256, edge, reason, at); err != nil {
		w.t.Fatal(err)
	}
	// The axis forwards the notice to the sender's edge.
	w.deliver(stored, e.FromEdge)
}

// trust is the axis's trust material for Build.
type trust struct{ w *world }

func (tr trust) Certificate(sha [32]byte) ([]byte, bool) {
	for _, c := range []*x509.Certificate{tr.w.pki.Root.Cert, tr.w.pki.Intermediate.Cert} {
		if sha256.Sum256(c.Raw) == sha {
			return c.Raw, true
		}
	}
	return nil, false
}

func (tr trust) CRL(issuer [32]byte, number string) ([]byte, error) {
	return tr.w.arch.Get(issuer, number)
}

func (tr trust) EdgeCertificates(edge string) [][]byte {
	if c := tr.w.edgeCerts[edge]; c != nil {
		return [][]byte{c.Raw}
	}
	return nil
}

func (w *world) buildConfig() audit.BuildConfig {
	return audit.BuildConfig{
		Ledger:      w.ledger,
		Checkpoints: w.store.Log(),
		Trust:       trust{w},
		IndexSigner: w.logSigner,
		LogKeys:     []string{w.logSigner.Verifier().String()},
		Exporter:    "axis " + origin,
		Now:         func() time.Time { return w.now },
	}
}

// export builds the bundle of the letter with key and encodes it.
func (w *world) export(key string) []byte {
	w.t.Helper()
	b, warnings, err := audit.Build(w.ctx, w.buildConfig(), audit.Request{Key: key})
	if err != nil {
		w.t.Fatal(err)
	}
	if len(warnings) > 0 {
		w.t.Fatalf("export warnings: %q", warnings)
	}
	return encode(w.t, b)
}

func encode(t testing.TB, b *audit.Bundle) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := b.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func decode(t testing.TB, data []byte) *audit.Bundle {
	t.Helper()
	b, err := audit.Decode(bytes.NewReader(data), int64(len(data)), audit.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// opts are the auditor's options: the log keys given, the PKI root.
func (w *world) opts(keys ...note.Verifier) audit.Options {
	if len(keys) == 0 {
		keys = []note.Verifier{w.logSigner.Verifier()}
	}
	return audit.Options{AxisKeys: keys, Now: func() time.Time { return w.now.Add(time.Minute) }}
}

func verify(t testing.TB, data []byte, opts audit.Options) *audit.Report {
	t.Helper()
	rep, err := audit.Verify(bytes.NewReader(data), int64(len(data)), opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func wantOK(t testing.TB, rep *audit.Report) {
	t.Helper()
	if !rep.OK {
		t.Fatalf("the bundle does not verify:\n%s", reportText(rep))
	}
}

// wantFail requires the report to fail, with a failing verdict whose item
// and detail contain the given texts.
func wantFail(t testing.TB, rep *audit.Report, item, detail string) {
	t.Helper()
	if rep.OK {
		t.Fatalf("the bundle verifies; want a failure of %q with %q", item, detail)
	}
	for _, v := range rep.Failures() {
		if strings.Contains(v.Item, item) && strings.Contains(v.Detail, detail) {
			return
		}
	}
	t.Fatalf("no failure of %q with %q:\n%s", item, detail, reportText(rep))
}

func reportText(rep *audit.Report) string {
	var b strings.Builder
	for _, v := range rep.Verdicts {
		mark := "ok  "
		if !v.OK {
			mark = "FAIL"
		}
		b.WriteString(mark + " " + v.Item + ": " + v.Detail + "\n")
	}
	return b.String()
}

func keyOf(t testing.TB, pkg []byte) string {
	t.Helper()
	p, err := edoc.Parse(pkg, edoc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	key, err := bus.RootKey(p.RootDocument())
	if err != nil {
		t.Fatal(err)
	}
	return key
}

var errStop = errors.New("stop")
