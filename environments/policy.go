package environments

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/flyt-platform/flyt/internal/repourl"
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
// web URL, or just "owner/name" as webhooks name it; addresses compare by their repourl.Key,
// so case and a ".git" suffix do not matter.
// It returns nils when no team owns the repository. A repository listed twice by one team (for
// two paths) returns the first entry.
func (p *Platform) TeamForRepository(repoURL string) (*Team, *Repository) {
	want, err := repourl.Parse(repoURL)
	fullName := ""
	if err != nil {
		if fullName, err = repourl.ParseFullName(repoURL); err != nil {
			return nil, nil
		}
	}
	for i := range p.Teams {
		t := &p.Teams[i]
		for j := range t.Repositories {
			r := &t.Repositories[j]
			have, err := repourl.Parse(r.URL)
			if err != nil {
				continue
			}
			if fullName != "" {
				if n, ok := have.OwnerName(); ok && n == fullName {
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
