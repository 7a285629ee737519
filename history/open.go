package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite" // registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/flyt-platform/flyt/internal/redact"
)

// DefaultSQLitePath is where Open keeps the history when given an empty DSN: a file in the
// working directory. `flyt serve` passes a path inside its data directory instead.
const DefaultSQLitePath = "flyt-history.db"

// sqliteReaders is how many read connections an SQLite store keeps. Reads run in parallel
// under WAL; writes go through one connection, which serialises them without busy retries.
const sqliteReaders = 8

// SQLite's memory: the writer's page cache, each reader's, the largest memory map of the
// database file (address space, backed by the operating system's page cache), and the WAL
// size (in pages) at which the writer copies it into the database.
const (
	sqliteWriterCacheKiB = 256 << 10
	sqliteReaderCacheKiB = 32 << 10
	sqliteMmap           = 2 << 30 // SQLite caps it just below 2 GiB
	sqliteCheckpoint     = 10000
)

// Open opens (creating and migrating as needed) the history store a DSN names:
//
//   - "" → SQLite at DefaultSQLitePath;
//   - "sqlite:///abs/path.db", "sqlite://rel/path.db", "sqlite:path.db" or a plain file
//     path → SQLite at that path (the directory must exist);
//   - "postgres://…" or "postgresql://…" → PostgreSQL, through a pgx connection pool; every
//     pgx connection-string parameter (sslmode, pool_max_conns …) works;
//   - a keyword/value connection string, "host=db user=flyt dbname=flyt sslmode=require" →
//     PostgreSQL too, as libpq and pgx read it. Any DSN that starts with a word and "=" is one,
//     so it never becomes a SQLite file named after it; a SQLite file whose name looks like that
//     is written sqlite:name.
//
// The password is best kept out of the DSN: pgx reads PGPASSWORD and a passfile as well.
// A DSN may carry a password, so Open never puts one in an error: errors show the DSN through
// RedactDSN and say what is wrong in words of their own. Open fails with an error matching
// ErrSchemaTooNew when the database was migrated by a newer flyt.
func Open(ctx context.Context, dsn string) (Store, error) {
	if IsPostgres(dsn) {
		return openPostgres(ctx, dsn)
	}
	path, err := sqlitePath(dsn)
	if err != nil {
		return nil, err
	}
	return openSQLite(ctx, path)
}

// keywordDSN matches the start of a keyword/value connection string.
var keywordDSN = regexp.MustCompile(`^\s*[A-Za-z_]+\s*=`)

// IsPostgres reports whether Open takes dsn for PostgreSQL: a postgres:// or postgresql:// URL,
// or a keyword/value connection string (host=… dbname=…). Everything else is SQLite.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") || keywordDSN.MatchString(dsn)
}

// sqlitePath turns the SQLite DSN forms Open accepts into a file path.
func sqlitePath(dsn string) (string, error) {
	var path string
	switch {
	case dsn == "":
		path = DefaultSQLitePath
	case strings.HasPrefix(dsn, "sqlite://"):
		path = strings.TrimPrefix(dsn, "sqlite://")
	case strings.HasPrefix(dsn, "sqlite:"):
		path = strings.TrimPrefix(dsn, "sqlite:")
	case strings.Contains(dsn, "://"):
		return "", fmt.Errorf("open history store %q: unknown scheme (want sqlite://, postgres:// or a keyword/value PostgreSQL DSN such as host=db dbname=flyt): %w", RedactDSN(dsn), ErrInvalid)
	case redact.HasCredentials(dsn):
		// user:password@host… without a scheme: a connection string missing its postgres://,
		// never a file to create.
		return "", fmt.Errorf("open history store %q: a user:password@ part is not a file path; write postgres://user@host/db and keep the password out of it (PGPASSWORD or a passfile): %w", redact.URL(dsn), ErrInvalid)
	default:
		path = dsn
	}
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") || strings.Contains(path, "?") {
		return "", fmt.Errorf("open history store %q: need a plain file path: %w", RedactDSN(dsn), ErrInvalid)
	}
	return path, nil
}

// RedactDSN returns dsn with any password replaced by REDACTED (redact.DSN), for logs and
// errors: in a URL's user info or password parameter, or a keyword/value string's password.
func RedactDSN(dsn string) string { return redact.DSN(dsn) }

