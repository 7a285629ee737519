package history

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// t0 is the suite's reference time; everything is microsecond-precise, as the stores keep it.
var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func deploy(app, team, env string, commit int, started time.Time) *Deploy {
	return &Deploy{
		App: app, Team: team, Environment: env, Cluster: env + "-cluster",
		Repository: "https://github.com/navikt/" + app, Commit: sha(commit),
		CommitAuthor: "kari", CommitTime: started.Add(-time.Hour), CommitMessage: "change " + fmt.Sprint(commit),
		Trigger: TriggerPush, TriggeredBy: "kari", StartedAt: started,
	}
}

// run creates a deploy and walks it to final (if non-empty) one minute after it started.
func run(t *testing.T, s Store, d *Deploy, final State) *Deploy {
	t.Helper()
	id := must(s.CreateDeploy(t.Context(), d))
	if final != "" {
		must(s.AppendStatus(t.Context(), id, Status{Time: d.StartedAt.Add(10 * time.Second), State: StateInProgress, Step: "apply"}))
		must(s.AppendStatus(t.Context(), id, Status{Time: d.StartedAt.Add(time.Minute), State: final, Step: "wait", Message: string(final)}))
	}
	return &must(s.Get(t.Context(), id)).Deploy
}

func TestCreateAndGet(t *testing.T) {
	forEachStore(t, func(t *testing.T, dsn string) {
		s := openStore(t, dsn)
		d := &Deploy{
			App: "tiltak", Team: "arbeid", Environment: "dev", Cluster: "dev-gcp",
			Repository: "https://github.com/navikt/tiltak", Commit: sha(1), CommitAuthor: "Kari Nordmann",
			CommitTime: t0.Add(-time.Hour), CommitMessage: "Fiks søknad\n\nmed æøå",
			Images: []string{"ghcr.io/navikt/tiltak:1", "ghcr.io/navikt/sidecar:2"},
			Digest: "sha256:abc", Trigger: TriggerPromotion, TriggeredBy: "ola", Reason: "godkjent",
			Forced: true, Warnings: []string{"spec.replicas defaulted"}, StartedAt: t0.Add(123 * time.Microsecond),
			Message: "waiting for a worker",
		}
		id := must(s.CreateDeploy(t.Context(), d))
		if id == 0 || d.ID != id || d.State != StateQueued {
			t.Fatalf("CreateDeploy set ID=%d (returned %d), State=%q; want the new ID and queued", d.ID, id, d.State)
		}
		want := &DeployDetail{
			Deploy:   *d,
			Statuses: []Status{{DeployID: id, Time: d.StartedAt, State: StateQueued, Message: "waiting for a worker"}},
			Objects:  []Object{},
		}
		got := must(s.Get(t.Context(), id))
		if diff := cmp.Diff(want, got, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Seq" }, cmp.Ignore())); diff != "" {
			t.Errorf("Get (-want +got):\n%s", diff)
		}
		if got.Statuses[0].Seq == 0 {
			t.Error("first status has no sequence number")
		}
		if _, err := s.Get(t.Context(), id+1000); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(unknown) = %v, want ErrNotFound", err)
		}
	})
}

func TestCreateDeployRejects(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Deploy)
	}{
		{"no app", func(d *Deploy) { d.App = "" }},
		{"no team", func(d *Deploy) { d.Team = "" }},
		{"no environment", func(d *Deploy) { d.Environment = "" }},
		{"unknown trigger", func(d *Deploy) { d.Trigger = "cron" }},
		{"starts finished", func(d *Deploy) { d.State = StateSuccess }},
	}
	forEachStore(t, func(t *testing.T, dsn string) {
		s := openStore(t, dsn)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				d := deploy("a", "team", "dev", 1, t0)
				tt.modify(d)
				if _, err := s.CreateDeploy(t.Context(), d); !errors.Is(err, ErrInvalid) {
					t.Errorf("CreateDeploy = %v, want ErrInvalid", err)
				}
			})
		}
		page := must(s.List(t.Context(), Filter{}))
		if len(page.Deploys) != 0 {
			t.Errorf("rejected deploys were stored: %d", len(page.Deploys))
		}
	})
}

