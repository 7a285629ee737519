// Package render turns a team repository at a revision, plus an environment, into the exact
// Kubernetes objects to apply: it expands Handlebars templates and overlays, decodes NAIS
// Application specs strictly, applies NAIS's defaults and generates Deployments, Services,
// Ingresses, NetworkPolicies and the rest. It is pure: the same files, environment and revision
// give byte-identical output.
package render
