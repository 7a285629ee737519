package report

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flyt-platform/flyt/environments"
)

func TestNotifyTargets(t *testing.T) {
	p := &environments.Platform{Teams: []environments.Team{
		{Name: "team-a", Notify: []string{"https://hooks.example/a1", "https://hooks.example/a2"}},
		{Name: "team-b"},
	}}
	want := map[string][]string{"team-a": {"https://hooks.example/a1", "https://hooks.example/a2"}}
	if diff := cmp.Diff(want, NotifyTargets(p)); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}
}

func TestTokenSourceFromPlatform(t *testing.T) {
	dir := t.TempDir()
	tokenPath := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenPath, []byte(" ghp_abc \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, "app.pem")
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}

	src, err := TokenSourceFromPlatform(environments.GitHub{TokenFile: tokenPath}, AppTokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := src.Token(t.Context())
	if err != nil || tok.Reveal() != "ghp_abc" {
		t.Errorf("token file: got %v, %v; want the trimmed token", tok.Reveal() == "ghp_abc", err)
	}

	app, err := TokenSourceFromPlatform(environments.GitHub{AppID: 1, InstallationID: 2, PrivateKeyFile: keyPath}, AppTokenOptions{})
	if err != nil {
		t.Fatalf("app from a PKCS #8 key: %v", err)
	}
	if _, ok := app.(*AppToken); !ok {
		t.Errorf("app config gave %T, want *AppToken", app)
	}

	for _, gh := range []environments.GitHub{{}, {AppID: 1, PrivateKeyFile: keyPath}} {
		if _, err := TokenSourceFromPlatform(gh, AppTokenOptions{}); !errors.Is(err, ErrNoGitHubAuth) {
			t.Errorf("%+v: err = %v, want ErrNoGitHubAuth", gh, err)
		}
	}
	if err := os.WriteFile(tokenPath, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Token(t.Context()); !errors.Is(err, ErrEmptyToken) {
		t.Errorf("empty token file: err = %v, want ErrEmptyToken", err)
	}
}
