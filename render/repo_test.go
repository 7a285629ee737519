package render

import (
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/flyt-platform/flyt/internal/testenv/naisdata"
)

func TestLoadRepoConventionsOnSharedRepositories(t *testing.T) {
	want := map[string][]*App{
		"nais/testapp": {{Name: "testapp", Files: []string{".nais/nais.yaml"},
			Environments: map[string]*AppEnv{"dev": {Vars: []string{".nais/dev.json"}}}}},
		"nais/example": {{Name: "example", Files: []string{".nais/app.yaml", ".nais/config.yaml"}, Everywhere: true,
			Environments: map[string]*AppEnv{"prod-gcp": {Overlays: map[string][]string{
				".nais/app.yaml":    {".nais/app.prod-gcp.yaml"},
				".nais/config.yaml": {".nais/config.prod-gcp.yaml"},
			}}}}},
		"navikt/dp-behandling": {{Name: "dp-behandling", Files: []string{".nais/nais.yaml"},
			Environments: map[string]*AppEnv{"dev": {Vars: []string{".nais/vars-dev.yaml"}}, "prod": {Vars: []string{".nais/vars-prod.yaml"}}}}},
		"nais/wonderwalled": {
			{Name: "wonderwalled-azure", Files: []string{".nais/wonderwalled-azure.yaml"}, Everywhere: true, Environments: map[string]*AppEnv{}},
			{Name: "wonderwalled-idporten", Files: []string{".nais/wonderwalled-idporten.yaml"}, Everywhere: true, Environments: map[string]*AppEnv{}},
		},
		"nais/start.nais.io": {{Name: "start-nais-io", Files: []string{".nais/nais.yaml"},
			Environments: map[string]*AppEnv{"prod": {Vars: []string{".nais/prod.yaml"}}}}},
		"navikt/familie-klage": {{Name: "familie-klage",
			Environments: map[string]*AppEnv{"dev": {Files: []string{".nais/app-dev.yaml"}}, "prod": {Files: []string{".nais/app-prod.yaml"}}}}},
	}
	repos := naisdata.Repos(t)
	if len(repos) != len(want) {
		t.Fatalf("SOURCES.txt lists %d repositories, this test knows %d", len(repos), len(want))
	}
	for name, fsys := range repos {
		t.Run(name, func(t *testing.T) {
			repo, err := LoadRepo(fsys, ".", LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want[name], repo.Apps, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("apps (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadRepoProblems(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"nothing to deploy", map[string]string{"README.md": "hi"}, ".: found neither .flyt.yaml nor a .nais/ folder; add one of them (see flyt's README)"},
		{"no Application", map[string]string{".nais/vars.yaml": "a: 1\n"}, ".nais: no file here holds a nais.io/v1alpha1 Application; add one, or list the files in .flyt.yaml"},
		{"unknown field in .flyt.yaml", map[string]string{".flyt.yaml": "apps:\n  - name: a\n    file: [x.yaml]\n"}, `.flyt.yaml:3:5: apps[0].file: unknown field "file"; did you mean "files"?`},
		{"missing file in .flyt.yaml", map[string]string{".flyt.yaml": "apps:\n  - name: a\n    files: [x.yaml]\n"}, `.flyt.yaml: file "x.yaml" does not exist`},
		{"file outside the repository", map[string]string{".flyt.yaml": "apps:\n  - name: a\n    files: [../x.yaml]\n"}, `.flyt.yaml: file "../x.yaml" is outside the repository; use a path relative to its root`},
		{"raw file of no app", map[string]string{
			".nais/a.yaml":     "apiVersion: nais.io/v1alpha1\nkind: Application\nmetadata:\n  name: a\n",
			".nais/b.yaml":     "apiVersion: nais.io/v1alpha1\nkind: Application\nmetadata:\n  name: b\n",
			".nais/topic.yaml": "apiVersion: kafka.nais.io/v1\nkind: Topic\nmetadata:\n  name: events\n",
		}, ".nais/topic.yaml: cannot tell which app (a, b) this file belongs to; name an object after its app or list the files in .flyt.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for p, d := range tt.files {
				fsys[p] = &fstest.MapFile{Data: []byte(d)}
			}
			_, err := LoadRepo(fsys, ".", LoadOptions{})
			if err == nil {
				t.Fatalf("LoadRepo succeeded, want %q", tt.want)
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}
