package sync

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"unicode/utf8"

	"github.com/go-logr/logr"

	"github.com/flyt-platform/flyt/history"
)

// panicError is a panic caught while flyt handled one (app, environment): in rendering, in
// reading the repository, in applying or waiting, in flyt's code or a library's. flyt serves
// many teams; one team's input that crashes a parser, or a bug that one app's objects hit,
// must end that app's deploy, not the process every team deploys through. The deploy records
// Error() (the panic's value, cut short, and the file when known); the stack goes to the log
// only, at error level, since it says nothing a team can act on and may be long.
type panicError struct {
	value string
	file  string
}

// panicPrefix starts every panicError's message, so a recorded deploy can be told to have
// ended in a panic (see panickedAt).
const panicPrefix = "panic: "

// maxPanicValue bounds the panic value quoted in a deploy's message.
const maxPanicValue = 300

func (e *panicError) Error() string {
	msg := panicPrefix + e.value
	if e.file != "" {
		msg += " (while reading " + e.file + ")"
	}
	return msg
}

// caught turns the value v a panic carried into a panicError and logs it, with the stack of
// the goroutine that panicked, through ctx's logger (which names the app, team and
// environment). Call it from the deferred function that recovered v: the stack then still
// shows where the panic happened.
func caught(ctx context.Context, v any, step, file string) *panicError {
	value := fmt.Sprint(v)
	if len(value) > maxPanicValue {
		cut := maxPanicValue
		for cut > 0 && !utf8.RuneStart(value[cut]) {
			cut--
		}
		value = value[:cut] + "…"
	}
	pe := &panicError{value: value, file: file}
	logr.FromContextOrDiscard(ctx).Error(pe, "recovered from a panic; the deploy ends here and the worker goes on",
		"step", step, "file", file, "stack", string(debug.Stack()))
	return pe
}

// catch, deferred, turns a panic of the function that defers it into *err: a deployError
// of state at step. recover works here because catch itself is the deferred call.
func catch(ctx context.Context, err *error, state history.State, step, file string) {
	if v := recover(); v != nil {
		*err = &deployError{state, step, caught(ctx, v, step, file)}
	}
}

// isPanic reports whether err is a caught panic. A panic is recorded once and not retried:
// it would most likely panic again, and each retry would add a record.
func isPanic(err error) bool {
	var pe *panicError
	return errors.As(err, &pe)
}

// panickedAt reports whether a deploy's message says it ended in a panic ("apply: panic: …").
func panickedAt(msg string) bool {
	_, rest, ok := strings.Cut(msg, ": ")
	return ok && strings.HasPrefix(rest, panicPrefix)
}

// recordPanic records a deploy of k that ended in error because reconciling it panicked,
// unless its newest deploy already says so for the same commit. Whatever it cannot know
// (the commit, when the panic came before it was decided) stays empty.
func (c *Controller) recordPanic(ctx context.Context, k Key, r *request, pe *panicError) {
	log := logr.FromContextOrDiscard(ctx)
	defer func() {
		if v := recover(); v != nil {
			log.Error(fmt.Errorf("panic: %v", v), "could not record a deploy that panicked", "stack", string(debug.Stack()))
		}
	}()
	app := c.appInfo(k.App)
	if app == nil {
		return
	}
	rec := &history.Deploy{App: k.App, Team: app.team, Environment: k.Environment, Repository: app.repo.URL,
		Trigger: history.TriggerDrift, TriggeredBy: "flyt", StartedAt: c.opts.Now()}
	if r != nil {
		rec.Commit, rec.Trigger, rec.TriggeredBy, rec.Reason, rec.Forced = r.commit, r.trigger, r.triggeredBy, r.reason, r.forced
	}
	if env := c.opts.Platform().Environment(k.Environment); env != nil {
		rec.Cluster = env.Cluster.Name
	}
	msg := (&deployError{history.StateError, "reconcile", pe}).Error()
	if !rec.Forced && c.failedAlready(ctx, k, rec.Commit, func(d *history.Deploy) bool {
		return d.State == history.StateError && d.Message == msg
	}) {
		return
	}
	id, err := c.opts.Store.CreateDeploy(ctx, rec)
	if err != nil {
		log.Error(err, "record a deploy that panicked")
		return
	}
	if _, err := c.opts.Store.AppendStatus(ctx, id, history.Status{State: history.StateError, Step: "reconcile", Message: msg, Time: c.opts.Now()}); err != nil {
		log.Error(err, "record a deploy that panicked")
		return
	}
	rec.ID = id
	c.deployer.notify(*rec, history.StateError, msg)
	c.opts.Metrics.setCurrent(k.App, app.team, k.Environment, string(history.StateError))
}
