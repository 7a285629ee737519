package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
)

// Test secrets. They are only ever used to sign test payloads.
var (
	platformSecret = []byte("platform-secret-1")
	rotatedSecret  = []byte("platform-secret-2")
	teamASecret    = []byte("team-a-secret")
	teamBSecret    = []byte("team-b-secret")
	teamCSecret    = []byte("team-c-secret")
)

// The "after" revision of push-branch.json.
const pushedSHA = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"

// testConfig watches the recorded payloads' repository (Codertocat/Hello-World) in several
// spellings, by several teams, and some repositories no payload names.
func testConfig() Config {
	return Config{
		Secrets: []Secret{
			NewSecret("", platformSecret),
			NewSecret("", rotatedSecret),
			NewSecret("team-a", teamASecret),
			NewSecret("team-b", teamBSecret),
			NewSecret("team-c", teamCSecret),
		},
		Repos: []WatchedRepo{
			// GitHub's ssh_url spelling, on the pushed branch.
			{Team: "team-a", URL: "git@github.com:Codertocat/Hello-World.git", Branch: "master"},
			// Same repository, other case and no .git, but another branch (default main).
			{Team: "team-b", URL: "https://github.com/codertocat/hello-world"},
			// ssh:// spelling of another repository (the workflow_run payload's).
			{Team: "team-c", URL: "ssh://git@github.com/octo-org/octo-repo.git", Branch: "master"},
			// Same owner/name on another host: must never match github.com payloads.
			{Team: "team-d", URL: "https://github.example.com/Codertocat/Hello-World.git", Branch: "master"},
			// A local path: no webhook can name it.
			{Team: "team-e", URL: "/srv/git/hello-world", Branch: "master"},
		},
	}
}

func payload(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "github", name))
	if err != nil {
		t.Fatalf("read payload: %v", err)
	}
	return b
}

func sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// recorder collects what the receiver enqueues.
type recorder struct {
	mu   sync.Mutex
	got  []Refresh
	fail error
}

func (r *recorder) enqueue(_ context.Context, rf Refresh) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.got = append(r.got, rf)
	return nil
}

func (r *recorder) refreshes() []Refresh {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Refresh(nil), r.got...)
}

// fakeClock is a settable clock for deduplication.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type fixture struct {
	rc      *Receiver
	rec     *recorder
	clock   *fakeClock
	metrics *Metrics
	logs    *bytes.Buffer
}

func newFixture(t testing.TB, cfg Config, mutate ...func(*ReceiverOptions)) *fixture {
	t.Helper()
	f := &fixture{rec: &recorder{}, clock: &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}, logs: &bytes.Buffer{}}
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	f.metrics = m
	opts := ReceiverOptions{
		Config:  cfg,
		Enqueue: f.rec.enqueue,
		Log:     slog.New(slog.NewJSONHandler(&lockedWriter{w: f.logs}, nil)),
		Metrics: m,
		Now:     f.clock.Now,
	}
	for _, fn := range mutate {
		fn(&opts)
	}
	f.rc, err = NewReceiver(opts)
	if err != nil {
		t.Fatalf("new receiver: %v", err)
	}
	return f
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// do sends one request through the receiver and decodes its JSON answer.
func (f *fixture) do(t testing.TB, path string, body []byte, headers map[string]string) (int, Response) {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	f.rc.ServeHTTP(w, req)
	var resp Response
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
		t.Fatalf("answer is not JSON (status %d): %q", w.Code, w.Body.String())
	}
	return w.Code, resp
}

func github(event, delivery, sig string) map[string]string {
	h := map[string]string{HeaderGitHubEvent: event, HeaderGitHubDelivery: delivery}
	if sig != "" {
		h[HeaderGitHubSignature256] = sig
	}
	return h
}

