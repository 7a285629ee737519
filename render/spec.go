package render

import (
	"encoding/json"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/flyt-platform/flyt/internal/yamlpos"
)

// NAIS's Application API.
const (
	naisAPIVersion = "nais.io/v1alpha1"
	naisKind       = "Application"
)

// Application is a NAIS Application manifest (nais.io/v1alpha1), the unit a team deploys. The
// field names and meanings follow NAIS so that existing team repositories work unchanged.
type Application struct {
	// APIVersion is nais.io/v1alpha1 and Kind is Application; documents with other values are
	// not Applications and are handled as raw objects.
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Metadata names the app; its name is the name of every generated object.
	Metadata ObjectMeta `json:"metadata"`
	// Spec is what the team asks for.
	Spec AppSpec `json:"spec"`
}

// ObjectMeta is the part of Kubernetes metadata a team may set on an Application.
type ObjectMeta struct {
	// Name is the app's name.
	Name string `json:"name"`
	// Namespace, when set, must be the team's namespace in the environment; NAIS manifests
	// carry it, flyt only checks it.
	Namespace string `json:"namespace,omitempty"`
	// Labels are copied to every generated object (app and team are always set by flyt).
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations are accepted for compatibility and not copied.
	Annotations map[string]string `json:"annotations,omitempty"`
}

// AppSpec is what the team asks for. Zero values mean "NAIS's default" (see defaults.go).
type AppSpec struct {
	// Image is the container image; empty means the {{image}} variable (the image pattern).
	Image string `json:"image,omitempty"`
	// Port the app listens on (default 8080); the container port is named http.
	Port int32 `json:"port,omitempty"`
	// Command replaces the image's entrypoint.
	Command []string `json:"command,omitempty"`
	// Env comes after the platform variables (NAIS_APP_NAME …).
	Env []EnvVar `json:"env,omitempty"`
	// EnvFrom imports whole Secrets or ConfigMaps as variables.
	EnvFrom []EnvFrom `json:"envFrom,omitempty"`
	// FilesFrom mounts Secrets, ConfigMaps, emptyDirs and volume claims.
	FilesFrom []FilesFrom `json:"filesFrom,omitempty"`
	// Liveness, Readiness and Startup are HTTP probes; unset means none.
	Liveness  *Probe `json:"liveness,omitempty"`
	Readiness *Probe `json:"readiness,omitempty"`
	Startup   *Probe `json:"startup,omitempty"`
	// Replicas default to 2–4, scaled at 50 % CPU.
	Replicas *Replicas `json:"replicas,omitempty"`
	// Resources default to requests 200m/256Mi and a 512Mi memory limit.
	Resources *Resources `json:"resources,omitempty"`
	// Strategy defaults to a rolling update that never goes below the wanted replicas.
	Strategy *Strategy `json:"strategy,omitempty"`
	// Prometheus adds scrape annotations to the pods.
	Prometheus *Prometheus `json:"prometheus,omitempty"`
	// Ingresses are https:// URLs; each host must be under a domain of the environment.
	Ingresses []string `json:"ingresses,omitempty"`
	// Service sets the Service's port (default 80) and protocol (default http).
	Service *Service `json:"service,omitempty"`
	// AccessPolicy becomes the app's NetworkPolicy.
	AccessPolicy *AccessPolicy `json:"accessPolicy,omitempty"`
	// PreStopHook replaces the default 5 s sleep before the container is stopped.
	PreStopHook *PreStopHook `json:"preStopHook,omitempty"`
	// TerminationGracePeriodSeconds defaults to 30.
	TerminationGracePeriodSeconds *int64 `json:"terminationGracePeriodSeconds,omitempty"`
	// SkipCABundle and TTL are NAIS settings flyt accepts and does not act on.
	SkipCABundle bool   `json:"skipCaBundle,omitempty"`
	TTL          string `json:"ttl,omitempty"`

	// Integrations: operators outside flyt act on these. flyt checks only that the environment
	// supports each one used; their contents are not interpreted.
	Azure          json.RawMessage `json:"azure,omitempty"`
	GCP            json.RawMessage `json:"gcp,omitempty"`
	Kafka          json.RawMessage `json:"kafka,omitempty"`
	IDPorten       json.RawMessage `json:"idporten,omitempty"`
	Maskinporten   json.RawMessage `json:"maskinporten,omitempty"`
	TokenX         json.RawMessage `json:"tokenx,omitempty"`
	Login          json.RawMessage `json:"login,omitempty"`
	OpenSearch     json.RawMessage `json:"openSearch,omitempty"`
	Valkey         json.RawMessage `json:"valkey,omitempty"`
	Redis          json.RawMessage `json:"redis,omitempty"`
	Postgres       json.RawMessage `json:"postgres,omitempty"`
	Vault          json.RawMessage `json:"vault,omitempty"`
	WebProxy       json.RawMessage `json:"webproxy,omitempty"`
	Observability  json.RawMessage `json:"observability,omitempty"`
	LeaderElection json.RawMessage `json:"leaderElection,omitempty"`
	Frontend       json.RawMessage `json:"frontend,omitempty"`
	Elastic        json.RawMessage `json:"elastic,omitempty"`
	Tracing        json.RawMessage `json:"tracing,omitempty"`
	Logformat      json.RawMessage `json:"logformat,omitempty"`
	Logtransform   json.RawMessage `json:"logtransform,omitempty"`

	// Removed by NAIS: accepted with a warning, ignored.
	SecureLogs json.RawMessage `json:"secureLogs,omitempty"`
	Influx     json.RawMessage `json:"influx,omitempty"`
}

