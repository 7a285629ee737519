package gittest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Deleted is the content that, given for a path in a Commit, deletes that path.
const Deleted = "\x00gittest:deleted\x00"

// Symlink gives the content that, for a path in a Commit, makes that path a symbolic link to target
// (committed with Git's mode 120000), so that tests can build repositories whose links lead
// inside or out of them.
func Symlink(target string) string { return symlinkPrefix + target }

const symlinkPrefix = "\x00gittest:symlink\x00"

// Default author of the commits a Repo makes. Fixed so that commit SHAs are reproducible.
const (
	AuthorName  = "Flyt Tester"
	AuthorEmail = "tester@flyt.example"
)

// Epoch is the time of a Repo's first commit when Now is not set; each later commit is one
// minute after the previous one, so commit SHAs are reproducible.
var Epoch = time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)

// Repo is one bare repository on a Server plus a private working clone that builds commits.
// Commits are pushed straight into the bare repository on disk, so they never show in the
// server's traffic counters: only the code under test does.
type Repo struct {
	// Name is the repository's path under the server root and in its URL.
	Name string
	// Dir is the bare repository on disk.
	Dir string
	// Work is the working clone commits are built in.
	Work string
	// Branch is the branch commits go to. Default "main".
	Branch string
	// Now, when set, gives each commit's author and committer time; otherwise commits are
	// Epoch plus one minute per commit.
	Now func() time.Time
	// Author and Email, when set, are the author and committer of the commits made from now
	// on (tests of who a deploy is credited to); otherwise AuthorName and AuthorEmail.
	Author, Email string

	srv *Server

	// Guards the fields below.
	mu      sync.Mutex
	commits int
}

// NewRepo creates an empty bare repository called name (slashes allowed, e.g. "team/app") on
// a server made by NewServer, and fails the test on error.
func (s *Server) NewRepo(name string) *Repo {
	if s.t == nil {
		panic("gittest: NewRepo needs a server from NewServer; use CreateRepo with Serve")
	}
	s.t.Helper()
	r, err := s.CreateRepo(name)
	if err != nil {
		s.t.Fatalf("create repository %s: %v", name, err)
	}
	return r
}

// CreateRepo creates an empty bare repository called name and its working clone. The demo
// uses it; tests use NewRepo.
func (s *Server) CreateRepo(name string) (*Repo, error) {
	name = strings.Trim(name, "/")
	if name == "" || strings.Contains(name, "..") {
		return nil, fmt.Errorf("invalid repository name %q", name)
	}
	r := &Repo{
		Name:   name,
		Dir:    filepath.Join(s.Root, filepath.FromSlash(name)),
		Work:   filepath.Join(s.gitHome, "work", filepath.FromSlash(name)),
		Branch: "main",
		srv:    s,
	}
	if err := r.initBare(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(r.Work, 0o755); err != nil {
		return nil, fmt.Errorf("create working clone dir: %w", err)
	}
	if _, err := r.git(r.Work, nil, "init", "-q", "-b", r.Branch); err != nil {
		return nil, fmt.Errorf("init working clone: %w", err)
	}
	if _, err := r.git(r.Work, nil, "remote", "add", "origin", r.Dir); err != nil {
		return nil, fmt.Errorf("add origin to working clone: %w", err)
	}
	return r, nil
}

func (r *Repo) initBare() error {
	if err := os.MkdirAll(r.Dir, 0o755); err != nil {
		return fmt.Errorf("create bare repository dir: %w", err)
	}
	if _, err := r.git(r.Dir, nil, "init", "-q", "--bare", "-b", r.Branch); err != nil {
		return fmt.Errorf("init bare repository: %w", err)
	}
	return nil
}

// URL is the repository's clone URL over smart HTTP.
func (r *Repo) URL() string { return r.srv.URL + "/" + r.Name }

// Stats is the traffic the server has answered for this repository.
func (r *Repo) Stats() Stats { return r.srv.RepoStats(r.Name) }

// Commit writes files (path → content; content Deleted removes the path) into the working
// clone, commits them with message msg on Branch and pushes. It returns the new commit's SHA
// and fails the test on error.
func (r *Repo) Commit(t testing.TB, files map[string]string, msg string) string {
	t.Helper()
	sha, err := r.CommitFiles(files, msg)
	if err != nil {
		t.Fatalf("commit to %s: %v", r.Name, err)
	}
	return sha
}

// CommitFiles is Commit for code without a *testing.T (the demo).
func (r *Repo) CommitFiles(files map[string]string, msg string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.writeFiles(files); err != nil {
		return "", err
	}
	return r.commitAndPush(msg, false)
}

// ForcePush replaces the branch with a new root commit that holds only files (none: an
// empty tree), unrelated to the branch's history, the way a force-push of a rewritten
// history does. It returns the new SHA.
func (r *Repo) ForcePush(t testing.TB, files map[string]string, msg string) string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	sha, err := r.forcePush(files, msg)
	if err != nil {
		t.Fatalf("force-push to %s: %v", r.Name, err)
	}
	return sha
}

