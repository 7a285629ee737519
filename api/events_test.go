package api

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flyt-platform/flyt/history"
)

// sseEvent is one parsed server-sent event.
type sseEvent struct {
	id, event string
	data      history.StatusEvent
}

// sseReader reads events from a live stream, skipping comments and retry lines.
type sseReader struct {
	t    *testing.T
	resp *http.Response
	sc   *bufio.Scanner
	// comments counts comment lines (heartbeats) seen.
	comments int
}

func openStream(t *testing.T, url, lastID string) *sseReader {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET events = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return &sseReader{t: t, resp: resp, sc: bufio.NewScanner(resp.Body)}
}

func (r *sseReader) next() sseEvent {
	r.t.Helper()
	var ev sseEvent
	for r.sc.Scan() {
		line := r.sc.Text()
		switch {
		case line == "":
			if ev.id != "" {
				return ev
			}
		case strings.HasPrefix(line, ":"):
			r.comments++
		case strings.HasPrefix(line, "id: "):
			ev.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			ev.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.data); err != nil {
				r.t.Fatalf("event data %q: %v", line, err)
			}
		}
	}
	r.t.Fatalf("stream ended: %v", r.sc.Err())
	return ev
}

// nextComment reads until a comment line arrives.
func (r *sseReader) nextComment() {
	r.t.Helper()
	for r.sc.Scan() {
		if strings.HasPrefix(r.sc.Text(), ":") {
			return
		}
	}
	r.t.Fatalf("stream ended: %v", r.sc.Err())
}

func TestEvents(t *testing.T) {
	st := openStore(t)
	srv := serve(t, Options{Store: st, EventPoll: 20 * time.Millisecond})
	ctx := t.Context()
	create := func(app string) int64 {
		id, err := st.CreateDeploy(ctx, &history.Deploy{App: app, Team: "dagpenger", Environment: "dev", Cluster: "dev-gcp",
			Repository: "https://github.com/navikt/" + app, Commit: sha('a'), Trigger: history.TriggerPush})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	old := create("before-the-stream") // recorded before anyone listens: not streamed

	stream := openStream(t, srv.URL+"/api/v1/events", "")
	// Five status rows after subscribing: queued, in_progress, success of one deploy, then
	// queued and failure of another.
	a := create("dp-behandling")
	for _, s := range []history.State{history.StateInProgress, history.StateSuccess} {
		if _, err := st.AppendStatus(ctx, a, history.Status{State: s, Step: "wait"}); err != nil {
			t.Fatal(err)
		}
	}
	b := create("dp-mottak")
	if _, err := st.AppendStatus(ctx, b, history.Status{State: history.StateFailure, Message: "crash loop"}); err != nil {
		t.Fatal(err)
	}
	type row struct {
		ID    int64
		App   string
		State history.State
	}
	want := []row{{a, "dp-behandling", history.StateQueued}, {a, "dp-behandling", history.StateInProgress},
		{a, "dp-behandling", history.StateSuccess}, {b, "dp-mottak", history.StateQueued}, {b, "dp-mottak", history.StateFailure}}

	var got []row
	var lastID string
	for range 2 {
		ev := stream.next()
		if ev.event != "status" || ev.id != strconv.FormatInt(ev.data.Seq, 10) {
			t.Fatalf("event %+v: want type status and the sequence number as ID", ev)
		}
		got, lastID = append(got, row{ev.data.DeployID, ev.data.App, ev.data.State}), ev.id
	}
	stream.resp.Body.Close() // the client goes away mid-stream

	resumed := openStream(t, srv.URL+"/api/v1/events", lastID)
	for range 3 {
		ev := resumed.next()
		got = append(got, row{ev.data.DeployID, ev.data.App, ev.data.State})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events across a reconnect (-want +got):\n%s", diff)
	}
	for _, r := range got {
		if r.ID == old {
			t.Errorf("deploy %d from before the subscription was streamed", old)
		}
	}

	// From the start: every row, beginning with the one recorded before the first stream.
	all := openStream(t, srv.URL+"/api/v1/events", "0")
	if ev := all.next(); ev.data.DeployID != old {
		t.Errorf("first event from 0 is of deploy %d, want %d", ev.data.DeployID, old)
	}

	status, body := call(t, "GET", srv.URL+"/api/v1/events", "", "Last-Event-ID", "yesterday")
	if status != http.StatusBadRequest || !strings.Contains(string(body), "Last-Event-ID") {
		t.Errorf("bad Last-Event-ID = %d %s, want 400 naming the header", status, body)
	}
}

// TestEventsHeartbeat checks that an idle stream sends heartbeat comments, and that it
// outlives the server's read and write timeouts.
func TestEventsHeartbeat(t *testing.T) {
	srv := httptest.NewUnstartedServer(NewServer(Options{Store: openStore(t), EventPoll: time.Hour, Heartbeat: 300 * time.Millisecond}).Handler())
	srv.Config.ReadTimeout = 50 * time.Millisecond
	srv.Config.WriteTimeout = 50 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	stream := openStream(t, srv.URL+"/api/v1/events", "")
	done := make(chan struct{})
	go func() {
		defer close(done)
		stream.nextComment()
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("no heartbeat comment within 5s on an idle stream")
	}
}
