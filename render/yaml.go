package render

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/flyt-platform/flyt/internal/yamlpos"
)

// document is one YAML document of a file, after templating.
type document struct {
	file string
	// index is the document's 0-based position among those parseDocuments returned for its
	// file (empty documents are left out).
	index int
	// node is the document's root node; it answers "which line is spec.port on". It is nil when
	// the fast path parsed the document: root then asks lazy.
	node *yaml.Node
	lazy *lazyNodes
	// value is the decoded content: map[string]any, []any, string, int64, float64, bool or nil.
	value any
}

// root returns the document's root node.
func (d *document) root() *yaml.Node {
	if d.node == nil {
		d.node = d.lazy.root(d.index)
	}
	return d.node
}

var yamlErrLine = regexp.MustCompile(`line (\d+)`)

// parseDocuments splits text (file's contents after templating) into its YAML documents,
// skipping empty ones. templated says whether line numbers refer to the expanded template, which
// the message then says. A document beyond lim is an *Error wrapping ErrLimit.
func parseDocuments(file, text string, templated bool, lim yamlpos.Limits) ([]document, error) {
	if values, ok := parseSimple(text); ok && withinLimits(values, lim) {
		lazy := &lazyNodes{file: file, text: text, lim: lim}
		docs := make([]document, len(values))
		for i, v := range values {
			docs[i] = document{file: file, index: i, lazy: lazy, value: v}
		}
		return docs, nil
	}
	return parseYAML(file, text, templated, lim)
}

// parseYAML is parseDocuments with yaml.v3.
func parseYAML(file, text string, templated bool, lim yamlpos.Limits) ([]document, error) {
	dec := yaml.NewDecoder(strings.NewReader(text))
	var docs []document
	for i := 0; ; i++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			e := &Error{File: file, Msg: "broken YAML: " + strings.TrimPrefix(firstLine(err.Error()), "yaml: "), Err: err}
			if m := yamlErrLine.FindStringSubmatch(err.Error()); m != nil {
				e.Line, _ = strconv.Atoi(m[1])
				e.Msg = "broken YAML: " + strings.TrimPrefix(strings.TrimPrefix(firstLine(err.Error()), "yaml: "), "line "+m[1]+": ")
			}
			if templated {
				e.Msg += " (line numbers count the template's expanded output)"
			}
			return nil, e
		}
		root := &n
		if root.Kind == yaml.DocumentNode {
			if len(root.Content) == 0 {
				continue
			}
			root = root.Content[0]
		}
		if err := yamlpos.Check(file, root, lim); err != nil {
			e := fromYAMLPos(err).(Errors)[0]
			if templated {
				e.Msg += " (line numbers count the template's expanded output)"
			}
			return nil, e
		}
		v, err := nodeValue(root)
		if err != nil {
			return nil, &Error{File: file, Line: root.Line, Column: root.Column, Msg: err.Error(), Err: err}
		}
		if v == nil {
			continue
		}
		docs = append(docs, document{file: file, index: len(docs), node: root, value: v})
	}
	return docs, nil
}

// nodeValue decodes a node into plain Go values with JSON's types (strings, int64, float64,
// bool, nil, []any, map[string]any). Timestamps and binary stay strings, as Kubernetes wants.
func nodeValue(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.AliasNode:
		return nodeValue(n.Alias)
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return nodeValue(n.Content[0])
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := nodeValue(c)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: a key must be a plain value, not a list or map", k.Line)
			}
			if _, dup := m[k.Value]; dup {
				return nil, fmt.Errorf("line %d: key %q appears twice in the same map; keep one", k.Line, k.Value)
			}
			v, err := nodeValue(val)
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!bool":
			switch n.Value { // the spellings yaml.v3 resolves to !!bool, without its decoder
			case "true", "True", "TRUE":
				return true, nil
			case "false", "False", "FALSE":
				return false, nil
			}
			var b bool
			if err := n.Decode(&b); err != nil {
				return n.Value, nil
			}
			return b, nil
		case "!!int":
			if i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64); err == nil {
				return i, nil
			}
			var i int64
			if err := n.Decode(&i); err == nil {
				return i, nil
			}
			var f float64
			if err := n.Decode(&f); err == nil {
				return f, nil
			}
			return n.Value, nil
		case "!!float":
			var f float64
			if err := n.Decode(&f); err != nil {
				return n.Value, nil
			}
			return f, nil
		default:
			return n.Value, nil
		}
	}
	return nil, nil
}

// nodeAt returns the node at path (map keys and list indices) below root, or the deepest
// ancestor that exists, so a message points as close to the problem as the file allows.
// key says to return a map entry's key node rather than its value.
func nodeAt(root *yaml.Node, path []string, key bool) *yaml.Node {
	n, _ := findNode(root, path, key)
	return n
}

// findNode is nodeAt that also says whether the whole path was found.
func findNode(root *yaml.Node, path []string, key bool) (*yaml.Node, bool) {
	n := root
	for _, p := range path {
		for n.Kind == yaml.AliasNode || n.Kind == yaml.DocumentNode {
			switch {
			case n.Kind == yaml.AliasNode:
				n = n.Alias
			case len(n.Content) > 0:
				n = n.Content[0]
			default:
				return n, false
			}
		}
		switch n.Kind {
		case yaml.MappingNode:
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == p {
					if key && p == path[len(path)-1] {
						n = n.Content[i]
					} else {
						n = n.Content[i+1]
					}
					found = true
					break
				}
			}
			if !found {
				return n, false
			}
		case yaml.SequenceNode:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(n.Content) {
				return n, false
			}
			n = n.Content[i]
		default:
			return n, false
		}
	}
	return n, true
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// merge deep-merges overlay into base and returns the result; neither input is modified.
// Maps merge key by key; any other value in the overlay (scalar or list) replaces the base's;
// a null in the overlay removes the key. Lists are replaced whole rather than appended or
// merged by index, because a list's items have no identity a file can name, and an overlay
// that means "these ingresses in prod" must not keep dev's.
func merge(base, overlay any) any {
	bm, ok1 := base.(map[string]any)
	om, ok2 := overlay.(map[string]any)
	if !ok1 || !ok2 {
		return overlay
	}
	out := make(map[string]any, len(bm)+len(om))
	maps.Copy(out, bm)
	for k, v := range om {
		if v == nil {
			delete(out, k)
			continue
		}
		if b, ok := out[k]; ok {
			out[k] = merge(b, v)
		} else {
			out[k] = v
		}
	}
	return out
}
