package sync

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/history"
	"github.com/flyt-platform/flyt/internal/testenv/gittest"
	"github.com/flyt-platform/flyt/render"
	"github.com/flyt-platform/flyt/sync/source"
)

func objectActions(d *history.DeployDetail) map[string]history.Action {
	m := map[string]history.Action{}
	for _, o := range d.Objects {
		m[o.Kind+"/"+o.Name] = o.Action
	}
	return m
}

func TestCommitDeploysChangesAndPrunes(t *testing.T) {
	h := newHarness(t)
	sha := h.push(map[string]string{
		".nais/app.yaml": app("hello", "registry.example/hello:{{shortCommit}}") + "---\n" +
			"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hello-extra\ndata:\n  a: b\n",
	}, "first")
	d := h.waitDeploy("hello", "dev", sha)
	if d.State != history.StateSuccess {
		t.Fatalf("deploy state = %s (%s), want success", d.State, d.Message)
	}
	if d.Commit != sha || d.Trigger != history.TriggerPoll || d.Digest == "" || d.CommitAuthor == "" {
		t.Errorf("deploy record lacks identity: %+v", d.Deploy)
	}
	if want := []string{"registry.example/hello:" + sha[:7]}; !slices.Equal(d.Images, want) {
		t.Errorf("images = %v, want %v", d.Images, want)
	}
	acts := objectActions(d)
	for _, k := range []string{"Deployment/hello", "Service/hello", "ServiceAccount/hello", "ConfigMap/hello-extra"} {
		if acts[k] != history.ActionCreated {
			t.Errorf("%s action = %q, want created (all: %v)", k, acts[k], acts)
		}
	}
	var dep appsv1.Deployment
	if err := plane.Client().Get(t.Context(), client.ObjectKey{Namespace: h.devNS, Name: "hello"}, &dep); err != nil {
		t.Fatal(err)
	}
	if dep.Status.AvailableReplicas < 1 {
		t.Errorf("deployment not available after success: %+v", dep.Status)
	}
	for _, k := range []string{LabelApp, LabelTeam, LabelEnvironment} {
		if dep.Labels[k] == "" {
			t.Errorf("label %s missing on the Deployment: %v", k, dep.Labels)
		}
	}
	if dep.Annotations[AnnotationDeploy] == "" {
		t.Errorf("annotation %s missing", AnnotationDeploy)
	}
	// The readiness wait follows Deployments through flyt's watch; it must serve this one.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		w, ok := h.cluster.live.deployment(t.Context(), h.devNS, "hello")
		if ok && w.Generation == dep.Generation && w.Status.AvailableReplicas >= 1 && w.Spec.Template.Spec.Containers == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Deployment watch has %v (found %v), want the available Deployment without its pod template", w, ok)
		}
	}

	// A change and a removed resource: configured, then pruned; what the change leaves as it
	// was is not written (its deploy-id annotation still names the first deploy).
	var svc corev1.Service
	if err := plane.Client().Get(t.Context(), client.ObjectKey{Namespace: h.devNS, Name: "hello"}, &svc); err != nil {
		t.Fatal(err)
	}
	sha2 := h.push(map[string]string{".nais/app.yaml": app("hello", "registry.example/hello:{{shortCommit}}")}, "drop the config map")
	d2 := h.waitDeploy("hello", "dev", sha2)
	if d2.State != history.StateSuccess {
		t.Fatalf("second deploy = %s (%s)", d2.State, d2.Message)
	}
	acts = objectActions(d2)
	if acts["Deployment/hello"] != history.ActionConfigured || acts["ConfigMap/hello-extra"] != history.ActionDeleted ||
		acts["Service/hello"] != history.ActionUnchanged || acts["ServiceAccount/hello"] != history.ActionUnchanged {
		t.Errorf("actions = %v, want Deployment configured, ConfigMap deleted, Service and ServiceAccount unchanged", acts)
	}
	svcRV := svc.ResourceVersion
	if err := plane.Client().Get(t.Context(), client.ObjectKey{Namespace: h.devNS, Name: "hello"}, &svc); err != nil {
		t.Fatal(err)
	}
	if svc.ResourceVersion != svcRV || svc.Annotations[AnnotationDeploy] != strconv.FormatInt(d.ID, 10) {
		t.Errorf("the unchanged Service was written (resourceVersion %s → %s, deploy-id %s, want %d)", svcRV, svc.ResourceVersion, svc.Annotations[AnnotationDeploy], d.ID)
	}
	var cm corev1.ConfigMap
	if err := plane.Client().Get(t.Context(), client.ObjectKey{Namespace: h.devNS, Name: "hello-extra"}, &cm); !apierrors.IsNotFound(err) {
		t.Errorf("pruned ConfigMap still there (err %v)", err)
	}

	// The same revision again: nothing is written and nothing recorded.
	if err := plane.Client().Get(t.Context(), client.ObjectKey{Namespace: h.devNS, Name: "hello"}, &dep); err != nil {
		t.Fatal(err)
	}
	rv := dep.ResourceVersion
	before := len(h.deploys("hello", "dev"))
	h.ctrl.ResyncAll()
	h.idle()
	if n := len(h.deploys("hello", "dev")); n != before {
		t.Errorf("an unchanged resync recorded %d new deploys", n-before)
	}
	if err := plane.Client().Get(t.Context(), client.ObjectKey{Namespace: h.devNS, Name: "hello"}, &dep); err != nil {
		t.Fatal(err)
	}
	if dep.ResourceVersion != rv {
		t.Errorf("an unchanged resync wrote the Deployment (resourceVersion %s → %s)", rv, dep.ResourceVersion)
	}
}

