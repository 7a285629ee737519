package serve

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	gosync "sync"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationv1 "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"

	"github.com/flyt-platform/flyt/webhook"
)

// LeaderElection lets several flyt replicas share one platform: they elect a leader through a
// Kubernetes Lease, and only the leader runs the Git poller and the sync controller. Every
// replica serves the API, the UI, webhooks, /metrics, /healthz and /readyz. A webhook received
// by a follower is forwarded to the leader (see forwardRefresh), and operator actions sent to a
// follower's API are proxied to the leader, whose controller carries them out.
//
// Replicas must share the history store, so leader election belongs with PostgreSQL: on SQLite
// each replica would keep its own history and the new leader would not know what the old one
// left in flight.
type LeaderElection struct {
	// Kubeconfig reaches the cluster that holds the Lease. Empty means in-cluster (the service
	// account flyt runs as).
	Kubeconfig string
	// Namespace holds the Lease. Empty means the namespace of the service account flyt runs as.
	Namespace string
	// Name is the Lease's name. Default "flyt".
	Name string
	// Identity is this replica's base URL as the other replicas reach it, e.g.
	// http://10.0.0.5:8080 (a pod IP from the downward API). It is written into the Lease, so
	// followers know where to forward refreshes and operator actions. It must differ between
	// replicas. Required.
	Identity string
	// LeaseDuration is how long followers wait after the last renewal they saw before taking
	// over. Default 10s. Together with RetryPeriod it bounds the takeover after a leader dies:
	// a follower polls every RetryPeriod plus up to 120 % jitter (client-go), so it sees the
	// last renewal at most 2.2×RetryPeriod late, the lease then runs LeaseDuration, and the
	// poll that takes it comes at most 2.2×RetryPeriod after that: 2.2 + 10 + 2.2 = 14.4 s
	// with the defaults, inside the 15 s flyt promises. (client-go's usual 15s/10s/2s would
	// allow up to about 24 s.)
	LeaseDuration time.Duration
	// RenewDeadline is how long the leader keeps retrying a failed renewal before it gives up
	// leadership (and flyt exits). Default 7s; it must be shorter than LeaseDuration so the
	// leader stops before anyone else can start.
	RenewDeadline time.Duration
	// RetryPeriod is how often the leader renews and followers try to acquire. Default 1s.
	RetryPeriod time.Duration
}

// Defaults of LeaderElection.
const (
	DefaultLeaseName     = "flyt"
	DefaultLeaseDuration = 10 * time.Second
	DefaultRenewDeadline = 7 * time.Second
	DefaultRetryPeriod   = time.Second
)

// ErrLeadershipLost is returned by Run when this replica could not renew its Lease. The
// process should exit (and be restarted): the controller's in-memory state may be stale, and a
// fresh start as a follower is the simple, well-trodden way back, as Kubernetes controllers do.
var ErrLeadershipLost = errors.New("lost the leader lease")

// ErrNoLeader means that a follower was asked to forward work, but no leader is known yet (an election
// is in progress). The webhook receiver answers 503, so GitHub may redeliver.
var ErrNoLeader = errors.New("no flyt leader is known")

// ErrNoForwardSecret means that a follower cannot sign a forwarded refresh because the platform config
// names no platform-wide webhook secret (server.webhookSecretFiles).
var ErrNoForwardSecret = errors.New("no platform-wide webhook secret (server.webhookSecretFiles) to sign forwarded refreshes with")

// serviceAccountNamespace is where Kubernetes mounts the pod's namespace.
const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

func (o LeaderElection) withDefaults() (LeaderElection, error) {
	if o.Name == "" {
		o.Name = DefaultLeaseName
	}
	if o.LeaseDuration == 0 {
		o.LeaseDuration = DefaultLeaseDuration
	}
	if o.RenewDeadline == 0 {
		o.RenewDeadline = DefaultRenewDeadline
	}
	if o.RetryPeriod == 0 {
		o.RetryPeriod = DefaultRetryPeriod
	}
	if o.Namespace == "" {
		b, err := os.ReadFile(serviceAccountNamespace)
		if err != nil || strings.TrimSpace(string(b)) == "" {
			return o, errors.New("leader election: set the Lease's namespace (--leader-election-namespace); flyt does not run in a pod whose namespace it could read")
		}
		o.Namespace = strings.TrimSpace(string(b))
	}
	u, err := url.Parse(o.Identity)
	if o.Identity == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return o, fmt.Errorf("leader election: identity %q must be this replica's base URL as the other replicas reach it, such as http://10.0.0.5:8080 (--advertise-url)", o.Identity)
	}
	o.Identity = strings.TrimSuffix(o.Identity, "/")
	return o, nil
}

