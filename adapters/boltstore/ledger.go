package boltstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"truc.vn/truc/bus"
)

// Ledger buckets. Keys that belong to one letter or one package start with
// its root-document key or its SHA-256, so that the axis state can later be
// split by partition; the two time-ordered indexes (kept, due) are the
// exception and would be split by filtering on the SHA-256.
//
//	ledger.entries   SHA-256 → entryFormat byte || JSON of bus.Entry
//	ledger.bykey     root key || 0x00 || entry leaf (uint64 BE) → SHA-256
//	ledger.events    root key || 0x00 || leaf (uint64 BE) → SHA-256 of the entry (Append)
//	ledger.packages  SHA-256 → package bytes (accepted entries, until purged)
//	ledger.kept      At (Unix ns, uint64 BE) || SHA-256 → empty: packages by record time, for Purge
//	ledger.due       class (1 byte) || order (uint64 BE) || SHA-256 || edge ID → empty
//
// The due index holds every route that is not acked and whose package is
// kept: class 0 for pending routes, ordered by the entry's leaf (record
// order); class 1 for delivered routes, ordered by SentAt (Unix ns). Due
// reads it in key order, which is pending first, then oldest publish first.
var (
	bucketEntries  = []byte("ledger.entries")
	bucketByKey    = []byte("ledger.bykey")
	bucketEvents   = []byte("ledger.events")
	bucketPackages = []byte("ledger.packages")
	bucketKept     = []byte("ledger.kept")
	bucketDue      = []byte("ledger.due")
)

func init() {
	schemaBuckets = append(schemaBuckets, bucketEntries, bucketByKey, bucketEvents, bucketPackages, bucketKept, bucketDue)
}

// entryFormat is the first byte of a stored entry: the encoding of what
// follows (1: JSON of bus.Entry with its field tags).
const entryFormat = 1

const (
	duePending byte = 0
	dueSent    byte = 1
)

// purgeBatch is how many packages one Purge transaction deletes: with
// their time-index and due-index keys, about a thousand keys, so that the
// copy-on-write of one transaction stays small (see the package Caveats).
const purgeBatch = 400

// ErrInvalid: a ledger or directory-log call was given an argument that
// breaks its rule; the error names the field. Nothing was written.
var ErrInvalid = errors.New("boltstore: invalid argument")

// Ledger is the axis's bus.Ledger in a Store: entries (the dedup table),
// package bytes for the retention period, per-edge delivery state, and the
// transparency log, all in the store's file. Every write appends its log
// leaf with the ledger change in one transaction, batched with concurrent
// writers (Store.commit): a crash leaves both or neither. It passes
// bustest.TestLedger.
//
// Beyond bus.Ledger it checks what it is given, since a wrong leaf can
// never be taken out of the log: Record refuses an entry whose event is
// not about it (kind, SHA-256, message ID), an accepted entry without its
// package bytes or whose bytes do not hash to its SHA-256, and a rejected
// entry with bytes or routes; Delivered refuses an event that is not the
// delivery of that package to that edge and those recipients. Such errors
// wrap ErrInvalid (and, for an event that does not encode, its
// *bus.EvidenceError) and write nothing. Times must be within 1970–2262 (Unix nanoseconds).
type Ledger struct {
	s *Store
}

var _ bus.Ledger = (*Ledger)(nil)

// Ledger returns the store's axis ledger. The Ledger holds no state of its
// own: every call to Ledger returns a handle on the same data.
func (s *Store) Ledger() *Ledger { return &Ledger{s: s} }

// Log implements bus.Ledger: the store's transparency log.
func (l *Ledger) Log() bus.Log { return l.s.log }

func shortSHA(sha [32]byte) string { return hex.EncodeToString(sha[:8]) }

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
}

var (
	minTime = time.Unix(0, 0)
	maxTime = time.Unix(0, math.MaxInt64)
)

// checkTime requires t to fit a non-negative int64 of Unix nanoseconds,
// which the time-ordered keys are made of.
func checkTime(field string, t time.Time) error {
	if t.IsZero() {
		return invalid(field, "a time is required")
	}
	if t.Before(minTime) || t.After(maxTime) {
		return invalid(field, "must be between 1970 and 2262, got %s", t.UTC().Format(time.RFC3339))
	}
	return nil
}

