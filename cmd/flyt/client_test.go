package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/flyt-platform/flyt/api"
	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/history"
)

func repeatSHA(c byte) string { return strings.Repeat(string(c), 40) }

// cliOperator stands in for the controller so these tests check the CLI and the HTTP layer:
// it refuses unforced promotions of a revision that has not soaked, and records what a real
// controller would (desired revisions, freezes) in the real store.
type cliOperator struct {
	store history.Store

	mu       gosync.Mutex
	redeploy []string
}

var _ api.Operator = (*cliOperator)(nil)

func (o *cliOperator) Promote(ctx context.Context, r api.PromoteRequest) (*history.DesiredRevision, error) {
	if r.To != "prod" {
		return nil, fmt.Errorf("promote %s to %s: %w", r.App, r.To, environments.ErrNotPromotable)
	}
	commit := repeatSHA('b')
	if !r.Force {
		return nil, &environments.RefusedError{Env: r.To, Revision: commit, Reason: environments.NotSoaked,
			Detail: "it has run in dev for 20m0s of the required 1h0m0s", Until: time.Date(2026, 11, 20, 12, 40, 0, 0, time.UTC)}
	}
	return o.desire(ctx, history.DesiredRevision{App: r.App, Environment: r.To, Commit: commit, Trigger: history.TriggerPromotion, By: r.By, Reason: r.Reason, Forced: r.Force})
}

func (o *cliOperator) Rollback(ctx context.Context, r api.RollbackRequest) (*history.DesiredRevision, error) {
	if r.To == "" {
		return nil, fmt.Errorf("rollback %s: %w", r.App, api.ErrNoRollbackTarget)
	}
	return o.desire(ctx, history.DesiredRevision{App: r.App, Environment: r.Environment, Commit: repeatSHA('a'), Trigger: history.TriggerRollback, By: r.By, Reason: r.Reason})
}

func (o *cliOperator) desire(ctx context.Context, d history.DesiredRevision) (*history.DesiredRevision, error) {
	id, err := o.store.AppendDesired(ctx, d)
	if err != nil {
		return nil, err
	}
	d.ID = id
	return &d, nil
}

func (o *cliOperator) Redeploy(app, env, by, reason string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if app == "nobody" {
		return fmt.Errorf("redeploy: %w", api.ErrUnknownApp)
	}
	o.redeploy = append(o.redeploy, app+"|"+env+"|"+by+"|"+reason)
	return nil
}

func (o *cliOperator) Freeze(ctx context.Context, env, by, reason string) error {
	_, err := o.store.AppendFreeze(ctx, history.Freeze{Environment: env, Frozen: true, By: by, Reason: reason})
	return err
}

func (o *cliOperator) Unfreeze(ctx context.Context, env, by string) error {
	_, err := o.store.AppendFreeze(ctx, history.Freeze{Environment: env, Frozen: false, By: by})
	return err
}

// frozen returns the store's freeze state: the frozen environments and the events that froze them.
func (o *cliOperator) frozen(t *testing.T) map[string]history.Freeze {
	t.Helper()
	fs, err := o.store.Freezes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]history.Freeze{}
	for _, f := range fs {
		if f.Frozen {
			out[f.Environment] = f
		}
	}
	return out
}

func (o *cliOperator) Held() []api.Held { return nil }

// cliEnv is a flyt server (api.Server on a real SQLite store) for the CLI to talk to.
type cliEnv struct {
	url   string
	store history.Store
	op    *cliOperator
	ids   map[string]int64
}