// elector runs client-go's leader election on a Lease and tells the server what it learns.
type elector struct {
	cfg  LeaderElection
	lock *resourcelock.LeaseLock
	le   *leaderelection.LeaderElector
	log  *slog.Logger

	// elected is closed when this replica becomes the leader; stopped when the election loop
	// has returned: either its context ended, or this replica lost the leadership it had.
	elected, stopped chan struct{}

	// Guards the fields below.
	mu     gosync.Mutex
	isLead bool
}

func newElector(cfg LeaderElection, log *slog.Logger) (*elector, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	var rc *rest.Config
	if cfg.Kubeconfig == "" {
		rc, err = rest.InClusterConfig()
	} else {
		rc, err = clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	}
	if err != nil {
		return nil, fmt.Errorf("leader election: cluster connection: %w", err)
	}
	rc = rest.CopyConfig(rc)
	rc.UserAgent = "flyt-leader-election"
	// A single hung request must not outlast the renew deadline (client-go's advice).
	rc.Timeout = cfg.RenewDeadline / 2
	cc, err := coordinationv1.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("leader election: %w", err)
	}
	e := &elector{cfg: cfg, log: log, elected: make(chan struct{}), stopped: make(chan struct{})}
	e.lock = &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: cfg.Namespace, Name: cfg.Name},
		Client:     cc,
		LockConfig: resourcelock.ResourceLockConfig{Identity: cfg.Identity},
	}
	e.le, err = leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:          e.lock,
		Name:          cfg.Name,
		LeaseDuration: cfg.LeaseDuration,
		RenewDeadline: cfg.RenewDeadline,
		RetryPeriod:   cfg.RetryPeriod,
		// Released by release, and only once the controller has stopped: client-go would
		// release as soon as the context ends, while deploys may still be finishing.
		ReleaseOnCancel: false,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) {
				e.mu.Lock()
				e.isLead = true
				e.mu.Unlock()
				log.Info("became the leader: reconciling", "lease", cfg.Namespace+"/"+cfg.Name, "identity", cfg.Identity)
				close(e.elected)
			},
			OnStoppedLeading: func() {
				e.mu.Lock()
				e.isLead = false
				e.mu.Unlock()
			},
			OnNewLeader: func(id string) {
				if id != cfg.Identity {
					log.Info("following the leader", "leader", id, "lease", cfg.Namespace+"/"+cfg.Name)
				}
			},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("leader election: %w", err)
	}
	return e, nil
}

// run takes part in the election until ctx ends or leadership is lost.
func (e *elector) run(ctx context.Context) {
	defer close(e.stopped)
	// client-go logs through klog; send that to flyt's JSON log too.
	l := logr.FromSlogHandler(e.log.Handler())
	klog.SetLogger(l)
	e.le.Run(klog.NewContext(ctx, l))
}

// leading reports whether this replica is the leader now.
func (e *elector) leading() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.isLead
}

// leader returns the base URL of the leader this replica last saw ("" when none yet).
func (e *elector) leader() string { return e.le.GetLeader() }

// release gives the Lease up after a clean stop, so a follower takes over at its next poll
// instead of waiting for the lease to expire. Call it only when the election loop has stopped
// and the controller has finished.
func (e *elector) release(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.RenewDeadline)
	defer cancel()
	rec, _, err := e.lock.Get(ctx)
	if err != nil {
		return fmt.Errorf("release lease: %w", err)
	}
	if rec.HolderIdentity != e.cfg.Identity {
		return nil
	}
	now := metav1.NewTime(time.Now())
	if err := e.lock.Update(ctx, resourcelock.LeaderElectionRecord{
		LeaderTransitions: rec.LeaderTransitions, LeaseDurationSeconds: 1, AcquireTime: now, RenewTime: now,
	}); err != nil {
		return fmt.Errorf("release lease: %w", err)
	}
	return nil
}

// Forwarding between replicas.
//
// A follower hands a webhook's Refresh to the leader with POST /internal/v1/refresh, its JSON
// body signed like a GitHub webhook (X-Flyt-Signature-256: sha256=<hex HMAC-SHA256 of the
// body>) with a platform-wide webhook secret: every replica already holds those secrets, so
// nothing new has to be distributed or rotated. The leader checks the signature before it
// parses anything and answers 401 when it is missing or wrong. A replayed request can only
// make the leader fetch a repository again, which is harmless.
//
// The forward happens while GitHub waits for the webhook's answer, with a short timeout: if it
// fails (no leader yet, the leader just died) the receiver answers 503 and GitHub may redeliver,
// rather than flyt accepting a delivery it then loses. The leader's poller catches the change
// at its next poll in any case.

