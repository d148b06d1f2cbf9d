package dashboard

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Stats are the counters of one agency, one edge or the whole exchange.
// An agency's counters are about it as a sender (Sent, Updates, Rejected)
// and as a recipient (the others); an edge's sum those of the agencies it
// serves, counted at the time of each event.
type Stats struct {
	// Sent counts letters (new root documents) the axis accepted.
	Sent int64
	// Updates counts later document packages for a letter already sent
	// (updates, replacements, revocations).
	Updates int64
	// Rejected counts submissions (documents and statuses) the axis
	// rejected. An agency is charged only when the rejected package's
	// signature verified, so that a forged header cannot blame it.
	Rejected int64
	// Pairs counts letter–recipient pairs: one per recipient of each
	// letter (a recipient an update adds counts too).
	Pairs int64
	// Received counts pairs the axis delivered to the recipient's edge;
	// Pairs − Received are waiting for delivery.
	Received int64
	// Await01 is how many letter–recipient pairs wait for status 01 now.
	Await01 int64
	// Await03 is how many pairs have a 01 and wait for 03 now.
	Await03 int64
	// Overdue is how many waiting pairs are past their deadline now.
	Overdue int64
	// Refused counts pairs whose recipient edge sent a rejection notice.
	Refused int64
	// Declined counts pairs answered with status 02 (the clerk refused).
	Declined int64
	// Recalled counts pairs whose wait a recall (13) ended.
	Recalled int64
	// T01 and T03 are the times from the axis accepting a letter to the
	// recipient's first 01 (or later status) and first 03 (or later).
	T01, T03 Sketch
}

// statsVersion is the first byte of an encoded Stats.
const statsVersion = 1

func (s *Stats) fields() []*int64 {
	return []*int64{&s.Sent, &s.Updates, &s.Rejected, &s.Pairs, &s.Received, &s.Await01, &s.Await03, &s.Overdue, &s.Refused, &s.Declined, &s.Recalled}
}

// encodeStats: version, the counters of fields() as varints, then T01 and
// T03.
func encodeStats(s *Stats) []byte {
	b := make([]byte, 0, 64)
	b = append(b, statsVersion)
	for _, f := range s.fields() {
		b = binary.AppendVarint(b, *f)
	}
	b = appendSketch(b, s.T01)
	return appendSketch(b, s.T03)
}

var errRecord = errors.New("malformed record")

func decodeStats(b []byte) (Stats, error) {
	var s Stats
	if len(b) == 0 || b[0] != statsVersion {
		return s, fmt.Errorf("%w: stats: unknown version", errRecord)
	}
	b = b[1:]
	var err error
	for _, f := range s.fields() {
		if *f, b, err = varint(b); err != nil {
			return s, fmt.Errorf("%w: stats: %w", errRecord, err)
		}
	}
	if s.T01, b, err = readSketch(b); err != nil {
		return s, fmt.Errorf("%w: stats: %w", errRecord, err)
	}
	if s.T03, b, err = readSketch(b); err != nil {
		return s, fmt.Errorf("%w: stats: %w", errRecord, err)
	}
	if len(b) != 0 {
		return s, fmt.Errorf("%w: stats: %d bytes after the end", errRecord, len(b))
	}
	return s, nil
}

// Stage is where a letter–recipient pair stands.
type Stage uint8

// Stages of a pair. Wire values in the dashboard file: never renumber.
const (
	StageAwait01  Stage = 1 // no status from the recipient yet
	StageAwait03  Stage = 2 // 01 came, no 03 (or later) yet
	StageDone     Stage = 3 // 03, 04, 05 or 06 came
	StageDeclined Stage = 4 // 02 came: the recipient refused the letter
	StageRefused  Stage = 5 // the recipient's edge sent a rejection notice
	StageRecalled Stage = 6 // the sender recalled the letter (13) while waiting
)

var stageNames = map[Stage]string{
	StageAwait01: "await-01", StageAwait03: "await-03", StageDone: "done",
	StageDeclined: "declined", StageRefused: "refused", StageRecalled: "recalled",
}

// String returns the stage's wire name (in the JSON API).
func (s Stage) String() string {
	if n, ok := stageNames[s]; ok {
		return n
	}
	return fmt.Sprintf("stage-%d", uint8(s))
}

func (s Stage) waiting() bool { return s == StageAwait01 || s == StageAwait03 }

