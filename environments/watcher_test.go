package environments

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const watchV1 = `apiVersion: flyt.dev/v1alpha1
kind: Platform
environments:
  - name: dev
    cluster: {inCluster: true}
teams:
  - name: team-a
`

func TestWatcher(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "platform.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(watchV1)
	var logs bytes.Buffer
	var mu sync.Mutex
	var changes []*Platform
	w, err := NewWatcher(file, func(p *Platform) {
		mu.Lock()
		defer mu.Unlock()
		changes = append(changes, p)
	}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Current().Teams[0].Name; got != "team-a" {
		t.Fatalf("first load: team %q", got)
	}

	// Unchanged content: no reload.
	if err := w.Reload(); err != nil || len(changes) != 0 {
		t.Fatalf("unchanged reload: err %v, %d changes", err, len(changes))
	}

	// A good change is applied and announced.
	write(strings.Replace(watchV1, "team-a", "team-b", 1))
	if err := w.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := w.Current().Teams[0].Name; got != "team-b" || len(changes) != 1 || changes[0] != w.Current() {
		t.Fatalf("after good change: team %q, %d changes", got, len(changes))
	}

	// A bad change keeps the old config, and the error says where.
	write(strings.Replace(watchV1, "name: dev", "name: Dev_1", 1))
	err = w.Reload()
	want := `platform.yaml:4:11: environments[0].name: "Dev_1" is not a valid environment name`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("bad change: err %v, want it to contain %s", err, want)
	}
	if w.LastError() == nil || w.Current().Teams[0].Name != "team-b" || len(changes) != 1 {
		t.Fatalf("bad change must keep the previous config: last error %v, current %+v", w.LastError(), w.Current())
	}
	if !strings.Contains(logs.String(), "line=4") || !strings.Contains(logs.String(), "keeping the previous one") {
		t.Errorf("log does not place the problem:\n%s", logs.String())
	}

	// Polling the same bad content again does not log it again.
	before := logs.Len()
	if err := w.Reload(); err == nil {
		t.Fatal("the bad content is still bad")
	}
	if logs.Len() != before {
		t.Errorf("the same refusal was logged twice:\n%s", logs.String()[before:])
	}

	// Bytes from another source (a platform repository) go through the same checks.
	if err := w.Update([]byte(strings.Replace(watchV1, "team-a", "team-c", 1))); err != nil {
		t.Fatal(err)
	}
	if w.LastError() != nil || w.Current().Teams[0].Name != "team-c" || len(changes) != 2 {
		t.Fatalf("update: last error %v, team %q, %d changes", w.LastError(), w.Current().Teams[0].Name, len(changes))
	}

	// A vanished file is an error too, and keeps the config.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if err := w.Reload(); err == nil || w.LastError() == nil || w.Current().Teams[0].Name != "team-c" {
		t.Fatalf("missing file: err %v", err)
	}
}

func TestWatcherRun(t *testing.T) {
	file := filepath.Join(t.TempDir(), "platform.yaml")
	if err := os.WriteFile(file, []byte(watchV1), 0o600); err != nil {
		t.Fatal(err)
	}
	changed := make(chan *Platform, 1)
	w, err := NewWatcher(file, func(p *Platform) { changed <- p }, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, 10*time.Millisecond) }()
	if err := os.WriteFile(file, []byte(strings.Replace(watchV1, "team-a", "team-z", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-changed:
		if p.Teams[0].Name != "team-z" {
			t.Errorf("polled change: team %q", p.Teams[0].Name)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not pick up the change")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v, want context.Canceled", err)
	}
}

func TestNewWatcherRefusesBadFirstVersion(t *testing.T) {
	file := filepath.Join(t.TempDir(), "platform.yaml")
	if err := os.WriteFile(file, []byte("kind: Platform\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewWatcher(file, nil, nil); err == nil || !strings.Contains(err.Error(), "platform.yaml:1:1: apiVersion: missing") {
		t.Fatalf("got %v", err)
	}
}
