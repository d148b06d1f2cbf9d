package audit_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"truc.vn/truc/adapters/boltstore"
	"truc.vn/truc/bus"
	"truc.vn/truc/bus/audit"
	"truc.vn/truc/signing/notesig"
	"truc.vn/truc/signing/signingtest"
)

// scenario records a whole letter: a document to two agencies on two
// edges, deliveries, statuses 01 and 03 from the first, a rejection notice
// from the second edge, a refused resubmission, with checkpoints in
// between so that receipts were issued against several checkpoints.
type scenario struct {
	w   *world
	doc []byte
	key string
	e   bus.Entry
}

func newScenario(t testing.TB) *scenario {
	t.Helper()
	w := newWorld(t)
	doc := w.letter("123", recipA, recipB)
	s := &scenario{w: w, doc: doc, key: keyOf(t, doc)}
	// Other traffic in the log, before and between.
	other := w.submit(w.letter("900", recipB))
	w.deliver(other, edgeB)
	w.checkpoint()
	s.e = w.submit(doc)
	w.checkpoint()
	w.deliver(s.e, edgeA)
	w.deliver(s.e, edgeB)
	w.checkpoint()
	st := w.submit(w.statusPkg(doc, recipA, "01"))
	w.deliver(st, senderEdge)
	w.notice(s.e, edgeB, "unknown-recipient")
	w.reject([]byte("<edXML>not signed</edXML>"), s.key, "no-signature")
	w.checkpoint()
	w.submit(w.statusPkg(doc, recipA, "03"))
	w.submit(w.letter("901", recipA)) // unrelated, after
	w.checkpoint()
	return s
}

func TestAuditBundleVerifies(t *testing.T) {
	s := newScenario(t)
	data := s.w.export(s.key)
	rep := verify(t, data, s.w.opts())
	wantOK(t, rep)
	b := rep.Bundle
	if b.Key != s.key || b.Document != s.e.SHA256 {
		t.Errorf("bundle about %s %x, want %s %x", b.Key, b.Document, s.key, s.e.SHA256)
	}
	// accepted, 2 delivered, status 01 and its delivery, the notice and
	// its forwarding, rejected, status 03 (its delivery not recorded).
	if len(b.Leaves) != 9 {
		t.Errorf("%d leaves, want 9:\n%s", len(b.Leaves), reportText(rep))
	}
	if len(b.Log.Earlier) == 0 {
		t.Error("no earlier checkpoints: the receipts' checkpoints are not in the bundle")
	}
	if len(b.CRLs) != 2 || len(b.Certificates) != 2 {
		t.Errorf("%d CRLs and %d certificates, want 2 and 2", len(b.CRLs), len(b.Certificates))
	}
	for _, want := range []string{
		"=== TÓM TẮT HỒ SƠ CHỨNG CỨ (Tiếng Việt) ===", "=== EVIDENCE BUNDLE SUMMARY (English) ===",
		"Trích yếu: V/v kiểm thử hồ sơ chứng cứ 123", "Subject: V/v kiểm thử hồ sơ chứng cứ 123",
		recipA + " (UBND tỉnh " + recipA + "): đã chuyển tới điểm kết nối " + edgeA,
		"trạng thái 01 (đã đến)", "status 03 (accepted)",
		"edge " + edgeB + " refused it", "reason: unknown-recipient", "the axis refused package",
	} {
		if !strings.Contains(b.Summary, want) {
			t.Errorf("the summary lacks %q:\n%s", want, b.Summary)
		}
	}
	for _, want := range []string{"package", "rejection notice of edge " + edgeB, "index", "summary", "document"} {
		found := false
		for _, v := range rep.Verdicts {
			if strings.HasPrefix(v.Item, want) && v.OK {
				found = true
			}
		}
		if !found {
			t.Errorf("no passing verdict for %q:\n%s", want, reportText(rep))
		}
	}
	// Building by document SHA-256 gives the same content.
	b2, _, err := audit.Build(s.w.ctx, s.w.buildConfig(), audit.Request{Document: s.e.SHA256})
	if err != nil {
		t.Fatal(err)
	}
	if b2.Summary != b.Summary || len(b2.Leaves) != len(b.Leaves) {
		t.Error("building by SHA-256 and by key differ")
	}
}

