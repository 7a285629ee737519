package environments

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want ByteSize
		str  string
	}{
		{`1048576`, 1 << 20, "1Mi"},
		{`"1Mi"`, 1 << 20, "1Mi"},
		{`"512Ki"`, 512 << 10, "512Ki"},
		{`"2M"`, 2_000_000, "1.9Mi"},
		{`900`, 900, "900 bytes"},
		{`"1126538"`, 1126538, "1.1Mi"},
	}
	for _, tt := range tests {
		var b ByteSize
		if err := json.Unmarshal([]byte(tt.in), &b); err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if b != tt.want || b.String() != tt.str {
			t.Errorf("%s: got %d (%s), want %d (%s)", tt.in, b, b, tt.want, tt.str)
		}
		out, _ := json.Marshal(b)
		var back ByteSize
		if err := json.Unmarshal(out, &back); err != nil || back != b {
			t.Errorf("%s: %s does not read back (%d, %v)", tt.in, out, back, err)
		}
	}
	var b ByteSize
	if err := json.Unmarshal([]byte(`"lots"`), &b); err == nil || !strings.Contains(err.Error(), "such as 1Mi") {
		t.Errorf("a bad size: got %v", err)
	}
}

func TestLimitsValidation(t *testing.T) {
	_, err := Parse("p.yaml", []byte(`apiVersion: flyt.dev/v1alpha1
kind: Platform
environments: [{name: dev, cluster: {inCluster: true}}]
teams: [{name: a}]
limits:
  fileSize: -1
  objects: -5
  yamlDepth: 0
`))
	if err == nil {
		t.Fatal("negative limits accepted")
	}
	for _, want := range []string{"p.yaml:6:13: limits.fileSize: must be a positive size", "p.yaml:7:12: limits.objects: must be positive"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "yamlDepth") {
		t.Errorf("0 (the default) refused: %v", err)
	}
}
