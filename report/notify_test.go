package report

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flyt-platform/flyt/history"
)

// notifyHit is one notification a local chat server received.
type notifyHit struct {
	Path string
	Msg  slackMessage
}

func TestReporterNotifiesFinishedDeploys(t *testing.T) {
	hits := make(chan notifyHit, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m slackMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("notification is not JSON: %q", b)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		hits <- notifyHit{Path: r.URL.Path, Msg: m}
		if strings.Contains(r.URL.Path, "gone") {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)

	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	const secretPath = "/services/T000/B000/XXXXsecretXXXX"
	n := NewNotifier(NotifierOptions{
		Targets: map[string][]string{
			"team-a": {srv.URL + secretPath, srv.URL + "/gone/secret-too"},
			"team-b": {srv.URL + "/team-b"},
		},
		ExternalURL: "https://flyt.example",
		Retry:       fastRetry(),
		Metrics:     m,
	})
	gaveUp := make(chan error, 10)
	r := NewReporter(ReporterOptions{
		Notifier: n,
		Metrics:  m,
		Log:      discardLogger(),
		OnGiveUp: func(_ DeployEvent, err error) { gaveUp <- err },
	})
	startReporter(t, r)

	failed := testEvent(history.StateFailure)
	failed.Message = "rollout of hello exceeded its progress deadline"
	for _, ev := range []DeployEvent{testEvent(history.StateQueued), testEvent(history.StateInProgress), failed} {
		r.Report(ev)
	}
	var got []notifyHit
	for range 2 {
		select {
		case h := <-hits:
			got = append(got, h)
		case <-time.After(10 * time.Second):
			t.Fatalf("got %d notifications, want 2", len(got))
		}
	}
	msg := slackMessage{
		Text: "hello failed in dev (https://flyt.example/deploys/42)",
		Attachments: []slackAttachment{{
			Color:     "#d40e0d",
			Title:     "hello → dev: failure",
			TitleLink: "https://flyt.example/deploys/42",
			Text:      "rollout of hello exceeded its progress deadline",
			Fields:    []slackField{{Title: "Team", Value: "team-a", Short: true}, {Title: "Commit", Value: deploySHA[:12], Short: true}},
			Footer:    "flyt",
			TS:        testEvent(history.StateFailure).Time.Unix(),
		}},
	}
	want := []notifyHit{{Path: secretPath, Msg: msg}, {Path: "/gone/secret-too", Msg: msg}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("notifications (-want +got):\n%s", diff)
	}
	select {
	case err := <-gaveUp:
		if !errors.Is(err, ErrRejected) {
			t.Errorf("give-up: %v, want ErrRejected", err)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("give-up error shows the notification URL: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the refused notification was not given up on")
	}
	if got := counterValue(m.Notifications.WithLabelValues("success")); got != 1 {
		t.Errorf("notifications success = %v, want 1", got)
	}
	if got := counterValue(m.Notifications.WithLabelValues("rejected")); got != 1 {
		t.Errorf("notifications rejected = %v, want 1", got)
	}
}

func TestStateColor(t *testing.T) {
	got := map[history.State]string{}
	for _, s := range []history.State{history.StateSuccess, history.StateFailure, history.StateError, history.StateInactive} {
		got[s] = stateColor(s)
	}
	want := map[history.State]string{history.StateSuccess: "#2eb886", history.StateFailure: "#d40e0d", history.StateError: "#e8912d", history.StateInactive: "#9e9e9e"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("colours (-want +got):\n%s", diff)
	}
}

func TestCommitStateMapping(t *testing.T) {
	got := map[history.State]string{}
	for _, s := range []history.State{history.StateQueued, history.StateInProgress, history.StateSuccess, history.StateFailure, history.StateError, history.StateInactive} {
		got[s] = commitState(s)
	}
	want := map[history.State]string{
		history.StateQueued: "pending", history.StateInProgress: "pending", history.StateSuccess: "success",
		history.StateFailure: "failure", history.StateError: "error", history.StateInactive: "error",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("commit states (-want +got):\n%s", diff)
	}
}

func TestDeploymentStatusDescriptionIsCut(t *testing.T) {
	api := newFakeGitHub(t)
	g := newTestGitHub(t, api, nil)
	ev := testEvent(history.StateError)
	ev.Message = strings.Repeat("å", 300)
	if err := g.CreateDeploymentStatus(t.Context(), 7, ev); err != nil {
		t.Fatal(err)
	}
	c := api.wait(t, 1)[0]
	d, _ := c.Body["description"].(string)
	if n := len([]rune(d)); n != githubDescriptionLimit || !strings.HasSuffix(d, "…") {
		t.Errorf("description has %d characters (%q), want %d ending in …", n, d, githubDescriptionLimit)
	}
}
