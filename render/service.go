package render

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// service builds the ClusterIP Service in front of the app's pods. The port's name is the
// protocol (http by default) so that meshes and ingress controllers know how to speak to it.
func (g *generator) service() *corev1.Service {
	port := int32(defaultServicePort)
	proto := "http"
	if s := g.app.Spec.Service; s != nil {
		port = cmpOrInt(s.Port, port)
		if s.Protocol != "" {
			proto = strings.ToLower(s.Protocol)
		}
	}
	switch proto {
	case "http", "grpc", "redis", "tcp":
	default:
		g.fail([]string{"spec", "service", "protocol"}, "protocol "+proto+" is not one of http, grpc, redis, tcp")
	}
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: g.meta(g.app.Metadata.Name),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: map[string]string{"app": g.app.Metadata.Name},
			Ports: []corev1.ServicePort{{
				Name:       proto,
				Port:       port,
				Protocol:   corev1.ProtocolTCP,
				TargetPort: intstr.FromString("http"),
			}},
		},
	}
}

// serviceAccount gives the app its own identity, which workload identity integrations bind to.
func (g *generator) serviceAccount() *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: g.meta(g.app.Metadata.Name),
	}
}
