package directory

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"truc.vn/truc/bus"
	"truc.vn/truc/signing"
)

// MaxFileBytes caps a directory file: about 100k agencies with their
// bindings.
const MaxFileBytes = 64 << 20

// File is a parsed and checked directory file.
type File struct {
	// Snapshot is the directory the file describes, at version 0: Open
	// records it as version 1, Load installs it as version 1.
	Snapshot Snapshot
	// SHA256 is the SHA-256 of the file's bytes, recorded with the seed so
	// that a restarted axis can tell whether the file changed since.
	SHA256 [32]byte

	st *state // Snapshot, checked and compiled; nil in a File made by hand
}

// FileOptions are what ParseFile needs besides the bytes.
type FileOptions struct {
	// Topics gives the default inbox topic of an edge without one (zero
	// value: the "truc" prefix).
	Topics bus.Topics
	// ReadFile reads a name listed under certificate_files. nil refuses
	// certificate_files: ReadFile (the function of this package) reads
	// them relative to the directory file.
	ReadFile func(name string) ([]byte, error)
}

// ReadFile reads and checks the directory file at path. Names under
// certificate_files are read relative to the file's folder.
func ReadFile(path string, topics bus.Topics) (*File, error) {
	data, err := readLimited(path, MaxFileBytes)
	if err != nil {
		return nil, fmt.Errorf("directory: reading %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	f, err := ParseFile(data, FileOptions{Topics: topics, ReadFile: func(name string) ([]byte, error) {
		if !filepath.IsAbs(name) {
			name = filepath.Join(dir, name)
		}
		return readLimited(name, MaxEdgeCertificates*MaxCertificateBytes*2)
	}})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than the %d-byte limit", limit)
	}
	return data, nil
}

// Load reads the directory file at path into a new directory at version 1
// that records nothing (see Open for one backed by a change log).
func Load(path string, cfg Config) (*Directory, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	f, err := ReadFile(path, cfg.Topics)
	if err != nil {
		return nil, err
	}
	d, err := New(cfg)
	if err != nil {
		return nil, err
	}
	snap := f.Snapshot
	snap.Version = 1
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	if err := d.reset(context.Background(), snap, fmt.Sprintf("%x", f.SHA256), false, f.st); err != nil {
		return nil, err
	}
	return d, nil
}

// ParseFile parses and checks a directory file (format in the package
// documentation). The error is an *Error naming the line, the entry and
// the field of the first problem.
func ParseFile(data []byte, opts FileOptions) (*File, error) {
	if len(data) > MaxFileBytes {
		return nil, &Error{Msg: fmt.Sprintf("a directory file of %d bytes exceeds the %d-byte limit", len(data), MaxFileBytes)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{Msg: "empty file (want version: 1, agencies, edges and bindings)"}
		}
		return nil, &Error{Msg: err.Error()}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, &Error{Msg: "more than one YAML document in the file"}
	}
	p := &fileParser{opts: opts, lines: map[string]int{}}
	f, err := p.file(&doc)
	if err != nil {
		return nil, err
	}
	f.SHA256 = sha256.Sum256(data)
	return f, nil
}

type fileParser struct {
	opts  FileOptions
	lines map[string]int // field → line, for the errors of buildState
}

func nodeErr(n *yaml.Node, field, format string, args ...any) *Error {
	return &Error{Line: n.Line, Field: field, Msg: fmt.Sprintf(format, args...)}
}

func (p *fileParser) file(doc *yaml.Node) (*File, error) {
	if err := noAliases(doc); err != nil {
		return nil, err
	}
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, nodeErr(root, "", "the file must be a mapping with version, agencies, edges and bindings")
	}
	top, err := p.fields(root, "", "version", "agencies", "edges", "bindings")
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"version", "agencies", "edges"} {
		if _, ok := top[k]; !ok {
			return nil, nodeErr(root, k, "required (a list may be empty: %s: [])", k)
		}
	}
	if v := top["version"]; v.Kind != yaml.ScalarNode || v.Value != "1" {
		return nil, nodeErr(v, "version", "unsupported version %q (want 1)", clip(v.Value))
	}
	f := &File{}
	agencies, err := p.list(top["agencies"], "agencies")
	if err != nil {
		return nil, err
	}
	for i, n := range agencies {
		a, err := p.agency(n, fmt.Sprintf("agencies[%d]", i))
		if err != nil {
			return nil, err
		}
		f.Snapshot.Agencies = append(f.Snapshot.Agencies, a)
	}
	edges, err := p.list(top["edges"], "edges")
	if err != nil {
		return nil, err
	}
	for i, n := range edges {
		e, err := p.edge(n, fmt.Sprintf("edges[%d]", i))
		if err != nil {
			return nil, err
		}
		f.Snapshot.Edges = append(f.Snapshot.Edges, e)
	}
	var compiled *signing.Bindings
	if n, ok := top["bindings"]; ok {
		if f.Snapshot.Bindings, compiled, err = p.bindings(n); err != nil {
			return nil, err
		}
	}
	if f.st, err = buildState(f.Snapshot, "", p.lineOf, p.opts.Topics, compiled); err != nil {
		return nil, err
	}
	f.Snapshot = f.st.snapshot(0)
	return f, nil
}

