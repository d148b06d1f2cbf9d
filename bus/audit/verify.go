package audit

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"truc.vn/truc/bus"
	"truc.vn/truc/edoc"
	"truc.vn/truc/signing"
	"truc.vn/truc/signing/notesig"
)

// DefaultClockSkew is how far back a leaf's time may lie behind the time
// of the leaf before it in the log (Options.ClockSkew). The axis stamps a
// delivery when its publish returns and appends it when the commit that
// carries it runs, so the deliveries of one package to several edges,
// made concurrently, can reach the log a few milliseconds out of time
// order; anything beyond this is reported as back-dating or reordering.
const DefaultClockSkew = 5 * time.Second

// Options are what the auditor trusts. Only AxisKeys is required.
type Options struct {
	// AxisKeys are the log's verifier keys the auditor trusts: every key
	// the log ever signed with (after a rotation, the old and the new).
	// The keys inside the bundle are never trusted.
	AxisKeys []note.Verifier
	// WitnessKeys are the witnesses' verifier keys, and MinWitnesses how
	// many distinct witnesses must have cosigned the reference
	// checkpoint (0: none required).
	WitnessKeys  []note.Verifier
	MinWitnesses int
	// TrustRoots are the trust anchors the auditor holds. When empty,
	// each signature is anchored in the bundled root certificate whose
	// SHA-256 the axis recorded as the end of the chain (the log attests
	// which root it was, not that it is the right one); the verdict says
	// so.
	TrustRoots []*x509.Certificate
	// CRLGrace is how long past its NextUpdate a CRL still counted when
	// the axis verified (the axis's trust.crl_grace; default 0).
	CRLGrace time.Duration
	// AllowSHA1 accepts rsa-sha1 signatures, as an axis configured with
	// trust.allow_sha1 did.
	AllowSHA1 bool
	// ClockSkew is DefaultClockSkew when zero; negative means none.
	ClockSkew time.Duration
	// Now is the auditor's clock (default time.Now): no event may be
	// dated after it. Certificates and CRLs are checked as of each
	// recorded verification time, never as of Now.
	Now func() time.Time
	// Limits bound the bundle read.
	Limits Limits
}

// Verdict is the outcome of checking one item of a bundle.
type Verdict struct {
	// Item names what was checked: "checkpoint 42", "leaf 7
	// (delivered)", "package 3f2a… (document)", ...
	Item string
	OK   bool
	// Detail says what was found, or the specific failure.
	Detail string
}

// Report is the outcome of Verify.
type Report struct {
	// OK is true when every verdict is OK.
	OK       bool
	Verdicts []Verdict
	// Bundle is the decoded bundle (nil when it could not be read).
	Bundle *Bundle
}

// Failures returns the verdicts that failed.
func (r *Report) Failures() []Verdict {
	var out []Verdict
	for _, v := range r.Verdicts {
		if !v.OK {
			out = append(out, v)
		}
	}
	return out
}

// Verify reads a bundle from r (size bytes) and checks it offline against
// opts: see the package documentation for every check. It returns an
// error only when opts are unusable; a bundle that does not verify is a
// Report with OK false and, for each failure, a verdict saying what is
// wrong.
func Verify(r io.ReaderAt, size int64, opts Options) (*Report, error) {
	keys, witnesses, err := opts.verifiers()
	if err != nil {
		return nil, err
	}
	rep := &Report{}
	b, findings, err := decode(r, size, opts.Limits)
	if err != nil {
		rep.add("bundle", false, "%v", err)
		return rep, nil
	}
	for _, f := range findings {
		rep.add("file "+f.Name, false, "%v", f)
	}
	if len(findings) == 0 {
		rep.add("manifest", true, "every file matches its SHA-256 in the manifest")
	}
	verifyBundle(b, opts, keys, witnesses, rep)
	return rep, nil
}

// VerifyBundle checks a decoded bundle (see Verify).
func VerifyBundle(b *Bundle, opts Options) (*Report, error) {
	keys, witnesses, err := opts.verifiers()
	if err != nil {
		return nil, err
	}
	rep := &Report{}
	verifyBundle(b, opts, keys, witnesses, rep)
	return rep, nil
}

