package history

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/flyt-platform/flyt/internal/testenv/pgtest"
)

// pg is the package's PostgreSQL server, started once by TestMain; pgErr says why it is nil.
var (
	pg    *pgtest.Server
	pgErr error
)

func TestMain(m *testing.M) {
	// The crash test re-executes this binary as a writer it then kills.
	if os.Getenv(crashChildEnv) != "" {
		crashChild()
		return
	}
	pg, pgErr = pgtest.Start()
	code := m.Run()
	pg.Stop()
	os.Exit(code)
}

// sqliteDSN returns the DSN of a new SQLite database in the test's temp dir.
func sqliteDSN(t testing.TB) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "history.db")
}

// postgresDSN returns the DSN of a new PostgreSQL database, failing the test when the package
// server could not start.
func postgresDSN(t testing.TB) string {
	return pgtest.Require(t, pg, pgErr).NewDatabase(t)
}

// stores are the implementations every shared test runs against.
var stores = []struct {
	name string
	dsn  func(testing.TB) string
}{
	{"sqlite", sqliteDSN},
	{"postgres", postgresDSN},
}

// openStore opens dsn and closes the store when the test ends.
func openStore(t testing.TB, dsn string) Store {
	t.Helper()
	s, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// forEachStore runs test once per implementation, each with a fresh database.
func forEachStore(t *testing.T, test func(t *testing.T, dsn string)) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) { test(t, st.dsn(t)) })
	}
}

// must returns v, or panics (failing the test binary with a stack) on an error the test did
// not expect; it keeps the many store calls in the suite readable.
func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("unexpected error: %v", err))
	}
	return v
}

// sha returns a distinct, realistic-looking commit SHA for n.
func sha(n int) string { return fmt.Sprintf("%08x%032x", uint32(n)*2654435761, n) }
