package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/history"
)

// UserHeader is the request header that names who asks for an operator action. See the
// package documentation: it must be set by an authenticating proxy, not trusted from clients.
const UserHeader = "X-Flyt-User"

// Anonymous is the name recorded when a request carries no UserHeader.
const Anonymous = "anonymous"

// Operator is what the API needs from the controller to act on operators' behalf, in the
// API's own types. internal/serve adapts *sync.Controller to it; only the replica that
// reconciles has one. Its errors wrap ErrUnknownEnvironment, ErrUnknownApp,
// ErrNoRollbackTarget, an *environments.RefusedError or history's errors to be answered with
// their status; anything else is an internal error.
type Operator interface {
	// Promote records a new desired revision for an environment fed by promotion, or
	// refuses with an *environments.RefusedError.
	Promote(ctx context.Context, r PromoteRequest) (*history.DesiredRevision, error)
	// Rollback brings an environment back to an earlier successful revision.
	Rollback(ctx context.Context, r RollbackRequest) (*history.DesiredRevision, error)
	// Redeploy queues a deploy of the revision an app should run in env.
	Redeploy(app, env, by, reason string) error
	// Freeze holds automatic deploys to env until Unfreeze, recording who froze it and why
	// in the history store (which the API reads the freeze state from). An error means the
	// freeze was not recorded and does not hold.
	Freeze(ctx context.Context, env, by, reason string) error
	// Unfreeze lifts a freeze, recording who lifted it, and releases what it held.
	Unfreeze(ctx context.Context, env, by string) error
	// Held lists automatic work waiting for a window, an unfreeze or an operator.
	Held() []Held
}

// Options configure a Server.
type Options struct {
	// Store is the deploy history every read comes from. Required.
	Store history.Store
	// Operator carries out promotions, rollbacks, deploys and freezes. Nil on a replica that
	// does not reconcile: write endpoints then answer 503.
	Operator Operator
	// Platform returns the current platform config (it may be reloaded at any time). It
	// orders environments and tells how each is fed. Nil means no config: environments are
	// then those the history knows, in name order.
	Platform func() *environments.Platform
	// Log receives request failures. Nil discards them.
	Log *slog.Logger
	// ExternalURL is how users reach this server (links in the UI). Empty means relative links.
	ExternalURL string
	// Now is the clock ("5 minutes ago", DORA windows). Nil means time.Now.
	Now func() time.Time
	// EventPoll is how often the event stream polls the store for new status rows. Polling
	// the shared store, rather than listening in-process, makes the stream work on every
	// replica. Zero means 500 ms.
	EventPoll time.Duration
	// Heartbeat is how often an idle event stream sends a comment so proxies keep it open.
	// Zero means 15 s.
	Heartbeat time.Duration
}

// Server serves the JSON API, the event stream and the web UI.
type Server struct {
	opts Options
	ui   *ui
}

// NewServer returns a Server; Handler gives its routes.
func NewServer(opts Options) *Server {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Platform == nil {
		opts.Platform = func() *environments.Platform { return nil }
	}
	if opts.EventPoll <= 0 {
		opts.EventPoll = 500 * time.Millisecond
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 15 * time.Second
	}
	opts.ExternalURL = strings.TrimSuffix(opts.ExternalURL, "/")
	s := &Server{opts: opts}
	s.ui = newUI()
	return s
}

// route is one entry of the API's route table. The same table registers the handlers and is
// checked against the OpenAPI document, so neither can have a route the other lacks.
type route struct {
	method  string
	path    string // below /api/v1, as in the OpenAPI document
	handler func(s *Server, w http.ResponseWriter, r *http.Request)
}

// apiPrefix is where the JSON API lives.
const apiPrefix = "/api/v1"

