package directory

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"truc.vn/truc/bus"
	"truc.vn/truc/signing"
)

// Op is what a Change does. Wire values: they never change; new ones may
// be added.
type Op string

// Change operations.
const (
	// OpPutAgency adds an agency or replaces the one with the same
	// OrganId (Change.Agency).
	OpPutAgency Op = "put-agency"
	// OpPutEdge adds an edge or replaces the one with the same ID
	// (Change.Edge).
	OpPutEdge Op = "put-edge"
	// OpPutBinding sets the binding of Change.Binding.OrganID, replacing
	// any binding it had.
	OpPutBinding Op = "put-binding"
	// OpRemoveBinding removes the binding of Change.OrganID: nothing may
	// sign for it until a new one is put.
	OpRemoveBinding Op = "remove-binding"
)

// Change is one operation on the directory. Exactly the member its Op
// needs is set. The JSON form is stable (the field names never change) and
// strict (DecodeChange refuses unknown or extra members).
//
// Agencies and edges are never removed: an agency that stops is put again
// with Active false, so that history keeps resolving. Nothing refers to a
// binding, so bindings can be removed.
type Change struct {
	Op      Op          `json:"op"`
	Agency  *bus.Agency `json:"agency,omitempty"`
	Edge    *Edge       `json:"edge,omitempty"`
	Binding *Binding    `json:"binding,omitempty"`
	OrganID string      `json:"organ_id,omitempty"`
}

// VersionedChange is what one version changed: the changes applied
// together, atomically, to go from Version-1 to Version.
type VersionedChange struct {
	Version int64    `json:"version"`
	Changes []Change `json:"changes"`
}

// ChangeLog persists directory versions. The boltstore adapter implements
// it; the directory only appends and reads back.
//
// Append stores one record at version, durably when it returns nil, and
// stores nothing when it returns an error. Versions are appended in
// increasing order (gaps are possible after a Reset); an implementation
// refuses a version not above the last one. Since returns up to limit
// records with a version above the given one, in increasing order; an
// empty result means there are none. Both are safe for concurrent use.
type ChangeLog interface {
	Append(ctx context.Context, version int64, change []byte) error
	Since(ctx context.Context, version int64, limit int) ([]LogEntry, error)
}

// LogEntry is one record of a ChangeLog: the version and the bytes the
// directory appended at it. It is an alias, so an implementation may
// spell the struct out.
type LogEntry = struct {
	Version int64
	Change  []byte
}

// maxRecordBytes bounds one decoded change log record or change: a full
// snapshot of 100k agencies with their bindings fits.
const maxRecordBytes = 256 << 20

// record is what the directory stores at one version in a ChangeLog:
// either the changes of that version or a full snapshot that replaces
// everything (the seed, or a snapshot an edge received).
type record struct {
	Changes    []Change  `json:"changes,omitempty"`
	Snapshot   *Snapshot `json:"snapshot,omitempty"`
	SeedSHA256 string    `json:"seed_sha256,omitempty"` // the file the snapshot was read from
}

// DecodeChange reads one Change from JSON strictly: unknown members,
// trailing data and a member the op does not use are errors naming the
// member. It checks the shape only; Apply checks the content.
func DecodeChange(data []byte) (Change, error) {
	var c Change
	if err := strictJSON(data, &c); err != nil {
		return Change{}, &Error{Field: "change", Msg: err.Error()}
	}
	if err := checkShape(c, "change"); err != nil {
		return Change{}, err
	}
	return c, nil
}

// checkShape checks that c has exactly the member its op uses.
func checkShape(c Change, where string) *Error {
	want := map[Op]string{OpPutAgency: "agency", OpPutEdge: "edge", OpPutBinding: "binding", OpRemoveBinding: "organ_id"}[c.Op]
	if want == "" {
		return fieldErr(where+".op", "unknown op %q (known: %s, %s, %s, %s)", clip(string(c.Op)), OpPutAgency, OpPutEdge, OpPutBinding, OpRemoveBinding)
	}
	for _, m := range []struct {
		name string
		set  bool
	}{{"agency", c.Agency != nil}, {"edge", c.Edge != nil}, {"binding", c.Binding != nil}, {"organ_id", c.OrganID != ""}} {
		switch {
		case m.name == want && !m.set:
			return fieldErr(where+"."+want, "required by op %s", c.Op)
		case m.name != want && m.set:
			return fieldErr(where+"."+m.name, "not allowed with op %s (it takes %s)", c.Op, want)
		}
	}
	return nil
}

