//go:build unix

package folder

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes an exclusive lock on dir/lock, held until the returned
// file is closed or the process dies (the kernel drops it on kill -9).
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("folder: locking %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("folder: %s is in use by another process: %w", filepath.Dir(dir), err)
	}
	return f, nil
}

// openFlags open a file in outbox/ for reading without following a
// symbolic link swapped in since it was looked at, and without blocking on
// a FIFO.
const openFlags = os.O_RDONLY | syscall.O_NOFOLLOW | syscall.O_NONBLOCK

// isLoop reports whether an open failed because the name is now a
// symbolic link (O_NOFOLLOW).
func isLoop(err error) bool { return errors.Is(err, syscall.ELOOP) }
