package source

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/internal/testenv/gittest"
)

// newTestCache returns a cache in a temp dir and the registry its metrics live on.
func newTestCache(t *testing.T) (*Cache, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	return NewCache(t.TempDir(), Options{Metrics: NewMetrics(reg)}), reg
}

// metricValue reads a counter (or a histogram's sample count) with the given label value
// ("" for none).
func metricValue(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && !hasLabelValue(m, label) {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("metric %s{%s} not found", name, label)
	return 0
}

func hasLabelValue(m *dto.Metric, v string) bool {
	for _, l := range m.GetLabel() {
		if l.GetValue() == v {
			return true
		}
	}
	return false
}

func TestSyncFetchesOnlyWhenTheBranchMoved(t *testing.T) {
	srv := gittest.NewServer(t)
	repo := srv.NewRepo("team-a/apps")
	first := repo.Commit(t, map[string]string{"app.yaml": "name: a\n"}, "Add app a\n\nWith a body.")
	c, reg := newTestCache(t)
	src := environments.Repository{URL: repo.URL()}

	rev, changed, err := c.Sync(t.Context(), src)
	if err != nil {
		t.Fatalf("first sync: %v", err)
	}
	want := Revision{
		Commit: first, Branch: "main", Author: gittest.AuthorName, AuthorEmail: gittest.AuthorEmail,
		Time: gittest.Epoch, Message: "Add app a\n\nWith a body.",
	}
	if diff := cmp.Diff(want, rev, cmp.Comparer(time.Time.Equal)); diff != "" {
		t.Errorf("first sync revision (-want +got):\n%s", diff)
	}
	if !changed {
		t.Error("first sync: changed = false, want true")
	}
	if got := repo.Stats().UploadPacks; got != 1 {
		t.Fatalf("first sync: %d upload-pack requests, want 1", got)
	}

	// Unmoved branch: ls-remote only.
	before := repo.Stats()
	for range 3 {
		rev, changed, err = c.Sync(t.Context(), src)
		if err != nil || changed || rev.Commit != first {
			t.Fatalf("unchanged sync = %s, changed %v, %v; want %s, false", rev.Commit, changed, err, first)
		}
	}
	after := repo.Stats()
	if after.UploadPacks != before.UploadPacks {
		t.Errorf("unchanged syncs made %d upload-pack requests, want 0", after.UploadPacks-before.UploadPacks)
	}
	if got := after.InfoRefs - before.InfoRefs; got != 3 {
		t.Errorf("unchanged syncs made %d ref advertisements, want 3", got)
	}

	second := repo.Commit(t, map[string]string{"app.yaml": "name: a\nreplicas: 2\n"}, "Scale a")
	rev, changed, err = c.Sync(t.Context(), src)
	if err != nil || !changed {
		t.Fatalf("sync after commit: changed %v, %v", changed, err)
	}
	want = Revision{
		Commit: second, Branch: "main", Author: gittest.AuthorName, AuthorEmail: gittest.AuthorEmail,
		Time: gittest.Epoch.Add(time.Minute), Message: "Scale a",
	}
	if diff := cmp.Diff(want, rev, cmp.Comparer(time.Time.Equal)); diff != "" {
		t.Errorf("revision after commit (-want +got):\n%s", diff)
	}
	// One session: the ref advertisement that showed the move also serves the fetch.
	if got, want := repo.Stats(), after; got.UploadPacks-want.UploadPacks != 1 || got.InfoRefs-want.InfoRefs != 1 {
		t.Errorf("sync after commit made %d upload-pack and %d info/refs requests, want 1 and 1",
			got.UploadPacks-want.UploadPacks, got.InfoRefs-want.InfoRefs)
	}

	head, err := c.Head(t.Context(), src)
	if err != nil || head != second {
		t.Errorf("Head = %s, %v; want %s", head, err, second)
	}

	for _, tt := range []struct {
		result string
		want   float64
	}{{resultChanged, 2}, {resultUnchanged, 3}, {resultError, 0}} {
		if got := metricValue(t, reg, "flyt_git_polls_total", tt.result); got != tt.want {
			t.Errorf("flyt_git_polls_total{result=%q} = %v, want %v", tt.result, got, tt.want)
		}
	}
	if got := metricValue(t, reg, "flyt_git_fetch_bytes_total", ""); got <= 0 {
		t.Errorf("flyt_git_fetch_bytes_total = %v, want > 0", got)
	}
	if got := metricValue(t, reg, "flyt_git_fetch_duration_seconds", resultUnchanged); got != 3 {
		t.Errorf("flyt_git_fetch_duration_seconds{result=unchanged} count = %v, want 3", got)
	}
}

func TestCheckoutReadsTheTreeAtACommit(t *testing.T) {
	srv := gittest.NewServer(t)
	repo := srv.NewRepo("apps")
	v1 := repo.Commit(t, map[string]string{
		"README.md":              "not an app\n",
		"apps/a/app.yaml":        "name: a\n",
		"apps/a/config/env.yaml": "dev: {}\n",
		"apps/b.yaml":            "name: b\n",
		"apps/b/app.yaml":        "name: b2\n",
	}, "v1")
	v2 := repo.Commit(t, map[string]string{"apps/a/app.yaml": "name: a\nreplicas: 3\n", "apps/b.yaml": gittest.Deleted}, "v2")
	c, _ := newTestCache(t)
	src := environments.Repository{URL: repo.URL(), Path: "apps"}
	if _, _, err := c.Sync(t.Context(), src); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		commit string
		files  map[string]string
	}{
		{"old commit", v1, map[string]string{"a/app.yaml": "name: a\n", "a/config/env.yaml": "dev: {}\n", "b.yaml": "name: b\n", "b/app.yaml": "name: b2\n"}},
		{"head", v2, map[string]string{"a/app.yaml": "name: a\nreplicas: 3\n", "a/config/env.yaml": "dev: {}\n", "b/app.yaml": "name: b2\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys, err := c.Checkout(t.Context(), src, tt.commit)
			if err != nil {
				t.Fatalf("checkout: %v", err)
			}
			var names []string
			for name := range tt.files {
				names = append(names, name)
			}
			if err := fstest.TestFS(fsys, names...); err != nil {
				t.Fatalf("fstest: %v", err)
			}
			got := map[string]string{}
			err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				b, err := fs.ReadFile(fsys, p)
				got[p] = string(b)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.files, got); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
			if _, err := fs.Stat(fsys, "../README.md"); !errors.Is(err, fs.ErrInvalid) {
				t.Errorf("stat outside the root: %v, want fs.ErrInvalid", err)
			}
			if _, err := fs.ReadFile(fsys, "nope.yaml"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("read of a missing file: %v, want fs.ErrNotExist", err)
			}
		})
	}

	// Checkout writes no work tree: the cache holds a bare repository only.
	entries, err := os.ReadDir(c.Dir(repo.URL()))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "apps" || e.Name() == "README.md" {
			t.Errorf("cache dir holds a checked-out %s", e.Name())
		}
	}

	if _, err := c.Checkout(t.Context(), environments.Repository{URL: repo.URL(), Path: "missing"}, v2); !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, ErrConfig) {
		t.Errorf("checkout of a missing path: %v, want ErrConfig and fs.ErrNotExist", err)
	}
}

