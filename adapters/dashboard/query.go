package dashboard

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"truc.vn/truc/bus"
)

// StatsView is Stats as the JSON API shows it, with the latency quantiles
// in milliseconds (absent when nothing was measured).
type StatsView struct {
	Sent       int64  `json:"sent"`
	Updates    int64  `json:"updates"`
	Rejected   int64  `json:"rejected"`
	Pairs      int64  `json:"pairs"`
	Received   int64  `json:"received"`
	Pending    int64  `json:"pending"` // pairs not yet delivered
	Await01    int64  `json:"await_01"`
	Await03    int64  `json:"await_03"`
	Overdue    int64  `json:"overdue"`
	Refused    int64  `json:"refused"`
	Declined   int64  `json:"declined"`
	Recalled   int64  `json:"recalled"`
	Answered01 uint64 `json:"answered_01"`
	Answered03 uint64 `json:"answered_03"`
	Median01Ms *int64 `json:"median_01_ms,omitempty"`
	Median03Ms *int64 `json:"median_03_ms,omitempty"`
	P90_01Ms   *int64 `json:"p90_01_ms,omitempty"`
	P90_03Ms   *int64 `json:"p90_03_ms,omitempty"`
}

func quantileMs(s Sketch, q float64) *int64 {
	d, ok := s.Quantile(q)
	if !ok {
		return nil
	}
	ms := d.Milliseconds()
	return &ms
}

func viewStats(s *Stats) StatsView {
	return StatsView{
		Sent: s.Sent, Updates: s.Updates, Rejected: s.Rejected, Pairs: s.Pairs, Received: s.Received, Pending: s.Pairs - s.Received,
		Await01: s.Await01, Await03: s.Await03, Overdue: s.Overdue, Refused: s.Refused,
		Declined: s.Declined, Recalled: s.Recalled,
		Answered01: s.T01.Count(), Answered03: s.T03.Count(),
		Median01Ms: quantileMs(s.T01, 0.5), Median03Ms: quantileMs(s.T03, 0.5),
		P90_01Ms: quantileMs(s.T01, 0.9), P90_03Ms: quantileMs(s.T03, 0.9),
	}
}

// Overview is the front page: totals, counts per status and reason, and
// the per-hour and per-minute series.
type Overview struct {
	GeneratedAt time.Time        `json:"generated_at"`
	Index       IndexState       `json:"index"`
	Totals      StatsView        `json:"totals"`
	Statuses    map[string]int64 `json:"statuses"`
	Reasons     map[string]int64 `json:"reasons"`  // axis rejections by reason code
	Refusals    map[string]int64 `json:"refusals"` // edge rejection notices by reason code
	Events      int64            `json:"events"`   // log events indexed
	Skipped     int64            `json:"skipped"`  // leaves that are not events the dashboard counts
	Hours       []SeriesPoint    `json:"hours"`
	Minutes     []SeriesPoint    `json:"minutes"`
	SLA01       string           `json:"sla_01"`
	SLA03       string           `json:"sla_03"`
}

// SeriesPoint is the counts of one hour or minute: sent, updates,
// delivered, rejected, refused, status (minutes only), status:NN and
// reason:R (hours only).
type SeriesPoint struct {
	Start  time.Time        `json:"start"`
	Counts map[string]int64 `json:"counts"`
}

// Overview limits.
const (
	DefaultHours = 48
	MaxHours     = 31 * 24
	liveMinutes  = 60
)

// Overview returns the front page's figures, with the last hours hours
// (DefaultHours when 0, at most MaxHours) and the last hour by minute.
func (d *Dashboard) Overview(ctx context.Context, hours int) (Overview, error) {
	if hours <= 0 {
		hours = DefaultHours
	}
	hours = min(hours, MaxHours)
	now := d.cfg.Now().UTC()
	o := Overview{
		GeneratedAt: now, Index: d.State(),
		Statuses: map[string]int64{}, Reasons: map[string]int64{}, Refusals: map[string]int64{},
		SLA01: slaText(d.cfg.SLA01), SLA03: slaText(d.cfg.SLA03),
	}
	err := d.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketGlobal).Get([]byte(globalKey)); v != nil {
			s, err := decodeStats(v)
			if err != nil {
				return err
			}
			o.Totals = viewStats(&s)
		} else {
			o.Totals = viewStats(&Stats{})
		}
		c := tx.Bucket(bucketCounts).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			name, n := string(k), getU64(v)
			switch {
			case strings.HasPrefix(name, "status:"):
				o.Statuses[name[len("status:"):]] = n
			case strings.HasPrefix(name, "reason:"):
				o.Reasons[name[len("reason:"):]] = n
			case strings.HasPrefix(name, "refusal:"):
				o.Refusals[name[len("refusal:"):]] = n
			case name == "events":
				o.Events = n
			case name == "skipped":
				o.Skipped = n
			}
		}
		hour := now.Truncate(time.Hour)
		o.Hours = readSeries(tx, seriesHour, hour.Add(-time.Duration(hours-1)*time.Hour), hours, time.Hour)
		minute := now.Truncate(time.Minute)
		o.Minutes = readSeries(tx, seriesMinute, minute.Add(-(liveMinutes-1)*time.Minute), liveMinutes, time.Minute)
		return nil
	})
	return o, err
}

