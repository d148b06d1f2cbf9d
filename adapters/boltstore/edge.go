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
	"maps"
	"math"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"truc.vn/truc/bus"
)

// Edge-store buckets (schema 1). Integer keys are 8-byte big-endian
// (uint64 sequences) so that they sort as numbers; event numbers are 4-byte
// big-endian.
//
//	edge.outbox            message ID → outbox record (JSON, no package bytes, no timeline)
//	edge.outbox.pkg        message ID → package bytes
//	edge.outbox.seq        entry seq → message ID (put order)
//	edge.outbox.due        class || entry seq → SentAt (int64 BE Unix ns) || message ID, for
//	                       unsettled entries only; class 0 = never sent, 1 = sent
//	edge.outbox.sha        package SHA-256 → message ID
//	edge.outbox.idem       uvarint len(client) || client || idempotency key → message ID
//	edge.outbox.key        root key || 0x00 || entry seq → message ID (documents only)
//	edge.outbox.events     entry seq || event number → timeline event (canonical JSON)
//	edge.outbox.eventsha   entry seq || SHA-256 of the canonical event → event number
//	edge.inbox             item seq → inbox record (JSON, no package bytes)
//	edge.inbox.pkg         item seq → package bytes
//	edge.inbox.sha         package SHA-256 → item seq
//	edge.inbox.id          item ID → item seq
//
// The entry seq is the edge.outbox bucket's sequence and the item seq
// (InboxItem.Seq) the edge.inbox bucket's: both only grow, and a rolled
// back transaction rolls them back with everything else.
var (
	bucketOutbox         = []byte("edge.outbox")
	bucketOutboxPkg      = []byte("edge.outbox.pkg")
	bucketOutboxSeq      = []byte("edge.outbox.seq")
	bucketOutboxDue      = []byte("edge.outbox.due")
	bucketOutboxSHA      = []byte("edge.outbox.sha")
	bucketOutboxIdem     = []byte("edge.outbox.idem")
	bucketOutboxKey      = []byte("edge.outbox.key")
	bucketOutboxEvents   = []byte("edge.outbox.events")
	bucketOutboxEventSHA = []byte("edge.outbox.eventsha")
	bucketInbox          = []byte("edge.inbox")
	bucketInboxPkg       = []byte("edge.inbox.pkg")
	bucketInboxSHA       = []byte("edge.inbox.sha")
	bucketInboxID        = []byte("edge.inbox.id")
	// bucketInboxKey indexes inbox items by root-document key: key, 0,
	// seq → nothing (schema 3).
	bucketInboxKey = []byte("edge.inbox.key")
)

func init() {
	schemaBuckets = append(schemaBuckets,
		bucketOutbox, bucketOutboxPkg, bucketOutboxSeq, bucketOutboxDue, bucketOutboxSHA,
		bucketOutboxIdem, bucketOutboxKey, bucketOutboxEvents, bucketOutboxEventSHA,
		bucketInbox, bucketInboxPkg, bucketInboxSHA, bucketInboxID, bucketInboxKey)
}

// Bounds the edge store puts on fields bus.Message.Validate does not cover.
const (
	MaxClientLen         = 255 // bytes in OutboxEntry.Client
	MaxIdempotencyKeyLen = 255 // bytes in OutboxEntry.IdempotencyKey
)

// UnsettledBudget bounds the package bytes one Unsettled call loads: it
// stops adding entries once their packages total this much (it always
// returns at least one entry when one is due), so that a work list of
// 16 MiB letters does not take gigabytes of memory.
const UnsettledBudget = 64 << 20

// code01 is the status code (Message.Attrs[bus.AttrStatus]) the edge
// sends once per inbox item ("đã đến").
const code01 = "01"

// EdgeStore is the bus.EdgeStore of a Store: an edge's outbox and inbox in
// the store's file, written through the store's batched, durable commits
// (every write is one transaction: a crash leaves all of it or none). Get
// it with Store.Edge. It passes bustest.TestEdgeStore. See bus.EdgeStore
// for the contract; what this implementation adds, or chooses where the
// contract is silent:
//
//   - Bad input is refused with an error wrapping ErrInvalid (and the
//     *bus.MessageError, if any) that names the field; nothing is written.
//     Put refuses a message that fails Message.Validate or whose type is
//     not document, status, rejection or ack; a Client or IdempotencyKey
//     that is not valid UTF-8 or longer than MaxClientLen /
//     MaxIdempotencyKeyLen; an InboxID that is not an inbox item ID; a
//     negative Attempts; an invalid timeline event. Times must have years
//     1–9999; the time arguments of MarkSent, Settle and Take are required.
//   - Put sets a zero CreatedAt to the store's clock (Config.Now) and
//     stores Attempts, SentAt, Settled, InputSHA256 and Timeline as given.
//   - Package bytes are unique in the outbox: a Put of bytes already there
//     under another message ID (and not an idempotent retry) returns
//     ErrConflict, since the axis deduplicates on the SHA-256 and would
//     never answer the second.
//   - A status 01 (Attrs[bus.AttrStatus] = "01") with InboxID given to Put
//     marks the item answered in the same transaction: ErrConflict if it
//     already was, ErrNotFound if there is no such item. Take puts its
//     statuses without that check (they are all 01s for one item) and sets
//     Status01 to the first.
//   - Take refuses statuses that are not valid status 01 messages with an
//     InboxID of "" (set to id) or id. A status whose idempotency key names
//     an existing entry is ErrConflict; Take then changes nothing.
//   - Every OutboxEntry returned carries its package bytes and timeline.
//     Unsettled also stops early once it has loaded UnsettledBudget bytes
//     of packages (the publisher asks for hundreds of entries, and letters
//     are up to 16 MiB).
//   - Unsettled returns never-sent entries, then sent ones, each group in
//     put order (not in SentAt order). A never-sent entry's SentAt is the
//     zero time, so a zero sentBefore returns nothing. It reads only the
//     unsettled entries, skipping in-flight ones (sent at or after
//     sentBefore) by an index lookup.
//   - MarkSent of an unknown ID returns ErrNotFound and records nothing
//     (the call is atomic); an ID given twice counts once; SentAt is set to
//     at even if that goes back in time. Marking a settled entry counts the
//     attempt and leaves it settled.
//   - Receive checks that pkg hashes to item.SHA256 and that the routing
//     fields follow the rules of Message.Validate (MessageID, Key, Sender,
//     Recipients); Type must be document, status or rejection; a status
//     has a StatusCode (1–16 bytes of text: the store does not judge
//     codes, edoc does) and other types none; Size must be 0 or
//     len(pkg) and is set to len(pkg); TakenAt and Status01 must be unset.
//     When the timeline reference names no outbox entry, the item is
//     stored all the same (a status about a document this edge no longer
//     has, or a bug upstream) and a warning is logged.
//   - Timeline events are identical when every field is equal, At as an
//     instant (time.Time.Equal) and nil equal to empty for slices. An
//     event needs a Kind of 1–32 bytes of [a-z-], a non-zero At, an SHA256
//     of 64 lowercase hex digits or "", valid OrganIds in Recipients, a
//     StatusCode of at most 16 bytes, and valid UTF-8 text. Events are
//     stored apart from their entry, so a long timeline (a letter to
//     thousands of agencies) costs one small write per event.
//   - Unknown IDs, SHA-256s and keys are ErrNotFound (SentByKey: an empty
//     list). A limit ≤ 0 lists nothing.
//   - Times come back with the offset they were stored with (timeline
//     times in UTC), without monotonic clock readings: compare with Equal.
type EdgeStore struct {
	s *Store
}

var _ bus.EdgeStore = (*EdgeStore)(nil)

// Edge returns the store's edge outbox and inbox. It is cheap: every call
// returns a view of the same file.
func (s *Store) Edge() *EdgeStore { return &EdgeStore{s: s} }

// ---------------------------------------------------------------------------
// Records

// hexSHA256 is a SHA-256 stored as 64 lowercase hex digits in JSON.
type hexSHA256 [32]byte

func (h hexSHA256) MarshalText() ([]byte, error) { return hex.AppendEncode(nil, h[:]), nil }

