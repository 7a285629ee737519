package serve

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/history"
)

func TestRetentionExportsThenDeletes(t *testing.T) {
	dir := t.TempDir()
	store, err := history.Open(t.Context(), filepath.Join(dir, "history.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	deploy := func(app string, age time.Duration) history.DeployDetail {
		start := now.Add(-age)
		return history.DeployDetail{
			Deploy:   history.Deploy{App: app, Team: "team-a", Environment: "prod", Commit: "0123456789abcdef0123456789abcdef01234567", Trigger: history.TriggerPush, StartedAt: start},
			Statuses: []history.Status{{State: history.StateQueued, Time: start}, {State: history.StateSuccess, Time: start.Add(time.Minute)}},
			Objects:  []history.Object{{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "team-a", Name: app, Action: history.ActionCreated}},
		}
	}
	if _, err := store.Import(t.Context(), []history.DeployDetail{
		deploy("ancient", 800*24*time.Hour), deploy("old", 400*24*time.Hour), deploy("recent", 30*24*time.Hour),
	}); err != nil {
		t.Fatal(err)
	}

	n, file, err := pruneOnce(t.Context(), store, environments.Retention{Days: 365}, dir, now)
	if err != nil || n != 2 {
		t.Fatalf("pruneOnce = %d, %v; want 2 deleted", n, err)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	exported := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var d history.Deploy
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		exported[d.App] = true
	}
	if !exported["ancient"] || !exported["old"] || exported["recent"] || len(exported) != 2 {
		t.Errorf("exported %v, want ancient and old", exported)
	}
	page, err := store.List(t.Context(), history.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Deploys) != 1 || page.Deploys[0].App != "recent" {
		t.Errorf("left in the store: %+v, want only recent", page.Deploys)
	}
	// Nothing left to prune: no empty export files.
	if n, file, err := pruneOnce(t.Context(), store, environments.Retention{Days: 365}, dir, now.Add(time.Hour)); n != 0 || file != "" || err != nil {
		t.Errorf("second run = %d, %q, %v; want nothing", n, file, err)
	}
}
