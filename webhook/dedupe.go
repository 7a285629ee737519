package webhook

import (
	"container/list"
	"sync"
	"time"
)

// deliverySet remembers recently handled delivery IDs so that a redelivery (GitHub retries, a
// user pressing "Redeliver") is acknowledged without refreshing again. It is bounded twice: by
// capacity (the oldest entry goes first) and by age (entries older than ttl are forgotten), so
// a flood of unique IDs costs bounded memory.
type deliverySet struct {
	capacity int
	ttl      time.Duration
	now      func() time.Time

	// Guards the fields below.
	mu    sync.Mutex
	order *list.List // of *deliveryEntry, oldest at the front
	byID  map[string]*list.Element
}

type deliveryEntry struct {
	id   string
	seen time.Time
}

func newDeliverySet(capacity int, ttl time.Duration, now func() time.Time) *deliverySet {
	return &deliverySet{
		capacity: capacity,
		ttl:      ttl,
		now:      now,
		order:    list.New(),
		byID:     make(map[string]*list.Element),
	}
}

// add records id and reports whether it was new. An id seen within ttl is a duplicate.
func (d *deliverySet) add(id string) bool {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expire(now)
	if _, ok := d.byID[id]; ok {
		return false
	}
	d.byID[id] = d.order.PushBack(&deliveryEntry{id: id, seen: now})
	for d.order.Len() > d.capacity {
		d.removeElement(d.order.Front())
	}
	return true
}

// forget drops id, so that a delivery that could not be handled may be redelivered.
func (d *deliverySet) forget(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.byID[id]; ok {
		d.removeElement(e)
	}
}

func (d *deliverySet) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.order.Len()
}

// expire drops entries older than ttl; they sit at the front because entries are appended in
// time order.
func (d *deliverySet) expire(now time.Time) {
	for e := d.order.Front(); e != nil; e = d.order.Front() {
		if now.Sub(e.Value.(*deliveryEntry).seen) < d.ttl {
			return
		}
		d.removeElement(e)
	}
}

func (d *deliverySet) removeElement(e *list.Element) {
	delete(d.byID, e.Value.(*deliveryEntry).id)
	d.order.Remove(e)
}