// startServer seeds a store: dp-behandling ran a, then b in dev and a in prod; dp-mottak
// failed in dev; bulk-app has 1,100 old deploys so exports cross pages.
func startServer(t *testing.T) *cliEnv {
	t.Helper()
	ctx := t.Context()
	st, err := history.Open(ctx, filepath.Join(t.TempDir(), "history.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e := &cliEnv{store: st, ids: map[string]int64{}, op: &cliOperator{store: st}}
	base := time.Now().Add(-72 * time.Hour).Truncate(time.Second)
	add := func(name, app, env string, commit byte, start time.Time, final history.State, msg string) {
		d := &history.Deploy{App: app, Team: "dagpenger", Environment: env, Cluster: env + "-gcp", Repository: "https://github.com/navikt/" + app,
			Commit: repeatSHA(commit), Trigger: history.TriggerPush, TriggeredBy: "kari", StartedAt: start}
		id, err := st.CreateDeploy(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.AppendStatus(ctx, id, history.Status{State: final, Message: msg, Time: start.Add(90 * time.Second)}); err != nil {
			t.Fatal(err)
		}
		e.ids[name] = id
	}
	add("dev-a", "dp-behandling", "dev", 'a', base, history.StateSuccess, "all objects ready")
	add("prod-a", "dp-behandling", "prod", 'a', base.Add(time.Hour), history.StateSuccess, "all objects ready")
	add("dev-b", "dp-behandling", "dev", 'b', base.Add(48*time.Hour), history.StateSuccess, "all objects ready")
	add("mottak-c", "dp-mottak", "dev", 'c', base.Add(60*time.Hour), history.StateFailure, "crash loop: exit 1\nsecond line")

	bulk := make([]history.DeployDetail, 1100)
	old := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range bulk {
		t0 := old.Add(time.Duration(i) * time.Hour)
		bulk[i] = history.DeployDetail{Deploy: history.Deploy{App: "bulk-app", Team: "bulk", Environment: "dev", Cluster: "dev-gcp",
			Repository: "https://github.com/navikt/bulk-app", Commit: repeatSHA('f'), Trigger: history.TriggerPoll, StartedAt: t0},
			Statuses: []history.Status{{State: history.StateQueued, Time: t0}, {State: history.StateSuccess, Time: t0.Add(time.Minute), Message: "ok, \"quoted\""}}}
	}
	if _, err := st.Import(ctx, bulk); err != nil {
		t.Fatal(err)
	}
	platform := &environments.Platform{Environments: []environments.Environment{
		{Name: "dev", Branch: "main"}, {Name: "prod", PromoteFrom: "dev", After: environments.Duration{Duration: time.Hour}}}}
	srv := httptest.NewServer(api.NewServer(api.Options{Store: st, Operator: e.op, Platform: func() *environments.Platform { return platform }}).Handler())
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

// run runs flyt in-process against the server and returns stdout, stderr, the error and the
// exit code main would use.
func (e *cliEnv) run(t *testing.T, args ...string) (stdout, stderr string, code int, err error) {
	t.Helper()
	t.Setenv("FLYT_SERVER", e.url) // the default of --server
	t.Setenv("USER", "kari")       // the default of --as
	cmd := newRootCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err = cmd.ExecuteContext(t.Context())
	code = 0
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		code = ee.code
	case err != nil:
		code = 1
	}
	return out.String(), errOut.String(), code, err
}

// columnsAligned checks that every line of a table starts column col at the same offset.
func columnsAligned(t *testing.T, table, col string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(table, "\n"), "\n")
	at := strings.Index(lines[0], col)
	if at < 0 {
		t.Fatalf("header %q lacks %s", lines[0], col)
	}
	for _, l := range lines[1:] {
		if len(l) <= at || l[at-1] != ' ' || l[at] == ' ' {
			t.Errorf("column %s not aligned at %d in %q", col, at, l)
		}
	}
}

func TestHistoryCommand(t *testing.T) {
	e := startServer(t)
	tests := []struct {
		name  string
		args  []string
		code  int
		check func(t *testing.T, out, errOut string, err error)
	}{
		{"table of an app", []string{"history", "--app", "dp-behandling"}, 0, func(t *testing.T, out, _ string, _ error) {
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 4 || !strings.HasPrefix(lines[0], "ID ") {
				t.Fatalf("want a header and 3 rows:\n%s", out)
			}
			for i, want := range []string{fmt.Sprint(e.ids["dev-b"]), fmt.Sprint(e.ids["prod-a"]), fmt.Sprint(e.ids["dev-a"])} {
				if f := strings.Fields(lines[i+1]); f[0] != want || f[1] != "dp-behandling" || f[4] != "success" {
					t.Errorf("row %d = %q, want deploy %s", i, lines[i+1], want)
				}
			}
			for _, col := range []string{"APP", "COMMIT", "STATE", "STARTED", "MESSAGE"} {
				columnsAligned(t, out, col)
			}
		}},
		{"messages keep to one line", []string{"history", "--state", "failure"}, 0, func(t *testing.T, out, _ string, _ error) {
			if !strings.Contains(out, "crash loop: exit 1") || strings.Contains(out, "second line") {
				t.Errorf("got:\n%s", out)
			}
		}},
		{"since a duration ago", []string{"history", "--since", "30h", "-o", "json"}, 0, func(t *testing.T, out, _ string, _ error) {
			var p history.Page
			if err := json.Unmarshal([]byte(out), &p); err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, d := range p.Deploys {
				got = append(got, d.ID)
			}
			if diff := cmp.Diff([]int64{e.ids["mottak-c"], e.ids["dev-b"]}, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		}},
		{"yaml", []string{"history", "--env", "prod", "-o", "yaml"}, 0, func(t *testing.T, out, _ string, _ error) {
			var p history.Page
			if err := yaml.Unmarshal([]byte(out), &p); err != nil || len(p.Deploys) != 1 || p.Deploys[0].Environment != "prod" {
				t.Errorf("got %v %+v from:\n%s", err, p, out)
			}
		}},
		{"paging hint", []string{"history", "--app", "bulk-app", "--limit", "2"}, 0, func(t *testing.T, out, errOut string, _ error) {
			if n := strings.Count(out, "bulk-app"); n != 2 || !strings.Contains(errOut, "More deploys: add --cursor ") {
				t.Errorf("got %d rows, stderr %q", n, errOut)
			}
		}},
		{"bad state", []string{"history", "--state", "done"}, 1, errMentions("parameter state")},
		{"bad since", []string{"history", "--since", "last week"}, 1, errMentions("--since")},
		{"bad output", []string{"history", "-o", "xml"}, 1, errMentions("--output")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code, err := e.run(t, tt.args...)
			if code != tt.code {
				t.Fatalf("flyt %s exited %d (%v), want %d", strings.Join(tt.args, " "), code, err, tt.code)
			}
			tt.check(t, out, errOut, err)
		})
	}
}

func errMentions(want string) func(t *testing.T, _, _ string, err error) {
	return func(t *testing.T, _, _ string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %q", err, want)
		}
	}
}

func TestHistoryExport(t *testing.T) {
	e := startServer(t)
	out, _, code, err := e.run(t, "history", "export", "--format", "csv", "--team", "bulk")
	if code != 0 {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(exportColumns, rows[0]); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	if len(rows) != 1101 {
		t.Fatalf("got %d rows, want a header and 1,100 deploys across pages", len(rows))
	}
	seen := map[string]bool{}
	for _, r := range rows[1:] {
		if seen[r[0]] {
			t.Fatalf("deploy %s exported twice", r[0])
		}
		seen[r[0]] = true
		if r[1] != "bulk-app" || r[13] != "success" || r[14] != `ok, "quoted"` {
			t.Fatalf("row %q", r)
		}
	}
	if rows[1][17] != "2025-02-15T19:00:00Z" { // the newest: hour 1,099 of 2025
		t.Errorf("first row started %s, want the newest deploy first", rows[1][17])
	}

	out, _, code, err = e.run(t, "history", "export", "--format", "json", "--app", "bulk-app")
	if code != 0 {
		t.Fatal(err)
	}
	var ds []history.Deploy
	if err := json.Unmarshal([]byte(out), &ds); err != nil {
		t.Fatalf("export is not a JSON array: %v", err)
	}
	if len(ds) != 1100 || ds[0].App != "bulk-app" {
		t.Errorf("got %d deploys", len(ds))
	}

	out, _, code, _ = e.run(t, "history", "export", "--format", "json", "--app", "nobody")
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("empty export = %q", out)
	}
	if _, _, code, err := e.run(t, "history", "export", "--format", "xml"); code != 1 || !strings.Contains(err.Error(), "--format") {
		t.Errorf("bad format exited %d: %v", code, err)
	}
}

func TestStatusCommand(t *testing.T) {
	e := startServer(t)
	if err := e.op.Freeze(t.Context(), "prod", "alice", "julebord"); err != nil {
		t.Fatal(err)
	}
	out, _, code, err := e.run(t, "status")
	if code != 0 {
		t.Fatal(err)
	}
	want := []string{
		"APP             TEAM        DEV                    PROD (FROZEN)",
		"bulk-app        bulk        fffffff                -",
		"dp-behandling   dagpenger   bbbbbbb                aaaaaaa",
		"dp-mottak       dagpenger   - -> ccccccc failure   -",
	}
	if diff := cmp.Diff(want, strings.Split(strings.TrimRight(out, "\n"), "\n")); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}

	out, _, code, err = e.run(t, "status", "dp-behandling")
	if code != 0 {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ENV") {
		t.Fatalf("status dp-behandling:\n%s", out)
	}
	if f := strings.Fields(lines[1]); f[0] != "dev" || f[1] != "bbbbbbb" || f[2] != "bbbbbbb" || f[3] != "in" {
		t.Errorf("dev row %q", lines[1])
	}
	if !strings.Contains(lines[2], "nothing promoted here yet from dev") || !strings.Contains(lines[2], "environment frozen: julebord") {
		t.Errorf("prod row %q", lines[2])
	}
	columnsAligned(t, out, "WHY")

	out, _, code, _ = e.run(t, "status", "dp-behandling", "-o", "json")
	var st api.AppStatus
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || len(st.Environments) != 2 {
		t.Errorf("status -o json = %s", out)
	}
	if _, _, code, err := e.run(t, "status", "nobody"); code != 1 || !strings.Contains(err.Error(), "nobody") {
		t.Errorf("unknown app exited %d: %v", code, err)
	}
}

