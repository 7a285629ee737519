package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing/fstest"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/internal/testenv/controlplane"
	"github.com/flyt-platform/flyt/internal/testenv/gittest"
	"github.com/flyt-platform/flyt/render"
)

// envs are the two environments every app deploys to: two namespaces per team on one plane.
var envs = []string{"dev", "prod"}

// reposPerTeam groups the repositories into teams, as a platform with a few dozen teams would.
const reposPerTeam = 5

// webhookSecret signs the pushes of the push-latency scenario.
const webhookSecret = "flytbench-webhook-secret"

// fixture is the platform under test: Git repositories holding N NAIS Applications, and the
// platform config that points flyt at them. Each measured run uses teams of its own (so fresh
// namespaces), named after the run.
type fixture struct {
	c     config
	srv   *gittest.Server
	plane *controlplane.Plane
	work  string
	repos []*gittest.Repo
	// files are each repository's files at its current head, by repository index.
	files []map[string]string
	// tags are each app's image tag at its repository's head.
	tags []int
}

func newFixture(c config, srv *gittest.Server, plane *controlplane.Plane, work string) (*fixture, error) {
	fx := &fixture{c: c, srv: srv, plane: plane, work: work, tags: make([]int, c.N)}
	for r := range c.Repos {
		repo, err := srv.CreateRepo(fmt.Sprintf("team-%02d/apps", r))
		if err != nil {
			return nil, err
		}
		files := map[string]string{"README.md": "apps of team " + fmt.Sprint(r/reposPerTeam) + "\n"}
		for a := r; a < c.N; a += c.Repos {
			files[appFile(a)] = fx.manifest(a)
		}
		if _, err := repo.CommitFiles(files, "initial"); err != nil {
			return nil, err
		}
		fx.repos = append(fx.repos, repo)
		fx.files = append(fx.files, files)
	}
	return fx, nil
}

func appName(a int) string { return fmt.Sprintf("app-%04d", a) }
func appFile(a int) string { return ".nais/" + appName(a) + ".yaml" }

// manifest is app a's NAIS Application: it renders to a ServiceAccount, Service, Deployment,
// HorizontalPodAutoscaler (min ≠ max), PodDisruptionBudget, Ingress and NetworkPolicy.
func (fx *fixture) manifest(a int) string {
	prev, next := appName((a+fx.c.N-1)%fx.c.N), appName((a+1)%fx.c.N)
	return fmt.Sprintf(`apiVersion: nais.io/v1alpha1
kind: Application
metadata:
  name: %[1]s
spec:
  image: registry.example/%[1]s:%[2]d
  port: 8080
  replicas:
    min: %[3]d
    max: %[4]d
  resources:
    requests: {cpu: 10m, memory: 32Mi}
    limits: {memory: 128Mi}
  env:
    - name: GREETING
      value: hello from %[1]s
  ingresses:
    - https://%[1]s.{{env}}.bench.test
  accessPolicy:
    inbound:
      rules:
        - application: %[5]s
    outbound:
      rules:
        - application: %[6]s
      external:
        - host: api.example.test
`, appName(a), fx.tags[a], fx.c.Replicas, fx.c.Replicas+2, next, prev)
}

// bump commits a new image tag for app a and returns the commit.
func (fx *fixture) bump(a int) (string, error) {
	fx.tags[a]++
	r := a % fx.c.Repos
	fx.files[r][appFile(a)] = fx.manifest(a)
	return fx.repos[r].CommitFiles(map[string]string{appFile(a): fx.files[r][appFile(a)]}, fmt.Sprintf("%s: tag %d", appName(a), fx.tags[a]))
}

func (fx *fixture) teams() int { return (fx.c.Repos + reposPerTeam - 1) / reposPerTeam }

func teamName(run string, t int) string { return fmt.Sprintf("%s-t%02d", run, t) }

// namespaces are a run's namespaces: one per team and environment.
func (fx *fixture) namespaces(run string) []string {
	var out []string
	for t := range fx.teams() {
		for _, e := range envs {
			out = append(out, teamName(run, t)+"-"+e)
		}
	}
	return out
}

// platformYAML writes the platform config of a run and returns its path.
func (fx *fixture) platformYAML(run, dataDir string, workers int) (string, error) {
	dir := filepath.Join(fx.work, "runs", run)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", err
	}
	secret := filepath.Join(dir, "webhook-secret")
	if err := os.WriteFile(secret, []byte(webhookSecret+"\n"), 0o600); err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: flyt.dev/v1alpha1
kind: Platform
server:
  dataDir: %s
  pollInterval: 1h
  workers: %d
  webhookSecretFiles: [%s]
environments:
`, dataDir, workers, secret)
	for _, e := range envs {
		fmt.Fprintf(&b, `- name: %[1]s
  branch: main
  namespace: "{{team}}-{{env}}"
  cluster: {kubeconfig: %[2]s, name: bench-%[1]s}
  ingresses:
  - domain: %[1]s.bench.test
    class: nginx
  timeout: 5m
`, e, fx.plane.Kubeconfig())
	}
	b.WriteString("teams:\n")
	for t := range fx.teams() {
		fmt.Fprintf(&b, "- name: %s\n  repositories:\n", teamName(run, t))
		for r := t * reposPerTeam; r < min((t+1)*reposPerTeam, fx.c.Repos); r++ {
			fmt.Fprintf(&b, "  - url: %s\n", fx.repos[r].URL())
		}
	}
	file := filepath.Join(dir, "platform.yaml")
	return file, os.WriteFile(file, []byte(b.String()), 0o600)
}

// createNamespaces creates a run's namespaces (flyt never creates namespaces: operators do).
func (fx *fixture) createNamespaces(ctx context.Context, run string) error {
	for _, ns := range fx.namespaces(run) {
		err := fx.plane.Client().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create namespace %s: %w", ns, err)
		}
	}
	return nil
}

// render renders every app of the run for every environment with flyt's render package, as
// flyt would: the baselines apply exactly these objects.
func (fx *fixture) render(run string) ([]unit, error) {
	file, err := fx.platformYAML(run, filepath.Join(fx.work, "runs", run, "data"), fx.c.Workers)
	if err != nil {
		return nil, err
	}
	p, err := environments.Load(file)
	if err != nil {
		return nil, err
	}
	var out []unit
	for r, files := range fx.files {
		fsys := fstest.MapFS{}
		for name, data := range files {
			fsys[name] = &fstest.MapFile{Data: []byte(data), Mode: 0o644}
		}
		repo, err := render.LoadRepo(fsys, ".", render.LoadOptions{Environments: envs})
		if err != nil {
			return nil, fmt.Errorf("load repository %d: %w", r, err)
		}
		team := p.Team(teamName(run, r/reposPerTeam))
		for _, e := range envs {
			renv := render.NewEnvironment(p.Environment(e), team)
			for _, app := range repo.Apps {
				res, err := render.Render(repo, app.Name, &renv, render.Vars{Commit: "0000000000000000000000000000000000000000", Branch: "main", Repo: fx.repos[r].URL()})
				if err != nil {
					return nil, fmt.Errorf("render %s for %s: %w", app.Name, e, err)
				}
				out = append(out, unit{app: app.Name, env: e, objects: res.Objects})
			}
		}
	}
	return out, nil
}

// unit is one app rendered for one environment: what one flyt deploy applies.
type unit struct {
	app, env string
	objects  []*unstructured.Unstructured
}