// TestAuditVerifiesInTheFuture: years later the signer's certificate has
// expired and every CRL is long stale; the bundle still verifies, each
// signature as of its recorded verification time.
func TestAuditVerifiesInTheFuture(t *testing.T) {
	s := newScenario(t)
	data := s.w.export(s.key)
	later := signingtest.Epoch.AddDate(5, 0, 0)
	if !later.After(s.w.pki.Leaf.NotAfter) {
		t.Fatal("the test clock is not after the signer's certificate expiry")
	}
	opts := s.w.opts()
	opts.Now = func() time.Time { return later }
	wantOK(t, verify(t, data, opts))
	// With the auditor's own copy of the root: anchored there.
	opts.TrustRoots = append(opts.TrustRoots, s.w.pki.Root.Cert)
	rep := verify(t, data, opts)
	wantOK(t, rep)
	if !strings.Contains(reportText(rep), "anchored in a trust root the auditor supplied") {
		t.Errorf("the verdicts do not say where the chain is anchored:\n%s", reportText(rep))
	}
	// Another root: the signatures do not chain to it.
	other := signingtest.NewPKI(t, signingtest.WithCAKey(signingtest.P256), signingtest.WithLeafKey(signingtest.P256))
	opts.TrustRoots = []*x509.Certificate{other.Root.Cert}
	wantFail(t, verify(t, data, opts), "package", "does not verify as of the recorded verification time")
}

// TestAuditCRLArchive: the CRLs the axis used for early verifications were
// replaced by newer ones before the export; the archive still has them.
func TestAuditCRLArchive(t *testing.T) {
	w := newWorld(t)
	doc := w.letter("7", recipA)
	e := w.submit(doc)
	w.deliver(e, edgeA)
	// Newer CRLs replace the first ones in the verifier's store.
	for _, iss := range []signingtest.Issuer{w.pki.Root, w.pki.Intermediate} {
		w.addCRL(iss.CRL(t, signingtest.CRL{Number: 2, ThisUpdate: w.now.Add(-time.Minute), NextUpdate: w.now.Add(48 * time.Hour)}), w.now)
	}
	w.syncArchive()
	if w.arch.Len() != 4 {
		t.Fatalf("the archive holds %d CRLs, want 4", w.arch.Len())
	}
	w.submit(w.statusPkg(doc, recipA, "01"))
	w.checkpoint()
	data := w.export(keyOf(t, doc))
	b := decode(t, data)
	if len(b.CRLs) != 4 {
		t.Fatalf("the bundle has %d CRLs, want 4 (numbers 1 and 2 of both CAs)", len(b.CRLs))
	}
	wantOK(t, verify(t, data, w.opts()))
	// Without the first CRL of the intermediate, the document's signature
	// cannot be checked as the axis checked it.
	var kept [][]byte
	for _, der := range b.CRLs {
		if !bytes.Contains(der, w.pki.Intermediate.Cert.RawSubject) || !isNumber(t, der, 1) {
			kept = append(kept, der)
		}
	}
	b.CRLs = kept
	wantFail(t, verify(t, encode(t, b), w.opts()), "package", "CRL number 1 of the issuer")
}

func TestAuditRetention(t *testing.T) {
	s := newScenario(t)
	s.w.tick(24 * time.Hour)
	n, err := s.w.ledger.Purge(s.w.ctx, s.w.now)
	if err != nil || n == 0 {
		t.Fatalf("purge: %d, %v", n, err)
	}
	data := s.w.export(s.key)
	b := decode(t, data)
	for _, p := range b.Packages {
		if !p.Purged {
			t.Errorf("package %x is in a bundle exported after the purge", p.SHA256[:8])
		}
	}
	for _, n := range b.Notices {
		if !n.Purged {
			t.Error("the notice is in a bundle exported after the purge")
		}
	}
	rep := verify(t, data, s.w.opts())
	wantOK(t, rep)
	text := reportText(rep)
	for _, want := range []string{"package purged by retention: the signature cannot be re-checked", "notice purged by retention"} {
		if !strings.Contains(text, want) {
			t.Errorf("the report does not say %q:\n%s", want, text)
		}
	}
	if !strings.Contains(b.Summary, "đã bị xóa theo thời hạn lưu trữ") || !strings.Contains(b.Summary, "purged after the retention period") {
		t.Errorf("the summary does not say the package is gone:\n%s", b.Summary)
	}
	// A purge declared for a package that is not purged changes the summary.
	fresh := newScenario(t)
	fb := decode(t, fresh.w.export(fresh.key))
	for i := range fb.Packages {
		if fb.Packages[i].SHA256 == fb.Document {
			fb.Packages[i].Bytes, fb.Packages[i].Purged = nil, true
		}
	}
	wantFail(t, verify(t, encode(t, fb), fresh.w.opts()), "summary", "does not say what the verified items say")
}

