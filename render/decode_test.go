package render

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flyt-platform/flyt/internal/yamlpos"
)

// TestDecodeValueMatchesEncodingJSON holds decodeStrict's fast path to what encoding/json
// decodes from the same document's JSON, and checks that it gives up on what the thorough
// path must report.
func TestDecodeValueMatchesEncodingJSON(t *testing.T) {
	good := []string{
		minimalApp,
		`apiVersion: nais.io/v1alpha1
kind: Application
metadata:
  name: full
  namespace: team-b
  labels: {tier: backend, team: team-b}
  annotations: {note: "x", empty: null}
spec:
  image: ghcr.io/example/full:2.3.4
  port: 9090
  command: [/app/server, --verbose]
  env:
    - name: LOG_LEVEL
      value: debug
    - name: DB_PASSWORD
      valueFrom:
        secretKeyRef: {name: full-db, key: password, optional: true}
    - name: LIMIT
      valueFrom:
        resourceFieldRef: {resource: limits.memory, divisor: 1Mi}
  envFrom: [{secret: s}, {configmap: c}]
  filesFrom:
    - configmap: cm
    - emptyDir: {medium: Memory}
      mountPath: /scratch
  liveness: {path: /alive, initialDelay: 10, timeout: 2}
  readiness: {path: /ready, port: 9091}
  startup: null
  replicas: {min: 3, max: 3, cpuThresholdPercentage: 70, scalingStrategy: {cpu: {thresholdPercentage: 50}}}
  resources: {limits: {cpu: 1000m, memory: 1Gi}, requests: {cpu: 100m}}
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: "10%"}}
  prometheus: {enabled: true, path: /metrics, port: "9090"}
  ingresses: []
  service: {port: 8081, protocol: grpc}
  accessPolicy:
    inbound: {rules: [{application: a, namespace: "*", permissions: {scopes: [x]}}]}
    outbound:
      rules: [{application: b, cluster: prod}]
      external: [{host: api.example.com}, {ipv4: 10.0.0.1, ports: [{port: 443}]}]
  preStopHook: {http: {path: /stop, port: 9090}}
  terminationGracePeriodSeconds: 60
  skipCaBundle: true
  ttl: 1h
  azure: {application: {enabled: true, tenant: "<&>"}}
  kafka: null
  gcp: {sqlInstances: [{type: POSTGRES_14, databases: [{name: db}]}]}
  secureLogs: {enabled: true}
`,
	}
	bad := []string{
		minimalApp + "  replica: {min: 1}\n",                           // unknown field
		minimalApp + "  Port: 8080\n",                                  // a field's name in the wrong case
		minimalApp + "  port: http\n",                                  // wrong type
		minimalApp + "  port: 1.5\n",                                   // not a whole number
		minimalApp + "  port: 99999999999\n",                           // too big for an int32
		minimalApp + "  command: /bin/sh\n",                            // not a list
		minimalApp + "  strategy: {rollingUpdate: {maxSurge: true}}\n", // neither int nor string
		minimalApp + "  resources: {limits: {cpu: {m: 1}}}\n",          // a map for a string
		minimalApp + "  env: [{name: X, valueFrom: {secretKeyRef: {name: s, kee: k}}}]\n",
	}
	for _, src := range good {
		docs, err := parseDocuments("app.yaml", src, false, yamlpos.DefaultLimits)
		if err != nil {
			t.Fatal(err)
		}
		var want Application
		var buf bytes.Buffer
		if err := appendJSON(&buf, docs[0].value); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(buf.Bytes(), &want); err != nil {
			t.Fatal(err)
		}
		var got Application
		if !decodeValue(docs[0].value, reflect.ValueOf(&got).Elem()) {
			t.Fatalf("fast path gave up on a valid document:\n%s", src)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-encoding/json +fast):\n%s", diff)
		}
	}
	for _, src := range bad {
		docs, err := parseDocuments("app.yaml", src, false, yamlpos.DefaultLimits)
		if err != nil {
			t.Fatal(err)
		}
		var got Application
		if decodeValue(docs[0].value, reflect.ValueOf(&got).Elem()) {
			t.Errorf("fast path accepted a document decodeStrict must report:\n%s", src)
		}
	}
}
