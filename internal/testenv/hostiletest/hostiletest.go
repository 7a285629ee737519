// Package hostiletest holds team repositories built to crash, starve or read past flyt, for
// the suites that run them end to end: through a real `flyt serve` (internal/serve) and
// through `flyt render` / `flyt validate` (cmd/flyt). Both suites take the inputs from here so
// that the server and the CLI are tried on exactly the same bytes.
//
// Each case is one harmless Application (App) beside one hostile file or a few. The cases
// assume the platform limits of Limits: a few are lowered so that the inputs stay small in
// Git, and fileSize keeps its default so that one case tries the default with a file just
// over 1Mi.
package hostiletest

import (
	"fmt"
	"strings"
)

// Limits is the limits: block of the platform.yaml the cases are written for. The lowered
// limits keep the repositories small (a 300-file repository, not a 2100-file one); fileSize,
// templateOutput, yamlValues, yamlDepth and templateDepth keep their defaults.
const Limits = `limits:
  repoFiles: 300
  repoSize: 2Mi
  objects: 50
  objectSize: 256Ki
`

// Marker is what the file outside the repository holds (see Case.Symlinks): when it shows
// in any output, flyt read past the repository.
const Marker = "FLYT-OUTSIDE-THE-REPOSITORY-7f3a"

// MarkerFile is the content of the file outside the repository: a valid vars file, so that a
// flyt that follows the link renders the marker into a ConfigMap instead of failing.
const MarkerFile = "leaked: " + Marker + "\n"

// Case is one hostile repository.
type Case struct {
	// Name says what the case is; Slug is Name as a DNS label, for app and repository names.
	Name, Slug string
	// Files are the repository's files beside the harmless app's .nais/app.yaml (path →
	// content; binary content is fine).
	Files map[string]string
	// Symlinks are symbolic links to commit (path → target); the target OutsideTarget stands
	// for a file outside the repository holding MarkerFile, which the suite creates.
	Symlinks map[string]string
	// GitFolder says Files hold paths inside a .git folder, which the git command refuses to
	// commit: the suite writes the commit with go-git.
	GitFolder bool
	// File is the file the message must name ("" when the limit is the repository's), Want
	// part of what it must say.
	File, Want string
	// LinkOut says the case is a link out of the repository. It must fail naming File and
	// must not read the link's target; Want (what the message should say) is not required
	// yet, since today flyt reads a link's text as the file's content.
	LinkOut bool
	// Ignored says the hostile part is never read: the harmless app deploys, and nothing of
	// the hostile files is rendered (the .git folder, which flyt skips).
	Ignored bool
}

// appName in a file's content is replaced by the case's app name (Slug).
const appName = "\x00app\x00"

// OutsideTarget is the Symlinks target that is replaced by the path of the file outside the
// repository.
const OutsideTarget = "\x00outside\x00"

// App is the harmless Application of a case: it renders and deploys on its own.
func App(name string) string { return AppTag(name, "1") }

// AppTag is App with image tag tag: a commit that changes it deploys, where one that renders
// exactly as before is only checked for drift and leaves no record.
func AppTag(name, tag string) string {
	return "apiVersion: nais.io/v1alpha1\nkind: Application\nmetadata:\n  name: " + name + "\nspec:\n  image: registry.example/" + name + ":" + tag + "\n  replicas: {min: 1, max: 1}\n"
}

// configMap is a ConfigMap manifest with the given data: block (indented, with its key).
func configMap(body string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n" + body
}

// laughs is the "billion laughs" alias bomb: 10 aliases of 10 aliases, 10^9 values expanded.
func laughs() string {
	s := "a0: &a0 lol\n"
	for i := 1; i <= 9; i++ {
		s += fmt.Sprintf("a%d: &a%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 10), ", "))
	}
	return s
}

func deepBlock(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%sk%d:\n", strings.Repeat(" ", i+2), i)
	}
	fmt.Fprintf(&b, "%sx: y\n", strings.Repeat(" ", n+2))
	return b.String()
}

