package history

import (
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// currentFromList is the reference for Current(Filter{}): it reads every deploy through List
// and picks each pair's newest deploy (by start, then ID) and newest success (by finish, then
// ID), as the catalog must.
func currentFromList(t *testing.T, s Store) []Current {
	t.Helper()
	type pair struct{ app, env string }
	byPair := map[pair]*Current{}
	f := Filter{Limit: MaxLimit}
	for {
		p := must(s.List(t.Context(), f))
		for i := range p.Deploys {
			d := p.Deploys[i]
			k := pair{d.App, d.Environment}
			c := byPair[k]
			if c == nil {
				c = &Current{App: d.App, Environment: d.Environment}
				byPair[k] = c
			}
			if c.Latest == nil || d.StartedAt.After(c.Latest.StartedAt) || (d.StartedAt.Equal(c.Latest.StartedAt) && d.ID > c.Latest.ID) {
				c.Latest = &d
			}
			if d.State == StateSuccess && (c.LastSuccess == nil || d.FinishedAt.After(c.LastSuccess.FinishedAt) ||
				(d.FinishedAt.Equal(c.LastSuccess.FinishedAt) && d.ID > c.LastSuccess.ID)) {
				c.LastSuccess = &d
			}
		}
		if p.Next == "" {
			break
		}
		f.Cursor = p.Next
	}
	out := []Current{}
	for _, c := range byPair {
		c.Team = c.Latest.Team
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].App != out[j].App {
			return out[i].App < out[j].App
		}
		return out[i].Environment < out[j].Environment
	})
	return out
}

// checkCurrent compares Current(Filter{}) with the reference computed from List.
func checkCurrent(t *testing.T, s Store, when string) {
	t.Helper()
	want := currentFromList(t, s)
	got := must(s.Current(t.Context(), Filter{}))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Current %s (-from List +got):\n%s", when, diff)
	}
}

// TestCurrentOutOfOrder records deploys and statuses whose times run against the order they
// are written in: the catalog must keep the newest by time, not the last written.
func TestCurrentOutOfOrder(t *testing.T) {
	forEachStore(t, func(t *testing.T, dsn string) {
		s := openStore(t, dsn)
		hour := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
		newer := run(t, s, deploy("a", "team1", "dev", 1, hour(10)), StateSuccess)
		older := run(t, s, deploy("a", "team1", "dev", 2, hour(5)), StateSuccess) // started and finished earlier
		got := must(s.Current(t.Context(), Filter{App: "a"}))
		if len(got) != 1 || got[0].Latest.ID != newer.ID || got[0].LastSuccess.ID != newer.ID {
			t.Fatalf("Current after an older deploy recorded last = %+v, want deploy %d as latest and last success", got, newer.ID)
		}
		// A deploy that started later but is still running is the latest; the last success
		// stays; the same start time breaks ties by ID.
		tie := run(t, s, deploy("a", "team1", "dev", 3, hour(10)), "")
		got = must(s.Current(t.Context(), Filter{App: "a"}))
		if got[0].Latest.ID != tie.ID || got[0].LastSuccess.ID != newer.ID {
			t.Errorf("Current = latest %d, last success %d; want %d and %d", got[0].Latest.ID, got[0].LastSuccess.ID, tie.ID, newer.ID)
		}
		// A success whose finish time is before the recorded one does not replace it.
		must(s.AppendStatus(t.Context(), tie.ID, Status{Time: hour(6), State: StateSuccess}))
		got = must(s.Current(t.Context(), Filter{App: "a"}))
		if got[0].LastSuccess.ID != newer.ID {
			t.Errorf("last success = %d after an earlier-finishing success, want %d", got[0].LastSuccess.ID, newer.ID)
		}
		// The same in one Import: an older deploy of the pair and a pair only imported.
		imp := func(app, env string, commit int, started time.Time, final State) DeployDetail {
			return DeployDetail{Deploy: *deploy(app, "team2", env, commit, started), Statuses: []Status{
				{Time: started, State: StateQueued}, {Time: started.Add(time.Minute), State: final}}}
		}
		must(s.Import(t.Context(), []DeployDetail{
			imp("a", "dev", 4, hour(1), StateSuccess),
			imp("b", "dev", 5, hour(3), StateSuccess),
			imp("b", "dev", 6, hour(2), StateSuccess),
			imp("b", "dev", 7, hour(4), StateFailure),
		}))
		checkCurrent(t, s, "after out-of-order writes and an import")
		_ = older
	})
}

