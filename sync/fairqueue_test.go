package sync

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/util/workqueue"
)

// teamByPrefix counts an app named "a1" against team "a".
func teamByPrefix(k Key) string { return k.App[:1] }

func newTestQueue(perTeam int) *fairQueue {
	return newFairQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[Key](time.Millisecond, time.Second), perTeam, teamByPrefix)
}

// tryGet takes the key Get hands out within wait; ok is false when none came. A Get left
// waiting takes the next key added, so tests call it only where they expect a key, or last.
func tryGet(q *fairQueue, wait time.Duration) (k Key, ok bool) {
	ch := make(chan Key, 1)
	go func() {
		if k, shutdown := q.Get(); !shutdown {
			ch <- k
		}
	}()
	select {
	case k := <-ch:
		return k, true
	case <-time.After(wait):
		return Key{}, false
	}
}

func mustGet(t *testing.T, q *fairQueue) string {
	t.Helper()
	k, ok := tryGet(q, 5*time.Second)
	if !ok {
		t.Fatal("Get handed out nothing")
	}
	return k.App
}

// TestFairQueueRoundRobinsAndCapsTeams: teams with queued keys are served in turn, and a team
// with many queued keys holds no more than its share of workers; when one of its keys is
// done, its next key may go.
func TestFairQueueRoundRobinsAndCapsTeams(t *testing.T) {
	q := newTestQueue(2)
	defer q.ShutDown()
	for _, app := range []string{"a1", "a2", "a3", "a4", "b1", "b2", "c1"} {
		q.Add(Key{app, "dev"})
	}
	var got []string
	for range 5 {
		got = append(got, mustGet(t, q))
	}
	if diff := cmp.Diff([]string{"a1", "b1", "c1", "a2", "b2"}, got); diff != "" {
		t.Fatalf("order handed out (-want +got):\n%s", diff)
	}
	if q.Len() != 2 {
		t.Fatalf("Len() = %d, want a3 and a4 queued", q.Len())
	}
	// Team a holds two workers: a3 waits, however many workers are idle.
	next := make(chan string, 1)
	go func() { k, _ := q.Get(); next <- k.App }()
	select {
	case k := <-next:
		t.Fatalf("handed out %s while two of team a's keys were being reconciled", k)
	case <-time.After(200 * time.Millisecond):
	}
	q.Done(Key{"b1", "dev"}) // another team's worker is free: a is still at its share
	select {
	case k := <-next:
		t.Fatalf("handed out %s when team b's key was done", k)
	case <-time.After(200 * time.Millisecond):
	}
	q.Done(Key{"a1", "dev"})
	select {
	case k := <-next:
		if k != "a3" {
			t.Fatalf("after a1 was done, handed out %s, want a3", k)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a3 was not handed out when a1 was done")
	}
}

// TestFairQueueKeepsWorkqueueGuarantees: a key added many times is handed out once; a key
// added while it is being reconciled is not handed to a second worker, but comes back once
// the first is done; a delayed add of a key keeps the earliest; shutting down ends every Get.
func TestFairQueueKeepsWorkqueueGuarantees(t *testing.T) {
	q := newTestQueue(4)
	x := Key{"x1", "dev"}
	for range 5 {
		q.Add(x)
	}
	if q.Len() != 1 {
		t.Fatalf("five adds of one key: Len() = %d, want 1", q.Len())
	}
	if got := mustGet(t, q); got != "x1" {
		t.Fatalf("got %s", got)
	}
	q.Add(x)
	q.Add(x)
	if q.Len() != 0 {
		t.Fatalf("a key added while being reconciled is queued (Len() = %d) for a second worker", q.Len())
	}
	q.Done(x)
	if q.Len() != 1 {
		t.Fatalf("after its reconcile, a key added meanwhile is not queued again (Len() = %d)", q.Len())
	}
	if got := mustGet(t, q); got != "x1" {
		t.Fatalf("got %s, want x1 again", got)
	}
	q.Done(x)

	y := Key{"y1", "dev"}
	q.AddAfter(y, time.Hour)
	q.AddAfter(y, 50*time.Millisecond)
	q.AddAfter(y, time.Hour) // later than the pending one: ignored
	if got := mustGet(t, q); got != "y1" {
		t.Fatalf("got %s, want y1 after its shortest delay", got)
	}
	q.Done(y)

	done := make(chan bool, 1)
	go func() { _, shutdown := q.Get(); done <- shutdown }()
	q.ShutDown()
	select {
	case shutdown := <-done:
		if !shutdown {
			t.Fatal("Get after ShutDown handed out a key")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ShutDown did not end a waiting Get")
	}
	q.Add(x)
	if q.Len() != 0 {
		t.Error("a key added after ShutDown was queued")
	}
}
