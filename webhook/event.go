package webhook

import (
	"time"
)

// State is a deploy's state in flyt's state machine, named as GitHub names Deployment states
// (and as NAIS users know them).
type State string

// The deploy states (see ARCHITECTURE.md, "The deploy state machine").
const (
	StateQueued     State = "queued"
	StateInProgress State = "in_progress"
	StateSuccess    State = "success"
	StateFailure    State = "failure"
	StateError      State = "error"
	StateInactive   State = "inactive"
)

// Terminal reports whether a deploy in state s has finished; notifications go out only then.
func (s State) Terminal() bool {
	switch s {
	case StateSuccess, StateFailure, StateError, StateInactive:
		return true
	}
	return false
}

// commitState maps a deploy state to a GitHub commit status state, which knows only pending,
// success, failure and error.
func (s State) commitState() string {
	switch s {
	case StateQueued, StateInProgress:
		return "pending"
	case StateSuccess:
		return "success"
	case StateFailure:
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
	// State is the new state.
	State State
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
