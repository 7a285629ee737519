package render

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flyt-platform/flyt/environments"
)

func TestTemplateUndefinedVariables(t *testing.T) {
	vars := map[string]any{
		"apps":  []any{map[string]any{"name": "a", "port": int64(1)}, map[string]any{"name": "b"}},
		"db":    map[string]any{"host": "h", "replicas": []any{"r1"}},
		"flag":  true,
		"empty": []any{},
		"Team":  "x",
	}
	tests := []struct {
		name string
		src  string
		out  string
		want []string // warnings as strings
	}{
		{name: "defined paths", src: "{{db.host}} {{flag}} {{db.replicas.[0]}}", out: "h true r1"},
		{name: "undefined output", src: "a\n  {{nope}}", out: "a\n  ", want: []string{`f:2:5: undefined variable "nope" renders empty; define it in the environment's vars file or pass --var`}},
		{name: "case-only suggestion", src: "{{team}}", want: []string{`f:1:3: undefined variable "team" renders empty (did you mean "Team"?)`}},
		{name: "nested path fails late", src: "{{db.hst}}", want: []string{`f:1:3: undefined variable "db.hst" renders empty (did you mean "host"?)`}},
		{name: "each with block params and index", src: "{{#each apps as |app i|}}{{i}}={{app.name}}@{{@index}};{{/each}}", out: "0=a@0;1=b@1;"},
		{name: "each element missing a field", src: "{{#each apps as |app|}}{{app.port}},{{/each}}", out: "1,,", want: []string{`f:1:26: undefined variable "app.port" renders empty; define it in the environment's vars file or pass --var`}},
		{name: "each context falls back to parent scope", src: "{{#each apps}}{{name}}-{{flag}} {{/each}}", out: "a-true b-true "},
		{name: "each over empty takes else", src: "{{#each empty}}x{{else}}{{none}}{{/each}}", want: []string{`f:1:27: undefined variable "none" renders empty; define it in the environment's vars file or pass --var`}},
		{name: "untaken branch is not checked", src: "{{#if flag}}ok{{else}}{{missing}}{{/if}}", out: "ok"},
		{name: "unless", src: "{{#unless flag}}{{missing}}{{else}}no{{/unless}}", out: "no"},
		{name: "optional test without a near name is quiet", src: "{{#if ingresses}}x{{/if}}", out: ""},
		{name: "test with a near name warns", src: "{{#if flags}}x{{/if}}", want: []string{`f:1:7: undefined variable "flags" tests false (did you mean "flag"?)`}},
		{name: "with block", src: "{{#with db}}{{host}}{{hostt}}{{/with}}", out: "h", want: []string{`f:1:23: undefined variable "hostt" renders empty (did you mean "host"?)`}},
		{name: "escaped mustache", src: `\{{nope}}`, out: "{{nope}}"},
		{name: "no HTML escaping", src: "{{v}}", out: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, err := parseTemplate("f", tt.src, environments.DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			v := vars
			if tt.name == "no HTML escaping" {
				v = map[string]any{"v": `a&b<"c">`}
				tt.out = `a&b<"c">`
			}
			out, warns, err := tpl.exec(templateContext(v).(map[string]any), 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if tt.out != "" || len(tt.want) == 0 {
				if diff := cmp.Diff(tt.out, out); diff != "" {
					t.Errorf("output (-want +got):\n%s", diff)
				}
			}
			var got []string
			for _, w := range warns {
				got = append(got, w.String())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	tests := []struct {
		name          string
		base, overlay any
		want          any
	}{
		{"maps merge", map[string]any{"a": int64(1), "m": map[string]any{"x": "1", "y": "2"}}, map[string]any{"m": map[string]any{"y": "3"}}, map[string]any{"a": int64(1), "m": map[string]any{"x": "1", "y": "3"}}},
		{"lists are replaced", map[string]any{"l": []any{"a", "b"}}, map[string]any{"l": []any{"c"}}, map[string]any{"l": []any{"c"}}},
		{"null removes", map[string]any{"a": "1", "b": "2"}, map[string]any{"a": nil}, map[string]any{"b": "2"}},
		{"scalar over map", map[string]any{"a": map[string]any{"x": "1"}}, map[string]any{"a": "flat"}, map[string]any{"a": "flat"}},
		{"new keys added", map[string]any{"a": "1"}, map[string]any{"b": map[string]any{"c": true}}, map[string]any{"a": "1", "b": map[string]any{"c": true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, merge(tt.base, tt.overlay)); diff != "" {
				t.Errorf("merge (-want +got):\n%s", diff)
			}
		})
	}
}
