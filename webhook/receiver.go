package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/flyt-platform/flyt/internal/clip"
	"github.com/flyt-platform/flyt/internal/redact"
	"github.com/flyt-platform/flyt/internal/repourl"
)

// Request headers read by the receiver.
const (
	// HeaderGitHubSignature256 carries "sha256=<hex HMAC-SHA256 of the raw body>" from GitHub.
	HeaderGitHubSignature256 = "X-Hub-Signature-256"
	// HeaderGitHubEvent names the GitHub event type (push, ping …).
	HeaderGitHubEvent = "X-GitHub-Event"
	// HeaderGitHubDelivery is GitHub's unique ID of a delivery; a redelivery repeats it.
	HeaderGitHubDelivery = "X-GitHub-Delivery"
	// HeaderFlytSignature256 carries "sha256=<hex HMAC-SHA256 of the raw body>" for the generic
	// receiver, computed exactly as GitHub computes X-Hub-Signature-256, so any CI system that
	// can sign a GitHub-style webhook can call flyt.
	HeaderFlytSignature256 = "X-Flyt-Signature-256"
	// HeaderFlytDelivery is an optional unique ID of a generic delivery, deduplicated like
	// X-GitHub-Delivery.
	HeaderFlytDelivery = "X-Flyt-Delivery"
)

// DefaultMaxBodyBytes is GitHub's own cap on a webhook payload (25 MB); GitHub sends nothing
// larger, so anything larger is refused with 413 before it is read in full.
const DefaultMaxBodyBytes = 25 << 20

// Refresh asks sync to fetch one watched repository now instead of waiting for the next poll.
// It is what a verified push becomes.
type Refresh struct {
	// Repository is the URL as configured in the platform (WatchedRepo.URL), not as GitHub
	// spelled it, so that sync finds its own entry.
	Repository string `json:"repository"`
	// Team owns the repository.
	Team string `json:"team"`
	// Branch is the pushed branch (the watched one).
	Branch string `json:"branch"`
	// Commit is the pushed revision ("after"); empty when a generic caller gave none, in which
	// case sync fetches the branch head.
	Commit string `json:"commit,omitempty"`
	// Pusher is who pushed, as the sender told it. The deploys of Commit are credited to it;
	// a deploy of any other revision (the branch moved on before sync fetched it) is credited
	// to that revision's own pusher or author instead.
	Pusher string `json:"pusher,omitempty"`
	// DeliveryID is X-GitHub-Delivery (or X-Flyt-Delivery), for tracing a deploy to a delivery.
	DeliveryID string `json:"deliveryID,omitempty"`
	// Event is "push" for GitHub, "generic/<name>" for the generic receiver.
	Event string `json:"event"`
}

// EnqueueFunc hands a Refresh to sync. It must not block: the receiver answers GitHub within
// milliseconds and never waits for Git or a cluster. An error (queue closed while shutting
// down) makes the receiver answer 503 and forget the delivery, so GitHub may redeliver it.
type EnqueueFunc func(ctx context.Context, r Refresh) error

// ReceiverOptions configure a Receiver.
type ReceiverOptions struct {
	// Config is the initial view of the platform; replace it later with SetConfig.
	Config Config
	// Enqueue receives every accepted Refresh. Required.
	Enqueue EnqueueFunc
	// Log receives one line per request (delivery ID, event, outcome, reason; never a body or
	// a secret). Default: slog.Default().
	Log *slog.Logger
	// Metrics counts requests. Default: unregistered collectors.
	Metrics *Metrics
	// Now is the clock of delivery deduplication. Default time.Now.
	Now func() time.Time
	// MaxBodyBytes bounds a request body. Default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// DedupeSize bounds how many delivery IDs are remembered. Default 10000.
	DedupeSize int
	// DedupeTTL is how long a delivery ID is remembered. GitHub redelivers within hours at
	// most, and a redelivery after that is harmless (sync coalesces and compares revisions).
	// Default 24h.
	DedupeTTL time.Duration
}

