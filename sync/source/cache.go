package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	"github.com/go-git/go-git/v5/storage/memory"
	"github.com/go-logr/logr"

	"github.com/flyt-platform/flyt/environments"
)

// DefaultBranch is the branch watched when a repository names none.
const DefaultBranch = "main"

// Revision is one commit of a team repository as flyt deploys and records it (ARCHITECTURE.md
// invariant 3 wants commit, author and time in every deploy record).
type Revision struct {
	// Commit is the full SHA.
	Commit string `json:"commit"`
	// Branch is the branch the commit was found on; empty when read by Revision, since an old
	// commit may no longer be on any branch.
	Branch string `json:"branch,omitempty"`
	// Author and AuthorEmail are the commit's author.
	Author      string `json:"author"`
	AuthorEmail string `json:"authorEmail"`
	// Time is the author time.
	Time time.Time `json:"time"`
	// Message is the full commit message without its trailing newline.
	Message string `json:"message"`
}

// Options configure a Cache.
type Options struct {
	// Metrics, when set, records sync durations, results, errors and fetched bytes.
	Metrics *Metrics
	// Now reads the clock for sync durations; default time.Now. Tests inject it.
	Now func() time.Time
}

// Cache keeps one bare Git repository per watched repository on disk under a directory, and
// fetches into it only what a deploy needs: the watched branch, and only when ls-remote shows
// it moved. Objects are never garbage-collected, so every commit ever fetched stays readable
// for promotions and rollbacks even after a force-push removed it from the branch.
//
// A Cache is safe for concurrent use. Calls for the same repository URL are serialised;
// calls for different repositories run in parallel.
type Cache struct {
	dir  string
	opts Options

	// Guards the fields below.
	mu      sync.Mutex
	entries map[string]*entry
}

// entry is one repository's on-disk cache.
type entry struct {
	path string

	// Guards the fields below and every use of the on-disk repository.
	mu   sync.Mutex
	repo *git.Repository
	// packs is held by every read through a Checkout's FS; compact holds it alone.
	packs packs
}

// NewCache returns a cache keeping its repositories under dir (created on first use). Each
// repository lives in a directory named by a hash of its URL, so caches survive restarts.
func NewCache(dir string, opts Options) *Cache {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Cache{dir: dir, opts: opts, entries: map[string]*entry{}}
}

// Dir returns the on-disk cache directory of a repository URL.
func (c *Cache) Dir(repoURL string) string {
	sum := sha256.Sum256([]byte(repoURL))
	return filepath.Join(c.dir, hex.EncodeToString(sum[:16]))
}

func (c *Cache) entry(repoURL string) *entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[repoURL]
	if e == nil {
		e = &entry{path: c.Dir(repoURL)}
		c.entries[repoURL] = e
	}
	return e
}

// open opens or creates the bare repository. Callers hold e.mu.
func (e *entry) open() (*git.Repository, error) {
	if e.repo != nil {
		return e.repo, nil
	}
	r, err := git.PlainOpen(e.path)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		if err := os.MkdirAll(e.path, 0o755); err != nil {
			return nil, fmt.Errorf("create cache dir: %w", err)
		}
		r, err = git.PlainInit(e.path, true)
	}
	if err != nil {
		return nil, fmt.Errorf("open cache %s: %w", e.path, err)
	}
	e.repo = r
	return r, nil
}

// packLimit is how many packfiles a cached repository may hold before it is compacted. Each
// fetch adds one, and reading a file searches their indexes, so reads slow down as they pile
// up: reading a 20-app repository took 4.9× as long after 100 fetches and 13× after 300
// (BenchmarkCheckoutAfterPushes), 1.5× after 100 with this limit. Git's own default is 50
// (gc.autoPackLimit); flyt reads the whole repository at every push, so it compacts sooner.
const packLimit = 10

// compact writes every object of the cached repository into one new packfile and deletes the
// others, once there are more than packLimit. Every object is kept, not only those the
// branch reaches, so commits a force-push removed stay readable for rollbacks. Callers hold
// e.mu; reads through Checkout's FSs wait until it is done.
func (e *entry) compact() error {
	r := e.repo
	pos, ok := r.Storer.(storer.PackedObjectStorer)
	if !ok {
		return nil
	}
	old, err := pos.ObjectPacks()
	if err != nil || len(old) <= packLimit {
		return err
	}
	var all []plumbing.Hash
	objs, err := r.Storer.IterEncodedObjects(plumbing.AnyObject)
	if err != nil {
		return err
	}
	if err := objs.ForEach(func(o plumbing.EncodedObject) error {
		all = append(all, o.Hash())
		return nil
	}); err != nil {
		return fmt.Errorf("list objects: %w", err)
	}
	e.packs.mu.Lock()
	defer e.packs.mu.Unlock()
	w, err := r.Storer.(storer.PackfileWriter).PackfileWriter()
	if err != nil {
		return err
	}
	h, err := packfile.NewEncoder(w, r.Storer, false).Encode(all, 10)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write pack of %d objects: %w", len(all), err)
	}
	// The open handle indexed the old packs: reopen it, and make every FS reopen its own.
	e.repo = nil
	e.packs.gen++
	for _, p := range old {
		if p != h {
			if err := pos.DeleteOldObjectPackAndIndex(p, time.Time{}); err != nil {
				return fmt.Errorf("delete pack %s: %w", p, err)
			}
		}
	}
	return nil
}

