package serve

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/history"
)

// retain applies the platform's history retention policy now and then once a day until ctx
// ends. Only the replica that reconciles runs it. Each run first writes the deploys it will
// delete to a JSON-lines file, then deletes them; a deploy that could not be exported is not
// deleted.
func retain(ctx context.Context, store history.Store, platform func() *environments.Platform, dataDir string, log *slog.Logger, now func() time.Time) {
	for {
		r := platform().Server.Retention
		if r.Days > 0 {
			n, file, err := pruneOnce(ctx, store, r, dataDir, now())
			switch {
			case err != nil:
				log.Error("history retention failed; nothing was deleted that was not exported", "error", err)
			case n > 0:
				log.Info("history retention exported and deleted old deploys", "deploys", n, "export", file, "days", r.Days)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(24 * time.Hour):
		}
	}
}

// pruneOnce exports and deletes the finished deploys older than r.Days.
func pruneOnce(ctx context.Context, store history.Store, r environments.Retention, dataDir string, now time.Time) (int, string, error) {
	dir := r.ExportDir
	if dir == "" {
		dir = filepath.Join(dataDir, "history-export")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return 0, "", fmt.Errorf("create export dir: %w", err)
	}
	file := filepath.Join(dir, "flyt-history-"+now.UTC().Format("20060102T150405Z")+".jsonl")
	f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o640)
	if err != nil {
		return 0, "", fmt.Errorf("create export file: %w", err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	n, err := store.Prune(ctx, now.AddDate(0, 0, -r.Days), func(d history.Deploy) error {
		if err := enc.Encode(d); err != nil {
			return err
		}
		// Written out before the store deletes it.
		return w.Flush()
	})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if n == 0 && err == nil {
		_ = os.Remove(file)
		return 0, "", nil
	}
	return n, file, err
}