// integrationFields are the spec fields that need an operator; the order is the order of
// their warnings.
var integrationFields = []string{"azure", "elastic", "frontend", "gcp", "idporten", "kafka", "leaderElection",
	"logformat", "logtransform", "login", "maskinporten", "observability", "openSearch", "postgres", "redis",
	"tokenx", "tracing", "valkey", "vault", "webproxy"}

// removedFields are accepted for compatibility and ignored.
var removedFields = []string{"influx", "secureLogs"}

// EnvVar is one environment variable: a value, or a reference (secretKeyRef, configMapKeyRef,
// fieldRef) as in Kubernetes.
type EnvVar struct {
	Name      string               `json:"name"`
	Value     string               `json:"value,omitempty"`
	ValueFrom *corev1.EnvVarSource `json:"valueFrom,omitempty"`
}

// EnvFrom imports every key of a Secret or ConfigMap as environment variables.
type EnvFrom struct {
	Secret    string `json:"secret,omitempty"`
	ConfigMap string `json:"configmap,omitempty"`
}

// FilesFrom mounts a ConfigMap, Secret, emptyDir or PersistentVolumeClaim as files.
type FilesFrom struct {
	ConfigMap             string    `json:"configmap,omitempty"`
	Secret                string    `json:"secret,omitempty"`
	EmptyDir              *EmptyDir `json:"emptyDir,omitempty"`
	PersistentVolumeClaim string    `json:"persistentVolumeClaim,omitempty"`
	MountPath             string    `json:"mountPath,omitempty"`
}

// EmptyDir is scratch space; Medium "Memory" puts it in RAM.
type EmptyDir struct {
	Medium string `json:"medium,omitempty"`
}

// Probe is an HTTP health check on the app's port (or Port).
type Probe struct {
	Path             string `json:"path"`
	Port             int32  `json:"port,omitempty"`
	InitialDelay     int32  `json:"initialDelay,omitempty"`
	PeriodSeconds    int32  `json:"periodSeconds,omitempty"`
	FailureThreshold int32  `json:"failureThreshold,omitempty"`
	Timeout          int32  `json:"timeout,omitempty"`
}

// Replicas bounds the number of pods; when Min differs from Max an autoscaler moves between them.
type Replicas struct {
	Min                    *int32          `json:"min,omitempty"`
	Max                    *int32          `json:"max,omitempty"`
	CPUThresholdPercentage int32           `json:"cpuThresholdPercentage,omitempty"`
	DisableAutoScaling     bool            `json:"disableAutoScaling,omitempty"`
	ScalingStrategy        json.RawMessage `json:"scalingStrategy,omitempty"`
}

