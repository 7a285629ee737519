package pgtest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestServer starts a server, uses two fresh databases over the socket and TCP, and checks that
// Stop removes everything.
func TestServer(t *testing.T) {
	srv, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	dir := srv.Dir
	t.Run("databases", func(t *testing.T) {
		a, b := srv.NewDatabase(t), srv.NewDatabase(t)
		if a == b {
			t.Fatalf("two databases share the DSN %s", a)
		}
		for _, dsn := range []string{a, srv.TCPDSN("postgres")} {
			c, err := pgx.Connect(t.Context(), dsn)
			if err != nil {
				t.Fatalf("connect %s: %v", dsn, err)
			}
			var one int
			if err := c.QueryRow(t.Context(), "SELECT 1").Scan(&one); err != nil || one != 1 {
				t.Errorf("SELECT 1 over %s = %d, %v", dsn, one, err)
			}
			c.Close(t.Context())
		}
		before, err := srv.CPUTime()
		if err != nil {
			t.Fatal(err)
		}
		c, err := pgx.Connect(t.Context(), a)
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		if err := c.QueryRow(t.Context(), "SELECT count(*) FROM generate_series(1, 5000000)").Scan(&n); err != nil {
			t.Fatal(err)
		}
		c.Close(t.Context())
		after, err := srv.CPUTime()
		if err != nil {
			t.Fatal(err)
		}
		if after <= before {
			t.Errorf("server CPU time %.2fs after a busy query, %.2fs before: want it to grow", after, before)
		}
	})
	srv.Stop()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("Stop left %s behind (stat: %v)", dir, err)
	}
	if _, err := pgx.Connect(t.Context(), srv.DSN("postgres")); err == nil {
		t.Error("server still accepts connections after Stop")
	}
}

// orphanEnv makes the re-executed test binary start a server, print its directory, and wait
// to be killed.
const orphanEnv = "FLYT_PGTEST_ORPHAN"

func TestMain(m *testing.M) {
	if os.Getenv(orphanEnv) != "" {
		srv, err := Start()
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println(srv.Dir)
		select {}
	}
	os.Exit(m.Run())
}

// TestServerDiesWithTestBinary SIGKILLs a test binary that started a server: the server must
// not outlive it.
func TestServerDiesWithTestBinary(t *testing.T) {
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), orphanEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.HasPrefix(line, "error:") {
		t.Fatalf("child: %q, %v", line, err)
	}
	dir := strings.TrimSpace(line)
	t.Cleanup(func() { os.RemoveAll(dir) })
	pidFile, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(pidFile), "\n")
	pid, err := strconv.Atoi(first)
	if err != nil {
		t.Fatal(err)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("postmaster %d still runs 20s after its test binary was killed", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
