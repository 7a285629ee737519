package history

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/flyt-platform/flyt/internal/redact"
)

// dialect is what differs between SQLite and PostgreSQL. Everything else (schema shape,
// queries, transactions) is shared, so both stores behave the same by construction and the
// shared test suite checks it.
type dialect struct {
	// name is the migrations directory.
	name string
	// dollar makes rebind turn ? placeholders into $1, $2 … (PostgreSQL).
	dollar bool
	// eventLock is run first in every transaction that appends status rows. On PostgreSQL
	// sequence values are handed out before commit, so two writers could commit seq 11
	// before seq 10 and an event-stream reader resuming after 11 would miss 10; holding one
	// transaction-scoped advisory lock makes status rows commit in seq order. SQLite has a
	// single writer, so it needs none.
	eventLock string
	// migrateLock serialises migrations of replicas starting together.
	migrateLock string
	// nextDeployIDs is a query returning the next n deploy IDs (argument n), so Import can
	// insert deploys with known IDs and then their statuses and objects in bulk.
	nextDeployIDs string
	// copyImport makes Import use PostgreSQL's COPY, several times faster than INSERTs.
	copyImport bool
	// lateral makes At pick each (app, environment)'s success with a LATERAL join that reads
	// the row from the success index's match, which suits PostgreSQL better than SQLite's
	// shape (the catalog, then a covering probe, then the row by ID).
	lateral bool
}

var sqliteDialect = dialect{
	name: "sqlite",
	nextDeployIDs: `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
SELECT i + MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'deploys'), 0), COALESCE((SELECT MAX(id) FROM deploys), 0)) FROM n`,
}

var postgresDialect = dialect{
	name:          "postgres",
	dollar:        true,
	eventLock:     `SELECT pg_advisory_xact_lock(7346001)`,
	migrateLock:   `SELECT pg_advisory_xact_lock(7346000)`,
	nextDeployIDs: `SELECT nextval(pg_get_serial_sequence('deploys', 'id')) FROM generate_series(1, ?)`,
	copyImport:    true,
	lateral:       true,
}

