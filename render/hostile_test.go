package render

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/internal/testenv/hostiletest"
)

// hostileLimits are the limits hostiletest.Limits sets in the platform config its cases are
// written for.
var hostileLimits = environments.Limits{RepoFiles: 300, RepoSize: 2 << 20, Objects: 50, ObjectSize: 256 << 10}

// TestHostileRepositories: every input built to crash, starve or exhaust the process ends as
// an error naming the file (and the limit, with the setting that raises it), and the memory it
// costs stays small: the bytes allocated while loading and rendering it bound the extra heap it
// can hold at its peak. The inputs are hostiletest's, which internal/serve and cmd/flyt also
// run through a real flyt serve and the CLI; the cases that need Git (links, a .git folder)
// are tested there and in sync/source.
func TestHostileRepositories(t *testing.T) {
	env := Environment{Name: "dev", Team: "team-a", Namespace: "team-a", RawKinds: []string{"ConfigMap"}}
	for _, tc := range hostiletest.Cases() {
		if len(tc.Symlinks) > 0 || tc.GitFolder {
			continue
		}
		t.Run(tc.Name, func(t *testing.T) {
			files := fstest.MapFS{".nais/app.yaml": {Data: []byte(hostiletest.App(tc.Slug))}}
			var input int
			for p, data := range tc.Files {
				files[p] = &fstest.MapFile{Data: []byte(data)}
				input += len(data)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			err := loadAndRender(files, hostileLimits, &env)
			runtime.ReadMemStats(&after)
			allocated := after.TotalAlloc - before.TotalAlloc
			t.Logf("allocated %.1f MiB: %.200v", float64(allocated)/(1<<20), err)
			if err == nil {
				t.Fatal("rendered without an error")
			}
			if !strings.Contains(err.Error(), tc.Want) {
				t.Errorf("error %q does not say %q", err, tc.Want)
			}
			if tc.File != "" && !strings.Contains(err.Error(), tc.File+":") {
				t.Errorf("error %q does not name %s", err, tc.File)
			}
			if !IsSpecError(err) {
				t.Errorf("error %q is not a spec error: the deploy would be retried instead of recorded as a failure", err)
			}
			// A message that names a limits.* setting is a limit hit, and the other way round.
			if errors.Is(err, ErrLimit) != strings.Contains(err.Error(), "limits.") {
				t.Errorf("error %q: wraps ErrLimit %v, names a limits.* setting %v", err, errors.Is(err, ErrLimit), strings.Contains(err.Error(), "limits."))
			}
			if errors.Is(err, ErrPanic) {
				t.Errorf("the input made flyt panic: %v", err)
			}
			// Beyond the input itself, a render may not cost more than a small share of the
			// 1 GiB flyt runs in.
			if extra := int64(allocated) - int64(input); extra > 64<<20 {
				t.Errorf("allocated %d MiB beyond the input's %d MiB; want at most 64 MiB", extra>>20, input>>20)
			}
		})
	}
}

// TestDefaultLimits: the inputs hostiletest shrinks to its lowered limits are refused at the
// defaults too.
func TestDefaultLimits(t *testing.T) {
	env := Environment{Name: "dev", Team: "team-a", Namespace: "team-a", RawKinds: []string{"ConfigMap"}}
	many := fstest.MapFS{".nais/nais.yaml": {Data: []byte(minimalApp)}}
	for i := range 2100 {
		many[fmt.Sprintf(".nais/vars/x%04d.yaml", i)] = &fstest.MapFile{Data: []byte("a: 1\n")}
	}
	var cms strings.Builder
	cms.WriteString(minimalApp)
	for i := range 501 {
		cms.WriteString("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c" + itoa(i) + "\n")
	}
	tests := []struct {
		name  string
		files fstest.MapFS
		want  string
	}{
		{"many files", many, "more than 2000 files"},
		{"many objects", fstest.MapFS{".nais/nais.yaml": {Data: []byte(cms.String())}}, "renders to more than 500 objects"},
		{"object over 1Mi", fstest.MapFS{".nais/nais.yaml": {Data: []byte(minimalApp + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  x: {{big}}{{big}}\n")},
			".nais/vars-dev.yaml": {Data: []byte("big: " + strings.Repeat("y", 600<<10) + "\n")}}, "ConfigMap c is 1.2Mi encoded"},
		{"repository over 8Mi", func() fstest.MapFS {
			f := fstest.MapFS{".nais/nais.yaml": {Data: []byte(minimalApp)}}
			for i := range 9 {
				f[".nais/vars-"+itoa(i)+".yaml"] = &fstest.MapFile{Data: []byte("a: " + strings.Repeat("b", 1000<<10) + "\n")}
			}
			return f
		}(), "past 8Mi read in all"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := loadAndRender(tt.files, environments.Limits{}, &env)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrLimit) {
				t.Errorf("got %.300v, want a limit error saying %q", err, tt.want)
			}
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func loadAndRender(files fstest.MapFS, lim environments.Limits, env *Environment) error {
	repo, err := LoadRepo(files, ".", LoadOptions{Environments: []string{"dev"}, Limits: lim})
	if err != nil {
		return err
	}
	var errs []error
	for _, a := range repo.Apps {
		if _, err := Render(repo, a.Name, env, Vars{Commit: "abc"}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// nilMap returns a nil map, for TestPanicBecomesError to write to: the panic must happen in
// the test's own function, and a write to a literal nil map there is flagged by staticcheck.
func nilMap() map[string]int { return nil }

// TestPanicBecomesError: a panic inside LoadRepo or Render is caught at the boundary and comes
// back as a spec error naming the file being worked on, not as a crash.
func TestPanicBecomesError(t *testing.T) {
	run := func(file string) (err error) {
		defer recovered(&file, &err)
		m := nilMap()
		m["x"] = 1 // assignment to a nil map panics
		return nil
	}
	err := run(".nais/app.yaml")
	if !errors.Is(err, ErrPanic) || !IsSpecError(err) {
		t.Fatalf("got %v, want a spec error wrapping ErrPanic", err)
	}
	for _, want := range []string{".nais/app.yaml: ", "assignment to entry in nil map", "render.TestPanicBecomesError.func1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
}

// TestLimitsLeaveRealRepositoriesAlone: the defaults are far from what a real repository
// needs, so each limit can be lowered a lot before a typical app notices.
func TestLimitsLeaveRealRepositoriesAlone(t *testing.T) {
	env := Environment{Name: "dev", Cluster: "dev", Team: "team-a", Namespace: "team-a",
		Ingresses: ingressDomains("intern.dev.example.no"), Integrations: []string{"azure"},
		Image: "registry.example/{{team}}/{{app}}:{{commit}}"}
	tight := environments.Limits{FileSize: 64 << 10, RepoFiles: 20, RepoSize: 256 << 10, YAMLValues: 5000, YAMLDepth: 20,
		TemplateDepth: 4, TemplateOutput: 64 << 10, Objects: 20, ObjectSize: 32 << 10}
	if err := loadAndRender(typicalApp, tight, &env); err != nil {
		t.Fatalf("a typical app fails under limits a 16th of the defaults: %v", err)
	}
}
