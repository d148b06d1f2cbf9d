package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"golang.org/x/mod/sumdb/note"

	"truc.vn/truc/bus"
	"truc.vn/truc/edoc"
)

// ErrNotCovered is wrapped by Build's error when the acceptance of the
// document is not covered by a signed checkpoint yet (the axis signs one
// every second): retry shortly.
var ErrNotCovered = errors.New("not covered by a checkpoint yet")

// Ledger is what Build reads from the axis ledger (boltstore.Ledger
// implements it).
type Ledger interface {
	Get(ctx context.Context, sha [32]byte) (bus.Entry, error)
	ByKey(ctx context.Context, key string) ([]bus.Entry, error)
	// Timeline returns the log index of every event about the letter
	// with root key key, in log order.
	Timeline(ctx context.Context, key string) ([]int64, error)
	// Package returns the package bytes, or an error wrapping
	// bus.ErrNotFound when they are not kept (purged).
	Package(ctx context.Context, sha [32]byte) ([]byte, error)
	Log() bus.Log
}

// Checkpoints lists stored checkpoints (boltstore.Log implements it).
type Checkpoints interface {
	// Checkpoints returns up to limit stored checkpoints of size ≥ from,
	// by increasing size.
	Checkpoints(ctx context.Context, from int64, limit int) ([]bus.SignedCheckpoint, error)
}

// Trust is the verification material the exporter holds.
type Trust interface {
	// Certificate returns the DER of a CA certificate of the trust store
	// (root or intermediate) by SHA-256 of its DER.
	Certificate(sha [32]byte) ([]byte, bool)
	// CRL returns the DER of the CRL with that issuer certificate
	// SHA-256 and number (from the CRL archive), or an error.
	CRL(issuer [32]byte, number string) ([]byte, error)
	// EdgeCertificates returns the DER seal certificates of an edge.
	EdgeCertificates(edge string) [][]byte
}

