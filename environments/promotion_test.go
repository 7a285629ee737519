package environments

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestCheckPromotion(t *testing.T) {
	// Tuesday 2026-11-24 10:00 UTC; the weekend deny window is far away.
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	prod := func(edit func(e *Environment)) *Environment {
		e := &Environment{Name: "prod", PromoteFrom: "dev", After: Duration{10 * time.Minute},
			Windows: []Window{{Action: "deny", Start: "Fri 15:00", End: "Mon 07:00", TimeZone: "UTC"}}}
		if edit != nil {
			edit(e)
		}
		return e
	}
	soaked := SourceState{Revision: "0123456789abcdef0123", Succeeded: true, FirstSucceededAt: now.Add(-time.Hour), Current: true}
	with := func(edit func(s *SourceState)) SourceState {
		s := soaked
		edit(&s)
		return s
	}
	tests := []struct {
		name   string
		now    time.Time
		target *Environment
		src    SourceState
		force  bool
		want   *RefusedError // nil: allowed
	}{
		{name: "allowed", now: now, target: prod(nil), src: soaked},
		{
			name: "never succeeded", now: now, target: prod(nil),
			src:  with(func(s *SourceState) { s.Succeeded, s.FirstSucceededAt = false, time.Time{} }),
			want: &RefusedError{Env: "prod", Revision: soaked.Revision, Reason: NeverSucceeded, Detail: "0123456789ab never ran successfully in dev; promote a revision that did"},
		},
		{
			name: "not soaked", now: now, target: prod(nil),
			src:  with(func(s *SourceState) { s.FirstSucceededAt = now.Add(-4 * time.Minute) }),
			want: &RefusedError{Env: "prod", Revision: soaked.Revision, Reason: NotSoaked, Detail: "it has run in dev for 4m0s of the required 10m0s", Until: now.Add(6 * time.Minute)},
		},
		{
			name: "soaked exactly", now: now, target: prod(nil),
			src: with(func(s *SourceState) { s.FirstSucceededAt = now.Add(-10 * time.Minute) }),
		},
		{
			name: "window closed", now: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC), target: prod(nil), src: soaked,
			want: &RefusedError{Env: "prod", Revision: soaked.Revision, Reason: WindowClosed, Detail: "inside deny window deny Fri 15:00–Mon 07:00 UTC", Until: time.Date(2026, 11, 30, 7, 0, 0, 0, time.UTC)},
		},
		{
			name: "suspended", now: now, target: prod(func(e *Environment) { e.Suspended = true }), src: soaked,
			want: &RefusedError{Env: "prod", Revision: soaked.Revision, Reason: Suspended, Detail: "the environment is suspended in the platform config"},
		},
		{
			name: "frozen", now: now, target: prod(nil),
			src:  with(func(s *SourceState) { s.Frozen, s.FreezeReason = true, "incident 42" }),
			want: &RefusedError{Env: "prod", Revision: soaked.Revision, Reason: Frozen, Detail: "the environment is frozen: incident 42; flyt unfreeze prod lifts it"},
		},
		{
			name: "a revision that never succeeded says so before the window", now: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC), target: prod(nil),
			src:  with(func(s *SourceState) { s.Succeeded = false }),
			want: &RefusedError{Env: "prod", Revision: soaked.Revision, Reason: NeverSucceeded, Detail: "0123456789ab never ran successfully in dev; promote a revision that did"},
		},
		{
			name: "force overrides everything", now: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC), force: true,
			target: prod(func(e *Environment) { e.Suspended = true }),
			src:    SourceState{Revision: "abc", Frozen: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPromotion(tt.now, tt.target, tt.src, tt.force)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("want allowed, got %v", err)
				}
				return
			}
			var got *RefusedError
			if !errors.As(err, &got) || !errors.Is(err, ErrRefused) {
				t.Fatalf("want a *RefusedError, got %T %v", err, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestRefusedErrorMessage(t *testing.T) {
	err := &RefusedError{Env: "prod", Revision: "0123456789abcdef", Reason: NotSoaked, Detail: "it has run in dev for 4m0s of the required 10m0s",
		Until: time.Date(2026, 11, 24, 10, 6, 0, 0, time.UTC)}
	want := "deploy of 0123456789ab to prod refused (NotSoaked): it has run in dev for 4m0s of the required 10m0s; possible from 2026-11-24T10:06:00Z"
	if got := err.Error(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestPromoteToBranchEnvironment(t *testing.T) {
	dev := &Environment{Name: "dev", Branch: "main"}
	err := CheckPromotion(time.Now(), dev, SourceState{Revision: "abc", Succeeded: true}, true)
	if !errors.Is(err, ErrNotPromotable) {
		t.Fatalf("want ErrNotPromotable even with force, got %v", err)
	}
}

func TestShouldAutoPromote(t *testing.T) {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	auto := &Environment{Name: "prod", PromoteFrom: "dev", Auto: true, After: Duration{10 * time.Minute},
		Windows: []Window{{Action: "deny", Start: "Fri 15:00", End: "Mon 07:00", TimeZone: "UTC"}}}
	manual := &Environment{Name: "prod", PromoteFrom: "dev", After: Duration{10 * time.Minute}}
	ready := SourceState{Revision: "new", Succeeded: true, FirstSucceededAt: now.Add(-time.Hour), Current: true, TargetRevision: "old"}
	tests := []struct {
		name    string
		now     time.Time
		target  *Environment
		src     SourceState
		promote bool
		retryAt time.Time
	}{
		{name: "ready", now: now, target: auto, src: ready, promote: true},
		{name: "auto off", now: now, target: manual, src: ready},
		{name: "already there", now: now, target: auto, src: SourceState{Revision: "new", Succeeded: true, FirstSucceededAt: now.Add(-time.Hour), Current: true, TargetRevision: "new"}},
		{name: "not the current revision", now: now, target: auto, src: SourceState{Revision: "new", Succeeded: true, FirstSucceededAt: now.Add(-time.Hour)}},
		{
			name: "soaking", now: now, target: auto,
			src:     SourceState{Revision: "new", Succeeded: true, FirstSucceededAt: now.Add(-time.Minute), Current: true},
			retryAt: now.Add(9 * time.Minute),
		},
		{
			name: "weekend", now: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC), target: auto, src: ready,
			retryAt: time.Date(2026, 11, 30, 7, 0, 0, 0, time.UTC),
		},
		{name: "frozen", now: now, target: auto, src: SourceState{Revision: "new", Succeeded: true, FirstSucceededAt: now.Add(-time.Hour), Current: true, Frozen: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			promote, retryAt := ShouldAutoPromote(tt.now, tt.target, tt.src)
			if promote != tt.promote || !retryAt.Equal(tt.retryAt) {
				t.Errorf("ShouldAutoPromote = %v, %v; want %v, %v", promote, retryAt, tt.promote, tt.retryAt)
			}
		})
	}
}

func TestHold(t *testing.T) {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	dev := &Environment{Name: "dev", Branch: "main"}
	if h := dev.Hold(now, false, ""); h != nil {
		t.Errorf("an open environment holds nothing, got %v", h)
	}
	h := dev.Hold(now, true, "")
	if h == nil || h.Reason != Frozen || h.Detail != "the environment is frozen; flyt unfreeze dev lifts it" {
		t.Errorf("Hold(frozen) = %+v", h)
	}
}
