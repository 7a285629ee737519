// Package naisdata gives tests the corpus of real NAIS team repositories that flyt's developers
// and CI keep beside the repository (not in it: the files are other teams' work). The corpus is
// a folder of flattened files plus SOURCES.txt, whose lines map each file back to its
// repository and path (repository, path, source, file: tab-separated).
//
// The folder is named by FLYT_NAIS_TESTDATA; `make test` sets it when the corpus is there. A
// test that needs the corpus skips, saying so in one line, when it is not: a clone of flyt
// passes its tests without it, and CI, which has it, runs them.
package naisdata

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// EnvVar names the corpus folder.
const EnvVar = "FLYT_NAIS_TESTDATA"

// Dir returns the corpus folder, or skips t when there is none.
func Dir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv(EnvVar)
	if dir == "" {
		t.Skipf("the real NAIS repositories are not beside this checkout (%s is empty); make test sets it when they are", EnvVar)
	}
	return dir
}

// File returns one file of the corpus by its flattened name.
func File(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(Dir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// Repos rebuilds each repository of SOURCES.txt as an in-memory tree, by repository name.
func Repos(t testing.TB) map[string]fstest.MapFS {
	t.Helper()
	dir := Dir(t)
	f, err := os.Open(filepath.Join(dir, "SOURCES.txt"))
	if err != nil {
		t.Fatalf("open sources: %v", err)
	}
	defer f.Close()
	repos := map[string]fstest.MapFS{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		cols := strings.Split(line, "\t")
		if len(cols) != 4 {
			t.Fatalf("SOURCES.txt line %q: want 4 columns", line)
		}
		data, err := os.ReadFile(filepath.Join(dir, cols[3]))
		if err != nil {
			t.Fatalf("read %s: %v", cols[3], err)
		}
		if repos[cols[0]] == nil {
			repos[cols[0]] = fstest.MapFS{}
		}
		repos[cols[0]][cols[1]] = &fstest.MapFile{Data: data}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read sources: %v", err)
	}
	return repos
}