func (h *hexSHA256) UnmarshalText(b []byte) error {
	if len(b) != 64 {
		return fmt.Errorf("a SHA-256 is 64 hex digits, got %d bytes", len(b))
	}
	_, err := hex.Decode(h[:], b)
	return err
}

// outboxRecord is an OutboxEntry as stored, without the package bytes and
// the timeline (kept in their own buckets).
type outboxRecord struct {
	Seq            uint64            `json:"seq"`
	ID             string            `json:"id"`
	Type           bus.Type          `json:"type"`
	Key            string            `json:"key"`
	Sender         string            `json:"sender,omitempty"`
	Recipients     []string          `json:"recipients,omitempty"`
	SHA256         hexSHA256         `json:"sha256"`
	Size           int               `json:"size"`
	Attrs          map[string]string `json:"attrs,omitempty"`
	IdempotencyKey string            `json:"idempotency_key,omitempty"`
	InputSHA256    hexSHA256         `json:"input_sha256,omitzero"`
	Client         string            `json:"client,omitempty"`
	InboxID        string            `json:"inbox_id,omitempty"`
	CreatedAt      time.Time         `json:"created_at"`
	Attempts       int               `json:"attempts"`
	SentAt         time.Time         `json:"sent_at,omitzero"`
	Settled        time.Time         `json:"settled,omitzero"`
}

func newOutboxRecord(seq uint64, e bus.OutboxEntry) outboxRecord {
	m := e.Message
	return outboxRecord{
		Seq: seq, ID: m.ID, Type: m.Type, Key: m.Key, Sender: m.Sender, Recipients: m.Recipients,
		SHA256: m.SHA256, Size: len(m.Package), Attrs: m.Attrs,
		IdempotencyKey: e.IdempotencyKey, InputSHA256: e.InputSHA256, Client: e.Client, InboxID: e.InboxID,
		CreatedAt: e.CreatedAt, Attempts: e.Attempts, SentAt: e.SentAt, Settled: e.Settled,
	}
}

// entry returns the OutboxEntry of r with pkg and timeline.
func (r outboxRecord) entry(pkg []byte, timeline []bus.TimelineEvent) bus.OutboxEntry {
	return bus.OutboxEntry{
		Message: bus.Message{
			ID: r.ID, Type: r.Type, Key: r.Key, Sender: r.Sender, Recipients: r.Recipients,
			SHA256: r.SHA256, Package: pkg, Attrs: r.Attrs,
		},
		IdempotencyKey: r.IdempotencyKey, InputSHA256: r.InputSHA256, Client: r.Client, InboxID: r.InboxID,
		CreatedAt: r.CreatedAt, Attempts: r.Attempts, SentAt: r.SentAt, Settled: r.Settled,
		Timeline: timeline, Seq: r.Seq, Size: r.Size,
	}
}

// inboxRecord is an InboxItem as stored, without the package bytes.
type inboxRecord struct {
	Seq        uint64    `json:"seq"`
	ID         string    `json:"id"`
	SHA256     hexSHA256 `json:"sha256"`
	MessageID  string    `json:"message_id"`
	Type       bus.Type  `json:"type"`
	Key        string    `json:"key"`
	Sender     string    `json:"sender"`
	Recipients []string  `json:"recipients"`
	StatusCode string    `json:"status,omitempty"`
	Size       int       `json:"size"`
	ReceivedAt time.Time `json:"received_at"`
	TakenAt    time.Time `json:"taken_at,omitzero"`
	Status01   string    `json:"code01,omitempty"`
	// Deliveries is per recipient OrganId (bus.InboxItem.Deliveries).
	Deliveries map[string]bus.ItemDelivery `json:"deliveries,omitempty"`
}

func (r inboxRecord) item() bus.InboxItem {
	return bus.InboxItem{
		Seq: r.Seq, ID: r.ID, SHA256: r.SHA256, MessageID: r.MessageID, Type: r.Type, Key: r.Key,
		Sender: r.Sender, Recipients: r.Recipients, StatusCode: r.StatusCode, Size: r.Size,
		ReceivedAt: r.ReceivedAt, TakenAt: r.TakenAt, Status01: r.Status01,
		Deliveries: maps.Clone(r.Deliveries),
	}
}

func newInboxRecord(it bus.InboxItem) inboxRecord {
	return inboxRecord{
		Seq: it.Seq, ID: it.ID, SHA256: it.SHA256, MessageID: it.MessageID, Type: it.Type, Key: it.Key,
		Sender: it.Sender, Recipients: it.Recipients, StatusCode: it.StatusCode, Size: it.Size,
		ReceivedAt: it.ReceivedAt, TakenAt: it.TakenAt, Status01: it.Status01,
		Deliveries: maps.Clone(it.Deliveries),
	}
}

// canonicalTimelineEvent is the stored form of ev: JSON with At in UTC and empty
// slices omitted, so that two events are identical exactly when their
// encodings are equal.
func canonicalTimelineEvent(ev bus.TimelineEvent) ([]byte, error) {
	ev.At = ev.At.UTC()
	if len(ev.Recipients) == 0 {
		ev.Recipients = nil
	}
	if len(ev.Receipt) == 0 {
		ev.Receipt = nil
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encoding a timeline event: %w", err)
	}
	return b, nil
}

// ---------------------------------------------------------------------------
// Keys

func edgeSeqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq) }

func edgeKeySeq(k []byte) (uint64, bool) {
	if len(k) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(k), true
}

func edgeIdemKey(client, key string) []byte {
	b := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(client)+len(key)), uint64(len(client)))
	return append(append(b, client...), key...)
}

// edgeRootKeyPrefix is the prefix of the edge.outbox.key keys of root key key.
// A root key never contains 0x00 (Message.Validate refuses control
// characters), so prefixes of different keys never overlap.
func edgeRootKeyPrefix(key string) []byte { return append([]byte(key), 0) }

const (
	edgeNeverSent byte = 0
	edgeSent      byte = 1
)

func edgeDueKey(r outboxRecord) []byte {
	class := edgeNeverSent
	if !r.SentAt.IsZero() {
		class = edgeSent
	}
	return binary.BigEndian.AppendUint64([]byte{class}, r.Seq)
}

func edgeDueValue(r outboxRecord) []byte {
	return append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(r.ID)), uint64(edgeNanos(r.SentAt))), r.ID...)
}

var (
	edgeMinNanos = time.Unix(0, math.MinInt64)
	edgeMaxNanos = time.Unix(0, math.MaxInt64)
)

// edgeNanos is t in Unix nanoseconds, clamped to the int64 range (years
// 1678–2262), and 0 for the zero time.
func edgeNanos(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case t.Before(edgeMinNanos):
		return math.MinInt64
	case t.After(edgeMaxNanos):
		return math.MaxInt64
	}
	return t.UnixNano()
}

func edgeEventKey(seq uint64, n uint32) []byte {
	return binary.BigEndian.AppendUint32(edgeSeqKey(seq), n)
}

// ---------------------------------------------------------------------------
// Transactions

// edgeTx is the edge buckets of one transaction.
type edgeTx struct {
	outbox, outboxPkg, outboxSeq, outboxDue, outboxSHA, outboxIdem, outboxKey *bolt.Bucket
	events, eventSHA                                                          *bolt.Bucket
	inbox, inboxPkg, inboxSHA, inboxID, inboxKey                              *bolt.Bucket
}

func edgeBuckets(tx *bolt.Tx) edgeTx {
	b := edgeTx{
		outbox: tx.Bucket(bucketOutbox), outboxPkg: tx.Bucket(bucketOutboxPkg),
		outboxSeq: tx.Bucket(bucketOutboxSeq), outboxDue: tx.Bucket(bucketOutboxDue),
		outboxSHA: tx.Bucket(bucketOutboxSHA), outboxIdem: tx.Bucket(bucketOutboxIdem),
		outboxKey: tx.Bucket(bucketOutboxKey), events: tx.Bucket(bucketOutboxEvents),
		eventSHA: tx.Bucket(bucketOutboxEventSHA),
		inbox:    tx.Bucket(bucketInbox), inboxPkg: tx.Bucket(bucketInboxPkg),
		inboxSHA: tx.Bucket(bucketInboxSHA), inboxID: tx.Bucket(bucketInboxID),
		inboxKey: tx.Bucket(bucketInboxKey),
	}
	if tx.Writable() {
		// Keys that only grow: fill pages instead of leaving half of each
		// empty for inserts that never come.
		for _, bk := range []*bolt.Bucket{b.outboxSeq, b.inbox, b.inboxPkg} {
			bk.FillPercent = 1
		}
	}
	return b
}

