// Package edoctest gives tests access to the project's shared reference
// material (../shared next to the repository), above all the official
// conformance packages, without copying it into the repository.
//
// A test that needs the material skips with a message naming what is
// missing; with TRUC_REQUIRE_SHARED=1 in the environment (set by .ci/run)
// it fails instead.
package edoctest

import (
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// SharedDir returns the shared reference folder: $TRUC_SHARED_DIR if set,
// else the "shared" folder beside the repository root (the directory that
// holds go.mod). It skips or fails t when the folder is absent.
func SharedDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("TRUC_SHARED_DIR"); d != "" {
		return requireDir(t, d)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatalf("finding the shared folder: %v", err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return requireDir(t, filepath.Join(filepath.Dir(d), "shared"))
		}
		if filepath.Dir(d) == d {
			missing(t, "the repository root (no go.mod above "+wd+")")
			return ""
		}
	}
}

// ConformanceFiles returns the paths of the official sample packages in
// shared/conformance/vxp-sdk, sorted by name.
func ConformanceFiles(t testing.TB) []string {
	t.Helper()
	dir := requireDir(t, filepath.Join(SharedDir(t), "conformance", "vxp-sdk"))
	files, err := filepath.Glob(filepath.Join(dir, "*.edxml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		missing(t, "the conformance packages (*.edxml in "+dir+")")
	}
	sort.Strings(files)
	return files
}

func requireDir(t testing.TB, d string) string {
	t.Helper()
	if st, err := os.Stat(d); err != nil || !st.IsDir() {
		missing(t, "the shared reference folder "+d)
	}
	return d
}

func missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("TRUC_REQUIRE_SHARED") == "1" {
		t.Fatalf("missing %s, and TRUC_REQUIRE_SHARED=1 forbids skipping", what)
	}
	t.Skipf("skipping: missing %s (set TRUC_SHARED_DIR or place the shared folder beside the repository)", what)
}
