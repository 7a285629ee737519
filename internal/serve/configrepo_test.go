package serve

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/internal/testenv/gittest"
)

func TestPlatformConfigFollowsGit(t *testing.T) {
	srv := gittest.NewServer(t)
	teamRepo := srv.NewRepo("team-c/apps")
	teamRepo.Commit(t, map[string]string{".nais/app.yaml": "apiVersion: nais.io/v1alpha1\nkind: Application\nmetadata:\n  name: cfg-app\nspec:\n  image: registry.example/cfg-app:1\n  replicas: {min: 1, max: 1}\n"}, "app")
	ops := srv.NewRepo("ops/platform")
	dir := t.TempDir()
	config := func(envs ...string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "apiVersion: flyt.dev/v1alpha1\nkind: Platform\nserver:\n  dataDir: %s\n  pollInterval: 1h\nenvironments:\n", filepath.Join(dir, "data"))
		for _, e := range envs {
			fmt.Fprintf(&b, "- name: %s\n  branch: main\n  cluster: {kubeconfig: %s}\n", e, dev.Kubeconfig())
		}
		fmt.Fprintf(&b, "teams:\n- name: team-c\n  repositories:\n  - url: %s\n", teamRepo.URL())
		return b.String()
	}
	ops.Commit(t, map[string]string{"platform.yaml": config("dev")}, "one environment")

	base := runInProcess(t, Options{
		ConfigRepository: &ConfigRepository{Repository: environments.Repository{URL: ops.URL(), Branch: "main"}, CacheDir: filepath.Join(dir, "platform"), Interval: 100 * time.Millisecond},
	})
	get := func(path string) string {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	waitFor := func(path, want string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		var got string
		for time.Now().Before(deadline) {
			if got = get(path); strings.Contains(got, want) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("GET %s never contained %q; last: %s", path, want, got)
	}
	if got := get("/api/v1/environments"); !strings.Contains(got, `"dev"`) || strings.Contains(got, `"qa"`) {
		t.Fatalf("environments = %s, want dev only", got)
	}

	// A merge to the config repository adds an environment, without a restart.
	ops.Commit(t, map[string]string{"platform.yaml": config("dev", "qa")}, "add qa")
	waitFor("/api/v1/environments", `"qa"`)

	// A broken version is reported with its line and the old config stays in force.
	ops.Commit(t, map[string]string{"platform.yaml": strings.Replace(config("dev", "qa"), "  branch: main\n", "  brnach: main\n", 1)}, "typo")
	waitFor("/readyz", `platform.yaml:8:3: environments[0].brnach: unknown field "brnach"; did you mean "branch"?`)
	if got := get("/api/v1/environments"); !strings.Contains(got, `"qa"`) {
		t.Errorf("a broken config replaced the old one: environments = %s", got)
	}
}

// runInProcess runs serve.Run with opts in this process, listening on a free local port with
// logs discarded (unless opts.Log is set), until the end of the test, and returns its base URL once it serves.
func runInProcess(t *testing.T, opts Options) string {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	opts.Listen, opts.ShutdownTimeout = "127.0.0.1:0", 5*time.Second
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	opts.Ready = func(a string) { addr <- a }
	go func() { done <- Run(ctx, opts) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("serve ended: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve never became ready")
	}
	return base
}
