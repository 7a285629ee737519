package render

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// NAIS's defaults, applied where the spec is silent.
const (
	defaultPort              = 8080
	defaultServicePort       = 80
	defaultMinReplicas       = 2
	defaultMaxReplicas       = 4
	defaultCPUThreshold      = 50
	defaultCPURequest        = "200m"
	defaultMemoryRequest     = "256Mi"
	defaultMemoryLimit       = "512Mi"
	defaultPreStopSleep      = 5
	defaultTerminationGrace  = 30
	defaultProgressDeadline  = 300
	defaultRevisionHistory   = 3
	defaultPrometheusPath    = "/metrics"
	podUserID                = 1069
	tmpVolume                = "writable-tmp"
	defaultConfigMapMountDir = "/var/run/configmaps"
	defaultSecretMountDir    = "/var/run/secrets"
	defaultPVCMountDir       = "/var/run/pvc"
)

// replicaBounds returns min and max replicas with NAIS's defaults (2–4).
func replicaBounds(spec *AppSpec) (int32, int32) {
	lo, hi := int32(defaultMinReplicas), int32(defaultMaxReplicas)
	if r := spec.Replicas; r != nil {
		if r.Min != nil {
			lo = *r.Min
		}
		if r.Max != nil {
			hi = *r.Max
		}
		if r.DisableAutoScaling {
			hi = lo
		}
	}
	return lo, hi
}

func appPort(spec *AppSpec) int32 {
	if spec.Port != 0 {
		return spec.Port
	}
	return defaultPort
}

// deployment builds the app's Deployment: one container named after the app, NAIS's security
// settings, probes, resources and the platform environment variables.
func (g *generator) deployment() *appsv1.Deployment {
	spec := &g.app.Spec
	name := g.app.Metadata.Name
	lo, hi := replicaBounds(spec)
	port := appPort(spec)

	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: g.meta(name),
		Spec: appsv1.DeploymentSpec{
			Selector:                &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			ProgressDeadlineSeconds: ptr.To[int32](defaultProgressDeadline),
			RevisionHistoryLimit:    ptr.To[int32](defaultRevisionHistory),
			Strategy:                g.strategy(),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: g.labels(), Annotations: g.podAnnotations(port)},
				Spec:       g.podSpec(port),
			},
		},
	}
	if lo == hi {
		// Without an autoscaler the Deployment owns the replica count; with one, leaving it unset
		// lets the HPA's choice survive every apply.
		d.Spec.Replicas = ptr.To(lo)
	}
	return d
}

func (g *generator) strategy() appsv1.DeploymentStrategy {
	s := g.app.Spec.Strategy
	if s != nil && s.Type == string(appsv1.RecreateDeploymentStrategyType) {
		return appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	}
	ru := &appsv1.RollingUpdateDeployment{
		MaxUnavailable: ptr.To(intstr.FromInt32(0)),
		MaxSurge:       ptr.To(intstr.FromString("25%")),
	}
	if s != nil && s.RollingUpdate != nil {
		if s.RollingUpdate.MaxSurge != nil {
			ru.MaxSurge = s.RollingUpdate.MaxSurge
		}
		if s.RollingUpdate.MaxUnavailable != nil {
			ru.MaxUnavailable = s.RollingUpdate.MaxUnavailable
		}
	}
	return appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: ru}
}

func (g *generator) podAnnotations(port int32) map[string]string {
	a := map[string]string{"kubectl.kubernetes.io/default-container": g.app.Metadata.Name}
	if p := g.app.Spec.Prometheus; p != nil && p.Enabled {
		a["prometheus.io/scrape"] = "true"
		a["prometheus.io/path"] = cmpOr(p.Path, defaultPrometheusPath)
		a["prometheus.io/port"] = cmpOr(p.Port, strconv.Itoa(int(port)))
	}
	return a
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (g *generator) podSpec(port int32) corev1.PodSpec {
	spec := &g.app.Spec
	name := g.app.Metadata.Name
	volumes, mounts := g.volumes()
	grace := int64(defaultTerminationGrace)
	if spec.TerminationGracePeriodSeconds != nil {
		grace = *spec.TerminationGracePeriodSeconds
	}
	c := corev1.Container{
		Name:            name,
		Image:           g.image,
		Command:         spec.Command,
		Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: port, Protocol: corev1.ProtocolTCP}},
		Env:             g.envVars(port),
		EnvFrom:         g.envFrom(),
		Resources:       g.resources(),
		VolumeMounts:    mounts,
		LivenessProbe:   g.probe(spec.Liveness, "liveness", port),
		ReadinessProbe:  g.probe(spec.Readiness, "readiness", port),
		StartupProbe:    g.probe(spec.Startup, "startup", port),
		Lifecycle:       &corev1.Lifecycle{PreStop: g.preStop(port)},
		ImagePullPolicy: corev1.PullIfNotPresent,
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             ptr.To(true),
			RunAsUser:                ptr.To[int64](podUserID),
			RunAsGroup:               ptr.To[int64](podUserID),
			Privileged:               ptr.To(false),
			AllowPrivilegeEscalation: ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	}
	return corev1.PodSpec{
		ServiceAccountName:            name,
		TerminationGracePeriodSeconds: &grace,
		Containers:                    []corev1.Container{c},
		Volumes:                       volumes,
		SecurityContext: &corev1.PodSecurityContext{
			FSGroup:        ptr.To[int64](podUserID),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
				Weight: 10,
				PodAffinityTerm: corev1.PodAffinityTerm{
					TopologyKey:   "kubernetes.io/hostname",
					LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
				},
			}},
		}},
	}
}

