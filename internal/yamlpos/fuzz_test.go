package yamlpos

import (
	"errors"
	"testing"
)

func FuzzDecodeStrict(f *testing.F) {
	f.Add([]byte(platformYAML))
	f.Add([]byte("spec:\n  replicas: {min: two}\n  ingresses: [{host: a}, *x]\n"))
	f.Add([]byte("a: &a {b: *a}\n"))
	f.Add([]byte("<<: [*a, {x: 1}]\n"))
	f.Add([]byte("---\n---\nkind: x\n...\n"))
	f.Add([]byte("metadata:\n\tname: a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var out app
		err := DecodeStrict("fuzz.yaml", data, &out)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error without position: %T %v", err, err)
			}
		}
		var generic any
		_ = DecodeStrict("fuzz.yaml", data, &generic)
		docs, err := SplitDocuments("fuzz.yaml", data)
		if err == nil {
			for _, d := range docs {
				_, _ = d.JSON()
				d.Document().Position("spec.ingresses[0].host")
			}
		}
	})
}
