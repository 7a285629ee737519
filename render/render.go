package render

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/internal/yamlpos"
)

// Vars are the inputs of a render beside the files and the environment: what Git knows
// about the revision and what the person or tool asking wants overridden.
type Vars struct {
	// Commit is the full SHA of the revision ({{commit}}; {{shortCommit}} is its first 7).
	Commit string
	// Branch is the branch the revision was taken from ({{branch}}), empty for a promotion.
	Branch string
	// Repo is the repository's name or URL ({{repo}}).
	Repo string
	// Overrides win over every vars file, as the NAIS deploy CLI's VAR and VARS do. ParseVar and
	// DecodeVars build them from --var and --vars.
	Overrides map[string]any
}

// Result is the outcome of rendering one app for one environment.
type Result struct {
	// App and Environment say what was rendered.
	App, Environment string
	// Objects are sorted: by kind (service accounts and config before workloads, then the rest),
	// then namespace and name, so the output is the same on every render.
	Objects []*unstructured.Unstructured
	// Warnings are sorted by file and position.
	Warnings []Warning
	// Digest is "sha256:" and the hex SHA-256 of the canonical form of Objects (see Canonical);
	// history stores it to tell which deploys shipped the same manifests.
	Digest string
	// Images are the container images the objects reference, sorted and without duplicates.
	Images []string
}

// Render renders app for env. It is pure: no I/O, and the same repo, environment and vars
// give byte-identical objects. Problems with the team's files come back as Errors (every
// problem found, not just the first); warnings are in Result even when the render fails.
//
// A panic while rendering (a bug set off by some input) comes back as an *Error wrapping
// ErrPanic, naming the file being rendered.
func Render(repo *Repo, appName string, env *Environment, in Vars) (res *Result, err error) {
	app := repo.App(appName)
	if app == nil {
		var names []string
		for _, a := range repo.Apps {
			names = append(names, a.Name)
		}
		return nil, &Error{File: repo.Config, Msg: fmt.Sprintf("no app %q in this repository; it has: %s", appName, strings.Join(names, ", ")), Err: ErrUnknownApp}
	}
	ae := app.Environments[env.Name]
	if ae == nil {
		if len(app.Environments) > 0 && !app.Everywhere {
			return nil, &Error{File: repo.Config, Msg: fmt.Sprintf("app %s names the environments %s, not %s", app.Name, strings.Join(app.EnvironmentNames(), ", "), env.Name), Err: ErrNotInEnvironment}
		}
		ae = &AppEnv{}
	}
	env = defaulted(env)
	r := &renderer{repo: repo, app: app, appEnv: ae, env: env, strict: env.Strict || repo.Strict, res: &Result{App: app.Name, Environment: env.Name},
		output: int64(repo.Limits.TemplateOutput), values: repo.Limits.YAMLValues}
	defer func() {
		if err != nil && errors.Is(err, ErrPanic) {
			res = nil
		}
	}()
	defer recovered(&r.file, &err)
	r.run(in)
	return r.finish()
}

// defaulted fills what an Environment built by hand may leave out: the cluster is named after
// the environment, and the team's namespace after the team.
func defaulted(env *Environment) *Environment {
	if env.Cluster != "" && env.Namespace != "" {
		return env
	}
	e := *env
	e.Cluster = cmp.Or(e.Cluster, e.Name)
	e.Namespace = cmp.Or(e.Namespace, e.Team)
	return &e
}

// renderer holds the state of one Render call.
type renderer struct {
	repo   *Repo
	app    *App
	appEnv *AppEnv
	env    *Environment
	strict bool
	res    *Result
	errs   Errors
	// file is the file being rendered, for the message of a panic; origin is the document
	// each object came from, for the messages of the limits on objects (its position is only
	// looked up then: finding it parses the file again).
	file   string
	origin map[*unstructured.Unstructured]*sourceDoc
	// generated holds the objects made from the Application, with the one container image
	// the generator put in them: the digest takes their images from here instead of searching
	// every map of them (TestGeneratedImages holds the generator to it).
	generated map[*unstructured.Unstructured]string
	// output and values are what is left of the render's budgets of template output and YAML
	// values (TemplateOutput and YAMLValues), spent by every file it expands.
	output int64
	values int
}

func (r *renderer) addErr(err error) {
	var es Errors
	var e *Error
	switch {
	case errors.As(err, &es):
		r.errs = append(r.errs, es...)
	case errors.As(err, &e):
		r.errs = append(r.errs, e)
	default:
		r.errs = append(r.errs, &Error{Msg: err.Error(), Err: err})
	}
}

