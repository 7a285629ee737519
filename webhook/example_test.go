package webhook_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http/httptest"

	"github.com/flyt-platform/flyt/webhook"
)

// A CI system that is not GitHub asks flyt to refresh a team's repository through the generic
// route, signing the body the way GitHub signs its webhooks.
func ExampleReceiver_generic() {
	secret := []byte("team-a-shared-secret")
	rc, err := webhook.NewReceiver(webhook.ReceiverOptions{
		Config: webhook.Config{
			Secrets: []webhook.Secret{webhook.NewSecret("team-a", secret)},
			Repos:   []webhook.WatchedRepo{{Team: "team-a", URL: "https://github.com/org/app.git"}},
		},
		Enqueue: func(_ context.Context, r webhook.Refresh) error {
			fmt.Println("refresh", r.Repository, r.Branch, "for", r.Team)
			return nil
		},
		Log: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	body := []byte(`{"repository": "org/app", "branch": "main"}`)
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	req := httptest.NewRequest("POST", "/webhook/generic/team-a", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.HeaderFlytSignature256, "sha256="+hex.EncodeToString(mac.Sum(nil)))
	w := httptest.NewRecorder()
	rc.ServeHTTP(w, req)
	fmt.Println(w.Code, w.Body.String())
	// Output:
	// refresh https://github.com/org/app.git main for team-a
	// 202 {"outcome":"enqueued","enqueued":[{"repository":"https://github.com/org/app.git","team":"team-a","branch":"main","event":"generic/team-a"}]}
}
