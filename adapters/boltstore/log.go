package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"truc.vn/truc/bus"
)

// Transparency-log buckets (see the package comment for the layout).
var (
	bucketLeaves      = []byte("log.leaves")
	bucketHashes      = []byte("log.hashes")
	bucketCheckpoints = []byte("log.checkpoints")
	keyLogSize        = []byte("log.size") // in meta
)

// ErrNoSigner: the log has no Config.LogSigner, so it cannot sign.
var ErrNoSigner = errors.New("boltstore: no checkpoint signer configured")

// Log is the bus.Log of a Store: an RFC 6962 Merkle log whose leaves,
// tlog stored hashes and signed checkpoints live in the store's file. See
// bus.Log for the contract.
type Log struct {
	s      *Store
	signer note.Signer
	signMu chan struct{} // a one-slot semaphore serialising SignCheckpoint
}

var _ bus.Log = (*Log)(nil)

// openLog checks the stored log against its invariants (cheaply: counts
// and the latest checkpoint, not every hash; see Check) and against the
// configured signer.
func openLog(s *Store) (*Log, error) {
	l := &Log{s: s, signer: s.cfg.LogSigner, signMu: make(chan struct{}, 1)}
	err := s.db.View(func(tx *bolt.Tx) error {
		size, err := checkCounts(tx)
		if err != nil {
			return err
		}
		latest, ok, err := lastCheckpoint(tx)
		if err != nil || !ok {
			return err
		}
		if latest.Size > size {
			return fmt.Errorf("%w: the latest checkpoint has size %d but the log only %d leaves", ErrCorrupt, latest.Size, size)
		}
		if l.signer != nil && latest.Origin != l.signer.Name() {
			return fmt.Errorf("the log's origin is %q but the configured checkpoint signer is named %q; a log keeps its origin for life", latest.Origin, l.signer.Name())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("transparency log: %w", err)
	}
	return l, nil
}

// checkCounts returns the log size after checking that the leaves and
// stored hashes end exactly where the size says.
func checkCounts(tx *bolt.Tx) (int64, error) {
	size, err := readSize(tx)
	if err != nil {
		return 0, err
	}
	lastKey := func(name []byte) int64 {
		k, _ := tx.Bucket(name).Cursor().Last()
		if len(k) != 8 {
			return -1
		}
		return int64(binary.BigEndian.Uint64(k))
	}
	if got := lastKey(bucketLeaves); got != size-1 {
		return 0, fmt.Errorf("%w: the size is %d but the last leaf is %d", ErrCorrupt, size, got)
	}
	if got, want := lastKey(bucketHashes), tlog.StoredHashCount(size)-1; got != want {
		return 0, fmt.Errorf("%w: %d leaves need stored hashes 0–%d, the last is %d", ErrCorrupt, size, want, got)
	}
	return size, nil
}

func readSize(tx *bolt.Tx) (int64, error) {
	v := tx.Bucket(bucketMeta).Get(keyLogSize)
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 || int64(binary.BigEndian.Uint64(v)) < 0 {
		return 0, fmt.Errorf("%w: the log size is stored as %d bytes %x", ErrCorrupt, len(v), v)
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// hashReader is a tlog.HashReader over the stored hashes of one
// transaction.
type hashReader struct{ b *bolt.Bucket }

func (r hashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		v := r.b.Get(u64(idx))
		if len(v) != tlog.HashSize {
			return nil, fmt.Errorf("%w: stored hash %d is missing or %d bytes", ErrCorrupt, idx, len(v))
		}
		copy(out[i][:], v)
	}
	return out, nil
}

// appendLeavesTx appends leaves to the log inside tx and returns the index
// of the first. It is how every store of this package that records an
// axis event appends it in the same transaction as its own writes, so that
// they are durable together (invariant I5); it may run more than once per
// commit (see Store.commit) and returns the right index each time.
func appendLeavesTx(tx *bolt.Tx, leaves [][]byte) (first int64, err error) {
	if err := bus.CheckLeaves(leaves); err != nil {
		return 0, err
	}
	first, err = readSize(tx)
	if err != nil {
		return 0, err
	}
	lb, hb := tx.Bucket(bucketLeaves), tx.Bucket(bucketHashes)
	// Keys only grow: fill pages completely instead of leaving half of
	// each empty for inserts that never come.
	lb.FillPercent, hb.FillPercent = 1, 1
	r := hashReader{hb}
	for i, leaf := range leaves {
		n := first + int64(i)
		hashes, err := tlog.StoredHashes(n, leaf, r)
		if err != nil {
			return 0, fmt.Errorf("hashing leaf %d: %w", n, err)
		}
		base := tlog.StoredHashIndex(0, n)
		for k := range hashes {
			if err := hb.Put(u64(base+int64(k)), hashes[k][:]); err != nil {
				return 0, fmt.Errorf("storing hash %d: %w", base+int64(k), err)
			}
		}
		if err := lb.Put(u64(n), leaf); err != nil {
			return 0, fmt.Errorf("storing leaf %d: %w", n, err)
		}
	}
	if err := tx.Bucket(bucketMeta).Put(keyLogSize, u64(first+int64(len(leaves)))); err != nil {
		return 0, fmt.Errorf("storing the log size: %w", err)
	}
	return first, nil
}

// Append implements bus.Log: the leaves are committed with other requests
// of the same moment in one durable transaction.
func (l *Log) Append(ctx context.Context, leaves ...[]byte) (int64, error) {
	if err := bus.CheckLeaves(leaves); err != nil {
		return 0, err
	}
	var first int64
	err := l.s.commit(ctx, func(tx *bolt.Tx) error {
		var err error
		first, err = appendLeavesTx(tx, leaves)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("appending %d leaves to the log: %w", len(leaves), err)
	}
	return first, nil
}

// Size implements bus.Log.
func (l *Log) Size(ctx context.Context) (int64, error) {
	var n int64
	err := l.s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		n, err = readSize(tx)
		return err
	})
	return n, err
}

// Leaf implements bus.Log.
func (l *Log) Leaf(ctx context.Context, index int64) ([]byte, error) {
	var leaf []byte
	err := l.s.view(ctx, func(tx *bolt.Tx) error {
		size, err := readSize(tx)
		if err != nil {
			return err
		}
		if index < 0 || index >= size {
			return fmt.Errorf("leaf %d of a log of %d leaves: %w", index, size, bus.ErrOutOfRange)
		}
		v := tx.Bucket(bucketLeaves).Get(u64(index))
		if v == nil {
			return fmt.Errorf("%w: leaf %d is missing", ErrCorrupt, index)
		}
		leaf = bytes.Clone(v)
		return nil
	})
	return leaf, err
}

// InclusionProof implements bus.Log.
func (l *Log) InclusionProof(ctx context.Context, index, treeSize int64) ([][32]byte, error) {
	var proof [][32]byte
	err := l.s.view(ctx, func(tx *bolt.Tx) error {
		size, err := readSize(tx)
		if err != nil {
			return err
		}
		if index < 0 || index >= treeSize || treeSize > size {
			return fmt.Errorf("inclusion proof of leaf %d in the tree of size %d (log size %d): %w", index, treeSize, size, bus.ErrOutOfRange)
		}
		p, err := tlog.ProveRecord(treeSize, index, hashReader{tx.Bucket(bucketHashes)})
		if err != nil {
			return fmt.Errorf("inclusion proof of leaf %d in the tree of size %d: %w", index, treeSize, err)
		}
		proof = fromTlog(p)
		return nil
	})
	return proof, err
}

// ConsistencyProof implements bus.Log.
func (l *Log) ConsistencyProof(ctx context.Context, oldSize, newSize int64) ([][32]byte, error) {
	proof := [][32]byte{}
	err := l.s.view(ctx, func(tx *bolt.Tx) error {
		size, err := readSize(tx)
		if err != nil {
			return err
		}
		if oldSize < 0 || oldSize > newSize || newSize > size {
			return fmt.Errorf("consistency proof from size %d to %d (log size %d): %w", oldSize, newSize, size, bus.ErrOutOfRange)
		}
		if oldSize == 0 || oldSize == newSize {
			return nil
		}
		p, err := tlog.ProveTree(newSize, oldSize, hashReader{tx.Bucket(bucketHashes)})
		if err != nil {
			return fmt.Errorf("consistency proof from size %d to %d: %w", oldSize, newSize, err)
		}
		proof = fromTlog(p)
		return nil
	})
	return proof, err
}

func fromTlog(p []tlog.Hash) [][32]byte {
	out := make([][32]byte, len(p))
	for i, h := range p {
		out[i] = h
	}
	return out
}

// A stored checkpoint value is 8 bytes of big-endian Unix nanoseconds (when
// it was signed, by Config.Now) followed by the signed note.
const checkpointTimeLen = 8

func decodeCheckpoint(size []byte, v []byte) (bus.SignedCheckpoint, time.Time, error) {
	if len(v) <= checkpointTimeLen {
		return bus.SignedCheckpoint{}, time.Time{}, fmt.Errorf("%w: stored checkpoint %x is %d bytes", ErrCorrupt, size, len(v))
	}
	at := time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC()
	cp, err := bus.ParseUnverifiedCheckpoint(v[checkpointTimeLen:])
	if err != nil {
		return bus.SignedCheckpoint{}, time.Time{}, fmt.Errorf("%w: stored checkpoint %x: %w", ErrCorrupt, size, err)
	}
	if len(size) != 8 || cp.Size != int64(binary.BigEndian.Uint64(size)) {
		return bus.SignedCheckpoint{}, time.Time{}, fmt.Errorf("%w: checkpoint stored under key %x has size %d", ErrCorrupt, size, cp.Size)
	}
	return cp, at, nil
}

func lastCheckpoint(tx *bolt.Tx) (bus.SignedCheckpoint, bool, error) {
	k, v := tx.Bucket(bucketCheckpoints).Cursor().Last()
	if k == nil {
		return bus.SignedCheckpoint{}, false, nil
	}
	cp, _, err := decodeCheckpoint(k, v)
	return cp, err == nil, err
}

// Checkpoint implements bus.Log.
func (l *Log) Checkpoint(ctx context.Context) (bus.SignedCheckpoint, error) {
	var cp bus.SignedCheckpoint
	err := l.s.view(ctx, func(tx *bolt.Tx) error {
		var ok bool
		var err error
		cp, ok, err = lastCheckpoint(tx)
		if err == nil && !ok {
			err = bus.ErrNoCheckpoint
		}
		return err
	})
	return cp, err
}

// CheckpointAt returns the stored checkpoint of the given size, or an
// error wrapping bus.ErrNoCheckpoint if none was signed at that size.
// Every checkpoint ever signed is kept, so an auditor holding an old one
// can always get a consistency proof from it to a newer one.
func (l *Log) CheckpointAt(ctx context.Context, size int64) (bus.SignedCheckpoint, error) {
	var cp bus.SignedCheckpoint
	err := l.s.view(ctx, func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketCheckpoints).Get(u64(size))
		if v == nil {
			return fmt.Errorf("checkpoint of size %d: %w", size, bus.ErrNoCheckpoint)
		}
		var err error
		cp, _, err = decodeCheckpoint(u64(size), v)
		return err
	})
	return cp, err
}

