package directory

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"truc.vn/truc/bus"
	"truc.vn/truc/signing"
)

// Bounds on directory entries. They are generous: they only keep one bad
// entry from costing memory or time out of proportion.
const (
	// MaxNameLength is the longest agency name, in characters (edXML's
	// OrganName limit).
	MaxNameLength = 200
	// MaxEdgeCertificates is the most seal certificates one edge may have
	// (two or three during a key rollover).
	MaxEdgeCertificates = 16
	// MaxCertificateBytes bounds one certificate's DER.
	MaxCertificateBytes = 64 << 10
)

// Errors a Directory returns besides *Error.
var (
	// ErrNotFound: the change removes an entry that does not exist.
	ErrNotFound = errors.New("directory: no such entry")
	// ErrVersion: a replicated change or snapshot does not follow the
	// directory's version (see Replicate and Reset).
	ErrVersion = errors.New("directory: version out of sequence")
)

// Error is a directory entry or change that breaks a rule. Field names the
// entry and the field in the terms of the input: "agencies[3].edge" in a
// directory file or snapshot, "changes[0].agency.parent" in a change.
// Line is the line in the directory file, 0 for other input.
type Error struct {
	Line  int
	Field string
	Msg   string
	Err   error // ErrNotFound or nil
}

func (e *Error) Unwrap() error { return e.Err }

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("directory: ")
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func fieldErr(field, format string, args ...any) *Error {
	return &Error{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Edge is an edge node as the directory stores and transmits it: the
// certificates are DER (base64 in JSON).
type Edge struct {
	// ID names the edge (bus.ValidateEdgeID rules).
	ID string `json:"id"`
	// InboxTopic is the topic the axis publishes to for the edge. In a
	// change applied with Apply it may be empty: the directory's
	// Config.Topics gives the default, and the recorded change names it.
	InboxTopic string `json:"inbox_topic"`
	// Certificates are the DER of the edge's seal certificates: 1 to
	// MaxEdgeCertificates, no duplicates.
	Certificates [][]byte `json:"certificates"`
}

// Binding is one entry of a signing bindings file (see signing.Bindings for
// the format and its rules), as a value. The directory never interprets it
// itself: it is validated and compiled by signing.ParseBindings.
type Binding struct {
	OrganID      string        `json:"organ_id" yaml:"organ_id"`
	Name         string        `json:"name,omitempty" yaml:"name,omitempty"`
	Certificates []string      `json:"certificates,omitempty" yaml:"certificates,omitempty"`
	Subjects     []SubjectRule `json:"subjects,omitempty" yaml:"subjects,omitempty"`
	NotAfter     string        `json:"not_after,omitempty" yaml:"not_after,omitempty"`
}

// SubjectRule is one subject rule of a binding (signing.Bindings format).
type SubjectRule struct {
	IssuerSHA256 string `json:"issuer_sha256" yaml:"issuer_sha256"`
	CN           string `json:"cn" yaml:"cn"`
	OU           string `json:"ou,omitempty" yaml:"ou,omitempty"`
	O            string `json:"o,omitempty" yaml:"o,omitempty"`
	L            string `json:"l,omitempty" yaml:"l,omitempty"`
	ST           string `json:"st,omitempty" yaml:"st,omitempty"`
	C            string `json:"c,omitempty" yaml:"c,omitempty"`
	SerialNumber string `json:"serial_number,omitempty" yaml:"serial_number,omitempty"`
	Email        string `json:"email,omitempty" yaml:"email,omitempty"`
}

// Snapshot is the whole directory at one version. Its lists are sorted by
// OrganId or edge ID.
type Snapshot struct {
	Version  int64        `json:"version"`
	Agencies []bus.Agency `json:"agencies"`
	Edges    []Edge       `json:"edges"`
	Bindings []Binding    `json:"bindings"`
}

// Directory is an in-memory, versioned directory: it implements
// bus.Directory. Reads are safe for concurrent use with each other and with
// changes; changes are serialised. See the package documentation for how
// versions, the change log and the seed file fit together.
type Directory struct {
	cfg Config
	log *slog.Logger

	writeMu sync.Mutex // serialises changes; held across the change log append
	clog    ChangeLog  // nil: changes are not persisted

	mu      sync.RWMutex // guards the fields below
	st      *state
	version int64
	base    int64             // history holds versions base+1 .. version
	history []VersionedChange // oldest first
	seed    [32]byte          // SHA-256 of the seed file, when version 1 came from one
	seeded  bool
}

var _ bus.Directory = (*Directory)(nil)

// state is the content of a directory. A state reachable from
// Directory.st is never modified except under Directory.mu's write lock.
type state struct {
	agencies map[string]bus.Agency
	edges    map[string]*edgeEntry
	bindings map[string]*bindingEntry
}

type edgeEntry struct {
	Edge
	certs []*x509.Certificate
}

type bindingEntry struct {
	Binding
	compiled *signing.Bindings
}

// clone returns a copy of s that can change independently (the entries
// themselves are never modified); nil for nil.
func (s *state) clone() *state {
	if s == nil {
		return nil
	}
	return &state{agencies: maps.Clone(s.agencies), edges: maps.Clone(s.edges), bindings: maps.Clone(s.bindings)}
}

func newState() *state {
	return &state{agencies: map[string]bus.Agency{}, edges: map[string]*edgeEntry{}, bindings: map[string]*bindingEntry{}}
}

// New returns an empty directory at version 0 that records nothing: for an
// edge's in-memory cache, tools and tests. Use Open for a directory backed
// by a change log and Load for one read from a file.
func New(cfg Config) (*Directory, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	return &Directory{cfg: cfg, log: cfg.Logger, st: newState()}, nil
}

// Version returns the directory version: 0 when empty and new, then one
// more with every change (a Reset may jump ahead).
func (d *Directory) Version() int64 {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.version
}

// Agency returns the agency with organID.
func (d *Directory) Agency(organID string) (bus.Agency, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	a, ok := d.st.agencies[organID]
	return a, ok
}

// Edge returns the edge with id. The certificates are shared with the
// directory: callers must not modify them.
func (d *Directory) Edge(id string) (bus.EdgeInfo, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	e, ok := d.st.edges[id]
	if !ok {
		return bus.EdgeInfo{}, false
	}
	return e.info(), true
}

func (e *edgeEntry) info() bus.EdgeInfo {
	return bus.EdgeInfo{ID: e.ID, InboxTopic: e.InboxTopic, Certificates: slices.Clone(e.certs)}
}

// CheckSigner reports whether chain (signer first, as verified) may sign
// for organID at time at, by the binding of organID
// (signing.Bindings.CheckChain). It returns nil or a *bus.RejectError with
// Reason bus.RejectSignerNotBound wrapping the *signing.VerifyError. It
// does not check that organID is an active agency.
func (d *Directory) CheckSigner(organID string, chain []*x509.Certificate, at time.Time) error {
	d.mu.RLock()
	var compiled *signing.Bindings
	if b, ok := d.st.bindings[organID]; ok {
		compiled = b.compiled
	}
	d.mu.RUnlock()
	// A nil *signing.Bindings binds nothing: CheckChain says so by name.
	if err := compiled.CheckChain(organID, chain, at); err != nil {
		detail := err.Error()
		var ve *signing.VerifyError
		if errors.As(err, &ve) {
			detail = ve.Detail
		}
		return &bus.RejectError{Reason: bus.RejectSignerNotBound, Detail: detail, Err: err}
	}
	return nil
}

// Agencies returns every agency, sorted by OrganId.
func (d *Directory) Agencies() []bus.Agency {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return sortedValues(d.st.agencies, func(a bus.Agency) string { return a.OrganID })
}

// AgenciesOf returns the agencies the edge serves, sorted by OrganId.
func (d *Directory) AgenciesOf(edgeID string) []bus.Agency {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var out []bus.Agency
	for _, a := range d.st.agencies {
		if a.Edge == edgeID {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b bus.Agency) int { return strings.Compare(a.OrganID, b.OrganID) })
	return out
}

// Edges returns every edge, sorted by ID.
func (d *Directory) Edges() []bus.EdgeInfo {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]bus.EdgeInfo, 0, len(d.st.edges))
	for _, id := range slices.Sorted(maps.Keys(d.st.edges)) {
		out = append(out, d.st.edges[id].info())
	}
	return out
}