func TestAppendStatus(t *testing.T) {
	tests := []struct {
		name      string
		states    []State
		wantErr   error // for the last append
		wantState State
		finished  bool
	}{
		{name: "runs", states: []State{StateInProgress}, wantState: StateInProgress},
		{name: "succeeds", states: []State{StateInProgress, StateSuccess}, wantState: StateSuccess, finished: true},
		{name: "fails while queued", states: []State{StateFailure}, wantState: StateFailure, finished: true},
		{name: "requeued", states: []State{StateInProgress, StateQueued, StateInProgress}, wantState: StateInProgress},
		{name: "success is final", states: []State{StateSuccess, StateInProgress}, wantErr: ErrFinished, wantState: StateSuccess, finished: true},
		{name: "error is final", states: []State{StateError, StateSuccess}, wantErr: ErrFinished, wantState: StateError, finished: true},
		{name: "inactive is final", states: []State{StateInactive, StateFailure}, wantErr: ErrFinished, wantState: StateInactive, finished: true},
		{name: "unknown state", states: []State{"done"}, wantErr: ErrInvalid, wantState: StateQueued},
	}
	forEachStore(t, func(t *testing.T, dsn string) {
		s := openStore(t, dsn)
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				d := run(t, s, deploy(fmt.Sprint("app", i), "team", "dev", i, t0), "")
				var err error
				var lastSeq int64
				var lastTime time.Time
				for j, st := range tt.states {
					at := t0.Add(time.Duration(j+1) * time.Second)
					var seq int64
					seq, err = s.AppendStatus(t.Context(), d.ID, Status{Time: at, State: st, Step: "apply", Message: fmt.Sprint("step ", j)})
					if err == nil {
						if seq <= lastSeq {
							t.Errorf("seq %d after %d: want increasing", seq, lastSeq)
						}
						lastSeq, lastTime = seq, at
					}
				}
				if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
					t.Fatalf("last AppendStatus = %v, want %v", err, tt.wantErr)
				}
				got := must(s.Get(t.Context(), d.ID))
				last := got.Statuses[len(got.Statuses)-1]
				if got.State != tt.wantState || got.State != last.State || got.Message != last.Message {
					t.Errorf("deploy state %q message %q, newest status %q %q; want %q mirrored", got.State, got.Message, last.State, last.Message, tt.wantState)
				}
				wantFinished := time.Time{}
				if tt.finished {
					wantFinished = lastTime
				}
				if !got.FinishedAt.Equal(wantFinished) {
					t.Errorf("FinishedAt = %v, want %v", got.FinishedAt, wantFinished)
				}
			})
		}
		if _, err := s.AppendStatus(t.Context(), 999999, Status{State: StateInProgress}); !errors.Is(err, ErrNotFound) {
			t.Errorf("AppendStatus(unknown deploy) = %v, want ErrNotFound", err)
		}
	})
}