// Checkpoints returns up to limit stored checkpoints of size ≥ from, in
// increasing size.
func (l *Log) Checkpoints(ctx context.Context, from int64, limit int) ([]bus.SignedCheckpoint, error) {
	var cps []bus.SignedCheckpoint
	err := l.s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketCheckpoints).Cursor()
		for k, v := c.Seek(u64(max(from, 0))); k != nil && len(cps) < limit; k, v = c.Next() {
			cp, _, err := decodeCheckpoint(k, v)
			if err != nil {
				return err
			}
			cps = append(cps, cp)
		}
		return nil
	})
	return cps, err
}

// LogStatus is the state of the log for health checks.
type LogStatus struct {
	Size               int64     // leaves
	CheckpointSize     int64     // leaves covered by the latest checkpoint (0 if none)
	CheckpointSignedAt time.Time // when it was signed (zero if none)
}

// Status returns the log size and how far behind the latest checkpoint is.
func (l *Log) Status(ctx context.Context) (LogStatus, error) {
	var st LogStatus
	err := l.s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		if st.Size, err = readSize(tx); err != nil {
			return err
		}
		k, v := tx.Bucket(bucketCheckpoints).Cursor().Last()
		if k == nil {
			return nil
		}
		cp, at, err := decodeCheckpoint(k, v)
		st.CheckpointSize, st.CheckpointSignedAt = cp.Size, at
		return err
	})
	return st, err
}

