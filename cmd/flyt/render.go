package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/render"
	"github.com/flyt-platform/flyt/sync/source"
)

// renderOptions are the flags `flyt render` and `flyt validate` share: where the platform
// config and the repository are, and what to render.
type renderOptions struct {
	platform string
	team     string
	envs     []string
	vars     []string
	varsFile string
	revision string
}

// BindFlags registers the options on fs.
func (o *renderOptions) BindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.platform, "platform", os.Getenv("FLYT_PLATFORM"), "platform config file (default $FLYT_PLATFORM)")
	fs.StringVar(&o.team, "team", "", "team that owns the repository (default: the team listing the repository's origin, or the only team)")
	fs.StringSliceVar(&o.envs, "env", nil, "environment to render (repeatable; default: every environment the repository names)")
	fs.StringArrayVar(&o.vars, "var", nil, "override a template variable, key=value (repeatable; dotted keys nest)")
	fs.StringVar(&o.varsFile, "vars", "", "YAML or JSON file of template variables overriding the repository's vars files")
	fs.StringVar(&o.revision, "revision", "", "render the files of this Git revision (commit, branch or tag) instead of the working tree")
}

// renderInput is everything one `flyt render` or `flyt validate` run works on.
type renderInput struct {
	platform *environments.Platform
	team     *environments.Team
	repo     *render.Repo
	vars     render.Vars
	// targets are the environments to render, in platform order.
	targets []*environments.Environment
	// notes are problems with the inputs that are not errors (an environment the repository
	// names but the platform lacks).
	notes []string
}

// load reads the platform config, the repository at path (working tree or revision) and the
// overrides.
func (o *renderOptions) load(path string) (*renderInput, error) {
	if o.platform == "" {
		return nil, errors.New("no platform config: pass --platform FILE or set FLYT_PLATFORM; it says which environments, namespaces and ingress domains exist")
	}
	p, err := environments.Load(o.platform)
	if err != nil {
		return nil, err
	}
	in := &renderInput{platform: p}
	fsys, origin, err := o.repoFiles(path, &in.vars)
	if err != nil {
		return nil, err
	}
	if c, ok := fsys.(io.Closer); ok {
		defer c.Close()
	}
	if in.team, err = o.pickTeam(p, origin); err != nil {
		return nil, err
	}
	var known []string
	for _, e := range p.Environments {
		known = append(known, e.Name)
	}
	if in.repo, err = render.LoadRepo(fsys, ".", render.LoadOptions{Environments: known, Limits: p.Limits}); err != nil {
		return nil, err
	}
	over := map[string]any{}
	if o.varsFile != "" {
		data, err := os.ReadFile(o.varsFile)
		if err != nil {
			return nil, fmt.Errorf("read --vars: %w", err)
		}
		if over, err = render.DecodeVars(o.varsFile, data); err != nil {
			return nil, err
		}
	}
	for _, kv := range o.vars {
		if err := render.ParseVar(over, kv); err != nil {
			return nil, err
		}
	}
	if len(over) > 0 {
		in.vars.Overrides = over
	}
	if in.targets, in.notes, err = o.pickEnvironments(p, in.repo); err != nil {
		return nil, err
	}
	return in, nil
}

// repoFiles returns the files to render, rooted at path: the working tree, or with --revision
// the Git tree of that revision. Both are read the way the server reads a commit (package
// source): a symbolic link is followed only while it stays inside the repository, so the CLI
// fails where the server would, and never prints a file from outside the repository. It fills
// the commit and branch variables from Git when path is in a repository, and returns the
// origin remote's URL for finding the team. A returned io.Closer is the caller's to close.
func (o *renderOptions) repoFiles(path string, vars *render.Vars) (fs.FS, string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, "", fmt.Errorf("resolve %s: %w", path, err)
	}
	repo, err := git.PlainOpenWithOptions(abs, &git.PlainOpenOptions{DetectDotGit: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		if o.revision != "" {
			return nil, "", fmt.Errorf("--revision %s: %s is not in a Git repository", o.revision, path)
		}
		vars.Repo = filepath.Base(abs)
		fsys, err := source.OpenWorkTree(abs, "")
		return fsys, "", err
	}
	if err != nil {
		return nil, "", fmt.Errorf("open Git repository at %s: %w", path, err)
	}
	origin := ""
	if r, err := repo.Remote("origin"); err == nil && len(r.Config().URLs) > 0 {
		origin = r.Config().URLs[0]
	}
	vars.Repo = cmp.Or(origin, filepath.Base(abs))
	wt, err := repo.Worktree()
	if err != nil {
		return nil, "", fmt.Errorf("open work tree: %w", err)
	}
	root := wt.Filesystem.Root()
	rel, err := filepath.Rel(root, abs)
	if err != nil {
		return nil, "", fmt.Errorf("locate %s in %s: %w", abs, root, err)
	}
	if !filepath.IsLocal(rel) && rel != "." {
		// path reaches the repository through a link of the machine's (/tmp → /private/tmp):
		// the folder itself is the tree links must stay in.
		root, rel = abs, "."
	}
	rel = filepath.ToSlash(rel)

	if o.revision == "" {
		if head, err := repo.Head(); err == nil {
			vars.Commit = head.Hash().String()
			if head.Name().IsBranch() {
				vars.Branch = head.Name().Short()
			}
		}
		fsys, err := source.OpenWorkTree(root, rel)
		return fsys, origin, err
	}
	hash, err := repo.ResolveRevision(plumbing.Revision(o.revision))
	if err != nil {
		return nil, "", fmt.Errorf("resolve revision %s: %w", o.revision, err)
	}
	commit, err := repo.CommitObject(*hash)
	if err != nil {
		return nil, "", fmt.Errorf("read commit %s: %w", hash, err)
	}
	vars.Commit = hash.String()
	if ref, err := repo.Reference(plumbing.NewBranchReferenceName(o.revision), true); err == nil && ref.Hash() == *hash {
		vars.Branch = o.revision
	}
	fsys, err := source.CommitFS(repo.Storer, commit, rel)
	if err != nil {
		return nil, "", fmt.Errorf("read files of %s: %w", hash, err)
	}
	return fsys, origin, nil
}

