package yamlpos

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const platformYAML = `apiVersion: flyt.dev/v1alpha1
kind: Platform
environments:
  - name: dev
    branch: main
  - name: prod
    promoteFrom: qa
    cluster:
      inCluster: true
metadata:
  labels:
    app.kubernetes.io/name: flyt
    "odd]key": x
`

func TestPosition(t *testing.T) {
	doc, err := Parse("platform.yaml", []byte(platformYAML), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path      string
		line, col int
		has       bool
	}{
		{path: "kind", line: 2, col: 7, has: true},
		{path: "environments", line: 3, col: 1, has: true},
		{path: "environments[1]", line: 6, col: 5, has: true},
		{path: "environments[1].promoteFrom", line: 7, col: 18, has: true},
		{path: "environments[1].cluster", line: 8, col: 5, has: true},
		{path: "environments[1].cluster.inCluster", line: 9, col: 18, has: true},
		// Missing parts fall back to the deepest part that exists.
		{path: "environments[0].cluster", line: 4, col: 5},
		{path: "environments[7].name", line: 3, col: 1},
		{path: "environments[1].cluster.kubeconfig", line: 8, col: 5},
		{path: `metadata.labels["app.kubernetes.io/name"]`, line: 12, col: 29, has: true},
		{path: `metadata.labels["odd]key"]`, line: 13, col: 16, has: true},
		{path: "", line: 1, col: 1, has: true},
		{path: "nope", line: 1, col: 1},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			line, col := doc.Position(tt.path)
			if line != tt.line || col != tt.col {
				t.Errorf("Position(%q) = %d:%d, want %d:%d", tt.path, line, col, tt.line, tt.col)
			}
			if got := doc.Has(tt.path); got != tt.has {
				t.Errorf("Has(%q) = %v, want %v", tt.path, got, tt.has)
			}
		})
	}
}

func TestErrorf(t *testing.T) {
	doc, err := Parse("platform.yaml", []byte(platformYAML), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	got := doc.Errorf("environments[1].promoteFrom", "%q is not an earlier environment; use one of: %s", "qa", "dev").Error()
	want := `platform.yaml:7:18: environments[1].promoteFrom: "qa" is not an earlier environment; use one of: dev`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	empty, err := Parse("empty.yaml", nil, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := empty.Errorf("kind", "missing").Error(), "empty.yaml: kind: missing"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestSplitDocuments(t *testing.T) {
	data := []byte(`# leading comment
---
apiVersion: v1
kind: ConfigMap
metadata: {name: a}
---
# only a comment
---
apiVersion: kafka.nais.io/v1
kind: Topic
metadata:
  name: b
  nmae: typo
`)
	docs, err := SplitDocuments("objects.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	type summary struct {
		Index, Line int
		JSON        string
	}
	var got []summary
	for _, d := range docs {
		j, err := d.JSON()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, summary{d.Index, d.Line, string(j)})
	}
	want := []summary{
		{0, 3, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}`},
		{1, 9, `{"apiVersion":"kafka.nais.io/v1","kind":"Topic","metadata":{"name":"b","nmae":"typo"}}`},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}

	// Positions inside a later document are those of the whole file.
	var obj struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	err = docs[1].Decode(&obj)
	if got, want := fmt.Sprint(err), `objects.yaml:13:3: metadata.nmae: unknown field "nmae"; did you mean "name"?`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if line, col := docs[1].Document().Position("metadata.name"); line != 12 || col != 9 {
		t.Errorf("Position = %d:%d, want 12:9", line, col)
	}
}

func TestSplitDocumentsBroken(t *testing.T) {
	_, err := SplitDocuments("objects.yaml", []byte("a: 1\n---\n\nb: x\n  c: d\n"))
	want := &Error{File: "objects.yaml", Line: 5, Msg: "invalid YAML: mapping values are not allowed in this context"}
	var got *Error
	if e := Errors(err); len(e) == 1 {
		got = e[0]
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestJSONDuplicateKeys(t *testing.T) {
	doc, err := Parse("x.yaml", []byte("a: 1\na: 2\n"), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	_, err = doc.JSON()
	if got, want := fmt.Sprint(err), `x.yaml:2:1: a: duplicate key "a" (first at line 1); remove one of them`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