func slaText(d time.Duration) string {
	if d < 0 {
		return ""
	}
	return d.String()
}

// readSeries returns n points of step from start, empty ones included.
func readSeries(tx *bolt.Tx, res byte, start time.Time, n int, step time.Duration) []SeriesPoint {
	points := make([]SeriesPoint, n)
	for i := range points {
		points[i] = SeriesPoint{Start: start.Add(time.Duration(i) * step), Counts: map[string]int64{}}
	}
	c := tx.Bucket(bucketSeries).Cursor()
	from := seriesKey(res, start.Unix(), "")
	for k, v := c.Seek(from); len(k) >= 9 && k[0] == res; k, v = c.Next() {
		at := int64(binary.BigEndian.Uint64(k[1:9]))
		i := int((at - start.Unix()) / int64(step/time.Second))
		if i >= n {
			break
		}
		if i >= 0 {
			points[i].Counts[string(k[9:])] = getU64(v)
		}
	}
	return points
}

// TableQuery asks for a page of the agency or edge table.
type TableQuery struct {
	// Sort is a column: id, name, edge, or a StatsView JSON name (sent,
	// await_01, median_01_ms, ...). Default overdue.
	Sort string
	// Asc sorts ascending; the default is descending (ties by id).
	Asc bool
	// Filter keeps rows whose id or name contains it (case-insensitive).
	Filter string
	Offset int
	// Limit is the page size, default 100, at most 1000.
	Limit int
}

// Row is one agency or edge.
type Row struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	Edge string `json:"edge,omitempty"` // agencies: the edge serving it now
	StatsView
}

// Table is a page of rows, Total counting every row that passed the
// filter.
type Table struct {
	Total int   `json:"total"`
	Rows  []Row `json:"rows"`
}

var sortKeys = map[string]func(r *Row) int64{
	"sent": func(r *Row) int64 { return r.Sent }, "updates": func(r *Row) int64 { return r.Updates },
	"rejected": func(r *Row) int64 { return r.Rejected }, "received": func(r *Row) int64 { return r.Received },
	"pairs": func(r *Row) int64 { return r.Pairs }, "pending": func(r *Row) int64 { return r.Pending },
	"await_01": func(r *Row) int64 { return r.Await01 }, "await_03": func(r *Row) int64 { return r.Await03 },
	"overdue": func(r *Row) int64 { return r.Overdue }, "refused": func(r *Row) int64 { return r.Refused },
	"declined": func(r *Row) int64 { return r.Declined }, "recalled": func(r *Row) int64 { return r.Recalled },
	"answered_01": func(r *Row) int64 { return int64(r.Answered01) }, "answered_03": func(r *Row) int64 { return int64(r.Answered03) },
	"median_01_ms": func(r *Row) int64 { return msOrMinus(r.Median01Ms) }, "median_03_ms": func(r *Row) int64 { return msOrMinus(r.Median03Ms) },
	"p90_01_ms": func(r *Row) int64 { return msOrMinus(r.P90_01Ms) }, "p90_03_ms": func(r *Row) int64 { return msOrMinus(r.P90_03Ms) },
}

func msOrMinus(p *int64) int64 {
	if p == nil {
		return -1
	}
	return *p
}

