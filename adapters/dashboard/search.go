package dashboard

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// SearchQuery finds letters. Every field set must match (AND). Text
// fields match case-insensitively, spaces ignored: DocumentID and Code as
// a prefix (Code matches the whole "Number/Notation" or the Notation
// alone), Sender and Recipient exactly (OrganIds).
type SearchQuery struct {
	DocumentID string
	Code       string
	Sender     string
	Recipient  string
	// From and Until bound the time the axis accepted the letter:
	// From ≤ t < Until; zero is open.
	From, Until time.Time
	// Cursor continues a previous search (SearchResult.Next).
	Cursor string
	// Limit is the page size, default 50, at most 200.
	Limit int
}

// Search limits.
const (
	DefaultSearchLimit = 50
	MaxSearchLimit     = 200
	// MaxExamined is how many index entries one search call reads. A
	// search that hits it returns what it found with a cursor to go on
	// (SearchResult.Partial), so that every call stays fast.
	MaxExamined = 20_000
	maxTermLen  = 512
)

// maxExamined is MaxExamined, lowered by tests.
var maxExamined = MaxExamined

// SearchResult is a page of letters, newest first (for searches by
// DocumentID or Code: in the order of those values).
type SearchResult struct {
	Letters []LetterSummary `json:"letters"`
	// Next continues the search, "" when there is nothing more.
	Next string `json:"next,omitempty"`
	// Examined counts the index entries read; Partial is set when the
	// page is short because MaxExamined was reached.
	Examined int  `json:"examined"`
	Partial  bool `json:"partial,omitempty"`
}

// LetterSummary is one search result.
type LetterSummary struct {
	Key            string    `json:"key"`
	DocumentID     string    `json:"document_id"`
	Code           string    `json:"code,omitempty"`
	Subject        string    `json:"subject,omitempty"`
	Sender         string    `json:"sender"`
	SenderName     string    `json:"sender_name,omitempty"`
	At             time.Time `json:"at"`
	Accepted       bool      `json:"accepted"`
	Recipients     int       `json:"recipients"`
	Updates        int       `json:"updates,omitempty"`
	Recalled       bool      `json:"recalled,omitempty"`
	RejectionCount int       `json:"rejection_count,omitempty"`
	// Stages counts the recipients per stage (await-01, done, ...) and
	// Overdue those overdue; left out for letters with more than
	// maxSummaryPairs recipients.
	Stages  map[string]int `json:"stages,omitempty"`
	Overdue int            `json:"overdue,omitempty"`
}

const maxSummaryPairs = 500

// SearchError is a search query that breaks a rule; Field names the query
// parameter.
type SearchError struct {
	Field string
	Rule  string
}

func (e *SearchError) Error() string { return fmt.Sprintf("search %s: %s", e.Field, e.Rule) }

// index identifiers in cursors.
const (
	ixDocID byte = iota + 1
	ixCode
	ixRecipient
	ixSender
	ixTime
)

func checkTerm(field, s string) error {
	switch {
	case len(s) > maxTermLen:
		return &SearchError{field, fmt.Sprintf("at most %d bytes, got %d", maxTermLen, len(s))}
	case !utf8.ValidString(s):
		return &SearchError{field, "must be valid UTF-8"}
	case strings.ContainsFunc(s, unicode.IsControl):
		return &SearchError{field, "must not contain control characters"}
	}
	return nil
}

// Check validates q.
func (q SearchQuery) Check() error {
	for _, f := range []struct{ name, v string }{{"document_id", q.DocumentID}, {"code", q.Code}, {"sender", q.Sender}, {"recipient", q.Recipient}} {
		if err := checkTerm(f.name, f.v); err != nil {
			return err
		}
	}
	if q.Limit < 0 || q.Limit > MaxSearchLimit {
		return &SearchError{"limit", fmt.Sprintf("0–%d, got %d", MaxSearchLimit, q.Limit)}
	}
	if !q.From.IsZero() && !q.Until.IsZero() && !q.From.Before(q.Until) {
		return &SearchError{"from", "must be before until"}
	}
	if q.Cursor != "" {
		if _, _, err := decodeCursor(q.Cursor); err != nil {
			return err
		}
	}
	return nil
}

func encodeCursor(ix byte, k []byte) string {
	return base64.RawURLEncoding.EncodeToString(append([]byte{ix}, k...))
}

func decodeCursor(s string) (byte, []byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 2 || b[0] < ixDocID || b[0] > ixTime || len(b) > 4096 {
		return 0, nil, &SearchError{"cursor", "not a cursor this search returned"}
	}
	return b[0], b[1:], nil
}

// plan is how one search reads: which index, the key range, and the
// filters left to check on each candidate.
type plan struct {
	ix      byte
	bucket  []byte
	prefix  []byte // every candidate key starts with it
	reverse bool   // newest first: from hi down to lo
	lo, hi  []byte // key bounds for time-ordered indexes: lo ≤ k < hi
}

func (d *Dashboard) plan(q SearchQuery) plan {
	from, until := int64(0), int64(1<<63-1)
	if !q.From.IsZero() {
		from = max(q.From.UnixNano(), 0)
	}
	if !q.Until.IsZero() {
		until = max(q.Until.UnixNano(), 0)
	}
	party := func(ix byte, bucket []byte, organ string) plan {
		p := plan{ix: ix, bucket: bucket, prefix: append([]byte(organ), 0), reverse: true}
		p.lo = partyKey(organ, from, "")
		p.hi = partyKey(organ, until, "")
		return p
	}
	switch {
	case normTerm(q.DocumentID) != "":
		return plan{ix: ixDocID, bucket: bucketDocID, prefix: []byte(normTerm(q.DocumentID))}
	case normTerm(q.Code) != "":
		return plan{ix: ixCode, bucket: bucketCode, prefix: []byte(normTerm(q.Code))}
	case q.Recipient != "":
		return party(ixRecipient, bucketRecipient, q.Recipient)
	case q.Sender != "":
		return party(ixSender, bucketSender, q.Sender)
	}
	return plan{ix: ixTime, bucket: bucketTime, reverse: true, lo: u64(from), hi: u64(until)}
}

