package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/flyt-platform/flyt/history"
)

// flytProcess is a running `flyt serve`, measured from outside as an operator would run it.
type flytProcess struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{}
}

func (b *bench) startFlyt(ctx context.Context, run, config string) (*flytProcess, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	logFile, err := os.Create(filepath.Join(b.work, "runs", run, "flyt.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(b.c.FlytBin, "serve", "--config", config, "--listen", addr, "--shutdown-timeout", "10s", "--pprof")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &flytProcess{cmd: cmd, url: "http://" + addr, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logFile.Close(); close(p.done) }()
	return p, nil
}

// cpuProfile saves flyt's CPU profile over the next seconds (served with --pprof) to file and
// returns file, or "" if it could not.
func (p *flytProcess) cpuProfile(ctx context.Context, file string, seconds int) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", p.url, seconds), nil)
	if err != nil {
		return ""
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil || resp.StatusCode != http.StatusOK {
		return ""
	}
	return file
}

// stop interrupts flyt and waits for it to drain.
func (p *flytProcess) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// syncResult is one initial sync of every app in both environments by one tool.
type syncResult struct {
	Tool string `json:"tool"`
	Run  int    `json:"run"`
	// Deploys is app-environment pairs (2N).
	Deploys int `json:"deploys"`
	// AppliedSeconds is the wall time from start until every object was applied.
	AppliedSeconds float64 `json:"appliedSeconds"`
	// AvailableSeconds is the wall time until every app-environment was Available (flyt: every
	// deploy finished as success; baselines: every Deployment Available).
	AvailableSeconds float64 `json:"availableSeconds"`
	// Requests is what the tool itself sent (flyt: its client-go metrics; direct: counted by
	// a wrapping RoundTripper; kubectl: not known, see APIServer).
	Requests   float64            `json:"requests"`
	RequestsBy map[string]float64 `json:"requestsBy,omitempty"`
	APIServer  apiserverCounts    `json:"apiserver"`
	PeakRSSMiB float64            `json:"peakRSSMiB,omitempty"`
	CPUSeconds float64            `json:"cpuSeconds,omitempty"`
	Failed     int                `json:"failed"`
	// PlaneCPU is each control-plane component's CPU seconds during the run, and MachineBusy
	// the share of the machine's CPU time that was busy (all processes).
	PlaneCPU    map[string]float64 `json:"planeCPUSeconds,omitempty"`
	MachineBusy float64            `json:"machineBusy,omitempty"`
	// StepMeans are flyt's mean seconds per deploy step (apply, wait) and per deploy, from
	// its own histograms.
	StepMeans    map[string]float64 `json:"stepMeans,omitempty"`
	Note         string             `json:"note,omitempty"`
	applied, all time.Time
}

func (r syncResult) availablePerSecond() float64 {
	if r.AvailableSeconds == 0 {
		return 0
	}
	return float64(r.Deploys) / r.AvailableSeconds
}

// flytSync starts a fresh flyt (new history, new namespaces) and measures its initial sync of
// every app. When keep is set, the process stays up and is returned for the push scenario.
func (b *bench) flytSync(ctx context.Context, i int, keep bool) (syncResult, *flytProcess, error) {
	run := fmt.Sprintf("f%d", i)
	res := syncResult{Tool: "flyt", Run: i, Deploys: 2 * b.c.N}
	if err := b.fx.createNamespaces(ctx, run); err != nil {
		return res, nil, err
	}
	config, err := b.fx.platformYAML(run, filepath.Join(b.work, "runs", run, "data"), b.c.Workers)
	if err != nil {
		return res, nil, err
	}
	before, err := apiserverMetrics(ctx, b.plane.RESTConfig())
	if err != nil {
		return res, nil, err
	}
	use := snapCPU(b.plane)
	start := time.Now()
	p, err := b.startFlyt(ctx, run, config)
	if err != nil {
		return res, nil, err
	}
	defer func() {
		if !keep {
			p.stop()
		}
	}()
	want := float64(2 * b.c.N)
	deadline := time.Now().Add(30 * time.Minute)
	// flyt's /metrics grows with the apps (a state gauge per app and environment): scraped
	// every 100 ms at N = 1000 it cost flyt more CPU than its sync. One scrape per N ms
	// (100 ms to 1 s) keeps the timing error under 0.5% of the run.
	every := time.Duration(min(max(b.c.N, 100), 1000)) * time.Millisecond
	var m samples
	for {
		select {
		case <-ctx.Done():
			return res, nil, ctx.Err()
		case <-p.done:
			return res, nil, fmt.Errorf("flyt exited during the initial sync; see %s", filepath.Join(b.work, "runs", run, "flyt.log"))
		case <-time.After(every):
		}
		if time.Now().After(deadline) {
			return res, nil, errors.New("initial sync did not finish in 30 minutes")
		}
		m, err = scrape(ctx, p.url+"/metrics")
		if err != nil {
			continue
		}
		if res.applied.IsZero() && m.sum("flyt_deploy_step_duration_seconds_count", "step", "apply") >= want {
			res.applied = time.Now()
		}
		if m.sum("flyt_deploys_total") >= want {
			res.all = time.Now()
			break
		}
	}
	if res.applied.IsZero() {
		res.applied = res.all
	}
	res.AppliedSeconds = res.applied.Sub(start).Seconds()
	res.AvailableSeconds = res.all.Sub(start).Seconds()
	res.Failed = int(want - m.sum("flyt_deploys_total", "state", "success"))
	res.Requests = m.sum("rest_client_requests_total")
	res.RequestsBy = map[string]float64{}
	for _, method := range []string{"GET", "PATCH", "POST", "PUT", "DELETE"} {
		res.RequestsBy[method] = m.sum("rest_client_requests_total", "method", method)
	}
	res.StepMeans = map[string]float64{}
	for _, step := range []string{"apply", "prune", "wait"} {
		if n := m.sum("flyt_deploy_step_duration_seconds_count", "step", step); n > 0 {
			res.StepMeans[step] = m.sum("flyt_deploy_step_duration_seconds_sum", "step", step) / n
		}
	}
	if n := m.sum("flyt_deploy_duration_seconds_count"); n > 0 {
		res.StepMeans["deploy"] = m.sum("flyt_deploy_duration_seconds_sum") / n
	}
	if n := m.sum("flyt_queue_wait_seconds_count"); n > 0 {
		res.StepMeans["queue"] = m.sum("flyt_queue_wait_seconds_sum") / n
	}
	res.PeakRSSMiB, res.CPUSeconds, _ = procStats(p.cmd.Process.Pid)
	use.since(b.plane, &res)
	after, err := apiserverMetrics(ctx, b.plane.RESTConfig())
	if err != nil {
		return res, nil, err
	}
	res.APIServer = apiserverDelta(before, after)
	if keep {
		return res, p, nil
	}
	return res, nil, nil
}

// pushResult is the push-latency scenario.
type pushResult struct {
	Pushes int `json:"pushes"`
	// Applied and Done are the seconds from sending the signed webhook until the deploy of the
	// pushed commit to dev had applied every object, and until it finished (success).
	Applied []float64 `json:"appliedSeconds"`
	Done    []float64 `json:"doneSeconds"`
	// Started is the seconds from sending the webhook until flyt created the dev deploy (its
	// start time): the fetch, the load of the repository and the wait in the queue. The rest
	// of Applied is the render, the apply and its records.
	Started []float64 `json:"startedSeconds"`
	Failed  int       `json:"failed"`
	// Profile is flyt serve's CPU profile over the first pushes (up to 60 s).
	Profile string `json:"profile,omitempty"`
}

// pushLatency pushes one app's new image tag P times, each announced by a signed GitHub push
// webhook, while flyt manages the N apps.
func (b *bench) pushLatency(ctx context.Context, p *flytProcess) (res pushResult, err error) {
	res.Pushes = b.c.Pushes
	profile := make(chan string, 1)
	go func() { profile <- p.cpuProfile(ctx, filepath.Join(b.work, "push.cpu.pprof"), 60) }()
	defer func() { res.Profile = <-profile }()
	const app = 0
	repo := b.fx.repos[app%b.c.Repos]
	before := ""
	for i := range b.c.Pushes {
		sha, err := b.fx.bump(app)
		if err != nil {
			return res, err
		}
		body, _ := json.Marshal(map[string]any{
			"ref": "refs/heads/main", "before": before, "after": sha, "created": false, "deleted": false,
			"repository":  map[string]any{"full_name": repo.Name, "clone_url": repo.URL(), "html_url": repo.URL()},
			"pusher":      map[string]any{"name": "bench"},
			"sender":      map[string]any{"login": "bench"},
			"head_commit": map[string]any{"id": sha},
		})
		before = sha
		mac := hmac.New(sha256.New, []byte(webhookSecret))
		mac.Write(body)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.url+"/webhook/github", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("flytbench-%d", i))
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return res, err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return res, fmt.Errorf("webhook answered %s", resp.Status)
		}
		applied, done, started, state, err := waitDeploy(ctx, p.url, appName(app), "dev", sha, start)
		if err != nil {
			return res, err
		}
		res.Applied = append(res.Applied, applied)
		res.Started = append(res.Started, started)
		res.Done = append(res.Done, done)
		if state != history.StateSuccess {
			res.Failed++
		}
		// Let the prod deploy of the same push finish too, so pushes do not overlap.
		if _, _, _, _, err := waitDeploy(ctx, p.url, appName(app), "prod", sha, start); err != nil {
			return res, err
		}
	}
	return res, nil
}

