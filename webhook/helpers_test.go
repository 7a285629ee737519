package webhook

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/flyt-platform/flyt/environments"
)

func fmtAll(v any) string { return fmt.Sprintf("%v %+v %#v %s", v, v, v, v) }

func platformWith(platformSecretFile, teamSecretFile string) *environments.Platform {
	return &environments.Platform{
		Server: environments.Server{WebhookSecretFiles: []string{platformSecretFile}},
		Teams: []environments.Team{{
			Name:               "team-a",
			WebhookSecretFiles: []string{teamSecretFile},
			Repositories:       []environments.Repository{{URL: "https://github.com/Codertocat/Hello-World.git", Branch: "master"}},
		}},
	}
}

// counterValue reads a counter's current value.
func counterValue(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatalf("read counter: %v", err)
	}
	return m.GetCounter().GetValue()
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
