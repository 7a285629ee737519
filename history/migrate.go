package history

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// migrations holds one numbered SQL file per schema version and dialect
// (migrations/<dialect>/NNNN_name.sql). A version is applied whole, in one transaction, with its
// row in schema_version; files are never edited once released, only added.
//
//go:embed migrations
var migrations embed.FS

// migration is one schema version's SQL.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations returns a dialect's migrations sorted by version. Versions must run 1, 2, 3 …
// without gaps, so a missing file is caught by tests rather than at a customer's start.
func loadMigrations(dialect string) ([]migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return nil, fmt.Errorf("read %s migrations: %w", dialect, err)
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration file %s/%s: want NNNN_name.sql", dir, e.Name())
		}
		b, err := fs.ReadFile(migrations, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("%s migrations: version %d missing (found %s)", dialect, i+1, m.name)
		}
	}
	return ms, nil
}

// migrate brings the database to the newest schema this binary knows, in one transaction
// (PostgreSQL and SQLite both have transactional DDL), or refuses with SchemaTooNewError. On
// PostgreSQL an advisory lock makes replicas starting together migrate one after the other.
func (s *sqlStore) migrate(ctx context.Context) error {
	ms, err := loadMigrations(s.d.name)
	if err != nil {
		return err
	}
	know := len(ms)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate history store %s: begin: %w", s.name, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if s.d.migrateLock != "" {
		if _, err := tx.ExecContext(ctx, s.d.migrateLock); err != nil {
			return fmt.Errorf("migrate history store %s: lock: %w", s.name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
	version    INTEGER PRIMARY KEY,
	applied_at BIGINT NOT NULL
)`); err != nil {
		return fmt.Errorf("migrate history store %s: create schema_version: %w", s.name, err)
	}
	var have int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&have); err != nil {
		return fmt.Errorf("migrate history store %s: read schema version: %w", s.name, err)
	}
	if have > know {
		return fmt.Errorf("open history store %s: %w", s.name, &SchemaTooNewError{Have: have, Know: know})
	}
	for _, m := range ms[have:] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("migrate history store %s: apply %s: %w", s.name, m.name, err)
		}
		if _, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO schema_version (version, applied_at) VALUES (?, ?)`),
			m.version, time.Now().UnixMicro()); err != nil {
			return fmt.Errorf("migrate history store %s: record version %d: %w", s.name, m.version, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate history store %s: commit: %w", s.name, err)
	}
	return nil
}

// SchemaVersion returns the newest schema version this binary knows for dialect ("sqlite" or
// "postgres"), for `flyt version` and tests.
func SchemaVersion(dialect string) (int, error) {
	ms, err := loadMigrations(dialect)
	return len(ms), err
}
