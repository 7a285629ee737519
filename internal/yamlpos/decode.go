package yamlpos

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	yaml "go.yaml.in/yaml/v3"

	"github.com/flyt-platform/flyt/internal/redact"
)

var (
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// Decode strictly decodes the document into out; see [DecodeStrict]. When it returns problems,
// out still holds every value that decoded, with the fields in error left unset, so that
// semantic validation can run on the rest.
func (d *Document) Decode(out any) error {
	rv := reflect.ValueOf(out)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("yamlpos: decode %s: out must be a non-nil pointer, got %T", d.file, out)
	}
	c := &converter{file: d.file}
	c.value(d.root, rv.Type().Elem(), nil)
	// Decode what is good even when something is not, so a caller can go on to validate the
	// rest and report every problem at once. Fields in error are left unset.
	if err := json.Unmarshal(c.buf.Bytes(), out); err != nil && len(c.errs) == 0 {
		// The walk checks everything encoding/json does, so this is a gap in it; still say where.
		return d.jsonError(err)
	}
	return c.errs.Err()
}

// JSON converts the document to JSON without a target type.
func (d *Document) JSON() ([]byte, error) {
	c := &converter{file: d.file}
	c.value(d.root, nil, nil)
	if err := c.errs.Err(); err != nil {
		return nil, err
	}
	return c.buf.Bytes(), nil
}

func (d *Document) jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return d.Errorf(te.Field, "expected %s, got JSON %s", te.Type, te.Value)
	}
	line, col := nodePos(d.root)
	return &Error{File: d.file, Line: line, Column: col, Msg: err.Error()}
}

// fieldPath is a field path built as a chain, so that walking a large document costs one small
// allocation per value; the string form is only made for values in error.
type fieldPath struct {
	parent  *fieldPath
	key     string
	index   int
	isIndex bool
}

func (p *fieldPath) child(key string) *fieldPath { return &fieldPath{parent: p, key: key} }
func (p *fieldPath) item(i int) *fieldPath       { return &fieldPath{parent: p, index: i, isIndex: true} }

// String renders the path as spec.ingresses[0].host or labels["app.kubernetes.io/name"].
func (p *fieldPath) String() string {
	if p == nil {
		return ""
	}
	var chain []*fieldPath
	for q := p; q != nil; q = q.parent {
		chain = append(chain, q)
	}
	s := ""
	for i := len(chain) - 1; i >= 0; i-- {
		if q := chain[i]; q.isIndex {
			s = joinIndex(s, q.index)
		} else {
			s = joinKey(s, q.key)
		}
	}
	return s
}

// converter writes the JSON form of a node tree, steered by the Go type it will be decoded
// into, and collects every problem on the way. Its walk is bounded because every Document
// passed Check when it was parsed: no alias cycle, and a bounded expansion.
type converter struct {
	file string
	buf  bytes.Buffer
	errs ErrorList
}

func (c *converter) fail(n *yaml.Node, path *fieldPath, format string, args ...any) {
	line, col := nodePos(n)
	c.errs = append(c.errs, &Error{File: c.file, Line: line, Column: col, Path: path.String(), Msg: fmt.Sprintf(format, args...)})
}

