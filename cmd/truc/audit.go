package main

import (
	"bytes"
	"context"
	"crypto"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"truc.vn/truc/adapters/boltstore"
	"truc.vn/truc/bus"
	"truc.vn/truc/bus/audit"
	"truc.vn/truc/signing/notesig"
)

const auditSynopsis = `audit export --axis URL --token-file FILE --document ID [-o FILE]
       truc audit export --edge-config FILE --document ID [-o FILE]
       truc audit verify FILE --axis-key KEY... [--witness-key KEY... --min-witnesses N] [--trust-root FILE]...
       truc audit key --name NAME --cert FILE`

const auditExplain = `
Evidence bundles: prove, offline and years later, who sent what to whom and
when, that each recipient got it and what they did with it, and that the
axis never dropped, reordered or back-dated a record.

"audit export" asks the axis (its admin API, with an admin token) for the
bundle of a letter: one zip file with the document package, every status
package and rejection notice about it, every transparency-log leaf about it
with its inclusion proof, the checkpoints its receipts were issued against
with consistency proofs to the latest, the log's signed index of the
letter's leaves, the CA certificates and CRLs the axis's verifications
relied on, and a summary in Vietnamese and English. --document is the
letter's root key (OrganId/DocumentId: its first document) or the hex
SHA-256 of a document package.

"audit export --edge-config" exports on an edge, from its store: the
edge asks the axis for the letter's evidence with a request signed by its
seal (POST /v1/audit/evidence; the axis answers only an edge that sent or
received the letter, with the packages left out), then puts in the
packages and notices it holds (its agencies' documents and statuses). The
edge must be stopped (it holds its store); --document is then a message
ID of the outbox, an inbox item ID (in-...) or a package SHA-256.
Packages the edge does not hold are declared withheld: their log records
and recorded evidence verify, their signatures are not re-checked.

"audit verify" checks a bundle with nothing but the keys you give: every
signature as of the time the axis verified it (with the bundled chain and
exactly the CRLs the axis used, so an expired certificate or a stale CRL
today does not matter), every status, delivery and notice bound to the
package digest, every inclusion and consistency proof, every checkpoint
signature (--axis-key: give every key the log ever used, old and new after
a rotation; the keys inside the bundle are never trusted), the log's
signed index (a dropped leaf fails), leaf order and times, witness
cosignatures when --min-witnesses asks for them, and that summary.txt
says exactly what the verified items say. It prints one verdict per item
and exits 1 if any fails. Without --trust-root, signatures are anchored in
the bundled root whose SHA-256 the log recorded; give your own copy of
the national root to anchor them there.

"audit key" prints the signed-note verifier key of a certificate under a
name: the axis log key (--name truc.vn/axis/<OrganId> --cert seal.pem)
after a rotation, or an edge's witness key (--name truc.vn/edge/<edge ID>).

A KEY is the verifier key text (as GET /v1/log/keys serves it) or @FILE,
a file with one key per line.

Exit status: 0 success (verify: every item verifies); 1 the bundle does
not verify or the export failed; 2 wrong usage.

Examples:
  truc audit export --axis https://axis.truc.gov.vn:8443 --token-file admin.token \
      --document '000.00.00.G22/000.00.00.G22,2026/03/02,123/VPCP-KSTT' -o letter-123.zip
  truc audit export --edge-config /etc/truc/edge.yaml --document 01JCZ3T9S8QK5D7X -o letter-123.zip
  curl -s https://axis.truc.gov.vn:8443/v1/log/keys > axis-keys.txt
  truc audit verify letter-123.zip --axis-key @axis-keys.txt --trust-root rootca.pem
  truc audit verify letter-123.zip --axis-key @axis-keys.txt \
      --witness-key @edge-keys.txt --min-witnesses 2 --summary
`

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError("audit: a subcommand is required: export, verify or key (see truc audit -h)")
	}
	switch args[0] {
	case "export":
		return runAuditExport(ctx, args[1:], stdout, stderr)
	case "verify":
		return runAuditVerify(ctx, args[1:], stdout, stderr)
	case "key":
		return runAuditKey(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help":
		fs := newFlagSet("audit", auditSynopsis, auditExplain, stderr)
		return parseFlags(fs, args, stdout)
	}
	return usageError(fmt.Sprintf("audit: unknown subcommand %q: export, verify or key (see truc audit -h)", args[0]))
}

func runAuditExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit export", auditSynopsis, auditExplain, stderr)
	axisURL := fs.String("axis", "", "base `URL` of the axis's HTTP API")
	tokenFile := fs.String("token-file", "", "`file` holding an admin bearer token of the axis")
	edgeConfig := fs.String("edge-config", "", "export on this edge: its config `file` (the edge must be stopped)")
	document := fs.String("document", "", "the letter: root key OrganId/DocumentId, or the hex SHA-256 of a document package")
	out := fs.String("o", "", "bundle `file` to write (default truc-audit-<sha256 prefix>.zip)")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long to wait for the axis")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usageError(fmt.Sprintf("audit export: unexpected argument %q (see truc audit -h)", fs.Arg(0)))
	case *edgeConfig != "" && (*axisURL != "" || *tokenFile != ""):
		return usageError("audit export: --edge-config exports on an edge; --axis and --token-file on the axis: not both")
	case *edgeConfig != "" && *document == "":
		return usageError("audit export: --document is required")
	case *edgeConfig != "":
		return runEdgeExport(ctx, *edgeConfig, *document, *out, *timeout, stdout, stderr)
	case *axisURL == "":
		return usageError("audit export: --axis is required: the URL of the axis's HTTP API")
	case *tokenFile == "":
		return usageError("audit export: --token-file is required: an admin token of the axis")
	case *document == "":
		return usageError("audit export: --document is required")
	}
	if _, err := parseDocumentRef(*document); err != nil {
		return usageError("audit export: --document: " + err.Error())
	}
	token, err := readToken(*tokenFile, "")
	if err != nil {
		return fmt.Errorf("audit export: --token-file: %w", err)
	}
	u, err := url.Parse(strings.TrimSuffix(*axisURL, "/") + "/admin/v1/audit/bundle")
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return usageError(fmt.Sprintf("audit export: --axis: an http or https URL, got %q", *axisURL))
	}
	u.RawQuery = url.Values{"document": {*document}}.Encode()
	data, warnings, err := fetchBundle(ctx, u.String(), token, *timeout)
	if err != nil {
		return fmt.Errorf("audit export: %w", err)
	}
	b, err := audit.Decode(bytes.NewReader(data), int64(len(data)), audit.Limits{})
	if err != nil {
		return fmt.Errorf("audit export: the axis sent a bundle that does not decode: %w", err)
	}
	return writeExport(b, data, *out, warnings, *axisURL, stdout, stderr)
}

func writeExport(b *audit.Bundle, data []byte, path string, warnings []string, axisURL string, stdout, stderr io.Writer) error {
	if path == "" {
		path = fmt.Sprintf("truc-audit-%s.zip", hex.EncodeToString(b.Document[:8]))
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("audit export: %w", err)
	}
	purged, withheld := 0, 0
	for _, p := range b.Packages {
		if p.Purged {
			purged++
		}
		if p.Withheld {
			withheld++
		}
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes): letter %s, document %x, %d log leaves, %d packages (%d purged, %d not held), %d rejection notices\n",
		path, len(data), b.Key, b.Document, len(b.Leaves), len(b.Packages), purged, withheld, len(b.Notices))
	for _, w := range warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	fmt.Fprintf(stdout, "verify it with: truc audit verify %s --axis-key @axis-keys.txt (keys: GET %s/v1/log/keys)\n", path, strings.TrimSuffix(axisURL, "/"))
	return nil
}

