package yamlpos

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type duration struct{ time.Duration }

func (d *duration) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q", s)
	}
	d.Duration = v
	return nil
}

type meta struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
}

type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

type ingress struct {
	Host string `json:"host"`
}

type spec struct {
	Image     string    `json:"image"`
	Replicas  *replicas `json:"replicas,omitempty"`
	Ingresses []ingress `json:"ingresses,omitempty"`
	Timeout   duration  `json:"timeout,omitempty"`
	Enabled   bool      `json:"enabled,omitempty"`
	Ratio     float64   `json:"ratio,omitempty"`
	Port      uint16    `json:"port,omitempty"`
	Extra     any       `json:"extra,omitempty"`
	Ignored   string    `json:"-"`
}

type replicas struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

type app struct {
	typeMeta `json:",inline"`
	Metadata meta `json:"metadata"`
	Spec     spec `json:"spec"`
}

func TestDecodeStrict(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    app
		wantErr []string
	}{
		{
			name: "valid",
			yaml: `apiVersion: nais.io/v1alpha1
kind: Application
metadata:
  name: hello
  labels:
    app.kubernetes.io/name: hello
spec:
  image: ghcr.io/a/hello:1
  replicas: {min: 2, max: 4}
  ingresses:
    - host: hello.dev.example.test
  timeout: 90s
  enabled: true
  ratio: 1
  port: 8080
  extra: {a: [1, "x", true, null, 1.5]}
`,
			want: app{
				typeMeta: typeMeta{APIVersion: "nais.io/v1alpha1", Kind: "Application"},
				Metadata: meta{Name: "hello", Labels: map[string]string{"app.kubernetes.io/name": "hello"}},
				Spec: spec{
					Image: "ghcr.io/a/hello:1", Replicas: &replicas{Min: 2, Max: 4},
					Ingresses: []ingress{{Host: "hello.dev.example.test"}},
					Timeout:   duration{90 * time.Second}, Enabled: true, Ratio: 1, Port: 8080,
					Extra: map[string]any{"a": []any{float64(1), "x", true, nil, 1.5}},
				},
			},
		},
		{
			name: "numbers and booleans become strings as written",
			yaml: "metadata:\n  name: 1.10\n  labels: {version: 1.10, on: true, n: 0x1F}\n",
			want: app{Metadata: meta{Name: "1.10", Labels: map[string]string{"version": "1.10", "on": "true", "n": "0x1F"}}},
		},
		{
			name: "merge keys and anchors",
			yaml: "metadata:\n  labels: &l {a: x}\nspec:\n  replicas: &r {min: 1, max: 2}\n  ingresses:\n    - &i {host: a}\n    - *i\n",
			want: app{
				Metadata: meta{Labels: map[string]string{"a": "x"}},
				Spec:     spec{Replicas: &replicas{Min: 1, Max: 2}, Ingresses: []ingress{{Host: "a"}, {Host: "a"}}},
			},
		},
		{
			name: "integral float into int",
			yaml: "spec:\n  replicas: {min: 2.0}\n",
			want: app{Spec: spec{Replicas: &replicas{Min: 2}}},
		},
		{
			name: "null leaves zero values",
			yaml: "metadata:\nspec:\n  image: ~\n",
		},
		{name: "empty document", yaml: "# nothing here\n"},
		{
			name:    "unknown field with a close match",
			yaml:    "spec:\n  replica: {min: 1}\n",
			wantErr: []string{`app.yaml:2:3: spec.replica: unknown field "replica"; did you mean "replicas"?`},
		},
		{
			name:    "unknown field differing in case",
			yaml:    "Metadata:\n  name: a\n",
			wantErr: []string{`app.yaml:1:1: Metadata: unknown field "Metadata"; did you mean "metadata"?`},
		},
		{
			name:    "unknown field lists the known ones",
			yaml:    "spec:\n  replicas:\n    average: 3\n",
			wantErr: []string{`app.yaml:3:5: spec.replicas.average: unknown field "average"; known fields: max, min`},
		},
		{
			name:    "field hidden by json:\"-\" is unknown",
			yaml:    "spec:\n  Ignored: x\n",
			wantErr: []string{`app.yaml:2:3: spec.Ignored: unknown field "Ignored"; known fields: enabled, extra, image, ingresses, port, ratio, replicas, timeout`},
		},
		{
			name:    "string for an integer",
			yaml:    "spec:\n  replicas:\n    min: two\n",
			wantErr: []string{`app.yaml:3:10: spec.replicas.min: expected an integer, got string "two"`},
		},
		{
			name:    "quoted number for an integer",
			yaml:    "spec:\n  replicas:\n    min: \"2\"\n",
			wantErr: []string{`app.yaml:3:10: spec.replicas.min: expected an integer, got string "2"`},
		},
		{
			name:    "fraction for an integer",
			yaml:    "spec:\n  replicas: {min: 2.5}\n",
			wantErr: []string{`app.yaml:2:19: spec.replicas.min: expected an integer, got number 2.5`},
		},
		{
			name:    "negative for unsigned",
			yaml:    "spec:\n  port: -1\n",
			wantErr: []string{`app.yaml:2:9: spec.port: expected a non-negative integer, got -1`},
		},
		{
			name:    "overflow",
			yaml:    "spec:\n  port: 70000\n",
			wantErr: []string{`app.yaml:2:9: spec.port: 70000 is out of range for this field`},
		},
		{
			name:    "yes is not a boolean",
			yaml:    "spec:\n  enabled: yes\n",
			wantErr: []string{`app.yaml:2:12: spec.enabled: expected true or false, got string "yes"`},
		},
		{
			name:    "mapping for a string",
			yaml:    "spec:\n  image: {name: x}\n",
			wantErr: []string{`app.yaml:2:10: spec.image: expected a string, got a mapping`},
		},
		{
			name:    "mapping for a list",
			yaml:    "spec:\n  ingresses:\n    host: a\n",
			wantErr: []string{`app.yaml:3:5: spec.ingresses: expected a list, got a mapping`},
		},
		{
			name:    "string for a float",
			yaml:    "spec:\n  ratio: half\n",
			wantErr: []string{`app.yaml:2:10: spec.ratio: expected a number, got string "half"`},
		},
		{
			name:    "infinity",
			yaml:    "spec:\n  ratio: .inf\n",
			wantErr: []string{`app.yaml:2:10: spec.ratio: .inf cannot be represented; use a finite number`},
		},
		{
			name:    "custom unmarshaler error is placed",
			yaml:    "spec:\n  timeout: soon\n",
			wantErr: []string{`app.yaml:2:12: spec.timeout: invalid duration "soon"`},
		},
		{
			name:    "duplicate field",
			yaml:    "metadata:\n  name: a\n  name: b\n",
			wantErr: []string{`app.yaml:3:3: metadata.name: duplicate field "name" (first at line 2); remove one of them`},
		},
		{
			name:    "duplicate map key with a dotted name",
			yaml:    "metadata:\n  labels:\n    a.b/c: x\n    a.b/c: y\n",
			wantErr: []string{`app.yaml:4:5: metadata.labels["a.b/c"]: duplicate key "a.b/c" (first at line 3); remove one of them`},
		},
		{
			name:    "list item errors carry the index",
			yaml:    "spec:\n  ingresses:\n    - host: a\n    - hots: b\n",
			wantErr: []string{`app.yaml:4:7: spec.ingresses[1].hots: unknown field "hots"; did you mean "host"?`},
		},
		{
			name:    "root is not a mapping",
			yaml:    "- a\n- b\n",
			wantErr: []string{`app.yaml:1:1: expected a mapping, got a list`},
		},
		{
			name: "every problem at once, in order",
			yaml: "kind: 3\nspec:\n  replicas: {min: x, max: y}\n  imag: a\n",
			// kind: 3 is fine: numbers become strings.
			wantErr: []string{
				`app.yaml:3:19: spec.replicas.min: expected an integer, got string "x"`,
				`app.yaml:3:27: spec.replicas.max: expected an integer, got string "y"`,
				`app.yaml:4:3: spec.imag: unknown field "imag"; did you mean "image"?`,
			},
		},
		{
			name:    "broken YAML",
			yaml:    "metadata:\n  name: a\n    labels: x\n",
			wantErr: []string{`app.yaml:3: invalid YAML: mapping values are not allowed in this context`},
		},
		{
			name:    "tabs",
			yaml:    "metadata:\n\tname: a\n",
			wantErr: []string{`app.yaml:2: invalid YAML: found character that cannot start any token`},
		},
		{
			name:    "two documents",
			yaml:    "metadata: {name: a}\n---\nmetadata: {name: b}\n",
			wantErr: []string{`app.yaml:3:1: expected one YAML document, but another one starts here; remove the "---" separator or move this document to its own file`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got app
			err := DecodeStrict("app.yaml", []byte(tt.yaml), &got)
			var gotErr []string
			for _, e := range Errors(err) {
				gotErr = append(gotErr, e.Error())
			}
			if err != nil && len(gotErr) == 0 {
				t.Fatalf("error without position: %v", err)
			}
			if diff := cmp.Diff(tt.wantErr, gotErr); diff != "" {
				t.Fatalf("errors (-want +got):\n%s", diff)
			}
			if err != nil {
				return
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(app{})); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
		})
	}
}

