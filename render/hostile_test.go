package render

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/flyt-platform/flyt/environments"
)

// hostileCase is a team repository built to hurt the platform, and what flyt must say about it.
type hostileCase struct {
	name   string
	files  fstest.MapFS
	limits environments.Limits
	// want is part of the error; file is the file it must name.
	want, file string
	// limit says the error must wrap ErrLimit.
	limit bool
}

func configMapApp(data string) string {
	return minimalApp + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n" + data
}

func hostileCases() []hostileCase {
	laughs := "a0: &a0 lol\n"
	for i := 1; i <= 9; i++ {
		laughs += fmt.Sprintf("a%d: &a%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 10), ", "))
	}
	many := fstest.MapFS{".nais/nais.yaml": {Data: []byte(minimalApp)}}
	for i := range 2100 {
		many[fmt.Sprintf(".nais/vars/x%04d.yaml", i)] = &fstest.MapFile{Data: []byte("a: 1\n")}
	}
	var cms strings.Builder
	cms.WriteString(minimalApp)
	for i := range 501 {
		fmt.Fprintf(&cms, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c%d\n", i)
	}
	wide := fstest.MapFS{".nais/nais.yaml": {Data: []byte(minimalApp)}}
	for i := range 6 {
		var b strings.Builder
		fmt.Fprintf(&b, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-%d\ndata:\n", i)
		for k := range 25_000 {
			fmt.Fprintf(&b, "  k%d: v\n", k)
		}
		wide[fmt.Sprintf(".nais/cm%d.yaml", i)] = &fstest.MapFile{Data: []byte(b.String())}
	}
	return []hostileCase{
		{name: "many documents, each within the limit", files: wide, want: "the app's files hold more than 250000 YAML values in all", file: ".nais/cm4.yaml", limit: true},
		{name: "self-referencing alias", files: fstest.MapFS{".nais/nais.yaml": {Data: []byte(configMapApp("data: &a {b: *a}\n"))}},
			want: "alias *a refers to a map or list that contains it", file: ".nais/nais.yaml"},
		{name: "billion laughs in a vars file", files: fstest.MapFS{".nais/nais.yaml": {Data: []byte(minimalApp)}, ".nais/vars-dev.yaml": {Data: []byte(laughs)}},
			want: "with its aliases expanded, this holds more than 250000 values", file: ".nais/vars-dev.yaml", limit: true},
		{name: "billion laughs in a manifest", files: fstest.MapFS{".nais/nais.yaml": {Data: []byte(configMapApp("data:\n  x: y\n") + "---\n" + laughs)}},
			want: "more than 250000 values", file: ".nais/nais.yaml", limit: true},
		{name: "each with an argument too many", files: fstest.MapFS{".nais/nais.yaml": {Data: []byte(minimalApp + "x: \"{{#each 0 A}}{{/each}}\"\n")}, ".nais/vars-dev.yaml": {Data: []byte("0: x\n")}},
			want: "each takes 1 argument, not 2", file: ".nais/nais.yaml"},
		{name: "100000 nested ifs", files: fstest.MapFS{".nais/nais.yaml": {Data: []byte(minimalApp + "x: " + strings.Repeat("{{#if a}}", 100_000) + strings.Repeat("{{/if}}", 100_000) + "\n")}},
			limits: environments.Limits{FileSize: 4 << 20}, want: "templates nest deeper than 32 blocks", file: ".nais/nais.yaml", limit: true},
		{name: "nested subexpressions", files: fstest.MapFS{".nais/nais.yaml": {Data: []byte(minimalApp + "x: {{lookup " + strings.Repeat("(lookup ", 50) + "a" + strings.Repeat(" b)", 50) + " c}}\n")}},
			want: "templates nest deeper than 32", file: ".nais/nais.yaml", limit: true},
		{name: "50 MB manifest", files: fstest.MapFS{".nais/nais.yaml": {Data: []byte(configMapApp("data:\n  x: " + strings.Repeat("y", 50<<20) + "\n"))}},
			want: "more than the 1Mi flyt reads from one file", file: ".nais/nais.yaml", limit: true},
		{name: "huge vars file", files: fstest.MapFS{".nais/nais.yaml": {Data: []byte(minimalApp)}, ".nais/vars-dev.yaml": {Data: []byte(strings.Repeat("k: v\n", 1<<19))}},
			want: "more than the 1Mi flyt reads from one file", file: ".nais/vars-dev.yaml", limit: true},
		{name: "each inside each", files: fstest.MapFS{".nais/nais.yaml": {Data: []byte(configMapApp("data:\n  x: \"{{#each l}}{{#each l}}{{#each l}}0123456789{{/each}}{{/each}}{{/each}}\"\n"))},
			".nais/vars-dev.yaml": {Data: []byte("l: [" + strings.TrimSuffix(strings.Repeat("1,", 500), ",") + "]\n")}},
			want: "the app's files expand to more than 4Mi in all", file: ".nais/nais.yaml", limit: true},
		{name: "loops that write nothing", files: fstest.MapFS{".nais/nais.yaml": {Data: []byte(configMapApp("data:\n  x: \"{{#each l}}{{#each l}}{{#each l}}{{/each}}{{/each}}{{/each}}\"\n"))},
			".nais/vars-dev.yaml": {Data: []byte("l: [" + strings.TrimSuffix(strings.Repeat("1,", 5000), ",") + "]\n")}},
			want: "the app's files expand to more than 4Mi in all", file: ".nais/nais.yaml", limit: true},
		{name: "deep JSON", files: fstest.MapFS{".nais/nais.yaml": {Data: []byte(minimalApp)}, ".nais/vars-dev.json": {Data: []byte(`{"a": ` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "}")}},
			want: "nest deeper than 100 levels", file: ".nais/vars-dev.json", limit: true},
		{name: "deep block YAML", files: fstest.MapFS{".nais/nais.yaml": {Data: []byte(configMapApp("data:\n" + deepBlock(150)))}},
			want: "nest deeper than 100 levels", file: ".nais/nais.yaml", limit: true},
		{name: "many files", files: many, want: "more than 2000 files", limit: true},
		{name: "many objects", files: fstest.MapFS{".nais/nais.yaml": {Data: []byte(cms.String())}}, want: "renders to more than 500 objects", file: ".nais/nais.yaml", limit: true},
		{name: "object over the size limit", files: fstest.MapFS{".nais/nais.yaml": {Data: []byte(configMapApp("data:\n  x: " + strings.Repeat("y", 1100<<10) + "\n"))}},
			limits: environments.Limits{FileSize: 4 << 20}, want: "ConfigMap c is 1.1Mi encoded, more than the 1Mi flyt sends to a cluster (the API server takes at most 3Mi per request", file: ".nais/nais.yaml", limit: true},
		{name: "repository over its size", files: fstest.MapFS{".nais/nais.yaml": {Data: []byte(minimalApp)}, ".nais/vars-dev.yaml": {Data: []byte("a: " + strings.Repeat("b", 900<<10) + "\n")}, ".nais/vars.yaml": {Data: []byte("c: " + strings.Repeat("d", 900<<10) + "\n")}},
			limits: environments.Limits{RepoSize: 1 << 20}, want: "past 1Mi read in all", limit: true},
		{name: "binary file", files: fstest.MapFS{".nais/nais.yaml": {Data: []byte(minimalApp)}, ".nais/vars-dev.yaml": {Data: []byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0xff, 0xfe}}},
			want: "broken YAML", file: ".nais/vars-dev.yaml"},
		{name: "invalid UTF-8", files: fstest.MapFS{".nais/nais.yaml": {Data: []byte(minimalApp + "  env:\n    - name: A\n      value: \"\xc3\x28\"\n")}},
			want: "broken YAML", file: ".nais/nais.yaml"},
	}
}

func deepBlock(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%sk%d:\n", strings.Repeat(" ", i+2), i)
	}
	fmt.Fprintf(&b, "%sx: y\n", strings.Repeat(" ", n+2))
	return b.String()
}

// TestHostileRepositories: every input built to crash, starve or exhaust the process ends as
// an error naming the file (and the limit, with the setting that raises it), and the memory it
// costs stays small: the bytes allocated while loading and rendering it bound the extra heap it
// can hold at its peak.
func TestHostileRepositories(t *testing.T) {
	env := Environment{Name: "dev", Team: "team-a", Namespace: "team-a", RawKinds: []string{"ConfigMap"}}
	for _, tc := range hostileCases() {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			err := loadAndRender(tc.files, tc.limits, &env)
			runtime.ReadMemStats(&after)
			allocated := after.TotalAlloc - before.TotalAlloc
			t.Logf("allocated %.1f MiB: %.200v", float64(allocated)/(1<<20), err)
			if err == nil {
				t.Fatal("rendered without an error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if tc.file != "" && !strings.Contains(err.Error(), tc.file+":") {
				t.Errorf("error %q does not name %s", err, tc.file)
			}
			if !IsSpecError(err) {
				t.Errorf("error %q is not a spec error: the deploy would be retried instead of recorded as a failure", err)
			}
			if tc.limit && (!errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "limits.")) {
				t.Errorf("error %q does not wrap ErrLimit or name the limits.* setting", err)
			}
			if errors.Is(err, ErrPanic) {
				t.Errorf("the input made flyt panic: %v", err)
			}
			// The inputs themselves are up to 50 MiB; beyond them, a render may not cost more
			// than a small share of the 1 GiB flyt runs in.
			var input int
			for _, f := range tc.files {
				input += len(f.Data)
			}
			if extra := int64(allocated) - int64(input); extra > 64<<20 {
				t.Errorf("allocated %d MiB beyond the input's %d MiB; want at most 64 MiB", extra>>20, input>>20)
			}
		})
	}
}

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

// TestPanicBecomesError: a panic inside LoadRepo or Render is caught at the boundary and comes
// back as a spec error naming the file being worked on, not as a crash.
func TestPanicBecomesError(t *testing.T) {
	run := func(file string) (err error) {
		defer recovered(&file, &err)
		var m map[string]int
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
// needs, so each limit can be lowered a lot before the example repositories notice.
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