func (r *renderer) run(in Vars) {
	vars := r.variables(in)
	ctx := templateContext(vars).(map[string]any)

	files := r.appEnv.Files
	if files == nil {
		files = r.app.Files
	}
	var objects []*unstructured.Unstructured
	sawApp := false
	r.origin = map[*unstructured.Unstructured]*sourceDoc{}
	r.generated = map[*unstructured.Unstructured]string{}
	for _, f := range files {
		r.file = f
		docs, ok := r.documents(f, ctx)
		if !ok {
			continue
		}
		for _, d := range docs {
			obj, isApp := r.object(d, vars)
			sawApp = sawApp || isApp
			for _, o := range obj {
				r.origin[o] = d
			}
			objects = append(objects, obj...)
			if max := r.repo.Limits.Objects; len(objects) > max {
				file, line, _ := d.pos(nil, false)
				r.errs = append(r.errs, limitError(file, line, "app %s renders to more than %d objects in %s; split it into several apps, or raise limits.objects in the platform config", r.app.Name, max, r.env.Name))
				r.res.Objects = nil
				return
			}
		}
	}
	r.file = ""
	if !sawApp && len(r.errs) == 0 && len(objects) == 0 {
		r.errs = append(r.errs, &Error{File: strings.Join(files, ", "), Msg: fmt.Sprintf("app %s has no objects for environment %s", r.app.Name, r.env.Name)})
	}
	r.res.Objects = objects
}

// variables merges, lowest first: built-ins, the app's vars files, the environment's vars
// files, the inline values of the repo config, then the overrides.
func (r *renderer) variables(in Vars) map[string]any {
	short := in.Commit
	if len(short) > 7 {
		short = short[:7]
	}
	vars := map[string]any{
		"commit": in.Commit, "shortCommit": short, "branch": in.Branch, "env": r.env.Name,
		"cluster": r.env.Cluster, "team": r.env.Team, "app": r.app.Name, "repo": in.Repo,
	}
	if pattern := cmp.Or(r.repo.Image, r.env.Image); pattern != "" {
		t, err := r.repo.imageTemplate(pattern)
		if err != nil {
			r.addErr(err)
		} else if img, warns, err := t.exec(templateContext(vars).(map[string]any), int64(r.repo.Limits.TemplateOutput)); err != nil {
			r.addErr(err)
		} else {
			r.warn(warns...)
			vars["image"] = strings.TrimSpace(img)
		}
	}
	var merged any = vars
	for _, f := range slices.Concat(r.app.Vars, r.appEnv.Vars) {
		vf := r.repo.varsDocs[f]
		if vf.err != nil {
			r.addErr(vf.err)
			continue
		}
		for _, m := range vf.values {
			merged = merge(merged, m)
		}
	}
	if r.appEnv.Values != nil {
		merged = merge(merged, r.appEnv.Values)
	}
	if in.Overrides != nil {
		merged = merge(merged, in.Overrides)
	}
	return merged.(map[string]any)
}

func (r *renderer) warn(ws ...Warning) {
	for _, w := range ws {
		if r.strict && strictCodes[w.Code] {
			r.errs = append(r.errs, &Error{File: w.File, Line: w.Line, Column: w.Column, Path: w.Path, Msg: w.Msg, Err: ErrStrict})
			continue
		}
		r.res.Warnings = append(r.res.Warnings, w)
	}
}

// sourceDoc is a document after templating and overlays, with every file that contributed to
// it (the base first) so messages can point at the file that set a field.
type sourceDoc struct {
	value  map[string]any
	layers []document
}

// pos returns where path was set: the last layer (overlay) that has it, else the base's
// nearest ancestor of it.
func (d *sourceDoc) pos(path []string, key bool) (string, int, int) {
	for i := len(d.layers) - 1; i >= 0; i-- {
		if n, ok := findNode(d.layers[i].root(), path, key); ok {
			return d.layers[i].file, n.Line, n.Column
		}
	}
	n := nodeAt(d.layers[0].root(), path, key)
	return d.layers[0].file, n.Line, n.Column
}