// pickTeam is --team, else the team listing the origin remote, else the platform's only team.
func (o *renderOptions) pickTeam(p *environments.Platform, origin string) (*environments.Team, error) {
	if o.team != "" {
		t := p.Team(o.team)
		if t == nil {
			return nil, fmt.Errorf("--team %s: the platform has no such team", o.team)
		}
		return t, nil
	}
	if origin != "" {
		if t, _ := p.TeamForRepository(origin); t != nil {
			return t, nil
		}
	}
	if len(p.Teams) == 1 {
		return &p.Teams[0], nil
	}
	return nil, errors.New("cannot tell which team owns this repository; pass --team")
}

// pickEnvironments is --env, else every platform environment the repository names, else every
// platform environment.
func (o *renderOptions) pickEnvironments(p *environments.Platform, repo *render.Repo) ([]*environments.Environment, []string, error) {
	var notes []string
	if len(o.envs) > 0 {
		var out []*environments.Environment
		for _, name := range o.envs {
			e := p.Environment(name)
			if e == nil {
				return nil, nil, fmt.Errorf("--env %s: the platform has no such environment", name)
			}
			out = append(out, e)
		}
		return out, nil, nil
	}
	named := repo.EnvironmentNames()
	for _, n := range named {
		if p.Environment(n) == nil {
			notes = append(notes, fmt.Sprintf("the repository names environment %q, which the platform does not have; its files are never used", n))
		}
	}
	everywhere := len(named) == 0 || slices.ContainsFunc(repo.Apps, func(a *render.App) bool { return a.Everywhere || len(a.Environments) == 0 })
	var out []*environments.Environment
	for i := range p.Environments {
		e := &p.Environments[i]
		if everywhere || slices.Contains(named, e.Name) {
			out = append(out, e)
		}
	}
	return out, notes, nil
}

// outcome is one (app, environment) render.
type outcome struct {
	app, env string
	res      *render.Result
	err      error
}

// renderAll renders every app for every target environment it deploys to.
func (in *renderInput) renderAll() []outcome {
	var out []outcome
	for _, e := range in.targets {
		env := render.NewEnvironment(e, in.team)
		for _, app := range in.repo.Apps {
			res, err := render.Render(in.repo, app.Name, &env, in.vars)
			if errors.Is(err, render.ErrNotInEnvironment) {
				continue
			}
			out = append(out, outcome{app: app.Name, env: e.Name, res: res, err: err})
		}
	}
	return out
}

func newRenderCommand() *cobra.Command {
	var o renderOptions
	var output string
	cmd := &cobra.Command{
		Use:   "render [PATH]",
		Short: "Print the Kubernetes objects a repository renders to, per environment",
		Long: `Render the team repository at PATH (default: the current directory) the way flyt deploys
it: templates, vars files and overlays expanded, Application specs turned into Deployments,
Services, Ingresses and the rest. Objects go to stdout, sorted; warnings go to stderr with
file:line:column.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "yaml" && output != "json" {
				return fmt.Errorf("-o %s: want yaml or json", output)
			}
			in, err := o.load(pathArg(args))
			if err != nil {
				return err
			}
			stderr := cmd.ErrOrStderr()
			for _, n := range in.notes {
				fmt.Fprintln(stderr, "warning:", n)
			}
			var objs []*render.Result
			var errs []error
			for _, oc := range in.renderAll() {
				if oc.res != nil {
					for _, w := range oc.res.Warnings {
						fmt.Fprintf(stderr, "warning: %s/%s: %s\n", oc.env, oc.app, w)
					}
				}
				if oc.err != nil {
					errs = append(errs, fmt.Errorf("render %s/%s: %w", oc.env, oc.app, oc.err))
					continue
				}
				objs = append(objs, oc.res)
			}
			if len(errs) > 0 {
				return errors.Join(errs...)
			}
			return writeObjects(cmd.OutOrStdout(), objs, output)
		},
	}
	o.BindFlags(cmd.Flags())
	cmd.Flags().StringVarP(&output, "output", "o", "yaml", "output format: yaml or json")
	return cmd
}

func pathArg(args []string) string {
	if len(args) == 1 {
		return args[0]
	}
	return "."
}

// writeObjects prints every result's objects as one YAML stream (each render introduced by a
// comment naming app, environment and digest) or as one JSON List.
func writeObjects(w io.Writer, results []*render.Result, format string) error {
	var out []byte
	if format == "json" {
		var items []*unstructured.Unstructured
		for _, r := range results {
			items = append(items, r.Objects...)
		}
		j, err := render.JSON(items)
		if err != nil {
			return err
		}
		out = j
	} else {
		var b strings.Builder
		for i, r := range results {
			y, err := render.YAML(r.Objects)
			if err != nil {
				return err
			}
			if i > 0 {
				b.WriteString("---\n")
			}
			fmt.Fprintf(&b, "# app %s, environment %s, digest %s\n", r.App, r.Environment, r.Digest)
			b.Write(y)
		}
		out = []byte(b.String())
	}
	if _, err := w.Write(out); err != nil {
		return fmt.Errorf("write objects: %w", err)
	}
	return nil
}
