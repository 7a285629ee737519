package serve

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/internal/redact"
	"github.com/flyt-platform/flyt/sync/source"
)

// ConfigRepository is a Git repository holding the platform config, for operators who change
// the platform by merge request. flyt reads the file at Path on Branch's head and follows the
// branch: a new version is checked and loaded without a restart, and a bad one is reported
// while the old one stays in force.
type ConfigRepository struct {
	// Repository is where the config lives (URL, branch, credentials), as for team repositories.
	Repository environments.Repository
	// Path is the config file's path inside the repository. Default "platform.yaml".
	Path string
	// CacheDir holds the repository's Git cache and the checked-out file. Default
	// "flyt-data/platform".
	CacheDir string
	// Interval is how often the branch is checked. Default 30s.
	Interval time.Duration
}

// configFromGit fetches the config repository, writes the config file into the cache folder
// and returns its path, so the platform watcher loads and reloads it like any file. follow keeps
// the file current until ctx ends.
func configFromGit(ctx context.Context, cr ConfigRepository, log *slog.Logger) (file string, follow func(context.Context), err error) {
	if environments.CredentialsInURL(cr.Repository.URL) {
		return "", nil, fmt.Errorf("platform config repository (--config-repo): %s; the token goes in --config-token-file, an SSH key in --config-ssh-key-file",
			environments.CredentialsMessage(cr.Repository.URL))
	}
	shown := redact.URL(cr.Repository.URL)
	if cr.Path == "" {
		cr.Path = "platform.yaml"
	}
	if cr.CacheDir == "" {
		cr.CacheDir = filepath.Join("flyt-data", "platform")
	}
	if cr.Interval <= 0 {
		cr.Interval = 30 * time.Second
	}
	if err := os.MkdirAll(cr.CacheDir, 0o750); err != nil {
		return "", nil, fmt.Errorf("create platform config cache: %w", err)
	}
	cache := source.NewCache(filepath.Join(cr.CacheDir, "git"), source.Options{})
	// The file keeps the name it has in the repository, so errors name it as operators know it.
	file = filepath.Join(cr.CacheDir, filepath.Base(cr.Path))
	fetch := func(ctx context.Context) (string, error) {
		rev, _, err := cache.Sync(ctx, cr.Repository)
		if err != nil {
			return "", err
		}
		fsys, err := cache.Checkout(ctx, cr.Repository, rev.Commit)
		if err != nil {
			return "", err
		}
		data, err := fs.ReadFile(fsys, cr.Path)
		if err != nil {
			return "", fmt.Errorf("read %s at %s: %w", cr.Path, rev.Commit, err)
		}
		// Write next to the file and rename, so the watcher never reads half a file.
		tmp := file + ".tmp"
		if err := os.WriteFile(tmp, data, 0o640); err != nil {
			return "", err
		}
		return rev.Commit, os.Rename(tmp, file)
	}
	commit, err := fetch(ctx)
	if err != nil {
		return "", nil, fmt.Errorf("platform config from %s: %w", shown, err)
	}
	log.Info("platform config read from Git", "repository", shown, "path", cr.Path, "commit", commit)
	follow = func(ctx context.Context) {
		t := time.NewTicker(cr.Interval)
		defer t.Stop()
		last := commit
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			c, err := fetch(ctx)
			switch {
			case errors.Is(err, context.Canceled):
				return
			case err != nil:
				log.Warn("platform config repository unreadable; keeping the config in force", "repository", shown, "error", err)
			case c != last:
				log.Info("platform config changed in Git", "repository", shown, "commit", c)
				last = c
			}
		}
	}
	return file, follow, nil
}
