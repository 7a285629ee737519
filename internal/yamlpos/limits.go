package yamlpos

import (
	"errors"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// Limits bound one YAML document as a reader would see it, with every alias expanded. yaml.v3
// keeps an alias as a pointer to its anchor, so a document of a few hundred bytes can stand for
// gigabytes ("billion laughs") or for a map that contains itself; anything that walks the
// nodes (decoding, converting to Go values) must first know the walk is bounded.
type Limits struct {
	// Values is the most maps, lists and scalars (map keys included) the expanded document may
	// hold.
	Values int
	// Depth is how deeply maps and lists may nest.
	Depth int
}

// The defaults, which flyt's platform config also documents as limits.yamlValues and
// limits.yamlDepth.
const (
	DefaultValues = 100_000
	DefaultDepth  = 100
)

// DefaultLimits are the limits Parse and DecodeStrict apply.
var DefaultLimits = Limits{Values: DefaultValues, Depth: DefaultDepth}

// ErrLimit is the cause of every problem Check reports: errors.Is(err, ErrLimit) tells a
// document that is too big or too deep from one that is broken.
var ErrLimit = errors.New("limit exceeded")

// Check reports, as an *Error with the position to look at, a document whose expansion holds
// more than lim.Values values or nests deeper than lim.Depth (wrapping ErrLimit), or an alias
// that refers to a node containing it (which would expand forever). It visits every node once, whatever the
// aliases, so it costs no more than the parse itself did. A zero limit is not checked.
func Check(file string, root *yaml.Node, lim Limits) error {
	c := &limitChecker{file: file, lim: lim}
	// Most documents have no alias: a plain count, which allocates nothing, settles them.
	if values, aliased := c.plain(root, 1); !aliased {
		c.check(root, expansion{values: values})
		if c.err != nil {
			return c.err
		}
		return nil
	}
	c.err = nil
	c.memo, c.active = map[*yaml.Node]expansion{}, map[*yaml.Node]bool{}
	c.walk(root, 1)
	if c.err != nil {
		return c.err
	}
	return nil
}

// expansion is what a node stands for once its aliases are expanded.
type expansion struct {
	values int64 // capped just past the limit, so that it cannot overflow
	height int   // levels of nesting, 1 for a scalar
}

type limitChecker struct {
	file    string
	lim     Limits
	memo    map[*yaml.Node]expansion
	active  map[*yaml.Node]bool // nodes being walked: an alias to one of them is a cycle
	aliases bool                // an alias was seen, for the message
	err     *Error
}

func (c *limitChecker) fail(n *yaml.Node, msg string, args ...any) {
	if c.err == nil {
		c.err = &Error{File: c.file, Line: n.Line, Column: n.Column, Msg: fmt.Sprintf(msg, args...), Err: ErrLimit}
	}
}

// cycle reports an alias that refers to a node containing it: a broken document, not a limit.
func (c *limitChecker) cycle(n *yaml.Node) {
	if c.err == nil {
		c.err = &Error{File: c.file, Line: n.Line, Column: n.Column, Msg: fmt.Sprintf("the alias *%s refers to a map or list that contains it, which would never end; replace the alias with the values it should stand for", n.Value)}
	}
}

// plain counts the values below n (n included) in a document without aliases, reporting one
// nested too deeply; aliased says it met an alias and stopped, the count then meaning nothing.
func (c *limitChecker) plain(n *yaml.Node, depth int) (values int64, aliased bool) {
	if n.Kind == yaml.AliasNode {
		return 0, true
	}
	if c.lim.Depth > 0 && depth > c.lim.Depth {
		c.fail(n, "maps and lists nest deeper than %d levels here; flatten the document, or raise limits.yamlDepth in the platform config", c.lim.Depth)
		return 0, false
	}
	values = 1
	for _, child := range n.Content {
		v, aliased := c.plain(child, depth+1)
		if aliased || c.err != nil {
			return 0, aliased
		}
		values += v
	}
	return values, false
}

// walk returns n's expansion; depth is n's level in the expanded document (the root is 1).
func (c *limitChecker) walk(n *yaml.Node, depth int) expansion {
	if c.err != nil || n == nil {
		return expansion{}
	}
	if c.lim.Depth > 0 && depth > c.lim.Depth {
		c.fail(n, "maps and lists nest deeper than %d levels here; flatten the document, or raise limits.yamlDepth in the platform config", c.lim.Depth)
		return expansion{}
	}
	if n.Kind == yaml.AliasNode {
		c.aliases = true
		target := n.Alias
		if target == nil {
			return expansion{values: 1, height: 1}
		}
		if c.active[target] {
			c.cycle(n)
			return expansion{}
		}
		x, ok := c.memo[target]
		if !ok {
			x = c.walk(target, depth)
		} else if c.lim.Depth > 0 && depth-1+x.height > c.lim.Depth {
			c.fail(n, "the alias *%s makes maps and lists nest deeper than %d levels; flatten the document, or raise limits.yamlDepth in the platform config", n.Value, c.lim.Depth)
		}
		c.check(n, x)
		return x
	}
	if x, ok := c.memo[n]; ok {
		// A node reached twice without an alias is yaml.v3 sharing it; count it again.
		c.check(n, x)
		return x
	}
	c.active[n] = true
	x := expansion{values: 1, height: 1}
	for _, child := range n.Content {
		cx := c.walk(child, depth+1)
		if c.err != nil {
			return expansion{}
		}
		x.values = c.capped(x.values + cx.values)
		x.height = max(x.height, cx.height+1)
	}
	delete(c.active, n)
	c.memo[n] = x
	c.check(n, x)
	return x
}

// capped keeps a count from overflowing: past the limit its exact value no longer matters.
func (c *limitChecker) capped(v int64) int64 {
	if c.lim.Values > 0 && v > int64(c.lim.Values)+1 {
		return int64(c.lim.Values) + 1
	}
	return v
}

func (c *limitChecker) check(n *yaml.Node, x expansion) {
	if c.lim.Values <= 0 || x.values <= int64(c.lim.Values) {
		return
	}
	if c.aliases {
		c.fail(n, "with its aliases expanded, this holds more than %d values (an alias bomb?); repeat fewer aliases, or raise limits.yamlValues in the platform config", c.lim.Values)
		return
	}
	c.fail(n, "this holds more than %d values; split it into several files, or raise limits.yamlValues in the platform config", c.lim.Values)
}