// CheckTableQuery refuses an unknown sort column or a negative offset.
func CheckTableQuery(q TableQuery) error {
	switch _, ok := sortKeys[q.Sort]; {
	case q.Sort == "" || q.Sort == "id" || q.Sort == "name" || q.Sort == "edge" || ok:
	default:
		return fmt.Errorf("sort: unknown column %q", clipText(q.Sort, 64))
	}
	if q.Offset < 0 {
		return fmt.Errorf("offset: must not be negative, got %d", q.Offset)
	}
	if q.Limit < 0 || q.Limit > 1000 {
		return fmt.Errorf("limit: 0–1000, got %d", q.Limit)
	}
	return nil
}

// Agencies returns a page of the per-agency table; agencies of the
// directory without traffic are listed with zeros.
func (d *Dashboard) Agencies(ctx context.Context, q TableQuery) (Table, error) {
	rows, err := d.readRows(bucketAgency)
	if err != nil {
		return Table{}, err
	}
	if dir := d.cfg.Directory; dir != nil {
		seen := map[string]int{}
		for i, r := range rows {
			seen[r.ID] = i
		}
		for _, a := range dir.Agencies() {
			i, ok := seen[a.OrganID]
			if !ok {
				rows = append(rows, Row{ID: a.OrganID, StatsView: viewStats(&Stats{})})
				i = len(rows) - 1
			}
			rows[i].Name, rows[i].Edge = a.Name, a.Edge
		}
	}
	return pageRows(rows, q)
}

// Edges returns a page of the per-edge table; edges of the directory
// without traffic are listed with zeros.
func (d *Dashboard) Edges(ctx context.Context, q TableQuery) (Table, error) {
	rows, err := d.readRows(bucketEdge)
	if err != nil {
		return Table{}, err
	}
	if dir := d.cfg.Directory; dir != nil {
		seen := map[string]bool{}
		for _, r := range rows {
			seen[r.ID] = true
		}
		names := map[string]string{}
		for _, a := range dir.Agencies() {
			if a.Parent == "" && names[a.Edge] == "" {
				names[a.Edge] = a.Name // the edge's head agency
			}
			if !seen[a.Edge] {
				if _, ok := dir.Edge(a.Edge); ok {
					rows = append(rows, Row{ID: a.Edge, StatsView: viewStats(&Stats{})})
					seen[a.Edge] = true
				}
			}
		}
		for i := range rows {
			rows[i].Name = names[rows[i].ID]
		}
	}
	return pageRows(rows, q)
}

func (d *Dashboard) readRows(bucket []byte) ([]Row, error) {
	var rows []Row
	err := d.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucket)
		rows = make([]Row, 0, bk.Stats().KeyN)
		return bk.ForEach(func(k, v []byte) error {
			s, err := decodeStats(v)
			if err != nil {
				return fmt.Errorf("stats of %.64q: %w", k, err)
			}
			rows = append(rows, Row{ID: string(k), StatsView: viewStats(&s)})
			return nil
		})
	})
	return rows, err
}

func pageRows(rows []Row, q TableQuery) (Table, error) {
	if err := CheckTableQuery(q); err != nil {
		return Table{}, err
	}
	if q.Limit == 0 {
		q.Limit = 100
	}
	if f := strings.ToLower(strings.TrimSpace(q.Filter)); f != "" {
		rows = slices.DeleteFunc(rows, func(r Row) bool {
			return !strings.Contains(strings.ToLower(r.ID), f) && !strings.Contains(strings.ToLower(r.Name), f)
		})
	}
	sortBy := q.Sort
	if sortBy == "" {
		sortBy = "overdue"
	}
	dir := -1
	if q.Asc {
		dir = 1
	}
	key := sortKeys[sortBy]
	// Sort pointers (rows are large), in a total order: ties by id.
	ptrs := make([]*Row, len(rows))
	for i := range rows {
		ptrs[i] = &rows[i]
	}
	slices.SortFunc(ptrs, func(a, b *Row) int {
		var c int
		switch sortBy {
		case "id":
		case "name":
			c = strings.Compare(a.Name, b.Name)
		case "edge":
			c = strings.Compare(a.Edge, b.Edge)
		default:
			c = cmp.Compare(key(a), key(b))
		}
		if c != 0 {
			return c * dir
		}
		if c = strings.Compare(a.ID, b.ID); sortBy == "id" {
			return c * dir
		}
		return c // ties: by id ascending, whatever the direction
	})
	t := Table{Total: len(rows), Rows: []Row{}}
	for _, r := range ptrs[min(q.Offset, len(ptrs)):min(len(ptrs), q.Offset+q.Limit)] {
		t.Rows = append(t.Rows, *r)
	}
	return t, nil
}

