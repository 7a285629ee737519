package render

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
)

// TestConvertWritesCanonical holds the canonical form convert writes while converting to what
// Canonical writes for the maps it returns, and the images it collects to those in them, for
// every kind render generates, strings with escapes included.
func TestConvertWritesCanonical(t *testing.T) {
	app := &Application{Metadata: ObjectMeta{Name: "conv", Labels: map[string]string{"x": "y", "a<b": "c&d"}}, Spec: AppSpec{
		Image:     "ghcr.io/example/conv:1",
		Command:   []string{"/bin/sh", "-c", "echo \"hi\" & exit 0 \u00e6\u2028\t"},
		Env:       []EnvVar{{Name: "Q", Value: `a\b"c<d>`}, {Name: "E", Value: "\xff"}},
		FilesFrom: []FilesFrom{{ConfigMap: "cm"}, {EmptyDir: &EmptyDir{Medium: "Memory"}, MountPath: "/x"}, {PersistentVolumeClaim: "data"}},
		Liveness:  &Probe{Path: "/alive"}, Prometheus: &Prometheus{Enabled: true},
		Replicas:  &Replicas{Min: ptr.To[int32](2), Max: ptr.To[int32](5), CPUThresholdPercentage: 80},
		Ingresses: []string{"https://conv.example.no/api", "https://conv.example.no/b"},
		AccessPolicy: &AccessPolicy{Inbound: &Inbound{Rules: []Rule{{Application: "*", Namespace: "*"}, {Application: "a", Namespace: "n"}}},
			Outbound: &Outbound{Rules: []Rule{{Application: "b"}}, External: []External{{IPv4: "10.0.0.1", Ports: []Port{{Port: 443}}}}}},
		Resources:   &Resources{Limits: &ResourceList{CPU: "1500m", Memory: "1.5Gi"}},
		PreStopHook: &PreStopHook{Exec: &ExecAction{Command: []string{"stop"}}},
	}}
	env := &Environment{Name: "dev", Cluster: "dev", Team: "t", Namespace: "t", Ingresses: ingressDomains("example.no")}
	g := &generator{app: app, env: env, image: app.Spec.Image, pos: func([]string, bool) (string, int, int) { return "", 0, 0 }}
	objs := g.objects()
	if len(g.errs) > 0 {
		t.Fatal(g.errs)
	}
	for _, o := range objs {
		c := canonicalOut{images: map[string]bool{}}
		u, err := convert(o, &c)
		if err != nil {
			t.Fatal(err)
		}
		want, err := Canonical([]*unstructured.Unstructured{u})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(want), c.b.String()+"\n"); diff != "" {
			t.Errorf("%T (-Canonical +convert):\n%s", o, diff)
		}
		_, wantImages, err := digest([]*unstructured.Unstructured{u}, nil, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(wantImages, sortedKeys(c.images)); len(wantImages)+len(c.images) > 0 && diff != "" {
			t.Errorf("%T images (-digest +convert):\n%s", o, diff)
		}
	}
}
