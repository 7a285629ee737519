package history

import (
	"context"
	"time"
)

// Store is flyt's deploy history. sync writes to it (one deploy per attempt, one status row per
// state change, the objects it applied, the revisions promoted to an environment); the API, the
// CLI and the web UI read from it. Two implementations exist, chosen by the DSN given to Open:
// SQLite (embedded default) and PostgreSQL (several replicas). Both pass the same test suite.
//
// Every method is safe for concurrent use by many goroutines.
type Store interface {
	// CreateDeploy records a new deploy attempt and its first status row (StateQueued, or
	// d.State when it is set to StateInProgress) in one transaction, so a deploy is never seen
	// without a status. It fills in d.ID, d.State and d.StartedAt (now when zero) and returns
	// the new ID.
	CreateDeploy(ctx context.Context, d *Deploy) (int64, error)

	// RecordRender fills in what rendering a deploy produced (images, digest, warnings) once,
	// for deploys created before their render ran. It fails with ErrAlreadyRecorded when they
	// were already set, because a deploy record is never rewritten.
	RecordRender(ctx context.Context, deployID int64, r Render) error

	// AppendStatus appends a status row to a deploy's log and mirrors its state and message
	// (and, for terminal states, its finish time) onto the deploy in the same transaction.
	// Terminal states are final: appending to a finished deploy fails with ErrFinished, and
	// to an unknown one with ErrNotFound. It returns the row's global sequence number, the
	// event ID of the status stream. A zero s.Time means now.
	AppendStatus(ctx context.Context, deployID int64, s Status) (seq int64, err error)

	// RecordObjects appends the objects a deploy applied, pruned or skipped, with their
	// action. It may be called several times per deploy (one call per apply stage). The set
	// recorded on a deploy's last success is the inventory the next prune diffs against.
	RecordObjects(ctx context.Context, deployID int64, objs []Object) error

	// Get returns one deploy with its status log (oldest first) and objects, or ErrNotFound.
	Get(ctx context.Context, id int64) (*DeployDetail, error)

	// List returns deploys matching f, newest first (by StartedAt, then ID), one page at a
	// time: pass the returned Page.Next as f.Cursor to get the following page.
	List(ctx context.Context, f Filter) (Page, error)

	// Current returns, for every (app, environment) that matches f (Team, App, Environment;
	// other fields are ignored), its newest deploy and its last successful one: the apps ×
	// environments matrix. Rows are sorted by app, then environment.
	Current(ctx context.Context, f Filter) ([]Current, error)

	// At answers "what ran in env at time t": for each app of env, its last deploy that had
	// succeeded by t (FinishedAt ≤ t), sorted by app. Apps that had no success by t are left out.
	At(ctx context.Context, env string, t time.Time) ([]Deploy, error)

	// LastSuccess returns the newest successful deploy of app in env with its objects (the
	// inventory that the next prune diffs against), or ErrNotFound.
	LastSuccess(ctx context.Context, app, env string) (*DeployDetail, error)

	// FirstSuccess returns the first successful deploy of commit for app in env, or
	// ErrNotFound. Promotion uses it to check that a revision ever worked in the source
	// environment; lead time is measured to it.
	FirstSuccess(ctx context.Context, app, env, commit string) (*Deploy, error)

	// AppendDesired records the revision an environment fed by promotion should run for an
	// app (a promotion, rollback or manual pin). It returns the event's ID. A zero r.Time
	// means now.
	AppendDesired(ctx context.Context, r DesiredRevision) (int64, error)

	// Desired returns the newest desired revision of app in env, or ErrNotFound when none
	// was ever recorded.
	Desired(ctx context.Context, app, env string) (*DesiredRevision, error)

	// DesiredLog returns the desired-revision events of app in env, newest first, at most
	// limit of them (limit ≤ 0 means DefaultLimit).
	DesiredLog(ctx context.Context, app, env string, limit int) ([]DesiredRevision, error)

	// AppendFreeze records that an operator froze an environment (f.Frozen) or lifted its
	// freeze, with who and why, and returns the event's ID. Events are appended, never
	// changed; an environment's newest event is its freeze state. A zero f.Time means now.
	AppendFreeze(ctx context.Context, f Freeze) (int64, error)

	// Freezes returns the newest freeze event of every environment that has one (frozen or
	// not), sorted by environment: the freeze state every replica and every new leader reads.
	Freezes(ctx context.Context) ([]Freeze, error)

	// FreezeLog returns the freeze events of env, newest first, at most limit of them
	// (limit ≤ 0 means DefaultLimit).
	FreezeLog(ctx context.Context, env string, limit int) ([]Freeze, error)

	// StatusesSince returns up to limit status rows with a sequence number greater than
	// afterSeq, in sequence order, each with its deploy's identity: the event stream,
	// resumable from a client's Last-Event-ID. Sequence numbers become visible in order, so
	// a reader that resumes after the last one it saw never misses a row.
	StatusesSince(ctx context.Context, afterSeq int64, limit int) ([]StatusEvent, error)

	// LastSeq returns the highest status sequence number recorded (0 when empty), so a new
	// event-stream subscriber without Last-Event-ID can start at "now".
	LastSeq(ctx context.Context) (int64, error)

	// MarkInterrupted appends an inactive status to every deploy still queued or in
	// progress and returns how many there were. A flyt process calls it when it starts (or
	// becomes the leader), since deploys left unfinished by a dead process will never finish.
	MarkInterrupted(ctx context.Context, now time.Time) (int, error)

	// DORA computes the four DORA metrics over the deploys that match f. See DORA for the
	// definitions.
	DORA(ctx context.Context, f DORAFilter) (DORA, error)

	// Export calls fn with every deploy that matches f (Cursor and Limit are ignored),
	// newest first, streaming rather than loading them all. An error from fn stops the export
	// and is returned wrapped.
	Export(ctx context.Context, f Filter, fn func(Deploy) error) error

	// Prune deletes finished deploys that started before olderThan, with their statuses and
	// objects, for the optional retention policy. When export is not nil each deploy is
	// passed to it first, and a batch is deleted only if export accepted all of it (export and
	// delete happen batch by batch, each batch in one transaction). It returns how many
	// deploys were deleted. Desired-revision and freeze events are kept: they are small and
	// say what environments should run and whether they may deploy.
	Prune(ctx context.Context, olderThan time.Time, export func(Deploy) error) (int, error)

	// Import writes complete deploys (with their status logs and objects) as they are, in
	// one transaction, and returns their new IDs. It is for moving history between stores
	// (SQLite to PostgreSQL), restoring an export, and seeding large benchmarks; a deploy's
	// state is taken from its last status. Statuses get new sequence numbers.
	Import(ctx context.Context, ds []DeployDetail) ([]int64, error)

	// Ping checks that the database answers, for readiness probes: a replica that cannot
	// reach its history store cannot record deploys and should not take traffic.
	Ping(ctx context.Context) error

	// Close releases the database. The Store must not be used afterwards.
	Close() error
}

