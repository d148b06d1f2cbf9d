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
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"truc.vn/truc/bus"
)

// Reason codes of the failures the folder finds itself, written to
// failed/<name>.error.txt like the edge's own reasons (bus.Reject*).
const (
	ReasonNotAFile   = "not-a-file"   // a directory, a symbolic link, a device... in outbox/
	ReasonUnreadable = "unreadable"   // the edge may not read the file
	ReasonConflict   = "conflict"     // the edge refused a repeat (a second status 01)
	ReasonNoItem     = "unknown-item" // a status request names no inbox item of this edge
	ReasonTooLarge   = bus.RejectTooLarge
)

// statusSuffix ends the name of a status request file.
const statusSuffix = ".status.json"

// maxBackoff bounds the wait before a file whose submission failed for a
// passing reason is tried again.
const maxBackoff = time.Minute

// watch is what the folder knows of one entry of outbox/.
type watch struct {
	info     fs.FileInfo // as last seen (lstat)
	since    time.Time   // since when it has looked like info
	retryAt  time.Time   // not before, after a passing failure
	attempts int         // passing failures in a row
	busy     bool        // a worker has it
}

// outcome is how processing a file ended.
type outcome int

const (
	moved   outcome = iota // to sent/ or failed/
	changed                // it changed or went while it was read: look again
	retry                  // a passing failure: try again after a back-off
)

// failure is why a file goes to failed/: a stable reason code, the field it
// concerns and a human detail.
type failure struct {
	Reason, Field, Detail string
}

// job is one complete file for a worker.
type job struct {
	name string
	info fs.FileInfo
}

func (f *Folder) runOutbox(ctx context.Context) {
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range f.cfg.Workers {
		wg.Go(func() {
			for j := range jobs {
				f.finishJob(j, f.process(ctx, j.name, j.info))
			}
		})
	}
	defer wg.Wait()
	defer close(jobs)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ready, err := f.scan()
		if err != nil {
			f.log.Warn("folder: reading outbox/", "err", err)
		}
		for i, j := range ready {
			select {
			case jobs <- j:
			case <-ctx.Done():
				f.release(ready[i:])
				return
			}
		}
		t.Reset(f.cfg.Poll)
	}
}

// release marks jobs that were never handed out as free again.
func (f *Folder) release(js []job) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, j := range js {
		if w := f.watches[j.name]; w != nil {
			w.busy = false
		}
	}
}

// scan lists outbox/, updates what the folder knows of each entry and
// returns the entries that are complete and due, oldest first, marked busy.
func (f *Folder) scan() ([]job, error) {
	if err := f.ensureDirs(); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(f.outbox)
	if err != nil {
		return nil, err
	}
	now := f.cfg.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	present := make(map[string]bool, len(entries))
	var ready []job
	for _, e := range entries {
		name := e.Name()
		if ignored(name) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // gone since ReadDir
		}
		present[name] = true
		w := f.watches[name]
		if w != nil && w.busy {
			continue
		}
		if w == nil || !sameLook(w.info, info) {
			// Writes move the modification time: a file has looked the
			// same at least since it, when that is in the past.
			since := now
			if mt := info.ModTime(); mt.Before(now) {
				since = mt
			}
			w = &watch{info: info, since: since}
			f.watches[name] = w
		}
		if now.Sub(w.since) < f.cfg.Settle || now.Before(w.retryAt) {
			continue
		}
		w.busy = true
		ready = append(ready, job{name: name, info: info})
	}
	for name, w := range f.watches {
		if !present[name] && !w.busy {
			delete(f.watches, name)
		}
	}
	slices.SortStableFunc(ready, func(a, b job) int { return a.info.ModTime().Compare(b.info.ModTime()) })
	return ready, nil
}

// sameLook reports whether two looks at an entry show the same file, size
// and modification time.
func sameLook(a, b fs.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime()) && a.Mode() == b.Mode()
}

func (f *Folder) finishJob(j job, o outcome) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.watches[j.name]
	if w == nil {
		return
	}
	switch o {
	case moved, changed:
		delete(f.watches, j.name)
	case retry:
		w.busy = false
		w.attempts++
		w.retryAt = f.cfg.Now().Add(min(f.cfg.Poll<<min(w.attempts, 10), maxBackoff))
	}
}

