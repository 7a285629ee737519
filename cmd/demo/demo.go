package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	gosync "sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/examples"
	"github.com/flyt-platform/flyt/internal/serve"
	"github.com/flyt-platform/flyt/internal/testenv/controlplane"
	"github.com/flyt-platform/flyt/internal/testenv/gittest"
	"github.com/flyt-platform/flyt/render"
)

const (
	// stepTimeout bounds every wait of the walkthrough, so that an unattended run fails
	// instead of hanging.
	stepTimeout = 2 * time.Minute
	// nodes is how many simulated nodes each control plane gets.
	nodes = 2
	// operator is who promotes and rolls back, as the X-Flyt-User header says.
	operator = "demo-operator"
	// developer is who pushes to the team repository, as the push webhook says.
	developer = "alice"
	// webhookSecret signs the push webhooks the demo sends.
	webhookSecret = "flyt-demo-webhook-secret"

	// The walkthrough promotes, breaks and rolls back this app of this team.
	showcaseTeam = "team-a"
	showcaseApp  = "frontend"
	showcaseFile = "frontend/app.yaml"
	showcaseV1   = "ghcr.io/team-a/frontend:1.0.0"
	showcaseV2   = "ghcr.io/team-a/frontend:1.1.0"
	// showcaseBad contains "crashloop", so the simulated pods never become ready.
	showcaseBad = "ghcr.io/team-a/frontend:1.2.0-crashloop"
)

// demo is one run of the walkthrough.
type demo struct {
	out   io.Writer
	start time.Time
	tmp   string

	platform *environments.Platform
	first    *environments.Environment // fed by a branch
	second   *environments.Environment // promoted from first
	planes   map[string]*controlplane.Plane
	git      *gittest.Server
	repos    []*teamRepo

	url    string // flyt's API and UI
	client *http.Client
}

// teamRepo is an example repository served by the demo's Git server.
type teamRepo struct {
	team  *environments.Team
	dir   string // in examples.FS
	files map[string]string
	repo  *gittest.Repo
	head  string
	apps  []*render.App
}

// run runs the demo until ctx ends, or, when exitEarly, until the walkthrough is done.
func run(ctx context.Context, out io.Writer, exitEarly bool) (retErr error) {
	d := &demo{out: out, start: time.Now(), client: &http.Client{Timeout: 30 * time.Second}, planes: map[string]*controlplane.Plane{}}
	tmp, err := os.MkdirTemp("", "flyt-demo-")
	if err != nil {
		return fmt.Errorf("create the demo's folder: %w", err)
	}
	d.tmp = tmp
	logFile := filepath.Join(tmp, "flyt.log")
	defer func() {
		// flyt's last words explain a failed step; after Ctrl-C they only say it stopped.
		if retErr != nil && ctx.Err() == nil {
			d.printLogTail(logFile, 20)
		}
		if err := os.RemoveAll(tmp); err != nil {
			retErr = errors.Join(retErr, err)
		}
		d.say("✓", "cleaned up: control planes stopped, %s removed", tmp)
	}()
	d.say("▶", "flyt demo: dev and prod on two local control planes; working folder %s", tmp)

	if err := d.loadPlatform(); err != nil {
		return err
	}
	if err := d.startPlanes(ctx); err != nil {
		return err
	}
	defer d.stopPlanes()
	if err := d.prepareClusters(ctx); err != nil {
		return err
	}
	if err := d.serveRepositories(); err != nil {
		return err
	}
	defer d.git.Close()

	config, err := d.writePlatform()
	if err != nil {
		return err
	}
	stopFlyt, err := d.startFlyt(ctx, config, logFile)
	if err != nil {
		return err
	}
	defer stopFlyt()

	if err := d.walkthrough(ctx); err != nil {
		return err
	}
	if exitEarly {
		d.say("✓", "done (DEMO_EXIT=1), %s after start", time.Since(d.start).Round(100*time.Millisecond))
		return nil
	}
	d.say("▶", "flyt keeps running: browse %s/ (logs in %s). Ctrl-C stops it and cleans up.", d.url, logFile)
	<-ctx.Done()
	fmt.Fprintln(d.out)
	d.say("▶", "stopping")
	return nil
}