// TestAuditKeyRotation follows the documented rotation: the axis restarts
// with a new log key under the same origin; the old key stays listed.
func TestAuditKeyRotation(t *testing.T) {
	s := newScenario(t)
	w := s.w
	oldKey := w.logSigner.Verifier()
	before := w.export(s.key)

	newKey := signingtest.NewKey(t, signingtest.P256)
	w.openStore(newKey)
	if w.logSigner.Verifier().KeyHash() == oldKey.KeyHash() {
		t.Fatal("the new key has the old key's ID")
	}
	w.submit(w.statusPkg(s.doc, recipA, "05"))
	w.checkpoint()
	after := w.export(s.key)
	both := w.opts(oldKey, w.logSigner.Verifier())

	wantOK(t, verify(t, before, both))
	wantOK(t, verify(t, before, w.opts(oldKey)))
	wantOK(t, verify(t, after, both))
	// The new key alone cannot check the checkpoints signed before.
	wantFail(t, verify(t, after, w.opts(w.logSigner.Verifier())), "earlier checkpoint", "does not verify with the axis keys given")
	// The old key alone cannot check the new checkpoint.
	wantFail(t, verify(t, after, w.opts(oldKey)), "checkpoint", "does not verify with the axis keys given")
	// The log stayed one log across the rotation: its stored tree checks.
	if err := w.store.Log().Check(w.ctx, mustVerifiers(t, oldKey, w.logSigner.Verifier())); err != nil {
		t.Fatal(err)
	}
}