// pair is the state of one letter for one recipient. Times are Unix
// nanoseconds, 0 when not yet.
type pair struct {
	Stage     Stage
	Overdue   bool
	Edge      string // the recipient's edge when the letter was accepted
	Sent      int64  // the axis accepted the letter for this recipient
	Delivered int64  // first delivered to its edge
	At01      int64  // first 01 (or later status)
	At03      int64  // first 03 (or later status)
	DueEnd    int64  // end of the letter's DueDate, 0 when it has none
	Deadline  int64  // the current deadline in the deadline index, 0 when none
	Last      string // latest status code from the recipient
}

const pairVersion = 1

func encodePair(p *pair) []byte {
	b := make([]byte, 0, 48+len(p.Edge))
	flags := byte(0)
	if p.Overdue {
		flags = 1
	}
	b = append(b, pairVersion, byte(p.Stage), flags)
	b = binary.AppendUvarint(b, uint64(len(p.Edge)))
	b = append(b, p.Edge...)
	for _, v := range []int64{p.Sent, p.Delivered, p.At01, p.At03, p.DueEnd, p.Deadline} {
		b = binary.AppendVarint(b, v)
	}
	b = binary.AppendUvarint(b, uint64(len(p.Last)))
	return append(b, p.Last...)
}

func decodePair(b []byte) (pair, error) {
	var p pair
	bad := func(what string) (pair, error) { return pair{}, fmt.Errorf("%w: pair: %s", errRecord, what) }
	if len(b) < 3 || b[0] != pairVersion {
		return bad("unknown version")
	}
	p.Stage, p.Overdue = Stage(b[1]), b[2] == 1
	if _, ok := stageNames[p.Stage]; !ok || b[2] > 1 {
		return bad("unknown stage or flags")
	}
	b = b[3:]
	str := func() (string, bool) {
		n, rest, err := uvarint(b)
		if err != nil || n > uint64(len(rest)) {
			return "", false
		}
		b = rest[n:]
		return string(rest[:n]), true
	}
	var ok bool
	if p.Edge, ok = str(); !ok {
		return bad("edge")
	}
	for _, f := range []*int64{&p.Sent, &p.Delivered, &p.At01, &p.At03, &p.DueEnd, &p.Deadline} {
		var err error
		if *f, b, err = varint(b); err != nil {
			return bad("times")
		}
	}
	if p.Last, ok = str(); !ok {
		return bad("status")
	}
	if len(b) != 0 {
		return bad("bytes after the end")
	}
	return p, nil
}

// Letter is what the dashboard knows of one letter (a root document): from
// the axis events, and from the package header read once when the first
// document package was indexed.
type Letter struct {
	Key        string `json:"key"`
	DocumentID string `json:"document_id"`
	Sender     string `json:"sender"`
	SenderEdge string `json:"sender_edge,omitempty"`
	// Accepted is false while the axis has only rejected submissions of
	// this key: the record then tells what happened to them.
	Accepted  bool      `json:"accepted"`
	MessageID string    `json:"message_id,omitempty"`
	SHA256    string    `json:"sha256,omitempty"`
	At        time.Time `json:"at"` // when the axis accepted the first document (or rejected the first try)
	// From the package header; empty when it could not be read (purged,
	// or not edXML).
	Code             string `json:"code,omitempty"` // Number/Notation
	Notation         string `json:"notation,omitempty"`
	Subject          string `json:"subject,omitempty"`
	TypeName         string `json:"type_name,omitempty"`
	SenderName       string `json:"sender_name,omitempty"`
	PromulgationDate string `json:"promulgation_date,omitempty"`
	DueDate          string `json:"due_date,omitempty"`
	// DueEnd is the end of DueDate (the next midnight in Vietnam time):
	// the deadline for a 03, and for a 01 when it comes before SLA01.
	DueEnd         time.Time   `json:"due_end,omitzero"`
	Recipients     []string    `json:"recipients,omitempty"`
	Updates        int         `json:"updates,omitempty"`
	Recalled       bool        `json:"recalled,omitempty"`
	Rejections     []Rejection `json:"rejections,omitempty"` // the latest maxRejections
	RejectionCount int         `json:"rejection_count,omitempty"`
}

// Rejection is one submission of a letter's key the axis rejected.
type Rejection struct {
	At        time.Time `json:"at"`
	MessageID string    `json:"message_id"`
	Type      string    `json:"type"`
	Reason    string    `json:"reason"`
	Detail    string    `json:"detail,omitempty"`
}

const maxRejections = 10