func TestFailingPodsFailWithReason(t *testing.T) {
	h := newHarness(t)
	sha := h.push(map[string]string{".nais/app.yaml": app("broken", "registry.example/crashloop:1")}, "bad image")
	d := h.waitDeploy("broken", "dev", sha)
	if d.State != history.StateFailure {
		t.Fatalf("state = %s (%s), want failure", d.State, d.Message)
	}
	if !strings.Contains(d.Message, "CrashLoopBackOff") || !strings.Contains(d.Message, "Pod/"+h.devNS+"/broken-") {
		t.Errorf("message %q does not name the pod and CrashLoopBackOff", d.Message)
	}
	if time.Duration(d.FinishedAt.Sub(d.StartedAt)) > 30*time.Second {
		t.Errorf("failure took %s; it should fail fast, not time out", d.FinishedAt.Sub(d.StartedAt))
	}
}

func TestTenancyIsEnforced(t *testing.T) {
	// A second team on the platform, with its own namespace in dev.
	teamB := plane.Namespace(t)
	h := newHarness(t, func(p *environments.Platform) {
		p.Teams = append(p.Teams, environments.Team{Name: teamB, Namespaces: map[string]string{"dev": teamB, "prod": teamB}})
	})
	tenant := app("tenant", "registry.example/tenant:1")
	notOurs := func(ns string) string {
		return fmt.Sprintf("namespace %q is not team %s's namespace in environment dev", ns, h.team)
	}
	tests := []struct {
		name, file, want string
	}{
		{"foreign namespace", tenant + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sneaky\n  namespace: kube-system\n", "kube-system"},
		{"cluster-scoped kind", tenant + "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: admin-too\nrules: []\n", "ClusterRole"},
		// The real case: team A's repository reaches into team B's namespace, with a raw
		// object or with the app itself.
		{"another team's namespace", tenant + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sneaky\n  namespace: " + teamB + "\ndata:\n  a: b\n", notOurs(teamB)},
		{"app in another team's namespace", strings.Replace(tenant, "  name: tenant\n", "  name: tenant\n  namespace: "+teamB+"\n", 1), notOurs(teamB)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sha := h.push(map[string]string{".nais/app.yaml": tt.file}, tt.name)
			d := h.waitDeploy("tenant", "dev", sha)
			if d.State != history.StateFailure || !strings.Contains(d.Message, tt.want) {
				t.Errorf("state %s, message %q; want failure naming %s", d.State, d.Message, tt.want)
			}
			if len(d.Objects) != 0 {
				t.Errorf("a refused render applied objects: %v", d.Objects)
			}
		})
	}
	// The deployer's own check, behind render's: a render that somehow targets team B's
	// namespace is refused before anything is applied.
	t.Run("deployer refuses another team's namespace", func(t *testing.T) {
		cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "sneaky", "namespace": teamB}, "data": map[string]any{"a": "b"}}}
		own := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "tenant", "namespace": h.devNS}, "data": map[string]any{"a": "b"}}}
		res := &render.Result{App: "tenant", Environment: "dev", Objects: []*unstructured.Unstructured{own, cm}, Digest: "sha256:sneaky"}
		store, err := history.Open(t.Context(), filepath.Join(t.TempDir(), "history.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		d := &Deployer{Store: store, PollInterval: 200 * time.Millisecond}
		rec, err := d.Deploy(t.Context(), h.cluster, Target{App: "tenant", Team: h.team, Environment: "dev", Revision: source.Revision{Commit: "v1"}, Trigger: history.TriggerManual},
			res, nil, Policy{Namespaces: []string{h.devNS}, Timeout: time.Minute})
		want := fmt.Sprintf("team %s may write only to namespaces %s; refused ConfigMap/sneaky in namespace %q", h.team, h.devNS, teamB)
		if err == nil || rec == nil || rec.State != history.StateFailure || !strings.Contains(rec.Message, want) {
			t.Fatalf("record %+v, error %v; want a failure saying %q", rec, err, want)
		}
		if got, err := store.Get(t.Context(), rec.ID); err != nil || len(got.Objects) != 0 {
			t.Errorf("the refused deploy recorded objects %v (%v)", got.Objects, err)
		}
	})
	// Nothing landed in team B's namespace, nor anything of tenant anywhere.
	for _, list := range []client.ObjectList{&corev1.ConfigMapList{}, &appsv1.DeploymentList{}, &corev1.ServiceList{}, &corev1.ServiceAccountList{}} {
		if err := plane.Client().List(t.Context(), list, client.InNamespace(teamB)); err != nil {
			t.Fatal(err)
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range items {
			if o := o.(client.Object); o.GetName() == "sneaky" || o.GetName() == "tenant" || o.GetLabels()[LabelTeam] != "" {
				t.Errorf("%T %s/%s was written to team B's namespace", o, o.GetNamespace(), o.GetName())
			}
		}
	}
	for _, o := range []client.Object{&corev1.ConfigMap{}, &appsv1.Deployment{}} {
		if err := plane.Client().Get(t.Context(), client.ObjectKey{Namespace: h.devNS, Name: "tenant"}, o); !apierrors.IsNotFound(err) {
			t.Errorf("%T tenant in team A's namespace: err %v, want none (every revision was refused)", o, err)
		}
	}
}

