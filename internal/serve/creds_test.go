package serve

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/history"
)

// secretParts are what no answer or log line of these tests may hold: the whole password or
// token, or a piece of it.
var secretParts = []string{"hemmelig", "melig", "ghp_hem"}

func assertNoSecret(t *testing.T, what, text string) {
	t.Helper()
	for _, part := range secretParts {
		if strings.Contains(text, part) {
			t.Errorf("%s holds (part of) a secret, %q:\n%s", what, part, text)
		}
	}
}

// TestReloadErrorsHideSecrets: a reloaded platform.yaml with a broken PostgreSQL URL holding a
// password, and a team repository URL holding a token, is refused; /readyz and the log name
// the fields and lines, and quote neither secret.
func TestReloadErrorsHideSecrets(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "platform.yaml")
	config := func(server, repo string) string {
		return fmt.Sprintf("apiVersion: flyt.dev/v1alpha1\nkind: Platform\nserver:\n  dataDir: %s\n  pollInterval: 1h\n%s"+
			"environments:\n- name: dev\n  branch: main\n  cluster: {kubeconfig: %s}\nteams:\n- name: team-a\n  repositories:\n  - url: %s\n",
			filepath.Join(dir, "data"), server, dev.Kubeconfig(), repo)
	}
	if err := os.WriteFile(file, []byte(config("", "https://github.com/team-a/apps.git")), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	base := runInProcess(t, Options{ConfigFile: file, Log: slog.New(slog.NewJSONHandler(logs, nil))})

	bad := config("  historyDSN: \"postgres://flyt:hem%zzmelig@db.example.test/flyt\"\n", "https://x-access-token:ghp_hemmelig0123456789@github.com/team-a/apps.git")
	if err := os.WriteFile(file, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	var body string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(body, "server.historyDSN") {
		time.Sleep(100 * time.Millisecond)
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
	}
	for _, want := range []string{
		"platform.yaml:6:15: server.historyDSN: not a valid PostgreSQL URL: the user name or password has a character that must be percent-encoded",
		`platform.yaml:14:10: teams[0].repositories[0].url: "https://REDACTED@github.com/team-a/apps.git" has credentials in the URL`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/readyz = %s, want it to say %s", body, want)
		}
	}
	assertNoSecret(t, "/readyz", body)
	if !strings.Contains(logs.String(), "server.historyDSN") {
		t.Errorf("the refused reload is not logged:\n%s", logs.String())
	}
	assertNoSecret(t, "the log", logs.String())
}

// TestStartErrorsHideSecrets: flyt serve refuses to start with a history DSN it cannot use or
// a config repository URL with a token in it; the errors name the flag and quote no secret, and
// a keyword/value DSN is tried as PostgreSQL, never created as a SQLite file.
func TestStartErrorsHideSecrets(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "platform.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf("apiVersion: flyt.dev/v1alpha1\nkind: Platform\nserver:\n  dataDir: %s\n"+
		"environments:\n- name: dev\n  cluster: {kubeconfig: %s}\nteams: []\n", filepath.Join(dir, "data"), dev.Kubeconfig())), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{
			name: "keyword DSN, no server",
			opts: Options{ConfigFile: file, HistoryDSN: "host=127.0.0.1 port=1 user=flyt password=hemmelig dbname=flyt connect_timeout=2"},
			want: "open history (--history): open history store host=127.0.0.1 port=1 user=flyt password=REDACTED dbname=flyt connect_timeout=2: failed to connect",
		},
		{
			name: "keyword DSN, malformed",
			opts: Options{ConfigFile: file, HistoryDSN: "host=127.0.0.1 user=flyt hemmelig"},
			want: "open history (--history): open history store (keyword/value DSN, not shown): cannot parse DSN",
		},
		{
			name: "config repository with a token",
			opts: Options{ConfigRepository: &ConfigRepository{
				Repository: environments.Repository{URL: "https://flyt:ghp_hemmelig0123456789@github.com/ops/platform.git", Branch: "main"},
				CacheDir:   filepath.Join(dir, "platform"),
			}},
			want: `platform config repository (--config-repo): "https://REDACTED@github.com/ops/platform.git" has credentials in the URL`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &syncBuffer{}
			tt.opts.Listen, tt.opts.Log = "127.0.0.1:0", slog.New(slog.NewJSONHandler(logs, nil))
			err := Run(t.Context(), tt.opts)
			if err == nil {
				t.Fatal("serve started")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want it to contain %s", err, tt.want)
			}
			if tt.opts.HistoryDSN != "" && !errors.Is(err, history.ErrInvalid) && strings.Contains(tt.name, "malformed") {
				t.Errorf("error = %v, want ErrInvalid", err)
			}
			assertNoSecret(t, "the error", err.Error())
			assertNoSecret(t, "the log", logs.String())
		})
	}
	left, _ := filepath.Glob(filepath.Join(dir, "host=*"))
	if more, _ := filepath.Glob(filepath.Join(dir, "data", "host=*")); len(left)+len(more) > 0 {
		t.Errorf("a keyword DSN became files: %v %v", left, more)
	}
}
