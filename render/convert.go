package render

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// toUnstructured converts a typed object to the unstructured form sync applies, and drops the
// fields the API server fills in (creationTimestamp, status), so the output holds only what
// flyt means to own. It walks the object with reflection as encoding/json would encode it
// (json tags, omitempty, omitzero, inlined embedded structs) and builds the maps directly,
// with integers as int64 as Kubernetes' own decoders give them; types with their own JSON
// encoding go through encoding/json. The result is the same maps as encoding the object and
// decoding the JSON (TestToUnstructuredMatchesConverter holds it to that), without the bytes
// in between, which matters because every render converts every generated object.
func toUnstructured(o any) (*unstructured.Unstructured, error) {
	return convert(o, nil)
}

// canonicalOut collects what convert writes beside the maps: the object's canonical form (see
// Canonical) and the images of the containers in it, so that the digest need not walk the maps
// again.
type canonicalOut struct {
	b      bytes.Buffer
	images map[string]bool
	w      jsonWriter // for maps and values from encoding/json, whose keys need sorting
}

// stringMap converts m, writing it to c when c is not nil.
func (c *canonicalOut) stringMap(m map[string]string) (any, error) {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[validUTF8(k)] = validUTF8(v)
	}
	if c != nil {
		if err := c.write(out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// write writes x, a value built by converting, as the digest would.
func (c *canonicalOut) write(x any) error {
	c.w.images = c.images
	return c.w.value(&c.b, x)
}

// convert is toUnstructured that, when c is not nil, also writes the object's canonical form to
// c.b and adds its images to c.images. The fields of a struct are listed sorted by name, so the
// canonical form comes out in the order it wants.
func convert(o any, c *canonicalOut) (*unstructured.Unstructured, error) {
	v := reflect.ValueOf(o)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("%T is not a pointer to a struct", o)
	}
	var x any
	var err error
	if fields, ok := rootFields(v.Type().Elem()); ok {
		x, err = encodeStruct(v.Elem(), fields, c, "status")
	} else if x, err = jsonEncode(v, nil); err == nil {
		if m, ok := x.(map[string]any); ok {
			delete(m, "status")
			if c != nil {
				err = c.write(m)
			}
		}
	}
	if err != nil {
		return nil, err
	}
	m, ok := x.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%T did not encode to a JSON object", o)
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// rootCache memoizes rootFields.
var rootCache sync.Map // reflect.Type → []encodedField, nil when convert should use encoding/json

// rootFields returns the fields of struct type t, for convert.
func rootFields(t reflect.Type) ([]encodedField, bool) {
	if f, ok := rootCache.Load(t); ok {
		return f.([]encodedField), f.([]encodedField) != nil
	}
	var fields []encodedField
	if !implements(t, marshalerType) && !implements(t, textMarshalerType) {
		fields, _ = structFields(t, nil)
	}
	rootCache.Store(t, fields)
	return fields, fields != nil
}

// encoder turns a value of one type into its unstructured form: map[string]any, []any,
// string, int64, float64, bool or nil. When c is not nil it also writes the value's canonical
// form to c.b (and adds the images it meets to c.images).
type encoder func(v reflect.Value, c *canonicalOut) (any, error)

// scalar makes an encoder of f, which gives a value that is neither a map nor a list.
func scalar(f func(v reflect.Value) (any, error)) encoder {
	return func(v reflect.Value, c *canonicalOut) (any, error) {
		x, err := f(v)
		if err == nil && c != nil {
			err = appendJSON(&c.b, x)
		}
		return x, err
	}
}

// encoders memoizes an encoder per type; there is one per Go type a render meets, so it stays
// small.
var encoders sync.Map // reflect.Type → encoder

func encoderFor(t reflect.Type) encoder {
	if e, ok := encoders.Load(t); ok {
		return e.(encoder)
	}
	// A recursive type meets itself while its encoder is being built: hand out an indirect one
	// that waits for the real one, as encoding/json does.
	var (
		wg sync.WaitGroup
		f  encoder
	)
	wg.Add(1)
	e, loaded := encoders.LoadOrStore(t, encoder(func(v reflect.Value, c *canonicalOut) (any, error) {
		wg.Wait()
		return f(v, c)
	}))
	if loaded {
		return e.(encoder)
	}
	f = newEncoder(t)
	wg.Done()
	encoders.Store(t, f)
	return f
}

var (
	marshalerType     = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
	quantityType      = reflect.TypeFor[resource.Quantity]()
	timeType          = reflect.TypeFor[metav1.Time]()
	stringMapType     = reflect.TypeFor[map[string]string]()
)

func newEncoder(t reflect.Type) encoder {
	switch t {
	case quantityType:
		return scalar(func(v reflect.Value) (any, error) {
			var q resource.Quantity // a copy: String caches its result in q
			if v.CanAddr() {
				q = *v.Addr().Interface().(*resource.Quantity)
			} else {
				q = v.Interface().(resource.Quantity)
			}
			return q.String(), nil
		})
	case intOrStrType:
		return func(v reflect.Value, c *canonicalOut) (any, error) {
			var x intstr.IntOrString
			if v.CanAddr() {
				x = *v.Addr().Interface().(*intstr.IntOrString) // no copy on the heap, unlike Interface
			} else {
				x = v.Interface().(intstr.IntOrString)
			}
			switch x.Type {
			case intstr.Int:
				return scalarValueOf(int64(x.IntVal), c)
			case intstr.String:
				return scalarValueOf(validUTF8(x.StrVal), c)
			}
			return jsonEncode(v, c)
		}
	case timeType:
		return func(v reflect.Value, c *canonicalOut) (any, error) {
			if v.IsZero() {
				return scalarValueOf(nil, c) // what Time's MarshalJSON writes for the zero time
			}
			return jsonEncode(v, c)
		}
	}
	if t.Kind() == reflect.Pointer {
		// Before the check for marshalers: a pointer has its target's methods, and encoding/json
		// writes a nil one as null and a non-nil one as its target.
		elem := encoderFor(t.Elem())
		return func(v reflect.Value, c *canonicalOut) (any, error) {
			if v.IsNil() {
				return scalarValueOf(nil, c)
			}
			return elem(v.Elem(), c)
		}
	}
	if implements(t, marshalerType) || implements(t, textMarshalerType) {
		return jsonEncode
	}
	switch t.Kind() {
	case reflect.Bool:
		return scalar(func(v reflect.Value) (any, error) { return v.Bool(), nil })
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return scalar(func(v reflect.Value) (any, error) { return v.Int(), nil })
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return func(v reflect.Value, c *canonicalOut) (any, error) {
			if u := v.Uint(); u <= math.MaxInt64 {
				return scalarValueOf(int64(u), c)
			}
			return jsonEncode(v, c)
		}
	case reflect.String:
		return scalar(func(v reflect.Value) (any, error) { return validUTF8(v.String()), nil })
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return jsonEncode // base64
		}
		elem := encoderFor(t.Elem())
		return func(v reflect.Value, c *canonicalOut) (any, error) {
			if v.IsNil() {
				return scalarValueOf(nil, c)
			}
			if c != nil {
				c.b.WriteByte('[')
			}
			out := make([]any, v.Len())
			for i := range out {
				if c != nil && i > 0 {
					c.b.WriteByte(',')
				}
				x, err := elem(v.Index(i), c)
				if err != nil {
					return nil, err
				}
				out[i] = x
			}
			if c != nil {
				c.b.WriteByte(']')
			}
			return out, nil
		}
	case reflect.Map:
		if t.Key().Kind() != reflect.String || implements(t.Key(), textMarshalerType) {
			return jsonEncode
		}
		elem := encoderFor(t.Elem())
		return func(v reflect.Value, c *canonicalOut) (any, error) {
			if v.IsNil() {
				return scalarValueOf(nil, c)
			}
			if t == stringMapType {
				// Labels and selectors: the common case, read without reflection.
				return c.stringMap(v.Interface().(map[string]string))
			}
			out := make(map[string]any, v.Len())
			// One key and one value reused for every entry: MapRange's Key and Value would
			// allocate a copy of each.
			k, e := reflect.New(t.Key()).Elem(), reflect.New(t.Elem()).Elem()
			for it := v.MapRange(); it.Next(); {
				k.SetIterKey(it)
				e.SetIterValue(it)
				x, err := elem(e, nil)
				if err != nil {
					return nil, err
				}
				out[validUTF8(k.String())] = x
			}
			if c != nil {
				if err := c.write(out); err != nil { // the keys need sorting
					return nil, err
				}
			}
			return out, nil
		}
	case reflect.Struct:
		fields, ok := structFields(t, nil)
		if !ok {
			return jsonEncode
		}
		return func(v reflect.Value, c *canonicalOut) (any, error) {
			return encodeStruct(v, fields, c, "")
		}
	}
	// Floats (whose JSON form may read back as an integer), arrays, interfaces and whatever
	// else encoding/json knows how to write.
	return jsonEncode
}

// encodeStruct converts struct v by its fields (see structFields), leaving out the one named
// skip.
func encodeStruct(v reflect.Value, fields []encodedField, c *canonicalOut, skip string) (any, error) {
	out := map[string]any{}
	if c != nil {
		c.b.WriteByte('{')
	}
	for i := range fields {
		f := &fields[i]
		if f.name == skip {
			continue
		}
		fv := f.field(v)
		if f.omitEmpty && isEmptyValue(fv) || f.omitZero && f.isZero(fv) {
			continue
		}
		if f.name == "creationTimestamp" {
			// The API server sets it: left out when it is null.
			x, err := f.enc(fv, nil)
			if err != nil {
				return nil, err
			}
			if x == nil {
				continue
			}
			if c != nil {
				c.key(f.name, len(out) == 0)
				if err := appendJSON(&c.b, x); err != nil {
					return nil, err
				}
			}
			out[f.name] = x
			continue
		}
		if c != nil {
			c.key(f.name, len(out) == 0)
		}
		x, err := f.enc(fv, c)
		if err != nil {
			return nil, err
		}
		if c != nil && (f.name == "containers" || f.name == "initContainers") {
			addImages(c.images, x)
		}
		out[f.name] = x
	}
	if c != nil {
		c.b.WriteByte('}')
	}
	return out, nil
}

// key writes a map key and its colon, after a comma unless it is the first.
func (c *canonicalOut) key(name string, first bool) {
	if !first {
		c.b.WriteByte(',')
	}
	writeJSONString(&c.b, name)
	c.b.WriteByte(':')
}

// scalarValueOf returns x, writing it to c when c is not nil.
func scalarValueOf(x any, c *canonicalOut) (any, error) {
	if c != nil {
		if err := appendJSON(&c.b, x); err != nil {
			return nil, err
		}
	}
	return x, nil
}

func implements(t, iface reflect.Type) bool {
	return t.Implements(iface) || t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(iface)
}

// encodedField is a struct field as encoding/json writes it.
type encodedField struct {
	name      string
	index     []int
	omitEmpty bool
	omitZero  bool
	isZero    func(reflect.Value) bool
	enc       encoder
}

// structFields lists the fields encoding/json writes for t, embedded structs without a name
// inlined. It says false for what it does not mirror (embedded pointers, ",string", clashing
// names), which then goes through encoding/json.
func structFields(t reflect.Type, prefix []int) ([]encodedField, bool) {
	var fields []encodedField
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() && !(sf.Anonymous && sf.Type.Kind() == reflect.Struct) {
			if sf.Anonymous {
				return nil, false
			}
			continue
		}
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		index := append(slices.Clone(prefix), i)
		if sf.Anonymous && name == "" {
			if sf.Type.Kind() != reflect.Struct {
				return nil, false
			}
			inner, ok := structFields(sf.Type, index)
			if !ok {
				return nil, false
			}
			fields = append(fields, inner...)
			continue
		}
		if !sf.IsExported() {
			continue
		}
		var omitEmpty, omitZero bool
		for o := range strings.SplitSeq(opts, ",") {
			switch o {
			case "omitempty":
				omitEmpty = true
			case "omitzero":
				omitZero = true
			case "string":
				return nil, false
			}
		}
		if name == "" {
			name = sf.Name
		}
		fields = append(fields, encodedField{name: name, index: index, omitEmpty: omitEmpty, omitZero: omitZero,
			isZero: zeroCheck(sf.Type), enc: encoderFor(sf.Type)})
	}
	// Sorted by name: the maps do not care, and the canonical form wants its keys sorted.
	slices.SortFunc(fields, func(a, b encodedField) int { return strings.Compare(a.name, b.name) })
	for i := 1; i < len(fields); i++ {
		if fields[i].name == fields[i-1].name {
			return nil, false
		}
	}
	return fields, true
}

