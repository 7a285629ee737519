// Package report owns flyt's outbound reporting of deploys: GitHub Deployments, Deployment
// statuses and commit statuses, the GitHub authentication they use (a token file or a GitHub
// App installation token), Slack-compatible notification webhooks, the retrying HTTP client
// all of them call through, and the Reporter queue that feeds them without ever blocking sync.
// Receiving webhooks is package webhook's; neither imports the other.
//
// A Reporter takes DeployEvents from sync and never blocks it: Report queues (dropping the
// oldest event when the bounded queue is full) and one worker sends, in order, a GitHub
// Deployment per deploy, a Deployment status per state change (log_url pointing at the
// deploy's page in flyt), optionally a commit status "flyt/{environment}/{app}", and, when a
// deploy has finished, a Slack-compatible message to each of the team's notification URLs.
// Calls go through go-retryablehttp: 5xx answers and connection errors are retried with
// exponential backoff, rate limits (429, or 403 with X-RateLimit-Remaining: 0 or Retry-After)
// wait as GitHub says, and every call is bounded in time. When flyt gives up on an event it
// tells OnGiveUp, so the deploy's history can say so; the deploy's own outcome is untouched.
//
// GitHub is reached with a token file (StaticToken) or as a GitHub App installation
// (AppToken: an RS256 JWT exchanged for an installation token, cached and refreshed five
// minutes before it expires). Secrets, tokens, private keys and notification URLs (which are
// credentials themselves) never appear in logs or errors: their types print as REDACTED, and
// errors name only the API path or the notification host.
//
// # Metrics
//
// NewMetrics registers flyt_github_requests_total{operation,result},
// flyt_notifications_total{result} and flyt_reports_dropped_total; their labels are documented
// on Metrics.
package report