// checkReason applies the rule of a reason code (bus.Event.Reason).
func checkReason(field, r string) error {
	ok := len(r) > 0 && len(r) <= bus.MaxReasonLen && 'a' <= r[0] && r[0] <= 'z'
	for i := 1; ok && i < len(r); i++ {
		c := r[i]
		ok = '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || c == '-'
	}
	if !ok {
		return invalid(field, "a reason code is 1–%d bytes of [a-z0-9-] starting with a letter, got %.64q", bus.MaxReasonLen, r)
	}
	return nil
}

// entryKind is the kind of the event recorded with an entry of e's type
// and outcome.
func entryKind(e *bus.Entry) bus.EventKind {
	switch {
	case !e.Accepted():
		return bus.EventSubmissionRejected
	case e.Type == bus.TypeStatus:
		return bus.EventStatus
	case e.Type == bus.TypeRejection:
		return bus.EventRejectionNotice
	}
	return bus.EventSubmissionAccepted
}

// checkEntryEvent checks that ev is the event of entry e: its kind, and
// the package and message it is about (for a rejection notice, the
// package the notice refuses: e.Subject).
func checkEntryEvent(e *bus.Entry, ev *bus.Event) error {
	if want := entryKind(e); ev.Kind != want {
		return invalid("event Kind", "an accepted=%t %s entry records a %s event, got %s", e.Accepted(), e.Type, want, ev.Kind)
	}
	if ev.Kind == bus.EventRejectionNotice {
		if got := hex.EncodeToString(ev.PackageSHA256[:]); got != e.Subject {
			return invalid("event PackageSHA256", "a rejection notice event is about the refused package (Subject %.64q), got %s", e.Subject, got)
		}
		return nil
	}
	if ev.PackageSHA256 != e.SHA256 {
		return invalid("event PackageSHA256", "must be the entry's SHA256 %x, got %x", e.SHA256, ev.PackageSHA256)
	}
	if ev.MessageID != e.MessageID {
		return invalid("event MessageID", "must be the entry's MessageID %.64q, got %.64q", e.MessageID, ev.MessageID)
	}
	if !e.Accepted() && ev.Reason != e.Rejected {
		return invalid("event Reason", "must be the entry's Rejected %q, got %q", e.Rejected, ev.Reason)
	}
	return nil
}

// prepareEntry checks e, pkg and ev for Record and returns the entry to
// store (routes reset to pending, times in UTC, slices copied) and the
// leaf bytes.
func prepareEntry(e bus.Entry, pkg []byte, ev bus.Event) (bus.Entry, []byte, error) {
	if e.SHA256 == ([32]byte{}) {
		return e, nil, invalid("SHA256", "the SHA-256 of the package is required")
	}
	if e.Key == "" {
		return e, nil, invalid("Key", "the root-document key is required")
	}
	if len(e.Key) > bus.MaxKeyLen {
		return e, nil, invalid("Key", "at most %d bytes, got %d", bus.MaxKeyLen, len(e.Key))
	}
	switch e.Type {
	case bus.TypeDocument, bus.TypeStatus, bus.TypeRejection:
	default:
		return e, nil, invalid("Type", "must be %s, %s or %s, got %.32q", bus.TypeDocument, bus.TypeStatus, bus.TypeRejection, e.Type)
	}
	if e.MessageID == "" {
		return e, nil, invalid("MessageID", "the message ID is required")
	}
	if err := checkTime("At", e.At); err != nil {
		return e, nil, err
	}
	if e.Size < 0 {
		return e, nil, invalid("Size", "must not be negative, got %d", e.Size)
	}
	if e.Accepted() {
		if len(pkg) == 0 {
			return e, nil, invalid("package", "an accepted entry keeps its package bytes; got none")
		}
		if e.Size != len(pkg) {
			return e, nil, invalid("Size", "must be the package's %d bytes, got %d", len(pkg), e.Size)
		}
		if sha256.Sum256(pkg) != e.SHA256 {
			return e, nil, invalid("SHA256", "the package bytes hash to %x, not %x", sha256.Sum256(pkg), e.SHA256)
		}
	} else {
		if err := checkReason("Rejected", e.Rejected); err != nil {
			return e, nil, err
		}
		if pkg != nil {
			return e, nil, invalid("package", "a rejected entry keeps no package bytes; got %d", len(pkg))
		}
		if len(e.Routes) > 0 {
			return e, nil, invalid("Routes", "a rejected entry has no routes; got %d", len(e.Routes))
		}
	}
	routes := make([]bus.Route, len(e.Routes))
	for i, r := range e.Routes {
		field := fmt.Sprintf("Routes[%d]", i)
		if err := bus.ValidateEdgeID(r.Edge); err != nil {
			return e, nil, fmt.Errorf("%w: %s.Edge: %w", ErrInvalid, field, err)
		}
		if j := slices.IndexFunc(e.Routes[:i], func(o bus.Route) bool { return o.Edge == r.Edge }); j >= 0 {
			return e, nil, invalid(field+".Edge", "edge %s already has route %d", r.Edge, j)
		}
		if len(r.Recipients) == 0 {
			return e, nil, invalid(field+".Recipients", "at least one recipient OrganId is required")
		}
		for k, org := range r.Recipients {
			if err := bus.ValidateOrganID(org); err != nil {
				return e, nil, fmt.Errorf("%w: %s.Recipients[%d]: %w", ErrInvalid, field, k, err)
			}
			if slices.Contains(r.Recipients[:k], org) {
				return e, nil, invalid(fmt.Sprintf("%s.Recipients[%d]", field, k), "%s is listed twice", org)
			}
		}
		routes[i] = bus.Route{Edge: r.Edge, Recipients: slices.Clone(r.Recipients), State: bus.RoutePending, Leaf: -1}
	}
	leaf, err := ev.Encode()
	if err != nil {
		return e, nil, fmt.Errorf("%w: event: %w", ErrInvalid, err)
	}
	if err := checkEntryEvent(&e, &ev); err != nil {
		return e, nil, err
	}
	e.At = e.At.UTC()
	e.Recipients = slices.Clone(e.Recipients)
	if len(routes) == 0 {
		routes = nil
	}
	e.Routes = routes
	return e, leaf, nil
}

