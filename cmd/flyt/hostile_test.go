package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flyt-platform/flyt/internal/testenv/hostiletest"
)

// hostilePlatform is a platform with one environment that takes ConfigMaps, under the limits
// the hostile cases are written for.
const hostilePlatform = `apiVersion: flyt.dev/v1alpha1
kind: Platform
environments:
  - name: dev
    branch: main
    cluster: {name: dev, kubeconfig: /dev/null}
    rawKinds: [ConfigMap]
teams:
  - name: hostile
    repositories: [{url: "https://git.example/hostile/apps"}]
` + hostiletest.Limits

// writeHostileRepo lays out c as a working tree in a new temp dir beside a platform config
// and the file outside the repository that the case's links lead to.
func writeHostileRepo(t *testing.T, c hostiletest.Case) (platform, repo string) {
	t.Helper()
	dir := t.TempDir()
	platform = filepath.Join(dir, "platform.yaml")
	repo = filepath.Join(dir, "repo")
	outside := filepath.Join(dir, "outside", "secret.yaml")
	files := map[string]string{platform: hostilePlatform, outside: hostiletest.MarkerFile,
		filepath.Join(repo, ".nais", "app.yaml"): hostiletest.App(c.Slug)}
	for p, data := range c.Files {
		files[filepath.Join(repo, filepath.FromSlash(p))] = data
	}
	for p, data := range files {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for p, target := range c.Symlinks {
		if target == hostiletest.OutsideTarget {
			target = outside
		}
		if err := os.Symlink(target, filepath.Join(repo, filepath.FromSlash(p))); err != nil {
			t.Fatal(err)
		}
	}
	return platform, repo
}

// cliExit is the exit code `flyt` would end with for err.
func cliExit(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	}
	return 1
}

// TestHostileRepositoriesCLI: every hostile repository of internal/testenv/hostiletest, through
// `flyt render` and `flyt validate`, exits 1 with a message naming the file and saying what
// is wrong, shows no Go stack trace, and nothing outside the repository shows in the output.
// The .git folder is skipped: the harmless app renders, and nothing inside the folder does.
func TestHostileRepositoriesCLI(t *testing.T) {
	for _, c := range hostiletest.Cases() {
		t.Run(c.Slug, func(t *testing.T) {
			platform, repo := writeHostileRepo(t, c)
			runs := map[string][]string{
				"render":   {"render", "--platform", platform, "--env", "dev", repo},
				"validate": {"validate", "--platform", platform, repo},
			}
			if len(c.Symlinks) > 0 {
				// The same links committed to Git, read with --revision.
				gitCommitAll(t, repo)
				runs["render --revision"] = []string{"render", "--platform", platform, "--env", "dev", "--revision", "main", repo}
				runs["validate --revision"] = []string{"validate", "--platform", platform, "--revision", "main", repo}
			}
			for name, args := range runs {
				stdout, stderr, err := runFlyt(t, args...)
				out := stdout + stderr
				if err != nil {
					out += err.Error()
				}
				checkHostileOutput(t, c, name, cliExit(err), out)
			}
		})
	}
}

func checkHostileOutput(t *testing.T, c hostiletest.Case, run string, code int, out string) {
	t.Helper()
	short := out[:min(len(out), 600)]
	if strings.Contains(out, hostiletest.Marker) {
		t.Errorf("%s printed what it read outside the repository (the target of a symbolic link); it must refuse the link:\n%s", run, short)
	}
	for _, trace := range []string{"goroutine ", "panic("} {
		if strings.Contains(out, trace) {
			t.Errorf("%s printed a Go stack trace (%q):\n%s", run, trace, short)
		}
	}
	if c.Ignored {
		rendered := strings.Contains(out, "# app "+c.Slug+",") || strings.Contains(out, "1 renders, 0 failed")
		if code != 0 || strings.Contains(out, "sneaky") || !rendered {
			t.Errorf("%s: exit %d; want 0, the harmless app %s rendered and nothing of the .git folder (app sneaky):\n%s", run, code, c.Slug, short)
		}
		return
	}
	if code != 1 {
		what := "it must fail"
		if c.LinkOut {
			what = "the symbolic link out of the repository was followed or silently skipped; it must be an error naming the file"
		}
		t.Errorf("%s: exit %d, want 1: %s; output:\n%s", run, code, what, short)
		return
	}
	if c.File != "" && !strings.Contains(out, c.File+":") {
		t.Errorf("%s: the message does not name %s:\n%s", run, c.File, short)
	}
	switch {
	case c.LinkOut && !strings.Contains(out, c.Want):
		t.Logf("%s fails, but does not say the file is a link out of the repository:\n%s", run, short)
	case !strings.Contains(out, c.Want):
		t.Errorf("%s: the message does not say %q:\n%s", run, c.Want, short)
	}
}

// gitCommitAll makes repo a Git repository with everything in it committed on main.
func gitCommitAll(t *testing.T, repo string) {
	t.Helper()
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-q", "-m", "hostile"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.test", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.test")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
}