// say prints one line: wall clock, time since start, a mark (▶ step, ✓ done, ✗ failed,
// · detail) and the message.
func (d *demo) say(mark, format string, args ...any) {
	fmt.Fprintf(d.out, "%s %7s  %s %s\n", time.Now().Format("15:04:05"),
		fmt.Sprintf("+%.1fs", time.Since(d.start).Seconds()), mark, fmt.Sprintf(format, args...))
}

// loadPlatform reads the example platform config and picks the two environments the
// walkthrough uses: the one fed by a branch and the one promoted from it.
func (d *demo) loadPlatform() error {
	data, err := fs.ReadFile(examples.FS, examples.PlatformFile)
	if err != nil {
		return fmt.Errorf("read the example platform config: %w", err)
	}
	p, err := environments.Parse(path.Join("examples", examples.PlatformFile), data)
	if err != nil {
		return fmt.Errorf("the example platform config: %w", err)
	}
	d.platform = p
	for i := range p.Environments {
		e := &p.Environments[i]
		if d.first == nil && e.Branch != "" {
			d.first = e
		}
	}
	for i := range p.Environments {
		if e := &p.Environments[i]; d.first != nil && e.PromoteFrom == d.first.Name {
			d.second = e
			break
		}
	}
	if d.first == nil || d.second == nil {
		return errors.New("the example platform config needs an environment fed by a branch and one promoted from it")
	}
	if p.Team(showcaseTeam) == nil {
		return fmt.Errorf("the example platform config has no team %s", showcaseTeam)
	}
	return nil
}

// startPlanes starts one control plane per environment, at once.
func (d *demo) startPlanes(ctx context.Context) error {
	var names []string
	for _, e := range d.platform.Environments {
		names = append(names, e.Name)
	}
	d.say("▶", "starting %d local Kubernetes control planes (%s), %d simulated nodes each", len(names), strings.Join(names, ", "), nodes)
	started := time.Now()
	var (
		wg   gosync.WaitGroup
		mu   gosync.Mutex
		errs []error
	)
	for _, name := range names {
		wg.Go(func() {
			p, err := controlplane.Start(ctx, controlplane.Options{Nodes: nodes, Name: name})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("start the %s control plane: %w", name, err))
				return
			}
			d.planes[name] = p
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		d.stopPlanes()
		if errors.Is(err, controlplane.ErrNotBuilt) {
			return fmt.Errorf("%w; run `make demo`, which builds the control plane first", err)
		}
		return err
	}
	d.say("✓", "control planes up in %s", time.Since(started).Round(100*time.Millisecond))
	return nil
}

func (d *demo) stopPlanes() {
	for _, p := range d.planes {
		_ = p.Stop()
	}
}

// topicCRD is a minimal CustomResourceDefinition for NAIS's Kafka topics, standing in for the
// Kafka operator a real platform runs, so that team-b's Topic can be applied.
const topicCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: topics.kafka.nais.io
spec:
  group: kafka.nais.io
  scope: Namespaced
  names: {kind: Topic, listKind: TopicList, plural: topics, singular: topic}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