func encodeEntry(e *bus.Entry) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encoding ledger entry %s: %w", shortSHA(e.SHA256), err)
	}
	return append([]byte{entryFormat}, b...), nil
}

func decodeEntry(sha []byte, v []byte) (bus.Entry, error) {
	var e bus.Entry
	if len(v) == 0 || v[0] != entryFormat {
		return e, fmt.Errorf("%w: ledger entry %x has an unknown format", ErrCorrupt, sha[:8])
	}
	if err := json.Unmarshal(v[1:], &e); err != nil {
		return e, fmt.Errorf("%w: ledger entry %x: %w", ErrCorrupt, sha[:8], err)
	}
	if !bytes.Equal(e.SHA256[:], sha) {
		return e, fmt.Errorf("%w: ledger entry stored under %x is for %x", ErrCorrupt, sha[:8], e.SHA256[:8])
	}
	return e, nil
}

// getEntryTx reads the entry of sha, or an error wrapping bus.ErrNotFound.
func getEntryTx(tx *bolt.Tx, sha [32]byte) (bus.Entry, error) {
	v := tx.Bucket(bucketEntries).Get(sha[:])
	if v == nil {
		return bus.Entry{}, fmt.Errorf("ledger entry %s: %w", shortSHA(sha), bus.ErrNotFound)
	}
	return decodeEntry(sha[:], v)
}

func putEntryTx(tx *bolt.Tx, e *bus.Entry) error {
	v, err := encodeEntry(e)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketEntries).Put(e.SHA256[:], v)
}

// keyIndex returns root key || 0x00 || leaf: a key of the by-key and
// events indexes.
func keyIndex(key string, leaf int64) []byte {
	k := make([]byte, 0, len(key)+9)
	k = append(k, key...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, uint64(leaf))
}

// scanKeyIndex calls fn for each leaf and value under root key in bucket
// b, in leaf order. A key that only starts with key (another root key
// that extends it) has another length and is skipped.
func scanKeyIndex(b *bolt.Bucket, key string, fn func(leaf int64, v []byte) error) error {
	prefix := append([]byte(key), 0)
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(k) != len(prefix)+8 {
			continue
		}
		if err := fn(int64(binary.BigEndian.Uint64(k[len(prefix):])), v); err != nil {
			return err
		}
	}
	return nil
}

func keptKey(at time.Time, sha [32]byte) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 8+32), uint64(at.UnixNano()))
	return append(k, sha[:]...)
}

