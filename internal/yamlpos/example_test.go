package yamlpos_test

import (
	"fmt"

	"github.com/flyt-platform/flyt/internal/yamlpos"
)

func ExampleDecodeStrict() {
	var spec struct {
		Replicas struct {
			Min int `json:"min"`
			Max int `json:"max"`
		} `json:"replicas"`
	}
	err := yamlpos.DecodeStrict("app.yaml", []byte("replicas:\n  min: two\n  mx: 4\n"), &spec)
	for _, e := range yamlpos.Errors(err) {
		fmt.Println(e)
	}
	// Output:
	// app.yaml:2:8: replicas.min: expected an integer, got string "two"
	// app.yaml:3:3: replicas.mx: unknown field "mx"; did you mean "max"?
}
