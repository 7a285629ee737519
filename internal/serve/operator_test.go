package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flyt-platform/flyt/api"
	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/history"
	flytsync "github.com/flyt-platform/flyt/sync"
)

// refusingOperator answers every promotion with an error as the controller words it, passed
// through the adapter's apiError, so that the test sees what the API makes of sync's errors.
type refusingOperator struct {
	api.Operator
	err error
}

func (o refusingOperator) Promote(context.Context, api.PromoteRequest) (*history.DesiredRevision, error) {
	return nil, apiError(o.err)
}

// TestOperatorErrors: each of sync's error kinds reaches a client with the status and message
// the API answered with when it read sync's errors itself.
func TestOperatorErrors(t *testing.T) {
	refused := &environments.RefusedError{Reason: environments.NotSoaked, Detail: "soaking until 12:00"}
	tests := []struct {
		name    string
		err     error
		kind    error // the api error kind the adapted error must match; nil for none
		status  int
		message string
	}{
		{"unknown environment", fmt.Errorf("promote hello: %w: %q", flytsync.ErrUnknownEnvironment, "qa"), api.ErrUnknownEnvironment,
			http.StatusNotFound, `promote hello: no such environment: "qa"`},
		{"unknown app", fmt.Errorf("promote hello: %w", flytsync.ErrUnknownApp), api.ErrUnknownApp,
			http.StatusNotFound, "promote hello: no watched repository has this app"},
		{"no rollback target", fmt.Errorf("rollback hello: nothing ran successfully in dev: %w", flytsync.ErrNoRollbackTarget), api.ErrNoRollbackTarget,
			http.StatusConflict, "rollback hello: nothing ran successfully in dev: no earlier successful revision to roll back to"},
		{"refusal", fmt.Errorf("promote hello: %w", refused), nil, http.StatusConflict, refused.Error()}, // the refusal itself, with its reason
		{"not found in history", fmt.Errorf("deploy 7: %w", history.ErrNotFound), nil, http.StatusNotFound, "deploy 7: " + history.ErrNotFound.Error()},
		{"anything else", errors.New("store: disk full"), nil, http.StatusInternalServerError, "internal error; the flyt server log has the details"},
	}
	store, err := history.Open(t.Context(), filepath.Join(t.TempDir(), "history.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			adapted := apiError(tt.err)
			if adapted.Error() != tt.err.Error() || !errors.Is(adapted, tt.err) {
				t.Errorf("apiError(%q) = %q, want the same message and error", tt.err, adapted)
			}
			if tt.kind != nil && !errors.Is(adapted, tt.kind) {
				t.Errorf("apiError(%q) does not match %v", tt.err, tt.kind)
			}

			srv := httptest.NewServer(api.NewServer(api.Options{Store: store, Operator: refusingOperator{err: tt.err}}).Handler())
			t.Cleanup(srv.Close)
			resp, err := http.Post(srv.URL+"/api/v1/promote", "application/json", strings.NewReader(`{"app":"hello","to":"prod"}`))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body api.ErrorBody
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(fmt.Sprint(tt.status, " ", tt.message), fmt.Sprint(resp.StatusCode, " ", body.Error)); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
		})
	}
	if apiError(nil) != nil {
		t.Error("apiError(nil) is not nil")
	}
}
