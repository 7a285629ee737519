package render

import (
	"encoding/json"
	"fmt"
	"strconv"

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
	r := jsonReader{data: data}
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
// int64, float64, bool and nil.
type jsonReader struct {
	data []byte
	i    int
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
		s := []any{}
		r.skipSpace()
		if r.i < len(r.data) && r.data[r.i] == ']' {
			r.i++
			return s, nil
		}
		for {
			v, err := r.value()
			if err != nil {
				return nil, err
			}
			s = append(s, v)
			r.skipSpace()
			if r.i < len(r.data) && r.data[r.i] == ',' {
				r.i++
				continue
			}
			if r.i < len(r.data) && r.data[r.i] == ']' {
				r.i++
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
			if len(r.data)-r.i >= len(lit.s) && string(r.data[r.i:r.i+len(lit.s)]) == lit.s {
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
		tok := string(r.data[start:r.i])
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
				return string(r.data[start+1 : r.i-1]), nil
			}
			var s string
			if err := json.Unmarshal(r.data[start:r.i], &s); err != nil {
				return "", err
			}
			return s, nil
		}
		r.i++
	}
	return "", fmt.Errorf("unterminated string at offset %d", start)
}