// record returns the outbox record with message ID id.
func (b edgeTx) record(id []byte) (outboxRecord, bool, error) {
	v := b.outbox.Get(id)
	if v == nil {
		return outboxRecord{}, false, nil
	}
	var r outboxRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return outboxRecord{}, false, fmt.Errorf("%w: outbox record %q: %w", ErrCorrupt, id, err)
	}
	return r, true, nil
}

func (b edgeTx) putRecord(r outboxRecord) error {
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding outbox record %s: %w", r.ID, err)
	}
	return b.outbox.Put([]byte(r.ID), v)
}

// recordBySHA returns the outbox record whose package has SHA-256 sha.
func (b edgeTx) recordBySHA(sha [32]byte) (outboxRecord, error) {
	id := b.outboxSHA.Get(sha[:])
	if id == nil {
		return outboxRecord{}, fmt.Errorf("outbox entry with package SHA-256 %x: %w", sha, bus.ErrNotFound)
	}
	r, ok, err := b.record(id)
	if err == nil && !ok {
		err = fmt.Errorf("%w: the SHA-256 index names outbox entry %q, which is missing", ErrCorrupt, id)
	}
	return r, err
}

// entry loads the whole OutboxEntry of r: package bytes (copied out of the
// transaction) and timeline.
func (b edgeTx) entry(r outboxRecord) (bus.OutboxEntry, error) {
	pkg := b.outboxPkg.Get([]byte(r.ID))
	if pkg == nil {
		return bus.OutboxEntry{}, fmt.Errorf("%w: outbox entry %s has no package bytes", ErrCorrupt, r.ID)
	}
	tl, err := b.timeline(r.Seq)
	if err != nil {
		return bus.OutboxEntry{}, err
	}
	return r.entry(bytes.Clone(pkg), tl), nil
}

func (b edgeTx) timeline(seq uint64) ([]bus.TimelineEvent, error) {
	var tl []bus.TimelineEvent
	prefix := edgeSeqKey(seq)
	c := b.events.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var ev bus.TimelineEvent
		if err := json.Unmarshal(v, &ev); err != nil {
			return nil, fmt.Errorf("%w: timeline event %x: %w", ErrCorrupt, k, err)
		}
		tl = append(tl, ev)
	}
	return tl, nil
}

// appendEvents appends to the timeline of entry seq each event not
// identical to one already there.
func (b edgeTx) appendEvents(seq uint64, evs ...bus.TimelineEvent) error {
	if len(evs) == 0 {
		return nil
	}
	next, err := b.nextEvent(seq)
	if err != nil {
		return err
	}
	for _, ev := range evs {
		enc, err := canonicalTimelineEvent(ev)
		if err != nil {
			return err
		}
		h := sha256.Sum256(enc)
		dk := append(edgeSeqKey(seq), h[:]...)
		if b.eventSHA.Get(dk) != nil {
			continue
		}
		if next == math.MaxUint32 {
			return fmt.Errorf("the timeline of outbox entry %d is full (%d events)", seq, next)
		}
		if err := b.events.Put(edgeEventKey(seq, next), enc); err != nil {
			return err
		}
		if err := b.eventSHA.Put(dk, binary.BigEndian.AppendUint32(nil, next)); err != nil {
			return err
		}
		next++
	}
	return nil
}

// nextEvent is the number the next timeline event of entry seq gets.
func (b edgeTx) nextEvent(seq uint64) (uint32, error) {
	c := b.events.Cursor()
	var k []byte
	if seq == math.MaxUint64 {
		k, _ = c.Last()
	} else if k, _ = c.Seek(edgeSeqKey(seq + 1)); k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	if k == nil || !bytes.HasPrefix(k, edgeSeqKey(seq)) {
		return 0, nil
	}
	if len(k) != 12 {
		return 0, fmt.Errorf("%w: timeline key %x is %d bytes", ErrCorrupt, k, len(k))
	}
	return binary.BigEndian.Uint32(k[8:]) + 1, nil
}

// inboxRecord returns the inbox item stored under the seq in v (a value of
// an inbox index).
func (b edgeTx) inboxRecord(seqv []byte) (inboxRecord, error) {
	seq, ok := edgeKeySeq(seqv)
	if !ok {
		return inboxRecord{}, fmt.Errorf("%w: an inbox index holds %x, not a seq", ErrCorrupt, seqv)
	}
	v := b.inbox.Get(seqv)
	if v == nil {
		return inboxRecord{}, fmt.Errorf("%w: inbox item %d is indexed but missing", ErrCorrupt, seq)
	}
	var r inboxRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return inboxRecord{}, fmt.Errorf("%w: inbox item %d: %w", ErrCorrupt, seq, err)
	}
	return r, nil
}

func (b edgeTx) putInboxRecord(r inboxRecord) error {
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding inbox item %s: %w", r.ID, err)
	}
	return b.inbox.Put(edgeSeqKey(r.Seq), v)
}

// byIdempotencyKey returns the record put by client with key.
func (b edgeTx) byIdempotencyKey(client, key string) (outboxRecord, bool, error) {
	id := b.outboxIdem.Get(edgeIdemKey(client, key))
	if id == nil {
		return outboxRecord{}, false, nil
	}
	r, ok, err := b.record(id)
	if err == nil && !ok {
		err = fmt.Errorf("%w: the idempotency index names outbox entry %q, which is missing", ErrCorrupt, id)
	}
	return r, ok, err
}

// put adds e (already checked by checkOutboxEntry) to the outbox: see Put.
// With markInbox, a status 01 answering an inbox item marks the item
// answered (Take marks it itself, for several statuses at once).
func (b edgeTx) put(e bus.OutboxEntry, markInbox bool) (stored bus.OutboxEntry, created bool, err error) {
	m := e.Message
	if e.IdempotencyKey != "" {
		r, ok, err := b.byIdempotencyKey(e.Client, e.IdempotencyKey)
		if err != nil {
			return bus.OutboxEntry{}, false, err
		}
		if ok {
			if r.InputSHA256 != e.InputSHA256 {
				return bus.OutboxEntry{}, false, fmt.Errorf("idempotency key %q of client %q was used for entry %s with other input bytes: %w", e.IdempotencyKey, e.Client, r.ID, bus.ErrConflict)
			}
			stored, err := b.entry(r)
			return stored, false, err
		}
	}
	if b.outbox.Get([]byte(m.ID)) != nil {
		return bus.OutboxEntry{}, false, fmt.Errorf("message ID %s is already in the outbox: %w", m.ID, bus.ErrConflict)
	}
	if other := b.outboxSHA.Get(m.SHA256[:]); other != nil {
		return bus.OutboxEntry{}, false, fmt.Errorf("the same package bytes (SHA-256 %x) are already in the outbox as %s: %w", m.SHA256, other, bus.ErrConflict)
	}
	if markInbox && e.InboxID != "" && isStatus01(m) {
		seqv := b.inboxID.Get([]byte(e.InboxID))
		if seqv == nil {
			return bus.OutboxEntry{}, false, fmt.Errorf("status 01 for inbox item %s: %w", e.InboxID, bus.ErrNotFound)
		}
		it, err := b.inboxRecord(seqv)
		if err != nil {
			return bus.OutboxEntry{}, false, err
		}
		if !slices.Contains(it.Recipients, m.Sender) {
			return bus.OutboxEntry{}, false, fmt.Errorf("status 01 for inbox item %s: %w", e.InboxID,
				invalid("Message.Sender", "%s is not a recipient of the item", m.Sender))
		}
		if d := it.Deliveries[m.Sender]; d.Status01 != "" {
			return bus.OutboxEntry{}, false, fmt.Errorf("inbox item %s was already answered with status 01 %s from %s: %w", e.InboxID, d.Status01, m.Sender, bus.ErrConflict)
		}
		it.answer01(m.Sender, m.ID)
		if err := b.putInboxRecord(it); err != nil {
			return bus.OutboxEntry{}, false, err
		}
	}

	seq, err := b.outbox.NextSequence()
	if err != nil {
		return bus.OutboxEntry{}, false, err
	}
	r := newOutboxRecord(seq, e)
	id := []byte(m.ID)
	if err := b.putRecord(r); err != nil {
		return bus.OutboxEntry{}, false, err
	}
	puts := []struct {
		b    *bolt.Bucket
		k, v []byte
	}{
		{b.outboxPkg, id, m.Package},
		{b.outboxSeq, edgeSeqKey(seq), id},
		{b.outboxSHA, m.SHA256[:], id},
	}
	if e.IdempotencyKey != "" {
		puts = append(puts, struct {
			b    *bolt.Bucket
			k, v []byte
		}{b.outboxIdem, edgeIdemKey(e.Client, e.IdempotencyKey), id})
	}
	if m.Type == bus.TypeDocument {
		puts = append(puts, struct {
			b    *bolt.Bucket
			k, v []byte
		}{b.outboxKey, binary.BigEndian.AppendUint64(edgeRootKeyPrefix(m.Key), seq), id})
	}
	if r.Settled.IsZero() {
		puts = append(puts, struct {
			b    *bolt.Bucket
			k, v []byte
		}{b.outboxDue, edgeDueKey(r), edgeDueValue(r)})
	}
	for _, p := range puts {
		if err := p.b.Put(p.k, p.v); err != nil {
			return bus.OutboxEntry{}, false, err
		}
	}
	if err := b.appendEvents(seq, e.Timeline...); err != nil {
		return bus.OutboxEntry{}, false, err
	}
	tl, err := b.timeline(seq)
	if err != nil {
		return bus.OutboxEntry{}, false, err
	}
	return r.entry(m.Package, tl), true, nil
}

