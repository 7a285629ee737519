package report

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
)

// ErrQueueFull is given to OnGiveUp for an event dropped because the reporter's queue was full.
var ErrQueueFull = errors.New("report queue full; event dropped")

// ReporterOptions configure a Reporter.
type ReporterOptions struct {
	// GitHub reports to GitHub Deployments; nil turns GitHub reporting off.
	GitHub *GitHub
	// Notifier sends notification webhooks when a deploy finishes; nil turns them off.
	Notifier *Notifier
	// QueueSize bounds the events waiting to be reported. When full, the oldest is dropped.
	// Default 1000.
	QueueSize int
	// OnGiveUp is told about every event flyt gave up reporting (retries exhausted, GitHub
	// refused it, queue full), so that sync can record it in the deploy's history. It must
	// return quickly: it runs on the reporter's worker. It is not called for calls cut short
	// by shutdown. May be nil.
	OnGiveUp func(ev DeployEvent, err error)
	// Log receives a line per give-up and per dropped event. Default slog.Default().
	Log *slog.Logger
	// Metrics counts dropped events. Default: unregistered collectors.
	Metrics *Metrics
}

// Reporter reports deploy events to GitHub and notification webhooks without ever blocking or
// failing a deploy: Report only queues, and one worker sends the events in the order they
// were reported, so each deploy's GitHub Deployment is created before its statuses and its
// statuses arrive in order. Run the worker with Start.
type Reporter struct {
	github   *GitHub
	notifier *Notifier
	size     int
	onGiveUp func(DeployEvent, error)
	log      *slog.Logger
	metrics  *Metrics
	wake     chan struct{}
	started  atomic.Bool

	// Guards the fields below.
	mu      sync.Mutex
	queue   []DeployEvent
	dropped []DeployEvent // told to OnGiveUp by the worker, oldest first

	// deployments maps flyt deploy ids to GitHub Deployment ids; only the worker touches it.
	deployments map[int64]int64
}

// maxTrackedDeployments bounds the deploy id map when deploys never reach a terminal state
// (flyt restarted, events dropped).
const maxTrackedDeployments = 10000

// NewReporter builds a Reporter from opts.
func NewReporter(opts ReporterOptions) *Reporter {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1000
	}
	if opts.OnGiveUp == nil {
		opts.OnGiveUp = func(DeployEvent, error) {}
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Metrics == nil {
		opts.Metrics = newMetrics()
	}
	return &Reporter{
		github:      opts.GitHub,
		notifier:    opts.Notifier,
		size:        opts.QueueSize,
		onGiveUp:    opts.OnGiveUp,
		log:         opts.Log,
		metrics:     opts.Metrics,
		wake:        make(chan struct{}, 1),
		deployments: make(map[int64]int64),
	}
}

// Report queues ev and returns at once. When the queue is full the oldest queued event is
// dropped, counted in flyt_reports_dropped_total, logged, and given to OnGiveUp.
func (r *Reporter) Report(ev DeployEvent) {
	r.mu.Lock()
	if len(r.queue) >= r.size {
		old := r.queue[0]
		r.queue = r.queue[1:]
		r.metrics.ReportsDropped.Inc()
		r.log.Warn("deploy report dropped: queue full", "deployID", old.DeployID, "app", old.App, "environment", old.Environment, "state", string(old.State))
		if len(r.dropped) < r.size {
			r.dropped = append(r.dropped, old)
		}
	}
	r.queue = append(r.queue, ev)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// ErrReporterStarted reports a second Start: one worker is what keeps each deploy's calls in order.
var ErrReporterStarted = errors.New("reporter already started")

// Start runs the worker until ctx is done; it matches controller-runtime's Runnable. Events
// still queued then are not sent: the deploys themselves are recorded in history regardless.
// A Reporter is started once.
func (r *Reporter) Start(ctx context.Context) error {
	if !r.started.CompareAndSwap(false, true) {
		return ErrReporterStarted
	}
	for {
		dropped, ev, ok := r.next()
		for _, d := range dropped {
			r.onGiveUp(d, ErrQueueFull)
		}
		if ok {
			r.process(ctx, ev)
			continue
		}
		if len(dropped) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		}
	}
}

func (r *Reporter) next() ([]DeployEvent, DeployEvent, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	dropped := r.dropped
	r.dropped = nil
	if len(r.queue) == 0 {
		return dropped, DeployEvent{}, false
	}
	ev := r.queue[0]
	r.queue[0] = DeployEvent{}
	r.queue = r.queue[1:]
	if len(r.queue) == 0 {
		r.queue = nil // let the backing array go
	}
	return dropped, ev, true
}

func (r *Reporter) process(ctx context.Context, ev DeployEvent) {
	if ctx.Err() != nil {
		return
	}
	if r.github != nil && r.github.Handles(ev.Repository) {
		if err := r.reportGitHub(ctx, ev); err != nil {
			r.giveUp(ctx, ev, err)
		}
	}
	if r.notifier != nil && ev.State.Terminal() {
		if err := r.notifier.Notify(ctx, ev); err != nil {
			r.giveUp(ctx, ev, err)
		}
	}
}

func (r *Reporter) giveUp(ctx context.Context, ev DeployEvent, err error) {
	if ctx.Err() != nil {
		// Shutting down: the call was cut short, not given up on. The history store may be
		// closing too, so OnGiveUp is not called.
		r.log.InfoContext(ctx, "deploy event not reported: shutting down", "deployID", ev.DeployID, "state", string(ev.State))
		return
	}
	r.log.WarnContext(ctx, "gave up reporting a deploy event", "deployID", ev.DeployID, "app", ev.App,
		"environment", ev.Environment, "state", string(ev.State), "error", err)
	r.onGiveUp(ev, err)
}

func (r *Reporter) reportGitHub(ctx context.Context, ev DeployEvent) error {
	id, ok := r.deployments[ev.DeployID]
	if !ok {
		var err error
		if id, err = r.github.CreateDeployment(ctx, ev); err != nil {
			return fmt.Errorf("report deploy %d: %w", ev.DeployID, err)
		}
		if len(r.deployments) >= maxTrackedDeployments {
			for k := range r.deployments {
				delete(r.deployments, k)
				break
			}
		}
		r.deployments[ev.DeployID] = id
	}
	if ev.State.Terminal() {
		delete(r.deployments, ev.DeployID)
	}
	var errs []error
	if err := r.github.CreateDeploymentStatus(ctx, id, ev); err != nil {
		errs = append(errs, err)
	}
	if r.github.commitStatuses {
		if err := r.github.CreateCommitStatus(ctx, ev); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("report deploy %d: %w", ev.DeployID, err)
	}
	return nil
}
