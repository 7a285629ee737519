package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	gosync "sync"
	"syscall"
	"testing"
	"time"
)

// demoBin is the demo built once for the tests, run as `make demo` runs it.
var demoBin string

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "flyt-demo-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	demoBin = filepath.Join(dir, "demo")
	build := exec.Command("go", "build", "-o", demoBin, "github.com/flyt-platform/flyt/cmd/demo")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build the demo:", err)
		return 1
	}
	return m.Run()
}

// output collects a process's output safely while it runs.
type output struct {
	mu  gosync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// start runs the demo with extra environment variables.
func start(t *testing.T, env ...string) (*exec.Cmd, *output) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, demoBin)
	cmd.Env = append(os.Environ(), env...)
	out := &output{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, out
}

// workingFolder is the folder the demo said it works in.
func workingFolder(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`working folder (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the demo did not name its working folder:\n%s", out)
	}
	return m[1]
}

// assertCleanedUp checks that the demo removed its working folder (control planes, Git
// repositories, history and logs live in it or are stopped before it goes).
func assertCleanedUp(t *testing.T, out string) {
	t.Helper()
	if _, err := os.Stat(workingFolder(t, out)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the working folder is still there after the demo (stat: %v)", err)
	}
	if !strings.Contains(out, "✓ cleaned up") {
		t.Errorf("the demo did not report its clean-up:\n%s", out)
	}
}

// TestDemoUnattended runs the whole walkthrough as `DEMO_EXIT=1 make demo` does and checks
// that it says what happened at every step.
func TestDemoUnattended(t *testing.T) {
	cmd, out := start(t, "DEMO_EXIT=1")
	err := cmd.Wait()
	got := out.String()
	if err != nil {
		t.Fatalf("the demo failed: %v\n%s", err, got)
	}
	for _, want := range []*regexp.Regexp{
		// Every app deploys to dev.
		regexp.MustCompile(`✓ api +dev +[0-9a-f]{7}  success`),
		regexp.MustCompile(`✓ events +dev +[0-9a-f]{7}  success`),
		regexp.MustCompile(`✓ frontend +dev +[0-9a-f]{7}  success`),
		regexp.MustCompile(`UI: http://127\.0\.0\.1:\d+/`),
		// The promotion, and prod running the promoted image.
		regexp.MustCompile(`✓ POST /api/v1/promote: frontend → prod at [0-9a-f]{7} recorded`),
		regexp.MustCompile(`✓ frontend +prod +[0-9a-f]{7}  success in .*\(promotion by demo-operator\)  ghcr\.io/team-a/frontend:1\.0\.0`),
		regexp.MustCompile(`✓ frontend +prod +[0-9a-f]{7}  success in .*\(promotion by demo-operator\)  ghcr\.io/team-a/frontend:1\.1\.0`),
		regexp.MustCompile(`prod: Deployment team-a/frontend runs ghcr\.io/team-a/frontend:1\.1\.0`),
		// The bad commit fails in dev with its reason, and cannot be promoted.
		regexp.MustCompile(`✓ frontend +dev +[0-9a-f]{7}  success in .*\(push by alice\)`),
		regexp.MustCompile(`✗ frontend in dev at [0-9a-f]{7}: failure after .*CrashLoopBackOff`),
		regexp.MustCompile(`✓ promoting [0-9a-f]{7} to prod is refused \(409\): .*NeverSucceeded`),
		// The rollback.
		regexp.MustCompile(`✓ frontend +prod +[0-9a-f]{7}  success in .*\(rollback by demo-operator\)  ghcr\.io/team-a/frontend:1\.0\.0`),
		regexp.MustCompile(`✓ rolled back: prod runs [0-9a-f]{7} \(ghcr\.io/team-a/frontend:1\.0\.0\) again`),
		regexp.MustCompile(`✓ done \(DEMO_EXIT=1\)`),
	} {
		if !want.MatchString(got) {
			t.Errorf("the output lacks a line matching %s", want)
		}
	}
	// The rollback goes back to exactly the first promoted commit.
	first := regexp.MustCompile(`promotes frontend ([0-9a-f]{7}) from dev to prod`).FindStringSubmatch(got)
	back := regexp.MustCompile(`rolls frontend in prod back to ([0-9a-f]{7})`).FindStringSubmatch(got)
	if first == nil || back == nil || first[1] != back[1] {
		t.Errorf("first promoted %v, rolled back to %v; want the same commit", first, back)
	}
	assertCleanedUp(t, got)
	if t.Failed() {
		t.Logf("demo output:\n%s", got)
	}
}

// TestDemoKeepsServingUntilInterrupted runs the demo as a person would: it keeps serving the UI
// after the walkthrough, and Ctrl-C stops it cleanly.
func TestDemoKeepsServingUntilInterrupted(t *testing.T) {
	cmd, out := start(t)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	url := regexp.MustCompile(`browse (http://\S+/) `)
	var ui string
	deadline := time.After(3 * time.Minute)
	for ui == "" {
		select {
		case err := <-done:
			t.Fatalf("the demo ended by itself (%v):\n%s", err, out.String())
		case <-deadline:
			t.Fatalf("the demo never said it keeps running:\n%s", out.String())
		case <-time.After(200 * time.Millisecond):
		}
		if m := url.FindStringSubmatch(out.String()); m != nil {
			ui = m[1]
		}
	}
	resp, err := http.Get(ui)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(page, []byte("frontend")) {
		t.Errorf("GET %s: %s; want the UI listing frontend:\n%s", ui, resp.Status, page)
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("after Ctrl-C the demo exited with %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatalf("the demo did not stop within a minute of Ctrl-C:\n%s", out.String())
	}
	if _, err := http.Get(ui); err == nil {
		t.Errorf("%s still answers after the demo stopped", ui)
	}
	assertCleanedUp(t, out.String())
}

// TestDemoFailsClearly checks that a demo that cannot start says why and exits non-zero.
func TestDemoFailsClearly(t *testing.T) {
	cmd, out := start(t, "FLYT_CONTROLPLANE_DIR="+t.TempDir())
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("the demo without a control plane ended with %v, want exit status 1:\n%s", err, out.String())
	}
	if got := out.String(); !strings.Contains(got, "✗ demo failed: ") || !strings.Contains(got, "make demo") {
		t.Errorf("the failure does not say what to do:\n%s", got)
	}
	assertCleanedUp(t, out.String())
}