// documents templates file and its overlays and returns the merged documents.
func (r *renderer) documents(file string, ctx map[string]any) ([]*sourceDoc, bool) {
	base, ok := r.expand(file, ctx)
	if !ok {
		return nil, false
	}
	out := make([]*sourceDoc, 0, len(base))
	for _, d := range base {
		m, isMap := d.value.(map[string]any)
		if !isMap {
			r.errs = append(r.errs, &Error{File: file, Line: d.root().Line, Column: d.root().Column, Msg: "a manifest document must be a map with apiVersion and kind"})
			continue
		}
		out = append(out, &sourceDoc{value: m, layers: []document{d}})
	}
	for _, o := range r.appEnv.Overlays[file] {
		odocs, ok := r.expand(o, ctx)
		if !ok {
			return nil, false
		}
		for i, od := range odocs {
			target := overlayTarget(out, od, i)
			if target == nil {
				r.errs = append(r.errs, &Error{File: o, Line: od.root().Line, Column: od.root().Column,
					Msg: fmt.Sprintf("this overlay document matches no document of %s; give it the apiVersion, kind and metadata.name of the one it changes", file)})
				continue
			}
			om, isMap := od.value.(map[string]any)
			if !isMap {
				r.errs = append(r.errs, &Error{File: o, Line: od.root().Line, Column: od.root().Column, Msg: "an overlay must be a map"})
				continue
			}
			target.value = merge(target.value, om).(map[string]any)
			target.layers = append(target.layers, od)
		}
	}
	return out, true
}

// overlayTarget finds the base document an overlay document changes: the one with the same
// kind and name when the overlay says, else the one at the same position.
func overlayTarget(base []*sourceDoc, od document, i int) *sourceDoc {
	if m, ok := od.value.(map[string]any); ok {
		kind, _ := m["kind"].(string)
		name, _ := nestedString(m, "metadata", "name")
		if kind != "" && name != "" {
			for _, b := range base {
				bk, _ := b.value["kind"].(string)
				bn, _ := nestedString(b.value, "metadata", "name")
				if bk == kind && bn == name {
					return b
				}
			}
			return nil
		}
	}
	if i < len(base) {
		return base[i]
	}
	return nil
}

func nestedString(m map[string]any, keys ...string) (string, bool) {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		v = mm[k]
	}
	s, ok := v.(string)
	return s, ok
}

func (r *renderer) expand(file string, ctx map[string]any) ([]document, bool) {
	t := r.repo.templates[file]
	if t == nil {
		r.errs = append(r.errs, &Error{File: file, Msg: "file is not part of the loaded repository"})
		return nil, false
	}
	text, warns, err := t.exec(ctx, r.output)
	r.warn(warns...)
	if err != nil {
		r.addErr(err)
		return nil, false
	}
	// The budgets are the app's in this environment, across its files: one render's memory is
	// bounded, not only each file's.
	if r.output -= int64(len(text)); r.output < 0 {
		r.addErr(t.tooLong(0))
		return nil, false
	}
	docs, err := parseDocuments(file, text, t.tpl != nil, r.repo.Limits.YAML())
	if err != nil {
		r.addErr(err)
		return nil, false
	}
	for _, d := range docs {
		r.values -= countValues(d.value)
	}
	if r.values < 0 {
		r.addErr(limitError(file, 0, "with this file, the app's files hold more than %d YAML values in all; split the app, or raise limits.yamlValues in the platform config", r.repo.Limits.YAMLValues))
		return nil, false
	}
	return docs, true
}

// object turns one document into its objects: an Application into everything generated from
// it, a NAIS Config into a ConfigMap, anything else into a checked raw object.
func (r *renderer) object(d *sourceDoc, vars map[string]any) ([]*unstructured.Unstructured, bool) {
	apiVersion, _ := d.value["apiVersion"].(string)
	kind, _ := d.value["kind"].(string)
	version, _ := d.value["version"].(string)
	switch {
	case apiVersion == naisAPIVersion && kind == naisKind:
		name, _ := nestedString(d.value, "metadata", "name")
		if name != r.app.Name {
			return nil, false // another app's Application in a shared file
		}
		return r.application(d, vars), true
	case kind == "Config" && version == "v1" && apiVersion == "":
		return r.config(d), false
	case kind == "":
		f, l, c := d.pos(nil, false)
		r.errs = append(r.errs, &Error{File: f, Line: l, Column: c, Msg: "document has no kind; every manifest needs apiVersion and kind"})
		return nil, false
	default:
		return r.raw(d), false
	}
}

