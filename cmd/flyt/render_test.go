package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flyt-platform/flyt/internal/testenv/naisdata"
)

const testPlatform = `apiVersion: flyt.dev/v1alpha1
kind: Platform
environments:
  - name: dev
    branch: main
    cluster: {name: dev-gcp, kubeconfig: /dev/null}
    ingresses: [{domain: intern.dev.nav.no, class: internal}]
    integrations: [azure, gcp, kafka, observability]
    image: "registry.example/{{team}}/{{app}}:{{shortCommit}}"
  - name: prod
    promoteFrom: dev
    cluster: {name: prod-gcp, kubeconfig: /dev/null}
    integrations: [azure, gcp, observability]
    image: "registry.example/{{team}}/{{app}}:{{shortCommit}}"
teams:
  - name: teamdagpenger
    repositories: [{url: "https://github.com/navikt/dp-behandling"}]
`

// writeRepo lays out dp-behandling's .nais folder and a platform config in a temp dir.
func writeRepo(t *testing.T) (platform, repo string) {
	t.Helper()
	dir := t.TempDir()
	platform = filepath.Join(dir, "platform.yaml")
	repo = filepath.Join(dir, "repo")
	files := map[string][]byte{
		platform: []byte(testPlatform),
		filepath.Join(repo, ".nais", "nais.yaml"):      naisdata.File(t, "navikt__dp-behandling__.nais_nais.yaml"),
		filepath.Join(repo, ".nais", "vars-dev.yaml"):  naisdata.File(t, "navikt__dp-behandling__.nais_vars-dev.yaml"),
		filepath.Join(repo, ".nais", "vars-prod.yaml"): naisdata.File(t, "navikt__dp-behandling__.nais_vars-prod.yaml"),
	}
	for p, data := range files {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return platform, repo
}

func runFlyt(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newRootCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err = cmd.ExecuteContext(t.Context())
	return out.String(), errOut.String(), err
}

func TestRenderCommand(t *testing.T) {
	platform, repo := writeRepo(t)
	stdout, stderr, err := runFlyt(t, "render", "--platform", platform, "--env", "dev", repo)
	if err != nil {
		t.Fatalf("render: %v\n%s", err, stderr)
	}
	if !strings.HasPrefix(stdout, "# app dp-behandling, environment dev, digest sha256:") {
		t.Errorf("stdout starts %q, want the render's header", stdout[:min(len(stdout), 80)])
	}
	var kinds []string
	for _, line := range strings.Split(stdout, "\n") {
		if k, ok := strings.CutPrefix(line, "kind: "); ok {
			kinds = append(kinds, k)
		}
	}
	want := []string{"ServiceAccount", "Service", "Deployment", "PodDisruptionBudget", "Ingress", "NetworkPolicy"}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("kinds (-want +got):\n%s", diff)
	}
	wantWarning := `warning: dev/dp-behandling: .nais/nais.yaml:52:41: undefined variable "azure.grupper.admin_ekstra" renders empty`
	if !strings.Contains(stderr, wantWarning) {
		t.Errorf("stderr lacks %q:\n%s", wantWarning, stderr)
	}

	// --var wins over the vars file; -o json is a List.
	stdout, _, err = runFlyt(t, "render", "--platform", platform, "--env", "prod", "-o", "json", "--var", "azure.tenant=example.no", repo)
	if err != nil {
		t.Fatalf("render -o json: %v", err)
	}
	var list struct {
		Kind  string           `json:"kind"`
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal([]byte(stdout), &list); err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	if list.Kind != "List" || len(list.Items) != 5 {
		t.Errorf("got kind %q with %d items, want a List of 5 (no Ingress in prod)", list.Kind, len(list.Items))
	}
}

func TestValidateCommand(t *testing.T) {
	platform, repo := writeRepo(t)
	stdout, _, err := runFlyt(t, "validate", "--platform", platform, repo)
	if err != nil {
		t.Fatalf("validate of a good repository: %v\n%s", err, stdout)
	}
	if !strings.HasSuffix(stdout, "2 renders, 0 failed, 3 warnings\n") {
		t.Errorf("summary: got\n%s", stdout)
	}
	if _, _, err := runFlyt(t, "validate", "--strict", "--platform", platform, repo); exitCode(err) != 1 {
		t.Errorf("validate --strict with warnings: got %v, want exit 1", err)
	}

	// A typo in the spec: every environment reports it, and validate exits 1.
	spec := filepath.Join(repo, ".nais", "nais.yaml")
	data, _ := os.ReadFile(spec)
	if err := os.WriteFile(spec, bytes.Replace(data, []byte("  replicas:\n"), []byte("  replica:\n"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, _, err = runFlyt(t, "validate", "--platform", platform, repo)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("validate of a broken repository: got %v, want exit 1", err)
	}
	for _, env := range []string{"dev", "prod"} {
		want := "error: " + env + `/dp-behandling: .nais/nais.yaml:33:3: spec.replica: unknown field "replica"; did you mean "replicas"?`
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
}

func TestRenderRevision(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is needed to build the test repository")
	}
	platform, repo := writeRepo(t)
	git := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.test", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.test")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q", "-b", "main")
	git("add", ".")
	git("commit", "-q", "-m", "first")
	sha := git("rev-parse", "HEAD")
	// The working tree moves on; --revision renders the commit.
	spec := filepath.Join(repo, ".nais", "nais.yaml")
	if err := os.WriteFile(spec, []byte("not: [valid"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := runFlyt(t, "render", "--platform", platform, "--env", "dev", "--revision", "main", repo)
	if err != nil {
		t.Fatalf("render --revision: %v\n%s", err, stderr)
	}
	image := "registry.example/teamdagpenger/dp-behandling:" + sha[:7]
	if !strings.Contains(stdout, "image: "+image) {
		t.Errorf("output lacks image %s built from the commit", image)
	}
	if _, _, err := runFlyt(t, "render", "--platform", platform, "--env", "dev", repo); err == nil {
		t.Error("render of the broken working tree succeeded")
	}
}
