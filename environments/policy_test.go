package environments

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func policyPlatform(t *testing.T) *Platform {
	t.Helper()
	p, err := Parse("p.yaml", []byte(`apiVersion: flyt.dev/v1alpha1
kind: Platform
environments:
  - name: dev
    cluster: {inCluster: true}
    namespace: "{{team}}-{{ env }}"
    ingresses:
      - {domain: example.test, class: public}
      - {domain: internal.example.test, class: internal}
      - {domain: dev.internal.example.test., class: dev-internal}
    integrations: [kafka, GCP]
    rawKinds: [ConfigMap, kafka.nais.io/Topic, monitoring.coreos.com/*]
  - name: qa
    promoteFrom: dev
    cluster: {inCluster: true}
  - name: prod
    promoteFrom: dev
    cluster: {inCluster: true}
  - name: prod-eu
    promoteFrom: prod
    cluster: {inCluster: true}
teams:
  - name: team-a
    namespaces: {prod: alpha}
    repositories:
      - url: https://github.com/Example-Org/Team-A.git
  - name: team-b
    repositories:
      - url: git@github.example.test:org/b.git
      - url: ssh://git@github.com:22/org/b-more
      - url: /srv/git/local-repo
`))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNamespaces(t *testing.T) {
	p := policyPlatform(t)
	a, b := p.Team("team-a"), p.Team("team-b")
	tests := []struct {
		env     string
		team    *Team
		want    string
		allowed []string
		denied  []string
	}{
		{env: "dev", team: a, want: "team-a-dev", allowed: []string{"team-a-dev"}, denied: []string{"team-a", "team-b-dev", ""}},
		{env: "prod", team: a, want: "alpha", allowed: []string{"alpha"}, denied: []string{"team-a"}},
		{env: "prod", team: b, want: "team-b", allowed: []string{"team-b"}, denied: []string{"alpha"}},
	}
	for _, tt := range tests {
		t.Run(tt.env+"/"+tt.team.Name, func(t *testing.T) {
			e := p.Environment(tt.env)
			if got := e.TeamNamespace(tt.team); got != tt.want {
				t.Errorf("TeamNamespace = %q, want %q", got, tt.want)
			}
			for _, ns := range tt.allowed {
				if !e.NamespaceAllowed(tt.team, ns) {
					t.Errorf("NamespaceAllowed(%q) = false", ns)
				}
			}
			for _, ns := range tt.denied {
				if e.NamespaceAllowed(tt.team, ns) {
					t.Errorf("NamespaceAllowed(%q) = true", ns)
				}
			}
		})
	}
}

func TestKindsAndIntegrations(t *testing.T) {
	dev := policyPlatform(t).Environment("dev")
	kinds := []struct {
		group, kind string
		want        bool
	}{
		{"", "ConfigMap", true},
		{"", "Secret", false},
		{"", "configmap", false},
		{"kafka.nais.io", "Topic", true},
		{"kafka.nais.io", "Stream", false},
		{"", "Topic", false},
		{"monitoring.coreos.com", "ServiceMonitor", true},
		{"", "*", false},
	}
	for _, k := range kinds {
		if got := dev.KindAllowed(k.group, k.kind); got != k.want {
			t.Errorf("KindAllowed(%q, %q) = %v, want %v", k.group, k.kind, got, k.want)
		}
	}
	integrations := map[string]bool{"kafka": true, "Kafka": true, "gcp": true, "azure": false, "": false}
	for name, want := range integrations {
		if got := dev.IntegrationSupported(name); got != want {
			t.Errorf("IntegrationSupported(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestIngressClass(t *testing.T) {
	p := policyPlatform(t)
	dev := p.Environment("dev")
	tests := []struct{ host, want, err string }{
		{host: "app.example.test", want: "public"},
		{host: "example.test", want: "public"},
		{host: "App.Internal.Example.Test.", want: "internal"},
		{host: "app.dev.internal.example.test", want: "dev-internal"},
		{host: "app.notexample.test", err: `host "app.notexample.test" is outside the ingress domains of environment dev; use a host ending in one of: example.test, internal.example.test, dev.internal.example.test.: host not allowed`},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			got, err := dev.IngressClass(tt.host)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err || !errors.Is(err, ErrHostNotAllowed) {
					t.Fatalf("err = %v, want %s", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("IngressClass = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := p.Environment("prod").IngressClass("a.example.test"); !errors.Is(err, ErrHostNotAllowed) {
		t.Errorf("an environment without ingress domains must refuse hosts, got %v", err)
	}
}

func TestTeamForRepository(t *testing.T) {
	p := policyPlatform(t)
	tests := []struct{ url, team, repo string }{
		{"https://github.com/Example-Org/Team-A.git", "team-a", "https://github.com/Example-Org/Team-A.git"},
		{"https://github.com/example-org/team-a", "team-a", "https://github.com/Example-Org/Team-A.git"},
		{"git@github.com:example-org/team-a.git", "team-a", "https://github.com/Example-Org/Team-A.git"},
		{"ssh://git@github.com/example-org/team-a", "team-a", "https://github.com/Example-Org/Team-A.git"},
		{"https://github.com/example-org/team-a/", "team-a", "https://github.com/Example-Org/Team-A.git"},
		{"example-org/Team-A", "team-a", "https://github.com/Example-Org/Team-A.git"},
		{"https://github.example.test/org/b", "team-b", "git@github.example.test:org/b.git"},
		{"https://github.com/org/b-more.git", "team-b", "ssh://git@github.com:22/org/b-more"},
		{"/srv/git/local-repo/", "team-b", "/srv/git/local-repo"},
		{"file:///srv/git/local-repo", "team-b", "/srv/git/local-repo"},
		{"https://gitlab.com/example-org/team-a", "", ""},
		{"example-org/other", "", ""},
		{"", "", ""},
		{"not a url", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			team, repo := p.TeamForRepository(tt.url)
			var gotTeam, gotRepo string
			if team != nil {
				gotTeam, gotRepo = team.Name, repo.URL
			}
			if gotTeam != tt.team || gotRepo != tt.repo {
				t.Errorf("TeamForRepository = %q %q, want %q %q", gotTeam, gotRepo, tt.team, tt.repo)
			}
		})
	}
}

func TestLookups(t *testing.T) {
	p := policyPlatform(t)
	names := func(es []*Environment) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Name)
		}
		return out
	}
	if diff := cmp.Diff([]string{"qa", "prod"}, names(p.Downstream("dev"))); diff != "" {
		t.Errorf("Downstream(dev) (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"prod-eu"}, names(p.Downstream("prod"))); diff != "" {
		t.Errorf("Downstream(prod) (-want +got):\n%s", diff)
	}
	if got := p.Downstream("prod-eu"); got != nil {
		t.Errorf("Downstream(prod-eu) = %v", names(got))
	}
	if p.Environment("nope") != nil || p.Team("nope") != nil {
		t.Error("unknown names must give nil")
	}
	if e := p.Environment("qa"); e == nil || e.Cluster.Name != "qa" {
		t.Errorf("Environment(qa) = %+v", e)
	}
}
