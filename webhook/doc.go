// Package webhook is flyt's edge to GitHub and other CI systems: it verifies and filters inbound
// push webhooks and enqueues the repositories they concern (it never applies anything), and it
// reports deploys outward as GitHub Deployment statuses and notification webhooks.
//
// # Inbound
//
// A Receiver serves two routes:
//
//	POST /webhook/github          signed by GitHub with X-Hub-Signature-256
//	POST /webhook/generic/{name}  signed by any CI system with X-Flyt-Signature-256
//
// Both signatures are "sha256=" followed by the hex HMAC-SHA256 of the raw request body under
// a shared secret, compared in constant time. A request without a valid signature is answered
// 401 before its body is parsed (architecture invariant 4); GitHub's SHA-1 X-Hub-Signature is
// never accepted. The body is read up to 25 MB (GitHub's own cap); more is answered 413.
//
// Secrets come from the platform config: platform-wide ones (Server.WebhookSecretFiles) are
// valid for every watched repository, a team's ones (Team.WebhookSecretFiles) only for that
// team's repositories. The signature is first checked against every secret; only after the
// payload names its repository does the receiver check that a secret that matched may speak
// for the team owning it (401 otherwise). Several secrets may be valid at once, so a secret is
// rotated by adding the new one, changing it in GitHub, then removing the old one.
//
// On GitHub's route, ping is answered 200; a push to a watched repository's branch is handed
// to sync as a Refresh (the Enqueue function must not block) and answered 202 with what was
// enqueued; pushes to other branches, tags, deletions, unwatched repositories and other event
// types are answered 202 with the reason and enqueue nothing. Repositories are matched on the
// payload's clone_url, ssh_url, git_url, html_url and full_name, case-insensitively and
// whatever spelling the platform config uses (https, ssh://, git@host:owner/name, with or
// without .git). A delivery ID (X-GitHub-Delivery) seen in the last 24 hours is answered 200
// "duplicate" and not run again.
//
// The generic route is for CI systems that are not GitHub. {name} is a team: the request may
// be signed with that team's secrets or a platform-wide one, and refreshes only that team's
// repositories. Its body is JSON:
//
//	{"repository": "https://github.com/org/repo.git", "branch": "main", "commit": "<full sha>"}
//
// where repository is any URL spelling or "owner/name", commit is optional (sync then fetches
// the branch head) and an optional "pusher" names who triggered it. An optional
// X-Flyt-Delivery header is deduplicated like X-GitHub-Delivery. An unknown team is answered
// 401, exactly like a wrong secret, so the route does not reveal which teams exist.
//
// The server serving a Receiver should set ReadHeaderTimeout and ReadTimeout, so that slow
// clients cannot hold connections.
//
// # Outbound
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
// NewMetrics registers flyt_webhook_requests_total{event,outcome},
// flyt_github_requests_total{operation,result}, flyt_notifications_total{result} and
// flyt_reports_dropped_total; their labels are documented on Metrics.
package webhook
