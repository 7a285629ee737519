package render

import (
	"os"
	"strings"
	"testing"

	"github.com/flyt-platform/flyt/environments"

	"github.com/flyt-platform/flyt/internal/testenv/naisdata"
)

// sharedTeams is the team (and namespace) each shared repository deploys as.
var sharedTeams = map[string]string{
	"nais/testapp":         "aura",
	"nais/example":         "example",
	"navikt/dp-behandling": "teamdagpenger",
	"nais/wonderwalled":    "nais",
	"nais/start.nais.io":   "aura",
	"navikt/familie-klage": "teamfamilie",
}

// sharedEnv is an environment in which every shared repository may deploy.
func sharedEnv(name, team string) *Environment {
	env := NewEnvironment(&environments.Environment{
		Name:    name,
		Cluster: environments.Cluster{Name: name},
		Ingresses: []environments.IngressDomain{
			{Domain: "intern.dev.nav.no", Class: "internal"},
			{Domain: "intern.nav.no", Class: "internal"},
			{Domain: "dev-gcp.nais.io", Class: "external"},
			{Domain: "external.prod-gcp.nav.cloud.nais.io", Class: "external"},
		},
		Integrations: []string{"azure", "gcp", "kafka", "idporten", "tokenx", "observability"},
		Image:        "registry.example/{{team}}/{{app}}:{{shortCommit}}",
	}, &environments.Team{Name: team})
	return &env
}

func TestRenderSharedRepositories(t *testing.T) {
	for repoName, fsys := range naisdata.Repos(t) {
		t.Run(repoName, func(t *testing.T) {
			repo, err := LoadRepo(fsys, ".", LoadOptions{Environments: []string{"dev", "prod", "dev-gcp", "prod-gcp"}})
			if err != nil {
				t.Fatalf("LoadRepo: %v", err)
			}
			for _, app := range repo.Apps {
				envs := app.EnvironmentNames()
				if len(envs) == 0 {
					envs = []string{"dev"}
				}
				for _, e := range envs {
					res, err := Render(repo, app.Name, sharedEnv(e, sharedTeams[repoName]), Vars{Commit: "0123456789abcdef", Branch: "main", Repo: repoName})
					if err != nil {
						t.Errorf("render %s in %s: %v", app.Name, e, err)
						continue
					}
					for _, w := range res.Warnings {
						t.Logf("%s/%s warning: %s", app.Name, e, w)
					}
					if len(res.Objects) < 4 || len(res.Images) == 0 || !strings.HasPrefix(res.Digest, "sha256:") {
						t.Errorf("%s/%s: got %d objects, images %v, digest %q; want a workload", app.Name, e, len(res.Objects), res.Images, res.Digest)
					}
					for _, o := range res.Objects {
						if l := o.GetLabels(); l["app"] != app.Name || l["team"] != sharedTeams[repoName] || o.GetNamespace() != sharedTeams[repoName] {
							t.Errorf("%s/%s: %s %s has labels %v in namespace %q", app.Name, e, o.GetKind(), o.GetName(), l, o.GetNamespace())
						}
					}
					again, err := Render(repo, app.Name, sharedEnv(e, sharedTeams[repoName]), Vars{Commit: "0123456789abcdef", Branch: "main", Repo: repoName})
					if err != nil {
						t.Fatal(err)
					}
					first, _ := YAML(res.Objects)
					second, _ := YAML(again.Objects)
					if string(first) != string(second) || res.Digest != again.Digest {
						t.Errorf("%s/%s: a second render differs", app.Name, e)
					}
					if testing.Verbose() && os.Getenv("SHOW") != "" {
						t.Logf("%s", first)
					}
				}
			}
		})
	}
}