// TestCurrentAfterPrune prunes the newest deploys and successes of some pairs (and every deploy
// of others): Current must fall back to what is left, or drop the pair.
func TestCurrentAfterPrune(t *testing.T) {
	forEachStore(t, func(t *testing.T, dsn string) {
		s := openStore(t, dsn)
		hour := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
		var in []DeployDetail
		for i := range 60 {
			app := fmt.Sprint("app", i%7)
			started := hour(i)
			final := StateSuccess
			if i%3 == 0 {
				final = StateFailure
			}
			// app6 only deploys early, so a prune removes it entirely.
			if app == "app6" && i > 20 {
				app = "app5"
			}
			in = append(in, DeployDetail{Deploy: *deploy(app, "team", []string{"dev", "prod"}[i%2], i, started), Statuses: []Status{
				{Time: started, State: StateQueued}, {Time: started.Add(time.Minute), State: final}}})
		}
		must(s.Import(t.Context(), in))
		checkCurrent(t, s, "after import")
		// Deploys that finished late but started early: pruning by start removes successes
		// newer (by finish) than the ones kept.
		late := run(t, s, deploy("app1", "team", "dev", 100, hour(30)), "")
		must(s.AppendStatus(t.Context(), late.ID, Status{Time: hour(200), State: StateSuccess}))
		// A newer failure keeps the pair's newest success apart from its newest deploy, so
		// the success the prune falls back to must be copied into the catalog row.
		run(t, s, deploy("app1", "team", "dev", 101, hour(61)), StateFailure)
		checkCurrent(t, s, "after a late success")
		if n := must(s.Prune(t.Context(), hour(35), nil)); n == 0 {
			t.Fatal("Prune deleted nothing")
		}
		checkCurrent(t, s, "after prune")
		for _, c := range must(s.Current(t.Context(), Filter{})) {
			if c.App == "app6" {
				t.Errorf("app6 has no deploys left but Current shows %+v", c)
			}
		}
		must(s.Prune(t.Context(), hour(1000), nil))
		if got := must(s.Current(t.Context(), Filter{})); len(got) != 0 {
			t.Errorf("Current after pruning everything = %d rows, want none", len(got))
		}
	})
}

// TestMigrateCurrentState builds a version 1 database by hand, as an older flyt left it, and
// opens it: migration 2 must fill the catalog's current state from the deploys there.
func TestMigrateCurrentState(t *testing.T) {
	forEachStore(t, func(t *testing.T, dsn string) {
		dialect, driver, conn := sqliteDialect, "sqlite", strings.TrimPrefix(dsn, "sqlite://")
		if strings.HasPrefix(dsn, "postgres") {
			dialect, driver, conn = postgresDialect, "pgx", dsn
		}
		db, err := sql.Open(driver, conn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		ms := must(loadMigrations(dialect.name))
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := db.ExecContext(t.Context(), dialect.rebind(q), args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		exec(`CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`)
		exec(ms[0].sql)
		exec(`INSERT INTO schema_version (version, applied_at) VALUES (1, 0)`)
		hour := func(h int) int64 { return t0.Add(time.Duration(h) * time.Hour).UnixMicro() }
		for i, d := range []struct {
			app, env, state string
			started         int
		}{
			{"a", "dev", "success", 1}, {"a", "dev", "success", 3}, {"a", "dev", "failure", 5},
			{"a", "prod", "in_progress", 2}, {"b", "dev", "success", 4}, {"b", "dev", "success", 2},
		} {
			var finished any
			if d.state != "in_progress" {
				finished = hour(d.started) + 60e6
			}
			var id int64
			if err := db.QueryRowContext(t.Context(), dialect.rebind(`INSERT INTO deploys (app, team, environment, commit_sha, trigger_kind, state, started_at, finished_at)
VALUES (?, 'team', ?, ?, 'push', ?, ?, ?) RETURNING id`), d.app, d.env, sha(i), d.state, hour(d.started), finished).Scan(&id); err != nil || id != int64(i+1) {
				t.Fatalf("insert deploy %d: got ID %d, %v", i+1, id, err)
			}
			exec(`INSERT INTO statuses (deploy_id, at, state) VALUES (?, ?, ?)`, id, hour(d.started), d.state)
			exec(`INSERT INTO app_environments (app, environment, team) VALUES (?, ?, 'team') ON CONFLICT DO NOTHING`, d.app, d.env)
		}
		s := openStore(t, dsn)
		got := must(s.Current(t.Context(), Filter{}))
		ids := func(c Current) [2]int64 {
			var succ int64
			if c.LastSuccess != nil {
				succ = c.LastSuccess.ID
			}
			return [2]int64{c.Latest.ID, succ}
		}
		want := map[string][2]int64{"a/dev": {3, 2}, "a/prod": {4, 0}, "b/dev": {5, 5}}
		if len(got) != len(want) {
			t.Fatalf("Current after migrating = %d rows, want %d", len(got), len(want))
		}
		for _, c := range got {
			if w := want[c.App+"/"+c.Environment]; ids(c) != w {
				t.Errorf("Current(%s, %s) = latest, last success %v; want %v", c.App, c.Environment, ids(c), w)
			}
		}
		checkCurrent(t, s, "after migrating")
		// The migrated catalog keeps up with new deploys.
		d := run(t, s, deploy("a", "team", "prod", 9, t0.Add(10*time.Hour)), StateSuccess)
		got = must(s.Current(t.Context(), Filter{App: "a", Environment: "prod"}))
		if len(got) != 1 || got[0].Latest.ID != d.ID || got[0].LastSuccess == nil || got[0].LastSuccess.ID != d.ID {
			t.Errorf("Current(a, prod) after a new success = %+v, want deploy %d", got, d.ID)
		}
	})
}
