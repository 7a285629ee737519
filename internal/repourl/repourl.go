// Package repourl owns the identity of a Git repository: the one [Key] every part of flyt
// compares repository addresses by (platform.yaml's ownership check, the webhook receiver's
// match of a GitHub payload, the poller's refresh of a pushed repository, the controller's
// memory of who pushed), and the one parser of an "owner/name" full name. It imports nothing
// of flyt's, so every package can use it.
//
// # What counts as the same repository
//
// A platform operator writes a repository's address one way in platform.yaml and GitHub names
// it other ways in its webhooks (clone_url, ssh_url, git_url, html_url, full_name); all of them
// must find the same repository. So for a repository on a Git host:
//
//   - The key is "host/path", such as "github.com/acme/api": the scheme (https, http, ssh, git),
//     the user ("git@", "x-access-token@") and the port (":22", ":443") are dropped, because the
//     same repository is reached through all of them.
//   - Host and path are compared in lower case: GitHub and the other hosts flyt is used with
//     treat owner and name without regard to case, so https://GitHub.com/Acme/API.git and
//     git@github.com:acme/api are one repository.
//   - A ".git" suffix and leading or trailing slashes do not matter; GitHub answers for the
//     repository with and without them.
//   - The scp-like form [user@]host:path is an SSH address when its colon comes before any
//     slash and more than one character precedes it ("C:/repos/x" is a Windows drive, not a
//     host called C).
//   - The path may have one segment (http://127.0.0.1:8080/apps, as a plain Git server serves
//     it) or several (a GitHub Enterprise or GitLab group path); [Key.OwnerName] is set only
//     when it has exactly two, the form GitHub's full_name takes.
//
// A repository on the local disk (an absolute path, one starting with ./ or ../, or a file://
// URL) keys as "file:" plus the cleaned path, and keeps its case: two directories whose names
// differ only in case are two repositories on a case-sensitive file system. Its ".git" suffix
// is kept too (apps and apps.git are two directories), while a final "/.git" element is
// dropped (a working tree and its .git folder hold one repository). Local keys never equal a
// remote key, and no webhook can name one.
//
// Anything else (another scheme, a URL with no host or no path, text with spaces) is an
// error that says what is wrong. The errors never quote the address, which may carry a
// credential: callers quote it through internal/redact.
package repourl

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// ErrNotRepository is wrapped by every error of [Parse] and [ParseFullName], so callers can
// tell a bad address from their own failures.
var ErrNotRepository = errors.New("not a repository address")

// Key is a repository's identity: two addresses of one repository give equal Keys, so a Key
// is what maps and comparisons of repositories use. The zero Key is no repository; Keys come
// from [Parse].
type Key struct{ s string }

// localPrefix starts the key of a repository on the local disk; no host name contains a colon
// followed by a slash, so a local key never equals a remote one.
const localPrefix = "file:"

// Parse reads a repository address in any of the forms flyt takes (https://, http://, ssh://,
// git://, file://, git@host:owner/name, a local path) and returns its Key. The error wraps
// [ErrNotRepository] and says what is wrong, without quoting raw.
func Parse(raw string) (Key, error) {
	a, err := parse(raw)
	if err != nil {
		return Key{}, err
	}
	if a.local {
		return Key{localPrefix + a.path}, nil
	}
	return Key{strings.ToLower(a.host + "/" + a.path)}, nil
}

// Normalize is raw's Key as a string, for maps keyed by addresses that were not necessarily
// validated. An address Parse refuses is returned trimmed, behind a "!" no Key starts with, so
// that it equals only the same spelling of itself.
func Normalize(raw string) string {
	k, err := Parse(raw)
	if err != nil {
		return "!" + strings.TrimSpace(raw)
	}
	return k.s
}

// address is a repository address taken apart as written: the host and the path without
// slashes around it or ".git" for a remote one, the cleaned path for a local one.
type address struct {
	host, path string
	local      bool
}

// parse is the one parser behind Parse and OwnerName.
func parse(raw string) (address, error) {
	s := strings.TrimSpace(raw)
	switch {
	case s == "":
		return address{}, fmt.Errorf("empty address: %w", ErrNotRepository)
	case strings.ContainsAny(s, " \t\r\n"):
		return address{}, fmt.Errorf("the address contains white space: %w", ErrNotRepository)
	case strings.Contains(s, "://"):
		return parseURL(s)
	case isSCP(s):
		host, path := splitSCP(s)
		return remote(host, path)
	case isLocalPath(s):
		return local(s), nil
	}
	return address{}, fmt.Errorf("no scheme, scp-like host: or local path; write https://host/owner/name, ssh://git@host/owner/name, git@host:owner/name or a path starting with / or ./: %w", ErrNotRepository)
}

// parseURL reads an address with a scheme.
func parseURL(s string) (address, error) {
	u, err := url.Parse(s)
	if err != nil {
		// url.Error quotes the whole URL, credentials and all; say only what is wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return address{}, fmt.Errorf("unreadable URL: %v: %w", err, ErrNotRepository)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return address{}, fmt.Errorf("file URL names host %q; write file:///path with three slashes: %w", u.Host, ErrNotRepository)
		}
		if u.Path == "" {
			return address{}, fmt.Errorf("file URL names no path: %w", ErrNotRepository)
		}
		return local(u.Path), nil
	case "https", "http", "ssh", "git":
		return remote(u.Hostname(), u.Path)
	}
	return address{}, fmt.Errorf("scheme %q is not one of https, http, ssh, git or file: %w", u.Scheme, ErrNotRepository)
}

