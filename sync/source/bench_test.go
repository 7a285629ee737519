package source

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/internal/testenv/gittest"
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

// BenchmarkCheckoutAfterPushes reads every file of a 20-app repository at its head through
// Checkout, as a push's render does, after 1, 100 and 300 fetches (one small commit each). Each
// fetch adds a packfile to the cache; the figure shows whether reading costs more as they pile up.
//
//	go test -run '^$' -bench CheckoutAfterPushes ./sync/source
func BenchmarkCheckoutAfterPushes(b *testing.B) {
	srv := gittest.NewServer(b)
	repo := srv.NewRepo("team/apps")
	files := map[string]string{}
	for f := range 20 {
		files[fmt.Sprintf(".nais/app-%d/app.yaml", f)] = manifest(0, f, 0)
		files[fmt.Sprintf(".nais/app-%d/dev.yaml", f)] = "replicas: 1\n"
		files[fmt.Sprintf(".nais/app-%d/prod.yaml", f)] = "replicas: 2\n"
	}
	repo.Commit(b, files, "initial")
	src := environments.Repository{URL: repo.URL()}
	cache := NewCache(b.TempDir(), Options{})
	fetches := 0
	for _, n := range []int{1, 100, 300} {
		for ; fetches < n; fetches++ {
			if fetches > 0 {
				repo.Commit(b, map[string]string{".nais/app-0/app.yaml": manifest(0, 0, fetches)}, fmt.Sprintf("bump %d", fetches))
			}
			if _, _, err := cache.Sync(b.Context(), src); err != nil {
				b.Fatal(err)
			}
		}
		head := repo.Head(b)
		b.Run(fmt.Sprintf("fetches=%d", n), func(b *testing.B) {
			for b.Loop() {
				fsys, err := cache.Checkout(b.Context(), src, head)
				if err != nil {
					b.Fatal(err)
				}
				read := 0
				if err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
					if err != nil || d.IsDir() {
						return err
					}
					data, err := fs.ReadFile(fsys, p)
					read += len(data)
					return err
				}); err != nil || read == 0 {
					b.Fatalf("read %d bytes: %v", read, err)
				}
			}
			packs, _ := filepath.Glob(filepath.Join(cache.Dir(src.URL), "objects", "pack", "*.pack"))
			b.ReportMetric(float64(len(packs)), "packs")
		})
	}
}