// dueKey is the due-index key of route r of entry e, nil for an acked
// route (not in the index).
func dueKey(e *bus.Entry, r *bus.Route) []byte {
	var class byte
	var order int64
	switch r.State {
	case bus.RoutePending:
		class, order = duePending, e.Leaf
	case bus.RouteDelivered:
		class, order = dueSent, r.SentAt.UnixNano()
	default:
		return nil
	}
	k := make([]byte, 0, 1+8+32+len(r.Edge))
	k = append(k, class)
	k = binary.BigEndian.AppendUint64(k, uint64(order))
	k = append(k, e.SHA256[:]...)
	return append(k, r.Edge...)
}

const dueKeyFixed = 1 + 8 + 32 // bytes before the edge ID in a due key

func routeIndex(e *bus.Entry, edge string) (int, error) {
	i := slices.IndexFunc(e.Routes, func(r bus.Route) bool { return r.Edge == edge })
	if i < 0 {
		return -1, fmt.Errorf("route of ledger entry %s to edge %s: %w", shortSHA(e.SHA256), edge, bus.ErrNotFound)
	}
	return i, nil
}

// Get implements bus.Ledger.
func (l *Ledger) Get(ctx context.Context, sha [32]byte) (bus.Entry, error) {
	var e bus.Entry
	err := l.s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		e, err = getEntryTx(tx, sha)
		return err
	})
	return e, err
}

