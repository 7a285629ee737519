// Package webhook is flyt's edge to GitHub and other CI systems: it verifies and filters inbound
// push webhooks and enqueues the repositories they concern (it never applies anything), and it
// reports deploys outward as GitHub Deployment statuses and notification webhooks.
package webhook