// field returns f's value in v, a struct of the type f was listed for.
func (f *encodedField) field(v reflect.Value) reflect.Value {
	if len(f.index) == 1 {
		return v.Field(f.index[0]) // cheaper than FieldByIndex, and most fields are not inlined
	}
	return v.FieldByIndex(f.index)
}

type isZeroer interface{ IsZero() bool }

var isZeroerType = reflect.TypeFor[isZeroer]()

// zeroCheck is encoding/json's test for omitzero: the type's IsZero method if it has one,
// else the zero value.
func zeroCheck(t reflect.Type) func(reflect.Value) bool {
	switch {
	case t.Kind() == reflect.Pointer && t.Implements(isZeroerType):
		return func(v reflect.Value) bool { return v.IsNil() || v.Interface().(isZeroer).IsZero() }
	case t.Kind() == reflect.Interface && t.Implements(isZeroerType):
		return func(v reflect.Value) bool {
			return v.IsNil() || v.Elem().Kind() == reflect.Pointer && v.Elem().IsNil() || v.Interface().(isZeroer).IsZero()
		}
	case t.Implements(isZeroerType):
		return func(v reflect.Value) bool { return v.Interface().(isZeroer).IsZero() }
	case reflect.PointerTo(t).Implements(isZeroerType):
		return func(v reflect.Value) bool {
			if !v.CanAddr() {
				c := reflect.New(v.Type()).Elem()
				c.Set(v)
				v = c
			}
			return v.Addr().Interface().(isZeroer).IsZero()
		}
	}
	return reflect.Value.IsZero
}

