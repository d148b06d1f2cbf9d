//go:build !unix

package folder

import (
	"os"
	"path/filepath"
)

// lockDir only creates dir/lock: this platform has no flock, so two
// processes on one folder are not prevented.
func lockDir(dir string) (*os.File, error) {
	return os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
}

// openFlags open a file in outbox/ for reading.
const openFlags = os.O_RDONLY

func isLoop(err error) bool { return false }
