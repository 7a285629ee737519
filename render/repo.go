package render

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/internal/yamlpos"
)

// RepoConfigFile is the repo config at the root of a team repository (or of its Path).
const RepoConfigFile = ".flyt.yaml"

// Repo is a team repository at one revision, read into memory: the files of every app and the
// config that says how they combine per environment. LoadRepo does all the reading; Render
// then needs no I/O.
type Repo struct {
	// Apps are sorted by name.
	Apps []*App
	// Strict turns undefined variables and unsupported integrations into errors for every app.
	Strict bool
	// Image is the repository's image pattern; it wins over the environment's.
	Image string
	// Config is the repo config file ("" when the conventions were used).
	Config string
	// Limits bound what Render may build from the repository (template output, objects and
	// their size); LoadRepo has applied the reading limits.
	Limits environments.Limits

	files     map[string]string    // path → contents, for every file any app uses
	templates map[string]*template // every file parsed as a template, by LoadRepo
	// varsDocs caches vars files decoded (they are not templates), or the error decoding them.
	varsDocs map[string]varsFile
	// images caches parsed image patterns; Render may run concurrently, hence the lock.
	imagesMu sync.Mutex
	images   map[string]*template
}

// varsFile is a decoded vars file.
type varsFile struct {
	values []map[string]any
	err    error
}

// imageTemplate returns pattern parsed, parsing each pattern once.
func (r *Repo) imageTemplate(pattern string) (*template, error) {
	r.imagesMu.Lock()
	defer r.imagesMu.Unlock()
	if t, ok := r.images[pattern]; ok {
		return t, nil
	}
	t, err := parseTemplate("image pattern", pattern, r.Limits)
	if err != nil {
		return nil, err
	}
	if r.images == nil {
		r.images = map[string]*template{}
	}
	r.images[pattern] = t
	return t, nil
}

// App is one application of a repository and the files it is made of.
type App struct {
	// Name is the Application's metadata.name.
	Name string
	// Files are rendered for every environment, unless the environment lists its own Files.
	Files []string
	// Vars are vars files read for every environment, before the environment's own.
	Vars []string
	// Environments maps an environment name to what differs there. An app that names
	// environments deploys only to those, unless Everywhere; one that names none deploys
	// everywhere.
	Environments map[string]*AppEnv
	// Everywhere says the app deploys to every environment, also those it does not name. The
	// conventions set it for a base file whose environments differ only by overlays: the base
	// alone is complete.
	Everywhere bool
}

// AppEnv is what one environment changes for an app.
type AppEnv struct {
	// Files, when set, replace App.Files (full per-environment copies).
	Files []string `json:"files,omitempty"`
	// Vars are vars files, read in order (later ones win) after App.Vars.
	Vars []string `json:"vars,omitempty"`
	// Values are variables written inline; they win over every vars file.
	Values map[string]any `json:"values,omitempty"`
	// Overlays maps a file to the files deep-merged over it, in order.
	Overlays map[string][]string `json:"overlays,omitempty"`
}

// EnvironmentNames returns the environments the app names, sorted.
func (a *App) EnvironmentNames() []string { return sortedKeys(a.Environments) }

