package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/internal/testenv/gittest"
	"github.com/flyt-platform/flyt/render"
	"github.com/flyt-platform/flyt/sync/source"
)

// linkMarker is what the files outside the test repositories hold: no output may show it.
const linkMarker = "flyt-outside-marker-7c21"

const linkApp = `apiVersion: nais.io/v1alpha1
kind: Application
metadata:
  name: web
spec:
  image: ghcr.io/example/web:{{shortCommit}}
  replicas:
    min: {{replicas}}
    max: {{replicas}}
`

// writeTree writes files (content gittest.Symlink(target) makes a link) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, gittest.Symlink("")); ok {
			if err := os.Symlink(target, full); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// A repository linking out of itself fails `flyt render` and `flyt validate` alike, from the
// working tree and from a commit: exit 1, the file named, nothing from outside printed.
func TestRenderRefusesLinksOutOfTheRepository(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is needed to build the test repository")
	}
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.yaml")
	if err := os.WriteFile(secret, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: "+linkMarker+"\ndata:\n  replicas: \""+linkMarker+"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		files    map[string]string
		wantFile string
	}{{
		name: "a .nais/ manifest linking to a file outside",
		files: map[string]string{
			".nais/nais.yaml":     linkApp,
			".nais/vars-dev.yaml": "replicas: 2\n",
			".nais/config.yaml":   gittest.Symlink(secret),
		},
		wantFile: ".nais/config.yaml: this file is a symbolic link that leads out of the repository",
	}, {
		name: "a vars file linking out with ..",
		files: map[string]string{
			".nais/nais.yaml":     linkApp,
			".nais/vars-dev.yaml": gittest.Symlink("../../../../../../../../../../.." + secret),
		},
		wantFile: ".nais/vars-dev.yaml: this file is a symbolic link that leads out of the repository",
	}, {
		name: "a directory link out named in .flyt.yaml",
		files: map[string]string{
			".flyt.yaml": "apps:\n  - name: web\n    files: [app.yaml, conf/secret.yaml]\n",
			"app.yaml":   linkApp,
			"conf":       gittest.Symlink(outside),
		},
		wantFile: "conf/secret.yaml: the symbolic link conf on its path leads out of the repository",
	}}
	for _, tt := range tests {
		for _, mode := range []string{"working tree", "revision"} {
			dir := t.TempDir()
			platform := filepath.Join(dir, "platform.yaml")
			repo := filepath.Join(dir, "repo")
			writeTree(t, dir, map[string]string{"platform.yaml": testPlatform})
			writeTree(t, repo, tt.files)
			var rev []string
			if mode == "revision" {
				gitCommitAll(t, repo)
				rev = []string{"--revision", "main"}
			}
			for _, verb := range []string{"render", "validate"} {
				t.Run(tt.name+"/"+mode+"/"+verb, func(t *testing.T) {
					args := append([]string{verb, "--platform", platform, "--env", "dev"}, rev...)
					stdout, stderr, err := runFlyt(t, append(args, repo)...)
					if code := exitCode(err); code != 1 {
						t.Fatalf("exit code %d, want 1 (err %v)\n%s%s", code, err, stdout, stderr)
					}
					all := stdout + stderr + err.Error()
					if !strings.Contains(all, tt.wantFile) {
						t.Errorf("output lacks %q:\n%s", tt.wantFile, all)
					}
					if strings.Contains(all, linkMarker) {
						t.Errorf("output shows the file outside the repository:\n%s", all)
					}
					if strings.Contains(all, "goroutine ") || strings.Contains(all, "panic") {
						t.Errorf("output holds a Go trace:\n%s", all)
					}
					if !render.IsSpecError(err) && !errors.As(err, new(*exitError)) {
						t.Errorf("error %v is not a problem with the files", err)
					}
				})
			}
		}
	}
}

var digestLine = regexp.MustCompile(`(?m)^# app web, environment dev, digest (\S+)$`)

// Links inside the repository render the same from the working tree, from the commit, and
// through the server's Checkout of the same objects.
func TestRenderFollowsLinksInsideTheRepositoryLikeTheServer(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is needed to build the test repository")
	}
	srv := gittest.NewServer(t)
	repo := srv.NewRepo("team/web")
	sha := repo.Commit(t, map[string]string{
		"deploy/web.yaml":     linkApp,
		"deploy/vars/dev":     "replicas: 3\n",
		".nais/nais.yaml":     gittest.Symlink("../deploy/web.yaml"),
		".nais/vars-dev.yaml": gittest.Symlink("../deploy/vars/dev"),
	}, "Add web through links")
	platform := filepath.Join(t.TempDir(), "platform.yaml")
	writeTree(t, filepath.Dir(platform), map[string]string{"platform.yaml": testPlatform})

	digests := map[string]string{}
	for mode, extra := range map[string][]string{"working tree": nil, "revision": {"--revision", sha}} {
		args := append([]string{"render", "--platform", platform, "--env", "dev"}, extra...)
		stdout, stderr, err := runFlyt(t, append(args, repo.Work)...)
		if err != nil {
			t.Fatalf("render (%s): %v\n%s", mode, err, stderr)
		}
		m := digestLine.FindStringSubmatch(stdout)
		if m == nil || !strings.Contains(stdout, "replicas: 3") {
			t.Fatalf("render (%s) printed no render of web with 3 replicas:\n%s", mode, stdout)
		}
		digests[mode] = m[1]
	}

	p, err := environments.Load(platform)
	if err != nil {
		t.Fatal(err)
	}
	cache := source.NewCache(t.TempDir(), source.Options{})
	fsys, err := cache.Checkout(t.Context(), environments.Repository{URL: repo.URL()}, sha)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := render.LoadRepo(fsys, ".", render.LoadOptions{Environments: []string{"dev", "prod"}})
	if err != nil {
		t.Fatalf("LoadRepo over the Checkout: %v", err)
	}
	env := render.NewEnvironment(p.Environment("dev"), &p.Teams[0])
	// The CLI's vars: the origin remote as the repository, the commit and its branch.
	res, err := render.Render(loaded, "web", &env, render.Vars{Commit: sha, Branch: "main", Repo: repo.Dir})
	if err != nil {
		t.Fatalf("render over the Checkout: %v", err)
	}
	digests["server"] = res.Digest
	for mode, d := range digests {
		if d != res.Digest {
			t.Errorf("%s renders digest %s, the server's Checkout %s (all: %v)", mode, d, res.Digest, digests)
		}
	}
}