func withDefaults(repo environments.Repository) environments.Repository {
	if repo.Branch == "" {
		repo.Branch = DefaultBranch
	}
	return repo
}

// Head asks the server where repo's branch points (an ls-remote) without fetching anything
// or touching the cache.
func (c *Cache) Head(ctx context.Context, repo environments.Repository) (string, error) {
	repo = withDefaults(repo)
	creds, err := authFor(repo)
	if err != nil {
		return "", newError("ls-remote", repo.URL, repo.Branch, ReasonConfig, err, creds.secrets...)
	}
	h, err := lsRemote(ctx, repo, creds)
	if err != nil {
		return "", err
	}
	return h.String(), nil
}

// lsRemote returns the hash of repo's branch on the server.
func lsRemote(ctx context.Context, repo environments.Repository, creds credentials) (plumbing.Hash, error) {
	remote := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{repo.URL}})
	refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: creds.auth})
	if err != nil {
		return plumbing.ZeroHash, newError("ls-remote", repo.URL, repo.Branch, "", err, creds.secrets...)
	}
	want := plumbing.NewBranchReferenceName(repo.Branch)
	for _, ref := range refs {
		if ref.Name() == want && ref.Type() == plumbing.HashReference {
			return ref.Hash(), nil
		}
	}
	return plumbing.ZeroHash, newError("ls-remote", repo.URL, repo.Branch, ReasonBranchNotFound, ErrBranchNotFound)
}

// Sync brings the cached branch of repo up to the server's: ls-remote first, and a fetch of
// that branch only when its head differs from the cached one, so an unmoved branch costs one
// small request. It returns the branch's head commit and whether it differs from what the
// cache held before (true on the first sync).
//
// On error nothing in the cache changes. errors.Is(err, ErrBranchNotFound) or
// ErrRepositoryNotFound (see Gone) means the source vanished: callers must keep what runs.
func (c *Cache) Sync(ctx context.Context, repo environments.Repository) (rev Revision, changed bool, err error) {
	repo = withDefaults(repo)
	start := c.opts.Now()
	defer func() {
		result := resultUnchanged
		switch {
		case err != nil:
			result = resultError
		case changed:
			result = resultChanged
		}
		c.opts.Metrics.observeSync(result, c.opts.Now().Sub(start).Seconds(), ReasonOf(err))
	}()

	e := c.entry(repo.URL)
	e.mu.Lock()
	defer e.mu.Unlock()
	return c.syncLocked(ctx, e, repo)
}

