package report

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flyt-platform/flyt/history"
	"github.com/flyt-platform/flyt/internal/redact"
)

const (
	testToken = "ghp_test-token-never-logged"
	deploySHA = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
)

// apiCall is one request the stand-in GitHub API received.
type apiCall struct {
	Method string
	Path   string
	Auth   string
	Body   map[string]any
	At     time.Time
}

// fakeGitHub is a local HTTP server standing in for the GitHub REST API. respond decides each
// answer; by default deployments are created with increasing ids and statuses accepted.
type fakeGitHub struct {
	srv     *httptest.Server
	calls   chan apiCall
	mu      sync.Mutex
	all     []apiCall
	nextID  int64
	respond func(n int, c apiCall, w http.ResponseWriter) bool // true when it answered
}

func newFakeGitHub(t *testing.T) *fakeGitHub {
	t.Helper()
	f := &fakeGitHub{calls: make(chan apiCall, 100), nextID: 1000}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c := apiCall{Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization"), At: time.Now()}
		if len(b) > 0 {
			if err := json.Unmarshal(b, &c.Body); err != nil {
				t.Errorf("request body is not JSON: %q", b)
			}
		}
		f.mu.Lock()
		f.all = append(f.all, c)
		n := len(f.all)
		respond := f.respond
		f.mu.Unlock()
		f.calls <- c
		if respond != nil && respond(n, c, w) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		if strings.HasSuffix(c.Path, "/deployments") {
			f.mu.Lock()
			f.nextID++
			id := f.nextID
			f.mu.Unlock()
			fmt.Fprintf(w, `{"id": %d, "sha": %q}`, id, deploySHA)
			return
		}
		fmt.Fprint(w, `{"id": 1}`)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// wait returns the next n calls, failing the test if they do not come.
func (f *fakeGitHub) wait(t *testing.T, n int) []apiCall {
	t.Helper()
	var out []apiCall
	for range n {
		select {
		case c := <-f.calls:
			out = append(out, c)
		case <-time.After(10 * time.Second):
			t.Fatalf("got %d of %d expected requests: %+v", len(out), n, out)
		}
	}
	return out
}

func (f *fakeGitHub) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.all)
}

func tokenFile(t *testing.T) TokenSource {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return StaticToken(p)
}

func fastRetry() RetryOptions {
	return RetryOptions{MaxElapsed: 5 * time.Second, WaitMin: 5 * time.Millisecond, WaitMax: 20 * time.Millisecond}
}

