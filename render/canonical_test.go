package render

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestCanonicalMatchesEncodingJSON pins the canonical form to encoding/json's output, so
// digests stay comparable with any tool that hashes json.Marshal of the same objects.
func TestCanonicalMatchesEncodingJSON(t *testing.T) {
	values := []map[string]any{
		{"s": "plain", "html": `<a href="x">&</a>`, "ctl": "tab\there\nnl\x01", "uni": "æøå \u2028 \u2029 ✓", "bad": "\xff"},
		{"ints": []any{int64(0), int64(-1), int64(1 << 53)}, "floats": []any{0.5, 1e21, 1e-7, 123456789.0, math.Copysign(0, -1)}, "b": true, "n": nil},
		{"nested": map[string]any{"z": []any{map[string]any{"b": "1", "a": "2"}}, "a": map[string]any{}}, "empty": []any{}},
	}
	for _, v := range values {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Canonical([]*unstructured.Unstructured{{Object: v}})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(want)+"\n", string(got)); diff != "" {
			t.Errorf("canonical (-encoding/json +got):\n%s", diff)
		}
	}
}
