package yamlpos

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Error is one problem in a YAML file, at a position people can jump to from their editor.
type Error struct {
	// File is the name the caller gave the input, usually its path.
	File string
	// Line and Column are 1-based; 0 means unknown (the YAML parser reports lines only).
	Line, Column int
	// Path is the field path, such as spec.ingresses[0] or metadata.labels["app.kubernetes.io/name"];
	// empty for problems with the document as a whole.
	Path string
	// Msg says what is wrong and, where it can, how to fix it.
	Msg string
	// Err is the cause, when there is one worth testing for (ErrLimit).
	Err error
}

// Unwrap returns the cause, so errors.Is(err, ErrLimit) works.
func (e *Error) Unwrap() error { return e.Err }

// Error formats the problem as "file:line:col: path: msg", leaving out what is unknown.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	if e.File != "" || e.Line > 0 {
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every problem found in one go, so that people fix them all before the next try
// instead of one per round trip. It is sorted by file and position.
type ErrorList []*Error

// Error lists each problem on its own line.
func (l ErrorList) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Unwrap exposes the single problems to errors.As and errors.Is.
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// Sort orders the problems by file, line, column and path, so output is stable.
func (l ErrorList) Sort() {
	slices.SortStableFunc(l, func(a, b *Error) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Column, b.Column),
			cmp.Compare(a.Path, b.Path),
		)
	})
}

// Err returns nil for an empty list, the problem itself when there is one, and the sorted list
// otherwise. Callers that collect problems end with `return list.Err()`.
func (l ErrorList) Err() error {
	switch len(l) {
	case 0:
		return nil
	case 1:
		return l[0]
	}
	l.Sort()
	return l
}

// Errors flattens err into the positioned problems it holds: an *Error, an ErrorList, or
// either of them wrapped (also inside errors.Join). It returns nil when err holds none, so
// callers (the CLI, the API) can render problems one by one without matching strings.
func Errors(err error) []*Error {
	if err == nil {
		return nil
	}
	var l ErrorList
	if errors.As(err, &l) {
		return l
	}
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case *Error:
			out = append(out, e)
		case ErrorList:
			out = append(out, e...)
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walk(inner)
			}
		case interface{ Unwrap() error }:
			if inner := e.Unwrap(); inner != nil {
				walk(inner)
			}
		}
	}
	walk(err)
	return out
}