func TestRecordRenderAndObjects(t *testing.T) {
	forEachStore(t, func(t *testing.T, dsn string) {
		s := openStore(t, dsn)
		d := run(t, s, deploy("app", "team", "dev", 1, t0), "")
		r := Render{Images: []string{"img:1"}, Digest: "sha256:1", Warnings: []string{"w"}}
		if err := s.RecordRender(t.Context(), d.ID, r); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordRender(t.Context(), d.ID, Render{Digest: "sha256:2"}); !errors.Is(err, ErrAlreadyRecorded) {
			t.Errorf("second RecordRender = %v, want ErrAlreadyRecorded", err)
		}
		if err := s.RecordRender(t.Context(), d.ID+99, r); !errors.Is(err, ErrNotFound) {
			t.Errorf("RecordRender(unknown) = %v, want ErrNotFound", err)
		}
		stage1 := []Object{{Version: "v1", Kind: "Namespace", Name: "team", Action: ActionUnchanged}}
		var stage2 []Object
		for i := range 450 { // more than one insert batch
			stage2 = append(stage2, Object{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "team", Name: fmt.Sprint("app-", i), Action: ActionConfigured})
		}
		for _, objs := range [][]Object{stage1, stage2} {
			if err := s.RecordObjects(t.Context(), d.ID, objs); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.RecordObjects(t.Context(), d.ID+99, stage1); !errors.Is(err, ErrNotFound) {
			t.Errorf("RecordObjects(unknown) = %v, want ErrNotFound", err)
		}
		if err := s.RecordObjects(t.Context(), d.ID, []Object{{Kind: "ConfigMap"}}); !errors.Is(err, ErrInvalid) {
			t.Errorf("RecordObjects(no name) = %v, want ErrInvalid", err)
		}
		got := must(s.Get(t.Context(), d.ID))
		if diff := cmp.Diff(append(stage1, stage2...), got.Objects); diff != "" {
			t.Errorf("objects (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(r, Render{Images: got.Images, Digest: got.Digest, Warnings: got.Warnings}); diff != "" {
			t.Errorf("render (-want +got):\n%s", diff)
		}
		// The current state (the catalog's copy of the deploy) shows the render too.
		checkCurrent(t, s, "after RecordRender")
	})
}

// listFixture makes 3 teams × 2 apps × 2 environments × 5 deploys with varied states and
// triggers, and returns them newest first.
func listFixture(t *testing.T, s Store) []Deploy {
	var all []Deploy
	n := 0
	for _, team := range []string{"arbeid", "helse", "pensjon"} {
		for a := range 2 {
			for _, env := range []string{"dev", "prod"} {
				for i := range 5 {
					n++
					d := deploy(fmt.Sprintf("%s-app%d", team, a), team, env, n, t0.Add(time.Duration(n*7%61)*time.Hour))
					if i == 3 {
						d.Trigger = TriggerRollback
					}
					final := []State{StateSuccess, StateFailure, StateSuccess, StateError, ""}[i]
					all = append(all, *run(t, s, d, final))
				}
			}
		}
	}
	// Two deploys with the same start time: the ID breaks the tie.
	all = append(all, *run(t, s, deploy("arbeid-app0", "arbeid", "dev", 999, t0.Add(5*time.Hour)), StateSuccess))
	sort.Slice(all, func(i, j int) bool {
		if !all[i].StartedAt.Equal(all[j].StartedAt) {
			return all[i].StartedAt.After(all[j].StartedAt)
		}
		return all[i].ID > all[j].ID
	})
	return all
}

func TestList(t *testing.T) {
	forEachStore(t, func(t *testing.T, dsn string) {
		s := openStore(t, dsn)
		all := listFixture(t, s)
		match := func(keep func(Deploy) bool) []Deploy {
			var out []Deploy
			for _, d := range all {
				if keep(d) {
					out = append(out, d)
				}
			}
			return out
		}
		tests := []struct {
			name   string
			filter Filter
			want   []Deploy
		}{
			{"all", Filter{}, all},
			{"team", Filter{Team: "helse"}, match(func(d Deploy) bool { return d.Team == "helse" })},
			{"app", Filter{App: "arbeid-app1"}, match(func(d Deploy) bool { return d.App == "arbeid-app1" })},
			{"app and environment", Filter{App: "arbeid-app0", Environment: "prod"}, match(func(d Deploy) bool { return d.App == "arbeid-app0" && d.Environment == "prod" })},
			{"environment and state", Filter{Environment: "dev", State: StateFailure}, match(func(d Deploy) bool { return d.Environment == "dev" && d.State == StateFailure })},
			{"queued", Filter{State: StateQueued}, match(func(d Deploy) bool { return d.State == StateQueued })},
			{"trigger", Filter{Trigger: TriggerRollback}, match(func(d Deploy) bool { return d.Trigger == TriggerRollback })},
			{"full commit", Filter{Commit: sha(7)}, match(func(d Deploy) bool { return d.Commit == sha(7) })},
			{"commit prefix", Filter{Commit: sha(7)[:12]}, match(func(d Deploy) bool { return d.Commit[:12] == sha(7)[:12] })},
			{"time range", Filter{Since: t0.Add(10 * time.Hour), Until: t0.Add(30 * time.Hour)}, match(func(d Deploy) bool {
				return !d.StartedAt.Before(t0.Add(10*time.Hour)) && d.StartedAt.Before(t0.Add(30*time.Hour))
			})},
			{"nothing", Filter{Team: "nobody"}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				// Walk every page of 7 and compare the concatenation.
				var got []Deploy
				f := tt.filter
				f.Limit = 7
				for pages := 0; ; pages++ {
					if pages > 20 {
						t.Fatal("pagination does not end")
					}
					p := must(s.List(t.Context(), f))
					if len(p.Deploys) > 7 {
						t.Fatalf("page of %d, limit 7", len(p.Deploys))
					}
					got = append(got, p.Deploys...)
					if p.Next == "" {
						break
					}
					f.Cursor = p.Next
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("List (-want +got):\n%s", diff)
				}
				var exported []Deploy
				if err := s.Export(t.Context(), tt.filter, func(d Deploy) error { exported = append(exported, d); return nil }); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.want, exported); diff != "" {
					t.Errorf("Export (-want +got):\n%s", diff)
				}
			})
		}
		for _, f := range []Filter{{Cursor: "not-a-cursor"}, {State: "done"}, {Trigger: "cron"}, {Commit: "abc"}, {Commit: "xyzxyzxyz"}} {
			if _, err := s.List(t.Context(), f); !errors.Is(err, ErrInvalid) {
				t.Errorf("List(%+v) = %v, want ErrInvalid", f, err)
			}
		}
		p := must(s.List(t.Context(), Filter{Limit: 100000}))
		if len(p.Deploys) != len(all) {
			t.Errorf("List with a huge limit returned %d of %d", len(p.Deploys), len(all))
		}
		stop := errors.New("stop")
		if err := s.Export(t.Context(), Filter{}, func(Deploy) error { return stop }); !errors.Is(err, stop) {
			t.Errorf("Export with a failing callback = %v, want it wrapped", err)
		}
	})
}