func TestCheckoutFetchesAMissingCommit(t *testing.T) {
	srv := gittest.NewServer(t)
	repo := srv.NewRepo("apps")
	v1 := repo.Commit(t, map[string]string{"a.yaml": "1"}, "v1")
	repo.Commit(t, map[string]string{"a.yaml": "2"}, "v2")
	c, _ := newTestCache(t)
	src := environments.Repository{URL: repo.URL()}

	// A promotion of v1 reaches a fresh cache (say, after a restart) before any poll.
	fsys, err := c.Checkout(t.Context(), src, v1)
	if err != nil {
		t.Fatalf("checkout of an unfetched commit on the branch: %v", err)
	}
	if b, err := fs.ReadFile(fsys, "a.yaml"); err != nil || string(b) != "1" {
		t.Errorf("a.yaml = %q, %v; want 1", b, err)
	}
	rev, err := c.Revision(t.Context(), src, v1)
	if err != nil || rev.Message != "v1" || rev.Commit != v1 || rev.Branch != "" {
		t.Errorf("Revision = %+v, %v", rev, err)
	}

	for _, commit := range []string{strings.Repeat("ab", 20), "main", "abc123"} {
		if _, err := c.Checkout(t.Context(), src, commit); !errors.Is(err, ErrCommitNotFound) {
			t.Errorf("checkout %q: %v, want ErrCommitNotFound", commit, err)
		}
	}
}

