// Package testenv finds the optional test dependencies (a browser, a
// PostgreSQL server) and decides whether a test without them skips (a
// developer's machine) or fails (CI, which switches every suite on).
package testenv

import (
	"os"
	"os/exec"
	"strings"
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
// when it is unset. A value that is not a PostgreSQL URL fails the test:
// the stores would take it for a SQLite file name (GRIDLINK_TEST_POSTGRES=1
// used to create a SQLite file named "1" and test SQLite twice).
func Postgres(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("GRIDLINK_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("GRIDLINK_TEST_POSTGRES is not set: PostgreSQL tests skipped")
	}
	if !IsPostgresURL(dsn) {
		t.Fatalf("GRIDLINK_TEST_POSTGRES=%q is not a PostgreSQL URL: set it to postgres://user@host:port/database", dsn)
	}
	return dsn
}

// IsPostgresURL reports whether dsn is a postgres:// or postgresql:// URL.
func IsPostgresURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
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
