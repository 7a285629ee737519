package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/history"
)

// triggers are the valid values of the trigger filter.
var triggers = []history.Trigger{history.TriggerPush, history.TriggerPoll, history.TriggerPromotion,
	history.TriggerAutoPromotion, history.TriggerRollback, history.TriggerManual, history.TriggerDrift}

// parseTime reads an RFC 3339 query parameter; empty gives the zero time.
func parseTime(q url.Values, name string) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, &badRequest{fmt.Sprintf("parameter %s: %q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", name, v)}
	}
	return t, nil
}

// parseFilter reads the deploy filter from query parameters.
func parseFilter(q url.Values) (history.Filter, error) {
	f := history.Filter{Team: q.Get("team"), App: q.Get("app"), Environment: q.Get("env"),
		Commit: q.Get("commit"), Cursor: q.Get("cursor")}
	if v := q.Get("state"); v != "" {
		f.State = history.State(v)
		if !f.State.Valid() {
			return f, &badRequest{fmt.Sprintf("parameter state: %q is not a deploy state (queued, in_progress, success, failure, error, inactive)", v)}
		}
	}
	if v := q.Get("trigger"); v != "" {
		f.Trigger = history.Trigger(v)
		if !slices.Contains(triggers, f.Trigger) {
			return f, &badRequest{fmt.Sprintf("parameter trigger: %q is not a trigger (push, poll, promotion, auto-promotion, rollback, manual, drift)", v)}
		}
	}
	if v := q.Get("commit"); v != "" && len(v) < 7 {
		return f, &badRequest{fmt.Sprintf("parameter commit: %q is shorter than 7 characters", v)}
	}
	var err error
	if f.Since, err = parseTime(q, "since"); err != nil {
		return f, err
	}
	if f.Until, err = parseTime(q, "until"); err != nil {
		return f, err
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return f, &badRequest{fmt.Sprintf("parameter limit: %q is not a non-negative number", v)}
		}
		f.Limit = n
	}
	return f, nil
}

func (s *Server) listDeploys(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r.URL.Query())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page, err := s.opts.Store.List(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if page.Deploys == nil {
		page.Deploys = []history.Deploy{}
	}
	writeJSON(w, http.StatusOK, page)
}

// parseID reads a deploy ID path parameter.
func parseID(r *http.Request) (int64, error) {
	v := r.PathValue("id")
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, &badRequest{fmt.Sprintf("parameter id: %q is not a deploy ID", v)}
	}
	return id, nil
}

