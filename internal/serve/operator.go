package serve

import (
	"context"
	"errors"

	"github.com/flyt-platform/flyt/api"
	"github.com/flyt-platform/flyt/history"
	flytsync "github.com/flyt-platform/flyt/sync"
)

// operator adapts the controller to api.Operator: api declares its own wire types and error
// kinds so that it does not depend on sync, and this is the one place that knows both.
type operator struct{ ctrl *flytsync.Controller }

var _ api.Operator = operator{}

// Promote passes the request on; the two request types have the same fields, so a change to
// either one's fields fails to compile here instead of changing the wire.
func (o operator) Promote(ctx context.Context, r api.PromoteRequest) (*history.DesiredRevision, error) {
	d, err := o.ctrl.Promote(ctx, flytsync.PromoteRequest(r))
	return d, apiError(err)
}

// Rollback passes the request on, like Promote.
func (o operator) Rollback(ctx context.Context, r api.RollbackRequest) (*history.DesiredRevision, error) {
	d, err := o.ctrl.Rollback(ctx, flytsync.RollbackRequest(r))
	return d, apiError(err)
}

// Redeploy queues a deploy of what app should run in env.
func (o operator) Redeploy(app, env, by, reason string) error {
	return apiError(o.ctrl.Redeploy(app, env, by, reason))
}

// Freeze holds automatic deploys to env.
func (o operator) Freeze(ctx context.Context, env, by, reason string) error {
	return apiError(o.ctrl.Freeze(ctx, env, by, reason))
}

// Unfreeze lifts a freeze of env.
func (o operator) Unfreeze(ctx context.Context, env, by string) error {
	return apiError(o.ctrl.Unfreeze(ctx, env, by))
}

// Held lists the controller's held work in the API's types.
func (o operator) Held() []api.Held {
	held := o.ctrl.Held()
	out := make([]api.Held, 0, len(held))
	for _, h := range held {
		out = append(out, api.Held{Key: api.Key(h.Key), Commit: h.Commit, Trigger: h.Trigger, Reason: h.Reason, Until: h.Until})
	}
	return out
}

// errorKinds pairs each of sync's error kinds with the api one it is answered as.
var errorKinds = []struct{ sync, api error }{
	{flytsync.ErrUnknownEnvironment, api.ErrUnknownEnvironment},
	{flytsync.ErrUnknownApp, api.ErrUnknownApp},
	{flytsync.ErrNoRollbackTarget, api.ErrNoRollbackTarget},
}

// apiError makes err match the api error kind of the sync one it wraps, keeping its message
// (which the API answers with) and every error it wraps (environments' refusals and history's
// errors, which api reads itself).
func apiError(err error) error {
	if err == nil {
		return nil
	}
	for _, k := range errorKinds {
		if errors.Is(err, k.sync) {
			return &kindError{err: err, kind: k.api}
		}
	}
	return err
}

// kindError is err, also matching kind in errors.Is.
type kindError struct{ err, kind error }

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.err, e.kind} }