func TestSyncForcePushKeepsOldCommits(t *testing.T) {
	srv := gittest.NewServer(t)
	repo := srv.NewRepo("apps")
	old := repo.Commit(t, map[string]string{"app.yaml": "old"}, "old history")
	c, _ := newTestCache(t)
	src := environments.Repository{URL: repo.URL()}
	if _, _, err := c.Sync(t.Context(), src); err != nil {
		t.Fatal(err)
	}

	fresh := repo.ForcePush(t, map[string]string{"other.yaml": "new"}, "rewritten")
	rev, changed, err := c.Sync(t.Context(), src)
	if err != nil || !changed || rev.Commit != fresh {
		t.Fatalf("sync after force-push = %s, changed %v, %v; want %s", rev.Commit, changed, err, fresh)
	}
	fsys, err := c.Checkout(t.Context(), src, old)
	if err != nil {
		t.Fatalf("checkout of the commit the force-push dropped: %v", err)
	}
	if b, err := fs.ReadFile(fsys, "app.yaml"); err != nil || string(b) != "old" {
		t.Errorf("old app.yaml = %q, %v", b, err)
	}

	// Force-pushing back to a commit the cache holds needs no fetch.
	before := repo.Stats().UploadPacks
	repo.Reset(t, old)
	rev, changed, err = c.Sync(t.Context(), src)
	if err != nil || !changed || rev.Commit != old {
		t.Fatalf("sync after reset = %s, changed %v, %v; want %s", rev.Commit, changed, err, old)
	}
	if got := repo.Stats().UploadPacks - before; got != 0 {
		t.Errorf("reset to a cached commit made %d upload-pack requests, want 0", got)
	}
}

func TestSyncSourceGone(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(t *testing.T, r *gittest.Repo)
		want   error
		reason Reason
	}{
		{"branch deleted", func(t *testing.T, r *gittest.Repo) {
			r.Branch = "release"
			r.Commit(t, map[string]string{"b.yaml": "1"}, "another branch stays")
			r.Branch = "main"
			r.DeleteBranch(t)
		}, ErrBranchNotFound, ReasonBranchNotFound},
		{"only branch deleted", func(t *testing.T, r *gittest.Repo) { r.DeleteBranch(t) }, ErrBranchNotFound, ReasonBranchNotFound},
		{"repository emptied", func(t *testing.T, r *gittest.Repo) { r.Empty(t) }, ErrBranchNotFound, ReasonBranchNotFound},
		{"repository deleted", func(t *testing.T, r *gittest.Repo) { r.Delete(t) }, ErrRepositoryNotFound, ReasonRepositoryNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := gittest.NewServer(t)
			repo := srv.NewRepo("apps")
			sha := repo.Commit(t, map[string]string{"a.yaml": "1"}, "v1")
			reg := prometheus.NewPedanticRegistry()
			c := NewCache(t.TempDir(), Options{Metrics: NewMetrics(reg)})
			src := environments.Repository{URL: repo.URL()}
			if _, _, err := c.Sync(t.Context(), src); err != nil {
				t.Fatal(err)
			}
			tt.break_(t, repo)

			_, _, err := c.Sync(t.Context(), src)
			if !errors.Is(err, tt.want) || !Gone(err) {
				t.Fatalf("sync: %v, want %v", err, tt.want)
			}
			t.Logf("error: %v", err)
			if got := ReasonOf(err); got != tt.reason {
				t.Errorf("reason = %s, want %s", got, tt.reason)
			}
			if errors.Is(err, ErrNetwork) || errors.Is(err, ErrAuth) {
				t.Errorf("%v also matches a transient error", err)
			}
			if _, err := c.Head(t.Context(), src); !errors.Is(err, tt.want) {
				t.Errorf("Head: %v, want %v", err, tt.want)
			}
			if got := metricValue(t, reg, "flyt_git_fetch_errors_total", string(tt.reason)); got != 1 {
				t.Errorf("flyt_git_fetch_errors_total{reason=%s} = %v, want 1", tt.reason, got)
			}
			// What was fetched stays readable: the controller keeps running it.
			if _, err := c.Checkout(t.Context(), src, sha); err != nil {
				t.Errorf("checkout of the cached commit after the source vanished: %v", err)
			}
		})
	}
}