// Receiver is the http.Handler for inbound webhooks:
//
//	POST /webhook/github          GitHub, signed with X-Hub-Signature-256
//	POST /webhook/generic/{name}  other CI systems, signed with X-Flyt-Signature-256
//
// It verifies, filters and enqueues; it never applies anything. Its config can be swapped at
// any time with SetConfig while requests are in flight.
type Receiver struct {
	enqueue  EnqueueFunc
	log      *slog.Logger
	metrics  *Metrics
	maxBody  int64
	dedupe   *deliverySet
	mux      *http.ServeMux
	compiled atomic.Pointer[compiled]
}

var _ http.Handler = (*Receiver)(nil)

// ErrNoEnqueue reports ReceiverOptions without an Enqueue function.
var ErrNoEnqueue = errors.New("webhook receiver needs an Enqueue function")

// NewReceiver builds a Receiver from opts.
func NewReceiver(opts ReceiverOptions) (*Receiver, error) {
	if opts.Enqueue == nil {
		return nil, ErrNoEnqueue
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Metrics == nil {
		opts.Metrics = newMetrics()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.DedupeSize <= 0 {
		opts.DedupeSize = 10000
	}
	if opts.DedupeTTL <= 0 {
		opts.DedupeTTL = 24 * time.Hour
	}
	rc := &Receiver{
		enqueue: opts.Enqueue,
		log:     opts.Log,
		metrics: opts.Metrics,
		maxBody: opts.MaxBodyBytes,
		dedupe:  newDeliverySet(opts.DedupeSize, opts.DedupeTTL, opts.Now),
		mux:     http.NewServeMux(),
	}
	if err := rc.SetConfig(opts.Config); err != nil {
		return nil, fmt.Errorf("new webhook receiver: %w", err)
	}
	rc.mux.HandleFunc("POST /webhook/github", rc.serveGitHub)
	rc.mux.HandleFunc("POST /webhook/generic/{name}", rc.serveGeneric)
	return rc, nil
}

// SetConfig replaces the receiver's secrets and watched repositories, for a platform reload.
// Requests in flight finish with the config they started with.
func (rc *Receiver) SetConfig(cfg Config) error {
	c, err := compile(cfg)
	if err != nil {
		return fmt.Errorf("set webhook config: %w", err)
	}
	rc.compiled.Store(c)
	return nil
}

// ServeHTTP routes to the GitHub and generic receivers.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) { rc.mux.ServeHTTP(w, r) }

// Response is the JSON body of every receiver answer, so that GitHub's delivery log and CI
// output show why a webhook did or did not refresh anything.
type Response struct {
	Outcome  Outcome   `json:"outcome"`
	Reason   string    `json:"reason,omitempty"`
	Delivery string    `json:"delivery,omitempty"`
	Enqueued []Refresh `json:"enqueued,omitempty"`
}

// verdict is the result of handling one request, before it is written and counted.
type verdict struct {
	status   int
	event    string // metric label
	resp     Response
	remember bool // keep the delivery ID as handled
}

// maxDeliveryID bounds a delivery ID kept, logged and echoed; GitHub's are 36-character GUIDs.
const maxDeliveryID = 128

func deliveryID(h http.Header, name string) string { return truncate(h.Get(name), maxDeliveryID) }

func (rc *Receiver) serveGitHub(w http.ResponseWriter, r *http.Request) {
	delivery := deliveryID(r.Header, HeaderGitHubDelivery)
	v := rc.handle(r, handleSpec{
		label:       githubEventLabel(r.Header.Get(HeaderGitHubEvent)),
		sigHeader:   HeaderGitHubSignature256,
		delivery:    delivery,
		dedupeKey:   "github/" + delivery,
		secretAllow: func(Secret) bool { return true },
		process:     rc.processGitHub,
	})
	rc.finish(w, r, v)
}

func (rc *Receiver) serveGeneric(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	delivery := deliveryID(r.Header, HeaderFlytDelivery)
	v := rc.handle(r, handleSpec{
		label:     eventLabelGeneric,
		sigHeader: HeaderFlytSignature256,
		delivery:  delivery,
		dedupeKey: "generic/" + name + "/" + delivery,
		// {name} is a team: its own secrets and the platform-wide ones are valid.
		secretAllow: func(s Secret) bool { return s.Team == "" || s.Team == name },
		process: func(ctx context.Context, c *compiled, h *http.Request, body []byte, signers signerSet, delivery string) verdict {
			return rc.processGeneric(ctx, c, name, body, signers, delivery)
		},
	})
	rc.finish(w, r, v)
}

type handleSpec struct {
	label       string // metric label once the request is verified
	sigHeader   string
	delivery    string
	dedupeKey   string
	secretAllow func(Secret) bool
	process     func(ctx context.Context, c *compiled, r *http.Request, body []byte, signers signerSet, delivery string) verdict
}

// signerSet says which secrets verified a body: platform-wide ones, and which teams' ones.
type signerSet struct {
	platform bool
	teams    map[string]bool
}

// authorises reports whether a request signed by s may refresh a repository of team.
func (s signerSet) authorises(team string) bool { return s.platform || s.teams[team] }

func (rc *Receiver) handle(r *http.Request, spec handleSpec) verdict {
	c := rc.compiled.Load()
	unverified := func(status int, o Outcome, reason string) verdict {
		return verdict{status: status, event: eventLabelUnverified, resp: Response{Outcome: o, Reason: reason, Delivery: spec.delivery}}
	}
	if r.ContentLength > rc.maxBody {
		return unverified(http.StatusRequestEntityTooLarge, OutcomeTooLarge, fmt.Sprintf("body larger than %d bytes", rc.maxBody))
	}
	sig, ok := parseSignature(r.Header.Get(spec.sigHeader))
	if !ok {
		// Checked before reading the body: without a well-formed signature nothing else matters.
		return unverified(http.StatusUnauthorized, OutcomeUnauthorized, "missing or malformed "+spec.sigHeader+" (sha256=<hex>)")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, rc.maxBody+1))
	if err != nil {
		return unverified(http.StatusBadRequest, OutcomeBadRequest, "reading the body failed")
	}
	if int64(len(body)) > rc.maxBody {
		return unverified(http.StatusRequestEntityTooLarge, OutcomeTooLarge, fmt.Sprintf("body larger than %d bytes", rc.maxBody))
	}
	signers, ok := verify(c.secrets, spec.secretAllow, body, sig)
	if !ok {
		return unverified(http.StatusUnauthorized, OutcomeUnauthorized, "signature does not match any valid secret")
	}
	// The body is authentic from here on; only now is it parsed.
	if spec.delivery != "" && !rc.dedupe.add(spec.dedupeKey) {
		return verdict{status: http.StatusOK, event: spec.label, resp: Response{Outcome: OutcomeDuplicate, Reason: "duplicate delivery", Delivery: spec.delivery}}
	}
	v := spec.process(r.Context(), c, r, body, signers, spec.delivery)
	if spec.delivery != "" && !v.remember {
		rc.dedupe.forget(spec.dedupeKey)
	}
	return v
}

func (rc *Receiver) finish(w http.ResponseWriter, r *http.Request, v verdict) {
	rc.metrics.Requests.WithLabelValues(v.event, string(v.resp.Outcome)).Inc()
	level := slog.LevelInfo
	if v.status >= 400 {
		level = slog.LevelWarn
	}
	rc.log.LogAttrs(r.Context(), level, "webhook handled",
		slog.String("path", r.URL.Path),
		slog.String("delivery", v.resp.Delivery),
		slog.String("event", v.event),
		slog.String("outcome", string(v.resp.Outcome)),
		slog.String("reason", v.resp.Reason),
		slog.Int("enqueued", len(v.resp.Enqueued)),
		slog.Int("status", v.status),
	)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(v.status)
	_ = json.NewEncoder(w).Encode(v.resp) // the client may be gone; nothing to do about it
}

// githubEventLabel maps X-GitHub-Event to a bounded set of metric label values.
func githubEventLabel(event string) string {
	switch {
	case strings.EqualFold(event, "push"):
		return eventLabelPush
	case strings.EqualFold(event, "ping"):
		return eventLabelPing
	default:
		return eventLabelOther
	}
}

// parseSignature decodes "sha256=<64 hex digits>".
func parseSignature(h string) ([]byte, bool) {
	hexSig, ok := strings.CutPrefix(strings.TrimSpace(h), "sha256=")
	if !ok || len(hexSig) != 2*sha256.Size {
		return nil, false
	}
	sig, err := hex.DecodeString(hexSig)
	if err != nil {
		return nil, false
	}
	return sig, true
}

// verify computes the HMAC-SHA256 of body under every allowed secret and compares each with sig
// in constant time. Every secret is tried, so that a body signed with a secret that two owners
// share authorises both.
func verify(secrets []Secret, allow func(Secret) bool, body, sig []byte) (signerSet, bool) {
	var s signerSet
	ok := false
	for _, sec := range secrets {
		if !allow(sec) {
			continue
		}
		mac := hmac.New(sha256.New, sec.value)
		mac.Write(body)
		if !hmac.Equal(mac.Sum(nil), sig) {
			continue
		}
		ok = true
		if sec.Team == "" {
			s.platform = true
			continue
		}
		if s.teams == nil {
			s.teams = make(map[string]bool)
		}
		s.teams[sec.Team] = true
	}
	return s, ok
}

// payloadJSON extracts the JSON document from a body sent as application/json or as
// application/x-www-form-urlencoded with a payload= field (GitHub's two content types).
func payloadJSON(r *http.Request, body []byte) ([]byte, verdict, bool) {
	ct := r.Header.Get("Content-Type")
	mt := "application/json"
	if ct != "" {
		var err error
		if mt, _, err = mime.ParseMediaType(ct); err != nil {
			return nil, badRequest(http.StatusUnsupportedMediaType, "unparseable Content-Type"), false
		}
	}
	switch mt {
	case "application/json":
		return body, verdict{}, true
	case "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, badRequest(http.StatusBadRequest, "malformed form body"), false
		}
		p := form.Get("payload")
		if p == "" {
			return nil, badRequest(http.StatusBadRequest, "form body without payload"), false
		}
		return []byte(p), verdict{}, true
	default:
		return nil, badRequest(http.StatusUnsupportedMediaType, "unsupported Content-Type "+mt), false
	}
}