func TestVanishedRepositoryDeletesNothing(t *testing.T) {
	h := newHarness(t)
	sha := h.push(map[string]string{".nais/app.yaml": app("keep", "registry.example/keep:1")}, "first")
	if d := h.waitDeploy("keep", "dev", sha); d.State != history.StateSuccess {
		t.Fatalf("first deploy %s: %s", d.State, d.Message)
	}
	exists := func() bool {
		var dep appsv1.Deployment
		return plane.Client().Get(t.Context(), client.ObjectKey{Namespace: h.devNS, Name: "keep"}, &dep) == nil
	}

	// A commit that removes the app folder: the repository no longer loads, so nothing can
	// be known to be removed.
	h.push(map[string]string{".nais/app.yaml": gittest.Deleted, "README.md": "moved elsewhere\n"}, "remove everything")
	h.idle()
	if !exists() {
		t.Fatal("a repository without apps deleted the app")
	}
	// A commit that replaces the team's only app: removing all of a team's apps is held.
	h.push(map[string]string{".nais/other.yaml": app("other", "registry.example/other:1")}, "replace keep with other")
	h.idle()
	if !exists() {
		t.Fatal("a mass removal deleted the app")
	}
	if held := h.ctrl.Held(); len(held) != 1 || held[0].Key.App != "keep" || !strings.Contains(held[0].Reason, "removes 1 of team") {
		t.Errorf("held = %+v, want the removal of keep held", held)
	}

	// Emptied, branch deleted, repository deleted: the sync fails and nothing changes.
	h.repo.Empty(t)
	if _, _, err := h.cache.Sync(t.Context(), h.platform.Teams[0].Repositories[0]); err == nil {
		t.Fatal("sync of an emptied repository succeeded")
	}
	h.repo.DeleteBranch(t)
	if _, _, err := h.cache.Sync(t.Context(), h.platform.Teams[0].Repositories[0]); err == nil {
		t.Fatal("sync of a deleted branch succeeded")
	}
	h.repo.Delete(t)
	if _, _, err := h.cache.Sync(t.Context(), h.platform.Teams[0].Repositories[0]); err == nil {
		t.Fatal("sync of a deleted repository succeeded")
	}
	h.ctrl.ResyncAll()
	h.idle()
	if !exists() {
		t.Fatal("a vanished repository deleted the app")
	}
}