func (r *Repo) forcePush(files map[string]string, msg string) (string, error) {
	orphan := fmt.Sprintf("orphan-%d", r.commits)
	if _, err := r.git(r.Work, nil, "checkout", "-q", "--orphan", orphan); err != nil {
		return "", fmt.Errorf("start orphan branch: %w", err)
	}
	if _, err := r.git(r.Work, nil, "rm", "-rfq", "--ignore-unmatch", "."); err != nil {
		return "", fmt.Errorf("clear index: %w", err)
	}
	if err := r.writeFiles(files); err != nil {
		return "", err
	}
	sha, err := r.commitAndPush(msg, true)
	if err != nil {
		return "", err
	}
	if _, err := r.git(r.Work, nil, "branch", "-q", "-M", r.Branch); err != nil {
		return "", fmt.Errorf("rename orphan branch: %w", err)
	}
	return sha, nil
}

// Reset force-pushes the branch back to sha, an older commit (a rollback by force-push).
func (r *Repo) Reset(t testing.TB, sha string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.git(r.Work, nil, "reset", "-q", "--hard", sha); err != nil {
		t.Fatalf("reset %s to %s: %v", r.Name, sha, err)
	}
	if _, err := r.git(r.Work, nil, "push", "-q", "--force", "origin", "HEAD:refs/heads/"+r.Branch); err != nil {
		t.Fatalf("force-push %s: %v", r.Name, err)
	}
}

// DeleteBranch deletes Branch on the server: the branch vanished, the repository stays.
func (r *Repo) DeleteBranch(t testing.TB) {
	t.Helper()
	if _, err := r.git(r.Dir, nil, "update-ref", "-d", "refs/heads/"+r.Branch); err != nil {
		t.Fatalf("delete branch %s of %s: %v", r.Branch, r.Name, err)
	}
}

// Empty replaces the repository on the server with an empty one: it exists, has no refs.
func (r *Repo) Empty(t testing.TB) {
	t.Helper()
	if err := os.RemoveAll(r.Dir); err != nil {
		t.Fatalf("remove %s: %v", r.Dir, err)
	}
	if err := r.initBare(); err != nil {
		t.Fatalf("re-create %s: %v", r.Name, err)
	}
}

// Delete removes the repository from the server; it then answers 404.
func (r *Repo) Delete(t testing.TB) {
	t.Helper()
	if err := os.RemoveAll(r.Dir); err != nil {
		t.Fatalf("remove %s: %v", r.Dir, err)
	}
}

// Head returns the SHA the branch points at on the server.
func (r *Repo) Head(t testing.TB) string {
	t.Helper()
	out, err := r.git(r.Dir, nil, "rev-parse", "refs/heads/"+r.Branch)
	if err != nil {
		t.Fatalf("read head of %s: %v", r.Name, err)
	}
	return out
}

func (r *Repo) writeFiles(files map[string]string) error {
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if !filepath.IsLocal(filepath.FromSlash(p)) {
			return fmt.Errorf("path %q is not inside the repository", p)
		}
		full := filepath.Join(r.Work, filepath.FromSlash(p))
		if files[p] == Deleted {
			if err := os.RemoveAll(full); err != nil {
				return fmt.Errorf("delete %s: %w", p, err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return fmt.Errorf("create dir of %s: %w", p, err)
		}
		if target, ok := strings.CutPrefix(files[p], symlinkPrefix); ok {
			if err := os.RemoveAll(full); err != nil {
				return fmt.Errorf("replace %s: %w", p, err)
			}
			if err := os.Symlink(target, full); err != nil {
				return fmt.Errorf("link %s: %w", p, err)
			}
			continue
		}
		if err := os.WriteFile(full, []byte(files[p]), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	return nil
}

func (r *Repo) commitAndPush(msg string, force bool) (string, error) {
	when := Epoch.Add(time.Duration(r.commits) * time.Minute)
	if r.Now != nil {
		when = r.Now()
	}
	r.commits++
	date := when.Format(time.RFC3339)
	name, email := AuthorName, AuthorEmail
	if r.Author != "" {
		name = r.Author
	}
	if r.Email != "" {
		email = r.Email
	}
	env := []string{
		"GIT_AUTHOR_NAME=" + name, "GIT_AUTHOR_EMAIL=" + email, "GIT_AUTHOR_DATE=" + date,
		"GIT_COMMITTER_NAME=" + name, "GIT_COMMITTER_EMAIL=" + email, "GIT_COMMITTER_DATE=" + date,
	}
	if _, err := r.git(r.Work, nil, "add", "-A"); err != nil {
		return "", fmt.Errorf("stage files: %w", err)
	}
	if _, err := r.git(r.Work, env, "commit", "-q", "--allow-empty", "--no-verify", "-m", msg); err != nil {
		return "", fmt.Errorf("commit: %w", err)
	}
	sha, err := r.git(r.Work, nil, "rev-parse", "HEAD")
	if err != nil {
		return "", fmt.Errorf("read new commit: %w", err)
	}
	args := []string{"push", "-q", "origin", "HEAD:refs/heads/" + r.Branch}
	if force {
		args = []string{"push", "-q", "--force", "origin", "HEAD:refs/heads/" + r.Branch}
	}
	if _, err := r.git(r.Work, nil, args...); err != nil {
		return "", fmt.Errorf("push: %w", err)
	}
	return sha, nil
}

// git runs the git binary in dir with the server's isolated environment.
func (r *Repo) git(dir string, env []string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(append(append(os.Environ()[:0:0], "PATH="+os.Getenv("PATH")), gitEnv(r.srv.gitHome)...), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}
