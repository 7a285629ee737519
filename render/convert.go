package render

import (
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
	v := reflect.ValueOf(o)
	x, err := encoderFor(v.Type())(v)
	if err != nil {
		return nil, err
	}
	m, ok := x.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%T did not encode to a JSON object", o)
	}
	delete(m, "status")
	return &unstructured.Unstructured{Object: m}, nil
}

// encoder turns a value of one type into its unstructured form: map[string]any, []any,
// string, int64, float64, bool or nil.
type encoder func(v reflect.Value) (any, error)

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
	e, loaded := encoders.LoadOrStore(t, encoder(func(v reflect.Value) (any, error) {
		wg.Wait()
		return f(v)
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
)

func newEncoder(t reflect.Type) encoder {
	switch t {
	case quantityType:
		return func(v reflect.Value) (any, error) {
			var q resource.Quantity // a copy: String caches its result in q
			if v.CanAddr() {
				q = *v.Addr().Interface().(*resource.Quantity)
			} else {
				q = v.Interface().(resource.Quantity)
			}
			return q.String(), nil
		}
	case intOrStrType:
		return func(v reflect.Value) (any, error) {
			switch x := v.Interface().(intstr.IntOrString); x.Type {
			case intstr.Int:
				return int64(x.IntVal), nil
			case intstr.String:
				return validUTF8(x.StrVal), nil
			}
			return jsonEncode(v)
		}
	case timeType:
		return func(v reflect.Value) (any, error) {
			if v.IsZero() {
				return nil, nil // what Time's MarshalJSON writes for the zero time
			}
			return jsonEncode(v)
		}
	}
	if t.Kind() == reflect.Pointer {
		// Before the check for marshalers: a pointer has its target's methods, and encoding/json
		// writes a nil one as null and a non-nil one as its target.
		elem := encoderFor(t.Elem())
		return func(v reflect.Value) (any, error) {
			if v.IsNil() {
				return nil, nil
			}
			return elem(v.Elem())
		}
	}
	if implements(t, marshalerType) || implements(t, textMarshalerType) {
		return jsonEncode
	}
	switch t.Kind() {
	case reflect.Bool:
		return func(v reflect.Value) (any, error) { return v.Bool(), nil }
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return func(v reflect.Value) (any, error) { return v.Int(), nil }
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return func(v reflect.Value) (any, error) {
			if u := v.Uint(); u <= math.MaxInt64 {
				return int64(u), nil
			}
			return jsonEncode(v)
		}
	case reflect.String:
		return func(v reflect.Value) (any, error) { return validUTF8(v.String()), nil }
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return jsonEncode // base64
		}
		elem := encoderFor(t.Elem())
		return func(v reflect.Value) (any, error) {
			if v.IsNil() {
				return nil, nil
			}
			out := make([]any, v.Len())
			for i := range out {
				x, err := elem(v.Index(i))
				if err != nil {
					return nil, err
				}
				out[i] = x
			}
			return out, nil
		}
	case reflect.Map:
		if t.Key().Kind() != reflect.String || implements(t.Key(), textMarshalerType) {
			return jsonEncode
		}
		elem := encoderFor(t.Elem())
		return func(v reflect.Value) (any, error) {
			if v.IsNil() {
				return nil, nil
			}
			out := make(map[string]any, v.Len())
			// One key and one value reused for every entry: MapRange's Key and Value would
			// allocate a copy of each.
			k, e := reflect.New(t.Key()).Elem(), reflect.New(t.Elem()).Elem()
			for it := v.MapRange(); it.Next(); {
				k.SetIterKey(it)
				e.SetIterValue(it)
				x, err := elem(e)
				if err != nil {
					return nil, err
				}
				out[validUTF8(k.String())] = x
			}
			return out, nil
		}
	case reflect.Struct:
		fields, ok := structFields(t, nil)
		if !ok {
			return jsonEncode
		}
		return func(v reflect.Value) (any, error) {
			out := map[string]any{}
			for i := range fields {
				f := &fields[i]
				fv := v.FieldByIndex(f.index)
				if f.omitEmpty && isEmptyValue(fv) || f.omitZero && f.isZero(fv) {
					continue
				}
				x, err := f.enc(fv)
				if err != nil {
					return nil, err
				}
				if x == nil && f.name == "creationTimestamp" {
					continue // the API server sets it
				}
				out[f.name] = x
			}
			return out, nil
		}
	}
	// Floats (whose JSON form may read back as an integer), arrays, interfaces and whatever
	// else encoding/json knows how to write.
	return jsonEncode
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
	for i, f := range fields {
		for _, g := range fields[:i] {
			if f.name == g.name {
				return nil, false
			}
		}
	}
	return fields, true
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
func jsonEncode(v reflect.Value) (any, error) {
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
