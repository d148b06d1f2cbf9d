package main

// The axis's audit API: checkpoints at a size, inclusion proofs, the
// leaves about a letter, evidence bundles, and the CRL archive behind
// them. See bus/audit for the bundle format.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"truc.vn/truc/bus"
	"truc.vn/truc/bus/audit"
	"truc.vn/truc/signing"
)

// Files of the axis data directory that the audit API uses.
const (
	// crlArchiveDir holds every CRL the axis ever verified with
	// (signing.CRLArchive), so that bundles can carry the CRLs that old
	// verifications relied on.
	crlArchiveDir = "crl-archive"
	// previousLogKeysFile lists, one per line, the verifier keys the log
	// signed with before a key rotation: /v1/log/keys serves them after
	// the current key, and bundles name them.
	previousLogKeysFile = "previous-log-keys"
	// crlArchiveEvery is how often the axis copies new CRLs of its trust
	// store into the archive.
	crlArchiveEvery = time.Second
)

// auditRoutes adds the audit endpoints to the axis's mux:
//
//	GET /v1/log/checkpoint/{size}      the checkpoint signed at that size (a signed note)
//	GET /v1/log/inclusion?index=&size= the inclusion proof of a leaf, one base64 hash per line
//	GET /v1/log/keys                   every log verifier key, current first, one per line
//	GET /admin/v1/log/leaves?key=      the leaves about a letter, with proofs and the log's
//	                                   signed index (admin token: leaves name who wrote to whom)
//	GET /admin/v1/audit/bundle?document=  the evidence bundle of a letter (admin token)
//	POST /v1/audit/evidence            an edge's signed audit.EvidenceRequest: the bundle of a
//	                                   letter it is party to, packages withheld
//
// The log endpoints without a token serve only hashes and signed tree
// heads, which say nothing about any letter.
func (n *axisNode) auditRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/log/checkpoint/{size}", n.auditCheckpointAt)
	mux.HandleFunc("GET /v1/log/inclusion", n.auditInclusion)
	mux.HandleFunc("GET /v1/log/keys", n.auditKeys)
	mux.Handle("GET /admin/v1/log/leaves", n.adminOnly(http.HandlerFunc(n.auditLeaves)))
	mux.Handle("GET /admin/v1/audit/bundle", n.adminOnly(http.HandlerFunc(n.auditBundle)))
	mux.HandleFunc("POST /v1/audit/evidence", n.auditEvidence)
}

// requestMaxAge is how far an evidence request's time may be from the
// axis's clock (either way): a captured request cannot be replayed later.
const requestMaxAge = 10 * time.Minute

// auditEvidence answers an edge's signed evidence request (the body, an
// audit.EvidenceRequest signed with the edge's seal key) with the bundle
// of the letter, packages and notices withheld: the edge fills in those
// it holds. Only an edge that is party to the letter gets it: the edge of
// the sender of an accepted document, status or notice of the letter, or
// an edge it was routed to.
func (n *axisNode) auditEvidence(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, audit.MaxRequestLen+1))
	if err != nil {
		http.Error(w, "reading the request", http.StatusBadRequest)
		return
	}
	claimed, err := audit.ParseUnverifiedRequest(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	info, ok := n.dir.Edge(claimed.Edge)
	if !ok {
		http.Error(w, fmt.Sprintf("edge %s is not in the directory", claimed.Edge), http.StatusForbidden)
		return
	}
	verifiers, err := noticeVerifiers(info)
	if err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	req, err := audit.OpenRequest(body, verifiers)
	if err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	if d := time.Since(req.Time); d > requestMaxAge || d < -requestMaxAge {
		http.Error(w, fmt.Sprintf("the request is dated %s, more than %s from the axis's clock", req.Time.UTC().Format(time.RFC3339), requestMaxAge), http.StatusForbidden)
		return
	}
	entries, err := n.store.Ledger().ByKey(r.Context(), req.Key)
	if err != nil {
		n.auditUnavailable(w, "reading the ledger", err)
		return
	}
	if !partyTo(entries, req.Edge) {
		http.Error(w, fmt.Sprintf("edge %s is no party to letter %s", req.Edge, req.Key), http.StatusForbidden)
		return
	}
	b, warnings, err := n.buildBundle(r.Context(), audit.Request{Key: req.Key, Document: req.Document}, true)
	n.writeBundle(w, b, warnings, err)
}

