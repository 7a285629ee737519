package report

import (
	"bytes"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// clock is a settable clock that the fake GitHub's handler goroutine may read while the test
// advances it.
type clock struct{ unixNano atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.unixNano.Store(t.UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.unixNano.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.unixNano.Add(int64(d)) }

// syncBuffer collects a logger's output from the reporter's worker for the test to read.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// counterValue reads a counter (a bad one reads as 0, which every assertion on it refuses).
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}
