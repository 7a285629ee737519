package yamlpos

import "testing"

// TestSuggest holds the one did-you-mean rule to the suggestions the field decoders and the
// template checks gave before they shared it: fields (image …) and template variables
// (replyURLs …).
func TestSuggest(t *testing.T) {
	fields := []string{"image", "ingresses", "replicas", "env", "id"}
	vars := []string{"replyURLs", "host", "ingresses", "tenant"}
	tests := []struct {
		in    string
		known []string
		want  string
	}{
		{"Image", fields, "image"},
		{"imgae", fields, "image"},
		{"replica", fields, "replicas"},
		{"ingress", fields, "ingresses"},
		{"xy", fields, ""},
		{"en", fields, "env"},
		{"completelydifferent", fields, ""},
		{"replyUrls", vars, "replyURLs"},
		{"hos", vars, "host"},
		{"hostt", vars, "host"},
		{"tennant", vars, "tenant"},
		{"tenamt", vars, "tenant"},
		{"host", vars, ""},     // known itself
		{"hots", vars, "host"}, // a swap is two edits, close enough for a name of four
		{"ingress", vars, "ingresses"},
		{"clusterNme", []string{"cluster"}, ""}, // three edits, however alike the start
		{"a", []string{"b"}, "b"},               // one edit counts even for a short name
		{"ab", []string{"cd"}, ""},              // two edits do not
		{"same", []string{"sane", "Same"}, "Same"},
		{"abcd", []string{"abxy", "abcz", "abcy"}, "abcy"}, // the fewest edits, then the first sorted
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := Suggest(tt.in, tt.known); got != tt.want {
				t.Errorf("Suggest(%q, %q) = %q, want %q", tt.in, tt.known, got, tt.want)
			}
		})
	}
}