// migrateEdge1to2 gives every inbox item of a schema-1 file its
// per-agency Deliveries: schema 1 kept only the item's first TakenAt and
// first 01, and put one 01 per recipient agency at once.
func migrateEdge1to2(tx *bolt.Tx) error {
	outbox, inbox := tx.Bucket(bucketOutbox), tx.Bucket(bucketInbox)
	if outbox == nil || inbox == nil {
		return nil
	}
	answers := map[string]map[string]string{} // inbox item ID → sender → 01 ID
	err := outbox.ForEach(func(k, v []byte) error {
		var r outboxRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("%w: outbox record %q: %w", ErrCorrupt, k, err)
		}
		if r.InboxID == "" || !isStatus01(bus.Message{Type: r.Type, Attrs: r.Attrs}) {
			return nil
		}
		if answers[r.InboxID] == nil {
			answers[r.InboxID] = map[string]string{}
		}
		if _, dup := answers[r.InboxID][r.Sender]; !dup {
			answers[r.InboxID][r.Sender] = r.ID
		}
		return nil
	})
	if err != nil {
		return err
	}
	var updates []inboxRecord
	err = inbox.ForEach(func(k, v []byte) error {
		var r inboxRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("%w: inbox item %x: %w", ErrCorrupt, k, err)
		}
		if r.TakenAt.IsZero() && answers[r.ID] == nil {
			return nil
		}
		r.Deliveries = map[string]bus.ItemDelivery{}
		for _, organ := range r.Recipients {
			d := bus.ItemDelivery{TakenAt: r.TakenAt, Status01: answers[r.ID][organ]}
			if !d.TakenAt.IsZero() || d.Status01 != "" {
				r.Deliveries[organ] = d
			}
		}
		updates = append(updates, r)
		return nil
	})
	if err != nil {
		return err
	}
	b := edgeBuckets(tx)
	for _, r := range updates {
		if err := b.putInboxRecord(r); err != nil {
			return err
		}
	}
	return nil
}

// migrateEdge2to3 builds the inbox index by root-document key.
func migrateEdge2to3(tx *bolt.Tx) error {
	inbox := tx.Bucket(bucketInbox)
	if inbox == nil {
		return nil
	}
	idx, err := tx.CreateBucketIfNotExists(bucketInboxKey)
	if err != nil {
		return err
	}
	return inbox.ForEach(func(k, v []byte) error {
		var r inboxRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("%w: inbox item %x: %w", ErrCorrupt, k, err)
		}
		return idx.Put(binary.BigEndian.AppendUint64(edgeRootKeyPrefix(r.Key), r.Seq), nil)
	})
}