// process handles one complete entry of outbox/.
func (f *Folder) process(ctx context.Context, name string, seen fs.FileInfo) outcome {
	if ctx.Err() != nil {
		return retry
	}
	switch mode := seen.Mode(); {
	case mode.IsDir():
		return f.fail(name, seen, nil, failure{ReasonNotAFile, "file", "a directory: put files, not folders, into outbox/"})
	case mode&fs.ModeSymlink != 0:
		return f.fail(name, seen, nil, failure{ReasonNotAFile, "file", "a symbolic link: the edge does not follow links; put the file itself into outbox/"})
	case !mode.IsRegular():
		return f.fail(name, seen, nil, failure{ReasonNotAFile, "file", fmt.Sprintf("not a regular file (%s)", mode.Type())})
	case seen.Size() > f.cfg.MaxFileBytes:
		return f.fail(name, seen, nil, failure{ReasonTooLarge, "file", fmt.Sprintf("%d bytes, the limit is %d", seen.Size(), f.cfg.MaxFileBytes)})
	}
	data, info, err := f.read(name, seen)
	switch {
	case errors.Is(err, errChanged) || errors.Is(err, fs.ErrNotExist):
		return changed
	case errors.Is(err, fs.ErrPermission):
		return f.fail(name, seen, nil, failure{ReasonUnreadable, "file", "the edge may not read it: check its permissions"})
	case err != nil:
		f.log.Warn("folder: reading a file", "file", printable(name), "err", err)
		return retry
	}
	sum := sha256.Sum256(data)
	if strings.HasSuffix(name, statusSuffix) {
		return f.postStatus(ctx, name, info, data, sum)
	}
	entry, created, err := f.edge.Submit(ctx, f.cfg.Client, f.cfg.OrganIDs, data, idempotencyKey(name, sum))
	if err != nil {
		return f.refused(ctx, name, info, sum, err)
	}
	m := entry.Message
	rec := SentRecord{
		File: validName(name), SHA256: hex.EncodeToString(sum[:]), MessageID: m.ID,
		PackageSHA256: hex.EncodeToString(m.SHA256[:]), Type: string(m.Type), Recipients: m.Recipients,
		QueuedAt: entry.CreatedAt.UTC(), Replayed: !created,
	}
	if m.Type == bus.TypeStatus {
		rec.Code = m.Attrs[bus.AttrStatus]
	}
	f.log.Info("folder: sent", "file", printable(name), "msg_id", m.ID, "type", m.Type, "replayed", !created)
	return f.done(name, info, sum, rec)
}

var errChanged = errors.New("the file changed while it was read")

// read reads the file name in outbox/ that looked like seen, and checks
// that it is still that file, unchanged, after the read.
func (f *Folder) read(name string, seen fs.FileInfo) ([]byte, fs.FileInfo, error) {
	file, err := os.OpenFile(filepath.Join(f.outbox, name), openFlags, 0)
	if err != nil {
		if isLoop(err) {
			return nil, nil, errChanged // a link was swapped in
		}
		return nil, nil, err
	}
	defer file.Close()
	before, err := file.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !sameLook(seen, before) {
		return nil, nil, errChanged
	}
	data, err := io.ReadAll(io.LimitReader(file, f.cfg.MaxFileBytes+1))
	if err != nil {
		return nil, nil, err
	}
	after, err := file.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !sameLook(before, after) || int64(len(data)) != after.Size() {
		return nil, nil, errChanged
	}
	return data, after, nil
}

// idempotencyKey is the key a file is submitted under: the same name with
// the same bytes is the same submission, so a file submitted again after a
// crash (before it was moved to sent/) gets the entry of the first time.
func idempotencyKey(name string, sum [32]byte) string {
	n := sha256.Sum256([]byte(name))
	return "folder-v1/" + hex.EncodeToString(n[:16]) + "/" + hex.EncodeToString(sum[:])
}

// refused decides what a failed submission means: a refusal of the file
// (failed/) or a passing failure of the edge (try again later).
func (f *Folder) refused(ctx context.Context, name string, info fs.FileInfo, sum [32]byte, err error) outcome {
	if ctx.Err() != nil {
		return retry
	}
	var re *bus.RejectError
	switch {
	case errors.As(err, &re) && !bus.Transient(re.Reason):
		return f.fail(name, info, &sum, failure{re.Reason, re.Field, re.Detail})
	case errors.Is(err, bus.ErrConflict):
		return f.fail(name, info, &sum, failure{ReasonConflict, "", err.Error()})
	case errors.Is(err, bus.ErrNotFound):
		return f.fail(name, info, &sum, failure{ReasonNoItem, "item", "no inbox item of this edge has that ID"})
	}
	f.log.Warn("folder: the edge cannot take a file now; will retry", "file", printable(name), "err", err)
	return retry
}

