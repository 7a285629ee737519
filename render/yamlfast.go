package render

import (
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// parseSimple is parseDocuments' fast path for the YAML that manifests are usually made of:
// block mappings and sequences of one-line plain or quoted scalars, comments, and documents
// separated by "---". It builds the same nodes as yaml.v3 would (kind, style, value, line and
// column; TestParseSimpleMatchesYAML holds it to that) and says false for anything else (flow
// collections, block scalars, anchors, tags, escapes, multi-line scalars, tabs, non-ASCII
// text, anything malformed), which then goes to yaml.v3, so its results and error messages
// stay as they are. yaml.v3 spends most of a render's parsing time on its general machinery;
// this does one pass over the lines.
func parseSimple(text string) ([]*yaml.Node, bool) {
	for i := 0; i < len(text); i++ {
		if c := text[i]; c >= 0x7f || c < 0x20 && c != '\n' {
			return nil, false // columns count characters; tabs and CR have their own rules
		}
	}
	p := simpleParser{}
	var roots []*yaml.Node
	start := 0 // first line of the current document
	lines := strings.Split(text, "\n")
	for i := 0; i <= len(lines); i++ {
		if i < len(lines) && !strings.HasPrefix(lines[i], "---") && !strings.HasPrefix(lines[i], "...") && !strings.HasPrefix(lines[i], "%") {
			continue
		}
		if i < len(lines) && strings.TrimRight(lines[i], " ") != "---" {
			return nil, false // document end, directive or content after ---
		}
		p.lines = p.lines[:0]
		for j := start; j < i; j++ {
			l := lines[j]
			trimmed := strings.TrimLeft(l, " ")
			if trimmed == "" || trimmed[0] == '#' {
				continue
			}
			p.lines = append(p.lines, simpleLine{line: j + 1, indent: len(l) - len(trimmed), text: strings.TrimRight(trimmed, " ")})
		}
		switch {
		case len(p.lines) > 0:
			p.i = 0
			if p.lines[0].indent != 0 {
				return nil, false
			}
			n, ok := p.block(0)
			if !ok || p.i != len(p.lines) || n.Kind == yaml.ScalarNode {
				return nil, false
			}
			roots = append(roots, n)
		case i < len(lines) && (start != 0 || len(roots) > 0):
			return nil, false // an empty document between two ---
		}
		start = i + 1
	}
	return roots, true
}

type simpleLine struct {
	line, indent int
	text         string // without the indentation and trailing spaces
}

type simpleParser struct {
	lines []simpleLine
	i     int
	// nodes is where new nodes are taken from, so that they are allocated a chunk at a time;
	// stack holds the children of the collections being parsed, so that each Content slice is
	// allocated once at its final length.
	nodes []yaml.Node
	stack []*yaml.Node
}

// node returns a new node with the given kind and position.
func (p *simpleParser) node(kind yaml.Kind, line, col int) *yaml.Node {
	if len(p.nodes) == cap(p.nodes) {
		p.nodes = make([]yaml.Node, 0, 64)
	}
	p.nodes = append(p.nodes, yaml.Node{Kind: kind, Line: line, Column: col})
	return &p.nodes[len(p.nodes)-1]
}

// content sets n's children to the stack's nodes from base on and pops them.
func (p *simpleParser) content(n *yaml.Node, base int) {
	n.Content = slices.Clone(p.stack[base:])
	clear(p.stack[base:])
	p.stack = p.stack[:base]
}

// block parses the collection starting at the current line, which is at indent.
func (p *simpleParser) block(indent int) (*yaml.Node, bool) {
	if isSeqEntry(p.lines[p.i].text) {
		return p.sequence(indent)
	}
	return p.mapping(indent)
}

func isSeqEntry(s string) bool { return s == "-" || strings.HasPrefix(s, "- ") }

func (p *simpleParser) sequence(indent int) (*yaml.Node, bool) {
	first := p.lines[p.i]
	n := p.node(yaml.SequenceNode, first.line, indent+1)
	n.Tag = "!!seq"
	base := len(p.stack)
	defer p.content(n, base)
	for p.i < len(p.lines) {
		l := p.lines[p.i]
		if l.indent < indent {
			break
		}
		if l.indent > indent {
			return nil, false
		}
		if !isSeqEntry(l.text) {
			break // the next key of the mapping this sequence is the value of
		}
		rest := strings.TrimLeft(l.text[1:], " ")
		if rest == "" || rest[0] == '#' {
			p.i++
			item, ok := p.value(indent, false, l.line, indent+2)
			if !ok {
				return nil, false
			}
			p.stack = append(p.stack, item)
			continue
		}
		col := indent + len(l.text) - len(rest)
		if isSeqEntry(rest) || isMappingLine(rest) {
			// The entry is a collection starting on this line: parse it as if it were on a line
			// of its own at the column where it starts.
			p.lines[p.i] = simpleLine{line: l.line, indent: col, text: rest}
			item, ok := p.block(col)
			if !ok {
				return nil, false
			}
			p.stack = append(p.stack, item)
			continue
		}
		item, ok := p.scalar(rest, l.line, col+1)
		if !ok {
			return nil, false
		}
		p.i++
		p.stack = append(p.stack, item)
	}
	return n, true
}

// isMappingLine says whether s starts with a key: "key:" or "key: …".
func isMappingLine(s string) bool {
	k, _, ok := cutKey(s)
	return ok && k != ""
}

// cutKey splits "key: rest" and "key:" at the colon.
func cutKey(s string) (key, rest string, ok bool) {
	if i := strings.Index(s, ": "); i >= 0 {
		return s[:i], s[i+2:], true
	}
	if k, found := strings.CutSuffix(s, ":"); found {
		return k, "", true
	}
	return "", "", false
}

func (p *simpleParser) mapping(indent int) (*yaml.Node, bool) {
	first := p.lines[p.i]
	n := p.node(yaml.MappingNode, first.line, indent+1)
	n.Tag = "!!map"
	base := len(p.stack)
	defer p.content(n, base)
	for p.i < len(p.lines) {
		l := p.lines[p.i]
		if l.indent < indent {
			break
		}
		if l.indent > indent {
			return nil, false
		}
		k, rest, ok := cutKey(l.text)
		if !ok || !plainKey(k) {
			return nil, false
		}
		key := p.node(yaml.ScalarNode, l.line, indent+1)
		key.Value = k // no tag: ShortTag resolves it when asked, as it does for the value
		rest = strings.TrimLeft(rest, " ")
		var val *yaml.Node
		if rest == "" || rest[0] == '#' {
			p.i++
			val, ok = p.value(indent, true, l.line, indent+len(k)+2)
		} else {
			val, ok = p.scalar(rest, l.line, indent+len(l.text)-len(rest)+1)
			p.i++
			// A more indented line after a scalar would continue it (or be an error).
			ok = ok && (p.i == len(p.lines) || p.lines[p.i].indent <= indent)
		}
		if !ok {
			return nil, false
		}
		p.stack = append(p.stack, key, val)
	}
	return n, true
}

// value parses what follows "key:" or "-" with nothing after it on the line: a collection on the
// next lines, or null (at line, col, just after the indicator, where yaml.v3 puts it). A
// mapping's value may be a sequence at the mapping's own indent.
func (p *simpleParser) value(indent int, inMapping bool, line, col int) (*yaml.Node, bool) {
	if p.i < len(p.lines) {
		next := p.lines[p.i]
		if next.indent > indent {
			return p.block(next.indent)
		}
		if inMapping && next.indent == indent && isSeqEntry(next.text) {
			return p.sequence(indent)
		}
	}
	n := p.node(yaml.ScalarNode, line, col)
	n.Tag = "!!null"
	return n, true
}

// plainKey accepts keys that are plain scalars without anything yaml.v3 would read differently.
func plainKey(k string) bool {
	return k != "" && len(k) < 1000 && k != "<<" && // yaml.v3 takes no simple key over 1024 characters
		!strings.ContainsAny(k[:1], "-?:,[]{}#&*!|>'\"%@`") &&
		!strings.Contains(k, " #") && !strings.HasSuffix(k, " ") && !strings.Contains(k, ": ")
}

// scalar parses a one-line scalar s (comment included) that starts at line and col.
func (p *simpleParser) scalar(s string, line, col int) (*yaml.Node, bool) {
	n := p.node(yaml.ScalarNode, line, col)
	var rest string
	switch s[0] {
	case '"':
		end := strings.IndexByte(s[1:], '"')
		if end < 0 || strings.IndexByte(s[1:end+1], '\\') >= 0 {
			return nil, false
		}
		n.Value, n.Style, rest = s[1:end+1], yaml.DoubleQuotedStyle, s[end+2:]
	case '\'':
		var b strings.Builder
		i := 1
		for {
			j := strings.IndexByte(s[i:], '\'')
			if j < 0 {
				return nil, false
			}
			b.WriteString(s[i : i+j])
			i += j + 1
			if i < len(s) && s[i] == '\'' {
				b.WriteByte('\'')
				i++
				continue
			}
			break
		}
		n.Value, n.Style, rest = b.String(), yaml.SingleQuotedStyle, s[i:]
	default:
		if strings.ContainsAny(s[:1], "[]{},&*!|>%@`?:") || s[0] == '-' && (len(s) == 1 || s[1] == ' ') {
			return nil, false
		}
		v, _, _ := strings.Cut(s, " #")
		v = strings.TrimRight(v, " ")
		if v == "" || v == "<<" || strings.Contains(v, ": ") || strings.HasSuffix(v, ":") {
			return nil, false
		}
		n.Value = v // no tag: ShortTag resolves it, as yaml.v3 did when parsing
		return n, true
	}
	if rest = strings.TrimLeft(rest, " "); rest != "" && rest[0] != '#' {
		return nil, false
	}
	if len(s) > len(rest) && rest != "" && s[len(s)-len(rest)-1] != ' ' {
		return nil, false // a comment must be apart from the value
	}
	n.Tag = "!!str"
	return n, true
}
