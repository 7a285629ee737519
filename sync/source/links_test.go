package source

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/internal/testenv/gittest"
	"github.com/flyt-platform/flyt/render"
)

// secretMarker is what the files outside the test repositories hold: it must never be read.
const secretMarker = "flyt-test-secret-3f9a"

// linkedRepo is a repository with every kind of symbolic link, pushed to a Git server, and the
// three ways flyt reads it: the server's Checkout, the CLI's CommitFS over the same objects,
// and the CLI's WorkTree over the working clone the commit was made in.
type linkedRepo struct {
	repo    *gittest.Repo
	sha     string
	outside string // a folder outside the repository holding secret.yaml
	readers map[string]fs.FS
}

func newLinkedRepo(t *testing.T, extra map[string]string) *linkedRepo {
	t.Helper()
	srv := gittest.NewServer(t)
	repo := srv.NewRepo("team-a/links")
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret.yaml"), []byte("kind: "+secretMarker+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The relative link climbs from the working clone's root to the same secret, so that the
	// working tree would read it if links were followed out.
	up, err := filepath.Rel(repo.Work, filepath.Join(outside, "secret.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"app/real.yaml":     "kind: Real\n",
		"app/link.yaml":     gittest.Symlink("real.yaml"),
		"app/chain.yaml":    gittest.Symlink("link.yaml"),
		"app/vars.yaml":     gittest.Symlink("../common/vars.yaml"),
		"app/conf":          gittest.Symlink("../common"),
		"app/self":          gittest.Symlink("."),
		"common/vars.yaml":  "x: 1\n",
		"common/back":       gittest.Symlink("../app"),
		"confdir":           gittest.Symlink("common"),
		"loop-a":            gittest.Symlink("loop-b"),
		"loop-b":            gittest.Symlink("loop-a"),
		"abs.yaml":          gittest.Symlink(filepath.Join(outside, "secret.yaml")),
		"rel.yaml":          gittest.Symlink(filepath.ToSlash(up)),
		"outdir":            gittest.Symlink(outside),
		"dangling.yaml":     gittest.Symlink("missing.yaml"),
		"app/executable.sh": "#!/bin/sh\n",
	}
	for p, c := range extra {
		files[p] = c
	}
	sha := repo.Commit(t, files, "Links of every kind")
	return &linkedRepo{repo: repo, sha: sha, outside: outside, readers: readers(t, repo, sha, "")}
}

// readers opens the commit sha of repo rooted at dir the three ways flyt reads a repository.
func readers(t *testing.T, repo *gittest.Repo, sha, dir string) map[string]fs.FS {
	t.Helper()
	c, _ := newTestCache(t)
	server, err := c.Checkout(t.Context(), environments.Repository{URL: repo.URL(), Path: dir}, sha)
	if err != nil {
		t.Fatalf("checkout: %v", err)
	}
	bare, err := git.PlainOpen(repo.Dir)
	if err != nil {
		t.Fatal(err)
	}
	commit, err := bare.CommitObject(plumbing.NewHash(sha))
	if err != nil {
		t.Fatal(err)
	}
	cli, err := CommitFS(bare.Storer, commit, dir)
	if err != nil {
		t.Fatalf("commit fs: %v", err)
	}
	work, err := OpenWorkTree(repo.Work, dir)
	if err != nil {
		t.Fatalf("open work tree: %v", err)
	}
	t.Cleanup(func() { work.Close() })
	return map[string]fs.FS{"Checkout": server, "CommitFS": cli, "WorkTree": work}
}

func TestLinksAreFollowedOnlyInsideTheRepository(t *testing.T) {
	lr := newLinkedRepo(t, nil)
	abs := filepath.Join(lr.outside, "secret.yaml")
	tests := []struct {
		name, file string
		want       string // the file's content, when it reads
		wantErr    error
		// wantLink and wantTarget are the link an error blames and the target it holds.
		wantLink, wantTarget string
	}{
		{name: "a plain file", file: "app/real.yaml", want: "kind: Real\n"},
		{name: "a link to a file beside it", file: "app/link.yaml", want: "kind: Real\n"},
		{name: "a chain of links", file: "app/chain.yaml", want: "kind: Real\n"},
		{name: "a link up and into another folder", file: "app/vars.yaml", want: "x: 1\n"},
		{name: "a directory link at the root in the middle of a path", file: "confdir/vars.yaml", want: "x: 1\n"},
		{name: "a directory link in a folder in the middle of a path", file: "app/conf/vars.yaml", want: "x: 1\n"},
		{name: "two directory links in one path", file: "app/conf/back/real.yaml", want: "kind: Real\n"},
		{name: "a loop", file: "loop-a", wantErr: render.ErrLinkLoop, wantLink: "loop-a", wantTarget: "loop-b"},
		{name: "a link to the folder holding it", file: "app/self/real.yaml", wantErr: render.ErrLinkLoop, wantLink: "app/self", wantTarget: "."},
		{name: "an endless path of directory links", file: "app/" + strings.Repeat("conf/back/", 21) + "real.yaml", wantErr: render.ErrLinkLoop, wantLink: "app/conf", wantTarget: "../common"},
		{name: "an absolute link out", file: "abs.yaml", wantErr: render.ErrOutsideRepository, wantLink: "abs.yaml", wantTarget: abs},
		{name: "a relative link climbing out", file: "rel.yaml", wantErr: render.ErrOutsideRepository, wantLink: "rel.yaml"},
		{name: "a directory link out in the middle of a path", file: "outdir/secret.yaml", wantErr: render.ErrOutsideRepository, wantLink: "outdir", wantTarget: lr.outside},
		{name: "a dangling link", file: "dangling.yaml", wantErr: fs.ErrNotExist},
		{name: "a file used as a folder", file: "app/real.yaml/x", wantErr: fs.ErrNotExist},
	}
	for reader, fsys := range lr.readers {
		for _, tt := range tests {
			t.Run(reader+"/"+tt.name, func(t *testing.T) {
				for op, read := range map[string]func() ([]byte, error){
					"ReadFile": func() ([]byte, error) { return fs.ReadFile(fsys, tt.file) },
					"Open": func() ([]byte, error) {
						f, err := fsys.Open(tt.file)
						if err != nil {
							return nil, err
						}
						defer f.Close()
						return io.ReadAll(f)
					},
					"Stat": func() ([]byte, error) { _, err := fs.Stat(fsys, tt.file); return nil, err },
				} {
					got, err := read()
					if strings.Contains(string(got), secretMarker) {
						t.Fatalf("%s read the file outside the repository", op)
					}
					if tt.wantErr == nil {
						if err != nil {
							t.Fatalf("%s: %v", op, err)
						}
						if op != "Stat" && string(got) != tt.want {
							t.Errorf("%s = %q, want %q", op, got, tt.want)
						}
						continue
					}
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("%s: got error %v, want %v", op, err, tt.wantErr)
					}
					var pe *fs.PathError
					if !errors.As(err, &pe) || pe.Path != tt.file {
						t.Errorf("%s: error %v does not name the file %s", op, err, tt.file)
					}
					if tt.wantLink == "" {
						continue
					}
					var l interface{ Link() (string, string) }
					if !errors.As(err, &l) {
						t.Fatalf("%s: error %v names no link", op, err)
					}
					link, target := l.Link()
					if link != tt.wantLink || tt.wantTarget != "" && target != tt.wantTarget {
						t.Errorf("%s: error blames %s -> %s, want %s -> %s", op, link, target, tt.wantLink, tt.wantTarget)
					}
				}
			})
		}
	}
}