func (r *renderer) application(d *sourceDoc, vars map[string]any) []*unstructured.Unstructured {
	var app Application
	if errs := decodeStrict(d.value, &app, d.pos); len(errs) > 0 {
		r.errs = append(r.errs, errs...)
		return nil
	}
	g := &generator{app: &app, env: r.env, pos: d.pos}
	if app.Metadata.Namespace != "" && app.Metadata.Namespace != r.env.Namespace {
		g.fail([]string{"metadata", "namespace"}, r.foreignNamespace(app.Metadata.Namespace))
	}
	if t, ok := app.Metadata.Labels["team"]; ok && t != r.env.Team {
		g.fail([]string{"metadata", "labels", "team"}, fmt.Sprintf("label team=%s, but the repository belongs to team %s; remove the label or fix it", t, r.env.Team))
	}
	spec := d.value["spec"]
	specMap, _ := spec.(map[string]any)
	for _, f := range removedFields {
		if _, ok := specMap[f]; ok {
			g.warnAt([]string{"spec", f}, RemovedField, fmt.Sprintf("spec.%s has been removed from the Application spec and is ignored; delete it", f))
		}
	}
	for _, f := range integrationFields {
		if _, ok := specMap[f]; ok && !r.env.supports(f) {
			g.warnAt([]string{"spec", f}, UnsupportedIntegration, fmt.Sprintf("integration %s is not supported in environment %s and does nothing there; remove it for this environment (supported: %s)", f, r.env.Name, listOrNone(r.env.Integrations)))
		}
	}
	g.image = app.Spec.Image
	if g.image == "" {
		if img, ok := vars["image"].(string); ok {
			g.image = img
		}
	}
	if g.image == "" {
		g.fail([]string{"spec", "image"}, "no image: set spec.image, or give the repo config or environment an image pattern")
	}
	objs := g.objects()
	r.warn(g.warns...)
	r.errs = append(r.errs, g.errs...)
	out := make([]*unstructured.Unstructured, 0, len(objs))
	for _, o := range objs {
		u, err := toUnstructured(o)
		if err != nil {
			r.addErr(err)
			continue
		}
		r.generated[u] = g.image
		out = append(out, u)
	}
	return out
}

// imagesOf adds to images the container images of o: the generator's image for an object
// generated from the Application, else what objectImages finds in it.
func (r *renderer) imagesOf(images map[string]bool, o *unstructured.Unstructured) {
	if img, ok := r.generated[o]; ok {
		if img != "" {
			images[img] = true
		}
		return
	}
	objectImages(images, o)
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	c := slices.Clone(s)
	slices.Sort(c)
	return strings.Join(c, ", ")
}

func (r *renderer) foreignNamespace(ns string) string {
	return fmt.Sprintf("namespace %q is not team %s's namespace in environment %s (%s); remove metadata.namespace or set it to %s", ns, r.env.Team, r.env.Name, r.env.Namespace, r.env.Namespace)
}

// config turns NAIS's `version: v1` / `kind: Config` into a ConfigMap with the same name and data.
func (r *renderer) config(d *sourceDoc) []*unstructured.Unstructured {
	name, _ := nestedString(d.value, "metadata", "name")
	fail := func(path []string, msg string) {
		f, l, c := d.pos(path, false)
		r.errs = append(r.errs, &Error{File: f, Line: l, Column: c, Path: joinPath(path), Msg: msg})
	}
	if name == "" {
		fail([]string{"metadata", "name"}, "a Config needs metadata.name")
		return nil
	}
	for _, k := range sortedKeys(d.value) {
		switch k {
		case "version", "kind", "metadata", "data":
		default:
			fail([]string{k}, fmt.Sprintf("unknown field %q in a Config; it has version, kind, metadata and data", k))
		}
	}
	data := map[string]any{}
	if raw, ok := d.value["data"]; ok && raw != nil {
		m, ok := raw.(map[string]any)
		if !ok {
			fail([]string{"data"}, "data must be a map of names to strings")
			return nil
		}
		for _, k := range sortedKeys(m) {
			switch v := m[k].(type) {
			case string:
				data[k] = v
			case int64, float64, bool:
				data[k] = fmt.Sprint(v)
			default:
				fail([]string{"data", k}, "a Config value must be a string; quote it or write it as a block (|)")
			}
		}
	}
	meta := map[string]any{"name": name, "namespace": r.env.Namespace}
	if ns, _ := nestedString(d.value, "metadata", "namespace"); ns != "" && ns != r.env.Namespace {
		fail([]string{"metadata", "namespace"}, r.foreignNamespace(ns))
		return nil
	}
	labels := map[string]any{}
	if l, ok := d.value["metadata"].(map[string]any)["labels"].(map[string]any); ok {
		maps.Copy(labels, l)
	}
	labels["app"], labels["team"] = r.app.Name, r.env.Team
	meta["labels"] = labels
	return []*unstructured.Unstructured{{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}}}
}