func (o Options) verifiers() (keys, witnesses note.Verifiers, err error) {
	if len(o.AxisKeys) == 0 {
		return nil, nil, errors.New("verify: at least one axis log key is required")
	}
	if keys, err = notesig.VerifierList(o.AxisKeys...); err != nil {
		return nil, nil, fmt.Errorf("verify: axis keys: %w", err)
	}
	if len(o.WitnessKeys) > 0 {
		if witnesses, err = notesig.VerifierList(o.WitnessKeys...); err != nil {
			return nil, nil, fmt.Errorf("verify: witness keys: %w", err)
		}
	}
	if o.MinWitnesses < 0 || o.MinWitnesses > len(o.WitnessKeys) {
		return nil, nil, fmt.Errorf("verify: %d witness cosignatures required but %d witness keys given", o.MinWitnesses, len(o.WitnessKeys))
	}
	return keys, witnesses, nil
}

func (r *Report) add(item string, ok bool, format string, args ...any) {
	r.Verdicts = append(r.Verdicts, Verdict{Item: item, OK: ok, Detail: fmt.Sprintf(format, args...)})
}

// verifier holds the state of one verification.
type verifier struct {
	b         *Bundle
	opts      Options
	keys      note.Verifiers
	witnesses note.Verifiers
	rep       *Report
	now       time.Time
	skew      time.Duration

	ref     bus.SignedCheckpoint
	refOK   bool
	earlier map[int64]bus.Checkpoint // verified earlier checkpoints by size

	certs   map[[32]byte]*x509.Certificate // bundled certificates by SHA-256 of DER
	crls    map[crlKey][]byte              // bundled CRLs by issuer certificate and number
	anchors map[[32]byte]bool              // roots the evidence recorded as chain ends

	events   []indexedEvent
	docs     map[[32]byte]*edoc.Package // packages whose signature verified
	purged   map[[32]byte]bool
	withheld map[[32]byte]bool
	pkgs     map[[32]byte]*Package
	usedPkgs map[[32]byte]bool
	notices  map[[32]byte]indexedEvent // rejection notices by their own SHA-256
}

type crlKey struct {
	issuer [32]byte
	number string
}

func verifyBundle(b *Bundle, opts Options, keys, witnesses note.Verifiers, rep *Report) {
	rep.Bundle = b
	v := &verifier{b: b, opts: opts, keys: keys, witnesses: witnesses, rep: rep,
		earlier: map[int64]bus.Checkpoint{}, certs: map[[32]byte]*x509.Certificate{}, crls: map[crlKey][]byte{},
		anchors: map[[32]byte]bool{}, docs: map[[32]byte]*edoc.Package{}, purged: map[[32]byte]bool{}, withheld: map[[32]byte]bool{},
		pkgs: map[[32]byte]*Package{}, usedPkgs: map[[32]byte]bool{}, notices: map[[32]byte]indexedEvent{}}
	v.now = time.Now()
	if opts.Now != nil {
		v.now = opts.Now()
	}
	v.skew = opts.ClockSkew
	if v.skew == 0 {
		v.skew = DefaultClockSkew
	} else if v.skew < 0 {
		v.skew = 0
	}
	if _, _, err := bus.ParseRootKey(b.Key); err != nil {
		rep.add("letter", false, "the bundle's key %q is not a root-document key: %v", clipName(b.Key), err)
	}
	v.checkpoints()
	v.index()
	v.leaves()
	v.loadTrust()
	v.packagesAndEvents()
	v.leftovers()
	v.subjectAndSummary()
	rep.OK = len(rep.Verdicts) > 0
	for _, vd := range rep.Verdicts {
		if !vd.OK {
			rep.OK = false
		}
	}
}

// splitView explains a consistency failure between two checkpoints.
func splitView(old, new int64, err error) string {
	return fmt.Sprintf("split view: the checkpoint of size %d is not consistent with the checkpoint of size %d (the log showed two histories): %v", old, new, err)
}

