package api

import (
	"errors"
	"time"
)

// The request and response bodies below are the API's wire types: what the OpenAPI document
// describes and what `flyt` sends. They are declared here, not taken from the controller, so
// that api depends on no engine package (internal/serve adapts the controller's types to
// these), and a change inside sync cannot change the wire by accident.

// PromoteRequest is the body of POST /promote: bring an app's revision into an environment
// fed by promotion.
type PromoteRequest struct {
	App string `json:"app"`
	// To is the target environment.
	To string `json:"to"`
	// Revision is the commit to promote; empty means the one the source environment runs
	// successfully now.
	Revision string `json:"revision,omitempty"`
	// Force overrides every refusal; it is recorded with By and Reason.
	Force bool `json:"force,omitempty"`
	// By is who asks. The server sets it from UserHeader, whatever the body says.
	By     string `json:"by,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// RollbackRequest is the body of POST /rollback: bring an environment back to an earlier
// revision that succeeded there.
type RollbackRequest struct {
	App         string `json:"app"`
	Environment string `json:"environment"`
	// To is a deploy ID or a commit (full or at least 7 characters) that succeeded in the
	// environment; empty means the revision before the current one.
	To string `json:"to,omitempty"`
	// By is who asks. The server sets it from UserHeader, whatever the body says.
	By     string `json:"by,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Key names one app in one environment. Its fields have no JSON tags: the wire spells them
// App and Environment, as the OpenAPI document's Held.key does.
type Key struct {
	App         string
	Environment string
}

// Held is automatic work that waits for a deploy window, an unfreeze or an unsuspend: an
// element of GET /held and the held field of an app's status.
type Held struct {
	Key     Key       `json:"key"`
	Commit  string    `json:"commit"`
	Trigger string    `json:"trigger"`
	Reason  string    `json:"reason"`
	Until   time.Time `json:"until,omitzero"`
}

// The errors an Operator's methods wrap so that the API answers 404 or 409 (see statusOf);
// any other error is a 500. Their texts are what clients read after the context the Operator
// adds, so they say what is missing.
var (
	// ErrUnknownEnvironment: the platform config has no such environment (404).
	ErrUnknownEnvironment = errors.New("no such environment")
	// ErrUnknownApp: no watched repository has an app of that name (404).
	ErrUnknownApp = errors.New("no watched repository has this app")
	// ErrNoRollbackTarget: nothing earlier succeeded in the environment to roll back to (409).
	ErrNoRollbackTarget = errors.New("no earlier successful revision to roll back to")
)
