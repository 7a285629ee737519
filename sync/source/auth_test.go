package source

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/internal/testenv/gittest"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTokenAuth(t *testing.T) {
	const token = "ghs_right-token-123"
	const wrong = "ghs_wrong-token-456"
	srv := gittest.NewServer(t, gittest.WithToken(token))
	repo := srv.NewRepo("private")
	sha := repo.Commit(t, map[string]string{"a.yaml": "1"}, "v1")

	tests := []struct {
		name      string
		repo      environments.Repository
		wantErr   error
		forbidden string // must not appear in the error text
	}{
		{"right token", environments.Repository{URL: repo.URL(), TokenFile: writeFile(t, token+"\n")}, nil, ""},
		{"right token, own user", environments.Repository{URL: repo.URL(), TokenFile: writeFile(t, token), Username: "flyt"}, nil, ""},
		{"wrong token", environments.Repository{URL: repo.URL(), TokenFile: writeFile(t, wrong)}, ErrAuth, wrong},
		{"no token", environments.Repository{URL: repo.URL()}, ErrAuth, ""},
		{"token in the URL", environments.Repository{URL: strings.Replace(repo.URL(), "http://", "http://x:"+wrong+"@", 1)}, ErrAuth, wrong},
		{"missing token file", environments.Repository{URL: repo.URL(), TokenFile: filepath.Join(t.TempDir(), "nope")}, ErrConfig, ""},
		{"empty token file", environments.Repository{URL: repo.URL(), TokenFile: writeFile(t, " \n")}, ErrConfig, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestCache(t)
			rev, _, err := c.Sync(t.Context(), tt.repo)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("sync: %v, want %v", err, tt.wantErr)
			}
			if err == nil {
				if rev.Commit != sha {
					t.Errorf("commit = %s, want %s", rev.Commit, sha)
				}
				return
			}
			t.Logf("error: %v", err)
			if Gone(err) {
				t.Errorf("an auth failure counts as Gone: %v", err)
			}
			if tt.forbidden != "" && strings.Contains(err.Error(), tt.forbidden) {
				t.Errorf("error text leaks the token: %v", err)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("error text leaks the server's token: %v", err)
			}
		})
	}
}

func TestTokenIsReadAtEachUse(t *testing.T) {
	srv := gittest.NewServer(t, gittest.WithToken("first-token"))
	repo := srv.NewRepo("private")
	repo.Commit(t, map[string]string{"a.yaml": "1"}, "v1")
	tokenFile := writeFile(t, "first-token")
	src := environments.Repository{URL: repo.URL(), TokenFile: tokenFile}
	c, _ := newTestCache(t)
	if _, _, err := c.Sync(t.Context(), src); err != nil {
		t.Fatal(err)
	}

	srv.SetToken("second-token")
	if _, _, err := c.Sync(t.Context(), src); !errors.Is(err, ErrAuth) {
		t.Fatalf("sync with the old token after rotation on the server: %v, want ErrAuth", err)
	}
	if err := os.WriteFile(tokenFile, []byte("second-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Sync(t.Context(), src); err != nil {
		t.Fatalf("sync after the token file was rotated: %v", err)
	}
}

// TestTokenRedaction shows the token a tokenFile holds, as the cache reads it, the ways a
// mistake would: none shows it (internal/redact's TestSecretNeverShows tries every verb).
func TestTokenRedaction(t *testing.T) {
	tok, err := readToken(writeFile(t, "ghp_supersecret\n"))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Reveal() != "ghp_supersecret" {
		t.Fatalf("readToken read %d bytes that are not the file's token", len(tok.Reveal()))
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("auth", "token", tok)
	for _, s := range []string{buf.String(), fmt.Sprint(tok), fmt.Sprintf("%v %s %#v %+v", tok, tok, tok, tok)} {
		if strings.Contains(s, "supersecret") {
			t.Errorf("token leaked: %q", s)
		}
		if !strings.Contains(s, "REDACTED") {
			t.Errorf("no REDACTED marker in %q", s)
		}
	}
}

func TestSSHNeedsKnownHosts(t *testing.T) {
	key := writeFile(t, "not a key")
	tests := []struct {
		name string
		repo environments.Repository
	}{
		{"no key", environments.Repository{URL: "ssh://git@example.com/team/apps.git"}},
		{"no known_hosts", environments.Repository{URL: "git@example.com:team/apps.git", SSHKeyFile: key}},
		{"missing known_hosts file", environments.Repository{URL: "git@example.com:team/apps.git", SSHKeyFile: key, KnownHostsFile: filepath.Join(t.TempDir(), "nope")}},
		{"unsupported scheme", environments.Repository{URL: "ftp://example.com/apps.git"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestCache(t)
			_, _, err := c.Sync(t.Context(), tt.repo)
			if !errors.Is(err, ErrConfig) {
				t.Errorf("sync: %v, want ErrConfig", err)
			}
		})
	}
}
