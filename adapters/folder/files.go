package folder

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The folders under Root.
const (
	dirOutbox = "outbox"
	dirSent   = "sent"
	dirFailed = "failed"
	dirInbox  = "inbox"
	dirState  = ".state"
)

// Sidecar suffixes. Names in sent/ and failed/ are cut so that the name
// with a collision counter and the longest suffix fits in nameMax.
const (
	sentSuffix   = ".json"
	failedSuffix = ".error.txt"
	// nameMax is NAME_MAX of the usual Linux file systems, in bytes.
	nameMax = 255
	// maxPlaced leaves room for a collision counter ("~9999") and the
	// longest sidecar suffix.
	maxPlaced = nameMax - len("~9999") - len(failedSuffix)
	// maxCollisions bounds the counter.
	maxCollisions = 9999
)

// ignored reports whether a name in outbox/ is a file still being written
// under a temporary name (or a hidden file): the folder never touches it.
func ignored(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".tmp") || strings.HasSuffix(name, ".part")
}

// fitName returns name cut to at most maxPlaced bytes: the cut keeps the
// extension and replaces the middle with "~" and 8 hex digits of the
// SHA-256 of the whole name, so that two long names sharing a prefix stay
// apart. Names that fit are returned unchanged (any bytes but '/' and NUL,
// as the file system allowed them).
func fitName(name string) string {
	if len(name) <= maxPlaced {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	tag := "~" + hex.EncodeToString(sum[:4])
	ext := filepath.Ext(name)
	if len(ext) > 32 || !utf8.ValidString(ext) {
		ext = ""
	}
	keep := maxPlaced - len(tag) - len(ext)
	stem := name[:keep]
	// A UTF-8 name stays UTF-8: do not leave half a sequence at the cut.
	for utf8.ValidString(name) && !utf8.ValidString(stem) {
		stem = stem[:len(stem)-1]
	}
	return stem + tag + ext
}

// withCounter returns name with "~n" before its extension (n ≥ 2).
func withCounter(name string, n int) string {
	ext := filepath.Ext(name)
	if ext == name || len(ext) > 32 {
		ext = ""
	}
	return strings.TrimSuffix(name, ext) + "~" + strconv.Itoa(n) + ext
}

// place finds the name under which a file called name goes into dir, with
// its sidecar (name+suffix): the first of name, name~2, name~3, ... for
// which neither the file nor the sidecar exists, or for which only the
// sidecar exists and ours reports that it was written for this very file
// (a crash between writing the sidecar and moving the file). It returns the
// chosen name and whether the sidecar is already there.
func place(dir, name, suffix string, ours func(sidecar []byte) bool) (string, bool, error) {
	base := fitName(name)
	for n := 1; n <= maxCollisions; n++ {
		cand := base
		if n > 1 {
			cand = withCounter(base, n)
		}
		_, err := os.Lstat(filepath.Join(dir, cand))
		if err == nil {
			continue
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", false, err
		}
		side, err := readSidecar(filepath.Join(dir, cand+suffix))
		if errors.Is(err, fs.ErrNotExist) {
			return cand, false, nil
		} else if err != nil {
			return "", false, err
		}
		if ours(side) {
			return cand, true, nil
		}
	}
	return "", false, fmt.Errorf("%d files named like %q in %s already", maxCollisions, base, dir)
}

// maxSidecarBytes bounds what place reads of an existing sidecar: the
// folder's own are a few hundred bytes.
const maxSidecarBytes = 64 << 10

// readSidecar reads a sidecar place finds in sent/ or failed/, which the
// DMS shares: as the files of outbox/ are read (no link followed, no
// blocking on a FIFO), and bounded. Anything but a regular file (a link, a
// FIFO, a directory) reads as empty: not the folder's, so place moves on.
func readSidecar(path string) ([]byte, error) {
	f, err := os.OpenFile(path, openFlags, 0)
	if err != nil {
		if isLoop(err) {
			return nil, nil
		}
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, nil
	}
	return io.ReadAll(io.LimitReader(f, maxSidecarBytes))
}

// writeAtomic writes data to dir/name (replaceFile) and fsyncs dir: once
// it returns, the file is durable under its name.
func writeAtomic(dir, name string, data []byte) error {
	if err := replaceFile(dir, name, data); err != nil {
		return err
	}
	return syncDir(dir)
}

// replaceFile writes data to dir/name: to a temporary name in dir first
// (hidden, so that a DMS watching dir ignores it), fsynced, then renamed
// over name. A crash leaves either the old file or the new one, never a
// part; at worst a stray temporary file (cleanTemp removes it). The rename
// is durable once dir is fsynced.
func replaceFile(dir, name string, data []byte) error {
	var r [6]byte
	_, _ = rand.Read(r[:])
	tmp := filepath.Join(dir, tempPrefix+hex.EncodeToString(r[:])+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// tempPrefix starts the temporary files the folder writes.
const tempPrefix = ".truc-"

// cleanTemp removes the temporary files a crash left in dir.
func cleanTemp(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix) && strings.HasSuffix(e.Name(), ".tmp") && e.Type().IsRegular() {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// syncDir fsyncs a directory, making the renames and creations in it
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// printable returns a file name as valid UTF-8 for reports and logs:
// quoted, with invalid bytes and control characters escaped.
func printable(name string) string { return strconv.Quote(name) }
