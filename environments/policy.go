package environments

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
)

// ErrHostNotAllowed is wrapped by IngressClass when a host lies outside the environment's
// ingress domains; render reports it as a failure of the team's spec.
var ErrHostNotAllowed = errors.New("host not allowed")

// Environment returns the environment called name, or nil.
func (p *Platform) Environment(name string) *Environment {
	for i := range p.Environments {
		if p.Environments[i].Name == name {
			return &p.Environments[i]
		}
	}
	return nil
}

// Team returns the team called name, or nil.
func (p *Platform) Team(name string) *Team {
	for i := range p.Teams {
		if p.Teams[i].Name == name {
			return &p.Teams[i]
		}
	}
	return nil
}

// TeamForRepository finds the team a repository belongs to, and that team's entry for it, from
// any spelling of its address: the clone URL, the SSH URL (ssh:// or git@host:owner/name), a
// web URL, or just "owner/name" as webhooks name it; case and a ".git" suffix do not matter.
// It returns nils when no team owns the repository. A repository listed twice by one team (for
// two paths) returns the first entry.
func (p *Platform) TeamForRepository(repoURL string) (*Team, *Repository) {
	want, ok := repoKey(repoURL)
	fullName := ""
	if !ok {
		fullName, ok = ownerName(repoURL)
		if !ok {
			return nil, nil
		}
	}
	for i := range p.Teams {
		t := &p.Teams[i]
		for j := range t.Repositories {
			r := &t.Repositories[j]
			have, ok := repoKey(r.URL)
			if !ok {
				continue
			}
			if fullName != "" {
				if _, path, found := strings.Cut(have, "/"); found && !strings.HasPrefix(have, "file:") && path == fullName {
					return t, r
				}
				continue
			}
			if have == want {
				return t, r
			}
		}
	}
	return nil, nil
}

// Downstream returns the environments promoted from env, in config order, so a successful
// deploy in env can offer (or, with auto, start) promotions onward.
func (p *Platform) Downstream(env string) []*Environment {
	var out []*Environment
	for i := range p.Environments {
		if p.Environments[i].PromoteFrom == env && env != "" {
			out = append(out, &p.Environments[i])
		}
	}
	return out
}

// TeamNamespace is the namespace team deploys to in the environment: the team's own entry for
// it, else the environment's pattern with {{team}} and {{env}} filled in.
func (e *Environment) TeamNamespace(team *Team) string {
	if ns := team.Namespaces[e.Name]; ns != "" {
		return ns
	}
	pattern := e.Namespace
	if pattern == "" {
		pattern = DefaultNamespace
	}
	return placeholder.ReplaceAllStringFunc(pattern, func(m string) string {
		switch placeholder.FindStringSubmatch(m)[1] {
		case "team":
			return team.Name
		case "env":
			return e.Name
		}
		return m
	})
}

// NamespaceAllowed reports whether team may write objects into namespace ns in the
// environment: only its own namespace there (flyt's tenancy rule).
func (e *Environment) NamespaceAllowed(team *Team, ns string) bool {
	return ns != "" && ns == e.TeamNamespace(team)
}

// KindAllowed reports whether teams may ship raw objects of group and kind beside their
// Applications in the environment: the core group ("") is written as "Kind", others as
// "group/Kind" or "group/*". Applications themselves are always allowed; they are not raw kinds.
func (e *Environment) KindAllowed(group, kind string) bool {
	for _, k := range e.RawKinds {
		g, n, hasGroup := strings.Cut(k, "/")
		if !hasGroup {
			g, n = "", k
		}
		if g == group && (n == kind || hasGroup && n == "*") {
			return true
		}
	}
	return false
}

// IntegrationSupported reports whether the environment's operators run the integration a spec
// asks for (kafka, gcp, azure, idporten …), ignoring case.
func (e *Environment) IntegrationSupported(name string) bool {
	return slices.ContainsFunc(e.Integrations, func(s string) bool { return strings.EqualFold(s, name) })
}

// IngressClass returns the ingress class for host: that of the longest ingress domain host is
// equal to or below. When none matches, the error wraps ErrHostNotAllowed and names the domains
// the team may use.
func (e *Environment) IngressClass(host string) (class string, err error) {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	best := -1
	for i, in := range e.Ingresses {
		d := strings.ToLower(strings.TrimSuffix(in.Domain, "."))
		if d == "" || (h != d && !strings.HasSuffix(h, "."+d)) {
			continue
		}
		if best < 0 || len(d) > len(e.Ingresses[best].Domain) {
			best = i
		}
	}
	if best >= 0 {
		return e.Ingresses[best].Class, nil
	}
	if len(e.Ingresses) == 0 {
		return "", fmt.Errorf("host %q: environment %s has no ingress domains, so it serves no ingresses: %w", host, e.Name, ErrHostNotAllowed)
	}
	domains := make([]string, len(e.Ingresses))
	for i, in := range e.Ingresses {
		domains[i] = in.Domain
	}
	return "", fmt.Errorf("host %q is outside the ingress domains of environment %s; use a host ending in one of: %s: %w",
		host, e.Name, strings.Join(domains, ", "), ErrHostNotAllowed)
}

// repoKey is a repository's identity: "host/owner/name" in lower case without user, port or
// ".git" for remote URLs, "file:" plus the cleaned path for local ones. ok is false for
// anything that is no repository address.
func repoKey(raw string) (key string, ok bool) {
	s := strings.TrimSpace(raw)
	if s == "" || strings.ContainsAny(s, " \t\n") {
		return "", false
	}
	var host, path string
	switch {
	case strings.Contains(s, "://"):
		u, err := url.Parse(s)
		if err != nil {
			return "", false
		}
		switch u.Scheme {
		case "file":
			if u.Path == "" {
				return "", false
			}
			return "file:" + filepath.Clean(u.Path), true
		case "https", "http", "ssh", "git":
		default:
			return "", false
		}
		host, path = u.Hostname(), u.Path
	case isSCP(s):
		colon := strings.IndexByte(s, ':')
		host, path = s[:colon], s[colon+1:]
		if at := strings.LastIndexByte(host, '@'); at >= 0 {
			host = host[at+1:]
		}
	case isLocalPath(s):
		return "file:" + filepath.Clean(s), true
	default:
		return "", false
	}
	path = strings.Trim(path, "/")
	path = strings.Trim(strings.TrimSuffix(path, ".git"), "/")
	if host == "" || path == "" {
		return "", false
	}
	return strings.ToLower(host + "/" + path), true
}

// ownerName reads "owner/name" (a GitHub full name) in lower case without ".git".
func ownerName(s string) (string, bool) {
	s = strings.TrimSuffix(strings.Trim(strings.TrimSpace(s), "/"), ".git")
	owner, name, ok := strings.Cut(s, "/")
	if !ok || owner == "" || name == "" || strings.ContainsAny(s, ":@ ") || strings.Contains(name, "/") {
		return "", false
	}
	return strings.ToLower(s), true
}

// isSCP reports the scp-like form [user@]host:path, where a colon comes before any slash.
func isSCP(s string) bool {
	colon := strings.IndexByte(s, ':')
	slash := strings.IndexByte(s, '/')
	return !strings.Contains(s, "://") && colon > 1 && (slash < 0 || colon < slash)
}

// isSSH reports whether a repository URL is reached over SSH.
func isSSH(s string) bool {
	return strings.HasPrefix(s, "ssh://") || isSCP(s)
}

// isLocalPath reports a repository on the local disk: an absolute or ./-relative path.
func isLocalPath(s string) bool {
	return filepath.IsAbs(s) || strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../")
}
