package render

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// toUnstructured converts a typed object to the unstructured form sync applies, and drops the
// fields the API server fills in (creationTimestamp, status), so the output holds only what
// flyt means to own. It goes through encoding/json, whose struct encoders are cached, and a
// small JSON reader that keeps integers as int64 as Kubernetes' own decoders do: on a render's
// path this is several times faster than the reflective runtime.DefaultUnstructuredConverter,
// and gives the same maps (the golden tests hold it to that).
func toUnstructured(o any) (*unstructured.Unstructured, error) {
	data, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("%T did not encode to a JSON object", o)
	}
	// data is ours alone and never written again, so the reader may view it as a string
	// without copying it; the maps' strings are then slices of it.
	r := jsonReader{data: unsafe.String(&data[0], len(data))}
	v, err := r.value()
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%T did not encode to a JSON object", o)
	}
	delete(m, "status")
	dropNullTimestamps(m)
	return &unstructured.Unstructured{Object: m}, nil
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