func (v *verifier) checkpoints() {
	cp, names, err := bus.OpenCosigned(v.b.Log.Checkpoint, v.keys, v.witnesses)
	if err != nil {
		v.rep.add("checkpoint", false, "the reference checkpoint does not verify with the axis keys given (forged, or signed by a key not given): %v", err)
		return
	}
	item := fmt.Sprintf("checkpoint %d", cp.Size)
	if cp.Origin != v.b.Log.Origin {
		v.rep.add(item, false, "its origin is %s, the bundle says %s", clipName(cp.Origin), clipName(v.b.Log.Origin))
		return
	}
	v.ref, v.refOK = cp, true
	v.rep.add(item, true, "signed by the axis log %s; root %x…", cp.Origin, cp.Hash[:8])
	switch {
	case v.opts.MinWitnesses > 0 && len(names) < v.opts.MinWitnesses:
		v.rep.add("witnesses", false, "the checkpoint of size %d carries %d valid cosignatures by the witness keys given (%s); %d required",
			cp.Size, len(names), strings.Join(names, ", "), v.opts.MinWitnesses)
	case len(names) > 0:
		v.rep.add("witnesses", true, "cosigned by %s", strings.Join(names, ", "))
	}
	prev := int64(-1)
	for i, e := range v.b.Log.Earlier {
		ec, err := bus.OpenCheckpoint(e.Checkpoint, v.keys)
		if err != nil {
			v.rep.add(fmt.Sprintf("earlier checkpoint #%d", i+1), false, "does not verify with the axis keys given: %v", err)
			continue
		}
		item := fmt.Sprintf("checkpoint %d (earlier)", ec.Size)
		switch {
		case ec.Origin != cp.Origin:
			v.rep.add(item, false, "of another log (%s, not %s)", clipName(ec.Origin), clipName(cp.Origin))
			continue
		case ec.Size <= prev:
			v.rep.add(item, false, "earlier checkpoints must be by strictly increasing size: %d after %d", ec.Size, prev)
			continue
		case ec.Size >= cp.Size:
			v.rep.add(item, false, "an earlier checkpoint is smaller than the reference one of size %d", cp.Size)
			continue
		}
		prev = ec.Size
		if err := bus.VerifyConsistency(ec.Checkpoint, cp.Checkpoint, e.Consistency); err != nil {
			v.rep.add(item, false, "%s", splitView(ec.Size, cp.Size, err))
			continue
		}
		v.earlier[ec.Size] = ec.Checkpoint
		v.rep.add(item, true, "consistent with the checkpoint of size %d (the log only grew)", cp.Size)
	}
}

func (v *verifier) index() {
	if !v.refOK {
		return
	}
	x, err := OpenIndex(v.b.Log.Index, v.keys)
	if err != nil {
		v.rep.add("index", false, "the log's index of the letter does not verify: %v", err)
		return
	}
	switch {
	case x.Origin != v.ref.Origin:
		v.rep.add("index", false, "the index is of the log %s, not %s", clipName(x.Origin), clipName(v.ref.Origin))
		return
	case x.Key != v.b.Key:
		v.rep.add("index", false, "the index is about letter %q, the bundle about %q", clipName(x.Key), clipName(v.b.Key))
		return
	case x.Size != v.ref.Size:
		v.rep.add("index", false, "the index lists the leaves below size %d, the reference checkpoint has size %d", x.Size, v.ref.Size)
		return
	}
	inBundle := map[int64][32]byte{}
	for _, l := range v.b.Leaves {
		inBundle[l.Index] = bus.LeafHash(l.Event)
	}
	ok := true
	listed := map[int64]bool{}
	for _, l := range x.Leaves {
		listed[l.Index] = true
		h, there := inBundle[l.Index]
		switch {
		case !there:
			ok = false
			v.rep.add(fmt.Sprintf("leaf %d", l.Index), false, "missing: the log's signed index lists leaf %d about this letter, the bundle does not have it (a receipt was dropped)", l.Index)
		case h != l.Hash:
			ok = false
			v.rep.add(fmt.Sprintf("leaf %d", l.Index), false, "the bundle's leaf %d is not the one the log's signed index lists (hash %x…, the index says %x…)", l.Index, h[:8], l.Hash[:8])
		}
	}
	for _, l := range v.b.Leaves {
		if !listed[l.Index] {
			ok = false
			v.rep.add(fmt.Sprintf("leaf %d", l.Index), false, "not in the log's signed index of this letter: it is about something else")
		}
	}
	if ok {
		v.rep.add("index", true, "the log attests that the %d leaves below size %d about %s are exactly the bundle's", len(x.Leaves), x.Size, x.Key)
	}
}

