package folder

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"truc.vn/truc/bus"
)

// StatusRequest is the content of a status request file,
// outbox/<name>.status.json: the DMS reports how it handled an inbox item,
// and the edge builds, signs and sends the status package for it.
//
//	{"item": "in-…", "code": "03", "description": "Đã tiếp nhận", "staff": "Văn thư"}
type StatusRequest struct {
	// Item is the inbox item ID, as in the names of the files in inbox/.
	Item string `json:"item"`
	// Code is the two-digit status code (01–06, 15, 16 from a recipient).
	Code string `json:"code"`
	// Description and Staff go into the status package.
	Description string `json:"description"`
	Staff       string `json:"staff"`
}

// Limits of a status request file.
const (
	MaxStatusFileBytes  = 64 << 10
	maxDescriptionBytes = 4000
	maxStaffBytes       = 500
)

// RequestError is why a status request file is refused: the member and
// the rule it breaks.
type RequestError struct {
	Field string
	Rule  string
}

func (e *RequestError) Error() string { return "status request: " + e.Field + ": " + e.Rule }

func reqErr(field, format string, args ...any) *RequestError {
	return &RequestError{Field: field, Rule: fmt.Sprintf(format, args...)}
}

// ParseStatusRequest reads a status request file strictly: one JSON
// object with the members of StatusRequest and no others (each once, in
// that case), nothing after it, item and code well-formed, text valid
// UTF-8 within bounds. Errors are *RequestError.
func ParseStatusRequest(b []byte) (StatusRequest, error) {
	if len(b) > MaxStatusFileBytes {
		return StatusRequest{}, reqErr("file", "%d bytes, the limit is %d", len(b), MaxStatusFileBytes)
	}
	if !utf8.Valid(b) {
		return StatusRequest{}, reqErr("file", "not UTF-8")
	}
	if err := checkMembers(b); err != nil {
		return StatusRequest{}, err
	}
	var r StatusRequest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return StatusRequest{}, reqErr("file", "not a JSON object of item, code, description and staff: %s", jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return StatusRequest{}, reqErr("file", "data after the JSON object")
	}
	switch {
	case !isItemID(r.Item):
		return StatusRequest{}, reqErr("item", "%s is not an inbox item ID (in- and 32 lowercase hex digits)", quoteClip(r.Item))
	case len(r.Code) != 2 || r.Code[0] < '0' || r.Code[0] > '9' || r.Code[1] < '0' || r.Code[1] > '9':
		return StatusRequest{}, reqErr("code", "%s is not a two-digit status code", quoteClip(r.Code))
	case len(r.Description) > maxDescriptionBytes:
		return StatusRequest{}, reqErr("description", "%d bytes, the limit is %d", len(r.Description), maxDescriptionBytes)
	case len(r.Staff) > maxStaffBytes:
		return StatusRequest{}, reqErr("staff", "%d bytes, the limit is %d", len(r.Staff), maxStaffBytes)
	case hasControl(r.Staff):
		return StatusRequest{}, reqErr("staff", "control characters are not allowed")
	}
	return r, nil
}

// checkMembers refuses a top-level member given twice or in another case
// than the documented one (encoding/json would take either silently).
func checkMembers(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return reqErr("file", "not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return reqErr("file", "not a JSON object: %s", jsonProblem(err))
		}
		k, _ := t.(string)
		switch k {
		case "item", "code", "description", "staff":
		default:
			return reqErr(quoteClip(k), "unknown member (item, code, description and staff are allowed)")
		}
		if seen[k] {
			return reqErr(k, "given twice")
		}
		seen[k] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return reqErr(k, "not a JSON value: %s", jsonProblem(err))
		}
	}
	return nil
}

func jsonProblem(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s at byte %d", se.Error(), se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("%s must be a %s", te.Field, te.Type)
	}
	return err.Error()
}

