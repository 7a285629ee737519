package webhook

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkReceiverPush measures one verified push: read the body, HMAC it under every valid
// secret, parse it, match it against the watched repositories and enqueue one refresh.
func BenchmarkReceiverPush(b *testing.B) {
	body := payload(b, "push-branch.json")
	sig := sign(teamASecret, body)
	rc, err := NewReceiver(ReceiverOptions{
		Config:  testConfig(),
		Enqueue: func(context.Context, Refresh) error { return nil },
		Log:     discardLogger(),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/webhook/github", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(HeaderGitHubEvent, "push")
		req.Header.Set(HeaderGitHubSignature256, sig)
		w := httptest.NewRecorder()
		rc.ServeHTTP(w, req)
		if w.Code != http.StatusAccepted {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