// LetterView is one letter's page: what the dashboard indexed, and the
// per-recipient state and timeline from the ledger.
type LetterView struct {
	Key string `json:"key"`
	// Letter is nil when the indexer has not reached the letter yet (the
	// ledger part is then still shown).
	Letter     *Letter         `json:"letter,omitempty"`
	Recipients []RecipientView `json:"recipients"`
	// Rejections are the axis's rejections of packages with this key, from
	// the ledger.
	Rejections []Rejection `json:"rejections"`
	// Entries is the number of ledger entries of the key (documents,
	// statuses, notices, rejections).
	Entries int `json:"entries"`
}

// RecipientView is one recipient of a letter.
type RecipientView struct {
	OrganID string `json:"organ_id"`
	Name    string `json:"name,omitempty"`
	Edge    string `json:"edge,omitempty"`
	// Stage, Overdue, Deadline and the times come from the dashboard's
	// aggregates; Route, Status and Events from the ledger (bus.Timeline).
	Stage       string            `json:"stage,omitempty"`
	Overdue     bool              `json:"overdue,omitempty"`
	Deadline    time.Time         `json:"deadline,omitzero"`
	SentAt      time.Time         `json:"sent_at,omitzero"`
	DeliveredAt time.Time         `json:"delivered_at,omitzero"`
	At01        time.Time         `json:"at_01,omitzero"`
	At03        time.Time         `json:"at_03,omitzero"`
	Route       bus.RouteState    `json:"route,omitempty"`
	Status      string            `json:"status,omitempty"`
	Events      []bus.LedgerEvent `json:"events"`
}

func nsTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// ErrNoLetter: neither the dashboard nor the ledger knows the key.
var ErrNoLetter = fmt.Errorf("dashboard: no letter with that key: %w", bus.ErrNotFound)

// Letter returns the page of the letter with root key key.
func (d *Dashboard) Letter(ctx context.Context, key string) (LetterView, error) {
	if _, _, err := bus.ParseRootKey(key); err != nil {
		return LetterView{}, fmt.Errorf("key: %w", err)
	}
	v := LetterView{Key: key, Recipients: []RecipientView{}, Rejections: []Rejection{}}
	pairs := map[string]pair{}
	var order []string
	err := d.db.View(func(tx *bolt.Tx) error {
		l, found, err := getLetter(tx, key)
		if err != nil {
			return err
		}
		if found {
			v.Letter = &l
		}
		prefix := pairKey(key, "")
		c := tx.Bucket(bucketPairs).Cursor()
		for k, val := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, val = c.Next() {
			p, err := decodePair(val)
			if err != nil {
				return err
			}
			r := string(k[len(prefix):])
			pairs[r] = p
			order = append(order, r)
		}
		return nil
	})
	if err != nil {
		return LetterView{}, err
	}
	entries, err := d.ledger.ByKey(ctx, key)
	if err != nil {
		return LetterView{}, fmt.Errorf("reading the ledger entries of the letter: %w", err)
	}
	v.Entries = len(entries)
	if v.Letter == nil && len(entries) == 0 {
		return LetterView{}, ErrNoLetter
	}
	for _, e := range entries {
		if !e.Accepted() {
			v.Rejections = append(v.Rejections, Rejection{At: e.At, MessageID: e.MessageID, Type: string(e.Type), Reason: e.Rejected, Detail: e.Detail})
		}
	}
	byOrgan := map[string]int{}
	add := func(organ string) *RecipientView {
		if i, ok := byOrgan[organ]; ok {
			return &v.Recipients[i]
		}
		rv := RecipientView{OrganID: organ, Events: []bus.LedgerEvent{}}
		if p, ok := pairs[organ]; ok {
			rv.Edge, rv.Stage, rv.Overdue = p.Edge, p.Stage.String(), p.Overdue
			rv.Deadline, rv.SentAt, rv.DeliveredAt = nsTime(p.Deadline), nsTime(p.Sent), nsTime(p.Delivered)
			rv.At01, rv.At03 = nsTime(p.At01), nsTime(p.At03)
		}
		if d.cfg.Directory != nil {
			if a, ok := d.cfg.Directory.Agency(organ); ok {
				rv.Name = a.Name
			}
		}
		v.Recipients = append(v.Recipients, rv)
		byOrgan[organ] = len(v.Recipients) - 1
		return &v.Recipients[len(v.Recipients)-1]
	}
	for _, rs := range bus.Timeline(entries) {
		rv := add(rs.OrganID)
		if rs.Edge != "" {
			rv.Edge = rs.Edge
		}
		rv.Route, rv.Status, rv.Events = rs.Route, rs.Status, rs.Events
	}
	for _, organ := range order {
		add(organ)
	}
	return v, nil
}

