package source

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/internal/gittest"
)

// BenchmarkSync50 syncs 50 repositories (12 manifests each) over smart HTTP, 4 at a time as
// the poller does by default: once when every branch is unchanged (ls-remote only) and once
// when every branch has one new commit (ls-remote + fetch). Server-side bytes and requests
// are reported per sync of all 50.
//
//	go test -run '^$' -bench Sync50 -benchtime 10x ./sync/source
func BenchmarkSync50(b *testing.B) {
	const n = 50
	srv := gittest.NewServer(b)
	repos := make([]*gittest.Repo, n)
	srcs := make([]environments.Repository, n)
	for i := range repos {
		repos[i] = srv.NewRepo(fmt.Sprintf("team-%d/apps", i))
		files := map[string]string{}
		for f := range 12 {
			files[fmt.Sprintf("apps/app-%d/app.yaml", f)] = manifest(i, f, 0)
		}
		repos[i].Commit(b, files, "initial")
		srcs[i] = environments.Repository{URL: repos[i].URL()}
	}
	cache := NewCache(b.TempDir(), Options{})
	syncAll := func(wantChanged bool) {
		var g errgroup.Group
		g.SetLimit(4)
		for _, src := range srcs {
			g.Go(func() error {
				_, changed, err := cache.Sync(b.Context(), src)
				if err != nil {
					return err
				}
				if changed != wantChanged {
					return fmt.Errorf("%s: changed = %v, want %v", src.URL, changed, wantChanged)
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
	}
	syncAll(true)

	report := func(b *testing.B, before gittest.Stats) {
		after := srv.Stats()
		b.ReportMetric(float64(after.BytesOut-before.BytesOut)/float64(b.N), "server-bytes/op")
		b.ReportMetric(float64(after.Requests-before.Requests)/float64(b.N), "requests/op")
		b.ReportMetric(float64(after.UploadPacks-before.UploadPacks)/float64(b.N), "upload-packs/op")
	}

	b.Run("unchanged", func(b *testing.B) {
		before := srv.Stats()
		for b.Loop() {
			syncAll(false)
		}
		report(b, before)
	})

	b.Run("one-new-commit-each", func(b *testing.B) {
		rev := 0
		var before gittest.Stats
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			rev++
			for i, r := range repos {
				r.Commit(b, map[string]string{"apps/app-0/app.yaml": manifest(i, 0, rev)}, fmt.Sprintf("bump %d", rev))
			}
			if i == 0 {
				before = srv.Stats()
			}
			b.StartTimer()
			syncAll(true)
		}
		report(b, before)
	})
}

// manifest is a plausible Application manifest of about 1 KiB.
func manifest(repo, app, rev int) string {
	var s strings.Builder
	fmt.Fprintf(&s, "apiVersion: nais.io/v1alpha1\nkind: Application\nmetadata:\n  name: app-%d\n  namespace: team-%d\nspec:\n", app, repo)
	fmt.Fprintf(&s, "  image: registry.example/team-%d/app-%d:%d\n  replicas:\n    min: 2\n    max: 4\n", repo, app, rev)
	s.WriteString("  env:\n")
	for i := range 20 {
		fmt.Fprintf(&s, "    - name: SETTING_%d\n      value: \"value-%d-%d\"\n", i, i, rev)
	}
	return s.String()
}
