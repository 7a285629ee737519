package sync

import (
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/fluxcd/pkg/ssa"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flyt-platform/flyt/history"
	"github.com/flyt-platform/flyt/render"
	"github.com/flyt-platform/flyt/sync/source"
)

// renderFiles renders app from in-memory files for the harness's dev environment.
func (h *harness) renderFiles(t *testing.T, files map[string]string, name, commit string) *render.Result {
	t.Helper()
	fsys := fstest.MapFS{}
	for p, c := range files {
		fsys[p] = &fstest.MapFile{Data: []byte(c)}
	}
	repo, err := render.LoadRepo(fsys, ".", render.LoadOptions{Environments: []string{"dev", "prod"}})
	if err != nil {
		t.Fatal(err)
	}
	env := render.NewEnvironment(&h.platform.Environments[0], &h.platform.Teams[0])
	res, err := render.Render(repo, name, &env, render.Vars{Commit: commit})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

const extraConfigMap = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: differ-extra\ndata:\n  a: b\n"

func TestDiffShowsWhatADeployWouldChange(t *testing.T) {
	h := newHarness(t)
	sha := h.push(map[string]string{".nais/app.yaml": app("differ", "registry.example/differ:1") + extraConfigMap}, "v1")
	if d := h.waitDeploy("differ", "dev", sha); d.State != history.StateSuccess {
		t.Fatalf("deploy: %s %s", d.State, d.Message)
	}
	var before appsv1.Deployment
	if err := plane.Client().Get(t.Context(), client.ObjectKey{Namespace: h.devNS, Name: "differ"}, &before); err != nil {
		t.Fatal(err)
	}
	target := Target{App: "differ", Team: h.team, Environment: "dev"}
	policy := Policy{Namespaces: []string{h.devNS}}

	same := h.renderFiles(t, map[string]string{".nais/app.yaml": app("differ", "registry.example/differ:1") + extraConfigMap}, "differ", sha)
	changes, err := Diff(t.Context(), h.cluster, same.Objects, target, policy)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 0 {
		t.Errorf("the deployed revision differs from itself: %+v", changes)
	}

	next := h.renderFiles(t, map[string]string{".nais/app.yaml": app("differ", "registry.example/differ:2")}, "differ", "next")
	changes, err = Diff(t.Context(), h.cluster, next.Objects, target, policy)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Change{}
	for _, c := range changes {
		got[c.Subject] = c
	}
	dep := got["Deployment/"+h.devNS+"/differ"]
	if dep.Action != ssa.ConfiguredAction || !strings.Contains(dep.Diff, "-        image: registry.example/differ:1") || !strings.Contains(dep.Diff, "+        image: registry.example/differ:2") {
		t.Errorf("Deployment change = %+v, want configured with the image diff", dep)
	}
	if c := got["ConfigMap/"+h.devNS+"/differ-extra"]; c.Action != ssa.DeletedAction {
		t.Errorf("ConfigMap change = %+v, want deleted (pruned)", c)
	}
	if len(changes) != 2 {
		t.Errorf("changes = %+v, want exactly the Deployment and the ConfigMap", changes)
	}
	var after appsv1.Deployment
	if err := plane.Client().Get(t.Context(), client.ObjectKey{Namespace: h.devNS, Name: "differ"}, &after); err != nil {
		t.Fatal(err)
	}
	if after.ResourceVersion != before.ResourceVersion {
		t.Error("diff wrote to the cluster")
	}
}

func TestLostHistoryFindsObjectsByOwnerLabels(t *testing.T) {
	h := newHarness(t)
	sha := h.push(map[string]string{".nais/app.yaml": app("orphan", "registry.example/orphan:1") + strings.ReplaceAll(extraConfigMap, "differ-extra", "orphan-extra")}, "v1")
	if d := h.waitDeploy("orphan", "dev", sha); d.State != history.StateSuccess {
		t.Fatalf("deploy: %s %s", d.State, d.Message)
	}
	// A new, empty history store: the inventory is gone.
	fresh, err := history.Open(t.Context(), filepath.Join(t.TempDir(), "fresh.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	d := &Deployer{Store: fresh}
	res := h.renderFiles(t, map[string]string{".nais/app.yaml": app("orphan", "registry.example/orphan:2")}, "orphan", "v2")
	rec, err := d.Deploy(t.Context(), h.cluster, Target{App: "orphan", Team: h.team, Environment: "dev", Revision: source.Revision{Commit: "v2"}, Trigger: history.TriggerManual},
		res, nil, Policy{Namespaces: []string{h.devNS}, Timeout: time.Minute})
	if err != nil {
		t.Fatalf("deploy with a lost history: %v", err)
	}
	detail, err := fresh.Get(t.Context(), rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if acts := objectActions(detail); acts["ConfigMap/orphan-extra"] != history.ActionDeleted {
		t.Errorf("actions = %v, want the orphaned ConfigMap found by its labels and pruned", acts)
	}
	var cm corev1.ConfigMap
	if err := plane.Client().Get(t.Context(), client.ObjectKey{Namespace: h.devNS, Name: "orphan-extra"}, &cm); !apierrors.IsNotFound(err) {
		t.Errorf("orphaned ConfigMap still there (err %v)", err)
	}
}