func (v *verifier) leaves() {
	var prev *indexedEvent
	for i, l := range v.b.Leaves {
		item := fmt.Sprintf("leaf %d", l.Index)
		if i > 0 && l.Index <= v.b.Leaves[i-1].Index {
			v.rep.add(item, false, "leaves out of order: leaf %d is listed after leaf %d (reordered or repeated)", l.Index, v.b.Leaves[i-1].Index)
			continue
		}
		ev, err := bus.DecodeEvent(l.Event)
		if err != nil {
			v.rep.add(item, false, "not a log event: %v", err)
			continue
		}
		item = fmt.Sprintf("leaf %d (%s)", l.Index, ev.Kind)
		if !v.refOK {
			v.rep.add(item, false, "cannot be checked: no verified checkpoint")
			continue
		}
		if err := bus.VerifyInclusion(l.Event, l.Index, l.Proof, v.ref.Checkpoint); err != nil {
			v.rep.add(item, false, "not in the log: %v", err)
			continue
		}
		detail := fmt.Sprintf("in the log (checkpoint of size %d)", v.ref.Size)
		if l.First > 0 {
			ec, ok := v.earlier[l.First]
			switch {
			case !ok:
				v.rep.add(item, false, "its receipt's checkpoint of size %d is not among the verified earlier checkpoints", l.First)
				continue
			case l.Index >= l.First:
				v.rep.add(item, false, "its receipt's checkpoint of size %d does not cover it", l.First)
				continue
			}
			if err := bus.VerifyInclusion(l.Event, l.Index, l.FirstProof, ec); err != nil {
				v.rep.add(item, false, "not in its receipt's checkpoint of size %d: %v", l.First, err)
				continue
			}
			detail += fmt.Sprintf(", and in its receipt's checkpoint of size %d", l.First)
		}
		if ev.Time.After(v.now) {
			v.rep.add(item, false, "dated %s, after the verifier's clock %s", ev.Time.UTC().Format(time.RFC3339Nano), v.now.UTC().Format(time.RFC3339))
			continue
		}
		if prev != nil && ev.Time.Before(prev.ev.Time.Add(-v.skew)) {
			v.rep.add(item, false, "dated %s, %s before leaf %d (%s) which the log holds before it: back-dated or reordered",
				ev.Time.UTC().Format(time.RFC3339Nano), prev.ev.Time.Sub(ev.Time), prev.index, prev.ev.Time.UTC().Format(time.RFC3339Nano))
			continue
		}
		ie := indexedEvent{index: l.Index, ev: ev}
		v.events = append(v.events, ie)
		prev = &v.events[len(v.events)-1]
		v.rep.add(item, true, "%s", detail)
	}
}

// loadTrust indexes the bundled certificates and CRLs.
func (v *verifier) loadTrust() {
	for i, der := range v.b.Certificates {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			v.rep.add(fmt.Sprintf("certificate #%d", i+1), false, "does not parse: %v", err)
			continue
		}
		v.certs[sha256.Sum256(der)] = c
	}
	for i, der := range v.b.CRLs {
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			v.rep.add(fmt.Sprintf("CRL #%d", i+1), false, "does not parse: %v", err)
			continue
		}
		if crl.Number == nil {
			v.rep.add(fmt.Sprintf("CRL #%d", i+1), false, "has no CRL number, so no evidence can name it")
			continue
		}
		found := false
		for sum, c := range v.certs {
			if bytes.Equal(c.RawSubject, crl.RawIssuer) && crl.CheckSignatureFrom(c) == nil {
				v.crls[crlKey{sum, crl.Number.String()}] = der
				found = true
			}
		}
		if !found {
			v.rep.add(fmt.Sprintf("CRL #%d", i+1), false, "of %q number %s: no bundled certificate signed it", crl.Issuer, crl.Number)
		}
	}
	for _, ie := range v.events {
		if ch := ie.ev.Evidence.Chain; len(ch) > 0 {
			v.anchors[ch[len(ch)-1]] = true
		}
	}
}

