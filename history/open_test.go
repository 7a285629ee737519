package history

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flyt-platform/flyt/internal/testenv/pgtest"
)

func TestSQLitePath(t *testing.T) {
	tests := []struct {
		dsn, want string
		err       bool
	}{
		{dsn: "", want: DefaultSQLitePath},
		{dsn: "sqlite:///var/lib/flyt/history.db", want: "/var/lib/flyt/history.db"},
		{dsn: "sqlite://data/history.db", want: "data/history.db"},
		{dsn: "sqlite:history.db", want: "history.db"},
		{dsn: "/var/lib/flyt/history.db", want: "/var/lib/flyt/history.db"},
		{dsn: "sqlite::memory:", err: true},
		{dsn: "sqlite://", err: true},
		{dsn: "mysql://u:p@h/db", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.dsn, func(t *testing.T) {
			got, err := sqlitePath(tt.dsn)
			if (err != nil) != tt.err || (err != nil && !errors.Is(err, ErrInvalid)) {
				t.Fatalf("sqlitePath(%q) error = %v, want error %v (ErrInvalid)", tt.dsn, err, tt.err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("sqlitePath(%q) (-want +got):\n%s", tt.dsn, diff)
			}
		})
	}
}

func TestRedactDSN(t *testing.T) {
	tests := []struct{ dsn, want string }{
		{"postgres://flyt:hemmelig@db:5432/flyt?sslmode=require", "postgres://flyt:REDACTED@db:5432/flyt?sslmode=require"},
		{"postgres://flyt@db/flyt?password=hemmelig", "postgres://flyt@db/flyt?password=REDACTED"},
		{"sqlite:///var/lib/flyt/history.db", "sqlite:///var/lib/flyt/history.db"},
		{"host=db password=hemmelig", "host=db password=REDACTED"},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, RedactDSN(tt.dsn)); diff != "" {
			t.Errorf("RedactDSN(%q) (-want +got):\n%s", tt.dsn, diff)
		}
	}
}

func TestIsPostgres(t *testing.T) {
	tests := []struct {
		dsn  string
		want bool
	}{
		{"postgres://flyt@db/flyt", true},
		{"postgresql://flyt@db/flyt", true},
		{"host=db user=flyt password=s3cret dbname=flyt", true},
		{" dbname = flyt", true},
		{"", false},
		{"sqlite:///var/lib/flyt/history.db", false},
		{"/var/lib/flyt/history.db", false},
		{"history=1.db", true}, // documented: such a file is written sqlite:history=1.db
		{"sqlite:history=1.db", false},
	}
	for _, tt := range tests {
		if got := IsPostgres(tt.dsn); got != tt.want {
			t.Errorf("IsPostgres(%q) = %v, want %v", tt.dsn, got, tt.want)
		}
	}
}

// TestOpenErrorsHideThePassword opens PostgreSQL DSNs that cannot work; the password must not
// appear in the error, nor any part of it, and no SQLite file may be created for them.
func TestOpenErrorsHideThePassword(t *testing.T) {
	tests := []struct {
		dsn  string
		want string // in the error
	}{
		{"postgres://flyt:hemmelig@127.0.0.1:1/flyt?connect_timeout=2", "127.0.0.1"},
		{"postgres://flyt:hemmelig@127.0.0.1:1/flyt?sslmode=bogus", "sslmode is invalid"},
		{"postgresql://flyt@127.0.0.1:1/flyt?password=hemmelig&connect_timeout=2", "127.0.0.1"},
		{"postgres://flyt:hem%zzmelig@127.0.0.1:1/flyt", "must be percent-encoded"},
		{"postgres://flyt:hemmelig@127.0.0.1:54x2/flyt", `invalid port ":54x2"`},
		{"host=127.0.0.1 port=1 user=flyt password=hemmelig dbname=flyt connect_timeout=2", "127.0.0.1"},
		{"host=127.0.0.1 port=1 user=flyt password='hem melig dbname=flyt", "unterminated quoted string"},
		{"host=127.0.0.1 port=1 user=flyt hemmelig", "keyword/value DSN is key=value pairs"},
		{"host=127.0.0.1 port=1 sslmode=bogus password=hemmelig", "sslmode is invalid"},
		{"flyt:hemmelig@127.0.0.1/flyt", "is not a file path"},
	}
	t.Chdir(t.TempDir())
	for _, tt := range tests {
		_, err := Open(t.Context(), tt.dsn)
		if err == nil {
			t.Fatalf("Open(%s) succeeded", RedactDSN(tt.dsn))
		}
		t.Log(err)
		for _, part := range []string{"hemmelig", "hem", "melig"} {
			if strings.Contains(err.Error(), part) {
				t.Errorf("Open error reveals (part of) the password: %v", err)
			}
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Open(%s) error = %v, want it to say %q", RedactDSN(tt.dsn), err, tt.want)
		}
	}
	if left, _ := os.ReadDir("."); len(left) > 0 {
		t.Errorf("Open left files in the working directory: %v", left)
	}
}