// raw checks a Kubernetes object shipped as is: the environment must allow its kind, it must
// be namespaced, and it lands in the team's namespace.
func (r *renderer) raw(d *sourceDoc) []*unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: d.value}
	fail := func(path []string, msg string) {
		f, l, c := d.pos(path, false)
		r.errs = append(r.errs, &Error{File: f, Line: l, Column: c, Path: joinPath(path), Msg: msg})
	}
	apiVersion, kind := u.GetAPIVersion(), u.GetKind()
	if apiVersion == "" {
		fail([]string{"apiVersion"}, fmt.Sprintf("%s has no apiVersion", kind))
		return nil
	}
	group, _, _ := strings.Cut(apiVersion, "/")
	if !strings.Contains(apiVersion, "/") {
		group = ""
	}
	gk := kind
	if group != "" {
		gk = group + "/" + kind
	}
	if clusterScoped[gk] {
		fail([]string{"kind"}, fmt.Sprintf("%s is cluster-scoped; a team repository may only ship objects in its own namespace, ask the platform operators for this one", gk))
		return nil
	}
	if !r.env.allowsKind(group, kind) {
		fail([]string{"kind"}, fmt.Sprintf("kind %s is not allowed in environment %s; allowed: %s", gk, r.env.Name, listOrNone(r.env.RawKinds)))
		return nil
	}
	if _, ok := d.value["metadata"].(map[string]any); !ok || u.GetName() == "" {
		fail([]string{"metadata", "name"}, fmt.Sprintf("%s needs metadata.name", gk))
		return nil
	}
	if ns := u.GetNamespace(); ns != "" && ns != r.env.Namespace {
		fail([]string{"metadata", "namespace"}, r.foreignNamespace(ns))
		return nil
	}
	// The document's value was parsed for this render alone, so the object takes it; only the
	// maps changed here are copied, so the document still says what the file says.
	obj := maps.Clone(d.value)
	meta := maps.Clone(obj["metadata"].(map[string]any))
	obj["metadata"] = meta
	meta["namespace"] = r.env.Namespace
	labels, _ := meta["labels"].(map[string]any)
	labels = maps.Clone(labels)
	if labels == nil {
		labels = map[string]any{}
	}
	if t, ok := labels["team"]; ok && t != r.env.Team {
		fail([]string{"metadata", "labels", "team"}, fmt.Sprintf("label team=%v, but the repository belongs to team %s", t, r.env.Team))
		return nil
	}
	if _, ok := labels["app"]; !ok {
		labels["app"] = r.app.Name
	}
	labels["team"] = r.env.Team
	meta["labels"] = labels
	return []*unstructured.Unstructured{{Object: obj}}
}

// clusterScoped lists well-known cluster-scoped kinds, by group/Kind ("Kind" for core).
var clusterScoped = map[string]bool{
	"Namespace": true, "Node": true, "PersistentVolume": true, "ComponentStatus": true,
	"rbac.authorization.k8s.io/ClusterRole": true, "rbac.authorization.k8s.io/ClusterRoleBinding": true,
	"apiextensions.k8s.io/CustomResourceDefinition": true, "storage.k8s.io/StorageClass": true,
	"storage.k8s.io/CSIDriver": true, "storage.k8s.io/CSINode": true, "storage.k8s.io/VolumeAttachment": true,
	"scheduling.k8s.io/PriorityClass": true, "node.k8s.io/RuntimeClass": true,
	"networking.k8s.io/IngressClass": true, "apiregistration.k8s.io/APIService": true,
	"admissionregistration.k8s.io/ValidatingWebhookConfiguration":   true,
	"admissionregistration.k8s.io/MutatingWebhookConfiguration":     true,
	"admissionregistration.k8s.io/ValidatingAdmissionPolicy":        true,
	"admissionregistration.k8s.io/ValidatingAdmissionPolicyBinding": true,
	"certificates.k8s.io/CertificateSigningRequest":                 true,
	"flowcontrol.apiserver.k8s.io/FlowSchema":                       true,
	"flowcontrol.apiserver.k8s.io/PriorityLevelConfiguration":       true,
}

// kindOrder puts what others depend on first, as an apply would want.
var kindOrder = map[string]int{
	"ServiceAccount": 1, "ConfigMap": 2, "Secret": 3, "PersistentVolumeClaim": 4, "Service": 5,
	"Deployment": 6, "HorizontalPodAutoscaler": 7, "PodDisruptionBudget": 8, "Ingress": 9, "NetworkPolicy": 10,
}

