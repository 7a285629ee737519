package render

import (
	"errors"
	"fmt"
	"strings"
)

// Error is a problem with a team's files: broken YAML, an unknown or mistyped field, a policy
// the environment refuses. Such errors are never retried: the same files give the same error,
// so callers (sync) record the deploy as a failure and wait for a new revision. Callers tell
// them from I/O failures with errors.As or IsSpecError.
type Error struct {
	// File is the repository-relative path of the file at fault, empty when the problem is not
	// tied to one file (an unknown app, say).
	File string
	// Line and Column are 1-based; 0 when unknown.
	Line, Column int
	// Path is the field path inside the document, such as "spec.replicas.min"; empty when the
	// problem is the whole document or file.
	Path string
	// Msg says what is wrong and how to fix it.
	Msg string
	// Err is the underlying cause, when there is one (a YAML parser error, ErrStrict …).
	Err error
}

// Error formats the problem as "file:line:col: path: message", the shape editors and CI logs
// turn into links.
func (e *Error) Error() string {
	var b strings.Builder
	writePos(&b, e.File, e.Line, e.Column)
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the cause, so errors.Is(err, ErrStrict) and the like work.
func (e *Error) Unwrap() error { return e.Err }

func writePos(b *strings.Builder, file string, line, col int) {
	if file == "" {
		return
	}
	b.WriteString(file)
	if line > 0 {
		fmt.Fprintf(b, ":%d", line)
		if col > 0 {
			fmt.Fprintf(b, ":%d", col)
		}
	}
	b.WriteString(": ")
}

// Errors is every problem found in one render. Render keeps going after the first problem so
// that `flyt validate` can show them all at once.
type Errors []*Error

// Error lists the problems one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes each problem to errors.As and errors.Is.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Sentinel causes carried in Error.Err.
var (
	// ErrStrict marks an error that is a warning outside strict mode (an undefined variable, an
	// unsupported integration).
	ErrStrict = errors.New("strict mode")
	// ErrUnknownApp is returned when the repository has no app of the requested name.
	ErrUnknownApp = errors.New("unknown app")
	// ErrNotInEnvironment is returned when an app names the environments it deploys to and the
	// requested one is not among them. Sync treats it as "nothing to deploy here".
	ErrNotInEnvironment = errors.New("app does not deploy to this environment")
)

// Symbolic link problems. An fs.FS handed to LoadRepo returns them, wrapped in an
// *fs.PathError whose Path is the file asked for, when that file is (or lies under) a symbolic
// link flyt will not follow. The readers in sync/source do, for a Git revision and a working
// tree alike, so `flyt render`, `flyt validate` and the server agree about every commit.
// LoadRepo turns them into an *Error naming the file: a link is part of the commit, so no retry
// can fix it. An error wrapping one may also have a method Link() (link, target string) naming
// the link at fault and the target it holds; the message then quotes them.
var (
	// ErrOutsideRepository is returned for a file whose symbolic link leads out of the
	// repository: an absolute target, or one whose ".." climbs past the root. Following it
	// would read whatever the reading machine has there (/etc/passwd, another team's files).
	ErrOutsideRepository = errors.New("symbolic link leads out of the repository")
	// ErrLinkLoop is returned for a file whose symbolic links never reach a file: a loop, more
	// than 40 links in a row, or a link to a folder holding it.
	ErrLinkLoop = errors.New("too many levels of symbolic links")
)

// IsSpecError reports whether err is (or wraps) a problem with the team's files, which no retry
// can fix, as opposed to an I/O failure reading them.
func IsSpecError(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

// WarningCode classifies warnings, so that strict mode knows which ones to turn into errors
// and tools can filter them.
type WarningCode string

// Warning codes.
const (
	// UndefinedVariable: a template names a variable no vars file, built-in or override defines.
	UndefinedVariable WarningCode = "undefined-variable"
	// UnsupportedIntegration: the spec uses an integration the environment's operators do not run.
	UnsupportedIntegration WarningCode = "unsupported-integration"
	// RemovedField: the spec uses a field NAIS has removed; it is ignored.
	RemovedField WarningCode = "removed-field"
	// SkippedRule: an access policy rule names another cluster and cannot be expressed here.
	SkippedRule WarningCode = "skipped-rule"
	// Overridden: a user setting replaced a platform default (an env var, say).
	Overridden WarningCode = "overridden"
)

// strictCodes are the warnings strict mode turns into errors.
var strictCodes = map[WarningCode]bool{UndefinedVariable: true, UnsupportedIntegration: true}

// Warning is a problem that does not stop a render: the output is still well defined, but
// the team probably did not mean it.
type Warning struct {
	// File, Line, Column and Path locate the cause as in Error.
	File         string
	Line, Column int
	Path         string
	// Code classifies the warning; strict mode turns undefined variables and unsupported
	// integrations into errors.
	Code WarningCode
	// Msg says what is probably wrong and how to fix it.
	Msg string
}

// String formats the warning as "file:line:col: path: message".
func (w Warning) String() string {
	e := Error{File: w.File, Line: w.Line, Column: w.Column, Path: w.Path, Msg: w.Msg}
	return e.Error()
}
