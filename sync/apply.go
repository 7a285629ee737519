package sync

import (
	"context"
	"fmt"
	"sort"
	gosync "sync"

	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	"github.com/fluxcd/pkg/ssa/utils"
	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// applyObjects applies objs server-side and returns what it did to each.
//
// An object the watch shows exactly as flyt would apply it (liveCache.inSync: flyt's fields
// untouched since it applied them, and the same digest) is left alone and recorded
// unchanged: a new revision that changes one object of an app writes that one.
//
// Objects the cluster's watch shows do not exist yet are created with one apply request each,
// all at once, but workloads only after the rest (their pods need the ServiceAccount and
// config). Everything else goes
// through ssa's ApplyAllStaged, which reads each object, dry-runs the apply to see whether it
// would change anything, and writes only what would change: three requests for a changed
// object, two for an unchanged one. For a new app, whose objects are all new, those two
// reads would only confirm what the watch already said; skipping them makes flyt's first
// deploy as cheap for the API server as a plain server-side apply (bench/).
//
// The watch can lag: an object created a moment ago by someone else may look absent. It is
// then applied as ssa would have (force, field manager flyt) and recorded as configured,
// because its managed fields show another writer or an older write.
func (c *Cluster) applyObjects(ctx context.Context, objs []*unstructured.Unstructured) (*ssa.ChangeSet, error) {
	sort.Sort(ssa.SortableUnstructureds(objs))
	absent := c.live.absent(ctx, objs)
	entries := map[*unstructured.Unstructured]ssa.ChangeSetEntry{}
	var rest, first, workloads []*unstructured.Unstructured
	for _, o := range objs {
		switch {
		case !absent[o] && c.live.inSync(ctx, o):
			entries[o] = changeSetEntry(o, ssa.UnchangedAction)
		case !absent[o]:
			rest = append(rest, o)
		case isWorkload(o):
			workloads = append(workloads, o)
		default:
			first = append(first, o)
		}
	}
	err := c.createAbsent(ctx, first, entries)
	if err == nil {
		err = c.createAbsent(ctx, workloads, entries)
	}
	cs := ssa.NewChangeSet()
	for _, o := range objs {
		if e, ok := entries[o]; ok {
			cs.Add(e)
		}
	}
	if err != nil {
		return cs, err
	}
	if len(rest) == 0 {
		return cs, nil
	}
	staged, err := c.manager.ApplyAllStaged(ctx, rest, ssa.DefaultApplyOptions())
	if staged != nil {
		cs.Append(staged.Entries)
	}
	return cs, err
}

// createAbsent applies objs, which the watch shows absent, all at once, and adds what it did to
// entries.
func (c *Cluster) createAbsent(ctx context.Context, objs []*unstructured.Unstructured, entries map[*unstructured.Unstructured]ssa.ChangeSetEntry) error {
	var mu gosync.Mutex
	var g errgroup.Group
	g.SetLimit(8)
	for _, o := range objs {
		g.Go(func() error {
			u := o.DeepCopy()
			//nolint:staticcheck // SA1019: client.Apply with an unstructured object is how ssa applies too.
			if err := c.client.Patch(ctx, u, client.Apply, client.ForceOwnership, client.FieldOwner(FieldManager)); err != nil {
				return fmt.Errorf("%s apply failed: %w", utils.FmtUnstructured(o), err)
			}
			action := ssa.ConfiguredAction
			if createdBy(u) {
				action = ssa.CreatedAction
			}
			mu.Lock()
			entries[o] = changeSetEntry(o, action)
			mu.Unlock()
			return nil
		})
	}
	return g.Wait()
}

func changeSetEntry(o *unstructured.Unstructured, action ssa.Action) ssa.ChangeSetEntry {
	return ssa.ChangeSetEntry{ObjMetadata: object.UnstructuredToObjMetadata(o), GroupVersion: o.GroupVersionKind().Version,
		Subject: utils.FmtUnstructured(o), Action: action}
}

// isWorkload reports whether o runs pods, which need the service account, config and
// secrets beside them to exist first.
func isWorkload(o *unstructured.Unstructured) bool {
	switch gvk := o.GroupVersionKind(); gvk.Group + "/" + gvk.Kind {
	case "apps/Deployment", "apps/StatefulSet", "apps/DaemonSet", "batch/Job", "batch/CronJob", "/Pod":
		return true
	}
	return false
}

// createdBy reports whether u, as an apply returned it, was created by that apply: flyt's
// apply is its only write, made when it was created.
func createdBy(u *unstructured.Unstructured) bool {
	mf := u.GetManagedFields()
	if len(mf) != 1 || mf[0].Manager != FieldManager || mf[0].Operation != metav1.ManagedFieldsOperationApply || mf[0].Time == nil {
		return false
	}
	return mf[0].Time.Equal(new(u.GetCreationTimestamp()))
}