const (
	refreshPath            = "/internal/v1/refresh"
	forwardSignatureHeader = "X-Flyt-Signature-256"
	// forwardedHeader marks a request proxied from a follower, so that two replicas that both
	// think the other leads do not bounce it between them.
	forwardedHeader = "X-Flyt-Forwarded-By"
	maxRefreshBody  = 64 << 10
	forwardTimeout  = 5 * time.Second
)

// forwardSecrets reads the platform-wide webhook secrets afresh (a rotated secret file counts at
// once). The first one signs; any one verifies.
func (s *server) forwardSecrets() [][]byte {
	var out [][]byte
	for _, f := range s.watcher.Current().Server.WebhookSecretFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			s.log.Warn("read webhook secret file for forwarding", "file", f, "error", err)
			continue
		}
		if b = bytes.TrimSpace(b); len(b) > 0 {
			out = append(out, b)
		}
	}
	return out
}

func sign(key, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// forwardRefresh hands r to the leader's queue.
func (s *server) forwardRefresh(ctx context.Context, r webhook.Refresh) error {
	leader := s.elector.leader()
	if leader == "" || leader == s.elector.cfg.Identity {
		return ErrNoLeader
	}
	keys := s.forwardSecrets()
	if len(keys) == 0 {
		return ErrNoForwardSecret
	}
	body, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("forward refresh: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, forwardTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, leader+refreshPath, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("forward refresh to %s: %w", leader, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(forwardSignatureHeader, sign(keys[0], body))
	req.Header.Set(forwardedHeader, s.elector.cfg.Identity)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("forward refresh to %s: %w", leader, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("forward refresh to %s: %s: %s", leader, resp.Status, strings.TrimSpace(string(msg)))
	}
	s.log.Info("forwarded a webhook refresh to the leader", "leader", leader, "repository", r.Repository, "delivery", r.DeliveryID)
	return nil
}

// serveRefresh is the leader's end of forwardRefresh.
func (s *server) serveRefresh(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRefreshBody+1))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	if len(body) > maxRefreshBody {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	sig := r.Header.Get(forwardSignatureHeader)
	ok := false
	for _, k := range s.forwardSecrets() {
		if hmac.Equal([]byte(sign(k, body)), []byte(sig)) {
			ok = true
			break
		}
	}
	if !ok {
		http.Error(w, "missing or invalid "+forwardSignatureHeader, http.StatusUnauthorized)
		return
	}
	if s.elector == nil || !s.elector.leading() {
		http.Error(w, "this replica is not the leader", http.StatusServiceUnavailable)
		return
	}
	var rf webhook.Refresh
	if err := json.Unmarshal(body, &rf); err != nil || rf.Repository == "" {
		http.Error(w, "body is not a refresh", http.StatusBadRequest)
		return
	}
	s.log.Info("refresh forwarded by a follower", "from", r.Header.Get(forwardedHeader), "repository", rf.Repository, "delivery", rf.DeliveryID)
	s.enqueueLocal(rf)
	w.WriteHeader(http.StatusAccepted)
}

// leaderOnly sends the API requests that need the running controller (operator actions, and
// the held work it keeps in memory) to the leader when this replica follows.
// Everything else is answered here from the shared history store.
func (s *server) leaderOnly(next http.Handler) http.Handler {
	if s.elector == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !needsController(r) || s.elector.leading() {
			next.ServeHTTP(w, r)
			return
		}
		leader := s.elector.leader()
		if leader == "" || leader == s.elector.cfg.Identity || r.Header.Get(forwardedHeader) != "" {
			http.Error(w, "no flyt leader is reachable yet; retry shortly", http.StatusServiceUnavailable)
			return
		}
		target, err := url.Parse(leader)
		if err != nil {
			http.Error(w, "leader identity is not a URL", http.StatusBadGateway)
			return
		}
		proxy := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target)
				pr.SetXForwarded()
				pr.Out.Header.Set(forwardedHeader, s.elector.cfg.Identity)
			},
			ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
				s.log.Warn("proxy an operator request to the leader", "leader", leader, "error", err)
				http.Error(w, "the flyt leader did not answer; retry shortly", http.StatusBadGateway)
			},
		}
		proxy.ServeHTTP(w, r)
	})
}

// needsController reports whether an API request reads or changes state only the leader's
// controller has. Freezes are not such state: they are kept in the shared history store, so
// followers answer GET /api/v1/environments themselves.
func needsController(r *http.Request) bool {
	if !strings.HasPrefix(r.URL.Path, "/api/v1/") {
		return false
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return true
	}
	return r.URL.Path == "/api/v1/held"
}
