package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzReceiver sends arbitrary bodies, signatures, event types and content types through the
// GitHub receiver, half of them validly signed. Whatever arrives, the receiver must not panic, must answer JSON with a
// known status, and must never enqueue or even parse a body whose signature is not valid.
func FuzzReceiver(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "github", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed payloads: %v", err)
	}
	for _, file := range files {
		body, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		event, _, _ := strings.Cut(filepath.Base(file), "-")
		event = strings.TrimSuffix(event, ".json")
		f.Add(body, sign(platformSecret, body), event, "application/json", false, false)
		f.Add(body, sign(teamCSecret, body), event, "application/json", false, false)
		f.Add(body, "sha256=00", event, "", false, false)
		f.Add(body, "", event, "application/json", true, false)
	}
	push, _ := os.ReadFile(filepath.Join("testdata", "github", "push-branch.json"))
	form := []byte("payload=" + string(push))
	f.Add(form, sign(platformSecret, form), "push", "application/x-www-form-urlencoded", false, false)
	f.Add([]byte(`{"ref":"refs/heads/master","after":"x","repository":{"full_name":"Codertocat/Hello-World"}}`), "", "push", "application/json; charset=utf-8", true, false)
	generic := []byte(`{"repository": "Codertocat/Hello-World", "branch": "master", "commit": "` + pushedSHA + `"}`)
	f.Add(generic, sign(teamASecret, generic), "", "application/json", false, true)
	f.Add(generic, "", "", "application/json", true, true)

	rec := &recorder{}
	rc, err := NewReceiver(ReceiverOptions{Config: testConfig(), Enqueue: rec.enqueue, Log: discardLogger(), MaxBodyBytes: 1 << 20})
	if err != nil {
		f.Fatal(err)
	}
	known := map[int]bool{200: true, 202: true, 400: true, 401: true, 413: true, 415: true}

	// signBody makes the harness sign the (mutated) body with a valid secret, so that the
	// fuzzer also explores everything behind the signature check.
	// generic sends to /webhook/generic/team-a instead of GitHub's route.
	f.Fuzz(func(t *testing.T, body []byte, sig, event, contentType string, signBody, generic bool) {
		if signBody {
			sig = sign(platformSecret, body)
		}
		before := len(rec.refreshes())
		path, header := "/webhook/github", HeaderGitHubSignature256
		if generic {
			path, header = "/webhook/generic/team-a", HeaderFlytSignature256
		}
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set(header, sig)
		req.Header.Set(HeaderGitHubEvent, event)
		req.Header.Set("Content-Type", contentType)
		w := httptest.NewRecorder()
		rc.ServeHTTP(w, req)

		var resp Response
		if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
			t.Fatalf("answer is not JSON (status %d): %q", w.Code, w.Body.String())
		}
		if !known[w.Code] {
			t.Fatalf("unexpected status %d (%+v)", w.Code, resp)
		}
		if !validForAny(body, sig) {
			if w.Code != http.StatusUnauthorized && w.Code != http.StatusRequestEntityTooLarge {
				t.Fatalf("unsigned body got status %d (%+v), want 401", w.Code, resp)
			}
		}
		enqueued := len(rec.refreshes()) - before
		if enqueued != len(resp.Enqueued) {
			t.Fatalf("enqueued %d but answered %d", enqueued, len(resp.Enqueued))
		}
		if enqueued > 0 && (w.Code != http.StatusAccepted || resp.Outcome != OutcomeEnqueued) {
			t.Fatalf("enqueued with status %d outcome %q", w.Code, resp.Outcome)
		}
	})
}

func validForAny(body []byte, sig string) bool {
	for _, s := range testConfig().Secrets {
		mac := hmac.New(sha256.New, s.value)
		mac.Write(body)
		if strings.TrimSpace(sig) == "sha256="+hex.EncodeToString(mac.Sum(nil)) {
			return true
		}
	}
	return false
}
