package render

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"
)

// yamlRoots parses text with yaml.v3 the way parseDocuments does, skipping empty documents.
func yamlRoots(text string) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(strings.NewReader(text))
	var roots []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return roots, nil
		}
		if err != nil {
			return nil, err
		}
		if len(n.Content) > 0 && n.Content[0].ShortTag() != "!!null" { // parseDocuments skips null documents
			roots = append(roots, n.Content[0])
		}
	}
}

// describeNode writes what render reads of a node tree: kind, style, tag, value and position.
func describeNode(b *strings.Builder, n *yaml.Node, depth int) {
	fmt.Fprintf(b, "%s%d:%d kind=%d style=%d tag=%s value=%q\n", strings.Repeat("  ", depth), n.Line, n.Column,
		n.Kind, n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle), n.ShortTag(), n.Value)
	for _, c := range n.Content {
		describeNode(b, c, depth+1)
	}
}

func describeRoots(roots []*yaml.Node) string {
	var b strings.Builder
	for _, r := range roots {
		b.WriteString("---\n")
		describeNode(&b, r, 0)
	}
	return b.String()
}

// checkParseSimple fails t when parseSimple accepts text and gives other nodes than yaml.v3.
// It returns whether parseSimple accepted the text.
func checkParseSimple(t testing.TB, text string) bool {
	got, ok := parseSimple(text)
	if !ok {
		return false
	}
	want, err := yamlRoots(text)
	if err != nil {
		t.Fatalf("parseSimple accepted YAML that yaml.v3 rejects (%v):\n%s", err, text)
	}
	if g, w := describeRoots(got), describeRoots(want); g != w {
		t.Fatalf("parseSimple differs from yaml.v3 on:\n%s\ngot:\n%s\nwant:\n%s", text, g, w)
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
}

// TestParseSimpleMatchesYAML holds the fast YAML path to yaml.v3 on samples, the golden cases'
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
	repo, err := LoadRepo(typicalApp, ".")
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
	text, _, err := repo.templates[".nais/nais.yaml"].exec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return repo, env, text
}

// FuzzParseSimple compares the fast YAML path with yaml.v3 on arbitrary text.
func FuzzParseSimple(f *testing.F) {
	for _, s := range parseSimpleSamples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		checkParseSimple(t, text)
	})
}
