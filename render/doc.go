// Package render turns a team repository at a revision, plus an environment, into the exact
// Kubernetes objects to apply: it expands Handlebars templates and overlays, decodes NAIS
// Application specs strictly, applies NAIS's defaults and generates Deployments, Services,
// Ingresses, NetworkPolicies and the rest. It is pure: the same files, environment and revision
// give byte-identical output.
//
// # Using it
//
// [LoadRepo] does all the reading (from any fs.FS: a Git tree at a revision or a directory)
// and parses every file once; [Render] then renders one app for one [Environment] without any
// I/O and returns a [Result]: the objects in a stable order, the warnings, the digest of the
// canonical output and the image references. Sync, history and the CLI all go through these
// two calls.
//
//	repo, err := render.LoadRepo(os.DirFS(dir), ".", render.LoadOptions{Environments: []string{"dev", "prod"}})
//	env := render.NewEnvironment(platformEnv, team)
//	res, err := render.Render(repo, "my-app", &env, render.Vars{Commit: sha, Branch: "main"})
//
// Problems with the team's files are [*Error] values (file, line, column, field path and a
// message saying how to fix it), collected into [Errors] so that every problem shows at once.
// [IsSpecError] tells them from I/O failures: a spec error is never worth a retry.
//
// # Hostile input
//
// A team's repository is hostile input on a shared platform, so everything LoadRepo reads and
// Render builds is bounded by [LoadOptions].Limits (the platform config's limits: file and
// repository size, YAML values and nesting with aliases expanded, template nesting and output,
// objects per app and their size). A limit hit is an *Error wrapping [ErrLimit] that names the
// file, the limit and the setting raising it; a panic in either call, from flyt or a library,
// is an *Error wrapping [ErrPanic]; a symbolic link out of the repository is an *Error naming
// the file ([ErrOutsideRepository], [ErrLinkLoop]). Each fails that one render, nothing else.
//
// # The repo config: .flyt.yaml
//
// A .flyt.yaml at the repository root (or at the repository's configured path) says which
// files make up each app and what each environment changes:
//
//	strict: true                      # undefined variables and unsupported integrations fail
//	image: ghcr.io/acme/{{app}}:{{commit}}   # image pattern; wins over the environment's
//	apps:
//	  - name: api                     # the Application's metadata.name
//	    files: [deploy/api.yaml]      # templates / manifests rendered in every environment
//	    vars: [deploy/common.yaml]    # vars files read in every environment
//	    environments:
//	      dev:
//	        vars: [deploy/dev.yaml]   # read after the app's vars; later files win
//	      prod:
//	        vars: [deploy/prod.yaml]
//	        values: {replicas: 4}     # inline variables; win over every vars file
//	        overlays:                 # file → files deep-merged over it, in order
//	          deploy/api.yaml: [deploy/api-prod-patch.yaml]
//	        files: [...]              # replaces files entirely for this environment
//	    everywhere: false             # true: also deploy to environments not listed here
//
// An app that names environments deploys only to those (unless everywhere is true); an app
// that names none deploys to every environment. Paths are relative to the repository root and
// may not leave it. Unknown keys are errors, with a did-you-mean.
//
// # Conventions without .flyt.yaml
//
// Without a repo config, flyt reads the .nais/ folder (and .nais/vars/) the way NAIS teams lay
// it out today. Each .yaml, .yml or .json file is classified by its content, not only its name:
//
//   - A file with a top-level kind: is a manifest. Each Application in it makes (or joins) the
//     app of its metadata.name. Files without an Application (a NAIS Config, a Topic, a
//     ConfigMap) join the app whose name one of their objects carries, or the only app.
//   - A file without kind: named <base>.<env>.<ext> beside a manifest <base>.<ext> is an
//     overlay of that manifest in environment <env> (the nais/example layout: app.yaml plus
//     app.prod-gcp.yaml).
//   - Any other file without kind: is a vars file. Its environment comes from its name:
//     vars-dev.yaml, dev-vars.yaml, vars/dev.yml, dev.yaml and dev.json all mean dev;
//     vars.yaml (or values, common, defaults) applies to every environment.
//   - When several files hold the same Application, they are full per-environment copies; the
//     part of their names after the common prefix names the environment (app-dev.yaml,
//     app-prod.yaml). A manifest named after an environment the platform knows (dev-gcp.yaml,
//     app-dev-gcp.yaml) is a copy for that environment even when it is the only one.
//
// The environments an app deploys to are those its vars files and per-environment copies
// name. An app whose environments differ only by overlays (or not at all) deploys everywhere,
// since its base alone is complete.
//
// # Templates
//
// Every file is a Handlebars template (github.com/mailgun/raymond): {{var}}, dotted paths,
// {{#if}}/{{else}}, {{#unless}}, {{#each list as |item i|}} with {{@index}}, {{#with}}, and
// \{{ for a literal {{. Output is not HTML-escaped: these are YAML files, so a value with & or
// quotes comes out as written. Files without {{ are used as they are.
//
// Variables, from lowest to highest precedence: the built-ins (commit, shortCommit, branch,
// env, cluster, team, app, repo, and image when the repo config or the environment has an image
// pattern, itself a template over the other built-ins), the vars files, the repo config's
// inline values, then the overrides given to Render (the CLI's --vars FILE and --var k=v; a
// dotted key such as azure.tenant=x sets a nested value). Maps merge; other values replace.
//
// A variable that resolves to nothing renders empty, as NAIS does, but never silently: each
// use in output position is a warning with file:line:column, and a did-you-mean when a defined
// name differs only in case or by one inserted, deleted or replaced character. A variable only
// tested ({{#if x}}) warns only when such a near name exists, since testing an optional
// variable is what {{#if}} is for. Only the branches the template actually takes are checked.
// Strict mode (repo config or environment) turns these warnings into errors.
//
// # Overlays
//
// Overlays are templated like any file, then deep-merged over their base: maps merge key by
// key, scalars override, a null removes the key, and lists are replaced whole. Lists are not
// merged by index or appended because their items have no identity an overlay could name: a
// prod overlay listing ingresses means exactly those ingresses, not dev's plus these. An
// overlay document with apiVersion, kind and metadata.name changes the base document with the
// same kind and name; otherwise it changes the document at the same position.
//
// # The Application spec
//
// nais.io/v1alpha1 Application manifests are decoded strictly: unknown fields are errors with
// a suggestion; fields NAIS removed (secureLogs, influx) are ignored with a warning. NAIS's
// defaults fill the rest, and each generated kind lives in its own file: deployment.go,
// service.go (Service and ServiceAccount), autoscaling.go (HorizontalPodAutoscaler when min ≠
// max, leaving Deployment.spec.replicas to it; PodDisruptionBudget unless min or max is 1),
// ingress.go (one Ingress per ingress class; hosts outside the environment's domains are
// errors) and networkpolicy.go (accessPolicy, DNS egress, /32 ipBlocks for external IPv4; rules
// naming another cluster are skipped with a warning; external host names are left to
// FQDN-aware egress controls). Every object carries the labels app and team.
//
// Integrations that need operators (azure, gcp, kafka, idporten, tokenx, observability …) are
// not interpreted: the environment lists those it supports, and each other one used warns
// (fails under strict). NAIS's version: v1 / kind: Config becomes a ConfigMap. Other objects
// pass through when the environment allows their kind, land in the team's namespace (another
// namespace is an error) and get the app and team labels; cluster-scoped kinds are refused.
//
// # Output
//
// Objects are sorted by kind (ServiceAccount, ConfigMap, Secret, PVC, Service, Deployment, HPA,
// PDB, Ingress, NetworkPolicy, then the rest), then apiVersion, namespace and name. Generated
// objects become unstructured through structured-merge-diff's reflection, which gives the map
// apimachinery's converter gives at less cost. [Canonical] is the digest's input: each object
// as encoding/json writes it (compact, keys sorted), one per line. [YAML] and [JSON] print
// them for people.
//
// # Reading YAML
//
// Templated files are YAML only once rendered, so Render parses them on every call: plain
// block YAML (the usual manifest) by a small parser of flyt's own that builds values and no
// nodes, everything else, and every position a message needs, by yaml.v3. The small parser is
// kept for memory, not speed: yaml.v3's nodes would take a render of many files within
// limits.yamlValues past the memory one hostile render may cost (yamlfast.go has the figures).
package render