// DefaultLimit is the page size used when Filter.Limit (or a limit argument) is zero, and
// MaxLimit the largest accepted; larger limits are lowered to it so no request can make the
// store load an unbounded result.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// State is where a deploy is in flyt's deploy state machine:
// queued → in_progress → success | failure | error | inactive (the states NAIS users know).
type State string

// The deploy states. Success, Failure, Error and Inactive are terminal.
const (
	// StateQueued: the deploy is recorded and waits for a worker.
	StateQueued State = "queued"
	// StateInProgress: a worker is rendering, applying, pruning or waiting.
	StateInProgress State = "in_progress"
	// StateSuccess: every object was applied and became ready.
	StateSuccess State = "success"
	// StateFailure: the workload or manifest is bad (validation error, rollout failed,
	// crash loop, progress deadline exceeded). A change failure.
	StateFailure State = "failure"
	// StateError: the platform failed (cluster or Git unreachable, timeout).
	StateError State = "error"
	// StateInactive: the deploy was lost (flyt restarted mid-deploy) or superseded.
	StateInactive State = "inactive"
)

// Terminal reports whether s is final: no status may be appended after it.
func (s State) Terminal() bool {
	switch s {
	case StateSuccess, StateFailure, StateError, StateInactive:
		return true
	}
	return false
}

// Valid reports whether s is one of the deploy states, so the store refuses typos that would
// otherwise make a deploy invisible to every state filter.
func (s State) Valid() bool {
	switch s {
	case StateQueued, StateInProgress, StateSuccess, StateFailure, StateError, StateInactive:
		return true
	}
	return false
}

// Trigger says why a deploy happened; change failure rate counts rollbacks, and the UI shows it.
type Trigger string

// The deploy triggers.
const (
	TriggerPush          Trigger = "push"           // a webhook announced a new commit
	TriggerPoll          Trigger = "poll"           // polling found a new commit
	TriggerPromotion     Trigger = "promotion"      // an operator promoted a revision
	TriggerAutoPromotion Trigger = "auto-promotion" // a success upstream promoted it automatically
	TriggerRollback      Trigger = "rollback"       // a promotion of an older, once-successful revision
	TriggerManual        Trigger = "manual"         // `flyt deploy` or the API
	TriggerDrift         Trigger = "drift"          // the live objects drifted from the desired ones
)

