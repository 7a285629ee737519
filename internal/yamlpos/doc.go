// Package yamlpos decodes YAML written by people (platform.yaml, NAIS Application specs,
// .flyt.yaml) strictly, and tells them exactly where a problem is.
//
// A typo in a deploy spec must not be silently ignored, and an error that says only "cannot
// unmarshal string into int" leaves a team guessing which of their files and lines is wrong.
// So every problem this package finds is an [*Error] carrying the file, line, column and
// field path (spec.ingresses[0]) together with a message that says how to fix it, and all the
// problems of a document are reported at once in an [ErrorList].
//
// Decoding follows the json tags of the target type, with the semantics Kubernetes users know
// from sigs.k8s.io/yaml: YAML is turned into JSON and then decoded with encoding/json, so types
// with their own UnmarshalJSON (durations, quantities, IntOrString) work unchanged. Unlike that
// route, the conversion is steered by the target type, which lets it report unknown fields
// (with a did-you-mean suggestion), wrong types and duplicate keys at their position. Field
// names must match their json tag exactly: encoding/json would also take "Replicas" for
// "replicas", which hides typos, so here it is an unknown field with a suggestion. The ",string"
// tag option is not supported. YAML merge keys ("<<: *base") and anchors work; aliases are
// expanded within limits, so a small hostile file cannot make flyt build a huge value.
//
// It is the one decoder of the files teams and operators write. A document that is not one
// node tree, such as an Application that render has merged from a base file and its overlays,
// is decoded as plain values with [DecodeValue], through the same walk and messages, and a
// position function names the file each value came from. The rules in which callers differ
// are [Options]: render refuses numbers where NAIS wants a string (StrictStrings) and keeps its
// long-standing wording of type errors (JSONWording); a plain value has no merge keys to expand,
// so "<<" there is an unknown field.
//
// Semantic validation that runs after decoding uses [Document.Position] or [Document.Errorf]
// to point at the field it complains about.
package yamlpos
