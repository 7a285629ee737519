package clip

import (
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestText(t *testing.T) {
	tests := []struct {
		name string
		in   string
		n    int
		want string
	}{
		{"shorter than the bound", "flyt", 10, "flyt"},
		{"exactly the bound", "deploy", 6, "deploy"},
		{"one rune over", "deploys", 6, "deplo…"},
		{"multi-byte runes are not split", "øøøøøø", 3, "øø…"},
		{"a bound of one", "abc", 1, "…"},
		{"empty", "", 5, ""},
		{"zero bound", "abc", 0, ""},
		{"negative bound", "abc", -1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Text(tt.in, tt.n)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Text(%q, %d) (-want +got):\n%s", tt.in, tt.n, diff)
			}
			if !utf8.ValidString(got) || utf8.RuneCountInString(got) > max(tt.n, 0) {
				t.Errorf("Text(%q, %d) = %q: not valid UTF-8 within %d runes", tt.in, tt.n, got, tt.n)
			}
		})
	}
}