// Resources are the container's requests and limits, as Kubernetes quantities.
type Resources struct {
	Limits   *ResourceList `json:"limits,omitempty"`
	Requests *ResourceList `json:"requests,omitempty"`
}

// ResourceList holds CPU and memory quantities such as "200m" and "512Mi".
type ResourceList struct {
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
}

// Strategy is the Deployment's rollout strategy.
type Strategy struct {
	Type          string         `json:"type,omitempty"`
	RollingUpdate *RollingUpdate `json:"rollingUpdate,omitempty"`
}

// RollingUpdate bounds a rolling update, in pods or percent.
type RollingUpdate struct {
	MaxSurge       *intstr.IntOrString `json:"maxSurge,omitempty"`
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
}

// Prometheus asks for metrics scraping.
type Prometheus struct {
	Enabled bool   `json:"enabled,omitempty"`
	Path    string `json:"path,omitempty"`
	Port    string `json:"port,omitempty"`
}

// Service sets the Service's port and protocol (http, grpc, redis, tcp).
type Service struct {
	Port     int32  `json:"port,omitempty"`
	Protocol string `json:"protocol,omitempty"`
}

// AccessPolicy says who may call the app and whom the app may call.
type AccessPolicy struct {
	Inbound  *Inbound  `json:"inbound,omitempty"`
	Outbound *Outbound `json:"outbound,omitempty"`
}

// Inbound lists the apps allowed to call this one.
type Inbound struct {
	Rules []Rule `json:"rules,omitempty"`
}

// Outbound lists the apps and external hosts this app may call.
type Outbound struct {
	Rules    []Rule     `json:"rules,omitempty"`
	External []External `json:"external,omitempty"`
}

// Rule names an app; Namespace defaults to this app's, "*" means any; Cluster defaults to this
// one.
type Rule struct {
	Application string          `json:"application"`
	Namespace   string          `json:"namespace,omitempty"`
	Cluster     string          `json:"cluster,omitempty"`
	Permissions json.RawMessage `json:"permissions,omitempty"`
}

// External is a destination outside the cluster: a host name (left to FQDN-aware egress
// controls) or an IPv4 address (a /32 ipBlock), optionally limited to ports.
type External struct {
	Host  string `json:"host,omitempty"`
	IPv4  string `json:"ipv4,omitempty"`
	Ports []Port `json:"ports,omitempty"`
}

// Port is a TCP port.
type Port struct {
	Port int32 `json:"port"`
}

// PreStopHook runs before a pod is stopped: a command or an HTTP call.
type PreStopHook struct {
	Exec *ExecAction `json:"exec,omitempty"`
	HTTP *HTTPAction `json:"http,omitempty"`
}

// ExecAction runs a command in the container.
type ExecAction struct {
	Command []string `json:"command"`
}

// HTTPAction calls a path on the app.
type HTTPAction struct {
	Path string `json:"path"`
	Port int32  `json:"port,omitempty"`
}

// appDecoding are the decoder's rules for Applications: a number or boolean where NAIS wants a
// string is an error, and type errors keep the wording render has always had.
var appDecoding = yamlpos.Options{StrictStrings: true, JSONWording: true}

// decodeStrict decodes v (the merged document) into out, which must be a pointer to a struct,
// with yamlpos, the one decoder of team files: unknown fields (with a suggestion) and wrong
// types come back as positioned problems. v is the base file with its overlays merged in, so
// pos, not a node tree, finds the place of a field path: in the last file that set it.
func decodeStrict(v any, out any, pos func(path []string, key bool) (file string, line, col int)) Errors {
	opts := appDecoding
	opts.Pos = pos
	err := yamlpos.DecodeValue(v, out, opts)
	if err == nil {
		return nil
	}
	if errs, ok := fromYAMLPos(err).(Errors); ok {
		return errs
	}
	return Errors{{Msg: "cannot decode: " + err.Error(), Err: err}}
}

// joinPath writes a field path the way people read it: spec.env[2].name.
func joinPath(p []string) string {
	var b strings.Builder
	for i, s := range p {
		if s != "" && s[0] >= '0' && s[0] <= '9' {
			b.WriteString("[" + s + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}