// InboxByKey implements bus.EdgeStore.
func (es *EdgeStore) InboxByKey(ctx context.Context, key string) ([]bus.InboxItem, error) {
	var out []bus.InboxItem
	err := es.s.view(ctx, func(tx *bolt.Tx) error {
		out = out[:0]
		b := edgeBuckets(tx)
		prefix := edgeRootKeyPrefix(key)
		c := b.inboxKey.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8; k, _ = c.Next() {
			r, err := b.inboxRecord(k[len(prefix):])
			if err != nil {
				return err
			}
			out = append(out, r.item())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("inbox items of %q: %w", clipText(key), err)
	}
	return out, nil
}

// answer01 records that status 01 id was sent from organ for the item.
func (r *inboxRecord) answer01(organ, id string) {
	if r.Deliveries == nil {
		r.Deliveries = map[string]bus.ItemDelivery{}
	}
	d := r.Deliveries[organ]
	d.Status01 = id
	r.Deliveries[organ] = d
	if r.Status01 == "" {
		r.Status01 = id
	}
}

func isStatus01(m bus.Message) bool {
	return m.Type == bus.TypeStatus && m.Attrs[bus.AttrStatus] == code01
}

// ---------------------------------------------------------------------------
// Checks of input

// The check functions return errors wrapping ErrInvalid that name the
// field and the rule.

// checkOutboxEntry checks e for Put and sets a zero CreatedAt to now.
func checkOutboxEntry(e *bus.OutboxEntry, now func() time.Time) error {
	if err := e.Message.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	switch e.Message.Type {
	case bus.TypeDocument, bus.TypeStatus, bus.TypeRejection, bus.TypeAck:
	default:
		return invalid("Message.Type", "an outbox holds document, status, rejection and ack messages, not %s", e.Message.Type)
	}
	if err := checkEdgeString("Client", e.Client, MaxClientLen); err != nil {
		return err
	}
	if err := checkEdgeString("IdempotencyKey", e.IdempotencyKey, MaxIdempotencyKeyLen); err != nil {
		return err
	}
	if e.InboxID != "" && !isInboxItemID(e.InboxID) {
		return invalid("InboxID", "an inbox item ID is \"in-\" and 32 lowercase hex digits, not %q", clipText(e.InboxID))
	}
	if e.Attempts < 0 {
		return invalid("Attempts", "must not be negative, got %d", e.Attempts)
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = now()
	}
	for _, t := range []struct {
		field string
		t     time.Time
	}{{"CreatedAt", e.CreatedAt}, {"SentAt", e.SentAt}, {"Settled", e.Settled}} {
		if err := checkEdgeTime(t.field, t.t, false); err != nil {
			return err
		}
	}
	for i, ev := range e.Timeline {
		if err := checkTimelineEvent(fmt.Sprintf("Timeline[%d]", i), ev); err != nil {
			return err
		}
	}
	return nil
}

func checkEdgeString(field, s string, maxLen int) error {
	if len(s) > maxLen {
		return invalid(field, "at most %d bytes, got %d", maxLen, len(s))
	}
	if !utf8.ValidString(s) {
		return invalid(field, "must be valid UTF-8")
	}
	return nil
}

// checkEdgeTime requires t to be stored as JSON (years 1–9999) and, if
// required, not zero.
func checkEdgeTime(field string, t time.Time, required bool) error {
	if t.IsZero() {
		if required {
			return invalid(field, "a time is required")
		}
		return nil
	}
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return invalid(field, "the year must be 1–9999, got %d", y)
	}
	return nil
}

func isInboxItemID(id string) bool {
	rest, ok := strings.CutPrefix(id, "in-")
	return ok && len(rest) == 32 && isLowerHexString(rest)
}

// maxStatusCodeLen bounds a status code as the store keeps it. The store
// does not judge codes (edoc does): an unknown code in a verified package
// must not make the edge fail to store it forever.
const maxStatusCodeLen = 16

// isStatusCodeText reports whether s is 1–maxStatusCodeLen bytes of
// UTF-8 text without control characters.
func isStatusCodeText(s string) bool {
	if s == "" || len(s) > maxStatusCodeLen || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

func isLowerHexString(s string) bool {
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// checkTimelineEvent checks a timeline event (see EdgeStore for the rules).
func checkTimelineEvent(field string, ev bus.TimelineEvent) error {
	ok := len(ev.Kind) > 0 && len(ev.Kind) <= 32
	for _, c := range []byte(ev.Kind) {
		ok = ok && ('a' <= c && c <= 'z' || c == '-')
	}
	if !ok {
		return invalid(field+".Kind", "a kind is 1–32 bytes of [a-z-], not %q", clipText(string(ev.Kind)))
	}
	if err := checkEdgeTime(field+".At", ev.At, true); err != nil {
		return err
	}
	if ev.SHA256 != "" && (len(ev.SHA256) != 64 || !isLowerHexString(ev.SHA256)) {
		return invalid(field+".SHA256", "64 lowercase hex digits or empty, not %q", clipText(ev.SHA256))
	}
	for i, r := range ev.Recipients {
		if err := bus.ValidateOrganID(r); err != nil {
			return fmt.Errorf("%w: %s.Recipients[%d]: %w", ErrInvalid, field, i, err)
		}
	}
	if ev.StatusCode != "" && !isStatusCodeText(ev.StatusCode) {
		return invalid(field+".StatusCode", "at most %d bytes of text without control characters, not %q", maxStatusCodeLen, clipText(ev.StatusCode))
	}
	for _, f := range []struct{ name, s string }{{"MessageID", ev.MessageID}, {"Edge", ev.Edge}, {"Reason", ev.Reason}, {"Detail", ev.Detail}} {
		if !utf8.ValidString(f.s) {
			return invalid(field+"."+f.name, "must be valid UTF-8")
		}
	}
	return nil
}

// checkInboxItem checks item and pkg for Receive and sets item.Size.
func checkInboxItem(item *bus.InboxItem, pkg []byte) error {
	switch item.Type {
	case bus.TypeDocument, bus.TypeStatus, bus.TypeRejection:
	default:
		return invalid("Type", "an inbox holds document, status and rejection packages, not %q", clipText(string(item.Type)))
	}
	// The routing fields follow the rules of a Message; Validate also
	// hashes pkg against SHA256.
	m := bus.Message{ID: item.MessageID, Type: item.Type, Key: item.Key, Sender: item.Sender, Recipients: item.Recipients, SHA256: item.SHA256, Package: pkg}
	if err := m.Validate(); err != nil {
		var me *bus.MessageError
		if errors.As(err, &me) {
			renamed := *me
			switch me.Field {
			case "ID":
				renamed.Field = "MessageID"
			case "Package":
				renamed.Field = "package bytes"
			}
			err = &renamed
		}
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	switch {
	case item.Type == bus.TypeStatus && !isStatusCodeText(item.StatusCode):
		return invalid("StatusCode", "a status item has a code of 1–%d bytes of text without control characters, not %q", maxStatusCodeLen, clipText(item.StatusCode))
	case item.Type != bus.TypeStatus && item.StatusCode != "":
		return invalid("StatusCode", "only a status item has one; this %s has %q", item.Type, clipText(item.StatusCode))
	case item.Size != 0 && item.Size != len(pkg):
		return invalid("Size", "%d, but the package is %d bytes", item.Size, len(pkg))
	case !item.TakenAt.IsZero():
		return invalid("TakenAt", "set by Take, must be zero on Receive")
	case item.Status01 != "":
		return invalid("Status01", "set when the 01 status is put, must be empty on Receive")
	case len(item.Deliveries) != 0:
		return invalid("Deliveries", "set by Take, must be empty on Receive")
	}
	item.Size = len(pkg)
	return checkEdgeTime("ReceivedAt", item.ReceivedAt, false)
}

// clipText shortens hostile input before it goes into an error message.
func clipText(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// ---------------------------------------------------------------------------
// bus.EdgeStore

// Put implements bus.EdgeStore.
func (es *EdgeStore) Put(ctx context.Context, e bus.OutboxEntry) (bus.OutboxEntry, bool, error) {
	if err := checkOutboxEntry(&e, es.s.cfg.Now); err != nil {
		return bus.OutboxEntry{}, false, fmt.Errorf("putting outbox entry %q: %w", clipText(e.Message.ID), err)
	}
	var (
		stored  bus.OutboxEntry
		created bool
	)
	err := es.s.commit(ctx, func(tx *bolt.Tx) error {
		var err error
		stored, created, err = edgeBuckets(tx).put(e, true)
		return err
	})
	if err != nil {
		return bus.OutboxEntry{}, false, fmt.Errorf("putting outbox entry %s: %w", e.Message.ID, err)
	}
	return stored, created, nil
}

// PutMany implements bus.EdgeStore.
func (es *EdgeStore) PutMany(ctx context.Context, entries []bus.OutboxEntry) ([]bus.OutboxEntry, error) {
	es2 := slices.Clone(entries)
	for i := range es2 {
		if err := checkOutboxEntry(&es2[i], es.s.cfg.Now); err != nil {
			return nil, fmt.Errorf("putting outbox entries: [%d] %q: %w", i, clipText(es2[i].Message.ID), err)
		}
	}
	var stored []bus.OutboxEntry
	err := es.s.commit(ctx, func(tx *bolt.Tx) error {
		stored = stored[:0]
		b := edgeBuckets(tx)
		for i, e := range es2 {
			st, _, err := b.put(e, true)
			if err != nil {
				return fmt.Errorf("[%d] %s: %w", i, e.Message.ID, err)
			}
			stored = append(stored, st)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("putting outbox entries: %w", err)
	}
	return stored, nil
}

// ByIdempotencyKey implements bus.EdgeStore.
func (es *EdgeStore) ByIdempotencyKey(ctx context.Context, client, key string) (bus.OutboxEntry, error) {
	var e bus.OutboxEntry
	err := es.s.view(ctx, func(tx *bolt.Tx) error {
		b := edgeBuckets(tx)
		r, ok, err := b.byIdempotencyKey(client, key)
		if err != nil {
			return err
		}
		if !ok {
			return bus.ErrNotFound
		}
		e, err = b.entry(r)
		return err
	})
	if err != nil {
		return bus.OutboxEntry{}, fmt.Errorf("outbox entry of client %q with idempotency key %q: %w", clipText(client), clipText(key), err)
	}
	return e, nil
}

// Sent implements bus.EdgeStore.
func (es *EdgeStore) Sent(ctx context.Context, id string) (bus.OutboxEntry, error) {
	var e bus.OutboxEntry
	err := es.s.view(ctx, func(tx *bolt.Tx) error {
		b := edgeBuckets(tx)
		r, ok, err := b.record([]byte(id))
		if err != nil {
			return err
		}
		if !ok {
			return bus.ErrNotFound
		}
		e, err = b.entry(r)
		return err
	})
	if err != nil {
		return bus.OutboxEntry{}, fmt.Errorf("outbox entry %q: %w", clipText(id), err)
	}
	return e, nil
}

// SentBySHA implements bus.EdgeStore.
func (es *EdgeStore) SentBySHA(ctx context.Context, sha [32]byte) (bus.OutboxEntry, error) {
	var e bus.OutboxEntry
	err := es.s.view(ctx, func(tx *bolt.Tx) error {
		b := edgeBuckets(tx)
		r, err := b.recordBySHA(sha)
		if err != nil {
			return err
		}
		e, err = b.entry(r)
		return err
	})
	return e, err
}

// SentByKey implements bus.EdgeStore. A key with no documents gives an
// empty list and no error.
func (es *EdgeStore) SentByKey(ctx context.Context, key string) ([]bus.OutboxEntry, error) {
	var out []bus.OutboxEntry
	err := es.s.view(ctx, func(tx *bolt.Tx) error {
		out = out[:0]
		b := edgeBuckets(tx)
		prefix := edgeRootKeyPrefix(key)
		c := b.outboxKey.Cursor()
		for k, id := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, id = c.Next() {
			if len(k) != len(prefix)+8 {
				continue // a longer key sharing the prefix cannot exist; see edgeRootKeyPrefix
			}
			r, ok, err := b.record(id)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%w: the root-key index names outbox entry %q, which is missing", ErrCorrupt, id)
			}
			e, err := b.entry(r)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("outbox documents of key %q: %w", clipText(key), err)
	}
	return out, nil
}

// Unsettled implements bus.EdgeStore. It reads only unsettled entries:
// all never-sent ones up to limit, then sent ones in put order, skipping
// those sent at or after sentBefore (the in-flight ones). It stops early
// once the packages loaded total UnsettledBudget bytes.
func (es *EdgeStore) Unsettled(ctx context.Context, sentBefore time.Time, limit int) ([]bus.OutboxEntry, error) {
	var out []bus.OutboxEntry
	if limit <= 0 || !(time.Time{}).Before(sentBefore) {
		return out, nil
	}
	cutoff := edgeNanos(sentBefore)
	err := es.s.view(ctx, func(tx *bolt.Tx) error {
		b := edgeBuckets(tx)
		c := b.outboxDue.Cursor()
		loaded := 0
		for _, class := range []byte{edgeNeverSent, edgeSent} {
			for k, v := c.Seek([]byte{class}); k != nil && k[0] == class; k, v = c.Next() {
				if len(out) >= limit || loaded >= UnsettledBudget {
					return nil
				}
				if len(v) < 8 {
					return fmt.Errorf("%w: unsettled index value %x", ErrCorrupt, v)
				}
				if class == edgeSent && int64(binary.BigEndian.Uint64(v)) >= cutoff {
					continue
				}
				r, ok, err := b.record(v[8:])
				if err != nil {
					return err
				}
				if !ok {
					return fmt.Errorf("%w: the unsettled index names outbox entry %q, which is missing", ErrCorrupt, v[8:])
				}
				e, err := b.entry(r)
				if err != nil {
					return err
				}
				out = append(out, e)
				loaded += len(e.Message.Package)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing unsettled outbox entries: %w", err)
	}
	return out, nil
}

// MarkSent implements bus.EdgeStore.
func (es *EdgeStore) MarkSent(ctx context.Context, ids []string, at time.Time) error {
	if err := checkEdgeTime("at", at, true); err != nil {
		return fmt.Errorf("marking outbox entries sent: %w", err)
	}
	var unique []string
	for _, id := range ids {
		if !slices.Contains(unique, id) {
			unique = append(unique, id)
		}
	}
	if len(unique) == 0 {
		return nil
	}
	err := es.s.commit(ctx, func(tx *bolt.Tx) error {
		b := edgeBuckets(tx)
		for _, id := range unique {
			r, ok, err := b.record([]byte(id))
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("outbox entry %q: %w", clipText(id), bus.ErrNotFound)
			}
			due := r.Settled.IsZero()
			if due {
				if err := b.outboxDue.Delete(edgeDueKey(r)); err != nil {
					return err
				}
			}
			r.Attempts++
			r.SentAt = at
			if due && r.Type == bus.TypeAck {
				r.Settled, due = at, false
			}
			if due {
				if err := b.outboxDue.Put(edgeDueKey(r), edgeDueValue(r)); err != nil {
					return err
				}
			}
			if err := b.putRecord(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("marking %d outbox entries sent: %w", len(unique), err)
	}
	return nil
}

// Settle implements bus.EdgeStore.
func (es *EdgeStore) Settle(ctx context.Context, sha [32]byte, ev bus.TimelineEvent, at time.Time) error {
	if err := checkEdgeTime("at", at, true); err != nil {
		return fmt.Errorf("settling outbox entry %x: %w", sha, err)
	}
	if err := checkTimelineEvent("ev", ev); err != nil {
		return fmt.Errorf("settling outbox entry %x: %w", sha, err)
	}
	err := es.s.commit(ctx, func(tx *bolt.Tx) error {
		b := edgeBuckets(tx)
		r, err := b.recordBySHA(sha)
		if err != nil {
			return err
		}
		if r.Settled.IsZero() {
			if err := b.outboxDue.Delete(edgeDueKey(r)); err != nil {
				return err
			}
			r.Settled = at
			if err := b.putRecord(r); err != nil {
				return err
			}
		}
		return b.appendEvents(r.Seq, ev)
	})
	if err != nil {
		return fmt.Errorf("settling outbox entry %x: %w", sha, err)
	}
	return nil
}

// AddTimeline implements bus.EdgeStore.
func (es *EdgeStore) AddTimeline(ctx context.Context, sha [32]byte, ev bus.TimelineEvent) error {
	if err := checkTimelineEvent("ev", ev); err != nil {
		return fmt.Errorf("adding to the timeline of outbox entry %x: %w", sha, err)
	}
	err := es.s.commit(ctx, func(tx *bolt.Tx) error {
		b := edgeBuckets(tx)
		r, err := b.recordBySHA(sha)
		if err != nil {
			return err
		}
		return b.appendEvents(r.Seq, ev)
	})
	if err != nil {
		return fmt.Errorf("adding to the timeline of outbox entry %x: %w", sha, err)
	}
	return nil
}

// Receive implements bus.EdgeStore.
func (es *EdgeStore) Receive(ctx context.Context, item bus.InboxItem, pkg []byte, timeline *bus.TimelineRef) (bus.InboxItem, bool, error) {
	if err := checkInboxItem(&item, pkg); err != nil {
		return bus.InboxItem{}, false, fmt.Errorf("receiving package %x: %w", item.SHA256, err)
	}
	if timeline != nil {
		if err := checkTimelineEvent("timeline.Event", timeline.Event); err != nil {
			return bus.InboxItem{}, false, fmt.Errorf("receiving package %x: %w", item.SHA256, err)
		}
	}
	item.ID = bus.InboxID(item.SHA256)
	if item.ReceivedAt.IsZero() {
		item.ReceivedAt = es.s.cfg.Now()
	}
	var (
		stored   bus.InboxItem
		created  bool
		orphaned bool // the timeline reference names no outbox entry
	)
	err := es.s.commit(ctx, func(tx *bolt.Tx) error {
		b := edgeBuckets(tx)
		created, orphaned = false, false
		if seqv := b.inboxSHA.Get(item.SHA256[:]); seqv != nil {
			r, err := b.inboxRecord(seqv)
			stored = r.item()
			return err
		}
		if seqv := b.inboxID.Get([]byte(item.ID)); seqv != nil {
			return fmt.Errorf("item ID %s is taken by another package with the same first 16 bytes of SHA-256: %w", item.ID, bus.ErrConflict)
		}
		seq, err := b.inbox.NextSequence()
		if err != nil {
			return err
		}
		it := item
		it.Seq = seq
		if err := b.putInboxRecord(newInboxRecord(it)); err != nil {
			return err
		}
		if err := b.inboxPkg.Put(edgeSeqKey(seq), pkg); err != nil {
			return err
		}
		if err := b.inboxSHA.Put(it.SHA256[:], edgeSeqKey(seq)); err != nil {
			return err
		}
		if err := b.inboxID.Put([]byte(it.ID), edgeSeqKey(seq)); err != nil {
			return err
		}
		if err := b.inboxKey.Put(binary.BigEndian.AppendUint64(edgeRootKeyPrefix(it.Key), seq), nil); err != nil {
			return err
		}
		if timeline != nil {
			r, err := b.recordBySHA(timeline.SHA256)
			switch {
			case errors.Is(err, bus.ErrNotFound):
				orphaned = true
			case err != nil:
				return err
			default:
				if err := b.appendEvents(r.Seq, timeline.Event); err != nil {
					return err
				}
			}
		}
		stored, created = it, true
		return nil
	})
	if err != nil {
		return bus.InboxItem{}, false, fmt.Errorf("receiving package %x: %w", item.SHA256, err)
	}
	if orphaned {
		es.s.cfg.Logger.Warn("received a package about a document not in the outbox; stored it without a timeline event",
			"inbox_id", stored.ID, "msg_id", stored.MessageID, "sender", stored.Sender, "about_sha256", hex.EncodeToString(timeline.SHA256[:]))
	}
	return stored, created, nil
}

// Inbox implements bus.EdgeStore.
func (es *EdgeStore) Inbox(ctx context.Context, after uint64, limit int) ([]bus.InboxItem, error) {
	var out []bus.InboxItem
	if limit <= 0 || after == math.MaxUint64 {
		return out, nil
	}
	err := es.s.view(ctx, func(tx *bolt.Tx) error {
		out = out[:0]
		c := tx.Bucket(bucketInbox).Cursor()
		for k, v := c.Seek(edgeSeqKey(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			var r inboxRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("%w: inbox item %x: %w", ErrCorrupt, k, err)
			}
			out = append(out, r.item())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing the inbox after %d: %w", after, err)
	}
	return out, nil
}

// Item implements bus.EdgeStore.
func (es *EdgeStore) Item(ctx context.Context, id string) (bus.InboxItem, []byte, error) {
	var (
		item bus.InboxItem
		pkg  []byte
	)
	err := es.s.view(ctx, func(tx *bolt.Tx) error {
		b := edgeBuckets(tx)
		seqv := b.inboxID.Get([]byte(id))
		if seqv == nil {
			return bus.ErrNotFound
		}
		r, err := b.inboxRecord(seqv)
		if err != nil {
			return err
		}
		v := b.inboxPkg.Get(seqv)
		if v == nil {
			return fmt.Errorf("%w: inbox item %d has no package bytes", ErrCorrupt, r.Seq)
		}
		item, pkg = r.item(), bytes.Clone(v)
		return nil
	})
	if err != nil {
		return bus.InboxItem{}, nil, fmt.Errorf("inbox item %q: %w", clipText(id), err)
	}
	return item, pkg, nil
}

// Take implements bus.EdgeStore.
func (es *EdgeStore) Take(ctx context.Context, id string, t bus.Taking) (bus.InboxItem, error) {
	fail := func(err error) (bus.InboxItem, error) {
		return bus.InboxItem{}, fmt.Errorf("taking inbox item %q: %w", clipText(id), err)
	}
	if err := checkEdgeTime("At", t.At, true); err != nil {
		return fail(err)
	}
	if !t.Ack.Valid() {
		return fail(invalid("Ack", "%q is not processing, done or fail", clipText(string(t.Ack))))
	}
	sts := slices.Clone(t.Statuses)
	for i := range sts {
		st := &sts[i]
		if err := checkOutboxEntry(st, es.s.cfg.Now); err != nil {
			return fail(fmt.Errorf("statuses[%d]: %w", i, err))
		}
		if !isStatus01(st.Message) {
			return fail(invalid(fmt.Sprintf("statuses[%d]", i), "must be a status message with Attrs[%q] = %q", bus.AttrStatus, code01))
		}
		switch st.InboxID {
		case "":
			st.InboxID = id
		case id:
		default:
			return fail(invalid(fmt.Sprintf("statuses[%d].InboxID", i), "%s is not the item taken", st.InboxID))
		}
		for j := range i {
			if sts[j].Message.Sender == st.Message.Sender {
				return fail(invalid(fmt.Sprintf("statuses[%d].Message.Sender", i), "%s has two 01s (statuses[%d])", st.Message.Sender, j))
			}
		}
	}
	var item bus.InboxItem
	err := es.s.commit(ctx, func(tx *bolt.Tx) error {
		b := edgeBuckets(tx)
		seqv := b.inboxID.Get([]byte(id))
		if seqv == nil {
			return bus.ErrNotFound
		}
		r, err := b.inboxRecord(seqv)
		if err != nil {
			return err
		}
		organs := t.Organs
		if organs == nil {
			organs = r.Recipients
		}
		for i, o := range organs {
			if !slices.Contains(r.Recipients, o) {
				return invalid(fmt.Sprintf("Organs[%d]", i), "%s is not a recipient of the item", clipText(o))
			}
		}
		for i, st := range sts {
			if !slices.Contains(organs, st.Message.Sender) {
				return invalid(fmt.Sprintf("statuses[%d].Message.Sender", i), "%s is not among the organs taking the item", st.Message.Sender)
			}
		}
		if r.TakenAt.IsZero() {
			r.TakenAt = t.At
		}
		if r.Deliveries == nil && len(organs) > 0 {
			r.Deliveries = map[string]bus.ItemDelivery{}
		}
		for _, o := range organs {
			d := r.Deliveries[o]
			if d.TakenAt.IsZero() {
				d.TakenAt = t.At
			}
			switch {
			case t.Ack == bus.DMSAckNone, t.Ack == d.Ack:
			case d.Ack.Final() && t.Ack.Final():
				return fmt.Errorf("%s acknowledged it %s, it cannot become %s: %w", o, d.Ack, t.Ack, bus.ErrConflict)
			case d.Ack.Final(): // processing after done or fail: keep the final one
			default:
				d.Ack = t.Ack
			}
			r.Deliveries[o] = d
		}
		for _, st := range sts {
			if r.Deliveries[st.Message.Sender].Status01 != "" {
				continue
			}
			stored, created, err := b.put(st, false)
			if err != nil {
				return fmt.Errorf("putting status 01 %s: %w", st.Message.ID, err)
			}
			if !created {
				return fmt.Errorf("putting status 01 %s: its idempotency key names outbox entry %s: %w", st.Message.ID, stored.Message.ID, bus.ErrConflict)
			}
			r.answer01(st.Message.Sender, st.Message.ID)
		}
		if err := b.putInboxRecord(r); err != nil {
			return err
		}
		item = r.item()
		return nil
	})
	if err != nil {
		return fail(err)
	}
	return item, nil
}

// Outbox implements bus.EdgeStore. It walks the outbox from the newest
// entry back, so a query that matches few entries reads many.
func (es *EdgeStore) Outbox(ctx context.Context, q bus.OutboxQuery) ([]bus.OutboxEntry, error) {
	var out []bus.OutboxEntry
	if q.Limit <= 0 {
		return out, nil
	}
	types := q.Types
	if types == nil {
		types = []bus.Type{bus.TypeDocument, bus.TypeStatus}
	}
	err := es.s.view(ctx, func(tx *bolt.Tx) error {
		out = out[:0]
		b := edgeBuckets(tx)
		c := b.outboxSeq.Cursor()
		var k, v []byte
		if q.Before == 0 {
			k, v = c.Last()
		} else {
			c.Seek(edgeSeqKey(q.Before))
			k, v = c.Prev()
		}
		for n := 0; k != nil && len(out) < q.Limit; k, v = c.Prev() {
			if n++; n%4096 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			if seq, ok := edgeKeySeq(k); !ok || (q.Before != 0 && seq >= q.Before) {
				continue
			}
			r, ok, err := b.record(v)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%w: outbox seq %x names %q, which is not in the outbox", ErrCorrupt, k, v)
			}
			if !slices.Contains(types, r.Type) ||
				q.Senders != nil && !slices.Contains(q.Senders, r.Sender) ||
				q.Client != "" && r.Client != q.Client ||
				q.Key != "" && r.Key != q.Key ||
				!q.Since.IsZero() && r.CreatedAt.Before(q.Since) ||
				!q.Until.IsZero() && !r.CreatedAt.Before(q.Until) {
				continue
			}
			tl, err := b.timeline(r.Seq)
			if err != nil {
				return err
			}
			out = append(out, r.entry(nil, tl))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing the outbox: %w", err)
	}
	return out, nil
}

// LastSeq implements bus.EdgeStore.
func (es *EdgeStore) LastSeq(ctx context.Context) (uint64, error) {
	var seq uint64
	err := es.s.view(ctx, func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bucketInbox).Cursor().Last()
		if k == nil {
			return nil
		}
		var ok bool
		if seq, ok = edgeKeySeq(k); !ok {
			return fmt.Errorf("%w: inbox key %x", ErrCorrupt, k)
		}
		return nil
	})
	return seq, err
}

// ---------------------------------------------------------------------------
// Check

// Check verifies the edge store against its invariants, in one read
// transaction: every record decodes and is keyed by its own ID or seq;
// every package's bytes hash to its SHA-256; every index entry points at a
// record that agrees with it and every record has exactly its index
// entries (the unsettled index holds exactly the unsettled entries, in the
// right class, with their SentAt); timeline events decode and are unique;
// every inbox item answered with 01 names an outbox status 01 for that
// item. It returns an error wrapping ErrCorrupt at the first breach. Its
// cost is a read and a SHA-256 of every stored package, and memory for
// every index key; the read transaction pins the file's old pages while
// it runs (see the package Caveats).
func (es *EdgeStore) Check(ctx context.Context) error {
	err := es.s.view(ctx, func(tx *bolt.Tx) error {
		b := edgeBuckets(tx)
		corrupt := func(format string, args ...any) error {
			return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
		}
		// want collects, per index, the entries the records imply. The
		// package buckets are compared by key only (the bytes were hashed).
		type index struct {
			name    []byte
			b       *bolt.Bucket
			keyOnly bool
			want    map[string]string
		}
		indexes := map[*bolt.Bucket]*index{}
		for _, ix := range []index{
			{name: bucketOutboxPkg, b: b.outboxPkg, keyOnly: true}, {name: bucketOutboxSeq, b: b.outboxSeq},
			{name: bucketOutboxDue, b: b.outboxDue}, {name: bucketOutboxSHA, b: b.outboxSHA},
			{name: bucketOutboxIdem, b: b.outboxIdem}, {name: bucketOutboxKey, b: b.outboxKey},
			{name: bucketInboxPkg, b: b.inboxPkg, keyOnly: true}, {name: bucketInboxSHA, b: b.inboxSHA},
			{name: bucketInboxID, b: b.inboxID}, {name: bucketInboxKey, b: b.inboxKey, keyOnly: true},
		} {
			ix.want = map[string]string{}
			indexes[ix.b] = &ix
		}
		expect := func(bk *bolt.Bucket, k, v []byte) {
			if ix := indexes[bk]; ix.keyOnly {
				ix.want[string(k)] = ""
			} else {
				ix.want[string(k)] = string(v)
			}
		}
		status01s := map[string]outboxRecord{} // outbox statuses 01 answering an item
		answered := map[string]bool{}          // status 01 ID → recorded by its item
		eventCount := map[uint64]int{}
		err := b.outbox.ForEach(func(k, v []byte) error {
			var r outboxRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return corrupt("outbox record %q: %v", k, err)
			}
			if r.ID != string(k) {
				return corrupt("outbox record under %q has ID %q", k, r.ID)
			}
			if r.Seq == 0 || r.Seq > b.outbox.Sequence() {
				return corrupt("outbox entry %s has seq %d, the outbox sequence is %d", r.ID, r.Seq, b.outbox.Sequence())
			}
			pkg := b.outboxPkg.Get(k)
			if pkg == nil || len(pkg) != r.Size || sha256.Sum256(pkg) != r.SHA256 {
				return corrupt("outbox entry %s: the package bytes are missing or do not hash to its SHA-256", r.ID)
			}
			expect(b.outboxPkg, k, pkg)
			expect(b.outboxSeq, edgeSeqKey(r.Seq), k)
			expect(b.outboxSHA, r.SHA256[:], k)
			if r.IdempotencyKey != "" {
				expect(b.outboxIdem, edgeIdemKey(r.Client, r.IdempotencyKey), k)
			}
			if r.Type == bus.TypeDocument {
				expect(b.outboxKey, binary.BigEndian.AppendUint64(edgeRootKeyPrefix(r.Key), r.Seq), k)
			}
			if r.Settled.IsZero() {
				expect(b.outboxDue, edgeDueKey(r), edgeDueValue(r))
			}
			if r.InboxID != "" && isStatus01(bus.Message{Type: r.Type, Attrs: r.Attrs}) {
				status01s[r.ID] = r
			}
			eventCount[r.Seq] = 0
			return nil
		})
		if err != nil {
			return err
		}
		// Timelines: numbered from 0 without gaps, each event unique.
		seen := map[string]bool{}
		err = b.events.ForEach(func(k, v []byte) error {
			if len(k) != 12 {
				return corrupt("timeline key %x", k)
			}
			seq, n := binary.BigEndian.Uint64(k), binary.BigEndian.Uint32(k[8:])
			c, ok := eventCount[seq]
			if !ok {
				return corrupt("timeline event %x of no outbox entry", k)
			}
			if int(n) != c {
				return corrupt("timeline of entry %d: event %d where %d was expected", seq, n, c)
			}
			eventCount[seq]++
			var ev bus.TimelineEvent
			if err := json.Unmarshal(v, &ev); err != nil {
				return corrupt("timeline event %x: %v", k, err)
			}
			enc, err := canonicalTimelineEvent(ev)
			if err != nil || !bytes.Equal(enc, v) {
				return corrupt("timeline event %x is not in canonical form", k)
			}
			h := sha256.Sum256(v)
			dk := string(append(edgeSeqKey(seq), h[:]...))
			if seen[dk] {
				return corrupt("timeline of entry %d holds an event twice", seq)
			}
			seen[dk] = true
			if got := b.eventSHA.Get([]byte(dk)); !bytes.Equal(got, k[8:]) {
				return corrupt("timeline event %x is not in the dedup index", k)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if n := b.eventSHA.Stats().KeyN; n != len(seen) {
			return corrupt("the event dedup index has %d entries for %d events", n, len(seen))
		}

		err = b.inbox.ForEach(func(k, v []byte) error {
			var r inboxRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return corrupt("inbox item %x: %v", k, err)
			}
			if seq, ok := edgeKeySeq(k); !ok || seq != r.Seq || seq == 0 || seq > b.inbox.Sequence() {
				return corrupt("inbox item under %x has seq %d (inbox sequence %d)", k, r.Seq, b.inbox.Sequence())
			}
			if r.ID != bus.InboxID(r.SHA256) {
				return corrupt("inbox item %d has ID %s, its SHA-256 gives %s", r.Seq, r.ID, bus.InboxID(r.SHA256))
			}
			pkg := b.inboxPkg.Get(k)
			if pkg == nil || len(pkg) != r.Size || sha256.Sum256(pkg) != r.SHA256 {
				return corrupt("inbox item %s: the package bytes are missing or do not hash to its SHA-256", r.ID)
			}
			expect(b.inboxPkg, k, pkg)
			expect(b.inboxSHA, r.SHA256[:], k)
			expect(b.inboxID, []byte(r.ID), k)
			expect(b.inboxKey, binary.BigEndian.AppendUint64(edgeRootKeyPrefix(r.Key), r.Seq), nil)
			if r.Status01 != "" {
				st, ok := status01s[r.Status01]
				if !ok || st.InboxID != r.ID {
					return corrupt("inbox item %s was answered with 01 %s, which is not a status 01 for it in the outbox", r.ID, r.Status01)
				}
			}
			for organ, d := range r.Deliveries {
				if !slices.Contains(r.Recipients, organ) {
					return corrupt("inbox item %s has a delivery to %s, not one of its recipients", r.ID, organ)
				}
				if !d.Ack.Valid() {
					return corrupt("inbox item %s: delivery to %s has ack %q", r.ID, organ, d.Ack)
				}
				if d.Status01 == "" {
					continue
				}
				st, ok := status01s[d.Status01]
				if !ok || st.InboxID != r.ID || st.Sender != organ {
					return corrupt("inbox item %s: %s answered with 01 %s, which is not its status 01 for it in the outbox", r.ID, organ, d.Status01)
				}
				answered[d.Status01] = true
			}
			if r.Status01 != "" && !answered[r.Status01] {
				return corrupt("inbox item %s: its first 01 %s is not among its deliveries", r.ID, r.Status01)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for id, st := range status01s {
			if !answered[id] {
				return corrupt("outbox status 01 %s answers inbox item %s, which is missing or does not record it", id, st.InboxID)
			}
		}
		for _, ix := range indexes {
			n := 0
			err := ix.b.ForEach(func(k, v []byte) error {
				n++
				w, ok := ix.want[string(k)]
				if !ok || !ix.keyOnly && w != string(v) {
					return corrupt("%s: entry %x → %.40x is not what the records give", ix.name, k, v)
				}
				return nil
			})
			if err != nil {
				return err
			}
			if n != len(ix.want) {
				return corrupt("%s has %d entries, the records give %d", ix.name, n, len(ix.want))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("checking the edge store: %w", err)
	}
	return nil
}
