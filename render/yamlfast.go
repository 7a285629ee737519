package render

import (
	"slices"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/flyt-platform/flyt/internal/yamlpos"
)

// parseSimple is parseDocuments' fast path for the YAML that manifests are usually made of:
// block mappings and sequences of one-line plain or quoted scalars, comments, and documents
// separated by "---". It returns each document's value as nodeValue would from yaml.v3's nodes
// (TestParseSimpleMatchesYAML and FuzzParseSimple hold it to that) and says false for anything
// else (flow collections, block scalars, anchors, tags, escapes, multi-line scalars, tabs,
// non-ASCII text, duplicate keys, anything malformed), which then goes to yaml.v3, so results
// and error messages stay as they are. It builds no nodes: positions are only needed for
// messages, and lazyNodes finds them with yaml.v3 then.
//
// It stays, although a hand-written parser is attack surface, because without it one limit
// on hostile input no longer holds: yaml.v3 builds a node (about 160 bytes) and a scratch buffer for
// every value, so TestHostileRepositories' "many documents each within the limit" (three files
// of 40,000 values parsed before the app's limits.yamlValues budget runs out) allocated
// 65.3 MiB beyond its input through yaml.v3 alone, over the 64 MiB bound, against 40.1 MiB
// with this path (measured 2026-12-03 on the shared 2-core machine). Passing the rest of the
// budget to yamlpos.Check as the file's limit, so that the file that overspends it is not
// converted, and copying less of raw objects got it down from 79.4 MiB but not far enough.
func parseSimple(text string) ([]any, bool) {
	for i := 0; i < len(text); i++ {
		if c := text[i]; c >= 0x7f || c < 0x20 && c != '\n' {
			return nil, false // columns count characters; tabs and CR have their own rules
		}
	}
	lines := strings.Split(text, "\n")
	p := simpleParser{lines: make([]simpleLine, 0, len(lines)), stack: make([]any, 0, 64)}
	var docs []any
	start := 0 // first line of the current document
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
			p.lines = append(p.lines, simpleLine{indent: len(l) - len(trimmed), text: strings.TrimRight(trimmed, " ")})
		}
		switch {
		case len(p.lines) > 0:
			p.i = 0
			if p.lines[0].indent != 0 || !isSeqEntry(p.lines[0].text) && !isMappingLine(p.lines[0].text) {
				return nil, false
			}
			v, ok := p.block(0)
			if !ok || p.i != len(p.lines) {
				return nil, false
			}
			docs = append(docs, v)
		case i < len(lines) && (start != 0 || len(docs) > 0):
			return nil, false // an empty document between two ---
		}
		start = i + 1
	}
	return docs, true
}

type simpleLine struct {
	indent int
	text   string // without the indentation and trailing spaces
}

type simpleParser struct {
	lines []simpleLine
	i     int
	// stack holds the items and keys and values of the collections being parsed, so that each
	// collection is allocated once at its final size.
	stack []any
}

// block parses the collection starting at the current line, which is at indent.
func (p *simpleParser) block(indent int) (any, bool) {
	if isSeqEntry(p.lines[p.i].text) {
		return p.sequence(indent)
	}
	return p.mapping(indent)
}

func isSeqEntry(s string) bool { return s == "-" || strings.HasPrefix(s, "- ") }

// pop removes the stack's items from base on.
func (p *simpleParser) pop(base int) {
	clear(p.stack[base:])
	p.stack = p.stack[:base]
}

func (p *simpleParser) sequence(indent int) (any, bool) {
	base := len(p.stack)
	defer p.pop(base)
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
			item, ok := p.value(indent, false)
			if !ok {
				return nil, false
			}
			p.stack = append(p.stack, item)
			continue
		}
		if isSeqEntry(rest) || isMappingLine(rest) {
			// The entry is a collection starting on this line: parse it as if it were on a line
			// of its own at the column where it starts.
			col := indent + len(l.text) - len(rest)
			p.lines[p.i] = simpleLine{indent: col, text: rest}
			item, ok := p.block(col)
			if !ok {
				return nil, false
			}
			p.stack = append(p.stack, item)
			continue
		}
		item, ok := scalarValue(rest)
		if !ok {
			return nil, false
		}
		p.i++
		p.stack = append(p.stack, item)
	}
	return slices.Clone(p.stack[base:]), true
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

