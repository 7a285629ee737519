package environments

import (
	"errors"
	"os"
	"testing"

	"github.com/flyt-platform/flyt/internal/yamlpos"
)

func FuzzParse(f *testing.F) {
	for _, file := range []string{"../examples/platform.yaml", "testdata/full.yaml"} {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(base))
	f.Add([]byte("environments: [{name: a, windows: [{action: deny, start: Sun 23:59, end: Sun 00:00}]}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("platform.yaml", data)
		if err != nil {
			var pe *yamlpos.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error without position: %T %v", err, err)
			}
			return
		}
		// A config that loads must be usable by the policy checks.
		for i := range p.Environments {
			e := &p.Environments[i]
			if _, err := e.compileWindows(); err != nil {
				t.Fatalf("loaded config has a bad window: %v", err)
			}
			for j := range p.Teams {
				if ns := e.TeamNamespace(&p.Teams[j]); !e.NamespaceAllowed(&p.Teams[j], ns) {
					t.Fatalf("team %s may not use its own namespace %q", p.Teams[j].Name, ns)
				}
			}
		}
	})
}
