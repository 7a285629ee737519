package source_test

import (
	"context"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/internal/testenv/gittest"
	"github.com/flyt-platform/flyt/sync/source"
)

// A cache fetches a team repository once, answers later syncs of an unmoved branch with an
// ls-remote only, and reads files at a commit without checking anything out.
func ExampleCache() {
	dir, err := os.MkdirTemp("", "flyt-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	srv, err := gittest.Serve(filepath.Join(dir, "repos"), "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	team, err := srv.CreateRepo("team-a/apps")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := team.CommitFiles(map[string]string{"apps/web/app.yaml": "name: web\n"}, "Add web"); err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	cache := source.NewCache(filepath.Join(dir, "cache"), source.Options{})
	repo := environments.Repository{URL: team.URL(), Path: "apps"}
	for range 2 {
		rev, changed, err := cache.Sync(ctx, repo)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s %q changed=%v fetches=%d\n", rev.Author, rev.Message, changed, team.Stats().UploadPacks)
	}
	rev, _, _ := cache.Sync(ctx, repo)
	files, err := cache.Checkout(ctx, repo, rev.Commit)
	if err != nil {
		log.Fatal(err)
	}
	b, err := fs.ReadFile(files, "web/app.yaml")
	fmt.Printf("%s%v\n", b, err)
	// Output:
	// Flyt Tester "Add web" changed=true fetches=1
	// Flyt Tester "Add web" changed=false fetches=1
	// name: web
	// <nil>
}