func badRequest(status int, reason string) verdict {
	return verdict{status: status, resp: Response{Outcome: OutcomeBadRequest, Reason: reason}, remember: true}
}

// pushEvent is the part of GitHub's push payload flyt reads.
type pushEvent struct {
	Ref        string     `json:"ref"`
	After      string     `json:"after"`
	Deleted    bool       `json:"deleted"`
	Repository *repoEvent `json:"repository"`
	Pusher     struct {
		Name string `json:"name"`
	} `json:"pusher"`
	Sender struct {
		Login string `json:"login"`
	} `json:"sender"`
}

type repoEvent struct {
	FullName string `json:"full_name"`
	CloneURL string `json:"clone_url"`
	SSHURL   string `json:"ssh_url"`
	GitURL   string `json:"git_url"`
	HTMLURL  string `json:"html_url"`
}

const zeroSHA = "0000000000000000000000000000000000000000"

func (rc *Receiver) processGitHub(ctx context.Context, c *compiled, r *http.Request, body []byte, signers signerSet, delivery string) verdict {
	event := r.Header.Get(HeaderGitHubEvent)
	v := rc.processGitHubEvent(ctx, c, r, event, body, signers, delivery)
	v.resp.Delivery = delivery
	return v
}

func (rc *Receiver) processGitHubEvent(ctx context.Context, c *compiled, r *http.Request, event string, body []byte, signers signerSet, delivery string) verdict {
	switch {
	case strings.EqualFold(event, "ping"):
		return verdict{status: http.StatusOK, event: eventLabelPing, resp: Response{Outcome: OutcomePing, Reason: "pong"}, remember: true}
	case !strings.EqualFold(event, "push"):
		return ignored(eventLabelOther, fmt.Sprintf("event type %q does not trigger deploys", truncate(event, 64)))
	}
	doc, v, ok := payloadJSON(r, body)
	if !ok {
		v.event = eventLabelPush
		return v
	}
	var p pushEvent
	if err := json.Unmarshal(doc, &p); err != nil {
		v := badRequest(http.StatusBadRequest, "malformed push payload")
		v.event = eventLabelPush
		return v
	}
	if p.Repository == nil || p.Ref == "" {
		v := badRequest(http.StatusBadRequest, "push payload without ref or repository")
		v.event = eventLabelPush
		return v
	}
	branch, isBranch := strings.CutPrefix(p.Ref, "refs/heads/")
	switch {
	case p.Deleted || p.After == zeroSHA:
		if isBranch {
			return ignored(eventLabelPush, "branch "+branch+" was deleted; nothing to deploy")
		}
		return ignored(eventLabelPush, "ref "+p.Ref+" was deleted; nothing to deploy")
	case strings.HasPrefix(p.Ref, "refs/tags/"):
		return ignored(eventLabelPush, "tag pushes do not trigger deploys")
	case !isBranch:
		return ignored(eventLabelPush, "ref "+p.Ref+" is not a branch")
	}
	pusher := p.Pusher.Name
	if pusher == "" {
		pusher = p.Sender.Login
	}
	rp := p.Repository
	matched := c.match([]string{rp.CloneURL, rp.SSHURL, rp.GitURL, rp.HTMLURL}, rp.FullName)
	return rc.enqueueMatched(ctx, eventLabelPush, "push", matched, signers, branch, p.After, pusher, delivery)
}