// SentRecord is the content of sent/<name>.json, written beside every
// file the edge queued: what the DMS needs to follow it. Its JSON shape is
// a contract with DMSs: members are only ever added.
type SentRecord struct {
	// File is the file's name (bytes that are not UTF-8 replaced by U+FFFD).
	File string `json:"file"`
	// SHA256 is the hex SHA-256 of the file's bytes.
	SHA256 string `json:"sha256"`
	// MessageID is the edge's ID of the message it sends (GET
	// /v1/documents/{id} shows its timeline).
	MessageID string `json:"message_id"`
	// PackageSHA256 is the hex SHA-256 of the signed package.
	PackageSHA256 string   `json:"package_sha256,omitempty"`
	Type          string   `json:"type"` // document or status
	Recipients    []string `json:"recipients,omitempty"`
	// Item and Code are those of a status request (.status.json).
	Item string `json:"item,omitempty"`
	Code string `json:"status,omitempty"`
	// QueuedAt is when the edge queued the message for the axis.
	QueuedAt time.Time `json:"queued_at"`
	// Replayed: the edge had queued this file (same name and bytes)
	// before; it was not sent again.
	Replayed bool `json:"replayed,omitempty"`
}

// done writes the sidecar of a sent file and moves the file to sent/.
func (f *Folder) done(name string, info fs.FileInfo, sum [32]byte, rec SentRecord) outcome {
	dest, have, err := place(f.sent, name, sentSuffix, func(side []byte) bool {
		var r SentRecord
		return json.Unmarshal(side, &r) == nil && r.File == rec.File && r.SHA256 == rec.SHA256
	})
	if err == nil && !have {
		var b []byte
		if b, err = json.MarshalIndent(rec, "", "  "); err == nil {
			err = writeAtomic(f.sent, dest+sentSuffix, append(b, '\n'))
		}
	}
	if err == nil {
		err = f.move(name, info, f.sent, dest)
	}
	if err != nil {
		// Sent already: the retry gets the same entry back.
		f.log.Warn("folder: moving a sent file to sent/", "file", printable(name), "msg_id", rec.MessageID, "err", err)
		return retry
	}
	return moved
}

// fail writes the reason a file was not sent and moves it to failed/. sum
// is nil for an entry that was not read.
func (f *Folder) fail(name string, info fs.FileInfo, sum *[32]byte, fl failure) outcome {
	shaText := "-"
	if sum != nil {
		shaText = hex.EncodeToString(sum[:])
	}
	head := fmt.Sprintf("file: %s\nsha256: %s\n", printable(name), shaText)
	dest, have, err := place(f.failed, name, failedSuffix, func(side []byte) bool { return bytes.Contains(side, []byte(head)) })
	if err == nil && !have {
		err = writeAtomic(f.failed, dest+failedSuffix, failureText(head, fl, f.cfg.Now()))
	}
	if err == nil {
		err = f.move(name, info, f.failed, dest)
	}
	if err != nil {
		f.log.Warn("folder: moving a refused file to failed/", "file", printable(name), "err", err)
		return retry
	}
	f.log.Info("folder: refused a file", "file", printable(name), "reason", fl.Reason, "field", fl.Field)
	return moved
}

// failureText is the content of failed/<name>.error.txt.
func failureText(head string, fl failure, at time.Time) []byte {
	var b bytes.Buffer
	b.WriteString("The edge did not send this file.\n\n")
	b.WriteString(head)
	fmt.Fprintf(&b, "at: %s\n", at.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "reason: %s\n", oneLine(fl.Reason))
	if fl.Field != "" {
		fmt.Fprintf(&b, "field: %s\n", oneLine(fl.Field))
	}
	if fl.Detail != "" {
		fmt.Fprintf(&b, "detail: %s\n", oneLine(fl.Detail))
	}
	return b.Bytes()
}

// oneLine makes text safe for one line of a report.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

// validName is name with bytes that are not UTF-8 replaced.
func validName(name string) string {
	if utf8.ValidString(name) {
		return name
	}
	return strings.ToValidUTF8(name, "\uFFFD")
}

// move renames outbox/name to dir/dest if it is still the file that was
// read (a DMS may have replaced or removed it meanwhile: then the new file
// stays, to be taken in its turn, and the record stays without its file).
func (f *Folder) move(name string, info fs.FileInfo, dir, dest string) error {
	now, err := os.Lstat(filepath.Join(f.outbox, name))
	if errors.Is(err, fs.ErrNotExist) {
		f.log.Warn("folder: a file was removed while it was handled", "file", printable(name))
		return nil
	} else if err != nil {
		return err
	}
	if !sameLook(info, now) {
		f.log.Warn("folder: a file was replaced while it was handled; the new one is taken in its turn", "file", printable(name))
		return nil
	}
	// No fsync: the rename is atomic, and if a power loss undoes it the
	// file is taken again and the edge answers with the same entry. The
	// sidecar, which nothing would write again, was fsynced before.
	return os.Rename(filepath.Join(f.outbox, name), filepath.Join(dir, dest))
}
