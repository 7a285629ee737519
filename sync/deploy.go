package sync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fluxcd/pkg/ssa"
	"github.com/fluxcd/pkg/ssa/normalize"
	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flyt-platform/flyt/history"
	"github.com/flyt-platform/flyt/render"
	"github.com/flyt-platform/flyt/sync/source"
)

// Target says what one deploy brings where: an app of a team, at a revision of its
// repository, into an environment, and why.
type Target struct {
	App         string
	Team        string
	Environment string
	Repository  string
	Revision    source.Revision
	Trigger     history.Trigger
	TriggeredBy string
	Reason      string
	Forced      bool
}

// Policy is what the environment allows a deploy: the namespaces the team may write to, whether
// to prune, and how long to wait for readiness.
type Policy struct {
	// Namespaces the team owns in the environment. Objects elsewhere are refused, whatever the
	// render said (a second line of defence behind render's own check).
	Namespaces []string
	// Timeout bounds the wait for readiness. Default 10m.
	Timeout time.Duration
	// NoPrune keeps objects that the new revision lacks.
	NoPrune bool
	// WaitForImages checks that every image exists in its registry before applying, for up
	// to ImageTimeout (default 5m).
	WaitForImages bool
	ImageTimeout  time.Duration
}

// Deployer carries out deploys: apply, prune, wait, and record every step in the history store.
type Deployer struct {
	Store   history.Store
	Metrics *Metrics
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// PollInterval is how often readiness is checked while waiting. Default 500ms: a check
	// reads the cluster's watch, and the API server only on polls 1, 2, 4, 8, … (see wait).
	PollInterval time.Duration
	// OnDeploy, when set, is told about each state change of each deploy. It must not block.
	OnDeploy func(history.Deploy)
	// Images checks registries for Policy.WaitForImages. Default: an ImageChecker with its
	// defaults.
	Images *ImageChecker

	// hook is a test seam: when set, it is called with "apply" and the app's name as a deploy
	// starts applying, so a test can make that step panic. nil in flyt.
	hook func(step, subject string)
}

// notify tells OnDeploy about a state change of rec.
func (d *Deployer) notify(rec history.Deploy, state history.State, msg string) {
	if d.OnDeploy == nil {
		return
	}
	rec.State, rec.Message = state, msg
	if state.Terminal() {
		rec.FinishedAt = d.now()
	}
	d.OnDeploy(rec)
}

func (d *Deployer) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// deployError is a deploy that ended badly, with the state it ended in.
type deployError struct {
	state history.State
	step  string
	err   error
}

func (e *deployError) Error() string { return e.step + ": " + e.err.Error() }
func (e *deployError) Unwrap() error { return e.err }

// StateOf returns the history state a deploy error stands for: failure for bad specs and
// workloads, error for platform trouble.
func StateOf(err error) history.State {
	var de *deployError
	if errors.As(err, &de) {
		return de.state
	}
	return history.StateError
}

// Deploy runs one deploy of t to cluster with the objects res rendered (or records the render
// error renderErr) and returns the deploy record as it ended. The returned error is non-nil
// when the deploy did not succeed; StateOf tells failure (retrying will not help) from error
// (the platform failed; retry with backoff).
//
// Nothing is pruned unless the render succeeded and every object applied.
func (d *Deployer) Deploy(ctx context.Context, cluster *Cluster, t Target, res *render.Result, renderErr error, p Policy) (*history.Deploy, error) {
	ro, rec, err := d.StartRollout(ctx, cluster, t, res, renderErr, p)
	if ro == nil {
		return rec, err
	}
	return ro.Wait(ctx)
}

// Rollout is a deploy that has applied (and pruned) its objects and now waits for them to
// become ready. Wait finishes it.
type Rollout struct {
	d       *Deployer
	cluster *Cluster
	rec     *history.Deploy
	t       Target
	p       Policy
	objs    []*unstructured.Unstructured
	applied *appliedObjects
	start   time.Time
	log     logr.Logger
}

// ID is the deploy's id in the history store.
func (r *Rollout) ID() int64 { return r.rec.ID }

// Digest is the digest of the objects the deploy applied.
func (r *Rollout) Digest() string { return r.rec.Digest }

