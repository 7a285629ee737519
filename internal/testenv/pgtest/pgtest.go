// Package pgtest starts a throwaway PostgreSQL server for flyt's tests: Debian's server binaries,
// a fresh cluster in a temporary directory, reachable over a unix socket in that directory (and
// TCP on a free loopback port), with one fresh database per test. The history store's
// PostgreSQL implementation is tested against it instead of a fake.
//
// PostgreSQL refuses to run as root, so when the tests run as root the server runs as the
// "postgres" system user (as `runuser -u postgres` would, through the process credentials) in a
// directory that user owns. The server dies with the test binary, even when that is killed.
//
// Typical use, one server per test package:
//
//	var pg *pgtest.Server
//
//	func TestMain(m *testing.M) {
//		srv, err := pgtest.Start()
//		... // keep err: tests that need PostgreSQL fail with it
//		code := m.Run()
//		srv.Stop()
//		os.Exit(code)
//	}
//
// and in a test: dsn := pg.NewDatabase(t).
//
// Install the binaries with `apt-get install -y postgresql`. Tests that need PostgreSQL fail,
// saying how to install it, when they are missing: the PostgreSQL store is never left untested.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoBinaries says the PostgreSQL server binaries are not installed.
var ErrNoBinaries = errors.New("PostgreSQL server binaries (initdb, postgres) not found under /usr/lib/postgresql/*/bin or in PATH; install them with `apt-get install -y postgresql`")

// Server is a running throwaway PostgreSQL server.
type Server struct {
	// Dir holds the cluster's data directory and its unix socket; removed by Stop.
	Dir string
	// Port is the TCP port on 127.0.0.1 (the unix socket uses the same number).
	Port int
	// User is the superuser tests connect as (no password: trust authentication).
	User string

	bin    string
	asUser string              // "postgres" when running as root, else ""
	cred   *syscall.Credential // that user's IDs
	cmd    *exec.Cmd
	done   chan error
	nextDB atomic.Int64
}

// findBin returns the newest PostgreSQL bin directory holding initdb and postgres.
func findBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if fileExists(filepath.Join(d, "initdb")) && fileExists(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("postgres"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	return "", ErrNoBinaries
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// command builds a command that runs as the server's user. It is the Go equivalent of
// `runuser -u postgres --`, and it asks the kernel to stop the process if the test binary dies
// (a killed `go test`, a timeout), so no server outlives its tests.
func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGQUIT}
	if s.cred != nil {
		cmd.SysProcAttr.Credential = s.cred
		cmd.Env = append(os.Environ(), "HOME="+s.Dir, "USER="+s.asUser, "LOGNAME="+s.asUser)
	}
	return cmd
}

// Start creates a cluster in a new temporary directory and starts a server on it, tuned for
// throwaway use (no fsync: a crash of the test machine loses nothing anyone needs). It returns
// ErrNoBinaries when PostgreSQL is not installed.
func Start() (*Server, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, User: "flyt", done: make(chan error, 1)}
	var uid, gid = -1, -1
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("start postgres: running as root needs the postgres user (apt-get install -y postgresql creates it): %w", err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		s.asUser = "postgres"
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	// A short base keeps the socket path under the 107-byte unix socket limit.
	s.Dir, err = os.MkdirTemp("", "flyt-pg-")
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	if uid >= 0 {
		if err := os.Chown(s.Dir, uid, gid); err != nil {
			s.cleanup()
			return nil, fmt.Errorf("start postgres: chown %s: %w", s.Dir, err)
		}
	}
	data := filepath.Join(s.Dir, "data")
	initdb := s.command("initdb", "-D", data, "-U", s.User, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	if out, err := initdb.CombinedOutput(); err != nil {
		s.cleanup()
		return nil, fmt.Errorf("start postgres: initdb: %w: %s", err, out)
	}
	for attempt := 0; ; attempt++ {
		s.Port, err = freePort()
		if err != nil {
			s.cleanup()
			return nil, fmt.Errorf("start postgres: find a free port: %w", err)
		}
		err = s.run(data)
		if err == nil || attempt == 2 {
			break
		}
	}
	if err != nil {
		s.cleanup()
		return nil, err
	}
	return s, nil
}

// run starts the server process and waits until it accepts connections.
func (s *Server) run(data string) error {
	logPath := filepath.Join(s.Dir, "postgres.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	defer logf.Close()
	s.cmd = s.command("postgres", "-D", data, "-p", strconv.Itoa(s.Port), "-k", s.Dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=200", "-c", "shared_buffers=128MB")
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	s.done = make(chan error, 1)
	go func() { s.done <- s.cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.done:
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("start postgres: server exited: %v: %s", err, log)
		case <-time.After(50 * time.Millisecond):
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := pgx.Connect(ctx, s.DSN("postgres"))
		if err == nil {
			c.Close(ctx)
			cancel()
			return nil
		}
		cancel()
	}
	s.stopProcess()
	return fmt.Errorf("start postgres: not ready after 30s (log in %s)", logPath)
}

// DSN returns a connection string for database db over the unix socket.
func (s *Server) DSN(db string) string {
	q := url.Values{"host": {s.Dir}, "port": {strconv.Itoa(s.Port)}, "sslmode": {"disable"}}
	return "postgres://" + s.User + "@/" + db + "?" + q.Encode()
}

// TCPDSN returns a connection string for database db over TCP on 127.0.0.1.
func (s *Server) TCPDSN(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", s.User, s.Port, db)
}

// CreateDatabase creates a new empty database and returns its DSN.
func (s *Server) CreateDatabase(ctx context.Context) (name, dsn string, err error) {
	name = fmt.Sprintf("flyt_%d_%d", os.Getpid(), s.nextDB.Add(1))
	c, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return "", "", fmt.Errorf("create database: connect: %w", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", "", fmt.Errorf("create database %s: %w", name, err)
	}
	return name, s.DSN(name), nil
}

// DropDatabase drops a database made by CreateDatabase, closing its remaining connections.
func (s *Server) DropDatabase(ctx context.Context, name string) error {
	c, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("drop database: connect: %w", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// NewDatabase creates a fresh database for one test, dropped when the test ends, and returns
// its DSN.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name, dsn, err := s.CreateDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 30*time.Second)
		defer cancel()
		if err := s.DropDatabase(ctx, name); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	return dsn
}

func (s *Server) stopProcess() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	// SIGINT is PostgreSQL's "fast shutdown".
	_ = s.cmd.Process.Signal(os.Interrupt)
	// The exit status of a server stopped by a signal says nothing worth reporting.
	select {
	case err := <-s.done:
		_ = err
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		err := <-s.done
		_ = err
	}
	s.cmd = nil
}

func (s *Server) cleanup() {
	if s.Dir != "" {
		_ = os.RemoveAll(s.Dir)
	}
}

// Stop shuts the server down and removes its directory. It is safe on a nil Server.
func (s *Server) Stop() {
	if s == nil {
		return
	}
	s.stopProcess()
	s.cleanup()
}

// Require returns srv for a test that needs PostgreSQL, failing it with startErr (saying how to
// install PostgreSQL) when the server did not start.
func Require(t testing.TB, srv *Server, startErr error) *Server {
	t.Helper()
	if startErr != nil {
		t.Fatalf("PostgreSQL is needed for this test: %v", startErr)
	}
	if srv == nil {
		t.Fatal("PostgreSQL is needed for this test but TestMain did not start pgtest")
	}
	return srv
}