func TestSyncLocalPath(t *testing.T) {
	srv := gittest.NewServer(t)
	repo := srv.NewRepo("apps")
	sha := repo.Commit(t, map[string]string{"a.yaml": "1"}, "v1")
	c, _ := newTestCache(t)
	for _, u := range []string{repo.Dir, "file://" + filepath.ToSlash(repo.Dir)} {
		rev, _, err := c.Sync(t.Context(), environments.Repository{URL: u})
		if err != nil || rev.Commit != sha {
			t.Errorf("sync %s = %s, %v; want %s", u, rev.Commit, err, sha)
		}
	}
	if _, _, err := c.Sync(t.Context(), environments.Repository{URL: filepath.Join(t.TempDir(), "nope")}); !errors.Is(err, ErrRepositoryNotFound) {
		t.Errorf("sync of a missing local path: %v, want ErrRepositoryNotFound", err)
	}
}

func TestSyncNetworkError(t *testing.T) {
	srv := gittest.NewServer(t)
	repo := srv.NewRepo("apps")
	repo.Commit(t, map[string]string{"a.yaml": "1"}, "v1")
	url := repo.URL()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	c, _ := newTestCache(t)
	_, _, err := c.Sync(t.Context(), environments.Repository{URL: url})
	t.Logf("error: %v", err)
	if !errors.Is(err, ErrNetwork) || Gone(err) {
		t.Errorf("sync against a stopped server: %v (reason %s), want ErrNetwork and not Gone", err, ReasonOf(err))
	}
}

// TestCompactKeepsEveryCommit fetches more commits than packLimit, one pack each, with a
// force-push among them: the cache must compact its packs, keep every commit readable (the
// one the force-push dropped too), and keep an FS opened before the compaction working.
func TestCompactKeepsEveryCommit(t *testing.T) {
	srv := gittest.NewServer(t)
	repo := srv.NewRepo("apps")
	c, _ := newTestCache(t)
	src := environments.Repository{URL: repo.URL()}
	packs := func() int {
		t.Helper()
		ps, err := filepath.Glob(filepath.Join(c.Dir(src.URL), "objects", "pack", "*.pack"))
		if err != nil {
			t.Fatal(err)
		}
		return len(ps)
	}
	content := map[string]string{}
	sync := func(sha, want string) {
		t.Helper()
		content[sha] = want
		if rev, _, err := c.Sync(t.Context(), src); err != nil || rev.Commit != sha {
			t.Fatalf("sync = %s, %v; want %s", rev.Commit, err, sha)
		}
	}
	dropped := repo.Commit(t, map[string]string{"app.yaml": "dropped"}, "soon force-pushed away")
	sync(dropped, "dropped")
	early, err := c.Checkout(t.Context(), src, dropped)
	if err != nil {
		t.Fatal(err)
	}
	sync(repo.ForcePush(t, map[string]string{"app.yaml": "v0"}, "rewritten"), "v0")
	for i := 1; packs() < packLimit; i++ {
		sync(repo.Commit(t, map[string]string{"app.yaml": fmt.Sprint("v", i)}, fmt.Sprint("change ", i)), fmt.Sprint("v", i))
	}
	if got := packs(); got != packLimit {
		t.Fatalf("%d packs before the compacting fetch, want %d", got, packLimit)
	}
	sync(repo.Commit(t, map[string]string{"app.yaml": "last"}, "one fetch past the limit"), "last")
	if got := packs(); got != 1 {
		t.Errorf("%d packs after fetching past %d, want 1", got, packLimit)
	}
	if b, err := fs.ReadFile(early, "app.yaml"); err != nil || string(b) != "dropped" {
		t.Errorf("FS opened before the compaction reads app.yaml = %q, %v; want \"dropped\"", b, err)
	}
	for sha, want := range content {
		fsys, err := c.Checkout(t.Context(), src, sha)
		if err != nil {
			t.Fatalf("checkout %s after compaction: %v", sha, err)
		}
		if b, err := fs.ReadFile(fsys, "app.yaml"); err != nil || string(b) != want {
			t.Errorf("app.yaml at %.7s = %q, %v; want %q", sha, b, err, want)
		}
		if rev, err := c.Revision(t.Context(), src, sha); err != nil || rev.Commit != sha {
			t.Errorf("Revision(%.7s) = %+v, %v", sha, rev, err)
		}
	}
	if got := repo.Stats().UploadPacks; got != int64(len(content)) {
		t.Errorf("%d upload-pack requests, want %d (one per commit: none refetched)", got, len(content))
	}
}
