package render

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

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

// fieldProblem is an unknown field found while decoding.
type fieldProblem struct {
	path []string
	msg  string
}

var (
	rawMessageType = reflect.TypeFor[json.RawMessage]()
	intOrStrType   = reflect.TypeFor[intstr.IntOrString]()
)

// unknownFields walks v (decoded YAML) against the json tags of t and reports every key t has
// no field for, with a suggestion when a known field is a likely typo.
func unknownFields(v any, t reflect.Type, path []string, out *[]fieldProblem) {
	w := fieldWalker{out: out}
	w.walk(v, t, path)
}

// fieldWalker is unknownFields' state. path and keys are stacks: a child appends to them and
// truncates them back before it returns, so a walk allocates them about once; a problem keeps
// a copy of its path.
type fieldWalker struct {
	out  *[]fieldProblem
	keys []string
}

// sortedKeys pushes m's keys, sorted, onto w.keys and returns where they start.
func (w *fieldWalker) sortedKeys(m map[string]any) int {
	base := len(w.keys)
	for k := range m {
		w.keys = append(w.keys, k)
	}
	slices.Sort(w.keys[base:])
	return base
}

func (w *fieldWalker) pop(base int) {
	clear(w.keys[base:])
	w.keys = w.keys[:base]
}

func (w *fieldWalker) walk(v any, t reflect.Type, path []string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawMessageType || t == intOrStrType {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return // a type error, reported by the decoder
		}
		fields := jsonFields(t)
		base, end := w.sortedKeys(m), len(w.keys)
		// Index, not range: a child's walk may grow (and move) w.keys.
		for i := base; i < end; i++ {
			k := w.keys[i]
			ft, ok := fields[k]
			p := append(path, k)
			if !ok {
				names := sortedKeys(fields)
				msg := fmt.Sprintf("unknown field %q", k)
				if s := yamlpos.Suggest(k, names); s != "" {
					msg += fmt.Sprintf("; did you mean %q?", s)
				} else {
					msg += "; remove it or check its indentation"
				}
				*w.out = append(*w.out, fieldProblem{path: slices.Clone(p), msg: msg})
				continue
			}
			w.walk(m[k], ft, p)
		}
		w.pop(base)
	case reflect.Slice:
		s, ok := v.([]any)
		if !ok {
			return
		}
		for i, x := range s {
			w.walk(x, t.Elem(), append(path, strconv.Itoa(i)))
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		base, end := w.sortedKeys(m), len(w.keys)
		for i := base; i < end; i++ {
			w.walk(m[w.keys[i]], t.Elem(), append(path, w.keys[i]))
		}
		w.pop(base)
	}
}

// fieldCache memoizes jsonFields per type; decoding is on every render's path.
var fieldCache sync.Map // reflect.Type → map[string]reflect.Type

func jsonFields(t reflect.Type) map[string]reflect.Type {
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string]reflect.Type)
	}
	f := buildJSONFields(t)
	fieldCache.Store(t, f)
	return f
}

func buildJSONFields(t reflect.Type) map[string]reflect.Type {
	fields := make(map[string]reflect.Type, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			if f.Anonymous {
				for k, v := range jsonFields(f.Type) {
					fields[k] = v
				}
				continue
			}
			name = f.Name
		}
		fields[name] = f.Type
	}
	return fields
}