// listed is what a directory listing says of one name.
type listed struct {
	Name string
	Type fs.FileMode
	Size int64
}

func TestLinksListAsWhatTheyResolveTo(t *testing.T) {
	lr := newLinkedRepo(t, nil)
	const (
		file = fs.FileMode(0)
		dir  = fs.ModeDir
		link = fs.ModeSymlink
	)
	realSize := int64(len("kind: Real\n"))
	tests := []struct {
		dir  string
		want []listed
	}{
		{".", []listed{
			{"abs.yaml", file, 0}, // out of the repository: an empty file whose read says why
			{"app", dir, 0},
			{"common", dir, 0},
			{"confdir", dir, 0},
			{"dangling.yaml", link, 0},
			{"loop-a", file, 0},
			{"loop-b", file, 0},
			{"outdir", file, 0},
			{"rel.yaml", file, 0},
		}},
		{"app", []listed{
			{"chain.yaml", file, realSize},
			{"conf", dir, 0},
			{"executable.sh", file, int64(len("#!/bin/sh\n"))},
			{"link.yaml", file, realSize},
			{"real.yaml", file, realSize},
			{"self", file, 0},
			{"vars.yaml", file, int64(len("x: 1\n"))},
		}},
		// Reached through a link, a folder's own directory links stay links: a walk expands
		// one level of linked folders, never an endless or exponential tree.
		{"confdir", []listed{{"back", link, 0}, {"vars.yaml", file, int64(len("x: 1\n"))}}},
		{"app/conf", []listed{{"back", link, 0}, {"vars.yaml", file, int64(len("x: 1\n"))}}},
	}
	for reader, fsys := range lr.readers {
		for _, tt := range tests {
			t.Run(reader+"/"+tt.dir, func(t *testing.T) {
				des, err := fs.ReadDir(fsys, tt.dir)
				if err != nil {
					t.Fatal(err)
				}
				var got []listed
				for _, d := range des {
					if d.Name() == ".git" {
						continue // the working clone's own
					}
					e := listed{Name: d.Name(), Type: d.Type()}
					if d.Type().IsRegular() {
						info, err := d.Info()
						if err != nil {
							t.Fatal(err)
						}
						e.Size = info.Size()
					}
					got = append(got, e)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("ReadDir(%s) (-want +got):\n%s", tt.dir, diff)
				}
				// Stat agrees with the listing for what resolves.
				for _, e := range tt.want {
					if e.Size == 0 && e.Type != dir {
						continue
					}
					info, err := fs.Stat(fsys, filepath.ToSlash(filepath.Join(tt.dir, e.Name)))
					if err != nil {
						t.Fatalf("stat %s: %v", e.Name, err)
					}
					if info.Name() != e.Name || info.Mode().Type() != e.Type || e.Type == file && info.Size() != e.Size {
						t.Errorf("stat %s: got %s %v %d, want %v %d", e.Name, info.Name(), info.Mode().Type(), info.Size(), e.Type, e.Size)
					}
				}
			})
		}
	}
}

