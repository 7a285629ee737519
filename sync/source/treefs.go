package source

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// treeFS is a read-only fs.FS over a Git tree, read straight from the object store: no work
// tree is checked out, so many revisions of one repository can be rendered side by side.
// Symbolic links are followed while they stay inside the repository (see links.go): a link
// that resolves to a file is a file, one that resolves to a directory a directory.
//
// go-git's object storage is not safe for concurrent use, so every read holds mu. Each
// treeFS has its own storage handle (see Cache.Checkout), so renders never wait for fetches;
// they wait only while the cache compacts the repository's packfiles.
type treeFS struct {
	mu    *sync.Mutex
	store storer.EncodedObjectStorer
	root  *object.Tree // the commit's whole tree: links may lead anywhere inside it
	base  string       // the repository path the FS is rooted at, free of links; "" for the root
	mtime time.Time    // the commit's committer time, for every entry
	// trees caches the directories decoded so far and names indexes their entries, both by
	// tree hash: every path is walked from the root, so each is read once per FS, not once
	// per path. (Tree.FindEntry would index too, but it refuses names such as ".git" that a
	// crafted tree may hold and ReadDir lists.)
	trees map[plumbing.Hash]*object.Tree
	names map[plumbing.Hash]map[string]int

	// When the cache compacts its packfiles, store's pack indexes name deleted files: reads
	// hold packs shared and, once its generation moved past gen, first reopen the
	// repository at path and find the tree rootHash again. packs is nil for a CommitFS.
	packs    *packs
	gen      uint64
	path     string
	rootHash plumbing.Hash
}

// CommitFS returns the files of commit, read from store, as a read-only fs.FS rooted at dir (a
// slash-separated path in the commit's tree; "" or "." for all of it). It reads a revision the
// way the server's Cache.Checkout does, for `flyt render --revision`: a symbolic link is
// followed only while it stays inside the repository; reading a file whose link leads out of it
// fails with render.ErrOutsideRepository, one whose links loop with render.ErrLinkLoop. Each
// entry's time is the commit's committer time. The FS is safe for concurrent use.
func CommitFS(store storer.EncodedObjectStorer, commit *object.Commit, dir string) (fs.FS, error) {
	tree, err := commit.Tree()
	if err != nil {
		return nil, fmt.Errorf("read tree of %s: %w", commit.Hash, err)
	}
	f := &treeFS{mu: new(sync.Mutex), store: store, root: tree, mtime: commit.Committer.When, rootHash: tree.Hash}
	if err := f.setBase(dir); err != nil {
		return nil, err
	}
	return f, nil
}

// setBase roots f at dir, following links on its way.
func (f *treeFS) setBase(dir string) error {
	dir = strings.Trim(path.Clean("/"+dir), "/")
	if dir == "" {
		return nil
	}
	r, err := resolve[gitNode](f, "", dir, true)
	if err == nil && r.kind != nodeDir {
		err = fmt.Errorf("%s is a file: %w", dir, fs.ErrNotExist)
	}
	if err != nil {
		return fmt.Errorf("path %q is not a directory at this commit: %w", dir, err)
	}
	f.base = r.path
	return nil
}

// packs guards a cached repository's packfiles against compaction (Cache.compact) while an FS
// reads them: every read holds mu shared; compaction, which deletes packs, holds it alone and
// bumps gen.
type packs struct {
	mu  sync.RWMutex
	gen uint64
}

// readStore opens a storage handle of its own on the cached repository at path, for one FS.
func readStore(path string) *filesystem.Storage {
	return filesystem.NewStorage(osfs.New(path), cache.NewObjectLRUDefault())
}

// hold takes f.packs shared for one read, first opening a new storage handle if the packs
// were compacted since the last read. The caller holds f.mu and calls release when done.
func (f *treeFS) hold(op, name string) (release func(), err error) {
	if f.packs == nil {
		return func() {}, nil
	}
	f.packs.mu.RLock()
	if f.packs.gen != f.gen {
		st := readStore(f.path)
		root, err := object.GetTree(st, f.rootHash)
		if err != nil {
			f.packs.mu.RUnlock()
			return nil, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("reopen tree %s after the cache compacted its packs: %w", f.rootHash, err)}
		}
		f.store, f.root, f.gen = st, root, f.packs.gen
	}
	return f.packs.mu.RUnlock, nil
}

var (
	_ fs.FS         = (*treeFS)(nil)
	_ fs.ReadFileFS = (*treeFS)(nil)
	_ fs.ReadDirFS  = (*treeFS)(nil)
	_ fs.StatFS     = (*treeFS)(nil)
)

// gitNode is a file or directory of a Git tree: its entry (nil for the root), and for a
// directory its tree.
type gitNode struct {
	entry *object.TreeEntry
	tree  *object.Tree
}

