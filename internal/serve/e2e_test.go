package serve

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flyt-platform/flyt/history"
	"github.com/flyt-platform/flyt/internal/testenv/controlplane"
	"github.com/flyt-platform/flyt/internal/testenv/gittest"
)

// dev and prod are two separate local control planes, as two clusters would be.
var dev, prod *controlplane.Plane

// flytBin is flyt built for the test, run as a real subprocess.
var flytBin string

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "flyt-serve-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	flytBin = filepath.Join(dir, "flyt")
	build := exec.Command("go", "build", "-o", flytBin, "github.com/flyt-platform/flyt/cmd/flyt")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build flyt:", err)
		return 1
	}
	ctx := context.Background()
	if dev, err = controlplane.Start(ctx, controlplane.Options{Nodes: 1, Name: "dev"}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stopPlane(dev)
	if prod, err = controlplane.Start(ctx, controlplane.Options{Nodes: 1, Name: "prod"}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stopPlane(prod)
	return m.Run()
}

const secret = "e2e-webhook-secret"

// flytProcess is a running `flyt serve`.
type flytProcess struct {
	url  string
	logs *syncBuffer
}

func startFlyt(t *testing.T, config string) *flytProcess {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(flytBin, "serve", "--config", config, "--listen", addr, "--shutdown-timeout", "5s")
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("flyt logs:\n%s", logs.String())
		}
	})
	p := &flytProcess{url: "http://" + addr, logs: logs}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(p.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("flyt never became ready; logs:\n%s", logs.String())
	return nil
}