// App returns the app called name, or nil.
func (r *Repo) App(name string) *App {
	for _, a := range r.Apps {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// EnvironmentNames returns every environment any app names, sorted.
func (r *Repo) EnvironmentNames() []string {
	set := map[string]bool{}
	for _, a := range r.Apps {
		for e := range a.Environments {
			set[e] = true
		}
	}
	return sortedKeys(set)
}

// repoConfig is the schema of .flyt.yaml.
type repoConfig struct {
	Strict bool            `json:"strict,omitempty"`
	Image  string          `json:"image,omitempty"`
	Apps   []repoConfigApp `json:"apps"`
}

type repoConfigApp struct {
	Name         string             `json:"name"`
	Files        []string           `json:"files,omitempty"`
	Vars         []string           `json:"vars,omitempty"`
	Environments map[string]*AppEnv `json:"environments,omitempty"`
	Everywhere   bool               `json:"everywhere,omitempty"`
}

// LoadRepo reads the repository rooted at dir in fsys (a Git tree or a directory): its
// .flyt.yaml if there is one, else the .nais/ conventions described in the package doc.
// Problems with the files, a limit of opts.Limits hit among them, are *Error; failures to read
// them are wrapped as they come. A panic while loading is an *Error wrapping ErrPanic.
func LoadRepo(fsys fs.FS, dir string, opts LoadOptions) (repo *Repo, err error) {
	lim := opts.Limits.WithDefaults()
	rd := &reader{fsys: fsys, lim: lim}
	defer recovered(&rd.current, &err)
	dir = path.Clean(dir)
	data, err := rd.read(path.Join(dir, RepoConfigFile), RepoConfigFile)
	switch {
	case err == nil:
		repo, err = loadConfigured(rd, dir, RepoConfigFile, data, opts.Environments)
	case errors.Is(err, fs.ErrNotExist):
		repo, err = discover(rd, dir, opts.Environments)
	}
	if err != nil {
		return nil, err
	}
	repo.Limits = lim
	if err := repo.parseAll(&rd.current); err != nil {
		return nil, err
	}
	return repo, nil
}

// readFiles reads every file the apps use into memory.
func (r *Repo) readFiles(rd *reader, dir string) error {
	var errs Errors
	add := func(p string) error {
		if _, ok := r.files[p]; ok {
			return nil
		}
		clean := path.Clean(p)
		if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
			errs = append(errs, &Error{File: r.Config, Msg: fmt.Sprintf("file %q is outside the repository; use a path relative to its root", p)})
			return nil
		}
		b, err := rd.read(path.Join(dir, clean), clean)
		var e *Error
		switch {
		case errors.Is(err, fs.ErrNotExist):
			errs = append(errs, &Error{File: r.Config, Msg: fmt.Sprintf("file %q does not exist", p)})
			return nil
		case errors.As(err, &e) && !errors.Is(err, ErrLimit):
			errs = append(errs, e)
			return nil
		case err != nil:
			return err // an I/O failure, or a limit that ends the load
		}
		r.files[p] = string(b)
		return nil
	}
	for _, a := range r.Apps {
		all := slices.Concat(a.Files, a.Vars)
		for _, e := range a.Environments {
			all = append(all, slices.Concat(e.Files, e.Vars)...)
			for _, base := range sortedKeys(e.Overlays) {
				all = append(all, e.Overlays[base]...)
			}
		}
		for _, p := range all {
			if err := add(p); err != nil {
				return err
			}
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// parseAll parses every file as a template once, so that Render only executes them. It keeps
// *current at the file it works on.
func (r *Repo) parseAll(current *string) error {
	r.templates = make(map[string]*template, len(r.files))
	r.varsDocs = map[string]varsFile{}
	for _, a := range r.Apps {
		vfs := slices.Clone(a.Vars)
		for _, e := range a.Environments {
			vfs = append(vfs, e.Vars...)
		}
		for _, p := range vfs {
			if _, ok := r.varsDocs[p]; ok {
				continue
			}
			var vf varsFile
			*current = p
			docs, err := parseDocuments(p, r.files[p], false, r.Limits.YAML())
			vf.err = err
			for _, d := range docs {
				m, ok := d.value.(map[string]any)
				if !ok {
					vf.err = &Error{File: p, Line: d.root().Line, Column: d.root().Column, Msg: "a vars file holds a map of names to values"}
					break
				}
				vf.values = append(vf.values, m)
			}
			r.varsDocs[p] = vf
		}
	}
	var errs Errors
	for _, p := range sortedKeys(r.files) {
		*current = p
		t, err := parseTemplate(p, r.files[p], r.Limits)
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				errs = append(errs, e)
				continue
			}
			return err
		}
		r.templates[p] = t
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func loadConfigured(rd *reader, dir, file string, data []byte, knownEnvs []string) (*Repo, error) {
	doc, err := yamlpos.Parse(file, data, rd.lim.YAML())
	if err != nil {
		return nil, fromYAMLPos(err)
	}
	var cfg repoConfig
	if err := doc.Decode(&cfg); err != nil {
		return nil, fromYAMLPos(err)
	}
	pos := func(p []string, _ bool) (string, int, int) {
		line, col := doc.Position(joinPath(p))
		return file, line, col
	}
	repo := &Repo{Strict: cfg.Strict, Image: cfg.Image, Config: file, files: map[string]string{}}
	var errs Errors
	seen := map[string]bool{}
	for i, a := range cfg.Apps {
		p := []string{"apps", fmt.Sprint(i)}
		if a.Name == "" {
			f, l, c := pos(p, false)
			errs = append(errs, &Error{File: f, Line: l, Column: c, Path: joinPath(p), Msg: "every app needs a name"})
			continue
		}
		if seen[a.Name] {
			f, l, c := pos(append(p, "name"), false)
			errs = append(errs, &Error{File: f, Line: l, Column: c, Path: joinPath(append(p, "name")), Msg: fmt.Sprintf("app %q is listed twice", a.Name)})
			continue
		}
		seen[a.Name] = true
		app := &App{Name: a.Name, Files: a.Files, Vars: a.Vars, Environments: a.Environments, Everywhere: a.Everywhere}
		if app.Environments == nil {
			app.Environments = map[string]*AppEnv{}
		}
		for name, e := range app.Environments {
			if e == nil {
				app.Environments[name] = &AppEnv{}
			}
		}
		repo.Apps = append(repo.Apps, app)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	slices.SortFunc(repo.Apps, func(a, b *App) int { return strings.Compare(a.Name, b.Name) })
	if err := repo.readFiles(rd, dir); err != nil {
		return nil, err
	}
	// The <base>.<env>.yaml convention holds here too, for the environments listed. Each
	// candidate is looked up by name: a large repository is never walked.
	for _, a := range repo.Apps {
		for _, env := range a.EnvironmentNames() {
			e := a.Environments[env]
			files := e.Files
			if files == nil {
				files = a.Files
			}
			for _, f := range files {
				for _, o := range overlayCandidates(f, env) {
					if isFile(rd.fsys, path.Join(dir, o)) && !slices.Contains(e.Overlays[f], o) {
						if e.Overlays == nil {
							e.Overlays = map[string][]string{}
						}
						e.Overlays[f] = append(e.Overlays[f], o)
					}
				}
			}
		}
	}
	if err := repo.readFiles(rd, dir); err != nil {
		return nil, err
	}
	return repo, nil
}

// isFile reports whether name is a file in fsys (a link to one included).
func isFile(fsys fs.FS, name string) bool {
	info, err := fs.Stat(fsys, name)
	return err == nil && info.Mode().IsRegular()
}

// fromYAMLPos turns the positioned problems of internal/yamlpos into this package's Errors,
// so callers classify every spec problem with one type.
func fromYAMLPos(err error) error {
	ps := yamlpos.Errors(err)
	if len(ps) == 0 {
		return err
	}
	out := make(Errors, len(ps))
	for i, p := range ps {
		out[i] = &Error{File: p.File, Line: p.Line, Column: p.Column, Path: p.Path, Msg: p.Msg, Err: p}
	}
	return out
}

// listDir returns the set of paths, relative to dir, of regular files under dir. Every entry
// it lists counts against the repository's file limit.
func listDir(rd *reader, dir string) (map[string]bool, error) {
	out := map[string]bool{}
	err := fs.WalkDir(rd.fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return fs.SkipDir
		}
		if p != dir {
			if err := rd.count(p); err != nil {
				return err
			}
		}
		if d.Type().IsRegular() {
			rel := strings.TrimPrefix(strings.TrimPrefix(p, dir), "/")
			if dir == "." {
				rel = p
			}
			out[rel] = true
		}
		return nil
	})
	var pe *fs.PathError
	if errors.As(err, &pe) {
		if e := linkProblem(pe.Path, err); e != nil {
			return nil, e
		}
	}
	if err != nil {
		if IsSpecError(err) {
			return nil, err
		}
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	return out, nil
}

// linkProblem turns a file the fs.FS would not follow a symbolic link for (ErrOutsideRepository,
// ErrLinkLoop) into the spec problem it is, naming the file and the link; nil for other errors.
func linkProblem(file string, err error) *Error {
	outside := errors.Is(err, ErrOutsideRepository)
	if !outside && !errors.Is(err, ErrLinkLoop) {
		return nil
	}
	link, target := file, ""
	var l interface{ Link() (string, string) }
	if errors.As(err, &l) {
		link, target = l.Link()
	}
	what := "this file is a symbolic link that"
	if link != file {
		what = fmt.Sprintf("the symbolic link %s on its path", link)
	}
	to := ""
	if target != "" {
		to = fmt.Sprintf(" (to %q)", target)
	}
	msg := fmt.Sprintf("%s leads out of the repository%s; flyt reads only files inside the repository: commit the file itself or link to a file inside it", what, to)
	if !outside {
		msg = fmt.Sprintf("%s never reaches a file%s: its links loop, link to a folder holding them, or chain more than 40 deep; link to the file itself", what, to)
	}
	return &Error{File: file, Msg: msg, Err: err}
}

var yamlExts = []string{".yaml", ".yml", ".json"}

// overlayCandidates returns the overlay names the convention looks for: app.yaml in prod →
// app.prod.yaml, app.prod.yml, app.prod.json.
func overlayCandidates(file, env string) []string {
	ext := path.Ext(file)
	stem := strings.TrimSuffix(file, ext)
	out := make([]string, 0, len(yamlExts))
	for _, x := range yamlExts {
		out = append(out, stem+"."+env+x)
	}
	return out
}

var (
	topKind   = regexp.MustCompile(`(?m)^kind:\s*["']?([A-Za-z0-9]+)["']?\s*(#.*)?$`)
	docSep    = regexp.MustCompile(`(?m)^---\s*$`)
	metaBlock = regexp.MustCompile(`(?m)^metadata:\s*$`)
	nameLine  = regexp.MustCompile(`^(\s+)name:\s*["']?([^"'#\s]+)["']?`)
)

// sniffed is what discovery learns from a file's text without rendering it.
type sniffed struct {
	path  string
	stem  string
	kinds []string // top-level kinds, one per document that has one
	apps  []string // names of the Applications it holds
	names []string // names of its other objects
}

// sniff reads kinds and names from text by lines, since templates are not YAML until rendered.
func sniff(p, text string) sniffed {
	s := sniffed{path: p, stem: strings.TrimSuffix(path.Base(p), path.Ext(p))}
	for _, doc := range docSep.Split(text, -1) {
		m := topKind.FindStringSubmatch(doc)
		if m == nil {
			continue
		}
		s.kinds = append(s.kinds, m[1])
		name := metadataName(doc)
		if m[1] == naisKind {
			if name == "" || strings.Contains(name, "{{") {
				name = s.stem
			}
			s.apps = append(s.apps, name)
		} else if name != "" {
			s.names = append(s.names, name)
		}
	}
	return s
}

func metadataName(doc string) string {
	loc := metaBlock.FindStringIndex(doc)
	if loc == nil {
		return ""
	}
	indent := ""
	for line := range strings.Lines(doc[loc[1]:]) {
		line = strings.TrimSuffix(line, "\n")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if line[0] != ' ' && line[0] != '\t' {
			return ""
		}
		lead := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
		if indent == "" {
			indent = lead
		}
		if lead != indent {
			continue
		}
		if m := nameLine.FindStringSubmatch(line); m != nil {
			return m[2]
		}
	}
	return ""
}

// envOfVars returns the environment a vars file is for ("" for every environment): vars-dev,
// dev-vars, vars/dev and dev all mean dev.
func envOfVars(p string) string {
	stem := strings.TrimSuffix(path.Base(p), path.Ext(p))
	if path.Base(path.Dir(p)) == "vars" {
		return stem
	}
	for _, pre := range []string{"vars-", "vars_", "vars.", "values-", "values_"} {
		if rest, ok := strings.CutPrefix(stem, pre); ok {
			return rest
		}
	}
	for _, suf := range []string{"-vars", "_vars", ".vars"} {
		if rest, ok := strings.CutSuffix(stem, suf); ok {
			return rest
		}
	}
	switch stem {
	case "vars", "values", "common", "defaults":
		return ""
	}
	return stem
}

// envSuffix returns the known environment a manifest's stem names (dev-gcp, app-dev, app_dev).
func envSuffix(stem string, knownEnvs []string) string {
	best := ""
	for _, e := range knownEnvs {
		if stem == e || strings.HasSuffix(stem, "-"+e) || strings.HasSuffix(stem, "_"+e) {
			if len(e) > len(best) {
				best = e
			}
		}
	}
	return best
}

// discover applies the .nais/ conventions (see the package doc), one step a method of
// discovery: read the folder, tell overlays from vars files, find each app's files and the
// environment each per-environment copy is for, give files without an Application to their
// app, sort the vars files by environment, and build the apps.
func discover(rd *reader, dir string, knownEnvs []string) (*Repo, error) {
	d := &discovery{knownEnvs: knownEnvs, naisDir: path.Join(dir, ".nais")}
	listing, err := listDir(rd, d.naisDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &Error{File: dir, Msg: "found neither " + RepoConfigFile + " nor a .nais/ folder; add one of them (see flyt's README)"}
	}
	if err != nil {
		return nil, err
	}
	repo := &Repo{files: map[string]string{}}
	if err := d.read(rd, listing, repo); err != nil {
		return nil, err
	}
	d.splitOthers()
	if err := d.findAppFiles(); err != nil {
		return nil, err
	}
	if err := d.giveExtras(); err != nil {
		return nil, err
	}
	d.sortVars()
	for _, name := range d.appNames {
		repo.Apps = append(repo.Apps, d.app(name))
	}
	return repo, nil
}

// discovery is what discover learns of a .nais/ folder, step by step.
type discovery struct {
	knownEnvs []string
	naisDir   string

	manifests []sniffed // files with Kubernetes objects
	others    []string  // the other YAML files: overlays and vars files

	overlays  map[string]map[string][]string // env → base manifest → its overlays
	varsFiles []string

	appFiles map[string][]sniffed // app → the manifests holding its Application
	appNames []string
	fileEnv  map[string]string    // manifest → the environment it is a copy for
	extra    map[string][]sniffed // app → manifests without an Application that go with it

	common    []string            // vars files for every environment
	varsByEnv map[string][]string // env → its vars files
}

// read reads the YAML files of .nais/ (and .nais/vars/) into repo and sorts them into
// manifests and others.
func (d *discovery) read(rd *reader, listing map[string]bool, repo *Repo) error {
	for _, rel := range sortedKeys(listing) {
		if !slices.Contains(yamlExts, path.Ext(rel)) || strings.Contains(rel, "/") && path.Dir(rel) != "vars" {
			continue
		}
		p := path.Join(".nais", rel)
		b, err := rd.read(path.Join(d.naisDir, rel), p)
		if err != nil {
			return err
		}
		repo.files[p] = string(b)
		if s := sniff(p, repo.files[p]); len(s.kinds) > 0 {
			d.manifests = append(d.manifests, s)
		} else {
			d.others = append(d.others, p)
		}
	}
	return nil
}

// splitOthers tells overlays, <base>.<env>.<ext> beside a manifest <base>.<ext>, from vars
// files.
func (d *discovery) splitOthers() {
	d.overlays = map[string]map[string][]string{}
	isManifest := map[string]bool{}
	for _, m := range d.manifests {
		isManifest[m.path] = true
	}
	for _, o := range d.others {
		stem := strings.TrimSuffix(o, path.Ext(o))
		base, env := "", ""
		if i := strings.LastIndexByte(path.Base(stem), '.'); i > 0 {
			dirPart := path.Dir(stem)
			b := path.Join(dirPart, path.Base(stem)[:i])
			env = path.Base(stem)[i+1:]
			for _, x := range yamlExts {
				if isManifest[b+x] {
					base = b + x
				}
			}
		}
		if base == "" {
			d.varsFiles = append(d.varsFiles, o)
			continue
		}
		if d.overlays[env] == nil {
			d.overlays[env] = map[string][]string{}
		}
		d.overlays[env][base] = append(d.overlays[env][base], o)
	}
}

// findAppFiles finds the manifests of each app and the environments of per-environment copies.
func (d *discovery) findAppFiles() error {
	d.appFiles = map[string][]sniffed{}
	for _, m := range d.manifests {
		for _, a := range m.apps {
			if !slices.ContainsFunc(d.appFiles[a], func(s sniffed) bool { return s.path == m.path }) {
				d.appFiles[a] = append(d.appFiles[a], m)
			}
		}
	}
	if len(d.appFiles) == 0 {
		return &Error{File: d.naisDir, Msg: "no file here holds a nais.io/v1alpha1 Application; add one, or list the files in " + RepoConfigFile}
	}
	d.appNames = sortedKeys(d.appFiles)
	d.fileEnv = map[string]string{}
	for _, files := range d.appFiles {
		if err := d.copiesEnvs(files); err != nil {
			return err
		}
	}
	return nil
}

// copiesEnvs sets the environment of each of one app's manifests that is a per-environment
// copy: by a known environment's suffix, or else by what is left of the names of two or
// more files once their common prefix is cut.
func (d *discovery) copiesEnvs(files []sniffed) error {
	for _, f := range files {
		if e := envSuffix(f.stem, d.knownEnvs); e != "" {
			d.fileEnv[f.path] = e
		}
	}
	var rest []sniffed
	for _, f := range files {
		if d.fileEnv[f.path] == "" {
			rest = append(rest, f)
		}
	}
	if len(rest) < 2 {
		return nil
	}
	stems := make([]string, len(rest))
	for i, f := range rest {
		stems[i] = f.stem
	}
	prefix := commonPrefix(stems)
	envs := map[string]bool{}
	for _, f := range rest {
		e := strings.Trim(strings.TrimPrefix(f.stem, prefix), "-_.")
		if e == "" || envs[e] {
			return &Error{File: f.path, Msg: fmt.Sprintf("several files define Application %q and their names do not say which environment each is for; name them <app>-<env>.yaml or list them in %s", f.apps[0], RepoConfigFile)}
		}
		envs[e] = true
		d.fileEnv[f.path] = e
	}
	return nil
}

// giveExtras gives each manifest that holds no Application to the app it names, or to the
// only app.
func (d *discovery) giveExtras() error {
	d.extra = map[string][]sniffed{}
	for _, m := range d.manifests {
		if len(m.apps) > 0 {
			continue
		}
		owner := ""
		for _, n := range m.names {
			if d.appFiles[n] != nil {
				owner = n
				break
			}
		}
		if owner == "" && len(d.appNames) == 1 {
			owner = d.appNames[0]
		}
		if owner == "" {
			return &Error{File: m.path, Msg: fmt.Sprintf("cannot tell which app (%s) this file belongs to; name an object after its app or list the files in %s", strings.Join(d.appNames, ", "), RepoConfigFile)}
		}
		if e := envSuffix(m.stem, d.knownEnvs); e != "" {
			d.fileEnv[m.path] = e
		}
		d.extra[owner] = append(d.extra[owner], m)
	}
	return nil
}

// sortVars sorts the vars files into those of one environment and those of all.
func (d *discovery) sortVars() {
	d.varsByEnv = map[string][]string{}
	for _, v := range d.varsFiles {
		if e := envOfVars(v); e != "" {
			d.varsByEnv[e] = append(d.varsByEnv[e], v)
		} else {
			d.common = append(d.common, v)
		}
	}
}

// holdsApplication reports whether file holds app's Application.
func (d *discovery) holdsApplication(name, file string) bool {
	return slices.ContainsFunc(d.appFiles[name], func(s sniffed) bool { return s.path == file })
}

// app builds one app from what the steps before found.
func (d *discovery) app(name string) *App {
	app := &App{Name: name, Vars: d.common, Environments: map[string]*AppEnv{}}
	envFiles := map[string][]string{}
	var shared []string
	for _, f := range slices.Concat(d.appFiles[name], d.extra[name]) {
		if e := d.fileEnv[f.path]; e != "" {
			envFiles[e] = append(envFiles[e], f.path)
		} else {
			shared = append(shared, f.path)
		}
	}
	app.Files = shared
	get := func(env string) *AppEnv {
		if app.Environments[env] == nil {
			app.Environments[env] = &AppEnv{}
		}
		return app.Environments[env]
	}
	for env, files := range envFiles {
		e := get(env)
		// A per-environment copy replaces the shared files that hold the Application.
		for _, f := range shared {
			if !d.holdsApplication(name, f) {
				e.Files = append(e.Files, f)
			}
		}
		e.Files = append(e.Files, files...)
		slices.Sort(e.Files)
	}
	for env, vs := range d.varsByEnv {
		get(env).Vars = vs
	}
	for env, bases := range d.overlays {
		for base, os := range bases {
			if slices.Contains(app.Files, base) || slices.ContainsFunc(sortedKeys(envFiles), func(e string) bool { return slices.Contains(envFiles[e], base) }) {
				e := get(env)
				if e.Overlays == nil {
					e.Overlays = map[string][]string{}
				}
				e.Overlays[base] = os
			}
		}
	}
	// An app whose Application exists only in per-environment copies deploys only where it
	// has one.
	if !slices.ContainsFunc(shared, func(f string) bool { return d.holdsApplication(name, f) }) {
		for env := range app.Environments {
			if len(envFiles[env]) == 0 {
				delete(app.Environments, env)
			}
		}
	}
	app.Everywhere = len(envFiles) == 0 && !slices.ContainsFunc(app.EnvironmentNames(), func(e string) bool {
		return len(app.Environments[e].Vars) > 0
	})
	return app
}

func commonPrefix(ss []string) string {
	p := ss[0]
	for _, s := range ss[1:] {
		for !strings.HasPrefix(s, p) {
			p = p[:len(p)-1]
		}
	}
	return p
}
