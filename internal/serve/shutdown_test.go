package serve

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flyt-platform/flyt/history"
	"github.com/flyt-platform/flyt/internal/testenv/gittest"
)

// startServe starts `flyt serve --config config` with extra flags as a subprocess and waits
// until it answers /readyz.
func startServe(t *testing.T, config string, extra ...string) *replica {
	t.Helper()
	return runServe(t, 60*time.Second, func(addr, _ string) []string {
		return append([]string{"serve", "--config", config, "--listen", addr}, extra...)
	})
}

// waitingDeploy waits until app's newest deploy in dev at commit is in progress in its wait
// step, and returns it.
func (r *replica) waitingDeploy(t *testing.T, app, commit string, not int64) history.Deploy {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if ds := r.deploysOf(t, app, commit); len(ds) > 0 && ds[0].ID != not && ds[0].State == history.StateInProgress {
			var detail history.DeployDetail
			r.getJSON(t, fmt.Sprintf("/api/v1/deploys/%d", ds[0].ID), &detail)
			if n := len(detail.Statuses); n > 0 && detail.Statuses[n-1].Step == "wait" {
				return ds[0]
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no deploy of %s at %s reached its wait step: %+v", app, commit[:7], r.deploysOf(t, app, commit))
	return history.Deploy{}
}

// TestGracefulShutdown sends SIGTERM to `flyt serve` while two deploys wait for their rollouts.
// flyt takes no new work, lets the deploy whose pods become schedulable during the shutdown
// finish as success, cuts off the one that cannot finish at --shutdown-timeout and records it
// inactive (not in_progress, not failure) saying flyt shut down, and exits 0 right after the
// bound. Started again on the same history, it deploys the cut-off app again.
func TestGracefulShutdown(t *testing.T) {
	const bound = 15 * time.Second
	// Two apps. With every node cordoned, neither's pods can schedule, so both deploys wait
	// for their rollouts; uncordoned, slow's finishes in a moment. stuck also ships a
	// PersistentVolumeClaim, which stays Pending (the control plane runs no volume binder):
	// its rollout waits until the test marks the claim Bound.
	application := func(name string) string {
		return "apiVersion: nais.io/v1alpha1\nkind: Application\nmetadata:\n  name: " + name +
			"\nspec:\n  image: registry.example/" + name + ":1\n  replicas: {min: 1, max: 1}\n"
	}
	files := map[string]string{
		".flyt.yaml":     "apps:\n- name: slow\n  files: [slow/app.yaml]\n- name: stuck\n  files: [stuck/app.yaml, stuck/claim.yaml]\n",
		"slow/app.yaml":  application("slow"),
		"stuck/app.yaml": application("stuck"),
		"stuck/claim.yaml": "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: stuck-data\nspec:\n" +
			"  accessModes: [ReadWriteOnce]\n  storageClassName: \"\"\n  resources: {requests: {storage: 1Gi}}\n",
	}
	srv := gittest.NewServer(t)
	repo := srv.NewRepo("team-sd/apps")
	commit := repo.Commit(t, files, "two apps whose rollouts wait for node labels")
	if err := dev.Client().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-sd"}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	dir := t.TempDir()
	config := filepath.Join(dir, "platform.yaml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`apiVersion: flyt.dev/v1alpha1
kind: Platform
server:
  dataDir: %s
  pollInterval: 1h
environments:
- name: dev
  branch: main
  cluster: {kubeconfig: %s}
  timeout: 5m
  rawKinds: [PersistentVolumeClaim]
teams:
- name: team-sd
  repositories:
  - url: %s
`, filepath.Join(dir, "data"), dev.Kubeconfig(), repo.URL())), 0o600); err != nil {
		t.Fatal(err)
	}
	shutdownFlag := []string{"--shutdown-timeout", bound.String()}

	cordon(t, true)
	t.Cleanup(func() { cordon(t, false) })
	flyt := startServe(t, config, shutdownFlag...)
	slow := flyt.waitingDeploy(t, "slow", commit, 0)
	stuck := flyt.waitingDeploy(t, "stuck", commit, 0)

	// SIGTERM, then let the pods schedule: slow's rollout finishes within the bound.
	if err := flyt.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	termed := time.Now()
	// Once shutting down, flyt is no longer ready.
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(flyt.url + "/readyz")
		if err != nil {
			break // already stopped serving
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still answers %s after SIGTERM", resp.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cordon(t, false)

	select {
	case <-flyt.done:
	case <-time.After(bound + 30*time.Second):
		t.Fatalf("flyt still runs %v after SIGTERM with --shutdown-timeout %v", time.Since(termed), bound)
	}
	took := time.Since(termed)
	if code := flyt.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("flyt exited %d after SIGTERM, want 0", code)
	}
	// It waited for the stuck deploy until the bound, and exited right after it.
	if took < bound-time.Second || took > bound+5*time.Second {
		t.Errorf("flyt exited %v after SIGTERM; want the shutdown bound %v (plus at most 5s to record and close)", took.Round(10*time.Millisecond), bound)
	}
	t.Logf("flyt exited 0 %v after SIGTERM (--shutdown-timeout %v)", took.Round(10*time.Millisecond), bound)
	if !flyt.logged(t, "cutting off the deploys still in flight at the shutdown timeout; they are recorded inactive") {
		t.Error("no log line says the deploys in flight were cut off at the shutdown timeout")
	}

	// The history as flyt left it, read before a restart could mark anything.
	store, err := history.Open(t.Context(), filepath.Join(dir, "data", "history.db"))
	if err != nil {
		t.Fatal(err)
	}
	got := func(id int64) *history.DeployDetail {
		d, err := store.Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := got(slow.ID); d.State != history.StateSuccess {
		t.Errorf("the deploy that could finish within the bound: %s (%s), want success", d.State, d.Message)
	}
	d := got(stuck.ID)
	last := d.Statuses[len(d.Statuses)-1]
	if d.State != history.StateInactive || last.Step != "interrupted" || !strings.Contains(d.Message, "flyt shut down") {
		t.Errorf("the deploy cut off at the bound: %s, message %q, last step %q; want inactive, interrupted, saying flyt shut down", d.State, d.Message, last.Step)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	// Started again on the same history, flyt deploys the interrupted key again; it succeeds
	// once its claim is Bound.
	flyt = startServe(t, config, shutdownFlag...)
	again := flyt.waitingDeploy(t, "stuck", commit, stuck.ID)
	if again.ID <= stuck.ID {
		t.Fatalf("redeploy %d of the interrupted key is not newer than %d", again.ID, stuck.ID)
	}
	var claim corev1.PersistentVolumeClaim
	if err := dev.Client().Get(t.Context(), client.ObjectKey{Namespace: "team-sd", Name: "stuck-data"}, &claim); err != nil {
		t.Fatal(err)
	}
	claim.Status.Phase = corev1.ClaimBound
	if err := dev.Client().Status().Update(t.Context(), &claim); err != nil {
		t.Fatal(err)
	}
	if d := flyt.waitDeploy(t, "stuck", "dev", commit); d.ID != again.ID || d.State != history.StateSuccess {
		t.Fatalf("redeploy of the interrupted key: %+v (want deploy %d, success)", d, again.ID)
	}
	if flyt.logged(t, "marked deploys left unfinished as inactive") {
		t.Error("the restart found deploys left unfinished: the shutdown did not record them")
	}
	if ds := flyt.deploysOf(t, "slow", commit); len(ds) != 1 {
		t.Errorf("slow, which finished at shutdown, was deployed %d times at %s, want once", len(ds), commit[:7])
	}
}
