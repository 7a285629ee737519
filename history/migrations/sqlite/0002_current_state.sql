-- flyt history schema, version 2 (SQLite): what a million deploys needs.

-- The current-state catalog: each (app, environment) pair keeps its newest deploy (by start)
-- and its newest successful deploy (by finish), with the time each is ordered by. They are
-- written in the same transaction as the deploy or the status row that changes them, so Current
-- reads them instead of searching deploys for every pair.
ALTER TABLE app_environments ADD COLUMN latest_id INTEGER;
ALTER TABLE app_environments ADD COLUMN latest_started_at INTEGER;
ALTER TABLE app_environments ADD COLUMN success_id INTEGER;
ALTER TABLE app_environments ADD COLUMN success_finished_at INTEGER;
UPDATE app_environments SET
	latest_id = (SELECT x.id FROM deploys x WHERE x.app = app_environments.app AND x.environment = app_environments.environment
		ORDER BY x.started_at DESC, x.id DESC LIMIT 1),
	success_id = (SELECT x.id FROM deploys x WHERE x.app = app_environments.app AND x.environment = app_environments.environment
		AND x.state = 'success' ORDER BY x.finished_at DESC, x.id DESC LIMIT 1);
UPDATE app_environments SET
	latest_started_at = (SELECT x.started_at FROM deploys x WHERE x.id = app_environments.latest_id),
	success_finished_at = (SELECT x.finished_at FROM deploys x WHERE x.id = app_environments.success_id);

-- Fewer, better indexes on deploys. Every index costs each insert a page write, and the ones
-- ordered by commit SHA or by (app, environment) take their inserts all over the B-tree.
--   deploys_app_env_started: the catalog now answers "newest deploy of a pair"; lists of an app
--     in one environment read deploys_app_started, which carries environment.
--   deploys_success_commit: merged into deploys_commit, which now carries what first-success
--     checks need.
--   deploys_team_started: now also carries every column DORA reads, so a team's DORA reads
--     the index alone.
--   deploys_success: carries state, so SQLite sees it covers the probes (point in time, last
--     success) and skips the table.
--   deploys_team_env_started: new, for lists by team and environment (a team's failures in
--     production), which otherwise scan the whole team or environment.
DROP INDEX deploys_app_env_started;
DROP INDEX deploys_success_commit;
DROP INDEX deploys_commit;
DROP INDEX deploys_team_started;
DROP INDEX deploys_success;
CREATE INDEX deploys_commit ON deploys (commit_sha, app, environment, state, finished_at, id);
CREATE INDEX deploys_team_started ON deploys (team, started_at, id, environment, state, app, trigger_kind, commit_time, finished_at, commit_sha);
CREATE INDEX deploys_team_env_started ON deploys (team, environment, started_at, id, state);
CREATE INDEX deploys_success ON deploys (app, environment, finished_at, id, state) WHERE state = 'success';
