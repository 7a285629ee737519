package render

import (
	"fmt"
	"testing"
	"testing/fstest"
	"time"
)

// FuzzRender feeds arbitrary templates and vars through discovery, templating, spec decoding
// and generation: whatever the input, Render returns objects or an error, never panics or hangs.
func FuzzRender(f *testing.F) {
	f.Add(minimalApp, "x: 1\n")
	f.Add(minimalApp+"  ingresses:\n  {{#each ingresses as |u i|}}\n    - {{u}}\n  {{/each}}\n", "ingresses: [https://a.dev.example.no]\n")
	f.Add(minimalApp+"  replicas: {min: {{n}}, max: 2}\n  port: {{port}}\n", "n: 1\nport: abc\n")
	f.Add(minimalApp+"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata: {a: '{{a}}'}\n", "a: [1, 2]\n")
	f.Add("version: v1\nkind: Config\nmetadata:\n  name: app\ndata:\n  K: {{#if x}}y{{/if}}\n", "{\"x\": true}")
	f.Add(minimalApp+"  accessPolicy:\n    outbound:\n      external:\n        - ipv4: 1.2.3.4\n          ports: [{port: 1}]\n", "")
	f.Add("{{#each}}{{/each}}{{../../x}}{{@root.y.z}}{{lookup a b}}\\{{", "a: {b: c}\n")
	f.Fuzz(func(t *testing.T, manifest, vars string) {
		// A render that hangs is a failure too: the fuzzer keeps only inputs that crash, so
		// make a hang crash (with the input) instead of stalling the run.
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				panic(fmt.Sprintf("render hangs on manifest=%q vars=%q", manifest, vars))
			}
		}()
		fsys := fstest.MapFS{
			".nais/nais.yaml":     {Data: []byte(manifest)},
			".nais/vars-dev.yaml": {Data: []byte(vars)},
		}
		repo, err := LoadRepo(fsys, ".", LoadOptions{})
		if err != nil {
			return
		}
		env := Environment{Name: "dev", Team: "team-a", Namespace: "team-a", Ingresses: ingressDomains("dev.example.no"),
			RawKinds: []string{"ConfigMap"}, Image: "registry.example/{{app}}:{{commit}}"}
		for _, app := range repo.Apps {
			res, err := Render(repo, app.Name, &env, Vars{Commit: "abc"})
			if err == nil && res.Digest == "" {
				t.Fatalf("render of %s succeeded without a digest", app.Name)
			}
		}
	})
}