// SignCheckpoint implements bus.Log. Before signing it recomputes, from
// the stored hashes, the root of the latest checkpoint's tree and refuses
// (ErrCorrupt) if it differs: the log never signs a tree inconsistent with
// what it signed before. Calls are serialised; the signature is made
// outside any transaction, so a slow token does not hold up appends.
func (l *Log) SignCheckpoint(ctx context.Context) (bus.SignedCheckpoint, error) {
	if l.signer == nil {
		return bus.SignedCheckpoint{}, ErrNoSigner
	}
	select {
	case l.signMu <- struct{}{}:
		defer func() { <-l.signMu }()
	case <-ctx.Done():
		return bus.SignedCheckpoint{}, ctx.Err()
	}
	var (
		size   int64
		root   tlog.Hash
		latest bus.SignedCheckpoint
		have   bool
	)
	err := l.s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		if size, err = readSize(tx); err != nil {
			return err
		}
		if latest, have, err = lastCheckpoint(tx); err != nil {
			return err
		}
		if have && latest.Size == size {
			return nil
		}
		r := hashReader{tx.Bucket(bucketHashes)}
		if have {
			if latest.Size > size {
				return fmt.Errorf("%w: the latest checkpoint has size %d but the log only %d leaves", ErrCorrupt, latest.Size, size)
			}
			prev, err := tlog.TreeHash(latest.Size, r)
			if err != nil {
				return err
			}
			if prev != latest.Hash {
				return fmt.Errorf("%w: the stored tree of size %d no longer has the root of the checkpoint signed at that size; refusing to sign", ErrCorrupt, latest.Size)
			}
		}
		root, err = tlog.TreeHash(size, r)
		return err
	})
	if err != nil {
		return bus.SignedCheckpoint{}, fmt.Errorf("signing a checkpoint: %w", err)
	}
	if have && latest.Size == size {
		return latest, nil
	}
	sc, err := bus.SignCheckpoint(bus.Checkpoint{Origin: l.signer.Name(), Size: size, Hash: root}, l.signer)
	if err != nil {
		return bus.SignedCheckpoint{}, err
	}
	at := l.s.cfg.Now()
	val := binary.BigEndian.AppendUint64(make([]byte, 0, checkpointTimeLen+len(sc.Note)), uint64(at.UnixNano()))
	val = append(val, sc.Note...)
	err = l.s.commit(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCheckpoints)
		b.FillPercent = 1
		return b.Put(u64(size), val)
	})
	if err != nil {
		return bus.SignedCheckpoint{}, fmt.Errorf("storing the checkpoint of size %d: %w", size, err)
	}
	l.s.cfg.Logger.Debug("checkpoint signed", "log_origin", sc.Origin, "log_size", size)
	return sc, nil
}

