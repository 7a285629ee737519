package render

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLayouts renders flyt's own small repository for each layout real teams use that
// testdata/golden does not already show, so that a clone without the real NAIS repositories
// (FLYT_NAIS_TESTDATA) still proves them. testdata/layouts/<layout>/ is the repository;
// <layout>.yaml beside it is a golden case without files (what it shows and the environments
// to render every app for); <layout>.golden is the report. Run with -update to rewrite the
// reports from the current renderer.
func TestLayouts(t *testing.T) {
	cases, err := filepath.Glob("testdata/layouts/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("testdata/layouts")
	if err != nil {
		t.Fatal(err)
	}
	repos := 0
	for _, e := range entries {
		if e.IsDir() {
			repos++
		}
	}
	if len(cases) == 0 || len(cases) != repos {
		t.Fatalf("testdata/layouts has %d case files and %d repositories; want one of each per layout", len(cases), repos)
	}
	for _, in := range cases {
		dir := strings.TrimSuffix(in, ".yaml")
		t.Run(filepath.Base(dir), func(t *testing.T) {
			c := readCase(t, in)
			if len(c.Files) > 0 {
				t.Fatalf("%s: files: the repository of a layout is the folder %s, not files in the case", in, dir)
			}
			c.Files = readRepository(t, dir)
			checkGolden(t, c, dir+".golden", "TestLayouts")
		})
	}
}

// readRepository reads every file below dir into a golden case's files, path → contents, with
// slash-separated paths relative to dir.
func readRepository(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = string(data)
		return nil
	})
	if err != nil {
		t.Fatalf("read repository %s: %v", dir, err)
	}
	if len(files) == 0 {
		t.Fatalf("%s holds no files", dir)
	}
	return files
}
