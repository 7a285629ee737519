package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// eventBatch is how many status rows one poll of the store reads at most.
const eventBatch = 500

// events streams deploy status changes as server-sent events. Each event has the status row's
// sequence number as its ID, type "status" and a history.StatusEvent as JSON data. A client
// that reconnects with Last-Event-ID gets exactly the rows after that one; without it the
// stream starts now. The store is polled, so every replica can serve the stream.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	rc := http.NewResponseController(w)
	var after int64
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			s.fail(w, r, &badRequest{fmt.Sprintf("header Last-Event-ID: %q is not an event ID", v)})
			return
		}
		after = n
	} else {
		n, err := s.opts.Store.LastSeq(ctx)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		after = n
	}
	// The server's WriteTimeout (and ReadTimeout) bound whole responses; a stream lives as long
	// as its client, so it lifts both deadlines.
	_ = rc.SetReadDeadline(time.Time{}) // not every connection supports deadlines; then none is set
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // tell nginx-like proxies not to buffer the stream
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil {
		return
	}
	if err := rc.Flush(); err != nil {
		return // streaming is not supported by this connection, or the client went away
	}

	poll := time.NewTicker(s.opts.EventPoll)
	defer poll.Stop()
	heartbeat := time.NewTicker(s.opts.Heartbeat)
	defer heartbeat.Stop()
	for {
		evs, err := s.opts.Store.StatusesSince(ctx, after, eventBatch)
		if err != nil {
			if ctx.Err() == nil {
				s.opts.Log.ErrorContext(ctx, "event stream stopped", "error", err)
			}
			return
		}
		for _, ev := range evs {
			data, err := json.Marshal(ev)
			if err != nil {
				s.opts.Log.ErrorContext(ctx, "encode status event", "seq", ev.Seq, "error", err)
				return
			}
			if _, err := fmt.Fprintf(w, "id: %d\nevent: status\ndata: %s\n\n", ev.Seq, data); err != nil {
				return
			}
			after = ev.Seq
		}
		if len(evs) > 0 {
			_ = rc.Flush() // a failed flush shows up as a failed write next
			heartbeat.Reset(s.opts.Heartbeat)
		}
		if len(evs) == eventBatch {
			continue // more are waiting
		}
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
		case <-heartbeat.C:
			if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil {
				return
			}
			_ = rc.Flush() // a failed flush shows up as a failed write next
		}
	}
}
