package render

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/mailgun/raymond/v2"
	"github.com/mailgun/raymond/v2/ast"
	"github.com/mailgun/raymond/v2/parser"
)

// template is one file parsed as a Handlebars template. Files without "{{" are kept as they are
// and never run through the template engine, so plain manifests keep exact line numbers.
type template struct {
	file string
	src  string
	tpl  *raymond.Template // nil for a plain file
	prog *ast.Program
}

var parseErrLine = regexp.MustCompile(`(?i)line (\d+)`)

// parseTemplate parses src (the contents of file) as a Handlebars template.
func parseTemplate(file, src string) (*template, error) {
	t := &template{file: file, src: src}
	if !strings.Contains(src, "{{") {
		return t, nil
	}
	prog, err := parser.Parse(src)
	if err != nil {
		return nil, templateError(file, err)
	}
	tpl, err := raymond.Parse(src)
	if err != nil {
		return nil, templateError(file, err)
	}
	t.tpl, t.prog = tpl, prog
	return t, nil
}

func templateError(file string, err error) *Error {
	msg := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", " ")), " ")
	if strings.Contains(msg, "Expecting OpenEndBlock, got: 'EOF'") {
		msg = "the file ends inside a {{#block}}"
	}
	e := &Error{File: file, Msg: "broken template: " + msg + "; check that every {{#block}} has its {{/block}} and every {{ has its }}", Err: err}
	if m := parseErrLine.FindStringSubmatch(err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
	}
	return e
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimSpace(s)
}

// exec expands the template with vars (as made by templateContext). Undefined variables
// render empty, as NAIS does, and each is reported as a warning.
func (t *template) exec(vars map[string]any) (string, []Warning, error) {
	if t.tpl == nil {
		return t.src, nil, nil
	}
	out, err := t.tpl.Exec(vars)
	if err != nil {
		return "", nil, &Error{File: t.file, Msg: "template failed: " + firstLine(err.Error()), Err: err}
	}
	c := checker{t: t, ctx: []any{vars}}
	c.program(t.prog)
	return out, c.warns, nil
}

// templateContext turns decoded variables into the values handed to raymond: strings become
// raymond.SafeString so that nothing is HTML-escaped (these are YAML files, not web pages: a
// value with & or " must come out as written).
func templateContext(v any) any {
	switch v := v.(type) {
	case string:
		return raymond.SafeString(v)
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = templateContext(x)
		}
		return m
	case []any:
		s := make([]any, len(v))
		for i, x := range v {
			s[i] = templateContext(x)
		}
		return s
	default:
		return v
	}
}

// builtinHelpers are the helpers raymond knows; a bare {{log}} is not a variable.
var builtinHelpers = map[string]bool{"if": true, "unless": true, "each": true, "with": true, "log": true, "lookup": true, "equal": true}

// checker walks a parsed template the way raymond evaluates it (same scopes, same branches
// taken) and reports every path expression that resolves to nothing. raymond itself has no
// hook for missing variables, so this walk mirrors its lookup rules: block parameters first,
// then the context stack from the innermost outwards, the first context holding the first part
// of the path wins.
type checker struct {
	t      *template
	ctx    []any
	params []map[string]any
	warns  []Warning
}

func (c *checker) program(p *ast.Program) {
	if p == nil {
		return
	}
	for _, n := range p.Body {
		switch n := n.(type) {
		case *ast.MustacheStatement:
			c.expr(n.Expression, true)
		case *ast.BlockStatement:
			c.block(n)
		}
	}
}

// expr checks an expression; output tells whether its value is printed (always warn) or only
// tested (warn only when a defined name is a likely typo, since testing an optional variable
// is the point of {{#if}}).
func (c *checker) expr(e *ast.Expression, output bool) {
	if e == nil {
		return
	}
	if len(e.Params) > 0 || e.Hash != nil {
		for _, p := range e.Params {
			c.param(p)
		}
		if e.Hash != nil {
			for _, hp := range e.Hash.Pairs {
				c.param(hp.Val)
			}
		}
		return
	}
	p, ok := e.Path.(*ast.PathExpression)
	if !ok {
		return
	}
	if builtinHelpers[e.HelperName()] {
		return
	}
	c.check(p, output)
}

