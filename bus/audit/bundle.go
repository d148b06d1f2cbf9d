package audit

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Format names of the bundle container. Stable wire values.
const (
	FormatName    = "truc-audit-bundle"
	FormatVersion = 1

	manifestName = "manifest.json"
	evidenceName = "evidence.json"
	summaryName  = "summary.txt"
	packagesDir  = "packages/"
	packageExt   = ".xml"
)

// Limits bound what Decode (and Verify) read. The zero value of a field
// takes the default written next to it.
type Limits struct {
	MaxBundleBytes  int64 // the bundle file: 2 GiB
	MaxFileBytes    int64 // one file inside, uncompressed: 64 MiB
	MaxTotalBytes   int64 // every file inside, uncompressed: 1 GiB
	MaxFiles        int   // files inside: 10,000
	MaxEvidenceLen  int64 // evidence.json: 256 MiB
	MaxLeaves       int   // log leaves: 100,000
	MaxCertificates int   // certificates and CRLs each: 1,000
}

func (l Limits) withDefaults() Limits {
	def := func(p *int64, v int64) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&l.MaxBundleBytes, 2<<30)
	def(&l.MaxFileBytes, 64<<20)
	def(&l.MaxTotalBytes, 1<<30)
	def(&l.MaxEvidenceLen, 256<<20)
	if l.MaxFiles <= 0 {
		l.MaxFiles = 10000
	}
	if l.MaxLeaves <= 0 {
		l.MaxLeaves = 100000
	}
	if l.MaxCertificates <= 0 {
		l.MaxCertificates = 1000
	}
	return l
}

// Bundle is the content of an evidence bundle. See the package
// documentation for the file layout and what each part proves.
type Bundle struct {
	// CreatedAt is when the bundle was exported (informational).
	CreatedAt time.Time
	// Exporter says who exported it: "axis <log origin>" or
	// "edge <edge ID>" (informational).
	Exporter string
	// Key is the root-document key (OrganId/DocumentId) of the letter.
	Key string
	// Document is the SHA-256 of the document package the bundle is
	// about: an accepted submission among Leaves.
	Document [32]byte
	// Log holds the checkpoints, proofs and signed index.
	Log LogEvidence
	// Leaves are the log leaves about the letter, by increasing index.
	Leaves []Leaf
	// Packages are the document and status packages the leaves are about,
	// by SHA-256: present, or declared purged.
	Packages []Package
	// Notices are the signed rejection notices the leaves record.
	Notices []Notice
	// Certificates are DER certificates: the CA certificates of the
	// recorded chains (from the axis's trust store) and any other the
	// exporter had. Untrusted until a chain leads to an anchor.
	Certificates [][]byte
	// CRLs are the DER CRLs the recorded verifications relied on.
	CRLs [][]byte
	// Edges are the seal certificates of edges that signed rejection
	// notices.
	Edges []EdgeCertificates
	// Summary is the human-readable summary (summary.txt), in Vietnamese
	// then English. Verify recomputes it from the verified items and
	// requires it to be identical.
	Summary string
}

// LogEvidence is the transparency-log part of a bundle.
type LogEvidence struct {
	// Origin is the log's origin (the checkpoints' first line).
	Origin string
	// Keys are the log's verifier keys as the exporter knew them (text
	// form). Informational only: Verify trusts the keys the auditor
	// gives, never these.
	Keys []string
	// Checkpoint is the reference checkpoint: a signed note, with any
	// witness cosignatures. Every leaf's Proof leads to its root.
	Checkpoint []byte
	// Earlier are earlier checkpoints (each the first that covered some
	// leaf: what that leaf's receipt was issued against), by increasing
	// size, each with the consistency proof to Checkpoint.
	Earlier []EarlierCheckpoint
	// Index is the log's signed statement of which leaves, below the
	// reference checkpoint's size, are about the letter (see Index).
	Index []byte
}

// EarlierCheckpoint is a checkpoint before the reference one, with the
// RFC 6962 consistency proof from it to the reference checkpoint.
type EarlierCheckpoint struct {
	Checkpoint  []byte
	Consistency [][32]byte
}

