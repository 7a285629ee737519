package report

import (
	"time"

	"github.com/flyt-platform/flyt/history"
)

// commitState maps a deploy state to a GitHub commit status state, which knows only pending,
// success, failure and error. (Deployment statuses take flyt's states as they are: flyt names
// its states as GitHub names Deployment states.)
func commitState(s history.State) string {
	switch s {
	case history.StateQueued, history.StateInProgress:
		return "pending"
	case history.StateSuccess:
		return "success"
	case history.StateFailure:
		return "failure"
	default:
		return "error"
	}
}

// DeployEvent is one state change of one deploy, as sync records it in history. The reporter
// turns it into GitHub calls and, when the deploy has finished, notifications.
type DeployEvent struct {
	// DeployID is flyt's id of the deploy record; it makes the log_url and ties every event
	// of a deploy to one GitHub Deployment.
	DeployID int64
	// App, Team and Environment say what was deployed where.
	App         string
	Team        string
	Environment string
	// Repository is the team repository's URL as configured; its owner/name address GitHub.
	Repository string
	// Commit is the full SHA deployed; the GitHub Deployment's ref.
	Commit string
	// State is the new state, as history records it.
	State history.State
	// Message explains the state (an error, a rollout summary); cut to 140 characters for GitHub.
	Message string
	// Production marks the last environment of a promotion chain, so GitHub shows it as the
	// production environment.
	Production bool
	// EnvironmentURL is where the deployed app can be reached, when flyt knows (its ingress).
	EnvironmentURL string
	// Time is when the state changed.
	Time time.Time
}