func (c *Cache) syncLocked(ctx context.Context, e *entry, repo environments.Repository) (Revision, bool, error) {
	log := logr.FromContextOrDiscard(ctx).WithValues("repository", redactURL(repo.URL), "branch", repo.Branch)
	creds, err := authFor(repo)
	if err != nil {
		return Revision{}, false, newError("sync", repo.URL, repo.Branch, ReasonConfig, err, creds.secrets...)
	}
	r, err := e.open()
	if err != nil {
		return Revision{}, false, newError("sync", repo.URL, repo.Branch, ReasonOther, err)
	}

	// One upload-pack session serves both the ls-remote and, only if the branch moved, the
	// fetch: over HTTP that is one GET when nothing changed and one GET plus one POST when
	// something did; over SSH one connection either way.
	sess, err := uploadPackSession(repo, creds)
	if err != nil {
		return Revision{}, false, err
	}
	defer sess.Close()
	adv, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return Revision{}, false, newError("ls-remote", repo.URL, repo.Branch, "", err, creds.secrets...)
	}
	head, err := branchHead(adv, repo)
	if err != nil {
		return Revision{}, false, err
	}

	refName := plumbing.NewBranchReferenceName(repo.Branch)
	var cached plumbing.Hash
	if ref, err := r.Storer.Reference(refName); err == nil {
		cached = ref.Hash()
	}
	if cached == head {
		rev, err := readRevision(r, head, repo)
		return rev, false, err
	}

	if _, err := r.CommitObject(head); err == nil {
		// The branch moved to a commit the cache already has (a force-push back to an older
		// commit): no fetch needed.
		log.V(1).Info("branch moved to a cached commit", "commit", head.String())
	} else {
		n, err := fetchCommit(ctx, sess, adv, r, head)
		c.opts.Metrics.addBytes(n)
		if err != nil {
			return Revision{}, false, newError("fetch", repo.URL, repo.Branch, "", err, creds.secrets...)
		}
		if _, err := r.CommitObject(head); err != nil {
			return Revision{}, false, newError("fetch", repo.URL, repo.Branch, ReasonOther,
				fmt.Errorf("the server's pack lacks commit %s: %w", head, err))
		}
		log.V(1).Info("fetched branch", "commit", head.String(), "bytes", n)
		defer func() {
			// After the reads below, which use r. A failure loses nothing: the objects are
			// all still there, in the old packs or the new one.
			if err := e.compact(); err != nil {
				log.Error(err, "compact cached packfiles")
			}
		}()
	}
	if err := r.Storer.SetReference(plumbing.NewHashReference(refName, head)); err != nil {
		return Revision{}, false, newError("update cached ref", repo.URL, repo.Branch, ReasonOther, err)
	}
	rev, err := readRevision(r, head, repo)
	return rev, err == nil, err
}

// uploadPackSession opens a fetch session to repo's server.
func uploadPackSession(repo environments.Repository, creds credentials) (transport.UploadPackSession, error) {
	ep, err := transport.NewEndpoint(repo.URL)
	if err != nil {
		return nil, newError("connect", repo.URL, repo.Branch, ReasonConfig, err, creds.secrets...)
	}
	cl, err := client.NewClient(ep)
	if err != nil {
		return nil, newError("connect", repo.URL, repo.Branch, ReasonConfig, err, creds.secrets...)
	}
	sess, err := cl.NewUploadPackSession(ep, creds.auth)
	if err != nil {
		return nil, newError("connect", repo.URL, repo.Branch, "", err, creds.secrets...)
	}
	return sess, nil
}

// branchHead finds repo's branch among the advertised references.
func branchHead(adv *packp.AdvRefs, repo environments.Repository) (plumbing.Hash, error) {
	refs, err := adv.AllReferences()
	if err != nil {
		return plumbing.ZeroHash, newError("ls-remote", repo.URL, repo.Branch, ReasonOther, err)
	}
	ref, err := refs.Reference(plumbing.NewBranchReferenceName(repo.Branch))
	if err != nil || ref.Type() != plumbing.HashReference {
		return plumbing.ZeroHash, newError("ls-remote", repo.URL, repo.Branch, ReasonBranchNotFound, ErrBranchNotFound)
	}
	return ref.Hash(), nil
}