// isEmptyValue is encoding/json's test for omitempty.
func isEmptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

// validUTF8 replaces each byte of s that is not valid UTF-8 with U+FFFD, as encoding/json
// does when it writes a string.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// jsonEncode converts v by encoding it with encoding/json and reading the JSON back.
func jsonEncode(v reflect.Value, c *canonicalOut) (any, error) {
	x := v.Interface()
	if v.CanAddr() {
		x = v.Addr().Interface() // so that methods on the pointer are found, as when encoding the whole object
	}
	data, err := json.Marshal(x)
	if err != nil {
		return nil, err
	}
	r := jsonReader{data: string(data)}
	out, err := r.value()
	if err != nil {
		return nil, err
	}
	dropNullTimestamps(out)
	if c != nil {
		if err := c.write(out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func dropNullTimestamps(v any) {
	switch v := v.(type) {
	case map[string]any:
		if ts, ok := v["creationTimestamp"]; ok && ts == nil {
			delete(v, "creationTimestamp")
		}
		for _, x := range v {
			dropNullTimestamps(x)
		}
	case []any:
		for _, x := range v {
			dropNullTimestamps(x)
		}
	}
}

// jsonReader reads JSON written by encoding/json (so well-formed) into maps, slices, strings,
// int64, float64, bool and nil. data is a string so that keys and values without escapes are
// substrings of it rather than copies: one allocation for the whole object instead of one per
// string.
type jsonReader struct {
	data string
	i    int
	// stack holds the items of the lists being read, so each list is allocated once at its
	// final length.
	stack []any
}

func (r *jsonReader) skipSpace() {
	for r.i < len(r.data) {
		switch r.data[r.i] {
		case ' ', '\n', '\t', '\r':
			r.i++
		default:
			return
		}
	}
}

func (r *jsonReader) value() (any, error) {
	r.skipSpace()
	if r.i >= len(r.data) {
		return nil, fmt.Errorf("unexpected end of JSON")
	}
	switch c := r.data[r.i]; {
	case c == '{':
		r.i++
		m := map[string]any{}
		r.skipSpace()
		if r.i < len(r.data) && r.data[r.i] == '}' {
			r.i++
			return m, nil
		}
		for {
			r.skipSpace()
			k, err := r.str()
			if err != nil {
				return nil, err
			}
			r.skipSpace()
			if r.i >= len(r.data) || r.data[r.i] != ':' {
				return nil, fmt.Errorf("want : at offset %d", r.i)
			}
			r.i++
			v, err := r.value()
			if err != nil {
				return nil, err
			}
			m[k] = v
			r.skipSpace()
			if r.i < len(r.data) && r.data[r.i] == ',' {
				r.i++
				continue
			}
			if r.i < len(r.data) && r.data[r.i] == '}' {
				r.i++
				return m, nil
			}
			return nil, fmt.Errorf("want , or } at offset %d", r.i)
		}
	case c == '[':
		r.i++
		r.skipSpace()
		if r.i < len(r.data) && r.data[r.i] == ']' {
			r.i++
			return []any{}, nil
		}
		base := len(r.stack)
		for {
			v, err := r.value()
			if err != nil {
				return nil, err
			}
			r.stack = append(r.stack, v)
			r.skipSpace()
			if r.i < len(r.data) && r.data[r.i] == ',' {
				r.i++
				continue
			}
			if r.i < len(r.data) && r.data[r.i] == ']' {
				r.i++
				s := slices.Clone(r.stack[base:])
				clear(r.stack[base:])
				r.stack = r.stack[:base]
				return s, nil
			}
			return nil, fmt.Errorf("want , or ] at offset %d", r.i)
		}
	case c == '"':
		return r.str()
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range []struct {
			s string
			v any
		}{{"true", true}, {"false", false}, {"null", nil}} {
			if strings.HasPrefix(r.data[r.i:], lit.s) {
				r.i += len(lit.s)
				return lit.v, nil
			}
		}
		return nil, fmt.Errorf("bad literal at offset %d", r.i)
	default:
		start, isFloat := r.i, false
		for r.i < len(r.data) {
			switch r.data[r.i] {
			case '.', 'e', 'E':
				isFloat = true
			case '-', '+', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			default:
				goto done
			}
			r.i++
		}
	done:
		tok := r.data[start:r.i]
		if !isFloat {
			if n, err := strconv.ParseInt(tok, 10, 64); err == nil {
				return n, nil
			}
		}
		f, err := strconv.ParseFloat(tok, 64)
		if err != nil {
			return nil, fmt.Errorf("bad number %q at offset %d", tok, start)
		}
		return f, nil
	}
}

// str reads a string; those with escapes are handed to encoding/json.
func (r *jsonReader) str() (string, error) {
	if r.i >= len(r.data) || r.data[r.i] != '"' {
		return "", fmt.Errorf("want a string at offset %d", r.i)
	}
	start := r.i
	r.i++
	escaped := false
	for r.i < len(r.data) {
		switch r.data[r.i] {
		case '\\':
			escaped = true
			r.i += 2
			continue
		case '"':
			r.i++
			if !escaped {
				return r.data[start+1 : r.i-1], nil
			}
			var s string
			if err := json.Unmarshal([]byte(r.data[start:r.i]), &s); err != nil {
				return "", err
			}
			return s, nil
		}
		r.i++
	}
	return "", fmt.Errorf("unterminated string at offset %d", start)
}