func TestReceiverGitHubRecordedPayloads(t *testing.T) {
	teamARefresh := Refresh{
		Repository: "git@github.com:Codertocat/Hello-World.git",
		Team:       "team-a",
		Branch:     "master",
		Commit:     pushedSHA,
		Pusher:     "Codertocat",
		DeliveryID: "d-1",
		Event:      "push",
	}
	formBody := func(b []byte) []byte { return []byte(url.Values{"payload": {string(b)}}.Encode()) }
	tampered := func(b []byte) []byte {
		c := bytes.Clone(b)
		i := bytes.Index(c, []byte(pushedSHA))
		c[i] = 'f' // a different commit, same length
		return c
	}
	tests := []struct {
		name        string
		file        string
		event       string
		contentType string
		// body turns the recorded payload into what is sent; nil sends it as is.
		body func([]byte) []byte
		// sig signs what is sent (the recorded payload when signRecorded).
		sig          func(body []byte) map[string]string
		signRecorded bool
		wantStatus   int
		wantOutcome  Outcome
		wantReason   string
		want         []Refresh
	}{
		{
			name: "push to watched branch, platform secret", file: "push-branch.json", event: "push",
			sig: func(b []byte) map[string]string {
				return map[string]string{HeaderGitHubSignature256: sign(platformSecret, b)}
			},
			wantStatus: http.StatusAccepted, wantOutcome: OutcomeEnqueued, want: []Refresh{teamARefresh},
		},
		{
			name: "push signed with the rotated platform secret", file: "push-branch.json", event: "push",
			sig: func(b []byte) map[string]string {
				return map[string]string{HeaderGitHubSignature256: sign(rotatedSecret, b)}
			},
			wantStatus: http.StatusAccepted, wantOutcome: OutcomeEnqueued, want: []Refresh{teamARefresh},
		},
		{
			name: "push signed with the owning team's secret", file: "push-branch.json", event: "push",
			sig: func(b []byte) map[string]string {
				return map[string]string{HeaderGitHubSignature256: sign(teamASecret, b)}
			},
			wantStatus: http.StatusAccepted, wantOutcome: OutcomeEnqueued, want: []Refresh{teamARefresh},
		},
		{
			name: "team b's secret only authorises team b's entry, which watches main", file: "push-branch.json", event: "push",
			sig: func(b []byte) map[string]string {
				return map[string]string{HeaderGitHubSignature256: sign(teamBSecret, b)}
			},
			wantStatus: http.StatusAccepted, wantOutcome: OutcomeIgnored, wantReason: "branch master is not watched (watching main)",
		},
		{
			name: "another team's secret is refused", file: "push-branch.json", event: "push",
			sig: func(b []byte) map[string]string {
				return map[string]string{HeaderGitHubSignature256: sign(teamCSecret, b)}
			},
			wantStatus: http.StatusUnauthorized, wantOutcome: OutcomeUnauthorized,
		},
		{
			name: "form-encoded push", file: "push-branch.json", event: "push", contentType: "application/x-www-form-urlencoded",
			body: formBody,
			sig: func(b []byte) map[string]string {
				return map[string]string{HeaderGitHubSignature256: sign(platformSecret, b)}
			},
			wantStatus: http.StatusAccepted, wantOutcome: OutcomeEnqueued, want: []Refresh{teamARefresh},
		},
		{
			name: "event header in other case", file: "push-branch.json", event: "Push",
			sig: func(b []byte) map[string]string {
				return map[string]string{HeaderGitHubSignature256: sign(platformSecret, b)}
			},
			wantStatus: http.StatusAccepted, wantOutcome: OutcomeEnqueued, want: []Refresh{teamARefresh},
		},
		{
			name: "tag push", file: "push-tag.json", event: "push",
			sig: func(b []byte) map[string]string {
				return map[string]string{HeaderGitHubSignature256: sign(platformSecret, b)}
			},
			wantStatus: http.StatusAccepted, wantOutcome: OutcomeIgnored, wantReason: "tag pushes do not trigger deploys",
		},
		{
			name: "tag deletion", file: "push-tag-deleted.json", event: "push",
			sig: func(b []byte) map[string]string {
				return map[string]string{HeaderGitHubSignature256: sign(platformSecret, b)}
			},
			wantStatus: http.StatusAccepted, wantOutcome: OutcomeIgnored, wantReason: "ref refs/tags/simple-tag was deleted; nothing to deploy",
		},
		{
			name: "branch deletion", file: "push-branch-deleted.json", event: "push",
			sig: func(b []byte) map[string]string {
				return map[string]string{HeaderGitHubSignature256: sign(platformSecret, b)}
			},
			wantStatus: http.StatusAccepted, wantOutcome: OutcomeIgnored, wantReason: "branch master was deleted; nothing to deploy",
		},
		{
			name: "ping", file: "ping.json", event: "ping",
			sig: func(b []byte) map[string]string {
				return map[string]string{HeaderGitHubSignature256: sign(platformSecret, b)}
			},
			wantStatus: http.StatusOK, wantOutcome: OutcomePing, wantReason: "pong",
		},
		{
			name: "organization ping", file: "ping-organization.json", event: "ping",
			sig: func(b []byte) map[string]string {
				return map[string]string{HeaderGitHubSignature256: sign(teamASecret, b)}
			},
			wantStatus: http.StatusOK, wantOutcome: OutcomePing, wantReason: "pong",
		},
		{
			name: "pull_request", file: "pull_request-opened.json", event: "pull_request",
			sig: func(b []byte) map[string]string {
				return map[string]string{HeaderGitHubSignature256: sign(platformSecret, b)}
			},
			wantStatus: http.StatusAccepted, wantOutcome: OutcomeIgnored, wantReason: `event type "pull_request" does not trigger deploys`,
		},
		{
			name: "release", file: "release-published.json", event: "release",
			sig: func(b []byte) map[string]string {
				return map[string]string{HeaderGitHubSignature256: sign(platformSecret, b)}
			},
			wantStatus: http.StatusAccepted, wantOutcome: OutcomeIgnored, wantReason: `event type "release" does not trigger deploys`,
		},
		{
			name: "create", file: "create-tag.json", event: "create",
			sig: func(b []byte) map[string]string {
				return map[string]string{HeaderGitHubSignature256: sign(platformSecret, b)}
			},
			wantStatus: http.StatusAccepted, wantOutcome: OutcomeIgnored, wantReason: `event type "create" does not trigger deploys`,
		},
		{
			name: "delete", file: "delete-tag.json", event: "delete",
			sig: func(b []byte) map[string]string {
				return map[string]string{HeaderGitHubSignature256: sign(platformSecret, b)}
			},
			wantStatus: http.StatusAccepted, wantOutcome: OutcomeIgnored, wantReason: `event type "delete" does not trigger deploys`,
		},
		{
			name: "workflow_run", file: "workflow_run-completed.json", event: "workflow_run",
			sig: func(b []byte) map[string]string {
				return map[string]string{HeaderGitHubSignature256: sign(platformSecret, b)}
			},
			wantStatus: http.StatusAccepted, wantOutcome: OutcomeIgnored, wantReason: `event type "workflow_run" does not trigger deploys`,
		},
		{
			name: "tampered body", file: "push-branch.json", event: "push", body: tampered, signRecorded: true,
			sig: func(b []byte) map[string]string {
				return map[string]string{HeaderGitHubSignature256: sign(platformSecret, b)}
			},
			wantStatus: http.StatusUnauthorized, wantOutcome: OutcomeUnauthorized, wantReason: "signature does not match any valid secret",
		},
		{
			name: "unknown secret", file: "push-branch.json", event: "push",
			sig: func(b []byte) map[string]string {
				return map[string]string{HeaderGitHubSignature256: sign([]byte("guess"), b)}
			},
			wantStatus: http.StatusUnauthorized, wantOutcome: OutcomeUnauthorized, wantReason: "signature does not match any valid secret",
		},
		{
			name: "no signature header", file: "push-branch.json", event: "push",
			sig:        func([]byte) map[string]string { return nil },
			wantStatus: http.StatusUnauthorized, wantOutcome: OutcomeUnauthorized, wantReason: "missing or malformed X-Hub-Signature-256 (sha256=<hex>)",
		},
		{
			name: "SHA-1 signature only", file: "push-branch.json", event: "push",
			sig: func(b []byte) map[string]string {
				mac := hmac.New(sha1.New, platformSecret)
				mac.Write(b)
				return map[string]string{"X-Hub-Signature": "sha1=" + hex.EncodeToString(mac.Sum(nil))}
			},
			wantStatus: http.StatusUnauthorized, wantOutcome: OutcomeUnauthorized, wantReason: "missing or malformed X-Hub-Signature-256 (sha256=<hex>)",
		},
		{
			name: "SHA-1 value in the SHA-256 header", file: "push-branch.json", event: "push",
			sig: func(b []byte) map[string]string {
				mac := hmac.New(sha1.New, platformSecret)
				mac.Write(b)
				return map[string]string{HeaderGitHubSignature256: "sha1=" + hex.EncodeToString(mac.Sum(nil))}
			},
			wantStatus: http.StatusUnauthorized, wantOutcome: OutcomeUnauthorized, wantReason: "missing or malformed X-Hub-Signature-256 (sha256=<hex>)",
		},
		{
			name: "malformed JSON without signature is refused before parsing", file: "push-branch.json", event: "push",
			body:       func(b []byte) []byte { return b[:len(b)/2] },
			sig:        func([]byte) map[string]string { return nil },
			wantStatus: http.StatusUnauthorized, wantOutcome: OutcomeUnauthorized,
			wantReason: "missing or malformed X-Hub-Signature-256 (sha256=<hex>)",
		},
		{
			name: "malformed JSON with a valid signature", file: "push-branch.json", event: "push",
			body: func(b []byte) []byte { return b[:len(b)/2] },
			sig: func(b []byte) map[string]string {
				return map[string]string{HeaderGitHubSignature256: sign(platformSecret, b)}
			},
			wantStatus: http.StatusBadRequest, wantOutcome: OutcomeBadRequest, wantReason: "malformed push payload",
		},
		{
			name: "form body without payload", file: "push-branch.json", event: "push", contentType: "application/x-www-form-urlencoded",
			body: func([]byte) []byte { return []byte("other=1") },
			sig: func(b []byte) map[string]string {
				return map[string]string{HeaderGitHubSignature256: sign(platformSecret, b)}
			},
			wantStatus: http.StatusBadRequest, wantOutcome: OutcomeBadRequest, wantReason: "form body without payload",
		},
		{
			name: "unsupported content type", file: "push-branch.json", event: "push", contentType: "text/plain",
			sig: func(b []byte) map[string]string {
				return map[string]string{HeaderGitHubSignature256: sign(platformSecret, b)}
			},
			wantStatus: http.StatusUnsupportedMediaType, wantOutcome: OutcomeBadRequest, wantReason: "unsupported Content-Type text/plain",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, testConfig())
			recorded := payload(t, tt.file)
			body := recorded
			if tt.body != nil {
				body = tt.body(recorded)
			}
			signed := body
			if tt.signRecorded {
				signed = recorded
			}
			h := github(tt.event, "d-1", "")
			for k, v := range tt.sig(signed) {
				h[k] = v
			}
			if tt.contentType != "" {
				h["Content-Type"] = tt.contentType
			}
			status, resp := f.do(t, "/webhook/github", body, h)
			if status != tt.wantStatus {
				t.Errorf("status = %d, want %d (answer %+v)", status, tt.wantStatus, resp)
			}
			if resp.Outcome != tt.wantOutcome {
				t.Errorf("outcome = %q, want %q (reason %q)", resp.Outcome, tt.wantOutcome, resp.Reason)
			}
			if tt.wantReason != "" && resp.Reason != tt.wantReason {
				t.Errorf("reason = %q, want %q", resp.Reason, tt.wantReason)
			}
			if diff := cmp.Diff(tt.want, f.rec.refreshes()); diff != "" {
				t.Errorf("enqueued (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, resp.Enqueued); diff != "" {
				t.Errorf("answered as enqueued (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReceiverRepositoryNotWatched(t *testing.T) {
	cfg := testConfig()
	cfg.Repos = []WatchedRepo{{Team: "team-a", URL: "https://github.com/someone/else.git", Branch: "master"}}
	f := newFixture(t, cfg)
	body := payload(t, "push-branch.json")
	status, resp := f.do(t, "/webhook/github", body, github("push", "d-1", sign(platformSecret, body)))
	got := struct {
		Status  int
		Outcome Outcome
		Reason  string
		N       int
	}{status, resp.Outcome, resp.Reason, len(f.rec.refreshes())}
	want := struct {
		Status  int
		Outcome Outcome
		Reason  string
		N       int
	}{http.StatusAccepted, OutcomeIgnored, "repository is not watched by flyt", 0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
}

func TestReceiverBodyLimit(t *testing.T) {
	tests := []struct {
		name     string
		max      int64
		size     int
		declared bool // send Content-Length, as GitHub does
		want     int
	}{
		{name: "exactly at a small limit", max: 4096, size: 4096, declared: true, want: http.StatusBadRequest},
		{name: "one byte over a small limit", max: 4096, size: 4097, declared: true, want: http.StatusRequestEntityTooLarge},
		{name: "over the limit without Content-Length", max: 4096, size: 10000, want: http.StatusRequestEntityTooLarge},
		{name: "one byte over GitHub's 25 MB", size: DefaultMaxBodyBytes + 1, want: http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, testConfig(), func(o *ReceiverOptions) { o.MaxBodyBytes = tt.max })
			body := bytes.Repeat([]byte{'{'}, tt.size)
			req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/webhook/github", bytes.NewReader(body))
			if !tt.declared {
				req.ContentLength = -1
			}
			req.Header.Set(HeaderGitHubEvent, "push")
			req.Header.Set(HeaderGitHubSignature256, sign(platformSecret, body))
			w := httptest.NewRecorder()
			f.rc.ServeHTTP(w, req)
			if w.Code != tt.want {
				t.Errorf("status = %d, want %d: %s", w.Code, tt.want, w.Body)
			}
		})
	}
}

func TestReceiverDeduplicatesDeliveries(t *testing.T) {
	f := newFixture(t, testConfig(), func(o *ReceiverOptions) { o.DedupeTTL = time.Hour })
	body := payload(t, "push-branch.json")
	h := github("push", "72d3162e-cc78-11e3-81ab-4c9367dc0958", sign(platformSecret, body))

	var outcomes []Outcome
	send := func() {
		_, resp := f.do(t, "/webhook/github", body, h)
		outcomes = append(outcomes, resp.Outcome)
	}
	send()
	send() // a redelivery
	f.clock.Advance(59 * time.Minute)
	send() // still remembered
	f.clock.Advance(2 * time.Minute)
	send() // forgotten after an hour: handled again
	want := []Outcome{OutcomeEnqueued, OutcomeDuplicate, OutcomeDuplicate, OutcomeEnqueued}
	if diff := cmp.Diff(want, outcomes); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	if got := len(f.rec.refreshes()); got != 2 {
		t.Errorf("enqueued %d refreshes, want 2", got)
	}
	if got := counterValue(t, f.metrics.Requests.WithLabelValues("push", "duplicate")); got != 2 {
		t.Errorf("duplicate counter = %v, want 2", got)
	}
}

func TestReceiverEnqueueFailureAllowsRedelivery(t *testing.T) {
	f := newFixture(t, testConfig())
	body := payload(t, "push-branch.json")
	h := github("push", "d-503", sign(platformSecret, body))
	f.rec.fail = errors.New("queue shut down")
	status, resp := f.do(t, "/webhook/github", body, h)
	if status != http.StatusServiceUnavailable || resp.Outcome != OutcomeUnavailable {
		t.Fatalf("got %d %q, want 503 unavailable", status, resp.Outcome)
	}
	f.rec.fail = nil
	status, resp = f.do(t, "/webhook/github", body, h)
	if status != http.StatusAccepted || resp.Outcome != OutcomeEnqueued {
		t.Fatalf("redelivery got %d %q, want 202 enqueued", status, resp.Outcome)
	}
}

func TestDeliverySetCapacity(t *testing.T) {
	clock := &fakeClock{now: time.Unix(0, 0)}
	d := newDeliverySet(3, time.Hour, clock.Now)
	var got []bool
	for _, id := range []string{"a", "b", "c", "a", "d", "a", "b"} {
		got = append(got, d.add(id))
	}
	// "d" pushes out "a" (the oldest); then "a" is new again and pushes out "b".
	want := []bool{true, true, true, false, true, true, true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("add (-want +got):\n%s", diff)
	}
	if d.len() != 3 {
		t.Errorf("len = %d, want 3", d.len())
	}
}

func TestReceiverSetConfig(t *testing.T) {
	cfg := testConfig()
	cfg.Repos = nil
	f := newFixture(t, cfg)
	body := payload(t, "push-branch.json")
	_, resp := f.do(t, "/webhook/github", body, github("push", "", sign(platformSecret, body)))
	if resp.Outcome != OutcomeIgnored {
		t.Fatalf("before reload: outcome %q, want ignored", resp.Outcome)
	}
	if err := f.rc.SetConfig(testConfig()); err != nil {
		t.Fatalf("set config: %v", err)
	}
	_, resp = f.do(t, "/webhook/github", body, github("push", "", sign(platformSecret, body)))
	if resp.Outcome != OutcomeEnqueued {
		t.Fatalf("after reload: outcome %q, want enqueued", resp.Outcome)
	}
	// A secret dropped in a reload is no longer valid.
	if err := f.rc.SetConfig(Config{Secrets: []Secret{NewSecret("", rotatedSecret)}, Repos: testConfig().Repos}); err != nil {
		t.Fatalf("set config: %v", err)
	}
	status, _ := f.do(t, "/webhook/github", body, github("push", "", sign(platformSecret, body)))
	if status != http.StatusUnauthorized {
		t.Errorf("old secret after rotation: status %d, want 401", status)
	}
	if err := f.rc.SetConfig(Config{Secrets: []Secret{NewSecret("", []byte(" \n"))}}); !errors.Is(err, ErrEmptySecret) {
		t.Errorf("empty secret: err = %v, want ErrEmptySecret", err)
	}
}

func TestReceiverGeneric(t *testing.T) {
	const commit = "6113728F27AE82C7B1A177C8D03F9E96E0ADF246"
	body := []byte(`{"repository": "Codertocat/Hello-World", "branch": "refs/heads/master", "commit": "` + commit + `", "pusher": "ci-bot"}`)
	want := []Refresh{{
		Repository: "git@github.com:Codertocat/Hello-World.git",
		Team:       "team-a",
		Branch:     "master",
		Commit:     strings.ToLower(commit),
		Pusher:     "ci-bot",
		DeliveryID: "g-1",
		Event:      "generic/team-a",
	}}
	flyt := func(sig string) map[string]string {
		return map[string]string{HeaderFlytSignature256: sig, HeaderFlytDelivery: "g-1"}
	}
	tests := []struct {
		name        string
		path        string
		body        []byte
		headers     map[string]string
		wantStatus  int
		wantOutcome Outcome
		want        []Refresh
	}{
		{name: "team secret", path: "/webhook/generic/team-a", body: body, headers: flyt(sign(teamASecret, body)),
			wantStatus: http.StatusAccepted, wantOutcome: OutcomeEnqueued, want: want},
		{name: "platform secret", path: "/webhook/generic/team-a", body: body, headers: flyt(sign(platformSecret, body)),
			wantStatus: http.StatusAccepted, wantOutcome: OutcomeEnqueued, want: want},
		{name: "clone URL instead of full name", path: "/webhook/generic/team-a",
			body:       []byte(`{"repository": "https://github.com/Codertocat/Hello-World.git", "branch": "master"}`),
			headers:    flyt(sign(teamASecret, []byte(`{"repository": "https://github.com/Codertocat/Hello-World.git", "branch": "master"}`))),
			wantStatus: http.StatusAccepted, wantOutcome: OutcomeEnqueued,
			want: []Refresh{{Repository: "git@github.com:Codertocat/Hello-World.git", Team: "team-a", Branch: "master", DeliveryID: "g-1", Event: "generic/team-a"}}},
		{name: "another team's secret", path: "/webhook/generic/team-a", body: body, headers: flyt(sign(teamBSecret, body)),
			wantStatus: http.StatusUnauthorized, wantOutcome: OutcomeUnauthorized},
		{name: "team's own secret on another team's path", path: "/webhook/generic/team-b", body: body, headers: flyt(sign(teamASecret, body)),
			wantStatus: http.StatusUnauthorized, wantOutcome: OutcomeUnauthorized},
		{name: "unknown team", path: "/webhook/generic/nobody", body: body, headers: flyt(sign(teamASecret, body)),
			wantStatus: http.StatusUnauthorized, wantOutcome: OutcomeUnauthorized},
		{name: "repository of another team", path: "/webhook/generic/team-c", body: body, headers: flyt(sign(teamCSecret, body)),
			wantStatus: http.StatusAccepted, wantOutcome: OutcomeIgnored},
		{name: "GitHub's header is not the generic one", path: "/webhook/generic/team-a", body: body,
			headers:    map[string]string{HeaderGitHubSignature256: sign(teamASecret, body)},
			wantStatus: http.StatusUnauthorized, wantOutcome: OutcomeUnauthorized},
		{name: "malformed JSON", path: "/webhook/generic/team-a", body: []byte(`{"repository": `),
			headers:    flyt(sign(teamASecret, []byte(`{"repository": `))),
			wantStatus: http.StatusBadRequest, wantOutcome: OutcomeBadRequest},
		{name: "short commit", path: "/webhook/generic/team-a", body: []byte(`{"repository": "Codertocat/Hello-World", "branch": "master", "commit": "6113728"}`),
			headers:    flyt(sign(teamASecret, []byte(`{"repository": "Codertocat/Hello-World", "branch": "master", "commit": "6113728"}`))),
			wantStatus: http.StatusBadRequest, wantOutcome: OutcomeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, testConfig())
			status, resp := f.do(t, tt.path, tt.body, tt.headers)
			if status != tt.wantStatus || resp.Outcome != tt.wantOutcome {
				t.Errorf("got %d %q (%s), want %d %q", status, resp.Outcome, resp.Reason, tt.wantStatus, tt.wantOutcome)
			}
			if diff := cmp.Diff(tt.want, f.rec.refreshes()); diff != "" {
				t.Errorf("enqueued (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReceiverOnlyPOST(t *testing.T) {
	f := newFixture(t, testConfig())
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/webhook/github", nil)
	w := httptest.NewRecorder()
	f.rc.ServeHTTP(w, req)
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: status %d, want 405", w.Code)
	}
}

func TestReceiverMetricsAndLogs(t *testing.T) {
	f := newFixture(t, testConfig())
	push := payload(t, "push-branch.json")
	ping := payload(t, "ping.json")
	pr := payload(t, "pull_request-opened.json")
	f.do(t, "/webhook/github", push, github("push", "1", sign(platformSecret, push)))
	f.do(t, "/webhook/github", push, github("push", "1", sign(platformSecret, push)))
	f.do(t, "/webhook/github", ping, github("ping", "2", sign(platformSecret, ping)))
	f.do(t, "/webhook/github", pr, github("pull_request", "3", sign(platformSecret, pr)))
	f.do(t, "/webhook/github", push, github("push", "4", sign([]byte("wrong"), push)))

	got := map[string]float64{}
	for _, lv := range [][2]string{{"push", "enqueued"}, {"push", "duplicate"}, {"ping", "ping"}, {"other", "ignored"}, {"unverified", "unauthorized"}, {"push", "bad_request"}} {
		got[lv[0]+"/"+lv[1]] = counterValue(t, f.metrics.Requests.WithLabelValues(lv[0], lv[1]))
	}
	want := map[string]float64{
		"push/enqueued": 1, "push/duplicate": 1, "ping/ping": 1, "other/ignored": 1, "unverified/unauthorized": 1, "push/bad_request": 0,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("flyt_webhook_requests_total (-want +got):\n%s", diff)
	}
	logs := f.logs.String()
	for _, secret := range [][]byte{platformSecret, rotatedSecret, teamASecret, teamBSecret, teamCSecret} {
		if strings.Contains(logs, string(secret)) {
			t.Errorf("logs contain a webhook secret")
		}
	}
	if !strings.Contains(logs, `"delivery":"1"`) {
		t.Errorf("logs do not name the delivery: %s", logs)
	}
}

func TestSecretRedacted(t *testing.T) {
	s := NewSecret("team-a", []byte("hunter2\n"))
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "secret", s, "all", Config{Secrets: []Secret{s}})
	for _, out := range []string{buf.String(), s.String(), s.GoString(), fmtAll(s)} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("secret printed: %s", out)
		}
	}
}

func TestConfigFromPlatformReadsSecretFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := platformWith(write("platform", "platform-secret-1\n"), write("team", "team-a-secret\n"))
	cfg, err := ConfigFromPlatform(p)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	f := newFixture(t, cfg)
	body := payload(t, "push-branch.json")
	for _, secret := range [][]byte{platformSecret, teamASecret} {
		status, resp := f.do(t, "/webhook/github", body, github("push", "", sign(secret, body)))
		if status != http.StatusAccepted || resp.Outcome != OutcomeEnqueued {
			t.Errorf("got %d %q, want 202 enqueued", status, resp.Outcome)
		}
	}
	p.Server.WebhookSecretFiles = []string{write("empty", "\n")}
	if _, err := ConfigFromPlatform(p); !errors.Is(err, ErrEmptySecret) {
		t.Errorf("empty secret file: err = %v, want ErrEmptySecret", err)
	}
	p.Server.WebhookSecretFiles = []string{filepath.Join(dir, "missing")}
	if _, err := ConfigFromPlatform(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing secret file: err = %v, want os.ErrNotExist", err)
	}
}

func TestReceiverConcurrentReload(t *testing.T) {
	f := newFixture(t, testConfig())
	body := payload(t, "push-branch.json")
	sig := sign(platformSecret, body)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				status, resp := f.do(t, "/webhook/github", body, github("push", "", sig))
				if status != http.StatusAccepted || (resp.Outcome != OutcomeEnqueued && resp.Outcome != OutcomeIgnored) {
					t.Errorf("got %d %q during reloads", status, resp.Outcome)
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 100 {
			cfg := testConfig()
			if i%2 == 0 {
				cfg.Repos = nil
			}
			if err := f.rc.SetConfig(cfg); err != nil {
				t.Errorf("set config: %v", err)
			}
		}
	})
	wg.Wait()
}