// Binding returns the binding of organID.
func (d *Directory) Binding(organID string) (Binding, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	b, ok := d.st.bindings[organID]
	if !ok {
		return Binding{}, false
	}
	return cloneBinding(b.Binding), true
}

// Snapshot returns the whole directory at its current version, in one
// consistent read.
func (d *Directory) Snapshot() Snapshot {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.st.snapshot(d.version)
}

func (s *state) snapshot(version int64) Snapshot {
	snap := Snapshot{
		Version:  version,
		Agencies: sortedValues(s.agencies, func(a bus.Agency) string { return a.OrganID }),
		Edges:    make([]Edge, 0, len(s.edges)),
		Bindings: make([]Binding, 0, len(s.bindings)),
	}
	for _, id := range slices.Sorted(maps.Keys(s.edges)) {
		snap.Edges = append(snap.Edges, cloneEdge(s.edges[id].Edge))
	}
	for _, id := range slices.Sorted(maps.Keys(s.bindings)) {
		snap.Bindings = append(snap.Bindings, cloneBinding(s.bindings[id].Binding))
	}
	return snap
}

func sortedValues[V any](m map[string]V, key func(V) string) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b V) int { return strings.Compare(key(a), key(b)) })
	return out
}

func cloneEdge(e Edge) Edge {
	e.Certificates = slices.Clone(e.Certificates) // the DER slices themselves are never modified
	return e
}

