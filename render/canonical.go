package render

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// toUnstructured converts a generated (typed) object to the unstructured form sync applies,
// with apimachinery's converter, and drops the fields the API server fills in (status, and
// the creationTimestamp: null every ObjectMeta encodes to), so the output holds only what flyt
// means to own.
func toUnstructured(o any) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		return nil, fmt.Errorf("convert %T: %w", o, err)
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
// the objects reference: those of containers anywhere in them, and spec.image (Naisjob and
// similar kinds). Each object's line goes into the hash as it is encoded instead of the whole
// form being built in memory.
//
// An object whose canonical form is longer than maxObject bytes (when positive) ends it with a
// *tooBigError.
func digest(objs []*unstructured.Unstructured, maxObject int64) (string, []string, error) {
	h := sha256.New()
	images := map[string]bool{}
	for _, o := range objs {
		line, err := json.Marshal(o.Object)
		if err != nil {
			return "", nil, fmt.Errorf("encode %s %s: %w", o.GetKind(), o.GetName(), err)
		}
		if size := int64(len(line)); maxObject > 0 && size > maxObject {
			return "", nil, &tooBigError{obj: o, size: size}
		}
		h.Write(append(line, '\n'))
		addImages(images, o.Object)
		if img, ok, _ := unstructured.NestedString(o.Object, "spec", "image"); ok && img != "" {
			images[img] = true
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), sortedKeys(images), nil
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
