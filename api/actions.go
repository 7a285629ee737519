package api

import (
	"fmt"
	"net/http"
)

// operator returns the Operator, or answers 503 and returns nil on a replica without one.
func (s *Server) operator(w http.ResponseWriter) Operator {
	if s.opts.Operator == nil {
		writeError(w, http.StatusServiceUnavailable, "this replica does not reconcile; send operator actions to the one that does")
		return nil
	}
	return s.opts.Operator
}

// required answers 400 naming the first empty field, and reports whether all were set.
func required(fields ...string) error {
	for i := 0; i+1 < len(fields); i += 2 {
		if fields[i+1] == "" {
			return &badRequest{fmt.Sprintf("field %s is required", fields[i])}
		}
	}
	return nil
}

func (s *Server) promote(w http.ResponseWriter, r *http.Request) {
	op := s.operator(w)
	if op == nil {
		return
	}
	var req PromoteRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := required("app", req.App, "to", req.To); err != nil {
		s.fail(w, r, err)
		return
	}
	req.By = user(r)
	d, err := op.Promote(r.Context(), req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.opts.Log.InfoContext(r.Context(), "promotion recorded", "app", req.App, "environment", req.To, "commit", d.Commit, "by", req.By, "forced", req.Force)
	writeJSON(w, http.StatusCreated, d)
}

func (s *Server) rollback(w http.ResponseWriter, r *http.Request) {
	op := s.operator(w)
	if op == nil {
		return
	}
	var req RollbackRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := required("app", req.App, "environment", req.Environment); err != nil {
		s.fail(w, r, err)
		return
	}
	req.By = user(r)
	d, err := op.Rollback(r.Context(), req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.opts.Log.InfoContext(r.Context(), "rollback recorded", "app", req.App, "environment", req.Environment, "commit", d.Commit, "by", req.By)
	writeJSON(w, http.StatusCreated, d)
}

// DeployRequest asks for a deploy of the revision an app should run in an environment, even
// when nothing changed (flyt deploy).
type DeployRequest struct {
	App         string `json:"app"`
	Environment string `json:"environment"`
	Reason      string `json:"reason,omitempty"`
}

// Accepted is the answer to a request that queued work.
type Accepted struct {
	App         string `json:"app"`
	Environment string `json:"environment"`
	By          string `json:"by"`
	Message     string `json:"message"`
}

func (s *Server) deploy(w http.ResponseWriter, r *http.Request) {
	op := s.operator(w)
	if op == nil {
		return
	}
	var req DeployRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := required("app", req.App, "environment", req.Environment); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.knownEnv(req.Environment); err != nil {
		s.fail(w, r, err)
		return
	}
	by := user(r)
	if err := op.Redeploy(req.App, req.Environment, by, req.Reason); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, Accepted{App: req.App, Environment: req.Environment, By: by,
		Message: "deploy queued; follow it with flyt history --app " + req.App + " --env " + req.Environment})
}

// knownEnv fails with ErrUnknownEnvironment when the platform config has no env.
func (s *Server) knownEnv(env string) error {
	if p := s.opts.Platform(); p != nil && p.Environment(env) == nil {
		return fmt.Errorf("environment %q: %w", env, ErrUnknownEnvironment)
	}
	return nil
}

// FreezeRequest is the optional body of POST /environments/{env}/freeze.
type FreezeRequest struct {
	Reason string `json:"reason,omitempty"`
}

// FreezeState is the answer to a freeze or unfreeze.
type FreezeState struct {
	Environment string `json:"environment"`
	Frozen      bool   `json:"frozen"`
	Reason      string `json:"reason,omitempty"`
	By          string `json:"by"`
}

func (s *Server) freeze(w http.ResponseWriter, r *http.Request) {
	op := s.operator(w)
	if op == nil {
		return
	}
	env := r.PathValue("env")
	if err := s.knownEnv(env); err != nil {
		s.fail(w, r, err)
		return
	}
	var req FreezeRequest
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	by := user(r)
	if err := op.Freeze(r.Context(), env, by, req.Reason); err != nil {
		s.fail(w, r, err)
		return
	}
	s.opts.Log.InfoContext(r.Context(), "environment frozen", "environment", env, "by", by, "reason", req.Reason)
	writeJSON(w, http.StatusOK, FreezeState{Environment: env, Frozen: true, Reason: req.Reason, By: by})
}

func (s *Server) unfreeze(w http.ResponseWriter, r *http.Request) {
	op := s.operator(w)
	if op == nil {
		return
	}
	env := r.PathValue("env")
	if err := s.knownEnv(env); err != nil {
		s.fail(w, r, err)
		return
	}
	by := user(r)
	if err := op.Unfreeze(r.Context(), env, by); err != nil {
		s.fail(w, r, err)
		return
	}
	s.opts.Log.InfoContext(r.Context(), "environment unfrozen", "environment", env, "by", by)
	writeJSON(w, http.StatusOK, FreezeState{Environment: env, Frozen: false, By: by})
}