func (s *Server) getDeploy(w http.ResponseWriter, r *http.Request) {
	id, err := parseID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d, err := s.opts.Store.Get(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) current(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	cur, err := s.opts.Store.Current(r.Context(), history.Filter{Team: q.Get("team"), App: q.Get("app"), Environment: q.Get("env")})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if cur == nil {
		cur = []history.Current{}
	}
	writeJSON(w, http.StatusOK, cur)
}

// AtResponse answers "what ran in an environment at a time".
type AtResponse struct {
	Environment string    `json:"environment"`
	Time        time.Time `json:"time"`
	// Deploys holds, per app, its last deploy that had succeeded by Time.
	Deploys []history.Deploy `json:"deploys"`
}

func (s *Server) at(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	env := q.Get("env")
	if env == "" {
		s.fail(w, r, &badRequest{"parameter env is required"})
		return
	}
	t, err := parseTime(q, "time")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if t.IsZero() {
		t = s.opts.Now()
	}
	ds, err := s.opts.Store.At(r.Context(), env, t)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if ds == nil {
		ds = []history.Deploy{}
	}
	writeJSON(w, http.StatusOK, AtResponse{Environment: env, Time: t, Deploys: ds})
}

func (s *Server) dora(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := history.DORAFilter{Team: q.Get("team"), App: q.Get("app"), Environment: q.Get("env")}
	var err error
	if f.Since, err = parseTime(q, "since"); err != nil {
		s.fail(w, r, err)
		return
	}
	if f.Until, err = parseTime(q, "until"); err != nil {
		s.fail(w, r, err)
		return
	}
	if f.Until.IsZero() {
		f.Until = s.opts.Now()
	}
	if !f.Since.IsZero() && !f.Since.Before(f.Until) {
		s.fail(w, r, &badRequest{"parameter since: must be before until"})
		return
	}
	m, err := s.opts.Store.DORA(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func (s *Server) held(w http.ResponseWriter, _ *http.Request) {
	h := []Held{}
	if s.opts.Operator != nil {
		h = append(h, s.opts.Operator.Held()...)
	}
	writeJSON(w, http.StatusOK, h)
}

// AppStatus is what `flyt status APP` shows: per environment, what runs, what should run, and why.
type AppStatus struct {
	App          string      `json:"app"`
	Team         string      `json:"team,omitempty"`
	Environments []EnvStatus `json:"environments"`
}

// EnvStatus is one environment of an AppStatus.
type EnvStatus struct {
	Environment string `json:"environment"`
	// Feeding says how the environment gets revisions: "branch main" or "promoted from dev".
	Feeding string `json:"feeding,omitempty"`
	// Running is the last successful deploy: what runs. Nil when nothing ever succeeded.
	Running *history.Deploy `json:"running,omitempty"`
	// Latest is the newest deploy, whatever its state.
	Latest *history.Deploy `json:"latest,omitempty"`
	// ShouldRun is the commit the environment should run: the desired revision of an
	// environment fed by promotion, else the newest deploy's commit.
	ShouldRun string `json:"shouldRun,omitempty"`
	// Desired is the newest desired-revision event, for environments fed by promotion.
	Desired *history.DesiredRevision `json:"desired,omitempty"`
	// InSync is true when Running is ShouldRun.
	InSync bool `json:"inSync"`
	// Held is automatic work waiting for this app here, and why.
	Held *Held `json:"held,omitempty"`
	// Frozen is set while an operator froze the environment; FrozenReason is what they gave.
	Frozen       bool   `json:"frozen,omitempty"`
	FrozenReason string `json:"frozenReason,omitempty"`
	// Why explains ShouldRun and anything holding it, for people.
	Why string `json:"why"`
}

func (s *Server) appStatus(w http.ResponseWriter, r *http.Request) {
	st, err := s.buildAppStatus(r, r.PathValue("app"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// buildAppStatus gathers an app's status in every environment that has a deploy or a desired
// revision of it. It fails with history.ErrNotFound for an app flyt never saw.
func (s *Server) buildAppStatus(r *http.Request, app string) (*AppStatus, error) {
	ctx := r.Context()
	cur, err := s.opts.Store.Current(ctx, history.Filter{App: app})
	if err != nil {
		return nil, fmt.Errorf("app status of %s: %w", app, err)
	}
	byEnv := make(map[string]history.Current, len(cur))
	st := &AppStatus{App: app, Environments: []EnvStatus{}}
	for _, c := range cur {
		byEnv[c.Environment] = c
		st.Team = c.Team
	}
	frozen, err := s.frozen(ctx)
	if err != nil {
		return nil, fmt.Errorf("app status of %s: %w", app, err)
	}
	held := s.heldByKey()
	p := s.opts.Platform()
	envs := s.envOrder(p, cur)
	for _, name := range envs {
		es := EnvStatus{Environment: name}
		var env *environments.Environment
		if p != nil {
			env = p.Environment(name)
		}
		c, seen := byEnv[name]
		es.Running, es.Latest = c.LastSuccess, c.Latest
		if env != nil {
			es.Feeding = feeding(env)
		}
		var why string
		switch {
		case env != nil && env.PromoteFrom != "":
			d, err := s.opts.Store.Desired(ctx, app, name)
			switch {
			case errors.Is(err, history.ErrNotFound):
				why = "nothing promoted here yet from " + env.PromoteFrom
			case err != nil:
				return nil, fmt.Errorf("app status of %s in %s: %w", app, name, err)
			default:
				seen = true
				es.Desired, es.ShouldRun = d, d.Commit
				why = fmt.Sprintf("%s by %s at %s", d.Trigger, orAnonymous(d.By), d.Time.UTC().Format(time.RFC3339))
				if d.Forced {
					why += " (forced)"
				}
				if d.Reason != "" {
					why += ": " + d.Reason
				}
			}
		case c.Latest != nil:
			es.ShouldRun = c.Latest.Commit
			why = fmt.Sprintf("newest deploy #%d (%s)", c.Latest.ID, c.Latest.Trigger)
			if env != nil && env.Branch != "" {
				why = "follows branch " + env.Branch + "; " + why
			}
		}
		if !seen {
			continue
		}
		es.InSync = es.Running != nil && es.Running.Commit == es.ShouldRun
		if h, ok := held[Key{App: app, Environment: name}]; ok {
			es.Held = &h
			why += "; held: " + h.Reason
		}
		if f, ok := frozen[name]; ok {
			es.Frozen, es.FrozenReason = true, f.Reason
			why += "; environment frozen"
			if f.Reason != "" {
				why += ": " + f.Reason
			}
		}
		if es.Latest != nil && !es.Latest.State.Terminal() {
			why += "; deploy #" + strconv.FormatInt(es.Latest.ID, 10) + " is " + string(es.Latest.State)
		}
		es.Why = why
		st.Environments = append(st.Environments, es)
	}
	if len(st.Environments) == 0 {
		return nil, fmt.Errorf("app %s: no deploy or promotion recorded: %w", app, history.ErrNotFound)
	}
	return st, nil
}

func orAnonymous(s string) string {
	if s == "" {
		return Anonymous
	}
	return s
}

// feeding describes how an environment gets revisions.
func feeding(e *environments.Environment) string {
	if e.PromoteFrom == "" {
		return "branch " + e.Branch
	}
	f := "promoted from " + e.PromoteFrom
	if e.After.Duration > 0 {
		f += " after " + compactDuration(e.After.Duration)
	}
	if e.Auto {
		f += " (auto)"
	}
	return f
}

// envOrder lists environment names in platform order, then those only the history knows, by name.
func (s *Server) envOrder(p *environments.Platform, cur []history.Current) []string {
	var out []string
	if p != nil {
		for _, e := range p.Environments {
			out = append(out, e.Name)
		}
	}
	var extra []string
	for _, c := range cur {
		if !slices.Contains(out, c.Environment) && !slices.Contains(extra, c.Environment) {
			extra = append(extra, c.Environment)
		}
	}
	slices.Sort(extra)
	return append(out, extra...)
}

// frozen returns the frozen environments with the event that froze each, from the history
// store: every replica reads the same shared state, so a follower answers as the leader does,
// and a freeze shows as long as it holds, across restarts and failovers.
func (s *Server) frozen(ctx context.Context) (map[string]history.Freeze, error) {
	fs, err := s.opts.Store.Freezes(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]history.Freeze, len(fs))
	for _, f := range fs {
		if f.Frozen {
			out[f.Environment] = f
		}
	}
	return out, nil
}

func (s *Server) heldByKey() map[Key]Held {
	out := map[Key]Held{}
	if s.opts.Operator == nil {
		return out
	}
	for _, h := range s.opts.Operator.Held() {
		out[h.Key] = h
	}
	return out
}

// EnvironmentInfo describes one environment for GET /environments.
type EnvironmentInfo struct {
	Name string `json:"name"`
	// Feeding says how it gets revisions: "branch main", "promoted from dev after 1h0m0s (auto)".
	Feeding     string `json:"feeding"`
	Branch      string `json:"branch,omitempty"`
	PromoteFrom string `json:"promoteFrom,omitempty"`
	Suspended   bool   `json:"suspended,omitempty"`
	// Frozen is set while an operator froze it; FrozenReason is what they gave, FrozenBy who
	// they were and FrozenSince when.
	Frozen       bool      `json:"frozen"`
	FrozenReason string    `json:"frozenReason,omitempty"`
	FrozenBy     string    `json:"frozenBy,omitempty"`
	FrozenSince  time.Time `json:"frozenSince,omitzero"`
}

func (s *Server) environments(w http.ResponseWriter, r *http.Request) {
	out := []EnvironmentInfo{}
	frozen, err := s.frozen(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if p := s.opts.Platform(); p != nil {
		for i := range p.Environments {
			e := &p.Environments[i]
			f, isFrozen := frozen[e.Name]
			out = append(out, EnvironmentInfo{Name: e.Name, Feeding: feeding(e), Branch: e.Branch, PromoteFrom: e.PromoteFrom,
				Suspended: e.Suspended, Frozen: isFrozen, FrozenReason: f.Reason, FrozenBy: f.By, FrozenSince: f.Time})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// compactDuration prints d as Go does, without zero minutes and seconds: 1h, 1h30m, 45s.
func compactDuration(d time.Duration) string {
	s := d.String()
	if d%time.Minute == 0 {
		s = strings.TrimSuffix(s, "0s")
	}
	if d%time.Hour == 0 {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