func (f *treeFS) rootNode() gitNode { return gitNode{tree: f.root} }

// child looks name up in directory d. Submodules (gitlinks) are not part of the tree as seen
// here: they point at other repositories flyt does not fetch.
func (f *treeFS) child(d gitNode, _, name string) (nodeKind, gitNode, string, error) {
	idx := f.names[d.tree.Hash]
	if idx == nil {
		idx = make(map[string]int, len(d.tree.Entries))
		for i, e := range d.tree.Entries {
			idx[e.Name] = i
		}
		if f.names == nil {
			f.names = map[plumbing.Hash]map[string]int{}
		}
		f.names[d.tree.Hash] = idx
	}
	i, ok := idx[name]
	if !ok {
		return nodeMissing, gitNode{}, "", nil
	}
	e := &d.tree.Entries[i]
	switch e.Mode {
	case filemode.Dir:
		t := f.trees[e.Hash]
		if t == nil {
			var err error
			if t, err = object.GetTree(f.store, e.Hash); err != nil {
				return 0, gitNode{}, "", fmt.Errorf("read tree %s: %w", e.Hash, err)
			}
			if f.trees == nil {
				f.trees = map[plumbing.Hash]*object.Tree{}
			}
			f.trees[e.Hash] = t
		}
		return nodeDir, gitNode{entry: e, tree: t}, "", nil
	case filemode.Symlink:
		target, err := f.readBlob(e, maxLinkTarget+1)
		if err != nil {
			return 0, gitNode{}, "", err
		}
		if len(target) > maxLinkTarget {
			return nodeMissing, gitNode{}, "", nil
		}
		return nodeLink, gitNode{entry: e}, string(target), nil
	case filemode.Regular, filemode.Executable, filemode.Deprecated:
		return nodeFile, gitNode{entry: e}, "", nil
	}
	return nodeMissing, gitNode{}, "", nil
}