// Evidence is what proves a letter's events: every log leaf recorded
// about it, with a receipt against the latest signed checkpoint that
// anyone holding the axis log key can verify offline.
type Evidence struct {
	Key string `json:"key"`
	// Checkpoint is the signed checkpoint the receipts lead to.
	Checkpoint string `json:"checkpoint"`
	// Receipts are bus.Receipt encodings (DecodeReceipt), in log order,
	// from Offset.
	Receipts []EvidenceReceipt `json:"receipts"`
	// Pending lists leaves of the letter not yet covered by a checkpoint.
	Pending []int64 `json:"pending,omitempty"`
	// Total is the number of leaves; Next is the Offset of the next page,
	// 0 when this was the last.
	Total int `json:"total"`
	Next  int `json:"next,omitempty"`
}

// EvidenceReceipt is one leaf's receipt and its decoded event.
type EvidenceReceipt struct {
	Index int64 `json:"index"`
	// Event is the leaf: the canonical JSON of a bus.Event.
	Event json.RawMessage `json:"event"`
	// Receipt is the bus.Receipt (its JSON encoding: bus.DecodeReceipt).
	Receipt json.RawMessage `json:"receipt"`
}

// MaxEvidencePage is the most receipts one Evidence call returns.
const MaxEvidencePage = 200

// leafTimeline is implemented by ledgers that index every leaf of a root
// key, including those added with Append (boltstore.Ledger).
type leafTimeline interface {
	Timeline(ctx context.Context, key string) ([]int64, error)
}

// Evidence returns the receipts of a letter's log leaves, from offset, at
// most MaxEvidencePage.
func (d *Dashboard) Evidence(ctx context.Context, key string, offset int) (Evidence, error) {
	if _, _, err := bus.ParseRootKey(key); err != nil {
		return Evidence{}, fmt.Errorf("key: %w", err)
	}
	if offset < 0 {
		return Evidence{}, fmt.Errorf("offset: must not be negative, got %d", offset)
	}
	var leaves []int64
	if tl, ok := d.ledger.(leafTimeline); ok {
		var err error
		if leaves, err = tl.Timeline(ctx, key); err != nil {
			return Evidence{}, fmt.Errorf("reading the letter's log leaves: %w", err)
		}
	} else {
		entries, err := d.ledger.ByKey(ctx, key)
		if err != nil {
			return Evidence{}, fmt.Errorf("reading the ledger entries of the letter: %w", err)
		}
		for _, e := range entries {
			leaves = append(leaves, e.Leaf)
			for _, r := range e.Routes {
				if r.Leaf >= 0 {
					leaves = append(leaves, r.Leaf)
				}
			}
		}
		slices.Sort(leaves)
		leaves = slices.Compact(leaves)
	}
	if len(leaves) == 0 {
		return Evidence{}, ErrNoLetter
	}
	cp, err := d.ledger.Log().Checkpoint(ctx)
	if err != nil {
		return Evidence{}, fmt.Errorf("reading the latest checkpoint: %w", err)
	}
	ev := Evidence{Key: key, Checkpoint: string(cp.Note), Receipts: []EvidenceReceipt{}, Total: len(leaves)}
	end := min(len(leaves), offset+MaxEvidencePage)
	if end < len(leaves) {
		ev.Next = end
	}
	for _, idx := range leaves[min(offset, len(leaves)):end] {
		if idx >= cp.Size {
			ev.Pending = append(ev.Pending, idx)
			continue
		}
		r, err := bus.ReceiptFor(ctx, d.ledger.Log(), idx, cp)
		if err != nil {
			return Evidence{}, err
		}
		body, err := r.Encode()
		if err != nil {
			return Evidence{}, err
		}
		event := json.RawMessage(r.Event)
		if !json.Valid(event) { // not an event: show the bytes as a string
			event, _ = json.Marshal(string(r.Event))
		}
		ev.Receipts = append(ev.Receipts, EvidenceReceipt{Index: idx, Event: event, Receipt: body})
	}
	return ev, nil
}
