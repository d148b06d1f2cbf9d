package dashboard

import (
	"bytes"
	"context"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"
)

const (
	// sweepBatch is how many pairs one sweep transaction marks overdue.
	sweepBatch = 4096
	// minuteRetention is how long per-minute counters are kept.
	minuteRetention = 48 * time.Hour
)

// sweep marks overdue every waiting pair whose deadline has passed, and
// drops per-minute counters past minuteRetention. While the indexer is
// behind the log, "now" is the time of the latest event indexed, so that a
// rebuild does not mark overdue the letters whose answers are further on
// in the log.
func (d *Dashboard) sweep(ctx context.Context) error {
	d.runMu.Lock()
	defer d.runMu.Unlock()
	st := d.State()
	now := d.cfg.Now()
	if st.Cursor < st.LogSize && !st.LastEvent.IsZero() && st.LastEvent.Before(now) {
		now = st.LastEvent
	}
	cfg := applyConfig{sla01: d.cfg.SLA01, sla03: d.cfg.SLA03}
	for ctx.Err() == nil {
		marked, seen := 0, 0
		err := d.db.Update(func(tx *bolt.Tx) error {
			marked = 0
			b := newBatch(tx, cfg)
			var due [][]byte
			c := tx.Bucket(bucketDeadlines).Cursor()
			for k, _ := c.First(); k != nil && len(due) < sweepBatch; k, _ = c.Next() {
				if len(k) < 8 || int64(binary.BigEndian.Uint64(k)) > now.UnixNano() {
					break
				}
				due = append(due, bytes.Clone(k))
			}
			seen = len(due)
			for _, k := range due {
				if err := b.del(bucketDeadlines, k); err != nil {
					return err
				}
				key, recipient, ok := splitPairKey(k[8:])
				if !ok {
					continue
				}
				p, err := b.pair(key, recipient)
				if err != nil {
					return err
				}
				if p == nil || !p.Stage.waiting() || p.Overdue || p.Deadline != int64(binary.BigEndian.Uint64(k)) {
					continue
				}
				p.Overdue, p.Deadline = true, 0
				if err := b.each(recipient, p.Edge, func(s *Stats) { s.Overdue++ }); err != nil {
					return err
				}
				b.touch(key, recipient, p)
				marked++
			}
			if err := b.flush(); err != nil {
				return err
			}
			if len(due) < sweepBatch {
				return pruneMinutes(tx, d.cfg.Now().Add(-minuteRetention))
			}
			return nil
		})
		if err != nil {
			return err
		}
		if marked > 0 {
			d.notify(func(*IndexState) {})
		}
		if seen < sweepBatch {
			return nil
		}
	}
	return ctx.Err()
}

// pruneMinutes deletes per-minute counters of minutes before before, a
// bounded number per call.
func pruneMinutes(tx *bolt.Tx, before time.Time) error {
	c := tx.Bucket(bucketSeries).Cursor()
	limit := seriesKey(seriesMinute, before.Unix(), "")
	var old [][]byte
	for k, _ := c.Seek([]byte{seriesMinute}); k != nil && k[0] == seriesMinute && bytes.Compare(k, limit) < 0 && len(old) < sweepBatch; k, _ = c.Next() {
		old = append(old, bytes.Clone(k))
	}
	for _, k := range old {
		if err := tx.Bucket(bucketSeries).Delete(k); err != nil {
			return err
		}
	}
	return nil
}
