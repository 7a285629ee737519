package gittest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// clientGit runs the git binary as an outside client would, isolated from user config.
func clientGit(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "git", args...)
	cmd.Dir = dir
	cmd.Env = append(gitEnv(t.TempDir()), "PATH="+os.Getenv("PATH"))
	if v := os.Getenv("GIT_SSH_COMMAND"); v != "" {
		cmd.Env = append(cmd.Env, "GIT_SSH_COMMAND="+v)
	}
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestServerCloneSeesCommits(t *testing.T) {
	srv := NewServer(t)
	repo := srv.NewRepo("team-a/app")
	first := repo.Commit(t, map[string]string{"app.yaml": "a: 1\n", "dir/x.txt": "x"}, "first")
	second := repo.Commit(t, map[string]string{"dir/x.txt": Deleted}, "second")
	if first == second {
		t.Fatal("two commits have the same SHA")
	}
	if got := repo.Head(t); got != second {
		t.Fatalf("head = %s, want %s", got, second)
	}
	if diff := cmp.Diff(Stats{}, repo.Stats()); diff != "" {
		t.Fatalf("building commits caused server traffic (-want +got):\n%s", diff)
	}

	dst := filepath.Join(t.TempDir(), "clone")
	if out, err := clientGit(t, t.TempDir(), "clone", "-q", repo.URL(), dst); err != nil {
		t.Fatalf("clone: %v: %s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dst, "app.yaml"))
	if err != nil || string(b) != "a: 1\n" {
		t.Fatalf("app.yaml = %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(dst, "dir/x.txt")); !os.IsNotExist(err) {
		t.Fatalf("deleted file still present: %v", err)
	}
	log, err := clientGit(t, dst, "log", "--format=%an <%ae> %aI %s")
	if err != nil {
		t.Fatalf("log: %v", err)
	}
	want := "Flyt Tester <tester@flyt.example> 2026-01-01T09:01:00+00:00 second\n" +
		"Flyt Tester <tester@flyt.example> 2026-01-01T09:00:00+00:00 first"
	if diff := cmp.Diff(want, log); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
	st := repo.Stats()
	// The git binary speaks protocol v2: ls-refs and fetch are two upload-pack POSTs.
	if st.UploadPacks == 0 || st.InfoRefs != 1 || st.BytesOut == 0 {
		t.Errorf("stats after one clone = %+v, want 1 info/refs, upload-packs, some bytes", st)
	}
	if srv.Stats() != st {
		t.Errorf("server stats %+v differ from the only repository's %+v", srv.Stats(), st)
	}
}

func TestServerPushOverHTTP(t *testing.T) {
	srv := NewServer(t)
	repo := srv.NewRepo("app")
	repo.Commit(t, map[string]string{"a": "1"}, "first")
	dst := filepath.Join(t.TempDir(), "clone")
	if out, err := clientGit(t, t.TempDir(), "clone", "-q", repo.URL(), dst); err != nil {
		t.Fatalf("clone: %v: %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dst, "b"), []byte("2"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"add", "b"},
		{"-c", "user.name=x", "-c", "user.email=x@x", "commit", "-q", "-m", "over http"},
		{"push", "-q", "origin", "HEAD:main"},
	} {
		if out, err := clientGit(t, dst, args...); err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
	}
	local, _ := clientGit(t, dst, "rev-parse", "HEAD")
	if got := repo.Head(t); got != local {
		t.Fatalf("server head = %s, want pushed %s", got, local)
	}
	if repo.Stats().ReceivePacks != 1 {
		t.Errorf("receive-packs = %d, want 1", repo.Stats().ReceivePacks)
	}
}

func TestServerToken(t *testing.T) {
	srv := NewServer(t, WithToken("s3cret"))
	repo := srv.NewRepo("app")
	repo.Commit(t, map[string]string{"a": "1"}, "first")

	tests := []struct {
		name   string
		url    string
		wantOK bool
	}{
		{"no token", repo.URL(), false},
		{"wrong token", strings.Replace(repo.URL(), "http://", "http://x-access-token:nope@", 1), false},
		{"right token", strings.Replace(repo.URL(), "http://", "http://x-access-token:s3cret@", 1), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := clientGit(t, t.TempDir(), "ls-remote", tt.url)
			if got := err == nil; got != tt.wantOK {
				t.Fatalf("ls-remote ok = %v, want %v (err %v)", got, tt.wantOK, err)
			}
		})
	}
	if got := repo.Stats().Unauthorized; got < 2 {
		t.Errorf("unauthorized = %d, want at least 2", got)
	}
}

func TestRepoLifecycle(t *testing.T) {
	srv := NewServer(t)
	repo := srv.NewRepo("app")
	old := repo.Commit(t, map[string]string{"a": "1"}, "first")
	repo.Commit(t, map[string]string{"a": "2"}, "second")

	lsRemote := func() (string, error) {
		return clientGit(t, t.TempDir(), "ls-remote", "--heads", repo.URL())
	}
	fresh := repo.ForcePush(t, nil, "nothing")
	if out, _ := lsRemote(); !strings.HasPrefix(out, fresh) {
		t.Fatalf("after force-push ls-remote = %q, want %s", out, fresh)
	}
	after := repo.Commit(t, map[string]string{"b": "1"}, "on top of the rewrite")
	if out, _ := lsRemote(); !strings.HasPrefix(out, after) {
		t.Fatalf("commit after force-push: ls-remote = %q, want %s", out, after)
	}
	repo.Reset(t, old)
	if got := repo.Head(t); got != old {
		t.Fatalf("after reset head = %s, want %s", got, old)
	}
	repo.DeleteBranch(t)
	if out, err := lsRemote(); err != nil || out != "" {
		t.Fatalf("after branch delete ls-remote = %q, %v; want no heads", out, err)
	}
	repo.Empty(t)
	if out, err := lsRemote(); err != nil || out != "" {
		t.Fatalf("after empty ls-remote = %q, %v; want no heads", out, err)
	}
	repo.Delete(t)
	if _, err := lsRemote(); err == nil {
		t.Fatal("ls-remote of a deleted repository succeeded")
	}
}

func TestServe(t *testing.T) {
	root := t.TempDir()
	srv, err := Serve(root, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	repo, err := srv.CreateRepo("demo/app")
	if err != nil {
		t.Fatal(err)
	}
	sha, err := repo.CommitFiles(map[string]string{"app.yaml": "x"}, "demo")
	if err != nil {
		t.Fatal(err)
	}
	out, err := clientGit(t, t.TempDir(), "ls-remote", repo.URL(), "refs/heads/main")
	if err != nil || !strings.HasPrefix(out, sha) {
		t.Fatalf("ls-remote = %q, %v; want %s", out, err, sha)
	}
	if _, err := os.Stat(filepath.Join(root, "demo", "app", "HEAD")); err != nil {
		t.Errorf("bare repository not under root: %v", err)
	}
}

// TestFetchDelay: a slowed repository's fetches wait, another repository on the same server
// does not, and closing the server ends a delayed fetch at once.
func TestFetchDelay(t *testing.T) {
	srv := NewServer(t)
	slow, quick := srv.NewRepo("team-a/slow"), srv.NewRepo("team-b/quick")
	slow.Commit(t, map[string]string{"a": "1"}, "first")
	quick.Commit(t, map[string]string{"b": "1"}, "first")
	srv.SetFetchDelay("team-a/slow", time.Minute)

	done := make(chan error, 1)
	go func() {
		_, err := clientGit(t, t.TempDir(), "clone", "-q", slow.URL(), "clone")
		done <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); srv.Delaying() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the slowed repository's fetch was never delayed")
		}
	}
	start := time.Now()
	if out, err := clientGit(t, t.TempDir(), "clone", "-q", quick.URL(), "clone"); err != nil {
		t.Fatalf("clone of the other repository: %v: %s", err, out)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the other repository took %s to clone while one was slowed", d)
	}
	select {
	case err := <-done:
		t.Fatalf("the slowed clone ended after %s (%v), before its delay", time.Since(start), err)
	default:
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Logf("the delayed clone ended when the server closed: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("closing the server did not end the delayed fetch")
	}
	if n := srv.Delaying(); n != 0 {
		t.Errorf("Delaying() = %d after Close, want 0", n)
	}
}
