package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite" // registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"
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
//     pgx connection-string parameter (sslmode, pool_max_conns …) works.
//
// A DSN may carry a password, so Open never puts it in an error unredacted. Open fails with
// an error matching ErrSchemaTooNew when the database was migrated by a newer flyt.
func Open(ctx context.Context, dsn string) (Store, error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return openPostgres(ctx, dsn)
	default:
		path, err := sqlitePath(dsn)
		if err != nil {
			return nil, err
		}
		return openSQLite(ctx, path)
	}
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
		return "", fmt.Errorf("open history store %q: unknown scheme (want sqlite:// or postgres://): %w", RedactDSN(dsn), ErrInvalid)
	default:
		path = dsn
	}
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") || strings.Contains(path, "?") {
		return "", fmt.Errorf("open history store %q: need a plain file path: %w", RedactDSN(dsn), ErrInvalid)
	}
	return path, nil
}

// RedactDSN returns dsn with any password replaced by "xxxxx", for logs and errors.
func RedactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		if strings.Contains(dsn, "@") || strings.Contains(strings.ToLower(dsn), "password") {
			return "(unparsable DSN, redacted)"
		}
		return dsn
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

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
		// pgx's parse errors quote the connection string with the password redacted, but
		// say nothing more useful than "cannot parse", so keep only our redacted form.
		return nil, fmt.Errorf("open history store %s: cannot parse DSN: %w", name, ErrInvalid)
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
