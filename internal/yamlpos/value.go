package yamlpos

import (
	"fmt"
	"math"
	"reflect"
	"strconv"

	yaml "go.yaml.in/yaml/v3"
)

// Options are the rules in which the callers of the decoder differ. The zero value is the rule
// of flyt's own configuration (platform.yaml, .flyt.yaml).
type Options struct {
	// StrictStrings refuses a number or boolean where a string is expected, instead of taking
	// the text it was written as. render decodes NAIS Applications with it, as NAIS does: a
	// number under spec.image is a mistake in the file, not an image called 8080.
	StrictStrings bool
	// JSONWording words a value of the wrong type the way render has always worded it for
	// Applications, after the JSON kind of the value ("wrong type: want a whole number, got
	// string"), instead of "expected an integer, got string "x"". Both wordings are asserted by
	// their packages' tests, so the decoder keeps both until one of them is changed.
	JSONWording bool
	// Pos places a field path of a plain value (see [DecodeValue]): the file, line and column
	// where the value, or its key when key is true, was written. Nil leaves problems
	// unplaced. Decoding a [Document] places problems at its nodes and ignores Pos.
	Pos func(path []string, key bool) (file string, line, col int)
}

// DecodeValue strictly decodes v, a document already turned into plain values (maps with
// string keys, lists, strings, int64, float64, bool and nil), into out by out's json tags,
// with the checks and messages of [Document.Decode]. It exists for documents that are not one
// YAML node tree: render merges an Application's overlays into its base before decoding, and
// opts.Pos names the file each value came from. Merge keys were a YAML matter and are not
// expanded here: a "<<" key is a field like any other.
func DecodeValue(v, out any, opts Options) error {
	rv := reflect.ValueOf(out)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("yamlpos: decode a value: out must be a non-nil pointer, got %T", out)
	}
	c := &converter{opts: opts}
	return c.decode(val{v: v, plain: true}, rv.Type().Elem(), out)
}

// val is one value the converter walks: a node of a parsed YAML document, or a plain Go value
// of a document decoded and merged before (see [DecodeValue]). Its methods answer the few
// questions the converter asks, so the checks and messages are written once for both.
type val struct {
	n     *yaml.Node
	v     any
	plain bool
	// key says this is a mapping key of a plain value, named name, so that a problem with it
	// is placed at the key.
	key  bool
	name string
}

func nodeVal(n *yaml.Node) val { return val{n: n} }

// valPair is a key and its value in a mapping.
type valPair struct{ key, value val }

// resolve follows a node's aliases.
func (x val) resolve() val {
	if !x.plain {
		x.n = resolve(x.n)
	}
	return x
}

// missing says there is nothing at all (an alias to nothing), which reads as null.
func (x val) missing() bool { return !x.plain && x.n == nil }

func (x val) kind() yaml.Kind {
	if !x.plain {
		return x.n.Kind
	}
	switch x.v.(type) {
	case map[string]any:
		return yaml.MappingNode
	case []any:
		return yaml.SequenceNode
	}
	return yaml.ScalarNode
}

// tag is the YAML tag of a scalar (!!str, !!int, !!float, !!bool, !!null or another).
func (x val) tag() string {
	if !x.plain {
		return x.n.ShortTag()
	}
	if x.key {
		return "!!str"
	}
	switch v := x.v.(type) {
	case nil:
		return "!!null"
	case bool:
		return "!!bool"
	case int64, int, int32, uint64:
		return "!!int"
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return "!!int" // 2.0 decoded from JSON: an integer, as encoding/json reads it
		}
		return "!!float"
	}
	return "!!str"
}