func newTestGitHub(t *testing.T, api *fakeGitHub, m *Metrics, mutate ...func(*GitHubOptions)) *GitHub {
	t.Helper()
	opts := GitHubOptions{
		APIURL:         api.srv.URL,
		Token:          tokenFile(t),
		ExternalURL:    "https://flyt.example/",
		CommitStatuses: true,
		Hosts:          []string{"github.com"},
		Retry:          fastRetry(),
		Metrics:        m,
	}
	for _, fn := range mutate {
		fn(&opts)
	}
	g, err := NewGitHub(opts)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func testEvent(state history.State) DeployEvent {
	return DeployEvent{
		DeployID:    42,
		App:         "hello",
		Team:        "team-a",
		Environment: "dev",
		Repository:  "git@github.com:Codertocat/Hello-World.git",
		Commit:      deploySHA,
		State:       state,
		Time:        time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

// keyFields reduces a call to what the sequence test compares.
func keyFields(c apiCall) map[string]any {
	out := map[string]any{"method": c.Method, "path": c.Path, "auth": c.Auth}
	for _, k := range []string{"ref", "environment", "auto_merge", "required_contexts", "transient_environment",
		"production_environment", "payload", "state", "log_url", "context", "target_url", "environment_url"} {
		if v, ok := c.Body[k]; ok {
			out[k] = v
		}
	}
	return out
}

func TestReporterDeploySequence(t *testing.T) {
	api := newFakeGitHub(t)
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var gaveUp []error
	var mu sync.Mutex
	r := NewReporter(ReporterOptions{
		GitHub:   newTestGitHub(t, api, m),
		Metrics:  m,
		Log:      discardLogger(),
		OnGiveUp: func(_ DeployEvent, err error) { mu.Lock(); gaveUp = append(gaveUp, err); mu.Unlock() },
	})
	startReporter(t, r)

	success := testEvent(history.StateSuccess)
	success.Production = true
	success.EnvironmentURL = "https://hello.dev.example"
	for _, ev := range []DeployEvent{testEvent(history.StateQueued), testEvent(history.StateInProgress), success} {
		r.Report(ev)
	}
	// A second deploy of the same app gets its own GitHub Deployment.
	next := testEvent(history.StateQueued)
	next.DeployID = 43
	r.Report(next)

	const repo = "/repos/Codertocat/Hello-World"
	auth := "Bearer " + testToken
	status := func(id int, state string) map[string]any {
		return map[string]any{"method": "POST", "path": fmt.Sprintf("%s/deployments/%d/statuses", repo, id), "auth": auth,
			"state": state, "log_url": "https://flyt.example/deploys/42"}
	}
	commit := func(state string) map[string]any {
		return map[string]any{"method": "POST", "path": repo + "/statuses/" + deploySHA, "auth": auth,
			"state": state, "context": "flyt/dev/hello", "target_url": "https://flyt.example/deploys/42"}
	}
	deployment := func(id float64) map[string]any {
		return map[string]any{"method": "POST", "path": repo + "/deployments", "auth": auth,
			"ref": deploySHA, "environment": "dev", "auto_merge": false, "required_contexts": []any{},
			"transient_environment": false, "production_environment": false,
			"payload": map[string]any{"flyt_deploy_id": id, "app": "hello", "team": "team-a"}}
	}
	successStatus := status(1001, "success")
	successStatus["environment_url"] = "https://hello.dev.example"
	want := []map[string]any{
		deployment(42),
		status(1001, "queued"), commit("pending"),
		status(1001, "in_progress"), commit("pending"),
		successStatus, commit("success"),
		deployment(43),
	}
	var got []map[string]any
	for _, c := range api.wait(t, len(want)+2) {
		got = append(got, keyFields(c))
	}
	got = got[:len(want)] // the second deploy's statuses follow; checked by count below
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests to GitHub (-want +got):\n%s", diff)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(gaveUp) != 0 {
		t.Errorf("gave up: %v", gaveUp)
	}
	if got := counterValue(m.GitHubRequests.WithLabelValues(opCreateDeployment, "success")); got != 2 {
		t.Errorf("create_deployment success = %v, want 2", got)
	}
}

func TestGitHubRetries(t *testing.T) {
	tests := []struct {
		name string
		// respond answers the n-th request (1-based); false lets the default 201 through.
		respond   func(n int, w http.ResponseWriter) bool
		retry     RetryOptions
		wantCalls int
		wantErr   error
		// minGap is the least time between the first and second request.
		minGap time.Duration
	}{
		{
			name: "500s are retried",
			respond: func(n int, w http.ResponseWriter) bool {
				if n <= 2 {
					w.WriteHeader(http.StatusInternalServerError)
					return true
				}
				return false
			},
			wantCalls: 3,
		},
		{
			name: "a dropped connection is retried",
			respond: func(n int, w http.ResponseWriter) bool {
				if n == 1 {
					conn, _, err := w.(http.Hijacker).Hijack()
					if err != nil {
						return false // the call then succeeds at once and the count check fails
					}
					conn.Close()
					return true
				}
				return false
			},
			wantCalls: 2,
		},
		{
			name: "429 waits as Retry-After says",
			respond: func(n int, w http.ResponseWriter) bool {
				if n == 1 {
					w.Header().Set("Retry-After", "1")
					w.WriteHeader(http.StatusTooManyRequests)
					return true
				}
				return false
			},
			wantCalls: 2,
			minGap:    time.Second,
		},
		{
			name: "403 with an exhausted rate limit waits for X-RateLimit-Reset",
			respond: func(n int, w http.ResponseWriter) bool {
				if n == 1 {
					w.Header().Set("X-RateLimit-Remaining", "0")
					w.Header().Set("X-RateLimit-Reset", "1767322000")
					w.WriteHeader(http.StatusForbidden)
					fmt.Fprint(w, `{"message": "API rate limit exceeded"}`)
					return true
				}
				return false
			},
			// The clock says the reset is now; flyt waits one second of slack past it.
			retry:     RetryOptions{Now: func() time.Time { return time.Unix(1767322000, 0) }},
			wantCalls: 2,
			minGap:    time.Second,
		},
		{
			name: "403 without a rate limit is refused at once",
			respond: func(n int, w http.ResponseWriter) bool {
				w.WriteHeader(http.StatusForbidden)
				fmt.Fprint(w, `{"message": "Resource not accessible by integration"}`)
				return true
			},
			wantCalls: 1,
			wantErr:   ErrRejected,
		},
		{
			name: "404 is refused at once",
			respond: func(n int, w http.ResponseWriter) bool {
				w.WriteHeader(http.StatusNotFound)
				return true
			},
			wantCalls: 1,
			wantErr:   ErrRejected,
		},
		{
			name: "500s until the retries run out",
			respond: func(n int, w http.ResponseWriter) bool {
				w.WriteHeader(http.StatusBadGateway)
				return true
			},
			retry:     RetryOptions{MaxRetries: 3},
			wantCalls: 4,
			wantErr:   ErrGaveUp,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeGitHub(t)
			api.respond = func(n int, _ apiCall, w http.ResponseWriter) bool { return tt.respond(n, w) }
			retry := fastRetry()
			if tt.retry.Now != nil {
				retry.Now = tt.retry.Now
			}
			if tt.retry.MaxRetries != 0 {
				retry.MaxRetries = tt.retry.MaxRetries
			}
			g := newTestGitHub(t, api, nil, func(o *GitHubOptions) { o.Retry = retry })
			_, err := g.CreateDeployment(t.Context(), testEvent(history.StateQueued))
			if tt.wantErr == nil && err != nil {
				t.Fatalf("create deployment: %v", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			calls := api.wait(t, tt.wantCalls)
			if n := api.count(); n != tt.wantCalls {
				t.Errorf("%d requests, want %d", n, tt.wantCalls)
			}
			if tt.minGap > 0 {
				if gap := calls[1].At.Sub(calls[0].At); gap < tt.minGap {
					t.Errorf("retried after %v, want at least %v", gap, tt.minGap)
				}
			}
			if err != nil && strings.Contains(err.Error(), testToken) {
				t.Errorf("error contains the token: %v", err)
			}
		})
	}
}

func TestReporterGitHubDown(t *testing.T) {
	// A server that is gone: every call fails to connect.
	api := newFakeGitHub(t)
	api.srv.Close()
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	gaveUp := make(chan error, 10)
	r := NewReporter(ReporterOptions{
		GitHub:   newTestGitHub(t, api, m, func(o *GitHubOptions) { o.Retry.MaxElapsed = 200 * time.Millisecond }),
		Metrics:  m,
		Log:      slog.New(slog.NewTextHandler(&logs, nil)),
		OnGiveUp: func(_ DeployEvent, err error) { gaveUp <- err },
	})
	// Report before the worker runs: it must not wait for it.
	for _, s := range []history.State{history.StateQueued, history.StateInProgress, history.StateSuccess} {
		r.Report(testEvent(s))
	}
	startReporter(t, r)
	for i := range 3 {
		select {
		case err := <-gaveUp:
			if !errors.Is(err, ErrGaveUp) {
				t.Errorf("event %d: err = %v, want ErrGaveUp", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("OnGiveUp called %d times, want 3", i)
		}
	}
	if got := counterValue(m.GitHubRequests.WithLabelValues(opCreateDeployment, "gave_up")); got != 3 {
		t.Errorf("create_deployment gave_up = %v, want 3", got)
	}
	if strings.Contains(logs.String(), testToken) {
		t.Errorf("logs contain the token")
	}
}

func TestReporterQueueDropsOldest(t *testing.T) {
	// GitHub hangs on the first call until released, so the queue fills up behind it.
	api := newFakeGitHub(t)
	release := make(chan struct{})
	api.respond = func(n int, _ apiCall, w http.ResponseWriter) bool {
		if n == 1 {
			<-release
		}
		return false
	}
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	gaveUp := make(chan DeployEvent, 10)
	r := NewReporter(ReporterOptions{
		GitHub:    newTestGitHub(t, api, m, func(o *GitHubOptions) { o.CommitStatuses = false }),
		QueueSize: 2,
		Metrics:   m,
		Log:       discardLogger(),
		OnGiveUp: func(ev DeployEvent, err error) {
			if !errors.Is(err, ErrQueueFull) {
				t.Errorf("give-up of deploy %d: %v, want ErrQueueFull", ev.DeployID, err)
			}
			gaveUp <- ev
		},
	})
	startReporter(t, r)
	first := testEvent(history.StateQueued)
	first.DeployID = 1
	r.Report(first)
	api.wait(t, 1) // the worker is now stuck in the first call
	for id := int64(2); id <= 5; id++ {
		ev := testEvent(history.StateQueued)
		ev.DeployID = id
		r.Report(ev) // never blocks, whatever GitHub does
	}
	close(release)
	var dropped []int64
	for range 2 {
		select {
		case ev := <-gaveUp:
			dropped = append(dropped, ev.DeployID)
		case <-time.After(10 * time.Second):
			t.Fatalf("dropped events not reported: %v", dropped)
		}
	}
	if diff := cmp.Diff([]int64{2, 3}, dropped); diff != "" {
		t.Errorf("dropped deploys (-want +got):\n%s", diff)
	}
	// Deploys 4 and 5 are still reported: deployment + status each, after deploy 1's status.
	var paths []string
	for _, c := range api.wait(t, 5) {
		if c.Body["payload"] != nil {
			paths = append(paths, fmt.Sprintf("deployment for %v", c.Body["payload"].(map[string]any)["flyt_deploy_id"]))
		} else {
			paths = append(paths, "status "+c.Body["state"].(string))
		}
	}
	want := []string{"status queued", "deployment for 4", "status queued", "deployment for 5", "status queued"}
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("calls after the release (-want +got):\n%s", diff)
	}
	if got := counterValue(m.ReportsDropped); got != 2 {
		t.Errorf("flyt_reports_dropped_total = %v, want 2", got)
	}
}

func TestAppToken(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	clock := newClock(time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC))

	api := newFakeGitHub(t)
	var issued int
	api.respond = func(_ int, c apiCall, w http.ResponseWriter) bool {
		if c.Path != "/app/installations/77/access_tokens" {
			return false
		}
		if err := verifyJWT(&key.PublicKey, strings.TrimPrefix(c.Auth, "Bearer "), clock.Now()); err != nil {
			t.Errorf("JWT: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return true
		}
		issued++
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"token": "ghs_installation_%d", "expires_at": %q}`, issued, clock.Now().Add(time.Hour).Format(time.RFC3339))
		return true
	}
	src, err := NewAppToken(AppTokenOptions{AppID: 12345, InstallationID: 77, PrivateKeyPEM: keyPEM, APIURL: api.srv.URL, Now: clock.Now, Retry: fastRetry()})
	if err != nil {
		t.Fatal(err)
	}
	g := newTestGitHub(t, api, nil, func(o *GitHubOptions) { o.Token = src; o.CommitStatuses = false })

	var auths []string
	deploy := func() {
		if _, err := g.CreateDeployment(t.Context(), testEvent(history.StateQueued)); err != nil {
			t.Fatalf("create deployment: %v", err)
		}
		for _, c := range api.wait(t, api.count()-len(auths)) {
			auths = append(auths, c.Path+" "+strings.Fields(c.Auth + " x")[0])
		}
	}
	deploy()
	clock.Advance(54 * time.Minute) // 6 minutes left: still cached
	deploy()
	clock.Advance(2 * time.Minute) // 4 minutes left: refreshed
	deploy()
	var deployAuth []string
	for _, c := range api.all {
		if strings.HasSuffix(c.Path, "/deployments") {
			deployAuth = append(deployAuth, c.Auth)
		}
	}
	want := []string{"Bearer ghs_installation_1", "Bearer ghs_installation_1", "Bearer ghs_installation_2"}
	if diff := cmp.Diff(want, deployAuth); diff != "" {
		t.Errorf("tokens used (-want +got):\n%s", diff)
	}
	if issued != 2 {
		t.Errorf("installation tokens issued: %d, want 2", issued)
	}
	if _, err := NewAppToken(AppTokenOptions{PrivateKeyPEM: []byte("not a key")}); !errors.Is(err, ErrBadPrivateKey) {
		t.Errorf("bad key: err = %v, want ErrBadPrivateKey", err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("auth", "source", src, "token", redact.NewSecret("ghs_installation_1"))
	if strings.Contains(buf.String(), "ghs_") || strings.Contains(buf.String(), "PRIVATE") {
		t.Errorf("log shows a credential: %s", buf.String())
	}
}

// verifyJWT checks an RS256 JWT the way GitHub does: signature, issuer, and a lifetime of at
// most ten minutes around now.
func verifyJWT(pub *rsa.PublicKey, jwt string, now time.Time) error {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return fmt.Errorf("%d parts", len(parts))
	}
	enc := base64.RawURLEncoding
	sig, err := enc.DecodeString(parts[2])
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	var header struct{ Alg string }
	var claims struct {
		IAT, EXP int64
		ISS      string
	}
	hb, _ := enc.DecodeString(parts[0])
	cb, _ := enc.DecodeString(parts[1])
	if err := json.Unmarshal(hb, &header); err != nil || header.Alg != "RS256" {
		return fmt.Errorf("header %s", hb)
	}
	if err := json.Unmarshal(cb, &claims); err != nil {
		return err
	}
	if claims.ISS != "12345" || claims.IAT != now.Unix()-60 || claims.EXP != now.Unix()+540 {
		return fmt.Errorf("claims %s at %d", cb, now.Unix())
	}
	return nil
}

// startReporter runs r's worker until the test ends, and waits for it to stop before the
// test is over.
func startReporter(t *testing.T, r *Reporter) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := r.Start(ctx); err != nil {
			t.Errorf("reporter: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func TestGitHubHandles(t *testing.T) {
	tests := []struct {
		apiURL string
		hosts  []string
		repo   string
		want   bool
	}{
		{apiURL: "", repo: "git@github.com:Codertocat/Hello-World.git", want: true},
		{apiURL: "https://api.github.com", repo: "https://GitHub.com/Codertocat/Hello-World", want: true},
		{apiURL: "", repo: "https://gitlab.example/team/app.git", want: false},
		{apiURL: "", repo: "/srv/git/app", want: false},
		{apiURL: "https://ghe.example/api/v3", repo: "ssh://git@ghe.example/team/app.git", want: true},
		{apiURL: "https://ghe.example/api/v3", repo: "https://github.com/team/app.git", want: false},
		{apiURL: "http://127.0.0.1:1234", hosts: []string{"github.com"}, repo: "https://github.com/team/app", want: true},
	}
	for _, tt := range tests {
		g, err := NewGitHub(GitHubOptions{APIURL: tt.apiURL, Hosts: tt.hosts, Token: StaticToken("unused"), ExternalURL: "https://flyt.example"})
		if err != nil {
			t.Fatal(err)
		}
		if got := g.Handles(tt.repo); got != tt.want {
			t.Errorf("API %q: Handles(%q) = %v, want %v", tt.apiURL, tt.repo, got, tt.want)
		}
	}
}

func TestReporterSkipsRepositoriesElsewhere(t *testing.T) {
	api := newFakeGitHub(t)
	gaveUp := make(chan error, 1)
	r := NewReporter(ReporterOptions{
		GitHub:   newTestGitHub(t, api, nil),
		Log:      discardLogger(),
		OnGiveUp: func(_ DeployEvent, err error) { gaveUp <- err },
	})
	startReporter(t, r)
	elsewhere := testEvent(history.StateQueued)
	elsewhere.Repository = "https://gitlab.example/team/app.git"
	r.Report(elsewhere)
	r.Report(testEvent(history.StateQueued))
	// The GitHub repository's deploy is the first call GitHub sees.
	if c := api.wait(t, 1)[0]; c.Path != "/repos/Codertocat/Hello-World/deployments" {
		t.Errorf("first call %s %s, want the Hello-World deployment", c.Method, c.Path)
	}
	select {
	case err := <-gaveUp:
		t.Errorf("gave up: %v", err)
	default:
	}
}

func TestReporterStartsOnce(t *testing.T) {
	r := NewReporter(ReporterOptions{Log: discardLogger()})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := r.Start(ctx); err != nil {
		t.Fatalf("first Start: %v", err)
	}
	if err := r.Start(ctx); !errors.Is(err, ErrReporterStarted) {
		t.Errorf("second Start: err = %v, want ErrReporterStarted", err)
	}
}
