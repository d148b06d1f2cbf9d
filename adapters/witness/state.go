package witness

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"truc.vn/truc/bus"
)

// Files in Config.Dir. Their names are part of the operator's procedure
// (see the package documentation): they never change.
const (
	// LastFile holds the last checkpoint witnessed, as cosigned.
	LastFile = "last.checkpoint"
	// HaltedFile exists while cosigning is stopped; its first line names
	// the evidence file.
	HaltedFile = "halted"
	// EvidencePrefix starts the name of each evidence file:
	// splitview-<unix seconds>.txt.
	EvidencePrefix = "splitview-"
)

const haltedHelp = `
This witness stopped cosigning the checkpoints of the axis log because the
log showed it two histories: the evidence file named above, in this
directory, holds both signed checkpoints and the proof. Send it to the axis
operator and the auditors. To resume once it is explained:
  - delete this file to keep checking against the history this witness had
    seen (the axis was restored to it);
  - or delete last.checkpoint, then this file, to accept the axis's present
    history (its next checkpoint is taken on trust).
The witness resumes at its next round, without a restart.
`

// load reads the state from the directory, replacing the one in memory.
func (w *Witness) load() error {
	dir := w.cfg.Dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("witness: creating the state directory: %w", err)
	}
	w.last, w.unposted, w.halted = bus.SignedCheckpoint{}, false, ""
	clear(w.recent)
	path := filepath.Join(dir, LastFile)
	b, err := readSmall(path, bus.MaxSignedCheckpointLen)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("witness: reading the last checkpoint witnessed: %w", err)
	default:
		cp, err := bus.ParseUnverifiedCheckpoint(b)
		if err != nil {
			return fmt.Errorf("witness: %s is damaged (%w); restore it from a backup, or delete it to start over from the axis's present checkpoint (taken on trust)", path, err)
		}
		// Post it again once: the log may not have taken it before the
		// restart, and taking it twice is harmless.
		w.last, w.unposted = cp, true
	}
	w.lastSize.Store(w.last.Size)
	hb, err := readSmall(filepath.Join(dir, HaltedFile), 64<<10)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("witness: reading the halted marker: %w", err)
	default:
		first, _, _ := strings.Cut(string(hb), "\n")
		if w.halted = strings.TrimSpace(first); w.halted == "" {
			w.halted = HaltedFile
		}
	}
	w.haltedFlag.Store(w.halted != "")
	return nil
}

func (w *Witness) haltedFileExists() (bool, error) {
	_, err := os.Stat(filepath.Join(w.cfg.Dir, HaltedFile))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// saveLast durably replaces LastFile with note.
func (w *Witness) saveLast(note []byte) error {
	return writeFileAtomic(w.cfg.Dir, LastFile, note)
}

// halt writes the evidence file and then the halted marker naming it, and
// returns the evidence file's name.
func (w *Witness) halt(ev *Evidence) (string, error) {
	text, err := ev.MarshalText()
	if err != nil {
		return "", err
	}
	base := EvidencePrefix + strconv.FormatInt(ev.DetectedAt.Unix(), 10)
	var name string
	for i := 0; ; i++ {
		name = base + ".txt"
		if i > 0 {
			name = fmt.Sprintf("%s-%d.txt", base, i)
		}
		err = writeFileExclusive(w.cfg.Dir, name, text)
		if !errors.Is(err, fs.ErrExist) || i == 100 {
			break
		}
	}
	if err != nil {
		return "", fmt.Errorf("writing the evidence: %w", err)
	}
	if err := writeFileAtomic(w.cfg.Dir, HaltedFile, []byte(name+"\n"+haltedHelp)); err != nil {
		return name, fmt.Errorf("writing the halted marker: %w", err)
	}
	w.halted = name
	w.haltedFlag.Store(true)
	return name, nil
}

// writeFileAtomic writes dir/name through a temporary file that is
// fsynced and renamed over it, then fsyncs dir: after a crash the file
// holds either the old or the new content.
func writeFileAtomic(dir, name string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, "."+name+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err = os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	return syncDir(dir)
}

// writeFileExclusive creates dir/name (failing with fs.ErrExist if it
// exists), writes and fsyncs it and dir.
func writeFileExclusive(dir, name string, data []byte) error {
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

// readSmall reads a file of at most limit bytes.
func readSmall(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var b bytes.Buffer
	n, err := b.ReadFrom(io.LimitReader(bufio.NewReader(f), limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if n > limit {
		return nil, fmt.Errorf("%s exceeds %d bytes", path, limit)
	}
	return b.Bytes(), nil
}
