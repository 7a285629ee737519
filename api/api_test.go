package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/history"
)

func TestQueries(t *testing.T) {
	f := seed(t)
	op := newFakeOperator()
	f.freeze(t, "prod", "julebord")
	op.held = []Held{{Key: Key{App: "dp-behandling", Environment: "prod"}, Commit: sha('b'), Trigger: "auto-promotion", Reason: "the environment is frozen"}}
	srv := serve(t, Options{Store: f.store, Operator: op})
	id := f.ids

	ids := func(ds []history.Deploy) []int64 {
		var out []int64
		for _, d := range ds {
			out = append(out, d.ID)
		}
		return out
	}
	tests := []struct {
		name   string
		path   string
		status int
		check  func(t *testing.T, body []byte)
	}{
		{"all deploys newest first", "/api/v1/deploys", 200, func(t *testing.T, b []byte) {
			p := decodeJSON[history.Page](t, b)
			want := []int64{id["tiltak-dev-e"], id["behandling-dev-c"], id["behandling-dev-b"], id["tiltak-dev-d"], id["behandling-prod-a"], id["behandling-dev-a"]}
			if diff := cmp.Diff(want, ids(p.Deploys)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		}},
		{"filtered by team, env and state", "/api/v1/deploys?team=dagpenger&env=dev&state=success", 200, func(t *testing.T, b []byte) {
			p := decodeJSON[history.Page](t, b)
			if diff := cmp.Diff([]int64{id["behandling-dev-b"], id["behandling-dev-a"]}, ids(p.Deploys)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		}},
		{"filtered by trigger, commit and time", "/api/v1/deploys?trigger=push&commit=" + sha('b')[:7] + "&since=" + now.Add(-48*time.Hour).Format(time.RFC3339) + "&until=" + now.Format(time.RFC3339), 200, func(t *testing.T, b []byte) {
			p := decodeJSON[history.Page](t, b)
			if diff := cmp.Diff([]int64{id["behandling-dev-b"]}, ids(p.Deploys)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		}},
		{"paged with a cursor", "/api/v1/deploys?limit=4", 200, func(t *testing.T, b []byte) {
			p := decodeJSON[history.Page](t, b)
			if len(p.Deploys) != 4 || p.Next == "" {
				t.Fatalf("got %d deploys and next %q, want 4 and a cursor", len(p.Deploys), p.Next)
			}
			_, b2 := call(t, "GET", srv.URL+"/api/v1/deploys?limit=4&cursor="+p.Next, "")
			p2 := decodeJSON[history.Page](t, b2)
			if diff := cmp.Diff([]int64{id["behandling-prod-a"], id["behandling-dev-a"]}, ids(p2.Deploys)); diff != "" || p2.Next != "" {
				t.Errorf("second page (-want +got):\n%s next %q", diff, p2.Next)
			}
		}},
		{"no match is an empty list", "/api/v1/deploys?app=nobody", 200, func(t *testing.T, b []byte) {
			if !strings.Contains(string(b), `"deploys": []`) {
				t.Errorf("body %s, want an empty deploys array", b)
			}
		}},
		{"bad state", "/api/v1/deploys?state=done", 400, errorNames("state")},
		{"bad trigger", "/api/v1/deploys?trigger=cron", 400, errorNames("trigger")},
		{"bad since", "/api/v1/deploys?since=yesterday", 400, errorNames("since")},
		{"bad until", "/api/v1/deploys?until=2026-13-01", 400, errorNames("until")},
		{"bad limit", "/api/v1/deploys?limit=-1", 400, errorNames("limit")},
		{"short commit", "/api/v1/deploys?commit=abc", 400, errorNames("commit")},
		{"bad cursor", "/api/v1/deploys?cursor=not-a-cursor", 400, errorNames("cursor")},
		{"one deploy", fmt.Sprintf("/api/v1/deploys/%d", id["behandling-dev-a"]), 200, func(t *testing.T, b []byte) {
			d := decodeJSON[history.DeployDetail](t, b)
			if d.App != "dp-behandling" || d.Commit != sha('a') || len(d.Statuses) != 3 || d.State != history.StateSuccess {
				t.Errorf("got %+v", d)
			}
			if diff := cmp.Diff(appObjects, d.Objects); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
		}},
		{"unknown deploy", "/api/v1/deploys/9999", 404, errorNames("not found")},
		{"bad deploy id", "/api/v1/deploys/abc", 400, errorNames("id")},
		{"current matrix", "/api/v1/current", 200, func(t *testing.T, b []byte) {
			cur := decodeJSON[[]history.Current](t, b)
			var got []string
			for _, c := range cur {
				run := "-"
				if c.LastSuccess != nil {
					run = c.LastSuccess.Commit[:1]
				}
				got = append(got, c.App+"@"+c.Environment+" runs "+run+" latest "+string(c.Latest.State))
			}
			want := []string{"dp-behandling@dev runs b latest failure", "dp-behandling@prod runs a latest success", "tiltaksgjennomforing@dev runs d latest in_progress"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		}},
		{"current of one team", "/api/v1/current?team=tiltak", 200, func(t *testing.T, b []byte) {
			if cur := decodeJSON[[]history.Current](t, b); len(cur) != 1 || cur[0].App != "tiltaksgjennomforing" {
				t.Errorf("got %+v", cur)
			}
		}},
		{"what ran in dev two days ago", "/api/v1/at?env=dev&time=" + now.Add(-40*time.Hour).Format(time.RFC3339), 200, func(t *testing.T, b []byte) {
			at := decodeJSON[AtResponse](t, b)
			if diff := cmp.Diff([]int64{id["behandling-dev-a"]}, ids(at.Deploys)); diff != "" || at.Environment != "dev" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		}},
		{"what runs in dev now", "/api/v1/at?env=dev", 200, func(t *testing.T, b []byte) {
			at := decodeJSON[AtResponse](t, b)
			if diff := cmp.Diff([]int64{id["behandling-dev-b"], id["tiltak-dev-d"]}, ids(at.Deploys)); diff != "" || !at.Time.Equal(now) {
				t.Errorf("(-want +got):\n%s time %v", diff, at.Time)
			}
		}},
		{"at needs env", "/api/v1/at", 400, errorNames("env")},
		{"at with a bad time", "/api/v1/at?env=dev&time=noon", 400, errorNames("time")},
		{"dora of a team", "/api/v1/dora?team=dagpenger&since=" + now.Add(-7*24*time.Hour).Format(time.RFC3339), 200, func(t *testing.T, b []byte) {
			m := decodeJSON[history.DORA](t, b)
			if m.Deploys != 4 || m.Successes != 3 || m.Failures != 1 || m.Unrestored != 1 || len(m.Days) != 8 {
				t.Errorf("got deploys %d successes %d failures %d unrestored %d days %d", m.Deploys, m.Successes, m.Failures, m.Unrestored, len(m.Days))
			}
		}},
		{"dora window backwards", "/api/v1/dora?since=" + now.Format(time.RFC3339) + "&until=" + now.Add(-time.Hour).Format(time.RFC3339), 400, errorNames("since")},
		{"app status", "/api/v1/apps/dp-behandling/status", 200, func(t *testing.T, b []byte) {
			st := decodeJSON[AppStatus](t, b)
			type row struct {
				Env, Runs, Should string
				InSync, Frozen    bool
				Held              bool
			}
			var got []row
			for _, e := range st.Environments {
				got = append(got, row{e.Environment, e.Running.Commit[:1], e.ShouldRun[:1], e.InSync, e.Frozen, e.Held != nil})
			}
			want := []row{{"dev", "b", "c", false, false, false}, {"prod", "a", "a", true, true, true}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if st.Team != "dagpenger" {
				t.Errorf("team %q", st.Team)
			}
			for _, w := range []string{"promotion by alice", "release 1.4", "held: the environment is frozen", "environment frozen: julebord"} {
				if !strings.Contains(st.Environments[1].Why, w) {
					t.Errorf("prod why %q lacks %q", st.Environments[1].Why, w)
				}
			}
			if !strings.Contains(st.Environments[0].Why, "follows branch main") {
				t.Errorf("dev why %q", st.Environments[0].Why)
			}
		}},
		{"unknown app status", "/api/v1/apps/nobody/status", 404, errorNames("nobody")},
		{"held", "/api/v1/held", 200, func(t *testing.T, b []byte) {
			if diff := cmp.Diff(op.held, decodeJSON[[]Held](t, b)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		}},
		{"environments", "/api/v1/environments", 200, func(t *testing.T, b []byte) {
			want := []EnvironmentInfo{
				{Name: "dev", Feeding: "branch main", Branch: "main"},
				{Name: "prod", Feeding: "promoted from dev after 1h", PromoteFrom: "dev", Frozen: true, FrozenReason: "julebord", FrozenBy: "alice", FrozenSince: now},
			}
			if diff := cmp.Diff(want, decodeJSON[[]EnvironmentInfo](t, b)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			// A replica without a controller (a follower) reads the same freeze state from the
			// shared store.
			follower := serve(t, Options{Store: f.store})
			status, body := call(t, "GET", follower.URL+"/api/v1/environments", "")
			if diff := cmp.Diff(want, decodeJSON[[]EnvironmentInfo](t, body)); diff != "" || status != http.StatusOK {
				t.Errorf("on a follower: status %d, (-want +got):\n%s", status, diff)
			}
		}},
		{"unknown API route", "/api/v1/nothing", 404, errorNames("no such API route")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := call(t, "GET", srv.URL+tt.path, "")
			if status != tt.status {
				t.Fatalf("GET %s = %d, want %d; body %s", tt.path, status, tt.status, body)
			}
			tt.check(t, body)
		})
	}
}

// errorNames checks a JSON error body that mentions want.
func errorNames(want string) func(t *testing.T, b []byte) {
	return func(t *testing.T, b []byte) {
		t.Helper()
		e := decodeJSON[ErrorBody](t, b)
		if !strings.Contains(e.Error, want) {
			t.Errorf("error %q does not mention %q", e.Error, want)
		}
	}
}

func TestActions(t *testing.T) {
	f := seed(t)
	desired := &history.DesiredRevision{ID: 7, App: "dp-behandling", Environment: "prod", Commit: sha('b'), Trigger: history.TriggerPromotion, By: "alice", Time: now}
	until := now.Add(40 * time.Minute)
	refused := &environments.RefusedError{Env: "prod", Revision: sha('b'), Reason: environments.NotSoaked, Detail: "it has run in dev for 20m0s of the required 1h0m0s", Until: until}

	tests := []struct {
		name         string
		err          error
		method, path string
		body         string
		user         string
		status       int
		want         string // a substring of the response body
		check        func(t *testing.T, op *fakeOperator)
	}{
		{name: "promote", method: "POST", path: "/api/v1/promote", body: `{"app":"dp-behandling","to":"prod","revision":"bbbbbbb","force":true,"reason":"hotfix"}`,
			user: "alice", status: 201, want: `"commit": "` + sha('b'),
			check: func(t *testing.T, op *fakeOperator) {
				want := []PromoteRequest{{App: "dp-behandling", To: "prod", Revision: "bbbbbbb", Force: true, By: "alice", Reason: "hotfix"}}
				if diff := cmp.Diff(want, op.promotes); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			}},
		{name: "promote by nobody in particular", method: "POST", path: "/api/v1/promote", body: `{"app":"dp-behandling","to":"prod","by":"mallory"}`,
			status: 201, check: func(t *testing.T, op *fakeOperator) {
				if op.promotes[0].By != Anonymous {
					t.Errorf("by = %q, want %q: the header, not the body, says who", op.promotes[0].By, Anonymous)
				}
			}},
		{name: "promote refused", err: refused, method: "POST", path: "/api/v1/promote", body: `{"app":"dp-behandling","to":"prod"}`,
			status: 409, want: `"reason": "NotSoaked"`, check: func(t *testing.T, _ *fakeOperator) {}},
		{name: "promote to a branch-fed environment", err: fmt.Errorf("promote x to dev: %w", environments.ErrNotPromotable), method: "POST", path: "/api/v1/promote",
			body: `{"app":"dp-behandling","to":"dev"}`, status: 409, want: "not fed by promotion"},
		{name: "promote an unknown app", err: fmt.Errorf("promote x: %w", ErrUnknownApp), method: "POST", path: "/api/v1/promote",
			body: `{"app":"x","to":"prod"}`, status: 404, want: "no watched repository"},
		{name: "promote to an unknown environment", err: fmt.Errorf("promote x: %w", ErrUnknownEnvironment), method: "POST", path: "/api/v1/promote",
			body: `{"app":"x","to":"staging"}`, status: 404, want: "no such environment"},
		{name: "promote without target", method: "POST", path: "/api/v1/promote", body: `{"app":"dp-behandling"}`, status: 400, want: "field to is required",
			check: func(t *testing.T, op *fakeOperator) {
				if len(op.promotes) != 0 {
					t.Error("the operator was called for a bad request")
				}
			}},
		{name: "promote with a typo", method: "POST", path: "/api/v1/promote", body: `{"app":"dp-behandling","to":"prod","froce":true}`, status: 400, want: "froce"},
		{name: "promote without body", method: "POST", path: "/api/v1/promote", status: 400, want: "JSON object is required"},
		{name: "internal errors stay inside", err: errBoom, method: "POST", path: "/api/v1/promote", body: `{"app":"dp-behandling","to":"prod"}`,
			status: 500, want: "internal error", check: func(t *testing.T, _ *fakeOperator) {}},
		{name: "rollback", method: "POST", path: "/api/v1/rollback", body: `{"app":"dp-behandling","environment":"dev","to":"3","reason":"crash loop"}`,
			user: "ola", status: 201, want: `"id": 7`, check: func(t *testing.T, op *fakeOperator) {
				want := []RollbackRequest{{App: "dp-behandling", Environment: "dev", To: "3", By: "ola", Reason: "crash loop"}}
				if diff := cmp.Diff(want, op.rolls); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			}},
		{name: "rollback with nothing to go back to", err: fmt.Errorf("rollback: %w", ErrNoRollbackTarget), method: "POST", path: "/api/v1/rollback",
			body: `{"app":"dp-behandling","environment":"dev"}`, status: 409, want: "no earlier successful revision"},
		{name: "rollback without environment", method: "POST", path: "/api/v1/rollback", body: `{"app":"dp-behandling"}`, status: 400, want: "field environment is required"},
		{name: "deploy", method: "POST", path: "/api/v1/deploy", body: `{"app":"dp-behandling","environment":"dev","reason":"config changed"}`,
			user: "kari", status: 202, want: "deploy queued", check: func(t *testing.T, op *fakeOperator) {
				if diff := cmp.Diff([]string{"dp-behandling|dev|kari|config changed"}, op.redeploy); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			}},
		{name: "deploy to an unknown environment", method: "POST", path: "/api/v1/deploy", body: `{"app":"dp-behandling","environment":"staging"}`, status: 404, want: "staging"},
		{name: "deploy of an unknown app", err: fmt.Errorf("redeploy: %w", ErrUnknownApp), method: "POST", path: "/api/v1/deploy",
			body: `{"app":"x","environment":"dev"}`, status: 404, want: "no watched repository"},
		{name: "freeze", method: "POST", path: "/api/v1/environments/prod/freeze", body: `{"reason":"julebord"}`, user: "alice", status: 200, want: `"frozen": true`,
			check: func(t *testing.T, op *fakeOperator) {
				if diff := cmp.Diff([]string{"freeze|prod|alice|julebord"}, op.freezes); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			}},
		{name: "freeze the store cannot record", err: errBoom, method: "POST", path: "/api/v1/environments/prod/freeze", body: `{"reason":"julebord"}`,
			status: 500, want: "internal error", check: func(t *testing.T, op *fakeOperator) {
				if _, ok := op.Frozen()["prod"]; ok {
					t.Error("prod frozen although the freeze failed")
				}
			}},
		{name: "unfreeze the store cannot record", err: errBoom, method: "DELETE", path: "/api/v1/environments/dev/freeze", status: 500, want: "internal error"},
		{name: "freeze without reason", method: "POST", path: "/api/v1/environments/dev/freeze", status: 200, want: `"by": "anonymous"`,
			check: func(t *testing.T, op *fakeOperator) {
				if _, ok := op.Frozen()["dev"]; !ok {
					t.Error("dev not frozen")
				}
			}},
		{name: "freeze an unknown environment", method: "POST", path: "/api/v1/environments/staging/freeze", status: 404, want: "staging"},
		{name: "unfreeze", method: "DELETE", path: "/api/v1/environments/prod/freeze", user: "ola", status: 200, want: `"frozen": false`,
			check: func(t *testing.T, op *fakeOperator) {
				if _, ok := op.Frozen()["prod"]; ok {
					t.Error("prod still frozen")
				}
				if diff := cmp.Diff([]string{"freeze|prod|test|x", "unfreeze|prod|ola"}, op.freezes); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := newFakeOperator()
			op.err, op.result = tt.err, desired
			if tt.path == "/api/v1/environments/prod/freeze" && tt.method == "DELETE" {
				_ = op.Freeze(t.Context(), "prod", "test", "x")
			}
			srv := serve(t, Options{Store: f.store, Operator: op})
			var hdr []string
			if tt.user != "" {
				hdr = []string{UserHeader, tt.user}
			}
			status, body := call(t, tt.method, srv.URL+tt.path, tt.body, hdr...)
			if status != tt.status {
				t.Fatalf("%s %s = %d, want %d; body %s", tt.method, tt.path, status, tt.status, body)
			}
			if !strings.Contains(string(body), tt.want) {
				t.Errorf("body %s lacks %q", body, tt.want)
			}
			if strings.Contains(string(body), "hunter2") {
				t.Errorf("body %s leaks a secret from an internal error", body)
			}
			if tt.check != nil {
				tt.check(t, op)
			}
		})
	}

	t.Run("refusal body", func(t *testing.T) {
		op := newFakeOperator()
		op.err = fmt.Errorf("promote: %w", refused)
		srv := serve(t, Options{Store: f.store, Operator: op})
		status, body := call(t, "POST", srv.URL+"/api/v1/promote", `{"app":"dp-behandling","to":"prod"}`)
		want := ErrorBody{Error: refused.Error(), Reason: environments.NotSoaked, Detail: refused.Detail, Until: until}
		if diff := cmp.Diff(want, decodeJSON[ErrorBody](t, body)); diff != "" || status != http.StatusConflict {
			t.Errorf("status %d, body (-want +got):\n%s", status, diff)
		}
	})

	t.Run("wrong method", func(t *testing.T) {
		srv := serve(t, Options{Store: f.store, Operator: newFakeOperator()})
		req, err := http.NewRequestWithContext(t.Context(), "DELETE", srv.URL+"/api/v1/deploys", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET" || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("DELETE /api/v1/deploys = %d, Allow %q, %s; want a JSON 405 allowing GET", resp.StatusCode, resp.Header.Get("Allow"), resp.Header.Get("Content-Type"))
		}
		status, body := call(t, "GET", srv.URL+"/api/v1/environments/prod/freeze", "")
		if status != http.StatusMethodNotAllowed || !strings.Contains(string(body), "use POST, DELETE") {
			t.Errorf("GET freeze = %d %s", status, body)
		}
	})

	t.Run("replica without operator", func(t *testing.T) {
		srv := serve(t, Options{Store: f.store})
		for _, rt := range apiRoutes {
			if rt.method == "GET" {
				continue
			}
			path := strings.ReplaceAll(rt.path, "{env}", "prod")
			status, body := call(t, rt.method, srv.URL+apiPrefix+path, `{}`)
			if status != http.StatusServiceUnavailable || !strings.Contains(string(body), "this replica does not reconcile") {
				t.Errorf("%s %s = %d %s, want 503", rt.method, path, status, body)
			}
		}
		status, body := call(t, "GET", srv.URL+"/api/v1/held", "")
		if status != 200 || strings.TrimSpace(string(body)) != "[]" {
			t.Errorf("held = %d %s, want an empty list", status, body)
		}
	})
}

func TestStatusOf(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{&environments.RefusedError{Reason: environments.Frozen}, 409},
		{fmt.Errorf("x: %w", history.ErrNotFound), 404},
		{fmt.Errorf("x: %w", history.ErrInvalid), 400},
		{&badRequest{"parameter x"}, 400},
		{errBoom, 500},
	}
	for _, tt := range tests {
		if got := statusOf(tt.err); got != tt.want {
			t.Errorf("statusOf(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
	if !slices.ContainsFunc(apiRoutes, func(r route) bool { return r.path == "/events" }) {
		t.Error("the route table lacks the event stream")
	}
}
