package source

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
)

// WorkTree is a repository's folder on disk read as an fs.FS with the symbolic-link policy of
// a Git revision (CommitFS): a link is followed only while it stays inside the repository, a
// link to a file lists as a file and one to a directory as a directory. `flyt render` and
// `flyt validate` read an uncommitted working tree through it, so that they refuse what the
// server will refuse instead of printing /etc/passwd. Reads go through an os.Root, which the
// kernel keeps inside the repository even if a link changes while flyt reads.
type WorkTree struct {
	root *os.Root
	base string // the path inside root the FS is rooted at, free of links; "" for root
}

var (
	_ fs.ReadFileFS = (*WorkTree)(nil)
	_ fs.ReadDirFS  = (*WorkTree)(nil)
	_ fs.StatFS     = (*WorkTree)(nil)
)

// OpenWorkTree opens the repository folder root (its top, where links may lead anywhere
// inside) as an fs.FS rooted at dir, a slash-separated path inside it ("" or "." for root).
// Close it when done.
func OpenWorkTree(root, dir string) (*WorkTree, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("open repository folder: %w", err)
	}
	w := &WorkTree{root: r}
	if dir = strings.Trim(path.Clean("/"+dir), "/"); dir != "" {
		res, err := resolve[struct{}](w, "", dir, true)
		if err == nil && res.kind != nodeDir {
			err = fmt.Errorf("%s is a file: %w", dir, fs.ErrNotExist)
		}
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("open %s in %s: %w", dir, root, err)
		}
		w.base = res.path
	}
	return w, nil
}

// Close releases the folder.
func (w *WorkTree) Close() error { return w.root.Close() }

func (w *WorkTree) rootNode() struct{} { return struct{}{} }

// child looks name up in dir without following it. Anything but files, directories and links
// (a device, a named pipe, a socket) is not a repository file: reading a pipe would block.
func (w *WorkTree) child(_ struct{}, dir, name string) (nodeKind, struct{}, string, error) {
	p := path.Join(dir, name)
	fi, err := w.root.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nodeMissing, struct{}{}, "", nil
	}
	if err != nil {
		return 0, struct{}{}, "", err
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := w.root.Readlink(p)
		if err != nil {
			return 0, struct{}{}, "", err
		}
		if len(target) > maxLinkTarget {
			return nodeMissing, struct{}{}, "", nil
		}
		return nodeLink, struct{}{}, target, nil
	case fi.IsDir():
		return nodeDir, struct{}{}, "", nil
	case fi.Mode().IsRegular():
		return nodeFile, struct{}{}, "", nil
	}
	return nodeMissing, struct{}{}, "", nil
}

// find resolves name, following every link, to a path inside root ("." for root itself).
func (w *WorkTree) find(op, name string) (resolved[struct{}], string, error) {
	if !fs.ValidPath(name) {
		return resolved[struct{}]{}, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	r, err := resolve[struct{}](w, w.base, path.Join(w.base, name), true)
	if err != nil {
		return r, "", &fs.PathError{Op: op, Path: name, Err: err}
	}
	if r.path == "" {
		return r, ".", nil
	}
	return r, r.path, nil
}

// Open opens a file or directory.
func (w *WorkTree) Open(name string) (fs.File, error) {
	r, p, err := w.find("open", name)
	if err != nil {
		return nil, err
	}
	info, err := w.info(name, p)
	if err != nil {
		return nil, err
	}
	if r.kind == nodeDir {
		entries, err := w.dirEntries(name, r, p)
		if err != nil {
			return nil, err
		}
		return &treeDir{info: info, entries: entries}, nil
	}
	f, err := w.root.Open(p)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &workFile{File: f, info: info}, nil
}

// ReadFile reads a whole file.
func (w *WorkTree) ReadFile(name string) ([]byte, error) {
	r, p, err := w.find("read", name)
	if err != nil {
		return nil, err
	}
	if r.kind == nodeDir {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
	}
	data, err := w.root.ReadFile(p)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	return data, nil
}

// ReadDir lists a directory, sorted by name, with its links resolved as in a Git revision.
func (w *WorkTree) ReadDir(name string) ([]fs.DirEntry, error) {
	r, p, err := w.find("readdir", name)
	if err != nil {
		return nil, err
	}
	if r.kind != nodeDir {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	return w.dirEntries(name, r, p)
}

// Stat describes a file or directory, with links followed.
func (w *WorkTree) Stat(name string) (fs.FileInfo, error) {
	_, p, err := w.find("stat", name)
	if err != nil {
		return nil, err
	}
	return w.info(name, p)
}

// info describes p, the resolved path of name, under name's base name.
func (w *WorkTree) info(name, p string) (fileInfo, error) {
	fi, err := w.root.Lstat(p)
	if err != nil {
		return fileInfo{}, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	return fileInfo{name: path.Base(name), size: fi.Size(), mode: fi.Mode(), mtime: fi.ModTime()}, nil
}

func (w *WorkTree) dirEntries(name string, r resolved[struct{}], p string) ([]fs.DirEntry, error) {
	d, err := w.root.Open(p)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	defer d.Close()
	raw, err := d.ReadDir(-1)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	out := make([]fs.DirEntry, 0, len(raw))
	for _, e := range raw {
		if e.Type()&fs.ModeSymlink == 0 {
			out = append(out, e)
			continue
		}
		t, err := resolve[struct{}](w, w.base, path.Join(r.path, e.Name()), true)
		info, err := entryOfLink(e.Name(), t.kind, r.links > 0, err)
		if err != nil {
			return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
		}
		if t.kind == nodeFile || t.kind == nodeDir {
			fi, err := w.root.Lstat(cmp.Or(t.path, "."))
			if err != nil {
				return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
			}
			info.size, info.mtime = fi.Size(), fi.ModTime()
			if info.mode.Type() == fi.Mode().Type() {
				info.mode = fi.Mode()
			}
		}
		out = append(out, fs.FileInfoToDirEntry(info))
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

// workFile is an open file of a WorkTree, named as it was asked for.
type workFile struct {
	*os.File
	info fileInfo
}

func (f *workFile) Stat() (fs.FileInfo, error) { return f.info, nil }