func (r *renderer) finish() (*Result, error) {
	res := r.res
	slices.SortStableFunc(res.Objects, func(a, b *unstructured.Unstructured) int {
		ra, rb := kindOrder[a.GetKind()], kindOrder[b.GetKind()]
		if ra == 0 {
			ra = 100
		}
		if rb == 0 {
			rb = 100
		}
		return cmp.Or(cmp.Compare(ra, rb),
			cmp.Compare(a.GetAPIVersion(), b.GetAPIVersion()), cmp.Compare(a.GetKind(), b.GetKind()),
			cmp.Compare(a.GetNamespace(), b.GetNamespace()), cmp.Compare(a.GetName(), b.GetName()))
	})
	for i := 1; i < len(res.Objects); i++ {
		a, b := res.Objects[i-1], res.Objects[i]
		if a.GetAPIVersion() == b.GetAPIVersion() && a.GetKind() == b.GetKind() && a.GetName() == b.GetName() && a.GetNamespace() == b.GetNamespace() {
			r.errs = append(r.errs, &Error{Msg: fmt.Sprintf("%s %s is defined twice (perhaps a raw object clashes with one generated from the Application); rename one", b.GetKind(), b.GetName())})
		}
	}
	slices.SortFunc(res.Warnings, func(a, b Warning) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column), cmp.Compare(a.Msg, b.Msg))
	})
	res.Warnings = slices.Compact(res.Warnings)
	if len(r.errs) > 0 {
		slices.SortStableFunc(r.errs, func(a, b *Error) int {
			return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
		})
		r.errs = slices.CompactFunc(r.errs, func(a, b *Error) bool { return a.Error() == b.Error() })
		return res, r.errs
	}
	d, imgs, err := digest(res.Objects, int64(r.repo.Limits.ObjectSize), r.imagesOf)
	var big *tooBigError
	if errors.As(err, &big) {
		file, line, _ := r.origin[big.obj].pos(nil, false)
		return res, Errors{limitError(file, line, "%s %s is %s encoded, more than the %s flyt sends to a cluster (the API server takes at most %s per request, and etcd stores at most 1.5Mi per object by default); move large data out of it, or raise limits.objectSize in the platform config",
			big.obj.GetKind(), big.obj.GetName(), environments.ByteSize(big.size), r.repo.Limits.ObjectSize, environments.ByteSize(environments.APIServerRequestLimit))}
	}
	if err != nil {
		return res, fmt.Errorf("encode %s for %s: %w", res.App, res.Environment, err)
	}
	res.Digest, res.Images = d, imgs
	return res, nil
}

// YAML writes objects as a YAML stream ("---" between documents), keys sorted.
func YAML(objs []*unstructured.Unstructured) ([]byte, error) {
	var b bytes.Buffer
	for i, o := range objs {
		y, err := sigsyaml.Marshal(o.Object)
		if err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", o.GetKind(), o.GetName(), err)
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(y)
	}
	return b.Bytes(), nil
}

// JSON writes objects as an indented Kubernetes List.
func JSON(objs []*unstructured.Unstructured) ([]byte, error) {
	items := make([]any, len(objs))
	for i, o := range objs {
		items[i] = o.Object
	}
	out, err := json.MarshalIndent(map[string]any{"apiVersion": "v1", "kind": "List", "items": items}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode list: %w", err)
	}
	return append(out, '\n'), nil
}

// ParseVar parses a --var flag, key=value, into overrides. Dotted keys make nested maps
// (azure.tenant=x sets {azure: {tenant: x}}); the value is always a string.
func ParseVar(into map[string]any, kv string) error {
	k, v, ok := strings.Cut(kv, "=")
	if !ok || k == "" {
		return fmt.Errorf("--var %q: write it as key=value", kv)
	}
	parts := strings.Split(k, ".")
	m := into
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = v
	return nil
}

// DecodeVars decodes a vars file (YAML or JSON, a map at the top) for --vars.
func DecodeVars(file string, data []byte) (map[string]any, error) {
	docs, err := parseDocuments(file, string(data), false, yamlpos.DefaultLimits)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	for _, d := range docs {
		m, ok := d.value.(map[string]any)
		if !ok {
			return nil, &Error{File: file, Line: d.root().Line, Column: d.root().Column, Msg: "a vars file holds a map of names to values"}
		}
		out = merge(out, m).(map[string]any)
	}
	return out, nil
}