// runEdgeExport is audit export --edge-config: the edge's store (the edge
// stopped) and its seal, and the axis's evidence endpoint.
func runEdgeExport(ctx context.Context, configFile, document, out string, timeout time.Duration, stdout, stderr io.Writer) error {
	cfg, err := loadEdgeConfig(configFile)
	if err != nil {
		return err
	}
	if cfg.Axis.URL == "" {
		return fmt.Errorf("audit export: %s has no axis.url: a standalone edge has no axis to ask for the evidence", configFile)
	}
	s, err := loadSeal(cfg.Seal, stderr)
	if err != nil {
		return err
	}
	defer s.close()
	store, err := boltstore.Open(filepath.Join(cfg.DataDir, "edge.db"), boltstore.Config{LockTimeout: 2 * time.Second})
	if errors.Is(err, boltstore.ErrInUse) {
		return fmt.Errorf("audit export: edge %s is running and holds its store: stop it for the export, or export on the axis (--axis): %w", cfg.ID, err)
	}
	if err != nil {
		return fmt.Errorf("audit export: %w", err)
	}
	defer store.Close()
	b, warnings, err := exportFromEdge(ctx, cfg.ID, store.Edge(), s.key, cfg.Axis.URL, document, timeout)
	if err != nil {
		return fmt.Errorf("audit export: %w", err)
	}
	var buf bytes.Buffer
	if err := b.Encode(&buf); err != nil {
		return fmt.Errorf("audit export: %w", err)
	}
	return writeExport(b, buf.Bytes(), out, warnings, cfg.Axis.URL, stdout, stderr)
}

// exportFromEdge builds the bundle of the document ref (an outbox message
// ID, an inbox item ID or a package SHA-256) on edge: the axis's evidence,
// asked for with a request signed by the edge's seal key, completed with
// the packages and notices the edge's store holds.
func exportFromEdge(ctx context.Context, edge string, store bus.EdgeStore, sealKey crypto.Signer, axisURL, ref string, timeout time.Duration) (*audit.Bundle, []string, error) {
	sha, key, err := edgeDocument(ctx, store, ref)
	if err != nil {
		return nil, nil, err
	}
	signer, err := notesig.NewSigner(bus.EdgeNoteName(edge), sealKey)
	if err != nil {
		return nil, nil, fmt.Errorf("the edge's seal: %w", err)
	}
	msg, err := audit.EvidenceRequest{Edge: edge, Key: key, Document: sha, Time: time.Now()}.Sign(signer)
	if err != nil {
		return nil, nil, err
	}
	u := strings.TrimSuffix(axisURL, "/") + "/v1/audit/evidence"
	data, warnings, err := fetchBundleWith(ctx, http.MethodPost, u, "", msg, timeout)
	if err != nil {
		return nil, nil, err
	}
	b, err := audit.Decode(bytes.NewReader(data), int64(len(data)), audit.Limits{})
	if err != nil {
		return nil, nil, fmt.Errorf("the axis sent evidence that does not decode: %w", err)
	}
	held := func(sha [32]byte) ([]byte, bool) {
		if e, err := store.SentBySHA(ctx, sha); err == nil && len(e.Message.Package) > 0 {
			return e.Message.Package, true
		}
		if _, pkg, err := store.Item(ctx, bus.InboxID(sha)); err == nil {
			return pkg, true
		}
		return nil, false
	}
	for _, p := range slices.Clone(b.Packages) {
		if p.Withheld {
			if pkg, ok := held(p.SHA256); ok && !b.Include(pkg) {
				warnings = append(warnings, fmt.Sprintf("the edge's copy of package %x… is not the one the log records", p.SHA256[:8]))
			}
		}
	}
	for _, n := range slices.Clone(b.Notices) {
		if n.Withheld {
			if msg, ok := held(n.SHA256); ok {
				b.IncludeNotice(msg)
			}
		}
	}
	b.Exporter = fmt.Sprintf("edge %s, with the evidence of %s", edge, b.Exporter)
	if err := b.Summarize(); err != nil {
		return nil, nil, err
	}
	return b, warnings, nil
}

// edgeDocument finds the document package ref names in an edge's store.
func edgeDocument(ctx context.Context, store bus.EdgeStore, ref string) ([32]byte, string, error) {
	var none [32]byte
	if strings.HasPrefix(ref, "in-") {
		item, _, err := store.Item(ctx, ref)
		if err != nil {
			return none, "", fmt.Errorf("inbox item %s: %w", ref, err)
		}
		if item.Type != bus.TypeDocument {
			return none, "", fmt.Errorf("inbox item %s is a %s, not a document", ref, item.Type)
		}
		return item.SHA256, item.Key, nil
	}
	if len(ref) == 64 {
		var sha [32]byte
		if _, err := hex.Decode(sha[:], []byte(strings.ToLower(ref))); err == nil {
			if e, err := store.SentBySHA(ctx, sha); err == nil {
				return documentOf(e.Message)
			}
			return edgeDocument(ctx, store, bus.InboxID(sha))
		}
	}
	e, err := store.Sent(ctx, ref)
	if err != nil {
		return none, "", fmt.Errorf("outbox message %s: %w", ref, err)
	}
	return documentOf(e.Message)
}