// find resolves name, a path in the FS, following every link.
func (f *treeFS) find(op, name string) (resolved[gitNode], error) {
	if !fs.ValidPath(name) {
		return resolved[gitNode]{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	r, err := resolve[gitNode](f, f.base, path.Join(f.base, name), true)
	if err != nil {
		return r, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return r, nil
}

// Open opens a file or directory.
func (f *treeFS) Open(name string) (fs.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	release, err := f.hold("open", name)
	if err != nil {
		return nil, err
	}
	defer release()
	r, err := f.find("open", name)
	if err != nil {
		return nil, err
	}
	if r.kind == nodeDir {
		entries, err := f.dirEntries(r)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return &treeDir{info: f.dirInfo(path.Base(name)), entries: entries}, nil
	}
	data, err := f.readBlob(r.node.entry, -1)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &treeFile{info: f.fileInfo(path.Base(name), r.node.entry, int64(len(data))), Reader: bytes.NewReader(data)}, nil
}

// ReadFile reads a whole file.
func (f *treeFS) ReadFile(name string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	release, err := f.hold("read", name)
	if err != nil {
		return nil, err
	}
	defer release()
	r, err := f.find("read", name)
	if err != nil {
		return nil, err
	}
	if r.kind == nodeDir {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
	}
	data, err := f.readBlob(r.node.entry, -1)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	return data, nil
}

// ReadDir lists a directory, sorted by name.
func (f *treeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	release, err := f.hold("readdir", name)
	if err != nil {
		return nil, err
	}
	defer release()
	r, err := f.find("readdir", name)
	if err != nil {
		return nil, err
	}
	if r.kind != nodeDir {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	entries, err := f.dirEntries(r)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	return entries, nil
}

// Stat describes a file or directory.
func (f *treeFS) Stat(name string) (fs.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	release, err := f.hold("stat", name)
	if err != nil {
		return nil, err
	}
	defer release()
	r, err := f.find("stat", name)
	if err != nil {
		return nil, err
	}
	if r.kind == nodeDir {
		return f.dirInfo(path.Base(name)), nil
	}
	size, err := f.blobSize(r.node.entry)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	return f.fileInfo(path.Base(name), r.node.entry, size), nil
}

// readBlob reads entry's blob, at most limit bytes when limit >= 0.
func (f *treeFS) readBlob(entry *object.TreeEntry, limit int64) ([]byte, error) {
	b, err := object.GetBlob(f.store, entry.Hash)
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", entry.Hash, err)
	}
	r, err := b.Reader()
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", entry.Hash, err)
	}
	defer r.Close()
	var rd io.Reader = r
	if limit >= 0 {
		rd = io.LimitReader(r, limit)
	}
	data, err := io.ReadAll(rd)
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", entry.Hash, err)
	}
	return data, nil
}

func (f *treeFS) blobSize(entry *object.TreeEntry) (int64, error) {
	b, err := object.GetBlob(f.store, entry.Hash)
	if err != nil {
		return 0, fmt.Errorf("read blob %s: %w", entry.Hash, err)
	}
	return b.Size, nil
}

// dirEntries lists the directory r, with its links resolved (see entryOfLink).
func (f *treeFS) dirEntries(r resolved[gitNode]) ([]fs.DirEntry, error) {
	tree := r.node.tree
	out := make([]fs.DirEntry, 0, len(tree.Entries))
	for i := range tree.Entries {
		e := &tree.Entries[i]
		switch e.Mode {
		case filemode.Submodule:
			continue
		case filemode.Dir:
			out = append(out, fs.FileInfoToDirEntry(f.dirInfo(e.Name)))
		case filemode.Symlink:
			t, err := resolve[gitNode](f, f.base, path.Join(r.path, e.Name), true)
			size := int64(0)
			if err == nil && t.kind == nodeFile {
				if size, err = f.blobSize(t.node.entry); err != nil {
					return nil, err
				}
			}
			info, err := entryOfLink(e.Name, t.kind, r.links > 0, err)
			if err != nil {
				return nil, err
			}
			info.size, info.mtime = size, f.mtime
			if t.kind == nodeFile {
				info.mode = f.fileInfo(e.Name, t.node.entry, 0).mode
			}
			out = append(out, fs.FileInfoToDirEntry(info))
		default:
			size, err := f.blobSize(e)
			if err != nil {
				return nil, err
			}
			out = append(out, fs.FileInfoToDirEntry(f.fileInfo(e.Name, e, size)))
		}
	}
	// Git orders a directory "a" as "a/", so "a.txt" sorts before it; io/fs wants plain names.
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

// entryOfLink is how a directory listing shows a symbolic link, given what resolving it gave
// (kind, err): a link to a file as a file, so that the .nais/ discovery reads it by content;
// a link to a directory as a directory, except in a directory itself reached through a link
// (inLinkedDir), where it stays a link, so that a walk expands at most one level of linked
// directories and a few links cannot make a repository look exponentially large. A link that
// leads out of the repository or loops shows as an empty file: whoever reads it learns why
// (render reports it). A dangling one stays a link, as in a Git checkout.
func entryOfLink(name string, kind nodeKind, inLinkedDir bool, err error) (fileInfo, error) {
	var le *linkError
	switch {
	case errors.As(err, &le):
		return fileInfo{name: name, mode: 0o444}, nil
	case errors.Is(err, fs.ErrNotExist):
		return fileInfo{name: name, mode: fs.ModeSymlink | 0o444}, nil
	case err != nil:
		return fileInfo{}, err
	case kind == nodeDir && inLinkedDir:
		return fileInfo{name: name, mode: fs.ModeSymlink | 0o444}, nil
	case kind == nodeDir:
		return fileInfo{name: name, mode: fs.ModeDir | 0o555}, nil
	}
	return fileInfo{name: name, mode: 0o444}, nil
}

func (f *treeFS) dirInfo(name string) fileInfo {
	return fileInfo{name: name, mode: fs.ModeDir | 0o555, mtime: f.mtime}
}

func (f *treeFS) fileInfo(name string, e *object.TreeEntry, size int64) fileInfo {
	mode := fs.FileMode(0o444)
	if e.Mode == filemode.Executable {
		mode = 0o555
	}
	return fileInfo{name: name, size: size, mode: mode, mtime: f.mtime}
}

// fileInfo describes a tree entry.
type fileInfo struct {
	name  string
	size  int64
	mode  fs.FileMode
	mtime time.Time
}

func (i fileInfo) Name() string       { return i.name }
func (i fileInfo) Size() int64        { return i.size }
func (i fileInfo) Mode() fs.FileMode  { return i.mode }
func (i fileInfo) ModTime() time.Time { return i.mtime }
func (i fileInfo) IsDir() bool        { return i.mode.IsDir() }
func (i fileInfo) Sys() any           { return nil }

// treeFile is an open blob, held in memory (manifests are small).
type treeFile struct {
	info fileInfo
	*bytes.Reader
}

func (f *treeFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *treeFile) Close() error               { return nil }

// treeDir is an open directory.
type treeDir struct {
	info    fileInfo
	entries []fs.DirEntry
	offset  int
}

func (d *treeDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *treeDir) Close() error               { return nil }
func (d *treeDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: errors.New("is a directory")}
}

// ReadDir follows fs.ReadDirFile: n > 0 returns at most n entries and io.EOF at the end;
// n <= 0 returns all remaining entries.
func (d *treeDir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.offset:]
	if n <= 0 {
		d.offset = len(d.entries)
		return slices.Clone(rest), nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(rest))
	d.offset += n
	return slices.Clone(rest[:n]), nil
}
