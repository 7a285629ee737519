package environments_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/flyt-platform/flyt/environments"
	"github.com/flyt-platform/flyt/internal/yamlpos"
)

func ExampleParse() {
	_, err := environments.Parse("platform.yaml", []byte(`apiVersion: flyt.dev/v1alpha1
kind: Platform
environments:
  - name: dev
    cluster: {inCluster: true}
  - name: prod
    promoteFrom: qa
    cluster: {inClustre: true}
`))
	for _, e := range yamlpos.Errors(err) {
		fmt.Println(e)
	}
	// Output:
	// platform.yaml:7:18: environments[1].promoteFrom: "qa" is not an earlier environment; use one of: dev
	// platform.yaml:8:15: environments[1].cluster.inClustre: unknown field "inClustre"; did you mean "inCluster"?
}

func ExampleEnvironment_WindowOpen() {
	prod := &environments.Environment{Name: "prod", Windows: []environments.Window{
		{Action: "deny", Start: "Fri 15:00", End: "Mon 07:00", TimeZone: "Europe/Oslo"},
	}}
	saturday := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	open, reason, next := prod.WindowOpen(saturday)
	fmt.Println(open, reason)
	fmt.Println(next.UTC())
	// Output:
	// false inside deny window deny Fri 15:00–Mon 07:00 Europe/Oslo
	// 2026-11-23 06:00:00 +0000 UTC
}

func ExampleCheckPromotion() {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	prod := &environments.Environment{Name: "prod", PromoteFrom: "dev", After: environments.Duration{Duration: 10 * time.Minute}}
	err := environments.CheckPromotion(now, prod, environments.SourceState{
		Revision:         "4f2a9c1e",
		Succeeded:        true,
		FirstSucceededAt: now.Add(-3 * time.Minute),
	}, false)
	var refused *environments.RefusedError
	if errors.As(err, &refused) {
		fmt.Println(refused.Reason, refused.Until.Format(time.Kitchen))
	}
	fmt.Println(err)
	// Output:
	// NotSoaked 10:07AM
	// deploy of 4f2a9c1e to prod refused (NotSoaked): it has run in dev for 3m0s of the required 10m0s; possible from 2026-11-24T10:07:00Z
}