// strictJSON decodes exactly one JSON value into v, refusing unknown
// members and trailing data.
func strictJSON(data []byte, v any) error {
	if len(data) > maxRecordBytes {
		return fmt.Errorf("%d bytes exceeds the %d-byte limit", len(data), maxRecordBytes)
	}
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

// txn is a set of changes staged over a base state: reads see the staged
// entries first. Nothing in base is modified until commit.
type txn struct {
	base     *state
	topics   bus.Topics
	agencies map[string]bus.Agency
	edges    map[string]*edgeEntry
	bindings map[string]*bindingEntry // a nil entry is a removal
	changes  []Change                 // normalised: what is recorded
}

func newTxn(base *state, topics bus.Topics) *txn {
	return &txn{base: base, topics: topics, agencies: map[string]bus.Agency{}, edges: map[string]*edgeEntry{}, bindings: map[string]*bindingEntry{}}
}

func (t *txn) agency(id string) (bus.Agency, bool) {
	if a, ok := t.agencies[id]; ok {
		return a, true
	}
	a, ok := t.base.agencies[id]
	return a, ok
}

func (t *txn) edge(id string) (*edgeEntry, bool) {
	if e, ok := t.edges[id]; ok {
		return e, true
	}
	e, ok := t.base.edges[id]
	return e, ok
}

func (t *txn) binding(id string) (*bindingEntry, bool) {
	if b, ok := t.bindings[id]; ok {
		return b, b != nil
	}
	b, ok := t.base.bindings[id]
	return b, ok
}

// stage checks c on its own and stages it. References between entries
// are checked by finish, once every change is staged, so that the order
// of changes in one version does not matter.
func (t *txn) stage(c Change, where string) *Error {
	if err := checkShape(c, where); err != nil {
		return err
	}
	switch c.Op {
	case OpPutAgency:
		a := *c.Agency
		if err := checkAgency(a, where+".agency"); err != nil {
			return err
		}
		t.agencies[a.OrganID] = a
		t.changes = append(t.changes, Change{Op: c.Op, Agency: &a})
	case OpPutEdge:
		e, err := checkEdge(*c.Edge, t.topics, where+".edge")
		if err != nil {
			return err
		}
		t.edges[e.ID] = e
		norm := cloneEdge(e.Edge)
		t.changes = append(t.changes, Change{Op: c.Op, Edge: &norm})
	case OpPutBinding:
		b, err := compileBinding(*c.Binding, where+".binding")
		if err != nil {
			return err
		}
		t.bindings[b.OrganID] = b
		norm := cloneBinding(b.Binding)
		t.changes = append(t.changes, Change{Op: c.Op, Binding: &norm})
	case OpRemoveBinding:
		if !isOrganID(c.OrganID) {
			return fieldErr(where+".organ_id", "%s", organIDRule(c.OrganID))
		}
		if _, ok := t.binding(c.OrganID); !ok {
			return &Error{Field: where + ".organ_id", Msg: fmt.Sprintf("no binding for %s to remove", c.OrganID), Err: ErrNotFound}
		}
		t.bindings[c.OrganID] = nil
		t.changes = append(t.changes, Change{Op: c.Op, OrganID: c.OrganID})
	}
	return nil
}

// finish checks the references of every staged entry against the staged
// state: an agency's edge and parent exist and its parents do not loop,
// a binding's agency exists, no two edges share an inbox topic.
func (t *txn) finish() *Error {
	for _, id := range slices.Sorted(maps.Keys(t.agencies)) {
		a := t.agencies[id]
		where := t.where(func(c Change) bool { return c.Agency != nil && c.Agency.OrganID == id }, "agency")
		if _, ok := t.edge(a.Edge); !ok {
			return fieldErr(where+".edge", "unknown edge %q: put the edge first", a.Edge)
		}
		if a.Parent != "" {
			if _, ok := t.agency(a.Parent); !ok {
				return fieldErr(where+".parent", "unknown agency %q", a.Parent)
			}
			if reachesItself(id, t.agency, len(t.base.agencies)+len(t.agencies)) {
				return fieldErr(where+".parent", "parent %s makes a loop: it is below %s", a.Parent, id)
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(t.bindings)) {
		if t.bindings[id] == nil {
			continue
		}
		if _, ok := t.agency(id); !ok {
			where := t.where(func(c Change) bool { return c.Binding != nil && c.Binding.OrganID == id }, "binding")
			return fieldErr(where+".organ_id", "unknown agency %q: put the agency first", id)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(t.edges)) {
		e := t.edges[id]
		where := t.where(func(c Change) bool { return c.Edge != nil && c.Edge.ID == id }, "edge")
		for other, oe := range t.base.edges {
			if _, staged := t.edges[other]; !staged && other != id && oe.InboxTopic == e.InboxTopic {
				return fieldErr(where+".inbox_topic", "topic %q is already the inbox of edge %s", e.InboxTopic, other)
			}
		}
		for other, oe := range t.edges {
			if other != id && oe.InboxTopic == e.InboxTopic {
				return fieldErr(where+".inbox_topic", "topic %q is also given to edge %s", e.InboxTopic, other)
			}
		}
	}
	return nil
}

// where names the last staged change that matches, for an error.
func (t *txn) where(match func(Change) bool, member string) string {
	for i := len(t.changes) - 1; i >= 0; i-- {
		if match(t.changes[i]) {
			return fmt.Sprintf("changes[%d].%s", i, member)
		}
	}
	return member
}

// commit writes the staged entries into s. The caller holds the write
// lock of the directory that owns s.
func (t *txn) commit(s *state) {
	maps.Copy(s.agencies, t.agencies)
	maps.Copy(s.edges, t.edges)
	for id, b := range t.bindings {
		if b == nil {
			delete(s.bindings, id)
		} else {
			s.bindings[id] = b
		}
	}
}

// prepare stages and checks changes against the current state. The caller
// holds writeMu, so the state cannot change meanwhile.
func (d *Directory) prepare(changes []Change) (*txn, error) {
	if len(changes) == 0 {
		return nil, fieldErr("changes", "at least one change is required")
	}
	d.mu.RLock()
	base := d.st
	d.mu.RUnlock()
	t := newTxn(base, d.cfg.Topics)
	for i, c := range changes {
		if err := t.stage(c, fmt.Sprintf("changes[%d]", i)); err != nil {
			return nil, err
		}
	}
	if err := t.finish(); err != nil {
		return nil, err
	}
	return t, nil
}

// Check reports whether changes would apply, without applying them.
func (d *Directory) Check(changes ...Change) error {
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	_, err := d.prepare(changes)
	return err
}

// Apply applies changes together as the next version and returns it. The
// changes are checked against the current state first (each on its own,
// then every reference on the result), recorded in the change log when
// the directory has one, and only then made visible; on any error nothing
// changes. An empty inbox topic gets the default, and the recorded change
// names it. Errors are *Error naming the change and the field, or the
// change log's error.
func (d *Directory) Apply(ctx context.Context, changes ...Change) (int64, error) {
	return d.ApplyWith(ctx, nil, changes...)
}

// ApplyWith is Apply calling before, once the changes are known to apply
// and before they are recorded: the axis creates the inbox topic of a new
// edge there. If before fails, nothing changes and its error is returned.
// No other change can come in between: before runs with the directory's
// writer lock held, so keep it short, and it must not change the
// directory itself (that would deadlock).
func (d *Directory) ApplyWith(ctx context.Context, before func(ctx context.Context) error, changes ...Change) (int64, error) {
	return d.applyBuilt(ctx, before, func() []Change { return changes })
}

// applyBuilt is ApplyWith with the changes that build returns once the
// writer lock is held: what build reads from the directory cannot change
// before they apply.
func (d *Directory) applyBuilt(ctx context.Context, before func(ctx context.Context) error, build func() []Change) (int64, error) {
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	t, err := d.prepare(build())
	if err != nil {
		return 0, err
	}
	if before != nil {
		if err := before(ctx); err != nil {
			return 0, err
		}
	}
	version := d.Version() + 1
	if err := d.persist(ctx, version, record{Changes: t.changes}); err != nil {
		return 0, err
	}
	d.mu.Lock()
	t.commit(d.st)
	d.version = version
	d.remember(VersionedChange{Version: version, Changes: t.changes})
	d.mu.Unlock()
	d.log.Info("directory changed", "version", version, "changes", len(t.changes))
	return version, nil
}

// Replicate applies a version made elsewhere (by the axis) to this copy:
// vc.Version must be exactly Version()+1, or the error wraps ErrVersion.
// The changes are checked as Apply checks them.
func (d *Directory) Replicate(ctx context.Context, vc VersionedChange) error {
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	if cur := d.Version(); vc.Version != cur+1 {
		return fmt.Errorf("replicating version %d onto version %d: %w", vc.Version, cur, ErrVersion)
	}
	t, err := d.prepare(vc.Changes)
	if err != nil {
		return fmt.Errorf("replicating version %d: %w", vc.Version, err)
	}
	if err := d.persist(ctx, vc.Version, record{Changes: t.changes}); err != nil {
		return err
	}
	d.mu.Lock()
	t.commit(d.st)
	d.version = vc.Version
	d.remember(VersionedChange{Version: vc.Version, Changes: t.changes})
	d.mu.Unlock()
	return nil
}

// Reset replaces the whole directory by snap, at snap.Version, which must
// be above the current version (or the error wraps ErrVersion): an edge
// that is too far behind the axis resets to the axis's snapshot. The
// snapshot is checked as a directory file is; history before it is
// dropped.
func (d *Directory) Reset(ctx context.Context, snap Snapshot) error {
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	if cur := d.Version(); snap.Version <= cur {
		return fmt.Errorf("resetting to version %d from version %d: %w", snap.Version, cur, ErrVersion)
	}
	return d.reset(ctx, snap, "", true, nil)
}

// reset installs snap. The caller holds writeMu.
// When built is not nil it is snap already checked (a parsed File's), and
// a copy of it is installed.
func (d *Directory) reset(ctx context.Context, snap Snapshot, seedSHA256 string, persist bool, built *state) error {
	st := built.clone()
	if st == nil {
		var err error
		if st, err = buildState(snap, "snapshot", nil, d.cfg.Topics, nil); err != nil {
			return err
		}
	}
	if persist {
		norm := st.snapshot(snap.Version)
		if err := d.persist(ctx, snap.Version, record{Snapshot: &norm, SeedSHA256: seedSHA256}); err != nil {
			return err
		}
	}
	d.mu.Lock()
	d.st = st
	d.version, d.base, d.history = snap.Version, snap.Version, nil
	d.seed, d.seeded = [32]byte{}, seedSHA256 != ""
	if d.seeded {
		_, _ = hex.Decode(d.seed[:], []byte(seedSHA256)) // checked by the callers
	}
	d.mu.Unlock()
	d.log.Info("directory reset", "version", snap.Version, "agencies", len(st.agencies), "edges", len(st.edges))
	return nil
}

func (d *Directory) persist(ctx context.Context, version int64, r record) error {
	if d.clog == nil {
		return nil
	}
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("directory: encoding version %d: %w", version, err)
	}
	if err := d.clog.Append(ctx, version, data); err != nil {
		return fmt.Errorf("directory: recording version %d: %w", version, err)
	}
	return nil
}

// remember adds vc to the history. Once it holds a quarter more than
// Config.HistoryLimit versions, the oldest are dropped down to the limit,
// so that the copy is paid once per HistoryLimit/4 changes. The caller
// holds mu's write lock.
func (d *Directory) remember(vc VersionedChange) {
	d.history = append(d.history, vc)
	if len(d.history) > d.cfg.HistoryLimit+d.cfg.HistoryLimit/4 {
		over := len(d.history) - d.cfg.HistoryLimit
		d.base = d.history[over-1].Version
		d.history = slices.Delete(d.history, 0, over)
	}
}

// Since returns up to limit versions after version, oldest first, and
// true; or nil and false when the directory no longer holds every change
// after version (it is older than the history kept, or older than the last
// Reset) or version is ahead of this directory: the caller then needs a
// Snapshot. limit ≤ 0 means no limit.
func (d *Directory) Since(version int64, limit int) ([]VersionedChange, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if version < d.base || version > d.version {
		return nil, false
	}
	from := int(version - d.base) // history[i].Version == base+1+i
	to := len(d.history)
	if limit > 0 && to-from > limit {
		to = from + limit
	}
	return slices.Clone(d.history[from:to]), true
}

// SeedSHA256 returns the SHA-256 of the directory file that version 1 was
// read from, and false when the directory was not seeded from a file.
func (d *Directory) SeedSHA256() ([32]byte, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.seed, d.seeded
}

// OpenResult says what Open did.
type OpenResult struct {
	// Seeded is true when the change log was empty and the seed file
	// became version 1.
	Seeded bool
	// SeedIgnored is true when a seed file was given but the change log
	// already held the directory: the file is not read again, and if it
	// differs from the one first recorded (SeedChanged), its edits are
	// not in effect. Use the admin API.
	SeedIgnored bool
	// SeedChanged is true when the given seed file is not the one version
	// 1 was read from (or version 1 was not read from a file).
	SeedChanged bool
	// Records is the number of change log records replayed.
	Records int
}

// replayPage is how many records Open reads from the change log at once.
const replayPage = 256

// Open returns the directory held by clog, and makes clog its change log:
// every later change is appended to it.
//
// When clog is empty and seed is not nil, the seed becomes version 1 (one
// snapshot record, with the file's SHA-256); with no seed the directory
// starts empty at version 0. When clog is not empty it is the authority:
// every record is replayed and checked again, and the seed is ignored
// (OpenResult says whether it changed since it was recorded).
func Open(ctx context.Context, cfg Config, clog ChangeLog, seed *File) (*Directory, OpenResult, error) {
	var res OpenResult
	if clog == nil {
		return nil, res, errors.New("directory: open: no change log (use New or Load for a directory without one)")
	}
	d, err := New(cfg)
	if err != nil {
		return nil, res, err
	}
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	for after := int64(0); ; {
		recs, err := clog.Since(ctx, after, replayPage)
		if err != nil {
			return nil, res, fmt.Errorf("directory: reading the change log after version %d: %w", after, err)
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			if r.Version <= after {
				return nil, res, fmt.Errorf("directory: change log returned version %d after version %d", r.Version, after)
			}
			if err := d.replay(ctx, r.Version, r.Change); err != nil {
				return nil, res, fmt.Errorf("directory: replaying the change log: version %d: %w", r.Version, err)
			}
			after = r.Version
			res.Records++
		}
	}
	d.clog = clog
	switch {
	case res.Records == 0 && seed != nil:
		snap := seed.Snapshot
		snap.Version = 1
		if err := d.reset(ctx, snap, hex.EncodeToString(seed.SHA256[:]), true, seed.st); err != nil {
			return nil, res, fmt.Errorf("seeding from the directory file: %w", err)
		}
		res.Seeded = true
	case seed != nil:
		res.SeedIgnored = true
		res.SeedChanged = !d.seeded || d.seed != seed.SHA256
	}
	return d, res, nil
}

// replay applies one change log record during Open (not persisted again).
func (d *Directory) replay(ctx context.Context, version int64, data []byte) error {
	var r record
	if err := strictJSON(data, &r); err != nil {
		return &Error{Field: "record", Msg: err.Error()}
	}
	switch {
	case (r.Snapshot == nil) == (len(r.Changes) == 0):
		return fieldErr("record", "want either changes or a snapshot")
	case r.Snapshot != nil:
		if r.Snapshot.Version != version {
			return fieldErr("record.snapshot.version", "%d in a record at version %d", r.Snapshot.Version, version)
		}
		if r.SeedSHA256 != "" {
			if b, err := hex.DecodeString(r.SeedSHA256); err != nil || len(b) != sha256.Size {
				return fieldErr("record.seed_sha256", "want 64 hex digits")
			}
		}
		return d.reset(ctx, *r.Snapshot, r.SeedSHA256, false, nil)
	}
	if cur := d.Version(); version != cur+1 {
		return fmt.Errorf("changes at version %d after version %d: %w", version, cur, ErrVersion)
	}
	t, err := d.prepare(r.Changes)
	if err != nil {
		return err
	}
	d.mu.Lock()
	t.commit(d.st)
	d.version = version
	d.remember(VersionedChange{Version: version, Changes: t.changes})
	d.mu.Unlock()
	return nil
}

// buildState checks a whole directory and returns its state. where
// prefixes field names ("snapshot" or "" for a file); lineOf, when not
// nil, gives the line of a field for errors.
//
// The bindings are compiled by one signing.ParseBindings call over all of
// them (compileAll, unless shared is that result already), and every
// entry shares the result: a lookup by
// OrganId in it finds that entry, and a later put-binding gives the
// replaced entry its own. Only when that fails are the entries compiled
// one by one, to name the one at fault.
func buildState(snap Snapshot, where string, lineOf func(field string) int, topics bus.Topics, shared *signing.Bindings) (*state, error) {
	pre := where
	if pre != "" {
		pre += "."
	}
	fail := func(e *Error) error {
		if lineOf != nil {
			e.Line = lineOf(e.Field)
		}
		return e
	}
	if snap.Version < 0 {
		return nil, fail(fieldErr(pre+"version", "must not be negative, got %d", snap.Version))
	}
	st := newState()
	topicOf := map[string]string{}
	for i, e := range snap.Edges {
		f := fmt.Sprintf("%sedges[%d]", pre, i)
		ent, err := checkEdge(e, topics, f)
		if err != nil {
			return nil, fail(err)
		}
		if _, dup := st.edges[ent.ID]; dup {
			return nil, fail(fieldErr(f+".id", "edge %s is listed twice", ent.ID))
		}
		if other, dup := topicOf[ent.InboxTopic]; dup {
			return nil, fail(fieldErr(f+".inbox_topic", "topic %q is already the inbox of edge %s", ent.InboxTopic, other))
		}
		st.edges[ent.ID], topicOf[ent.InboxTopic] = ent, ent.ID
	}
	index := map[string]int{}
	for i, a := range snap.Agencies {
		f := fmt.Sprintf("%sagencies[%d]", pre, i)
		if err := checkAgency(a, f); err != nil {
			return nil, fail(err)
		}
		if _, dup := st.agencies[a.OrganID]; dup {
			return nil, fail(fieldErr(f+".organ_id", "%s is listed twice (also agencies[%d])", a.OrganID, index[a.OrganID]))
		}
		if _, ok := st.edges[a.Edge]; !ok {
			return nil, fail(fieldErr(f+".edge", "unknown edge %q", a.Edge))
		}
		st.agencies[a.OrganID], index[a.OrganID] = a, i
	}
	get := func(id string) (bus.Agency, bool) { a, ok := st.agencies[id]; return a, ok }
	for i, a := range snap.Agencies {
		if a.Parent == "" {
			continue
		}
		f := fmt.Sprintf("%sagencies[%d].parent", pre, i)
		if _, ok := st.agencies[a.Parent]; !ok {
			return nil, fail(fieldErr(f, "unknown agency %q", a.Parent))
		}
		if reachesItself(a.OrganID, get, len(st.agencies)) {
			return nil, fail(fieldErr(f, "parent %s makes a loop: it is below %s", a.Parent, a.OrganID))
		}
	}
	if shared == nil || shared.Len() != len(snap.Bindings) {
		shared = compileAll(snap.Bindings)
	}
	for i, b := range snap.Bindings {
		f := fmt.Sprintf("%sbindings[%d]", pre, i)
		ent := &bindingEntry{Binding: cloneBinding(b), compiled: shared}
		if shared == nil {
			var err *Error
			if ent, err = compileBinding(b, f); err != nil {
				return nil, fail(err)
			}
		}
		if _, dup := st.bindings[ent.OrganID]; dup {
			return nil, fail(fieldErr(f+".organ_id", "%s is bound twice: merge the two entries", ent.OrganID))
		}
		if _, ok := st.agencies[ent.OrganID]; !ok {
			return nil, fail(fieldErr(f+".organ_id", "unknown agency %q", ent.OrganID))
		}
		st.bindings[ent.OrganID] = ent
	}
	return st, nil
}
