// Package history is flyt's durable continuous-delivery record: every deploy, its append-only
// status log, the objects it applied and the revisions promoted to each environment, kept in
// SQLite (embedded default) or PostgreSQL (several replicas), with the queries and DORA metrics
// operators ask of it.
//
// Argo CD keeps 10 syncs, Flux 5 snapshots; flyt keeps every deploy, successful or not, with
// what ARCHITECTURE.md invariant 3 lists, for as long as the operators want (Store.Prune
// implements an optional retention policy that exports before it deletes).
//
// # Opening a store
//
// Open picks the implementation from the DSN:
//
//	""                                  SQLite at ./flyt-history.db (DefaultSQLitePath)
//	/var/lib/flyt/history.db            SQLite at that path (the directory must exist)
//	sqlite:///var/lib/flyt/history.db   the same, as a URL
//	sqlite://data/history.db            SQLite at a path relative to the working directory
//	postgres://flyt:…@db:5432/flyt?sslmode=require   PostgreSQL (postgresql:// too)
//
// DSNs are secrets: errors and logs show them through RedactDSN only.
//
// SQLite runs in WAL mode with synchronous=NORMAL (a crash never corrupts it; a power loss may
// lose the last commits), foreign keys on, and a 10 s busy timeout. Each Store holds one write
// connection, so concurrent writers from many goroutines queue in Go instead of retrying
// SQLITE_BUSY, and a pool of read connections that read in parallel with the writer.
// PostgreSQL goes through a pgx connection pool; pool settings come from the DSN
// (pool_max_conns …).
//
// # Schema and migrations
//
// The schema lives in migrations/<dialect>/NNNN_name.sql, embedded in the binary. Open applies
// the missing versions in one transaction (PostgreSQL replicas take an advisory lock so they
// migrate one at a time) and records each in schema_version. A database whose schema is newer
// than the binary knows is refused with SchemaTooNewError, because an older flyt would misread
// it. Released migration files are never edited; changes come as new versions.
//
// # Data model
//
//	deploys            one row per deploy attempt: app, team, environment, cluster, repository,
//	                   commit (SHA, author, time, message), images, digest, warnings, trigger,
//	                   who triggered it and why, forced, started/finished, and the state and
//	                   message of its newest status.
//	statuses           the append-only status log; seq is global and only grows, and is the
//	                   event ID of the event stream (StatusesSince).
//	objects            the objects each deploy applied, pruned or skipped, with the action.
//	desired_revisions  append-only events: which commit an environment fed by promotion should
//	                   run for an app, set by promotions, rollbacks and manual pins.
//	app_environments   the catalog of (app, environment) pairs ever deployed and their team;
//	                   what the current-state matrix and point-in-time queries iterate over.
//
// Records are append-only. The only writes in place are a deploy's state, message and
// finished_at, which mirror its newest status row and change in the same transaction that
// appends it; the images, digest and warnings a render produced, filled in once
// (RecordRender) when the deploy was created before its render ran; and a catalog row's team
// when an app moves to another team. A status after a terminal one (success, failure, error,
// inactive) is refused with ErrFinished.
//
// Times are stored as unix microseconds (UTC), so both databases compare and index them the
// same way; values read back are UTC and microsecond-precise.
//
// # Crash safety
//
// Every write is one transaction: a deploy never exists without its first status, and a
// deploy's objects are recorded all or none per call. Deploys left queued or in progress by a
// process that died are not finished by anyone, so flyt calls MarkInterrupted at start (or
// when it becomes the leader), which appends an inactive status to each.
//
// # Event stream
//
// StatusesSince(afterSeq) returns status rows in seq order with their deploy's identity, for the
// server-sent-events stream resumable with Last-Event-ID. Rows become visible in seq order:
// SQLite has one writer, and on PostgreSQL every transaction that appends statuses holds one
// advisory lock until it commits, so a reader that resumes after the last seq it saw never
// misses a row that commits later with a smaller seq.
//
// # Queries and their indexes
//
// List (filters on team, app, environment, state, trigger, commit prefix and time, newest
// first, keyset-paginated with an opaque cursor), Current (newest and last successful deploy of
// each app and environment), At (what ran in an environment at a time), LastSuccess (the
// inventory prune diffs against), FirstSuccess, and DORA all run off indexes on deploys by
// (team | environment | app, environment) and start time, and partial indexes on successful
// deploys. BenchmarkStore measures them over a generated history (see bench_test.go and the
// -history.n flag; custom flags need the -history.n=N form, after the package).
//
// # DORA metrics
//
// See the DORA type for the exact definitions of deployment frequency, lead time for changes,
// change failure rate and time to restore.
//
// # Testing
//
// The test suite runs every test against SQLite (in a temporary directory) and against a real
// PostgreSQL server that internal/pgtest starts from Debian's postgresql package. Without
// PostgreSQL installed those tests fail and say how to install it.
package history
