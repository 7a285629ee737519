package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flyt-platform/flyt/history"
)

// walkthrough is the story the demo tells: everything deploys to the first environment, an
// operator promotes one app onward, a new release follows it, a bad commit fails in the first
// environment with its reason and cannot be promoted, and the second environment is rolled
// back to the first release.
func (d *demo) walkthrough(ctx context.Context) error {
	dev, prod := d.first.Name, d.second.Name
	showcase := d.repoOf(showcaseApp)
	if showcase == nil {
		return fmt.Errorf("no example repository holds the app %s", showcaseApp)
	}
	ns := d.second.TeamNamespace(showcase.team)

	// 1. The initial commits deploy to dev.
	d.say("▶", "1. the initial commits deploy to %s (%s follows branch %s)", dev, dev, d.first.Branch)
	for _, a := range d.appsIn(dev) {
		dep, err := d.waitDeploy(ctx, a.app, dev, a.repo.head, 0)
		if err != nil {
			return err
		}
		if dep.State != history.StateSuccess {
			return fmt.Errorf("%s in %s at %s: %s: %s", a.app, dev, short(a.repo.head), dep.State, dep.Message)
		}
		d.reportDeploy(dep)
	}
	d.say("·", "UI: %s/ shows every app in every environment", d.url)

	// 2. An operator promotes the showcase app to prod.
	v1 := showcase.head
	d.say("▶", "2. %s promotes %s %s from %s to %s", operator, showcaseApp, short(v1), dev, prod)
	if err := d.promote(ctx, showcaseApp, prod, "", "first release"); err != nil {
		return err
	}
	prodV1, err := d.waitSuccess(ctx, showcaseApp, prod, v1, 0)
	if err != nil {
		return err
	}
	if err := d.expectImage(ctx, prod, ns, showcaseV1); err != nil {
		return err
	}

	// 3. A second release: pushed, deployed to dev, promoted to prod.
	d.say("▶", "3. %s pushes release 1.1.0 of %s; it deploys to %s and is promoted to %s", developer, showcaseApp, dev, prod)
	v2, err := d.pushImage(ctx, showcase, showcaseV1, showcaseV2, "frontend: release 1.1.0")
	if err != nil {
		return err
	}
	if _, err := d.waitSuccess(ctx, showcaseApp, dev, v2, 0); err != nil {
		return err
	}
	if err := d.promote(ctx, showcaseApp, prod, "", "release 1.1.0"); err != nil {
		return err
	}
	prodV2, err := d.waitSuccess(ctx, showcaseApp, prod, v2, prodV1.ID)
	if err != nil {
		return err
	}
	if err := d.expectImage(ctx, prod, ns, showcaseV2); err != nil {
		return err
	}

	// 4. A bad commit fails in dev, with its reason, and cannot be promoted.
	d.say("▶", "4. %s pushes a bad commit (its pods crash); it fails in %s", developer, dev)
	v3, err := d.pushImage(ctx, showcase, showcaseV2, showcaseBad, "frontend: release 1.2.0")
	if err != nil {
		return err
	}
	bad, err := d.waitDeploy(ctx, showcaseApp, dev, v3, 0)
	if err != nil {
		return err
	}
	if bad.State != history.StateFailure {
		return fmt.Errorf("the bad commit %s in %s ended %s, want failure: %s", short(v3), dev, bad.State, bad.Message)
	}
	d.say("✗", "%s in %s at %s: %s after %s: %s", showcaseApp, dev, short(v3), bad.State, took(bad), bad.Message)
	status, body, err := d.post(ctx, "/api/v1/promote", map[string]any{"app": showcaseApp, "to": prod, "revision": v3, "reason": "release 1.2.0"})
	if err != nil {
		return err
	}
	if status == http.StatusCreated {
		return fmt.Errorf("flyt promoted the failed commit %s to %s", short(v3), prod)
	}
	d.say("✓", "promoting %s to %s is refused (%d): %s", short(v3), prod, status, errorMessage(body))

	// 5. Roll prod back to the first release.
	d.say("▶", "5. %s rolls %s in %s back to %s", operator, showcaseApp, prod, short(v1))
	status, body, err = d.post(ctx, "/api/v1/rollback", map[string]any{"app": showcaseApp, "environment": prod, "to": v1, "reason": "1.1.0 misbehaves in prod"})
	if err != nil {
		return err
	}
	if status != http.StatusCreated {
		return fmt.Errorf("rollback of %s in %s answered %d: %s", showcaseApp, prod, status, errorMessage(body))
	}
	back, err := d.waitSuccess(ctx, showcaseApp, prod, v1, prodV2.ID)
	if err != nil {
		return err
	}
	if back.Trigger != history.TriggerRollback {
		return fmt.Errorf("the deploy of %s in %s at %s was triggered by %s, want rollback", showcaseApp, prod, short(v1), back.Trigger)
	}
	if err := d.expectImage(ctx, prod, ns, showcaseV1); err != nil {
		return err
	}
	d.say("✓", "rolled back: %s runs %s (%s) again; %s keeps the failed %s until the next push", prod, short(v1), showcaseV1, dev, short(v3))
	return nil
}

// repoOf returns the example repository that holds app.
func (d *demo) repoOf(app string) *teamRepo {
	for _, r := range d.repos {
		for _, a := range r.apps {
			if a.Name == app {
				return r
			}
		}
	}
	return nil
}

