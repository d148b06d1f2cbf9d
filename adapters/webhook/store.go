package webhook

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"truc.vn/truc/bus"
)

// SchemaVersion is the version of the bucket layout this release writes
// and reads. Open refuses a file with another version.
const SchemaVersion = 1

// formatMarker identifies a webhook state file, so that Open refuses
// another program's bbolt file (or the edge's own edge.db).
const formatMarker = "truc.vn/webhook"

// Errors of Open and of the state file, for errors.Is. Lookups that find
// nothing wrap bus.ErrNotFound; a Retry that contradicts the state wraps
// bus.ErrConflict.
var (
	// ErrInUse: another process holds the file; Open gave up after
	// Config.LockTimeout.
	ErrInUse = errors.New("webhook: state file is in use")
	// ErrNotState: the file is a bbolt database of another program.
	ErrNotState = errors.New("webhook: not a webhook state file")
	// ErrSchema: the file was written with another schema version.
	ErrSchema = errors.New("webhook: unsupported schema version")
	// ErrCorrupt: a stored record does not decode or breaks an index.
	ErrCorrupt = errors.New("webhook: stored state is inconsistent")
)

// File layout (schema 1). Integers are 8-byte big-endian so that keys
// sort as numbers.
//
//	meta                 "format" → formatMarker; "schema" → uint32 BE;
//	                     "seq" → uint64: the last delivery Seq given out
//	subs/<name>          one bucket per subscription ever configured:
//	  "cursor"           → uint64: the last inbox Seq looked at (enqueued or skipped)
//	  d/                 delivery seq → Delivery (JSON)
//	  ids/               item ID → delivery seq
//	  open/              uint16 len(key) | key | seq → "": deliveries not yet
//	                     delivered, grouped by document; the first of a group is its head
//	                     (delivery seqs follow the inbox order within a subscription)
//	  state/             state letter | seq → "": deliveries by state
//	  done/              delivered-at Unix nanoseconds | seq → "": purge order
var (
	bucketMeta  = []byte("meta")
	bucketSubs  = []byte("subs")
	keyFormat   = []byte("format")
	keySchema   = []byte("schema")
	keyLastSeq  = []byte("seq")
	keyCursor   = []byte("cursor")
	bucketD     = []byte("d")
	bucketIDs   = []byte("ids")
	bucketOpen  = []byte("open")
	bucketState = []byte("state")
	bucketDone  = []byte("done")
)

// store is the bbolt state file. Writes are durable (fsynced) on return.
type store struct {
	db *bolt.DB
}

func openStore(path string, lockTimeout time.Duration) (*store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("opening %s: %w: another process holds its lock (waited %s)", path, ErrInUse, lockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("webhook: opening %s: %w", path, err)
	}
	// Check in a read transaction first so that a refused file is never
	// written to.
	err = db.View(initSchema)
	if errors.Is(err, errNeedsInit) {
		err = db.Update(initSchema)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("webhook: opening %s: %w", path, err)
	}
	return &store{db: db}, nil
}

var errNeedsInit = errors.New("the file needs initialising")

func initSchema(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		if k, _ := tx.Cursor().First(); k != nil {
			return fmt.Errorf("%w: it has buckets but no %q", ErrNotState, bucketMeta)
		}
		if !tx.Writable() {
			return errNeedsInit
		}
		m, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if err := m.Put(keyFormat, []byte(formatMarker)); err != nil {
			return err
		}
		if err := m.Put(keySchema, binary.BigEndian.AppendUint32(nil, SchemaVersion)); err != nil {
			return err
		}
		if err := m.Put(keyLastSeq, u64(0)); err != nil {
			return err
		}
		_, err = tx.CreateBucket(bucketSubs)
		return err
	}
	if f := meta.Get(keyFormat); string(f) != formatMarker {
		return fmt.Errorf("%w: format %q", ErrNotState, clip(string(f)))
	}
	v := meta.Get(keySchema)
	if len(v) != 4 || binary.BigEndian.Uint32(v) != SchemaVersion {
		return fmt.Errorf("%w: the file has %x, this release reads %d", ErrSchema, v, SchemaVersion)
	}
	if tx.Bucket(bucketSubs) == nil {
		return fmt.Errorf("%w: no %q bucket", ErrCorrupt, bucketSubs)
	}
	_, err := lastSeq(meta)
	return err
}

// lastSeq reads the last delivery Seq given out.
func lastSeq(meta *bolt.Bucket) (uint64, error) {
	v := meta.Get(keyLastSeq)
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: meta %q is %x", ErrCorrupt, keyLastSeq, v)
	}
	return binary.BigEndian.Uint64(v), nil
}

func (s *store) close() error { return s.db.Close() }

// subTx is one subscription's buckets in a transaction.
type subTx struct {
	root, d, ids, open, state, done *bolt.Bucket
}