// candidate returns the root key and time of index entry k (v its value),
// false for an entry that is not a candidate (another term of the same
// prefix is fine; a malformed entry is not).
func (p plan) candidate(k, v []byte) (string, int64, bool) {
	switch p.ix {
	case ixDocID, ixCode:
		i := bytes.IndexByte(k, 0)
		if i < 0 || len(v) != 8 {
			return "", 0, false
		}
		return string(k[i+1:]), getU64(v), true
	case ixRecipient, ixSender:
		if len(k) < len(p.prefix)+8 {
			return "", 0, false
		}
		return string(k[len(p.prefix)+8:]), int64(binary.BigEndian.Uint64(k[len(p.prefix):])), true
	default:
		if len(k) < 8 {
			return "", 0, false
		}
		return string(k[8:]), int64(binary.BigEndian.Uint64(k)), true
	}
}

// Search returns a page of letters matching q.
func (d *Dashboard) Search(ctx context.Context, q SearchQuery) (SearchResult, error) {
	if err := q.Check(); err != nil {
		return SearchResult{}, err
	}
	if q.Limit == 0 {
		q.Limit = DefaultSearchLimit
	}
	p := d.plan(q)
	var after []byte
	if q.Cursor != "" {
		ix, k, _ := decodeCursor(q.Cursor)
		if ix != p.ix {
			return SearchResult{}, &SearchError{"cursor", "belongs to another search"}
		}
		after = k
	}
	docPrefix, codePrefix := normTerm(q.DocumentID), normTerm(q.Code)
	res := SearchResult{Letters: []LetterSummary{}}
	err := d.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(p.bucket).Cursor()
		pairs := tx.Bucket(bucketPairs)
		seen := map[string]bool{}
		var k, v []byte
		// Position on the first entry. A cursor is the first index entry
		// not yet read: resume at it.
		if !p.reverse {
			from := p.prefix
			if after != nil {
				from = after
			}
			k, v = c.Seek(from)
		} else {
			upTo, inclusive := p.hi, false
			if after != nil {
				upTo, inclusive = after, true
			}
			k, v = c.Seek(upTo)
			if k == nil {
				k, v = c.Last()
			}
			for k != nil && (bytes.Compare(k, upTo) > 0 || !inclusive && bytes.Equal(k, upTo)) {
				k, v = c.Prev()
			}
		}
		next := func() {
			if p.reverse {
				k, v = c.Prev()
			} else {
				k, v = c.Next()
			}
		}
		for ; k != nil; next() {
			if !bytes.HasPrefix(k, p.prefix) || (p.reverse && bytes.Compare(k, p.lo) < 0) {
				return nil // past the range: done
			}
			if len(res.Letters) == q.Limit {
				res.Next = encodeCursor(p.ix, k)
				return nil
			}
			if res.Examined == maxExamined {
				res.Partial, res.Next = true, encodeCursor(p.ix, k)
				return nil
			}
			res.Examined++
			key, at, ok := p.candidate(k, v)
			if !ok || seen[key] {
				continue
			}
			if (!q.From.IsZero() && at < q.From.UnixNano()) || (!q.Until.IsZero() && at >= q.Until.UnixNano()) {
				continue
			}
			organ, docID, found := strings.Cut(key, "/")
			if !found || (q.Sender != "" && organ != q.Sender) {
				continue
			}
			if docPrefix != "" && !strings.HasPrefix(normTerm(docID), docPrefix) {
				continue
			}
			if q.Recipient != "" && pairs.Get(pairKey(key, q.Recipient)) == nil {
				continue
			}
			l, found, err := getLetter(tx, key)
			if err != nil {
				return err
			}
			if !found {
				continue
			}
			if codePrefix != "" && !strings.HasPrefix(normTerm(l.Code), codePrefix) && !strings.HasPrefix(normTerm(l.Notation), codePrefix) {
				continue
			}
			seen[key] = true
			res.Letters = append(res.Letters, summarize(pairs, &l))
		}
		return nil
	})
	return res, err
}

func summarize(pairs *bolt.Bucket, l *Letter) LetterSummary {
	s := LetterSummary{
		Key: l.Key, DocumentID: l.DocumentID, Code: l.Code, Subject: clipText(l.Subject, 300),
		Sender: l.Sender, SenderName: l.SenderName, At: l.At, Accepted: l.Accepted,
		Recipients: len(l.Recipients), Updates: l.Updates, Recalled: l.Recalled, RejectionCount: l.RejectionCount,
	}
	if len(l.Recipients) == 0 || len(l.Recipients) > maxSummaryPairs {
		return s
	}
	s.Stages = map[string]int{}
	for _, r := range l.Recipients {
		v := pairs.Get(pairKey(l.Key, r))
		if v == nil {
			continue
		}
		p, err := decodePair(v)
		if err != nil {
			continue
		}
		s.Stages[p.Stage.String()]++
		if p.Overdue {
			s.Overdue++
		}
	}
	return s
}