func openSQLite(ctx context.Context, path string) (Store, error) {
	if dir := filepath.Dir(path); dir != "" {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("open history store %s: %w", path, err)
		}
	}
	// busy_timeout covers the moments another process (a second `flyt` CLI) holds the write
	// lock; synchronous=NORMAL under WAL keeps the database consistent across crashes and
	// loses at most the last commits on power loss.
	//
	// Reads go through a memory map of up to sqliteMmap bytes, so pages the operating system
	// caches are read without a system call or a copy. The writer keeps a larger page cache
	// than the readers: at a million deploys the B-tree pages inserts land on must stay
	// cached. It checkpoints the WAL into the database every sqliteCheckpoint pages rather
	// than SQLite's 1,000: pages written again and again between checkpoints (each index's
	// newest leaves) are copied into the database once.
	pragmas := "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)" +
		"&_pragma=temp_store(MEMORY)&_pragma=mmap_size(" + strconv.Itoa(sqliteMmap) + ")"
	u := url.URL{Scheme: "file", Path: path, OmitHost: true}
	w, err := sql.Open("sqlite", u.String()+"?"+pragmas+"&_pragma=cache_size(-"+strconv.Itoa(sqliteWriterCacheKiB)+")"+
		"&_pragma=wal_autocheckpoint("+strconv.Itoa(sqliteCheckpoint)+")&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open history store %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	r, err := sql.Open("sqlite", u.String()+"?"+pragmas+"&_pragma=cache_size(-"+strconv.Itoa(sqliteReaderCacheKiB)+")&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open history store %s: %w", path, err)
	}
	r.SetMaxOpenConns(sqliteReaders)
	r.SetMaxIdleConns(sqliteReaders)
	r.SetConnMaxIdleTime(0)
	s := &sqlStore{w: w, r: r, d: sqliteDialect, name: path}
	// Several processes opening a new database at once (switching it to WAL, migrating) can
	// get SQLITE_BUSY without the busy timeout applying; they retry for a while.
	for attempt := 0; ; attempt++ {
		err = s.migrate(ctx)
		if err == nil {
			break
		}
		var se *sqlite.Error
		if !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || attempt == 100 {
			s.Close()
			return nil, err
		}
		select {
		case <-ctx.Done():
			s.Close()
			return nil, fmt.Errorf("open history store %s: %w", path, ctx.Err())
		case <-time.After(time.Duration(10+attempt) * time.Millisecond):
		}
	}
	// Refresh the planner's statistics where they are missing or stale, cheaply (SQLite's
	// advice for long-lived connections); the query plans rely on them once tables are big.
	if _, err := w.ExecContext(ctx, `PRAGMA analysis_limit = 400; PRAGMA optimize = 0x10002`); err != nil {
		s.Close()
		return nil, fmt.Errorf("open history store %s: optimize: %w", path, err)
	}
	return s, nil
}

func openPostgres(ctx context.Context, dsn string) (Store, error) {
	name := RedactDSN(dsn)
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		problem, syntax := parseProblem(dsn, err)
		if syntax && keywordDSN.MatchString(dsn) {
			// Where a keyword/value string does not parse, its password may be anywhere in it
			// (password= hemmelig): show none of it.
			name = "(keyword/value DSN, not shown)"
		}
		return nil, fmt.Errorf("open history store %s: cannot parse DSN: %s: %w", name, problem, ErrInvalid)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open history store %s: %w", name, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open history store %s: %w", name, err)
	}
	db := stdlib.OpenDBFromPool(pool)
	s := &sqlStore{w: db, r: db, d: postgresDialect, name: name, closeExtra: pool.Close}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// errClosedStore is returned for use after Close.
var errClosedStore = errors.New("history store closed")

// pgxSafeReasons are the messages of pgx's parse errors that quote nothing of the connection
// string; other ones may (a key written without "=" is quoted, and may be a password).
var pgxSafeReasons = []string{
	"invalid keyword/value", "unterminated quoted string in connection info string", "invalid backslash",
	"forbidden NUL byte in connection string", "sslmode is invalid", `both "sslcert" and "sslkey" are required`,
	"negative timeout", "outside range",
}

// parseProblem says why pgx could not parse dsn without quoting any of it, and whether the
// string itself is malformed (rather than a setting in it wrong). pgx's own error text
// redacts the password only as best it can (a quoted password with a space, a key missing its
// "=" may show through), so only its fixed reasons are kept.
func parseProblem(dsn string, err error) (problem string, syntax bool) {
	if !keywordDSN.MatchString(dsn) {
		if p := redact.URLProblem(dsn); p != "" {
			return "not a valid URL: " + p, true
		}
	}
	var pe *pgconn.ParseConfigError
	if !errors.As(err, &pe) {
		return "not a PostgreSQL connection string", true
	}
	// ParseConfigError reads "cannot parse `<string>`: <what> (<cause>)"; <what> is pgx's own
	// fixed text.
	text := pe.Error()
	var cause string
	if inner := errors.Unwrap(pe); inner != nil {
		cause = inner.Error()
		text = strings.TrimSuffix(text, " ("+cause+")")
	}
	what := text[strings.LastIndex(text, "`: ")+3:]
	if slices.Contains(pgxSafeReasons, cause) {
		what += ": " + cause
	}
	if strings.Contains(what, "keyword/value") {
		return what + " (a keyword/value DSN is key=value pairs separated by spaces, a value with spaces in single quotes)", true
	}
	return what, strings.Contains(what, "as URL")
}