// genericEvent is the body of /webhook/generic/{name}.
type genericEvent struct {
	// Repository is a clone URL, SSH URL, web URL or owner/name.
	Repository string `json:"repository"`
	// Branch is the branch that changed.
	Branch string `json:"branch"`
	// Commit is the new revision, optional.
	Commit string `json:"commit"`
	// Pusher is who triggered it, optional.
	Pusher string `json:"pusher"`
}

func (rc *Receiver) processGeneric(ctx context.Context, c *compiled, name string, body []byte, signers signerSet, delivery string) verdict {
	v := rc.processGenericEvent(ctx, c, name, body, signers, delivery)
	v.resp.Delivery = delivery
	v.event = eventLabelGeneric
	return v
}

func (rc *Receiver) processGenericEvent(ctx context.Context, c *compiled, name string, body []byte, signers signerSet, delivery string) verdict {
	var g genericEvent
	if err := json.Unmarshal(body, &g); err != nil {
		return badRequest(http.StatusBadRequest, "malformed JSON body")
	}
	g.Branch = strings.TrimPrefix(g.Branch, "refs/heads/")
	if g.Repository == "" || g.Branch == "" {
		return badRequest(http.StatusBadRequest, "body needs repository and branch")
	}
	if g.Commit != "" && !isHexSHA(g.Commit) {
		return badRequest(http.StatusBadRequest, "commit is not a full hexadecimal SHA")
	}
	var matched []WatchedRepo
	for _, w := range c.match([]string{g.Repository}, g.Repository) {
		// {name} is the team: the generic receiver only refreshes that team's repositories.
		if w.Team == name {
			matched = append(matched, w)
		}
	}
	return rc.enqueueMatched(ctx, eventLabelGeneric, "generic/"+name, matched, signers, g.Branch, strings.ToLower(g.Commit), g.Pusher, delivery)
}

