package webhook

import (
	"net/url"
	"strings"
)

// repoKey is a repository's identity for matching: "host/owner/name", lower case, without a
// ".git" suffix or user and port. Two spellings of the same GitHub repository (https clone URL,
// SSH URL, git:// URL, web page) give the same key.
type repoKey string

// normalizeRepoURL turns a clone URL, SSH URL, scp-like address (git@host:owner/name.git) or web
// URL into a repoKey. It reports false for anything that names no host and path, such as a
// local directory, which no webhook can ever be about.
func normalizeRepoURL(raw string) (repoKey, bool) {
	host, path, ok := splitRepoURL(raw)
	if !ok {
		return "", false
	}
	return repoKey(strings.ToLower(host + "/" + path)), true
}

// splitRepoURL parses a repository URL into its host and "owner/name" path, keeping their
// case, without user, port or ".git".
func splitRepoURL(raw string) (host, path string, ok bool) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", "", false
	}
	if i := strings.Index(s, "://"); i >= 0 {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return "", "", false
		}
		host, path = u.Hostname(), u.Path
	} else {
		// scp-like syntax: [user@]host:owner/name.git. A colon before any slash marks it.
		colon := strings.IndexByte(s, ':')
		slash := strings.IndexByte(s, '/')
		// A single letter before the colon is a Windows drive (C:/repos/x), not a host.
		if colon <= 1 || (slash >= 0 && slash < colon) {
			return "", "", false
		}
		host, path = s[:colon], s[colon+1:]
		if at := strings.LastIndexByte(host, '@'); at >= 0 {
			host = host[at+1:]
		}
	}
	path = strings.Trim(path, "/")
	path = strings.TrimSuffix(path, ".git")
	path = strings.Trim(path, "/")
	if host == "" || path == "" || !strings.Contains(path, "/") {
		return "", "", false
	}
	return host, path, true
}

// host returns the host part of the key.
func (k repoKey) host() string {
	h, _, _ := strings.Cut(string(k), "/")
	return h
}

// path returns the "owner/name" part of the key.
func (k repoKey) path() string {
	_, p, _ := strings.Cut(string(k), "/")
	return p
}

// normalizeFullName lower-cases an "owner/name" and drops a ".git" suffix; it reports false
// when s does not look like one.
func normalizeFullName(s string) (string, bool) {
	s = strings.Trim(strings.TrimSpace(s), "/")
	s = strings.TrimSuffix(s, ".git")
	owner, name, ok := strings.Cut(s, "/")
	if !ok || owner == "" || name == "" || strings.ContainsAny(s, ":@ ") {
		return "", false
	}
	return strings.ToLower(s), true
}