func documentOf(m bus.Message) ([32]byte, string, error) {
	if m.Type != bus.TypeDocument {
		return [32]byte{}, "", fmt.Errorf("message %s is a %s, not a document", m.ID, m.Type)
	}
	return m.SHA256, m.Key, nil
}

func fetchBundle(ctx context.Context, u, token string, timeout time.Duration) ([]byte, []string, error) {
	return fetchBundleWith(ctx, http.MethodGet, u, token, nil, timeout)
}

func fetchBundleWith(ctx context.Context, method, u, token string, body []byte, timeout time.Duration) ([]byte, []string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
		if err != nil {
			return nil, nil, err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, nil, err
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 2<<30))
		resp.Body.Close()
		if err != nil {
			return nil, nil, err
		}
		switch {
		case resp.StatusCode == http.StatusOK:
			return body, resp.Header.Values("X-Truc-Audit-Warning"), nil
		case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "" && attempt < 5:
			// The letter's newest record is not under a checkpoint yet.
			select {
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			case <-time.After(2 * time.Second):
			}
			continue
		}
		return nil, nil, fmt.Errorf("the axis answered %s: %s", resp.Status, strings.TrimSpace(string(body[:min(len(body), 512)])))
	}
}

// verifyJSON is the --json output of audit verify (stable fields).
type verifyJSON struct {
	File     string          `json:"file"`
	OK       bool            `json:"ok"`
	Key      string          `json:"key,omitempty"`
	Document string          `json:"document,omitempty"`
	Verdicts []audit.Verdict `json:"verdicts"`
}

func runAuditVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit verify", auditSynopsis, auditExplain, stderr)
	var axisKeys, witnessKeys, roots listFlag
	fs.Var(&axisKeys, "axis-key", "a verifier `KEY` of the axis log, or @FILE; repeatable, at least one")
	fs.Var(&witnessKeys, "witness-key", "a witness verifier `KEY`, or @FILE; repeatable")
	minWitnesses := fs.Int("min-witnesses", 0, "witness cosignatures the reference checkpoint must carry")
	fs.Var(&roots, "trust-root", "your own trust anchor certificates `file` (PEM or DER); repeatable")
	crlGrace := fs.Duration("crl-grace", 0, "how long past its next update a CRL still counted at the axis (its trust.crl_grace)")
	allowSHA1 := fs.Bool("allow-sha1", false, "accept rsa-sha1 signatures (an axis with trust.allow_sha1)")
	skew := fs.Duration("clock-skew", audit.DefaultClockSkew, "how far a leaf's time may lie before the previous leaf's (0: not at all)")
	nowFlag := fs.String("now", "", "the verifier's clock, RFC 3339 (default now): no event may be dated after it")
	showSummary := fs.Bool("summary", false, "print the bundle's summary after the verdicts")
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	files, err := parseInterleaved(fs, args, stdout)
	if err != nil {
		return err
	}
	switch {
	case len(files) != 1:
		return usageError("audit verify: give exactly one bundle file (see truc audit -h)")
	case len(axisKeys) == 0:
		return usageError("audit verify: --axis-key is required: the log's verifier keys you trust (see truc audit -h)")
	case *minWitnesses < 0:
		return usageError("audit verify: --min-witnesses must not be negative")
	case *crlGrace < 0:
		return usageError("audit verify: --crl-grace must not be negative")
	}
	opts := audit.Options{MinWitnesses: *minWitnesses, CRLGrace: *crlGrace, AllowSHA1: *allowSHA1, ClockSkew: *skew}
	if *skew == 0 {
		opts.ClockSkew = -1
	}
	if opts.AxisKeys, err = readNoteKeys(axisKeys); err != nil {
		return usageError("audit verify: --axis-key: " + err.Error())
	}
	if opts.WitnessKeys, err = readNoteKeys(witnessKeys); err != nil {
		return usageError("audit verify: --witness-key: " + err.Error())
	}
	if *minWitnesses > len(opts.WitnessKeys) {
		return usageError(fmt.Sprintf("audit verify: --min-witnesses %d but %d witness keys given", *minWitnesses, len(opts.WitnessKeys)))
	}
	for _, f := range roots {
		cs, err := readCertificates(f)
		if err != nil {
			return usageError("audit verify: --trust-root: " + err.Error())
		}
		opts.TrustRoots = append(opts.TrustRoots, cs...)
	}
	if *nowFlag != "" {
		now, err := time.Parse(time.RFC3339, *nowFlag)
		if err != nil {
			return usageError(fmt.Sprintf("audit verify: --now: an RFC 3339 time, got %q", *nowFlag))
		}
		opts.Now = func() time.Time { return now }
	}
	f, err := os.Open(files[0])
	if err != nil {
		return fmt.Errorf("audit verify: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("audit verify: %w", err)
	}
	rep, err := audit.Verify(f, st.Size(), opts)
	if err != nil {
		return usageError("audit verify: " + err.Error())
	}
	if *asJSON {
		out := verifyJSON{File: files[0], OK: rep.OK, Verdicts: rep.Verdicts}
		if rep.Bundle != nil {
			out.Key, out.Document = rep.Bundle.Key, hex.EncodeToString(rep.Bundle.Document[:])
		}
		if err := json.NewEncoder(stdout).Encode(out); err != nil {
			return err
		}
	} else {
		printAuditReport(stdout, files[0], rep)
		if *showSummary && rep.Bundle != nil {
			fmt.Fprintf(stdout, "\n%s", rep.Bundle.Summary)
		}
	}
	if !rep.OK {
		return failed(exitFailure)
	}
	return nil
}

