package render

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

// TestToUnstructuredMatchesConverter holds the fast conversion to what apimachinery's
// converter gives for every kind render generates, strings with escapes included.
func TestToUnstructuredMatchesConverter(t *testing.T) {
	app := &Application{Metadata: ObjectMeta{Name: "conv", Labels: map[string]string{"x": "y"}}, Spec: AppSpec{
		Image:     "ghcr.io/example/conv:1",
		Command:   []string{"/bin/sh", "-c", "echo \"hi\" & exit 0 \u00e6\u2028\t"},
		Env:       []EnvVar{{Name: "Q", Value: `a\b"c<d>`}, {Name: "E", Value: ""}},
		FilesFrom: []FilesFrom{{ConfigMap: "cm"}, {EmptyDir: &EmptyDir{}, MountPath: "/x"}},
		Liveness:  &Probe{Path: "/alive"}, Prometheus: &Prometheus{Enabled: true},
		Replicas:  &Replicas{Min: ptr.To[int32](2), Max: ptr.To[int32](5), CPUThresholdPercentage: 80},
		Ingresses: []string{"https://conv.example.no/api"},
		AccessPolicy: &AccessPolicy{Inbound: &Inbound{Rules: []Rule{{Application: "*", Namespace: "*"}}},
			Outbound: &Outbound{External: []External{{IPv4: "10.0.0.1", Ports: []Port{{Port: 443}}}}}},
		Resources: &Resources{Limits: &ResourceList{CPU: "1500m", Memory: "1.5Gi"}},
	}}
	env := &Environment{Name: "dev", Cluster: "dev", Team: "t", Namespace: "t", Ingresses: ingressDomains("example.no")}
	g := &generator{app: app, env: env, image: app.Spec.Image, pos: func([]string, bool) (string, int, int) { return "", 0, 0 }}
	objs := g.objects()
	if len(g.errs) > 0 {
		t.Fatal(g.errs)
	}
	if len(objs) != 7 {
		t.Fatalf("got %d objects, want 7 (every generated kind)", len(objs))
	}
	for _, o := range objs {
		want, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			t.Fatal(err)
		}
		delete(want, "status")
		dropNullTimestamps(want)
		got, err := toUnstructured(o)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got.Object); diff != "" {
			t.Errorf("%T (-converter +fast):\n%s", o, diff)
		}
	}
}
