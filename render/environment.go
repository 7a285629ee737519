package render

import (
	"slices"

	"github.com/flyt-platform/flyt/environments"
)

// Environment is everything render reads about the target: the environment's policies and
// the team's place in it. It is plain data, built once per (environment, team) from the
// platform config, so render needs no access to the config loader or a cluster.
type Environment struct {
	// Name is the environment's name (dev, prod-gcp …); it is the {{env}} variable and picks
	// the vars files and overlays.
	Name string
	// Cluster is the cluster's name as apps see it (NAIS_CLUSTER_NAME, {{cluster}}). Access
	// policy rules naming another cluster are skipped.
	Cluster string
	// Team owns the repository; it is the {{team}} variable and the team label.
	Team string
	// Namespace is the team's namespace in this environment. Every object lands there.
	Namespace string
	// Ingresses map host domains to ingress classes; hosts outside them are refused.
	Ingresses []environments.IngressDomain
	// Integrations the environment supports (azure, gcp, kafka …). Others warn, or fail under
	// Strict.
	Integrations []string
	// RawKinds teams may ship beside Applications: "Kind" for the core group, "group/Kind" or
	// "group/*" otherwise.
	RawKinds []string
	// Image is the default image pattern, itself a template over the built-in variables.
	Image string
	// Strict turns undefined variables and unsupported integrations into errors.
	Strict bool
}

// NewEnvironment builds the render view of env for team: the team's namespace there (as
// environments.Environment.TeamNamespace says) and the cluster name (default: the
// environment's name).
func NewEnvironment(env *environments.Environment, team *environments.Team) Environment {
	ns := env.TeamNamespace(team)
	cluster := env.Cluster.Name
	if cluster == "" {
		cluster = env.Name
	}
	return Environment{
		Name:         env.Name,
		Cluster:      cluster,
		Team:         team.Name,
		Namespace:    ns,
		Ingresses:    slices.Clone(env.Ingresses),
		Integrations: slices.Clone(env.Integrations),
		RawKinds:     slices.Clone(env.RawKinds),
		Image:        env.Image,
		Strict:       env.Strict,
	}
}

// supports reports whether the environment runs the operators behind integration name.
func (e *Environment) supports(name string) bool {
	return (&environments.Environment{Integrations: e.Integrations}).IntegrationSupported(name)
}

// allowsKind reports whether teams may ship raw objects of this group and kind.
// The rules ("Kind", "group/Kind", "group/*") are the platform config's.
func (e *Environment) allowsKind(group, kind string) bool {
	return (&environments.Environment{RawKinds: e.RawKinds}).KindAllowed(group, kind)
}
