package yamlpos

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Document is one parsed YAML document that still knows where each of its nodes came from.
// Keep it after decoding to place the errors of later, semantic validation.
type Document struct {
	file string
	// root is the document's content node; nil for an empty document.
	root *yaml.Node
}

// Doc is one document of a multi-document file, such as a file of raw Kubernetes objects.
type Doc struct {
	// File is the name of the file the document came from.
	File string
	// Index counts the non-empty documents in the file from 0.
	Index int
	// Line is the 1-based line where the document's content starts in the file.
	Line int

	doc *Document
}

// Document returns the parsed document, to place errors found after decoding.
func (d Doc) Document() *Document { return d.doc }

// Decode strictly decodes the document into out; see [DecodeStrict].
func (d Doc) Decode(out any) error { return d.doc.Decode(out) }

// JSON returns the document as JSON, for decoders that want it untyped (unstructured
// Kubernetes objects). Problems carry their position like everything else here.
func (d Doc) JSON() ([]byte, error) { return d.doc.JSON() }

// DecodeStrict decodes the single YAML document in data into out (a pointer) by out's json
// tags. It reports unknown fields (with a suggestion when a known field is close), values of
// the wrong type, duplicate keys and broken YAML, each with file, line, column and field path;
// several problems come back together as an [ErrorList]. Values are converted like
// sigs.k8s.io/yaml does: a YAML number or boolean given where a string is expected becomes
// that string, written as in the source (version: 1.10 stays "1.10"). On problems, out still
// holds the values that did decode.
func DecodeStrict(file string, data []byte, out any) error {
	d, err := Parse(file, data, DefaultLimits)
	if err != nil {
		return err
	}
	return d.Decode(out)
}

// Parse parses data, which must hold at most one YAML document, keeping positions for later
// lookups with [Document.Position]. A document beyond lim (see [Check]) is an error, so that
// decoding it is bounded.
func Parse(file string, data []byte, lim Limits) (*Document, error) {
	docs, err := split(file, data, true, lim)
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return &Document{file: file}, nil
	}
	if len(docs) > 1 {
		line, col := nodePos(docs[1].doc.root)
		return nil, &Error{File: file, Line: line, Column: col,
			Msg: "expected one YAML document, but another one starts here; remove the \"---\" separator or move this document to its own file"}
	}
	return docs[0].doc, nil
}

// SplitDocuments parses every document of a multi-document YAML file (separated by "---"),
// each within [DefaultLimits]. Empty documents are skipped. Positions stay those of the whole
// file.
func SplitDocuments(file string, data []byte) ([]Doc, error) {
	return split(file, data, false, DefaultLimits)
}

func split(file string, data []byte, stopAfterTwo bool, lim Limits) ([]Doc, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []Doc
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, parseError(file, err)
		}
		root := &n
		if root.Kind == yaml.DocumentNode {
			if len(root.Content) == 0 {
				continue
			}
			root = root.Content[0]
		}
		if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" && root.Value == "" {
			continue // only comments, or nothing, between separators
		}
		if err := Check(file, root, lim); err != nil {
			return nil, err
		}
		docs = append(docs, Doc{File: file, Index: len(docs), Line: root.Line, doc: &Document{file: file, root: root}})
		if stopAfterTwo && len(docs) == 2 {
			return docs, nil
		}
	}
}

var parseErrorLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseError turns a YAML parser error into an *Error with the line the parser gave.
func parseError(file string, err error) error {
	msg := err.Error()
	if m := parseErrorLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: file, Line: line, Msg: "invalid YAML: " + m[2]}
	}
	return &Error{File: file, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// File returns the file name the document was parsed with.
func (d *Document) File() string { return d.file }

// Position returns the 1-based line and column of the field at path (for example
// "environments[1].promoteFrom" or `metadata.labels["app.kubernetes.io/name"]`): the value when
// it is a scalar, otherwise the key that introduces it. When the path does not exist, such as
// a required field left out, it returns the position of the deepest part that does, so the
// error still lands next to where the fix goes. It returns 0, 0 for an empty document.
func (d *Document) Position(path string) (line, col int) {
	n, key := d.lookup(path)
	if n == nil {
		return 0, 0
	}
	if key != nil && n.Kind != yaml.ScalarNode && n.Kind != yaml.AliasNode {
		return nodePos(key)
	}
	return nodePos(n)
}

// Has reports whether the field at path is written in the document, which tells an explicit
// value apart from a default (auto: false written out versus left out).
func (d *Document) Has(path string) bool {
	segs, err := parsePath(path)
	if err != nil {
		return false
	}
	n, _, depth := d.walkPath(segs)
	return n != nil && depth == len(segs)
}

// Errorf returns an *Error placed at the field path, for problems found after decoding.
func (d *Document) Errorf(path, format string, args ...any) *Error {
	line, col := d.Position(path)
	return &Error{File: d.file, Line: line, Column: col, Path: path, Msg: fmt.Sprintf(format, args...)}
}

// lookup finds the deepest node on path, and the mapping key that introduced it (nil for list
// items and the root).
func (d *Document) lookup(path string) (node, key *yaml.Node) {
	segs, err := parsePath(path)
	if err != nil {
		return d.root, nil
	}
	n, k, _ := d.walkPath(segs)
	return n, k
}

func (d *Document) walkPath(segs []segment) (node, key *yaml.Node, depth int) {
	node = d.root
	for _, s := range segs {
		if node == nil {
			return nil, nil, depth
		}
		next := resolve(node)
		var nk, nv *yaml.Node
		if s.isIndex {
			if next.Kind == yaml.SequenceNode && s.index < len(next.Content) {
				nv = next.Content[s.index]
			}
		} else if next.Kind == yaml.MappingNode {
			for _, p := range pairs(next) {
				if p.key.Value == s.name {
					nk, nv = p.key, p.value
				}
			}
		}
		if nv == nil {
			return node, key, depth
		}
		node, key = nv, nk
		depth++
	}
	return node, key, depth
}

type segment struct {
	name    string
	index   int
	isIndex bool
}

// parsePath splits a.b[0].c["x.y"] into its segments.
func parsePath(p string) ([]segment, error) {
	var segs []segment
	for i := 0; i < len(p); {
		switch p[i] {
		case '.':
			i++
		case '[':
			end := strings.IndexByte(p[i:], ']')
			if i+1 < len(p) && p[i+1] == '"' {
				// A quoted key may hold ']' itself: find the closing quote first.
				q, err := strconv.QuotedPrefix(p[i+1:])
				if err != nil {
					return nil, fmt.Errorf("bad quoted key in path %q: %w", p, err)
				}
				name, _ := strconv.Unquote(q)
				segs = append(segs, segment{name: name})
				i += 1 + len(q)
				if i >= len(p) || p[i] != ']' {
					return nil, fmt.Errorf("missing ] in path %q", p)
				}
				i++
				continue
			}
			if end < 0 {
				return nil, fmt.Errorf("missing ] in path %q", p)
			}
			n, err := strconv.Atoi(p[i+1 : i+end])
			if err != nil || n < 0 {
				return nil, fmt.Errorf("bad index in path %q", p)
			}
			segs = append(segs, segment{index: n, isIndex: true})
			i += end + 1
		default:
			end := strings.IndexAny(p[i:], ".[")
			if end < 0 {
				end = len(p) - i
			}
			segs = append(segs, segment{name: p[i : i+end]})
			i += end
		}
	}
	return segs, nil
}

var plainKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// joinKey appends a mapping key to a path, quoting keys that are not plain names.
func joinKey(path, key string) string {
	if !plainKey.MatchString(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func joinIndex(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func nodePos(n *yaml.Node) (int, int) {
	if n == nil {
		return 0, 0
	}
	return n.Line, n.Column
}

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

type pair struct{ key, value *yaml.Node }

// pairs lists the key/value pairs of a mapping with merge keys ("<<: *base") expanded; keys
// written in the mapping itself win over merged ones, and earlier merged mappings over later
// ones. Each mapping is merged at most once, so self-referencing merges end.
func pairs(m *yaml.Node) []pair {
	return collectPairs(m, map[*yaml.Node]bool{m: true})
}

func collectPairs(m *yaml.Node, visited map[*yaml.Node]bool) []pair {
	var own, merged []pair
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			src := resolve(v)
			var sources []*yaml.Node
			switch src.Kind {
			case yaml.MappingNode:
				sources = []*yaml.Node{src}
			case yaml.SequenceNode:
				for _, s := range src.Content {
					sources = append(sources, resolve(s))
				}
			}
			for _, s := range sources {
				if s != nil && s.Kind == yaml.MappingNode && !visited[s] {
					visited[s] = true
					merged = append(merged, collectPairs(s, visited)...)
				}
			}
			continue
		}
		own = append(own, pair{k, v})
	}
	if len(merged) == 0 {
		return own
	}
	seen := make(map[string]bool, len(own))
	for _, p := range own {
		seen[p.key.Value] = true
	}
	out := own
	for _, p := range merged {
		if !seen[p.key.Value] {
			seen[p.key.Value] = true
			out = append(out, p)
		}
	}
	return out
}
