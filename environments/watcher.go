package environments

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/flyt-platform/flyt/internal/yamlpos"
)

// DefaultWatchInterval is how often Run checks the platform file for changes.
const DefaultWatchInterval = 5 * time.Second

// Watcher keeps the current platform config and swaps in new versions without a restart. A new
// version that fails to load is refused: the previous config keeps running, the problem is
// logged with file:line and kept for LastError, so the server can show operators what to fix.
// The input is either the file (Reload, Run) or bytes from elsewhere, such as a platform
// repository in Git (Update).
type Watcher struct {
	file     string
	onChange func(*Platform)
	log      *slog.Logger

	// update serialises loads, so onChange sees versions in order.
	update sync.Mutex

	// Guards the fields below.
	mu      sync.Mutex
	current *Platform
	hash    [sha256.Size]byte
	lastErr error
	// refused is the hash of the last content that failed, so polling does not log it again.
	refused [sha256.Size]byte
}

// NewWatcher loads file and returns a Watcher holding it. The first load must succeed: flyt
// does not start on a broken config. onChange (may be nil) is called with every later version
// that loads, never with the first, and never concurrently. log may be nil.
func NewWatcher(file string, onChange func(*Platform), log *slog.Logger) (*Watcher, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read platform config: %w", err)
	}
	p, err := Parse(file, data)
	if err != nil {
		return nil, fmt.Errorf("load platform config: %w", err)
	}
	return &Watcher{file: file, onChange: onChange, log: log, current: p, hash: sha256.Sum256(data)}, nil
}

// Current returns the config in force. Callers must treat it as read-only: a reload replaces it
// rather than changing it.
func (w *Watcher) Current() *Platform {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.current
}

// LastError returns why the newest version was refused, or nil once a version loads.
func (w *Watcher) LastError() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastErr
}

// Reload reads the file now, as on SIGHUP or an API call, and applies it if it changed. It
// returns the load error, which also stays in LastError.
func (w *Watcher) Reload() error {
	data, err := os.ReadFile(w.file)
	if err != nil {
		err = fmt.Errorf("read platform config: %w", err)
		w.refuse(err)
		return err
	}
	return w.Update(data)
}

// Update applies data as the new content of the platform file, for sources other than the
// local file (a Git repository). Unchanged content is a no-op.
func (w *Watcher) Update(data []byte) error {
	w.update.Lock()
	defer w.update.Unlock()
	sum := sha256.Sum256(data)
	w.mu.Lock()
	same, refusedBefore, lastErr := sum == w.hash, sum == w.refused && w.lastErr != nil, w.lastErr
	w.mu.Unlock()
	if same {
		w.mu.Lock()
		w.lastErr = nil // the file went back to the version in force
		w.mu.Unlock()
		return nil
	}
	if refusedBefore {
		return lastErr
	}
	p, err := Parse(w.file, data)
	if err != nil {
		w.mu.Lock()
		w.refused = sum
		w.mu.Unlock()
		w.refuse(err)
		return err
	}
	w.mu.Lock()
	w.current, w.hash, w.lastErr = p, sum, nil
	w.mu.Unlock()
	w.log.Info("platform config reloaded", "file", w.file, "environments", len(p.Environments), "teams", len(p.Teams))
	if w.onChange != nil {
		w.onChange(p)
	}
	return nil
}

func (w *Watcher) refuse(err error) {
	w.mu.Lock()
	w.lastErr = err
	w.mu.Unlock()
	problems := yamlpos.Errors(err)
	if len(problems) == 0 {
		w.log.Error("platform config refused; keeping the previous one", "file", w.file, "error", err.Error())
		return
	}
	for _, pr := range problems {
		w.log.Error("platform config refused; keeping the previous one", "file", pr.File, "line", pr.Line, "column", pr.Column, "path", pr.Path, "problem", pr.Msg)
	}
}

// Run checks the file every interval (DefaultWatchInterval when zero) until ctx ends. Checking
// content rather than modification times also catches files replaced by a ConfigMap mount's
// symlink swap. Errors are kept in LastError, not returned; Run returns ctx's error.
func (w *Watcher) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			_ = w.Reload() // kept in LastError and logged
		}
	}
}