// reportDeploy prints a finished deploy.
func (d *demo) reportDeploy(dep history.Deploy) {
	mark := "✓"
	if dep.State != history.StateSuccess {
		mark = "✗"
	}
	by := string(dep.Trigger)
	if dep.TriggeredBy != "" {
		by += " by " + dep.TriggeredBy
	}
	d.say(mark, "%-9s %-5s %s  %s in %s (%s)  %s", dep.App, dep.Environment, short(dep.Commit), dep.State, took(dep), by, strings.Join(dep.Images, ", "))
}

func took(dep history.Deploy) time.Duration {
	return dep.FinishedAt.Sub(dep.StartedAt).Round(100 * time.Millisecond)
}

// waitSuccess is waitDeploy that also requires success, and reports the deploy.
func (d *demo) waitSuccess(ctx context.Context, app, env, commit string, afterID int64) (history.Deploy, error) {
	dep, err := d.waitDeploy(ctx, app, env, commit, afterID)
	if err != nil {
		return dep, err
	}
	d.reportDeploy(dep)
	if dep.State != history.StateSuccess {
		return dep, fmt.Errorf("%s in %s at %s: %s: %s", app, env, short(commit), dep.State, dep.Message)
	}
	return dep, nil
}

// waitDeploy polls the API until the newest deploy of app in env at commit, with an ID above
// afterID, has finished.
func (d *demo) waitDeploy(ctx context.Context, app, env, commit string, afterID int64) (history.Deploy, error) {
	var found history.Deploy
	q := url.Values{"app": {app}, "env": {env}, "commit": {commit}, "limit": {"1"}}
	err := poll(ctx, fmt.Sprintf("a finished deploy of %s in %s at %s", app, env, short(commit)), func() (bool, error) {
		var page history.Page
		if err := d.get(ctx, "/api/v1/deploys?"+q.Encode(), &page); err != nil {
			return false, err
		}
		if len(page.Deploys) == 0 || page.Deploys[0].ID <= afterID || !page.Deploys[0].State.Terminal() {
			return false, nil
		}
		found = page.Deploys[0]
		return true, nil
	})
	return found, err
}

// expectImage checks, in the cluster itself, which image the showcase app's Deployment runs.
func (d *demo) expectImage(ctx context.Context, env, ns, want string) error {
	var dep appsv1.Deployment
	if err := d.planes[env].Client().Get(ctx, client.ObjectKey{Namespace: ns, Name: showcaseApp}, &dep); err != nil {
		return fmt.Errorf("read Deployment %s/%s in %s: %w", ns, showcaseApp, env, err)
	}
	var got string
	if cs := dep.Spec.Template.Spec.Containers; len(cs) > 0 {
		got = cs[0].Image
	}
	if got != want {
		return fmt.Errorf("the Deployment %s/%s in %s runs %s, want %s", ns, showcaseApp, env, got, want)
	}
	d.say("·", "%s: Deployment %s/%s runs %s, %d/%d replicas available", env, ns, showcaseApp, got, dep.Status.AvailableReplicas, dep.Status.Replicas)
	return nil
}

// pushImage commits a new image for the showcase app and announces the push with a signed
// GitHub webhook, as GitHub would.
func (d *demo) pushImage(ctx context.Context, r *teamRepo, from, to, msg string) (string, error) {
	content := r.files[showcaseFile]
	if !strings.Contains(content, from) {
		return "", fmt.Errorf("%s/%s does not mention %s", r.dir, showcaseFile, from)
	}
	content = strings.ReplaceAll(content, from, to)
	r.files[showcaseFile] = content
	before := r.head
	sha, err := r.repo.CommitFiles(map[string]string{showcaseFile: content}, msg)
	if err != nil {
		return "", fmt.Errorf("commit to %s: %w", r.repo.Name, err)
	}
	r.head = sha
	payload, err := json.Marshal(map[string]any{
		"ref": "refs/heads/" + r.repo.Branch, "before": before, "after": sha, "created": false, "deleted": false,
		"repository":  map[string]any{"full_name": r.repo.Name, "clone_url": r.repo.URL(), "html_url": r.repo.URL()},
		"pusher":      map[string]any{"name": developer},
		"sender":      map[string]any{"login": developer},
		"head_commit": map[string]any{"id": sha, "message": msg},
	})
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, []byte(webhookSecret))
	mac.Write(payload)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url+"/webhook/github", bytes.NewReader(payload))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", "demo-"+short(sha))
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := d.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("send the push webhook: %w", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("the push webhook was answered %s: %s", resp.Status, body)
	}
	d.say("✓", "pushed %s %q to %s; signed push webhook accepted", short(sha), msg, r.repo.Name)
	return sha, nil
}

// promote asks flyt to promote app to env (revision empty: what its source runs now).
func (d *demo) promote(ctx context.Context, app, env, revision, reason string) error {
	status, body, err := d.post(ctx, "/api/v1/promote", map[string]any{"app": app, "to": env, "revision": revision, "reason": reason})
	if err != nil {
		return err
	}
	if status != http.StatusCreated {
		return fmt.Errorf("promotion of %s to %s answered %d: %s", app, env, status, errorMessage(body))
	}
	var desired struct {
		Commit string `json:"commit"`
	}
	_ = json.Unmarshal(body, &desired)
	d.say("✓", "POST /api/v1/promote: %s → %s at %s recorded", app, env, short(desired.Commit))
	return nil
}

// post sends a JSON request as the operator and returns the status and body.
func (d *demo) post(ctx context.Context, path string, body any) (int, []byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url+path, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Flyt-User", operator)
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("POST %s: %w", path, err)
	}
	return resp.StatusCode, out, nil
}

// get decodes the JSON answer to a GET.
func (d *demo) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.url+path, nil)
	if err != nil {
		return err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

// errorMessage is the message of an API error body, or the body itself.
func errorMessage(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	return strings.TrimSpace(string(body))
}