func (c *checker) param(n ast.Node) {
	switch n := n.(type) {
	case *ast.PathExpression:
		c.check(n, false)
	case *ast.SubExpression:
		c.expr(n.Expression, false)
	case *ast.Expression:
		c.expr(n, false)
	}
}

// value evaluates a block's first parameter (or its path, for a plain section) for deciding
// which branch raymond takes.
func (c *checker) value(n ast.Node) any {
	switch n := n.(type) {
	case *ast.PathExpression:
		v, _, _ := c.resolve(n)
		c.check(n, false)
		return v
	case *ast.StringLiteral:
		return n.Value
	case *ast.BooleanLiteral:
		return n.Value
	case *ast.NumberLiteral:
		return n.Value
	case *ast.SubExpression:
		c.expr(n.Expression, false)
	}
	return nil
}

func (c *checker) block(b *ast.BlockStatement) {
	e := b.Expression
	name := e.HelperName()
	var v any
	switch {
	case len(e.Params) > 0:
		v = c.value(e.Params[0])
		for _, p := range e.Params[1:] {
			c.param(p)
		}
	case !builtinHelpers[name]:
		v = c.value(e.Path)
	}
	switch name {
	case "if", "unless":
		truth := raymond.IsTrue(v)
		if name == "unless" {
			truth = !truth
		}
		if truth {
			c.program(b.Program)
		} else {
			c.program(b.Inverse)
		}
	case "with":
		if raymond.IsTrue(v) {
			c.scoped(b.Program, v, v, nil)
		} else {
			c.program(b.Inverse)
		}
	case "each":
		c.each(b, v)
	case "log", "lookup", "equal":
		c.program(b.Program)
		c.program(b.Inverse)
	default:
		switch v.(type) {
		case []any, map[string]any:
			c.each(b, v)
		default:
			if raymond.IsTrue(v) {
				c.program(b.Program)
			} else {
				c.program(b.Inverse)
			}
		}
	}
}

func (c *checker) each(b *ast.BlockStatement, v any) {
	switch v := v.(type) {
	case []any:
		if len(v) == 0 {
			break
		}
		for i, x := range v {
			c.scoped(b.Program, x, x, i)
		}
		return
	case map[string]any:
		if len(v) == 0 {
			break
		}
		for _, k := range sortedKeys(v) {
			c.scoped(b.Program, v[k], v[k], k)
		}
		return
	}
	c.program(b.Inverse)
}

// scoped walks p with ctx pushed and the block parameters (as |x i|) bound.
func (c *checker) scoped(p *ast.Program, ctx, first, second any) {
	if p == nil {
		return
	}
	bp := map[string]any{}
	if len(p.BlockParams) > 0 {
		bp[p.BlockParams[0]] = first
	}
	if len(p.BlockParams) > 1 {
		bp[p.BlockParams[1]] = second
	}
	c.ctx = append(c.ctx, ctx)
	c.params = append(c.params, bp)
	c.program(p)
	c.ctx = c.ctx[:len(c.ctx)-1]
	c.params = c.params[:len(c.params)-1]
}