func (v *verifier) packagesAndEvents() {
	for i := range v.b.Packages {
		p := &v.b.Packages[i]
		v.pkgs[p.SHA256] = p
		if p.Purged {
			v.purged[p.SHA256] = true
		}
		if p.Withheld {
			v.withheld[p.SHA256] = true
		}
	}
	accepted := map[[32]byte]indexedEvent{}       // accepted documents and statuses by SHA-256
	delivered := map[string][]indexedEvent{}      // by recipient OrganId: deliveries of the letter's documents
	deliveredTo := map[[32]byte]map[string]bool{} // sha → edges delivered to
	var docRecipients []string
	rootSender, _, _ := bus.ParseRootKey(v.b.Key)
	for _, ie := range v.events {
		e := ie.ev
		item := fmt.Sprintf("event %d (%s)", ie.index, e.Kind)
		switch e.Kind {
		case bus.EventSubmissionAccepted, bus.EventStatus:
			if e.Kind == bus.EventSubmissionAccepted {
				for _, r := range e.Recipients {
					if !slices.Contains(docRecipients, r) {
						docRecipients = append(docRecipients, r)
					}
				}
			} else if e.StatusCode != string(edoc.StatusRecallRequested) {
				if !slices.Contains(docRecipients, e.Sender) {
					v.rep.add(item, false, "status %s from %s, which is not a recipient of an earlier accepted document of this letter", e.StatusCode, e.Sender)
					continue
				}
				if len(delivered[e.Sender]) == 0 {
					v.rep.add(item, false, "status %s from %s comes before any delivery to %s in the log: reordered", e.StatusCode, e.Sender, e.Sender)
					continue
				}
				if !slices.Equal(e.Recipients, []string{rootSender}) {
					v.rep.add(item, false, "status %s goes to %s, not to the letter's sender %s", e.StatusCode, strings.Join(e.Recipients, ", "), rootSender)
					continue
				}
			}
			// The log accepted it: later leaves may refer to it even when
			// its package fails (that failure is reported on its own).
			accepted[e.PackageSHA256] = ie
			v.checkPackage(ie)
		case bus.EventSubmissionRejected:
			v.rep.add(item, true, "the axis refused package %x… at %s (reason %s; %s); refused bytes are not kept",
				e.PackageSHA256[:8], fmtTime(e.Time), e.Reason, clipName(e.Detail))
		case bus.EventDelivered:
			a, ok := accepted[e.PackageSHA256]
			if n, isNotice := v.notices[e.PackageSHA256]; !ok && isNotice {
				// The axis forwards a rejection notice to the sender's edge.
				if !slices.Equal(e.Recipients, []string{n.ev.Sender}) {
					v.rep.add(item, false, "the rejection notice %x… is forwarded to %s, not to the letter's sender %s", e.PackageSHA256[:8], strings.Join(e.Recipients, ", "), n.ev.Sender)
					continue
				}
				v.rep.add(item, true, "the rejection notice of edge %s forwarded to edge %s for %s at %s", n.ev.Edge, e.Edge, n.ev.Sender, fmtTime(e.Time))
				continue
			}
			switch {
			case !ok:
				v.rep.add(item, false, "delivery of package %x…, which no earlier leaf of the bundle accepted: reordered or unrelated", e.PackageSHA256[:8])
				continue
			case a.ev.Time.After(e.Time.Add(v.skew)):
				v.rep.add(item, false, "delivered at %s, before it was accepted at %s", fmtTime(e.Time), fmtTime(a.ev.Time))
				continue
			case e.Sender != a.ev.Sender || e.MessageID != a.ev.MessageID:
				v.rep.add(item, false, "the delivery names sender %s and message %s, the accepted package %s and %s", e.Sender, e.MessageID, a.ev.Sender, a.ev.MessageID)
				continue
			}
			if i := slices.IndexFunc(e.Recipients, func(r string) bool { return !slices.Contains(a.ev.Recipients, r) }); i >= 0 {
				v.rep.add(item, false, "delivered for %s, who is not a recipient of the package", e.Recipients[i])
				continue
			}
			if deliveredTo[e.PackageSHA256] == nil {
				deliveredTo[e.PackageSHA256] = map[string]bool{}
			}
			if deliveredTo[e.PackageSHA256][e.Edge] {
				v.rep.add(item, false, "a second first-delivery of package %x… to edge %s", e.PackageSHA256[:8], e.Edge)
				continue
			}
			deliveredTo[e.PackageSHA256][e.Edge] = true
			if a.ev.Kind == bus.EventSubmissionAccepted {
				for _, r := range e.Recipients {
					delivered[r] = append(delivered[r], ie)
				}
			}
			v.rep.add(item, true, "package %x… delivered to edge %s for %s at %s, bound to the accepted package by its SHA-256",
				e.PackageSHA256[:8], e.Edge, strings.Join(e.Recipients, ", "), fmtTime(e.Time))
		case bus.EventRejectionNotice:
			if !deliveredTo[e.PackageSHA256][e.Edge] {
				v.rep.add(item, false, "edge %s refused package %x…, which the log does not show delivered to it before", e.Edge, e.PackageSHA256[:8])
				continue
			}
			v.checkNotice(ie)
		default:
			v.rep.add(item, false, "unknown event kind %q", e.Kind)
		}
	}
}