// Leaf is one log leaf with its proofs.
type Leaf struct {
	Index int64
	// Event is the exact leaf bytes (an encoded bus.Event).
	Event []byte
	// Proof is the inclusion proof in the reference checkpoint.
	Proof [][32]byte
	// First is the size of the earliest bundled checkpoint that covers
	// the leaf (its receipt's), 0 when only the reference one does.
	First int64
	// FirstProof is the inclusion proof in that checkpoint.
	FirstProof [][32]byte
}

// Package is a document or status package named by a leaf.
type Package struct {
	SHA256 [32]byte
	// Bytes are the exact package bytes; nil when Purged.
	Bytes []byte
	// Purged says the exporter no longer had the bytes (Ledger.Purge
	// after the retention period). Only the log record, the digest and
	// the recorded evidence can then be checked.
	Purged bool
	// Withheld says the exporter does not hold the bytes (an edge holds
	// only the packages of its own agencies). Checked as Purged.
	Withheld bool
}

// Notice is a signed rejection notice by a recipient edge.
type Notice struct {
	Edge string
	// About is the SHA-256 of the package the notice refuses.
	About [32]byte
	// SHA256 is the SHA-256 of the notice itself (the axis delivers it to
	// the sender's edge under that hash).
	SHA256 [32]byte
	// Note is the signed note; nil when Purged or Withheld.
	Note     []byte
	Purged   bool
	Withheld bool
}

// EdgeCertificates are the seal certificates (DER) of one edge.
type EdgeCertificates struct {
	ID           string
	Certificates [][]byte
}

// ---------------------------------------------------------------------------
// JSON shapes

type manifestJSON struct {
	Format  string     `json:"format"`
	Version int        `json:"version"`
	Files   []fileJSON `json:"files"`
}

type fileJSON struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

type evidenceJSON struct {
	Version      int           `json:"version"`
	CreatedAt    string        `json:"created_at"`
	Exporter     string        `json:"exporter"`
	Key          string        `json:"key"`
	Document     string        `json:"document"`
	Log          logJSON       `json:"log"`
	Leaves       []leafJSON    `json:"leaves"`
	Packages     []packageJSON `json:"packages"`
	Notices      []noticeJSON  `json:"notices"`
	Certificates []string      `json:"certificates"`
	CRLs         []string      `json:"crls"`
	Edges        []edgeJSON    `json:"edges"`
}

type logJSON struct {
	Origin     string        `json:"origin"`
	Keys       []string      `json:"keys"`
	Checkpoint string        `json:"checkpoint"`
	Earlier    []earlierJSON `json:"earlier"`
	Index      string        `json:"index"`
}

type earlierJSON struct {
	Checkpoint  string   `json:"checkpoint"`
	Consistency []string `json:"consistency"`
}

type leafJSON struct {
	Index      *int64    `json:"index"`
	Event      string    `json:"event"`
	Proof      []string  `json:"proof"`
	First      int64     `json:"first,omitempty"`
	FirstProof *[]string `json:"first_proof,omitempty"` // present (maybe empty) exactly when first is
}

type packageJSON struct {
	SHA256   string `json:"sha256"`
	File     string `json:"file,omitempty"`
	Purged   bool   `json:"purged,omitempty"`
	Withheld bool   `json:"withheld,omitempty"`
}

type noticeJSON struct {
	Edge     string `json:"edge"`
	About    string `json:"about"`
	SHA256   string `json:"sha256"`
	Note     string `json:"note,omitempty"`
	Purged   bool   `json:"purged,omitempty"`
	Withheld bool   `json:"withheld,omitempty"`
}

type edgeJSON struct {
	ID           string   `json:"id"`
	Certificates []string `json:"certificates"`
}

const timeLayout = "2006-01-02T15:04:05.000000000Z"

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func hashes64(hs [][32]byte) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = b64(h[:])
	}
	return out
}

func packageFile(sha [32]byte) string { return packagesDir + hex.EncodeToString(sha[:]) + packageExt }

