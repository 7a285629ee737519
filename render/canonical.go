package render

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/structured-merge-diff/v6/value"
)

// toUnstructured converts a generated (typed) object to the unstructured form sync applies,
// and drops the status the API server fills in, so the output holds only what flyt means to
// own. ObjectMeta's creationTimestamp needs no dropping: apimachinery tags it omitzero, so
// the conversion leaves an unset one out (TestConvertLikeTheConverter checks no object has one).
//
// The conversion is structured-merge-diff's reflection (the value package the API server's
// field manager reads typed objects with): it gives the map runtime.DefaultUnstructuredConverter
// gives, field for field (int64 integers, omitempty and omitzero, the Unstructured forms of
// Quantity, Time and IntOrString; TestConvertLikeTheConverter holds it to that), and its
// per-type cache of fields makes it the cheaper of the two (BenchmarkRender).
func toUnstructured(o any) (*unstructured.Unstructured, error) {
	v, err := value.NewValueReflect(o)
	if err != nil {
		return nil, fmt.Errorf("convert %T: %w", o, err)
	}
	m, ok := v.Unstructured().(map[string]any)
	if !ok {
		return nil, fmt.Errorf("convert %T: not an object", o)
	}
	delete(m, "status")
	return &unstructured.Unstructured{Object: m}, nil
}

// Canonical is the form the digest is taken over: each object as encoding/json writes it
// (compact, map keys sorted, HTML characters escaped), one per line, in the order given, so
// any tool that hashes json.Marshal of the same objects gets the same digest.
func Canonical(objs []*unstructured.Unstructured) ([]byte, error) {
	var out []byte
	for _, o := range objs {
		line, err := json.Marshal(o.Object)
		if err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", o.GetKind(), o.GetName(), err)
		}
		out = append(append(out, line...), '\n')
	}
	return out, nil
}

// digest returns "sha256:" and the hex SHA-256 of Canonical(objs), and the container images
// the objects reference, as imagesOf adds them for each object (objectImages, or what the
// generator knows it put in). Each object's line is encoded straight into the hash
// (json.Encoder writes what json.Marshal returns and the newline, from its pooled buffer)
// instead of the whole form being built in memory.
//
// An object whose canonical form is longer than maxObject bytes (when positive) ends it with a
// *tooBigError.
func digest(objs []*unstructured.Unstructured, maxObject int64, imagesOf func(map[string]bool, *unstructured.Unstructured)) (string, []string, error) {
	h := &lineHash{Hash: sha256.New()}
	enc := json.NewEncoder(h)
	images := map[string]bool{}
	for _, o := range objs {
		if err := enc.Encode(o.Object); err != nil {
			return "", nil, fmt.Errorf("encode %s %s: %w", o.GetKind(), o.GetName(), err)
		}
		if size := h.last - 1; maxObject > 0 && size > maxObject {
			return "", nil, &tooBigError{obj: o, size: size}
		}
		imagesOf(images, o)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), sortedKeys(images), nil
}

// lineHash is the digest's hash, remembering the length of the last write: json.Encoder writes
// each object's line, newline included, in one Write, so that is the line's size.
type lineHash struct {
	hash.Hash
	last int64
}

// Write hashes p and remembers its length.
func (l *lineHash) Write(p []byte) (int, error) {
	l.last = int64(len(p))
	return l.Hash.Write(p)
}

// objectImages adds to images the container images o references: those of containers
// anywhere in it, and spec.image (Naisjob and similar kinds).
func objectImages(images map[string]bool, o *unstructured.Unstructured) {
	addImages(images, o.Object)
	if img, ok, _ := unstructured.NestedString(o.Object, "spec", "image"); ok && img != "" {
		images[img] = true
	}
}

// addImages adds to images the image of every container in v: the items of a "containers" or
// "initContainers" list, anywhere.
func addImages(images map[string]bool, v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if k == "containers" || k == "initContainers" {
				list, _ := x.([]any)
				for _, c := range list {
					if cm, ok := c.(map[string]any); ok {
						if img, ok := cm["image"].(string); ok && img != "" {
							images[img] = true
						}
					}
				}
			}
			addImages(images, x)
		}
	case []any:
		for _, x := range v {
			addImages(images, x)
		}
	}
}

// tooBigError is an object whose canonical form is over the object size limit.
type tooBigError struct {
	obj  *unstructured.Unstructured
	size int64
}

func (e *tooBigError) Error() string {
	return fmt.Sprintf("%s %s is %d bytes encoded", e.obj.GetKind(), e.obj.GetName(), e.size)
}