// checkPackage checks an accepted document or status against its package
// and records the parsed package when its signature verifies.
func (v *verifier) checkPackage(ie indexedEvent) bool {
	e := ie.ev
	kind := "document"
	if e.Kind == bus.EventStatus {
		kind = "status " + e.StatusCode
	}
	item := fmt.Sprintf("package %x… (%s, leaf %d)", e.PackageSHA256[:8], kind, ie.index)
	p := v.pkgs[e.PackageSHA256]
	v.usedPkgs[e.PackageSHA256] = true
	ev := e.Evidence
	recorded := "no verification evidence recorded"
	if !ev.IsZero() {
		recorded = fmt.Sprintf("verified by the axis at %s with chain %s", fmtTime(ev.VerifiedAt), chainText(ev.Chain))
		if len(ev.CRLs) > 0 {
			recorded += " and CRL(s) " + crlText(ev.CRLs)
		}
	}
	switch {
	case p == nil:
		v.rep.add(item, false, "missing: the package the log records at leaf %d is not in the bundle and not declared purged", ie.index)
		return false
	case p.Purged:
		v.rep.add(item, true, "package purged by retention: the signature cannot be re-checked; the log record, the SHA-256 and the evidence %s verify", recorded)
		return true
	case p.Withheld:
		v.rep.add(item, true, "package not held by the exporter (%s): the signature is not re-checked; the log record, the SHA-256 and the evidence %s verify", clipName(v.b.Exporter), recorded)
		return true
	}
	if got := sha256.Sum256(p.Bytes); got != e.PackageSHA256 {
		v.rep.add(item, false, "the bytes hash to %x…, not to the SHA-256 the log records: the package changed", got[:8])
		return false
	}
	if ev.IsZero() {
		v.rep.add(item, false, "the log records no verification evidence for it, so its signature cannot be checked as of the time the axis took it")
		return false
	}
	res, anchor, err := v.verifySignature(p.Bytes, ev)
	if err != nil {
		v.rep.add(item, false, "%v", err)
		return false
	}
	pkg, err := edoc.FromElement(res.Element)
	if err != nil {
		v.rep.add(item, false, "the signed content is not an edXML package: %v", err)
		return false
	}
	if msg := v.matchEvent(e, pkg); msg != "" {
		v.rep.add(item, false, "%s", msg)
		return false
	}
	v.docs[e.PackageSHA256] = pkg
	v.rep.add(item, true, "signature by %q valid at %s (the recorded verification time), chain and CRLs as recorded; %s; bound to the log by its SHA-256",
		res.Signer.Subject.CommonName, fmtTime(ev.VerifiedAt), anchor)
	return true
}

func chainText(chain [][32]byte) string {
	parts := make([]string, len(chain))
	for i, h := range chain {
		parts[i] = hex.EncodeToString(h[:6])
	}
	return strings.Join(parts, "→")
}

func crlText(crls []bus.CRLEvidence) string {
	parts := make([]string, len(crls))
	for i, c := range crls {
		parts[i] = fmt.Sprintf("%x#%s", c.Issuer[:6], c.Number)
	}
	return strings.Join(parts, ", ")
}

// verifySignature checks pkg's signature as of the recorded verification
// time, with the bundled chain and exactly the recorded CRLs, and checks
// that the chain and CRLs are the recorded ones.
func (v *verifier) verifySignature(pkg []byte, ev bus.Evidence) (*signing.Result, string, error) {
	var roots []*x509.Certificate
	anchor := ""
	end := ev.Chain[len(ev.Chain)-1]
	if len(v.opts.TrustRoots) > 0 {
		roots = v.opts.TrustRoots
		anchor = "anchored in a trust root the auditor supplied"
	} else {
		root := v.certs[end]
		if root == nil {
			return nil, "", fmt.Errorf("the root certificate %x… that the axis recorded is not in the bundle (and no trust root was given)", end[:8])
		}
		roots = []*x509.Certificate{root}
		anchor = fmt.Sprintf("anchored in the bundled root %q (SHA-256 %x…) that the axis recorded; give trust roots to anchor it in your own", root.Subject.CommonName, end[:8])
	}
	var inter []*x509.Certificate
	for sum, c := range v.certs {
		if sum != end {
			inter = append(inter, c)
		}
	}
	store := signing.NewCRLStore()
	policy := signing.Policy{AllowSHA1: v.opts.AllowSHA1, CRLGrace: v.opts.CRLGrace, Limits: edoc.Limits{MaxBytes: int64(len(pkg)) + 1}}
	if len(ev.CRLs) == 0 {
		policy.SkipRevocation = true
		anchor += "; revocation not re-checked (the axis recorded no numbered CRL)"
	}
	for _, c := range ev.CRLs {
		der := v.crls[crlKey{c.Issuer, c.Number}]
		if der == nil {
			return nil, "", fmt.Errorf("CRL number %s of the issuer %x…, which the axis relied on, is not in the bundle", c.Number, c.Issuer[:8])
		}
		issuer := v.certs[c.Issuer]
		if _, err := store.Add(der, []*x509.Certificate{issuer}, ev.VerifiedAt); err != nil {
			return nil, "", fmt.Errorf("CRL number %s of the issuer %x…: %v", c.Number, c.Issuer[:8], err)
		}
	}
	sv, err := signing.NewVerifier(signing.VerifierConfig{Roots: roots, Intermediates: inter, CRLs: store, Policy: policy})
	if err != nil {
		return nil, "", fmt.Errorf("setting up the verification: %v", err)
	}
	res, err := sv.Verify(pkg, ev.VerifiedAt)
	if err != nil {
		return nil, "", fmt.Errorf("the signature does not verify as of the recorded verification time %s: %v", fmtTime(ev.VerifiedAt), err)
	}
	got := res.Evidence.ChainSHA256
	want := make([]string, len(ev.Chain))
	for i, h := range ev.Chain {
		want[i] = hex.EncodeToString(h[:])
	}
	if !slices.Equal(got, want) {
		return nil, "", fmt.Errorf("the chain built now (%s) is not the one the axis recorded (%s)", shortChain(got), shortChain(want))
	}
	var gotCRLs []string
	for _, c := range res.Evidence.CRLs {
		if c.Number != "" {
			gotCRLs = append(gotCRLs, c.IssuerSHA256+"#"+c.Number)
		}
	}
	var wantCRLs []string
	for _, c := range ev.CRLs {
		wantCRLs = append(wantCRLs, hex.EncodeToString(c.Issuer[:])+"#"+c.Number)
	}
	slices.Sort(gotCRLs)
	slices.Sort(wantCRLs)
	if !policy.SkipRevocation && !slices.Equal(gotCRLs, wantCRLs) {
		return nil, "", fmt.Errorf("the CRLs checked now are not the ones the axis recorded")
	}
	return res, anchor, nil
}

