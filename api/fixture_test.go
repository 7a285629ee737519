package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/history"
)

// now is the fixed clock of every test.
var now = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func sha(c byte) string { return strings.Repeat(string(c), 40) }

// testPlatform has a branch-fed dev and a prod promoted from it.
func testPlatform() *environments.Platform {
	return &environments.Platform{
		Environments: []environments.Environment{
			{Name: "dev", Branch: "main"},
			{Name: "prod", PromoteFrom: "dev", After: environments.Duration{Duration: time.Hour}},
		},
		Teams: []environments.Team{{Name: "dagpenger"}, {Name: "tiltak"}},
	}
}

// fixture is a real SQLite history store seeded through its own methods, and the IDs made.
type fixture struct {
	store history.Store
	// ids names the seeded deploys: "behandling-dev-1" …
	ids map[string]int64
}

// deploySpec is one deploy to seed: created at start, then moved through states.
type deploySpec struct {
	name, app, team, env, commit string
	trigger                      history.Trigger
	by                           string
	start                        time.Time
	took                         time.Duration
	final                        history.State
	message                      string
	objects                      []history.Object
}

func openStore(t *testing.T) history.Store {
	t.Helper()
	st, err := history.Open(t.Context(), filepath.Join(t.TempDir(), "history.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func (f *fixture) add(t *testing.T, d deploySpec) int64 {
	t.Helper()
	ctx := t.Context()
	dep := &history.Deploy{App: d.app, Team: d.team, Environment: d.env, Cluster: d.env + "-gcp",
		Repository: "https://github.com/navikt/" + d.app, Commit: d.commit, CommitAuthor: "Kari Nordmann",
		CommitTime: d.start.Add(-20 * time.Minute), CommitMessage: "Endre " + d.app,
		Trigger: d.trigger, TriggeredBy: d.by, StartedAt: d.start, Images: []string{"ghcr.io/navikt/" + d.app + ":" + d.commit[:7]}}
	id, err := f.store.CreateDeploy(ctx, dep)
	if err != nil {
		t.Fatal(err)
	}
	f.ids[d.name] = id
	if d.final == history.StateQueued {
		return id
	}
	if _, err := f.store.AppendStatus(ctx, id, history.Status{State: history.StateInProgress, Step: "apply", Message: "applying", Time: d.start.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	if len(d.objects) > 0 {
		if err := f.store.RecordObjects(ctx, id, d.objects); err != nil {
			t.Fatal(err)
		}
	}
	if d.final == history.StateInProgress {
		return id
	}
	if _, err := f.store.AppendStatus(ctx, id, history.Status{State: d.final, Step: "wait", Message: d.message, Time: d.start.Add(d.took)}); err != nil {
		t.Fatal(err)
	}
	return id
}

var appObjects = []history.Object{
	{Group: "nais.io", Version: "v1alpha1", Kind: "Application", Namespace: "teamdagpenger", Name: "dp-behandling", Action: history.ActionConfigured},
	{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "teamdagpenger", Name: "dp-behandling", Action: history.ActionConfigured},
	{Version: "v1", Kind: "ConfigMap", Namespace: "teamdagpenger", Name: "dp-behandling-config", Action: history.ActionCreated},
}

// seed fills a store with two teams' deploys over the last days: dp-behandling ran A then B
// in dev and C failed there; prod was promoted A. tiltaksgjennomforing succeeded in dev and has
// a deploy in progress.
// freeze records in the store that alice froze env at now, as the controller does: the API
// reads the freeze state from the store.
func (f *fixture) freeze(t *testing.T, env, reason string) {
	t.Helper()
	if _, err := f.store.AppendFreeze(t.Context(), history.Freeze{Environment: env, Frozen: true, Reason: reason, By: "alice", Time: now}); err != nil {
		t.Fatal(err)
	}
}

func seed(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{store: openStore(t), ids: map[string]int64{}}
	day := 24 * time.Hour
	f.add(t, deploySpec{name: "behandling-dev-a", app: "dp-behandling", team: "dagpenger", env: "dev", commit: sha('a'),
		trigger: history.TriggerPush, by: "kari", start: now.Add(-3 * day), took: 2 * time.Minute, final: history.StateSuccess, message: "all objects ready", objects: appObjects})
	f.add(t, deploySpec{name: "behandling-prod-a", app: "dp-behandling", team: "dagpenger", env: "prod", commit: sha('a'),
		trigger: history.TriggerPromotion, by: "alice", start: now.Add(-2 * day), took: 3 * time.Minute, final: history.StateSuccess, message: "all objects ready", objects: appObjects})
	f.add(t, deploySpec{name: "behandling-dev-b", app: "dp-behandling", team: "dagpenger", env: "dev", commit: sha('b'),
		trigger: history.TriggerPush, by: "kari", start: now.Add(-day), took: 2 * time.Minute, final: history.StateSuccess, message: "all objects ready", objects: appObjects})
	f.add(t, deploySpec{name: "behandling-dev-c", app: "dp-behandling", team: "dagpenger", env: "dev", commit: sha('c'),
		trigger: history.TriggerPush, by: "ola", start: now.Add(-2 * time.Hour), took: 5 * time.Minute, final: history.StateFailure, message: "crash loop: container dp-behandling exited 1"})
	f.add(t, deploySpec{name: "tiltak-dev-d", app: "tiltaksgjennomforing", team: "tiltak", env: "dev", commit: sha('d'),
		trigger: history.TriggerPoll, by: "flyt", start: now.Add(-30 * time.Hour), took: time.Minute, final: history.StateSuccess, message: "all objects ready"})
	f.add(t, deploySpec{name: "tiltak-dev-e", app: "tiltaksgjennomforing", team: "tiltak", env: "dev", commit: sha('e'),
		trigger: history.TriggerPush, by: "per", start: now.Add(-time.Minute), final: history.StateInProgress})
	if _, err := f.store.AppendDesired(t.Context(), history.DesiredRevision{App: "dp-behandling", Environment: "prod", Commit: sha('a'),
		Trigger: history.TriggerPromotion, By: "alice", Reason: "release 1.4", Time: now.Add(-2 * day)}); err != nil {
		t.Fatal(err)
	}
	return f
}

// fakeOperator stands in for the controller only to check that the HTTP layer maps requests,
// results and errors; the controller itself is tested end to end elsewhere.
type fakeOperator struct {
	err    error
	result *history.DesiredRevision

	mu       gosync.Mutex
	promotes []PromoteRequest
	rolls    []RollbackRequest
	redeploy []string
	frozen   map[string]string
	freezes  []string // the Freeze and Unfreeze calls
	held     []Held
}

var _ Operator = (*fakeOperator)(nil)

func newFakeOperator() *fakeOperator { return &fakeOperator{frozen: map[string]string{}} }

func (o *fakeOperator) Promote(_ context.Context, r PromoteRequest) (*history.DesiredRevision, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.promotes = append(o.promotes, r)
	if o.err != nil {
		return nil, o.err
	}
	return o.result, nil
}

func (o *fakeOperator) Rollback(_ context.Context, r RollbackRequest) (*history.DesiredRevision, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.rolls = append(o.rolls, r)
	if o.err != nil {
		return nil, o.err
	}
	return o.result, nil
}

func (o *fakeOperator) Redeploy(app, env, by, reason string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.redeploy = append(o.redeploy, strings.Join([]string{app, env, by, reason}, "|"))
	return o.err
}

func (o *fakeOperator) Freeze(_ context.Context, env, by, reason string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.freezes = append(o.freezes, strings.Join([]string{"freeze", env, by, reason}, "|"))
	if o.err != nil {
		return o.err
	}
	o.frozen[env] = reason
	return nil
}

func (o *fakeOperator) Unfreeze(_ context.Context, env, by string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.freezes = append(o.freezes, strings.Join([]string{"unfreeze", env, by}, "|"))
	if o.err != nil {
		return o.err
	}
	delete(o.frozen, env)
	return nil
}

func (o *fakeOperator) Frozen() map[string]string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[string]string{}
	for k, v := range o.frozen {
		out[k] = v
	}
	return out
}

func (o *fakeOperator) Held() []Held {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Held(nil), o.held...)
}

// serve starts the API on a real listener.
func serve(t *testing.T, opts Options) *httptest.Server {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return now }
	}
	if opts.Platform == nil {
		opts.Platform = testPlatform
	}
	srv := httptest.NewServer(NewServer(opts).Handler())
	t.Cleanup(srv.Close)
	return srv
}

// call makes a request and returns the status and body.
func call(t *testing.T, method, url, body string, header ...string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data
}

func decodeJSON[T any](t *testing.T, data []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return v
}

var errBoom = errors.New("database at postgres://flyt:hunter2@db/flyt is gone")

const (
	time1h = time.Hour
	time1m = time.Minute
)