// TestReceiverAnswerHidesCredentials: a watched repository configured with a token in its URL
// (validation refuses that, but a config loaded around it must still not leak) is enqueued
// with its URL as configured, so that sync finds it, while the answer to the sender and the
// log show it without the token. A payload URL with credentials matches like one without.
func TestReceiverAnswerHidesCredentials(t *testing.T) {
	cfg := Config{
		Secrets: []Secret{NewSecret("team-a", teamASecret)},
		Repos:   []WatchedRepo{{Team: "team-a", URL: "https://x-access-token:ghp_hemmelig0123@github.com/Codertocat/Hello-World.git", Branch: "master"}},
	}
	f := newFixture(t, cfg)
	body := []byte(`{"repository": "https://kari:ghp_other@github.com/Codertocat/Hello-World.git", "branch": "master"}`)
	status, resp := f.do(t, "/webhook/generic/team-a", body, map[string]string{HeaderFlytSignature256: sign(teamASecret, body)})
	if status != http.StatusAccepted || resp.Outcome != OutcomeEnqueued {
		t.Fatalf("answer %d %+v, want 202 enqueued", status, resp)
	}
	want := []Refresh{{Repository: "https://REDACTED@github.com/Codertocat/Hello-World.git", Team: "team-a", Branch: "master", Event: "generic/team-a"}}
	if diff := cmp.Diff(want, resp.Enqueued); diff != "" {
		t.Errorf("answer's refreshes (-want +got):\n%s", diff)
	}
	if got := f.rec.refreshes(); len(got) != 1 || got[0].Repository != cfg.Repos[0].URL {
		t.Errorf("enqueued %+v, want the configured URL", got)
	}
	if strings.Contains(f.logs.String(), "hemmelig") || strings.Contains(f.logs.String(), "ghp_other") {
		t.Errorf("log holds a token:\n%s", f.logs.String())
	}
}
