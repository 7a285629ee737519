package history

import (
	"errors"
	"fmt"
)

// Errors callers branch on with errors.Is. Store methods wrap them with the operation and the
// deploy or app they were about.
var (
	// ErrNotFound: no deploy (or desired revision, or success) matches. The API answers 404.
	ErrNotFound = errors.New("not found")
	// ErrFinished: a status was appended to a deploy already in a terminal state. Terminal
	// states are final, so a late writer (a worker that lost its lease) cannot revive a deploy.
	ErrFinished = errors.New("deploy already finished")
	// ErrAlreadyRecorded: RecordRender was called twice for one deploy.
	ErrAlreadyRecorded = errors.New("render already recorded")
	// ErrInvalid: the caller passed something the store refuses (an unknown state, a bad
	// cursor, a missing app). The API answers 400.
	ErrInvalid = errors.New("invalid argument")
	// ErrSchemaTooNew: the database was migrated by a newer flyt. Refusing to start is the
	// only safe choice: this binary would misread, or corrupt, what it does not know.
	ErrSchemaTooNew = errors.New("history database schema is newer than this flyt")
)

// SchemaTooNewError says which schema version a database has and which this binary knows. It
// matches ErrSchemaTooNew with errors.Is.
type SchemaTooNewError struct {
	// Have is the database's schema version, Know the newest this binary can migrate to.
	Have, Know int
}

// Error says what to do about it, since operators read it in a crash-looping pod's log.
func (e *SchemaTooNewError) Error() string {
	return fmt.Sprintf("history database schema is version %d but this flyt knows up to %d; upgrade flyt or point it at another database", e.Have, e.Know)
}

// Is makes errors.Is(err, ErrSchemaTooNew) true.
func (e *SchemaTooNewError) Is(target error) bool { return target == ErrSchemaTooNew }