// rebind rewrites ? placeholders for the dialect. The queries in this package contain no
// literal question marks.
func (d dialect) rebind(q string) string {
	if !d.dollar {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// sqlStore is the Store for both databases, through database/sql (modernc.org/sqlite, or pgx's
// stdlib adapter over a pgxpool).
type sqlStore struct {
	// w takes every write. For SQLite it holds one connection, so writers from many
	// goroutines queue in Go instead of spinning on SQLITE_BUSY; for PostgreSQL w == r.
	w *sql.DB
	// r serves reads, in parallel.
	r *sql.DB
	d dialect
	// name identifies the database in errors (a path, or a redacted DSN).
	name string
	// closeExtra closes what sits below r and w (the pgx pool).
	closeExtra func()
	closed     atomic.Bool
	// now is the clock for statuses without a time; tests replace it.
	now func() time.Time
}

var _ Store = (*sqlStore)(nil)

func (s *sqlStore) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

// Close implements Store.
func (s *sqlStore) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	err := s.w.Close()
	if s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	if s.closeExtra != nil {
		s.closeExtra()
	}
	if err != nil {
		return fmt.Errorf("close history store %s: %w", s.name, err)
	}
	return nil
}

// Ping implements Store. It runs a query rather than database/sql's Ping so it also proves
// the schema is there.
func (s *sqlStore) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return errClosedStore
	}
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_version`).Scan(&n); err != nil {
		return fmt.Errorf("ping history store %s: %w", s.name, err)
	}
	return nil
}

// Times are stored as unix microseconds; the zero time as NULL.

func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func fromMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

func jsonList(l []string) (any, error) {
	if len(l) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(l)
	return string(b), err
}

func parseList(v sql.NullString) ([]string, error) {
	if !v.Valid || v.String == "" {
		return nil, nil
	}
	var l []string
	err := json.Unmarshal([]byte(v.String), &l)
	return l, err
}

// withTx runs fn in a write transaction, committing when fn returns nil. events says the
// transaction appends status rows and must take the dialect's event lock first.
func (s *sqlStore) withTx(ctx context.Context, events bool, fn func(tx *sql.Tx) error) error {
	if s.closed.Load() {
		return errClosedStore
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if events && s.d.eventLock != "" {
		if _, err := tx.ExecContext(ctx, s.d.eventLock); err != nil {
			return fmt.Errorf("lock status log: %w", err)
		}
	}
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func validTrigger(t Trigger) bool {
	switch t {
	case TriggerPush, TriggerPoll, TriggerPromotion, TriggerAutoPromotion, TriggerRollback, TriggerManual, TriggerDrift:
		return true
	}
	return false
}

func (s *sqlStore) validateDeploy(d *Deploy) error {
	switch {
	case d.App == "" || d.Environment == "" || d.Team == "":
		return fmt.Errorf("deploy needs app, team and environment: %w", ErrInvalid)
	case !validTrigger(d.Trigger):
		return fmt.Errorf("unknown trigger %q: %w", d.Trigger, ErrInvalid)
	}
	return nil
}

const insertDeploySQL = `INSERT INTO deploys (app, team, environment, cluster, repository, commit_sha, commit_author,
	commit_time, commit_message, images, digest, warnings, rendered, trigger_kind, triggered_by, reason, forced,
	state, message, started_at, finished_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`

// upsertAppEnvSQL adds a pair to the catalog or updates it: the team of the newest call, and
// the newest deploy (by start, then ID) and newest success (by finish, then ID) of the rows
// given and those recorded. A NULL success_id in the new row keeps the recorded one.
const upsertAppEnvSQL = `INSERT INTO app_environments (app, environment, team, latest_id, latest_started_at, success_id, success_finished_at) VALUES `

const upsertAppEnvConflict = ` ON CONFLICT (app, environment) DO UPDATE SET team = excluded.team,
	latest_id = CASE WHEN ` + newerLatest + ` THEN excluded.latest_id ELSE app_environments.latest_id END,
	latest_started_at = CASE WHEN ` + newerLatest + ` THEN excluded.latest_started_at ELSE app_environments.latest_started_at END,
	success_id = CASE WHEN ` + newerSuccess + ` THEN excluded.success_id ELSE app_environments.success_id END,
	success_finished_at = CASE WHEN ` + newerSuccess + ` THEN excluded.success_finished_at ELSE app_environments.success_finished_at END`

const (
	newerLatest = `(app_environments.latest_id IS NULL OR excluded.latest_started_at > app_environments.latest_started_at
		OR (excluded.latest_started_at = app_environments.latest_started_at AND excluded.latest_id > app_environments.latest_id))`
	newerSuccess = `(excluded.success_id IS NOT NULL AND (app_environments.success_id IS NULL OR excluded.success_finished_at > app_environments.success_finished_at
		OR (excluded.success_finished_at = app_environments.success_finished_at AND excluded.success_id > app_environments.success_id)))`
)

// updateSuccessSQL records deploy id, finished at a time, as its pair's newest success unless
// a newer one is recorded (arguments: id, finished_at, app, environment, finished_at,
// finished_at, id).
const updateSuccessSQL = `UPDATE app_environments SET success_id = ?, success_finished_at = ? WHERE app = ? AND environment = ?
	AND (success_id IS NULL OR ? > success_finished_at OR (? = success_finished_at AND ? > success_id))`

const insertStatusSQL = `INSERT INTO statuses (deploy_id, at, state, step, message) VALUES (?, ?, ?, ?, ?) RETURNING seq`

// deployArgs are a deploy's values in insertDeploySQL order (without RETURNING's id).
func deployArgs(d *Deploy) ([]any, error) {
	images, err := jsonList(d.Images)
	if err != nil {
		return nil, fmt.Errorf("encode images: %w", err)
	}
	warnings, err := jsonList(d.Warnings)
	if err != nil {
		return nil, fmt.Errorf("encode warnings: %w", err)
	}
	rendered := len(d.Images) > 0 || d.Digest != "" || len(d.Warnings) > 0
	// A repository URL is stored without its credentials: the history is shown (API, UI,
	// exports) to people who may not see them.
	return []any{d.App, d.Team, d.Environment, d.Cluster, redact.URL(d.Repository), d.Commit, d.CommitAuthor,
		micros(d.CommitTime), d.CommitMessage, images, d.Digest, warnings, rendered, string(d.Trigger), d.TriggeredBy,
		d.Reason, d.Forced, string(d.State), d.Message, d.StartedAt.UnixMicro(), micros(d.FinishedAt)}, nil
}

// CreateDeploy implements Store.
func (s *sqlStore) CreateDeploy(ctx context.Context, d *Deploy) (int64, error) {
	if err := s.validateDeploy(d); err != nil {
		return 0, fmt.Errorf("create deploy of %s to %s: %w", d.App, d.Environment, err)
	}
	rec := *d
	switch rec.State {
	case "":
		rec.State = StateQueued
	case StateQueued, StateInProgress:
	default:
		return 0, fmt.Errorf("create deploy of %s to %s: a deploy starts queued or in_progress, not %q: %w", d.App, d.Environment, d.State, ErrInvalid)
	}
	if rec.StartedAt.IsZero() {
		rec.StartedAt = s.clock()
	}
	rec.StartedAt = rec.StartedAt.UTC().Truncate(time.Microsecond)
	rec.FinishedAt = time.Time{}
	args, err := deployArgs(&rec)
	if err != nil {
		return 0, fmt.Errorf("create deploy of %s to %s: %w", d.App, d.Environment, err)
	}
	err = s.withTx(ctx, true, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, s.d.rebind(insertDeploySQL), args...).Scan(&rec.ID); err != nil {
			return fmt.Errorf("insert deploy: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.d.rebind(insertStatusSQL), rec.ID, rec.StartedAt.UnixMicro(), string(rec.State), "", rec.Message); err != nil {
			return fmt.Errorf("insert first status: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.d.rebind(upsertAppEnvSQL+placeholders(1, 7)+upsertAppEnvConflict),
			rec.App, rec.Environment, rec.Team, rec.ID, rec.StartedAt.UnixMicro(), nil, nil); err != nil {
			return fmt.Errorf("record app environment: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("create deploy of %s to %s: %w", d.App, d.Environment, err)
	}
	*d = rec
	return rec.ID, nil
}

// RecordRender implements Store.
func (s *sqlStore) RecordRender(ctx context.Context, deployID int64, r Render) error {
	images, err := jsonList(r.Images)
	if err != nil {
		return fmt.Errorf("record render of deploy %d: encode images: %w", deployID, err)
	}
	warnings, err := jsonList(r.Warnings)
	if err != nil {
		return fmt.Errorf("record render of deploy %d: encode warnings: %w", deployID, err)
	}
	err = s.withTx(ctx, false, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.d.rebind(`UPDATE deploys SET images = ?, digest = ?, warnings = ?, rendered = ? WHERE id = ? AND rendered = ?`),
			images, r.Digest, warnings, true, deployID, false)
		if err != nil {
			return fmt.Errorf("update deploy: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		var one int
		if err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT 1 FROM deploys WHERE id = ?`), deployID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return fmt.Errorf("look up deploy: %w", err)
		}
		return ErrAlreadyRecorded
	})
	if err != nil {
		return fmt.Errorf("record render of deploy %d: %w", deployID, err)
	}
	return nil
}