func TestCurrentAtAndSuccesses(t *testing.T) {
	forEachStore(t, func(t *testing.T, dsn string) {
		s := openStore(t, dsn)
		hour := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
		a1 := run(t, s, deploy("a", "team1", "dev", 1, hour(0)), StateSuccess)
		a2 := run(t, s, deploy("a", "team1", "dev", 2, hour(2)), StateSuccess)
		a3 := run(t, s, deploy("a", "team1", "dev", 3, hour(4)), StateFailure)
		a2again := run(t, s, deploy("a", "team1", "dev", 2, hour(5)), StateSuccess) // a redeploy of commit 2
		a4 := run(t, s, deploy("a", "team1", "dev", 4, hour(6)), "")                // running now
		b1 := run(t, s, deploy("b", "team1", "dev", 5, hour(1)), StateFailure)
		p1 := run(t, s, deploy("a", "team1", "prod", 2, hour(3)), StateSuccess)
		c1 := run(t, s, deploy("c", "team2", "dev", 6, hour(3)), StateSuccess)

		got := must(s.Current(t.Context(), Filter{Team: "team1"}))
		want := []Current{
			{App: "a", Environment: "dev", Team: "team1", Latest: a4, LastSuccess: a2again},
			{App: "a", Environment: "prod", Team: "team1", Latest: p1, LastSuccess: p1},
			{App: "b", Environment: "dev", Team: "team1", Latest: b1},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Current(team1) (-want +got):\n%s", diff)
		}
		got = must(s.Current(t.Context(), Filter{Environment: "dev"}))
		if len(got) != 3 || got[2].App != "c" || got[2].Latest.ID != c1.ID {
			t.Errorf("Current(dev) = %d rows, want a, b, c with c's deploy last", len(got))
		}

		at := []struct {
			name string
			t    time.Time
			want []Deploy
		}{
			{"before anything", hour(0), []Deploy{}},
			{"first success", hour(1), []Deploy{*a1}},
			{"failure does not count", hour(4).Add(30 * time.Minute), []Deploy{*a2, *c1}},
			{"redeploy", hour(7), []Deploy{*a2again, *c1}},
		}
		for _, tt := range at {
			t.Run("at "+tt.name, func(t *testing.T) {
				if diff := cmp.Diff(tt.want, must(s.At(t.Context(), "dev", tt.t))); diff != "" {
					t.Errorf("At(dev, %s) (-want +got):\n%s", tt.t, diff)
				}
			})
		}
		if _, err := s.At(t.Context(), "", hour(1)); !errors.Is(err, ErrInvalid) {
			t.Errorf("At without environment = %v, want ErrInvalid", err)
		}

		last := must(s.LastSuccess(t.Context(), "a", "dev"))
		if last.ID != a2again.ID {
			t.Errorf("LastSuccess(a, dev) = deploy %d, want %d", last.ID, a2again.ID)
		}
		if _, err := s.LastSuccess(t.Context(), "b", "dev"); !errors.Is(err, ErrNotFound) {
			t.Errorf("LastSuccess(b, dev) = %v, want ErrNotFound", err)
		}
		first := must(s.FirstSuccess(t.Context(), "a", "dev", sha(2)))
		if diff := cmp.Diff(a2, first); diff != "" {
			t.Errorf("FirstSuccess(a, dev, 2) (-want +got):\n%s", diff)
		}
		if _, err := s.FirstSuccess(t.Context(), "a", "dev", sha(3)); !errors.Is(err, ErrNotFound) {
			t.Errorf("FirstSuccess of a failed commit = %v, want ErrNotFound", err)
		}
		_ = a3
	})
}

