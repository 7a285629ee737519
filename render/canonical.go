package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Canonical is the form the digest is taken over: each object as compact JSON with map keys
// sorted, one per line, in the order given. It is what encoding/json writes for the same
// values (HTML characters escaped the same way), produced without reflection because every
// render computes it.
func Canonical(objs []*unstructured.Unstructured) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(4096 * len(objs))
	var e jsonWriter
	for _, o := range objs {
		if err := e.value(&b, o.Object); err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", o.GetKind(), o.GetName(), err)
		}
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

// digest returns "sha256:" and the hex SHA-256 of Canonical(objs), and the container images
// the objects reference: those of containers anywhere in them, and spec.image (Naisjob and
// similar kinds). known holds the canonical form of some objects already, and images the
// images in those; the others are written (and their images found) here. Each object's line
// goes into the hash as it is written instead of the whole form being built in memory.
//
// An object whose canonical form is longer than maxObject bytes (when positive) ends it with a
// *tooBigError.
func digest(objs []*unstructured.Unstructured, known map[*unstructured.Unstructured][]byte, images map[string]bool, maxObject int64) (string, []string, error) {
	h := sha256.New()
	var b bytes.Buffer
	if images == nil {
		images = map[string]bool{}
	}
	e := jsonWriter{images: images, hash: h}
	for _, o := range objs {
		var size int64
		if line, ok := known[o]; ok {
			h.Write(line)
			size = int64(len(line))
		} else {
			e.flushed = 0
			if err := e.value(&b, o.Object); err != nil {
				return "", nil, fmt.Errorf("encode %s %s: %w", o.GetKind(), o.GetName(), err)
			}
			size = e.flushed + int64(b.Len())
		}
		if maxObject > 0 && size > maxObject {
			return "", nil, &tooBigError{obj: o, size: size}
		}
		b.WriteByte('\n')
		h.Write(b.Bytes())
		b.Reset()
		if img, ok, _ := unstructured.NestedString(o.Object, "spec", "image"); ok && img != "" {
			images[img] = true
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), sortedKeys(images), nil
}

func appendJSON(b *bytes.Buffer, v any) error {
	var e jsonWriter
	return e.value(b, v)
}

// jsonWriter writes canonical JSON. entries is a stack of the sorted entries of the maps being
// written, so that they share one slice instead of each allocating its own. When images
// is set, the writer adds the image of every container it passes to it: in the items of a
// "containers" or "initContainers" list, anywhere.
type jsonWriter struct {
	entries []mapEntry
	images  map[string]bool
	// hash, when set, takes what has been written whenever it passes flushSize, so that the
	// buffer stays small; flushed counts the bytes it took.
	hash    hash.Hash
	flushed int64
}

// tooBigError is an object whose canonical form is over the object size limit.
type tooBigError struct {
	obj  *unstructured.Unstructured
	size int64
}

func (e *tooBigError) Error() string {
	return fmt.Sprintf("%s %s is %d bytes encoded", e.obj.GetKind(), e.obj.GetName(), e.size)
}

const flushSize = 1024

func (e *jsonWriter) flush(b *bytes.Buffer) {
	if e.hash != nil && b.Len() >= flushSize {
		e.flushed += int64(b.Len())
		e.hash.Write(b.Bytes())
		b.Reset()
	}
}

type mapEntry struct {
	k string
	v any
}

// addImages adds the images of a list of containers to images.
func addImages(images map[string]bool, containers any) {
	list, _ := containers.([]any)
	for _, c := range list {
		if cm, ok := c.(map[string]any); ok {
			if img, ok := cm["image"].(string); ok && img != "" {
				images[img] = true
			}
		}
	}
}

func (e *jsonWriter) value(b *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case string:
		writeJSONString(b, v)
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case int64:
		b.Write(strconv.AppendInt(b.AvailableBuffer(), v, 10))
	case int:
		b.Write(strconv.AppendInt(b.AvailableBuffer(), int64(v), 10))
	case int32:
		b.Write(strconv.AppendInt(b.AvailableBuffer(), int64(v), 10))
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return fmt.Errorf("unsupported number %v", v)
		}
		// encoding/json's format: shortest repr, exponent only for very large or small values.
		abs := math.Abs(v)
		fmtByte := byte('f')
		if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
			fmtByte = 'e'
		}
		s := strconv.AppendFloat(b.AvailableBuffer(), v, fmtByte, -1, 64)
		if fmtByte == 'e' {
			if n := len(s); n >= 4 && s[n-4] == 'e' && s[n-3] == '-' && s[n-2] == '0' {
				s[n-2] = s[n-1]
				s = s[:n-1]
			}
		}
		b.Write(s)
	case map[string]any:
		base := len(e.entries)
		for k, x := range v {
			e.entries = append(e.entries, mapEntry{k, x})
		}
		slices.SortFunc(e.entries[base:], func(a, b mapEntry) int { return strings.Compare(a.k, b.k) })
		b.WriteByte('{')
		for i := base; i < len(e.entries); i++ {
			// Index, not range: writing a value may grow (and move) e.entries.
			k, x := e.entries[i].k, e.entries[i].v
			if i > base {
				b.WriteByte(',')
			}
			writeJSONString(b, k)
			b.WriteByte(':')
			if e.images != nil && (k == "containers" || k == "initContainers") {
				addImages(e.images, x)
			}
			if err := e.value(b, x); err != nil {
				return err
			}
			e.flush(b)
		}
		clear(e.entries[base:])
		e.entries = e.entries[:base]
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, x := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := e.value(b, x); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	default:
		return fmt.Errorf("unsupported value of type %T", v)
	}
	return nil
}

const hexDigits = "0123456789abcdef"

// jsonSafe says which ASCII characters a JSON string holds as they are (encoding/json escapes
// control characters, quotes, backslashes and, by default, <, > and &).
var jsonSafe = func() (safe [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		safe[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return safe
}()

// writeJSONString quotes s as encoding/json does (with its default HTML escaping).
func writeJSONString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			b.WriteString(s[start:i])
			switch c {
			case '"', '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\t':
				b.WriteString(`\t`)
			default:
				b.WriteString(`\u00`)
				b.WriteByte(hexDigits[c>>4])
				b.WriteByte(hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString(s[start:i])
			b.WriteString(`\ufffd`)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b.WriteString(s[start:i])
			b.WriteString(`\u202`)
			b.WriteByte(hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b.WriteString(s[start:])
	b.WriteByte('"')
}