// RunCheckpointer signs a checkpoint at once, then every interval
// `every` (DefaultCheckpointEvery if ≤ 0) whenever the tree grew, until
// ctx is done; then it signs a last one, so that a clean shutdown leaves
// every leaf covered. A signing failure is logged and retried at the next
// tick. It returns nil when ctx is done, ErrClosed when the store is
// closed, ErrNoSigner without a signer.
func (l *Log) RunCheckpointer(ctx context.Context, every time.Duration) error {
	if l.signer == nil {
		return ErrNoSigner
	}
	if every <= 0 {
		every = DefaultCheckpointEvery
	}
	sign := func(ctx context.Context) error {
		_, err := l.SignCheckpoint(ctx)
		switch {
		case err == nil, ctx.Err() != nil:
			return nil
		case errors.Is(err, ErrClosed):
			return ErrClosed
		}
		l.s.cfg.Logger.Error("checkpoint signing failed", "err", err)
		return nil
	}
	if err := sign(ctx); err != nil {
		return err
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := sign(final); errors.Is(err, ErrClosed) {
				return err
			}
			return nil
		case <-t.C:
			if err := sign(ctx); err != nil {
				return err
			}
		}
	}
}

// checkChunk is how many leaves Check reads per read transaction, so that
// a check of a large log does not pin old pages for its whole duration.
const checkChunk = 4096

