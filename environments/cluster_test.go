package environments

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/rest"
)

const testKubeconfig = `apiVersion: v1
kind: Config
current-context: dev
clusters:
  - name: dev
    cluster:
      server: https://127.0.0.1:6443
      certificate-authority: ca.crt
  - name: prod
    cluster:
      server: https://prod.example.test:443
      insecure-skip-tls-verify: true
users:
  - name: dev-admin
    user:
      token: dev-secret-token
  - name: prod-admin
    user:
      token: prod-secret-token
contexts:
  - name: dev
    context: {cluster: dev, user: dev-admin}
  - name: prod
    context: {cluster: prod, user: prod-admin}
`

func writeKubeconfig(t *testing.T, content string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), []byte("not checked before dialing"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRESTConfig(t *testing.T) {
	path := writeKubeconfig(t, testKubeconfig)
	type view struct {
		Host, BearerToken, CAFile, UserAgent string
		Insecure                             bool
		QPS                                  float32
		Burst                                int
	}
	tests := []struct {
		name    string
		cluster Cluster
		want    view
	}{
		{
			name:    "current context",
			cluster: Cluster{Kubeconfig: path},
			want: view{Host: "https://127.0.0.1:6443", BearerToken: "dev-secret-token", CAFile: filepath.Join(filepath.Dir(path), "ca.crt"),
				UserAgent: "flyt/env", QPS: 50, Burst: 100},
		},
		{
			name:    "named context",
			cluster: Cluster{Kubeconfig: path, Context: "prod"},
			want:    view{Host: "https://prod.example.test:443", BearerToken: "prod-secret-token", Insecure: true, UserAgent: "flyt/env", QPS: 50, Burst: 100},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := (&Environment{Name: "env", Cluster: tt.cluster}).RESTConfig()
			if err != nil {
				t.Fatal(err)
			}
			got := view{cfg.Host, cfg.BearerToken, cfg.CAFile, cfg.UserAgent, cfg.Insecure, cfg.QPS, cfg.Burst}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if s := cfg.String(); strings.Contains(s, "secret-token") {
				t.Errorf("printing the config leaks the token: %s", s)
			}
		})
	}
}

func TestRESTConfigErrors(t *testing.T) {
	path := writeKubeconfig(t, testKubeconfig)
	noCurrent := writeKubeconfig(t, strings.Replace(testKubeconfig, "current-context: dev\n", "", 1))
	tests := []struct {
		name    string
		cluster Cluster
		want    string
	}{
		{
			name:    "missing context",
			cluster: Cluster{Kubeconfig: path, Context: "staging"},
			want:    `environment env: kubeconfig ` + path + ` has no context "staging"; use one of: dev, prod: no cluster connection`,
		},
		{
			name:    "no current context",
			cluster: Cluster{Kubeconfig: noCurrent},
			want:    `environment env: kubeconfig ` + noCurrent + ` has no current context; set cluster.context to one of: dev, prod: no cluster connection`,
		},
		{
			name:    "nothing configured",
			cluster: Cluster{},
			want:    "environment env: set cluster.kubeconfig or cluster.inCluster: no cluster connection",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := (&Environment{Name: "env", Cluster: tt.cluster}).RESTConfig()
			if err == nil || err.Error() != tt.want || !errors.Is(err, ErrNoCluster) {
				t.Errorf("got  %v\nwant %s", err, tt.want)
			}
		})
	}
	_, err := (&Environment{Name: "env", Cluster: Cluster{Kubeconfig: filepath.Join(t.TempDir(), "missing")}}).RESTConfig()
	if err == nil || !strings.Contains(err.Error(), "load kubeconfig") {
		t.Errorf("missing file: got %v", err)
	}
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	_, err = (&Environment{Name: "env", Cluster: Cluster{InCluster: true}}).RESTConfig()
	if !errors.Is(err, rest.ErrNotInCluster) {
		t.Errorf("in-cluster outside a cluster: got %v", err)
	}
}

func TestImpersonateTeam(t *testing.T) {
	base := &rest.Config{Host: "https://x", BearerToken: "t"}
	got := ImpersonateTeam(base, "team-a", "deployer")
	if got.Impersonate.UserName != "system:serviceaccount:team-a:deployer" || got.BearerToken != "t" {
		t.Errorf("impersonated config = %+v", got.Impersonate)
	}
	if base.Impersonate.UserName != "" {
		t.Error("ImpersonateTeam must not change its input")
	}
	if plain := ImpersonateTeam(base, "team-a", ""); plain.Impersonate.UserName != "" || plain == base {
		t.Errorf("without a service account: %+v", plain.Impersonate)
	}
}
