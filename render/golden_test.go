package render

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/flyt-platform/flyt/environments"
)

var update = flag.Bool("update", false, "rewrite the .golden files of testdata/golden and testdata/layouts from the current output")

// goldenCase is one file of testdata/golden: a repository (files), the environments to render
// it for, and optionally the variables of the revision.
type goldenCase struct {
	// Description says what the case shows.
	Description string `json:"description"`
	// Files is the repository, path → contents.
	Files map[string]string `json:"files"`
	// KnownEnvs are passed to LoadRepo.
	KnownEnvs []string `json:"knownEnvs,omitempty"`
	// Environments to render every app for; their Name must be set.
	Environments []Environment `json:"environments"`
	// Overrides are --var style key=value pairs.
	Overrides []string `json:"overrides,omitempty"`
}

// renderCase renders every app of c for every environment and returns the report that the
// .golden file holds: per (app, environment) the digest, images, warnings and objects, or the
// error.
func renderCase(t *testing.T, c *goldenCase) []byte {
	t.Helper()
	fsys := fstest.MapFS{}
	for p, data := range c.Files {
		fsys[p] = &fstest.MapFile{Data: []byte(data)}
	}
	var b bytes.Buffer
	repo, err := LoadRepo(fsys, ".", LoadOptions{Environments: c.KnownEnvs})
	if err != nil {
		fmt.Fprintf(&b, "# load error:\n# %s\n", strings.ReplaceAll(err.Error(), "\n", "\n# "))
		return b.Bytes()
	}
	over := map[string]any{}
	for _, kv := range c.Overrides {
		if err := ParseVar(over, kv); err != nil {
			t.Fatal(err)
		}
	}
	for _, app := range repo.Apps {
		for i := range c.Environments {
			env := &c.Environments[i]
			fmt.Fprintf(&b, "# app %s, environment %s\n", app.Name, env.Name)
			res, err := Render(repo, app.Name, env, Vars{Commit: "4f2a9c1e7b3d5a6f8e0c2b4d6f8a0c2e4b6d8f0a", Branch: "main", Repo: "example/repo", Overrides: over})
			if res != nil {
				for _, w := range res.Warnings {
					fmt.Fprintf(&b, "# warning: %s\n", w)
				}
			}
			if err != nil {
				fmt.Fprintf(&b, "# error:\n# %s\n", strings.ReplaceAll(err.Error(), "\n", "\n# "))
				continue
			}
			fmt.Fprintf(&b, "# digest: %s\n# images: %s\n", res.Digest, strings.Join(res.Images, ", "))
			y, err := YAML(res.Objects)
			if err != nil {
				t.Fatal(err)
			}
			b.WriteString("---\n")
			b.Write(y)
			b.WriteString("...\n")
		}
	}
	return b.Bytes()
}

func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/golden/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		t.Fatal("no golden cases in testdata/golden")
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		t.Run(name, func(t *testing.T) {
			c := readCase(t, in)
			checkGolden(t, c, strings.TrimSuffix(in, ".yaml")+".golden", "TestGolden")
		})
	}
}

// readCase reads the golden case in the file in, refusing unknown fields.
func readCase(t *testing.T, in string) *goldenCase {
	t.Helper()
	data, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	var c goldenCase
	if err := sigsyaml.UnmarshalStrict(data, &c); err != nil {
		t.Fatalf("%s: %v", in, err)
	}
	return &c
}

// checkGolden renders c twice (the renders must agree) and compares the report with the file
// golden, or with -update rewrites it; test names the test to run with -update.
func checkGolden(t *testing.T, c *goldenCase, golden, test string) {
	t.Helper()
	got := renderCase(t, c)
	if again := renderCase(t, c); !bytes.Equal(got, again) {
		t.Errorf("a second render differs (-first +second):\n%s", cmp.Diff(string(got), string(again)))
	}
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, test)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got); got:\n%s\ndiff:\n%s", golden, got, diff)
	}
}

func ingressDomains(domains ...string) []environments.IngressDomain {
	out := make([]environments.IngressDomain, len(domains))
	for i, d := range domains {
		out[i] = environments.IngressDomain{Domain: d, Class: "class-" + d}
	}
	return out
}