// Record implements bus.Ledger. See Ledger for what it refuses. A
// duplicate is answered from a read transaction, without a commit.
func (l *Ledger) Record(ctx context.Context, e bus.Entry, pkg []byte, ev bus.Event) (bus.Entry, bool, error) {
	e, leaf, err := prepareEntry(e, pkg, ev)
	if err != nil {
		return bus.Entry{}, false, fmt.Errorf("recording ledger entry %s: %w", shortSHA(e.SHA256), err)
	}
	if stored, err := l.Get(ctx, e.SHA256); err == nil {
		return stored, false, nil
	} else if !errors.Is(err, bus.ErrNotFound) {
		return bus.Entry{}, false, fmt.Errorf("recording ledger entry %s: %w", shortSHA(e.SHA256), err)
	}
	var (
		stored  bus.Entry
		created bool
	)
	err = l.s.commit(ctx, func(tx *bolt.Tx) error {
		stored, created = bus.Entry{}, false
		if v := tx.Bucket(bucketEntries).Get(e.SHA256[:]); v != nil {
			var err error
			stored, err = decodeEntry(e.SHA256[:], v)
			return err
		}
		first, err := appendLeavesTx(tx, [][]byte{leaf})
		if err != nil {
			return err
		}
		ent := e
		ent.Leaf = first
		if err := putEntryTx(tx, &ent); err != nil {
			return err
		}
		if err := tx.Bucket(bucketByKey).Put(keyIndex(ent.Key, first), ent.SHA256[:]); err != nil {
			return err
		}
		if ent.Accepted() {
			if err := tx.Bucket(bucketPackages).Put(ent.SHA256[:], pkg); err != nil {
				return fmt.Errorf("storing the package (%d bytes): %w", len(pkg), err)
			}
			if err := tx.Bucket(bucketKept).Put(keptKey(ent.At, ent.SHA256), nil); err != nil {
				return err
			}
			due := tx.Bucket(bucketDue)
			for i := range ent.Routes {
				if err := due.Put(dueKey(&ent, &ent.Routes[i]), nil); err != nil {
					return err
				}
			}
		}
		stored, created = ent, true
		return nil
	})
	if err != nil {
		return bus.Entry{}, false, fmt.Errorf("recording ledger entry %s: %w", shortSHA(e.SHA256), err)
	}
	return stored, created, nil
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	return len(a) == len(b) && slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

// Delivered implements bus.Ledger. ev must be the EventDelivered of sha
// to edge; when it is appended (the route was pending) its Recipients must
// be the route's.
func (l *Ledger) Delivered(ctx context.Context, sha [32]byte, edge string, ev bus.Event, at time.Time) (bus.Entry, error) {
	fail := func(err error) (bus.Entry, error) {
		return bus.Entry{}, fmt.Errorf("recording the delivery of %s to edge %s: %w", shortSHA(sha), edge, err)
	}
	if err := bus.ValidateEdgeID(edge); err != nil {
		return fail(fmt.Errorf("%w: edge: %w", ErrInvalid, err))
	}
	if err := checkTime("at", at); err != nil {
		return fail(err)
	}
	leaf, err := ev.Encode()
	if err != nil {
		return fail(fmt.Errorf("%w: event: %w", ErrInvalid, err))
	}
	switch {
	case ev.Kind != bus.EventDelivered:
		return fail(invalid("event Kind", "must be %s, got %s", bus.EventDelivered, ev.Kind))
	case ev.Edge != edge:
		return fail(invalid("event Edge", "must be the route's edge %s, got %s", edge, ev.Edge))
	case ev.PackageSHA256 != sha:
		return fail(invalid("event PackageSHA256", "must be %x, got %x", sha, ev.PackageSHA256))
	}
	var out bus.Entry
	err = l.s.commit(ctx, func(tx *bolt.Tx) error {
		e, err := getEntryTx(tx, sha)
		if err != nil {
			return err
		}
		i, err := routeIndex(&e, edge)
		if err != nil {
			return err
		}
		r := &e.Routes[i]
		old := dueKey(&e, r)
		if r.State == bus.RoutePending {
			if !sameSet(ev.Recipients, r.Recipients) {
				return invalid("event Recipients", "must be the route's recipients %q, got %q", r.Recipients, ev.Recipients)
			}
			first, err := appendLeavesTx(tx, [][]byte{leaf})
			if err != nil {
				return err
			}
			r.Leaf, r.State = first, bus.RouteDelivered
		}
		r.Attempts++
		r.SentAt = at.UTC()
		due := tx.Bucket(bucketDue)
		if old != nil {
			if err := due.Delete(old); err != nil {
				return err
			}
		}
		if k := dueKey(&e, r); k != nil && tx.Bucket(bucketPackages).Get(sha[:]) != nil {
			if err := due.Put(k, nil); err != nil {
				return err
			}
		}
		if err := putEntryTx(tx, &e); err != nil {
			return err
		}
		out = e
		return nil
	})
	if err != nil {
		return fail(err)
	}
	return out, nil
}

// Acked implements bus.Ledger. rejected, when set, must be a reason code
// (bus.Event.Reason rules). An ack of a route already acked is answered
// from a read transaction, without a commit.
func (l *Ledger) Acked(ctx context.Context, sha [32]byte, edge string, rejected string, at time.Time) (bus.Entry, error) {
	fail := func(err error) (bus.Entry, error) {
		return bus.Entry{}, fmt.Errorf("recording the ack of %s by edge %s: %w", shortSHA(sha), edge, err)
	}
	if err := bus.ValidateEdgeID(edge); err != nil {
		return fail(fmt.Errorf("%w: edge: %w", ErrInvalid, err))
	}
	if rejected != "" {
		if err := checkReason("rejected", rejected); err != nil {
			return fail(err)
		}
	}
	if err := checkTime("at", at); err != nil {
		return fail(err)
	}
	e, err := l.Get(ctx, sha)
	if err != nil {
		return fail(err)
	}
	i, err := routeIndex(&e, edge)
	if err != nil {
		return fail(err)
	}
	if e.Routes[i].State == bus.RouteAcked {
		return e, nil
	}
	err = l.s.commit(ctx, func(tx *bolt.Tx) error {
		var err error
		if e, err = getEntryTx(tx, sha); err != nil {
			return err
		}
		if i, err = routeIndex(&e, edge); err != nil {
			return err
		}
		r := &e.Routes[i]
		if r.State == bus.RouteAcked {
			return nil
		}
		if k := dueKey(&e, r); k != nil {
			if err := tx.Bucket(bucketDue).Delete(k); err != nil {
				return err
			}
		}
		r.State, r.AckedAt, r.Rejected = bus.RouteAcked, at.UTC(), rejected
		return putEntryTx(tx, &e)
	})
	if err != nil {
		return fail(err)
	}
	return e, nil
}

// Append implements bus.Ledger. The leaf is indexed under the entry's root
// key, so that Timeline lists it.
func (l *Ledger) Append(ctx context.Context, sha [32]byte, ev bus.Event) (int64, error) {
	leaf, err := ev.Encode()
	if err != nil {
		return 0, fmt.Errorf("appending an event to ledger entry %s: %w: event: %w", shortSHA(sha), ErrInvalid, err)
	}
	var idx int64
	err = l.s.commit(ctx, func(tx *bolt.Tx) error {
		e, err := getEntryTx(tx, sha)
		if err != nil {
			return err
		}
		if idx, err = appendLeavesTx(tx, [][]byte{leaf}); err != nil {
			return err
		}
		return tx.Bucket(bucketEvents).Put(keyIndex(e.Key, idx), sha[:])
	})
	if err != nil {
		return 0, fmt.Errorf("appending an event to ledger entry %s: %w", shortSHA(sha), err)
	}
	return idx, nil
}

// Due implements bus.Ledger: pending routes first, in record order, then
// delivered routes by SentAt. limit must be at least 1.
func (l *Ledger) Due(ctx context.Context, sentBefore time.Time, limit int) ([]bus.Redelivery, error) {
	if limit < 1 {
		return nil, fmt.Errorf("listing due routes: %w: limit: must be at least 1, got %d", ErrInvalid, limit)
	}
	var out []bus.Redelivery
	err := l.s.view(ctx, func(tx *bolt.Tx) error {
		out = nil
		pkgs, entries := tx.Bucket(bucketPackages), tx.Bucket(bucketEntries)
		c := tx.Bucket(bucketDue).Cursor()
		for k, _ := c.First(); k != nil && len(out) < limit; k, _ = c.Next() {
			if len(k) <= dueKeyFixed || k[0] > dueSent {
				return fmt.Errorf("%w: due-index key %x", ErrCorrupt, k)
			}
			if k[0] == dueSent {
				sent := time.Unix(0, int64(binary.BigEndian.Uint64(k[1:9])))
				if !sent.Before(sentBefore) {
					break
				}
			}
			var sha [32]byte
			copy(sha[:], k[9:dueKeyFixed])
			edge := string(k[dueKeyFixed:])
			if pkgs.Get(sha[:]) == nil {
				continue
			}
			v := entries.Get(sha[:])
			if v == nil {
				return fmt.Errorf("%w: the due index has route %s→%s of no entry", ErrCorrupt, shortSHA(sha), edge)
			}
			e, err := decodeEntry(sha[:], v)
			if err != nil {
				return err
			}
			i, err := routeIndex(&e, edge)
			if err != nil || !bytes.Equal(dueKey(&e, &e.Routes[i]), k) {
				return fmt.Errorf("%w: the due index has route %s→%s, which the entry does not have in that state", ErrCorrupt, shortSHA(sha), edge)
			}
			out = append(out, bus.Redelivery{SHA256: sha, Key: e.Key, Edge: edge, Entry: e})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing due routes: %w", err)
	}
	return out, nil
}

// ByKey implements bus.Ledger. A key with no entry gives an empty list
// and no error.
func (l *Ledger) ByKey(ctx context.Context, key string) ([]bus.Entry, error) {
	var out []bus.Entry
	err := l.s.view(ctx, func(tx *bolt.Tx) error {
		out = nil
		entries := tx.Bucket(bucketEntries)
		return scanKeyIndex(tx.Bucket(bucketByKey), key, func(leaf int64, sha []byte) error {
			v := entries.Get(sha)
			if v == nil {
				return fmt.Errorf("%w: the key index has entry %x (leaf %d) that does not exist", ErrCorrupt, sha, leaf)
			}
			e, err := decodeEntry(sha, v)
			if err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("listing ledger entries of key %.64q: %w", key, err)
	}
	return out, nil
}

// Timeline returns the log index of every event recorded about the letter
// with root-document key key, in log order: each entry's own event (see
// ByKey), each first delivery of a route, and each event added with
// Append. Log().Leaf reads them and bus.DecodeEvent decodes them. A key
// with no entry gives an empty list.
func (l *Ledger) Timeline(ctx context.Context, key string) ([]int64, error) {
	var out []int64
	err := l.s.view(ctx, func(tx *bolt.Tx) error {
		out = nil
		entries := tx.Bucket(bucketEntries)
		err := scanKeyIndex(tx.Bucket(bucketByKey), key, func(leaf int64, sha []byte) error {
			e, err := decodeEntry(sha, entries.Get(sha))
			if err != nil {
				return err
			}
			out = append(out, e.Leaf)
			for _, r := range e.Routes {
				if r.Leaf >= 0 {
					out = append(out, r.Leaf)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		return scanKeyIndex(tx.Bucket(bucketEvents), key, func(leaf int64, _ []byte) error {
			out = append(out, leaf)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("timeline of key %.64q: %w", key, err)
	}
	slices.Sort(out)
	return out, nil
}

// Package implements bus.Ledger. The bytes are a copy.
func (l *Ledger) Package(ctx context.Context, sha [32]byte) ([]byte, error) {
	var pkg []byte
	err := l.s.view(ctx, func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketPackages).Get(sha[:])
		if v == nil {
			return fmt.Errorf("package %s: %w", shortSHA(sha), bus.ErrNotFound)
		}
		pkg = bytes.Clone(v)
		return nil
	})
	return pkg, err
}

// Purge implements bus.Ledger: it deletes, oldest first, the bytes of
// packages whose entry's At is before before, about purgeBatch per
// transaction, and takes their routes out of the due index. It stops
// between transactions when ctx is done, returning the count so far and
// ctx's error.
func (l *Ledger) Purge(ctx context.Context, before time.Time) (int, error) {
	if !before.After(minTime) {
		return 0, nil
	}
	limit := u64(math.MaxInt64)
	if before.Before(maxTime) {
		limit = u64(before.UnixNano())
	}
	total := 0
	for {
		var n int
		var more bool
		err := l.s.commit(ctx, func(tx *bolt.Tx) error {
			n, more = 0, false
			kept, pkgs, due := tx.Bucket(bucketKept), tx.Bucket(bucketPackages), tx.Bucket(bucketDue)
			var keys [][]byte
			c := kept.Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				if len(k) != 8+32 {
					return fmt.Errorf("%w: package time-index key %x", ErrCorrupt, k)
				}
				if bytes.Compare(k[:8], limit) >= 0 {
					break
				}
				if len(keys) == purgeBatch {
					more = true
					break
				}
				keys = append(keys, bytes.Clone(k))
			}
			for _, k := range keys {
				var sha [32]byte
				copy(sha[:], k[8:])
				e, err := getEntryTx(tx, sha)
				if err != nil {
					return fmt.Errorf("%w: kept package %s: %w", ErrCorrupt, shortSHA(sha), err)
				}
				for i := range e.Routes {
					if dk := dueKey(&e, &e.Routes[i]); dk != nil {
						if err := due.Delete(dk); err != nil {
							return err
						}
					}
				}
				if err := pkgs.Delete(sha[:]); err != nil {
					return err
				}
				if err := kept.Delete(k); err != nil {
					return err
				}
			}
			n = len(keys)
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("purging packages recorded before %s (%d purged so far): %w", before.UTC().Format(time.RFC3339), total, err)
		}
		total += n
		if !more {
			break
		}
	}
	if total > 0 {
		l.s.cfg.Logger.Info("ledger: purged package bytes past retention", "count", total, "before", before.UTC())
	}
	return total, nil
}

// Check verifies the ledger against the transparency log and against its
// own indexes, for a store where only the ledger appends to the log (the
// axis): every leaf an entry, a delivered route or an appended event
// refers to exists, decodes (bus.DecodeEvent) as an event about that
// entry, and is referred to once; every leaf of the log is referred to;
// every entry is in the key index and every kept package in the time
// index; the due index holds exactly the routes that are not acked and
// whose package is kept. It returns an error wrapping ErrCorrupt naming
// the first breach. It reads everything in one read transaction (which
// pins the pages it read, see the package Caveats) and decodes every leaf:
// run it at a quiet time. Log.Check verifies the tree itself.
func (l *Ledger) Check(ctx context.Context) error {
	err := l.s.view(ctx, func(tx *bolt.Tx) error {
		size, err := readSize(tx)
		if err != nil {
			return err
		}
		leaves := tx.Bucket(bucketLeaves)
		owner := make([]bool, size)
		// claim marks leaf idx as referred to by what and returns its event.
		claim := func(idx int64, what string) (bus.Event, error) {
			if idx < 0 || idx >= size {
				return bus.Event{}, fmt.Errorf("%w: %s refers to leaf %d of a log of %d", ErrCorrupt, what, idx, size)
			}
			if owner[idx] {
				return bus.Event{}, fmt.Errorf("%w: %s refers to leaf %d, which something else refers to", ErrCorrupt, what, idx)
			}
			owner[idx] = true
			ev, err := bus.DecodeEvent(leaves.Get(u64(idx)))
			if err != nil {
				return bus.Event{}, fmt.Errorf("%w: leaf %d of %s: %w", ErrCorrupt, idx, what, err)
			}
			return ev, nil
		}
		byKey, pkgs, kept, due := tx.Bucket(bucketByKey), tx.Bucket(bucketPackages), tx.Bucket(bucketKept), tx.Bucket(bucketDue)
		var nEntries, nKept, nDue int
		err = tx.Bucket(bucketEntries).ForEach(func(k, v []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			e, err := decodeEntry(k, v)
			if err != nil {
				return err
			}
			what := "entry " + shortSHA(e.SHA256)
			nEntries++
			ev, err := claim(e.Leaf, what)
			if err != nil {
				return err
			}
			if err := checkEntryEvent(&e, &ev); err != nil {
				return fmt.Errorf("%w: %s: its leaf %d: %w", ErrCorrupt, what, e.Leaf, err)
			}
			if !bytes.Equal(byKey.Get(keyIndex(e.Key, e.Leaf)), e.SHA256[:]) {
				return fmt.Errorf("%w: %s is not in the key index", ErrCorrupt, what)
			}
			isKept := pkgs.Get(k) != nil
			if isKept {
				nKept++
				if kept.Get(keptKey(e.At, e.SHA256)) == nil {
					return fmt.Errorf("%w: the package of %s is not in the time index", ErrCorrupt, what)
				}
			}
			for i := range e.Routes {
				r := &e.Routes[i]
				rwhat := fmt.Sprintf("%s route to %s", what, r.Edge)
				switch {
				case r.State != bus.RoutePending && r.State != bus.RouteDelivered && r.State != bus.RouteAcked:
					return fmt.Errorf("%w: %s has state %q", ErrCorrupt, rwhat, r.State)
				case r.Leaf == -1 && r.State == bus.RouteDelivered, r.Leaf != -1 && r.State == bus.RoutePending, r.Leaf < -1:
					return fmt.Errorf("%w: %s is %s with leaf %d", ErrCorrupt, rwhat, r.State, r.Leaf)
				case r.Leaf >= 0:
					ev, err := claim(r.Leaf, rwhat)
					if err != nil {
						return err
					}
					if ev.Kind != bus.EventDelivered || ev.Edge != r.Edge || ev.PackageSHA256 != e.SHA256 {
						return fmt.Errorf("%w: %s: leaf %d is a %s event to %q about %x", ErrCorrupt, rwhat, r.Leaf, ev.Kind, ev.Edge, ev.PackageSHA256[:8])
					}
				}
				if dk := dueKey(&e, r); dk != nil && isKept {
					nDue++
					if due.Get(dk) == nil {
						return fmt.Errorf("%w: %s is %s but not in the due index", ErrCorrupt, rwhat, r.State)
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Bucket(bucketEvents).ForEach(func(k, v []byte) error {
			if len(k) < 9 || len(v) != 32 {
				return fmt.Errorf("%w: events-index key %x", ErrCorrupt, k)
			}
			var sha [32]byte
			copy(sha[:], v)
			idx := int64(binary.BigEndian.Uint64(k[len(k)-8:]))
			e, err := getEntryTx(tx, sha)
			if err != nil {
				return fmt.Errorf("%w: the events index has leaf %d of entry %s: %w", ErrCorrupt, idx, shortSHA(sha), err)
			}
			if !bytes.Equal(keyIndex(e.Key, idx), k) {
				return fmt.Errorf("%w: the events index has leaf %d under another key than entry %s's", ErrCorrupt, idx, shortSHA(sha))
			}
			_, err = claim(idx, "an event appended to entry "+shortSHA(sha))
			return err
		})
		if err != nil {
			return err
		}
		if i := slices.Index(owner, false); i >= 0 {
			return fmt.Errorf("%w: log leaf %d belongs to no ledger entry, delivery or appended event", ErrCorrupt, i)
		}
		counts := []struct {
			name   string
			b      *bolt.Bucket
			wanted int
		}{{"key index", byKey, nEntries}, {"package time index", kept, nKept}, {"package store", pkgs, nKept}, {"due index", due, nDue}}
		for _, c := range counts {
			if n := c.b.Stats().KeyN; n != c.wanted {
				return fmt.Errorf("%w: the %s has %d keys; the entries account for %d", ErrCorrupt, c.name, n, c.wanted)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("checking the ledger: %w", err)
	}
	return nil
}