func TestErrorShapes(t *testing.T) {
	var one *Error
	err := DecodeStrict("a.yaml", []byte("spec: {imag: x}\n"), &app{})
	if !errors.As(err, &one) {
		t.Fatalf("a single problem is an *Error, got %T", err)
	}
	want := &Error{File: "a.yaml", Line: 1, Column: 8, Path: "spec.imag", Msg: `unknown field "imag"; did you mean "image"?`}
	if diff := cmp.Diff(want, one); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	err = DecodeStrict("a.yaml", []byte("spec: {imag: x, ratio: y}\n"), &app{})
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 2 {
		t.Fatalf("several problems are an ErrorList of 2, got %T %v", err, err)
	}
	if !errors.As(err, &one) || one.Path != "spec.imag" {
		t.Errorf("errors.As reaches the first *Error through the list, got %v", one)
	}
	wrapped := fmt.Errorf("load: %w", err)
	if got := len(Errors(wrapped)); got != 2 {
		t.Errorf("Errors(wrapped list) = %d problems, want 2", got)
	}
	if got := len(Errors(errors.Join(errors.New("x"), one))); got != 1 {
		t.Errorf("Errors(joined) = %d problems, want 1", got)
	}
	if got := Errors(errors.New("plain")); got != nil {
		t.Errorf("Errors(plain) = %v, want nil", got)
	}
}

