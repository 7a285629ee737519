package history

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"syscall"
	"testing"
	"time"
)

// benchN is how many deploys BenchmarkStore loads before it measures queries. The default keeps
// `go test -bench .` quick; the figure is -history.n=1000000.
var benchN = flag.Int("history.n", 20000, "deploys BenchmarkStore loads (the issue's target is 1000000)")

// benchStores limits BenchmarkStore to one implementation ("sqlite" or "postgres"); empty runs both.
var benchStores = flag.String("history.store", "", "run BenchmarkStore on this store only (sqlite or postgres)")

// The benchmark's shape: 2,000 apps of 100 teams, 10 environments, 5 years of history ending
// at benchEnd.
const (
	benchApps  = 2000
	benchTeams = 100
	benchEnvs  = 10
	benchYears = 5
)

var benchEnd = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// benchGen makes a plausible deploy history: deploys spread evenly over the years, each to a
// random app and environment, mostly successful, with some failures, errors and rollbacks.
type benchGen struct {
	rng   *rand.Rand
	start time.Time
	step  time.Duration
	n     int
}

func newBenchGen(n int) *benchGen {
	start := benchEnd.AddDate(-benchYears, 0, 0)
	return &benchGen{rng: rand.New(rand.NewPCG(1, 2)), start: start, step: benchEnd.Sub(start) / time.Duration(n)}
}

func (g *benchGen) next() DeployDetail {
	i := g.n
	g.n++
	app := g.rng.IntN(benchApps)
	env := g.rng.IntN(benchEnvs)
	started := g.start.Add(time.Duration(i)*g.step + time.Duration(g.rng.Int64N(int64(g.step)))).Truncate(time.Microsecond)
	d := Deploy{
		App: fmt.Sprintf("app-%04d", app), Team: fmt.Sprintf("team-%03d", app%benchTeams),
		Environment: fmt.Sprintf("env-%d", env), Cluster: fmt.Sprintf("cluster-%d", env),
		Repository: fmt.Sprintf("https://github.com/navikt/app-%04d", app), Commit: sha(i),
		CommitAuthor: "kari", CommitTime: started.Add(-time.Duration(g.rng.Int64N(int64(48 * time.Hour)))),
		CommitMessage: "a change", Images: []string{fmt.Sprintf("ghcr.io/navikt/app-%04d:%d", app, i)},
		Digest: fmt.Sprintf("sha256:%064x", i), Trigger: TriggerPush, TriggeredBy: "kari", StartedAt: started,
	}
	final := StateSuccess
	switch r := g.rng.IntN(100); {
	case r < 8:
		final = StateFailure
	case r < 11:
		final = StateError
	case r < 12:
		final = StateInactive
	case r < 13:
		d.Trigger = TriggerRollback
	case r < 30:
		d.Trigger = TriggerPromotion
	}
	return DeployDetail{
		Deploy: d,
		Statuses: []Status{
			{Time: started, State: StateQueued},
			{Time: started.Add(2 * time.Second), State: StateInProgress, Step: "apply"},
			{Time: started.Add(90 * time.Second), State: final, Step: "wait"},
		},
		Objects: []Object{
			{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: d.Team, Name: d.App, Action: ActionConfigured},
			{Version: "v1", Kind: "Service", Namespace: d.Team, Name: d.App, Action: ActionUnchanged},
		},
	}
}

func (g *benchGen) batch(n int) []DeployDetail {
	out := make([]DeployDetail, n)
	for i := range out {
		out[i] = g.next()
	}
	return out
}

// latencies records one duration per benchmark op and reports their p50 and p99.
type latencies []time.Duration

func (l *latencies) time(f func()) {
	start := time.Now()
	f()
	*l = append(*l, time.Since(start))
}

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	at := func(p int) float64 { return float64(l[(p*len(l)+99)/100-1]) / float64(time.Millisecond) }
	b.ReportMetric(at(50), "p50-ms")
	b.ReportMetric(at(99), "p99-ms")
}

