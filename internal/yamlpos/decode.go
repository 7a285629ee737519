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
	return d.DecodeWith(out, Options{})
}

// DecodeWith is Decode under the rules of opts, for a parsed file that is to be held to the
// rules of Applications (see [Options]); opts.Pos is not used, the nodes know their place.
func (d *Document) DecodeWith(out any, opts Options) error {
	rv := reflect.ValueOf(out)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("yamlpos: decode %s: out must be a non-nil pointer, got %T", d.file, out)
	}
	c := &converter{file: d.file, opts: opts}
	return c.decode(nodeVal(d.root), rv.Type().Elem(), out)
}

// decode writes x as JSON steered by t, then decodes that into out.
func (c *converter) decode(x val, t reflect.Type, out any) error {
	c.value(x, t, nil)
	// Decode what is good even when something is not, so a caller can go on to validate the
	// rest and report every problem at once. Fields in error are left unset.
	if err := json.Unmarshal(c.buf.Bytes(), out); err != nil && len(c.errs) == 0 {
		// The walk checks everything encoding/json does, so this is a gap in it; still say where.
		return c.jsonError(x, err)
	}
	return c.errs.Err()
}

// JSON converts the document to JSON without a target type.
func (d *Document) JSON() ([]byte, error) {
	c := &converter{file: d.file}
	c.value(nodeVal(d.root), nil, nil)
	if err := c.errs.Err(); err != nil {
		return nil, err
	}
	return c.buf.Bytes(), nil
}

func (c *converter) jsonError(root val, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		file, line, col := c.place(root, nil)
		if !root.plain {
			d := &Document{file: c.file, root: root.n}
			line, col = d.Position(te.Field)
		}
		return &Error{File: file, Line: line, Column: col, Path: te.Field, Msg: fmt.Sprintf("expected %s, got JSON %s", te.Type, te.Value)}
	}
	file, line, col := c.place(root, nil)
	return &Error{File: file, Line: line, Column: col, Msg: err.Error()}
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
	// Recursion rather than a slice of the chain: holding no pointer to it lets a walk keep
	// its paths on the stack.
	if p.isIndex {
		return joinIndex(p.parent.String(), p.index)
	}
	return joinKey(p.parent.String(), p.key)
}

// converter writes the JSON form of a node tree or plain value, steered by the Go type it will
// be decoded into, and collects every problem on the way. Its walk is bounded because every
// Document passed Check when it was parsed (no alias cycle, and a bounded expansion) and a plain
// value has no aliases.
type converter struct {
	file string
	opts Options
	buf  bytes.Buffer
	errs ErrorList
	// pairs is a stack of the mappings being walked: each pushes its pairs and pops them when
	// done, so a walk allocates it about once.
	pairs []valPair
}

func (c *converter) fail(x val, path *fieldPath, format string, args ...any) {
	file, line, col := c.place(x, path)
	c.errs = append(c.errs, &Error{File: file, Line: line, Column: col, Path: path.String(), Msg: fmt.Sprintf(format, args...)})
}

