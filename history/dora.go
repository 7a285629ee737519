package history

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
)

// defaultDORAWindow is the window DORA uses when DORAFilter.Since is zero.
const defaultDORAWindow = 30 * 24 * time.Hour

// maxDORAWindow bounds a DORA window so the per-day series stays small.
const maxDORAWindow = 10 * 366 * 24 * time.Hour

// doraRow is the part of a deploy DORA needs, plus whether it is the first success of its
// commit in its environment (only those count for lead time).
type doraRow struct {
	app, env     string
	state        State
	trigger      Trigger
	commitTime   time.Time
	started      time.Time
	finished     time.Time
	firstSuccess bool
}

// DORA implements Store. It reads the window's deploys in one indexed query (per team, app or
// environment) and computes the metrics in Go; only failure episodes still open at the end of
// the window cost one more probe each. For a team the query reads the team index alone, which
// carries every column below, and the first-success check reads the commit index alone: a
// year of a busy team is a few thousand index entries, so the Go side (microseconds per row)
// is not what costs; reading the table for each row was.
func (s *sqlStore) DORA(ctx context.Context, f DORAFilter) (DORA, error) {
	until := f.Until
	if until.IsZero() {
		until = s.clock()
	}
	since := f.Since
	if since.IsZero() {
		since = until.Add(-defaultDORAWindow)
	}
	until, since = until.UTC(), since.UTC()
	if !since.Before(until) || until.Sub(since) > maxDORAWindow {
		return DORA{}, fmt.Errorf("dora metrics: window %s to %s: want since before until, at most 10 years: %w",
			since.Format(time.RFC3339), until.Format(time.RFC3339), ErrInvalid)
	}
	conds := []string{"d.started_at >= ?", "d.started_at < ?"}
	args := []any{since.UnixMicro(), until.UnixMicro()}
	if f.Team != "" {
		conds, args = append(conds, "d.team = ?"), append(args, f.Team)
	}
	if f.App != "" {
		conds, args = append(conds, "d.app = ?"), append(args, f.App)
	}
	if f.Environment != "" {
		conds, args = append(conds, "d.environment = ?"), append(args, f.Environment)
	}
	q := `SELECT d.app, d.environment, d.state, d.trigger_kind, d.commit_time, d.started_at, d.finished_at,
	CASE WHEN d.state = 'success' AND NOT EXISTS (SELECT 1 FROM deploys p WHERE p.app = d.app AND p.environment = d.environment
		AND p.commit_sha = d.commit_sha AND p.state = 'success' AND (p.finished_at < d.finished_at OR (p.finished_at = d.finished_at AND p.id < d.id)))
	THEN 1 ELSE 0 END
FROM deploys d WHERE ` + strings.Join(conds, " AND ") + ` ORDER BY d.app, d.environment, d.started_at, d.id`
	rows, err := s.r.QueryContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return DORA{}, fmt.Errorf("dora metrics: %w", err)
	}
	defer rows.Close()
	var rs []doraRow
	for rows.Next() {
		var r doraRow
		var state, trigger string
		var commitTime, started, finished sql.NullInt64
		var first int
		if err := rows.Scan(&r.app, &r.env, &state, &trigger, &commitTime, &started, &finished, &first); err != nil {
			return DORA{}, fmt.Errorf("dora metrics: %w", err)
		}
		r.state, r.trigger, r.firstSuccess = State(state), Trigger(trigger), first == 1
		r.commitTime, r.started, r.finished = fromMicros(commitTime), fromMicros(started), fromMicros(finished)
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return DORA{}, fmt.Errorf("dora metrics: %w", err)
	}
	rows.Close()
	next := func(app, env string, after time.Time) (time.Time, bool, error) {
		var fin sql.NullInt64
		err := s.r.QueryRowContext(ctx, s.d.rebind(`SELECT MIN(x.finished_at) FROM deploys x WHERE x.app = ? AND x.environment = ? AND x.state = 'success' AND x.finished_at > ?`),
			app, env, after.UnixMicro()).Scan(&fin)
		return fromMicros(fin), fin.Valid, err
	}
	m, err := computeDORA(since, until, rs, next)
	if err != nil {
		return DORA{}, fmt.Errorf("dora metrics: %w", err)
	}
	return m, nil
}