func cloneBinding(b Binding) Binding {
	b.Certificates = slices.Clone(b.Certificates)
	b.Subjects = slices.Clone(b.Subjects)
	return b
}

// checkAgency checks the fields of one agency on their own. where is the
// field prefix ("agencies[3]", "changes[0].agency").
func checkAgency(a bus.Agency, where string) *Error {
	if !isOrganID(a.OrganID) {
		return fieldErr(where+".organ_id", "%s", organIDRule(a.OrganID))
	}
	if err := checkName(a.Name); err != nil {
		return fieldErr(where+".name", "%v", err)
	}
	if a.Parent != "" {
		if !isOrganID(a.Parent) {
			return fieldErr(where+".parent", "%s", organIDRule(a.Parent))
		}
		if a.Parent == a.OrganID {
			return fieldErr(where+".parent", "an agency cannot be its own parent")
		}
	}
	if a.Edge == "" {
		return fieldErr(where+".edge", "required: the ID of the edge that serves the agency")
	}
	if err := bus.ValidateEdgeID(a.Edge); err != nil {
		return fieldErr(where+".edge", "%v", err)
	}
	return nil
}

func checkName(s string) error {
	switch {
	case strings.TrimSpace(s) == "":
		return errors.New("required: the agency's official name")
	case !utf8.ValidString(s):
		return errors.New("must be valid UTF-8")
	case utf8.RuneCountInString(s) > MaxNameLength:
		return fmt.Errorf("at most %d characters, got %d", MaxNameLength, utf8.RuneCountInString(s))
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("must not contain control characters (%U)", r)
		}
	}
	return nil
}

// checkEdge checks an edge on its own and parses its certificates. An
// empty inbox topic gets the default of topics.
func checkEdge(e Edge, topics bus.Topics, where string) (*edgeEntry, *Error) {
	if err := bus.ValidateEdgeID(e.ID); err != nil {
		return nil, fieldErr(where+".id", "%v", err)
	}
	if e.InboxTopic == "" {
		t, err := topics.Inbox(e.ID)
		if err != nil {
			return nil, fieldErr(where+".inbox_topic", "no default: %v", err)
		}
		e.InboxTopic = t
	}
	if err := bus.ValidateTopic(e.InboxTopic); err != nil {
		return nil, fieldErr(where+".inbox_topic", "%v", err)
	}
	if len(e.Certificates) == 0 {
		return nil, fieldErr(where+".certificates", "at least one seal certificate is required: rejection notices from the edge are checked against it")
	}
	if len(e.Certificates) > MaxEdgeCertificates {
		return nil, fieldErr(where+".certificates", "at most %d certificates, got %d", MaxEdgeCertificates, len(e.Certificates))
	}
	ent := &edgeEntry{Edge: cloneEdge(e), certs: make([]*x509.Certificate, len(e.Certificates))}
	for i, der := range e.Certificates {
		f := fmt.Sprintf("%s.certificates[%d]", where, i)
		if len(der) > MaxCertificateBytes {
			return nil, fieldErr(f, "a certificate of %d bytes exceeds the %d-byte limit", len(der), MaxCertificateBytes)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fieldErr(f, "not a DER X.509 certificate: %v", err)
		}
		for j := range i {
			if ent.certs[j].Equal(c) {
				return nil, fieldErr(f, "the same certificate as certificates[%d]", j)
			}
		}
		ent.certs[i] = c
	}
	return ent, nil
}

// reachesItself reports whether following parents from organID comes back
// to it, looking agencies up with get. The walk is bounded by limit steps.
func reachesItself(organID string, get func(string) (bus.Agency, bool), limit int) bool {
	a, ok := get(organID)
	for steps := 0; ok && a.Parent != "" && steps <= limit; steps++ {
		if a.Parent == organID {
			return true
		}
		a, ok = get(a.Parent)
	}
	return false
}