// StartRollout runs a deploy up to its readiness wait: it records the deploy, waits for images if
// asked, applies and prunes. It returns a Rollout when the deploy now waits for readiness
// (Wait finishes it), or else the deploy's final record and error, as Deploy does. Splitting
// the two lets the controller free its worker while the cluster rolls out.
func (d *Deployer) StartRollout(ctx context.Context, cluster *Cluster, t Target, res *render.Result, renderErr error, p Policy) (*Rollout, *history.Deploy, error) {
	rec := &history.Deploy{
		App: t.App, Team: t.Team, Environment: t.Environment, Cluster: cluster.Name,
		Repository: t.Repository, Commit: t.Revision.Commit, CommitAuthor: t.Revision.Author,
		CommitTime: t.Revision.Time, CommitMessage: firstLine(t.Revision.Message),
		Trigger: t.Trigger, TriggeredBy: t.TriggeredBy, Reason: t.Reason, Forced: t.Forced,
		StartedAt: d.now(),
	}
	if res != nil {
		rec.Images, rec.Digest, rec.Warnings = res.Images, res.Digest, warningStrings(res.Warnings)
	}
	id, err := d.Store.CreateDeploy(ctx, rec)
	if err != nil {
		return nil, nil, fmt.Errorf("record deploy of %s to %s: %w", t.App, t.Environment, err)
	}
	rec.ID = id
	// The caller's logger already names the app, team and environment.
	log := logr.FromContextOrDiscard(ctx).WithValues("deploy", id)
	ctx = logr.NewContext(ctx, log)
	ro := &Rollout{d: d, cluster: cluster, rec: rec, t: t, p: p, start: d.now(), log: log}
	d.notify(*rec, history.StateQueued, "")
	if _, err := d.Store.AppendStatus(ctx, id, history.Status{State: history.StateInProgress, Step: "render", Message: "rendered " + shortSHA(t.Revision.Commit), Time: d.now()}); err != nil {
		return nil, nil, fmt.Errorf("record deploy %d in progress: %w", id, err)
	}
	d.notify(*rec, history.StateInProgress, "")

	actx, applied := collectApplied(ctx)
	// A panic while applying is the platform's error; it ends this deploy, not the process.
	objs, err := func() (_ []*unstructured.Unstructured, err error) {
		defer catch(actx, &err, history.StateError, "apply", "")
		return d.applyAndPrune(actx, cluster, id, t, res, renderErr, p)
	}()
	if err == nil {
		err = d.status(ctx, id, "wait", "waiting for rollout")
	}
	if err != nil {
		rec, err := ro.finish(ctx, err)
		return nil, rec, err
	}
	ro.objs, ro.applied = objs, applied
	return ro, nil, nil
}

// Wait waits for the rollout's objects to become ready and records how the deploy ended.
// Cancelling ctx ends it as inactive, with ctx's cause as the reason.
func (r *Rollout) Wait(ctx context.Context) (*history.Deploy, error) {
	ctx = logr.NewContext(ctx, r.log)
	start := r.d.now()
	err := func() (err error) {
		defer catch(ctx, &err, history.StateError, "wait", "")
		return r.d.wait(ctx, r.cluster, r.objs, r.applied, r.p.Timeout)
	}()
	r.d.Metrics.observeStep("wait", r.d.now().Sub(start))
	return r.finish(ctx, err)
}

// finish records the deploy's final state: success when runErr is nil, inactive when ctx
// was cancelled (flyt is shutting down, or a newer deploy superseded this one), else the
// state runErr stands for.
func (r *Rollout) finish(ctx context.Context, runErr error) (*history.Deploy, error) {
	d, rec, t := r.d, r.rec, r.t
	state, msg := history.StateSuccess, "deployed "+shortSHA(t.Revision.Commit)
	if runErr != nil {
		state, msg = StateOf(runErr), runErr.Error()
		if ctx.Err() != nil {
			// Cut off, not failed: the next reconcile supersedes it.
			state = history.StateInactive
			if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, ctx.Err()) {
				msg = cause.Error()
			}
			runErr = &deployError{history.StateInactive, "interrupted", runErr}
		}
	}
	// The final status must be written even when ctx was cancelled mid-deploy.
	final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	step := "done"
	var de *deployError
	if errors.As(runErr, &de) {
		step = de.step
	}
	if _, err := d.Store.AppendStatus(final, rec.ID, history.Status{State: state, Step: step, Message: msg, Time: d.now()}); err != nil {
		return nil, errors.Join(runErr, fmt.Errorf("record final state of deploy %d: %w", rec.ID, err))
	}
	d.Metrics.observeDeploy(t.Environment, string(state), string(t.Trigger), d.now().Sub(r.start))
	r.log.Info("deploy finished", "state", state, "message", msg, "commit", t.Revision.Commit)
	d.notify(*rec, state, msg)
	rec.State, rec.Message = state, msg
	return rec, runErr
}

