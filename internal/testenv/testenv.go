// Package testenv finds the optional test dependencies (a browser, a
// PostgreSQL server) and decides whether a test without them skips (a
// developer's machine) or fails (CI, which switches every suite on).
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// Browser returns the path of a Chromium binary for end-to-end tests.
// Without one the test skips, unless GRIDLINK_TEST_BROWSER=required (CI),
// in which case it fails.
func Browser(t testing.TB) string {
	t.Helper()
	for _, name := range []string{os.Getenv("GRIDLINK_TEST_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("GRIDLINK_TEST_BROWSER") == "required" {
		t.Fatal("GRIDLINK_TEST_BROWSER=required but no chromium binary was found (apt-get install -y chromium)")
	}
	t.Skip("no chromium binary: browser tests skipped (apt-get install -y chromium, or set GRIDLINK_TEST_BROWSER=required to fail instead)")
	return ""
}

// Postgres returns the DSN in GRIDLINK_TEST_POSTGRES, or skips the test
// when it is unset.
func Postgres(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("GRIDLINK_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("GRIDLINK_TEST_POSTGRES is not set: PostgreSQL tests skipped")
	}
	return dsn
}

// ArtifactDir returns the directory where tests save artifacts
// (screenshots): GRIDLINK_TEST_ARTIFACTS, or a temporary directory.
func ArtifactDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("GRIDLINK_TEST_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}
