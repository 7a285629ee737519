package render

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	sigsyaml "sigs.k8s.io/yaml"

	"github.com/flyt-platform/flyt/internal/yamlpos"
)

// checkParseSimple fails t when parseSimple accepts text and gives other values than yaml.v3
// and nodeValue, or when the documents' nodes are not found. It returns whether parseSimple
// accepted the text.
func checkParseSimple(t testing.TB, text string) bool {
	got, ok := parseSimple(text)
	if !ok {
		return false
	}
	want, err := parseYAML("f.yaml", text, false, yamlpos.DefaultLimits)
	if err != nil {
		t.Fatalf("parseSimple accepted YAML that yaml.v3 or nodeValue reject (%v):\n%s", err, text)
	}
	wantValues := make([]any, len(want))
	for i, d := range want {
		wantValues[i] = d.value
	}
	if len(got)+len(wantValues) > 0 && !reflect.DeepEqual(got, wantValues) {
		t.Fatalf("parseSimple differs from yaml.v3 on:\n%s\ngot:  %#v\nwant: %#v", text, got, wantValues)
	}
	docs, err := parseDocuments("f.yaml", text, false, yamlpos.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	for i := range docs {
		if n := docs[i].root(); n != want[i].node && (n.Line != want[i].node.Line || n.Column != want[i].node.Column) {
			t.Fatalf("document %d of:\n%s\nis at %d:%d, want %d:%d", i, text, n.Line, n.Column, want[i].node.Line, want[i].node.Column)
		}
	}
	return true
}

var parseSimpleSamples = []string{
	"a: 1\n",
	"---\na: 1\n---\nb: [1]\n",
	"a: 1\n---\n",
	"# head\n---\na: 1\n",
	"a: 1\n---\n---\nb: 2\n",
	"a:\nb:\n  c:\n  d: x\n",
	"a:\n- 1\n- two\n-\n- - x\n  - y\n- k: v\n  l: w\nb: 'it''s' # c\nc: \"q\"  # d\n",
	"list:\n  - a\n  -   b\n  - c: 1\n    d:\n      - e\n",
	"a: x # comment\nb: y#z\nc: http://h:80/p\nd: 0.0.0.0:8080\ne: -1\nf: --verbose\ng: ~\nh: null\ni: true\nj: 1.5\nk: 0x1F\nl: 1_000\nm: \"true\"\n",
	"a: b: c\n",
	"a: 'x'y\n",
	"a: \"x\"y\n",
	"a: \"x\\ny\"\n",
	"a: |\n  text\n",
	"a: >-\n  text\n",
	"a: &x 1\nb: *x\n",
	"a: !!str 1\n",
	"a: [1, 2]\nb: {c: d}\n",
	"a: multi\n  line\n",
	"- a\n  b\n",
	"a: 1\n a: 2\n",
	"a: 1\n  b: 2\n",
	"a:\n  b: 1\n c: 2\n",
	"a:\n    b: 1\n  c: 2\n",
	"a: 1\na: 2\n",
	"? a\n: b\n",
	"<<: {a: 1}\n",
	"a:\n  <<: x\n",
	"\"a\": 1\n",
	"a : 1\n",
	"a:  1  \n",
	"a: '' \n",
	"a: ''''\n",
	"a: 'x' #c\n",
	"a: - b\n",
	"a: -\n",
	"- -\n",
	"a: ---\n",
	"--- a\n",
	"...\n",
	"%YAML 1.2\n---\na: 1\n",
	"a: 1\n...\n",
	"- a\n- b\nc: d\n",
	"a:\n- b\nc:\n  - d\n  - e\nf: g\n",
	"a: {{x}}\n",
	"a: @x\n",
	"a: `x`\n",
	"a: %x\n",
	"a: ,x\n",
	"a: x,y\n",
	"a: x]\n",
	"a: ?x\n",
	"a: :x\n",
	"a:x\n",
	"a\n",
	"  a: 1\n",
	"a: 1\r\nb: 2\r\n",
	"a:\tb\n",
	"a: æøå\n",
	"",
	"\n\n",
	"# only a comment\n",
	"a:\n  # comment\n  b: 1\n# comment\nc: 2\n",
	"a: \"x # not a comment\"\n",
	"a: 'x # not a comment'\n",
	"a: x #\n",
	"a: \"\"\n",
	"a: 1\nb:\n",
	"a:\n-\n",
	"a:\n  -\n  - b\n",
	"- a: 1\n  b:\n- c\n",
	"a: 2001-12-14\nb: .inf\nc: 1e3\nd: +1\ne: 0o17\nf: -.5\ng: Yes\nh: off\ni: FALSE\n",
	"a: 1_000.5\nb: 0b101\nc: 0x_1F\nd: 1e400\ne: 99999999999999999999\nf: -0\ng: .NaN\nh: 1.\ni: +.5e-3\nj: 0.0\nk: True\n",
	"a: 1\nb: 2\na: 3\n",
	"- a: 1\n  a: 2\n",
}

// TestParseSimpleMatchesYAML holds the fast YAML path to yaml.v3 and nodeValue on samples, the golden cases'
// files and the tests' manifests, and checks it takes the typical manifest.
func TestParseSimpleMatchesYAML(t *testing.T) {
	for _, s := range parseSimpleSamples {
		checkParseSimple(t, s)
	}
	files, err := filepath.Glob("testdata/golden/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	taken := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c goldenCase
		if err := sigsyaml.Unmarshal(data, &c); err != nil {
			t.Fatal(err)
		}
		for _, text := range c.Files {
			if checkParseSimple(t, text) {
				taken++
			}
		}
	}
	if taken == 0 {
		t.Error("parseSimple took none of the golden cases' files")
	}
	for _, f := range typicalApp {
		checkParseSimple(t, string(f.Data))
	}
	_, _, text := renderedTypical(t)
	if !checkParseSimple(t, text) {
		t.Errorf("parseSimple gave up on the typical manifest:\n%s", text)
	}
}

// renderedTypical returns the typical app's manifest after templating.
func renderedTypical(t testing.TB) (*Repo, *Environment, string) {
	repo, err := LoadRepo(typicalApp, ".", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	env := &Environment{Name: "dev", Cluster: "dev", Team: "team-a", Namespace: "team-a",
		Ingresses: ingressDomains("intern.dev.example.no"), Integrations: []string{"azure"},
		Image: "registry.example/{{team}}/{{app}}:{{commit}}"}
	app := repo.App("typical")
	r := &renderer{repo: repo, app: app, appEnv: &AppEnv{}, env: env, res: &Result{}}
	if ae := app.Environments[env.Name]; ae != nil {
		r.appEnv = ae
	}
	ctx := templateContext(r.variables(Vars{Commit: "abc"})).(map[string]any)
	text, _, err := repo.templates[".nais/nais.yaml"].exec(ctx, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return repo, env, text
}

// FuzzParseSimple compares the fast YAML path with yaml.v3 and nodeValue on arbitrary text.
func FuzzParseSimple(f *testing.F) {
	for _, s := range parseSimpleSamples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		checkParseSimple(t, text)
	})
}
