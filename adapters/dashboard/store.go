package dashboard

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// The dashboard file (schema 1). All integers in keys are 8-byte big-endian
// so that keys sort as numbers; times are Unix nanoseconds (UTC).
//
//	meta          "format" → "truc.vn/dashboard"; "schema" → uint32 (1);
//	              "cursor" → the next log index to index;
//	              "leaf" → SHA-256 of the leaf before the cursor (detects another log);
//	              "last_event" → time of the latest event indexed
//	letters       root key → JSON of Letter
//	pairs         root key || 0 || recipient OrganId → pair
//	deadlines     deadline || root key || 0 || recipient → empty: waiting pairs by deadline
//	stats.global  "all" → Stats; stats.agency: OrganId → Stats; stats.edge: edge ID → Stats
//	counts        name → int64: "status:NN", "reason:R" (axis rejections), "refusal:R" (notices), "events", "skipped"
//	series        'h' or 'm' || hour or minute start (Unix seconds) || name → int64
//	ix.docid      lower(DocumentId) || 0 || root key → time
//	ix.code       lower(Number/Notation) || 0 || root key → time (and lower(Notation) alone)
//	ix.sender     sender || 0 || time || root key → empty
//	ix.recipient  recipient || 0 || time || root key → empty
//	ix.time       time || root key → empty
//
// Every write of the indexer, with the cursor, is one transaction: a crash
// replays the leaves after the saved cursor and counts nothing twice.
var (
	bucketMeta      = []byte("meta")
	bucketLetters   = []byte("letters")
	bucketPairs     = []byte("pairs")
	bucketDeadlines = []byte("deadlines")
	bucketGlobal    = []byte("stats.global")
	bucketAgency    = []byte("stats.agency")
	bucketEdge      = []byte("stats.edge")
	bucketCounts    = []byte("counts")
	bucketSeries    = []byte("series")
	bucketDocID     = []byte("ix.docid")
	bucketCode      = []byte("ix.code")
	bucketSender    = []byte("ix.sender")
	bucketRecipient = []byte("ix.recipient")
	bucketTime      = []byte("ix.time")

	allBuckets = [][]byte{bucketMeta, bucketLetters, bucketPairs, bucketDeadlines, bucketGlobal, bucketAgency, bucketEdge,
		bucketCounts, bucketSeries, bucketDocID, bucketCode, bucketSender, bucketRecipient, bucketTime}
)

const (
	fileFormat    = "truc.vn/dashboard"
	schemaVersion = 1
	globalKey     = "all"
	seriesHour    = 'h'
	seriesMinute  = 'm'
)

var (
	keyFormat    = []byte("format")
	keySchema    = []byte("schema")
	keyCursor    = []byte("cursor")
	keyLeaf      = []byte("leaf")
	keyLastEvent = []byte("last_event")
)

// ErrNotDashboard: the file exists and was written by another program or
// another schema version of this one.
var ErrNotDashboard = errors.New("dashboard: not a dashboard file of this version")

func u64(v int64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(v)) }

func getU64(b []byte) int64 {
	if len(b) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b))
}

// initSchema creates the buckets and the meta keys of a new file, or checks
// those of an existing one.
func initSchema(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta = tx.Bucket(bucketMeta)
		if err := meta.Put(keyFormat, []byte(fileFormat)); err != nil {
			return err
		}
		return meta.Put(keySchema, binary.BigEndian.AppendUint32(nil, schemaVersion))
	}
	if string(meta.Get(keyFormat)) != fileFormat {
		return fmt.Errorf("%w: format %q", ErrNotDashboard, meta.Get(keyFormat))
	}
	if v := meta.Get(keySchema); len(v) != 4 || binary.BigEndian.Uint32(v) != schemaVersion {
		return fmt.Errorf("%w: schema %x, this release reads %d", ErrNotDashboard, v, schemaVersion)
	}
	for _, b := range allBuckets {
		if tx.Bucket(b) == nil {
			return fmt.Errorf("%w: bucket %s missing", ErrNotDashboard, b)
		}
	}
	return nil
}

// resetTx empties every bucket (a rebuild from the start of the log).
func resetTx(tx *bolt.Tx) error {
	for _, b := range allBuckets {
		if err := tx.DeleteBucket(b); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
			return err
		}
	}
	return initSchema(tx)
}

func leafHash(leaf []byte) []byte {
	h := sha256.Sum256(leaf)
	return h[:]
}

func pairKey(key, recipient string) []byte {
	b := make([]byte, 0, len(key)+1+len(recipient))
	b = append(b, key...)
	b = append(b, 0)
	return append(b, recipient...)
}

// splitPairKey returns the root key and recipient of a pairs key (or the
// tail of a deadlines key).
func splitPairKey(k []byte) (key, recipient string, ok bool) {
	i := bytes.IndexByte(k, 0)
	if i < 0 {
		return "", "", false
	}
	return string(k[:i]), string(k[i+1:]), true
}

func deadlineKey(at int64, key, recipient string) []byte {
	return append(u64(at), pairKey(key, recipient)...)
}

func termKey(term, key string) []byte {
	b := make([]byte, 0, len(term)+1+len(key))
	b = append(b, term...)
	b = append(b, 0)
	return append(b, key...)
}

func partyKey(organ string, at int64, key string) []byte {
	b := make([]byte, 0, len(organ)+9+len(key))
	b = append(b, organ...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(at))
	return append(b, key...)
}

func timeKey(at int64, key string) []byte { return append(u64(at), key...) }

func seriesKey(res byte, start int64, name string) []byte {
	b := make([]byte, 0, 9+len(name))
	b = append(b, res)
	b = binary.BigEndian.AppendUint64(b, uint64(start))
	return append(b, name...)
}

// normTerm is how search terms and indexed values compare: trimmed,
// lower-case, inner runs of spaces removed.
func normTerm(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), ""))
}
