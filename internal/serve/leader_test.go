package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flyt-platform/flyt/history"
	"github.com/flyt-platform/flyt/internal/testenv/gittest"
	"github.com/flyt-platform/flyt/internal/testenv/pgtest"
)

// replica is one `flyt serve --leader-elect` subprocess.
type replica struct {
	*flytProcess
	cmd      *exec.Cmd
	done     chan struct{} // closed when the process has exited
	logsText func() string
}

// syncBuffer collects a subprocess's output while the test reads it.
type syncBuffer struct {
	mu  gosync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startReplica starts flyt with leader election on the dev plane and waits until it answers
// /readyz (followers are ready too: they serve the API and webhooks).
func startReplica(t *testing.T, config, dsn, leaseNS string) *replica {
	t.Helper()
	return startReplicaWith(t, config, dsn, leaseNS, dev.Kubeconfig())
}

// startReplicaWith starts flyt with leader election through kubeconfig; an empty dsn leaves
// the history to the config (SQLite in its data dir).
func startReplicaWith(t *testing.T, config, dsn, leaseNS, kubeconfig string) *replica {
	t.Helper()
	return runServe(t, 20*time.Second, func(addr, url string) []string {
		args := []string{"serve", "--config", config, "--listen", addr, "--shutdown-timeout", "5s",
			"--leader-elect", "--leader-election-kubeconfig", kubeconfig, "--leader-election-namespace", leaseNS, "--advertise-url", url}
		if dsn != "" {
			args = append(args, "--history", dsn)
		}
		return args
	})
}

// runServe starts flyt with the arguments args gives for a free listen address, stops it at
// the end of the test (an interrupt, then a kill after stopWait), and waits until it answers
// /readyz.
func runServe(t *testing.T, stopWait time.Duration, args func(addr, url string) []string) *replica {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	url := "http://" + addr
	cmd := exec.Command(flytBin, args(addr, url)...)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &replica{flytProcess: &flytProcess{url: url, logs: logs}, cmd: cmd, done: make(chan struct{}), logsText: logs.String}
	go func() { _ = cmd.Wait(); close(r.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-r.done:
		case <-time.After(stopWait):
			_ = cmd.Process.Kill()
			<-r.done
		}
		if t.Failed() {
			t.Logf("logs of %s:\n%s", url, logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("flyt %s never became ready; logs:\n%s", url, logs.String())
	return nil
}

// logLines returns the messages of r's JSON log lines.
func (r *replica) logLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(r.logsText()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

func (r *replica) logged(t *testing.T, msg string) bool {
	t.Helper()
	return slices.ContainsFunc(r.logLines(t), func(m map[string]any) bool { return m["msg"] == msg })
}

// leaseHolder returns the holder of the flyt Lease in ns ("" when there is none yet).
func leaseHolder(t *testing.T, ns string) string {
	t.Helper()
	var l coordinationv1.Lease
	if err := dev.Client().Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "flyt"}, &l); err != nil {
		if apierrors.IsNotFound(err) {
			return ""
		}
		t.Fatal(err)
	}
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// cordon marks every dev node unschedulable (or schedulable again), so that a rollout waits.
func cordon(t *testing.T, unschedulable bool) {
	t.Helper()
	ctx := context.WithoutCancel(t.Context()) // also from Cleanup, after t.Context ended
	var nodes corev1.NodeList
	if err := dev.Client().List(ctx, &nodes); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Items {
		patch := client.MergeFrom(n.DeepCopy())
		n.Spec.Unschedulable = unschedulable
		if err := dev.Client().Patch(ctx, &n, patch); err != nil {
			t.Fatal(err)
		}
	}
}

// deploysOf lists app's deploys in dev at commit, newest first.
func (r *replica) deploysOf(t *testing.T, app, commit string) []history.Deploy {
	t.Helper()
	var page history.Page
	r.getJSON(t, fmt.Sprintf("/api/v1/deploys?app=%s&env=dev&commit=%s", app, commit), &page)
	return page.Deploys
}

func signedPush(t *testing.T, url string, body []byte, delivery string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/webhook/github", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", delivery)
	req.Header.Set("X-Hub-Signature-256", sign([]byte(secret), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestLeaderElection runs two replicas on one PostgreSQL history: exactly one reconciles, a
// webhook sent to the follower deploys, and when the leader is killed with SIGKILL in the middle
// of a deploy the follower takes over within 15 s, records the lost deploy inactive and deploys
// the same commit again to success.
func TestLeaderElection(t *testing.T) {
	pg, err := pgtest.Start()
	pg = pgtest.Require(t, pg, err)
	t.Cleanup(pg.Stop)
	dsn := pg.NewDatabase(t)

	srv := gittest.NewServer(t)
	repo := srv.NewRepo("team-ha/apps")
	manifest := func(tag string) string {
		return "apiVersion: nais.io/v1alpha1\nkind: Application\nmetadata:\n  name: ha\nspec:\n  image: registry.example/ha:" + tag + "\n  replicas: {min: 1, max: 1}\n"
	}
	first := repo.Commit(t, map[string]string{".nais/app.yaml": manifest("1")}, "first")
	if err := dev.Client().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-ha"}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	leaseNS := "flyt-leader-test"
	if err := dev.Client().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: leaseNS}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}

	dir := t.TempDir()
	secretFile := filepath.Join(dir, "webhook-secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Each replica gets its own data dir (Git cache), as pods do; the history is shared.
	configFor := func(name string) string {
		config := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(config, []byte(fmt.Sprintf(`apiVersion: flyt.dev/v1alpha1
kind: Platform
server:
  dataDir: %s
  pollInterval: 1h
  webhookSecretFiles: [%s]
environments:
- name: dev
  branch: main
  cluster: {kubeconfig: %s}
  timeout: 2m
teams:
- name: team-ha
  repositories:
  - url: %s
`, filepath.Join(dir, name), secretFile, dev.Kubeconfig(), repo.URL())), 0o600); err != nil {
			t.Fatal(err)
		}
		return config
	}
	a := startReplica(t, configFor("a"), dsn, leaseNS)
	b := startReplica(t, configFor("b"), dsn, leaseNS)

	// Exactly one holds the Lease, and only it deploys main's head.
	var leader, follower *replica
	deadline := time.Now().Add(30 * time.Second)
	for leader == nil && time.Now().Before(deadline) {
		switch leaseHolder(t, leaseNS) {
		case a.url:
			leader, follower = a, b
		case b.url:
			leader, follower = b, a
		default:
			time.Sleep(100 * time.Millisecond)
		}
	}
	if leader == nil {
		t.Fatalf("no replica took the Lease; holder %q", leaseHolder(t, leaseNS))
	}
	if d := follower.waitDeploy(t, "ha", "dev", first); d.State != history.StateSuccess {
		t.Fatalf("first deploy: %s: %s", d.State, d.Message)
	}
	if !leader.logged(t, "deploy finished") || follower.logged(t, "deploy finished") {
		t.Fatalf("want deploys logged by the leader only: leader %v, follower %v", leader.logged(t, "deploy finished"), follower.logged(t, "deploy finished"))
	}
	if follower.logged(t, "became the leader: reconciling") {
		t.Fatal("the follower says it became the leader too")
	}
	// /metrics says which replica leads (client-go's gauge, on controller-runtime's registry).
	mresp, err := http.Get(leader.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	if !strings.Contains(string(metrics), `leader_election_master_status{name="flyt"} 1`) {
		t.Error(`the leader's /metrics lacks leader_election_master_status{name="flyt"} 1`)
	}

	// The leader's refresh endpoint refuses unsigned and wrongly signed requests.
	for name, sig := range map[string]string{"unsigned": "", "wrong secret": sign([]byte("not-the-secret"), []byte(`{"repository":"x"}`))} {
		req, _ := http.NewRequest(http.MethodPost, leader.url+refreshPath, strings.NewReader(`{"repository":"x"}`))
		if sig != "" {
			req.Header.Set(forwardSignatureHeader, sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s refresh: %s, want 401", name, resp.Status)
		}
	}

	// A signed push webhook sent to the follower reaches the leader's queue.
	second := repo.Commit(t, map[string]string{".nais/app.yaml": manifest("2")}, "second")
	resp := signedPush(t, follower.url, pushPayload(repo.URL(), first, second), "ha-1")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || !strings.Contains(string(body), "enqueued") {
		t.Fatalf("follower's webhook answer: %s: %s", resp.Status, body)
	}
	d := follower.waitDeploy(t, "ha", "dev", second)
	if d.State != history.StateSuccess || d.Trigger != history.TriggerPush || d.TriggeredBy != "alice" {
		t.Fatalf("deploy of the push sent to the follower: %+v", d)
	}
	if !follower.logged(t, "forwarded a webhook refresh to the leader") || !leader.logged(t, "refresh forwarded by a follower") {
		t.Error("the refresh did not go follower → leader")
	}
	available(t, dev, "team-ha", "ha")

	// Operator actions sent to the follower's API reach the leader's controller, and the
	// freezes they record in the shared store read the same on both replicas (the follower
	// answers GET /environments itself).
	envFrozen := func(r *replica) bool {
		var envs []struct {
			Name   string `json:"name"`
			Frozen bool   `json:"frozen"`
		}
		r.getJSON(t, "/api/v1/environments", &envs)
		return len(envs) == 1 && envs[0].Name == "dev" && envs[0].Frozen
	}
	for _, method := range []string{http.MethodPost, http.MethodDelete} {
		req, _ := http.NewRequest(method, follower.url+"/api/v1/environments/dev/freeze", strings.NewReader(`{"reason":"ha test"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Flyt-User", "operator")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s freeze through the follower: %s: %s", method, resp.Status, b)
		}
		want := method == http.MethodPost
		if envFrozen(leader) != want || envFrozen(follower) != want {
			t.Errorf("after %s freeze through the follower: frozen on leader %v, on follower %v; want %v", method, envFrozen(leader), envFrozen(follower), want)
		}
	}

	// Mid-deploy: with every node cordoned the new pod cannot schedule, so the deploy of the
	// third commit sits in its wait step. Kill the leader there.
	cordon(t, true)
	t.Cleanup(func() { cordon(t, false) })
	third := repo.Commit(t, map[string]string{".nais/app.yaml": manifest("3")}, "third")
	resp = signedPush(t, leader.url, pushPayload(repo.URL(), second, third), "ha-2")
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("leader's webhook answer: %s", resp.Status)
	}
	var lost history.Deploy
	deadline = time.Now().Add(time.Minute)
	for lost.ID == 0 && time.Now().Before(deadline) {
		if ds := follower.deploysOf(t, "ha", third); len(ds) > 0 && ds[0].State == history.StateInProgress {
			var detail history.DeployDetail
			follower.getJSON(t, fmt.Sprintf("/api/v1/deploys/%d", ds[0].ID), &detail)
			if n := len(detail.Statuses); n > 0 && detail.Statuses[n-1].Step == "wait" {
				lost = ds[0]
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if lost.ID == 0 {
		t.Fatalf("the deploy of %s never reached its wait step: %+v", third[:7], follower.deploysOf(t, "ha", third))
	}
	killed := time.Now()
	if err := leader.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-leader.done

	// The follower takes the Lease within 15 s.
	var takeover time.Duration
	for time.Since(killed) < 30*time.Second {
		if leaseHolder(t, leaseNS) == follower.url {
			takeover = time.Since(killed)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if takeover == 0 || takeover > 15*time.Second {
		t.Fatalf("the follower took over after %v (0: never), want within 15s", takeover)
	}
	t.Logf("failover: the follower held the Lease %v after the leader was killed", takeover.Round(10*time.Millisecond))

	// Its term starts by recording the lost deploy inactive, then deploys the same commit
	// again; it succeeds once the pod can schedule.
	deadline = time.Now().Add(30 * time.Second)
	var again history.Deploy
	for time.Now().Before(deadline) {
		ds := follower.deploysOf(t, "ha", third)
		if len(ds) >= 2 && ds[0].ID != lost.ID {
			again = ds[0]
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var detail history.DeployDetail
	follower.getJSON(t, fmt.Sprintf("/api/v1/deploys/%d", lost.ID), &detail)
	if detail.State != history.StateInactive || detail.Statuses[len(detail.Statuses)-1].Step != "interrupted" {
		t.Fatalf("the deploy the dead leader left: %s, last status %+v; want inactive (interrupted)", detail.State, detail.Statuses[len(detail.Statuses)-1])
	}
	if again.ID == 0 {
		t.Fatalf("the new leader did not deploy %s again: %+v", third[:7], follower.deploysOf(t, "ha", third))
	}
	cordon(t, false)
	if d := follower.waitDeploy(t, "ha", "dev", third); d.ID != again.ID || d.State != history.StateSuccess {
		t.Fatalf("redeploy of %s by the new leader: %+v (want deploy %d, success)", third[:7], d, again.ID)
	}
	if dep := available(t, dev, "team-ha", "ha"); dep.Spec.Template.Spec.Containers[0].Image != "registry.example/ha:3" {
		t.Errorf("image after failover: %s", dep.Spec.Template.Spec.Containers[0].Image)
	}
	if !follower.logged(t, "became the leader: reconciling") || !follower.logged(t, "marked deploys left unfinished as inactive") {
		t.Error("the new leader's log does not show its term starting by marking the lost deploy")
	}

	// A graceful stop (a rolling update's SIGTERM) hands the Lease over at once instead of
	// letting it expire: a new replica leads within a few retry periods, not a lease duration.
	c := startReplica(t, configFor("c"), dsn, leaseNS)
	if err := follower.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	<-follower.done
	var handover time.Duration
	for time.Since(stopped) < 30*time.Second {
		if leaseHolder(t, leaseNS) == c.url {
			handover = time.Since(stopped)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if handover == 0 || handover > 5*time.Second {
		t.Fatalf("after a graceful stop the next replica led after %v (0: never), want within 5s", handover)
	}
	if !follower.logged(t, "released the leader lease") {
		t.Error("the stopped leader did not release its Lease")
	}
	t.Logf("graceful handover: the next replica held the Lease %v after the leader was stopped", handover.Round(10*time.Millisecond))
}
