package redact

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestURL(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain https", "https://github.com/team/apps.git", "https://github.com/team/apps.git"},
		{"user and token", "https://x-access-token:ghp_s3cret@github.com/team/apps.git", "https://REDACTED@github.com/team/apps.git"},
		{"token as user", "https://ghp_abcdefghijklmnop1234@github.com/team/apps.git", "https://REDACTED@github.com/team/apps.git"},
		{"any https user", "https://alice@git.example.test/team/apps", "https://REDACTED@git.example.test/team/apps"},
		{"http with port", "http://u:p@127.0.0.1:8080/r.git", "http://REDACTED@127.0.0.1:8080/r.git"},
		{"password with slash", "https://u:pa/ss@github.com/team/apps", "https://REDACTED@github.com/team/apps"},
		{"password with hash", "https://u:pa#ss@github.com/team/apps", "https://REDACTED@github.com/team/apps"},
		{"password with at", "https://u:p@ss@github.com/team/apps", "https://REDACTED@github.com/team/apps"},
		{"password with at and hash", "https://u:p@ss#@github.com/team/apps", "https://REDACTED@github.com/team/apps"},
		{"password with at and slash", "https://u:p@/ss@github.com/team/apps", "https://REDACTED@github.com/team/apps"},
		{"bad escape", "https://u:p%zz@github.com/x", "https://REDACTED@github.com/x"},
		{"token query", "https://github.com/team/apps?token=s3cret&x=1", "https://github.com/team/apps?token=REDACTED&x=1"},
		{"ssh user stays", "ssh://git@github.com/team/apps.git", "ssh://git@github.com/team/apps.git"},
		{"ssh password", "ssh://git:s3cret@github.com/team/apps.git", "ssh://REDACTED@github.com/team/apps.git"},
		{"ssh token user", "ssh://glpat-abcdef@gitlab.example.test/team/apps.git", "ssh://REDACTED@gitlab.example.test/team/apps.git"},
		{"scp-like stays", "git@github.com:team/apps.git", "git@github.com:team/apps.git"},
		{"scp-like password", "git:s3cret@github.com:team/apps.git", "REDACTED@github.com:team/apps.git"},
		{"scp-like password with at", "git:s3@cret@github.com:team/apps.git", "REDACTED@github.com:team/apps.git"},
		{"scp-like token user", "ghs_0123456789abcdef@github.com:team/apps.git", "REDACTED@github.com:team/apps.git"},
		{"local path", "/srv/git/team@2/apps", "/srv/git/team@2/apps"},
		{"relative path", "repos/apps", "repos/apps"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, URL(tt.in)); diff != "" {
				t.Errorf("URL(%q) (-want +got):\n%s", tt.in, diff)
			}
			if got, want := HasCredentials(tt.in), tt.want != tt.in; got != want {
				t.Errorf("HasCredentials(%q) = %v, want %v", tt.in, got, want)
			}
		})
	}
}

func TestTokenLike(t *testing.T) {
	tests := []struct {
		user string
		want bool
	}{
		{"git", false},
		{"x-access-token", false},
		{"oauth2", false},
		{"firstname.lastname", false},
		{"ghp_x", true},
		{"github_pat_11AAAA", true},
		{"glpat-abc", true},
		{"0123456789abcdefABCDEF", true},
		{"abcdefghijklmnopqrstuvwxyz", false}, // letters only: a long name, not a token
	}
	for _, tt := range tests {
		if got := TokenLike(tt.user); got != tt.want {
			t.Errorf("TokenLike(%q) = %v, want %v", tt.user, got, tt.want)
		}
	}
}

func TestDSN(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"url password", "postgres://flyt:hemmelig@db:5432/flyt?sslmode=require", "postgres://flyt:REDACTED@db:5432/flyt?sslmode=require"},
		{"url password param", "postgres://flyt@db/flyt?password=hemmelig", "postgres://flyt@db/flyt?password=REDACTED"},
		{"url unparsable password", "postgresql://flyt:he%zz/mm@db:54x2/flyt", "postgresql://flyt:REDACTED@db:54x2/flyt"},
		{"url password with at and hash", "postgres://flyt:hem@mel#ig@db/flyt", "postgres://flyt:REDACTED@db/flyt"},
		{"url no password", "postgres://flyt@db/flyt", "postgres://flyt@db/flyt"},
		{"keyword", "host=db user=flyt password=hemmelig dbname=flyt", "host=db user=flyt password=REDACTED dbname=flyt"},
		{"keyword spaced", "host=db password = hemmelig dbname=flyt", "host=db password = REDACTED dbname=flyt"},
		{"keyword quoted", `host=db password='hem mel\'ig' dbname=flyt`, "host=db password=REDACTED dbname=flyt"},
		{"keyword doubled quote", `password='hem''melig' host=db`, "password=REDACTED host=db"},
		{"keyword unterminated quote", `host=db password='hem melig`, "host=db password=REDACTED"},
		{"keyword upper case", "PASSWORD=hemmelig host=db", "PASSWORD=REDACTED host=db"},
		{"sqlite", "sqlite:///var/lib/flyt/history.db", "sqlite:///var/lib/flyt/history.db"},
		{"path", "/var/lib/flyt/history.db", "/var/lib/flyt/history.db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DSN(tt.in)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("DSN(%q) (-want +got):\n%s", tt.in, diff)
			}
			for _, part := range []string{"hemmelig", "hem", "melig"} {
				if strings.Contains(got, part) {
					t.Errorf("DSN(%q) = %q still holds %q", tt.in, got, part)
				}
			}
		})
	}
}

func TestText(t *testing.T) {
	tests := []struct{ in, want string }{
		{`clone "https://u:tok@github.com/a/b": failed`, `clone "https://REDACTED@github.com/a/b": failed`},
		{`parse "postgres://flyt:pw@db:x/flyt": invalid port`, `parse "postgres://REDACTED@db:x/flyt": invalid port`},
		{`fetch git:s3cret@github.com:a/b.git failed`, `fetch REDACTED@github.com:a/b.git failed`},
		{`connect host=db password=s3cret user=flyt`, `connect host=db password=REDACTED user=flyt`},
		{`mail alice@example.test: refused`, `mail alice@example.test: refused`},
		{`dial 0://u:s3cret@host/x: refused`, `dial 0://REDACTED@host/x: refused`},
		{`nothing secret here`, `nothing secret here`},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, Text(tt.in)); diff != "" {
			t.Errorf("Text(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestURLProblem(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://flyt:hemmelig@db/flyt", ""},
		{"postgres://flyt:hem%zzmelig@db/flyt", "the user name or password has a character that must be percent-encoded in a URL (such as @ : / ? # % or a space); encode it, or keep the password out of the URL"},
		{"postgres://flyt:hemmelig@db:54x2/flyt", `invalid port ":54x2" after host`},
		{"https://u:hemmelig@github.com/a b%zz", `invalid URL escape "%zz"`},
	}
	for _, tt := range tests {
		got := URLProblem(tt.in)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("URLProblem(%q) (-want +got):\n%s", tt.in, diff)
		}
		if strings.Contains(got, "hem") {
			t.Errorf("URLProblem(%q) = %q quotes the password", tt.in, got)
		}
	}
}
