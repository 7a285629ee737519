package sync

import (
	"context"
	"fmt"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flyt-platform/flyt/history"
)

// appliedObjects collects the API server's responses to one deploy's applies: each object as
// just written, which is the first readiness check's input at no extra request.
type appliedObjects struct {
	mu gosync.Mutex
	m  map[string]*unstructured.Unstructured
}

type appliedKey struct{}

// collectApplied returns a ctx whose applies (through a Cluster's client) are collected.
func collectApplied(ctx context.Context) (context.Context, *appliedObjects) {
	a := &appliedObjects{m: map[string]*unstructured.Unstructured{}}
	return context.WithValue(ctx, appliedKey{}, a), a
}

func (a *appliedObjects) add(u *unstructured.Unstructured) {
	gvk := u.GroupVersionKind()
	a.mu.Lock()
	a.m[objKey(gvk.Group, gvk.Kind, u.GetNamespace(), u.GetName())] = u
	a.mu.Unlock()
}

func (a *appliedObjects) get(o *unstructured.Unstructured) *unstructured.Unstructured {
	if a == nil {
		return nil
	}
	gvk := o.GroupVersionKind()
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.m[objKey(gvk.Group, gvk.Kind, o.GetNamespace(), o.GetName())]
}

// wait waits until every object is ready (kstatus Current) and costs the API server as little
// as it can:
//   - the first check reads each object once: from its apply response when this deploy wrote
//     it, else with a GET. Most kinds are ready then and are not read again;
//   - a Deployment is then followed through the cluster's watch of flyt's Deployments (no
//     request per check), never trusting a watched copy older than the generation applied;
//   - anything else still pending, a Deployment the watch cannot serve, and the pods of an
//     unready Deployment are read on polls 1, 2, 4, 8, … and every 60th, so a long rollout
//     costs a few requests, not two per interval.
//
// It fails fast, with the specific reason, when a workload fails: a failed kstatus, or pods in
// CrashLoopBackOff or ImagePullBackOff, which will not heal by waiting (a crash loop never
// makes a Deployment fail before its progress deadline, NAIS's default 5 minutes, but it is
// already a verdict). At the deadline it says what was still pending and why.
//
// This is kstatus's status computation, as ssa's WaitForSet uses, in a loop of flyt's:
// WaitForSet reads every object, and a Deployment's ReplicaSets and their pods, at every poll
// until all are ready, several times the requests for the same answer (bench/).
func (d *Deployer) wait(ctx context.Context, cluster *Cluster, objs []*unstructured.Unstructured, applied *appliedObjects, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	interval := d.PollInterval
	if interval <= 0 {
		interval = 500 * time.Millisecond
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pending := objs
	generation := map[*unstructured.Unstructured]int64{} // the newest generation seen per object
	var waiting []string                                 // why the pending objects are not ready, as of the last poll
	var problems []Problem
	for poll := 0; ; poll++ {
		if poll > 0 {
			select {
			case <-wctx.Done():
			case <-time.After(interval):
			}
		}
		if wctx.Err() != nil {
			break
		}
		read := poll == 0 || poll&(poll-1) == 0 || poll%60 == 0
		next, why, found, err := d.check(wctx, cluster, pending, poll, read, applied, generation)
		if err != nil {
			return err
		}
		if wctx.Err() != nil {
			break
		}
		if len(next) == 0 {
			return nil
		}
		sortProblems(found)
		if len(found) > 0 && found[0].Fatal {
			return &deployError{history.StateFailure, "wait", fmt.Errorf("rollout failed: %s", joinProblems(found))}
		}
		pending, waiting = next, why
		if len(found) > 0 || read {
			problems = found
		}
	}
	return waitEnded(ctx, timeout, problems, waiting)
}

// check is one poll of wait: the readiness of each pending object. It returns the objects
// still pending, why each is, and the problems found; it stops early, without an error, when
// ctx ends.
func (d *Deployer) check(ctx context.Context, cluster *Cluster, pending []*unstructured.Unstructured, poll int, read bool, applied *appliedObjects, generation map[*unstructured.Unstructured]int64) (next []*unstructured.Unstructured, why []string, found []Problem, err error) {
	for _, o := range pending {
		st, ps, err := d.readiness(ctx, cluster, o, poll, read, applied, generation)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return nil, nil, nil, &deployError{classify(err), "wait", err}
		}
		found = append(found, ps...)
		switch {
		case st.Status == status.CurrentStatus:
			continue
		case st.Status == status.FailedStatus && !slices.ContainsFunc(ps, func(p Problem) bool { return p.Fatal }):
			found = append(found, Problem{Object: subject(o), Reason: "Failed", Message: st.Message, Fatal: true})
		}
		next = append(next, o)
		why = append(why, fmt.Sprintf("%s: %s", subject(o), st.Message))
	}
	return next, why, found, nil
}