// renderFailure is the error a deploy whose render failed ends with.
func renderFailure(renderErr error) *deployError {
	var de *deployError
	if errors.As(renderErr, &de) {
		return de
	}
	return &deployError{history.StateFailure, "render", renderErr}
}

// applyAndPrune runs the steps of a deploy before its readiness wait (the render's outcome,
// the wait for images, the apply, and the prune of what the new revision no longer has) and
// returns the objects applied.
func (d *Deployer) applyAndPrune(ctx context.Context, cluster *Cluster, id int64, t Target, res *render.Result, renderErr error, p Policy) ([]*unstructured.Unstructured, error) {
	if renderErr != nil {
		return nil, renderFailure(renderErr)
	}
	if d.hook != nil {
		d.hook("apply", t.App)
	}
	if p.WaitForImages && len(res.Images) > 0 {
		if err := d.waitImages(ctx, id, res.Images, p.ImageTimeout); err != nil {
			return nil, err
		}
	}
	if err := d.status(ctx, id, "apply", fmt.Sprintf("applying %d objects of %s", len(res.Objects), shortSHA(t.Revision.Commit))); err != nil {
		return nil, err
	}
	objs, err := prepare(res.Objects, t, id, p)
	if err != nil {
		return nil, &deployError{history.StateFailure, "apply", err}
	}
	// The inventory is read before anything is written, so the prune below compares against
	// the last success before this deploy.
	inventory, noSuccess, err := d.inventory(ctx, t)
	if err != nil {
		return nil, err
	}
	cs, err := d.applyRecorded(ctx, cluster, id, objs)
	if err != nil {
		return nil, err
	}
	if noSuccess && !p.NoPrune && !allCreated(cs) {
		// No success on record, yet some objects were already there: a lost history store
		// (or a first deploy over objects flyt labelled before). The app's live objects,
		// found by their owner labels, are the inventory. When every object was created the
		// app had nothing live, and the eight LISTs this takes are skipped.
		if inventory, err = liveInventory(ctx, cluster, t, p, objs); err != nil {
			return nil, &deployError{classify(err), "prune", fmt.Errorf("find live objects: %w", err)}
		}
	}
	if !p.NoPrune && len(inventory) > 0 {
		if err := d.pruneRecorded(ctx, cluster, id, t, inventory, objs); err != nil {
			return nil, err
		}
	}
	return objs, nil
}

// inventory returns the objects of t's last success; noSuccess says there is none.
func (d *Deployer) inventory(ctx context.Context, t Target) (_ []history.Object, noSuccess bool, _ error) {
	prev, err := d.Store.LastSuccess(ctx, t.App, t.Environment)
	switch {
	case err == nil:
		return prev.Objects, false, nil
	case errors.Is(err, history.ErrNotFound):
		return nil, true, nil
	}
	return nil, false, &deployError{history.StateError, "apply", fmt.Errorf("read inventory: %w", err)}
}

// applyRecorded applies objs to cluster and records in deploy id what it did to each.
func (d *Deployer) applyRecorded(ctx context.Context, cluster *Cluster, id int64, objs []*unstructured.Unstructured) (*ssa.ChangeSet, error) {
	applyStart := d.now()
	cs, err := cluster.applyObjects(ctx, objs)
	d.Metrics.observeStep("apply", d.now().Sub(applyStart))
	if cs != nil {
		if rerr := d.Store.RecordObjects(ctx, id, changeSetObjects(cs)); rerr != nil {
			return nil, &deployError{history.StateError, "apply", fmt.Errorf("record applied objects: %w", rerr)}
		}
	}
	if err != nil {
		return nil, &deployError{classify(err), "apply", err}
	}
	if err := d.status(ctx, id, "apply", summarize(cs)); err != nil {
		return nil, err
	}
	return cs, nil
}

