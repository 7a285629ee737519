package history

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crashChildEnv carries the DSN the re-executed test binary writes to until it is killed.
const crashChildEnv = "FLYT_HISTORY_CRASH_DSN"

// crashChild writes deploys the way sync does (create, run, record objects, and finish every
// other one) as fast as it can, printing one line per deploy, until it is killed.
func crashChild() {
	ctx := context.Background()
	s, err := Open(ctx, os.Getenv(crashChildEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	objs := []Object{
		{Version: "v1", Kind: "ConfigMap", Namespace: "team", Name: "config", Action: ActionCreated},
		{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "team", Name: "app", Action: ActionConfigured},
		{Version: "v1", Kind: "Service", Namespace: "team", Name: "app", Action: ActionUnchanged},
	}
	for i := 0; ; i++ {
		d := deploy(fmt.Sprint("app", i%10), "team", "dev", i, time.Now())
		id, err := s.CreateDeploy(ctx, d)
		if err == nil {
			_, err = s.AppendStatus(ctx, id, Status{State: StateInProgress, Step: "apply"})
		}
		if err == nil {
			err = s.RecordObjects(ctx, id, objs)
		}
		if err == nil && i%2 == 0 {
			_, err = s.AppendStatus(ctx, id, Status{State: StateSuccess, Step: "wait"})
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		fmt.Println("deploy", id)
	}
}

// TestCrashLeavesNoPartialDeploy SIGKILLs a writer mid-stream and checks that what it left is
// whole: every deploy has its first status, every object its deploy, each deploy's state its
// newest status, and each deploy all or none of its objects; then MarkInterrupted makes the
// unfinished deploys inactive.
func TestCrashLeavesNoPartialDeploy(t *testing.T) {
	forEachStore(t, func(t *testing.T, dsn string) {
		// Migrate first, so the child starts writing at once.
		openStore(t, dsn).Close()
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dsn)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(out)
		written := 0
		for written < 60 && lines.Scan() {
			written++
		}
		// Kill it a little later, at no particular point of a write.
		time.Sleep(time.Duration(time.Now().UnixNano()%7) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		if written < 60 {
			t.Fatalf("child wrote %d deploys before dying: %s", written, stderr.String())
		}

		s := openStore(t, dsn)
		ss := s.(*sqlStore)
		checks := []struct{ name, query string }{
			{"deploys without a status", `SELECT COUNT(*) FROM deploys d WHERE NOT EXISTS (SELECT 1 FROM statuses s WHERE s.deploy_id = d.id)`},
			{"deploys whose first status is not queued", `SELECT COUNT(*) FROM deploys d WHERE (SELECT s.state FROM statuses s WHERE s.deploy_id = d.id ORDER BY s.seq LIMIT 1) <> 'queued'`},
			{"deploys whose state is not their newest status", `SELECT COUNT(*) FROM deploys d WHERE d.state <> (SELECT s.state FROM statuses s WHERE s.deploy_id = d.id ORDER BY s.seq DESC LIMIT 1)`},
			{"objects without a deploy", `SELECT COUNT(*) FROM objects o WHERE NOT EXISTS (SELECT 1 FROM deploys d WHERE d.id = o.deploy_id)`},
			{"statuses without a deploy", `SELECT COUNT(*) FROM statuses s WHERE NOT EXISTS (SELECT 1 FROM deploys d WHERE d.id = s.deploy_id)`},
			{"deploys with part of their objects", `SELECT COUNT(*) FROM (SELECT deploy_id FROM objects GROUP BY deploy_id HAVING COUNT(*) <> 3) x`},
			{"finished deploys without a finish time", `SELECT COUNT(*) FROM deploys WHERE state = 'success' AND finished_at IS NULL`},
		}
		for _, c := range checks {
			var n int
			if err := ss.r.QueryRowContext(t.Context(), c.query).Scan(&n); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if n != 0 {
				t.Errorf("%d %s after the crash", n, c.name)
			}
		}
		var total, unfinished int
		if err := ss.r.QueryRowContext(t.Context(), `SELECT COUNT(*), COALESCE(SUM(CASE WHEN state IN ('queued', 'in_progress') THEN 1 ELSE 0 END), 0) FROM deploys`).Scan(&total, &unfinished); err != nil {
			t.Fatal(err)
		}
		if total < written || unfinished < written/2 {
			t.Fatalf("%d deploys (%d unfinished) after the child reported %d", total, unfinished, written)
		}
		n := must(s.MarkInterrupted(t.Context(), time.Now()))
		if n != unfinished {
			t.Errorf("MarkInterrupted = %d, want %d", n, unfinished)
		}
		if p := must(s.List(t.Context(), Filter{State: StateInProgress})); len(p.Deploys) != 0 {
			t.Errorf("%d deploys still in progress after MarkInterrupted", len(p.Deploys))
		}
		if p := must(s.List(t.Context(), Filter{State: StateInactive, Limit: MaxLimit})); len(p.Deploys) != unfinished {
			t.Errorf("%d inactive deploys, want %d", len(p.Deploys), unfinished)
		}
	})
}
