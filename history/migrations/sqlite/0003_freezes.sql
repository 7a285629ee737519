-- flyt history schema, version 3 (SQLite): durable freezes.

-- Append-only freeze events: an operator froze an environment (holding its automatic deploys)
-- or lifted the freeze. An environment's newest event (by id) is its freeze state, so a
-- restarted flyt, a new leader and every replica's API agree on it. Not tied to deploys:
-- pruning history never lifts a freeze.
CREATE TABLE freezes (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	environment TEXT    NOT NULL,
	frozen      INTEGER NOT NULL,
	reason      TEXT    NOT NULL DEFAULT '',
	by_whom     TEXT    NOT NULL DEFAULT '',
	at          INTEGER NOT NULL
);
CREATE INDEX freezes_env ON freezes (environment, id);
