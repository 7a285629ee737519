// Package gittest serves real Git repositories to flyt's tests and to the demo: bare
// repositories in a directory, served over smart HTTP by `git http-backend` (the same server
// side GitHub's clients meet), with commits built by the `git` binary. Tests of the repository
// watcher, the controller loop and the end-to-end suite push commits, force-push, delete
// branches and delete whole repositories through it, and read its counters to assert how much
// traffic a sync caused.
package gittest

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Stats counts the smart-HTTP traffic a server (or one repository on it) has answered. Tests
// use it to prove that an unmoved branch cost no fetch (UploadPacks did not grow) and to
// measure how many bytes a fetch moved.
type Stats struct {
	// Requests is every HTTP request, including refused ones.
	Requests int64
	// InfoRefs counts GET …/info/refs: ref advertisements (ls-remote, and the first step of
	// every fetch and push).
	InfoRefs int64
	// UploadPacks counts POST …/git-upload-pack: the requests that negotiate and send a
	// packfile, i.e. real fetches.
	UploadPacks int64
	// ReceivePacks counts POST …/git-receive-pack: pushes over HTTP.
	ReceivePacks int64
	// Unauthorized counts requests refused for a missing or wrong token.
	Unauthorized int64
	// BytesOut is the size of all response bodies sent.
	BytesOut int64
}

// counters is the atomic form of Stats.
type counters struct {
	requests, infoRefs, uploadPacks, receivePacks, unauthorized, bytesOut atomic.Int64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Requests:     c.requests.Load(),
		InfoRefs:     c.infoRefs.Load(),
		UploadPacks:  c.uploadPacks.Load(),
		ReceivePacks: c.receivePacks.Load(),
		Unauthorized: c.unauthorized.Load(),
		BytesOut:     c.bytesOut.Load(),
	}
}

// Server serves the bare repositories under Root over smart HTTP at URL. Create one with
// NewServer in tests or Serve in the demo.
type Server struct {
	// Root is the directory holding the bare repositories; a repository named "team/app"
	// lives in Root/team/app.
	Root string
	// URL is the base URL; a repository's clone URL is URL + "/" + its name.
	URL string

	gitHome string // HOME for every git process: no user or system config leaks in
	httpSrv *http.Server
	ln      net.Listener
	t       testing.TB // nil for Serve

	total counters

	// Guards the fields below.
	mu     sync.Mutex
	token  string
	perRep map[string]*counters
	// delays holds the fetch delay of each slowed repository (SetFetchDelay).
	delays map[string]time.Duration

	// closing is closed by Close: every delayed fetch then ends at once.
	closing   chan struct{}
	closeOnce sync.Once
	// delaying counts fetches being delayed right now.
	delaying atomic.Int64
}

// Option configures a Server.
type Option func(*Server)

// WithToken makes the server refuse every request (401) that does not carry token as the
// password of HTTP basic auth, the way GitHub checks an access token. The user name is not
// checked.
func WithToken(token string) Option {
	return func(s *Server) { s.token = token }
}

// NewServer starts a server on a loopback port with its repositories in a fresh temporary
// directory; it is closed when the test ends.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := serve(t.TempDir(), "127.0.0.1:0", opts...)
	if err != nil {
		t.Fatalf("start git server: %v", err)
	}
	s.t = t
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Serve starts a server outside tests, for the demo: it serves the bare repositories under
// root (created if missing) on addr ("127.0.0.1:0" picks a free port). Close stops it.
func Serve(root, addr string, opts ...Option) (*Server, error) {
	return serve(root, addr, opts...)
}

func serve(root, addr string, opts ...Option) (*Server, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("create repository root: %w", err)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("resolve repository root: %w", err)
	}
	home, err := os.MkdirTemp("", "gittest-home-")
	if err != nil {
		return nil, fmt.Errorf("create git home: %w", err)
	}
	gitPath, err := exec.LookPath("git")
	if err != nil {
		return nil, fmt.Errorf("find the git binary: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	s := &Server{
		Root:    abs,
		URL:     "http://" + ln.Addr().String(),
		gitHome: home,
		ln:      ln,
		perRep:  map[string]*counters{},
		delays:  map[string]time.Duration{},
		closing: make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	backend := &cgi.Handler{
		Path: gitPath,
		Args: []string{"http-backend"},
		Dir:  abs,
		Env: append(gitEnv(home),
			"GIT_PROJECT_ROOT="+abs,
			"GIT_HTTP_EXPORT_ALL=1",
			// Let tests push over HTTP without an authenticated REMOTE_USER.
			"GIT_CONFIG_COUNT=1",
			"GIT_CONFIG_KEY_0=http.receivepack",
			"GIT_CONFIG_VALUE_0=true",
		),
		InheritEnv: []string{"PATH"},
		Stderr:     ioDiscard{},
	}
	s.httpSrv = &http.Server{
		Handler:           s.wrap(backend),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = s.httpSrv.Serve(ln) }()
	return s, nil
}

// ioDiscard drops http-backend's stderr (it reports refused requests there too).
type ioDiscard struct{}

func (ioDiscard) Write(p []byte) (int, error) { return len(p), nil }

// Close stops the server and removes its private git home. The repositories under Root stay.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { close(s.closing) })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.httpSrv.Shutdown(ctx)
	_ = os.RemoveAll(s.gitHome)
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("stop git server: %w", err)
	}
	return nil
}

