package source

import (
	"fmt"
	"io/fs"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/internal/testenv/gittest"
)

// Concurrent syncs of one repository are serialised: the first fetches, the rest find the
// cache current and only ls-remote. Without the per-repository lock several would fetch
// (and race on the same files, which -race reports).
func TestConcurrentSyncsOfOneRepository(t *testing.T) {
	srv := gittest.NewServer(t)
	repo := srv.NewRepo("apps")
	sha := repo.Commit(t, map[string]string{"a.yaml": "1"}, "v1")
	c, _ := newTestCache(t)
	src := environments.Repository{URL: repo.URL()}

	const n = 8
	changed := make([]bool, n)
	var g errgroup.Group
	for i := range n {
		g.Go(func() error {
			rev, ch, err := c.Sync(t.Context(), src)
			if err == nil && rev.Commit != sha {
				err = fmt.Errorf("sync %d got %s, want %s", i, rev.Commit, sha)
			}
			changed[i] = ch
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := repo.Stats().UploadPacks; got != 1 {
		t.Errorf("%d concurrent syncs fetched %d times, want 1", n, got)
	}
	nChanged := 0
	for _, ch := range changed {
		if ch {
			nChanged++
		}
	}
	if nChanged != 1 {
		t.Errorf("%d syncs reported a change, want 1", nChanged)
	}
}

// Renders read checkouts while syncs of the same and other repositories run.
func TestCheckoutWhileSyncing(t *testing.T) {
	srv := gittest.NewServer(t)
	var repos []*gittest.Repo
	var firsts []string
	for i := range 3 {
		r := srv.NewRepo(fmt.Sprintf("apps-%d", i))
		firsts = append(firsts, r.Commit(t, map[string]string{"a.yaml": "v1", "dir/b.yaml": "b"}, "v1"))
		repos = append(repos, r)
	}
	c, _ := newTestCache(t)
	for _, r := range repos {
		if _, _, err := c.Sync(t.Context(), environments.Repository{URL: r.URL()}); err != nil {
			t.Fatal(err)
		}
	}
	fss := make([]fs.FS, len(repos))
	for i, r := range repos {
		fsys, err := c.Checkout(t.Context(), environments.Repository{URL: r.URL()}, firsts[i])
		if err != nil {
			t.Fatal(err)
		}
		fss[i] = fsys
		r.Commit(t, map[string]string{"a.yaml": "v2"}, "v2")
	}

	var g errgroup.Group
	for i, r := range repos {
		g.Go(func() error {
			_, _, err := c.Sync(t.Context(), environments.Repository{URL: r.URL()})
			return err
		})
		for range 2 {
			g.Go(func() error {
				for range 20 {
					b, err := fs.ReadFile(fss[i], "a.yaml")
					if err != nil {
						return err
					}
					if string(b) != "v1" {
						return fmt.Errorf("checkout of v1 reads %q", b)
					}
					if _, err := fs.ReadDir(fss[i], "dir"); err != nil {
						return err
					}
				}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}