// fetchCommit asks the server for head and everything it needs that the cache lacks, and
// stores the received pack. It returns the bytes received. Haves are the tips of the cached
// branches: go-git does not negotiate further, and team repositories are small.
func fetchCommit(ctx context.Context, sess transport.UploadPackSession, adv *packp.AdvRefs, r *git.Repository, head plumbing.Hash) (int64, error) {
	req := packp.NewUploadPackRequestFromCapabilities(adv.Capabilities)
	if adv.Capabilities.Supports(capability.NoProgress) {
		if err := req.Capabilities.Set(capability.NoProgress); err != nil {
			return 0, fmt.Errorf("request no-progress: %w", err)
		}
	}
	req.Wants = []plumbing.Hash{head}
	refs, err := r.Storer.IterReferences()
	if err != nil {
		return 0, fmt.Errorf("list cached refs: %w", err)
	}
	_ = refs.ForEach(func(ref *plumbing.Reference) error {
		if ref.Type() == plumbing.HashReference && ref.Name().IsBranch() {
			req.Haves = append(req.Haves, ref.Hash())
		}
		return nil
	})
	resp, err := sess.UploadPack(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("request pack: %w", err)
	}
	defer resp.Close()
	counted := &countingReader{r: resp}
	var rd io.Reader = counted
	switch {
	case req.Capabilities.Supports(capability.Sideband64k):
		rd = sideband.NewDemuxer(sideband.Sideband64k, counted)
	case req.Capabilities.Supports(capability.Sideband):
		rd = sideband.NewDemuxer(sideband.Sideband, counted)
	}
	if err := packfile.UpdateObjectStorage(r.Storer, rd); err != nil {
		return counted.n, fmt.Errorf("store pack: %w", err)
	}
	return counted.n, nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func readRevision(r *git.Repository, h plumbing.Hash, repo environments.Repository) (Revision, error) {
	commit, err := r.CommitObject(h)
	if err != nil {
		return Revision{}, newError("read commit", repo.URL, repo.Branch, ReasonCommitNotFound, err)
	}
	return revisionOf(commit, repo.Branch), nil
}

func revisionOf(c *object.Commit, branch string) Revision {
	return Revision{
		Commit:      c.Hash.String(),
		Branch:      branch,
		Author:      c.Author.Name,
		AuthorEmail: c.Author.Email,
		Time:        c.Author.When,
		Message:     strings.TrimRight(c.Message, "\n"),
	}
}

// ensureCommit makes sure commit is in the cache: if it is missing, the branch is synced once
// (a commit promoted from another environment is usually on it). Callers hold e.mu.
func (c *Cache) ensureCommit(ctx context.Context, e *entry, repo environments.Repository, commit string) (*git.Repository, plumbing.Hash, error) {
	if !plumbing.IsHash(commit) {
		return nil, plumbing.ZeroHash, newError("read commit", repo.URL, "", ReasonCommitNotFound,
			fmt.Errorf("%q is not a full commit SHA", commit))
	}
	h := plumbing.NewHash(commit)
	r, err := e.open()
	if err != nil {
		return nil, h, newError("read commit", repo.URL, "", ReasonOther, err)
	}
	if _, err := r.CommitObject(h); err == nil {
		return r, h, nil
	}
	if _, _, err := c.syncLocked(ctx, e, repo); err != nil {
		return nil, h, newError("read commit "+commit, repo.URL, repo.Branch, ReasonCommitNotFound, err)
	}
	if _, err := r.CommitObject(h); err != nil {
		return nil, h, newError("read commit "+commit, repo.URL, repo.Branch, ReasonCommitNotFound, err)
	}
	return r, h, nil
}

// Revision describes commit, fetching repo's branch first if the cache lacks it. Commits that
// were fetched once stay readable even after they left the branch; its Branch field is empty.
func (c *Cache) Revision(ctx context.Context, repo environments.Repository, commit string) (Revision, error) {
	repo = withDefaults(repo)
	e := c.entry(repo.URL)
	e.mu.Lock()
	defer e.mu.Unlock()
	r, h, err := c.ensureCommit(ctx, e, repo, commit)
	if err != nil {
		return Revision{}, err
	}
	co, err := r.CommitObject(h)
	if err != nil {
		return Revision{}, newError("read commit", repo.URL, "", ReasonCommitNotFound, err)
	}
	return revisionOf(co, ""), nil
}

// Checkout returns the files of repo at commit, rooted at repo.Path, as a read-only fs.FS
// read straight from the cache's object store: no work tree is written, and any number of
// revisions can be open at once. The commit is fetched first if the cache lacks it (see
// Revision). The FS stays valid while the cache directory exists, across later syncs.
func (c *Cache) Checkout(ctx context.Context, repo environments.Repository, commit string) (fs.FS, error) {
	repo = withDefaults(repo)
	e := c.entry(repo.URL)
	// Unlocked by a deferred call, so that a panic in a Git library (which the controller
	// recovers from) does not leave the repository locked for good.
	_, h, err := func() (*git.Repository, plumbing.Hash, error) {
		e.mu.Lock()
		defer e.mu.Unlock()
		return c.ensureCommit(ctx, e, repo, commit)
	}()
	if err != nil {
		return nil, err
	}

	// A storage handle of its own, so reads through the FS never contend with (or race) a
	// sync of the same repository. Packs are added by syncs and only removed by compact,
	// which the FS notices (treeFS.hold).
	e.packs.mu.RLock()
	defer e.packs.mu.RUnlock()
	st := readStore(e.path)
	co, err := object.GetCommit(st, h)
	if err != nil {
		return nil, newError("checkout "+commit, repo.URL, "", ReasonCommitNotFound, err)
	}
	tree, err := co.Tree()
	if err != nil {
		return nil, newError("checkout "+commit, repo.URL, "", ReasonOther, err)
	}
	// The FS holds the whole tree, rooted at repo.Path: a link under Path may lead anywhere
	// inside the repository, as in the CLI's CommitFS.
	f := &treeFS{mu: new(sync.Mutex), store: st, root: tree, mtime: co.Committer.When,
		packs: &e.packs, gen: e.packs.gen, path: e.path, rootHash: tree.Hash}
	if err := f.setBase(repo.Path); err != nil {
		return nil, newError("checkout "+commit, repo.URL, "", ReasonConfig, err)
	}
	return f, nil
}