func (g *generator) probe(p *Probe, field string, port int32) *corev1.Probe {
	if p == nil || p.Path == "" {
		return nil
	}
	pp := p.Port
	if pp == 0 {
		pp = port
	}
	if !strings.HasPrefix(p.Path, "/") {
		g.fail([]string{"spec", field, "path"}, fmt.Sprintf("probe path %q must start with /", p.Path))
	}
	return &corev1.Probe{
		ProbeHandler:        corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: p.Path, Port: intstr.FromInt32(pp)}},
		InitialDelaySeconds: p.InitialDelay,
		PeriodSeconds:       cmpOrInt(p.PeriodSeconds, 10),
		TimeoutSeconds:      cmpOrInt(p.Timeout, 1),
		FailureThreshold:    cmpOrInt(p.FailureThreshold, 3),
		SuccessThreshold:    1,
	}
}

func cmpOrInt(a, b int32) int32 {
	if a != 0 {
		return a
	}
	return b
}

func (g *generator) preStop(port int32) *corev1.LifecycleHandler {
	h := g.app.Spec.PreStopHook
	switch {
	case h != nil && h.Exec != nil:
		return &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: h.Exec.Command}}
	case h != nil && h.HTTP != nil:
		return &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: h.HTTP.Path, Port: intstr.FromInt32(cmpOrInt(h.HTTP.Port, port))}}
	}
	// A short pause lets endpoints and ingress controllers stop sending traffic before the
	// container gets SIGTERM. The sleep action needs no shell in the image.
	return &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: defaultPreStopSleep}}
}

// The default quantities, parsed once. Quantity is a value: each ResourceList gets a copy.
var (
	defaultCPURequestQuantity    = resource.MustParse(defaultCPURequest)
	defaultMemoryRequestQuantity = resource.MustParse(defaultMemoryRequest)
	defaultMemoryLimitQuantity   = resource.MustParse(defaultMemoryLimit)
)

func (g *generator) resources() corev1.ResourceRequirements {
	r := g.app.Spec.Resources
	req := corev1.ResourceList{
		corev1.ResourceCPU:    defaultCPURequestQuantity,
		corev1.ResourceMemory: defaultMemoryRequestQuantity,
	}
	lim := corev1.ResourceList{corev1.ResourceMemory: defaultMemoryLimitQuantity}
	if r != nil {
		g.quantities(r.Requests, req, "requests")
		g.quantities(r.Limits, lim, "limits")
	}
	return corev1.ResourceRequirements{Requests: req, Limits: lim}
}

func (g *generator) quantities(l *ResourceList, into corev1.ResourceList, field string) {
	if l == nil {
		return
	}
	for _, q := range []struct {
		name corev1.ResourceName
		v    string
	}{{corev1.ResourceCPU, l.CPU}, {corev1.ResourceMemory, l.Memory}} {
		if q.v == "" {
			continue
		}
		v, err := resource.ParseQuantity(q.v)
		if err != nil {
			g.fail([]string{"spec", "resources", field, string(q.name)}, fmt.Sprintf("%q is not a quantity; write it like \"200m\" (CPU) or \"512Mi\" (memory)", q.v))
			continue
		}
		into[q.name] = v
	}
}

