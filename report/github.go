package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/flyt-platform/flyt/history"
	"github.com/flyt-platform/flyt/internal/clip"
	"github.com/flyt-platform/flyt/internal/redact"
	"github.com/flyt-platform/flyt/internal/repourl"
)

// DefaultGitHubAPIURL is github.com's REST API; GitHub Enterprise Server uses https://host/api/v3.
const DefaultGitHubAPIURL = "https://api.github.com"

// githubDescriptionLimit is GitHub's cap on a status description.
const githubDescriptionLimit = 140

// GitHubOptions configure the GitHub client that reports deploys.
type GitHubOptions struct {
	// APIURL defaults to DefaultGitHubAPIURL.
	APIURL string
	// Token authenticates every call: StaticToken or an AppToken. Required.
	Token TokenSource
	// HTTPClient carries the calls. Default: a client with a 30 s timeout per attempt.
	HTTPClient *http.Client
	// ExternalURL is how users reach flyt; a deploy's log_url is ExternalURL/deploys/{id}.
	// Required, because a status without a link back to flyt leaves users nowhere to look.
	ExternalURL string
	// CommitStatuses also sets a commit status "flyt/{environment}/{app}" per state change,
	// for repositories whose branch protection requires status checks.
	CommitStatuses bool
	// Hosts are the repository hosts this API serves; deploys from repositories elsewhere
	// (another Git host, a local path) are not reported. Default: github.com for
	// DefaultGitHubAPIURL, otherwise the host of APIURL (GitHub Enterprise Server).
	Hosts []string
	// Retry bounds retrying each call.
	Retry RetryOptions
	// Metrics counts calls in flyt_github_requests_total.
	Metrics *Metrics
}

// GitHub reports deploys to the GitHub REST API as Deployments, Deployment statuses and,
// optionally, commit statuses. Its methods retry as RetryOptions allow and return a
// *CallError when they give up; callers that must not block use a Reporter.
type GitHub struct {
	apiURL         string
	token          TokenSource
	externalURL    string
	commitStatuses bool
	hosts          map[string]bool
	client         *retryablehttp.Client
	retry          RetryOptions
	metrics        *Metrics
}

// ErrNoToken and ErrNoExternalURL report incomplete GitHubOptions.
var (
	ErrNoToken       = errors.New("GitHub reporting needs a token source")
	ErrNoExternalURL = errors.New("GitHub reporting needs flyt's external URL for log links")
)

// NewGitHub builds a GitHub client from opts.
func NewGitHub(opts GitHubOptions) (*GitHub, error) {
	if opts.Token == nil {
		return nil, fmt.Errorf("new GitHub client: %w", ErrNoToken)
	}
	if opts.ExternalURL == "" {
		return nil, fmt.Errorf("new GitHub client: %w", ErrNoExternalURL)
	}
	if opts.APIURL == "" {
		opts.APIURL = DefaultGitHubAPIURL
	}
	if opts.Metrics == nil {
		opts.Metrics = newMetrics()
	}
	opts.Retry = opts.Retry.withDefaults()
	if len(opts.Hosts) == 0 {
		u, err := url.Parse(opts.APIURL)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("new GitHub client: API URL %q has no host", opts.APIURL)
		}
		opts.Hosts = []string{u.Hostname()}
		if strings.EqualFold(u.Hostname(), "api.github.com") {
			opts.Hosts = []string{"github.com"}
		}
	}
	hosts := make(map[string]bool, len(opts.Hosts))
	for _, h := range opts.Hosts {
		hosts[strings.ToLower(h)] = true
	}
	return &GitHub{
		hosts:          hosts,
		apiURL:         strings.TrimRight(opts.APIURL, "/"),
		token:          opts.Token,
		externalURL:    strings.TrimRight(opts.ExternalURL, "/"),
		commitStatuses: opts.CommitStatuses,
		client:         newRetryClient(opts.HTTPClient, opts.Retry),
		retry:          opts.Retry,
		metrics:        opts.Metrics,
	}, nil
}