// partyTo reports whether edge sent an accepted package of the letter or
// was routed one.
func partyTo(entries []bus.Entry, edge string) bool {
	for _, e := range entries {
		if !e.Accepted() {
			continue // a refused submission names a key it only claims
		}
		if e.FromEdge == edge {
			return true
		}
		for _, rt := range e.Routes {
			if rt.Edge == edge {
				return true
			}
		}
	}
	return false
}

// runCRLArchive copies every CRL of the axis's trust store into the CRL
// archive at once and then every crlArchiveEvery, until ctx is done: a
// CRL the axis verified with is kept after a newer one replaces it.
func (n *axisNode) runCRLArchive(ctx context.Context) {
	arch, err := signing.OpenCRLArchive(filepath.Join(n.cfg.DataDir, crlArchiveDir))
	if err != nil {
		n.log.Error("audit: cannot open the CRL archive; bundles will lack replaced CRLs", "err", err)
		return
	}
	t := time.NewTicker(crlArchiveEvery)
	defer t.Stop()
	for {
		if k, err := arch.Sync(n.trust.crls); err != nil {
			n.log.Error("audit: archiving CRLs", "err", err)
		} else if k > 0 {
			n.log.Info("audit: CRLs archived", "count", k)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (n *axisNode) auditCheckpointAt(w http.ResponseWriter, r *http.Request) {
	size, err := strconv.ParseInt(r.PathValue("size"), 10, 64)
	if err != nil || size < 0 {
		http.Error(w, "size: a tree size (an integer ≥ 0)", http.StatusBadRequest)
		return
	}
	cp, err := n.store.Log().CheckpointAt(r.Context(), size)
	if errors.Is(err, bus.ErrNoCheckpoint) {
		http.Error(w, fmt.Sprintf("no checkpoint was signed at size %d", size), http.StatusNotFound)
		return
	}
	if err != nil {
		n.auditUnavailable(w, "reading a checkpoint", err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write(cp.Note)
}

func (n *axisNode) auditInclusion(w http.ResponseWriter, r *http.Request) {
	index, err1 := strconv.ParseInt(r.URL.Query().Get("index"), 10, 64)
	size, err2 := strconv.ParseInt(r.URL.Query().Get("size"), 10, 64)
	if err1 != nil || err2 != nil {
		http.Error(w, "index and size must be integers: a leaf index and a tree size", http.StatusBadRequest)
		return
	}
	proof, err := n.store.Log().InclusionProof(r.Context(), index, size)
	if errors.Is(err, bus.ErrOutOfRange) {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err != nil {
		n.auditUnavailable(w, "computing an inclusion proof", err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	for _, h := range proof {
		fmt.Fprintln(w, base64.StdEncoding.EncodeToString(h[:]))
	}
}

// logKeys returns the log's verifier keys: the current one, then those of
// previousLogKeysFile (after a rotation).
func (n *axisNode) logKeys() ([]string, error) {
	keys := []string{n.logKey}
	b, err := os.ReadFile(filepath.Join(n.cfg.DataDir, previousLogKeysFile))
	if errors.Is(err, os.ErrNotExist) {
		return keys, nil
	}
	if err != nil {
		return nil, err
	}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || line == n.logKey {
			continue
		}
		if _, err := verifiersFromText(line); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", previousLogKeysFile, i+1, err)
		}
		keys = append(keys, line)
	}
	return keys, nil
}

func (n *axisNode) auditKeys(w http.ResponseWriter, r *http.Request) {
	keys, err := n.logKeys()
	if err != nil {
		n.auditUnavailable(w, "reading the previous log keys", err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	for _, k := range keys {
		fmt.Fprintln(w, k)
	}
}

// leavesResponse is the answer of GET /admin/v1/log/leaves.
type leavesResponse struct {
	Key        string         `json:"key"`
	Checkpoint string         `json:"checkpoint"` // the signed checkpoint the proofs lead to
	Index      string         `json:"index"`      // the log's signed index of the letter (audit.Index)
	Leaves     []leafResponse `json:"leaves"`
}

type leafResponse struct {
	Index int64    `json:"index"`
	Event string   `json:"event"` // base64 of the leaf bytes
	Proof []string `json:"proof"` // inclusion proof in the checkpoint, base64 hashes
}

// auditLeaves answers GET /admin/v1/log/leaves?key=ORGANID/DOCUMENTID: every
// leaf about the letter that the latest checkpoint covers, with its
// inclusion proof and the log's signed index of them.
func (n *axisNode) auditLeaves(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Query().Get("key")
	if _, _, err := bus.ParseRootKey(key); err != nil {
		http.Error(w, "key: "+err.Error(), http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	l := n.store.Log()
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		n.auditUnavailable(w, "reading the checkpoint", err)
		return
	}
	idxs, err := n.store.Ledger().Timeline(ctx, key)
	if err != nil {
		n.auditUnavailable(w, "reading the ledger", err)
		return
	}
	signer, err := axisLogSigner(n.seal.key, n.cfg.OrganID)
	if err != nil {
		n.auditUnavailable(w, "the log signer", err)
		return
	}
	resp := leavesResponse{Key: key, Checkpoint: string(cp.Note), Leaves: []leafResponse{}}
	x := audit.Index{Origin: cp.Origin, Key: key, Size: cp.Size}
	for _, i := range idxs {
		if i >= cp.Size {
			continue
		}
		leaf, err := l.Leaf(ctx, i)
		if err != nil {
			n.auditUnavailable(w, "reading a leaf", err)
			return
		}
		proof, err := l.InclusionProof(ctx, i, cp.Size)
		if err != nil {
			n.auditUnavailable(w, "computing an inclusion proof", err)
			return
		}
		lr := leafResponse{Index: i, Event: base64.StdEncoding.EncodeToString(leaf), Proof: make([]string, len(proof))}
		for j, h := range proof {
			lr.Proof[j] = base64.StdEncoding.EncodeToString(h[:])
		}
		resp.Leaves = append(resp.Leaves, lr)
		x.Leaves = append(x.Leaves, audit.IndexedLeaf{Index: i, Hash: bus.LeafHash(leaf)})
	}
	idx, err := audit.SignIndex(x, signer)
	if err != nil {
		n.auditUnavailable(w, "signing the index", err)
		return
	}
	resp.Index = string(idx)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

// auditBundle answers GET /admin/v1/audit/bundle?document=X, where X is a
// letter's root key (OrganId/DocumentId: its first accepted document) or
// the hex SHA-256 of a document package, with the evidence bundle (a zip).
// Warnings (a CRL the archive lacks) are in the X-Truc-Audit-Warning
// headers.
func (n *axisNode) auditBundle(w http.ResponseWriter, r *http.Request) {
	req, err := parseDocumentRef(r.URL.Query().Get("document"))
	if err != nil {
		http.Error(w, "document: "+err.Error(), http.StatusBadRequest)
		return
	}
	b, warnings, err := n.buildBundle(r.Context(), req, false)
	n.writeBundle(w, b, warnings, err)
}

func (n *axisNode) writeBundle(w http.ResponseWriter, b *audit.Bundle, warnings []string, err error) {
	switch {
	case errors.Is(err, bus.ErrNotFound):
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	case errors.Is(err, audit.ErrNotCovered):
		w.Header().Set("Retry-After", "2")
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	case err != nil:
		n.auditUnavailable(w, "building a bundle", err)
		return
	}
	var buf bytes.Buffer
	if err := b.Encode(&buf); err != nil {
		n.auditUnavailable(w, "encoding a bundle", err)
		return
	}
	for _, wn := range warnings {
		w.Header().Add("X-Truc-Audit-Warning", strings.ToValidUTF8(wn, "?"))
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="truc-audit-%x.zip"`, b.Document[:8]))
	_, _ = w.Write(buf.Bytes())
}

// parseDocumentRef reads a --document / ?document= value: 64 hex digits
// (a package SHA-256) or a root key.
func parseDocumentRef(s string) (audit.Request, error) {
	if len(s) == 64 {
		if sum, err := hex.DecodeString(strings.ToLower(s)); err == nil {
			var req audit.Request
			copy(req.Document[:], sum)
			return req, nil
		}
	}
	if _, _, err := bus.ParseRootKey(s); err != nil {
		return audit.Request{}, fmt.Errorf("a package SHA-256 (64 hex digits) or a letter's root key OrganId/DocumentId: %w", err)
	}
	return audit.Request{Key: s}, nil
}

func (n *axisNode) buildBundle(ctx context.Context, req audit.Request, withhold bool) (*audit.Bundle, []string, error) {
	signer, err := axisLogSigner(n.seal.key, n.cfg.OrganID)
	if err != nil {
		return nil, nil, err
	}
	keys, err := n.logKeys()
	if err != nil {
		return nil, nil, err
	}
	arch, err := signing.OpenCRLArchive(filepath.Join(n.cfg.DataDir, crlArchiveDir))
	if err != nil {
		return nil, nil, err
	}
	if _, err := arch.Sync(n.trust.crls); err != nil {
		n.log.Warn("audit: archiving CRLs", "err", err)
	}
	return audit.Build(ctx, audit.BuildConfig{
		Ledger:      n.store.Ledger(),
		Checkpoints: n.store.Log(),
		Trust:       axisAuditTrust{n: n, arch: arch},
		IndexSigner: signer,
		LogKeys:     keys,
		Exporter:    "axis " + signer.Name(),
		Withhold:    withhold,
		Reference:   n.auditReference,
		Cosigned: func(ctx context.Context, cp bus.SignedCheckpoint) ([]byte, error) {
			return n.store.Log().Cosigned(ctx, cp.Size)
		},
	}, req)
}

// axisAuditTrust is the axis's trust material for audit.Build.
type axisAuditTrust struct {
	n    *axisNode
	arch *signing.CRLArchive
}

func (t axisAuditTrust) Certificate(sha [32]byte) ([]byte, bool) {
	for _, c := range t.n.trust.issuers {
		if sha256.Sum256(c.Raw) == sha {
			return c.Raw, true
		}
	}
	return nil, false
}

func (t axisAuditTrust) CRL(issuer [32]byte, number string) ([]byte, error) {
	der, err := t.arch.Get(issuer, number)
	if err == nil {
		return der, nil
	}
	// Not archived (an axis that ran without the archive): the CRL held
	// now may still be that one.
	for _, held := range t.n.trust.crls.DER() {
		crl, perr := x509.ParseRevocationList(held)
		if perr != nil || crl.Number == nil || crl.Number.String() != number {
			continue
		}
		for _, c := range t.n.trust.issuers {
			if sha256.Sum256(c.Raw) == issuer && bytes.Equal(c.RawSubject, crl.RawIssuer) && crl.CheckSignatureFrom(c) == nil {
				return held, nil
			}
		}
	}
	return nil, err
}

func (t axisAuditTrust) EdgeCertificates(edge string) [][]byte {
	e, ok := t.n.dir.Edge(edge)
	if !ok {
		return nil
	}
	out := make([][]byte, len(e.Certificates))
	for i, c := range e.Certificates {
		out[i] = c.Raw
	}
	return out
}

func (n *axisNode) auditUnavailable(w http.ResponseWriter, what string, err error) {
	n.log.Error("audit: "+what, "err", err)
	http.Error(w, "the audit data cannot be read now", http.StatusServiceUnavailable)
}

// auditReference chooses the reference checkpoint of a bundle: the latest
// one cosigned by the most witnesses (the edges) that still covers the
// letter's leaves, so that an auditor can require cosignatures; the log's
// latest checkpoint when none does (a letter newer than the witnesses'
// last round).
func (n *axisNode) auditReference(ctx context.Context, need int64) (bus.SignedCheckpoint, error) {
	log := n.store.Log()
	for k := len(n.dir.Edges()); k >= 1; k-- {
		cp, err := log.LatestCosigned(ctx, k)
		if err == nil && cp.Size >= need {
			return cp, nil
		}
	}
	return log.Checkpoint(ctx)
}
