package boltstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"truc.vn/truc/bus"
)

// bucketCosignatures holds the witness cosignatures of the log's
// checkpoints: tree size (uint64 BE) || key name || "+" || key ID (8 hex
// digits) → the signed-note signature line, newline included. Keys sort by
// size, then by witness key, so that a checkpoint's cosignatures are one
// contiguous, deterministically ordered range.
var bucketCosignatures = []byte("log.cosignatures")

func init() { schemaBuckets = append(schemaBuckets, bucketCosignatures) }

// MaxCosignatureLine is the longest signature line AddCosignatures takes:
// a 255-byte key name and an RSA-4096 signature fit with room to spare.
const MaxCosignatureLine = 2048 // bytes, newline included

// cosignScanLimit bounds how many stored cosignatures LatestCosigned reads
// backwards before it gives up.
const cosignScanLimit = 100_000

// AddCosignatures stores witness signature lines for the checkpoint of the
// given size and returns how many were new. Each line is a signed-note
// signature line, "— <key name> <base64 of key ID || signature>\n", that
// the CALLER has verified against that checkpoint's text with the
// witness's key: the store holds no witness keys and checks only the
// syntax. A line by a key (name and key ID) that already has one for this
// checkpoint is skipped: the first one stays.
//
// It refuses, writing nothing: a size with no checkpoint (an error
// wrapping bus.ErrNoCheckpoint); a malformed line, a line under the log's
// own key name, or more than bus.MaxCosignatures lines for one checkpoint
// or a cosigned note over bus.MaxSignedCheckpointLen bytes (ErrInvalid,
// naming the line).
func (l *Log) AddCosignatures(ctx context.Context, size int64, lines []string) (added int, err error) {
	keys := make([][]byte, len(lines))
	for i, line := range lines {
		if keys[i], err = cosignatureKey(size, line); err != nil {
			return 0, fmt.Errorf("storing cosignatures of the checkpoint of size %d: %w: lines[%d]: %w", size, ErrInvalid, i, err)
		}
	}
	err = l.s.commit(ctx, func(tx *bolt.Tx) error {
		added = 0
		v := tx.Bucket(bucketCheckpoints).Get(u64(size))
		if v == nil {
			return fmt.Errorf("checkpoint of size %d: %w", size, bus.ErrNoCheckpoint)
		}
		cp, _, err := decodeCheckpoint(u64(size), v)
		if err != nil {
			return err
		}
		b := tx.Bucket(bucketCosignatures)
		count, total := 0, len(cp.Note)
		prefix := u64(size)
		c := b.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			count++
			total += len(v)
		}
		for i, line := range lines {
			if name, _, _ := strings.Cut(strings.TrimPrefix(line, "— "), " "); name == cp.Origin {
				return fmt.Errorf("%w: lines[%d]: signed under the log's own key name %q: a witness signs under its own name", ErrInvalid, i, name)
			}
			if b.Get(keys[i]) != nil {
				continue
			}
			count++
			total += len(line)
			if count > bus.MaxCosignatures {
				return fmt.Errorf("%w: lines[%d]: the checkpoint of size %d would have more than %d cosignatures", ErrInvalid, i, size, bus.MaxCosignatures)
			}
			if total > bus.MaxSignedCheckpointLen {
				return fmt.Errorf("%w: lines[%d]: the cosigned checkpoint of size %d would exceed %d bytes", ErrInvalid, i, size, bus.MaxSignedCheckpointLen)
			}
			if err := b.Put(keys[i], []byte(line)); err != nil {
				return fmt.Errorf("storing a cosignature: %w", err)
			}
			added++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("storing cosignatures of the checkpoint of size %d: %w", size, err)
	}
	return added, nil
}

// cosignatureKey checks the syntax of a signature line and returns its
// key in bucketCosignatures.
func cosignatureKey(size int64, line string) ([]byte, error) {
	if size < 0 {
		return nil, fmt.Errorf("the tree size %d is negative", size)
	}
	if len(line) > MaxCosignatureLine {
		return nil, fmt.Errorf("a signature line has at most %d bytes, got %d", MaxCosignatureLine, len(line))
	}
	body, ok := strings.CutPrefix(line, "— ")
	if !ok || !strings.HasSuffix(body, "\n") {
		return nil, fmt.Errorf("a signature line starts with an em dash and a space and ends with a newline")
	}
	name, b64, ok := strings.Cut(strings.TrimSuffix(body, "\n"), " ")
	if !ok {
		return nil, fmt.Errorf("a signature line is \"— <key name> <base64>\"")
	}
	if name == "" || !utf8.ValidString(name) || strings.ContainsRune(name, '+') || strings.IndexFunc(name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return nil, fmt.Errorf("the key name %q is not a signed-note key name (non-empty UTF-8 without spaces, controls or '+')", clipName(name))
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil || len(raw) < 5 || base64.StdEncoding.EncodeToString(raw) != b64 {
		return nil, fmt.Errorf("the signature of %s is not the standard base64 of a key ID and a signature", clipName(name))
	}
	k := u64(size)
	k = append(k, name...)
	k = append(k, fmt.Sprintf("+%08x", binary.BigEndian.Uint32(raw))...)
	return k, nil
}

func clipName(s string) string {
	if len(s) > 64 {
		return strings.ToValidUTF8(s[:64], "") + "…"
	}
	return s
}

// cosignedNote returns the checkpoint note stored at size followed by
// every cosignature stored for it, and how many those are.
func cosignedNote(tx *bolt.Tx, size int64) (bus.SignedCheckpoint, int, error) {
	v := tx.Bucket(bucketCheckpoints).Get(u64(size))
	if v == nil {
		return bus.SignedCheckpoint{}, 0, fmt.Errorf("checkpoint of size %d: %w", size, bus.ErrNoCheckpoint)
	}
	cp, _, err := decodeCheckpoint(u64(size), v)
	if err != nil {
		return bus.SignedCheckpoint{}, 0, err
	}
	out := bytes.Clone(cp.Note)
	n := 0
	prefix := u64(size)
	c := tx.Bucket(bucketCosignatures).Cursor()
	for k, line := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, line = c.Next() {
		out = append(out, line...)
		n++
	}
	cp.Note = out
	return cp, n, nil
}

// Cosigned returns the signed checkpoint of the given size with every
// cosignature stored for it appended after the log's signature, in the
// order of their key names: a note that bus.OpenCosigned reads. Without
// cosignatures it is the checkpoint as the log signed it. A size with no
// checkpoint is an error wrapping bus.ErrNoCheckpoint.
func (l *Log) Cosigned(ctx context.Context, size int64) ([]byte, error) {
	var out []byte
	err := l.s.view(ctx, func(tx *bolt.Tx) error {
		cp, _, err := cosignedNote(tx, size)
		out = cp.Note
		return err
	})
	return out, err
}

// LatestCosigned returns the checkpoint of the largest size that has at
// least min cosignatures (min < 1 counts as 1), with them, as Cosigned
// does; its Note is the cosigned note. It reads the stored cosignatures
// backwards from the newest, at most 100 000 of them, and returns an
// error wrapping bus.ErrNoCheckpoint when none of those qualifies.
func (l *Log) LatestCosigned(ctx context.Context, min int) (bus.SignedCheckpoint, error) {
	min = max(min, 1)
	var cp bus.SignedCheckpoint
	err := l.s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketCosignatures).Cursor()
		var (
			size  int64 = -1
			count int
		)
		read := 0
		for k, _ := c.Last(); k != nil && read < cosignScanLimit; k, _ = c.Prev() {
			read++
			if len(k) < 8 {
				return fmt.Errorf("%w: cosignature key %x", ErrCorrupt, k)
			}
			s := int64(binary.BigEndian.Uint64(k))
			if s != size {
				size, count = s, 0
			}
			if count++; count == min {
				var err error
				cp, _, err = cosignedNote(tx, size)
				return err
			}
		}
		return fmt.Errorf("no checkpoint with %d cosignatures among the latest %d stored: %w", min, read, bus.ErrNoCheckpoint)
	})
	return cp, err
}