func shortChain(hs []string) string {
	parts := make([]string, len(hs))
	for i, h := range hs {
		parts[i] = h[:min(12, len(h))]
	}
	return strings.Join(parts, "→")
}

// matchEvent checks that the verified package says what the log event
// says.
func (v *verifier) matchEvent(e bus.Event, p *edoc.Package) string {
	org, doc := p.RootDocument()
	key, err := bus.RootKey(org, doc)
	if err != nil {
		return fmt.Sprintf("the package names no valid root document: %v", err)
	}
	if key != v.b.Key {
		return fmt.Sprintf("the package is about letter %q, the bundle about %q", clipName(key), clipName(v.b.Key))
	}
	if p.Sender() != e.Sender {
		return fmt.Sprintf("the package is from %s, the log says %s", p.Sender(), e.Sender)
	}
	switch e.Kind {
	case bus.EventSubmissionAccepted:
		if p.Kind != edoc.KindDocument {
			return "the log records a document, the package is a status"
		}
		want := slices.Sorted(slices.Values(p.Recipients()))
		if !slices.Equal(want, slices.Sorted(slices.Values(e.Recipients))) {
			return fmt.Sprintf("the package is addressed to %s, the log says %s", strings.Join(want, ", "), strings.Join(e.Recipients, ", "))
		}
	case bus.EventStatus:
		if p.Kind != edoc.KindStatus {
			return "the log records a status, the package is a document"
		}
		if string(p.StatusCode()) != e.StatusCode {
			return fmt.Sprintf("the package is status %s, the log says %s", p.StatusCode(), e.StatusCode)
		}
	}
	return ""
}

