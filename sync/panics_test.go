package sync

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/flyt-platform/flyt/history"
)

// TestWorkerPanicsAreThatKeysError: a panic in a worker's handling of one key outside render,
// apply and wait (which catch their own) ends that key's deploy as an error naming the panic,
// without a stack: one in the queue's bookkeeping as the worker takes the key, one while the
// applied rollout is handed off to wait beside the workers (that deploy is ended, not left in
// progress, and recorded once however often it is resynced). Without the worker's net either
// panic ends the test binary. The workers go on: the app beside them deploys, the key whose
// bookkeeping panicked deploys at the next resync, and the next commit deploys once the panic
// is gone.
func TestWorkerPanicsAreThatKeysError(t *testing.T) {
	h := newHarness(t)
	var queuePanicked, handOffPanics atomic.Bool
	handOffPanics.Store(true)
	h.ctrl.hook = func(step, subject string) {
		switch {
		case step == "queue" && subject == "taken" && queuePanicked.CompareAndSwap(false, true):
			panic("deliberately broken queue bookkeeping")
		case step == "hand-off" && subject == "handed" && handOffPanics.Load():
			panic("deliberately broken hand-off")
		}
	}

	sha := h.push(map[string]string{".nais/taken.yaml": app("taken", "registry.example/taken:1"),
		".nais/handed.yaml": app("handed", "registry.example/handed:1"),
		".nais/calm.yaml":   app("calm", "registry.example/calm:1")}, "two apps whose handling panics")
	for _, c := range []struct{ app, want string }{
		{"taken", "reconcile: panic: deliberately broken queue bookkeeping"},
		{"handed", "hand-off: panic: deliberately broken hand-off"},
	} {
		d := h.waitDeploy(c.app, "dev", sha)
		if d.State != history.StateError || !strings.Contains(d.Message, c.want) || strings.Contains(d.Message, "goroutine") {
			t.Errorf("%s: %s %q, want an error containing %q, without a stack", c.app, d.State, d.Message, c.want)
		}
	}
	if d := h.waitDeploy("calm", "dev", sha); d.State != history.StateSuccess {
		t.Errorf("calm beside them: %s %q, want success", d.State, d.Message)
	}
	if len(h.logs.matching("recovered from a panic", "deliberately broken hand-off", "goroutine ", "\"error\"")) == 0 {
		t.Error("the hand-off's panic was not logged as an error with its stack")
	}

	h.resyncIdle(2)
	if ds := h.deploys("handed", "dev"); len(ds) != 1 {
		t.Errorf("after two resyncs handed has %d deploys, want its one error: %+v", len(ds), ds)
	}
	if ds := h.deploys("taken", "dev"); len(ds) == 0 || ds[0].State != history.StateSuccess || ds[0].Commit != sha {
		t.Errorf("taken after resyncs: %+v, want its newest deploy a success of %s", ds, shortSHA(sha))
	}

	handOffPanics.Store(false)
	next := h.push(map[string]string{".nais/handed.yaml": app("handed", "registry.example/handed:2")}, "handed goes on")
	if d := h.waitDeploy("handed", "dev", next); d.State != history.StateSuccess {
		t.Errorf("handed's next commit after the panic: %s %q, want success", d.State, d.Message)
	}
}

// resyncIdle queues every app for a drift check n times, each time waiting until the
// controller is idle.
func (h *harness) resyncIdle(n int) {
	h.t.Helper()
	for range n {
		h.ctrl.ResyncAll()
		h.idle()
	}
}