func (p *simpleParser) mapping(indent int) (any, bool) {
	base := len(p.stack)
	defer p.pop(base)
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
		rest = strings.TrimLeft(rest, " ")
		var val any
		if rest == "" || rest[0] == '#' {
			p.i++
			val, ok = p.value(indent, true)
		} else {
			val, ok = scalarValue(rest)
			p.i++
			// A more indented line after a scalar would continue it (or be an error).
			ok = ok && (p.i == len(p.lines) || p.lines[p.i].indent <= indent)
		}
		if !ok {
			return nil, false
		}
		p.stack = append(p.stack, k, val)
	}
	m := make(map[string]any, (len(p.stack)-base)/2)
	for i := base; i < len(p.stack); i += 2 {
		k := p.stack[i].(string)
		if _, dup := m[k]; dup {
			return nil, false // yaml.v3's nodes are needed to say where
		}
		m[k] = p.stack[i+1]
	}
	return m, true
}

// value parses what follows "key:" or "-" with nothing after it on the line: a collection on
// the next lines, or null. A mapping's value may be a sequence at the mapping's own indent.
func (p *simpleParser) value(indent int, inMapping bool) (any, bool) {
	if p.i < len(p.lines) {
		next := p.lines[p.i]
		if next.indent > indent {
			return p.block(next.indent)
		}
		if inMapping && next.indent == indent && isSeqEntry(next.text) {
			return p.sequence(indent)
		}
	}
	return nil, true
}

// plainKey accepts keys that are plain scalars without anything yaml.v3 would read differently.
func plainKey(k string) bool {
	return k != "" && len(k) < 1000 && k != "<<" && // yaml.v3 takes no simple key over 1024 characters
		!strings.ContainsAny(k[:1], "-?:,[]{}#&*!|>'\"%@`") &&
		!strings.Contains(k, " #") && !strings.HasSuffix(k, " ") && !strings.Contains(k, ": ")
}

// scalarValue parses a one-line scalar s (comment included) into what nodeValue gives for it.
func scalarValue(s string) (any, bool) {
	var v, rest string
	switch s[0] {
	case '"':
		end := strings.IndexByte(s[1:], '"')
		if end < 0 || strings.IndexByte(s[1:end+1], '\\') >= 0 {
			return nil, false
		}
		v, rest = s[1:end+1], s[end+2:]
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
		v, rest = b.String(), s[i:]
	default:
		if strings.ContainsAny(s[:1], "[]{},&*!|>%@`?:") || s[0] == '-' && (len(s) == 1 || s[1] == ' ') {
			return nil, false
		}
		v, _, _ = strings.Cut(s, " #")
		v = strings.TrimRight(v, " ")
		if v == "" || v == "<<" || strings.Contains(v, ": ") || strings.HasSuffix(v, ":") {
			return nil, false
		}
		return plainValue(v)
	}
	if rest = strings.TrimLeft(rest, " "); rest != "" && rest[0] != '#' {
		return nil, false
	}
	if len(s) > len(rest) && rest != "" && s[len(s)-len(rest)-1] != ' ' {
		return nil, false // a comment must be apart from the value
	}
	return v, true // quoted: always a string
}

// plainValue is nodeValue for a plain scalar: yaml.v3 resolves its type, and the few spellings
// nodeValue would hand to yaml.v3's decoder give up.
func plainValue(s string) (any, bool) {
	n := yaml.Node{Kind: yaml.ScalarNode, Value: s}
	switch n.ShortTag() {
	case "!!null":
		return nil, true
	case "!!bool":
		switch s {
		case "true", "True", "TRUE":
			return true, true
		case "false", "False", "FALSE":
			return false, true
		}
		return nil, false
	case "!!int":
		i, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 0, 64)
		return i, err == nil
	case "!!float":
		f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
		return f, err == nil
	}
	return s, true
}

// lazyNodes parses a text that parseSimple took with yaml.v3 the first time a document's node
// is asked for, which only a message does.
type lazyNodes struct {
	file, text string
	lim        yamlpos.Limits
	once       sync.Once
	docs       []document
}

// root returns the root node of the i-th document parseDocuments returned for the text.
func (l *lazyNodes) root(i int) *yaml.Node {
	l.once.Do(func() { l.docs, _ = parseYAML(l.file, l.text, false, l.lim) })
	if i < len(l.docs) {
		return l.docs[i].node
	}
	return &yaml.Node{} // not reached: parseSimple takes only what yaml.v3 parses alike
}