// BuildConfig is what Build needs.
type BuildConfig struct {
	Ledger      Ledger
	Checkpoints Checkpoints
	Trust       Trust
	// IndexSigner signs the index: the log's signer (its key name is the
	// log's origin).
	IndexSigner note.Signer
	// LogKeys are the log's verifier keys in text form, written into the
	// bundle for information.
	LogKeys []string
	// Reference, when set, chooses the reference checkpoint: the
	// bundle's proofs lead to it. need is the log size the letter's
	// leaves require (its last leaf's index + 1); a checkpoint smaller
	// than need leaves the newer leaves out of the bundle. Default: the
	// log's latest checkpoint. (The axis prefers a checkpoint its
	// witnesses cosigned.)
	Reference func(ctx context.Context, need int64) (bus.SignedCheckpoint, error)
	// Cosigned, when set, returns the reference checkpoint with witness
	// cosignatures (nil to keep it as the log signed it).
	Cosigned func(ctx context.Context, cp bus.SignedCheckpoint) ([]byte, error)
	// Exporter names the exporter ("axis <origin>").
	Exporter string
	// Withhold leaves the packages and notices out, declared withheld:
	// the evidence an edge asks for, to fill in with the packages it
	// holds (Include, IncludeNotice, then Summarize).
	Withhold bool
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Request selects what a bundle is about: the document package with
// SHA-256 Document, or, when Document is zero, the first document the axis
// accepted for the letter with root key Key.
type Request struct {
	Key      string
	Document [32]byte
}

// Build exports the bundle of one letter from the axis's ledger and log:
// every leaf about the letter that the latest checkpoint covers, with its
// inclusion proof; the earliest checkpoint that covered each leaf (the
// one its receipt carried), with a consistency proof to the latest; the
// log's signed index of the letter; every package and rejection notice
// the leaves are about (or their purge); the CA certificates and CRLs of
// the recorded evidence; the seal certificates of edges that sent
// notices; and the summary. Warnings list what the exporter could not
// include (a CRL not archived, ...): the bundle is still written, and
// Verify will name what is missing.
func Build(ctx context.Context, cfg BuildConfig, req Request) (b *Bundle, warnings []string, err error) {
	if cfg.Ledger == nil || cfg.Checkpoints == nil || cfg.Trust == nil || cfg.IndexSigner == nil {
		return nil, nil, errors.New("building a bundle: ledger, checkpoints, trust and index signer are required")
	}
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	l := cfg.Ledger
	key, doc, err := resolve(ctx, l, req)
	if err != nil {
		return nil, nil, err
	}
	log := l.Log()
	idxs, err := l.Timeline(ctx, key)
	if err != nil {
		return nil, nil, fmt.Errorf("building the bundle of %s: %w", key, err)
	}
	var ref bus.SignedCheckpoint
	if cfg.Reference != nil {
		var need int64
		for _, i := range idxs {
			need = max(need, i+1)
		}
		ref, err = cfg.Reference(ctx, need)
	} else {
		ref, err = log.Checkpoint(ctx)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("building the bundle of %s: the log's checkpoint: %w", key, err)
	}
	b = &Bundle{CreatedAt: now().UTC(), Exporter: cfg.Exporter, Key: key, Document: doc,
		Log: LogEvidence{Origin: ref.Origin, Keys: slices.Clone(cfg.LogKeys), Checkpoint: ref.Note}}
	x := Index{Origin: ref.Origin, Key: key, Size: ref.Size}
	earlier := map[int64]bool{}
	var events []indexedEvent
	for _, i := range idxs {
		if i >= ref.Size {
			continue // not covered yet: the next export has it
		}
		leaf, err := log.Leaf(ctx, i)
		if err != nil {
			return nil, nil, fmt.Errorf("building the bundle of %s: %w", key, err)
		}
		proof, err := log.InclusionProof(ctx, i, ref.Size)
		if err != nil {
			return nil, nil, fmt.Errorf("building the bundle of %s: %w", key, err)
		}
		lf := Leaf{Index: i, Event: leaf, Proof: proof}
		first, err := cfg.Checkpoints.Checkpoints(ctx, i+1, 1)
		if err != nil {
			return nil, nil, fmt.Errorf("building the bundle of %s: %w", key, err)
		}
		if len(first) == 1 && first[0].Size < ref.Size {
			lf.First = first[0].Size
			if lf.FirstProof, err = log.InclusionProof(ctx, i, lf.First); err != nil {
				return nil, nil, fmt.Errorf("building the bundle of %s: %w", key, err)
			}
			if !earlier[lf.First] {
				earlier[lf.First] = true
				cp := first[0]
				proof, err := log.ConsistencyProof(ctx, cp.Size, ref.Size)
				if err != nil {
					return nil, nil, fmt.Errorf("building the bundle of %s: %w", key, err)
				}
				b.Log.Earlier = append(b.Log.Earlier, EarlierCheckpoint{Checkpoint: cp.Note, Consistency: proof})
			}
		}
		b.Leaves = append(b.Leaves, lf)
		x.Leaves = append(x.Leaves, IndexedLeaf{Index: i, Hash: bus.LeafHash(leaf)})
		ev, err := bus.DecodeEvent(leaf)
		if err != nil {
			return nil, nil, fmt.Errorf("building the bundle of %s: leaf %d: %w", key, i, err)
		}
		events = append(events, indexedEvent{index: i, ev: ev})
	}
	slices.SortFunc(b.Log.Earlier, func(a, c EarlierCheckpoint) int {
		return compareSize(a.Checkpoint, c.Checkpoint)
	})
	if !slices.ContainsFunc(events, func(ie indexedEvent) bool {
		return ie.ev.Kind == bus.EventSubmissionAccepted && ie.ev.PackageSHA256 == doc
	}) {
		return nil, nil, fmt.Errorf("building the bundle of %s: the acceptance of package %x… is %w; try again in a few seconds", key, doc[:8], ErrNotCovered)
	}
	if b.Log.Index, err = SignIndex(x, cfg.IndexSigner); err != nil {
		return nil, nil, fmt.Errorf("building the bundle of %s: %w", key, err)
	}
	entries, err := l.ByKey(ctx, key)
	if err != nil {
		return nil, nil, fmt.Errorf("building the bundle of %s: %w", key, err)
	}

	certs := map[[32]byte]bool{}
	crls := map[crlKey]bool{}
	edges := map[string]bool{}
	for _, ie := range events {
		e := ie.ev
		for _, h := range e.Evidence.Chain {
			if !certs[h] {
				certs[h] = true
				if der, ok := cfg.Trust.Certificate(h); ok {
					b.Certificates = append(b.Certificates, der)
				}
			}
		}
		for _, c := range e.Evidence.CRLs {
			k := crlKey{c.Issuer, c.Number}
			if crls[k] {
				continue
			}
			crls[k] = true
			der, err := cfg.Trust.CRL(c.Issuer, c.Number)
			if err != nil {
				warnings = append(warnings, fmt.Sprintf("CRL number %s of issuer %x… (relied on at leaf %d) is not available: %v", c.Number, c.Issuer[:8], ie.index, err))
				continue
			}
			b.CRLs = append(b.CRLs, der)
		}
		switch e.Kind {
		case bus.EventSubmissionAccepted, bus.EventStatus:
			if slices.ContainsFunc(b.Packages, func(p Package) bool { return p.SHA256 == e.PackageSHA256 }) {
				continue
			}
			if cfg.Withhold {
				b.Packages = append(b.Packages, Package{SHA256: e.PackageSHA256, Withheld: true})
				continue
			}
			pkg, err := l.Package(ctx, e.PackageSHA256)
			switch {
			case errors.Is(err, bus.ErrNotFound):
				b.Packages = append(b.Packages, Package{SHA256: e.PackageSHA256, Purged: true})
			case err != nil:
				return nil, nil, fmt.Errorf("building the bundle of %s: %w", key, err)
			case sha256.Sum256(pkg) != e.PackageSHA256:
				return nil, nil, fmt.Errorf("building the bundle of %s: the ledger's bytes of package %x… do not hash to it", key, e.PackageSHA256[:8])
			default:
				b.Packages = append(b.Packages, Package{SHA256: e.PackageSHA256, Bytes: pkg})
			}
		case bus.EventRejectionNotice:
			n := Notice{Edge: e.Edge, About: e.PackageSHA256, Purged: true}
			about := hex.EncodeToString(e.PackageSHA256[:])
			for _, en := range entries {
				if en.Type == bus.TypeRejection && en.FromEdge == e.Edge && en.Subject == about {
					n.SHA256 = en.SHA256
					if cfg.Withhold {
						n.Purged, n.Withheld = false, true
						break
					}
					pkg, err := l.Package(ctx, en.SHA256)
					if err == nil {
						n.Note, n.Purged = pkg, false
					} else if !errors.Is(err, bus.ErrNotFound) {
						return nil, nil, fmt.Errorf("building the bundle of %s: %w", key, err)
					}
					break
				}
			}
			b.Notices = append(b.Notices, n)
			if !edges[e.Edge] {
				edges[e.Edge] = true
				b.Edges = append(b.Edges, EdgeCertificates{ID: e.Edge, Certificates: cfg.Trust.EdgeCertificates(e.Edge)})
			}
		}
	}
	if cfg.Cosigned != nil {
		cosigned, err := cfg.Cosigned(ctx, ref)
		if err != nil {
			return nil, nil, fmt.Errorf("building the bundle of %s: cosignatures: %w", key, err)
		}
		if cosigned != nil {
			b.Log.Checkpoint = cosigned
		}
	}
	if err := b.Summarize(); err != nil {
		return nil, nil, fmt.Errorf("building the bundle of %s: %w", key, err)
	}
	return b, warnings, nil
}

// Summarize writes b.Summary from the bundle's leaves and packages, as
// Build does (without checking them: Verify recomputes the summary from
// what verifies and requires the two to be equal). Call it after
// Include.
func (b *Bundle) Summarize() error {
	cp, err := bus.ParseUnverifiedCheckpoint(b.Log.Checkpoint)
	if err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	f := &facts{key: b.Key, origin: cp.Origin, size: cp.Size, document: b.Document,
		docs: map[[32]byte]*edoc.Package{}, purged: map[[32]byte]bool{}, withheld: map[[32]byte]bool{}, notices: map[[32]byte]bool{}}
	for _, l := range b.Leaves {
		ev, err := bus.DecodeEvent(l.Event)
		if err != nil {
			return fmt.Errorf("summary: leaf %d: %w", l.Index, err)
		}
		f.events = append(f.events, indexedEvent{index: l.Index, ev: ev})
	}
	for _, p := range b.Packages {
		switch {
		case p.Purged:
			f.purged[p.SHA256] = true
		case p.Withheld:
			f.withheld[p.SHA256] = true
		default:
			if pkg, err := edoc.Parse(p.Bytes, edoc.Limits{MaxBytes: int64(len(p.Bytes)) + 1}); err == nil {
				f.docs[p.SHA256] = pkg
			}
		}
	}
	for _, n := range b.Notices {
		if n.SHA256 != ([32]byte{}) {
			f.notices[n.SHA256] = true
		}
	}
	b.Summary = f.summary()
	return nil
}

// Include puts pkg into the bundle in place of the withheld package with
// its SHA-256, and reports whether there was one.
func (b *Bundle) Include(pkg []byte) bool {
	sha := sha256.Sum256(pkg)
	for i := range b.Packages {
		if p := &b.Packages[i]; p.SHA256 == sha && p.Withheld {
			p.Bytes, p.Withheld = bytes.Clone(pkg), false
			return true
		}
	}
	return false
}

// IncludeNotice puts a signed rejection notice into the bundle in place
// of the withheld notice with its SHA-256, and reports whether there was
// one.
func (b *Bundle) IncludeNotice(msg []byte) bool {
	sha := sha256.Sum256(msg)
	for i := range b.Notices {
		if n := &b.Notices[i]; n.SHA256 == sha && n.Withheld {
			n.Note, n.Withheld = bytes.Clone(msg), false
			return true
		}
	}
	return false
}

func compareSize(a, c []byte) int {
	ca, err1 := bus.ParseUnverifiedCheckpoint(a)
	cc, err2 := bus.ParseUnverifiedCheckpoint(c)
	if err1 != nil || err2 != nil {
		return 0
	}
	switch {
	case ca.Size < cc.Size:
		return -1
	case ca.Size > cc.Size:
		return 1
	}
	return 0
}

// resolve finds the letter key and the document package of req.
func resolve(ctx context.Context, l Ledger, req Request) (string, [32]byte, error) {
	if req.Document != ([32]byte{}) {
		e, err := l.Get(ctx, req.Document)
		if err != nil {
			return "", [32]byte{}, fmt.Errorf("building a bundle: package %x…: %w", req.Document[:8], err)
		}
		if e.Type != bus.TypeDocument || !e.Accepted() {
			return "", [32]byte{}, fmt.Errorf("building a bundle: package %x… is a %s the axis %s, not an accepted document", req.Document[:8], e.Type, map[bool]string{true: "accepted", false: "rejected"}[e.Accepted()])
		}
		if req.Key != "" && req.Key != e.Key {
			return "", [32]byte{}, fmt.Errorf("building a bundle: package %x… belongs to letter %s, not %s", req.Document[:8], e.Key, req.Key)
		}
		return e.Key, req.Document, nil
	}
	if _, _, err := bus.ParseRootKey(req.Key); err != nil {
		return "", [32]byte{}, fmt.Errorf("building a bundle: %w", err)
	}
	entries, err := l.ByKey(ctx, req.Key)
	if err != nil {
		return "", [32]byte{}, fmt.Errorf("building the bundle of %s: %w", req.Key, err)
	}
	for _, e := range entries {
		if e.Type == bus.TypeDocument && e.Accepted() {
			return req.Key, e.SHA256, nil
		}
	}
	return "", [32]byte{}, fmt.Errorf("building the bundle of %s: the axis accepted no document of this letter: %w", req.Key, bus.ErrNotFound)
}