func mustVerifiers(t testing.TB, vs ...note.Verifier) note.Verifiers {
	t.Helper()
	l, err := notesig.VerifierList(vs...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestAuditWitnesses: the reference checkpoint carries cosignatures by
// witnesses (edges) that checked it against what they saw before.
func TestAuditWitnesses(t *testing.T) {
	s := newScenario(t)
	w := s.w
	witnesses := map[string]*notesig.Signer{}
	var wkeys []note.Verifier
	for _, e := range []string{edgeA, edgeB} {
		sg, err := notesig.NewSigner(bus.EdgeNoteName(e), w.edgeKeys[e])
		if err != nil {
			t.Fatal(err)
		}
		witnesses[e] = sg
		wkeys = append(wkeys, sg.Verifier())
	}
	// Each witness saw the first checkpoint, then this one.
	first, err := w.store.Log().Checkpoints(w.ctx, 0, 1)
	if err != nil || len(first) != 1 {
		t.Fatal(first, err)
	}
	cosign := func(names ...string) func(ctx context.Context, cp bus.SignedCheckpoint) ([]byte, error) {
		return func(ctx context.Context, cp bus.SignedCheckpoint) ([]byte, error) {
			proof, err := w.store.Log().ConsistencyProof(ctx, first[0].Size, cp.Size)
			if err != nil {
				return nil, err
			}
			msg := cp.Note
			for _, n := range names {
				cp.Note = msg
				if msg, err = bus.Cosign(cp, first[0], proof, witnesses[n]); err != nil {
					return nil, err
				}
			}
			return msg, nil
		}
	}
	build := func(names ...string) []byte {
		cfg := w.buildConfig()
		cfg.Cosigned = cosign(names...)
		b, _, err := audit.Build(w.ctx, cfg, audit.Request{Key: s.key})
		if err != nil {
			t.Fatal(err)
		}
		return encode(t, b)
	}
	opts := w.opts()
	opts.WitnessKeys, opts.MinWitnesses = wkeys, 2
	rep := verify(t, build(edgeA, edgeB), opts)
	wantOK(t, rep)
	if !strings.Contains(reportText(rep), "cosigned by truc.vn/edge/"+edgeB+", truc.vn/edge/"+edgeA) {
		t.Errorf("the report does not name the witnesses:\n%s", reportText(rep))
	}
	wantFail(t, verify(t, build(edgeA), opts), "witnesses", "carries 1 valid cosignatures by the witness keys given (truc.vn/edge/"+edgeA+"); 2 required")
	wantFail(t, verify(t, build(), opts), "witnesses", "carries 0 valid cosignatures")
	opts.MinWitnesses = 1
	wantOK(t, verify(t, build(edgeB), opts))
	// A cosignature that does not verify refuses the checkpoint.
	b := decode(t, build(edgeA))
	b.Log.Checkpoint = corruptSignature(t, b.Log.Checkpoint, "truc.vn/edge/"+edgeA)
	wantFail(t, verify(t, encode(t, b), opts), "checkpoint", "bad-signature")
}

// corruptSignature flips a bit of the signature by name in a signed note,
// keeping its key ID.
func corruptSignature(t testing.TB, msg []byte, name string) []byte {
	t.Helper()
	lines := strings.SplitAfter(string(msg), "\n")
	for i, l := range lines {
		if rest, ok := strings.CutPrefix(l, "— "+name+" "); ok {
			raw, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(rest, "\n"))
			if err != nil {
				t.Fatal(err)
			}
			raw[len(raw)-1] ^= 1
			lines[i] = "— " + name + " " + base64.StdEncoding.EncodeToString(raw) + "\n"
			return []byte(strings.Join(lines, ""))
		}
	}
	t.Fatalf("no signature by %s", name)
	return nil
}

// forkCheckpoint plays a dishonest axis holding the log key: it signs a
// checkpoint of a history that shares w's first n leaves and then differs.
func forkCheckpoint(t *testing.T, w *world, key crypto.Signer, n int64) bus.SignedCheckpoint {
	t.Helper()
	signer, err := notesig.NewSigner(origin, key)
	if err != nil {
		t.Fatal(err)
	}
	fork, err := boltstore.Open(t.TempDir()+"/fork.db", boltstore.Config{LogSigner: signer})
	if err != nil {
		t.Fatal(err)
	}
	defer fork.Close()
	for i := range n {
		leaf, err := w.store.Log().Leaf(w.ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fork.Log().Append(w.ctx, leaf); err != nil {
			t.Fatal(err)
		}
	}
	ev := bus.Event{Kind: bus.EventSubmissionRejected, Time: w.now, MessageID: "other-history", PackageSHA256: sha256.Sum256([]byte("x")), Reason: "invalid"}
	leaf, err := ev.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fork.Log().Append(w.ctx, leaf); err != nil {
		t.Fatal(err)
	}
	cp, err := fork.Log().SignCheckpoint(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

func TestAuditTamper(t *testing.T) {
	s := newScenario(t)
	w := s.w
	data := w.export(s.key)
	base := decode(t, data)
	opts := w.opts()

	// Any byte of any file of the bundle changed is detected, whatever
	// the file and wherever the byte: the manifest names the file, and
	// the deeper checks say what the change broke.
	t.Run("any byte of any file", func(t *testing.T) {
		for _, name := range zipNames(t, data) {
			content := zipFile(t, data, name)
			for _, at := range []int{0, len(content) / 3, len(content) / 2, len(content) - 2} {
				tampered := rezip(t, data, name, func(b []byte) []byte { b[at] ^= 0x01; return b })
				rep := verify(t, tampered, opts)
				if rep.OK {
					t.Errorf("%s with byte %d changed verifies", name, at)
				}
			}
		}
	})
	t.Run("a package byte changed, manifest updated", func(t *testing.T) {
		b := decode(t, data)
		for i := range b.Packages {
			if b.Packages[i].SHA256 == b.Document {
				b.Packages[i].Bytes = bytes.Replace(b.Packages[i].Bytes, []byte("V/v kiểm thử"), []byte("V/v kiểm tra"), 1)
			}
		}
		wantFail(t, verify(t, encode(t, b), opts), "package "+hex.EncodeToString(b.Document[:8]), "the bytes hash to")
	})
	t.Run("a package byte changed, manifest kept", func(t *testing.T) {
		name := "packages/" + hex.EncodeToString(base.Document[:]) + ".xml"
		tampered := rezip(t, data, name, func(b []byte) []byte { return bytes.Replace(b, []byte("123/VPCP"), []byte("124/VPCP"), 1) })
		rep := verify(t, tampered, opts)
		wantFail(t, rep, "file "+name, "changed: its SHA-256")
		wantFail(t, rep, "package", "the bytes hash to")
	})

	cases := []struct {
		name         string
		edit         func(b *audit.Bundle)
		item, detail string
	}{
		{"a receipt dropped", func(b *audit.Bundle) { b.Leaves = append(b.Leaves[:3], b.Leaves[4:]...) },
			"leaf", "a receipt was dropped"},
		{"the last status dropped with its package", func(b *audit.Bundle) {
			b.Leaves = b.Leaves[:len(b.Leaves)-1]
			b.Packages = b.Packages[:len(b.Packages)-1]
		}, "leaf", "a receipt was dropped"},
		{"leaves reordered in the bundle", func(b *audit.Bundle) { b.Leaves[2], b.Leaves[3] = b.Leaves[3], b.Leaves[2] },
			"leaf", "leaves out of order"},
		{"two leaves' events swapped", func(b *audit.Bundle) {
			b.Leaves[1].Event, b.Leaves[2].Event = b.Leaves[2].Event, b.Leaves[1].Event
		}, "leaf", "not in the log"},
		{"an event edited", func(b *audit.Bundle) {
			b.Leaves[0].Event = bytes.Replace(b.Leaves[0].Event, []byte(`"time":"2026`), []byte(`"time":"2025`), 1)
		}, "leaf", "not in the log"},
		{"a leaf of another letter added", func(b *audit.Bundle) {
			other := base.Leaves[0]
			other.Index = 0
			leaf, _ := w.store.Log().Leaf(w.ctx, 0)
			other.Event = leaf
			other.Proof, _ = w.store.Log().InclusionProof(w.ctx, 0, refSize(t, b))
			other.First, other.FirstProof = 0, nil
			b.Leaves = append([]audit.Leaf{other}, b.Leaves...)
		}, "leaf 0", "not in the log's signed index of this letter"},
		{"a forged checkpoint (another key, same origin)", func(b *audit.Bundle) {
			forger, _ := notesig.NewSigner(origin, signingtest.NewKey(t, signingtest.P256))
			cp, _ := bus.ParseUnverifiedCheckpoint(b.Log.Checkpoint)
			forged, _ := bus.SignCheckpoint(cp.Checkpoint, forger)
			b.Log.Checkpoint = forged.Note
		}, "checkpoint", "does not verify with the axis keys given"},
		{"a checkpoint with another root, signature kept", func(b *audit.Bundle) {
			lines := strings.SplitN(string(b.Log.Checkpoint), "\n", 4)
			lines[2] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
			b.Log.Checkpoint = []byte(strings.Join(lines, "\n"))
		}, "checkpoint", "bad-signature"},
		{"a split view: an earlier checkpoint of another history", func(b *audit.Bundle) {
			cp := forkCheckpoint(t, w, w.logKey, 3)
			proof, _ := w.store.Log().ConsistencyProof(w.ctx, cp.Size, refSize(t, b))
			b.Log.Earlier = append([]audit.EarlierCheckpoint{{Checkpoint: cp.Note, Consistency: proof}}, b.Log.Earlier...)
		}, "checkpoint 4 (earlier)", "split view"},
		{"an index of fewer leaves", func(b *audit.Bundle) {
			x, _ := audit.OpenIndex(b.Log.Index, mustVerifiers(t, w.logSigner.Verifier()))
			x.Leaves = x.Leaves[1:]
			b.Log.Index, _ = audit.SignIndex(x, forgerSigner(t))
		}, "index", "not signed by any of the log keys given"},
		{"a package dropped without a purge", func(b *audit.Bundle) { b.Packages = b.Packages[1:] },
			"package", "missing: the package the log records"},
		{"a package added", func(b *audit.Bundle) {
			b.Packages = append(b.Packages, audit.Package{SHA256: sha256.Sum256([]byte("x")), Bytes: []byte("x")})
		}, "package", "no verified log leaf records it"},
		{"a notice edited", func(b *audit.Bundle) {
			b.Notices[0].Note = bytes.Replace(b.Notices[0].Note, []byte("unknown-recipient"), []byte("invalid-package"), 1)
		}, "rejection notice", "the notice hashes to"},
		{"a notice edited, its hash updated", func(b *audit.Bundle) {
			b.Notices[0].Note = bytes.Replace(b.Notices[0].Note, []byte("unknown-recipient"), []byte("invalid-package"), 1)
			b.Notices[0].SHA256 = sha256.Sum256(b.Notices[0].Note)
		}, "rejection notice", "does not verify with the seal certificates"},
		{"the notice dropped", func(b *audit.Bundle) { b.Notices = nil }, "rejection notice", "missing"},
		{"the summary edited", func(b *audit.Bundle) {
			b.Summary = strings.Replace(b.Summary, "trạng thái 03 (đã tiếp nhận)", "trạng thái 02 (từ chối)", 1)
		}, "summary", "does not say what the verified items say"},
		{"the edge certificates replaced", func(b *audit.Bundle) {
			_, cert := w.pki.IssueLeaf(t, signingtest.P256)
			b.Edges[0].Certificates = [][]byte{cert.Raw}
		}, "rejection notice", "does not verify"},
		{"the root certificate dropped", func(b *audit.Bundle) { b.Certificates = b.Certificates[1:] }, "package", "not in the bundle"},
		{"another document named", func(b *audit.Bundle) { b.Document = sha256.Sum256([]byte("other")) }, "document", "no verified leaf records the axis accepting it"},
		{"an inclusion proof edited", func(b *audit.Bundle) { b.Leaves[1].Proof[0][0] ^= 1 }, "leaf", "proof-mismatch"},
		{"a receipt's checkpoint dropped", func(b *audit.Bundle) { b.Log.Earlier = b.Log.Earlier[1:] }, "leaf", "is not among the verified earlier checkpoints"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := decode(t, data)
			c.edit(b)
			wantFail(t, verify(t, encode(t, b), opts), c.item, c.detail)
		})
	}
	t.Run("the wrong axis key", func(t *testing.T) {
		wantFail(t, verify(t, data, w.opts(forgerSigner(t).Verifier())), "checkpoint", "does not verify with the axis keys given")
	})
	t.Run("unchanged", func(t *testing.T) { wantOK(t, verify(t, data, opts)) })
}

func forgerSigner(t testing.TB) *notesig.Signer {
	t.Helper()
	s, err := notesig.NewSigner(origin, signingtest.NewKey(t, signingtest.P256))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func refSize(t testing.TB, b *audit.Bundle) int64 {
	t.Helper()
	cp, err := bus.ParseUnverifiedCheckpoint(b.Log.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	return cp.Size
}

// TestAuditDishonestLog: a log that holds its events out of order (a
// status before the delivery it answers, a record dated an hour before
// the one logged ahead of it) fails, even though every proof is valid.
func TestAuditDishonestLog(t *testing.T) {
	t.Run("a status logged before the delivery", func(t *testing.T) {
		w := newWorld(t)
		doc := w.letter("55", recipA)
		e := w.submit(doc)
		w.submit(w.statusPkg(doc, recipA, "01"))
		w.deliver(e, edgeA)
		w.checkpoint()
		wantFail(t, verify(t, w.export(keyOf(t, doc)), w.opts()), "event", "comes before any delivery to "+recipA+" in the log: reordered")
	})
	t.Run("a back-dated record", func(t *testing.T) {
		w := newWorld(t)
		doc := w.letter("56", recipA)
		e := w.submit(doc)
		w.deliver(e, edgeA)
		w.now = w.now.Add(-time.Hour)
		w.submit(w.statusPkg(doc, recipA, "01"))
		w.checkpoint()
		opts := w.opts()
		opts.Now = func() time.Time { return w.now.Add(2 * time.Hour) }
		wantFail(t, verify(t, w.export(keyOf(t, doc)), opts), "leaf 2", "before leaf 1")
	})
	t.Run("a delivery before the acceptance", func(t *testing.T) {
		w := newWorld(t)
		doc := w.letter("57", recipA)
		e := w.submit(doc)
		w.now = w.now.Add(-time.Minute)
		w.deliver(e, edgeA)
		w.checkpoint()
		opts := w.opts()
		opts.ClockSkew = -1
		wantFail(t, verify(t, w.export(keyOf(t, doc)), opts), "leaf", "back-dated or reordered")
	})
	t.Run("an event dated after the verifier's clock", func(t *testing.T) {
		w := newWorld(t)
		doc := w.letter("58", recipA)
		w.submit(doc)
		w.checkpoint()
		opts := w.opts()
		opts.Now = func() time.Time { return signingtest.Epoch }
		wantFail(t, verify(t, w.export(keyOf(t, doc)), opts), "leaf", "after the verifier's clock")
	})
}

// TestAuditWithheld: the evidence an edge gets from the axis declares the
// packages withheld; the edge includes those it holds.
func TestAuditWithheld(t *testing.T) {
	s := newScenario(t)
	cfg := s.w.buildConfig()
	cfg.Withhold = true
	b, _, err := audit.Build(s.w.ctx, cfg, audit.Request{Key: s.key})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range b.Packages {
		if !p.Withheld || p.Bytes != nil {
			t.Fatalf("package %x is not withheld", p.SHA256[:8])
		}
	}
	rep := verify(t, encode(t, b), s.w.opts())
	wantOK(t, rep)
	if !strings.Contains(reportText(rep), "package not held by the exporter") || !strings.Contains(b.Summary, "does not hold the package bytes") {
		t.Errorf("the report or the summary does not say the packages are withheld:\n%s\n%s", reportText(rep), b.Summary)
	}
	if b.Include([]byte("not a package of the letter")) {
		t.Error("Include took a package the bundle does not name")
	}
	if !b.Include(s.doc) || b.Include(s.doc) {
		t.Error("Include of the document: want true, then false")
	}
	notice, err := s.w.ledger.ByKey(s.w.ctx, s.key)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range notice {
		if e.Type == bus.TypeRejection {
			msg, err := s.w.ledger.Package(s.w.ctx, e.SHA256)
			if err != nil || !b.IncludeNotice(msg) {
				t.Fatalf("IncludeNotice: %v", err)
			}
		}
	}
	// Without a new summary, the summary no longer says what verifies.
	wantFail(t, verify(t, encode(t, b), s.w.opts()), "summary", "does not say")
	if err := b.Summarize(); err != nil {
		t.Fatal(err)
	}
	rep = verify(t, encode(t, b), s.w.opts())
	wantOK(t, rep)
	if !strings.Contains(b.Summary, "Trích yếu: V/v kiểm thử hồ sơ chứng cứ 123") || !strings.Contains(reportText(rep), "signed by the seal of edge "+edgeB) {
		t.Errorf("after Include:\n%s\n%s", reportText(rep), b.Summary)
	}
}

func TestEvidenceRequest(t *testing.T) {
	w := newWorld(t)
	s, err := notesig.NewSigner(bus.EdgeNoteName(edgeA), w.edgeKeys[edgeA])
	if err != nil {
		t.Fatal(err)
	}
	r := audit.EvidenceRequest{Edge: edgeA, Key: senderOrg + "/abc", Document: sha256.Sum256([]byte("d")), Time: w.now}
	msg, err := r.Sign(s)
	if err != nil {
		t.Fatal(err)
	}
	claimed, err := audit.ParseUnverifiedRequest(msg)
	if err != nil || claimed.Edge != edgeA {
		t.Fatalf("unverified: %v %+v", err, claimed)
	}
	got, err := audit.OpenRequest(msg, mustVerifiers(t, s.Verifier()))
	if err != nil || got.Key != r.Key || got.Document != r.Document || !got.Time.Equal(w.now.Truncate(time.Second)) {
		t.Fatalf("open: %v %+v", err, got)
	}
	other, _ := notesig.NewSigner(bus.EdgeNoteName(edgeB), w.edgeKeys[edgeB])
	if _, err := audit.OpenRequest(msg, mustVerifiers(t, other.Verifier())); err == nil {
		t.Error("a request opened with another edge's key")
	}
	if _, err := r.Sign(other); err == nil || !strings.Contains(err.Error(), "an edge signs as") {
		t.Errorf("signing as another edge: %v", err)
	}
	// Edge B's key, claiming to be edge A in the text.
	forged, err := note.Sign(&note.Note{Text: string(mustRequestText(t, r))}, other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := audit.OpenRequest(forged, mustVerifiers(t, other.Verifier())); err == nil || !strings.Contains(err.Error(), "not signed by a seal key of edge "+edgeA) {
		t.Errorf("a request signed by another edge: %v", err)
	}
}

func mustRequestText(t testing.TB, r audit.EvidenceRequest) []byte {
	t.Helper()
	b, err := r.Text()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAuditFirstLeaf: the first leaf of a log, covered first by the
// checkpoint of size 1 (an empty inclusion proof), round-trips.
func TestAuditFirstLeaf(t *testing.T) {
	w := newWorld(t)
	doc := w.letter("1", recipA)
	e := w.submit(doc)
	w.checkpoint()
	w.deliver(e, edgeA)
	w.checkpoint()
	data := w.export(keyOf(t, doc))
	if b := decode(t, data); b.Leaves[0].Index != 0 || b.Leaves[0].First != 1 || len(b.Leaves[0].FirstProof) != 0 {
		t.Fatalf("leaf 0: %+v", b.Leaves[0])
	}
	wantOK(t, verify(t, data, w.opts()))
}

func TestAuditOptions(t *testing.T) {
	for _, c := range []struct {
		name string
		opts audit.Options
		want string
	}{
		{"no axis key", audit.Options{}, "at least one axis log key"},
		{"more witnesses than keys", audit.Options{AxisKeys: []note.Verifier{forgerSigner(t).Verifier()}, MinWitnesses: 1}, "1 witness cosignatures required but 0 witness keys given"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := audit.Verify(bytes.NewReader(nil), 0, c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

func TestAuditBuildRefuses(t *testing.T) {
	w := newWorld(t)
	doc := w.letter("60", recipA)
	e := w.submit(doc)
	cfg := w.buildConfig()
	if _, _, err := audit.Build(w.ctx, cfg, audit.Request{Key: e.Key}); !errors.Is(err, bus.ErrNoCheckpoint) {
		t.Errorf("before any checkpoint: %v", err)
	}
	w.checkpoint()
	w.submit(w.letter("61", recipA))
	for _, c := range []struct {
		name string
		req  audit.Request
		want string
	}{
		{"an unknown letter", audit.Request{Key: senderOrg + "/nothing"}, "accepted no document"},
		{"not a key", audit.Request{Key: "nothing"}, "root key"},
		{"an unknown package", audit.Request{Document: sha256.Sum256([]byte("x"))}, "not found"},
		{"a package not covered yet", audit.Request{Key: keyOf(t, w.letter("61", recipA))}, "not covered by a checkpoint yet"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := audit.Build(w.ctx, cfg, c.req)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

// --- zip helpers -----------------------------------------------------------

func zipNames(t testing.TB, data []byte) []string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range zr.File {
		out = append(out, f.Name)
	}
	return out
}

func zipFile(t testing.TB, data []byte, name string) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		if f.Name == name {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			b, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatalf("no %s in the bundle", name)
	return nil
}

// rezip rewrites the bundle with the content of file name edited, every
// other file (the manifest too) unchanged.
func rezip(t testing.TB, data []byte, name string, edit func([]byte) []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, n := range zipNames(t, data) {
		content := zipFile(t, data, n)
		if n == name {
			content = edit(bytes.Clone(content))
		}
		fw, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(content)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func isNumber(t testing.TB, der []byte, n int64) bool {
	t.Helper()
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	return crl.Number.Int64() == n
}