// text is a scalar as written (a node) or as JSON writes it (a plain value).
func (x val) text() string {
	if !x.plain {
		return x.n.Value
	}
	if x.key {
		return x.name
	}
	switch v := x.v.(type) {
	case string:
		return v
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return fmt.Sprint(x.v)
}

// scalarAs reads a scalar as a T: a node through yaml.v3, a plain value when it holds a T.
func scalarAs[T any](x val) (T, bool) {
	if !x.plain {
		var v T
		return v, x.n.Decode(&v) == nil
	}
	v, ok := x.v.(T)
	return v, ok
}

func (x val) boolean() (bool, bool) { return scalarAs[bool](x) }

// int64 reads an !!int scalar.
func (x val) int64() (int64, bool) {
	if !x.plain {
		return scalarAs[int64](x)
	}
	switch v := x.v.(type) {
	case int64:
		return v, true
	case int:
		return int64(v), true
	case int32:
		return int64(v), true
	case uint64:
		return int64(v), v <= math.MaxInt64
	case float64:
		return int64(v), v == math.Trunc(v) && math.Abs(v) < 1<<53
	}
	return 0, false
}

// uint64 reads an !!int scalar beyond int64's range.
func (x val) uint64() (uint64, bool) { return scalarAs[uint64](x) }

// float reads an !!int or !!float scalar as a float64.
func (x val) float() (float64, bool) {
	if x.kind() != yaml.ScalarNode {
		return 0, false
	}
	switch x.tag() {
	case "!!int", "!!float":
	default:
		return 0, false
	}
	if !x.plain {
		var f float64
		return f, x.n.Decode(&f) == nil
	}
	switch v := x.v.(type) {
	case float64:
		return v, true
	case uint64:
		return float64(v), true
	}
	i, ok := x.int64()
	return float64(i), ok
}

// len is the number of a list's items.
func (x val) len() int {
	if !x.plain {
		return len(x.n.Content)
	}
	return len(x.v.([]any))
}

// item is a list's i-th item.
func (x val) item(i int) val {
	if !x.plain {
		return nodeVal(x.n.Content[i])
	}
	return val{v: x.v.([]any)[i], plain: true}
}

// pushPairs pushes a mapping's keys and values onto c.pairs, merge keys expanded for a node
// (see pairs), and returns where they are; popPairs(base) removes them.
func (c *converter) pushPairs(x val) (base, end int) {
	base = len(c.pairs)
	if !x.plain {
		for _, p := range pairs(x.n) {
			c.pairs = append(c.pairs, valPair{nodeVal(resolve(p.key)), nodeVal(p.value)})
		}
		return base, len(c.pairs)
	}
	for k, v := range x.v.(map[string]any) {
		c.pairs = append(c.pairs, valPair{val{name: k, plain: true, key: true}, val{v: v, plain: true}})
	}
	return base, len(c.pairs)
}

func (c *converter) popPairs(base int) {
	clear(c.pairs[base:])
	c.pairs = c.pairs[:base]
}

// line is where a node is, for "first at line N" messages; 0 for a plain value.
func (x val) line() int {
	if x.plain {
		return 0
	}
	return x.n.Line
}

// place returns where the value at path was written.
func (c *converter) place(x val, path *fieldPath) (file string, line, col int) {
	if !x.plain {
		line, col := nodePos(x.n)
		return c.file, line, col
	}
	if c.opts.Pos == nil {
		return "", 0, 0
	}
	return c.opts.Pos(path.parts(), x.key)
}

// parts is the path as render's position lookups take it: keys, and list indices as decimals.
func (p *fieldPath) parts() []string {
	n := 0
	for q := p; q != nil; q = q.parent {
		n++
	}
	out := make([]string, n)
	for q := p; q != nil; q = q.parent {
		n--
		if q.isIndex {
			out[n] = strconv.Itoa(q.index)
		} else {
			out[n] = q.key
		}
	}
	return out
}

// want is the kind of value a field takes, for "expected X, got Y" messages.
type want int

const (
	wantString want = iota
	wantBool
	wantInt
	wantNumber
	wantMapping
	wantList
	wantBase64
)

// wantWords are the two wordings of a want (see Options.JSONWording).
var wantWords = [...]struct{ yaml, json string }{
	wantString:  {"a string", "a string"},
	wantBool:    {"true or false", "true or false"},
	wantInt:     {"an integer", "a whole number"},
	wantNumber:  {"a number", "a number"},
	wantMapping: {"a mapping", "a map"},
	wantList:    {"a list", "a list"},
	wantBase64:  {"a base64 string", "a string"},
}

// mismatch reports a value of the wrong kind for its field.
func (c *converter) mismatch(x val, path *fieldPath, w want) {
	if c.opts.JSONWording {
		c.fail(x, path, "wrong type: want %s, got %s", wantWords[w].json, jsonKind(x, w))
		return
	}
	c.fail(x, path, "expected %s, got %s", wantWords[w].yaml, describe(x))
}

// badInteger reports an integer that does not fit its field; msg is the YAML wording.
func (c *converter) badInteger(x val, path *fieldPath, format string, args ...any) {
	if c.opts.JSONWording {
		c.mismatch(x, path, wantInt)
		return
	}
	c.fail(x, path, format, args...)
}

// jsonKind names a value the way encoding/json does in its type errors: the kind, and a
// number's text when the field wants another number.
func jsonKind(x val, w want) string {
	switch x.kind() {
	case yaml.MappingNode:
		return "object"
	case yaml.SequenceNode:
		return "array"
	}
	switch x.tag() {
	case "!!bool":
		return "bool"
	case "!!int", "!!float":
		if w == wantInt || w == wantNumber {
			return "number " + x.text()
		}
		return "number"
	}
	return "string"
}