// waitDeploy polls flyt's API every 10 ms until the deploy of app at commit in env has applied
// its objects and until it has finished; it returns both times since start, and when the
// deploy started (by flyt's clock, the same machine's).
func waitDeploy(ctx context.Context, url, app, env, commit string, start time.Time) (applied, done, started float64, state history.State, err error) {
	deadline := time.Now().Add(5 * time.Minute)
	var id int64
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return 0, 0, 0, "", ctx.Err()
		}
		if id == 0 {
			var page history.Page
			if err := getJSON(ctx, fmt.Sprintf("%s/api/v1/deploys?app=%s&env=%s&commit=%s&limit=1", url, app, env, commit), &page); err == nil && len(page.Deploys) > 0 {
				id = page.Deploys[0].ID
			}
		}
		if id != 0 {
			var d history.DeployDetail
			if err := getJSON(ctx, fmt.Sprintf("%s/api/v1/deploys/%d", url, id), &d); err == nil {
				now := time.Since(start).Seconds()
				if applied == 0 {
					for _, s := range d.Statuses {
						if s.Step == "apply" && !strings.HasPrefix(s.Message, "applying") || s.Step == "wait" || s.State.Terminal() {
							applied = now
						}
					}
				}
				if d.State.Terminal() {
					return applied, now, d.StartedAt.Sub(start).Seconds(), d.State, nil
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0, 0, 0, "", fmt.Errorf("no finished deploy of %s to %s at %.7s in 5 minutes", app, env, commit)
}

func getJSON(ctx context.Context, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
