package examples_test

import (
	"io/fs"
	"os"
	"path"
	"slices"
	"testing"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/examples"
	"github.com/flyt-platform/flyt/render"
)

// commit stands in for the revision a deploy would render.
const commit = "4f2a9c1e8d7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"

// rendered is one example app rendered for one environment.
type rendered struct {
	team, app, env string
	res            *render.Result
}

// renderAll renders every app of every example repository that platform.yaml names, for
// every environment the app deploys to, from the files on disk.
func renderAll(t *testing.T) []rendered {
	t.Helper()
	p, err := environments.Load(examples.PlatformFile)
	if err != nil {
		t.Fatalf("load %s: %v", examples.PlatformFile, err)
	}
	var envNames []string
	for _, e := range p.Environments {
		envNames = append(envNames, e.Name)
	}
	var out []rendered
	for ti := range p.Teams {
		team := &p.Teams[ti]
		for _, r := range team.Repositories {
			dir := examples.RepoDir(team.Name, r.URL)
			repo, err := render.LoadRepo(os.DirFS(dir), ".", render.LoadOptions{Environments: envNames})
			if err != nil {
				t.Errorf("load %s: %v", dir, err)
				continue
			}
			if len(repo.Apps) == 0 {
				t.Errorf("%s holds no apps", dir)
			}
			for _, app := range repo.Apps {
				for ei := range p.Environments {
					env := &p.Environments[ei]
					if len(app.Environments) > 0 && !app.Everywhere && app.Environments[env.Name] == nil {
						continue
					}
					renv := render.NewEnvironment(env, team)
					res, err := render.Render(repo, app.Name, &renv, render.Vars{Commit: commit, Branch: "main", Repo: r.URL})
					if err != nil {
						t.Errorf("render %s/%s for %s: %v", dir, app.Name, env.Name, err)
						continue
					}
					for _, w := range res.Warnings {
						t.Errorf("render %s/%s for %s warns: %v", dir, app.Name, env.Name, w)
					}
					out = append(out, rendered{team: team.Name, app: app.Name, env: env.Name, res: res})
				}
			}
		}
	}
	return out
}

// TestExamplesRender renders every example app for every environment it deploys to with the
// example platform config; any error or warning fails, so the examples never go stale.
func TestExamplesRender(t *testing.T) {
	all := renderAll(t)
	if len(all) == 0 {
		t.Fatal("nothing rendered")
	}
	// Each example shows what it is there to show.
	kinds := func(app, env string) []string {
		for _, r := range all {
			if r.app == app && r.env == env {
				var ks []string
				for _, o := range r.res.Objects {
					ks = append(ks, o.GetKind())
				}
				return ks
			}
		}
		return nil
	}
	for _, tt := range []struct {
		app, env string
		want     []string
	}{
		{"frontend", "dev", []string{"Deployment", "Ingress", "NetworkPolicy"}},
		{"frontend", "prod", []string{"Deployment", "Ingress", "NetworkPolicy"}},
		{"api", "dev", []string{"Deployment", "NetworkPolicy"}},
		{"api", "prod", []string{"Deployment", "NetworkPolicy"}},
		{"events", "dev", []string{"ConfigMap", "Deployment", "Topic"}},
		{"events", "prod", []string{"ConfigMap", "Deployment", "Topic"}},
	} {
		got := kinds(tt.app, tt.env)
		for _, k := range tt.want {
			if !slices.Contains(got, k) {
				t.Errorf("%s in %s renders %v; want a %s among them", tt.app, tt.env, got, k)
			}
		}
	}
	teams := map[string]bool{}
	for _, r := range all {
		teams[r.team] = true
	}
	if len(teams) < 2 {
		t.Errorf("examples cover teams %v; want at least two", teams)
	}
}

// TestExamplesDifferPerEnvironment checks that the per-environment parts take effect: the
// templated api gets each environment's replicas and the frontend prod's own hosts.
func TestExamplesDifferPerEnvironment(t *testing.T) {
	all := renderAll(t)
	find := func(app, env, kind string) map[string]any {
		for _, r := range all {
			if r.app != app || r.env != env {
				continue
			}
			for _, o := range r.res.Objects {
				if o.GetKind() == kind {
					return o.Object
				}
			}
		}
		t.Fatalf("no %s rendered for %s in %s", kind, app, env)
		return nil
	}
	for _, tt := range []struct {
		env          string
		wantReplicas int64
		wantHosts    []string
	}{
		{"dev", 1, []string{"frontend.dev.example.test"}},
		{"prod", 3, []string{"frontend.example.test", "www.example.test"}},
	} {
		dep := find("api", tt.env, "Deployment")
		if got := dep["spec"].(map[string]any)["replicas"]; got != tt.wantReplicas {
			t.Errorf("api replicas in %s = %v, want %d", tt.env, got, tt.wantReplicas)
		}
		var hosts []string
		for _, rule := range find("frontend", tt.env, "Ingress")["spec"].(map[string]any)["rules"].([]any) {
			hosts = append(hosts, rule.(map[string]any)["host"].(string))
		}
		slices.Sort(hosts)
		if !slices.Equal(hosts, tt.wantHosts) {
			t.Errorf("frontend hosts in %s = %v, want %v", tt.env, hosts, tt.wantHosts)
		}
	}
}

// TestEveryRepositoryIsConfigured checks that platform.yaml names every example repository and
// that the embedded FS the demo reads holds exactly the files on disk, dot files included.
func TestEveryRepositoryIsConfigured(t *testing.T) {
	p, err := environments.Load(examples.PlatformFile)
	if err != nil {
		t.Fatal(err)
	}
	configured := map[string]bool{}
	for _, team := range p.Teams {
		for _, r := range team.Repositories {
			configured[examples.RepoDir(team.Name, r.URL)] = true
		}
	}
	teams, err := os.ReadDir("teams")
	if err != nil {
		t.Fatal(err)
	}
	for _, team := range teams {
		repos, err := os.ReadDir(path.Join("teams", team.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range repos {
			if dir := path.Join("teams", team.Name(), r.Name()); !configured[dir] {
				t.Errorf("%s is not a repository of team %s in %s", dir, team.Name(), examples.PlatformFile)
			}
		}
	}

	files := func(fsys fs.FS) []string {
		var out []string
		if err := fs.WalkDir(fsys, "teams", func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				out = append(out, p)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	disk, embedded := files(os.DirFS(".")), files(examples.FS)
	if !slices.Equal(disk, embedded) {
		t.Errorf("embedded files %v differ from the files on disk %v", embedded, disk)
	}
	if !slices.Contains(embedded, "teams/team-a/team-a-apps/.flyt.yaml") {
		t.Errorf("embedded files lack the dot files: %v", embedded)
	}
}
