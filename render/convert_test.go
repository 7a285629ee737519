package render

import (
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// TestConvertLikeTheConverter holds toUnstructured to runtime.DefaultUnstructuredConverter:
// for every object generated from the Applications of testdata/golden and of the benchmark's
// typical app, the map it makes is the converter's, value types included (int64, not float64,
// which the YAML of the golden files would not show), less status; and no object has a
// creationTimestamp anywhere (ObjectMeta's is omitzero, which toUnstructured relies on).
func TestConvertLikeTheConverter(t *testing.T) {
	compared := 0
	for name, obj := range allGenerated(t) {
		want, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			t.Fatal(err)
		}
		delete(want, "status")
		got, err := toUnstructured(obj)
		if err != nil {
			t.Fatalf("%s: %T: %v", name, obj, err)
		}
		if d := cmp.Diff(want, got.Object); d != "" {
			t.Errorf("%s: %T (-converter +toUnstructured):\n%s", name, obj, d)
		}
		if hasKey(got.Object, "creationTimestamp") {
			t.Errorf("%s: %T has a creationTimestamp; flyt does not own that field", name, obj)
		}
		compared++
	}
	if compared < 50 {
		t.Errorf("compared %d generated objects; the golden cases should give at least 50", compared)
	}
}

// hasKey reports whether a map anywhere in v has key.
func hasKey(v any, key string) bool {
	switch v := v.(type) {
	case map[string]any:
		if _, ok := v[key]; ok {
			return true
		}
		for _, x := range v {
			if hasKey(x, key) {
				return true
			}
		}
	case []any:
		for _, x := range v {
			if hasKey(x, key) {
				return true
			}
		}
	}
	return false
}

// TestGeneratedImages holds the generator to what the digest assumes of it (renderer.imagesOf):
// the only container image in the objects generated from an Application is the generator's
// image, so searching them would find nothing else.
func TestGeneratedImages(t *testing.T) {
	deployments := 0
	for name, obj := range allGenerated(t) {
		u, err := toUnstructured(obj)
		if err != nil {
			t.Fatal(err)
		}
		images := map[string]bool{}
		objectImages(images, u)
		if _, isDeployment := obj.(*appsv1.Deployment); isDeployment {
			deployments++
			if d := cmp.Diff([]string{generatedImage}, sortedKeys(images)); d != "" {
				t.Errorf("%s: images of the Deployment (-want +got):\n%s", name, d)
			}
		} else if len(images) > 0 {
			t.Errorf("%s: %T references images %v; renderer.imagesOf gives only the generator's image", name, obj, sortedKeys(images))
		}
	}
	if deployments < 10 {
		t.Errorf("checked %d Deployments; the golden cases should give at least 10", deployments)
	}
}

// generatedImage is the image allGenerated gives the generator.
const generatedImage = "registry.example/app:1"

// allGenerated yields, by case name, every typed object the generator makes from the golden
// cases and the benchmark's typical app.
func allGenerated(t *testing.T) func(yield func(string, any) bool) {
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
	return func(yield func(string, any) bool) {
		for name, c := range cases {
			for _, obj := range generatedObjects(t, c) {
				if !yield(name, obj) {
					return
				}
			}
		}
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
					g := &generator{app: &a, env: env, pos: d.pos, image: generatedImage}
					out = append(out, g.objects()...)
				}
			}
		}
	}
	return out
}