// sub returns the buckets of subscription name, creating them in a
// writable transaction. In a read-only one a missing subscription is
// bus.ErrNotFound.
func sub(tx *bolt.Tx, name string) (subTx, error) {
	subs := tx.Bucket(bucketSubs)
	root := subs.Bucket([]byte(name))
	if root == nil {
		if !tx.Writable() {
			return subTx{}, fmt.Errorf("subscription %q has no state: %w", name, bus.ErrNotFound)
		}
		var err error
		if root, err = subs.CreateBucket([]byte(name)); err != nil {
			return subTx{}, err
		}
		if err := root.Put(keyCursor, u64(0)); err != nil {
			return subTx{}, err
		}
		for _, b := range [][]byte{bucketD, bucketIDs, bucketOpen, bucketState, bucketDone} {
			if _, err := root.CreateBucket(b); err != nil {
				return subTx{}, err
			}
		}
	}
	st := subTx{root: root, d: root.Bucket(bucketD), ids: root.Bucket(bucketIDs), open: root.Bucket(bucketOpen), state: root.Bucket(bucketState), done: root.Bucket(bucketDone)}
	if st.d == nil || st.ids == nil || st.open == nil || st.state == nil || st.done == nil || len(root.Get(keyCursor)) != 8 {
		return subTx{}, fmt.Errorf("%w: subscription %q lacks a bucket or its cursor", ErrCorrupt, name)
	}
	return st, nil
}

func u64(n uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), n) }

func stateLetter(s State) byte {
	switch s {
	case StatePending:
		return 'p'
	case StateFailed:
		return 'f'
	default:
		return 'd'
	}
}

func stateKey(s State, seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{stateLetter(s)}, seq)
}

// openPrefix is the open-index prefix of document key.
func openPrefix(key string) []byte {
	b := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(key)+8), uint16(len(key)))
	return append(b, key...)
}

func openKey(key string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(openPrefix(key), seq)
}

func doneKey(at time.Time, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(u64(uint64(at.UnixNano())), seq)
}

func (b subTx) cursor() uint64 { return binary.BigEndian.Uint64(b.root.Get(keyCursor)) }

func (b subTx) get(seq uint64) (Delivery, error) {
	v := b.d.Get(u64(seq))
	if v == nil {
		return Delivery{}, fmt.Errorf("delivery seq %d: %w", seq, bus.ErrNotFound)
	}
	var d Delivery
	if err := json.Unmarshal(v, &d); err != nil {
		return Delivery{}, fmt.Errorf("%w: delivery seq %d: %v", ErrCorrupt, seq, err)
	}
	return d, nil
}

// put writes d and keeps the state, open and done indexes in step with
// the change from old (nil for a new delivery).
func (b subTx) put(old *Delivery, d Delivery) error {
	v, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if err := b.d.Put(u64(d.Seq), v); err != nil {
		return err
	}
	if old == nil {
		if err := b.ids.Put([]byte(d.ItemID), u64(d.Seq)); err != nil {
			return err
		}
	} else if old.State != d.State {
		if err := b.state.Delete(stateKey(old.State, old.Seq)); err != nil {
			return err
		}
	}
	if err := b.state.Put(stateKey(d.State, d.Seq), empty); err != nil {
		return err
	}
	if d.State == StateDelivered {
		if err := b.open.Delete(openKey(d.Key, d.Seq)); err != nil {
			return err
		}
		return b.done.Put(doneKey(d.DeliveredAt, d.Seq), empty)
	}
	return b.open.Put(openKey(d.Key, d.Seq), empty)
}

// head returns the first undelivered delivery of document key, if any.
func (b subTx) head(key string) (Delivery, bool, error) {
	prefix := openPrefix(key)
	k, _ := b.open.Cursor().Seek(prefix)
	if k == nil || !bytes.HasPrefix(k, prefix) || len(k) != len(prefix)+8 {
		return Delivery{}, false, nil
	}
	d, err := b.get(binary.BigEndian.Uint64(k[len(prefix):]))
	return d, err == nil, err
}

// heads returns the head of every document with an undelivered delivery.
func (b subTx) heads() ([]Delivery, error) {
	var out []Delivery
	c := b.open.Cursor()
	for k, _ := c.First(); k != nil; {
		if len(k) < 2 {
			return nil, fmt.Errorf("%w: open index key %x", ErrCorrupt, k)
		}
		n := int(binary.BigEndian.Uint16(k))
		if len(k) != 2+n+8 {
			return nil, fmt.Errorf("%w: open index key %x", ErrCorrupt, k)
		}
		d, err := b.get(binary.BigEndian.Uint64(k[2+n:]))
		if err != nil {
			return nil, err
		}
		out = append(out, d)
		// Skip the rest of this document: seek past its prefix.
		next := append(append([]byte(nil), k[:2+n]...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
		k, _ = c.Seek(next)
	}
	return out, nil
}

// count returns how many deliveries are in state s.
func (b subTx) count(s State) int {
	n := 0
	c := b.state.Cursor()
	p := []byte{stateLetter(s)}
	for k, _ := c.Seek(p); k != nil && k[0] == p[0]; k, _ = c.Next() {
		n++
	}
	return n
}

// remove deletes a delivered delivery and its index entries.
func (b subTx) remove(d Delivery) error {
	for _, del := range []struct {
		b *bolt.Bucket
		k []byte
	}{
		{b.d, u64(d.Seq)}, {b.ids, []byte(d.ItemID)}, {b.state, stateKey(d.State, d.Seq)},
		{b.open, openKey(d.Key, d.Seq)}, {b.done, doneKey(d.DeliveredAt, d.Seq)},
	} {
		if err := del.b.Delete(del.k); err != nil {
			return err
		}
	}
	return nil
}

// empty is the value of index entries.
var empty = []byte{}