// Check verifies the whole stored log independently of the stored hashes:
// it recomputes every tlog stored hash from the leaves and compares, and
// checks that every stored checkpoint's root is the root recomputed at
// its size. With known non-nil it also verifies each checkpoint's
// signature (bus.OpenCheckpoint). It reads the log in chunks and checks
// the leaves present when it started; appends may go on meanwhile. Its
// cost is one SHA-256 per leaf and per stored hash, and a read of all
// leaves.
func (l *Log) Check(ctx context.Context, known note.Verifiers) error {
	var (
		size int64
		cps  []bus.SignedCheckpoint
	)
	err := l.s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		if size, err = checkCounts(tx); err != nil {
			return err
		}
		c := tx.Bucket(bucketCheckpoints).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			cp, _, err := decodeCheckpoint(k, v)
			if err != nil {
				return err
			}
			if cp.Size > size {
				return fmt.Errorf("%w: checkpoint of size %d in a log of %d leaves", ErrCorrupt, cp.Size, size)
			}
			cps = append(cps, cp)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("checking the log: %w", err)
	}
	for i, cp := range cps {
		if known != nil {
			if _, err := bus.OpenCheckpoint(cp.Note, known); err != nil {
				return fmt.Errorf("checking the log: checkpoint of size %d: %w", cp.Size, err)
			}
		}
		if i > 0 && cp.Origin != cps[0].Origin {
			return fmt.Errorf("checking the log: %w: checkpoint of size %d has origin %q, the first has %q", ErrCorrupt, cp.Size, cp.Origin, cps[0].Origin)
		}
	}

	// frontier holds the roots of the complete subtrees of the tree so
	// far, largest (leftmost) first.
	type node struct {
		h     tlog.Hash
		level int
	}
	var frontier []node
	root := func() tlog.Hash {
		if len(frontier) == 0 {
			return tlog.Hash(bus.TreeHash(nil))
		}
		h := frontier[len(frontier)-1].h
		for j := len(frontier) - 2; j >= 0; j-- {
			h = tlog.NodeHash(frontier[j].h, h)
		}
		return h
	}
	next := 0 // next checkpoint to compare
	checkRoot := func(n int64) error {
		for ; next < len(cps) && cps[next].Size == n; next++ {
			if root() != cps[next].Hash {
				return fmt.Errorf("%w: the leaves give another root at size %d than the checkpoint signed there", ErrCorrupt, n)
			}
		}
		return nil
	}
	if err := checkRoot(0); err != nil {
		return fmt.Errorf("checking the log: %w", err)
	}
	for start := int64(0); start < size; start += checkChunk {
		end := min(start+checkChunk, size)
		err := l.s.view(ctx, func(tx *bolt.Tx) error {
			lc := tx.Bucket(bucketLeaves).Cursor()
			hb := tx.Bucket(bucketHashes)
			n := start
			for k, leaf := lc.Seek(u64(start)); n < end; k, leaf = lc.Next() {
				if len(k) != 8 || int64(binary.BigEndian.Uint64(k)) != n {
					return fmt.Errorf("%w: leaf %d is missing", ErrCorrupt, n)
				}
				h := tlog.RecordHash(leaf)
				computed := []tlog.Hash{h}
				level := 0
				for len(frontier) > 0 && frontier[len(frontier)-1].level == level {
					h = tlog.NodeHash(frontier[len(frontier)-1].h, h)
					frontier = frontier[:len(frontier)-1]
					level++
					computed = append(computed, h)
				}
				frontier = append(frontier, node{h, level})
				base := tlog.StoredHashIndex(0, n)
				for j, want := range computed {
					if got := hb.Get(u64(base + int64(j))); !bytes.Equal(got, want[:]) {
						return fmt.Errorf("%w: stored hash %d (leaf %d) is not the one its leaves give", ErrCorrupt, base+int64(j), n)
					}
				}
				n++
				if err := checkRoot(n); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("checking the log: %w", err)
		}
	}
	return nil
}