// Handles reports whether repository lives on this GitHub, so that its deploys are reported
// here. Deploys from other Git hosts are simply not reported.
func (g *GitHub) Handles(repository string) bool {
	k, err := repourl.Parse(repository)
	return err == nil && !k.Local() && g.hosts[k.Host()]
}

// LogURL is flyt's page for a deploy, linked from every status.
func (g *GitHub) LogURL(deployID int64) string {
	return g.externalURL + "/deploys/" + strconv.FormatInt(deployID, 10)
}

// ErrNotGitHubRepository reports a repository URL with no owner/name GitHub could address.
var ErrNotGitHubRepository = errors.New("repository URL names no GitHub owner/name")

// repoPath turns a configured repository URL into "owner/name", escaped for a URL path.
func repoPath(repository string) (string, error) {
	owner, name, err := repourl.OwnerName(repository)
	if err != nil {
		return "", fmt.Errorf("%q: %w", redact.URL(repository), ErrNotGitHubRepository)
	}
	return url.PathEscape(owner) + "/" + url.PathEscape(name), nil
}

type deploymentRequest struct {
	Ref                   string            `json:"ref"`
	Task                  string            `json:"task"`
	AutoMerge             bool              `json:"auto_merge"`
	RequiredContexts      []string          `json:"required_contexts"`
	Environment           string            `json:"environment"`
	Description           string            `json:"description"`
	Payload               deploymentPayload `json:"payload"`
	TransientEnvironment  bool              `json:"transient_environment"`
	ProductionEnvironment bool              `json:"production_environment"`
}

// deploymentPayload ties a GitHub Deployment back to flyt's deploy record.
type deploymentPayload struct {
	DeployID int64  `json:"flyt_deploy_id"`
	App      string `json:"app"`
	Team     string `json:"team"`
}

// CreateDeployment creates the GitHub Deployment of ev's deploy: the commit as ref, the
// environment by name, no auto-merge and no required contexts (flyt deploys exactly the
// revision it was given, whatever its checks say), and flyt's deploy id in the payload.
func (g *GitHub) CreateDeployment(ctx context.Context, ev DeployEvent) (int64, error) {
	rp, err := repoPath(ev.Repository)
	if err != nil {
		return 0, fmt.Errorf("create GitHub deployment: %w", err)
	}
	body := deploymentRequest{
		Ref:                   ev.Commit,
		Task:                  "deploy",
		AutoMerge:             false,
		RequiredContexts:      []string{},
		Environment:           ev.Environment,
		Description:           clip.Text(fmt.Sprintf("flyt deploy of %s to %s", ev.App, ev.Environment), githubDescriptionLimit),
		Payload:               deploymentPayload{DeployID: ev.DeployID, App: ev.App, Team: ev.Team},
		TransientEnvironment:  false,
		ProductionEnvironment: ev.Production,
	}
	out, err := g.post(ctx, opCreateDeployment, "/repos/"+rp+"/deployments", body)
	if err != nil {
		return 0, fmt.Errorf("create GitHub deployment: %w", err)
	}
	var created struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(out, &created); err != nil || created.ID == 0 {
		return 0, fmt.Errorf("create GitHub deployment: %w", &CallError{
			Operation: opCreateDeployment, Target: "POST /repos/" + rp + "/deployments", Result: ResultRejected,
			Message: "answer has no deployment id",
		})
	}
	return created.ID, nil
}

type deploymentStatusRequest struct {
	State          history.State `json:"state"`
	LogURL         string        `json:"log_url"`
	EnvironmentURL string        `json:"environment_url,omitempty"`
	Description    string        `json:"description"`
}

