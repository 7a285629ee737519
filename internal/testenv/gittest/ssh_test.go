package gittest

import (
	"os"
	"strings"
	"testing"
)

func TestSSHServerServesUploadPack(t *testing.T) {
	srv := NewServer(t)
	repo := srv.NewRepo("team/app")
	sha := repo.Commit(t, map[string]string{"a": "1"}, "first")
	ss := NewSSHServer(t, srv)

	sshCmd := "ssh -o BatchMode=yes -o UserKnownHostsFile=" + ss.KnownHostsFile + " -o StrictHostKeyChecking=yes -i " + ss.KeyFile
	run := func(sshCommand string) (string, error) {
		t.Setenv("GIT_SSH_COMMAND", sshCommand)
		return clientGit(t, t.TempDir(), "-c", "protocol.version=0", "ls-remote", ss.URL(repo), "refs/heads/main")
	}
	out, err := run(sshCmd)
	if err != nil || !strings.HasPrefix(out, sha) {
		t.Fatalf("ls-remote over ssh = %q, %v; want %s", out, err, sha)
	}
	if ss.UploadPacks() != 1 {
		t.Errorf("upload-packs = %d, want 1", ss.UploadPacks())
	}
	if _, err := run(strings.Replace(sshCmd, ss.KeyFile, ss.OtherKeyFile, 1)); err == nil {
		t.Error("ls-remote with a key the server does not accept succeeded")
	}
	if _, err := run(strings.Replace(sshCmd, ss.KnownHostsFile, ss.WrongKnownHostsFile, 1)); err == nil {
		t.Error("ls-remote with the wrong host key in known_hosts succeeded")
	}
	if _, err := os.Stat(ss.KeyFile); err != nil {
		t.Error(err)
	}
}