// appendStatus appends st to deploy id and mirrors it, inside tx. It returns ErrNotFound or
// ErrFinished when the deploy is missing or final.
func (s *sqlStore) appendStatus(ctx context.Context, tx *sql.Tx, id int64, st Status) (int64, error) {
	var cur, app, env string
	if err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT state, app, environment FROM deploys WHERE id = ?`), id).Scan(&cur, &app, &env); errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	} else if err != nil {
		return 0, fmt.Errorf("read deploy state: %w", err)
	}
	if State(cur).Terminal() {
		return 0, fmt.Errorf("it is %s: %w", cur, ErrFinished)
	}
	var seq int64
	at := st.Time.UnixMicro()
	if err := tx.QueryRowContext(ctx, s.d.rebind(insertStatusSQL), id, at, string(st.State), st.Step, st.Message).Scan(&seq); err != nil {
		return 0, fmt.Errorf("insert status: %w", err)
	}
	var finished any
	if st.State.Terminal() {
		finished = at
	}
	if _, err := tx.ExecContext(ctx, s.d.rebind(`UPDATE deploys SET state = ?, message = ?, finished_at = ? WHERE id = ?`),
		string(st.State), st.Message, finished, id); err != nil {
		return 0, fmt.Errorf("mirror status onto deploy: %w", err)
	}
	if st.State == StateSuccess {
		if _, err := tx.ExecContext(ctx, s.d.rebind(updateSuccessSQL), id, at, app, env, at, at, id); err != nil {
			return 0, fmt.Errorf("record last success: %w", err)
		}
	}
	return seq, nil
}

// AppendStatus implements Store.
func (s *sqlStore) AppendStatus(ctx context.Context, deployID int64, st Status) (int64, error) {
	if !st.State.Valid() {
		return 0, fmt.Errorf("append status to deploy %d: unknown state %q: %w", deployID, st.State, ErrInvalid)
	}
	if st.Time.IsZero() {
		st.Time = s.clock()
	}
	var seq int64
	err := s.withTx(ctx, true, func(tx *sql.Tx) error {
		var err error
		seq, err = s.appendStatus(ctx, tx, deployID, st)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("append %s status to deploy %d: %w", st.State, deployID, err)
	}
	return seq, nil
}

// objectBatch bounds rows per multi-row INSERT, well below both databases' parameter limits.
const objectBatch = 200

// RecordObjects implements Store.
func (s *sqlStore) RecordObjects(ctx context.Context, deployID int64, objs []Object) error {
	if len(objs) == 0 {
		return nil
	}
	err := s.withTx(ctx, false, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT 1 FROM deploys WHERE id = ?`), deployID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return fmt.Errorf("look up deploy: %w", err)
		}
		return s.insertObjects(ctx, newTxStmts(tx), []int64{deployID}, [][]Object{objs})
	})
	if err != nil {
		return fmt.Errorf("record %d objects of deploy %d: %w", len(objs), deployID, err)
	}
	return nil
}