// TestOpenKeywordDSN opens the real PostgreSQL server through a keyword/value DSN (with a
// password, which the trust-authenticated test server ignores): it must be PostgreSQL, never a
// SQLite file named after the string.
func TestOpenKeywordDSN(t *testing.T) {
	srv := pgtest.Require(t, pg, pgErr)
	name, _, err := srv.CreateDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.DropDatabase(context.WithoutCancel(t.Context()), name) })
	t.Chdir(t.TempDir())
	dsn := fmt.Sprintf("host=%s port=%d user=%s password=s3cret dbname=%s sslmode=disable", srv.Dir, srv.Port, srv.User, name)
	s := openStore(t, dsn)
	if got := s.(*sqlStore).d.name; got != postgresDialect.name {
		t.Fatalf("keyword DSN opened the %s store, want PostgreSQL", got)
	}
	id, err := s.CreateDeploy(t.Context(), &Deploy{App: "a", Team: "t", Environment: "dev", Cluster: "c", Repository: "https://example.test/t/a.git",
		Commit: strings.Repeat("a", 40), Trigger: TriggerPoll, State: StateQueued, StartedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if d.App != "a" {
		t.Errorf("deploy read back = %+v", d.Deploy)
	}
	if left, _ := os.ReadDir("."); len(left) > 0 {
		t.Errorf("a keyword DSN left files in the working directory: %v", left)
	}
}

// TestSchemaTooNew migrates a real database, pretends a newer flyt migrated it further, and
// checks that Open refuses it with a clear message and leaves it alone.
func TestSchemaTooNew(t *testing.T) {
	forEachStore(t, func(t *testing.T, dsn string) {
		s, err := Open(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		ss := s.(*sqlStore)
		know := must(SchemaVersion(ss.d.name))
		if _, err := ss.w.ExecContext(t.Context(), ss.d.rebind(`INSERT INTO schema_version (version, applied_at) VALUES (?, 0)`), know+2); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if err := s.Ping(t.Context()); err == nil {
			t.Error("Ping after Close succeeded")
		}
		// A database that is newer than this binary is refused.
		_, err = Open(t.Context(), dsn)
		var tooNew *SchemaTooNewError
		if !errors.Is(err, ErrSchemaTooNew) || !errors.As(err, &tooNew) {
			t.Fatalf("Open(newer schema) = %v, want ErrSchemaTooNew", err)
		}
		if diff := cmp.Diff(&SchemaTooNewError{Have: know + 2, Know: know}, tooNew); diff != "" {
			t.Errorf("error (-want +got):\n%s", diff)
		}
		wantMsg := "upgrade flyt or point it at another database"
		if !strings.Contains(err.Error(), wantMsg) {
			t.Errorf("error %q does not say %q", err, wantMsg)
		}
	})
}

// TestReopenKeepsData checks migrations run once: a second Open sees the first one's deploys.
func TestReopenKeepsData(t *testing.T) {
	forEachStore(t, func(t *testing.T, dsn string) {
		s := openStore(t, dsn)
		if err := s.Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		d := run(t, s, deploy("a", "team", "dev", 1, t0), StateSuccess)
		s2 := openStore(t, dsn)
		got := must(s2.Get(t.Context(), d.ID))
		if diff := cmp.Diff(d, &got.Deploy); diff != "" {
			t.Errorf("after reopen (-want +got):\n%s", diff)
		}
	})
}

func TestOpenSQLiteNeedsDirectory(t *testing.T) {
	_, err := Open(t.Context(), filepath.Join(t.TempDir(), "missing", "history.db"))
	if err == nil {
		t.Fatal("Open in a missing directory succeeded")
	}
}

// TestConcurrentOpen opens one new database from several goroutines at once, as replicas
// starting together do: the migrations must run exactly once and every Open succeed.
func TestConcurrentOpen(t *testing.T) {
	forEachStore(t, func(t *testing.T, dsn string) {
		const n = 4
		errs := make(chan error, n)
		for range n {
			go func() {
				s, err := Open(t.Context(), dsn)
				if err == nil {
					err = s.Close()
				}
				errs <- err
			}()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		s := openStore(t, dsn)
		var versions int
		if err := s.(*sqlStore).r.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM schema_version`).Scan(&versions); err != nil {
			t.Fatal(err)
		}
		if want := must(SchemaVersion(s.(*sqlStore).d.name)); versions != want {
			t.Errorf("schema_version has %d rows, want %d", versions, want)
		}
	})
}