func TestCheckoutPathLinksMayLeadAnywhereInTheRepository(t *testing.T) {
	lr := newLinkedRepo(t, nil)
	for _, dir := range []string{"app", "confdir"} { // a folder, and a link to one
		for reader, fsys := range readers(t, lr.repo, lr.sha, dir) {
			want := map[string]string{"app": "x: 1\n", "confdir": "x: 1\n"}[dir]
			got, err := fs.ReadFile(fsys, "vars.yaml")
			if err != nil || string(got) != want {
				t.Errorf("%s at %s: vars.yaml = %q, %v; want %q", reader, dir, got, err, want)
			}
		}
	}
	// Out of the repository stays out, also from a sub-folder.
	for reader, fsys := range readers(t, lr.repo, lr.sha, "app") {
		if _, err := fs.ReadFile(fsys, "../abs.yaml"); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("%s: ../abs.yaml: got %v, want fs.ErrInvalid", reader, err)
		}
	}
	c, _ := newTestCache(t)
	if _, err := c.Checkout(t.Context(), environments.Repository{URL: lr.repo.URL(), Path: "outdir"}, lr.sha); !errors.Is(err, render.ErrOutsideRepository) || !errors.Is(err, ErrConfig) {
		t.Errorf("checkout at a link out: got %v, want a config error wrapping ErrOutsideRepository", err)
	}
}

// commitReaders commits files to a new repository and returns the three readers of it.
func commitReaders(t *testing.T, files map[string]string) map[string]fs.FS {
	t.Helper()
	repo := gittest.NewServer(t).NewRepo("team-a/app")
	sha := repo.Commit(t, files, "Add the app")
	return readers(t, repo, sha, "")
}

const linkedApp = `apiVersion: nais.io/v1alpha1
kind: Application
metadata:
  name: web
spec:
  image: ghcr.io/example/web:{{shortCommit}}
  replicas:
    min: {{replicas}}
    max: {{replicas}}
`