// CreateDeploymentStatus records ev's state on the GitHub Deployment deploymentID, linking to
// flyt's page for the deploy.
func (g *GitHub) CreateDeploymentStatus(ctx context.Context, deploymentID int64, ev DeployEvent) error {
	rp, err := repoPath(ev.Repository)
	if err != nil {
		return fmt.Errorf("create GitHub deployment status: %w", err)
	}
	body := deploymentStatusRequest{
		State:          ev.State,
		LogURL:         g.LogURL(ev.DeployID),
		EnvironmentURL: ev.EnvironmentURL,
		Description:    clip.Text(describe(ev), githubDescriptionLimit),
	}
	path := "/repos/" + rp + "/deployments/" + strconv.FormatInt(deploymentID, 10) + "/statuses"
	if _, err := g.post(ctx, opDeploymentStatus, path, body); err != nil {
		return fmt.Errorf("create GitHub deployment status: %w", err)
	}
	return nil
}

type commitStatusRequest struct {
	State       string `json:"state"`
	TargetURL   string `json:"target_url"`
	Description string `json:"description"`
	Context     string `json:"context"`
}

// CommitStatusContext names a deploy's commit status. It includes the app so that several
// apps deployed from one repository at one commit do not overwrite each other's status.
func CommitStatusContext(environment, app string) string { return "flyt/" + environment + "/" + app }

// CreateCommitStatus sets the commit status of ev's commit: pending while queued or in
// progress, then success, failure or error.
func (g *GitHub) CreateCommitStatus(ctx context.Context, ev DeployEvent) error {
	rp, err := repoPath(ev.Repository)
	if err != nil {
		return fmt.Errorf("create GitHub commit status: %w", err)
	}
	body := commitStatusRequest{
		State:       commitState(ev.State),
		TargetURL:   g.LogURL(ev.DeployID),
		Description: clip.Text(describe(ev), githubDescriptionLimit),
		Context:     CommitStatusContext(ev.Environment, ev.App),
	}
	if _, err := g.post(ctx, opCommitStatus, "/repos/"+rp+"/statuses/"+url.PathEscape(ev.Commit), body); err != nil {
		return fmt.Errorf("create GitHub commit status: %w", err)
	}
	return nil
}

// describe is the one-line text of a state change shown on GitHub and in notifications.
func describe(ev DeployEvent) string {
	var s string
	switch ev.State {
	case history.StateQueued:
		s = ev.App + " queued for " + ev.Environment
	case history.StateInProgress:
		s = "deploying " + ev.App + " to " + ev.Environment
	case history.StateSuccess:
		s = ev.App + " deployed to " + ev.Environment
	case history.StateFailure:
		s = ev.App + " failed in " + ev.Environment
	case history.StateError:
		s = "flyt could not deploy " + ev.App + " to " + ev.Environment
	case history.StateInactive:
		s = "deploy of " + ev.App + " to " + ev.Environment + " was lost"
	default:
		s = ev.App + " in " + ev.Environment + ": " + string(ev.State)
	}
	if ev.Message != "" {
		s += ": " + ev.Message
	}
	return s
}

// post sends one authenticated JSON POST through the retry client and counts it.
func (g *GitHub) post(ctx context.Context, op, path string, v any) ([]byte, error) {
	out, err := g.postUncounted(ctx, op, path, v)
	g.metrics.GitHubRequests.WithLabelValues(op, string(resultOf(err))).Inc()
	return out, err
}

func (g *GitHub) postUncounted(ctx context.Context, op, path string, v any) ([]byte, error) {
	b, err := jsonBody(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", op, err)
	}
	tok, err := g.token.Token(ctx)
	if err != nil {
		return nil, &CallError{Operation: op, Target: "POST " + path, Result: ResultGaveUp, Err: err}
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, g.apiURL+path, b)
	if err != nil {
		return nil, fmt.Errorf("build %s request: %w", op, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok.Reveal())
	req.Header.Set("Content-Type", "application/json")
	setGitHubHeaders(req)
	out, _, err := do(ctx, g.client, g.retry, req, op, "POST "+path)
	return out, err
}