// envVars returns the platform variables first, then the team's. A team variable with a platform
// variable's name replaces it (with a warning), since Kubernetes rejects duplicate names.
func (g *generator) envVars(port int32) []corev1.EnvVar {
	name := g.app.Metadata.Name
	vars := []corev1.EnvVar{
		{Name: "NAIS_APP_NAME", Value: name},
		{Name: "NAIS_NAMESPACE", Value: g.env.Namespace},
		{Name: "NAIS_APP_IMAGE", Value: g.image},
		{Name: "NAIS_CLUSTER_NAME", Value: g.env.Cluster},
		{Name: "NAIS_POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
		{Name: "NAIS_CLIENT_ID", Value: g.env.Cluster + ":" + g.env.Namespace + ":" + name},
		{Name: "PORT", Value: strconv.Itoa(int(port))},
		{Name: "BIND_ADDRESS", Value: "0.0.0.0:" + strconv.Itoa(int(port))},
	}
	platform := len(vars)
	for i, e := range g.app.Spec.Env {
		p := func() []string { return []string{"spec", "env", strconv.Itoa(i), "name"} }
		if e.Name == "" {
			g.fail(p(), "every env entry needs a name")
			continue
		}
		v := corev1.EnvVar{Name: e.Name, Value: e.Value, ValueFrom: e.ValueFrom}
		// The names in vars are distinct, and few: a search is cheaper than an index.
		if j := slices.IndexFunc(vars, func(v corev1.EnvVar) bool { return v.Name == e.Name }); j >= 0 {
			if j < platform {
				g.warnAt(p(), Overridden, fmt.Sprintf("env %s replaces the platform's value", e.Name))
				vars[j] = v
			} else {
				g.fail(p(), fmt.Sprintf("env %s is set twice; keep one", e.Name))
			}
			continue
		}
		vars = append(vars, v)
	}
	return vars
}

func (g *generator) envFrom() []corev1.EnvFromSource {
	var out []corev1.EnvFromSource
	for i, e := range g.app.Spec.EnvFrom {
		switch {
		case e.Secret != "" && e.ConfigMap == "":
			out = append(out, corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: e.Secret}}})
		case e.ConfigMap != "" && e.Secret == "":
			out = append(out, corev1.EnvFromSource{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: e.ConfigMap}}})
		default:
			g.fail([]string{"spec", "envFrom", strconv.Itoa(i)}, "set exactly one of secret or configmap")
		}
	}
	return out
}

// volumes returns the pod's volumes and the container's mounts: the writable /tmp, then
// filesFrom in order, each at NAIS's default path unless mountPath says otherwise.
func (g *generator) volumes() ([]corev1.Volume, []corev1.VolumeMount) {
	vols := []corev1.Volume{{Name: tmpVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	mounts := []corev1.VolumeMount{{Name: tmpVolume, MountPath: "/tmp"}}
	seen := map[string]bool{tmpVolume: true}
	for i, f := range g.app.Spec.FilesFrom {
		p := []string{"spec", "filesFrom", strconv.Itoa(i)}
		var v corev1.Volume
		var mountPath string
		readOnly := true
		n := 0
		if f.ConfigMap != "" {
			n++
			v = corev1.Volume{Name: volumeName("cm", f.ConfigMap), VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: f.ConfigMap}}}}
			mountPath = path.Join(defaultConfigMapMountDir, f.ConfigMap)
		}
		if f.Secret != "" {
			n++
			v = corev1.Volume{Name: volumeName("secret", f.Secret), VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: f.Secret}}}
			mountPath = path.Join(defaultSecretMountDir, f.Secret)
		}
		if f.PersistentVolumeClaim != "" {
			n++
			v = corev1.Volume{Name: volumeName("pvc", f.PersistentVolumeClaim), VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: f.PersistentVolumeClaim}}}
			mountPath = path.Join(defaultPVCMountDir, f.PersistentVolumeClaim)
			readOnly = false
		}
		if f.EmptyDir != nil {
			n++
			if f.MountPath == "" {
				g.fail(append(p, "mountPath"), "an emptyDir needs a mountPath")
				continue
			}
			v = corev1.Volume{Name: volumeName("emptydir", f.MountPath), VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMedium(f.EmptyDir.Medium)}}}
			readOnly = false
		}
		if n != 1 {
			g.fail(p, "set exactly one of configmap, secret, emptyDir or persistentVolumeClaim")
			continue
		}
		if f.MountPath != "" {
			mountPath = f.MountPath
		}
		if seen[v.Name] {
			g.fail(p, "this volume is already mounted; list it once")
			continue
		}
		seen[v.Name] = true
		vols = append(vols, v)
		mounts = append(mounts, corev1.VolumeMount{Name: v.Name, MountPath: mountPath, ReadOnly: readOnly})
	}
	return vols, mounts
}

// volumeName makes a valid, stable volume name (DNS label, at most 63 characters).
func volumeName(prefix, s string) string {
	var b strings.Builder
	b.WriteString(prefix)
	b.WriteByte('-')
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	n := strings.Trim(b.String(), "-")
	if len(n) > 63 {
		n = strings.Trim(n[:54], "-") + "-" + shortHash(s)
	}
	return n
}
