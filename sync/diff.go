package sync

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/fluxcd/pkg/ssa"
	"github.com/pmezard/go-difflib/difflib"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/flyt-platform/flyt/history"
)

// Change is one object a deploy would change, as `flyt diff` shows it.
type Change struct {
	// Subject is Kind/namespace/name.
	Subject string
	// Action is created, configured or deleted.
	Action ssa.Action
	// Diff is a unified diff of the live object against the object after the deploy, as
	// YAML without managed fields and status; empty for created and deleted objects.
	Diff string
}

// generatedKinds are the kinds render produces for an Application; with the raw kinds an
// environment allows they are where an app's objects may be found by their owner labels.
var generatedKinds = []schema.GroupVersionKind{
	{Group: "apps", Version: "v1", Kind: "Deployment"},
	{Version: "v1", Kind: "Service"},
	{Version: "v1", Kind: "ServiceAccount"},
	{Version: "v1", Kind: "ConfigMap"},
	{Group: "autoscaling", Version: "v2", Kind: "HorizontalPodAutoscaler"},
	{Group: "policy", Version: "v1", Kind: "PodDisruptionBudget"},
	{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"},
	{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"},
}

// Diff dry-runs a deploy of rendered for t against the cluster, writing nothing, and lists
// what it would change: objects created or configured, and live objects of the app (found by
// its owner labels) that the render lacks and a deploy would prune.
func Diff(ctx context.Context, cluster *Cluster, rendered []*unstructured.Unstructured, t Target, p Policy) ([]Change, error) {
	objs, err := prepare(rendered, t, 0, p)
	if err != nil {
		return nil, err
	}
	var changes []Change
	want := map[string]bool{}
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		want[objKey(gvk.Group, gvk.Kind, o.GetNamespace(), o.GetName())] = true
		// Keep the live object's deploy annotation, so the diff shows content, not bookkeeping.
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(gvk)
		if err := cluster.client.Get(ctx, client.ObjectKeyFromObject(o), live); err == nil {
			ann := o.GetAnnotations()
			if id, ok := live.GetAnnotations()[AnnotationDeploy]; ok {
				ann[AnnotationDeploy] = id
			} else {
				delete(ann, AnnotationDeploy)
			}
			o.SetAnnotations(ann)
		}
		e, liveObj, merged, err := cluster.manager.Diff(ctx, o, ssa.DefaultDiffOptions())
		if err != nil {
			return nil, fmt.Errorf("dry-run %s/%s/%s: %w", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
		switch e.Action {
		case ssa.CreatedAction:
			changes = append(changes, Change{Subject: e.Subject, Action: e.Action})
		case ssa.ConfiguredAction:
			d, err := unifiedDiff(e.Subject, liveObj, merged)
			if err != nil {
				return nil, err
			}
			changes = append(changes, Change{Subject: e.Subject, Action: e.Action, Diff: d})
		}
	}
	live, err := Live(ctx, cluster, t.App, t.Environment, p.Namespaces, kindsOf(objs))
	if err != nil {
		return nil, err
	}
	for _, o := range live {
		gvk := o.GroupVersionKind()
		if !want[objKey(gvk.Group, gvk.Kind, o.GetNamespace(), o.GetName())] && o.GetAnnotations()[AnnotationPrune] != PruneDisabled {
			changes = append(changes, Change{Subject: gvk.Kind + "/" + o.GetNamespace() + "/" + o.GetName(), Action: ssa.DeletedAction})
		}
	}
	return changes, nil
}

// Live lists the objects in namespaces that carry app's and env's owner labels, among the kinds
// render generates and the extra kinds given. It is how flyt finds its objects again when the
// history store (and with it the inventory) is lost.
func Live(ctx context.Context, cluster *Cluster, app, env string, namespaces []string, extra []schema.GroupVersionKind) ([]*unstructured.Unstructured, error) {
	kinds := slices.Clone(generatedKinds)
	for _, k := range extra {
		if !slices.Contains(kinds, k) {
			kinds = append(kinds, k)
		}
	}
	sel := client.MatchingLabels{LabelApp: app, LabelEnvironment: env}
	var out []*unstructured.Unstructured
	for _, ns := range namespaces {
		for _, gvk := range kinds {
			list := &unstructured.UnstructuredList{}
			list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
			if err := cluster.client.List(ctx, list, client.InNamespace(ns), sel); err != nil {
				if meta.IsNoMatchError(err) {
					continue // the cluster does not serve this kind
				}
				return nil, fmt.Errorf("list %s in %s: %w", gvk.Kind, ns, err)
			}
			for i := range list.Items {
				o := &list.Items[i]
				o.SetGroupVersionKind(gvk)
				out = append(out, o)
			}
		}
	}
	return out, nil
}

// liveInventory is the recovery path for a lost history store: the app's live objects found by
// their owner labels stand in for the last successful deploy's inventory.
func liveInventory(ctx context.Context, cluster *Cluster, t Target, p Policy, objs []*unstructured.Unstructured) ([]history.Object, error) {
	live, err := Live(ctx, cluster, t.App, t.Environment, p.Namespaces, kindsOf(objs))
	if err != nil {
		return nil, err
	}
	inv := make([]history.Object, 0, len(live))
	for _, o := range live {
		gvk := o.GroupVersionKind()
		inv = append(inv, history.Object{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Namespace: o.GetNamespace(), Name: o.GetName(), Action: history.ActionUnchanged})
	}
	return inv, nil
}

func kindsOf(objs []*unstructured.Unstructured) []schema.GroupVersionKind {
	var out []schema.GroupVersionKind
	for _, o := range objs {
		if gvk := o.GroupVersionKind(); !slices.Contains(out, gvk) {
			out = append(out, gvk)
		}
	}
	return out
}

// unifiedDiff shows live against merged as YAML, without managed fields and status.
func unifiedDiff(subject string, live, merged *unstructured.Unstructured) (string, error) {
	text := func(u *unstructured.Unstructured) (string, error) {
		if u == nil {
			return "", nil
		}
		u = u.DeepCopy()
		unstructured.RemoveNestedField(u.Object, "metadata", "managedFields")
		unstructured.RemoveNestedField(u.Object, "metadata", "resourceVersion")
		unstructured.RemoveNestedField(u.Object, "metadata", "generation")
		unstructured.RemoveNestedField(u.Object, "status")
		b, err := yaml.Marshal(u.Object)
		return string(b), err
	}
	a, err := text(live)
	if err != nil {
		return "", fmt.Errorf("diff %s: %w", subject, err)
	}
	b, err := text(merged)
	if err != nil {
		return "", fmt.Errorf("diff %s: %w", subject, err)
	}
	d, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(a), B: difflib.SplitLines(b),
		FromFile: "live/" + subject, ToFile: "merged/" + subject, Context: 3,
	})
	return strings.TrimRight(d, "\n"), err
}