func TestLoadRepoReportsLinksOutAsProblemsOfTheFile(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret.yaml")
	if err := os.WriteFile(secret, []byte("replicas: 1\nkind: "+secretMarker+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Dir(secret)
	tests := []struct {
		name     string
		files    map[string]string
		wantFile string
		wantMsg  string
		wantErr  error
	}{{
		name: "a vars file of .flyt.yaml linking out",
		files: map[string]string{
			".flyt.yaml": "apps:\n  - name: web\n    files: [app.yaml]\n    vars: [vars.yaml]\n",
			"app.yaml":   linkedApp,
			"vars.yaml":  gittest.Symlink(secret),
		},
		wantFile: "vars.yaml",
		wantMsg:  "vars.yaml: this file is a symbolic link that leads out of the repository (to " + `"` + secret + `"` + "); flyt reads only files inside the repository: commit the file itself or link to a file inside it",
		wantErr:  render.ErrOutsideRepository,
	}, {
		name: "a file of .flyt.yaml under a directory link out",
		files: map[string]string{
			".flyt.yaml": "apps:\n  - name: web\n    files: [app.yaml, conf/secret.yaml]\n",
			"app.yaml":   linkedApp,
			"conf":       gittest.Symlink(outside),
		},
		wantFile: "conf/secret.yaml",
		wantMsg:  `conf/secret.yaml: the symbolic link conf on its path leads out of the repository (to "` + outside + `")`,
		wantErr:  render.ErrOutsideRepository,
	}, {
		name: "a .nais/ manifest linking out, climbing with ..",
		files: map[string]string{
			".nais/nais.yaml":     linkedApp,
			".nais/vars-dev.yaml": gittest.Symlink("../../../../../../../../../../.." + secret),
		},
		wantFile: ".nais/vars-dev.yaml",
		wantMsg:  ".nais/vars-dev.yaml: this file is a symbolic link that leads out of the repository",
		wantErr:  render.ErrOutsideRepository,
	}, {
		name: "the .nais/ folder linking out",
		files: map[string]string{
			"README.md": "hello\n",
			".nais":     gittest.Symlink(outside),
		},
		wantFile: ".nais",
		wantMsg:  ".nais: this file is a symbolic link that leads out of the repository",
		wantErr:  render.ErrOutsideRepository,
	}, {
		name: ".flyt.yaml itself linking out",
		files: map[string]string{
			".flyt.yaml": gittest.Symlink(secret),
			"app.yaml":   linkedApp,
		},
		wantFile: ".flyt.yaml",
		wantMsg:  ".flyt.yaml: this file is a symbolic link that leads out of the repository",
		wantErr:  render.ErrOutsideRepository,
	}, {
		name: "a .nais/ file in a link loop",
		files: map[string]string{
			".nais/nais.yaml": linkedApp,
			".nais/a.yaml":    gittest.Symlink("b.yaml"),
			".nais/b.yaml":    gittest.Symlink("a.yaml"),
		},
		wantFile: ".nais/a.yaml",
		wantMsg:  `.nais/a.yaml: this file is a symbolic link that never reaches a file (to "b.yaml")`,
		wantErr:  render.ErrLinkLoop,
	}}
	for _, tt := range tests {
		for reader, fsys := range commitReaders(t, tt.files) {
			t.Run(reader+"/"+tt.name, func(t *testing.T) {
				_, err := render.LoadRepo(fsys, ".", render.LoadOptions{Environments: []string{"dev"}})
				if !render.IsSpecError(err) || !errors.Is(err, tt.wantErr) {
					t.Fatalf("LoadRepo: got %v, want a spec error wrapping %v", err, tt.wantErr)
				}
				var e *render.Error
				errors.As(err, &e)
				if e.File != tt.wantFile || !strings.HasPrefix(err.Error(), tt.wantMsg) {
					t.Errorf("LoadRepo: got %q (file %s), want it to start %q (file %s)", err, e.File, tt.wantMsg, tt.wantFile)
				}
				if strings.Contains(err.Error(), secretMarker) {
					t.Errorf("the error quotes the file outside the repository: %v", err)
				}
			})
		}
	}
}

// A link inside the repository renders the same objects through every reader, and the same as
// the files it links to committed in its place.
func TestInsideLinksRenderAlikeEverywhere(t *testing.T) {
	plain := commitReaders(t, map[string]string{
		".nais/nais.yaml":     linkedApp,
		".nais/vars-dev.yaml": "replicas: 3\n",
	})["Checkout"]
	linked := commitReaders(t, map[string]string{
		"deploy/web.yaml":     linkedApp,
		"deploy/dev.yaml":     "replicas: 3\n",
		".nais/nais.yaml":     gittest.Symlink("../deploy/web.yaml"),
		".nais/vars-dev.yaml": gittest.Symlink("../deploy/dev.yaml"),
	})
	env := render.NewEnvironment(&environments.Environment{Name: "dev"}, &environments.Team{Name: "team-a"})
	renderWith := func(t *testing.T, fsys fs.FS) *render.Result {
		t.Helper()
		repo, err := render.LoadRepo(fsys, ".", render.LoadOptions{Environments: []string{"dev"}})
		if err != nil {
			t.Fatalf("LoadRepo: %v", err)
		}
		res, err := render.Render(repo, "web", &env, render.Vars{Commit: "4f2a9c1e7b3d"})
		if err != nil {
			t.Fatalf("Render: %v", err)
		}
		return res
	}
	want := renderWith(t, plain)
	if len(want.Objects) == 0 {
		t.Fatal("the plain repository renders nothing")
	}
	for reader, fsys := range linked {
		got := renderWith(t, fsys)
		if got.Digest != want.Digest {
			y, _ := render.YAML(got.Objects)
			t.Errorf("%s: digest %s, want %s as with plain files:\n%s", reader, got.Digest, want.Digest, y)
		}
	}
}
