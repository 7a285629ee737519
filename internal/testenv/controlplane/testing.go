package controlplane

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Main starts a control plane for a test package, runs its tests and stops the plane. Use it
// from TestMain:
//
//	var plane *controlplane.Plane
//
//	func TestMain(m *testing.M) { os.Exit(controlplane.Main(m, controlplane.Options{}, &plane)) }
func Main(m *testing.M, opts Options, plane **Plane) int {
	p, err := Start(context.Background(), opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "controlplane:", err)
		return 1
	}
	*plane = p
	code := m.Run()
	if err := p.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "controlplane:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

var nsCounter atomic.Int64

// Namespace creates a namespace unique to the test and deletes it when the test ends, so tests
// sharing a plane do not see each other's objects.
func (p *Plane) Namespace(t testing.TB) string {
	t.Helper()
	name := strings.ToLower(t.Name())
	name = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, name)
	if len(name) > 40 {
		name = name[:40]
	}
	name = fmt.Sprintf("%s-%d", strings.Trim(name, "-"), nsCounter.Add(1))
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := p.client.Create(t.Context(), ns); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		// The test's context is already cancelled when cleanups run.
		_ = p.client.Delete(context.Background(), ns)
	})
	return name
}
