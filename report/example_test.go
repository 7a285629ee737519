package report_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/flyt-platform/flyt/history"
	"github.com/flyt-platform/flyt/report"
)

// A team's chat channel hears about a deploy once it has finished: the Notifier posts
// Slack-compatible JSON to each of the team's notification URLs, and stays quiet while the
// deploy is still on its way.
func ExampleNotifier() {
	chat := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msg struct {
			Text string `json:"text"`
		}
		_ = json.NewDecoder(r.Body).Decode(&msg)
		fmt.Println("chat:", msg.Text)
	}))
	defer chat.Close()

	n := report.NewNotifier(report.NotifierOptions{
		Targets:     map[string][]string{"team-a": {chat.URL + "/hooks/team-a"}},
		ExternalURL: "https://flyt.example.test",
	})
	for _, state := range []history.State{history.StateInProgress, history.StateSuccess} {
		ev := report.DeployEvent{DeployID: 42, App: "hello", Team: "team-a", Environment: "dev", State: state}
		if err := n.Notify(context.Background(), ev); err != nil {
			fmt.Println(err)
		}
	}
	// Output:
	// chat: hello deployed to dev (https://flyt.example.test/deploys/42)
}