func (rc *Receiver) enqueueMatched(ctx context.Context, label, event string, matched []WatchedRepo, signers signerSet, branch, commit, pusher, delivery string) verdict {
	if len(matched) == 0 {
		return ignored(label, "repository is not watched by flyt")
	}
	var authorised []WatchedRepo
	for _, w := range matched {
		if signers.authorises(w.Team) {
			authorised = append(authorised, w)
		}
	}
	if len(authorised) == 0 {
		return verdict{status: http.StatusUnauthorized, event: label, resp: Response{
			Outcome: OutcomeUnauthorized,
			Reason:  "the secret that signed this webhook does not belong to the team owning the repository",
		}}
	}
	var refreshes []Refresh
	var watching []string
	for _, w := range authorised {
		if w.Branch != branch {
			watching = append(watching, w.Branch)
			continue
		}
		refreshes = append(refreshes, Refresh{
			Repository: w.URL,
			Team:       w.Team,
			Branch:     branch,
			Commit:     commit,
			Pusher:     pusher,
			DeliveryID: delivery,
			Event:      event,
		})
	}
	if len(refreshes) == 0 {
		return ignored(label, fmt.Sprintf("branch %s is not watched (watching %s)", branch, strings.Join(watching, ", ")))
	}
	for _, rf := range refreshes {
		if err := rc.enqueue(ctx, rf); err != nil {
			// Not remembered, so that a redelivery tries again once flyt is back.
			rc.log.WarnContext(ctx, "enqueueing a refresh failed", "repository", redact.URL(rf.Repository), "team", rf.Team, "error", err)
			return verdict{status: http.StatusServiceUnavailable, event: label, resp: Response{Outcome: OutcomeUnavailable, Reason: "refresh could not be enqueued; redeliver later"}}
		}
	}
	// The answer goes to whoever sent the webhook: it shows the repository without any
	// credentials its configured URL may hold (platform.yaml refuses them, this is the second
	// line).
	shown := slices.Clone(refreshes)
	for i := range shown {
		shown[i].Repository = redact.URL(shown[i].Repository)
	}
	return verdict{status: http.StatusAccepted, event: label, resp: Response{Outcome: OutcomeEnqueued, Enqueued: shown}, remember: true}
}

