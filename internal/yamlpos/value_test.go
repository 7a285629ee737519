package yamlpos

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestDecodeValue: a plain value (a document merged from several files) goes through the same
// checks as a node tree, and Pos places each problem: at the key for an unknown field, at the
// value for a wrong one. The fake Pos puts everything on line 1 of "f" and says in the column
// how deep the path is, and in the file name whether the key was asked for.
func TestDecodeValue(t *testing.T) {
	pos := func(path []string, key bool) (string, int, int) {
		file := "value.yaml"
		if key {
			file = "key.yaml"
		}
		return file, 1, len(path)
	}
	tests := []struct {
		name    string
		value   any
		opts    Options
		want    app
		wantErr []string
	}{
		{
			name:  "plain values decode",
			value: map[string]any{"kind": "Application", "metadata": map[string]any{"name": "a"}, "spec": map[string]any{"replicas": map[string]any{"min": int64(2), "max": 4.0}, "timeout": "1m", "ingresses": []any{map[string]any{"host": "h"}}, "extra": []any{int64(1), "x", nil}}},
			want:  app{typeMeta: typeMeta{Kind: "Application"}, Metadata: meta{Name: "a"}, Spec: spec{Replicas: &replicas{Min: 2, Max: 4}, Timeout: duration{time.Minute}, Ingresses: []ingress{{Host: "h"}}, Extra: []any{1.0, "x", nil}}},
		},
		{
			name:  "numbers become their text for a string without StrictStrings",
			value: map[string]any{"metadata": map[string]any{"name": 1.5, "labels": map[string]any{"on": true}}},
			want:  app{Metadata: meta{Name: "1.5", Labels: map[string]string{"on": "true"}}},
		},
		{
			name:    "StrictStrings refuses them",
			value:   map[string]any{"metadata": map[string]any{"name": 1.5, "labels": map[string]any{"on": true}}},
			opts:    Options{StrictStrings: true},
			wantErr: []string{`value.yaml:1:2: metadata.name: expected a string, got number 1.5`, `value.yaml:1:3: metadata.labels.on: expected a string, got boolean true`},
		},
		{
			name:    "unknown fields are placed at their key",
			value:   map[string]any{"spec": map[string]any{"replicas": map[string]any{"mx": int64(3)}, "imag": "x"}},
			wantErr: []string{`key.yaml:1:2: spec.imag: unknown field "imag"; did you mean "image"?`, `key.yaml:1:3: spec.replicas.mx: unknown field "mx"; did you mean "max"?`},
		},
		{
			name:    "wrong types, in the YAML wording",
			value:   map[string]any{"spec": map[string]any{"replicas": map[string]any{"min": "two", "max": 2.5}, "port": int64(-1), "ingresses": map[string]any{}}},
			wantErr: []string{`value.yaml:1:2: spec.ingresses: expected a list, got a mapping`, `value.yaml:1:2: spec.port: expected a non-negative integer, got -1`, `value.yaml:1:3: spec.replicas.max: expected an integer, got number 2.5`, `value.yaml:1:3: spec.replicas.min: expected an integer, got string "two"`},
		},
		{
			name:    "wrong types, in the JSON wording",
			value:   map[string]any{"spec": map[string]any{"replicas": map[string]any{"min": "two", "max": 2.5}, "port": int64(-1), "ingresses": map[string]any{}, "image": int64(8080), "enabled": "yes"}},
			opts:    Options{StrictStrings: true, JSONWording: true},
			wantErr: []string{`value.yaml:1:2: spec.enabled: wrong type: want true or false, got string`, `value.yaml:1:2: spec.image: wrong type: want a string, got number`, `value.yaml:1:2: spec.ingresses: wrong type: want a list, got object`, `value.yaml:1:2: spec.port: wrong type: want a whole number, got number -1`, `value.yaml:1:3: spec.replicas.max: wrong type: want a whole number, got number 2.5`, `value.yaml:1:3: spec.replicas.min: wrong type: want a whole number, got string`},
		},
		{
			name:    "a merge key is not expanded in a plain value",
			value:   map[string]any{"spec": map[string]any{"<<": map[string]any{"image": "x"}}},
			wantErr: []string{`key.yaml:1:2: spec["<<"]: unknown field "<<"; known fields: enabled, extra, image, ingresses, port, ratio, replicas, timeout`},
		},
		{
			name:    "a custom decoder's error is placed at its value",
			value:   map[string]any{"spec": map[string]any{"timeout": "soon"}},
			wantErr: []string{`value.yaml:1:2: spec.timeout: invalid duration "soon"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.Pos = pos
			var got app
			err := DecodeValue(tt.value, &got, opts)
			var gotErr []string
			for _, e := range Errors(err) {
				gotErr = append(gotErr, e.Error())
			}
			if diff := cmp.Diff(tt.wantErr, gotErr); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if tt.wantErr == nil {
				if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(app{})); diff != "" {
					t.Errorf("decoded (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestDecodeValueAndDocumentAgree: the same document, given as YAML or as plain values, decodes
// to the same result with the same messages (positions aside), because one walk does both.
func TestDecodeValueAndDocumentAgree(t *testing.T) {
	const src = "spec:\n  image: x\n  replicas: {min: two, mx: 3}\n  port: 70000\n  ingresses: [{host: a}, {hots: b}]\n"
	value := map[string]any{"spec": map[string]any{"image": "x", "replicas": map[string]any{"min": "two", "mx": int64(3)}, "port": int64(70000), "ingresses": []any{map[string]any{"host": "a"}, map[string]any{"hots": "b"}}}}
	msgs := func(err error) []string {
		var out []string
		for _, e := range Errors(err) {
			out = append(out, e.Path+": "+e.Msg)
		}
		slices.Sort(out) // positions differ, so the order does
		return out
	}
	var fromYAML, fromValue app
	yamlErr := DecodeStrict("a.yaml", []byte(src), &fromYAML)
	valueErr := DecodeValue(value, &fromValue, Options{})
	if diff := cmp.Diff(msgs(yamlErr), msgs(valueErr)); diff != "" {
		t.Errorf("messages (-yaml +value):\n%s", diff)
	}
	if len(msgs(yamlErr)) != 4 {
		t.Errorf("got %q, want 4 problems", msgs(yamlErr))
	}
	if diff := cmp.Diff(fromYAML, fromValue, cmp.AllowUnexported(app{})); diff != "" {
		t.Errorf("decoded (-yaml +value):\n%s", diff)
	}
}

// TestDecodeValueNeedsAPointer: out must be a pointer, as for Document.Decode.
func TestDecodeValueNeedsAPointer(t *testing.T) {
	err := DecodeValue(map[string]any{}, app{}, Options{})
	if err == nil || !strings.Contains(err.Error(), "out must be a non-nil pointer") {
		t.Errorf("got %v, want a complaint about out", err)
	}
}

// TestDocumentDecodeWith: the options apply to a parsed document too, with its own positions.
func TestDocumentDecodeWith(t *testing.T) {
	d, err := Parse("a.yaml", []byte("metadata:\n  name: 1.10\nspec:\n  replicas: {min: x}\n"), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	var got app
	err = d.DecodeWith(&got, Options{StrictStrings: true, JSONWording: true})
	var msgs []string
	for _, e := range Errors(err) {
		msgs = append(msgs, e.Error())
	}
	want := []string{`a.yaml:2:9: metadata.name: wrong type: want a string, got number`, `a.yaml:4:19: spec.replicas.min: wrong type: want a whole number, got string`}
	if diff := cmp.Diff(want, msgs); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}
