package api

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

func TestUIPages(t *testing.T) {
	f := seed(t)
	op := newFakeOperator()
	f.freeze(t, "prod", "julebord")
	op.held = []Held{{Key: Key{App: "dp-behandling", Environment: "prod"}, Commit: sha('b'), Trigger: "auto-promotion", Reason: "the environment is frozen: julebord"}}
	srv := serve(t, Options{Store: f.store, Operator: op})
	tests := []struct {
		name   string
		path   string
		status int
		want   []string
		absent []string
	}{
		{name: "matrix", path: "/", status: 200, want: []string{
			`<table class="matrix" id="matrix">`,
			`<a href="/apps/dp-behandling">dp-behandling</a>`,
			`<span class="env">prod</span>`, `<span class="badge frozen" title="julebord">frozen</span>`,
			"promoted from dev after 1h",
			// dp-behandling in dev runs b, the newest (c) failed 2 hours ago.
			fmt.Sprintf(`href="/deploys/%d"`, f.ids["behandling-dev-c"]), `<span class="state bad">failure</span>`,
			`<code class="sha">bbbbbbb</code>`, `→ ccccccc`, "2 h ago",
			`<span class="state busy">in progress</span>`,
			`<span class="badge frozen">held</span> bbbbbbb: the environment is frozen: julebord`,
			`<link rel="stylesheet" href="/static/flyt.css">`, `<meta http-equiv="refresh" content="30">`,
		}},
		{name: "a deploy in progress refreshes", path: fmt.Sprintf("/deploys/%d", f.ids["tiltak-dev-e"]), status: 200, want: []string{
			`<meta http-equiv="refresh" content="5">`, `<span class="state big busy" id="deploy-state">in progress</span>`,
		}},
		{name: "matrix of one team", path: "/?team=tiltak", status: 200, want: []string{"tiltaksgjennomforing", `<option value="tiltak" selected>`},
			absent: []string{`href="/apps/dp-behandling"`}},
		{name: "app timeline", path: "/apps/dp-behandling", status: 200, want: []string{
			`<ol class="timeline" id="timeline">`, "<details>", "crash loop: container dp-behandling exited 1",
			"Application.nais.io", "teamdagpenger/dp-behandling-config", `<span class="act created">created</span>`,
			"Should run", "promotion by alice", "release 1.4", `<span class="badge okb">in sync</span>`, `<span class="badge warn">not in sync</span>`,
		}},
		{name: "unknown app", path: "/apps/nobody", status: 404, want: []string{"nobody"}},
		{name: "one deploy", path: fmt.Sprintf("/deploys/%d", f.ids["behandling-dev-c"]), status: 200, want: []string{
			"Deploy #" + fmt.Sprint(f.ids["behandling-dev-c"]), sha('c'), "crash loop", "push by ola", `id="status-log"`, "No objects recorded.",
			"ghcr.io/navikt/dp-behandling:ccccccc",
		}, absent: []string{`http-equiv="refresh"`}},
		{name: "deploy objects", path: fmt.Sprintf("/deploys/%d", f.ids["behandling-dev-a"]), status: 200, want: []string{
			"<td>Deployment.apps</td>", "<code>dp-behandling-config</code>", "Took</dt><dd>2 min",
		}},
		{name: "unknown deploy", path: "/deploys/999", status: 404, want: []string{"not found"}},
		{name: "bad deploy id", path: "/deploys/x", status: 400, want: []string{"parameter id"}},
		{name: "dora", path: "/dora?days=7", status: 200, want: []string{
			`<div class="dora" id="dora">`, ">All teams</h2>", ">dagpenger</h2>", ">tiltak</h2>",
			`<svg class="chart"`, `<rect class="s"`, `<rect class="f"`, "Change failure rate", "<option value=\"7\" selected>",
			"Deploys per day over 8 days",
		}},
		{name: "dora with a bad window", path: "/dora?days=9999", status: 400, want: []string{"parameter days"}},
		{name: "stylesheet", path: "/static/flyt.css", status: 200, want: []string{".matrix", "@media (max-width: 640px)"}},
		{name: "unknown page", path: "/nowhere", status: 404, want: []string{"There is no page at /nowhere."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := call(t, "GET", srv.URL+tt.path, "")
			if status != tt.status {
				t.Fatalf("GET %s = %d, want %d:\n%s", tt.path, status, tt.status, body)
			}
			html := string(body)
			for _, w := range tt.want {
				if !strings.Contains(html, w) {
					t.Errorf("GET %s lacks %q", tt.path, w)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(html, a) {
					t.Errorf("GET %s has %q", tt.path, a)
				}
			}
		})
	}
}

// TestUIEmptyAndEscaped renders an empty history, and checks that what teams write (commit
// messages) is escaped.
func TestUIEmptyAndEscaped(t *testing.T) {
	f := &fixture{store: openStore(t), ids: map[string]int64{}}
	srv := serve(t, Options{Store: f.store})
	status, body := call(t, "GET", srv.URL+"/", "")
	if status != http.StatusOK || !strings.Contains(string(body), "No deploys recorded yet") {
		t.Errorf("empty matrix = %d:\n%s", status, body)
	}
	status, body = call(t, "GET", srv.URL+"/dora", "")
	if status != http.StatusOK || !regexp.MustCompile(`All teams</h2>`).Match(body) {
		t.Errorf("empty DORA = %d:\n%s", status, body)
	}
	id := f.add(t, deploySpec{name: "x", app: "xss", team: "t", env: "dev", commit: sha('f'), trigger: "push", start: now.Add(-time1h),
		took: time1m, final: "failure", message: `<script>alert("x")</script>`})
	_, body = call(t, "GET", srv.URL+fmt.Sprintf("/deploys/%d", id), "")
	if strings.Contains(string(body), "<script>") || !strings.Contains(string(body), "&lt;script&gt;") {
		t.Errorf("a deploy message was not escaped:\n%s", body)
	}
}
