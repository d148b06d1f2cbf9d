package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"truc.vn/truc/bus"
)

// bucketDirChanges holds the directory change log: version (uint64 BE) →
// the change, as the directory encoded it.
var bucketDirChanges = []byte("dir.changes")

func init() { schemaBuckets = append(schemaBuckets, bucketDirChanges) }

// MaxDirChangeSize is the largest change DirectoryLog.Append takes.
const MaxDirChangeSize = 256 << 20 // bytes in one change record: a whole national directory snapshot fits

// DirChange is one change of the directory and the version it produced.
type DirChange struct {
	Version int64
	Change  []byte
}

// DirectoryLog is the axis directory's durable change log: one opaque
// change per version, versions 1, 2, 3… without gaps, so that an edge can
// catch up with Since from the version it holds. The directory adapter
// decides what a change is; the log only orders and keeps them. It is safe
// for concurrent use; Append is durable on return and batched with the
// store's other writes.
type DirectoryLog struct {
	s *Store
}

// DirectoryLog returns the store's directory change log. It holds no state
// of its own: every call returns a handle on the same data.
func (s *Store) DirectoryLog() *DirectoryLog { return &DirectoryLog{s: s} }

func lastDirVersion(tx *bolt.Tx) (int64, error) {
	k, _ := tx.Bucket(bucketDirChanges).Cursor().Last()
	if k == nil {
		return 0, nil
	}
	if len(k) != 8 || int64(binary.BigEndian.Uint64(k)) < 1 {
		return 0, fmt.Errorf("%w: directory change key %x", ErrCorrupt, k)
	}
	return int64(binary.BigEndian.Uint64(k)), nil
}

// Append stores change as directory version version, which must be above
// Last: otherwise the error names both and wraps bus.ErrConflict (another
// writer got there first, or the caller's view of the directory is
// stale). Versions may skip: an edge that receives a whole snapshot at
// version 57 records it as 57. change is
// 1–MaxDirChangeSize bytes (else ErrInvalid) and is copied.
func (d *DirectoryLog) Append(ctx context.Context, version int64, change []byte) error {
	if len(change) == 0 || len(change) > MaxDirChangeSize {
		return fmt.Errorf("appending directory version %d: %w: change: must be 1–%d bytes, got %d", version, ErrInvalid, MaxDirChangeSize, len(change))
	}
	if version < 1 {
		return fmt.Errorf("appending directory version %d: %w: version: versions start at 1", version, ErrInvalid)
	}
	change = bytes.Clone(change)
	err := d.s.commit(ctx, func(tx *bolt.Tx) error {
		last, err := lastDirVersion(tx)
		if err != nil {
			return err
		}
		if version <= last {
			return fmt.Errorf("%w: the log is at version %d, so the next change is above it, got %d", bus.ErrConflict, last, version)
		}
		b := tx.Bucket(bucketDirChanges)
		b.FillPercent = 1
		return b.Put(u64(version), change)
	})
	if err != nil {
		return fmt.Errorf("appending directory version %d: %w", version, err)
	}
	return nil
}

// Since returns up to limit changes with Version > version, in version
// order; none when version is Last or more. limit must be at least 1 and
// version at least 0.
func (d *DirectoryLog) Since(ctx context.Context, version int64, limit int) ([]DirChange, error) {
	if version < 0 {
		return nil, fmt.Errorf("directory changes since %d: %w: version: must not be negative", version, ErrInvalid)
	}
	if limit < 1 {
		return nil, fmt.Errorf("directory changes since %d: %w: limit: must be at least 1, got %d", version, ErrInvalid, limit)
	}
	var out []DirChange
	err := d.s.view(ctx, func(tx *bolt.Tx) error {
		out = nil
		want := version + 1
		c := tx.Bucket(bucketDirChanges).Cursor()
		for k, v := c.Seek(u64(want)); k != nil && len(out) < limit; k, v = c.Next() {
			if len(k) != 8 || int64(binary.BigEndian.Uint64(k)) != want {
				return fmt.Errorf("%w: directory version %d is missing (found key %x)", ErrCorrupt, want, k)
			}
			out = append(out, DirChange{Version: want, Change: bytes.Clone(v)})
			want++
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("directory changes since %d: %w", version, err)
	}
	return out, nil
}

// Last returns the latest version stored, 0 when the log is empty.
func (d *DirectoryLog) Last(ctx context.Context) (int64, error) {
	var last int64
	err := d.s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		last, err = lastDirVersion(tx)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("latest directory version: %w", err)
	}
	return last, nil
}