// remote checks host and trims path of slashes around it and a ".git" suffix.
func remote(host, path string) (address, error) {
	if host == "" {
		return address{}, fmt.Errorf("the address names no host: %w", ErrNotRepository)
	}
	if i := strings.IndexFunc(host, notHostRune); i >= 0 {
		return address{}, fmt.Errorf("host %q has %q, which no host name has: %w", host, host[i], ErrNotRepository)
	}
	path = strings.Trim(strings.TrimSuffix(strings.Trim(path, "/"), ".git"), "/")
	if path == "" {
		return address{}, fmt.Errorf("the address names host %s but no repository on it; add /owner/name: %w", host, ErrNotRepository)
	}
	return address{host: host, path: path}, nil
}

// notHostRune reports a character no host name or IP address (IPv6 included) holds.
func notHostRune(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".-_:", r))
}

// local cleans the path of a repository on the local disk, keeping its case.
func local(path string) address {
	p := filepath.Clean(path)
	if filepath.Base(p) == ".git" {
		p = filepath.Dir(p)
	}
	return address{path: p, local: true}
}

// isSCP reports the scp-like form [user@]host:path: a colon before any slash, after more than
// one character (a single letter is a Windows drive).
func isSCP(s string) bool {
	colon := strings.IndexByte(s, ':')
	slash := strings.IndexByte(s, '/')
	return !strings.Contains(s, "://") && colon > 1 && (slash < 0 || colon < slash)
}

// splitSCP takes [user@]host:path apart.
func splitSCP(s string) (host, path string) {
	host, path, _ = strings.Cut(s, ":")
	if at := strings.LastIndexByte(host, '@'); at >= 0 {
		host = host[at+1:]
	}
	return host, path
}

// isLocalPath reports a path on the local disk: absolute, or relative starting ./ or ../.
func isLocalPath(s string) bool {
	return filepath.IsAbs(s) || strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../")
}

// IsPath reports whether raw is a path on the local disk rather than a URL: absolute, or
// relative starting ./ or ../. platform.yaml resolves relative ones against its own folder.
func IsPath(raw string) bool { return isLocalPath(strings.TrimSpace(raw)) }

// IsSSH reports whether raw is reached over SSH (ssh:// or the scp-like git@host:owner/name),
// so it authenticates with a key rather than a token.
func IsSSH(raw string) bool {
	s := strings.TrimSpace(raw)
	return strings.HasPrefix(s, "ssh://") || isSCP(s)
}

// String is the key as text: "github.com/owner/name" for a repository on a host,
// "file:/path" for one on the local disk.
func (k Key) String() string { return k.s }

// IsZero reports the zero Key, which no address parses to.
func (k Key) IsZero() bool { return k.s == "" }

// Local reports whether the repository is on the local disk.
func (k Key) Local() bool { return strings.HasPrefix(k.s, localPrefix) }

// Host is the repository's host in lower case, such as "github.com"; empty for a local one.
func (k Key) Host() string {
	if k.Local() {
		return ""
	}
	h, _, _ := strings.Cut(k.s, "/")
	return h
}

// OwnerName is the repository's "owner/name" in lower case, as GitHub's full_name names it;
// ok is false for a local repository and for a path of one segment or more than two.
func (k Key) OwnerName() (fullName string, ok bool) {
	if k.Local() {
		return "", false
	}
	_, path, _ := strings.Cut(k.s, "/")
	if _, _, ok := splitOwnerName(path); !ok {
		return "", false
	}
	return path, true
}

// ParseFullName reads a GitHub full name, "owner/name" (as payloads carry it and users type
// it), in lower case without a ".git" suffix or slashes around it, so that it compares with
// [Key.OwnerName]. The error wraps [ErrNotRepository].
func ParseFullName(s string) (string, error) {
	s = strings.TrimSuffix(strings.Trim(strings.TrimSpace(s), "/"), ".git")
	if strings.ContainsAny(s, ":@ \t\r\n") {
		return "", fmt.Errorf("a full name has no ':', '@' or space; write owner/name: %w", ErrNotRepository)
	}
	if _, _, ok := splitOwnerName(s); !ok {
		return "", fmt.Errorf("a full name is owner/name, two parts: %w", ErrNotRepository)
	}
	return strings.ToLower(s), nil
}

// OwnerName reads the owner and name from a repository address as it is written, case and
// all, for addressing the repository on its host's API (GitHub's /repos/{owner}/{name}). The
// error wraps [ErrNotRepository] when raw is no address or its path is not owner/name.
func OwnerName(raw string) (owner, name string, err error) {
	a, err := parse(raw)
	if err != nil {
		return "", "", err
	}
	owner, name, ok := splitOwnerName(a.path)
	if a.local || !ok {
		return "", "", fmt.Errorf("the path is not owner/name: %w", ErrNotRepository)
	}
	return owner, name, nil
}

// splitOwnerName is the one reader of "owner/name": two non-empty parts around one slash.
func splitOwnerName(s string) (owner, name string, ok bool) {
	owner, name, found := strings.Cut(s, "/")
	if !found || owner == "" || name == "" || strings.Contains(name, "/") {
		return "", "", false
	}
	return owner, name, true
}