func ignored(label, reason string) verdict {
	return verdict{status: http.StatusAccepted, event: label, resp: Response{Outcome: OutcomeIgnored, Reason: reason}, remember: true}
}

// match finds the watched repositories a payload names. URLs are compared by their
// repository key; a full name (owner/name) is compared on the hosts the payload's URLs name, or
// on any host when the payload names none.
func (c *compiled) match(urls []string, fullName string) []WatchedRepo {
	seen := make(map[repourl.Key]bool, len(urls)+2)
	var hosts []string
	var out []WatchedRepo
	add := func(k repourl.Key) {
		if seen[k] {
			return
		}
		seen[k] = true
		out = append(out, c.byKey[k]...)
	}
	for _, u := range urls {
		if k, err := repourl.Parse(u); err == nil && !k.Local() {
			add(k)
			hosts = append(hosts, k.Host())
		}
	}
	fn, err := repourl.ParseFullName(fullName)
	if err != nil {
		return out
	}
	for _, k := range c.byName[fn] {
		if len(hosts) == 0 {
			add(k)
		}
	}
	for _, h := range hosts {
		for _, k := range c.byName[fn] {
			if k.Host() == h {
				add(k)
			}
		}
	}
	return out
}

func isHexSHA(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// truncate shortens s to at most n runes, marking a cut with "…".
func truncate(s string, n int) string { return clip.Text(s, n) }