// resolve looks p up as raymond does. It returns the value, whether it was found, and a
// did-you-mean candidate when it was not.
func (c *checker) resolve(p *ast.PathExpression) (any, bool, string) {
	parts := p.Parts
	if p.Data {
		if p.IsDataRoot() {
			return lookupPath(c.ctx[0], parts[1:])
		}
		return nil, true, "" // @index, @key, @first, @last: set by the block helpers
	}
	if len(parts) == 0 {
		return c.ctx[len(c.ctx)-1], true, ""
	}
	for i := len(c.params) - 1; i >= 0; i-- {
		if v, ok := c.params[i][parts[0]]; ok {
			return lookupPath(v, parts[1:])
		}
	}
	for d := len(c.ctx) - 1 - p.Depth; d >= 0; d-- {
		if v, ok := field(c.ctx[d], parts[0]); ok {
			return lookupPath(v, parts[1:])
		}
	}
	// Not found anywhere: suggest from every name in scope.
	var names []string
	for _, bp := range c.params {
		for k := range bp {
			names = append(names, k)
		}
	}
	for _, x := range c.ctx {
		if m, ok := x.(map[string]any); ok {
			for k := range m {
				names = append(names, k)
			}
		}
	}
	return nil, false, suggest(unbracket(parts[0]), names)
}

func (c *checker) check(p *ast.PathExpression, output bool) {
	_, found, hint := c.resolve(p)
	if found || (!output && hint == "") {
		return
	}
	msg := fmt.Sprintf("undefined variable %q renders empty", p.Original)
	if !output {
		msg = fmt.Sprintf("undefined variable %q tests false", p.Original)
	}
	if hint != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", hint)
	} else {
		msg += "; define it in the environment's vars file or pass --var"
	}
	line, col := c.position(p)
	c.warns = append(c.warns, Warning{File: c.t.file, Line: line, Column: col, Code: UndefinedVariable, Msg: msg})
}

// position turns a node's byte offset into a 1-based line and column.
func (c *checker) position(p *ast.PathExpression) (int, int) {
	pos := min(max(p.Pos, 0), len(c.t.src))
	// raymond's Pos points at the token; step forward to the path text itself if needed.
	if i := strings.Index(c.t.src[pos:], p.Original); i >= 0 && i < 8 && p.Original != "" {
		pos += i
	}
	line := 1 + strings.Count(c.t.src[:pos], "\n")
	col := pos - strings.LastIndexByte(c.t.src[:pos], '\n')
	return line, col
}

// lookupPath follows parts from v; on failure it suggests a name defined at the level where
// the lookup failed.
func lookupPath(v any, parts []string) (any, bool, string) {
	for _, part := range parts {
		next, ok := field(v, part)
		if !ok {
			var names []string
			if m, isMap := v.(map[string]any); isMap {
				names = sortedKeys(m)
			}
			return nil, false, suggest(unbracket(part), names)
		}
		v = next
	}
	return v, true, ""
}

func field(v any, name string) (any, bool) {
	name = unbracket(name)
	switch v := v.(type) {
	case map[string]any:
		x, ok := v[name]
		return x, ok
	case []any:
		if name == "length" {
			return len(v), true
		}
		i, err := strconv.Atoi(name)
		if err != nil || i < 0 || i >= len(v) {
			return nil, false
		}
		return v[i], true
	case raymond.SafeString:
		if name == "length" {
			return len(v), true
		}
	}
	return nil, false
}

func unbracket(s string) string {
	if len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']' {
		return s[1 : len(s)-1]
	}
	return s
}

// suggest returns the defined name closest to name: one that differs only in case, or by one
// inserted, deleted or replaced character. Empty when none is that close.
func suggest(name string, names []string) string {
	slices.Sort(names)
	for _, n := range names {
		if n != name && strings.EqualFold(n, name) {
			return n
		}
	}
	for _, n := range names {
		if n != name && oneEdit(n, name) {
			return n
		}
	}
	return ""
}

// oneEdit reports whether a and b differ by exactly one inserted, deleted or replaced byte.
func oneEdit(a, b string) bool {
	if len(a) < len(b) {
		a, b = b, a
	}
	if len(a)-len(b) > 1 {
		return false
	}
	i := 0
	for i < len(b) && a[i] == b[i] {
		i++
	}
	if len(a) == len(b) {
		return i < len(a) && a[i+1:] == b[i+1:]
	}
	return a[i+1:] == b[i:]
}
