package environments

import (
	"os"
	"testing"
)

func BenchmarkParseExample(b *testing.B) {
	data, err := os.ReadFile("../examples/platform.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Parse("platform.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}