// TestForcePushToNothingDeletesNothing: the branch is force-pushed to an unrelated root commit
// with an empty tree, then to one with files but no app manifests. Neither revision loads, so
// flyt cannot know that the app was removed: nothing is pruned or deleted (the live objects
// are the very same ones), and each revision's deploy of the app records why it could not be
// used.
func TestForcePushToNothingDeletesNothing(t *testing.T) {
	h := newHarness(t)
	sha := h.push(map[string]string{".nais/app.yaml": app("kept", "registry.example/kept:1") + "---\n" +
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kept-extra\ndata:\n  a: b\n"}, "first")
	if d := h.waitDeploy("kept", "dev", sha); d.State != history.StateSuccess {
		t.Fatalf("first deploy %s: %s", d.State, d.Message)
	}
	h.idle()
	uids := func() map[string]string {
		out := map[string]string{}
		for name, o := range map[string]client.Object{"Deployment/kept": &appsv1.Deployment{}, "Service/kept": &corev1.Service{},
			"ServiceAccount/kept": &corev1.ServiceAccount{}, "ConfigMap/kept-extra": &corev1.ConfigMap{}} {
			_, n, _ := strings.Cut(name, "/")
			if err := plane.Client().Get(t.Context(), client.ObjectKey{Namespace: h.devNS, Name: n}, o); err != nil {
				t.Fatalf("%s after the force-push: %v", name, err)
			}
			out[name] = string(o.GetUID())
		}
		return out
	}
	before := uids()

	for _, tt := range []struct {
		name, want string
		files      map[string]string
	}{
		{"empty tree", "found neither .flyt.yaml nor a .nais/ folder", nil},
		{"no app manifests", "found neither .flyt.yaml nor a .nais/ folder", map[string]string{"README.md": "this repository moved\n"}},
		{"an app folder without apps", "no file here holds a nais.io/v1alpha1 Application", map[string]string{".nais/README.md": "apps moved elsewhere\n"}},
	} {
		forced := h.repo.ForcePush(t, tt.files, "force-push: "+tt.name)
		h.sync()
		h.idle()
		if got := uids(); !maps.Equal(got, before) {
			t.Errorf("%s: live objects %v, want the same objects as before (%v)", tt.name, got, before)
		}
		var atForced *history.DeployDetail
		for _, d := range h.deploys("kept", "dev") {
			dd, err := h.store.Get(t.Context(), d.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range dd.Objects {
				if o.Action == history.ActionDeleted {
					t.Errorf("%s: deploy %d (%s) deleted %s/%s", tt.name, d.ID, shortSHA(d.Commit), o.Kind, o.Name)
				}
			}
			for _, s := range dd.Statuses {
				if s.Step == "prune" {
					t.Errorf("%s: deploy %d (%s) has a prune step: %s", tt.name, d.ID, shortSHA(d.Commit), s.Message)
				}
			}
			if d.Commit == forced && atForced == nil {
				atForced = dd
			}
		}
		if atForced == nil {
			t.Errorf("%s: no deploy of kept records revision %s", tt.name, shortSHA(forced))
		} else if atForced.State != history.StateFailure || !strings.Contains(atForced.Message, tt.want) {
			t.Errorf("%s: deploy of the force-pushed revision ended %s (%q), want a failure saying %q", tt.name, atForced.State, atForced.Message, tt.want)
		}
		if held := h.ctrl.Held(); len(held) != 0 {
			t.Errorf("%s: held = %+v", tt.name, held)
		}
		if last, err := h.store.LastSuccess(t.Context(), "kept", "dev"); err != nil || last.Commit != sha {
			t.Errorf("%s: last success = %v (%v), want still the first deploy", tt.name, last, err)
		}
	}
	// A resync afterwards changes nothing either.
	h.ctrl.ResyncAll()
	h.idle()
	if got := uids(); !maps.Equal(got, before) {
		t.Errorf("after a resync: live objects %v, want %v", got, before)
	}
}

// TestPruneOptOutIsRespected: of two ConfigMaps a new revision no longer has, the one
// annotated flyt.dev/prune: disabled stays in the cluster, untouched, and is recorded as
// skipped; the other is pruned. A later deploy does not try to prune the kept one again.
func TestPruneOptOutIsRespected(t *testing.T) {
	h := newHarness(t)
	configMaps := "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: optout-keep\n  annotations:\n    " + AnnotationPrune + ": " + PruneDisabled + "\ndata:\n  a: b\n" +
		"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: optout-drop\ndata:\n  a: b\n"
	sha1 := h.push(map[string]string{".nais/app.yaml": app("optout", "registry.example/optout:1") + configMaps}, "two config maps")
	if d := h.waitDeploy("optout", "dev", sha1); d.State != history.StateSuccess {
		t.Fatalf("first deploy %s: %s", d.State, d.Message)
	}
	key := func(name string) client.ObjectKey { return client.ObjectKey{Namespace: h.devNS, Name: name} }
	var kept corev1.ConfigMap
	if err := plane.Client().Get(t.Context(), key("optout-keep"), &kept); err != nil {
		t.Fatal(err)
	}

	sha2 := h.push(map[string]string{".nais/app.yaml": app("optout", "registry.example/optout:2")}, "drop both config maps")
	d := h.waitDeploy("optout", "dev", sha2)
	if d.State != history.StateSuccess {
		t.Fatalf("second deploy %s: %s", d.State, d.Message)
	}
	acts := objectActions(d)
	if acts["ConfigMap/optout-drop"] != history.ActionDeleted || acts["ConfigMap/optout-keep"] != history.ActionSkipped {
		t.Errorf("actions = %v, want optout-drop deleted and optout-keep skipped", acts)
	}
	var pruneMsgs []string
	for _, s := range d.Statuses {
		if s.Step == "prune" {
			pruneMsgs = append(pruneMsgs, s.Message)
		}
	}
	if len(pruneMsgs) != 1 || !strings.Contains(pruneMsgs[0], "ConfigMap/"+h.devNS+"/optout-drop") || strings.Contains(pruneMsgs[0], "optout-keep") {
		t.Errorf("prune status = %q, want it to name optout-drop only", pruneMsgs)
	}
	if err := plane.Client().Get(t.Context(), key("optout-drop"), &corev1.ConfigMap{}); !apierrors.IsNotFound(err) {
		t.Errorf("optout-drop after the prune: err %v, want not found", err)
	}
	var after corev1.ConfigMap
	if err := plane.Client().Get(t.Context(), key("optout-keep"), &after); err != nil {
		t.Fatalf("optout-keep was pruned despite %s: %s: %v", AnnotationPrune, PruneDisabled, err)
	}
	if after.UID != kept.UID || after.ResourceVersion != kept.ResourceVersion || after.Data["a"] != "b" {
		t.Errorf("optout-keep was touched: uid %s → %s, resourceVersion %s → %s, data %v", kept.UID, after.UID, kept.ResourceVersion, after.ResourceVersion, after.Data)
	}

	// The next deploy neither prunes nor records the kept object again.
	sha3 := h.push(map[string]string{".nais/app.yaml": app("optout", "registry.example/optout:3")}, "v3")
	d3 := h.waitDeploy("optout", "dev", sha3)
	if d3.State != history.StateSuccess {
		t.Fatalf("third deploy %s: %s", d3.State, d3.Message)
	}
	if a, ok := objectActions(d3)["ConfigMap/optout-keep"]; ok {
		t.Errorf("third deploy recorded optout-keep as %s", a)
	}
	if err := plane.Client().Get(t.Context(), key("optout-keep"), &after); err != nil || after.ResourceVersion != kept.ResourceVersion {
		t.Errorf("optout-keep after the third deploy: %v, resourceVersion %s → %s", err, kept.ResourceVersion, after.ResourceVersion)
	}
}

func TestDriftIsCorrectedButHPAReplicasAreNot(t *testing.T) {
	h := newHarness(t)
	sha := h.push(map[string]string{".nais/app.yaml": app("drifty", "registry.example/drifty:1")}, "first")
	if d := h.waitDeploy("drifty", "dev", sha); d.State != history.StateSuccess {
		t.Fatalf("first deploy %s: %s", d.State, d.Message)
	}
	key := client.ObjectKey{Namespace: h.devNS, Name: "drifty"}
	var dep appsv1.Deployment
	if err := plane.Client().Get(t.Context(), key, &dep); err != nil {
		t.Fatal(err)
	}
	dep.Spec.Template.Spec.Containers[0].Image = "registry.example/someone-else:2"
	if err := plane.Client().Update(t.Context(), &dep); err != nil {
		t.Fatal(err)
	}
	h.ctrl.ResyncAll()
	h.idle()
	ds := h.deploys("drifty", "dev")
	if len(ds) != 2 || ds[0].Trigger != history.TriggerDrift || ds[0].State != history.StateSuccess {
		t.Fatalf("deploys after drift = %+v, want a successful drift deploy on top", ds)
	}
	if !strings.Contains(ds[0].Reason, "Deployment/"+h.devNS+"/drifty") {
		t.Errorf("drift reason %q does not list the Deployment", ds[0].Reason)
	}
	if err := plane.Client().Get(t.Context(), key, &dep); err != nil {
		t.Fatal(err)
	}
	if img := dep.Spec.Template.Spec.Containers[0].Image; img != "registry.example/drifty:1" {
		t.Errorf("image after drift correction = %s", img)
	}

	// An app scaled by its HorizontalPodAutoscaler: replicas are the HPA's, not drift.
	sha2 := h.push(map[string]string{".nais/app.yaml": app("drifty", "registry.example/drifty:1") + "\n" +
		"---\n" + strings.Replace(app("scaled", "registry.example/scaled:1"), "{min: 1, max: 1}", "{min: 1, max: 4}", 1)}, "add a scaled app")
	if d := h.waitDeploy("scaled", "dev", sha2); d.State != history.StateSuccess {
		t.Fatalf("scaled deploy %s: %s", d.State, d.Message)
	}
	h.idle()
	skey := client.ObjectKey{Namespace: h.devNS, Name: "scaled"}
	if err := plane.Client().Get(t.Context(), skey, &dep); err != nil {
		t.Fatal(err)
	}
	dep.Spec.Replicas = ptr.To[int32](3) // what the HPA controller does
	if err := plane.Client().Update(t.Context(), &dep); err != nil {
		t.Fatal(err)
	}
	before := len(h.deploys("scaled", "dev"))
	h.ctrl.ResyncAll()
	h.idle()
	if n := len(h.deploys("scaled", "dev")); n != before {
		t.Errorf("HPA scaling was taken for drift: %d new deploys", n-before)
	}
	if err := plane.Client().Get(t.Context(), skey, &dep); err != nil {
		t.Fatal(err)
	}
	if *dep.Spec.Replicas != 3 {
		t.Errorf("replicas = %d after resync, want the HPA's 3 left alone", *dep.Spec.Replicas)
	}
}

func TestAutoPromotionAfterSoak(t *testing.T) {
	h := newHarness(t, func(p *environments.Platform) {
		p.Environments[1].Auto = true
		p.Environments[1].After = environments.Duration{Duration: 0}
	})
	sha := h.push(map[string]string{".nais/app.yaml": app("auto", "registry.example/auto:1")}, "v1")
	if d := h.waitDeploy("auto", "dev", sha); d.State != history.StateSuccess {
		t.Fatalf("dev deploy %s: %s", d.State, d.Message)
	}
	d := h.waitDeploy("auto", "prod", sha)
	if d.State != history.StateSuccess || d.Trigger != history.TriggerAutoPromotion {
		t.Fatalf("prod deploy %s by %s, want a successful auto-promotion", d.State, d.Trigger)
	}
	desired, err := h.store.Desired(t.Context(), "auto", "prod")
	if err != nil || desired.Commit != sha || desired.Trigger != history.TriggerAutoPromotion {
		t.Errorf("desired revision of prod = %+v (%v)", desired, err)
	}
}

func TestPromoteAndRollback(t *testing.T) {
	h := newHarness(t)
	// Each revision has config that names its commit and branch, one ConfigMap it alone has,
	// and one both share with different data.
	config := func(version string, only string) string {
		return "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: promo-config\ndata:\n  version: \"" + version + "\"\n" +
			"  commit: \"{{shortCommit}}\"\n  branch: \"{{branch}}\"\n" +
			"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + only + "\ndata:\n  version: \"" + version + "\"\n"
	}
	sha1 := h.push(map[string]string{".nais/app.yaml": app("promo", "registry.example/promo:{{shortCommit}}") + config("1", "promo-v1only")}, "v1")
	d1 := h.waitDeploy("promo", "dev", sha1)
	if d1.State != history.StateSuccess {
		t.Fatalf("dev deploy %s: %s", d1.State, d1.Message)
	}
	devV1 := managedObjects(t, h.devNS, "promo", objectKinds(d1))
	if _, err := h.ctrl.Promote(t.Context(), PromoteRequest{App: "promo", To: "prod", By: "operator"}); err != nil {
		t.Fatal(err)
	}
	p1 := h.waitDeploy("promo", "prod", sha1)
	if p1.State != history.StateSuccess || p1.Trigger != history.TriggerPromotion {
		t.Fatalf("prod deploy %s (%s) trigger %s", p1.State, p1.Message, p1.Trigger)
	}
	kinds := objectKinds(p1)
	v1 := managedObjects(t, h.prodNS, "promo", kinds)
	if _, ok := v1["ConfigMap/promo-v1only"]; !ok || len(v1) < 4 {
		t.Fatalf("objects of v1 in prod = %v, want the app's objects and both ConfigMaps", slices.Sorted(maps.Keys(v1)))
	}

	sha2 := h.push(map[string]string{".nais/app.yaml": app("promo", "registry.example/promo:{{shortCommit}}") + config("2", "promo-v2only")}, "v2")
	if d := h.waitDeploy("promo", "dev", sha2); d.State != history.StateSuccess {
		t.Fatalf("dev deploy of v2 %s: %s", d.State, d.Message)
	}
	// prod still runs v1, which is no longer the branch's head: a resync finds it unchanged.
	h.ctrl.ResyncAll()
	h.idle()
	if ds := h.deploys("promo", "prod"); len(ds) != 1 {
		t.Fatalf("a resync of prod, unchanged at v1, deployed again: %+v", ds)
	}
	if _, err := h.ctrl.Promote(t.Context(), PromoteRequest{App: "promo", To: "prod", By: "operator"}); err != nil {
		t.Fatal(err)
	}
	p2 := h.waitDeploy("promo", "prod", sha2)
	if p2.State != history.StateSuccess {
		t.Fatalf("prod deploy of v2 %s: %s", p2.State, p2.Message)
	}
	if acts := objectActions(p2); acts["ConfigMap/promo-v1only"] != history.ActionDeleted || acts["ConfigMap/promo-v2only"] != history.ActionCreated {
		t.Fatalf("prod deploy of v2: actions %v, want promo-v1only pruned and promo-v2only created", acts)
	}
	kinds = append(kinds, objectKinds(p2)...)

	// A revision that never ran in dev is refused.
	_, err := h.ctrl.Promote(t.Context(), PromoteRequest{App: "promo", To: "prod", Revision: strings.Repeat("a", 40)})
	var refused *environments.RefusedError
	if !errors.As(err, &refused) || refused.Reason != environments.NeverSucceeded {
		t.Errorf("promotion of an unknown revision: err = %v, want NeverSucceeded", err)
	}

	// Rollback brings back v1's objects exactly: the same render, the object v2 added
	// pruned, the one it removed back, and every object as v1 left it.
	if _, err := h.ctrl.Rollback(t.Context(), RollbackRequest{App: "promo", Environment: "prod", By: "operator"}); err != nil {
		t.Fatal(err)
	}
	ds := h.deploys("promo", "prod")
	deadline := time.Now().Add(90 * time.Second)
	for (len(ds) < 3 || !ds[0].State.Terminal()) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		ds = h.deploys("promo", "prod")
	}
	if ds[0].Trigger != history.TriggerRollback || ds[0].Commit != sha1 || ds[0].State != history.StateSuccess {
		t.Fatalf("newest prod deploy = %+v, want a successful rollback to %s", ds[0], sha1[:7])
	}
	rb, err := h.store.Get(t.Context(), ds[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if rb.Digest != p1.Digest {
		t.Errorf("rollback rendered digest %s, want v1's %s", rb.Digest, p1.Digest)
	}
	if acts := objectActions(rb); acts["ConfigMap/promo-v2only"] != history.ActionDeleted || acts["ConfigMap/promo-v1only"] != history.ActionCreated {
		t.Errorf("rollback actions %v, want promo-v2only pruned and promo-v1only created again", acts)
	}
	kinds = append(kinds, objectKinds(rb)...)
	back := managedObjects(t, h.prodNS, "promo", kinds)
	if diff := cmp.Diff(v1, back); diff != "" {
		t.Errorf("prod's objects after the rollback differ from v1's (-v1 +after rollback):\n%s", diff)
	}
	var dep appsv1.Deployment
	if err := plane.Client().Get(t.Context(), client.ObjectKey{Namespace: h.prodNS, Name: "promo"}, &dep); err != nil {
		t.Fatal(err)
	}
	if img := dep.Spec.Template.Spec.Containers[0].Image; img != "registry.example/promo:"+sha1[:7] {
		t.Errorf("prod image after rollback = %s, want v1's", img)
	}

	// The same in dev, fed by the branch whose head is v2: the rollback renders v1 as its
	// first deploy there did.
	if _, err := h.ctrl.Rollback(t.Context(), RollbackRequest{App: "promo", Environment: "dev", By: "operator"}); err != nil {
		t.Fatal(err)
	}
	ds = h.deploys("promo", "dev")
	for deadline := time.Now().Add(90 * time.Second); (len(ds) < 3 || !ds[0].State.Terminal()) && time.Now().Before(deadline); ds = h.deploys("promo", "dev") {
		time.Sleep(100 * time.Millisecond)
	}
	if ds[0].Trigger != history.TriggerRollback || ds[0].Commit != sha1 || ds[0].State != history.StateSuccess || ds[0].Digest != d1.Digest {
		t.Fatalf("newest dev deploy = %+v, want a successful rollback to %s with v1's digest %s", ds[0], sha1[:7], d1.Digest)
	}
	if diff := cmp.Diff(devV1, managedObjects(t, h.devNS, "promo", kinds)); diff != "" {
		t.Errorf("dev's objects after the rollback differ from v1's (-v1 +after rollback):\n%s", diff)
	}
}

// objectKinds returns the kinds of the objects a deploy recorded.
func objectKinds(d *history.DeployDetail) []schema.GroupVersionKind {
	var out []schema.GroupVersionKind
	for _, o := range d.Objects {
		if gvk := (schema.GroupVersionKind{Group: o.Group, Version: o.Version, Kind: o.Kind}); !slices.Contains(out, gvk) {
			out = append(out, gvk)
		}
	}
	return out
}

// managedObjects returns app's live objects in ns, found by flyt's owner label in each of
// kinds, by kind and name, without what the API server sets on every write (uid,
// resourceVersion, generation, timestamps, managed fields, status, a Deployment's revision)
// and without flyt's deploy-id annotation: what remains is what the objects' writers, flyt
// first, made them.
func managedObjects(t *testing.T, ns, app string, kinds []schema.GroupVersionKind) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	seen := map[schema.GroupVersionKind]bool{}
	for _, gvk := range kinds {
		if seen[gvk] {
			continue
		}
		seen[gvk] = true
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := plane.Client().List(t.Context(), list, client.InNamespace(ns), client.MatchingLabels{LabelApp: app}); err != nil {
			t.Fatalf("list %s: %v", gvk.Kind, err)
		}
		for _, o := range list.Items {
			unstructured.RemoveNestedField(o.Object, "status")
			for _, f := range []string{"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"} {
				unstructured.RemoveNestedField(o.Object, "metadata", f)
			}
			for _, a := range []string{AnnotationDeploy, "deployment.kubernetes.io/revision"} {
				unstructured.RemoveNestedField(o.Object, "metadata", "annotations", a)
			}
			out[gvk.Kind+"/"+o.GetName()] = o.Object
		}
	}
	return out
}

func TestTeamServiceAccountIsImpersonated(t *testing.T) {
	h := newHarness(t, func(p *environments.Platform) { p.Teams[0].ServiceAccount = "deployer" })
	// The account has no rights yet: the cluster's RBAC refuses the team's writes.
	sha := h.push(map[string]string{".nais/app.yaml": app("fenced", "registry.example/fenced:1")}, "v1")
	d := h.waitDeploy("fenced", "dev", sha)
	if d.State != history.StateFailure || !strings.Contains(d.Message, `"system:serviceaccount:`+h.devNS+`:deployer" cannot`) {
		t.Fatalf("deploy as an account without rights: %s %q; want a failure naming the account", d.State, d.Message)
	}
	// Granting the account rights in its own namespace lets the same revision deploy.
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.devNS, Name: "deployer"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}},
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.devNS, Name: "deployer"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "deployer"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "deployer", Namespace: h.devNS}},
	}
	for _, o := range []client.Object{role, binding} {
		if err := plane.Client().Create(t.Context(), o); err != nil {
			t.Fatal(err)
		}
	}
	// RBAC takes effect when the API server's authorizer has seen the binding.
	as, err := NewCluster("dev", "as-deployer", environments.ImpersonateTeam(plane.RESTConfig(), h.devNS, "deployer"))
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if err := as.Client().List(t.Context(), &appsv1.DeploymentList{}, client.InNamespace(h.devNS)); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the binding never took effect: %v", err)
		}
	}
	if err := h.ctrl.Redeploy("fenced", "dev", "operator", "rights granted"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if ds := h.deploys("fenced", "dev"); len(ds) > 1 && ds[0].State.Terminal() {
			if ds[0].State != history.StateSuccess {
				t.Fatalf("redeploy as an account with rights: %s %s", ds[0].State, ds[0].Message)
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("redeploy never finished")
}

// TestStuckRolloutTimesOutWithReason: a Deployment whose pods no node can take never becomes
// ready; at the deadline the deploy ends as an error that says why (the pods are
// Unschedulable), not only that time ran out.
func TestStuckRolloutTimesOutWithReason(t *testing.T) {
	h := newHarness(t)
	dep := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "stuck", Namespace: h.devNS},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "stuck"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "stuck"}},
				Spec: corev1.PodSpec{
					NodeSelector: map[string]string{"flyt.dev/no-such-node": "true"},
					Containers:   []corev1.Container{{Name: "stuck", Image: "registry.example/stuck:1"}},
				},
			},
		},
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(dep)
	if err != nil {
		t.Fatal(err)
	}
	res := &render.Result{App: "stuck", Environment: "dev", Objects: []*unstructured.Unstructured{{Object: obj}}, Digest: "sha256:stuck"}
	// A store of its own: the harness's controller marks unfinished deploys in its store
	// inactive when it starts, which may be while this one runs.
	store, err := history.Open(t.Context(), filepath.Join(t.TempDir(), "history.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	d := &Deployer{Store: store, PollInterval: 200 * time.Millisecond}
	rec, err := d.Deploy(t.Context(), h.cluster, Target{App: "stuck", Team: h.team, Environment: "dev", Revision: source.Revision{Commit: "v1"}, Trigger: history.TriggerManual},
		res, nil, Policy{Namespaces: []string{h.devNS}, Timeout: 4 * time.Second})
	if err == nil || rec == nil {
		t.Fatalf("a rollout no node can take: record %v, error %v; want a record and an error", rec, err)
	}
	if rec.State != history.StateError {
		t.Errorf("state = %s, want error (the deadline passed)", rec.State)
	}
	if !strings.Contains(rec.Message, "rollout not done after 4s") || !strings.Contains(rec.Message, "Unschedulable") || !strings.Contains(rec.Message, "Pod/"+h.devNS+"/stuck-") {
		t.Errorf("message %q does not say the rollout timed out because its pods are Unschedulable", rec.Message)
	}
}

// countingConfig counts the requests sent through cfg.
func countingConfig(cfg *rest.Config, n *atomic.Int64) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			n.Add(1)
			return rt.RoundTrip(r)
		})
	})
	return cfg
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestIdleResyncSendsNoRequests: once the watch of flyt's objects has started, a resync of an
// unchanged app costs no API request at all; a deleted object, a label changed by hand and an
// image changed by hand are each still found and corrected.
func TestIdleResyncSendsNoRequests(t *testing.T) {
	h := newHarness(t)
	var requests atomic.Int64
	cluster, err := NewCluster("dev", "counted", countingConfig(plane.RESTConfig(), &requests))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	h.cluster = cluster // before the first push: the controller has not read it yet
	sha := h.push(map[string]string{".nais/app.yaml": app("quiet", "registry.example/quiet:1") + "---\n" +
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: quiet-extra\ndata:\n  a: b\n"}, "first")
	if d := h.waitDeploy("quiet", "dev", sha); d.State != history.StateSuccess {
		t.Fatalf("deploy %s: %s", d.State, d.Message)
	}
	h.idle()
	h.ctrl.ResyncAll() // starts the watches
	h.idle()
	for i := range 2 {
		before := requests.Load()
		h.ctrl.ResyncAll()
		h.idle()
		if n := requests.Load() - before; n != 0 {
			t.Errorf("idle resync %d sent %d requests, want 0", i+1, n)
		}
	}
	if n := len(h.deploys("quiet", "dev")); n != 1 {
		t.Fatalf("%d deploys after idle resyncs, want the first only", n)
	}

	edits := []struct {
		name string
		edit func() error
		want string
	}{
		{"deleted", func() error {
			return plane.Client().Delete(t.Context(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: h.devNS, Name: "quiet-extra"}})
		}, "ConfigMap/" + h.devNS + "/quiet-extra"},
		{"label", func() error {
			var svc corev1.Service
			if err := plane.Client().Get(t.Context(), client.ObjectKey{Namespace: h.devNS, Name: "quiet"}, &svc); err != nil {
				return err
			}
			svc.Labels["team"] = "someone-else"
			return plane.Client().Update(t.Context(), &svc)
		}, "Service/" + h.devNS + "/quiet"},
		{"image", func() error {
			var dep appsv1.Deployment
			if err := plane.Client().Get(t.Context(), client.ObjectKey{Namespace: h.devNS, Name: "quiet"}, &dep); err != nil {
				return err
			}
			dep.Spec.Template.Spec.Containers[0].Image = "registry.example/someone-else:2"
			return plane.Client().Update(t.Context(), &dep)
		}, "Deployment/" + h.devNS + "/quiet"},
	}
	for _, e := range edits {
		if err := e.edit(); err != nil {
			t.Fatalf("%s: %v", e.name, err)
		}
		before := len(h.deploys("quiet", "dev"))
		// The watch sees the edit within moments; a resync before that finds nothing yet,
		// as the next periodic one would.
		deadline := time.Now().Add(10 * time.Second)
		for len(h.deploys("quiet", "dev")) == before && time.Now().Before(deadline) {
			h.ctrl.ResyncAll()
			h.idle()
		}
		ds := h.deploys("quiet", "dev")
		if len(ds) != before+1 || ds[0].Trigger != history.TriggerDrift || ds[0].State != history.StateSuccess || !strings.Contains(ds[0].Reason, e.want) {
			t.Fatalf("%s: newest deploy %+v, want a successful drift correction naming %s", e.name, ds[0], e.want)
		}
	}
}

// TestNewRevisionSupersedesStuckRollout: a rollout that cannot finish (its pods fit no node)
// does not hold up the fix. The new revision cancels the old deploy's wait, which ends
// inactive and says it was superseded, and deploys at once.
func TestNewRevisionSupersedesStuckRollout(t *testing.T) {
	h := newHarness(t)
	h.platform.Environments[0].Timeout.Duration = 10 * time.Minute
	stuck := h.push(map[string]string{".nais/app.yaml": app("greedy", "registry.example/greedy:1",
		"  resources:\n    requests:\n      cpu: \"5000\"")}, "ask for more CPU than any node has")
	deadline := time.Now().Add(30 * time.Second)
	for {
		ds := h.deploys("greedy", "dev")
		if len(ds) == 1 && ds[0].State == history.StateInProgress {
			d, err := h.store.Get(t.Context(), ds[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			if d.Statuses[len(d.Statuses)-1].Step == "wait" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first deploy never started waiting: %+v", ds)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if h.ctrl.Idle() {
		t.Error("the controller says it is idle while a rollout waits")
	}
	fixed := h.push(map[string]string{".nais/app.yaml": app("greedy", "registry.example/greedy:1")}, "ask for less")
	if d := h.waitDeploy("greedy", "dev", fixed); d.State != history.StateSuccess {
		t.Fatalf("fix deploy %s: %s", d.State, d.Message)
	}
	old := h.waitDeploy("greedy", "dev", stuck)
	if old.State != history.StateInactive || !strings.Contains(old.Message, "superseded") {
		t.Errorf("stuck deploy ended %s (%q), want inactive and superseded", old.State, old.Message)
	}
	if time.Duration(old.FinishedAt.Sub(old.StartedAt)) > time.Minute {
		t.Errorf("the stuck rollout held on for %s", old.FinishedAt.Sub(old.StartedAt))
	}
}

// TestExistingObjectIsConfiguredNotCreated: an object that exists without flyt's labels (made
// by hand before the app moved to flyt) is invisible to flyt's watch, so flyt applies it
// as new; the history must still say it was configured, and flyt's values win.
func TestExistingObjectIsConfiguredNotCreated(t *testing.T) {
	h := newHarness(t)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: h.devNS, Name: "adopted"}, Data: map[string]string{"a": "by hand"}}
	if err := plane.Client().Create(t.Context(), cm); err != nil {
		t.Fatal(err)
	}
	sha := h.push(map[string]string{".nais/app.yaml": app("adopter", "registry.example/adopter:1") + "---\n" +
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: adopted\ndata:\n  a: b\n"}, "adopt")
	d := h.waitDeploy("adopter", "dev", sha)
	if d.State != history.StateSuccess {
		t.Fatalf("deploy %s: %s", d.State, d.Message)
	}
	acts := objectActions(d)
	if acts["ConfigMap/adopted"] != history.ActionConfigured || acts["Deployment/adopter"] != history.ActionCreated {
		t.Errorf("actions = %v, want the existing ConfigMap configured and the Deployment created", acts)
	}
	if err := plane.Client().Get(t.Context(), client.ObjectKeyFromObject(cm), cm); err != nil {
		t.Fatal(err)
	}
	if cm.Data["a"] != "b" || cm.Labels[LabelApp] != "adopter" {
		t.Errorf("ConfigMap after the deploy: data %v, labels %v", cm.Data, cm.Labels)
	}
}

// A commit that does not render is recorded and notified once: resyncs of the same commit do
// not add a failure each; the next commit is tried.
func TestBrokenCommitIsRecordedOnce(t *testing.T) {
	h := newHarness(t)
	bad := app("once", "registry.example/once:1") + "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: admin-too\nrules: []\n"
	sha := h.push(map[string]string{".nais/app.yaml": bad}, "ship a ClusterRole")
	if d := h.waitDeploy("once", "dev", sha); d.State != history.StateFailure || !strings.Contains(d.Message, "ClusterRole") {
		t.Fatalf("state %s (%q), want a failure naming the ClusterRole", d.State, d.Message)
	}
	for range 3 {
		h.ctrl.ResyncAll()
		h.idle()
	}
	if ds := h.deploys("once", "dev"); len(ds) != 1 {
		t.Errorf("three resyncs of the broken commit left %d deploys, want the one failure", len(ds))
	}
	fixed := h.push(map[string]string{".nais/app.yaml": app("once", "registry.example/once:1")}, "drop the ClusterRole")
	if d := h.waitDeploy("once", "dev", fixed); d.State != history.StateSuccess {
		t.Errorf("the fixed commit ended %s (%q), want success", d.State, d.Message)
	}
}

// TestPushLoadsTheRepositoryOnce: a push to a repository of several apps reads and parses
// the repository once, when the change is seen; the deploys of every app render from that
// load, however many workers start at once.
func TestPushLoadsTheRepositoryOnce(t *testing.T) {
	h := newHarness(t)
	files := map[string]string{}
	for i := range 8 {
		name := fmt.Sprint("once-", i)
		files[".nais/"+name+".yaml"] = app(name, "registry.example/"+name+":1")
	}
	for round, tag := range []string{"1", "2"} {
		for name := range files {
			files[name] = strings.ReplaceAll(files[name], ":"+fmt.Sprint(round), ":"+tag)
		}
		before := h.ctrl.loads.Load()
		sha := h.push(files, "tag "+tag)
		for i := range 8 {
			if d := h.waitDeploy(fmt.Sprint("once-", i), "dev", sha); d.State != history.StateSuccess {
				t.Fatalf("deploy of once-%d: %s: %s", i, d.State, d.Message)
			}
		}
		h.idle()
		if n := h.ctrl.loads.Load() - before; n != 1 {
			t.Errorf("push %d loaded the repository %d times, want once", round+1, n)
		}
	}
}