// pruneRecorded deletes what inventory has and objs no longer do, and records in deploy id
// what it deleted.
func (d *Deployer) pruneRecorded(ctx context.Context, cluster *Cluster, id int64, t Target, inventory []history.Object, objs []*unstructured.Unstructured) error {
	pruneStart := d.now()
	pruned, err := d.prune(ctx, cluster, id, t, inventory, objs)
	d.Metrics.observeStep("prune", d.now().Sub(pruneStart))
	if err != nil {
		return &deployError{classify(err), "prune", err}
	}
	if len(pruned) > 0 {
		if err := d.status(ctx, id, "prune", "deleted "+strings.Join(pruned, ", ")); err != nil {
			return err
		}
	}
	return nil
}

// waitImages waits, within timeout, until every image exists in its registry, and records the
// wait. An image that never appears fails the deploy (its CI did not push it); a registry that
// refuses or cannot be reached is the platform's error.
func (d *Deployer) waitImages(ctx context.Context, id int64, images []string, timeout time.Duration) error {
	if err := d.status(ctx, id, "images", "waiting for "+strings.Join(images, ", ")); err != nil {
		return err
	}
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	checker := d.Images
	if checker == nil {
		checker = &ImageChecker{}
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := d.now()
	err := checker.Wait(wctx, images)
	d.Metrics.observeStep("images", d.now().Sub(start))
	switch {
	case err == nil:
		return d.status(ctx, id, "images", fmt.Sprintf("%d images present", len(images)))
	case ctx.Err() != nil:
		return &deployError{history.StateInactive, "images", err}
	case errors.Is(err, ErrImageMissing):
		return &deployError{history.StateFailure, "images", err}
	}
	return &deployError{history.StateError, "images", err}
}

func (d *Deployer) status(ctx context.Context, id int64, step, msg string) error {
	if _, err := d.Store.AppendStatus(ctx, id, history.Status{State: history.StateInProgress, Step: step, Message: msg, Time: d.now()}); err != nil {
		return &deployError{history.StateError, step, fmt.Errorf("record status: %w", err)}
	}
	return nil
}

// prepare copies the rendered objects, checks they stay in the team's namespaces, adds flyt's
// labels and annotations and normalizes them the way the API server will, so the dry-run diff
// sees no false changes.
func prepare(in []*unstructured.Unstructured, t Target, id int64, p Policy) ([]*unstructured.Unstructured, error) {
	out := make([]*unstructured.Unstructured, 0, len(in))
	var refused []string
	for _, o := range in {
		o = o.DeepCopy()
		if o.GetNamespace() == "" || (len(p.Namespaces) > 0 && !slices.Contains(p.Namespaces, o.GetNamespace())) {
			refused = append(refused, fmt.Sprintf("%s/%s in namespace %q", o.GetKind(), o.GetName(), o.GetNamespace()))
			continue
		}
		labels := o.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[LabelApp], labels[LabelTeam], labels[LabelEnvironment] = t.App, t.Team, t.Environment
		o.SetLabels(labels)
		ann := o.GetAnnotations()
		if ann == nil {
			ann = map[string]string{}
		}
		ann[AnnotationDeploy] = strconv.FormatInt(id, 10)
		o.SetAnnotations(ann)
		out = append(out, o)
	}
	if len(refused) > 0 {
		return nil, fmt.Errorf("team %s may write only to namespaces %s; refused %s", t.Team, strings.Join(p.Namespaces, ", "), strings.Join(refused, ", "))
	}
	if err := normalize.UnstructuredList(out); err != nil {
		return nil, fmt.Errorf("normalize objects: %w", err)
	}
	for _, o := range out {
		if err := setDigest(o); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// setDigest sets o's AnnotationDigest: a hash of o as it will be applied, without its
// AnnotationDeploy (which changes every deploy) and without the digest itself.
func setDigest(o *unstructured.Unstructured) error {
	ann := o.GetAnnotations()
	id := ann[AnnotationDeploy]
	delete(ann, AnnotationDeploy)
	delete(ann, AnnotationDigest)
	o.SetAnnotations(ann)
	data, err := json.Marshal(o.Object) // maps marshal with sorted keys: one form per object
	if err != nil {
		return fmt.Errorf("digest of %s: %w", subject(o), err)
	}
	sum := sha256.Sum256(data)
	if id != "" {
		ann[AnnotationDeploy] = id
	}
	ann[AnnotationDigest] = hex.EncodeToString(sum[:12])
	o.SetAnnotations(ann)
	return nil
}

// prune deletes the objects of the previous inventory that the new render lacks. Only objects
// that still carry this app's and environment's labels are deleted, and none that opted out
// with flyt.dev/prune: disabled.
func (d *Deployer) prune(ctx context.Context, cluster *Cluster, id int64, t Target, inventory []history.Object, objs []*unstructured.Unstructured) ([]string, error) {
	keep := map[string]bool{}
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		keep[objKey(gvk.Group, gvk.Kind, o.GetNamespace(), o.GetName())] = true
	}
	var stale []*unstructured.Unstructured
	seen := map[string]bool{}
	for _, io := range inventory {
		k := objKey(io.Group, io.Kind, io.Namespace, io.Name)
		if keep[k] || seen[k] || io.Action == history.ActionDeleted || io.Action == history.ActionSkipped {
			continue
		}
		seen[k] = true
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(schema.GroupVersionKind{Group: io.Group, Version: io.Version, Kind: io.Kind})
		u.SetNamespace(io.Namespace)
		u.SetName(io.Name)
		stale = append(stale, u)
	}
	if len(stale) == 0 {
		return nil, nil
	}
	opts := ssa.DefaultDeleteOptions()
	opts.Inclusions = map[string]string{LabelApp: t.App, LabelEnvironment: t.Environment}
	opts.Exclusions = map[string]string{AnnotationPrune: PruneDisabled}
	cs, err := cluster.manager.DeleteAll(ctx, stale, opts)
	var pruned []string
	if cs != nil {
		objs := changeSetObjects(cs)
		if rerr := d.Store.RecordObjects(ctx, id, objs); rerr != nil {
			return nil, errors.Join(err, fmt.Errorf("record pruned objects: %w", rerr))
		}
		for _, e := range cs.Entries {
			if e.Action == ssa.DeletedAction {
				pruned = append(pruned, e.Subject)
			}
		}
	}
	if err != nil {
		return pruned, fmt.Errorf("prune: %w", err)
	}
	return pruned, nil
}

func subject(o *unstructured.Unstructured) string {
	return o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
}

// classify sorts an apply, prune or wait error: the API server refusing an object is the team's
// failure; not reaching the API server, timeouts and conflicts are the platform's error.
func classify(err error) history.State {
	switch {
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err), apierrors.IsForbidden(err),
		apierrors.IsNotFound(err), apierrors.IsMethodNotSupported(err), meta.IsNoMatchError(err):
		return history.StateFailure
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) {
		return history.StateError
	}
	msg := err.Error()
	// ssa reports some refusals as text only (dry-run failures wrap the API error's message).
	for _, s := range []string{"is invalid", "Invalid value", "field is immutable", "forbidden", "unknown field"} {
		if strings.Contains(msg, s) {
			return history.StateFailure
		}
	}
	return history.StateError
}

func changeSetObjects(cs *ssa.ChangeSet) []history.Object {
	out := make([]history.Object, 0, len(cs.Entries))
	for _, e := range cs.Entries {
		gv, _ := schema.ParseGroupVersion(e.GroupVersion)
		out = append(out, history.Object{
			Group: e.ObjMetadata.GroupKind.Group, Version: gv.Version, Kind: e.ObjMetadata.GroupKind.Kind,
			Namespace: e.ObjMetadata.Namespace, Name: e.ObjMetadata.Name, Action: history.Action(e.Action),
		})
	}
	return out
}

// allCreated reports whether the apply created every object of cs.
func allCreated(cs *ssa.ChangeSet) bool {
	for _, e := range cs.Entries {
		if e.Action != ssa.CreatedAction {
			return false
		}
	}
	return true
}

// summarize counts a change set's actions: "2 created, 5 unchanged".
func summarize(cs *ssa.ChangeSet) string {
	counts := map[ssa.Action]int{}
	for _, e := range cs.Entries {
		counts[e.Action]++
	}
	var parts []string
	for _, a := range []ssa.Action{ssa.CreatedAction, ssa.ConfiguredAction, ssa.UnchangedAction, ssa.SkippedAction} {
		if counts[a] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[a], a))
		}
	}
	if len(parts) == 0 {
		return "nothing to apply"
	}
	return strings.Join(parts, ", ")
}

