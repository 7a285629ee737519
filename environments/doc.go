// Package environments is the platform operators' side of flyt: the platform config
// (environments, teams, their repositories, server settings), its loading, validation and
// defaults, the construction of a cluster client per environment, and the policy checks the
// other packages call before they act: is this namespace the team's, is this kind allowed, is
// this integration supported, is a deploy window open, may this revision be promoted.
//
// # Loading
//
// [Load] and [Parse] read platform.yaml strictly (unknown fields are errors, with a
// suggestion), fill in defaults and check the whole file, returning every problem at once with
// file:line:column and field path (list them with yamlpos.Errors). Relative paths in the file
// are taken relative to its folder. A [Watcher] keeps the config in force and swaps in new
// versions from the file or from bytes (a platform repository); a broken version is refused
// and reported, and the previous one keeps running.
//
// # Policy
//
// The checks are pure methods on [Environment] and [Platform], so render, sync, webhook and the
// API apply the same rules: [Environment.TeamNamespace], [Environment.NamespaceAllowed],
// [Environment.KindAllowed], [Environment.IntegrationSupported], [Environment.IngressClass],
// [Environment.WindowOpen] and [Platform.TeamForRepository].
//
// # Promotion
//
// [CheckPromotion], [ShouldAutoPromote] and [Environment.Hold] decide from an injected clock
// and the state the caller read from the history store ([SourceState]); they do no I/O. A
// refusal is a [*RefusedError] with a [RefusalReason] and, when time will lift it, the moment
// it does, so held work can be released then.
//
// # Clusters
//
// [Environment.RESTConfig] connects to an environment's cluster from a kubeconfig context or
// from inside the cluster, and [ImpersonateTeam] narrows a connection to a team's service
// account so the cluster's RBAC backs flyt's own tenancy checks.
package environments
