package webhook

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestMatch: a payload finds the watched repositories it names however either side spells
// the address, a full name alone finds it on any host, and a local repository is never named.
func TestMatch(t *testing.T) {
	c, err := compile(Config{Repos: []WatchedRepo{
		{Team: "a", URL: "git@github.com:acme/api", Branch: "main"},
		{Team: "a", URL: "https://github.com/Acme/API.git", Branch: "release"},
		{Team: "b", URL: "https://ghe.example.com/acme/api"},
		{Team: "c", URL: "https://ghe.example.com/org/sub/repo"},
		{Team: "d", URL: "/srv/git/acme/api"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	teams := func(ws []WatchedRepo) []string {
		var out []string
		for _, w := range ws {
			out = append(out, w.Team+"@"+w.Branch)
		}
		return out
	}
	tests := []struct {
		name     string
		urls     []string
		fullName string
		want     []string
	}{
		{name: "clone URL in other case", urls: []string{"https://GitHub.com/Acme/API.git"}, want: []string{"a@main", "a@release"}},
		{name: "ssh_url and html_url", urls: []string{"git@github.com:Acme/API.git", "https://github.com/Acme/API"}, want: []string{"a@main", "a@release"}},
		{name: "full name on the payload's host", urls: []string{"https://ghe.example.com/x/y"}, fullName: "Acme/API", want: []string{"b@main"}},
		{name: "full name alone, every host", fullName: "acme/api", want: []string{"a@main", "a@release", "b@main"}},
		{name: "group path by URL", urls: []string{"https://ghe.example.com/Org/Sub/Repo.git"}, want: []string{"c@main"}},
		{name: "local path never", urls: []string{"/srv/git/acme/api", "file:///srv/git/acme/api"}, want: nil},
		{name: "unknown", urls: []string{"https://github.com/acme/web"}, fullName: "acme/web", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, teams(c.match(tt.urls, tt.fullName))); diff != "" {
				t.Errorf("match(%q, %q) (-want +got):\n%s", tt.urls, tt.fullName, diff)
			}
		})
	}
}
