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
//
// go-git's object storage is not safe for concurrent use, so every read holds mu. Each
// treeFS has its own storage handle (see Cache.Checkout), so renders never wait for fetches;
// they wait only while the cache compacts the repository's packfiles.
type treeFS struct {
	mu    *sync.Mutex
	store storer.EncodedObjectStorer
	root  *object.Tree
	mtime time.Time // the commit's committer time, for every entry

	// When the cache compacts its packfiles, store's pack indexes name deleted files: reads
	// hold packs shared and, once its generation moved past gen, first reopen the
	// repository at path and find the tree rootHash again.
	packs    *packs
	gen      uint64
	path     string
	rootHash plumbing.Hash
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

// lookup finds name in the tree: a subtree for a directory, or an entry for anything else.
// Submodules (gitlinks) are not part of the tree as seen here: they point at other
// repositories flyt does not fetch.
func (f *treeFS) lookup(op, name string) (*object.Tree, *object.TreeEntry, error) {
	if !fs.ValidPath(name) {
		return nil, nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return f.root, nil, nil
	}
	entry, err := f.root.FindEntry(name)
	if err != nil || entry.Mode == filemode.Submodule {
		return nil, nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	if entry.Mode == filemode.Dir {
		t, err := f.root.Tree(name)
		if err != nil {
			return nil, nil, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("read tree: %w", err)}
		}
		return t, entry, nil
	}
	return nil, entry, nil
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
	tree, entry, err := f.lookup("open", name)
	if err != nil {
		return nil, err
	}
	if tree != nil {
		entries, err := f.dirEntries(tree)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return &treeDir{info: f.dirInfo(path.Base(name)), entries: entries}, nil
	}
	data, err := f.blob(entry)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &treeFile{info: f.fileInfo(entry, int64(len(data))), Reader: bytes.NewReader(data)}, nil
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
	tree, entry, err := f.lookup("read", name)
	if err != nil {
		return nil, err
	}
	if tree != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
	}
	data, err := f.blob(entry)
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
	tree, _, err := f.lookup("readdir", name)
	if err != nil {
		return nil, err
	}
	if tree == nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	entries, err := f.dirEntries(tree)
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
	tree, entry, err := f.lookup("stat", name)
	if err != nil {
		return nil, err
	}
	if tree != nil {
		return f.dirInfo(path.Base(name)), nil
	}
	size, err := f.blobSize(entry)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	return f.fileInfo(entry, size), nil
}

func (f *treeFS) blob(entry *object.TreeEntry) ([]byte, error) {
	b, err := object.GetBlob(f.store, entry.Hash)
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", entry.Hash, err)
	}
	r, err := b.Reader()
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", entry.Hash, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
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

func (f *treeFS) dirEntries(tree *object.Tree) ([]fs.DirEntry, error) {
	out := make([]fs.DirEntry, 0, len(tree.Entries))
	for i := range tree.Entries {
		e := &tree.Entries[i]
		switch e.Mode {
		case filemode.Submodule:
			continue
		case filemode.Dir:
			out = append(out, fs.FileInfoToDirEntry(f.dirInfo(e.Name)))
		default:
			size, err := f.blobSize(e)
			if err != nil {
				return nil, err
			}
			out = append(out, fs.FileInfoToDirEntry(f.fileInfo(e, size)))
		}
	}
	// Git orders a directory "a" as "a/", so "a.txt" sorts before it; io/fs wants plain names.
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

func (f *treeFS) dirInfo(name string) fileInfo {
	return fileInfo{name: name, mode: fs.ModeDir | 0o555, mtime: f.mtime}
}

func (f *treeFS) fileInfo(e *object.TreeEntry, size int64) fileInfo {
	mode := fs.FileMode(0o444)
	switch e.Mode {
	case filemode.Executable:
		mode = 0o555
	case filemode.Symlink:
		// The content is the link's target; flyt does not follow links.
		mode = fs.ModeSymlink | 0o444
	}
	return fileInfo{name: e.Name, size: size, mode: mode, mtime: f.mtime}
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