func objKey(group, kind, ns, name string) string { return group + "/" + kind + "/" + ns + "/" + name }

func warningStrings(ws []render.Warning) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.String()
	}
	return out
}

func shortSHA(s string) string {
	if len(s) > 7 {
		return s[:7]
	}
	return s
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// Remove deletes every object of an app's inventory from an environment, because its
// repository no longer has the app, and records it as a deploy of the revision that removed it.
// Objects annotated flyt.dev/prune: disabled stay.
func (d *Deployer) Remove(ctx context.Context, cluster *Cluster, t Target, inventory *history.DeployDetail) (*history.Deploy, error) {
	rec := &history.Deploy{
		App: t.App, Team: t.Team, Environment: t.Environment, Cluster: cluster.Name, Repository: t.Repository,
		Commit: t.Revision.Commit, Trigger: t.Trigger, TriggeredBy: t.TriggeredBy,
		Reason: "the repository no longer has this app", StartedAt: d.now(),
	}
	id, err := d.Store.CreateDeploy(ctx, rec)
	if err != nil {
		return nil, fmt.Errorf("record removal of %s from %s: %w", t.App, t.Environment, err)
	}
	pruned, err := func() (_ []string, err error) {
		defer catch(ctx, &err, history.StateError, "prune", "")
		return d.prune(ctx, cluster, id, t, inventory.Objects, nil)
	}()
	state, msg := history.StateSuccess, "removed the app: deleted "+strings.Join(pruned, ", ")
	if err != nil {
		state, msg = classify(err), err.Error()
		if isPanic(err) {
			state = history.StateError
		}
	}
	final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, serr := d.Store.AppendStatus(final, id, history.Status{State: state, Step: "prune", Message: msg, Time: d.now()}); serr != nil {
		return nil, errors.Join(err, fmt.Errorf("record removal %d: %w", id, serr))
	}
	d.notify(*rec, state, msg)
	rec.ID, rec.State, rec.Message = id, state, msg
	if err != nil {
		return rec, &deployError{state, "prune", err}
	}
	return rec, nil
}

// Drifted compares the live objects with what the last deploy (lastID) applied and names the
// objects that differ: edited by someone else, or deleted. Fields other managers own
// (replicas scaled by an HPA, defaults) do not count; flyt leaves them alone.
//
// An object the cluster's watch shows unchanged since flyt last knew it in sync costs no
// request (see liveCache); any other gets a server-side dry-run apply, compared with the live
// object, and is remembered as in sync when it is.
func (d *Deployer) Drifted(ctx context.Context, cluster *Cluster, rendered []*unstructured.Unstructured, t Target, lastID int64, p Policy) ([]string, error) {
	objs, err := prepare(rendered, t, lastID, p)
	if err != nil {
		return nil, err
	}
	var drifted []string
	for _, o := range objs {
		if cluster.live.inSync(ctx, o) {
			continue
		}
		// Read the live object first: what the dry-run then finds in sync is this version.
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(o.GroupVersionKind())
		getErr := cluster.client.Get(ctx, client.ObjectKeyFromObject(o), live)
		if getErr != nil && !apierrors.IsNotFound(getErr) {
			return nil, fmt.Errorf("read %s: %w", subject(o), getErr)
		}
		if id, ok := live.GetAnnotations()[AnnotationDeploy]; ok && getErr == nil {
			// Which deploy last wrote the object is not drift: compare what it holds.
			ann := o.GetAnnotations()
			ann[AnnotationDeploy] = id
			o.SetAnnotations(ann)
		}
		e, _, _, err := cluster.manager.Diff(ctx, o, ssa.DefaultDiffOptions())
		if err != nil {
			return nil, fmt.Errorf("dry-run %s/%s/%s: %w", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
		switch e.Action {
		case ssa.ConfiguredAction, ssa.CreatedAction:
			drifted = append(drifted, e.Subject)
		case ssa.UnchangedAction:
			if getErr == nil {
				cluster.live.verify(live)
			}
		}
	}
	return drifted, nil
}