// computeDORA turns the window's deploys, sorted by (app, environment, started), into the
// metrics. nextSuccess finds the first success of an (app, environment) after a time, for
// failure episodes the window leaves open.
func computeDORA(since, until time.Time, rs []doraRow, nextSuccess func(app, env string, after time.Time) (time.Time, bool, error)) (DORA, error) {
	m := DORA{Since: since, Until: until}
	first := since.Truncate(24 * time.Hour)
	days := int(until.Sub(first)/(24*time.Hour)) + 1
	if !until.After(first.Add(time.Duration(days-1) * 24 * time.Hour)) {
		days-- // until falls exactly on midnight: that day is not in the window
	}
	m.Days = make([]DayCount, days)
	for i := range m.Days {
		m.Days[i].Day = first.Add(time.Duration(i) * 24 * time.Hour)
	}
	var leads, restores []time.Duration
	changeFailures := 0
	for i := 0; i < len(rs); {
		// One (app, environment) group at a time, for time to restore.
		j := i
		var episode time.Time // start of the open failure episode, zero when none
		for ; j < len(rs) && rs[j].app == rs[i].app && rs[j].env == rs[i].env; j++ {
			r := rs[j]
			m.Deploys++
			day := int(r.started.Sub(first) / (24 * time.Hour))
			if day >= 0 && day < len(m.Days) {
				m.Days[day].Deploys++
			}
			switch r.state {
			case StateSuccess:
				m.Successes++
				if day >= 0 && day < len(m.Days) {
					m.Days[day].Successes++
				}
				if r.trigger == TriggerRollback {
					m.Rollbacks++
					changeFailures++
				}
				if r.firstSuccess && !r.commitTime.IsZero() && !r.finished.Before(r.commitTime) {
					leads = append(leads, r.finished.Sub(r.commitTime))
				}
				if !episode.IsZero() {
					restores = append(restores, r.finished.Sub(episode))
					episode = time.Time{}
				}
			case StateFailure:
				m.Failures++
				changeFailures++
				if day >= 0 && day < len(m.Days) {
					m.Days[day].Failures++
				}
				if r.trigger == TriggerRollback {
					m.Rollbacks++
				}
				if episode.IsZero() {
					episode = r.finished
				}
			case StateError:
				m.Errors++
			}
		}
		if !episode.IsZero() {
			at, ok, err := nextSuccess(rs[i].app, rs[i].env, episode)
			if err != nil {
				return m, fmt.Errorf("next success of %s in %s: %w", rs[i].app, rs[i].env, err)
			}
			if ok {
				restores = append(restores, at.Sub(episode))
			} else {
				m.Unrestored++
			}
		}
		i = j
	}
	m.FrequencyPerDay = float64(m.Successes) / (until.Sub(since).Hours() / 24)
	if changes := m.Successes + m.Failures; changes > 0 {
		m.ChangeFailureRate = float64(changeFailures) / float64(changes)
	}
	m.LeadTimes = len(leads)
	m.LeadTimeMean, m.LeadTimeP50, m.LeadTimeP90 = mean(leads), percentile(leads, 50), percentile(leads, 90)
	m.Restores = len(restores)
	m.TimeToRestoreMean, m.TimeToRestoreP50 = mean(restores), percentile(restores, 50)
	return m, nil
}

func mean(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}

// percentile returns the nearest-rank p-th percentile (0 for no data); it sorts ds.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	rank := (p*len(ds) + 99) / 100 // ceil(p/100 × n)
	return ds[max(rank, 1)-1]
}
