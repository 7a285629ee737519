package environments

import (
	"errors"
	"fmt"
	"time"
)

// RefusalReason says why a promotion or an automatic deploy may not run now.
type RefusalReason string

// Refusal reasons, in the order they are checked.
const (
	// Suspended: the target environment is suspended in platform.yaml.
	Suspended RefusalReason = "Suspended"
	// Frozen: an operator froze the target environment (flyt freeze ENV).
	Frozen RefusalReason = "Frozen"
	// NeverSucceeded: the revision never ran successfully in the source environment.
	NeverSucceeded RefusalReason = "NeverSucceeded"
	// NotSoaked: the revision has not yet run successfully in the source for the target's After.
	NotSoaked RefusalReason = "NotSoaked"
	// WindowClosed: a deny window is open, or the time is outside every allow window.
	WindowClosed RefusalReason = "WindowClosed"
)

// ErrRefused matches every *RefusedError with errors.Is.
var ErrRefused = errors.New("refused")

// ErrNotPromotable is returned for a promotion to an environment that follows a branch: such
// an environment runs what its branch says, and no force changes that.
var ErrNotPromotable = errors.New("environment is not fed by promotion")

// RefusedError is a promotion or automatic deploy that policy holds back. The CLI and API show
// Reason and Detail, and Until tells a caller when to try again (zero when waiting will not
// help, as with NeverSucceeded, Suspended or Frozen). Force overrides every reason.
type RefusedError struct {
	// Env is the target environment.
	Env string
	// Revision is the commit that was to be deployed, when known.
	Revision string
	// Reason is the kind of refusal, for callers that act on it (requeue, show as held).
	Reason RefusalReason
	// Detail says what exactly holds it, for people.
	Detail string
	// Until is when the refusal lifts by itself: the end of the soak, or when a window opens.
	Until time.Time
}

// Error prints the refusal for people.
func (e *RefusedError) Error() string {
	rev := ""
	if e.Revision != "" {
		rev = " of " + shortRev(e.Revision)
	}
	msg := fmt.Sprintf("deploy%s to %s refused (%s): %s", rev, e.Env, e.Reason, e.Detail)
	if !e.Until.IsZero() {
		msg += "; possible from " + e.Until.UTC().Format(time.RFC3339)
	}
	return msg
}

// Is makes errors.Is(err, ErrRefused) true.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

func shortRev(r string) string {
	if len(r) > 12 {
		return r[:12]
	}
	return r
}

// SourceState is what the caller read from the history store (and its runtime state) about a
// revision and the two environments involved, so the policy itself stays pure.
type SourceState struct {
	// Revision is the commit to promote.
	Revision string
	// Succeeded says whether Revision ever deployed successfully in the source environment.
	Succeeded bool
	// FirstSucceededAt is when it first did; the soak time counts from there.
	FirstSucceededAt time.Time
	// Current says whether Revision is what the source environment runs successfully now. Only
	// the current revision is promoted automatically; an older one (a rollback by promotion)
	// needs someone to ask for it.
	Current bool
	// TargetRevision is what the target environment should run now (its last promoted
	// revision), empty when nothing was promoted yet.
	TargetRevision string
	// Frozen is set while an operator has frozen the target environment (flyt freeze ENV);
	// FreezeReason is what they gave.
	Frozen       bool
	FreezeReason string
}

// CheckPromotion decides whether src.Revision may be promoted to target at now. It returns nil,
// a *RefusedError saying why not (checked in the order: suspended, frozen, never succeeded,
// not soaked, window closed), or ErrNotPromotable for a branch-fed target. force overrides
// every refusal; the caller records who forced it and why.
func CheckPromotion(now time.Time, target *Environment, src SourceState, force bool) error {
	if target.PromoteFrom == "" {
		return fmt.Errorf("promote to %s: it follows branch %q: %w", target.Name, target.Branch, ErrNotPromotable)
	}
	if force {
		return nil
	}
	refuse := func(r RefusalReason, until time.Time, format string, args ...any) error {
		return &RefusedError{Env: target.Name, Revision: src.Revision, Reason: r, Detail: fmt.Sprintf(format, args...), Until: until}
	}
	hold := target.hold(now, src.Frozen, src.FreezeReason)
	if hold != nil {
		hold.Revision = src.Revision
		if hold.Reason != WindowClosed {
			return hold
		}
	}
	// Windows are checked last: a revision that may never go, or not yet, should say so first.
	if err := checkSoak(now, target, src, refuse); err != nil {
		return err
	}
	if hold != nil {
		return hold
	}
	return nil
}

func checkSoak(now time.Time, target *Environment, src SourceState, refuse func(RefusalReason, time.Time, string, ...any) error) error {
	if !src.Succeeded {
		return refuse(NeverSucceeded, time.Time{}, "%s never ran successfully in %s; promote a revision that did", shortRev(src.Revision), target.PromoteFrom)
	}
	if soaked := src.FirstSucceededAt.Add(target.After.Duration); now.Before(soaked) {
		ran := now.Sub(src.FirstSucceededAt).Truncate(time.Second)
		return refuse(NotSoaked, soaked, "it has run in %s for %s of the required %s", target.PromoteFrom, ran, target.After.Duration)
	}
	return nil
}

// Hold says whether automatic deploys to the environment are held at now: suspended, frozen
// (frozen and reason come from the caller's runtime state), or outside its deploy windows. It
// returns nil when they may run. Held work is released at Until, if set.
func (e *Environment) Hold(now time.Time, frozen bool, freezeReason string) *RefusedError {
	return e.hold(now, frozen, freezeReason)
}

func (e *Environment) hold(now time.Time, frozen bool, freezeReason string) *RefusedError {
	if e.Suspended {
		return &RefusedError{Env: e.Name, Reason: Suspended, Detail: "the environment is suspended in the platform config"}
	}
	if frozen {
		d := "the environment is frozen"
		if freezeReason != "" {
			d += ": " + freezeReason
		}
		return &RefusedError{Env: e.Name, Reason: Frozen, Detail: d + "; flyt unfreeze " + e.Name + " lifts it"}
	}
	if open, reason, next := e.WindowOpen(now); !open {
		return &RefusedError{Env: e.Name, Reason: WindowClosed, Detail: reason, Until: next}
	}
	return nil
}

// ShouldAutoPromote says whether flyt should promote src.Revision to target by itself at now:
// the target has auto set, the revision is the one the source runs now and not yet the
// target's, and CheckPromotion allows it. When the only obstacle is time (the soak or a
// window), retryAt is when to look again.
func ShouldAutoPromote(now time.Time, target *Environment, src SourceState) (promote bool, retryAt time.Time) {
	if !target.Auto || target.PromoteFrom == "" || !src.Current || src.Revision == "" || src.Revision == src.TargetRevision {
		return false, time.Time{}
	}
	err := CheckPromotion(now, target, src, false)
	if err == nil {
		return true, time.Time{}
	}
	var r *RefusedError
	if errors.As(err, &r) {
		return false, r.Until
	}
	return false, time.Time{}
}