// Action is what a deploy did to one object, as fluxcd/pkg/ssa reports it plus "skipped".
type Action string

// The object actions.
const (
	ActionCreated    Action = "created"
	ActionConfigured Action = "configured"
	ActionUnchanged  Action = "unchanged"
	ActionDeleted    Action = "deleted"
	ActionSkipped    Action = "skipped"
)

// Deploy is one attempt to bring (app, environment) to a revision: the record ARCHITECTURE.md
// invariant 3 asks for. Everything but State, Message and FinishedAt is fixed when the deploy is
// created (Images, Digest and Warnings may be filled in once later by RecordRender); those three
// mirror the newest status row.
type Deploy struct {
	// ID is assigned by the store; it grows with insertion order.
	ID          int64  `json:"id"`
	App         string `json:"app"`
	Team        string `json:"team"`
	Environment string `json:"environment"`
	// Cluster is the name of the cluster connection the environment used, so a record stays
	// meaningful after the environment is moved to another cluster.
	Cluster    string `json:"cluster"`
	Repository string `json:"repository"`
	// Commit is the full commit SHA deployed.
	Commit        string    `json:"commit"`
	CommitAuthor  string    `json:"commitAuthor,omitempty"`
	CommitTime    time.Time `json:"commitTime,omitzero"`
	CommitMessage string    `json:"commitMessage,omitempty"`
	// Images are the container image references of the rendered objects.
	Images []string `json:"images,omitempty"`
	// Digest identifies the rendered manifests: equal digests mean identical output.
	Digest  string  `json:"digest,omitempty"`
	Trigger Trigger `json:"trigger"`
	// TriggeredBy is who or what caused the deploy (a GitHub login, an operator, "flyt").
	TriggeredBy string `json:"triggeredBy,omitempty"`
	// Reason is the free text given with a promotion, rollback or manual deploy.
	Reason string `json:"reason,omitempty"`
	// Forced is set when the deploy bypassed a policy (a deploy window, a failed source).
	Forced bool `json:"forced,omitempty"`
	// State and Message mirror the newest status row.
	State   State  `json:"state"`
	Message string `json:"message,omitempty"`
	// Warnings are non-fatal render findings (deprecated fields, defaults applied).
	Warnings []string `json:"warnings,omitempty"`
	// StartedAt is when the attempt was recorded (queued).
	StartedAt time.Time `json:"startedAt"`
	// FinishedAt is when it reached a terminal state; zero while it runs.
	FinishedAt time.Time `json:"finishedAt,omitzero"`
}

// Render is what rendering a deploy's revision produced, recorded by RecordRender.
type Render struct {
	Images   []string
	Digest   string
	Warnings []string
}

// Status is one row of a deploy's append-only status log.
type Status struct {
	// Seq is the row's global sequence number, increasing across all deploys; it is the
	// event stream's event ID. Assigned by the store.
	Seq      int64     `json:"seq"`
	DeployID int64     `json:"deployId"`
	Time     time.Time `json:"time"`
	State    State     `json:"state"`
	// Step names the part of the deploy the row is about: render, images, apply, prune,
	// wait, or interrupted (set by MarkInterrupted).
	Step    string `json:"step,omitempty"`
	Message string `json:"message,omitempty"`
}

// StatusEvent is a status row with the identity of its deploy, so an event-stream consumer
// needs no second lookup.
type StatusEvent struct {
	Status
	App         string `json:"app"`
	Team        string `json:"team"`
	Environment string `json:"environment"`
	Commit      string `json:"commit"`
}

// Object is one Kubernetes object a deploy touched, and what it did to it.
type Object struct {
	Group     string `json:"group,omitempty"`
	Version   string `json:"version"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Action    Action `json:"action"`
}

// DeployDetail is a deploy with its status log (oldest first) and objects (in recorded order).
type DeployDetail struct {
	Deploy
	Statuses []Status `json:"statuses"`
	Objects  []Object `json:"objects"`
}

// DesiredRevision is an event saying which revision an environment fed by promotion should run
// for an app. Git holds the manifests; these events say which commit of them each promoted
// environment runs.
type DesiredRevision struct {
	// ID is assigned by the store.
	ID          int64     `json:"id"`
	App         string    `json:"app"`
	Environment string    `json:"environment"`
	Commit      string    `json:"commit"`
	Trigger     Trigger   `json:"trigger"`
	By          string    `json:"by,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	Forced      bool      `json:"forced,omitempty"`
	Time        time.Time `json:"time"`
	// DeployID optionally links the deploy that carried the revision out (0 when none).
	DeployID int64 `json:"deployId,omitempty"`
}

