package signingtest

import (
	"os"
	"os/exec"
	"testing"
)

// RequireInteropEnv names the environment variable that turns a missing
// interop tool from a skip into a failure (CI sets it to 1).
const RequireInteropEnv = "TRUC_REQUIRE_INTEROP"

// RequireTool returns the path of the executable name (looked up in PATH).
// When it is absent the test is skipped, or fails if TRUC_REQUIRE_INTEROP=1.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv(RequireInteropEnv) == "1" {
		t.Fatalf("%s not found (%v), and %s=1 forbids skipping", name, err, RequireInteropEnv)
	}
	t.Skipf("skipping: %s not found (%v); install it or set %s=1 to make this a failure", name, err, RequireInteropEnv)
	return ""
}