// value writes x as JSON for a target of type t; t == nil means any JSON value.
func (c *converter) value(x val, t reflect.Type, path *fieldPath) {
	x = x.resolve()
	if x.missing() {
		c.buf.WriteString("null")
		return
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if isNull(x) {
		c.buf.WriteString("null")
		return
	}
	if t == nil || t.Kind() == reflect.Interface && t.NumMethod() == 0 {
		c.untyped(x, path)
		return
	}
	// A scalar that fails writes null in its place, so the rest of the document still decodes.
	start, nerr := c.buf.Len(), len(c.errs)
	scalar := true
	switch {
	case reflect.PointerTo(t).Implements(jsonUnmarshalerType):
		c.custom(x, t, path)
	case t.Kind() != reflect.String && reflect.PointerTo(t).Implements(textUnmarshalerType):
		c.text(x, t, path)
	case t.Kind() == reflect.Struct:
		scalar = false
		c.object(x, t, path)
	case t.Kind() == reflect.Map:
		scalar = false
		c.mapping(x, t, path)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		// encoding/json reads []byte from a base64 string.
		c.str(x, path, wantBase64)
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
		scalar = false
		c.list(x, t, path)
	default:
		c.scalar(x, t, path)
	}
	if scalar && len(c.errs) > nerr {
		c.buf.Truncate(start)
		c.buf.WriteString("null")
	}
}

// scalar writes a string, boolean or number for a target of that kind.
func (c *converter) scalar(x val, t reflect.Type, path *fieldPath) {
	switch t.Kind() {
	case reflect.String:
		c.str(x, path, wantString)
	case reflect.Bool:
		if x.kind() != yaml.ScalarNode || x.tag() != "!!bool" {
			c.mismatch(x, path, wantBool)
			return
		}
		b, ok := x.boolean()
		if !ok {
			c.mismatch(x, path, wantBool)
			return
		}
		c.buf.WriteString(strconv.FormatBool(b))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		c.integer(x, t, path)
	case reflect.Float32, reflect.Float64:
		f, ok := x.float()
		if !ok {
			c.mismatch(x, path, wantNumber)
			return
		}
		if math.IsInf(f, 0) || math.IsNaN(f) {
			c.fail(x, path, "%s cannot be represented; use a finite number", x.text())
			return
		}
		c.buf.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
	case reflect.Interface:
		// An interface with methods cannot be filled by encoding/json either.
		c.fail(x, path, "cannot decode into the Go interface type %s", t)
	default:
		c.fail(x, path, "cannot decode into the Go type %s", t)
	}
}

func isNull(x val) bool {
	return x.kind() == yaml.ScalarNode && x.tag() == "!!null"
}

// describe says what a value is, for "expected X, got Y" messages.
func describe(x val) string {
	switch x.kind() {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		// A value in the wrong field may be a secret (a DSN or a clone URL with a token put one
		// line off): credentials are hidden before the value is shortened and quoted.
		v := redact.Text(x.text())
		if len(v) > 40 {
			v = v[:37] + "..."
		}
		switch x.tag() {
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
// written as, like sigs.k8s.io/yaml converts them for string fields, unless
// Options.StrictStrings refuses them.
func (c *converter) str(x val, path *fieldPath, w want) {
	if x.kind() != yaml.ScalarNode {
		c.mismatch(x, path, w)
		return
	}
	if c.opts.StrictStrings {
		switch x.tag() {
		case "!!int", "!!float", "!!bool":
			c.mismatch(x, path, w)
			return
		}
	}
	writeString(&c.buf, x.text())
}

// writeString writes s as a JSON string. Most keys and values need no escaping and are copied
// as they are; encoding/json escapes the rest.
func writeString(b *bytes.Buffer, s string) {
	if plainJSON(s) {
		b.WriteByte('"')
		b.WriteString(s)
		b.WriteByte('"')
		return
	}
	enc, _ := json.Marshal(s) // cannot fail for a string
	b.Write(enc)
}

// plainJSON says s is printable ASCII without a quote or backslash, the same inside a JSON
// string.
func plainJSON(s string) bool {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func (c *converter) integer(x val, t reflect.Type, path *fieldPath) {
	if x.kind() != yaml.ScalarNode {
		c.mismatch(x, path, wantInt)
		return
	}
	switch x.tag() {
	case "!!int":
		if i, ok := x.int64(); ok {
			c.fitInteger(x, i, x.text(), t, path)
			return
		}
		unsigned := t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uintptr
		if u, ok := x.uint64(); ok && unsigned && !reflect.Zero(t).OverflowUint(u) {
			c.buf.WriteString(strconv.FormatUint(u, 10))
			return
		}
		c.badInteger(x, path, "%s is out of range for this field", x.text())
	case "!!float":
		f, ok := x.float()
		if ok && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			c.fitInteger(x, int64(f), strconv.FormatInt(int64(f), 10), t, path)
			return
		}
		c.mismatch(x, path, wantInt)
	default:
		c.mismatch(x, path, wantInt)
	}
}

// fitInteger writes i, written as text, when it fits t.
func (c *converter) fitInteger(x val, i int64, text string, t reflect.Type, path *fieldPath) {
	unsigned := t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uintptr
	if unsigned && i < 0 {
		c.badInteger(x, path, "expected a non-negative integer, got %s", text)
		return
	}
	if !unsigned && reflect.Zero(t).OverflowInt(i) || unsigned && reflect.Zero(t).OverflowUint(uint64(i)) {
		c.badInteger(x, path, "%s is out of range for this field", text)
		return
	}
	c.buf.WriteString(strconv.FormatInt(i, 10))
}

// custom hands a value to a type's own UnmarshalJSON right away, so that its error (a bad
// duration, a bad quantity) is reported at the value instead of somewhere in the document.
func (c *converter) custom(x val, t reflect.Type, path *fieldPath) {
	sub := &converter{file: c.file, opts: c.opts}
	sub.untyped(x, path)
	if len(sub.errs) > 0 {
		c.errs = append(c.errs, sub.errs...)
		return
	}
	raw := sub.buf.Bytes()
	probe := reflect.New(t).Interface().(json.Unmarshaler)
	if err := probe.UnmarshalJSON(raw); err != nil {
		c.fail(x, path, "%s", err)
	}
	c.buf.Write(raw)
}

// text validates a scalar with the type's UnmarshalText, which encoding/json uses for strings.
func (c *converter) text(x val, t reflect.Type, path *fieldPath) {
	if x.kind() != yaml.ScalarNode {
		c.mismatch(x, path, wantString)
		return
	}
	probe := reflect.New(t).Interface().(encoding.TextUnmarshaler)
	if err := probe.UnmarshalText([]byte(x.text())); err != nil {
		c.fail(x, path, "%s", err)
	}
	writeString(&c.buf, x.text())
}

// untyped writes any value as the JSON a generic decoder expects.
func (c *converter) untyped(x val, path *fieldPath) {
	x = x.resolve()
	switch x.kind() {
	case yaml.MappingNode:
		c.buf.WriteByte('{')
		var keys keySet
		first := true
		base, end := c.pushPairs(x)
		for i := base; i < end; i++ {
			p := c.pairs[i]
			fp := path.child(p.key.text())
			if !c.key(p.key, path, fp, &keys, "key", "mapping keys must be plain values, got %s") {
				continue
			}
			if !first {
				c.buf.WriteByte(',')
			}
			first = false
			writeString(&c.buf, p.key.text())
			c.buf.WriteByte(':')
			c.value(p.value, nil, fp)
		}
		c.popPairs(base)
		c.buf.WriteByte('}')
	case yaml.SequenceNode:
		c.buf.WriteByte('[')
		for i := range x.len() {
			if i > 0 {
				c.buf.WriteByte(',')
			}
			c.value(x.item(i), nil, path.item(i))
		}
		c.buf.WriteByte(']')
	case yaml.ScalarNode:
		c.untypedScalar(x, path)
	default:
		c.fail(x, path, "unsupported YAML node")
		c.buf.WriteString("null")
	}
}

func (c *converter) untypedScalar(x val, path *fieldPath) {
	switch x.tag() {
	case "!!null":
		c.buf.WriteString("null")
	case "!!bool":
		b, ok := x.boolean()
		if !ok {
			writeString(&c.buf, x.text())
			return
		}
		c.buf.WriteString(strconv.FormatBool(b))
	case "!!int":
		if i, ok := x.int64(); ok {
			c.buf.WriteString(strconv.FormatInt(i, 10))
			return
		}
		if u, ok := x.uint64(); ok {
			c.buf.WriteString(strconv.FormatUint(u, 10))
			return
		}
		c.fail(x, path, "integer %s is out of range", x.text())
		c.buf.WriteString("null")
	case "!!float":
		f, ok := x.float()
		if !ok || math.IsInf(f, 0) || math.IsNaN(f) {
			c.fail(x, path, "%s cannot be represented; use a finite number", x.text())
			c.buf.WriteString("null")
			return
		}
		c.buf.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
	default: // strings, timestamps, binary and custom tags keep their text
		writeString(&c.buf, x.text())
	}
}

// keySet remembers the keys of one mapping, to refuse a key written twice. Plain values come
// from Go maps, which cannot hold a key twice, so only nodes are remembered.
type keySet map[string]int

// key checks a mapping key, whose value is at fp; false means the pair is to be left out.
// what names a key in the duplicate message, notScalar is the message for a key that is a list
// or mapping.
func (c *converter) key(k val, path, fp *fieldPath, seen *keySet, what, notScalar string) bool {
	if k.kind() != yaml.ScalarNode {
		c.fail(k, path, notScalar, describe(k))
		return false
	}
	if k.plain {
		return true
	}
	name := k.text()
	if *seen == nil {
		*seen = keySet{}
	}
	if first, dup := (*seen)[name]; dup {
		c.fail(k, fp, "duplicate %s %q (first at line %d); remove one of them", what, name, first)
		return false
	}
	(*seen)[name] = k.line()
	return true
}

// member writes one field or map entry, leaving it out when its value failed: encoding/json
// would hand null to an UnmarshalJSON.
func (c *converter) member(name string, v val, t reflect.Type, fp *fieldPath, first *bool) {
	mark, nerr, wasFirst := c.buf.Len(), len(c.errs), *first
	if !*first {
		c.buf.WriteByte(',')
	}
	*first = false
	writeString(&c.buf, name)
	c.buf.WriteByte(':')
	c.value(v, t, fp)
	if len(c.errs) > nerr && bytes.HasSuffix(c.buf.Bytes(), []byte(":null")) {
		c.buf.Truncate(mark)
		*first = wasFirst
	}
}

func (c *converter) object(x val, t reflect.Type, path *fieldPath) {
	if x.kind() != yaml.MappingNode {
		c.mismatch(x, path, wantMapping)
		c.buf.WriteString("null")
		return
	}
	fields := fieldsOf(t)
	c.buf.WriteByte('{')
	var keys keySet
	first := true
	base, end := c.pushPairs(x)
	for i := base; i < end; i++ {
		p := c.pairs[i]
		name := p.key.text()
		fp := path.child(name)
		if !c.key(p.key, path, fp, &keys, "field", "expected a field name, got %s") {
			continue
		}
		f, ok := fields.byName[name]
		if !ok {
			c.fail(p.key, fp, "%s", unknownField(name, fields.names))
			continue
		}
		c.member(name, p.value, f, fp, &first)
	}
	c.popPairs(base)
	c.buf.WriteByte('}')
}

func (c *converter) mapping(x val, t reflect.Type, path *fieldPath) {
	if x.kind() != yaml.MappingNode {
		c.mismatch(x, path, wantMapping)
		c.buf.WriteString("null")
		return
	}
	kt := t.Key()
	c.buf.WriteByte('{')
	var keys keySet
	first := true
	base, end := c.pushPairs(x)
	for i := base; i < end; i++ {
		p := c.pairs[i]
		fp := path.child(p.key.text())
		if !c.key(p.key, path, fp, &keys, "key", "mapping keys must be plain values, got %s") || !c.mapKey(p.key, kt, fp) {
			continue
		}
		c.member(p.key.text(), p.value, t.Elem(), fp, &first)
	}
	c.popPairs(base)
	c.buf.WriteByte('}')
}

// mapKey checks that a key decodes into the map's key type kt.
func (c *converter) mapKey(k val, kt reflect.Type, fp *fieldPath) bool {
	name := k.text()
	switch {
	case kt.Kind() == reflect.String:
	case reflect.PointerTo(kt).Implements(textUnmarshalerType):
		if err := reflect.New(kt).Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(name)); err != nil {
			c.fail(k, fp, "invalid key: %s", err)
			return false
		}
	case kt.Kind() >= reflect.Int && kt.Kind() <= reflect.Int64:
		if _, err := strconv.ParseInt(name, 10, kt.Bits()); err != nil {
			c.fail(k, fp, "expected an integer key, got %s", describe(k))
			return false
		}
	case kt.Kind() >= reflect.Uint && kt.Kind() <= reflect.Uintptr:
		if _, err := strconv.ParseUint(name, 10, kt.Bits()); err != nil {
			c.fail(k, fp, "expected a non-negative integer key, got %s", describe(k))
			return false
		}
	default:
		c.fail(k, fp, "cannot decode keys into the Go type %s", kt)
		return false
	}
	return true
}

func (c *converter) list(x val, t reflect.Type, path *fieldPath) {
	if x.kind() != yaml.SequenceNode {
		c.mismatch(x, path, wantList)
		c.buf.WriteString("null")
		return
	}
	n := x.len()
	if t.Kind() == reflect.Array && n > t.Len() {
		c.fail(x, path, "expected at most %d items, got %d", t.Len(), n)
	}
	c.buf.WriteByte('[')
	for i := range n {
		if i > 0 {
			c.buf.WriteByte(',')
		}
		c.value(x.item(i), t.Elem(), path.item(i))
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
