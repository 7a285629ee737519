-- flyt history schema, version 1 (SQLite).
-- Times are unix microseconds (UTC) in INTEGER columns: compact, exactly comparable, and the
-- same representation as the PostgreSQL schema, so one set of queries serves both.

-- One row per deploy attempt. Only state, message and finished_at change after insert: they
-- mirror the newest row of statuses, written in the same transaction. images, digest and
-- warnings may be filled in once (rendered flips to 1) when the render ran after creation.
CREATE TABLE deploys (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	app            TEXT    NOT NULL,
	team           TEXT    NOT NULL,
	environment    TEXT    NOT NULL,
	cluster        TEXT    NOT NULL DEFAULT '',
	repository     TEXT    NOT NULL DEFAULT '',
	commit_sha     TEXT    NOT NULL DEFAULT '',
	commit_author  TEXT    NOT NULL DEFAULT '',
	commit_time    INTEGER,
	commit_message TEXT    NOT NULL DEFAULT '',
	images         TEXT,   -- JSON array of image references
	digest         TEXT    NOT NULL DEFAULT '',
	warnings       TEXT,   -- JSON array of render warnings
	rendered       INTEGER NOT NULL DEFAULT 0,
	trigger_kind   TEXT    NOT NULL,
	triggered_by   TEXT    NOT NULL DEFAULT '',
	reason         TEXT    NOT NULL DEFAULT '',
	forced         INTEGER NOT NULL DEFAULT 0,
	state          TEXT    NOT NULL,
	message        TEXT    NOT NULL DEFAULT '',
	started_at     INTEGER NOT NULL,
	finished_at    INTEGER
);

-- List: newest first overall, per team, per app, per app and environment, per environment.
-- The trailing columns let a filter on them (team and environment, app and state …) be checked
-- in the index, so only matching rows are read from the table.
CREATE INDEX deploys_started ON deploys (started_at, id, state, trigger_kind);
CREATE INDEX deploys_app_started ON deploys (app, started_at, id, environment, state);
CREATE INDEX deploys_team_started ON deploys (team, started_at, id, environment, state);
CREATE INDEX deploys_app_env_started ON deploys (app, environment, started_at, id);
CREATE INDEX deploys_env_started ON deploys (environment, started_at, id, team, state);
CREATE INDEX deploys_commit ON deploys (commit_sha);
-- Last success, point in time, first success of a commit, lead time.
CREATE INDEX deploys_success ON deploys (app, environment, finished_at, id) WHERE state = 'success';
CREATE INDEX deploys_success_commit ON deploys (app, environment, commit_sha, finished_at) WHERE state = 'success';
-- MarkInterrupted and "what is running now"; other state filters ride the indexes above.
CREATE INDEX deploys_unfinished ON deploys (state) WHERE state IN ('queued', 'in_progress');

-- The append-only status log. seq is global and only grows (AUTOINCREMENT never reuses a
-- value, even after pruning), so it is the event stream's event ID.
CREATE TABLE statuses (
	seq       INTEGER PRIMARY KEY AUTOINCREMENT,
	deploy_id INTEGER NOT NULL REFERENCES deploys (id) ON DELETE CASCADE,
	at        INTEGER NOT NULL,
	state     TEXT    NOT NULL,
	step      TEXT    NOT NULL DEFAULT '',
	message   TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX statuses_deploy ON statuses (deploy_id, seq);

-- The objects each deploy touched, with the action taken.
CREATE TABLE objects (
	id        INTEGER PRIMARY KEY,
	deploy_id INTEGER NOT NULL REFERENCES deploys (id) ON DELETE CASCADE,
	grp       TEXT    NOT NULL DEFAULT '',
	version   TEXT    NOT NULL,
	kind      TEXT    NOT NULL,
	namespace TEXT    NOT NULL DEFAULT '',
	name      TEXT    NOT NULL,
	action    TEXT    NOT NULL
);
CREATE INDEX objects_deploy ON objects (deploy_id, id);

-- Desired-revision events for environments fed by promotion. Not tied to deploys by a
-- foreign key: pruning old deploys must not erase what an environment should run.
CREATE TABLE desired_revisions (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	app          TEXT    NOT NULL,
	environment  TEXT    NOT NULL,
	commit_sha   TEXT    NOT NULL,
	trigger_kind TEXT    NOT NULL,
	by_whom      TEXT    NOT NULL DEFAULT '',
	reason       TEXT    NOT NULL DEFAULT '',
	forced       INTEGER NOT NULL DEFAULT 0,
	at           INTEGER NOT NULL,
	deploy_id    INTEGER
);
CREATE INDEX desired_app_env ON desired_revisions (app, environment, id);

-- The catalog of (app, environment) pairs ever deployed, with the owning team: what the
-- current-state matrix and point-in-time queries iterate over, so they never scan deploys.
CREATE TABLE app_environments (
	app         TEXT NOT NULL,
	environment TEXT NOT NULL,
	team        TEXT NOT NULL,
	PRIMARY KEY (app, environment)
);
CREATE INDEX app_environments_team ON app_environments (team, app, environment);
CREATE INDEX app_environments_env ON app_environments (environment, app);
