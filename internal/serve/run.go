package serve

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	gosync "sync"
	"time"

	"github.com/flyt-platform/flyt/history"
)

// lifecycle holds one run's contexts. Serving (HTTP, the reporter, the config watchers) runs
// in run's context; the controller and the poller take work in work, so that shutdown can stop
// them taking work while the deploys in flight, in deploys, get a bounded time to finish; the
// leader election runs in election, which ends after the deploys.
type lifecycle struct {
	errs chan error // a part that failed and ends the run

	work     context.Context
	stopWork context.CancelFunc

	deploys    context.Context
	cutDeploys context.CancelCauseFunc

	election     context.Context
	stopElection context.CancelFunc

	reconciled      chan struct{}   // closed when reconciling has ended (or never started)
	electionStopped <-chan struct{} // closed when the election loop ends; nil without one
}

// run serves until ctx ends, a part fails or this replica loses its leadership, then shuts
// down in order.
func (s *server) run(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	l := &lifecycle{errs: make(chan error, 4), reconciled: make(chan struct{})}
	l.work, l.stopWork = context.WithCancel(context.WithoutCancel(runCtx))
	defer l.stopWork()
	l.deploys, l.cutDeploys = context.WithCancelCause(context.WithoutCancel(runCtx))
	defer l.cutDeploys(nil)
	l.election, l.stopElection = context.WithCancel(context.WithoutCancel(runCtx))
	defer l.stopElection()

	var wg gosync.WaitGroup
	wg.Go(func() {
		if err := s.httpServer.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			l.errs <- fmt.Errorf("serve HTTP: %w", err)
		}
	})
	wg.Go(func() { _ = s.reporter.Start(runCtx) })
	wg.Go(func() { _ = s.watcher.Run(runCtx, 5*time.Second) })
	wg.Go(func() { s.followConfig(runCtx) })
	s.startReconciling(l)

	p := s.watcher.Current()
	s.log.Info("flyt serving", "address", s.ln.Addr().String(), "externalURL", s.externalURL, "history", history.RedactDSN(s.dsn), "environments", len(p.Environments), "teams", len(p.Teams))
	if s.opts.Ready != nil {
		s.opts.Ready(s.ln.Addr().String())
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-l.errs:
	case <-l.electionStopped:
		// The election loop only ends by itself when this replica lost the leadership it
		// had. Stop reconciling at once: another replica may already be at it.
		runErr = ErrLeadershipLost
		s.log.Error("lost the leader lease; stopping so that a fresh start follows the new leader", "lease", s.elector.cfg.Namespace+"/"+s.elector.cfg.Name)
	}
	s.shutdown(ctx, l, runErr)
	cancel()
	wg.Wait()
	return runErr
}

// startReconciling runs the controller, the poller and the retention job. Without leader
// election this replica reconciles at once. With it, every replica serves at once and only
// the leader reconciles; its term starts with Controller.Run, which marks the deploys a dead
// leader left in flight inactive, and the poller's first sync queues every app again.
func (s *server) startReconciling(l *lifecycle) {
	reconcile := func(ctx context.Context) {
		var rg gosync.WaitGroup
		rg.Go(func() {
			if err := s.ctrl.RunDraining(ctx, l.deploys); err != nil {
				l.errs <- err
			}
		})
		rg.Go(func() { _ = s.poller.Run(ctx) })
		rg.Go(func() { retain(ctx, s.store, s.watcher.Current, s.dataDir, s.log, time.Now) })
		s.setReady(true)
		rg.Wait()
	}
	if s.elector == nil {
		go func() {
			defer close(l.reconciled)
			reconcile(l.work)
		}()
		return
	}
	s.setReady(true)
	l.electionStopped = s.elector.stopped
	go s.elector.run(l.election)
	go func() {
		defer close(l.reconciled)
		select {
		case <-s.elector.elected:
		case <-l.work.Done():
			return
		}
		if l.work.Err() == nil {
			reconcile(l.work)
		}
	}()
}

// shutdown stops taking work, lets running deploys finish within the bound, then cuts them
// off: a deploy cut off records itself inactive with the cause as its message. A leader that
// lost its Lease (runErr) cuts them off at once: another replica may already be at them. Then
// it hands over the Lease and stops serving HTTP.
func (s *server) shutdown(ctx context.Context, l *lifecycle, runErr error) {
	timeout := s.opts.ShutdownTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	s.log.Info("shutting down", "shutdownTimeout", timeout.String())
	s.setReady(false)
	l.stopWork()
	if runErr != nil {
		l.cutDeploys(fmt.Errorf("flyt shut down before this deploy finished: %w", runErr))
	}
	cutoff := time.AfterFunc(timeout, func() {
		s.log.Warn("cutting off the deploys still in flight at the shutdown timeout; they are recorded inactive", "shutdownTimeout", timeout.String())
		l.cutDeploys(fmt.Errorf("flyt shut down before this deploy finished (deploys in flight get %s at shutdown)", timeout))
	})
	defer cutoff.Stop()
	stopped := true
	select {
	case <-l.reconciled:
	case <-time.After(timeout + 15*time.Second):
		// A cut-off deploy has 10s to record itself; one that has not by now (its history
		// store hangs) is recorded inactive at the next start.
		stopped = false
		s.log.Warn("in-flight deploys did not end in time; they are recorded inactive at the next start")
	}
	if s.elector != nil {
		s.endTerm(ctx, l, stopped && runErr == nil)
	}
	shCtx, shCancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer shCancel()
	_ = s.httpServer.Shutdown(shCtx)
}

// endTerm stops the election. After a clean stop it hands the Lease over at once; otherwise it
// lets the Lease expire, so that no new leader starts while this one's deploys may still run.
func (s *server) endTerm(ctx context.Context, l *lifecycle, clean bool) {
	wasLeader := s.elector.leading()
	l.stopElection()
	<-s.elector.stopped
	if !wasLeader || !clean {
		return
	}
	if err := s.elector.release(context.WithoutCancel(ctx)); err != nil {
		s.log.Warn("release the leader lease; the next leader waits for it to expire", "error", err)
	} else {
		s.log.Info("released the leader lease")
	}
}
