package serve

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/history"
	"github.com/flyt-platform/flyt/internal/testenv/controlplane"
	"github.com/flyt-platform/flyt/internal/testenv/gittest"
)

// deployDir holds the install manifests.
const deployDir = "../../deploy"

// flytSA is the service account the manifests run flyt as.
const flytSA = "system:serviceaccount:flyt-system:flyt"

func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	dir, err := controlplane.Dir()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(dir, "bin", "kubectl"), append([]string{"--kubeconfig", dev.Kubeconfig()}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// saKubeconfig writes a kubeconfig that acts as flyt's service account (the admin user
// impersonating it), so that flyt runs with exactly the RBAC of deploy/.
func saKubeconfig(t *testing.T) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(dev.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range cfg.AuthInfos {
		u.Impersonate = flytSA
		u.ImpersonateGroups = []string{"system:serviceaccounts", "system:serviceaccounts:flyt-system", "system:authenticated"}
	}
	path := filepath.Join(t.TempDir(), "flyt-sa.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestInstallManifests applies deploy/ with kubectl the way an operator would, and checks that
// flyt's Deployment becomes Available on the simulated nodes, that the example platform.yaml in
// the ConfigMap is valid, and that the RBAC of deploy/ is enough for flyt to elect itself
// leader and deploy an app into a bound team namespace, and no more.
func TestInstallManifests(t *testing.T) {
	ctx := t.Context()
	c := dev.Client()

	// The ConfigMap's platform.yaml is a valid platform config.
	b, err := os.ReadFile(filepath.Join(deployDir, "20-configmap.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cm corev1.ConfigMap
	if err := yaml.Unmarshal(b, &cm); err != nil {
		t.Fatal(err)
	}
	p, err := environments.Parse("platform.yaml", []byte(cm.Data["platform.yaml"]))
	if err != nil {
		t.Fatalf("the ConfigMap's platform.yaml: %v", err)
	}
	if !p.Environments[0].Cluster.InCluster {
		t.Error("the example environment should reach its cluster in-cluster")
	}

	// Install: the namespace, the Secret an operator creates, then everything.
	kubectl(t, "apply", "--server-side", "-f", filepath.Join(deployDir, "00-namespace.yaml"))
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "flyt", Namespace: "flyt-system"},
		StringData: map[string]string{"history-dsn": "postgres://flyt:secret@postgres.flyt-system:5432/flyt", "webhook-secret": secret},
	}
	if err := c.Create(ctx, secret); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	out := kubectl(t, "apply", "--server-side", "-f", deployDir)
	out += kubectl(t, "apply", "--server-side", "-f", filepath.Join(deployDir, "teams"))
	for _, want := range []string{"deployment.apps/flyt", "clusterrole.rbac.authorization.k8s.io/flyt-deployer", "role.rbac.authorization.k8s.io/flyt-leader-election", "service/flyt", "configmap/flyt", "rolebinding.rbac.authorization.k8s.io/flyt-deployer"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl apply did not report %s:\n%s", want, out)
		}
	}

	// The Deployment rolls out: both replicas scheduled, started and ready.
	dep := available(t, dev, "flyt-system", "flyt")
	deadline := time.Now().Add(time.Minute)
	for dep.Status.ReadyReplicas != 2 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		if err := c.Get(ctx, client.ObjectKeyFromObject(dep), dep); err != nil {
			t.Fatal(err)
		}
	}
	if dep.Status.ReadyReplicas != 2 {
		t.Fatalf("flyt has %d ready replicas, want 2", dep.Status.ReadyReplicas)
	}
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace("flyt-system"), client.MatchingLabels{"app.kubernetes.io/name": "flyt"}); err != nil {
		t.Fatal(err)
	}
	for _, pod := range pods.Items {
		if pod.Spec.ServiceAccountName != "flyt" || pod.Spec.SecurityContext.RunAsUser == nil || *pod.Spec.SecurityContext.RunAsUser != 65532 {
			t.Errorf("pod %s: service account %q, runAsUser %v", pod.Name, pod.Spec.ServiceAccountName, pod.Spec.SecurityContext.RunAsUser)
		}
	}

	// flyt, as the service account, with the manifests' RBAC: it takes the Lease in
	// flyt-system and deploys an app into the bound team namespace.
	sa := saKubeconfig(t)
	srv := gittest.NewServer(t)
	repo := srv.NewRepo("team-a/installed")
	commit := repo.Commit(t, map[string]string{".nais/app.yaml": "apiVersion: nais.io/v1alpha1\nkind: Application\nmetadata:\n  name: installed\nspec:\n  image: registry.example/installed:1\n  replicas: {min: 1, max: 1}\n  ingresses: [https://installed.dev.example.test]\n"}, "first")
	dir := t.TempDir()
	config := filepath.Join(dir, "platform.yaml")
	if err := os.WriteFile(config, fmt.Appendf(nil, `apiVersion: flyt.dev/v1alpha1
kind: Platform
server:
  dataDir: %s
  pollInterval: 1h
environments:
- name: dev
  branch: main
  cluster: {kubeconfig: %s}
  ingresses: [{domain: dev.example.test, class: nginx}]
  timeout: 1m
teams:
- name: team-a
  repositories:
  - url: %s
`, filepath.Join(dir, "data"), sa, repo.URL()), 0o600); err != nil {
		t.Fatal(err)
	}
	flyt := startFlytAs(t, config, sa)
	if d := flyt.waitDeploy(t, "installed", "dev", commit); d.State != history.StateSuccess {
		t.Fatalf("deploy as flyt's service account: %s: %s", d.State, d.Message)
	}
	available(t, dev, "team-a", "installed")
	if h := leaseHolder(t, "flyt-system"); h != flyt.url {
		t.Errorf("Lease flyt-system/flyt held by %q, want %s", h, flyt.url)
	}

	// And no more: no Secrets, nothing in namespaces without a binding.
	for _, check := range [][]string{
		{"get", "secrets", "-n", "team-a"},
		{"get", "secrets", "-n", "flyt-system"},
		{"create", "deployments", "-n", "default"},
		{"create", "clusterroles"},
		{"create", "rolebindings", "-n", "team-a"},
		{"update", "leases/other", "-n", "flyt-system"},
	} {
		if got := strings.TrimSpace(kubectlMayFail(t, append([]string{"auth", "can-i", "--as", flytSA}, check...)...)); got != "no" {
			t.Errorf("flyt's service account: can-i %s = %q, want no", strings.Join(check, " "), got)
		}
	}
	for _, check := range [][]string{
		{"patch", "deployments", "-n", "team-a"},
		{"update", "leases/flyt", "-n", "flyt-system"},
		{"list", "pods", "-n", "team-a"},
	} {
		if got := strings.TrimSpace(kubectlMayFail(t, append([]string{"auth", "can-i", "--as", flytSA}, check...)...)); got != "yes" {
			t.Errorf("flyt's service account: can-i %s = %q, want yes", strings.Join(check, " "), got)
		}
	}
}

// kubectlMayFail runs kubectl and returns its output whatever its exit code (kubectl auth
// can-i exits 1 for "no").
func kubectlMayFail(t *testing.T, args ...string) string {
	t.Helper()
	dir, err := controlplane.Dir()
	if err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command(filepath.Join(dir, "bin", "kubectl"), append([]string{"--kubeconfig", dev.Kubeconfig()}, args...)...).Output()
	return string(out)
}

// startFlytAs starts one flyt with leader election in flyt-system, through kubeconfig.
func startFlytAs(t *testing.T, config, kubeconfig string) *replica {
	t.Helper()
	return startReplicaWith(t, config, "", "flyt-system", kubeconfig)
}
