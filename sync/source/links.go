package source

import (
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/flyt-platform/flyt/render"
)

// Symbolic links in a team's repository are followed only while they stay inside it, the same
// way for a Git revision (CommitFS, Cache.Checkout) and a working tree (OpenWorkTree), so that
// `flyt render`, `flyt validate` and the server read the same files from the same commit. A
// link that leads out of the repository would read whatever the reading machine has there
// (/etc/passwd on a laptop, another team's files on the server); one that loops never ends.
// Both are errors naming the file (render.ErrOutsideRepository, render.ErrLinkLoop), which
// render.LoadRepo reports as a problem with the team's files.

// maxLinkHops is how many symbolic links one path may pass through: Linux's own limit, more
// than any real chain needs, and the end of every loop.
const maxLinkHops = 40

// maxLinkTarget bounds the text of a link read from a repository (Linux's PATH_MAX); a longer
// one names nothing that can exist and is treated as a dangling link.
const maxLinkTarget = 4096

// nodeKind is what one name in a directory is.
type nodeKind uint8

const (
	nodeMissing nodeKind = iota // absent, or nothing flyt reads (a submodule, a device, a pipe)
	nodeFile
	nodeDir
	nodeLink
)

// linkTree is what following symbolic links needs from a tree of files: what one name in a
// directory is. N is the tree's handle on a file or directory (a Git tree entry, or nothing
// for a folder on disk, where the path is the handle).
type linkTree[N any] interface {
	// root is the handle of the repository's root directory.
	rootNode() N
	// child returns what name is in directory d, whose repository path is dir: a file or a
	// directory and its handle, or a link and its target.
	child(d N, dir, name string) (kind nodeKind, node N, target string, err error)
}

// resolved is a path with its symbolic links followed.
type resolved[N any] struct {
	// path is the repository path of what was found, free of links; "" is the root.
	path string
	// kind is nodeFile or nodeDir, or nodeLink for a last link that was not to be followed.
	kind nodeKind
	node N
	// links is how many links were followed. For a directory, any means the path went
	// through a link to a directory.
	links int
}

// linkError is a symbolic link flyt does not follow: Err is render.ErrOutsideRepository or
// render.ErrLinkLoop. render.LoadRepo quotes Link and Target in its message.
type linkError struct {
	link, target string
	err          error
}

func (e *linkError) Error() string { return fmt.Sprintf("%s -> %s: %v", e.link, e.target, e.err) }
func (e *linkError) Unwrap() error { return e.err }

// Link names the link at fault and the target it holds (see render.ErrOutsideRepository).
func (e *linkError) Link() (link, target string) { return e.link, e.target }

// resolve finds full, a repository path, in t, following every symbolic link on the way (and
// the last one too when followLast) as long as it stays inside the repository. base is the
// repository path the caller's fs.FS is rooted at, for naming links in errors. A missing name
// is fs.ErrNotExist, as is a file where the path needs a directory.
func resolve[N any](t linkTree[N], base, full string, followLast bool) (resolved[N], error) {
	type frame struct {
		node N
		path string
	}
	// part is one name still to walk. link is the index in links of the link whose target it
	// came from (-1: the path asked for); end marks where that link's target was walked.
	type part struct {
		name string
		link int
		end  bool
	}
	type link struct{ path, target string }
	var (
		stack = []frame{{t.rootNode(), ""}}
		links []link
		todo  []part // the next part is last
		names int    // parts in todo that are names, not ends
	)
	push := func(p string, from int) {
		elems := strings.Split(p, "/")
		for i := len(elems) - 1; i >= 0; i-- {
			if elems[i] != "" && elems[i] != "." {
				todo = append(todo, part{name: elems[i], link: from})
				names++
			}
		}
	}
	named := func(p string) string {
		if rest, ok := strings.CutPrefix(p, base+"/"); ok && base != "" {
			return rest
		}
		return p
	}
	fail := func(i int, err error) error {
		return &linkError{link: named(links[i].path), target: links[i].target, err: err}
	}
	push(full, -1)
	for len(todo) > 0 {
		p := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		cur := stack[len(stack)-1]
		if p.end {
			// A link to a directory holding it would make an endless path (a/self/self/…).
			lp := links[p.link].path
			if cur.path == "" || strings.HasPrefix(lp, cur.path+"/") {
				return resolved[N]{}, fail(p.link, render.ErrLinkLoop)
			}
			continue
		}
		names--
		if p.name == ".." {
			if len(stack) == 1 {
				if p.link < 0 {
					return resolved[N]{}, fs.ErrInvalid
				}
				return resolved[N]{}, fail(p.link, render.ErrOutsideRepository)
			}
			stack = stack[:len(stack)-1]
			continue
		}
		here := path.Join(cur.path, p.name)
		kind, node, target, err := t.child(cur.node, cur.path, p.name)
		if err != nil {
			return resolved[N]{}, err
		}
		last := names == 0
		switch kind {
		case nodeMissing:
			return resolved[N]{}, fs.ErrNotExist
		case nodeFile:
			if !last {
				return resolved[N]{}, fmt.Errorf("%s is a file, not a folder: %w", named(here), fs.ErrNotExist)
			}
			return resolved[N]{path: here, kind: nodeFile, node: node, links: len(links)}, nil
		case nodeDir:
			stack = append(stack, frame{node, here})
		case nodeLink:
			if last && !followLast {
				return resolved[N]{path: here, kind: nodeLink, node: node, links: len(links)}, nil
			}
			links = append(links, link{here, target})
			i := len(links) - 1
			if len(links) > maxLinkHops {
				return resolved[N]{}, fail(i, render.ErrLinkLoop)
			}
			if strings.HasPrefix(target, "/") {
				return resolved[N]{}, fail(i, render.ErrOutsideRepository)
			}
			// The target is walked from the link's own directory, then the end is checked.
			todo = append(todo, part{link: i, end: true})
			push(target, i)
		}
	}
	top := stack[len(stack)-1]
	return resolved[N]{path: top.path, kind: nodeDir, node: top.node, links: len(links)}, nil
}