// lineOf returns the line of field, or of the closest enclosing field
// recorded.
func (p *fileParser) lineOf(field string) int {
	for field != "" {
		if l, ok := p.lines[field]; ok {
			return l
		}
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			break
		}
		field = field[:i]
	}
	return 0
}

// noAliases refuses YAML aliases anywhere: a directory is data, and an
// alias would let a small file expand into a large one.
func noAliases(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode {
		return nodeErr(n, "", "YAML aliases (*%s) are not allowed in a directory file: write the value out", clip(n.Value))
	}
	for _, c := range n.Content {
		if err := noAliases(c); err != nil {
			return err
		}
	}
	return nil
}

// fields returns the values of a mapping by key, refusing unknown and
// repeated keys.
func (p *fileParser) fields(n *yaml.Node, where string, known ...string) (map[string]*yaml.Node, error) {
	out := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || !slices.Contains(known, k.Value) {
			return nil, nodeErr(k, where, "unknown field %q (known: %s)", clip(k.Value), strings.Join(known, ", "))
		}
		if _, dup := out[k.Value]; dup {
			return nil, nodeErr(k, join(where, k.Value), "given twice")
		}
		out[k.Value] = v
		p.lines[join(where, k.Value)] = v.Line
	}
	return out, nil
}

func join(where, key string) string {
	if where == "" {
		return key
	}
	return where + "." + key
}

func (p *fileParser) list(n *yaml.Node, field string) ([]*yaml.Node, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, nodeErr(n, field, "must be a list")
	}
	return n.Content, nil
}

// str returns a required string value.
func str(n *yaml.Node, field string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", nodeErr(n, field, "want a single value")
	}
	return n.Value, nil
}

// optStr returns an optional string value: null is "".
func optStr(n *yaml.Node, field string) (string, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return "", nil
	}
	return str(n, field)
}

func (p *fileParser) agency(n *yaml.Node, where string) (bus.Agency, error) {
	a := bus.Agency{Active: true}
	if n.Kind != yaml.MappingNode {
		return a, nodeErr(n, where, "an agency must be a mapping with organ_id, name, edge and optionally parent and active")
	}
	p.lines[where] = n.Line
	f, err := p.fields(n, where, "organ_id", "name", "parent", "edge", "active")
	if err != nil {
		return a, err
	}
	for _, k := range []string{"organ_id", "name", "edge"} {
		if _, ok := f[k]; !ok {
			return a, nodeErr(n, where+"."+k, "required")
		}
	}
	if a.OrganID, err = str(f["organ_id"], where+".organ_id"); err != nil {
		return a, err
	}
	if a.Name, err = str(f["name"], where+".name"); err != nil {
		return a, err
	}
	if a.Edge, err = str(f["edge"], where+".edge"); err != nil {
		return a, err
	}
	if v, ok := f["parent"]; ok {
		if a.Parent, err = optStr(v, where+".parent"); err != nil {
			return a, err
		}
	}
	if v, ok := f["active"]; ok {
		if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
			return a, nodeErr(v, where+".active", "want true or false, got %q", clip(v.Value))
		}
		if err := v.Decode(&a.Active); err != nil {
			return a, nodeErr(v, where+".active", "want true or false: %v", err)
		}
	}
	return a, nil
}

func (p *fileParser) edge(n *yaml.Node, where string) (Edge, error) {
	var e Edge
	if n.Kind != yaml.MappingNode {
		return e, nodeErr(n, where, "an edge must be a mapping with id and certificates or certificate_files, and optionally inbox_topic")
	}
	p.lines[where] = n.Line
	f, err := p.fields(n, where, "id", "inbox_topic", "certificates", "certificate_files")
	if err != nil {
		return e, err
	}
	id, ok := f["id"]
	if !ok {
		return e, nodeErr(n, where+".id", "required")
	}
	if e.ID, err = str(id, where+".id"); err != nil {
		return e, err
	}
	if v, ok := f["inbox_topic"]; ok {
		if e.InboxTopic, err = optStr(v, where+".inbox_topic"); err != nil {
			return e, err
		}
	}
	if v, ok := f["certificates"]; ok {
		field := where + ".certificates"
		text, err := str(v, field)
		if err != nil {
			return e, err
		}
		ders, err := certificatesPEM([]byte(text))
		if err != nil {
			return e, nodeErr(v, field, "%v", err)
		}
		e.Certificates = append(e.Certificates, ders...)
	}
	if v, ok := f["certificate_files"]; ok {
		if v.Kind != yaml.SequenceNode {
			return e, nodeErr(v, where+".certificate_files", "must be a list of file names")
		}
		for i, fn := range v.Content {
			field := fmt.Sprintf("%s.certificate_files[%d]", where, i)
			name, err := str(fn, field)
			if err != nil {
				return e, err
			}
			if p.opts.ReadFile == nil {
				return e, nodeErr(fn, field, "certificate files are read only when the directory is loaded from a file")
			}
			data, err := p.opts.ReadFile(name)
			if err != nil {
				return e, nodeErr(fn, field, "%v", err)
			}
			ders, err := certificatesPEM(data)
			if err != nil {
				return e, nodeErr(fn, field, "%s: %v", clip(name), err)
			}
			e.Certificates = append(e.Certificates, ders...)
		}
	}
	if len(e.Certificates) == 0 {
		return e, nodeErr(n, where+".certificates", "the edge's seal certificate is required (certificates or certificate_files)")
	}
	return e, nil
}

