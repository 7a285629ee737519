package repourl

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestParse covers every form platform.yaml, GitHub's payloads, the poller and the tests'
// local repositories give, and the cases where flyt's four former normalisers disagreed.
func TestParse(t *testing.T) {
	type got struct {
		Key, Host, OwnerName string
		Local                bool
		Err                  string // a part of the error's text; "" for none
	}
	tests := []struct {
		in   string
		want got
	}{
		// GitHub's clone_url, html_url, ssh_url, git_url and the spellings operators write.
		{"https://github.com/Codertocat/Hello-World.git", got{Key: "github.com/codertocat/hello-world", Host: "github.com", OwnerName: "codertocat/hello-world"}},
		{"https://github.com/Codertocat/Hello-World", got{Key: "github.com/codertocat/hello-world", Host: "github.com", OwnerName: "codertocat/hello-world"}},
		{"https://github.com/Codertocat/Hello-World/", got{Key: "github.com/codertocat/hello-world", Host: "github.com", OwnerName: "codertocat/hello-world"}},
		{"https://github.com/Codertocat/Hello-World.git/", got{Key: "github.com/codertocat/hello-world", Host: "github.com", OwnerName: "codertocat/hello-world"}},
		{"  https://github.com/team/apps  ", got{Key: "github.com/team/apps", Host: "github.com", OwnerName: "team/apps"}},
		{"https://x-access-token@github.com:443/Codertocat/Hello-World.git", got{Key: "github.com/codertocat/hello-world", Host: "github.com", OwnerName: "codertocat/hello-world"}},
		{"https://x-access-token:abc@github.com/team/apps/", got{Key: "github.com/team/apps", Host: "github.com", OwnerName: "team/apps"}},
		{"git@github.com:Codertocat/Hello-World.git", got{Key: "github.com/codertocat/hello-world", Host: "github.com", OwnerName: "codertocat/hello-world"}},
		{"github.com:Codertocat/Hello-World", got{Key: "github.com/codertocat/hello-world", Host: "github.com", OwnerName: "codertocat/hello-world"}},
		{"git@github.com:/team/apps.git", got{Key: "github.com/team/apps", Host: "github.com", OwnerName: "team/apps"}},
		{"ssh://git@github.com/Codertocat/Hello-World.git", got{Key: "github.com/codertocat/hello-world", Host: "github.com", OwnerName: "codertocat/hello-world"}},
		{"ssh://git@github.com:22/Codertocat/Hello-World.git", got{Key: "github.com/codertocat/hello-world", Host: "github.com", OwnerName: "codertocat/hello-world"}},
		{"git://github.com/Codertocat/Hello-World.git", got{Key: "github.com/codertocat/hello-world", Host: "github.com", OwnerName: "codertocat/hello-world"}},
		{"HTTPS://GitHub.com/Acme/API.git", got{Key: "github.com/acme/api", Host: "github.com", OwnerName: "acme/api"}},
		// A path of more segments (GitHub Enterprise, GitLab groups) or of one (a plain Git
		// server such as the tests' gittest) is a repository; only owner/name has an OwnerName.
		{"https://GHE.example.com/Org/Sub/Repo.git", got{Key: "ghe.example.com/org/sub/repo", Host: "ghe.example.com"}},
		{"http://127.0.0.1:8080/team/apps", got{Key: "127.0.0.1/team/apps", Host: "127.0.0.1", OwnerName: "team/apps"}},
		{"http://127.0.0.1:39211/apps", got{Key: "127.0.0.1/apps", Host: "127.0.0.1"}},
		{"https://github.com/only-owner", got{Key: "github.com/only-owner", Host: "github.com"}},
		{"http://[::1]:8080/team/apps", got{Key: "::1/team/apps", Host: "::1", OwnerName: "team/apps"}},
		// Local repositories keep their case; a final /.git is the same repository, a .git
		// suffix another directory.
		{"/srv/git/hello-world", got{Key: "file:/srv/git/hello-world", Local: true}},
		{"/srv/git/apps/", got{Key: "file:/srv/git/apps", Local: true}},
		{"/srv/git/Apps", got{Key: "file:/srv/git/Apps", Local: true}},
		{"/srv/git/apps.git", got{Key: "file:/srv/git/apps.git", Local: true}},
		{"/srv/git/apps/.git", got{Key: "file:/srv/git/apps", Local: true}},
		{"/srv/git/./apps//", got{Key: "file:/srv/git/apps", Local: true}},
		{"./relative/repo", got{Key: "file:relative/repo", Local: true}},
		{"../up/repo", got{Key: "file:../up/repo", Local: true}},
		{"file:///srv/git/apps", got{Key: "file:/srv/git/apps", Local: true}},
		{"file:///srv/git/apps/.git", got{Key: "file:/srv/git/apps", Local: true}},
		{"file://localhost/srv/git/apps", got{Key: "file:/srv/git/apps", Local: true}},
		// No repository.
		{"", got{Err: "empty address"}},
		{"   ", got{Err: "empty address"}},
		{"not a url", got{Err: "white space"}},
		{"example-org/Team-A", got{Err: "no scheme"}},
		{"C:/repos/x", got{Err: "no scheme"}},
		{"https://github.com/", got{Err: "no repository on it"}},
		{"https://github.com/.git", got{Err: "no repository on it"}},
		{"git@github.com:", got{Err: "no repository on it"}},
		{"https:///team/apps", got{Err: "names no host"}},
		{":team/apps", got{Err: "no scheme"}},
		{"ftp://github.com/team/apps", got{Err: `scheme "ftp"`}},
		{"file://srv/git/apps", got{Err: `names host "srv"`}},
		{"file://", got{Err: "no path"}},
		{"https://github.com:notaport/team/apps", got{Err: "unreadable URL"}},
		{"git@gi%thub.com:team/apps", got{Err: `has '%'`}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			k, err := Parse(tt.in)
			var g got
			if err != nil {
				if !errors.Is(err, ErrNotRepository) {
					t.Errorf("error %v does not wrap ErrNotRepository", err)
				}
				if !k.IsZero() {
					t.Errorf("Parse returned key %q with error %v", k, err)
				}
				g.Err = err.Error()
				if strings.Contains(g.Err, tt.want.Err) {
					g.Err = tt.want.Err
				}
			}
			g.Key, g.Host, g.Local = k.String(), k.Host(), k.Local()
			g.OwnerName, _ = k.OwnerName()
			if diff := cmp.Diff(tt.want, g); diff != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// TestSameRepository: the spellings of one repository are one Key, and different
// repositories are different Keys.
func TestSameRepository(t *testing.T) {
	same := [][]string{
		{"https://GitHub.com/Acme/API.git", "git@github.com:acme/api", "ssh://git@github.com:22/acme/api.git", "git://github.com/acme/api", "https://github.com/acme/api/"},
		{"/srv/git/apps", "/srv/git/apps/", "file:///srv/git/apps", "/srv/git/apps/.git"},
	}
	for _, spellings := range same {
		want, err := Parse(spellings[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range spellings[1:] {
			if got, err := Parse(s); err != nil || got != want {
				t.Errorf("Parse(%q) = %q, %v; want %q, the key of %q", s, got, err, want, spellings[0])
			}
		}
	}
	different := [][2]string{
		{"/tmp/TestA/repo", "/tmp/testa/repo"},                  // case-sensitive file systems
		{"/srv/git/apps", "/srv/git/apps.git"},                  // two directories
		{"https://github.com/acme/api", "/github.com/acme/api"}, // remote and local
		{"https://github.com/acme/api", "https://gitlab.com/acme/api"},
		{"https://github.com/acme/api", "https://github.com/acme/api-docs"},
	}
	for _, d := range different {
		a, errA := Parse(d[0])
		b, errB := Parse(d[1])
		if errA != nil || errB != nil || a == b {
			t.Errorf("Parse(%q) = %q, %v and Parse(%q) = %q, %v; want two different keys", d[0], a, errA, d[1], b, errB)
		}
	}
}

// TestErrorsHideCredentials: the errors never quote the address, which may carry a token.
func TestErrorsHideCredentials(t *testing.T) {
	for _, in := range []string{
		"ftp://user:s3cret-token@github.com/team/apps",
		"https://user:s3cret-token@github.com:notaport/team/apps",
		"https://user:s3cret-token@github.com/",
		"https://user:s3cret-token@github.com/ a",
		"s3cret-token@gi%thub.com:team/apps",
	} {
		if _, err := Parse(in); err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Parse(%q) = %v; want an error without the token", in, err)
		}
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://github.com/Team/Apps.git", "github.com/team/apps"},
		{"git@github.com:team/apps.git", "github.com/team/apps"},
		{"/srv/git/apps/", "file:/srv/git/apps"},
		// Refused addresses equal only themselves, never a key.
		{" github.com/team/apps ", "!github.com/team/apps"},
		{"", "!"},
	}
	for _, tt := range tests {
		if got := Normalize(tt.in); got != tt.want {
			t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseFullName(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{in: "Codertocat/Hello-World", want: "codertocat/hello-world"},
		{in: " example-org/Team-A.git ", want: "example-org/team-a"},
		{in: "/owner/name/", want: "owner/name"},
		{in: "owner", err: "two parts"},
		{in: "owner/", err: "two parts"},
		{in: "/name", err: "two parts"},
		{in: "org/sub/repo", err: "two parts"},
		{in: "", err: "two parts"},
		{in: "git@github.com:o/r", err: "no ':', '@' or space"},
		{in: "o /r", err: "no ':', '@' or space"},
	}
	for _, tt := range tests {
		got, err := ParseFullName(tt.in)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
			if !errors.Is(err, ErrNotRepository) {
				t.Errorf("ParseFullName(%q): %v does not wrap ErrNotRepository", tt.in, err)
			}
			if tt.err != "" && strings.Contains(gotErr, tt.err) {
				gotErr = tt.err
			}
		}
		if got != tt.want || gotErr != tt.err {
			t.Errorf("ParseFullName(%q) = %q, %q; want %q, %q", tt.in, got, gotErr, tt.want, tt.err)
		}
	}
}

// TestOwnerName: the owner and name as written, for GitHub's API.
func TestOwnerName(t *testing.T) {
	tests := []struct{ in, owner, name string }{
		{in: "https://github.com/Codertocat/Hello-World.git", owner: "Codertocat", name: "Hello-World"},
		{in: "git@github.com:Codertocat/Hello-World", owner: "Codertocat", name: "Hello-World"},
		{in: "ssh://git@GitHub.com:22/Acme/API/", owner: "Acme", name: "API"},
		{in: "https://GHE.example.com/Org/Sub/Repo.git"},
		{in: "https://github.com/only-owner"},
		{in: "/srv/git/owner/name"},
		{in: "not a url"},
	}
	for _, tt := range tests {
		owner, name, err := OwnerName(tt.in)
		if (err == nil) != (tt.owner != "") || owner != tt.owner || name != tt.name {
			t.Errorf("OwnerName(%q) = %q, %q, %v; want %q, %q", tt.in, owner, name, err, tt.owner, tt.name)
		}
		if err != nil && !errors.Is(err, ErrNotRepository) {
			t.Errorf("OwnerName(%q): %v does not wrap ErrNotRepository", tt.in, err)
		}
	}
}

// TestTransport: how a repository is reached decides which credential platform.yaml takes.
func TestTransport(t *testing.T) {
	tests := []struct {
		in        string
		ssh, path bool
	}{
		{in: "ssh://git@github.com/o/r", ssh: true},
		{in: "git@github.com:o/r.git", ssh: true},
		{in: "https://github.com/o/r"},
		{in: "/srv/git/r", path: true},
		{in: "./r", path: true},
		{in: "../r", path: true},
		{in: "file:///srv/git/r"},
		{in: "r"},
		{in: "C:/repos/r"},
	}
	for _, tt := range tests {
		if ssh, path := IsSSH(tt.in), IsPath(tt.in); ssh != tt.ssh || path != tt.path {
			t.Errorf("IsSSH, IsPath(%q) = %v, %v; want %v, %v", tt.in, ssh, path, tt.ssh, tt.path)
		}
	}
}