// insertObjects writes objs[i] for deploy ids[i], in multi-row statements.
func (s *sqlStore) insertObjects(ctx context.Context, tx *txStmts, ids []int64, objs [][]Object) error {
	const cols = 7
	var args []any
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		q := `INSERT INTO objects (deploy_id, grp, version, kind, namespace, name, action) VALUES ` + placeholders(len(args)/cols, cols)
		err := tx.exec(ctx, s.d.rebind(q), args...)
		args = args[:0]
		if err != nil {
			return fmt.Errorf("insert objects: %w", err)
		}
		return nil
	}
	for i, l := range objs {
		for _, o := range l {
			if o.Kind == "" || o.Name == "" || o.Version == "" {
				return fmt.Errorf("object %s/%s needs version, kind and name: %w", o.Kind, o.Name, ErrInvalid)
			}
			args = append(args, ids[i], o.Group, o.Version, o.Kind, o.Namespace, o.Name, string(o.Action))
			if len(args) >= objectBatch*cols {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	return flush()
}

// txStmts prepares each distinct statement of a transaction once: bulk writes run the same
// multi-row statement many times, and parsing it each time is a good part of SQLite's work.
// The statements close with the transaction.
type txStmts struct {
	tx *sql.Tx
	m  map[string]*sql.Stmt
}

func newTxStmts(tx *sql.Tx) *txStmts { return &txStmts{tx: tx, m: map[string]*sql.Stmt{}} }

func (t *txStmts) exec(ctx context.Context, q string, args ...any) error {
	st := t.m[q]
	if st == nil {
		var err error
		if st, err = t.tx.PrepareContext(ctx, q); err != nil {
			return err
		}
		t.m[q] = st
	}
	_, err := st.ExecContext(ctx, args...)
	return err
}

// placeholders returns "(?, ?), (?, ?)" for rows × cols.
func placeholders(rows, cols int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(one+", ", rows), ", ")
}

// deployCols are the columns scanDeploy reads, from a deploys table aliased d.
const deployCols = `d.id, d.app, d.team, d.environment, d.cluster, d.repository, d.commit_sha, d.commit_author,
	d.commit_time, d.commit_message, d.images, d.digest, d.warnings, d.trigger_kind, d.triggered_by, d.reason, d.forced,
	d.state, d.message, d.started_at, d.finished_at`

type scanner interface{ Scan(dest ...any) error }

func scanDeploy(sc scanner, extra ...any) (Deploy, error) {
	var (
		d                             Deploy
		commitTime, started, finished sql.NullInt64
		images, warnings              sql.NullString
		trigger, state                string
	)
	dest := []any{&d.ID, &d.App, &d.Team, &d.Environment, &d.Cluster, &d.Repository, &d.Commit, &d.CommitAuthor,
		&commitTime, &d.CommitMessage, &images, &d.Digest, &warnings, &trigger, &d.TriggeredBy, &d.Reason, &d.Forced,
		&state, &d.Message, &started, &finished}
	if err := sc.Scan(append(dest, extra...)...); err != nil {
		return d, err
	}
	d.Trigger, d.State = Trigger(trigger), State(state)
	// Rows recorded before the store hid credentials may still hold them.
	d.Repository = redact.URL(d.Repository)
	d.CommitTime, d.StartedAt, d.FinishedAt = fromMicros(commitTime), fromMicros(started), fromMicros(finished)
	var err error
	if d.Images, err = parseList(images); err != nil {
		return d, fmt.Errorf("decode images of deploy %d: %w", d.ID, err)
	}
	if d.Warnings, err = parseList(warnings); err != nil {
		return d, fmt.Errorf("decode warnings of deploy %d: %w", d.ID, err)
	}
	return d, nil
}

// queryDeploys runs q (selecting deployCols) and collects the deploys.
func (s *sqlStore) queryDeploys(ctx context.Context, q string, args ...any) ([]Deploy, error) {
	rows, err := s.r.QueryContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Deploy
	for rows.Next() {
		d, err := scanDeploy(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Get implements Store.
func (s *sqlStore) Get(ctx context.Context, id int64) (*DeployDetail, error) {
	dd, err := s.get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get deploy %d: %w", id, err)
	}
	return dd, nil
}

func (s *sqlStore) get(ctx context.Context, id int64) (*DeployDetail, error) {
	if s.closed.Load() {
		return nil, errClosedStore
	}
	d, err := scanDeploy(s.r.QueryRowContext(ctx, s.d.rebind(`SELECT `+deployCols+` FROM deploys d WHERE d.id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, fmt.Errorf("read deploy: %w", err)
	}
	dd := &DeployDetail{Deploy: d, Statuses: []Status{}, Objects: []Object{}}
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT seq, at, state, step, message FROM statuses WHERE deploy_id = ? ORDER BY seq`), id)
	if err != nil {
		return nil, fmt.Errorf("read statuses: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		st := Status{DeployID: id}
		var at int64
		var state string
		if err := rows.Scan(&st.Seq, &at, &state, &st.Step, &st.Message); err != nil {
			return nil, fmt.Errorf("read statuses: %w", err)
		}
		st.Time, st.State = time.UnixMicro(at).UTC(), State(state)
		dd.Statuses = append(dd.Statuses, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read statuses: %w", err)
	}
	rows.Close()
	orows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT grp, version, kind, namespace, name, action FROM objects WHERE deploy_id = ? ORDER BY id`), id)
	if err != nil {
		return nil, fmt.Errorf("read objects: %w", err)
	}
	defer orows.Close()
	for orows.Next() {
		var o Object
		var action string
		if err := orows.Scan(&o.Group, &o.Version, &o.Kind, &o.Namespace, &o.Name, &action); err != nil {
			return nil, fmt.Errorf("read objects: %w", err)
		}
		o.Action = Action(action)
		dd.Objects = append(dd.Objects, o)
	}
	if err := orows.Err(); err != nil {
		return nil, fmt.Errorf("read objects: %w", err)
	}
	return dd, nil
}

// cursor is the position after the last deploy of a page: List orders by (started_at, id)
// descending, so the next page starts strictly below it. It is encoded opaquely so clients
// don't build their own.
type cursor struct {
	startedAt int64
	id        int64
}

func (c cursor) String() string {
	return base64.RawURLEncoding.EncodeToString([]byte("v1:" + strconv.FormatInt(c.startedAt, 10) + ":" + strconv.FormatInt(c.id, 10)))
}

func parseCursor(s string) (cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, fmt.Errorf("bad cursor: %w", ErrInvalid)
	}
	parts := strings.Split(string(b), ":")
	if len(parts) != 3 || parts[0] != "v1" {
		return cursor{}, fmt.Errorf("bad cursor: %w", ErrInvalid)
	}
	var c cursor
	c.startedAt, err = strconv.ParseInt(parts[1], 10, 64)
	if err == nil {
		c.id, err = strconv.ParseInt(parts[2], 10, 64)
	}
	if err != nil {
		return cursor{}, fmt.Errorf("bad cursor: %w", ErrInvalid)
	}
	return c, nil
}

// where builds the WHERE clause (on deploys aliased d) for f's selection fields.
func where(f Filter) (string, []any, error) {
	var conds []string
	var args []any
	add := func(c string, a ...any) { conds = append(conds, c); args = append(args, a...) }
	if f.Team != "" {
		add("d.team = ?", f.Team)
	}
	if f.App != "" {
		add("d.app = ?", f.App)
	}
	if f.Environment != "" {
		add("d.environment = ?", f.Environment)
	}
	if f.State != "" {
		if !f.State.Valid() {
			return "", nil, fmt.Errorf("unknown state %q: %w", f.State, ErrInvalid)
		}
		add("d.state = ?", string(f.State))
	}
	if f.Trigger != "" {
		if !validTrigger(f.Trigger) {
			return "", nil, fmt.Errorf("unknown trigger %q: %w", f.Trigger, ErrInvalid)
		}
		add("d.trigger_kind = ?", string(f.Trigger))
	}
	if f.Commit != "" {
		c := strings.ToLower(f.Commit)
		if len(c) < 7 || strings.Trim(c, "0123456789abcdef") != "" {
			return "", nil, fmt.Errorf("commit %q: want at least 7 hex digits: %w", f.Commit, ErrInvalid)
		}
		if len(c) >= 40 {
			add("d.commit_sha = ?", c)
		} else {
			// A prefix as a range, so the commit index serves it ('g' follows 'f').
			add("d.commit_sha >= ? AND d.commit_sha < ?", c, c+"g")
		}
	}
	if !f.Since.IsZero() {
		add("d.started_at >= ?", f.Since.UnixMicro())
	}
	if !f.Until.IsZero() {
		add("d.started_at < ?", f.Until.UnixMicro())
	}
	if len(conds) == 0 {
		return "", nil, nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args, nil
}

func limit(n int) int {
	switch {
	case n <= 0:
		return DefaultLimit
	case n > MaxLimit:
		return MaxLimit
	}
	return n
}

// List implements Store.
func (s *sqlStore) List(ctx context.Context, f Filter) (Page, error) {
	w, args, err := where(f)
	if err != nil {
		return Page{}, fmt.Errorf("list deploys: %w", err)
	}
	if f.Cursor != "" {
		c, err := parseCursor(f.Cursor)
		if err != nil {
			return Page{}, fmt.Errorf("list deploys: %w", err)
		}
		if w == "" {
			w = " WHERE "
		} else {
			w += " AND "
		}
		w += "(d.started_at < ? OR (d.started_at = ? AND d.id < ?))"
		args = append(args, c.startedAt, c.startedAt, c.id)
	}
	n := limit(f.Limit)
	args = append(args, n+1)
	ds, err := s.queryDeploys(ctx, `SELECT `+deployCols+` FROM deploys d`+w+` ORDER BY d.started_at DESC, d.id DESC LIMIT ?`, args...)
	if err != nil {
		return Page{}, fmt.Errorf("list deploys: %w", err)
	}
	p := Page{Deploys: ds}
	if p.Deploys == nil {
		p.Deploys = []Deploy{}
	}
	if len(ds) > n {
		p.Deploys = ds[:n]
		last := ds[n-1]
		p.Next = cursor{startedAt: last.StartedAt.UnixMicro(), id: last.ID}.String()
	}
	return p, nil
}

// Current implements Store.
func (s *sqlStore) Current(ctx context.Context, f Filter) ([]Current, error) {
	var conds []string
	var args []any
	if f.Team != "" {
		conds, args = append(conds, "ae.team = ?"), append(args, f.Team)
	}
	if f.App != "" {
		conds, args = append(conds, "ae.app = ?"), append(args, f.App)
	}
	if f.Environment != "" {
		conds, args = append(conds, "ae.environment = ?"), append(args, f.Environment)
	}
	w := ""
	if len(conds) > 0 {
		w = " WHERE " + strings.Join(conds, " AND ")
	}
	// One row per pair: the latest deploy's columns, then the last success's id, both read
	// from the catalog; the successes are fetched in a second query, usually mostly the same
	// rows.
	q := `SELECT ` + deployCols + `, ae.success_id FROM app_environments ae JOIN deploys d ON d.id = ae.latest_id` + w + ` ORDER BY ae.app, ae.environment`
	rows, err := s.r.QueryContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("current state: %w", err)
	}
	defer rows.Close()
	out := []Current{}
	var want []int64
	successOf := map[int]int64{}
	for rows.Next() {
		var succ sql.NullInt64
		d, err := scanDeploy(rows, &succ)
		if err != nil {
			return nil, fmt.Errorf("current state: %w", err)
		}
		c := Current{App: d.App, Environment: d.Environment, Team: d.Team, Latest: &d}
		if succ.Valid {
			if succ.Int64 == d.ID {
				c.LastSuccess = c.Latest
			} else {
				successOf[len(out)] = succ.Int64
				want = append(want, succ.Int64)
			}
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("current state: %w", err)
	}
	rows.Close()
	byID, err := s.deploysByID(ctx, want)
	if err != nil {
		return nil, fmt.Errorf("current state: %w", err)
	}
	for i, id := range successOf {
		if d, ok := byID[id]; ok {
			out[i].LastSuccess = &d
		}
	}
	return out, nil
}

// deploysByID loads deploys by ID, in chunks.
func (s *sqlStore) deploysByID(ctx context.Context, ids []int64) (map[int64]Deploy, error) {
	out := make(map[int64]Deploy, len(ids))
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), 500)]
		ids = ids[len(chunk):]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		ds, err := s.queryDeploys(ctx, `SELECT `+deployCols+` FROM deploys d WHERE d.id IN (`+strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ")+`)`, args...)
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			out[d.ID] = d
		}
	}
	return out, nil
}

// At implements Store.
func (s *sqlStore) At(ctx context.Context, env string, t time.Time) ([]Deploy, error) {
	if env == "" {
		return nil, fmt.Errorf("deploys at %s: need an environment: %w", t.Format(time.RFC3339), ErrInvalid)
	}
	// A pair whose newest success (in the catalog) finished by t ran it at t; only the others
	// need a probe of the success index, which the subquery makes without reading the table.
	q := `SELECT ` + deployCols + ` FROM app_environments ae JOIN deploys d ON d.id =
	CASE WHEN ae.success_finished_at <= ? THEN ae.success_id ELSE
	(SELECT x.id FROM deploys x WHERE x.app = ae.app AND x.environment = ae.environment AND x.state = 'success' AND x.finished_at <= ?
	 ORDER BY x.finished_at DESC, x.id DESC LIMIT 1) END
WHERE ae.environment = ? ORDER BY ae.app`
	args := []any{t.UnixMicro(), t.UnixMicro(), env}
	if s.d.lateral {
		// On PostgreSQL the shape above costs a primary-key probe per pair after the success
		// probe; reading the row from the success index's match saves it, and the catalog
		// shortcut saves little when the heap fetch is needed anyway.
		q = `SELECT ` + deployCols + ` FROM app_environments ae CROSS JOIN LATERAL
	(SELECT x.* FROM deploys x WHERE x.app = ae.app AND x.environment = ae.environment AND x.state = 'success'
	 AND x.finished_at <= ? ORDER BY x.finished_at DESC, x.id DESC LIMIT 1) d
WHERE ae.environment = ? ORDER BY ae.app`
		args = []any{t.UnixMicro(), env}
	}
	ds, err := s.queryDeploys(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("deploys in %s at %s: %w", env, t.Format(time.RFC3339), err)
	}
	if ds == nil {
		ds = []Deploy{}
	}
	return ds, nil
}

// LastSuccess implements Store.
func (s *sqlStore) LastSuccess(ctx context.Context, app, env string) (*DeployDetail, error) {
	var id int64
	err := s.r.QueryRowContext(ctx, s.d.rebind(`SELECT x.id FROM deploys x WHERE x.app = ? AND x.environment = ? AND x.state = 'success' ORDER BY x.finished_at DESC, x.id DESC LIMIT 1`), app, env).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("last success of %s in %s: %w", app, env, ErrNotFound)
	} else if err != nil {
		return nil, fmt.Errorf("last success of %s in %s: %w", app, env, err)
	}
	dd, err := s.get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("last success of %s in %s: %w", app, env, err)
	}
	return dd, nil
}

// FirstSuccess implements Store.
func (s *sqlStore) FirstSuccess(ctx context.Context, app, env, commit string) (*Deploy, error) {
	ds, err := s.queryDeploys(ctx, `SELECT `+deployCols+` FROM deploys d WHERE d.app = ? AND d.environment = ? AND d.commit_sha = ? AND d.state = 'success' ORDER BY d.finished_at, d.id LIMIT 1`, app, env, commit)
	if err != nil {
		return nil, fmt.Errorf("first success of %s@%s in %s: %w", app, commit, env, err)
	}
	if len(ds) == 0 {
		return nil, fmt.Errorf("first success of %s@%s in %s: %w", app, commit, env, ErrNotFound)
	}
	return &ds[0], nil
}

// AppendDesired implements Store.
func (s *sqlStore) AppendDesired(ctx context.Context, r DesiredRevision) (int64, error) {
	if r.App == "" || r.Environment == "" || r.Commit == "" {
		return 0, fmt.Errorf("append desired revision: need app, environment and commit: %w", ErrInvalid)
	}
	if !validTrigger(r.Trigger) {
		return 0, fmt.Errorf("append desired revision of %s in %s: unknown trigger %q: %w", r.App, r.Environment, r.Trigger, ErrInvalid)
	}
	if r.Time.IsZero() {
		r.Time = s.clock()
	}
	var deployID any
	if r.DeployID != 0 {
		deployID = r.DeployID
	}
	var id int64
	err := s.withTx(ctx, false, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, s.d.rebind(`INSERT INTO desired_revisions (app, environment, commit_sha, trigger_kind, by_whom, reason, forced, at, deploy_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`), r.App, r.Environment, r.Commit, string(r.Trigger), r.By, r.Reason, r.Forced, r.Time.UnixMicro(), deployID).Scan(&id)
	})
	if err != nil {
		return 0, fmt.Errorf("append desired revision of %s in %s: %w", r.App, r.Environment, err)
	}
	return id, nil
}

func (s *sqlStore) desired(ctx context.Context, app, env string, n int) ([]DesiredRevision, error) {
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT id, app, environment, commit_sha, trigger_kind, by_whom, reason, forced, at, deploy_id
FROM desired_revisions WHERE app = ? AND environment = ? ORDER BY id DESC LIMIT ?`), app, env, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []DesiredRevision{}
	for rows.Next() {
		var r DesiredRevision
		var trigger string
		var at int64
		var deployID sql.NullInt64
		if err := rows.Scan(&r.ID, &r.App, &r.Environment, &r.Commit, &trigger, &r.By, &r.Reason, &r.Forced, &at, &deployID); err != nil {
			return nil, err
		}
		r.Trigger, r.Time, r.DeployID = Trigger(trigger), time.UnixMicro(at).UTC(), deployID.Int64
		out = append(out, r)
	}
	return out, rows.Err()
}

// Desired implements Store.
func (s *sqlStore) Desired(ctx context.Context, app, env string) (*DesiredRevision, error) {
	rs, err := s.desired(ctx, app, env, 1)
	if err != nil {
		return nil, fmt.Errorf("desired revision of %s in %s: %w", app, env, err)
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("desired revision of %s in %s: %w", app, env, ErrNotFound)
	}
	return &rs[0], nil
}

// DesiredLog implements Store.
func (s *sqlStore) DesiredLog(ctx context.Context, app, env string, n int) ([]DesiredRevision, error) {
	rs, err := s.desired(ctx, app, env, limit(n))
	if err != nil {
		return nil, fmt.Errorf("desired revisions of %s in %s: %w", app, env, err)
	}
	return rs, nil
}

// AppendFreeze implements Store.
func (s *sqlStore) AppendFreeze(ctx context.Context, f Freeze) (int64, error) {
	if f.Environment == "" {
		return 0, fmt.Errorf("append freeze event: need an environment: %w", ErrInvalid)
	}
	if f.Time.IsZero() {
		f.Time = s.clock()
	}
	var id int64
	err := s.withTx(ctx, false, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, s.d.rebind(`INSERT INTO freezes (environment, frozen, reason, by_whom, at) VALUES (?, ?, ?, ?, ?) RETURNING id`),
			f.Environment, f.Frozen, f.Reason, f.By, f.Time.UnixMicro()).Scan(&id)
	})
	if err != nil {
		return 0, fmt.Errorf("append freeze event of %s: %w", f.Environment, err)
	}
	return id, nil
}

const freezeCols = `f.id, f.environment, f.frozen, f.reason, f.by_whom, f.at`

func (s *sqlStore) queryFreezes(ctx context.Context, q string, args ...any) ([]Freeze, error) {
	rows, err := s.r.QueryContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Freeze{}
	for rows.Next() {
		var f Freeze
		var at int64
		if err := rows.Scan(&f.ID, &f.Environment, &f.Frozen, &f.Reason, &f.By, &at); err != nil {
			return nil, err
		}
		f.Time = time.UnixMicro(at).UTC()
		out = append(out, f)
	}
	return out, rows.Err()
}

// Freezes implements Store.
func (s *sqlStore) Freezes(ctx context.Context) ([]Freeze, error) {
	fs, err := s.queryFreezes(ctx, `SELECT `+freezeCols+` FROM freezes f
WHERE f.id = (SELECT MAX(x.id) FROM freezes x WHERE x.environment = f.environment) ORDER BY f.environment`)
	if err != nil {
		return nil, fmt.Errorf("freeze states: %w", err)
	}
	return fs, nil
}

// FreezeLog implements Store.
func (s *sqlStore) FreezeLog(ctx context.Context, env string, n int) ([]Freeze, error) {
	fs, err := s.queryFreezes(ctx, `SELECT `+freezeCols+` FROM freezes f WHERE f.environment = ? ORDER BY f.id DESC LIMIT ?`, env, limit(n))
	if err != nil {
		return nil, fmt.Errorf("freeze events of %s: %w", env, err)
	}
	return fs, nil
}

// StatusesSince implements Store.
func (s *sqlStore) StatusesSince(ctx context.Context, afterSeq int64, n int) ([]StatusEvent, error) {
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT s.seq, s.deploy_id, s.at, s.state, s.step, s.message, d.app, d.team, d.environment, d.commit_sha
FROM statuses s JOIN deploys d ON d.id = s.deploy_id WHERE s.seq > ? ORDER BY s.seq LIMIT ?`), afterSeq, limit(n))
	if err != nil {
		return nil, fmt.Errorf("statuses after %d: %w", afterSeq, err)
	}
	defer rows.Close()
	out := []StatusEvent{}
	for rows.Next() {
		var e StatusEvent
		var at int64
		var state string
		if err := rows.Scan(&e.Seq, &e.DeployID, &at, &state, &e.Step, &e.Message, &e.App, &e.Team, &e.Environment, &e.Commit); err != nil {
			return nil, fmt.Errorf("statuses after %d: %w", afterSeq, err)
		}
		e.Time, e.State = time.UnixMicro(at).UTC(), State(state)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("statuses after %d: %w", afterSeq, err)
	}
	return out, nil
}

// LastSeq implements Store.
func (s *sqlStore) LastSeq(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM statuses`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("last status seq: %w", err)
	}
	return seq, nil
}

// MarkInterrupted implements Store.
func (s *sqlStore) MarkInterrupted(ctx context.Context, now time.Time) (int, error) {
	n := 0
	err := s.withTx(ctx, true, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM deploys WHERE state IN ('queued', 'in_progress') ORDER BY id`)
		if err != nil {
			return fmt.Errorf("find unfinished deploys: %w", err)
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("find unfinished deploys: %w", err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("find unfinished deploys: %w", err)
		}
		for _, id := range ids {
			st := Status{Time: now, State: StateInactive, Step: "interrupted", Message: "flyt stopped before this deploy finished"}
			if _, err := s.appendStatus(ctx, tx, id, st); err != nil {
				return fmt.Errorf("deploy %d: %w", id, err)
			}
		}
		n = len(ids)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("mark interrupted deploys inactive: %w", err)
	}
	return n, nil
}

// Export implements Store.
func (s *sqlStore) Export(ctx context.Context, f Filter, fn func(Deploy) error) error {
	w, args, err := where(f)
	if err != nil {
		return fmt.Errorf("export deploys: %w", err)
	}
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT `+deployCols+` FROM deploys d`+w+` ORDER BY d.started_at DESC, d.id DESC`), args...)
	if err != nil {
		return fmt.Errorf("export deploys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		d, err := scanDeploy(rows)
		if err != nil {
			return fmt.Errorf("export deploys: %w", err)
		}
		if err := fn(d); err != nil {
			return fmt.Errorf("export deploy %d: %w", d.ID, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("export deploys: %w", err)
	}
	return nil
}

// refreshCatalogSQL recomputes the newest deploy and success of the catalog rows a WHERE
// clause appended to it selects, from deploys.
const refreshCatalogSQL = `UPDATE app_environments SET
	latest_id = (SELECT x.id FROM deploys x WHERE x.app = app_environments.app AND x.environment = app_environments.environment
		ORDER BY x.started_at DESC, x.id DESC LIMIT 1),
	latest_started_at = (SELECT x.started_at FROM deploys x WHERE x.app = app_environments.app AND x.environment = app_environments.environment
		ORDER BY x.started_at DESC, x.id DESC LIMIT 1),
	success_id = (SELECT x.id FROM deploys x WHERE x.app = app_environments.app AND x.environment = app_environments.environment
		AND x.state = 'success' ORDER BY x.finished_at DESC, x.id DESC LIMIT 1),
	success_finished_at = (SELECT x.finished_at FROM deploys x WHERE x.app = app_environments.app AND x.environment = app_environments.environment
		AND x.state = 'success' ORDER BY x.finished_at DESC, x.id DESC LIMIT 1)
`

// pruneBatch is how many deploys Prune exports and deletes per transaction: small enough that
// writers are not held up long, large enough to be quick.
const pruneBatch = 500

// Prune implements Store.
func (s *sqlStore) Prune(ctx context.Context, olderThan time.Time, export func(Deploy) error) (int, error) {
	total := 0
	for {
		n := 0
		err := s.withTx(ctx, false, func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, s.d.rebind(`SELECT `+deployCols+` FROM deploys d
WHERE d.started_at < ? AND d.state IN ('success', 'failure', 'error', 'inactive') ORDER BY d.started_at, d.id LIMIT ?`), olderThan.UnixMicro(), pruneBatch)
			if err != nil {
				return fmt.Errorf("select old deploys: %w", err)
			}
			var ds []Deploy
			for rows.Next() {
				d, err := scanDeploy(rows)
				if err != nil {
					rows.Close()
					return fmt.Errorf("select old deploys: %w", err)
				}
				ds = append(ds, d)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("select old deploys: %w", err)
			}
			args := make([]any, len(ds))
			for i, d := range ds {
				if export != nil {
					if err := export(d); err != nil {
						return fmt.Errorf("export deploy %d: %w", d.ID, err)
					}
				}
				args[i] = d.ID
			}
			if len(ds) == 0 {
				return nil
			}
			in := ` IN (` + strings.TrimSuffix(strings.Repeat("?, ", len(ds)), ", ") + `)`
			for _, q := range []string{`DELETE FROM objects WHERE deploy_id`, `DELETE FROM statuses WHERE deploy_id`, `DELETE FROM deploys WHERE id`} {
				if _, err := tx.ExecContext(ctx, s.d.rebind(q+in), args...); err != nil {
					return fmt.Errorf("delete old deploys: %w", err)
				}
			}
			// A pair whose newest deploy or success was deleted gets the next one.
			if _, err := tx.ExecContext(ctx, s.d.rebind(refreshCatalogSQL+`WHERE latest_id`+in+` OR success_id`+in), append(args, args...)...); err != nil {
				return fmt.Errorf("update current state: %w", err)
			}
			n = len(ds)
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("prune deploys older than %s: %w", olderThan.Format(time.RFC3339), err)
		}
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}

// importRecord checks one imported deploy and its statuses and returns the deploy as it is
// stored: its state, message and finish time are its last status's.
func (s *sqlStore) importRecord(dd *DeployDetail) (Deploy, error) {
	d := dd.Deploy
	if err := s.validateDeploy(&d); err != nil {
		return d, err
	}
	if len(dd.Statuses) == 0 {
		return d, fmt.Errorf("no statuses: %w", ErrInvalid)
	}
	for j, st := range dd.Statuses {
		if !st.State.Valid() || st.Time.IsZero() || (j < len(dd.Statuses)-1 && st.State.Terminal()) {
			return d, fmt.Errorf("status %d (%q): %w", j, st.State, ErrInvalid)
		}
	}
	last := dd.Statuses[len(dd.Statuses)-1]
	d.State, d.Message, d.FinishedAt = last.State, last.Message, time.Time{}
	if last.State.Terminal() {
		d.FinishedAt = last.Time
	}
	if d.StartedAt.IsZero() {
		d.StartedAt = dd.Statuses[0].Time
	}
	return d, nil
}

// allocateDeployIDs takes n deploy ids from the store's sequence.
func (s *sqlStore) allocateDeployIDs(ctx context.Context, tx *sql.Tx, n int) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, s.d.rebind(s.d.nextDeployIDs), n)
	if err != nil {
		return nil, fmt.Errorf("allocate deploy ids: %w", err)
	}
	defer rows.Close()
	ids := make([]int64, 0, n)
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("allocate deploy ids: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil || len(ids) != n {
		return nil, fmt.Errorf("allocate deploy ids: got %d of %d: %w", len(ids), n, err)
	}
	return ids, nil
}

// Import implements Store.
func (s *sqlStore) Import(ctx context.Context, ds []DeployDetail) ([]int64, error) {
	if len(ds) == 0 {
		return nil, nil
	}
	recs := make([]Deploy, len(ds))
	for i := range ds {
		d, err := s.importRecord(&ds[i])
		if err != nil {
			return nil, fmt.Errorf("import deploy %d of %s to %s: %w", i, ds[i].App, ds[i].Environment, err)
		}
		recs[i] = d
	}
	if s.d.copyImport {
		ids, err := s.importCopy(ctx, recs, ds)
		if err != nil {
			return nil, fmt.Errorf("import %d deploys: %w", len(ds), err)
		}
		return ids, nil
	}
	var ids []int64
	err := s.withTx(ctx, true, func(tx *sql.Tx) error {
		var err error
		if ids, err = s.allocateDeployIDs(ctx, tx, len(ds)); err != nil {
			return err
		}
		const dcols = 22
		var args []any
		stmts := newTxStmts(tx)
		flush := func(q string, cols int) error {
			if len(args) == 0 {
				return nil
			}
			err := stmts.exec(ctx, s.d.rebind(q+placeholders(len(args)/cols, cols)), args...)
			args = args[:0]
			return err
		}
		insertDeploys := `INSERT INTO deploys (id, app, team, environment, cluster, repository, commit_sha, commit_author,
	commit_time, commit_message, images, digest, warnings, rendered, trigger_kind, triggered_by, reason, forced,
	state, message, started_at, finished_at) VALUES `
		for i := range recs {
			a, err := deployArgs(&recs[i])
			if err != nil {
				return fmt.Errorf("deploy %d: %w", i, err)
			}
			args = append(append(args, ids[i]), a...)
			if len(args) >= 100*dcols {
				if err := flush(insertDeploys, dcols); err != nil {
					return fmt.Errorf("insert deploys: %w", err)
				}
			}
		}
		if err := flush(insertDeploys, dcols); err != nil {
			return fmt.Errorf("insert deploys: %w", err)
		}
		const insertStatuses = `INSERT INTO statuses (deploy_id, at, state, step, message) VALUES `
		for i := range ds {
			for _, st := range ds[i].Statuses {
				args = append(args, ids[i], st.Time.UnixMicro(), string(st.State), st.Step, st.Message)
				if len(args) >= 400*5 {
					if err := flush(insertStatuses, 5); err != nil {
						return fmt.Errorf("insert statuses: %w", err)
					}
				}
			}
		}
		if err := flush(insertStatuses, 5); err != nil {
			return fmt.Errorf("insert statuses: %w", err)
		}
		objs := make([][]Object, len(ds))
		for i := range ds {
			objs[i] = ds[i].Objects
		}
		if err := s.insertObjects(ctx, stmts, ids, objs); err != nil {
			return err
		}
		for _, u := range s.appEnvUpserts(recs, ids) {
			if err := stmts.exec(ctx, u.query, u.args...); err != nil {
				return fmt.Errorf("record app environments: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("import %d deploys: %w", len(ds), err)
	}
	return ids, nil
}

// statement is one SQL statement with its arguments, already rebound for the dialect.
type statement struct {
	query string
	args  []any
}

// appEnvUpserts returns the statements that add the (app, environment) pairs of recs (with
// IDs ids) to the catalog and record their newest deploy and success. The last deploy of a
// pair in recs decides its team, as CreateDeploy's upsert would.
func (s *sqlStore) appEnvUpserts(recs []Deploy, ids []int64) []statement {
	const rows = 100
	type pair struct{ app, env string }
	type cur struct {
		team                  string
		latest, success       int64
		latestAt, successAt   int64
		hasLatest, hasSuccess bool
	}
	byPair := map[pair]*cur{}
	var order []pair
	for i := range recs {
		r := &recs[i]
		p := pair{r.App, r.Environment}
		c := byPair[p]
		if c == nil {
			c = &cur{}
			byPair[p] = c
			order = append(order, p)
		}
		c.team = r.Team
		if at := r.StartedAt.UnixMicro(); !c.hasLatest || at > c.latestAt || (at == c.latestAt && ids[i] > c.latest) {
			c.latest, c.latestAt, c.hasLatest = ids[i], at, true
		}
		if r.State == StateSuccess {
			if at := r.FinishedAt.UnixMicro(); !c.hasSuccess || at > c.successAt || (at == c.successAt && ids[i] > c.success) {
				c.success, c.successAt, c.hasSuccess = ids[i], at, true
			}
		}
	}
	var out []statement
	var args []any
	flush := func() {
		if len(args) > 0 {
			out = append(out, statement{s.d.rebind(upsertAppEnvSQL + placeholders(len(args)/7, 7) + upsertAppEnvConflict), args})
			args = nil
		}
	}
	for _, p := range order {
		c := byPair[p]
		var success, successAt any
		if c.hasSuccess {
			success, successAt = c.success, c.successAt
		}
		args = append(args, p.app, p.env, c.team, c.latest, c.latestAt, success, successAt)
		if len(args) >= rows*7 {
			flush()
		}
	}
	flush()
	return out
}