func printAuditReport(w io.Writer, file string, rep *audit.Report) {
	for _, v := range rep.Verdicts {
		mark := "ok  "
		if !v.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "%s %s: %s\n", mark, v.Item, v.Detail)
	}
	if rep.OK {
		fmt.Fprintf(w, "verdict: %s verifies: %d items checked, all valid\n", file, len(rep.Verdicts))
		return
	}
	fmt.Fprintf(w, "verdict: %s DOES NOT VERIFY: %d of %d items failed\n", file, len(rep.Failures()), len(rep.Verdicts))
}

// readNoteKeys reads verifier keys given as text or as @FILE (one key per
// line, blank lines and # comments ignored).
func readNoteKeys(values []string) ([]note.Verifier, error) {
	var out []note.Verifier
	for _, v := range values {
		texts := []string{v}
		if path, ok := strings.CutPrefix(v, "@"); ok {
			b, err := readSmallFile(path)
			if err != nil {
				return nil, err
			}
			texts = nil
			for _, line := range strings.Split(string(b), "\n") {
				if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
					texts = append(texts, line)
				}
			}
			if len(texts) == 0 {
				return nil, fmt.Errorf("%s: no key in the file", path)
			}
		}
		for _, t := range texts {
			k, err := notesig.ParseVerifierKey(t)
			if err != nil {
				return nil, err
			}
			out = append(out, k)
		}
	}
	if _, err := notesig.VerifierList(out...); err != nil && len(out) > 0 {
		return nil, err
	}
	return out, nil
}

func runAuditKey(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit key", auditSynopsis, auditExplain, stderr)
	name := fs.String("name", "", "the key `name`: truc.vn/axis/<OrganId> for the axis log, truc.vn/edge/<edge ID> for an edge")
	certFile := fs.String("cert", "", "certificate `file` (PEM or DER; the first certificate is used)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usageError(fmt.Sprintf("audit key: unexpected argument %q", fs.Arg(0)))
	case *name == "" || *certFile == "":
		return usageError("audit key: --name and --cert are required")
	}
	certs, err := readCertificates(*certFile)
	if err != nil {
		return fmt.Errorf("audit key: %w", err)
	}
	if len(certs) == 0 {
		return errors.New("audit key: no certificate in the file")
	}
	v, err := notesig.NewCertVerifier(*name, certs[0])
	if err != nil {
		return fmt.Errorf("audit key: %w", err)
	}
	fmt.Fprintln(stdout, v.String())
	return nil
}