// BenchmarkStore loads -history.n deploys into each store, reporting the load rate, then
// measures inserts at that size and the queries the API, UI and sync make most:
//
//	go test -run '^$' -bench BenchmarkStore -benchtime 200x -timeout 2h ./history/ -history.n=1000000
func BenchmarkStore(b *testing.B) {
	for _, st := range stores {
		if *benchStores != "" && *benchStores != st.name {
			continue
		}
		b.Run(st.name, func(b *testing.B) {
			s, err := Open(b.Context(), st.dsn(b))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			gen := newBenchGen(*benchN)
			const batch = 1000
			var loadTime time.Duration
			var loadCPU float64
			for loaded := 0; loaded < *benchN; loaded += batch {
				ds := gen.batch(min(batch, *benchN-loaded))
				start, cpu := time.Now(), cpuSeconds(b, st.name)
				if _, err := s.Import(b.Context(), ds); err != nil {
					b.Fatal(err)
				}
				loadTime += time.Since(start)
				loadCPU += cpuSeconds(b, st.name) - cpu
			}
			b.Logf("%s: loaded %d deploys (3 statuses and 2 objects each) in %s: %.0f deploys/s; %.0f deploys per CPU-second (flyt + database)",
				st.name, *benchN, loadTime.Round(time.Millisecond), float64(*benchN)/loadTime.Seconds(), float64(*benchN)/loadCPU)
			if err := analyze(b, s); err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(3, 4))
			app := func() string { return fmt.Sprintf("app-%04d", rng.IntN(benchApps)) }
			team := func() string { return fmt.Sprintf("team-%03d", rng.IntN(benchTeams)) }
			env := func() string { return fmt.Sprintf("env-%d", rng.IntN(benchEnvs)) }
			span := benchEnd.Sub(benchEnd.AddDate(-benchYears, 0, 0))

			b.Run("import-batch-1000", func(b *testing.B) {
				n := 0
				cpu := cpuSeconds(b, st.name)
				for b.Loop() {
					ds := gen.batch(batch)
					if _, err := s.Import(b.Context(), ds); err != nil {
						b.Fatal(err)
					}
					n += len(ds)
				}
				b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "deploys/s")
				b.ReportMetric(float64(n)/(cpuSeconds(b, st.name)-cpu), "deploys/cpu-s")
			})
			b.Run("create-deploy", func(b *testing.B) {
				// The sync path: one transaction per state change.
				n := 0
				cpu := cpuSeconds(b, st.name)
				for b.Loop() {
					d := gen.next().Deploy
					id, err := s.CreateDeploy(b.Context(), &d)
					if err == nil {
						_, err = s.AppendStatus(b.Context(), id, Status{State: StateInProgress, Step: "apply"})
					}
					if err == nil {
						_, err = s.AppendStatus(b.Context(), id, Status{State: StateSuccess, Step: "wait"})
					}
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
				b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "deploys/s")
				b.ReportMetric(float64(n)/(cpuSeconds(b, st.name)-cpu), "deploys/cpu-s")
			})
			b.Run("list-app", func(b *testing.B) {
				var l latencies
				for b.Loop() {
					l.time(func() {
						if _, err := s.List(b.Context(), Filter{App: app()}); err != nil {
							b.Fatal(err)
						}
					})
				}
				l.report(b)
			})
			b.Run("list-team-env-failures", func(b *testing.B) {
				var l latencies
				for b.Loop() {
					l.time(func() {
						if _, err := s.List(b.Context(), Filter{Team: team(), Environment: env(), State: StateFailure}); err != nil {
							b.Fatal(err)
						}
					})
				}
				l.report(b)
			})
			b.Run("current-team", func(b *testing.B) {
				var l latencies
				for b.Loop() {
					l.time(func() {
						cs, err := s.Current(b.Context(), Filter{Team: team()})
						if err != nil || len(cs) == 0 {
							b.Fatalf("Current: %d rows, %v", len(cs), err)
						}
					})
				}
				l.report(b)
			})
			b.Run("at-env", func(b *testing.B) {
				var l latencies
				for b.Loop() {
					at := benchEnd.Add(-time.Duration(rng.Int64N(int64(span))))
					l.time(func() {
						if _, err := s.At(b.Context(), env(), at); err != nil {
							b.Fatal(err)
						}
					})
				}
				l.report(b)
			})
			b.Run("dora-team-year", func(b *testing.B) {
				var l latencies
				for b.Loop() {
					l.time(func() {
						m, err := s.DORA(b.Context(), DORAFilter{Team: team(), Since: benchEnd.AddDate(-1, 0, 0), Until: benchEnd})
						if err != nil || m.Deploys == 0 {
							b.Fatalf("DORA: %d deploys, %v", m.Deploys, err)
						}
					})
				}
				l.report(b)
			})
		})
	}
}

// analyze refreshes the planner's statistics after a bulk load, as an operator would after an
// import (autovacuum does it on PostgreSQL in time; SQLite's PRAGMA optimize at open does too).
func analyze(b *testing.B, s Store) error {
	b.Helper()
	ss := s.(*sqlStore)
	start := time.Now()
	q := "ANALYZE"
	if ss.d.name == "postgres" {
		// Autovacuum would also set the visibility map after a bulk load, which lets
		// index-only scans skip the table; do it now rather than wait for it.
		q = "VACUUM ANALYZE"
	}
	if _, err := ss.w.ExecContext(b.Context(), q); err != nil {
		return fmt.Errorf("analyze: %w", err)
	}
	b.Logf("%s took %s", q, time.Since(start).Round(time.Millisecond))
	return nil
}

// cpuSeconds is the CPU time used so far by this process and, for PostgreSQL, by the server:
// on a shared, loaded machine, work per CPU-second says more about the store than wall time.
func cpuSeconds(b *testing.B, store string) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	sec := float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
	if store == "postgres" {
		srv, err := pg.CPUTime()
		if err != nil {
			b.Fatal(err)
		}
		sec += srv
	}
	return sec
}
