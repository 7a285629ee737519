package sync

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/history"
	"github.com/flyt-platform/flyt/internal/testenv/gittest"
	"github.com/flyt-platform/flyt/sync/source"
	"github.com/flyt-platform/flyt/webhook"
)

// secondTeam adds a team of its own namespaces with one repository on srv to h's platform,
// before anything is pushed, and returns that repository and its config.
func secondTeam(t *testing.T, h *harness, srv *gittest.Server, name string) (*gittest.Repo, environments.Repository) {
	t.Helper()
	ns := plane.Namespace(t)
	repo := srv.NewRepo(name)
	cfg := environments.Repository{URL: repo.URL(), Branch: "main"}
	h.platform.Teams = append(h.platform.Teams, environments.Team{Name: ns,
		Namespaces: map[string]string{"dev": ns, "prod": ns}, Repositories: []environments.Repository{cfg}})
	return repo, cfg
}

// pushTo commits files to repo and tells the controller, as the poller would.
func (h *harness) pushTo(repo *gittest.Repo, cfg environments.Repository, files map[string]string, msg string) string {
	h.t.Helper()
	sha := repo.Commit(h.t, files, msg)
	rev, _, err := h.cache.Sync(h.t.Context(), cfg)
	if err != nil {
		h.t.Fatalf("sync %s: %v", cfg.URL, err)
	}
	h.ctrl.RepositoryChanged(h.t.Context(), cfg, rev)
	return sha
}

