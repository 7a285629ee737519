package source

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/flyt-platform/flyt/internal/redact"
)

// Sentinel errors, matched with errors.Is against any error this package returns. The
// controller decides with them what a failure means: ErrBranchNotFound and
// ErrRepositoryNotFound say the source is gone or empty, which must never lead to a prune
// (ARCHITECTURE.md invariant 1) and is worth reporting to the team; the others are failures
// of the platform or its credentials, retried with backoff.
var (
	// ErrBranchNotFound: the repository answered but has no such branch (it was deleted, or
	// the repository is empty).
	ErrBranchNotFound = errors.New("branch not found")
	// ErrRepositoryNotFound: the server says there is no such repository (HTTP 404, or a
	// missing local path). GitHub also answers 404 for private repositories the token cannot
	// see, so this can be a permissions problem in disguise.
	ErrRepositoryNotFound = errors.New("repository not found")
	// ErrAuth: credentials are missing, wrong or not allowed, or an SSH host key is unknown
	// or changed.
	ErrAuth = errors.New("authentication failed")
	// ErrNetwork: the server could not be reached or the connection broke; retry later.
	ErrNetwork = errors.New("network error")
	// ErrCommitNotFound: a commit asked for is not in the cache even after fetching the
	// branch (it was never fetched, or never existed).
	ErrCommitNotFound = errors.New("commit not found")
	// ErrConfig: the repository's settings cannot work (unreadable token file, SSH without
	// known_hosts, a Path that is not a directory). Retrying will not help until an
	// operator changes something.
	ErrConfig = errors.New("invalid repository configuration")
)

// Reason classifies a failure; it is also the reason label of flyt_git_fetch_errors_total.
type Reason string

// The reasons a sync can fail for. Each matches one sentinel error except ReasonOther.
const (
	ReasonBranchNotFound     Reason = "branch_not_found"
	ReasonRepositoryNotFound Reason = "repository_not_found"
	ReasonAuth               Reason = "auth"
	ReasonNetwork            Reason = "network"
	ReasonCommitNotFound     Reason = "commit_not_found"
	ReasonConfig             Reason = "config"
	ReasonCanceled           Reason = "canceled"
	ReasonOther              Reason = "other"
)

var reasonSentinel = map[Reason]error{
	ReasonBranchNotFound:     ErrBranchNotFound,
	ReasonRepositoryNotFound: ErrRepositoryNotFound,
	ReasonAuth:               ErrAuth,
	ReasonNetwork:            ErrNetwork,
	ReasonCommitNotFound:     ErrCommitNotFound,
	ReasonConfig:             ErrConfig,
}

// Error is every failure of a Cache operation: which operation, on which repository, why
// (Reason, also reachable through errors.Is with the sentinels above) and the underlying
// error. Its text never contains a token: URLs lose their user info and any secret the
// operation used is replaced by REDACTED.
type Error struct {
	// Op is the operation that failed: "ls-remote", "fetch", "read commit" …
	Op string
	// URL is the repository URL with any user info removed.
	URL string
	// Branch is the branch concerned, if any.
	Branch string
	// Reason classifies the failure.
	Reason Reason
	// Err is the underlying error.
	Err error

	secrets []string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	b.WriteString(" ")
	b.WriteString(e.URL)
	if e.Branch != "" {
		b.WriteString(" branch ")
		b.WriteString(e.Branch)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return scrub(b.String(), e.secrets)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Is matches the sentinel of e's Reason, so errors.Is(err, ErrBranchNotFound) works whatever
// the underlying error was.
func (e *Error) Is(target error) bool {
	s, ok := reasonSentinel[e.Reason]
	return ok && s == target
}

// Gone reports whether err says the repository or its branch no longer exists (or is
// empty). Such a source must not be pruned from: keep what runs and tell the team.
func Gone(err error) bool {
	return errors.Is(err, ErrBranchNotFound) || errors.Is(err, ErrRepositoryNotFound)
}

// ReasonOf returns the Reason of an error from this package, or ReasonOther.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ReasonOther
}

// newError classifies err (unless reason is given) and wraps it.
func newError(op string, repoURL, branch string, reason Reason, err error, secrets ...string) *Error {
	if reason == "" {
		reason = classify(err)
	}
	return &Error{Op: op, URL: redactURL(repoURL), Branch: branch, Reason: reason, Err: err, secrets: secrets}
}

// classify sorts go-git, network and SSH errors into reasons.
func classify(err error) Reason {
	var keyErr *knownhosts.KeyError
	var revoked *knownhosts.RevokedError
	var netErr net.Error
	var dnsErr *net.DNSError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.Canceled):
		return ReasonCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return ReasonNetwork
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return ReasonBranchNotFound
	case errors.Is(err, transport.ErrRepositoryNotFound), errors.Is(err, os.ErrNotExist):
		return ReasonRepositoryNotFound
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed),
		errors.Is(err, transport.ErrInvalidAuthMethod), errors.As(err, &keyErr), errors.As(err, &revoked):
		return ReasonAuth
	case errors.Is(err, plumbing.ErrObjectNotFound):
		return ReasonCommitNotFound
	case errors.As(err, &dnsErr), errors.As(err, &netErr), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return ReasonNetwork
	}
	// go-git's SSH transport and HTTP 5xx answers wrap no typed error; their text is all
	// there is.
	msg := err.Error()
	switch {
	case strings.Contains(msg, "unable to authenticate"), strings.Contains(msg, "no supported methods remain"):
		return ReasonAuth
	case strings.Contains(msg, "connection refused"), strings.Contains(msg, "connection reset"),
		strings.Contains(msg, "i/o timeout"), strings.Contains(msg, "EOF"),
		strings.Contains(msg, "502 Bad Gateway"), strings.Contains(msg, "503 Service Unavailable"),
		strings.Contains(msg, "504 Gateway Timeout"), strings.Contains(msg, "500 Internal Server Error"):
		return ReasonNetwork
	}
	return ReasonOther
}

// redactURL hides the credentials a URL's user info may hold; redact.URL is the one rule
// flyt shows every repository URL by.
func redactURL(raw string) string { return redact.URL(raw) }

// scrub replaces every secret in s.
func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "REDACTED")
		}
	}
	return s
}
