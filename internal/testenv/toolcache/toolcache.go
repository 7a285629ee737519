// Package toolcache finds the tools flyt's tests build from the Go module proxy (the control
// plane, Dex) in the cache outside the repository that the hack/ scripts fill, and reads the
// versions.env files that pin them. The Go side and the scripts must agree on both, so both
// rules are written once here (and once in each script).
package toolcache

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Versions reads a versions.env file's KEY=value lines; blank lines and # comments are skipped.
func Versions(env string) map[string]string {
	v := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(env))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, val, ok := strings.Cut(line, "="); ok {
			v[k] = val
		}
	}
	return v
}

// Root is the cache folder of one tool: $<rootEnv> when set, otherwise
// <user cache dir>/flyt/<name>, as the scripts compute it from XDG_CACHE_HOME or ~/.cache.
func Root(rootEnv, name string) (string, error) {
	if root := os.Getenv(rootEnv); root != "" {
		return root, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the user cache dir: %w", err)
	}
	return filepath.Join(cache, "flyt", name), nil
}