// value writes node as JSON for a target of type t; t == nil means any JSON value.
func (c *converter) value(n *yaml.Node, t reflect.Type, path *fieldPath) {
	n = resolve(n)
	if n == nil {
		c.buf.WriteString("null")
		return
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if isNull(n) {
		c.buf.WriteString("null")
		return
	}
	if t == nil || t.Kind() == reflect.Interface && t.NumMethod() == 0 {
		c.untyped(n, path)
		return
	}
	// A scalar that fails writes null in its place, so the rest of the document still decodes.
	start, nerr := c.buf.Len(), len(c.errs)
	scalar := true
	switch {
	case reflect.PointerTo(t).Implements(jsonUnmarshalerType):
		c.custom(n, t, path)
	case t.Kind() != reflect.String && reflect.PointerTo(t).Implements(textUnmarshalerType):
		c.text(n, t, path)
	case t.Kind() == reflect.Struct:
		scalar = false
		c.object(n, t, path)
	case t.Kind() == reflect.Map:
		scalar = false
		c.mapping(n, t, path)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		// encoding/json reads []byte from a base64 string.
		c.str(n, path, "a base64 string")
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
		scalar = false
		c.list(n, t, path)
	default:
		c.scalar(n, t, path)
	}
	if scalar && len(c.errs) > nerr {
		c.buf.Truncate(start)
		c.buf.WriteString("null")
	}
}

// scalar writes a string, boolean or number for a target of that kind.
func (c *converter) scalar(n *yaml.Node, t reflect.Type, path *fieldPath) {
	switch t.Kind() {
	case reflect.String:
		c.str(n, path, "a string")
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			c.fail(n, path, "expected true or false, got %s", describe(n))
			return
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			c.fail(n, path, "expected true or false, got %s", describe(n))
			return
		}
		c.buf.WriteString(strconv.FormatBool(b))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		c.integer(n, t, path)
	case reflect.Float32, reflect.Float64:
		f, ok := number(n)
		if !ok {
			c.fail(n, path, "expected a number, got %s", describe(n))
			return
		}
		if math.IsInf(f, 0) || math.IsNaN(f) {
			c.fail(n, path, "%s cannot be represented; use a finite number", n.Value)
			return
		}
		c.buf.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
	case reflect.Interface:
		// An interface with methods cannot be filled by encoding/json either.
		c.fail(n, path, "cannot decode into the Go interface type %s", t)
	default:
		c.fail(n, path, "cannot decode into the Go type %s", t)
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe says what a node is, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		// A value in the wrong field may be a secret (a DSN or a clone URL with a token put one
		// line off): credentials are hidden before the value is shortened and quoted.
		v := redact.Text(n.Value)
		if len(v) > 40 {
			v = v[:37] + "..."
		}
		switch n.ShortTag() {
		case "!!int":
			return "integer " + v
		case "!!float":
			return "number " + v
		case "!!bool":
			return "boolean " + v
		case "!!null":
			return "null"
		default:
			return "string " + strconv.Quote(v)
		}
	}
	return "an unsupported YAML node"
}

// str writes a scalar as a JSON string. Numbers and booleans become the text they were
// written as, like sigs.k8s.io/yaml converts them for string fields.
func (c *converter) str(n *yaml.Node, path *fieldPath, want string) {
	if n.Kind != yaml.ScalarNode {
		c.fail(n, path, "expected %s, got %s", want, describe(n))
		return
	}
	writeString(&c.buf, n.Value)
}

func writeString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s) // cannot fail for a string
	b.Write(enc)
}

func (c *converter) integer(n *yaml.Node, t reflect.Type, path *fieldPath) {
	if n.Kind != yaml.ScalarNode {
		c.fail(n, path, "expected an integer, got %s", describe(n))
		return
	}
	unsigned := t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uintptr
	switch n.ShortTag() {
	case "!!int":
		var i int64
		if err := n.Decode(&i); err == nil {
			if unsigned && i < 0 {
				c.fail(n, path, "expected a non-negative integer, got %s", n.Value)
				return
			}
			if !unsigned && reflect.Zero(t).OverflowInt(i) || unsigned && reflect.Zero(t).OverflowUint(uint64(i)) {
				c.fail(n, path, "%s is out of range for this field", n.Value)
				return
			}
			c.buf.WriteString(strconv.FormatInt(i, 10))
			return
		}
		var u uint64
		if err := n.Decode(&u); err == nil && unsigned && !reflect.Zero(t).OverflowUint(u) {
			c.buf.WriteString(strconv.FormatUint(u, 10))
			return
		}
		c.fail(n, path, "%s is out of range for this field", n.Value)
	case "!!float":
		f, ok := number(n)
		if ok && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			c.integer(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(int64(f), 10), Line: n.Line, Column: n.Column}, t, path)
			return
		}
		c.fail(n, path, "expected an integer, got %s", describe(n))
	default:
		c.fail(n, path, "expected an integer, got %s", describe(n))
	}
}

// number reads an !!int or !!float scalar as a float64.
func number(n *yaml.Node) (float64, bool) {
	if n.Kind != yaml.ScalarNode {
		return 0, false
	}
	switch n.ShortTag() {
	case "!!int", "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return 0, false
		}
		return f, true
	}
	return 0, false
}

// custom hands a node to a type's own UnmarshalJSON right away, so that its error (a bad
// duration, a bad quantity) is reported at the node instead of somewhere in the document.
func (c *converter) custom(n *yaml.Node, t reflect.Type, path *fieldPath) {
	sub := &converter{file: c.file}
	sub.untyped(n, path)
	if len(sub.errs) > 0 {
		c.errs = append(c.errs, sub.errs...)
		return
	}
	raw := sub.buf.Bytes()
	probe := reflect.New(t).Interface().(json.Unmarshaler)
	if err := probe.UnmarshalJSON(raw); err != nil {
		c.fail(n, path, "%s", err)
	}
	c.buf.Write(raw)
}