func TestOperatorCommands(t *testing.T) {
	e := startServer(t)

	// Refused: the reason and detail are printed and flyt exits 1.
	_, errOut, code, err := e.run(t, "promote", "dp-behandling", "--to", "prod")
	if code != 1 || err == nil {
		t.Fatalf("refused promotion exited %d", code)
	}
	wantRefusal := "promotion of dp-behandling to prod refused (NotSoaked): it has run in dev for 20m0s of the required 1h0m0s\n" +
		"possible from 2026-11-20T12:40:00Z\n" +
		"--force overrides the refusal; it is recorded with who (--as) and why (--reason)\n"
	if diff := cmp.Diff(wantRefusal, errOut); diff != "" {
		t.Errorf("refusal on stderr (-want +got):\n%s", diff)
	}
	if _, err := e.store.Desired(t.Context(), "dp-behandling", "prod"); !errors.Is(err, history.ErrNotFound) {
		t.Errorf("a refused promotion recorded a desired revision: %v", err)
	}

	out, _, code, err := e.run(t, "promote", "dp-behandling", "--to", "prod", "--force", "--reason", "security fix", "--as", "alice")
	if code != 0 || out != "dp-behandling promoted bbbbbbb to prod (forced); its deploy is queued\n" {
		t.Fatalf("forced promotion exited %d (%v): %q", code, err, out)
	}
	d, err := e.store.Desired(t.Context(), "dp-behandling", "prod")
	if err != nil || d.By != "alice" || d.Reason != "security fix" || !d.Forced {
		t.Errorf("desired revision %+v, %v: want forced by alice with the reason", d, err)
	}
	out, _, _, _ = e.run(t, "status", "dp-behandling")
	if !strings.Contains(out, "promotion by alice") || !strings.Contains(out, "out of sync") {
		t.Errorf("status after promotion:\n%s", out)
	}

	if _, _, code, err := e.run(t, "promote", "dp-behandling", "--to", "dev"); code != 1 || !strings.Contains(err.Error(), "not fed by promotion") {
		t.Errorf("promotion to dev exited %d: %v", code, err)
	}
	if _, _, code, err := e.run(t, "promote", "dp-behandling"); code != 1 || !strings.Contains(err.Error(), `"to" not set`) {
		t.Errorf("promotion without --to exited %d: %v", code, err)
	}

	out, _, code, err = e.run(t, "rollback", "dp-behandling", "--env", "prod", "--to", fmt.Sprint(e.ids["prod-a"]), "-o", "yaml")
	var rb history.DesiredRevision
	if code != 0 || yaml.Unmarshal([]byte(out), &rb) != nil || rb.Trigger != history.TriggerRollback || rb.By != "kari" {
		t.Errorf("rollback exited %d (%v): %s", code, err, out)
	}
	if _, _, code, err := e.run(t, "rollback", "dp-behandling", "--env", "dev"); code != 1 || !strings.Contains(err.Error(), "no earlier successful revision") {
		t.Errorf("rollback without target exited %d: %v", code, err)
	}

	out, _, code, err = e.run(t, "deploy", "dp-behandling", "--env", "dev", "--reason", "secret rotated")
	if code != 0 || !strings.Contains(out, "deploy queued") {
		t.Errorf("deploy exited %d (%v): %q", code, err, out)
	}
	if diff := cmp.Diff([]string{"dp-behandling|dev|kari|secret rotated"}, e.op.redeploy); diff != "" {
		t.Errorf("redeploys (-want +got):\n%s", diff)
	}
	if _, _, code, err := e.run(t, "deploy", "nobody", "--env", "dev"); code != 1 || !strings.Contains(err.Error(), "no watched repository") {
		t.Errorf("deploy of an unknown app exited %d: %v", code, err)
	}

	out, _, code, _ = e.run(t, "freeze", "prod", "--reason", "julebord")
	if f := e.op.frozen(t)["prod"]; code != 0 || out != "prod frozen: julebord\n" || f.Reason != "julebord" || f.By == "" {
		t.Errorf("freeze exited %d: %q", code, out)
	}
	out, _, _, _ = e.run(t, "status")
	if !strings.Contains(out, "PROD (FROZEN)") {
		t.Errorf("status does not show the freeze:\n%s", out)
	}
	out, _, code, _ = e.run(t, "unfreeze", "prod")
	if _, still := e.op.frozen(t)["prod"]; code != 0 || out != "prod unfrozen; held deploys are released\n" || still {
		t.Errorf("unfreeze exited %d: %q", code, out)
	}
	if _, _, code, err := e.run(t, "freeze", "staging"); code != 1 || !strings.Contains(err.Error(), "staging") {
		t.Errorf("freezing an unknown environment exited %d: %v", code, err)
	}
}

func TestClientErrors(t *testing.T) {
	st, err := history.Open(t.Context(), filepath.Join(t.TempDir(), "history.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	readOnly := httptest.NewServer(api.NewServer(api.Options{Store: st}).Handler())
	t.Cleanup(readOnly.Close)
	e := &cliEnv{url: readOnly.URL}
	if _, _, code, err := e.run(t, "freeze", "prod"); code != 1 || !strings.Contains(err.Error(), "this replica does not reconcile") {
		t.Errorf("freeze on a read-only replica exited %d: %v", code, err)
	}
	readOnly.Close()
	if _, _, code, err := e.run(t, "history"); code != 1 || !strings.Contains(err.Error(), "reach flyt server") {
		t.Errorf("history without a server exited %d: %v", code, err)
	}
}
