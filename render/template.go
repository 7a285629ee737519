package render

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/mailgun/raymond/v2"
	"github.com/mailgun/raymond/v2/ast"
	"github.com/mailgun/raymond/v2/parser"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/internal/yamlpos"
)

// template is one file parsed as a Handlebars template. Files without "{{" are kept as they are
// and never run through the template engine, so plain manifests keep exact line numbers.
type template struct {
	file string
	src  string
	tpl  *raymond.Template // nil for a plain file
	prog *ast.Program
	lim  environments.Limits
}

var parseErrLine = regexp.MustCompile(`(?i)line (\d+)`)

// parseTemplate parses src (the contents of file) as a Handlebars template, within lim: the
// nesting is checked before the engine parses anything (its parser recurses once per level),
// and calls of the built-in helpers with more arguments than they take are refused (raymond
// hands the extra argument to the helper as its options, and crashes).
func parseTemplate(file, src string, lim environments.Limits) (t *template, err error) {
	t = &template{file: file, src: src, lim: lim}
	if !strings.Contains(src, "{{") {
		return t, nil
	}
	if err := checkNesting(file, src, lim.TemplateDepth); err != nil {
		return nil, err
	}
	defer func() {
		if p := recover(); p != nil {
			t, err = nil, &Error{File: file, Msg: fmt.Sprintf("the template engine failed to parse this file (%v); simplify the template", p), Err: ErrPanic}
		}
	}()
	prog, err := parser.Parse(src)
	if err != nil {
		return nil, templateError(file, err)
	}
	if err := checkArity(file, src, prog); err != nil {
		return nil, err
	}
	tpl, err := raymond.Parse(src)
	if err != nil {
		return nil, templateError(file, err)
	}
	t.tpl, t.prog = tpl, prog
	return t, nil
}

// checkNesting refuses, before any parser recurses into it, a template whose blocks
// ({{#x}} … {{/x}}, {{^x}} … {{/x}}) and subexpressions ((x (y z))) nest deeper than max. It
// reads the source the way the Handlebars lexer does only as far as that needs: a {{! comment }}
// is skipped, \{{ is text.
func checkNesting(file, src string, max int) error {
	depth, line := 0, 1
	refuse := func() error {
		return limitError(file, line, "templates nest deeper than %d blocks and subexpressions here; flatten the {{#if}}/{{#each}} blocks, or raise limits.templateDepth in the platform config", max)
	}
	for i := 0; i < len(src); i++ {
		if src[i] == '\n' {
			line++
			continue
		}
		if !strings.HasPrefix(src[i:], "{{") || i > 0 && src[i-1] == '\\' {
			continue
		}
		j := i + 2
		for j < len(src) && (src[j] == '{' || src[j] == '~' || src[j] == ' ') {
			j++
		}
		end := "}}"
		if strings.HasPrefix(src[j:], "!--") {
			end = "--}}"
		}
		if j < len(src) {
			switch src[j] {
			case '#':
				depth++
			case '^':
				if k := strings.TrimLeft(src[j+1:], " ~"); !strings.HasPrefix(k, "}}") { // {{^}} is an else
					depth++
				}
			case '/':
				depth--
			}
		}
		if depth > max {
			return refuse()
		}
		close := strings.Index(src[j:], end)
		if close < 0 {
			return nil // unterminated: the parser says so
		}
		parens := 0
		for _, ch := range src[j : j+close] {
			switch ch {
			case '(':
				parens++
				if depth+parens > max {
					return refuse()
				}
			case ')':
				parens--
			case '\n':
				line++
			}
		}
		i = j + close + len(end) - 1
	}
	return nil
}

// helperArity is how many arguments raymond's built-in helpers take besides their options.
var helperArity = map[string]int{"if": 1, "unless": 1, "with": 1, "each": 1, "log": 1, "lookup": 2, "equal": 2, "ifGt": 2, "ifLt": 2, "ifEq": 2, "pluralize": 3}