// text validates a scalar with the type's UnmarshalText, which encoding/json uses for strings.
func (c *converter) text(n *yaml.Node, t reflect.Type, path *fieldPath) {
	if n.Kind != yaml.ScalarNode {
		c.fail(n, path, "expected a string, got %s", describe(n))
		return
	}
	probe := reflect.New(t).Interface().(encoding.TextUnmarshaler)
	if err := probe.UnmarshalText([]byte(n.Value)); err != nil {
		c.fail(n, path, "%s", err)
	}
	writeString(&c.buf, n.Value)
}

// untyped writes any YAML node as the JSON a generic decoder expects.
func (c *converter) untyped(n *yaml.Node, path *fieldPath) {
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		c.buf.WriteByte('{')
		seen := map[string]*yaml.Node{}
		first := true
		for _, p := range pairs(n) {
			k := resolve(p.key)
			if k.Kind != yaml.ScalarNode {
				c.fail(k, path, "mapping keys must be plain values, got %s", describe(k))
				continue
			}
			fp := path.child(k.Value)
			if prev, dup := seen[k.Value]; dup {
				c.fail(k, fp, "duplicate key %q (first at line %d); remove one of them", k.Value, prev.Line)
				continue
			}
			seen[k.Value] = k
			if !first {
				c.buf.WriteByte(',')
			}
			first = false
			writeString(&c.buf, k.Value)
			c.buf.WriteByte(':')
			c.value(p.value, nil, fp)
		}
		c.buf.WriteByte('}')
	case yaml.SequenceNode:
		c.buf.WriteByte('[')
		for i, item := range n.Content {
			if i > 0 {
				c.buf.WriteByte(',')
			}
			c.value(item, nil, path.item(i))
		}
		c.buf.WriteByte(']')
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			c.buf.WriteString("null")
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				writeString(&c.buf, n.Value)
				return
			}
			c.buf.WriteString(strconv.FormatBool(b))
		case "!!int":
			var i int64
			if err := n.Decode(&i); err == nil {
				c.buf.WriteString(strconv.FormatInt(i, 10))
				return
			}
			var u uint64
			if err := n.Decode(&u); err == nil {
				c.buf.WriteString(strconv.FormatUint(u, 10))
				return
			}
			c.fail(n, path, "integer %s is out of range", n.Value)
			c.buf.WriteString("null")
		case "!!float":
			f, ok := number(n)
			if !ok || math.IsInf(f, 0) || math.IsNaN(f) {
				c.fail(n, path, "%s cannot be represented; use a finite number", n.Value)
				c.buf.WriteString("null")
				return
			}
			c.buf.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
		default: // strings, timestamps, binary and custom tags keep their text
			writeString(&c.buf, n.Value)
		}
	default:
		c.fail(n, path, "unsupported YAML node")
		c.buf.WriteString("null")
	}
}

func (c *converter) object(n *yaml.Node, t reflect.Type, path *fieldPath) {
	if n.Kind != yaml.MappingNode {
		c.fail(n, path, "expected a mapping, got %s", describe(n))
		c.buf.WriteString("null")
		return
	}
	fields := fieldsOf(t)
	c.buf.WriteByte('{')
	seen := map[string]*yaml.Node{}
	first := true
	for _, p := range pairs(n) {
		k := resolve(p.key)
		if k.Kind != yaml.ScalarNode {
			c.fail(k, path, "expected a field name, got %s", describe(k))
			continue
		}
		fp := path.child(k.Value)
		if prev, dup := seen[k.Value]; dup {
			c.fail(k, fp, "duplicate field %q (first at line %d); remove one of them", k.Value, prev.Line)
			continue
		}
		seen[k.Value] = k
		f, ok := fields.byName[k.Value]
		if !ok {
			c.fail(k, fp, "%s", unknownField(k.Value, fields.names))
			continue
		}
		mark, nerr, wasFirst := c.buf.Len(), len(c.errs), first
		if !first {
			c.buf.WriteByte(',')
		}
		first = false
		writeString(&c.buf, k.Value)
		c.buf.WriteByte(':')
		c.value(p.value, f, fp)
		if len(c.errs) > nerr && bytes.HasSuffix(c.buf.Bytes(), []byte(":null")) {
			// Leave a failed value out: encoding/json would hand null to an UnmarshalJSON.
			c.buf.Truncate(mark)
			first = wasFirst
		}
	}
	c.buf.WriteByte('}')
}