// TestRenderPanicIsThatAppsFailure: a panic while rendering one app, and a panic while
// loading a whole repository (inside the load every worker of that repository waits for),
// each end as a failure of the apps concerned, recorded once for the commit however often it
// is resynced, with the panic's value and the file in the message and the stack in the log
// only; the other app of the same team and another team's app deploy meanwhile, and a new
// commit deploys once the panic is gone.
func TestRenderPanicIsThatAppsFailure(t *testing.T) {
	h := newHarness(t)
	repoB, cfgB := secondTeam(t, h, gittest.NewServer(t), "team-b/apps")
	var loadPanics atomic.Bool
	h.ctrl.hook = func(step, subject string) {
		switch {
		case step == "render" && subject == "boom":
			panic("deliberately broken renderer")
		case step == "load" && subject == cfgB.URL && loadPanics.Load():
			panic(&struct{ Why string }{"deliberately broken loader"})
		}
	}

	shaA := h.push(map[string]string{".nais/boom.yaml": app("boom", "registry.example/boom:1"),
		".nais/fine.yaml": app("fine", "registry.example/fine:1")}, "one app that panics")
	shaB := h.pushTo(repoB, cfgB, map[string]string{".nais/other.yaml": app("other", "registry.example/other:1")}, "team b")
	d := h.waitDeploy("boom", "dev", shaA)
	if d.State != history.StateFailure || !strings.Contains(d.Message, "render: panic: deliberately broken renderer") || !strings.Contains(d.Message, ".nais/boom.yaml") {
		t.Errorf("boom: %s %q, want a failure naming the panic and .nais/boom.yaml", d.State, d.Message)
	}
	if strings.Contains(d.Message, "goroutine") || strings.Contains(d.Message, ".go:") {
		t.Errorf("boom's message carries a stack: %q", d.Message)
	}
	for app, sha := range map[string]string{"fine": shaA, "other": shaB} {
		if d := h.waitDeploy(app, "dev", sha); d.State != history.StateSuccess {
			t.Errorf("%s beside the panicking app: %s %q, want success", app, d.State, d.Message)
		}
	}
	if len(h.logs.matching("recovered from a panic", "deliberately broken renderer", "goroutine ", "\"error\"")) == 0 {
		t.Error("the panic was not logged as an error with its stack")
	}
	for range 2 {
		h.ctrl.ResyncAll()
		h.idle()
	}
	if ds := h.deploys("boom", "dev"); len(ds) != 1 {
		t.Errorf("after two resyncs boom has %d deploys, want its one failure: %+v", len(ds), ds)
	}

	// The load of team b's next commit panics, in the load that RepositoryChanged and the
	// workers share.
	loadPanics.Store(true)
	shaB2 := h.pushTo(repoB, cfgB, map[string]string{".nais/other.yaml": app("other", "registry.example/other:2")}, "the load panics")
	shaA2 := h.push(map[string]string{".nais/fine.yaml": app("fine", "registry.example/fine:2")}, "team a goes on")
	if d := h.waitDeploy("other", "dev", shaB2); d.State != history.StateFailure || !strings.Contains(d.Message, "deliberately broken loader") {
		t.Errorf("other at the commit whose load panics: %s %q, want a failure naming the panic", d.State, d.Message)
	}
	if d := h.waitDeploy("fine", "dev", shaA2); d.State != history.StateSuccess {
		t.Errorf("team a's push while team b's load panics: %s %q", d.State, d.Message)
	}
	for range 2 {
		h.ctrl.ResyncAll()
		h.idle()
	}
	n := 0
	for _, d := range h.deploys("other", "dev") {
		if d.Commit == shaB2 {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the commit whose load panics has %d deploys of other after two resyncs, want 1", n)
	}
	loadPanics.Store(false)
	shaB3 := h.pushTo(repoB, cfgB, map[string]string{".nais/other.yaml": app("other", "registry.example/other:3")}, "fixed")
	if d := h.waitDeploy("other", "dev", shaB3); d.State != history.StateSuccess {
		t.Errorf("team b's commit after the panics: %s %q, want success", d.State, d.Message)
	}
}

// TestApplyPanicIsAnError: a panic while applying one app's objects ends that deploy as an
// error (the platform's fault), recorded once and not retried for ever; the app beside it
// deploys, and the controller keeps deploying afterwards.
func TestApplyPanicIsAnError(t *testing.T) {
	h := newHarness(t)
	h.ctrl.deployer.hook = func(step, subject string) {
		if step == "apply" && subject == "crashy" {
			panic("deliberately broken apply")
		}
	}
	sha := h.push(map[string]string{".nais/crashy.yaml": app("crashy", "registry.example/crashy:1"),
		".nais/calm.yaml": app("calm", "registry.example/calm:1")}, "one app whose apply panics")
	d := h.waitDeploy("crashy", "dev", sha)
	if d.State != history.StateError || !strings.Contains(d.Message, "apply: panic: deliberately broken apply") || strings.Contains(d.Message, "goroutine") {
		t.Errorf("crashy: %s %q, want an error naming the panic, without a stack", d.State, d.Message)
	}
	if d := h.waitDeploy("calm", "dev", sha); d.State != history.StateSuccess {
		t.Errorf("calm beside it: %s %q", d.State, d.Message)
	}
	time.Sleep(2 * time.Second) // longer than the first retry's backoff
	for range 2 {
		h.ctrl.ResyncAll()
		h.idle()
	}
	if ds := h.deploys("crashy", "dev"); len(ds) != 1 {
		t.Errorf("crashy has %d deploys after retries and resyncs, want the one error: %+v", len(ds), ds)
	}
	next := h.push(map[string]string{".nais/calm.yaml": app("calm", "registry.example/calm:2")}, "calm goes on")
	if d := h.waitDeploy("calm", "dev", next); d.State != history.StateSuccess {
		t.Errorf("the next push after the panic: %s %q", d.State, d.Message)
	}
}

// TestTriggeredByIsTheDeployedRevisionsPusherOrAuthor: GitHub's push payload, signed and
// naming an older commit, arrives when a newer commit by someone else is the branch's head:
// the deploy of the head is credited to that commit's author, not to the payload's sender.
// A payload naming the head itself credits its pusher.
func TestTriggeredByIsTheDeployedRevisionsPusherOrAuthor(t *testing.T) {
	h := newHarness(t)
	// A repository named owner/name, as on GitHub, so the payload's repository matches it.
	gitRepo, repo := secondTeam(t, h, h.srv, "credit/apps")
	team := h.platform.Teams[1].Name
	secret := []byte("credit-secret")
	poller := source.NewPoller(h.cache, func() []environments.Repository { return []environments.Repository{repo} },
		source.PollerOptions{Interval: time.Hour}, h.ctrl.RepositoryChanged, nil)
	recv, err := webhook.NewReceiver(webhook.ReceiverOptions{
		Config: webhook.Config{Secrets: []webhook.Secret{webhook.NewSecret("", secret)},
			Repos: []webhook.WatchedRepo{{Team: team, URL: repo.URL, Branch: "main"}}},
		// What flyt serve's enqueue does.
		Enqueue: func(_ context.Context, r webhook.Refresh) error {
			h.ctrl.Pushed(r.Repository, r.Commit, r.Pusher)
			poller.Refresh(r.Repository)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	hooks := httptest.NewServer(recv)
	t.Cleanup(hooks.Close)
	recorded, err := os.ReadFile("../webhook/testdata/github/push-branch.json")
	if err != nil {
		t.Fatal(err)
	}
	// send posts the recorded payload, signed, naming after as the pushed commit.
	send := func(after, delivery string) {
		t.Helper()
		var p map[string]any
		if err := json.Unmarshal(recorded, &p); err != nil {
			t.Fatal(err)
		}
		p["ref"], p["after"] = "refs/heads/main", after
		r := p["repository"].(map[string]any)
		r["clone_url"], r["full_name"], r["name"] = repo.URL, "credit/apps", "apps"
		body, _ := json.Marshal(p)
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		req, _ := http.NewRequest(http.MethodPost, hooks.URL+"/webhook/github", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-GitHub-Delivery", delivery)
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("webhook answered %s, want 202", resp.Status)
		}
	}

	gitRepo.Author, gitRepo.Email = "Olga Old", "olga@example.test"
	old := gitRepo.Commit(t, map[string]string{".nais/app.yaml": app("credited", "registry.example/credited:1")}, "old")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { _ = poller.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	if d := h.waitDeploy("credited", "dev", old); d.State != history.StateSuccess || d.Trigger != history.TriggerPoll {
		t.Fatalf("first deploy: %s by %s (%s), want a successful poll", d.State, d.TriggeredBy, d.Trigger)
	}
	h.idle()

	gitRepo.Author, gitRepo.Email = "Nils Newer", "nils@example.test"
	newer := gitRepo.Commit(t, map[string]string{".nais/app.yaml": app("credited", "registry.example/credited:2")}, "newer")
	send(old, "replayed-old") // Codertocat's signed push of the old commit
	d := h.waitDeploy("credited", "dev", newer)
	if d.State != history.StateSuccess || d.Trigger != history.TriggerPush || d.TriggeredBy != "Nils Newer" {
		t.Errorf("deploy of the newer head after a payload naming the old commit: %s, %s by %q; want a push credited to its author Nils Newer", d.State, d.Trigger, d.TriggeredBy)
	}
	h.idle()

	newest := gitRepo.Commit(t, map[string]string{".nais/app.yaml": app("credited", "registry.example/credited:3")}, "newest")
	send(newest, "its-own-push")
	if d := h.waitDeploy("credited", "dev", newest); d.TriggeredBy != "Codertocat" || d.Trigger != history.TriggerPush {
		t.Errorf("deploy of the commit the payload names: %s by %q, want a push credited to its pusher Codertocat", d.Trigger, d.TriggeredBy)
	}
}
