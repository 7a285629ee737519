package render_test

import (
	"fmt"
	"testing/fstest"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/render"
)

// A repository with a template and a vars file per environment, rendered for dev.
func ExampleRender() {
	repo, err := render.LoadRepo(fstest.MapFS{
		".nais/nais.yaml": {Data: []byte(`apiVersion: nais.io/v1alpha1
kind: Application
metadata:
  name: hello
spec:
  image: ghcr.io/example/hello:{{shortCommit}}
  replicas:
    min: {{replicas}}
    max: {{replicas}}
  env:
    - name: GREETING
      value: "{{greting}}"
`)},
		".nais/vars-dev.yaml": {Data: []byte("replicas: 1\ngreeting: hei\n")},
	}, ".", render.LoadOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	env := render.NewEnvironment(&environments.Environment{Name: "dev"}, &environments.Team{Name: "team-a"})
	res, err := render.Render(repo, "hello", &env, render.Vars{Commit: "4f2a9c1e7b3d"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, o := range res.Objects {
		fmt.Println(o.GetKind(), o.GetNamespace()+"/"+o.GetName())
	}
	fmt.Println(res.Images)
	for _, w := range res.Warnings {
		fmt.Println("warning:", w)
	}
	// Output:
	// ServiceAccount team-a/hello
	// Service team-a/hello
	// Deployment team-a/hello
	// NetworkPolicy team-a/hello
	// [ghcr.io/example/hello:4f2a9c1]
	// warning: .nais/nais.yaml:12:17: undefined variable "greting" renders empty (did you mean "greeting"?)
}