func (c *converter) mapping(n *yaml.Node, t reflect.Type, path *fieldPath) {
	if n.Kind != yaml.MappingNode {
		c.fail(n, path, "expected a mapping, got %s", describe(n))
		c.buf.WriteString("null")
		return
	}
	kt := t.Key()
	c.buf.WriteByte('{')
	seen := map[string]*yaml.Node{}
	first := true
	for _, p := range pairs(n) {
		k := resolve(p.key)
		if k.Kind != yaml.ScalarNode {
			c.fail(k, path, "mapping keys must be plain values, got %s", describe(k))
			continue
		}
		fp := path.child(k.Value)
		if prev, dup := seen[k.Value]; dup {
			c.fail(k, fp, "duplicate key %q (first at line %d); remove one of them", k.Value, prev.Line)
			continue
		}
		seen[k.Value] = k
		switch {
		case kt.Kind() == reflect.String:
		case reflect.PointerTo(kt).Implements(textUnmarshalerType):
			if err := reflect.New(kt).Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(k.Value)); err != nil {
				c.fail(k, fp, "invalid key: %s", err)
				continue
			}
		case kt.Kind() >= reflect.Int && kt.Kind() <= reflect.Int64:
			if _, err := strconv.ParseInt(k.Value, 10, kt.Bits()); err != nil {
				c.fail(k, fp, "expected an integer key, got %s", describe(k))
				continue
			}
		case kt.Kind() >= reflect.Uint && kt.Kind() <= reflect.Uintptr:
			if _, err := strconv.ParseUint(k.Value, 10, kt.Bits()); err != nil {
				c.fail(k, fp, "expected a non-negative integer key, got %s", describe(k))
				continue
			}
		default:
			c.fail(k, fp, "cannot decode keys into the Go type %s", kt)
			continue
		}
		mark, nerr, wasFirst := c.buf.Len(), len(c.errs), first
		if !first {
			c.buf.WriteByte(',')
		}
		first = false
		writeString(&c.buf, k.Value)
		c.buf.WriteByte(':')
		c.value(p.value, t.Elem(), fp)
		if len(c.errs) > nerr && bytes.HasSuffix(c.buf.Bytes(), []byte(":null")) {
			// Leave a failed value out: encoding/json would hand null to an UnmarshalJSON.
			c.buf.Truncate(mark)
			first = wasFirst
		}
	}
	c.buf.WriteByte('}')
}

func (c *converter) list(n *yaml.Node, t reflect.Type, path *fieldPath) {
	if n.Kind != yaml.SequenceNode {
		c.fail(n, path, "expected a list, got %s", describe(n))
		c.buf.WriteString("null")
		return
	}
	if t.Kind() == reflect.Array && len(n.Content) > t.Len() {
		c.fail(n, path, "expected at most %d items, got %d", t.Len(), len(n.Content))
	}
	c.buf.WriteByte('[')
	for i, item := range n.Content {
		if i > 0 {
			c.buf.WriteByte(',')
		}
		c.value(item, t.Elem(), path.item(i))
	}
	c.buf.WriteByte(']')
}

// unknownField says a field does not exist and what was probably meant.
func unknownField(name string, known []string) string {
	if s := Suggest(name, known); s != "" {
		return fmt.Sprintf("unknown field %q; did you mean %q?", name, s)
	}
	if len(known) == 0 {
		return fmt.Sprintf("unknown field %q; this mapping takes no fields", name)
	}
	if len(known) <= 20 {
		return fmt.Sprintf("unknown field %q; known fields: %s", name, strings.Join(known, ", "))
	}
	return fmt.Sprintf("unknown field %q", name)
}

// structFields are the JSON fields of a struct type, with embedded structs flattened the way
// encoding/json flattens them.
type structFields struct {
	byName map[string]reflect.Type
	names  []string // sorted, for messages
}

var fieldCache sync.Map // reflect.Type → *structFields

func fieldsOf(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	sf := &structFields{byName: map[string]reflect.Type{}}
	depthOf := map[string]int{}
	var collect func(t reflect.Type, depth int, visiting map[reflect.Type]bool)
	collect = func(t reflect.Type, depth int, visiting map[reflect.Type]bool) {
		if visiting[t] {
			return
		}
		visiting[t] = true
		defer delete(visiting, t)
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					collect(ft, depth+1, visiting)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			// The shallower field wins, as in encoding/json.
			if d, ok := depthOf[name]; ok && d <= depth {
				continue
			}
			depthOf[name] = depth
			sf.byName[name] = f.Type
		}
	}
	collect(t, 0, map[reflect.Type]bool{})
	for name := range sf.byName {
		sf.names = append(sf.names, name)
	}
	slices.Sort(sf.names)
	got, _ := fieldCache.LoadOrStore(t, sf)
	return got.(*structFields)
}
