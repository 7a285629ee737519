package render

import (
	"testing"
	"testing/fstest"
)

// typicalApp is a templated Application as teams write them: probes, resources, env, an
// ingress, access policy and an integration, with a vars file per environment.
var typicalApp = fstest.MapFS{
	".nais/nais.yaml": {Data: []byte(`apiVersion: nais.io/v1alpha1
kind: Application
metadata:
  name: typical
  labels:
    team: team-a
spec:
  image: "{{image}}"
  port: 8080
  liveness:
    path: /internal/isalive
  readiness:
    path: /internal/isready
  prometheus:
    enabled: true
    path: /internal/metrics
  replicas:
    min: {{replicas.min}}
    max: {{replicas.max}}
  resources:
    limits:
      memory: 512Mi
    requests:
      cpu: 50m
      memory: 256Mi
  ingresses:
  {{#each ingresses as |url|}}
    - {{url}}
  {{/each}}
  env:
    - name: TENANT
      value: "{{tenant}}"
  envFrom:
    - secret: typical-secrets
  azure:
    application:
      enabled: true
  accessPolicy:
    inbound:
      rules:
        - application: frontend
    outbound:
      rules:
        - application: backend
          namespace: team-b
      external:
        - host: api.example.com
`)},
	".nais/vars-dev.yaml": {Data: []byte(`replicas: {min: 2, max: 4}
ingresses: [https://typical.intern.dev.example.no]
tenant: dev.example.no
`)},
}

// BenchmarkRender measures renders per second of a typical app, with the repository loaded
// once (as sync does per revision). Run with -cpu 1; the target is ≥ 2,500 renders/s per core.
func BenchmarkRender(b *testing.B) {
	repo, err := LoadRepo(typicalApp, ".", LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	env := Environment{Name: "dev", Cluster: "dev", Team: "team-a", Namespace: "team-a",
		Ingresses: ingressDomains("intern.dev.example.no"), Integrations: []string{"azure"},
		Image: "registry.example/{{team}}/{{app}}:{{commit}}"}
	vars := Vars{Commit: "4f2a9c1e7b3d5a6f8e0c2b4d6f8a0c2e4b6d8f0a", Branch: "main"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(repo, "typical", &env, vars); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "renders/s")
}

// BenchmarkLoadAndRender includes reading and parsing the repository, as `flyt render` does.
func BenchmarkLoadAndRender(b *testing.B) {
	env := Environment{Name: "dev", Cluster: "dev", Team: "team-a", Namespace: "team-a",
		Ingresses: ingressDomains("intern.dev.example.no"), Integrations: []string{"azure"},
		Image: "registry.example/{{team}}/{{app}}:{{commit}}"}
	b.ReportAllocs()
	for b.Loop() {
		repo, err := LoadRepo(typicalApp, ".", LoadOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Render(repo, "typical", &env, Vars{Commit: "abc"}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRenderConcurrently renders one loaded repository from several goroutines, as sync's
// workers do for different environments; with -race this checks Render shares nothing
// mutable, and every render must give the same digest.
func TestRenderConcurrently(t *testing.T) {
	repo, err := LoadRepo(typicalApp, ".", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	env := Environment{Name: "dev", Cluster: "dev", Team: "team-a", Namespace: "team-a",
		Ingresses: ingressDomains("intern.dev.example.no"), Integrations: []string{"azure"},
		Image: "registry.example/{{team}}/{{app}}:{{commit}}"}
	digests := make([]string, 8)
	done := make(chan struct{})
	for i := range digests {
		go func() {
			defer func() { done <- struct{}{} }()
			res, err := Render(repo, "typical", &env, Vars{Commit: "abc"})
			if err != nil {
				t.Error(err)
				return
			}
			digests[i] = res.Digest
		}()
	}
	for range digests {
		<-done
	}
	for i, d := range digests {
		if d == "" || d != digests[0] {
			t.Errorf("render %d: digest %q, want %q", i, d, digests[0])
		}
	}
}
