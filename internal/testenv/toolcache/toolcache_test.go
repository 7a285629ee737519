package toolcache

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestVersions(t *testing.T) {
	got := Versions("# pinned\nA=1.2\n\n  B=v3  \nnot a pair\n")
	if diff := cmp.Diff(map[string]string{"A": "1.2", "B": "v3"}, got); diff != "" {
		t.Errorf("Versions (-want +got):\n%s", diff)
	}
}

func TestRoot(t *testing.T) {
	t.Setenv("FLYT_X_CACHE", "/cache/x")
	if got, err := Root("FLYT_X_CACHE", "x"); err != nil || got != "/cache/x" {
		t.Errorf("Root with the variable set = %q, %v", got, err)
	}
	t.Setenv("FLYT_X_CACHE", "")
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	if got, err := Root("FLYT_X_CACHE", "x"); err != nil || got != filepath.Join("/xdg", "flyt", "x") {
		t.Errorf("Root from XDG_CACHE_HOME = %q, %v", got, err)
	}
}