func (p *flytProcess) getJSON(t *testing.T, path string, out any) {
	t.Helper()
	resp, err := http.Get(p.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s: %s", path, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// waitDeploy polls the API until app's newest deploy in env at commit has finished.
func (p *flytProcess) waitDeploy(t *testing.T, app, env, commit string) history.Deploy {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		var page history.Page
		p.getJSON(t, fmt.Sprintf("/api/v1/deploys?app=%s&env=%s&commit=%s&limit=1", app, env, commit), &page)
		if len(page.Deploys) > 0 && page.Deploys[0].State.Terminal() {
			return page.Deploys[0]
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no finished deploy of %s in %s at %s", app, env, commit[:7])
	return history.Deploy{}
}

func available(t *testing.T, plane *controlplane.Plane, ns, name string) *appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if err := plane.Client().Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, &d); err == nil {
			for _, c := range d.Status.Conditions {
				if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
					return &d
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("Deployment %s/%s never became Available: %+v", ns, name, d.Status)
	return nil
}

// pushPayload is a GitHub push event as GitHub sends it, trimmed to the fields a receiver reads.
func pushPayload(repoURL, before, after string) []byte {
	b, _ := json.Marshal(map[string]any{
		"ref": "refs/heads/main", "before": before, "after": after, "created": false, "deleted": false,
		"repository":  map[string]any{"full_name": "team-a/apps", "clone_url": repoURL, "html_url": repoURL},
		"pusher":      map[string]any{"name": "alice"},
		"sender":      map[string]any{"login": "alice"},
		"head_commit": map[string]any{"id": after},
	})
	return b
}

func TestServeEndToEnd(t *testing.T) {
	srv := gittest.NewServer(t)
	repo := srv.NewRepo("team-a/apps")
	manifest := func(tag string) string {
		return "apiVersion: nais.io/v1alpha1\nkind: Application\nmetadata:\n  name: hello\nspec:\n  image: registry.example/hello:" + tag + "\n  replicas: {min: 2, max: 2}\n"
	}
	first := repo.Commit(t, map[string]string{".nais/app.yaml": manifest("1")}, "first")
	for _, p := range []*controlplane.Plane{dev, prod} {
		if err := p.Client().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}); err != nil {
			t.Fatal(err)
		}
	}

	dir := t.TempDir()
	secretFile := filepath.Join(dir, "webhook-secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "platform.yaml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`apiVersion: flyt.dev/v1alpha1
kind: Platform
server:
  dataDir: %s
  pollInterval: 1h
  webhookSecretFiles: [%s]
environments:
- name: dev
  branch: main
  cluster: {kubeconfig: %s}
  timeout: 1m
- name: prod
  promoteFrom: dev
  after: 0s
  cluster: {kubeconfig: %s}
  timeout: 1m
teams:
- name: team-a
  repositories:
  - url: %s
`, filepath.Join(dir, "data"), secretFile, dev.Kubeconfig(), prod.Kubeconfig(), repo.URL())), 0o600); err != nil {
		t.Fatal(err)
	}
	flyt := startFlyt(t, config)

	// The first poll deploys main's head to dev.
	if d := flyt.waitDeploy(t, "hello", "dev", first); d.State != history.StateSuccess {
		t.Fatalf("first dev deploy: %s: %s", d.State, d.Message)
	}

	// A push announced by a signed webhook deploys to dev at once.
	second := repo.Commit(t, map[string]string{".nais/app.yaml": manifest("2")}, "second")
	body := pushPayload(repo.URL(), first, second)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	req, _ := http.NewRequest(http.MethodPost, flyt.url+"/webhook/github", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", "e2e-1")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("webhook answered %s, want 202", resp.Status)
	}
	d := flyt.waitDeploy(t, "hello", "dev", second)
	if d.State != history.StateSuccess || d.Trigger != history.TriggerPush || d.TriggeredBy != "alice" {
		t.Fatalf("dev deploy of the push: %+v", d)
	}
	devDep := available(t, dev, "team-a", "hello")

	// Promote to prod through the API: prod runs the same commit and image.
	preq, _ := http.NewRequest(http.MethodPost, flyt.url+"/api/v1/promote", strings.NewReader(`{"app":"hello","to":"prod","reason":"e2e"}`))
	preq.Header.Set("Content-Type", "application/json")
	preq.Header.Set("X-Flyt-User", "operator")
	presp, err := http.DefaultClient.Do(preq)
	if err != nil {
		t.Fatal(err)
	}
	pbody, _ := io.ReadAll(presp.Body)
	presp.Body.Close()
	if presp.StatusCode != http.StatusCreated {
		t.Fatalf("promote answered %s: %s", presp.Status, pbody)
	}
	pd := flyt.waitDeploy(t, "hello", "prod", second)
	if pd.State != history.StateSuccess || pd.Trigger != history.TriggerPromotion || pd.TriggeredBy != "operator" {
		t.Fatalf("prod deploy: %+v", pd)
	}
	prodDep := available(t, prod, "team-a", "hello")
	if a, b := devDep.Spec.Template.Spec.Containers[0].Image, prodDep.Spec.Template.Spec.Containers[0].Image; a != b || a != "registry.example/hello:2" {
		t.Errorf("images: dev %s, prod %s; want both registry.example/hello:2", a, b)
	}

	// /metrics shows it.
	mresp, err := http.Get(flyt.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	for _, want := range []string{
		`flyt_deploys_total{environment="prod",state="success",trigger="promotion"} 1`,
		`flyt_deploys_total{environment="dev",state="success",trigger="push"} 1`,
		`flyt_webhook_requests_total{event="push",outcome="enqueued"} 1`,
		`flyt_app_state{app="hello",environment="prod",state="success",team="team-a"} 1`,
		"go_goroutines",
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// flyt diff against dev: no difference for the deployed revision (exit 0), a unified diff
	// and exit 1 for a local change.
	checkout := filepath.Join(dir, "checkout")
	if out, err := exec.Command("git", "clone", "-q", repo.URL(), checkout).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v: %s", err, out)
	}
	diff := func() (string, int) {
		cmd := exec.Command(flytBin, "diff", "hello", "--env", "dev", "--platform", config, checkout)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	if out, code := diff(); code != 0 {
		t.Errorf("flyt diff of the deployed revision: exit %d, output:\n%s", code, out)
	}
	if err := os.WriteFile(filepath.Join(checkout, ".nais", "app.yaml"), []byte(manifest("3")), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := diff(); code != 1 || !strings.Contains(out, "Deployment/team-a/hello configured") || !strings.Contains(out, "+        image: registry.example/hello:3") {
		t.Errorf("flyt diff of a change: exit %d, output:\n%s", code, out)
	}

	// Logs are JSON, and lines about a deploy carry its identity.
	var sawDeployLine bool
	for _, line := range strings.Split(strings.TrimSpace(flyt.logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("log line is not JSON: %s", line)
			continue
		}
		if m["msg"] == "deploy finished" {
			sawDeployLine = m["deploy"] != nil && m["app"] == "hello" && m["team"] == "team-a" && m["environment"] != nil
		}
	}
	if !sawDeployLine {
		t.Error("no 'deploy finished' log line with deploy, app, team and environment")
	}
}

// stopPlane stops a control plane at the end of TestMain, where a failure can only be told.
func stopPlane(p *controlplane.Plane) {
	if err := p.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop the control plane:", err)
	}
}