// checkArity refuses a call of a built-in helper with more arguments than it takes.
func checkArity(file, src string, prog *ast.Program) error {
	var bad *Error
	var visitExpr func(e *ast.Expression)
	var visitProg func(p *ast.Program)
	visitParam := func(n ast.Node) {
		if s, ok := n.(*ast.SubExpression); ok {
			visitExpr(s.Expression)
		}
	}
	visitExpr = func(e *ast.Expression) {
		if e == nil || bad != nil {
			return
		}
		name := e.HelperName()
		if n, ok := helperArity[name]; ok && len(e.Params) > n {
			pos := min(max(e.Loc.Pos, 0), len(src))
			s := "s"
			if n == 1 {
				s = ""
			}
			bad = &Error{File: file, Line: 1 + strings.Count(src[:pos], "\n"), Msg: fmt.Sprintf("%s takes %d argument%s, not %d; remove the extra ones", name, n, s, len(e.Params))}
			return
		}
		for _, p := range e.Params {
			visitParam(p)
		}
		if e.Hash != nil {
			for _, hp := range e.Hash.Pairs {
				visitParam(hp.Val)
			}
		}
	}
	visitProg = func(p *ast.Program) {
		if p == nil {
			return
		}
		for _, n := range p.Body {
			switch n := n.(type) {
			case *ast.MustacheStatement:
				visitExpr(n.Expression)
			case *ast.BlockStatement:
				visitExpr(n.Expression)
				visitProg(n.Program)
				visitProg(n.Inverse)
			}
		}
	}
	visitProg(prog)
	if bad != nil {
		return bad
	}
	return nil
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
// render empty, as NAIS does, and each is reported as a warning. The expansion is walked
// first, without building it, to refuse one that would write more than budget bytes (an
// {{#each}} inside an {{#each}} over long lists multiplies); the engine runs only within it.
func (t *template) exec(vars map[string]any, budget int64) (_ string, _ []Warning, err error) {
	if t.tpl == nil {
		return t.src, nil, nil
	}
	c := checker{t: t, ctx: []any{vars}, budget: budget}
	c.program(t.prog)
	if c.over != nil {
		return "", c.warns, c.over
	}
	defer func() {
		if p := recover(); p != nil {
			err = &Error{File: t.file, Msg: fmt.Sprintf("the template engine failed on this file (%v); simplify the template", p), Err: ErrPanic}
		}
	}()
	out, err := t.tpl.Exec(vars)
	if err != nil {
		return "", nil, &Error{File: t.file, Msg: "template failed: " + firstLine(err.Error()), Err: err}
	}
	if int64(len(out)) > budget {
		return "", c.warns, t.tooLong(0)
	}
	return out, c.warns, nil
}

func (t *template) tooLong(line int) *Error {
	return limitError(t.file, line, "with this file, the app's files expand to more than %s in all; loop over shorter lists, or raise limits.templateOutput in the platform config", t.lim.TemplateOutput)
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
//
// It also adds up what the expansion will write (budget counts down from TemplateOutput,
// every node visited costing at least a byte so that loops writing nothing are bounded too),
// and stops with over set once the budget is spent.
type checker struct {
	t      *template
	ctx    []any
	params []map[string]any
	warns  []Warning
	budget int64
	over   *Error
}

func (c *checker) program(p *ast.Program) {
	if p == nil {
		return
	}
	for _, n := range p.Body {
		if c.over != nil {
			return
		}
		switch n := n.(type) {
		case *ast.ContentStatement:
			c.spend(len(n.Value), n.Loc.Pos)
		case *ast.MustacheStatement:
			c.spend(1, n.Loc.Pos)
			c.expr(n.Expression, true)
			if p, ok := n.Expression.Path.(*ast.PathExpression); ok && len(n.Expression.Params) == 0 {
				v, _, _ := c.resolve(p)
				c.spend(outputLen(v), n.Loc.Pos)
			}
		case *ast.BlockStatement:
			c.spend(1, n.Loc.Pos)
			c.block(n)
		}
	}
}

// spend takes n bytes (at least one) from the budget; pos is where in the source they are
// written, for the message.
func (c *checker) spend(n, pos int) {
	c.budget -= int64(max(n, 1))
	if c.budget < 0 && c.over == nil {
		pos = min(max(pos, 0), len(c.t.src))
		c.over = c.t.tooLong(1 + strings.Count(c.t.src[:pos], "\n"))
	}
}

// outputLen is about how many bytes raymond writes for v.
func outputLen(v any) int {
	switch v := v.(type) {
	case string:
		return len(v)
	case raymond.SafeString:
		return len(v)
	case []any:
		n := 0
		for _, x := range v {
			n += outputLen(x)
		}
		return n
	default:
		return 8
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
		index := b.Program != nil && len(b.Program.BlockParams) > 1
		for i, x := range v {
			if c.spend(1, b.Loc.Pos); c.over != nil {
				return
			}
			var second any // boxing the index allocates: only for blocks that name it
			if index {
				second = i
			}
			c.scoped(b.Program, x, x, second)
		}
		return
	case map[string]any:
		if len(v) == 0 {
			break
		}
		for _, k := range sortedKeys(v) {
			if c.spend(1, b.Loc.Pos); c.over != nil {
				return
			}
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
	var bp map[string]any // most blocks bind no parameters: allocate only for those that do
	if len(p.BlockParams) > 0 {
		bp = map[string]any{p.BlockParams[0]: first}
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
	return nil, false, yamlpos.Suggest(unbracket(parts[0]), names)
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
			return nil, false, yamlpos.Suggest(unbracket(part), names)
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