// decodeStrict decodes v (the merged document) into out, which must be a pointer to a struct.
// Unknown fields and wrong types come back as positioned problems; pos finds the place of a
// field path in the team's files.
func decodeStrict(v any, out any, pos func(path []string, key bool) (file string, line, col int)) Errors {
	rv := reflect.ValueOf(out).Elem()
	if decodeValue(v, rv) {
		return nil
	}
	// Something is off: start again the thorough way, which finds every problem and says where.
	rv.SetZero()
	var errs Errors
	var unknown []fieldProblem
	unknownFields(v, reflect.TypeOf(out), make([]string, 0, 16), &unknown)
	for _, u := range unknown {
		file, line, col := pos(u.path, true)
		errs = append(errs, &Error{File: file, Line: line, Column: col, Path: joinPath(u.path), Msg: u.msg})
	}
	var buf bytes.Buffer
	buf.Grow(4096)
	if err := appendJSON(&buf, v); err != nil {
		errs = append(errs, &Error{Msg: "cannot encode the document: " + err.Error(), Err: err})
		return errs
	}
	if err := json.Unmarshal(buf.Bytes(), out); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			path := splitPath(te.Field)
			file, line, col := pos(path, false)
			errs = append(errs, &Error{File: file, Line: line, Column: col, Path: joinPath(path),
				Msg: fmt.Sprintf("wrong type: want %s, got %s", typeName(te.Type), te.Value), Err: err})
		} else {
			file, line, col := pos(nil, false)
			errs = append(errs, &Error{File: file, Line: line, Column: col, Msg: "cannot decode: " + err.Error(), Err: err})
		}
	}
	return errs
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// decodeValue is decodeStrict's fast path: it sets v (settable, zero) from x as encoding/json
// would set it from x's JSON, and says false as soon as it meets anything decodeStrict would
// report (an unknown field, a wrong type) or that it does not mirror, leaving that to the
// thorough path. Documents that are fine, the usual case, are decoded without going through JSON.
func decodeValue(x any, v reflect.Value) bool {
	t := v.Type()
	if t.Kind() == reflect.Pointer {
		if x == nil {
			return true // null leaves a pointer nil
		}
		p := reflect.New(t.Elem())
		if !decodeValue(x, p.Elem()) {
			return false
		}
		v.Set(p)
		return true
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		switch x.(type) {
		case map[string]any, []any:
			if t != rawMessageType && t != intOrStrType {
				return false // unknownFields may have something to say about its contents
			}
		}
		var buf bytes.Buffer
		if appendJSON(&buf, x) != nil {
			return false
		}
		return v.Addr().Interface().(json.Unmarshaler).UnmarshalJSON(buf.Bytes()) == nil
	}
	if x == nil {
		return true // null leaves any other value as it is: zero
	}
	switch t.Kind() {
	case reflect.Bool:
		b, ok := x.(bool)
		v.SetBool(b)
		return ok
	case reflect.String:
		s, ok := x.(string)
		v.SetString(validUTF8(s))
		return ok
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, ok := x.(int64)
		if !ok || v.OverflowInt(i) {
			return false
		}
		v.SetInt(i)
		return true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		i, ok := x.(int64)
		if !ok || i < 0 || v.OverflowUint(uint64(i)) {
			return false
		}
		v.SetUint(uint64(i))
		return true
	case reflect.Slice:
		s, ok := x.([]any)
		if !ok || t.Elem().Kind() == reflect.Uint8 {
			return false
		}
		out := reflect.MakeSlice(t, len(s), len(s))
		for i, e := range s {
			if !decodeValue(e, out.Index(i)) {
				return false
			}
		}
		v.Set(out)
		return true
	case reflect.Map:
		m, ok := x.(map[string]any)
		if !ok || t.Key().Kind() != reflect.String || reflect.PointerTo(t.Key()).Implements(textUnmarshalerType) {
			return false
		}
		if t == stringMapType { // labels and annotations, without reflection
			out := make(map[string]string, len(m))
			for k, e := range m {
				s, ok := e.(string)
				if !ok && e != nil {
					return false
				}
				out[validUTF8(k)] = validUTF8(s)
			}
			v.Set(reflect.ValueOf(out))
			return true
		}
		out := reflect.MakeMapWithSize(t, len(m))
		for k, e := range m {
			ev := reflect.New(t.Elem()).Elem()
			if !decodeValue(e, ev) {
				return false
			}
			kv := reflect.New(t.Key()).Elem()
			kv.SetString(validUTF8(k))
			out.SetMapIndex(kv, ev)
		}
		v.Set(out)
		return true
	case reflect.Struct:
		m, ok := x.(map[string]any)
		fields := decodeFields(t)
		if !ok || fields == nil {
			return false
		}
		for k, e := range m {
			index, ok := fields[k]
			if !ok || !decodeValue(e, v.FieldByIndex(index)) {
				return false
			}
		}
		return true
	}
	return false // floats, interfaces, arrays: rare, left to encoding/json
}

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

// decodeFieldCache memoizes decodeFields per type.
var decodeFieldCache sync.Map // reflect.Type → map[string][]int

// decodeFields maps t's JSON field names to their indices, nil when decodeValue should leave t
// to encoding/json. The fields are those encoding/json writes, which are those it reads.
func decodeFields(t reflect.Type) map[string][]int {
	if f, ok := decodeFieldCache.Load(t); ok {
		return f.(map[string][]int)
	}
	var out map[string][]int
	if fields, ok := structFields(t, nil); ok {
		out = make(map[string][]int, len(fields))
		for _, f := range fields {
			out[f.name] = f.index
		}
	}
	decodeFieldCache.Store(t, out)
	return out
}

func typeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a map"
	}
	return t.String()
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
