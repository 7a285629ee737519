// Package environments is the platform operators' side of flyt: the platform config
// (environments, teams, their repositories, server settings), its loading, validation and
// defaults, the construction of a cluster client per environment, and the policy checks the
// other packages call before they act: is this namespace the team's, is this kind allowed, is
// this integration supported, is a deploy window open.
package environments