func (v *verifier) checkNotice(ie indexedEvent) {
	e := ie.ev
	item := fmt.Sprintf("rejection notice of edge %s (leaf %d)", e.Edge, ie.index)
	var n *Notice
	for i := range v.b.Notices {
		if v.b.Notices[i].Edge == e.Edge && v.b.Notices[i].About == e.PackageSHA256 {
			n = &v.b.Notices[i]
		}
	}
	switch {
	case n == nil:
		v.rep.add(item, false, "missing: the log records it at leaf %d, the bundle has neither the notice nor a purge declaration", ie.index)
		return
	case n.Withheld:
		v.notices[n.SHA256] = ie
		v.rep.add(item, true, "notice not held by the exporter (%s): the log records that edge %s refused package %x… (reason %s)", clipName(v.b.Exporter), e.Edge, e.PackageSHA256[:8], e.Reason)
		return
	case n.Purged:
		v.notices[n.SHA256] = ie
		v.rep.add(item, true, "notice purged by retention: the log records that edge %s refused package %x… (reason %s)", e.Edge, e.PackageSHA256[:8], e.Reason)
		return
	}
	if got := sha256.Sum256(n.Note); got != n.SHA256 {
		v.rep.add(item, false, "the notice hashes to %x…, the bundle says %x…: it changed", got[:8], n.SHA256[:8])
		return
	}
	var certs []*x509.Certificate
	for _, ec := range v.b.Edges {
		if ec.ID != e.Edge {
			continue
		}
		for _, der := range ec.Certificates {
			if c, err := x509.ParseCertificate(der); err == nil {
				certs = append(certs, c)
			}
		}
	}
	var vs []note.Verifier
	for _, c := range certs {
		if err := v.chains(c, e.Time); err != nil {
			continue
		}
		if nv, err := notesig.NewCertVerifier(bus.EdgeNoteName(e.Edge), c); err == nil {
			vs = append(vs, nv)
		}
	}
	if len(vs) == 0 {
		v.rep.add(item, false, "no seal certificate of edge %s in the bundle chains to the trust anchors at %s", e.Edge, fmtTime(e.Time))
		return
	}
	known, err := notesig.VerifierList(vs...)
	if err != nil {
		v.rep.add(item, false, "the seal certificates of edge %s: %v", e.Edge, err)
		return
	}
	nt, err := bus.OpenNotice(n.Note, known)
	if err != nil {
		v.rep.add(item, false, "the notice does not verify with the seal certificates of edge %s: %v", e.Edge, err)
		return
	}
	reason := nt.Reason
	if e.Reason == bus.RejectBadNotice && reason != e.Reason {
		reason = e.Reason // the axis logs an unusable reason code as bad-notice
	}
	if nt.Edge != e.Edge || nt.SHA256 != e.PackageSHA256 || nt.MessageID != e.MessageID || reason != e.Reason || nt.Detail != e.Detail {
		v.rep.add(item, false, "the signed notice (edge %s, package %x…, message %s, reason %s) is not what the log records", nt.Edge, nt.SHA256[:8], nt.MessageID, nt.Reason)
		return
	}
	v.notices[n.SHA256] = ie
	v.rep.add(item, true, "signed by the seal of edge %s: it refused package %x… (reason %s); bound to the log", e.Edge, e.PackageSHA256[:8], e.Reason)
}

// chains checks that c chains to the anchors (the auditor's roots, else
// the roots the log's evidence recorded) at time at.
func (v *verifier) chains(c *x509.Certificate, at time.Time) error {
	roots := x509.NewCertPool()
	if len(v.opts.TrustRoots) > 0 {
		for _, r := range v.opts.TrustRoots {
			roots.AddCert(r)
		}
	} else {
		for sum := range v.anchors {
			if r := v.certs[sum]; r != nil {
				roots.AddCert(r)
			}
		}
	}
	inter := x509.NewCertPool()
	for _, ic := range v.certs {
		inter.AddCert(ic)
	}
	_, err := c.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err
}

// leftovers fails packages and notices that no leaf is about.
func (v *verifier) leftovers() {
	for _, p := range v.b.Packages {
		if !v.usedPkgs[p.SHA256] {
			v.rep.add(fmt.Sprintf("package %x…", p.SHA256[:8]), false, "in the bundle, but no verified log leaf records it")
		}
	}
	for _, n := range v.b.Notices {
		found := false
		for _, ie := range v.events {
			if ie.ev.Kind == bus.EventRejectionNotice && ie.ev.Edge == n.Edge && ie.ev.PackageSHA256 == n.About {
				found = true
			}
		}
		if !found {
			v.rep.add("rejection notice of edge "+clipName(n.Edge), false, "in the bundle, but no verified log leaf records it")
		}
	}
}

func (v *verifier) subjectAndSummary() {
	subject := false
	for _, ie := range v.events {
		if ie.ev.Kind == bus.EventSubmissionAccepted && ie.ev.PackageSHA256 == v.b.Document {
			subject = true
		}
	}
	if !subject {
		v.rep.add("document", false, "the bundle is about package %x…, but no verified leaf records the axis accepting it", v.b.Document[:8])
	} else {
		v.rep.add("document", true, "the axis accepted package %x… of letter %s", v.b.Document[:8], v.b.Key)
	}
	if !v.refOK {
		return
	}
	f := &facts{key: v.b.Key, origin: v.ref.Origin, size: v.ref.Size, document: v.b.Document, events: v.events, docs: v.docs, purged: v.purged, withheld: v.withheld, notices: map[[32]byte]bool{}}
	for sha := range v.notices {
		f.notices[sha] = true
	}
	want := f.summary()
	if want != v.b.Summary {
		v.rep.add("summary", false, "summary.txt does not say what the verified items say (%s)", firstDiff(v.b.Summary, want))
		return
	}
	v.rep.add("summary", true, "summary.txt says exactly what the verified items say")
}

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d is %q, the evidence gives %q", i+1, clipName(gl), clipName(wl))
		}
	}
	return "they differ"
}
