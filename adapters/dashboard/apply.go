package dashboard

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"truc.vn/truc/bus"
)

// applyConfig is what indexing takes from Config.
type applyConfig struct {
	sla01, sla03 time.Duration
}

// deadline is the deadline of p in its current stage, 0 for none: for a
// 01, SLA01 after the letter was accepted or the end of its DueDate,
// whichever comes first; for a 03, the end of the DueDate, else SLA03
// after acceptance.
func (c applyConfig) deadline(p *pair) int64 {
	switch p.Stage {
	case StageAwait01:
		var dl int64
		if c.sla01 > 0 {
			dl = p.Sent + int64(c.sla01)
		}
		if p.DueEnd > 0 && (dl == 0 || p.DueEnd < dl) {
			dl = p.DueEnd
		}
		return dl
	case StageAwait03:
		if p.DueEnd > 0 {
			return p.DueEnd
		}
		if c.sla03 > 0 {
			return p.Sent + int64(c.sla03)
		}
	}
	return 0
}

type statsKind byte

const (
	statsGlobal statsKind = iota
	statsAgency
	statsEdge
)

type statsRef struct {
	kind statsKind
	id   string
}

// batch applies facts to one write transaction. It caches every record it
// reads and writes them all back in flush, so that a record many events
// of the batch touch (the global stats) is decoded and encoded once.
type batch struct {
	tx        *bolt.Tx
	cfg       applyConfig
	letters   map[string]*Letter
	pairs     map[string]*pair
	dirty     map[string]bool // pair keys to write
	stats     map[statsRef]*Stats
	counts    map[string]int64
	series    map[string]int64
	lastEvent int64
}

func newBatch(tx *bolt.Tx, cfg applyConfig) *batch {
	return &batch{
		tx: tx, cfg: cfg,
		letters: map[string]*Letter{}, pairs: map[string]*pair{}, dirty: map[string]bool{},
		stats: map[statsRef]*Stats{}, counts: map[string]int64{}, series: map[string]int64{},
	}
}

func getLetter(tx *bolt.Tx, key string) (Letter, bool, error) {
	v := tx.Bucket(bucketLetters).Get([]byte(key))
	if v == nil {
		return Letter{}, false, nil
	}
	var l Letter
	if err := json.Unmarshal(v, &l); err != nil {
		return Letter{}, false, fmt.Errorf("%w: letter %.64q: %w", errRecord, key, err)
	}
	return l, true, nil
}

// letter returns the cached letter of key, nil when there is none.
func (b *batch) letter(key string) (*Letter, error) {
	if l, ok := b.letters[key]; ok {
		return l, nil
	}
	l, found, err := getLetter(b.tx, key)
	if err != nil || !found {
		return nil, err
	}
	b.letters[key] = &l
	return &l, nil
}

// pair returns the cached pair (key, recipient), nil when there is none.
// The caller marks it dirty after changing it.
func (b *batch) pair(key, recipient string) (*pair, error) {
	k := string(pairKey(key, recipient))
	if p, ok := b.pairs[k]; ok {
		return p, nil
	}
	v := b.tx.Bucket(bucketPairs).Get([]byte(k))
	if v == nil {
		return nil, nil
	}
	p, err := decodePair(v)
	if err != nil {
		return nil, fmt.Errorf("pair %.64q/%s: %w", key, recipient, err)
	}
	b.pairs[k] = &p
	return &p, nil
}

func (b *batch) touch(key, recipient string, p *pair) {
	k := string(pairKey(key, recipient))
	b.pairs[k] = p
	b.dirty[k] = true
}

func statsBucket(kind statsKind) []byte {
	switch kind {
	case statsAgency:
		return bucketAgency
	case statsEdge:
		return bucketEdge
	}
	return bucketGlobal
}

func (b *batch) stat(kind statsKind, id string) (*Stats, error) {
	ref := statsRef{kind, id}
	if s, ok := b.stats[ref]; ok {
		return s, nil
	}
	s := &Stats{}
	if v := b.tx.Bucket(statsBucket(kind)).Get([]byte(id)); v != nil {
		dec, err := decodeStats(v)
		if err != nil {
			return nil, fmt.Errorf("stats of %.64q: %w", id, err)
		}
		s = &dec
	}
	b.stats[ref] = s
	return s, nil
}