// waitEnded is the error of a wait that ended before its objects were ready: interrupted when
// ctx ended, else a timeout that says why, from the objects themselves, rather than only
// "timeout".
func waitEnded(ctx context.Context, timeout time.Duration, problems []Problem, waiting []string) error {
	if ctx.Err() != nil {
		return &deployError{history.StateInactive, "wait", fmt.Errorf("interrupted while waiting: %w", ctx.Err())}
	}
	if len(problems) > 0 {
		return &deployError{history.StateError, "wait", fmt.Errorf("rollout not done after %s: %s", timeout, joinProblems(problems))}
	}
	return &deployError{history.StateError, "wait", fmt.Errorf("rollout not done after %s: %s", timeout, strings.Join(waiting, "; "))}
}

// notRead is the status of an object not read at this poll: still pending.
var notRead = &status.Result{Status: status.InProgressStatus, Message: "not ready yet"}

// readiness computes o's kstatus from the freshest copy this poll may use (see wait), and for
// an unready Deployment on a reading poll, its pods' problems.
func (d *Deployer) readiness(ctx context.Context, cluster *Cluster, o *unstructured.Unstructured, poll int, read bool, applied *appliedObjects, generation map[*unstructured.Unstructured]int64) (*status.Result, []Problem, error) {
	isDeployment := o.GetKind() == "Deployment" && o.GroupVersionKind().Group == "apps"
	var live *unstructured.Unstructured
	switch {
	case poll == 0 && applied.get(o) != nil:
		live = applied.get(o)
	case poll > 0 && isDeployment:
		if dep, ok := cluster.live.deployment(ctx, o.GetNamespace(), o.GetName()); ok && dep.Generation >= generation[o] {
			m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(dep)
			if err != nil {
				return nil, nil, fmt.Errorf("read %s: %w", subject(o), err)
			}
			live = &unstructured.Unstructured{Object: m}
			live.SetGroupVersionKind(o.GroupVersionKind())
		}
	}
	if live == nil {
		if !read {
			return notRead, nil, nil
		}
		live = &unstructured.Unstructured{}
		live.SetGroupVersionKind(o.GroupVersionKind())
		if err := cluster.client.Get(ctx, client.ObjectKeyFromObject(o), live); err != nil {
			if apierrors.IsNotFound(err) {
				return &status.Result{Status: status.NotFoundStatus, Message: "not found"}, nil, nil
			}
			return nil, nil, fmt.Errorf("read %s: %w", subject(o), err)
		}
	}
	generation[o] = max(generation[o], live.GetGeneration())
	st, err := status.Compute(live)
	if err != nil {
		return nil, nil, fmt.Errorf("status of %s: %w", subject(o), err)
	}
	if st.Status == status.CurrentStatus || poll == 0 || !read || !isDeployment {
		return st, nil, nil
	}
	var dep appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(live.Object, &dep); err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", subject(o), err)
	}
	ps, err := deploymentProblems(ctx, cluster.client, &dep)
	return st, ps, err
}
