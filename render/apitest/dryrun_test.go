package apitest

import (
	"encoding/json"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/internal/testenv/controlplane"
	"github.com/flyt-platform/flyt/render"

	"github.com/flyt-platform/flyt/internal/testenv/naisdata"
)

var plane *controlplane.Plane

func TestMain(m *testing.M) { os.Exit(controlplane.Main(m, controlplane.Options{}, &plane)) }

// TestSharedRepositoriesPassServerSideDryRun renders every app of every repository in
// the real NAIS repositories (internal/testenv/naisdata) for every environment it names and applies each object to the
// kube-apiserver as a server-side-apply dry run with strict field validation: an unknown or
// misplaced field, a wrong type or an invalid value fails.
func TestSharedRepositoriesPassServerSideDryRun(t *testing.T) {
	dyn, err := dynamic.NewForConfig(plane.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	mapper := plane.Client().RESTMapper()
	// The shared manifests name these teams in their metadata.
	teams := map[string]string{
		"nais/testapp": "aura", "nais/example": "example", "navikt/dp-behandling": "teamdagpenger",
		"nais/wonderwalled": "nais", "nais/start.nais.io": "aura", "navikt/familie-klage": "teamfamilie",
	}
	applied := 0
	created := map[string]bool{}
	for repoName, fsys := range naisdata.Repos(t) {
		repo, err := render.LoadRepo(fsys, ".", render.LoadOptions{Environments: []string{"dev", "prod", "prod-gcp"}})
		if err != nil {
			t.Fatalf("%s: %v", repoName, err)
		}
		// The manifests name their NAIS namespace (the team's), so the namespace is the team's name.
		team := teams[repoName]
		ns := team
		if !created[ns] {
			if err := plane.Client().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
				t.Fatalf("create namespace %s: %v", ns, err)
			}
			created[ns] = true
		}
		for _, app := range repo.Apps {
			envs := app.EnvironmentNames()
			if len(envs) == 0 {
				envs = []string{"dev"}
			}
			for _, e := range envs {
				env := render.NewEnvironment(&environments.Environment{
					Name:    e,
					Cluster: environments.Cluster{Name: e},
					Ingresses: []environments.IngressDomain{
						{Domain: "intern.dev.nav.no", Class: "internal"}, {Domain: "intern.nav.no", Class: "internal"},
						{Domain: "nais.io", Class: "external"}, {Domain: "nav.cloud.nais.io", Class: "external"},
					},
					Integrations: []string{"azure", "gcp", "kafka", "idporten", "tokenx", "observability"},
					Image:        "registry.example/{{team}}/{{app}}:{{shortCommit}}",
				}, &environments.Team{Name: team, Namespaces: map[string]string{e: ns}})
				res, err := render.Render(repo, app.Name, &env, render.Vars{Commit: "0123456789abcdef0123", Branch: "main"})
				if err != nil {
					t.Errorf("%s: render %s in %s: %v", repoName, app.Name, e, err)
					continue
				}
				for _, o := range res.Objects {
					gvk := o.GroupVersionKind()
					m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
					if err != nil {
						t.Errorf("%s: %s %s: no API for it: %v", repoName, gvk, o.GetName(), err)
						continue
					}
					data, err := json.Marshal(o.Object)
					if err != nil {
						t.Fatal(err)
					}
					_, err = dyn.Resource(m.Resource).Namespace(o.GetNamespace()).Patch(t.Context(), o.GetName(), types.ApplyPatchType, data,
						metav1.PatchOptions{FieldManager: "flyt", Force: new(true), DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"})
					if err != nil {
						t.Errorf("%s: %s/%s %s %s rejected: %v", repoName, e, app.Name, o.GetKind(), o.GetName(), err)
						continue
					}
					applied++
				}
			}
		}
	}
	if applied == 0 {
		t.Fatal("no object was applied")
	}
	t.Logf("%d objects accepted", applied)
}
