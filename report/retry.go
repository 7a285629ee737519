package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/flyt-platform/flyt/internal/clip"
)

// RetryOptions bound how long an outbound call (GitHub API, notification webhook) is retried.
// Whatever they say, a deploy never waits for these calls: they run on the reporter's worker.
type RetryOptions struct {
	// MaxElapsed bounds one call including all its retries and waits; then flyt gives up on
	// it and records so. Default 2m.
	MaxElapsed time.Duration
	// MaxRetries bounds the number of retries of one call. Default 8.
	MaxRetries int
	// WaitMin and WaitMax bound the exponential backoff between retries after 5xx answers and
	// connection errors. Defaults 1s and 30s. A rate limit's Retry-After or X-RateLimit-Reset
	// is honoured as told, as long as it fits in MaxElapsed.
	WaitMin time.Duration
	WaitMax time.Duration
	// Now is the clock used to read X-RateLimit-Reset. Default time.Now.
	Now func() time.Time
}

func (o RetryOptions) withDefaults() RetryOptions {
	if o.MaxElapsed <= 0 {
		o.MaxElapsed = 2 * time.Minute
	}
	if o.MaxRetries <= 0 {
		o.MaxRetries = 8
	}
	if o.WaitMin <= 0 {
		o.WaitMin = time.Second
	}
	if o.WaitMax <= 0 {
		o.WaitMax = 30 * time.Second
	}
	if o.WaitMax < o.WaitMin {
		o.WaitMax = o.WaitMin
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// ErrGaveUp matches (errors.Is) a CallError whose retries or time bound ran out.
var ErrGaveUp = errors.New("gave up after retries")

// ErrRejected matches (errors.Is) a CallError the server refused for good (a 4xx other than a
// rate limit): retrying cannot help, the request or the credentials are wrong.
var ErrRejected = errors.New("rejected")

// CallError is an outbound call that did not succeed. It names the operation and a target
// safe to log (method and API path, or only the host of a notification URL, whose path is a
// secret), never a token or a full notification URL.
type CallError struct {
	// Operation is what was attempted (create_deployment, notify …).
	Operation string
	// Target is "POST /repos/o/r/deployments" or "notify hooks.slack.com".
	Target string
	// StatusCode is the last HTTP status, 0 when no answer came.
	StatusCode int
	// Message is the start of the server's answer, if any.
	Message string
	// Result is ResultRejected or ResultGaveUp.
	Result Result
	// Err is the underlying transport or context error, if any.
	Err error
}

// Error names the operation, its target, the result and the last status; nothing secret.
func (e *CallError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s", e.Operation, e.Target, e.Result)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ", status %d", e.StatusCode)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap gives the transport or context error.
func (e *CallError) Unwrap() error { return e.Err }

// Is lets errors.Is(err, ErrGaveUp) and errors.Is(err, ErrRejected) classify a CallError.
func (e *CallError) Is(target error) bool {
	return (target == ErrGaveUp && e.Result == ResultGaveUp) || (target == ErrRejected && e.Result == ResultRejected)
}

// newRetryClient builds the go-retryablehttp client shared by the outbound calls: retry on
// connection errors, 5xx and rate limits (429, or 403 with X-RateLimit-Remaining: 0 or
// Retry-After, GitHub's secondary limits); wait as the server says for rate limits and
// exponentially otherwise.
func newRetryClient(hc *http.Client, o RetryOptions) *retryablehttp.Client {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &retryablehttp.Client{
		HTTPClient:   hc,
		Logger:       nil, // its lines would carry URLs, and notification URLs are secrets
		RetryWaitMin: o.WaitMin,
		RetryWaitMax: o.WaitMax,
		RetryMax:     o.MaxRetries,
		CheckRetry:   checkRetry,
		Backoff:      backoff(o.Now),
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
}

func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		// Connection errors are retried; TLS trust and bad URLs are not.
		return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
	}
	return retryableStatus(resp), nil
}

func retryableStatus(resp *http.Response) bool {
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return true
	case resp.StatusCode == http.StatusForbidden:
		return rateLimited(resp)
	case resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented:
		return true
	}
	return false
}

// rateLimited tells GitHub's rate-limit 403 (primary: X-RateLimit-Remaining 0; secondary:
// Retry-After) from a permission 403.
func rateLimited(resp *http.Response) bool {
	return resp.Header.Get("X-RateLimit-Remaining") == "0" || resp.Header.Get("Retry-After") != ""
}

func backoff(now func() time.Time) retryablehttp.Backoff {
	return func(minWait, maxWait time.Duration, attempt int, resp *http.Response) time.Duration {
		if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusServiceUnavailable) {
			if d, ok := retryAfter(resp.Header.Get("Retry-After"), now()); ok {
				return d
			}
			if resp.Header.Get("X-RateLimit-Remaining") == "0" {
				if reset, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64); err == nil {
					return max(time.Unix(reset, 0).Sub(now())+time.Second, 0)
				}
			}
		}
		d := minWait << min(attempt, 30)
		if d <= 0 || d > maxWait {
			d = maxWait
		}
		return d
	}
}

// retryAfter reads Retry-After as seconds or as an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// do runs one outbound call with the retry policy under the MaxElapsed bound and classifies
// its outcome. On success it returns the body (at most 1 MB). The body of req must be
// replayable (retryablehttp takes care of []byte bodies).
func do(ctx context.Context, c *retryablehttp.Client, o RetryOptions, req *retryablehttp.Request, op, target string) ([]byte, int, error) {
	ctx, cancel := context.WithTimeout(ctx, o.MaxElapsed)
	defer cancel()
	resp, err := c.Do(req.WithContext(ctx))
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL, which may hold a secret
		}
		if resp != nil {
			resp.Body.Close()
		}
		return nil, 0, &CallError{Operation: op, Target: target, Result: ResultGaveUp, Err: err}
	}
	defer resp.Body.Close()
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if readErr != nil {
			return nil, resp.StatusCode, &CallError{Operation: op, Target: target, StatusCode: resp.StatusCode, Result: ResultGaveUp, Err: readErr}
		}
		return body, resp.StatusCode, nil
	}
	result := ResultRejected
	if retryableStatus(resp) {
		result = ResultGaveUp
	}
	return nil, resp.StatusCode, &CallError{Operation: op, Target: target, StatusCode: resp.StatusCode, Message: errorMessage(body), Result: result}
}

// errorMessage extracts GitHub's {"message": …} or the start of a plain answer.
func errorMessage(body []byte) string {
	var m struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &m) == nil && m.Message != "" {
		return clip.Text(m.Message, 200)
	}
	return clip.Text(strings.TrimSpace(string(body)), 200)
}
