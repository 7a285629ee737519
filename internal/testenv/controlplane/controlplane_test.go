package controlplane

import (
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

var plane *Plane

func TestMain(m *testing.M) { os.Exit(Main(m, Options{Nodes: 2}, &plane)) }

func deployment(ns, name, image string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas:                ptr.To[int32](2),
			ProgressDeadlineSeconds: ptr.To[int32](5),
			Selector:                &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: image}}},
			},
		},
	}
}

// waitFor polls the Deployment until cond holds or the deadline passes, and returns the last
// version seen.
func waitFor(t *testing.T, d *appsv1.Deployment, within time.Duration, cond func(*appsv1.Deployment) bool) (*appsv1.Deployment, bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	got := &appsv1.Deployment{}
	for {
		if err := plane.Client().Get(t.Context(), client.ObjectKeyFromObject(d), got); err != nil {
			t.Fatalf("get deployment: %v", err)
		}
		if cond(got) {
			return got, true
		}
		if time.Now().After(deadline) {
			return got, false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func condition(d *appsv1.Deployment, typ appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == typ {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

func TestDeploymentBecomesAvailable(t *testing.T) {
	ns := plane.Namespace(t)
	d := deployment(ns, "hello", "registry.example/hello:1")
	if err := plane.Client().Create(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	got, ok := waitFor(t, d, time.Minute, func(d *appsv1.Deployment) bool {
		c := condition(d, appsv1.DeploymentAvailable)
		return c != nil && c.Status == corev1.ConditionTrue && d.Status.AvailableReplicas == 2
	})
	if !ok {
		t.Fatalf("deployment never became Available: status %+v", got.Status)
	}
}

func TestCrashLoopKeepsDeploymentUnavailable(t *testing.T) {
	tests := []struct {
		name     string
		mutate   func(*appsv1.Deployment)
		wantWait string
	}{
		{"image", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "registry.example/crashloop:1" }, "CrashLoopBackOff"},
		{"annotation", func(d *appsv1.Deployment) {
			d.Spec.Template.Annotations = map[string]string{SimulateAnnotation: SimulateCrashLoop}
		}, "CrashLoopBackOff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := plane.Namespace(t)
			d := deployment(ns, "broken", "registry.example/broken:1")
			tt.mutate(d)
			if err := plane.Client().Create(t.Context(), d); err != nil {
				t.Fatal(err)
			}
			// The Deployment reports the failure: its progress deadline passes.
			got, ok := waitFor(t, d, time.Minute, func(d *appsv1.Deployment) bool {
				c := condition(d, appsv1.DeploymentProgressing)
				return c != nil && c.Status == corev1.ConditionFalse
			})
			if !ok {
				t.Fatalf("deployment never reported a failed rollout: status %+v", got.Status)
			}
			if c := condition(got, appsv1.DeploymentProgressing); c.Reason != "ProgressDeadlineExceeded" {
				t.Errorf("Progressing reason = %q, want ProgressDeadlineExceeded", c.Reason)
			}
			if got.Status.AvailableReplicas != 0 {
				t.Errorf("available replicas = %d, want 0", got.Status.AvailableReplicas)
			}
			// And the pods say why.
			var pods corev1.PodList
			if err := plane.Client().List(t.Context(), &pods, client.InNamespace(ns)); err != nil {
				t.Fatal(err)
			}
			if len(pods.Items) == 0 {
				t.Fatal("no pods were created")
			}
			for _, p := range pods.Items {
				var reasons []string
				for _, cs := range p.Status.ContainerStatuses {
					if cs.State.Waiting != nil {
						reasons = append(reasons, cs.State.Waiting.Reason)
					}
				}
				if !strings.Contains(strings.Join(reasons, ","), tt.wantWait) {
					t.Errorf("pod %s waiting reasons = %v, want %s", p.Name, reasons, tt.wantWait)
				}
			}
		})
	}
}

func TestDirHonoursOverride(t *testing.T) {
	t.Setenv("FLYT_CONTROLPLANE_DIR", "/somewhere/else")
	got, err := Dir()
	if err != nil || got != "/somewhere/else" {
		t.Fatalf("Dir() = %q, %v", got, err)
	}
	t.Setenv("FLYT_CONTROLPLANE_DIR", "")
	t.Setenv("FLYT_CONTROLPLANE_CACHE", "/cache")
	got, _ = Dir()
	v := Versions()
	want := "/cache/k8s-" + v["K8S_VERSION"] + "-etcd-" + v["ETCD_VERSION"] + "-kwok-" + v["KWOK_VERSION"]
	if got != want {
		t.Fatalf("Dir() = %q, want %q", got, want)
	}
}
