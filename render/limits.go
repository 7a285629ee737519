package render

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"runtime/debug"
	"strings"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/internal/yamlpos"
)

// A team's repository is hostile input on a shared platform. Everything LoadRepo and Render
// do with it is bounded by environments.Limits (file and repository sizes, YAML expansion and
// nesting, template nesting and output, objects per app and their size), and a limit that is
// hit is an *Error naming the file, the limit and the platform setting that raises it, wrapping
// ErrLimit. A panic while loading or rendering (a bug in flyt or in a library, set off by some
// input) is caught at the API boundary and becomes an *Error wrapping ErrPanic: it fails that
// app, never the process.

// ErrLimit is the cause of every problem that is a limit of environments.Limits being hit,
// the YAML limits that internal/yamlpos checks included.
var ErrLimit = yamlpos.ErrLimit

// ErrPanic is the cause of the error LoadRepo or Render return when they panicked.
var ErrPanic = errors.New("render panicked")

// LoadOptions are what LoadRepo needs besides the files.
type LoadOptions struct {
	// Environments are the platform's environment names; they help tell per-environment files
	// (app-dev.yaml, dev-gcp.yaml) from plain ones.
	Environments []string
	// Limits bound the reading and rendering of the repository; fields left 0 take their
	// defaults (environments.Limits.WithDefaults).
	Limits environments.Limits
}

// limitError is a limit hit in file (at line, when known).
func limitError(file string, line int, format string, args ...any) *Error {
	return &Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...), Err: ErrLimit}
}

// reader reads a repository's files under its limits: each file at most FileSize, at most
// RepoFiles files and RepoSize bytes in all.
type reader struct {
	fsys  fs.FS
	lim   environments.Limits
	files int
	bytes int64
	// current is the file being read or parsed, for the message of a panic.
	current string
}

// read returns the contents of name (a path in fsys); display is how messages name the file
// (repository-relative). A missing file comes back as an error wrapping fs.ErrNotExist, a
// problem with the file (too big, a link out of the repository) as an *Error, and anything
// else as the I/O failure it is.
func (r *reader) read(name, display string) ([]byte, error) {
	r.current = display
	if err := r.count(display); err != nil {
		return nil, err
	}
	if info, err := fs.Stat(r.fsys, name); err == nil {
		if err := r.size(display, info.Size()); err != nil {
			return nil, err
		}
	} else if e := r.classify(display, err); e != nil {
		return nil, e
	} else {
		return nil, fmt.Errorf("read %s: %w", display, err)
	}
	b, err := fs.ReadFile(r.fsys, name)
	if err != nil {
		if e := r.classify(display, err); e != nil {
			return nil, e
		}
		return nil, fmt.Errorf("read %s: %w", display, err)
	}
	if int64(len(b)) > int64(r.lim.FileSize) { // the FS's Stat understated it
		return nil, r.tooBig(display, int64(len(b)))
	}
	r.bytes += int64(len(b))
	if r.bytes > int64(r.lim.RepoSize) {
		return nil, limitError(display, 0, "reading this file takes the repository past %s read in all; flyt reads only the files apps use, so move other large files out of them, or raise limits.repoSize in the platform config", r.lim.RepoSize)
	}
	return b, nil
}

// classify turns a read error that is the file's fault (a link out of the repository, or
// one that loops) into an *Error; nil for the rest.
// fs.ErrNotExist is left to the caller, which knows whether a missing file is a problem.
func (r *reader) classify(display string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if e := linkProblem(display, err); e != nil {
		return e
	}
	return nil
}

// count counts one more file (or listed directory entry) against RepoFiles.
func (r *reader) count(display string) error {
	r.files++
	if r.files > r.lim.RepoFiles {
		return limitError(display, 0, "the repository makes flyt read more than %d files; flyt reads only the files its apps use (and the .nais folder), so split the repository, or raise limits.repoFiles in the platform config", r.lim.RepoFiles)
	}
	return nil
}

func (r *reader) size(display string, n int64) error {
	if n > int64(r.lim.FileSize) {
		return r.tooBig(display, n)
	}
	return nil
}

func (r *reader) tooBig(display string, n int64) error {
	return limitError(display, 0, "is %s, more than the %s flyt reads from one file; split it, keep large data out of the repository (a ConfigMap holds at most 1Mi), or raise limits.fileSize in the platform config", environments.ByteSize(n), r.lim.FileSize)
}

// countValues counts the maps, lists, keys and scalars in v, as withinLimits does.
func countValues(v any) int {
	n := 1
	switch v := v.(type) {
	case map[string]any:
		for _, x := range v {
			n += 1 + countValues(x)
		}
	case []any:
		for _, x := range v {
			n += countValues(x)
		}
	}
	return n
}

// withinLimits reports whether values (the documents of one file, as the fast YAML path
// decoded them) hold at most lim.Values values nested at most lim.Depth deep. The fast path
// knows no aliases, so this is a plain count; a file past it goes to yaml.v3, whose nodes
// yamlpos.Check then reports with a position.
func withinLimits(values []any, lim yamlpos.Limits) bool {
	budget := lim.Values
	var walk func(v any, depth int) bool
	walk = func(v any, depth int) bool {
		budget--
		if budget < 0 || depth > lim.Depth {
			return false
		}
		switch v := v.(type) {
		case map[string]any:
			for _, x := range v {
				budget-- // the key
				if !walk(x, depth+1) {
					return false
				}
			}
		case []any:
			for _, x := range v {
				if !walk(x, depth+1) {
					return false
				}
			}
		}
		return true
	}
	for _, v := range values {
		if !walk(v, 1) {
			return false
		}
	}
	return true
}

// recovered turns a panic into an *Error wrapping ErrPanic for the file being worked on (*file,
// empty when unknown). It is deferred at the API boundary, with the named error result.
func recovered(file *string, err *error) {
	p := recover()
	if p == nil {
		return
	}
	*err = &Error{File: *file, Msg: fmt.Sprintf("flyt failed on this input (%v at %s); this is a bug in flyt: report it with the file, and change the file to go on", p, panicSite(debug.Stack())), Err: ErrPanic}
}

// panicSite returns the function that panicked, from a stack taken in the deferred call: the
// first frame below the runtime's panic machinery.
func panicSite(stack []byte) string {
	lines := strings.Split(string(stack), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "panic(") && i+2 < len(lines) {
			fn := lines[i+2]
			if j := strings.LastIndexByte(fn, '('); j > 0 {
				fn = fn[:j]
			}
			return path.Base(fn)
		}
	}
	return "an unknown place"
}
