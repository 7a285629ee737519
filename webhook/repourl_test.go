package webhook

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNormalizeRepoURL(t *testing.T) {
	tests := []struct {
		in   string
		want repoKey
		ok   bool
	}{
		{in: "https://github.com/Codertocat/Hello-World.git", want: "github.com/codertocat/hello-world", ok: true},
		{in: "https://github.com/Codertocat/Hello-World", want: "github.com/codertocat/hello-world", ok: true},
		{in: "https://github.com/Codertocat/Hello-World/", want: "github.com/codertocat/hello-world", ok: true},
		{in: "https://x-access-token@github.com:443/Codertocat/Hello-World.git", want: "github.com/codertocat/hello-world", ok: true},
		{in: "git@github.com:Codertocat/Hello-World.git", want: "github.com/codertocat/hello-world", ok: true},
		{in: "github.com:Codertocat/Hello-World", want: "github.com/codertocat/hello-world", ok: true},
		{in: "ssh://git@github.com/Codertocat/Hello-World.git", want: "github.com/codertocat/hello-world", ok: true},
		{in: "ssh://git@github.com:22/Codertocat/Hello-World.git", want: "github.com/codertocat/hello-world", ok: true},
		{in: "git://github.com/Codertocat/Hello-World.git", want: "github.com/codertocat/hello-world", ok: true},
		{in: "https://GHE.example.com/Org/Sub/Repo.git", want: "ghe.example.com/org/sub/repo", ok: true},
		{in: "/srv/git/hello-world", ok: false},
		{in: "./relative/repo", ok: false},
		{in: "file:///srv/git/hello-world", ok: false},
		{in: "https://github.com/", ok: false},
		{in: "https://github.com/only-owner", ok: false},
		{in: "", ok: false},
		{in: "C:/repos/x", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := normalizeRepoURL(tt.in)
			if diff := cmp.Diff(struct {
				K  repoKey
				OK bool
			}{tt.want, tt.ok}, struct {
				K  repoKey
				OK bool
			}{got, ok}); diff != "" {
				t.Errorf("normalizeRepoURL(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

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