func isItemID(s string) bool {
	if len(s) != 3+32 || !strings.HasPrefix(s, "in-") {
		return false
	}
	for _, c := range s[3:] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// quoteClip quotes hostile input for an error: at most 64 bytes, escaped.
func quoteClip(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= 64 {
		return fmt.Sprintf("%q", s)
	}
	s = s[:64]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return fmt.Sprintf("%q…", s)
}

// statusIntent is .state/status/<key>.json: a status request the folder
// is posting. PostStatus has no idempotency key, so the folder writes the
// intent before it posts and the message ID after; a restart that finds
// an intent without a message ID looks the status up in the outbox before
// posting again.
type statusIntent struct {
	File      string    `json:"file"`
	SHA256    string    `json:"sha256"`
	Item      string    `json:"item"`
	Code      string    `json:"code"`
	Started   time.Time `json:"started"`
	MessageID string    `json:"message_id,omitempty"`
	QueuedAt  time.Time `json:"queued_at,omitzero"`
}

func (f *Folder) statusDir() string { return filepath.Join(f.state, "status") }

// intentName is the journal file of a status request: by name and bytes.
func intentName(name string, sum [32]byte) string {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write(sum[:])
	return hex.EncodeToString(h.Sum(nil)[:16]) + ".json"
}

// postStatus handles a status request file.
func (f *Folder) postStatus(ctx context.Context, name string, info fs.FileInfo, data []byte, sum [32]byte) outcome {
	req, err := ParseStatusRequest(data)
	if err != nil {
		var re *RequestError
		errors.As(err, &re)
		return f.fail(name, info, &sum, failure{bus.RejectMalformed, re.Field, re.Rule})
	}
	journal := intentName(name, sum)
	in, err := f.readIntent(journal)
	if err != nil {
		f.log.Warn("folder: reading a status intent", "file", printable(name), "err", err)
		return retry
	}
	if in != nil && in.MessageID == "" {
		// A crash while posting: the status may be queued already.
		found, err := f.findStatus(ctx, in)
		if err != nil {
			f.log.Warn("folder: looking up a status posted before a restart", "file", printable(name), "item", req.Item, "err", err)
			return retry
		}
		in = found
	}
	if in == nil {
		in = &statusIntent{File: validName(name), SHA256: hex.EncodeToString(sum[:]), Item: req.Item, Code: req.Code, Started: f.cfg.Now().UTC()}
		if err := f.writeIntent(journal, in); err != nil {
			f.log.Warn("folder: writing a status intent", "file", printable(name), "err", err)
			return retry
		}
		// The key makes a repeat after a crash (before the intent records
		// the result) return the status already queued.
		nameSum := sha256.Sum256([]byte(in.File))
		key := "folder-status/" + hex.EncodeToString(nameSum[:8]) + "/" + in.SHA256
		entry, err := f.edge.PostStatus(ctx, f.cfg.Client, key, req.Item, f.cfg.OrganIDs, req.Code, req.Description, req.Staff)
		if err != nil {
			o := f.refused(ctx, name, info, sum, err)
			if o == moved {
				_ = os.Remove(filepath.Join(f.statusDir(), journal))
			}
			return o
		}
		in.MessageID, in.QueuedAt = entry.Message.ID, entry.CreatedAt.UTC()
		if err := f.writeIntent(journal, in); err != nil {
			// The status is queued; without the record a restart finds
			// it in the outbox.
			f.log.Warn("folder: recording a posted status", "file", printable(name), "msg_id", in.MessageID, "err", err)
		}
		f.log.Info("folder: status sent", "file", printable(name), "item", req.Item, "status", req.Code, "msg_id", in.MessageID)
	}
	rec := SentRecord{
		File: in.File, SHA256: in.SHA256, MessageID: in.MessageID, Type: string(bus.TypeStatus),
		Item: in.Item, Code: in.Code, QueuedAt: in.QueuedAt,
	}
	o := f.done(name, info, sum, rec)
	if o == moved {
		if err := os.Remove(filepath.Join(f.statusDir(), journal)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			f.log.Warn("folder: removing a status intent", "file", printable(name), "err", err)
		}
	}
	return o
}

// findStatus looks in the outbox for the status an interrupted post may
// have queued: one answering in.Item with in.Code, created since the
// intent was written. It returns in with the message ID when found, nil
// when not (the post did not happen: PostStatus queues all or nothing).
func (f *Folder) findStatus(ctx context.Context, in *statusIntent) (*statusIntent, error) {
	item, _, err := f.edge.Item(ctx, in.Item)
	if errors.Is(err, bus.ErrNotFound) {
		return nil, nil // PostStatus will refuse it
	} else if err != nil {
		return nil, err
	}
	var before uint64
	for {
		page, err := f.edge.Outbox(ctx, bus.OutboxQuery{
			Before: before, Limit: 100, Types: []bus.Type{bus.TypeStatus}, Key: item.Key,
			Since: in.Started.Add(-time.Second),
		})
		if err != nil {
			return nil, err
		}
		for _, e := range page {
			if e.InboxID == in.Item && e.Message.Attrs[bus.AttrStatus] == in.Code {
				found := *in
				found.MessageID, found.QueuedAt = e.Message.ID, e.CreatedAt.UTC()
				return &found, nil
			}
		}
		if len(page) < 100 {
			return nil, nil
		}
		before = page[len(page)-1].Seq
	}
}

func (f *Folder) readIntent(name string) (*statusIntent, error) {
	b, err := os.ReadFile(filepath.Join(f.statusDir(), name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var in statusIntent
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &in, nil
}

func (f *Folder) writeIntent(name string, in *statusIntent) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return writeAtomic(f.statusDir(), name, b)
}
