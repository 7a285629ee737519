package render

import (
	"errors"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

const minimalApp = `apiVersion: nais.io/v1alpha1
kind: Application
metadata:
  name: app
spec:
  image: ghcr.io/example/app:1
`

func TestRenderErrors(t *testing.T) {
	tests := []struct {
		name   string
		files  map[string]string
		env    Environment
		want   string
		strict bool // the error must wrap ErrStrict
	}{
		{
			name: "broken YAML names the line",
			files: map[string]string{".nais/nais.yaml": `apiVersion: nais.io/v1alpha1
kind: Application
metadata:
  name: app
spec:
  image: ghcr.io/example/app:1
   port: 8080
`},
			want: ".nais/nais.yaml:7: broken YAML: mapping values are not allowed in this context",
		},
		{
			name:  "unknown field with a suggestion",
			files: map[string]string{".nais/nais.yaml": minimalApp + "  replica:\n    min: 1\n"},
			want:  `.nais/nais.yaml:7:3: spec.replica: unknown field "replica"; did you mean "replicas"?`,
		},
		{
			name:  "unknown field deep inside",
			files: map[string]string{".nais/nais.yaml": minimalApp + "  liveness:\n    path: /alive\n    intialDelay: 5\n"},
			want:  `.nais/nais.yaml:9:5: spec.liveness.intialDelay: unknown field "intialDelay"; did you mean "initialDelay"?`,
		},
		{
			name:  "wrong type",
			files: map[string]string{".nais/nais.yaml": minimalApp + "  port: http\n"},
			want:  `.nais/nais.yaml:7:9: spec.port: wrong type: want a whole number, got string`,
		},
		// An Application is decoded once, with its overlays merged into the base, and each problem
		// still names the file and line that set the value.
		{
			name:  "unknown field in an overlay",
			files: map[string]string{".nais/nais.yaml": minimalApp + "  replicas:\n    min: 1\n", ".nais/nais.dev.yaml": "spec:\n  replicas:\n    mx: 3\n"},
			want:  `.nais/nais.dev.yaml:3:5: spec.replicas.mx: unknown field "mx"; did you mean "max"?`,
		},
		{
			name:  "wrong type in an overlay",
			files: map[string]string{".nais/nais.yaml": minimalApp + "  port: 8080\n", ".nais/nais.dev.yaml": "spec:\n  port: http\n"},
			want:  `.nais/nais.dev.yaml:2:9: spec.port: wrong type: want a whole number, got string`,
		},
		{
			name:  "a number where NAIS wants a string",
			files: map[string]string{".nais/nais.yaml": minimalApp, ".nais/nais.dev.yaml": "spec:\n  image: 1.10\n"},
			want:  `.nais/nais.dev.yaml:2:10: spec.image: wrong type: want a string, got number`,
		},
		{
			name:  "a fraction where NAIS wants a whole number",
			files: map[string]string{".nais/nais.yaml": minimalApp + "  replicas:\n    min: 1.5\n"},
			want:  `.nais/nais.yaml:8:10: spec.replicas.min: wrong type: want a whole number, got number 1.5`,
		},
		{
			name:  "every wrong type at once, in the base and the overlay",
			files: map[string]string{".nais/nais.yaml": minimalApp + "  port: http\n", ".nais/nais.dev.yaml": "spec:\n  replicas:\n    max: many\n  prometheus: {enabled: yes}\n"},
			want: `.nais/nais.dev.yaml:3:10: spec.replicas.max: wrong type: want a whole number, got string
.nais/nais.dev.yaml:4:25: spec.prometheus.enabled: wrong type: want true or false, got string
.nais/nais.yaml:7:9: spec.port: wrong type: want a whole number, got string`,
		},
		{
			name:  "a merge key is a field like any other",
			files: map[string]string{".nais/nais.yaml": minimalApp + "  <<: {port: 8081}\n"},
			want:  `.nais/nais.yaml:7:3: spec["<<"]: unknown field "<<"`,
		},
		{
			name: "undefined variable under strict",
			files: map[string]string{
				".nais/nais.yaml":     minimalApp + "  ingresses:\n  {{#each ingresses}}\n    - {{this}}\n  {{/each}}\n  env:\n    - name: REPLY\n      value: \"{{replyUrls}}\"\n",
				".nais/vars-dev.yaml": "replyURLs: https://x\ningresses: []\n",
			},
			env:    Environment{Strict: true},
			want:   `.nais/nais.yaml:13:17: undefined variable "replyUrls" renders empty (did you mean "replyURLs"?)`,
			strict: true,
		},
		{
			name:  "host outside the environment's domains",
			files: map[string]string{".nais/nais.yaml": minimalApp + "  ingresses:\n    - https://app.example.com\n"},
			env:   Environment{Ingresses: ingressDomains("intern.dev.example.no", "dev.example.no")},
			want:  `.nais/nais.yaml:8:7: spec.ingresses[0]: host "app.example.com" is not under a domain of environment dev; allowed domains: dev.example.no, intern.dev.example.no`,
		},
		{
			name:  "foreign namespace on a raw object",
			files: map[string]string{".nais/nais.yaml": minimalApp + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: other-team\n"},
			env:   Environment{RawKinds: []string{"ConfigMap"}},
			want:  `.nais/nais.yaml:12:14: metadata.namespace: namespace "other-team" is not team team-a's namespace in environment dev (team-a); remove metadata.namespace or set it to team-a`,
		},
		{
			name:  "foreign namespace on the Application",
			files: map[string]string{".nais/nais.yaml": "apiVersion: nais.io/v1alpha1\nkind: Application\nmetadata:\n  name: app\n  namespace: aura\nspec:\n  image: x:1\n"},
			want:  `.nais/nais.yaml:5:14: metadata.namespace: namespace "aura" is not team team-a's namespace in environment dev (team-a); remove metadata.namespace or set it to team-a`,
		},
		{
			name:  "cluster-scoped kind",
			files: map[string]string{".nais/nais.yaml": minimalApp + "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: admin-for-all\n"},
			env:   Environment{RawKinds: []string{"rbac.authorization.k8s.io/ClusterRole"}},
			want:  `.nais/nais.yaml:9:7: kind: rbac.authorization.k8s.io/ClusterRole is cluster-scoped; a team repository may only ship objects in its own namespace, ask the platform operators for this one`,
		},
		{
			name:  "kind the environment does not allow",
			files: map[string]string{".nais/nais.yaml": minimalApp + "---\napiVersion: kafka.nais.io/v1\nkind: Topic\nmetadata:\n  name: events\n"},
			env:   Environment{RawKinds: []string{"ConfigMap"}},
			want:  `.nais/nais.yaml:9:7: kind: kind kafka.nais.io/Topic is not allowed in environment dev; allowed: ConfigMap`,
		},
		{
			name:   "unsupported integration under strict",
			files:  map[string]string{".nais/nais.yaml": minimalApp + "  kafka:\n    pool: nav-dev\n"},
			env:    Environment{Strict: true, Integrations: []string{"azure"}},
			want:   `.nais/nais.yaml:7:3: spec.kafka: integration kafka is not supported in environment dev and does nothing there; remove it for this environment (supported: azure)`,
			strict: true,
		},
		{
			name:  "no image anywhere",
			files: map[string]string{".nais/nais.yaml": "apiVersion: nais.io/v1alpha1\nkind: Application\nmetadata:\n  name: app\nspec:\n  port: 8080\n"},
			want:  `.nais/nais.yaml:6:3: spec.image: no image: set spec.image, or give the repo config or environment an image pattern`,
		},
		{
			name:  "several problems at once",
			files: map[string]string{".nais/nais.yaml": minimalApp + "  replicas:\n    min: 4\n    max: 2\n  resources:\n    requests:\n      cpu: lots\n"},
			want: `.nais/nais.yaml:8:10: spec.replicas.min: min (4) is above max (2)
.nais/nais.yaml:12:12: spec.resources.requests.cpu: "lots" is not a quantity; write it like "200m" (CPU) or "512Mi" (memory)`,
		},
		{
			name:  "broken template",
			files: map[string]string{".nais/nais.yaml": minimalApp + "  {{#if x}}\n  port: 8080\n"},
			want:  `.nais/nais.yaml:9: broken template: the file ends inside a {{#block}}; check that every {{#block}} has its {{/block}} and every {{ has its }}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for p, d := range tt.files {
				fsys[p] = &fstest.MapFile{Data: []byte(d)}
			}
			env := tt.env
			env.Name, env.Team, env.Namespace = "dev", "team-a", "team-a"
			repo, err := LoadRepo(fsys, ".", LoadOptions{})
			if err == nil {
				_, err = Render(repo, "app", &env, Vars{Commit: "abc"})
			}
			if err == nil {
				t.Fatalf("render succeeded, want error %q", tt.want)
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if !IsSpecError(err) {
				t.Errorf("IsSpecError(%v) = false, want true", err)
			}
			if got := errors.Is(err, ErrStrict); got != tt.strict {
				t.Errorf("errors.Is(err, ErrStrict) = %v, want %v", got, tt.strict)
			}
		})
	}
}

func TestRenderUnknownAppAndEnvironment(t *testing.T) {
	fsys := fstest.MapFS{
		".nais/nais.yaml":     {Data: []byte(minimalApp)},
		".nais/vars-dev.yaml": {Data: []byte("x: 1\n")},
	}
	repo, err := LoadRepo(fsys, ".", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	env := Environment{Name: "prod", Team: "team-a"}
	if _, err := Render(repo, "app", &env, Vars{}); !errors.Is(err, ErrNotInEnvironment) {
		t.Errorf("render in prod: got %v, want ErrNotInEnvironment", err)
	}
	if _, err := Render(repo, "nope", &env, Vars{}); !errors.Is(err, ErrUnknownApp) {
		t.Errorf("render nope: got %v, want ErrUnknownApp", err)
	}
}
