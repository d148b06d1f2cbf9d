//go:build !unix

package embedded

import (
	"os"
	"path/filepath"
)

// lockDir only creates dir/.lock: this platform has no flock, so two
// brokers on one data directory are not prevented.
func lockDir(dir string) (*os.File, error) {
	return os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
}
