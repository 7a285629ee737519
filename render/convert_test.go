package render

import (
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime"
)

// TestConvertLikeTheConverter holds toUnstructured to runtime.DefaultUnstructuredConverter:
// for every object generated from the Applications of testdata/golden and of the benchmark's
// typical app, the map it makes is the converter's, value types included (int64, not float64,
// which the YAML of the golden files would not show), less status and the null
// creationTimestamps.
func TestConvertLikeTheConverter(t *testing.T) {
	inputs, err := filepath.Glob("testdata/golden/*.yaml")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	typical := &goldenCase{Files: map[string]string{}, Environments: []Environment{{Name: "dev", Team: "team-a",
		Ingresses: ingressDomains("intern.dev.example.no"), Integrations: []string{"azure"}, Image: "registry.example/{{team}}/{{app}}:{{commit}}"}}}
	for p, f := range typicalApp {
		typical.Files[p] = string(f.Data)
	}
	cases := map[string]*goldenCase{"typical": typical}
	for _, in := range inputs {
		cases[filepath.Base(in)] = readCase(t, in)
	}
	compared := 0
	for name, c := range cases {
		for _, obj := range generatedObjects(t, c) {
			want, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
			if err != nil {
				t.Fatal(err)
			}
			delete(want, "status")
			dropNullTimestamps(want)
			got, err := toUnstructured(obj)
			if err != nil {
				t.Fatalf("%s: %T: %v", name, obj, err)
			}
			if d := cmp.Diff(want, got.Object); d != "" {
				t.Errorf("%s: %T (-converter +toUnstructured):\n%s", name, obj, d)
			}
			compared++
		}
	}
	if compared < 50 {
		t.Errorf("compared %d generated objects; the golden cases should give at least 50", compared)
	}
}

// generatedObjects returns the typed objects generator makes from every Application of c, in
// every environment of c, before conversion.
func generatedObjects(t *testing.T, c *goldenCase) []any {
	t.Helper()
	fsys := fstest.MapFS{}
	for p, data := range c.Files {
		fsys[p] = &fstest.MapFile{Data: []byte(data)}
	}
	repo, err := LoadRepo(fsys, ".", LoadOptions{Environments: c.KnownEnvs})
	if err != nil {
		return nil // a load error case: nothing is generated
	}
	var out []any
	for _, app := range repo.Apps {
		for i := range c.Environments {
			env := defaulted(&c.Environments[i])
			ae := app.Environments[env.Name]
			if ae == nil {
				ae = &AppEnv{}
			}
			r := &renderer{repo: repo, app: app, appEnv: ae, env: env, res: &Result{},
				output: int64(repo.Limits.TemplateOutput), values: repo.Limits.YAMLValues}
			vars := r.variables(Vars{Commit: "4f2a9c1e7b3d5a6f8e0c2b4d6f8a0c2e4b6d8f0a"})
			ctx := templateContext(vars).(map[string]any)
			files := ae.Files
			if files == nil {
				files = app.Files
			}
			for _, f := range files {
				docs, _ := r.documents(f, ctx)
				for _, d := range docs {
					if d.value["kind"] != naisKind {
						continue
					}
					var a Application
					if errs := decodeStrict(d.value, &a, d.pos); len(errs) > 0 {
						continue
					}
					g := &generator{app: &a, env: env, pos: d.pos, image: "registry.example/app:1"}
					out = append(out, g.objects()...)
				}
			}
		}
	}
	return out
}
