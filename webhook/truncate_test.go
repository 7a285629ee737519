package webhook

import (
	"testing"
)

func TestTruncate(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{in: "short", n: 140, want: "short"},
		{in: "abcdef", n: 6, want: "abcdef"},
		{in: "abcdefg", n: 6, want: "abcde…"},
		{in: "ææææææææ", n: 4, want: "æææ…"},
		{in: "x", n: 0, want: ""},
	}
	for _, tt := range tests {
		if got := truncate(tt.in, tt.n); got != tt.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}