// Encode writes b as a bundle file (a zip archive) to w. It checks the
// shape only (every leaf, package and notice well formed enough to
// write), not the content: Verify does.
func (b *Bundle) Encode(w io.Writer) error {
	if !utf8.ValidString(b.Summary) {
		return errors.New("encoding a bundle: the summary is not valid UTF-8")
	}
	ev := evidenceJSON{
		Version:      FormatVersion,
		CreatedAt:    b.CreatedAt.UTC().Format(timeLayout),
		Exporter:     b.Exporter,
		Key:          b.Key,
		Document:     hex.EncodeToString(b.Document[:]),
		Log:          logJSON{Origin: b.Log.Origin, Keys: nonNil(b.Log.Keys), Checkpoint: string(b.Log.Checkpoint), Index: string(b.Log.Index), Earlier: []earlierJSON{}},
		Leaves:       []leafJSON{},
		Packages:     []packageJSON{},
		Notices:      []noticeJSON{},
		Certificates: []string{},
		CRLs:         []string{},
		Edges:        []edgeJSON{},
	}
	for _, e := range b.Log.Earlier {
		ev.Log.Earlier = append(ev.Log.Earlier, earlierJSON{Checkpoint: string(e.Checkpoint), Consistency: hashes64(e.Consistency)})
	}
	for _, l := range b.Leaves {
		idx := l.Index
		lj := leafJSON{Index: &idx, Event: b64(l.Event), Proof: hashes64(l.Proof), First: l.First}
		if l.First > 0 {
			fp := hashes64(l.FirstProof)
			lj.FirstProof = &fp
		}
		ev.Leaves = append(ev.Leaves, lj)
	}
	files := map[string][]byte{}
	var order []string
	for _, p := range b.Packages {
		pj := packageJSON{SHA256: hex.EncodeToString(p.SHA256[:]), Purged: p.Purged, Withheld: p.Withheld}
		absent := p.Purged || p.Withheld
		switch {
		case p.Purged && p.Withheld:
			return fmt.Errorf("encoding a bundle: package %s is declared both purged and withheld", pj.SHA256)
		case absent && p.Bytes != nil:
			return fmt.Errorf("encoding a bundle: package %s is declared absent but has bytes", pj.SHA256)
		case !absent && len(p.Bytes) == 0:
			return fmt.Errorf("encoding a bundle: package %s has no bytes and is not declared purged or withheld", pj.SHA256)
		case !absent:
			pj.File = packageFile(p.SHA256)
			if _, dup := files[pj.File]; dup {
				return fmt.Errorf("encoding a bundle: package %s is listed twice", pj.SHA256)
			}
			files[pj.File] = p.Bytes
			order = append(order, pj.File)
		}
		ev.Packages = append(ev.Packages, pj)
	}
	for _, n := range b.Notices {
		if !utf8.Valid(n.Note) {
			return fmt.Errorf("encoding a bundle: the rejection notice of edge %s is not valid UTF-8", n.Edge)
		}
		if (n.Purged || n.Withheld) != (len(n.Note) == 0) || (n.Purged && n.Withheld) {
			return fmt.Errorf("encoding a bundle: the rejection notice of edge %s has its note, or is declared purged or withheld: exactly one", n.Edge)
		}
		ev.Notices = append(ev.Notices, noticeJSON{Edge: n.Edge, About: hex.EncodeToString(n.About[:]), SHA256: hex.EncodeToString(n.SHA256[:]), Note: string(n.Note), Purged: n.Purged, Withheld: n.Withheld})
	}
	for _, c := range b.Certificates {
		ev.Certificates = append(ev.Certificates, b64(c))
	}
	for _, c := range b.CRLs {
		ev.CRLs = append(ev.CRLs, b64(c))
	}
	for _, e := range b.Edges {
		ej := edgeJSON{ID: e.ID, Certificates: []string{}}
		for _, c := range e.Certificates {
			ej.Certificates = append(ej.Certificates, b64(c))
		}
		ev.Edges = append(ev.Edges, ej)
	}
	evJSON, err := json.MarshalIndent(ev, "", " ")
	if err != nil {
		return fmt.Errorf("encoding a bundle: %w", err)
	}
	files[evidenceName] = append(evJSON, '\n')
	files[summaryName] = []byte(b.Summary)
	order = append([]string{evidenceName, summaryName}, order...)

	man := manifestJSON{Format: FormatName, Version: FormatVersion}
	for _, name := range order {
		sum := sha256.Sum256(files[name])
		man.Files = append(man.Files, fileJSON{Name: name, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(files[name]))})
	}
	manJSON, err := json.MarshalIndent(man, "", " ")
	if err != nil {
		return fmt.Errorf("encoding a bundle: %w", err)
	}
	zw := zip.NewWriter(w)
	write := func(name string, data []byte, method uint16) error {
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method, Modified: b.CreatedAt.UTC()})
		if err != nil {
			return err
		}
		_, err = fw.Write(data)
		return err
	}
	if err := write(manifestName, append(manJSON, '\n'), zip.Deflate); err != nil {
		return fmt.Errorf("encoding a bundle: %w", err)
	}
	for _, name := range order {
		if err := write(name, files[name], zip.Deflate); err != nil {
			return fmt.Errorf("encoding a bundle: %s: %w", name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("encoding a bundle: %w", err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// FormatError is the error of Decode for a bundle file that is not a
// well-formed bundle. Name is the file inside the bundle ("" for the
// container itself), Field the member refused.
type FormatError struct {
	Name  string
	Field string
	Rule  string
}

func (e *FormatError) Error() string {
	s := "bundle"
	if e.Name != "" {
		s += " " + e.Name
	}
	if e.Field != "" {
		s += " " + e.Field
	}
	return s + ": " + e.Rule
}

func formatErr(name, field, format string, args ...any) *FormatError {
	return &FormatError{Name: name, Field: field, Rule: fmt.Sprintf(format, args...)}
}

// Decode reads a bundle file. It refuses, with a *FormatError naming the
// file and member, anything that is not a well-formed bundle of this
// version: a broken zip, a file the manifest does not list (or the
// reverse), a file whose SHA-256 or size differs from the manifest,
// unknown JSON members, trailing data, values of the wrong form, and input
// over lim. It checks no signature or proof: Verify does.
func Decode(r io.ReaderAt, size int64, lim Limits) (*Bundle, error) {
	b, findings, err := decode(r, size, lim)
	if err != nil {
		return nil, err
	}
	if len(findings) > 0 {
		return nil, findings[0]
	}
	return b, nil
}

// decode reads a bundle. Manifest mismatches (a file's hash or size) are
// returned as findings rather than errors, so that Verify can report them
// and still check what the bundle claims; every other defect is an error.
func decode(r io.ReaderAt, size int64, lim Limits) (*Bundle, []*FormatError, error) {
	lim = lim.withDefaults()
	if size > lim.MaxBundleBytes {
		return nil, nil, formatErr("", "", "at most %d bytes, got %d", lim.MaxBundleBytes, size)
	}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, nil, formatErr("", "", "not a zip archive: %v", err)
	}
	if len(zr.File) > lim.MaxFiles+1 {
		return nil, nil, formatErr("", "", "at most %d files, got %d", lim.MaxFiles+1, len(zr.File))
	}
	byName := map[string]*zip.File{}
	var total int64
	for _, f := range zr.File {
		if _, dup := byName[f.Name]; dup {
			return nil, nil, formatErr(f.Name, "", "the archive holds two files with this name")
		}
		if !validName(f.Name) {
			return nil, nil, formatErr(clipName(f.Name), "", "not a file of a bundle (manifest.json, evidence.json, summary.txt, packages/<sha256>.xml)")
		}
		if f.UncompressedSize64 > uint64(lim.MaxFileBytes) {
			return nil, nil, formatErr(f.Name, "", "at most %d bytes uncompressed, got %d", lim.MaxFileBytes, f.UncompressedSize64)
		}
		total += int64(f.UncompressedSize64)
		if total > lim.MaxTotalBytes {
			return nil, nil, formatErr("", "", "at most %d bytes uncompressed in all, the files declare more", lim.MaxTotalBytes)
		}
		byName[f.Name] = f
	}
	read := func(name string) ([]byte, error) {
		f := byName[name]
		if f == nil {
			return nil, formatErr(name, "", "missing from the archive")
		}
		rc, err := f.Open()
		if err != nil {
			return nil, formatErr(name, "", "cannot be read: %v", err)
		}
		defer rc.Close()
		data, err := io.ReadAll(io.LimitReader(rc, int64(f.UncompressedSize64)+1))
		if err != nil {
			return nil, formatErr(name, "", "cannot be read: %v", err)
		}
		if uint64(len(data)) != f.UncompressedSize64 {
			return nil, formatErr(name, "", "holds %d bytes, its header says %d", len(data), f.UncompressedSize64)
		}
		return data, nil
	}

	manData, err := read(manifestName)
	if err != nil {
		return nil, nil, err
	}
	var man manifestJSON
	if err := strictJSON(manData, &man); err != nil {
		return nil, nil, formatErr(manifestName, "", "not a manifest: %v", err)
	}
	if man.Format != FormatName {
		return nil, nil, formatErr(manifestName, "format", "must be %q, got %q", FormatName, clipName(man.Format))
	}
	if man.Version != FormatVersion {
		return nil, nil, formatErr(manifestName, "version", "this release reads bundle version %d, got %d", FormatVersion, man.Version)
	}
	listed := map[string]fileJSON{}
	for i, f := range man.Files {
		field := fmt.Sprintf("files[%d]", i)
		if f.Name == manifestName || !validName(f.Name) {
			return nil, nil, formatErr(manifestName, field+".name", "not a file of a bundle: %q", clipName(f.Name))
		}
		if _, dup := listed[f.Name]; dup {
			return nil, nil, formatErr(manifestName, field+".name", "%s is listed twice", f.Name)
		}
		if _, err := parseHex32(f.SHA256); err != nil {
			return nil, nil, formatErr(manifestName, field+".sha256", "%v", err)
		}
		listed[f.Name] = f
	}
	for name := range byName {
		if _, ok := listed[name]; !ok && name != manifestName {
			return nil, nil, formatErr(name, "", "in the archive but not in the manifest")
		}
	}
	var findings []*FormatError
	contents := map[string][]byte{}
	for _, f := range man.Files {
		data, err := read(f.Name)
		if err != nil {
			return nil, nil, err
		}
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != f.SHA256 || int64(len(data)) != f.Size {
			findings = append(findings, formatErr(f.Name, "", "changed: its SHA-256 %x (%d bytes) is not the manifest's %s (%d bytes)", sum[:8], len(data), clipName(f.SHA256), f.Size))
		}
		contents[f.Name] = data
	}

	evData, ok := contents[evidenceName]
	if !ok {
		return nil, nil, formatErr(evidenceName, "", "missing from the manifest")
	}
	if int64(len(evData)) > lim.MaxEvidenceLen {
		return nil, nil, formatErr(evidenceName, "", "at most %d bytes, got %d", lim.MaxEvidenceLen, len(evData))
	}
	sumData, ok := contents[summaryName]
	if !ok {
		return nil, nil, formatErr(summaryName, "", "missing from the manifest")
	}
	if !utf8.Valid(sumData) {
		return nil, nil, formatErr(summaryName, "", "not valid UTF-8")
	}
	var ev evidenceJSON
	if err := strictJSON(evData, &ev); err != nil {
		return nil, nil, formatErr(evidenceName, "", "not the evidence object: %v", err)
	}
	b, err := fromJSON(&ev, contents, lim)
	if err != nil {
		return nil, nil, err
	}
	b.Summary = string(sumData)
	return b, findings, nil
}

func validName(name string) bool {
	switch name {
	case manifestName, evidenceName, summaryName:
		return true
	}
	h, ok := strings.CutPrefix(name, packagesDir)
	if !ok {
		return false
	}
	h, ok = strings.CutSuffix(h, packageExt)
	return ok && isLowerHex64(h)
}

func isLowerHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func clipName(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) > 80 {
		cut := 80
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return s[:cut] + "…"
	}
	return s
}

func parseHex32(s string) ([32]byte, error) {
	var h [32]byte
	if !isLowerHex64(s) {
		return h, fmt.Errorf("must be 64 lowercase hex digits, got %q", clipName(s))
	}
	_, err := hex.Decode(h[:], []byte(s))
	return h, err
}

func parseHashes(name, field string, in []string) ([][32]byte, error) {
	out := make([][32]byte, len(in))
	for i, s := range in {
		h, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(h) != 32 || b64(h) != s {
			return nil, formatErr(name, fmt.Sprintf("%s[%d]", field, i), "must be the standard base64 of 32 bytes")
		}
		copy(out[i][:], h)
	}
	return out, nil
}

func parseB64(name, field, s string) ([]byte, error) {
	out, err := base64.StdEncoding.DecodeString(s)
	if err != nil || b64(out) != s {
		return nil, formatErr(name, field, "must be standard base64 with padding")
	}
	return out, nil
}

func fromJSON(ev *evidenceJSON, files map[string][]byte, lim Limits) (*Bundle, error) {
	const name = evidenceName
	bad := func(field, format string, args ...any) error { return formatErr(name, field, format, args...) }
	if ev.Version != FormatVersion {
		return nil, bad("version", "this release reads evidence version %d, got %d", FormatVersion, ev.Version)
	}
	b := &Bundle{Exporter: ev.Exporter, Key: ev.Key}
	var err error
	if b.CreatedAt, err = time.Parse(timeLayout, ev.CreatedAt); err != nil {
		return nil, bad("created_at", "a UTC time with nine fractional digits, got %q", clipName(ev.CreatedAt))
	}
	if b.Key == "" {
		return nil, bad("key", "the letter's root-document key is required")
	}
	if b.Document, err = parseHex32(ev.Document); err != nil {
		return nil, bad("document", "%v", err)
	}
	b.Log = LogEvidence{Origin: ev.Log.Origin, Keys: ev.Log.Keys, Checkpoint: []byte(ev.Log.Checkpoint), Index: []byte(ev.Log.Index)}
	if ev.Log.Checkpoint == "" {
		return nil, bad("log.checkpoint", "the reference checkpoint is required")
	}
	if ev.Log.Index == "" {
		return nil, bad("log.index", "the log's signed index of the letter is required")
	}
	for i, e := range ev.Log.Earlier {
		proof, err := parseHashes(name, fmt.Sprintf("log.earlier[%d].consistency", i), e.Consistency)
		if err != nil {
			return nil, err
		}
		if e.Checkpoint == "" {
			return nil, bad(fmt.Sprintf("log.earlier[%d].checkpoint", i), "a checkpoint is required")
		}
		b.Log.Earlier = append(b.Log.Earlier, EarlierCheckpoint{Checkpoint: []byte(e.Checkpoint), Consistency: proof})
	}
	if len(ev.Leaves) > lim.MaxLeaves {
		return nil, bad("leaves", "at most %d leaves, got %d", lim.MaxLeaves, len(ev.Leaves))
	}
	for i, l := range ev.Leaves {
		field := fmt.Sprintf("leaves[%d]", i)
		if l.Index == nil {
			return nil, bad(field+".index", "the leaf index is required")
		}
		leaf := Leaf{Index: *l.Index, First: l.First}
		if leaf.Event, err = parseB64(name, field+".event", l.Event); err != nil {
			return nil, err
		}
		if len(leaf.Event) == 0 {
			return nil, bad(field+".event", "the leaf bytes are required")
		}
		if leaf.Proof, err = parseHashes(name, field+".proof", l.Proof); err != nil {
			return nil, err
		}
		if l.First < 0 || (l.First == 0) != (l.FirstProof == nil) {
			return nil, bad(field+".first", "first (a checkpoint size > 0) and first_proof come together")
		}
		if l.FirstProof != nil {
			if leaf.FirstProof, err = parseHashes(name, field+".first_proof", *l.FirstProof); err != nil {
				return nil, err
			}
		}
		b.Leaves = append(b.Leaves, leaf)
	}
	packaged := map[string]bool{}
	for i, p := range ev.Packages {
		field := fmt.Sprintf("packages[%d]", i)
		sha, err := parseHex32(p.SHA256)
		if err != nil {
			return nil, bad(field+".sha256", "%v", err)
		}
		if slices.ContainsFunc(b.Packages, func(q Package) bool { return q.SHA256 == sha }) {
			return nil, bad(field+".sha256", "package %s is listed twice", p.SHA256)
		}
		pkg := Package{SHA256: sha, Purged: p.Purged, Withheld: p.Withheld}
		switch {
		case p.Purged && p.Withheld:
			return nil, bad(field+".withheld", "a package is purged or withheld, not both")
		case (p.Purged || p.Withheld) && p.File != "":
			return nil, bad(field+".file", "a purged or withheld package has no file")
		case !p.Purged && !p.Withheld:
			if p.File != packageFile(sha) {
				return nil, bad(field+".file", "must be %s, got %q", packageFile(sha), clipName(p.File))
			}
			data, ok := files[p.File]
			if !ok {
				return nil, bad(field+".file", "%s is not in the manifest", p.File)
			}
			pkg.Bytes = data
			packaged[p.File] = true
		}
		b.Packages = append(b.Packages, pkg)
	}
	for f := range files {
		if strings.HasPrefix(f, packagesDir) && !packaged[f] {
			return nil, formatErr(f, "", "in the archive but not listed in evidence.json packages")
		}
	}
	for i, n := range ev.Notices {
		field := fmt.Sprintf("notices[%d]", i)
		about, err := parseHex32(n.About)
		if err != nil {
			return nil, bad(field+".about", "%v", err)
		}
		sha, err := parseHex32(n.SHA256)
		if err != nil {
			return nil, bad(field+".sha256", "%v", err)
		}
		if (n.Purged || n.Withheld) != (n.Note == "") || (n.Purged && n.Withheld) {
			return nil, bad(field+".note", "a notice has its signed note, or is declared purged or withheld: exactly one")
		}
		nt := Notice{Edge: n.Edge, About: about, SHA256: sha, Purged: n.Purged, Withheld: n.Withheld}
		if n.Note != "" {
			nt.Note = []byte(n.Note)
		}
		b.Notices = append(b.Notices, nt)
	}
	if len(ev.Certificates) > lim.MaxCertificates || len(ev.CRLs) > lim.MaxCertificates {
		return nil, bad("certificates", "at most %d certificates and %d CRLs", lim.MaxCertificates, lim.MaxCertificates)
	}
	for i, c := range ev.Certificates {
		der, err := parseB64(name, fmt.Sprintf("certificates[%d]", i), c)
		if err != nil {
			return nil, err
		}
		b.Certificates = append(b.Certificates, der)
	}
	for i, c := range ev.CRLs {
		der, err := parseB64(name, fmt.Sprintf("crls[%d]", i), c)
		if err != nil {
			return nil, err
		}
		b.CRLs = append(b.CRLs, der)
	}
	for i, e := range ev.Edges {
		ec := EdgeCertificates{ID: e.ID}
		if len(e.Certificates) > lim.MaxCertificates {
			return nil, bad(fmt.Sprintf("edges[%d].certificates", i), "at most %d certificates", lim.MaxCertificates)
		}
		for j, c := range e.Certificates {
			der, err := parseB64(name, fmt.Sprintf("edges[%d].certificates[%d]", i, j), c)
			if err != nil {
				return nil, err
			}
			ec.Certificates = append(ec.Certificates, der)
		}
		b.Edges = append(b.Edges, ec)
	}
	return b, nil
}

// strictJSON decodes exactly one JSON value into v, refusing unknown
// members and trailing data.
func strictJSON(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}