// each calls fn on the global stats, those of agency (when set) and those
// of edge (when set).
func (b *batch) each(agency, edge string, fn func(*Stats)) error {
	refs := []statsRef{{statsGlobal, globalKey}}
	if agency != "" {
		refs = append(refs, statsRef{statsAgency, agency})
	}
	if edge != "" {
		refs = append(refs, statsRef{statsEdge, edge})
	}
	for _, r := range refs {
		s, err := b.stat(r.kind, r.id)
		if err != nil {
			return err
		}
		fn(s)
	}
	return nil
}

func (b *batch) count(name string, delta int64) { b.counts[name] += delta }

// seriesNames counted per minute too (the live chart).
var minuteSeries = map[string]bool{"sent": true, "delivered": true, "rejected": true, "status": true}

func (b *batch) addSeries(at int64, name string, delta int64) {
	sec := at / int64(time.Second)
	hour := sec - sec%3600
	b.series[string(seriesKey(seriesHour, hour, name))] += delta
	if minuteSeries[name] {
		b.series[string(seriesKey(seriesMinute, sec-sec%60, name))] += delta
	}
}

func (b *batch) apply(f *fact) error {
	if !f.ok {
		b.count("skipped", 1)
		return nil
	}
	b.count("events", 1)
	at := f.ev.Time.UnixNano()
	b.lastEvent = max(b.lastEvent, at)
	switch f.ev.Kind {
	case bus.EventSubmissionAccepted:
		if f.entry == nil || f.entry.Type != bus.TypeDocument {
			b.count("skipped", 1)
			return nil
		}
		return b.document(f, at)
	case bus.EventSubmissionRejected:
		return b.rejected(f, at)
	case bus.EventDelivered:
		return b.delivered(f, at)
	case bus.EventStatus:
		return b.status(f, at)
	case bus.EventRejectionNotice:
		return b.notice(f, at)
	}
	return nil
}

func (b *batch) put(bucket []byte, k, v []byte) error { return b.tx.Bucket(bucket).Put(k, v) }

func (b *batch) del(bucket []byte, k []byte) error { return b.tx.Bucket(bucket).Delete(k) }

// indexLetter adds the search entries of l (recipients are added as their
// pairs are created).
func (b *batch) indexLetter(l *Letter) error {
	at := l.At.UnixNano()
	if err := b.put(bucketDocID, termKey(normTerm(l.DocumentID), l.Key), u64(at)); err != nil {
		return err
	}
	for _, term := range []string{normTerm(l.Code), normTerm(l.Notation)} {
		if term != "" {
			if err := b.put(bucketCode, termKey(term, l.Key), u64(at)); err != nil {
				return err
			}
		}
	}
	if err := b.put(bucketSender, partyKey(l.Sender, at, l.Key), nil); err != nil {
		return err
	}
	return b.put(bucketTime, timeKey(at, l.Key), nil)
}

// unindexPlaceholder removes the time-ordered entries of a letter known
// only from rejected submissions, before it is indexed as accepted.
func (b *batch) unindexPlaceholder(l *Letter) error {
	at := l.At.UnixNano()
	if err := b.del(bucketSender, partyKey(l.Sender, at, l.Key)); err != nil {
		return err
	}
	return b.del(bucketTime, timeKey(at, l.Key))
}