// SetToken changes the token the server requires ("" turns the check off), so tests can
// rotate a token while a client keeps running.
func (s *Server) SetToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = token
}

// SetFetchDelay makes the server sit on every fetch of the named repository (each POST to
// …/git-upload-pack; a protocol v0 client such as flyt's reads the refs with a GET, which
// stays quick, while the git binary's v2 ls-refs is a POST too) for d before answering, as an
// overloaded or distant Git host of one team does; 0 makes it quick again. A delayed fetch
// ends early when its client gives up or the server closes, so a test that slows a
// repository by a minute does not keep running for that minute after it ends.
func (s *Server) SetFetchDelay(name string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d <= 0 {
		delete(s.delays, name)
		return
	}
	s.delays[name] = d
}

// Delaying is how many fetches SetFetchDelay is holding back right now.
func (s *Server) Delaying() int64 { return s.delaying.Load() }

// delay holds a fetch of name back for its SetFetchDelay.
func (s *Server) delay(r *http.Request, name string) {
	s.mu.Lock()
	d := s.delays[name]
	s.mu.Unlock()
	if d <= 0 {
		return
	}
	s.delaying.Add(1)
	defer s.delaying.Add(-1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	case <-s.closing:
	}
}

// Stats returns the traffic counted over all repositories.
func (s *Server) Stats() Stats { return s.total.snapshot() }

// RepoStats returns the traffic counted for one repository (by name, as given to NewRepo).
func (s *Server) RepoStats(name string) Stats {
	s.mu.Lock()
	c := s.perRep[name]
	s.mu.Unlock()
	if c == nil {
		return Stats{}
	}
	return c.snapshot()
}

func (s *Server) repoCounters(name string) *counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.perRep[name]
	if c == nil {
		c = &counters{}
		s.perRep[name] = c
	}
	return c
}

// wrap counts requests and bytes and checks the token before handing over to http-backend.
func (s *Server) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, kind := splitGitPath(r.URL.Path)
		cs := []*counters{&s.total}
		if name != "" {
			cs = append(cs, s.repoCounters(name))
		}
		for _, c := range cs {
			c.requests.Add(1)
		}
		cw := &countingWriter{ResponseWriter: w, cs: cs}

		s.mu.Lock()
		token := s.token
		s.mu.Unlock()
		if token != "" {
			_, pass, ok := r.BasicAuth()
			if !ok || subtle.ConstantTimeCompare([]byte(pass), []byte(token)) != 1 {
				for _, c := range cs {
					c.unauthorized.Add(1)
				}
				cw.Header().Set("WWW-Authenticate", `Basic realm="gittest"`)
				http.Error(cw, "authentication required", http.StatusUnauthorized)
				return
			}
		}
		for _, c := range cs {
			switch kind {
			case "info/refs":
				c.infoRefs.Add(1)
			case "git-upload-pack":
				c.uploadPacks.Add(1)
			case "git-receive-pack":
				c.receivePacks.Add(1)
			}
		}
		if kind == "git-upload-pack" {
			s.delay(r, name)
		}
		next.ServeHTTP(cw, r)
	})
}

// splitGitPath splits "/team/app/info/refs" into ("team/app", "info/refs").
func splitGitPath(p string) (name, kind string) {
	for _, k := range []string{"info/refs", "git-upload-pack", "git-receive-pack"} {
		if rest, ok := strings.CutSuffix(p, "/"+k); ok {
			return strings.Trim(rest, "/"), k
		}
	}
	return "", ""
}

type countingWriter struct {
	http.ResponseWriter
	cs []*counters
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	for _, c := range w.cs {
		c.bytesOut.Add(int64(n))
	}
	return n, err
}

func (w *countingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// gitEnv is the environment of every git process: no system or user config, a private HOME,
// and no prompts.
func gitEnv(home string) []string {
	return []string{
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + home,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0",
		"LC_ALL=C",
	}
}
