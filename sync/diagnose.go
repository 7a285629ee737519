package sync

import (
	"context"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Problem is a specific reason a workload is not becoming ready: which object, and which
// condition, in the words Kubernetes users know (CrashLoopBackOff, ImagePullBackOff,
// ProgressDeadlineExceeded, Unschedulable).
type Problem struct {
	// Object is "Kind/namespace/name" of the object with the problem (a Deployment or a Pod).
	Object string
	// Reason is the Kubernetes reason: CrashLoopBackOff, ImagePullBackOff, ErrImagePull,
	// ProgressDeadlineExceeded, Unschedulable …
	Reason string
	// Message is the detail Kubernetes gave, if any.
	Message string
	// Fatal problems will not heal by waiting longer, so the deploy fails at once.
	Fatal bool
}

func (p Problem) String() string {
	if p.Message == "" {
		return p.Object + ": " + p.Reason
	}
	return p.Object + ": " + p.Reason + ": " + p.Message
}

// fatalWaitingReasons are container states that mean the rollout will not succeed without a new
// revision.
var fatalWaitingReasons = map[string]bool{
	"CrashLoopBackOff":           true,
	"ImagePullBackOff":           true,
	"ErrImagePull":               true,
	"InvalidImageName":           true,
	"CreateContainerConfigError": true,
	"CreateContainerError":       true,
}

// deploymentProblems returns what keeps d from becoming available: its own failed conditions
// and its pods' problems, most severe first.
func deploymentProblems(ctx context.Context, c client.Reader, d *appsv1.Deployment) ([]Problem, error) {
	var problems []Problem
	name := "Deployment/" + d.Namespace + "/" + d.Name
	for _, cond := range d.Status.Conditions {
		if cond.Type == appsv1.DeploymentProgressing && cond.Status == corev1.ConditionFalse {
			problems = append(problems, Problem{Object: name, Reason: cond.Reason, Message: cond.Message, Fatal: true})
		}
		if cond.Type == appsv1.DeploymentReplicaFailure && cond.Status == corev1.ConditionTrue {
			problems = append(problems, Problem{Object: name, Reason: cond.Reason, Message: cond.Message, Fatal: true})
		}
	}
	pp, err := podProblems(ctx, c, d)
	if err != nil {
		return nil, err
	}
	problems = append(problems, pp...)
	sortProblems(problems)
	return problems, nil
}

// sortProblems puts fatal problems first, keeping the order otherwise.
func sortProblems(problems []Problem) {
	slices.SortStableFunc(problems, func(a, b Problem) int {
		if a.Fatal != b.Fatal {
			if a.Fatal {
				return -1
			}
			return 1
		}
		return 0
	})
}

// podProblems reports the waiting containers and unschedulable pods of d's newest pods.
func podProblems(ctx context.Context, c client.Reader, d *appsv1.Deployment) ([]Problem, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("selector of Deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(d.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, fmt.Errorf("list pods of Deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	var problems []Problem
	seen := map[string]bool{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		name := "Pod/" + p.Namespace + "/" + p.Name
		for _, cs := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
			if w := cs.State.Waiting; w != nil && w.Reason != "" && w.Reason != "ContainerCreating" && w.Reason != "PodInitializing" {
				key := w.Reason + "/" + cs.Name
				if seen[key] {
					continue // one pod per reason and container says enough
				}
				seen[key] = true
				msg := "container " + cs.Name
				if w.Message != "" {
					msg += ": " + w.Message
				}
				if t := cs.LastTerminationState.Terminated; t != nil {
					msg += fmt.Sprintf(" (last exit code %d, %d restarts)", t.ExitCode, cs.RestartCount)
				}
				problems = append(problems, Problem{Object: name, Reason: w.Reason, Message: msg, Fatal: fatalWaitingReasons[w.Reason]})
			}
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse && !seen["Unschedulable"] {
				seen["Unschedulable"] = true
				problems = append(problems, Problem{Object: name, Reason: "Unschedulable", Message: cond.Message})
			}
		}
	}
	return problems, nil
}

func joinProblems(ps []Problem) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, "; ")
}