func TestDecodeRejectsNonPointer(t *testing.T) {
	if err := DecodeStrict("a.yaml", []byte("a: 1"), app{}); err == nil {
		t.Fatal("decoding into a non-pointer must fail")
	}
}

func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	var out map[string]any
	err := DecodeStrict("bomb.yaml", []byte(b.String()), &out)
	if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "with its aliases expanded, this holds more than 100000 values") {
		t.Fatalf("want a too-large error, got %v", err)
	}
}

func TestSelfReference(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"alias in itself", "a: &a {b: *a}\n", "the alias *a refers to a map or list that contains it, which would never end; replace the alias with the values it should stand for"},
		// A map merging itself is the same cycle: yaml.v3's own decoder refuses it too.
		{"merge of itself", "a: &a {<<: [*a, *a], x: 1}\n", "the alias *a refers to a map or list that contains it, which would never end; replace the alias with the values it should stand for"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out any
			err := DecodeStrict("self.yaml", []byte(tt.yaml), &out)
			got := ""
			if e := Errors(err); len(e) > 0 {
				got = e[0].Msg
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDecodeKeepsGoodFields(t *testing.T) {
	var got app
	err := DecodeStrict("app.yaml", []byte(`kind: Application
metadata: {name: hello, labels: {a: b}}
spec:
  image: img
  replicas: {min: two, max: 4}
  timeout: soon
  enabled: yes
  ingresses: [{host: a}, {hots: b}, {host: c}]
  typo: 1
`), &got)
	if n := len(Errors(err)); n != 5 {
		t.Fatalf("want 5 problems, got %d: %v", n, err)
	}
	want := app{
		typeMeta: typeMeta{Kind: "Application"},
		Metadata: meta{Name: "hello", Labels: map[string]string{"a": "b"}},
		Spec: spec{Image: "img", Replicas: &replicas{Max: 4},
			Ingresses: []ingress{{Host: "a"}, {}, {Host: "c"}}},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(app{})); diff != "" {
		t.Errorf("decoded despite errors (-want +got):\n%s", diff)
	}
}

func BenchmarkDecodeStrict(b *testing.B) {
	data := []byte(`apiVersion: nais.io/v1alpha1
kind: Application
metadata:
  name: hello
  labels: {team: a, app.kubernetes.io/name: hello}
spec:
  image: ghcr.io/a/hello:1
  replicas: {min: 2, max: 4}
  ingresses: [{host: hello.dev.example.test}, {host: hello.internal.dev.example.test}]
  timeout: 90s
  extra: {env: [{name: A, value: "1"}, {name: B, value: "2"}]}
`)
	for b.Loop() {
		var out app
		if err := DecodeStrict("app.yaml", data, &out); err != nil {
			b.Fatal(err)
		}
	}
}

// A wide alias bomb below deep nesting with long keys: the walk must stay bounded in memory
// (paths are only spelled out for values in error).
func TestDeepAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 7; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	key := strings.Repeat("k", 200)
	b.WriteString("deep:\n")
	for i := range 200 {
		fmt.Fprintf(&b, "%s%s%d:\n", strings.Repeat(" ", i+1), key, i)
	}
	fmt.Fprintf(&b, "%s%s: *a6\n", strings.Repeat(" ", 201), key)
	var out map[string]any
	err := DecodeStrict("bomb.yaml", []byte(b.String()), &out)
	if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "with its aliases expanded, this holds more than 100000 values") {
		t.Fatalf("want a too-large error, got %.300v", err)
	}
}

// TestMistypedSecretNotQuoted: a value in a field of another type is quoted in the error, but
// never with credentials in it.
func TestMistypedSecretNotQuoted(t *testing.T) {
	var v struct {
		Workers int `json:"workers"`
		Port    int `json:"port"`
	}
	doc, err := Parse("p.yaml", []byte("workers: postgres://flyt:hemmelig@db/flyt\nport: https://ghp_token1234567890abcd@github.com/a/b\n"), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	err = doc.Decode(&v)
	if err == nil {
		t.Fatal("decode succeeded")
	}
	for _, want := range []string{`p.yaml:1:10: workers: expected an integer, got string "postgres://REDACTED@db/flyt"`, `port: expected an integer, got string "https://REDACTED@github.com/a/b"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error = %v, want it to contain %s", err, want)
		}
	}
	for _, secret := range []string{"hemmelig", "ghp_token"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error quotes a secret: %v", err)
		}
	}
}
