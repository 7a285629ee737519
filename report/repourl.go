package report

import (
	"net/url"
	"strings"
)

// This is webhook's splitRepoURL, copied when outbound reporting left package webhook, so that
// neither package imports the other. It goes when the one repository key (internal/repourl, on
// the identity branch) lands: GitHub.Handles and repoPath then parse with it, as webhook does.

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