`

// prepareClusters creates every team's namespace in every environment, as operators do when
// they onboard a team, and installs the Topic CRD.
func (d *demo) prepareClusters(ctx context.Context) error {
	for i := range d.platform.Environments {
		env := &d.platform.Environments[i]
		c := d.planes[env.Name].Client()
		var created []string
		for ti := range d.platform.Teams {
			ns := env.TeamNamespace(&d.platform.Teams[ti])
			if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("create namespace %s in %s: %w", ns, env.Name, err)
			}
			created = append(created, ns)
		}
		crd := &unstructured.Unstructured{}
		if err := sigsyaml.Unmarshal([]byte(topicCRD), &crd.Object); err != nil {
			return fmt.Errorf("decode the Topic CRD: %w", err)
		}
		if err := c.Create(ctx, crd); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("install the Topic CRD in %s: %w", env.Name, err)
		}
		if err := poll(ctx, "the Topic CRD to be established in "+env.Name, func() (bool, error) {
			list := &unstructured.UnstructuredList{}
			list.SetAPIVersion("kafka.nais.io/v1")
			list.SetKind("TopicList")
			return c.List(ctx, list) == nil, nil
		}); err != nil {
			return err
		}
		d.say("✓", "%s: namespaces %s, Topic CRD installed", env.Name, strings.Join(created, ", "))
	}
	return nil
}

// serveRepositories creates a Git repository for every repository of every team in the
// platform config, from examples/teams, commits its files and serves it over smart HTTP.
func (d *demo) serveRepositories() error {
	srv, err := gittest.Serve(filepath.Join(d.tmp, "git"), "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("serve the team repositories: %w", err)
	}
	d.git = srv
	var envNames []string
	for _, e := range d.platform.Environments {
		envNames = append(envNames, e.Name)
	}
	for ti := range d.platform.Teams {
		team := &d.platform.Teams[ti]
		for ri := range team.Repositories {
			r := &team.Repositories[ri]
			tr := &teamRepo{team: team, dir: examples.RepoDir(team.Name, r.URL), files: map[string]string{}}
			sub, err := fs.Sub(examples.FS, tr.dir)
			if err != nil {
				return fmt.Errorf("read %s: %w", tr.dir, err)
			}
			if err := fs.WalkDir(sub, ".", func(p string, e fs.DirEntry, err error) error {
				if err != nil || e.IsDir() {
					return err
				}
				b, err := fs.ReadFile(sub, p)
				tr.files[p] = string(b)
				return err
			}); err != nil {
				return fmt.Errorf("read %s: %w", tr.dir, err)
			}
			loaded, err := render.LoadRepo(sub, ".", render.LoadOptions{Environments: envNames})
			if err != nil {
				return fmt.Errorf("load %s: %w", tr.dir, err)
			}
			tr.apps = loaded.Apps
			name := team.Name + "/" + path.Base(tr.dir)
			if tr.repo, err = srv.CreateRepo(name); err != nil {
				return fmt.Errorf("create repository %s: %w", name, err)
			}
			if tr.head, err = tr.repo.CommitFiles(tr.files, "Add "+strings.Join(tr.appNames(), ", ")); err != nil {
				return fmt.Errorf("commit to %s: %w", name, err)
			}
			r.URL = tr.repo.URL()
			d.repos = append(d.repos, tr)
			d.say("✓", "repository %s (team %s, apps %s) at %s, commit %s", tr.repo.URL(), team.Name, strings.Join(tr.appNames(), ", "), tr.dir, short(tr.head))
		}
	}
	return nil
}

func (r *teamRepo) appNames() []string {
	var names []string
	for _, a := range r.apps {
		names = append(names, a.Name)
	}
	return names
}

// deploysTo reports whether app deploys to env, as render decides it.
func deploysTo(app *render.App, env string) bool {
	return len(app.Environments) == 0 || app.Everywhere || app.Environments[env] != nil
}

// writePlatform writes the demo's platform config: the example one, pointed at the local
// control planes and Git server, promotion without a soak time (a demo cannot wait ten
// minutes) and without deploy windows (it may run on a Friday evening).
func (d *demo) writePlatform() (string, error) {
	p := d.platform
	secretFile := filepath.Join(d.tmp, "webhook-secret")
	if err := os.WriteFile(secretFile, []byte(webhookSecret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write the webhook secret: %w", err)
	}
	p.Server.DataDir = filepath.Join(d.tmp, "data")
	p.Server.HistoryDSN = ""
	p.Server.ExternalURL = ""
	p.Server.PollInterval = environments.Duration{Duration: time.Minute}
	p.Server.WebhookSecretFiles = []string{secretFile}
	for i := range p.Environments {
		e := &p.Environments[i]
		e.Cluster = environments.Cluster{Name: e.Cluster.Name, Kubeconfig: d.planes[e.Name].Kubeconfig()}
		e.Windows = nil
		e.Timeout = environments.Duration{Duration: time.Minute}
		if e.PromoteFrom != "" {
			e.After = environments.Duration{}
			e.Auto = false
		}
	}
	// A zero Duration encodes as "0s" even when its field is omitempty, and the config
	// refuses a soak time on an environment fed by a branch; zero is every duration's default
	// that matters here, so zero durations are left out.
	doc, err := toMap(p)
	if err != nil {
		return "", fmt.Errorf("encode the platform config: %w", err)
	}
	dropZeroDurations(doc)
	data, err := sigsyaml.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("encode the platform config: %w", err)
	}
	file := filepath.Join(d.tmp, "platform.yaml")
	data = append([]byte("# The demo's platform config: examples/platform.yaml on local control planes.\n"), data...)
	if err := os.WriteFile(file, data, 0o600); err != nil {
		return "", fmt.Errorf("write the platform config: %w", err)
	}
	// Check it the way flyt serve will read it, so a mistake shows here and not as a hang.
	if p, err = environments.Load(file); err != nil {
		return "", fmt.Errorf("the demo's platform config: %w", err)
	}
	d.platform = p
	d.first, d.second = p.Environment(d.first.Name), p.Environment(d.second.Name)
	return file, nil
}

// toMap turns v into its generic JSON form.
func toMap(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

// dropZeroDurations removes every "0s" value from a generic JSON document.
func dropZeroDurations(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if e == "0s" {
				delete(v, k)
				continue
			}
			dropZeroDurations(e)
		}
	case []any:
		for _, e := range v {
			dropZeroDurations(e)
		}
	}
}

// listenAddress is 127.0.0.1:8080 when that port is free (an address worth remembering),
// else any free port.
func listenAddress() string {
	ln, err := net.Listen("tcp", "127.0.0.1:8080")
	if err != nil {
		return "127.0.0.1:0"
	}
	ln.Close()
	return "127.0.0.1:8080"
}

// startFlyt runs flyt serve in this process; the returned func stops it and waits.
func (d *demo) startFlyt(ctx context.Context, config, logFile string) (func(), error) {
	logs, err := os.Create(logFile)
	if err != nil {
		return nil, fmt.Errorf("create the log file: %w", err)
	}
	// flyt runs in a context of its own so that Ctrl-C stops it in order, after the walkthrough.
	serveCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ready := make(chan string, 1)
	done := make(chan struct{})
	var serveErr error
	go func() {
		defer close(done)
		serveErr = serve.Run(serveCtx, serve.Options{
			ConfigFile:      config,
			Listen:          listenAddress(),
			Log:             slog.New(slog.NewJSONHandler(logs, nil)),
			ShutdownTimeout: 5 * time.Second,
			Ready:           func(addr string) { ready <- addr },
		})
	}()
	stop := func() {
		cancel()
		<-done
		logs.Close()
	}
	select {
	case addr := <-ready:
		d.url = "http://" + addr
	case <-done:
		logs.Close()
		cancel()
		return nil, fmt.Errorf("flyt serve stopped at start: %w", serveErr)
	case <-time.After(stepTimeout):
		stop()
		return nil, fmt.Errorf("flyt serve did not start within %s", stepTimeout)
	case <-ctx.Done():
		stop()
		return nil, ctx.Err()
	}
	d.say("✓", "flyt serve is running; JSON logs in %s", logFile)
	d.say("·", "UI: %s/   API: %s/api/v1/deploys   metrics: %s/metrics", d.url, d.url, d.url)
	return stop, nil
}

// printLogTail prints the last n lines of flyt's log, to show why a step failed.
func (d *demo) printLogTail(file string, n int) {
	f, err := os.Open(file)
	if err != nil {
		return
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintf(d.out, "--- last lines of %s ---\n%s\n---\n", file, strings.Join(lines[max(0, len(lines)-n):], "\n"))
}

// poll calls check every 250ms until it reports done, fails, ctx ends or stepTimeout passes.
func poll(ctx context.Context, what string, check func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := check()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("waited %s for %s", stepTimeout, what)
			}
			return fmt.Errorf("waiting for %s: %w", what, context.Cause(ctx))
		case <-tick.C:
		}
	}
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// appRef is one app of one example repository.
type appRef struct {
	repo *teamRepo
	app  string
}

// appsIn lists the apps that deploy to env, by name.
func (d *demo) appsIn(env string) []appRef {
	var out []appRef
	for _, r := range d.repos {
		for _, a := range r.apps {
			if deploysTo(a, env) {
				out = append(out, appRef{r, a.Name})
			}
		}
	}
	slices.SortFunc(out, func(a, b appRef) int { return strings.Compare(a.app, b.app) })
	return out
}
