package source

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/internal/testenv/gittest"
)

func TestSSHAuth(t *testing.T) {
	srv := gittest.NewServer(t)
	repo := srv.NewRepo("team/apps")
	sha := repo.Commit(t, map[string]string{"app.yaml": "name: a\n"}, "v1")
	ss := gittest.NewSSHServer(t, srv)
	key, err := os.ReadFile(ss.KeyFile)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		repo    environments.Repository
		wantErr error
	}{
		{"key and known_hosts", environments.Repository{URL: ss.URL(repo), SSHKeyFile: ss.KeyFile, KnownHostsFile: ss.KnownHostsFile}, nil},
		{"key the server refuses", environments.Repository{URL: ss.URL(repo), SSHKeyFile: ss.OtherKeyFile, KnownHostsFile: ss.KnownHostsFile}, ErrAuth},
		{"host key changed", environments.Repository{URL: ss.URL(repo), SSHKeyFile: ss.KeyFile, KnownHostsFile: ss.WrongKnownHostsFile}, ErrAuth},
		{"no such repository", environments.Repository{URL: strings.TrimSuffix(ss.URL(repo), "apps") + "gone", SSHKeyFile: ss.KeyFile, KnownHostsFile: ss.KnownHostsFile}, ErrRepositoryNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestCache(t)
			rev, changed, err := c.Sync(t.Context(), tt.repo)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("sync: %v (reason %s), want %v", err, ReasonOf(err), tt.wantErr)
			}
			if err != nil {
				t.Logf("error: %v", err)
				if strings.Contains(err.Error(), strings.TrimSpace(string(key))) {
					t.Errorf("error text contains the private key")
				}
				return
			}
			if rev.Commit != sha || !changed {
				t.Fatalf("sync = %s, changed %v; want %s, true", rev.Commit, changed, sha)
			}
			// Unchanged: one more ls-remote session, no fetch.
			before := ss.UploadPacks()
			if _, changed, err := c.Sync(t.Context(), tt.repo); err != nil || changed {
				t.Fatalf("second sync: changed %v, %v", changed, err)
			}
			if got := ss.UploadPacks() - before; got != 1 {
				t.Errorf("unchanged sync over ssh opened %d upload-pack sessions, want 1 (ls-remote only)", got)
			}
			fsys, err := c.Checkout(t.Context(), tt.repo, sha)
			if err != nil {
				t.Fatal(err)
			}
			if b, err := fsys.(interface{ ReadFile(string) ([]byte, error) }).ReadFile("app.yaml"); err != nil || string(b) != "name: a\n" {
				t.Errorf("app.yaml = %q, %v", b, err)
			}
		})
	}
}
