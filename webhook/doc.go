// Package webhook is flyt's inbound edge from GitHub and other CI systems: it verifies and
// filters push webhooks, deduplicates their deliveries and enqueues the repositories they
// concern (it never applies anything). Its Config, built from the platform config, holds the
// secrets and the watched repositories it matches payloads against.
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
// Reporting deploys back out (GitHub Deployments and statuses, notifications) is package
// report's; the two share nothing but the platform config.
//
// # Metrics
//
// NewMetrics registers flyt_webhook_requests_total{event,outcome}; its labels are documented
// on Metrics.
package webhook