func TestDesired(t *testing.T) {
	forEachStore(t, func(t *testing.T, dsn string) {
		s := openStore(t, dsn)
		if _, err := s.Desired(t.Context(), "a", "prod"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Desired before any = %v, want ErrNotFound", err)
		}
		revs := []DesiredRevision{
			{App: "a", Environment: "prod", Commit: sha(1), Trigger: TriggerPromotion, By: "ola", Reason: "release", Time: t0},
			{App: "a", Environment: "prod", Commit: sha(2), Trigger: TriggerAutoPromotion, By: "flyt", Time: t0.Add(time.Hour), DeployID: 42},
			{App: "a", Environment: "prod", Commit: sha(1), Trigger: TriggerRollback, By: "kari", Reason: "broken login", Forced: true, Time: t0.Add(2 * time.Hour)},
			{App: "b", Environment: "prod", Commit: sha(9), Trigger: TriggerManual, Time: t0},
		}
		for i := range revs {
			revs[i].ID = must(s.AppendDesired(t.Context(), revs[i]))
		}
		if diff := cmp.Diff(&revs[2], must(s.Desired(t.Context(), "a", "prod"))); diff != "" {
			t.Errorf("Desired (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]DesiredRevision{revs[2], revs[1]}, must(s.DesiredLog(t.Context(), "a", "prod", 2))); diff != "" {
			t.Errorf("DesiredLog limit 2 (-want +got):\n%s", diff)
		}
		if _, err := s.AppendDesired(t.Context(), DesiredRevision{App: "a", Environment: "prod", Trigger: TriggerManual}); !errors.Is(err, ErrInvalid) {
			t.Errorf("AppendDesired without commit = %v, want ErrInvalid", err)
		}
	})
}

// TestFreezes records freeze events and reads them back: each environment's newest event is
// its state, the log is newest first, a second store on the same database (a restarted or
// new leader) sees the same, and pruning deploys keeps them.
func TestFreezes(t *testing.T) {
	forEachStore(t, func(t *testing.T, dsn string) {
		s := openStore(t, dsn)
		if got := must(s.Freezes(t.Context())); len(got) != 0 {
			t.Errorf("Freezes before any = %+v, want none", got)
		}
		events := []Freeze{
			{Environment: "prod", Frozen: true, Reason: "julebord", By: "ola", Time: t0},
			{Environment: "dev", Frozen: true, By: "kari", Time: t0.Add(time.Minute)},
			{Environment: "prod", Frozen: false, By: "kari", Time: t0.Add(time.Hour)},
			{Environment: "prod", Frozen: true, Reason: "incident 42", By: "ola", Time: t0.Add(2 * time.Hour)},
			{Environment: "dev", Frozen: false, By: "ola", Time: t0.Add(3 * time.Hour)},
			// Event order is insertion order, even when a clock gave an earlier time.
			{Environment: "prod-fss", Frozen: true, Reason: "upgrade", By: "per", Time: t0.Add(2 * time.Hour)},
			{Environment: "prod-fss", Frozen: false, By: "per", Time: t0.Add(time.Hour)},
		}
		for i := range events {
			events[i].ID = must(s.AppendFreeze(t.Context(), events[i]))
			if i > 0 && events[i].ID <= events[i-1].ID {
				t.Fatalf("event %d got ID %d after %d: want increasing", i, events[i].ID, events[i-1].ID)
			}
		}
		want := []Freeze{events[4], events[3], events[6]}
		if diff := cmp.Diff(want, must(s.Freezes(t.Context()))); diff != "" {
			t.Errorf("Freezes (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]Freeze{events[3], events[2]}, must(s.FreezeLog(t.Context(), "prod", 2))); diff != "" {
			t.Errorf("FreezeLog limit 2 (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]Freeze{events[3], events[2], events[0]}, must(s.FreezeLog(t.Context(), "prod", 0))); diff != "" {
			t.Errorf("FreezeLog (-want +got):\n%s", diff)
		}
		if got := must(s.FreezeLog(t.Context(), "staging", 0)); len(got) != 0 {
			t.Errorf("FreezeLog of an environment never frozen = %+v, want none", got)
		}
		if _, err := s.AppendFreeze(t.Context(), Freeze{Frozen: true, By: "ola"}); !errors.Is(err, ErrInvalid) {
			t.Errorf("AppendFreeze without environment = %v, want ErrInvalid", err)
		}

		// A zero time means now.
		before := time.Now().Add(-time.Second)
		id := must(s.AppendFreeze(t.Context(), Freeze{Environment: "dev", Frozen: true, Reason: "now", By: "kari"}))
		log := must(s.FreezeLog(t.Context(), "dev", 1))
		if len(log) != 1 || log[0].ID != id || log[0].Time.Before(before) || log[0].Time.After(time.Now().Add(time.Second)) {
			t.Errorf("freeze without a time: %+v, want ID %d at about now", log, id)
		}
		events[4] = log[0]

		// Another store on the same database, as a restarted flyt or a new leader opens it,
		// and retention, which deletes old deploys, leave the state as it was.
		run(t, s, deploy("a", "team", "prod", 1, t0), StateSuccess)
		if _, err := s.Prune(t.Context(), t0.Add(24*time.Hour), nil); err != nil {
			t.Fatal(err)
		}
		s2 := openStore(t, dsn)
		if diff := cmp.Diff([]Freeze{events[4], events[3], events[6]}, must(s2.Freezes(t.Context()))); diff != "" {
			t.Errorf("Freezes from a second store after pruning (-want +got):\n%s", diff)
		}
	})
}

// TestConcurrentWritersAndEventStream has many goroutines write deploys at once while a reader
// follows the status stream: every status must arrive exactly once, in sequence order.
func TestConcurrentWritersAndEventStream(t *testing.T) {
	const writers, perWriter = 8, 15
	forEachStore(t, func(t *testing.T, dsn string) {
		s := openStore(t, dsn)
		start := must(s.LastSeq(t.Context()))
		done := make(chan struct{})
		var seen []StatusEvent
		var readErr error
		go func() {
			defer close(done)
			after := start
			for {
				evs, err := s.StatusesSince(t.Context(), after, 17)
				if err != nil {
					readErr = err
					return
				}
				for _, e := range evs {
					if e.Seq <= after {
						readErr = fmt.Errorf("seq %d after %d", e.Seq, after)
						return
					}
					after = e.Seq
				}
				seen = append(seen, evs...)
				if len(seen) >= writers*perWriter*3 {
					return
				}
				if len(evs) == 0 {
					time.Sleep(time.Millisecond)
				}
			}
		}()
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perWriter {
					d := deploy(fmt.Sprint("app", w), "team", "dev", i, t0.Add(time.Duration(i)*time.Minute))
					id, err := s.CreateDeploy(t.Context(), d)
					if err == nil {
						_, err = s.AppendStatus(t.Context(), id, Status{State: StateInProgress, Step: "apply"})
					}
					if err == nil {
						_, err = s.AppendStatus(t.Context(), id, Status{State: StateSuccess, Step: "wait"})
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Fatal("event reader did not see every status")
		}
		if readErr != nil {
			t.Fatal(readErr)
		}
		perDeploy := map[int64][]State{}
		for _, e := range seen {
			if e.App == "" || e.Team != "team" || e.Environment != "dev" || e.Commit == "" {
				t.Fatalf("event without its deploy's identity: %+v", e)
			}
			perDeploy[e.DeployID] = append(perDeploy[e.DeployID], e.State)
		}
		if len(perDeploy) != writers*perWriter {
			t.Errorf("events for %d deploys, want %d", len(perDeploy), writers*perWriter)
		}
		for id, states := range perDeploy {
			if diff := cmp.Diff([]State{StateQueued, StateInProgress, StateSuccess}, states); diff != "" {
				t.Errorf("deploy %d events (-want +got):\n%s", id, diff)
			}
		}
		if last := must(s.LastSeq(t.Context())); last != seen[len(seen)-1].Seq {
			t.Errorf("LastSeq = %d, want the last event's %d", last, seen[len(seen)-1].Seq)
		}
	})
}

func TestMarkInterrupted(t *testing.T) {
	forEachStore(t, func(t *testing.T, dsn string) {
		s := openStore(t, dsn)
		queued := run(t, s, deploy("a", "team", "dev", 1, t0), "")
		running := run(t, s, deploy("b", "team", "dev", 2, t0), "")
		must(s.AppendStatus(t.Context(), running.ID, Status{Time: t0.Add(time.Second), State: StateInProgress, Step: "wait"}))
		done := run(t, s, deploy("c", "team", "dev", 3, t0), StateSuccess)
		now := t0.Add(time.Hour)
		if n := must(s.MarkInterrupted(t.Context(), now)); n != 2 {
			t.Errorf("MarkInterrupted = %d, want 2", n)
		}
		for _, d := range []*Deploy{queued, running} {
			got := must(s.Get(t.Context(), d.ID))
			last := got.Statuses[len(got.Statuses)-1]
			if got.State != StateInactive || !got.FinishedAt.Equal(now) || last.State != StateInactive || last.Step != "interrupted" {
				t.Errorf("deploy %d after MarkInterrupted: state %s finished %v, last status %+v", d.ID, got.State, got.FinishedAt, last)
			}
		}
		if got := must(s.Get(t.Context(), done.ID)); len(got.Statuses) != 3 || got.State != StateSuccess {
			t.Errorf("finished deploy touched: %+v", got)
		}
		if n := must(s.MarkInterrupted(t.Context(), now)); n != 0 {
			t.Errorf("second MarkInterrupted = %d, want 0", n)
		}
	})
}

func TestImportAndPrune(t *testing.T) {
	forEachStore(t, func(t *testing.T, dsn string) {
		s := openStore(t, dsn)
		var in []DeployDetail
		for i := range 1200 { // spans several insert and prune batches
			d := deploy(fmt.Sprint("app", i%30), fmt.Sprint("team", i%3), []string{"dev", "prod"}[i%2], i, t0.Add(time.Duration(i)*time.Hour))
			d.Images = []string{fmt.Sprint("img:", i)}
			final := StateSuccess
			if i%7 == 0 {
				final = StateFailure
			}
			statuses := []Status{
				{Time: d.StartedAt, State: StateQueued},
				{Time: d.StartedAt.Add(time.Second), State: StateInProgress, Step: "apply"},
			}
			if i != 1199 {
				statuses = append(statuses, Status{Time: d.StartedAt.Add(time.Minute), State: final, Step: "wait", Message: "done"})
			}
			in = append(in, DeployDetail{Deploy: *d, Statuses: statuses, Objects: []Object{{Version: "v1", Kind: "ConfigMap", Namespace: "ns", Name: fmt.Sprint("cm", i), Action: ActionCreated}}})
		}
		ids := must(s.Import(t.Context(), in))
		if len(ids) != len(in) {
			t.Fatalf("Import returned %d IDs for %d deploys", len(ids), len(in))
		}
		for _, i := range []int{0, 700, 1199} {
			got := must(s.Get(t.Context(), ids[i]))
			want := in[i]
			want.ID = ids[i]
			last := want.Statuses[len(want.Statuses)-1]
			want.State, want.Message = last.State, last.Message
			if last.State.Terminal() {
				want.FinishedAt = last.Time
			}
			want.Statuses = append([]Status(nil), want.Statuses...)
			for j := range want.Statuses {
				want.Statuses[j].DeployID = ids[i]
			}
			if diff := cmp.Diff(want, *got, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Seq" }, cmp.Ignore())); diff != "" {
				t.Errorf("imported deploy %d (-want +got):\n%s", i, diff)
			}
		}
		// A new deploy after an import gets a fresh ID.
		after := run(t, s, deploy("app0", "team0", "dev", 5000, t0.Add(5000*time.Hour)), StateSuccess)
		if after.ID <= ids[len(ids)-1] {
			t.Errorf("deploy after import got ID %d, not above %d", after.ID, ids[len(ids)-1])
		}
		if _, err := s.Import(t.Context(), []DeployDetail{{Deploy: *deploy("a", "t", "dev", 1, t0)}}); !errors.Is(err, ErrInvalid) {
			t.Errorf("Import without statuses = %v, want ErrInvalid", err)
		}

		cut := t0.Add(1000 * time.Hour) // deploys 0..999 are older
		stop := errors.New("archive full")
		if _, err := s.Prune(t.Context(), cut, func(Deploy) error { return stop }); !errors.Is(err, stop) {
			t.Errorf("Prune with a failing export = %v, want it wrapped", err)
		}
		if n := len(must(s.List(t.Context(), Filter{Limit: MaxLimit, Until: cut})).Deploys); n != 1000 {
			t.Fatalf("a failed export deleted deploys: %d of 1000 left", n)
		}
		var exported []int64
		n := must(s.Prune(t.Context(), cut, func(d Deploy) error { exported = append(exported, d.ID); return nil }))
		if n != 1000 || len(exported) != 1000 {
			t.Errorf("Prune deleted %d and exported %d, want 1000", n, len(exported))
		}
		if diff := cmp.Diff(ids[:1000], exported); diff != "" {
			t.Errorf("exported IDs (-want +got):\n%s", diff)
		}
		if _, err := s.Get(t.Context(), ids[0]); !errors.Is(err, ErrNotFound) {
			t.Errorf("pruned deploy still there: %v", err)
		}
		rest := must(s.List(t.Context(), Filter{Limit: MaxLimit}))
		if len(rest.Deploys) != 201 {
			t.Errorf("%d deploys left, want 201", len(rest.Deploys))
		}
		// The status stream skips pruned deploys and still runs in order.
		evs := must(s.StatusesSince(t.Context(), 0, 10))
		if len(evs) == 0 || evs[0].DeployID != ids[1000] {
			t.Errorf("first event after prune belongs to deploy %v, want %d", evs, ids[1000])
		}
		// Unfinished deploys are never pruned, however old.
		if n := must(s.Prune(t.Context(), t0.Add(10000*time.Hour), nil)); n != 200 {
			t.Errorf("second Prune = %d, want 200 (all but the running one)", n)
		}
	})
}

func TestDORA(t *testing.T) {
	forEachStore(t, func(t *testing.T, dsn string) {
		s := openStore(t, dsn)
		day := func(d int, h float64) time.Time {
			return t0.Add(time.Duration(d)*24*time.Hour + time.Duration(h*float64(time.Hour)))
		}
		// imp records a deploy of app to env that started at start and took 30 minutes.
		var in []DeployDetail
		imp := func(team, app, env string, commit int, commitAt, start time.Time, final State, trig Trigger) {
			d := deploy(app, team, env, commit, start)
			d.CommitTime, d.Trigger = commitAt, trig
			st := []Status{{Time: start, State: StateQueued}}
			if final != StateQueued {
				st = append(st, Status{Time: start.Add(30 * time.Minute), State: final})
			}
			in = append(in, DeployDetail{Deploy: *d, Statuses: st})
		}
		// Before the window: commit 1 succeeded in dev.
		imp("t", "a", "dev", 1, day(-3, 0), day(-2, 0), StateSuccess, TriggerPush)
		// Window is days 0..10.
		imp("t", "a", "dev", 2, day(0, 0), day(0, 1.5), StateSuccess, TriggerPush)       // lead 2h
		imp("t", "a", "dev", 1, day(-3, 0), day(1, 0), StateSuccess, TriggerDrift)       // redeploy of 1: no lead time
		imp("t", "a", "dev", 3, day(2, 0), day(2, 3.5), StateFailure, TriggerPush)       // episode starts day2 04:00
		imp("t", "a", "dev", 4, day(2, 5), day(2, 5.5), StateFailure, TriggerPush)       // same episode
		imp("t", "a", "dev", 2, day(0, 0), day(2, 7.5), StateSuccess, TriggerRollback)   // restores at 08:00: 4h
		imp("t", "a", "prod", 2, day(0, 0), day(3, 3.5), StateSuccess, TriggerPromotion) // lead 3d4h
		imp("t", "a", "prod", 5, day(4, 0), day(9, 3.5), StateFailure, TriggerPush)      // episode from day9 04:00
		imp("t", "b", "dev", 6, day(5, 0), day(5, 0.5), StateError, TriggerPush)         // error: not a change failure
		imp("t", "b", "dev", 7, day(6, 0), day(6, 0.5), StateFailure, TriggerPush)       // never restored
		imp("t", "b", "dev", 8, day(6, 0), day(6, 2), StateInactive, TriggerPush)
		imp("other", "c", "dev", 9, day(1, 0), day(1, 1), StateFailure, TriggerPush) // another team
		// After the window: prod is restored at day(11, 1), 45h after the failure at day(9, 4).
		imp("t", "a", "prod", 10, day(10, 23), day(11, 0.5), StateSuccess, TriggerPush)
		must(s.Import(t.Context(), in))

		got := must(s.DORA(t.Context(), DORAFilter{Team: "t", Since: day(0, 0), Until: day(10, 0)}))
		want := DORA{
			Since: day(0, 0), Until: day(10, 0),
			Deploys: 10, Successes: 4, Failures: 4, Errors: 1, Rollbacks: 1,
			FrequencyPerDay:   0.4,
			LeadTimes:         2,
			LeadTimeP50:       2 * time.Hour,
			LeadTimeP90:       76 * time.Hour,
			LeadTimeMean:      39 * time.Hour,
			ChangeFailureRate: 5.0 / 8,
			Restores:          2,
			TimeToRestoreMean: (4*time.Hour + 45*time.Hour) / 2,
			TimeToRestoreP50:  4 * time.Hour,
			Unrestored:        1,
		}
		wantDays := make([]DayCount, 10)
		for i := range wantDays {
			wantDays[i].Day = day(i, -9) // t0 is 09:00; days start at midnight
		}
		wantDays[0] = DayCount{Day: day(0, -9), Deploys: 1, Successes: 1}
		wantDays[1] = DayCount{Day: day(1, -9), Deploys: 1, Successes: 1}
		wantDays[2] = DayCount{Day: day(2, -9), Deploys: 3, Successes: 1, Failures: 2}
		wantDays[3] = DayCount{Day: day(3, -9), Deploys: 1, Successes: 1}
		wantDays[5] = DayCount{Day: day(5, -9), Deploys: 1}
		wantDays[6] = DayCount{Day: day(6, -9), Deploys: 2, Failures: 1}
		wantDays[9] = DayCount{Day: day(9, -9), Deploys: 1, Failures: 1}
		wantDays = append(wantDays, DayCount{Day: day(10, -9)}) // the window ends at 09:00 on day 10
		want.Days = wantDays
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("DORA(team t) (-want +got):\n%s", diff)
		}

		prod := must(s.DORA(t.Context(), DORAFilter{App: "a", Environment: "prod", Since: day(0, 0), Until: day(10, 0)}))
		if prod.Deploys != 2 || prod.LeadTimes != 1 || prod.LeadTimeP50 != 76*time.Hour || prod.Restores != 1 || prod.ChangeFailureRate != 0.5 {
			t.Errorf("DORA(a, prod) = %+v", prod)
		}
		empty := must(s.DORA(t.Context(), DORAFilter{Team: "nobody", Since: day(0, 0), Until: day(10, 0)}))
		if empty.Deploys != 0 || empty.ChangeFailureRate != 0 || empty.LeadTimeP50 != 0 || len(empty.Days) != 11 {
			t.Errorf("DORA(nobody) = %+v", empty)
		}
		if _, err := s.DORA(t.Context(), DORAFilter{Since: day(5, 0), Until: day(1, 0)}); !errors.Is(err, ErrInvalid) {
			t.Errorf("DORA with an inverted window = %v, want ErrInvalid", err)
		}
	})
}

// TestRepositoryCredentialsHidden records a deploy whose repository URL carries a token, and
// writes one straight into the table as a flyt that did not hide them would have: neither
// token comes back from Get, List, Export or Prune's export.
func TestRepositoryCredentialsHidden(t *testing.T) {
	forEachStore(t, func(t *testing.T, dsn string) {
		s := openStore(t, dsn)
		now := time.Now().UTC().Truncate(time.Second)
		d := deploy("api", "team-a", "dev", 1, now.Add(-time.Hour))
		d.Repository = "https://x-access-token:ghp_newtoken@github.com/navikt/api"
		id := run(t, s, d, StateSuccess).ID

		ss := s.(*sqlStore)
		old := run(t, s, deploy("web", "team-a", "dev", 2, now.Add(-2*time.Hour)), StateSuccess).ID
		must(ss.w.ExecContext(t.Context(), ss.d.rebind(`UPDATE deploys SET repository = ? WHERE id = ?`),
			"https://kari:ghp_oldtoken@github.com/navikt/web", old))

		want := map[int64]string{id: "https://REDACTED@github.com/navikt/api", old: "https://REDACTED@github.com/navikt/web"}
		got := map[int64]string{}
		for _, i := range []int64{id, old} {
			got[i] = must(s.Get(t.Context(), i)).Repository
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Get repositories (-want +got):\n%s", diff)
		}
		got = map[int64]string{}
		for _, d := range must(s.List(t.Context(), Filter{})).Deploys {
			got[d.ID] = d.Repository
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("List repositories (-want +got):\n%s", diff)
		}
		got = map[int64]string{}
		if err := s.Export(t.Context(), Filter{}, func(d Deploy) error { got[d.ID] = d.Repository; return nil }); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Export repositories (-want +got):\n%s", diff)
		}
		got = map[int64]string{}
		if _, err := s.Prune(t.Context(), now, func(d Deploy) error { got[d.ID] = d.Repository; return nil }); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Prune export repositories (-want +got):\n%s", diff)
		}
	})
}