// MostCosigned returns the checkpoint with the most cosignatures among
// those of size after < size ≤ upto (the largest such size on a tie),
// with them, as Cosigned does; its Note is the cosigned note. Witnesses
// use it to cosign the checkpoints others cosigned, so that on a busy log
// the cosignatures gather on common checkpoints. It reads at most 100 000
// stored cosignatures, and returns an error wrapping bus.ErrNoCheckpoint
// when no checkpoint of the range has any.
func (l *Log) MostCosigned(ctx context.Context, after, upto int64) (bus.SignedCheckpoint, error) {
	var cp bus.SignedCheckpoint
	err := l.s.view(ctx, func(tx *bolt.Tx) error {
		if after < -1 || upto <= after {
			return fmt.Errorf("cosigned checkpoints of sizes %d < size ≤ %d: %w", after, upto, bus.ErrNoCheckpoint)
		}
		c := tx.Bucket(bucketCosignatures).Cursor()
		var (
			best, bestCount int64 = -1, 0
			size, count     int64 = -1, 0
		)
		read := 0
		for k, _ := c.Seek(u64(after + 1)); k != nil && read < cosignScanLimit; k, _ = c.Next() {
			read++
			if len(k) < 8 {
				return fmt.Errorf("%w: cosignature key %x", ErrCorrupt, k)
			}
			s := int64(binary.BigEndian.Uint64(k))
			if s > upto {
				break
			}
			if s != size {
				size, count = s, 0
			}
			if count++; count >= bestCount {
				best, bestCount = size, count
			}
		}
		if best < 0 {
			return fmt.Errorf("no cosigned checkpoint of sizes %d < size ≤ %d: %w", after, upto, bus.ErrNoCheckpoint)
		}
		var err error
		cp, _, err = cosignedNote(tx, best)
		return err
	})
	return cp, err
}