// apiRoutes is the JSON API.
var apiRoutes = []route{
	{"GET", "/deploys", (*Server).listDeploys},
	{"GET", "/deploys/{id}", (*Server).getDeploy},
	{"GET", "/current", (*Server).current},
	{"GET", "/at", (*Server).at},
	{"GET", "/dora", (*Server).dora},
	{"GET", "/apps/{app}/status", (*Server).appStatus},
	{"GET", "/held", (*Server).held},
	{"POST", "/promote", (*Server).promote},
	{"POST", "/rollback", (*Server).rollback},
	{"POST", "/deploy", (*Server).deploy},
	{"GET", "/environments", (*Server).environments},
	{"POST", "/environments/{env}/freeze", (*Server).freeze},
	{"DELETE", "/environments/{env}/freeze", (*Server).unfreeze},
	{"GET", "/events", (*Server).events},
	{"GET", "/openapi.yaml", (*Server).openAPI},
}

// Handler returns the server's routes: /api/v1/…, the UI pages and their stylesheet.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	allowed := map[string][]string{}
	var paths []string
	for _, rt := range apiRoutes {
		h := rt.handler
		mux.HandleFunc(rt.method+" "+apiPrefix+rt.path, func(w http.ResponseWriter, r *http.Request) { h(s, w, r) })
		if _, ok := allowed[rt.path]; !ok {
			paths = append(paths, rt.path)
		}
		allowed[rt.path] = append(allowed[rt.path], rt.method)
	}
	// A known path asked with another method gets a JSON 405 naming the methods it has.
	for _, p := range paths {
		methods := strings.Join(allowed[p], ", ")
		mux.HandleFunc(apiPrefix+p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", methods)
			writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed on "+r.URL.Path+"; use "+methods)
		})
	}
	mux.HandleFunc(apiPrefix+"/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API route: "+r.Method+" "+r.URL.Path)
	})
	s.ui.register(s, mux)
	return mux
}

// user is who asks, from UserHeader.
func user(r *http.Request) string {
	if u := strings.TrimSpace(r.Header.Get(UserHeader)); u != "" {
		return u
	}
	return Anonymous
}

// ErrorBody is the JSON body of every API error. Reason, Detail and Until are set for a
// refused promotion (409), from *environments.RefusedError.
type ErrorBody struct {
	Error  string                     `json:"error"`
	Reason environments.RefusalReason `json:"reason,omitempty"`
	Detail string                     `json:"detail,omitempty"`
	Until  time.Time                  `json:"until,omitzero"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing to do
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, ErrorBody{Error: msg})
}

// fail answers err with the status its kind calls for. Internal errors are logged and
// answered with a generic message, so nothing a store error might carry reaches clients.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var refused *environments.RefusedError
	if errors.As(err, &refused) {
		writeJSON(w, http.StatusConflict, ErrorBody{Error: refused.Error(), Reason: refused.Reason, Detail: refused.Detail, Until: refused.Until})
		return
	}
	status := statusOf(err)
	if status == http.StatusInternalServerError {
		s.opts.Log.ErrorContext(r.Context(), "API request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		writeError(w, status, "internal error; the flyt server log has the details")
		return
	}
	writeError(w, status, err.Error())
}

// statusOf maps flyt's error kinds to HTTP statuses.
func statusOf(err error) int {
	switch {
	case errors.Is(err, environments.ErrRefused),
		errors.Is(err, environments.ErrNotPromotable),
		errors.Is(err, ErrNoRollbackTarget):
		return http.StatusConflict
	case errors.Is(err, history.ErrNotFound),
		errors.Is(err, ErrUnknownApp),
		errors.Is(err, ErrUnknownEnvironment):
		return http.StatusNotFound
	case errors.Is(err, history.ErrInvalid), errors.Is(err, errBadRequest):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// errBadRequest marks errors in what the client sent.
var errBadRequest = errors.New("bad request")

// badRequest is a client mistake; its message names the parameter at fault.
type badRequest struct{ msg string }

func (e *badRequest) Error() string        { return e.msg }
func (e *badRequest) Is(target error) bool { return target == errBadRequest }

// maxBody bounds request bodies: every write request is a few short strings.
const maxBody = 64 << 10

// decode reads a JSON request body into v, refusing unknown fields so typos surface.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return &badRequest{"request body: a JSON object is required"}
		}
		return &badRequest{"request body: " + err.Error()}
	}
	return nil
}