func (b *batch) document(f *fact, at int64) error {
	e, ev := f.entry, f.ev
	l, err := b.letter(e.Key)
	if err != nil {
		return err
	}
	isNew := l == nil || !l.Accepted
	if isNew {
		if l == nil {
			l = &Letter{Key: e.Key}
		} else if err := b.unindexPlaceholder(l); err != nil {
			return err
		}
		_, docID, _ := bus.ParseRootKey(e.Key)
		l.DocumentID, l.Sender, l.SenderEdge = docID, ev.Sender, e.FromEdge
		l.Accepted, l.MessageID, l.At = true, ev.MessageID, ev.Time.UTC()
		l.SHA256 = fmt.Sprintf("%x", ev.PackageSHA256)
		if h := f.head; h != nil {
			l.Code, l.Notation, l.Subject, l.TypeName, l.SenderName = h.Code, h.Notation, h.Subject, h.TypeName, h.SenderName
			l.PromulgationDate, l.DueDate, l.DueEnd = h.Promulgation, h.DueDate, h.DueEnd
		}
		if err := b.indexLetter(l); err != nil {
			return err
		}
		if err := b.each(ev.Sender, e.FromEdge, func(s *Stats) { s.Sent++ }); err != nil {
			return err
		}
		b.addSeries(at, "sent", 1)
	} else {
		l.Updates++
		if err := b.each(ev.Sender, e.FromEdge, func(s *Stats) { s.Updates++ }); err != nil {
			return err
		}
		b.addSeries(at, "updates", 1)
	}
	b.letters[l.Key] = l
	edgeOf := map[string]string{}
	for _, r := range e.Routes {
		for _, organ := range r.Recipients {
			edgeOf[organ] = r.Edge
		}
	}
	var dueEnd int64
	if !l.DueEnd.IsZero() {
		dueEnd = l.DueEnd.UnixNano()
	}
	for _, r := range ev.Recipients {
		p, err := b.pair(l.Key, r)
		if err != nil {
			return err
		}
		if p != nil {
			continue
		}
		if !slices.Contains(l.Recipients, r) {
			l.Recipients = append(l.Recipients, r)
		}
		if err := b.put(bucketRecipient, partyKey(r, l.At.UnixNano(), l.Key), nil); err != nil {
			return err
		}
		p = &pair{Stage: StageAwait01, Edge: edgeOf[r], Sent: at, DueEnd: dueEnd}
		if err := b.each(r, p.Edge, func(s *Stats) { s.Pairs++; s.Await01++ }); err != nil {
			return err
		}
		if err := b.setDeadline(l.Key, r, p); err != nil {
			return err
		}
		b.touch(l.Key, r, p)
	}
	return nil
}

// setDeadline replaces p's entry in the deadline index with the deadline
// of its current stage (none once it is overdue or no longer waiting).
func (b *batch) setDeadline(key, recipient string, p *pair) error {
	if p.Deadline != 0 {
		if err := b.del(bucketDeadlines, deadlineKey(p.Deadline, key, recipient)); err != nil {
			return err
		}
		p.Deadline = 0
	}
	if p.Overdue {
		return nil
	}
	if dl := b.cfg.deadline(p); dl != 0 {
		p.Deadline = dl
		return b.put(bucketDeadlines, deadlineKey(dl, key, recipient), nil)
	}
	return nil
}

// move takes p from its stage to next, keeping the gauges and the
// deadline index right.
func (b *batch) move(key, recipient string, p *pair, next Stage) error {
	err := b.each(recipient, p.Edge, func(s *Stats) {
		switch p.Stage {
		case StageAwait01:
			s.Await01--
		case StageAwait03:
			s.Await03--
		}
		if p.Overdue {
			s.Overdue--
		}
		switch next {
		case StageAwait03:
			s.Await03++
		case StageDeclined:
			s.Declined++
		case StageRefused:
			s.Refused++
		case StageRecalled:
			s.Recalled++
		}
	})
	if err != nil {
		return err
	}
	p.Stage, p.Overdue = next, false
	if err := b.setDeadline(key, recipient, p); err != nil {
		return err
	}
	b.touch(key, recipient, p)
	return nil
}

func (b *batch) rejected(f *fact, at int64) error {
	ev := f.ev
	b.count("reason:"+ev.Reason, 1)
	b.addSeries(at, "rejected", 1)
	b.addSeries(at, "reason:"+ev.Reason, 1)
	edge := ""
	if f.entry != nil {
		edge = f.entry.FromEdge
	}
	// ev.Sender is set only when the signature verified.
	if err := b.each(ev.Sender, edge, func(s *Stats) { s.Rejected++ }); err != nil {
		return err
	}
	e := f.entry
	if e == nil {
		return nil
	}
	organ, docID, err := bus.ParseRootKey(e.Key)
	if err != nil {
		return nil
	}
	l, err := b.letter(e.Key)
	if err != nil {
		return err
	}
	if l == nil {
		if e.Type != bus.TypeDocument {
			return nil
		}
		// Known only from this rejection until a document is accepted:
		// searchable by DocumentId, sender and date.
		l = &Letter{Key: e.Key, DocumentID: docID, Sender: organ, SenderEdge: e.FromEdge, At: ev.Time.UTC()}
		if err := b.indexLetter(l); err != nil {
			return err
		}
	}
	l.RejectionCount++
	l.Rejections = append(l.Rejections, Rejection{At: ev.Time.UTC(), MessageID: e.MessageID, Type: string(e.Type), Reason: ev.Reason, Detail: ev.Detail})
	if n := len(l.Rejections); n > maxRejections {
		l.Rejections = slices.Clone(l.Rejections[n-maxRejections:])
	}
	b.letters[l.Key] = l
	return nil
}