// Freeze is an event of an environment's freeze log: an operator froze it, holding its
// automatic deploys (pushes, polls, automatic promotions), or lifted the freeze. The newest
// event of an environment is its freeze state.
type Freeze struct {
	// ID is assigned by the store; it grows with insertion order, which orders the events.
	ID          int64  `json:"id"`
	Environment string `json:"environment"`
	// Frozen is true for a freeze, false for an unfreeze.
	Frozen bool      `json:"frozen"`
	Reason string    `json:"reason,omitempty"`
	By     string    `json:"by,omitempty"`
	Time   time.Time `json:"time"`
}

// Filter selects deploys for List, Current and Export. Empty fields match everything.
type Filter struct {
	Team        string
	App         string
	Environment string
	State       State
	Trigger     Trigger
	// Commit matches a full SHA or a prefix of at least 7 characters.
	Commit string
	// Since and Until bound StartedAt: Since ≤ StartedAt < Until. Zero means unbounded.
	Since time.Time
	Until time.Time
	// Limit is the page size (0 means DefaultLimit, at most MaxLimit).
	Limit int
	// Cursor is Page.Next from the previous page; empty for the first page.
	Cursor string
}

// Page is one page of List results.
type Page struct {
	Deploys []Deploy `json:"deploys"`
	// Next is an opaque cursor for the following page; empty on the last page.
	Next string `json:"next,omitempty"`
}

// Current is the current state of one (app, environment): the cell of the apps × environments
// matrix.
type Current struct {
	App         string `json:"app"`
	Environment string `json:"environment"`
	Team        string `json:"team"`
	// Latest is the newest deploy, whatever its state (it may still run).
	Latest *Deploy `json:"latest"`
	// LastSuccess is the newest successful deploy: the revision that runs. Nil if none.
	LastSuccess *Deploy `json:"lastSuccess,omitempty"`
}

// DORAFilter selects the deploys DORA metrics are computed over. Since and Until bound
// StartedAt; a zero Until means now, a zero Since means 30 days before Until.
type DORAFilter struct {
	Team        string
	App         string
	Environment string
	Since       time.Time
	Until       time.Time
}

// DORA holds the four DORA metrics over a window, with the counts behind them so a reader can
// judge how much data they rest on.
//
// Definitions (per deploy that started within the window and matches the filter):
//   - Deployment frequency: successful deploys per day of the window.
//   - Lead time for changes: for the first success of each (app, environment, commit), the time
//     from the commit to that success (FinishedAt − CommitTime). Redeploys of a commit already
//     successful in that environment are not changes and do not count; deploys without a
//     commit time are left out.
//   - Change failure rate: (deploys that failed + successful rollbacks) over (successes +
//     failures). A rollback means the change before it was bad. Errors and inactive deploys
//     are platform trouble, not change failures, and are counted apart.
//   - Time to restore: for each (app, environment), from the first failure after a success
//     (or from the first failure in the window) to the next success, which may come after the
//     window ends. Failures not yet restored are counted in Unrestored.
type DORA struct {
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// Deploys counts all deploys in the window, whatever their state.
	Deploys   int `json:"deploys"`
	Successes int `json:"successes"`
	Failures  int `json:"failures"`
	Errors    int `json:"errors"`
	Rollbacks int `json:"rollbacks"`
	// FrequencyPerDay is Successes divided by the window's length in days.
	FrequencyPerDay float64 `json:"frequencyPerDay"`
	// LeadTimes counts the changes lead time is measured over.
	LeadTimes    int           `json:"leadTimes"`
	LeadTimeP50  time.Duration `json:"leadTimeP50"`
	LeadTimeP90  time.Duration `json:"leadTimeP90"`
	LeadTimeMean time.Duration `json:"leadTimeMean"`
	// ChangeFailureRate is in [0, 1]; 0 when there were no changes.
	ChangeFailureRate float64 `json:"changeFailureRate"`
	// Restores counts the restored failure episodes time to restore is measured over.
	Restores          int           `json:"restores"`
	TimeToRestoreMean time.Duration `json:"timeToRestoreMean"`
	TimeToRestoreP50  time.Duration `json:"timeToRestoreP50"`
	// Unrestored counts failure episodes with no success after them yet.
	Unrestored int `json:"unrestored"`
	// Days has one entry per UTC day of the window, oldest first, for charts.
	Days []DayCount `json:"days"`
}

// DayCount is one UTC day of a DORA window.
type DayCount struct {
	Day       time.Time `json:"day"`
	Deploys   int       `json:"deploys"`
	Successes int       `json:"successes"`
	Failures  int       `json:"failures"`
}