// certificatesPEM returns the DER of every CERTIFICATE block. Any other
// block is an error, a private key above all: the directory goes to every
// edge.
func certificatesPEM(data []byte) ([][]byte, error) {
	var ders [][]byte
	rest := data
	for n := 1; ; n++ {
		block, r := pem.Decode(rest)
		if block == nil {
			break
		}
		rest = r
		switch {
		case block.Type == "CERTIFICATE":
			ders = append(ders, block.Bytes)
		case strings.Contains(block.Type, "PRIVATE KEY"):
			return nil, fmt.Errorf("PEM block %d is a private key: never put a key in the directory, every edge receives it", n)
		default:
			return nil, fmt.Errorf("PEM block %d has type %q, want CERTIFICATE", n, clip(block.Type))
		}
	}
	if len(ders) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block found")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("text after the last PEM block")
	}
	return ders, nil
}

// bindings checks the bindings section with signing.ParseBindings (see
// checkBindings) and returns its entries and their compiled form.
func (p *fileParser) bindings(list *yaml.Node) ([]Binding, *signing.Bindings, error) {
	if list.Kind != yaml.SequenceNode {
		return nil, nil, nodeErr(list, "bindings", "must be a list (it may be empty: bindings: [])")
	}
	compiled, err := checkBindings(list)
	if err != nil {
		return nil, nil, err
	}
	out := make([]Binding, len(list.Content))
	for i, n := range list.Content {
		where := fmt.Sprintf("bindings[%d]", i)
		p.lines[where] = n.Line
		if err := n.Decode(&out[i]); err != nil { // shape already checked by ParseBindings
			return nil, nil, nodeErr(n, where, "%v", err)
		}
		for j := 0; j+1 < len(n.Content); j += 2 {
			p.lines[where+"."+n.Content[j].Value] = n.Content[j+1].Line
		}
	}
	return out, compiled, nil
}

// checkBindings hands the bindings section to signing.ParseBindings, the
// one reader of the bindings format, as a bindings file of its own (the
// section plus "version: 1"). That file is generated, so the line in an
// error is translated back to the directory file's line by walking the
// generated tree and the original one side by side.
func checkBindings(list *yaml.Node) (*signing.Bindings, error) {
	str := func(tag, v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: v} }
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{
		Kind:    yaml.MappingNode,
		Content: []*yaml.Node{str("!!str", "version"), str("!!int", "1"), str("!!str", "bindings"), list},
	}}}
	data, err := yaml.Marshal(doc)
	if err != nil {
		return nil, nodeErr(list, "bindings", "cannot re-encode the section: %v", err)
	}
	compiled, perr := signing.ParseBindings(data)
	if perr == nil {
		return compiled, nil
	}
	msg := perr.Error()
	m := bindingsLine.FindStringSubmatch(msg)
	if m == nil {
		return nil, nodeErr(list, "", "%s", msg)
	}
	genLine, _ := strconv.Atoi(m[1])
	var gen yaml.Node
	line := list.Line
	lines := map[int]int{}
	if yaml.Unmarshal(data, &gen) == nil && len(gen.Content) == 1 && len(gen.Content[0].Content) == 4 {
		mapLines(gen.Content[0].Content[3], list, lines)
		if l, ok := lines[genLine]; ok {
			line = l
		}
	}
	rest := anyLine.ReplaceAllStringFunc(msg[len(m[0]):], func(s string) string {
		n, _ := strconv.Atoi(strings.TrimPrefix(s, "line "))
		if l, ok := lines[n]; ok {
			return fmt.Sprintf("line %d", l)
		}
		return s
	})
	return nil, &Error{Line: line, Msg: rest}
}

// anyLine matches a line number inside a ParseBindings message ("already
// bound by the entry at line 12").
var anyLine = regexp.MustCompile(`\bline \d+\b`)

// bindingsLine matches the line ParseBindings puts in its errors.
var bindingsLine = regexp.MustCompile(`^bindings: line (\d+): `)

// mapLines records, for each line of gen, the line of the first node of
// orig found at the same place in the tree.
func mapLines(gen, orig *yaml.Node, lines map[int]int) {
	if _, ok := lines[gen.Line]; !ok {
		lines[gen.Line] = orig.Line
	}
	if len(gen.Content) != len(orig.Content) {
		return
	}
	for i := range gen.Content {
		mapLines(gen.Content[i], orig.Content[i], lines)
	}
}