func (b *batch) delivered(f *fact, at int64) error {
	e := f.entry
	if e == nil || e.Type != bus.TypeDocument {
		return nil
	}
	for _, r := range f.ev.Recipients {
		p, err := b.pair(e.Key, r)
		if err != nil {
			return err
		}
		if p == nil || p.Delivered != 0 {
			continue
		}
		p.Delivered = at
		if err := b.each(r, f.ev.Edge, func(s *Stats) { s.Received++ }); err != nil {
			return err
		}
		b.addSeries(at, "delivered", 1)
		b.touch(e.Key, r, p)
	}
	return nil
}

func (b *batch) status(f *fact, at int64) error {
	code := f.ev.StatusCode
	b.count("status:"+code, 1)
	b.addSeries(at, "status:"+code, 1)
	b.addSeries(at, "status", 1)
	e := f.entry
	if e == nil {
		return nil
	}
	if code == "13" {
		l, err := b.letter(e.Key)
		if err != nil || l == nil {
			return err
		}
		l.Recalled = true
		for _, r := range l.Recipients {
			p, err := b.pair(l.Key, r)
			if err != nil {
				return err
			}
			if p != nil && p.Stage.waiting() {
				if err := b.move(l.Key, r, p, StageRecalled); err != nil {
					return err
				}
			}
		}
		return nil
	}
	r := f.ev.Sender
	p, err := b.pair(e.Key, r)
	if err != nil || p == nil {
		return err
	}
	p.Last = code
	b.touch(e.Key, r, p)
	next := p.Stage
	switch code {
	case "01":
		if p.Stage == StageAwait01 {
			next = StageAwait03
		}
	case "02":
		if p.Stage.waiting() {
			next = StageDeclined
		}
	case "03", "04", "05", "06":
		if p.Stage.waiting() {
			next = StageDone
		}
	}
	if next == p.Stage {
		return nil
	}
	if p.Stage == StageAwait01 {
		p.At01 = at
		d := time.Duration(at - p.Sent)
		if err := b.each(r, p.Edge, func(s *Stats) { s.T01.Add(d) }); err != nil {
			return err
		}
	}
	if next == StageDone {
		p.At03 = at
		d := time.Duration(at - p.Sent)
		if err := b.each(r, p.Edge, func(s *Stats) { s.T03.Add(d) }); err != nil {
			return err
		}
	}
	return b.move(e.Key, r, p, next)
}

func (b *batch) notice(f *fact, at int64) error {
	b.count("refusal:"+f.ev.Reason, 1)
	b.addSeries(at, "refused", 1)
	e := f.entry
	if e == nil {
		return nil
	}
	for _, r := range f.ev.Recipients {
		p, err := b.pair(e.Key, r)
		if err != nil {
			return err
		}
		if p != nil && p.Stage.waiting() {
			if err := b.move(e.Key, r, p, StageRefused); err != nil {
				return err
			}
		}
	}
	return nil
}

// flush writes every cached record back.
func (b *batch) flush() error {
	for key, l := range b.letters {
		v, err := json.Marshal(l)
		if err != nil {
			return fmt.Errorf("encoding letter %.64q: %w", key, err)
		}
		if err := b.put(bucketLetters, []byte(key), v); err != nil {
			return err
		}
	}
	for k := range b.dirty {
		if err := b.put(bucketPairs, []byte(k), encodePair(b.pairs[k])); err != nil {
			return err
		}
	}
	for ref, s := range b.stats {
		if err := b.put(statsBucket(ref.kind), []byte(ref.id), encodeStats(s)); err != nil {
			return err
		}
	}
	if err := addCounters(b.tx.Bucket(bucketCounts), b.counts); err != nil {
		return err
	}
	return addCounters(b.tx.Bucket(bucketSeries), b.series)
}

func addCounters(bk *bolt.Bucket, deltas map[string]int64) error {
	for k, d := range deltas {
		if d == 0 {
			continue
		}
		v := int64(0)
		if old := bk.Get([]byte(k)); len(old) == 8 {
			v = int64(binary.BigEndian.Uint64(old))
		}
		if err := bk.Put([]byte(k), u64(v+d)); err != nil {
			return err
		}
	}
	return nil
}