// Cases returns every hostile repository, for the limits of Limits.
func Cases() []Case {
	many := map[string]string{}
	for i := range 310 {
		many[fmt.Sprintf(".nais/vars/x%04d.yaml", i)] = "a: 1\n"
	}
	var cms strings.Builder
	for i := range 51 {
		fmt.Fprintf(&cms, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c%d\n", i)
	}
	list := func(n int) string { return "l: [" + strings.TrimSuffix(strings.Repeat("1,", n), ",") + "]\n" }
	const cm = ".nais/config.yaml"
	wide := map[string]string{}
	for i := range 6 {
		var b strings.Builder
		fmt.Fprintf(&b, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: wide-%d\ndata:\n", i)
		for k := range 20_000 {
			fmt.Fprintf(&b, "  k%d: v\n", k)
		}
		wide[fmt.Sprintf(".nais/cm%d.yaml", i)] = b.String()
	}
	cases := []Case{
		{Name: "many documents each within the limit", Files: wide, File: ".nais/cm2.yaml", Want: "the app's files hold more than 100000 YAML values in all"},
		{Name: "self-referencing alias", Files: map[string]string{cm: configMap("data: &a {b: *a}\n")},
			File: cm, Want: "alias *a refers to a map or list that contains it"},
		{Name: "billion laughs in a vars file", Files: map[string]string{".nais/vars-dev.yaml": laughs()},
			File: ".nais/vars-dev.yaml", Want: "with its aliases expanded, this holds more than 100000 values"},
		{Name: "billion laughs in a manifest", Files: map[string]string{cm: configMap("data:\n  x: y\n") + "---\n" + laughs()},
			File: cm, Want: "more than 100000 values"},
		{Name: "each with an argument too many", Files: map[string]string{cm: configMap("data:\n  x: \"{{#each 0 A}}{{/each}}\"\n"), ".nais/vars-dev.yaml": "0: x\n"},
			File: cm, Want: "each takes 1 argument, not 2"},
		{Name: "30000 nested ifs", Files: map[string]string{cm: configMap("data:\n  x: " + strings.Repeat("{{#if a}}", 30_000) + strings.Repeat("{{/if}}", 30_000) + "\n")},
			File: cm, Want: "templates nest deeper than 32 blocks"},
		{Name: "nested subexpressions", Files: map[string]string{cm: configMap("data:\n  x: {{lookup " + strings.Repeat("(lookup ", 50) + "a" + strings.Repeat(" b)", 50) + " c}}\n")},
			File: cm, Want: "templates nest deeper than 32"},
		{Name: "manifest just over 1Mi", Files: map[string]string{cm: configMap("data:\n  x: " + strings.Repeat("y", 1<<20) + "\n")},
			File: cm, Want: "more than the 1Mi flyt reads from one file"},
		{Name: "huge vars file", Files: map[string]string{".nais/vars-dev.yaml": strings.Repeat("k: v\n", 1<<18)},
			File: ".nais/vars-dev.yaml", Want: "more than the 1Mi flyt reads from one file"},
		{Name: "each inside each", Files: map[string]string{cm: configMap("data:\n  x: \"{{#each l}}{{#each l}}{{#each l}}0123456789{{/each}}{{/each}}{{/each}}\"\n"), ".nais/vars-dev.yaml": list(500)},
			File: cm, Want: "the app's files expand to more than 4Mi in all"},
		{Name: "loops that write nothing", Files: map[string]string{cm: configMap("data:\n  x: \"{{#each l}}{{#each l}}{{#each l}}{{/each}}{{/each}}{{/each}}\"\n"), ".nais/vars-dev.yaml": list(5000)},
			File: cm, Want: "the app's files expand to more than 4Mi in all"},
		{Name: "deep JSON", Files: map[string]string{".nais/vars-dev.json": `{"a": ` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "}"},
			File: ".nais/vars-dev.json", Want: "nest deeper than 100 levels"},
		{Name: "deep block YAML", Files: map[string]string{cm: configMap("data:\n" + deepBlock(150))},
			File: cm, Want: "nest deeper than 100 levels"},
		{Name: "many files", Files: many, Want: "more than 300 files"},
		{Name: "many objects", Files: map[string]string{cm: cms.String()}, File: cm, Want: "renders to more than 50 objects"},
		{Name: "object over the size limit", Files: map[string]string{cm: configMap("data:\n  x: " + strings.Repeat("y", 300<<10) + "\n")},
			File: cm, Want: "more than the 256Ki flyt sends to a cluster (the API server takes at most 3Mi per request"},
		{Name: "repository over its size", Files: map[string]string{
			".nais/vars.yaml":     "a: " + strings.Repeat("b", 900<<10) + "\n",
			".nais/values.yaml":   "c: " + strings.Repeat("d", 900<<10) + "\n",
			".nais/vars-dev.yaml": "e: " + strings.Repeat("f", 900<<10) + "\n"},
			Want: "past 2Mi read in all"},
		{Name: "binary file", Files: map[string]string{".nais/vars-dev.yaml": "\x7fELF\x02\x01\x01\x00\x00\x00\xff\xfe"},
			File: ".nais/vars-dev.yaml", Want: "broken YAML"},
		{Name: "invalid UTF-8", Files: map[string]string{cm: configMap("data:\n  x: \"\xc3\x28\"\n")},
			File: cm, Want: "broken YAML"},
		{Name: "symlink out of the repository", Files: map[string]string{cm: configMap("data:\n  leaked: \"{{leaked}}\"\n")},
			Symlinks: map[string]string{".nais/vars-dev.yaml": OutsideTarget}, LinkOut: true,
			File: ".nais/vars-dev.yaml", Want: "symbolic link that leads out of the repository"},
		{Name: "symlink named in flyt yaml", Files: map[string]string{
			".flyt.yaml": "apps:\n  - name: " + appName + "\n    files: [.nais/app.yaml, " + cm + "]\n    vars: [.nais/vars-dev.yaml]\n",
			cm:           configMap("data:\n  leaked: \"{{leaked}}\"\n")},
			Symlinks: map[string]string{".nais/vars-dev.yaml": OutsideTarget}, LinkOut: true,
			File: ".nais/vars-dev.yaml", Want: "symbolic link that leads out of the repository"},
		{Name: "git folder inside the tree", GitFolder: true, Ignored: true, Files: map[string]string{
			".nais/app.yaml":       AppTag(appName, "2"),
			".nais/.git/config":    "[core]\n\trepositoryformatversion = 0\n\tbare = false\n[remote \"origin\"]\n\turl = https://example.invalid/x\n",
			".nais/.git/app.yaml":  App("sneaky"),
			".nais/.git/bomb.yaml": laughs()}},
	}
	for i := range cases {
		c := &cases[i]
		c.Slug = slug(c.Name)
		for p, data := range c.Files {
			c.Files[p] = strings.ReplaceAll(data, appName, c.Slug)
		}
	}
	return cases
}

// slug makes a DNS label of s: lower case letters, digits and dashes, at most 40 long.
func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String()[:min(b.Len(), 40)], "-")
}
