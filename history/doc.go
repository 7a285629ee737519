// Package history is flyt's durable continuous-delivery record: every deploy, its append-only
// status log, the objects it applied, the revisions promoted to each environment and the
// environments' freezes, kept in SQLite (embedded default) or PostgreSQL (several replicas),
// with the queries and DORA metrics operators ask of it.
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
// Sizing for a million deploys (open.go): the writer's page cache is 256 MiB and each reader's
// 32 MiB (allocated as used), and every connection maps up to 2 GiB of the database file, so
// pages the operating system caches are read without a system call or a copy. The WAL is
// copied into the database every 10,000 pages (about 40 MiB) instead of every 1,000, so pages
// rewritten by consecutive commits are copied once. None of this weakens durability: a
// process killed mid-write still leaves only whole transactions, and a power loss still loses
// at most the commits since the last WAL sync (synchronous=NORMAL, as before). The costs are a
// WAL file that grows to about 40 MiB between checkpoints (replayed, if a process dies, by the
// next Open) and, with the memory map, that an I/O error reading the disk stops the process
// (SIGBUS) instead of failing one query.
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
//	freezes            append-only events: an operator froze an environment (holding its
//	                   automatic deploys) or lifted the freeze, with who, why and when. An
//	                   environment's newest event (by id) is its freeze state (Freezes), which
//	                   the leader loads when it starts reconciling and every replica's API
//	                   reads, so a freeze survives restarts and failover. Prune keeps them.
//	app_environments   the catalog of (app, environment) pairs ever deployed and their team,
//	                   with the current state: the newest deploy (by start) and the newest
//	                   successful deploy (by finish) of each pair, and the times they are
//	                   ordered by. What the current-state matrix reads and point-in-time
//	                   queries iterate over.
//
// Records are append-only. The only writes in place are a deploy's state, message and
// finished_at, which mirror its newest status row and change in the same transaction that
// appends it; the images, digest and warnings a render produced, filled in once
// (RecordRender) when the deploy was created before its render ran; a catalog row's team
// when an app moves to another team; and a catalog row's current state, changed in the same
// transaction as the deploy (CreateDeploy, Import) or success status (AppendStatus) that makes
// it newer, and recomputed from deploys when Prune deletes the deploy it names. A status after a terminal one (success, failure, error,
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
// first, keyset-paginated with an opaque cursor) runs off indexes on deploys by start time,
// app, team, team and environment, and environment, each carrying the columns other filters
// test, so only matching rows are read from the table. Current (newest and last successful
// deploy of each app and environment) reads the catalog's current state and the deploys it
// names, never searching deploys. At (what ran in an environment at a time) probes, for each
// pair of the environment, a partial index of successes by (app, environment, finished); on
// SQLite the probe is covered by the index and skipped when the catalog's newest success
// finished by then, on PostgreSQL it reads the row from the index match. LastSuccess and
// FirstSuccess are one probe each. DORA reads a team's window from the team index alone (it
// carries every column DORA needs) and checks each success for an earlier success of its
// commit in the commit index, also without the table. BenchmarkStore measures them over a
// generated history (see bench_test.go and the -history.n flag; custom flags need the
// -history.n=N form, after the package).
//
// Its figures at 1,000,000 deploys, and the query shapes measured and not kept, are in
// bench/README.md ("The history store").
//
// # DORA metrics
//
// See the DORA type for the exact definitions of deployment frequency, lead time for changes,
// change failure rate and time to restore.
//
// # Testing
//
// The test suite runs every test against SQLite (in a temporary directory) and against a real
// PostgreSQL server that internal/testenv/pgtest starts from Debian's postgresql package. Without
// PostgreSQL installed those tests fail and say how to install it.
package history
