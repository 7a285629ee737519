package report

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/flyt-platform/flyt/history"
)

// NotifierOptions configure the per-team notification webhooks.
type NotifierOptions struct {
	// Targets maps a team to its notification URLs (environments.Team.Notify). Replace them
	// on a platform reload with SetTargets. The URLs are secrets (a Slack incoming webhook URL
	// is its own credential): flyt logs only their host.
	Targets map[string][]string
	// ExternalURL is how users reach flyt, for the link to the deploy.
	ExternalURL string
	// HTTPClient carries the calls. Default: a client with a 30 s timeout per attempt.
	HTTPClient *http.Client
	// Retry bounds retrying each call.
	Retry RetryOptions
	// Metrics counts calls in flyt_notifications_total.
	Metrics *Metrics
}

// Notifier tells teams when a deploy has finished, by POSTing Slack-compatible JSON
// ({"text": …, "attachments": […]}) to each of the team's URLs. Slack, Mattermost, Rocket.Chat
// and Microsoft Teams' Slack-compatible connectors read it.
type Notifier struct {
	externalURL string
	client      *retryablehttp.Client
	retry       RetryOptions
	metrics     *Metrics
	targets     atomic.Pointer[map[string][]string]
}

// NewNotifier builds a Notifier from opts.
func NewNotifier(opts NotifierOptions) *Notifier {
	if opts.Metrics == nil {
		opts.Metrics = newMetrics()
	}
	opts.Retry = opts.Retry.withDefaults()
	n := &Notifier{
		externalURL: strings.TrimRight(opts.ExternalURL, "/"),
		client:      newRetryClient(opts.HTTPClient, opts.Retry),
		retry:       opts.Retry,
		metrics:     opts.Metrics,
	}
	n.SetTargets(opts.Targets)
	return n
}

// SetTargets replaces the team → URLs map, for a platform reload.
func (n *Notifier) SetTargets(targets map[string][]string) {
	c := make(map[string][]string, len(targets))
	for team, urls := range targets {
		c[team] = append([]string(nil), urls...)
	}
	n.targets.Store(&c)
}

// slackMessage is the Slack-compatible body: text for clients that show only that, and one
// attachment coloured by state.
type slackMessage struct {
	Text        string            `json:"text"`
	Attachments []slackAttachment `json:"attachments"`
}

type slackAttachment struct {
	Color     string       `json:"color"`
	Title     string       `json:"title"`
	TitleLink string       `json:"title_link,omitempty"`
	Text      string       `json:"text,omitempty"`
	Fields    []slackField `json:"fields"`
	Footer    string       `json:"footer"`
	TS        int64        `json:"ts,omitempty"`
}

type slackField struct {
	Title string `json:"title"`
	Value string `json:"value"`
	Short bool   `json:"short"`
}

// stateColor is the attachment colour of a finished deploy: green, red for a bad workload,
// orange for a platform error, grey for a lost deploy.
func stateColor(s history.State) string {
	switch s {
	case history.StateSuccess:
		return "#2eb886"
	case history.StateFailure:
		return "#d40e0d"
	case history.StateError:
		return "#e8912d"
	default:
		return "#9e9e9e"
	}
}

func (n *Notifier) message(ev DeployEvent) slackMessage {
	link := ""
	if n.externalURL != "" {
		link = fmt.Sprintf("%s/deploys/%d", n.externalURL, ev.DeployID)
	}
	commit := ev.Commit
	if len(commit) > 12 {
		commit = commit[:12]
	}
	var ts int64
	if !ev.Time.IsZero() {
		ts = ev.Time.Unix()
	}
	text := describe(DeployEvent{App: ev.App, Environment: ev.Environment, State: ev.State})
	if link != "" {
		text += " (" + link + ")"
	}
	return slackMessage{
		Text: text,
		Attachments: []slackAttachment{{
			Color:     stateColor(ev.State),
			Title:     ev.App + " → " + ev.Environment + ": " + string(ev.State),
			TitleLink: link,
			Text:      ev.Message,
			Fields: []slackField{
				{Title: "Team", Value: ev.Team, Short: true},
				{Title: "Commit", Value: commit, Short: true},
			},
			Footer: "flyt",
			TS:     ts,
		}},
	}
}

// Notify posts ev to every URL of ev.Team if the deploy has finished; other states are not
// notified. It tries every URL and returns their failures joined.
func (n *Notifier) Notify(ctx context.Context, ev DeployEvent) error {
	if !ev.State.Terminal() {
		return nil
	}
	urls := (*n.targets.Load())[ev.Team]
	if len(urls) == 0 {
		return nil
	}
	body, err := jsonBody(n.message(ev))
	if err != nil {
		return fmt.Errorf("encode notification: %w", err)
	}
	var errs []error
	for _, u := range urls {
		err := n.post(ctx, u, body)
		n.metrics.Notifications.WithLabelValues(string(resultOf(err))).Inc()
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("notify team %s: %w", ev.Team, err)
	}
	return nil
}

func (n *Notifier) post(ctx context.Context, rawURL string, body []byte) error {
	target := "notify " + safeHost(rawURL)
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, rawURL, body)
	if err != nil {
		return &CallError{Operation: "notify", Target: target, Result: ResultRejected, Message: "invalid notification URL"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "flyt")
	_, _, err = do(ctx, n.client, n.retry, req, "notify", target)
	return err
}

// safeHost is the only part of a notification URL flyt ever prints.
func safeHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	return u.Host
}
