package render

import (
	"fmt"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// namespaceLabel is set by Kubernetes on every namespace to its name.
const namespaceLabel = "kubernetes.io/metadata.name"

// networkPolicy turns accessPolicy into a NetworkPolicy: traffic is denied both ways except
// what the rules allow, plus DNS. Rules naming another cluster cannot be expressed by a
// NetworkPolicy and are skipped with a warning. External hosts need FQDN-aware egress
// controls and are left to them; external IPv4 addresses become /32 ipBlocks.
func (g *generator) networkPolicy() *networkingv1.NetworkPolicy {
	name := g.app.Metadata.Name
	np := &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: g.meta(name),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{},
			Egress:      []networkingv1.NetworkPolicyEgressRule{dnsEgress()},
		},
	}
	ap := g.app.Spec.AccessPolicy
	if ap == nil {
		return np
	}
	if ap.Inbound != nil {
		var from []networkingv1.NetworkPolicyPeer
		for i, r := range ap.Inbound.Rules {
			if peer, ok := g.peer(r, []string{"spec", "accessPolicy", "inbound", "rules", strconv.Itoa(i)}); ok {
				from = append(from, peer)
			}
		}
		if len(from) > 0 {
			np.Spec.Ingress = append(np.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{From: from})
		}
	}
	if ap.Outbound != nil {
		var to []networkingv1.NetworkPolicyPeer
		for i, r := range ap.Outbound.Rules {
			if peer, ok := g.peer(r, []string{"spec", "accessPolicy", "outbound", "rules", strconv.Itoa(i)}); ok {
				to = append(to, peer)
			}
		}
		if len(to) > 0 {
			np.Spec.Egress = append(np.Spec.Egress, networkingv1.NetworkPolicyEgressRule{To: to})
		}
		for i, e := range ap.Outbound.External {
			if e.IPv4 == "" {
				continue
			}
			ip := net.ParseIP(e.IPv4)
			if ip == nil || ip.To4() == nil {
				g.fail([]string{"spec", "accessPolicy", "outbound", "external", strconv.Itoa(i), "ipv4"}, fmt.Sprintf("%q is not an IPv4 address", e.IPv4))
				continue
			}
			rule := networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: ip.To4().String() + "/32"}}}}
			for _, p := range e.Ports {
				rule.Ports = append(rule.Ports, networkingv1.NetworkPolicyPort{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt32(p.Port))})
			}
			np.Spec.Egress = append(np.Spec.Egress, rule)
		}
	}
	return np
}

// peer turns an access rule into a NetworkPolicy peer. "*" as application means every pod,
// as namespace every namespace; an empty namespace means the app's own.
func (g *generator) peer(r Rule, path []string) (networkingv1.NetworkPolicyPeer, bool) {
	if r.Cluster != "" && r.Cluster != g.env.Cluster {
		g.warnAt(path, SkippedRule, fmt.Sprintf("rule for %s in cluster %s skipped: a NetworkPolicy only covers cluster %s", r.Application, r.Cluster, g.env.Cluster))
		return networkingv1.NetworkPolicyPeer{}, false
	}
	if r.Application == "" {
		g.fail(append(path, "application"), `a rule needs an application (or "*")`)
		return networkingv1.NetworkPolicyPeer{}, false
	}
	var peer networkingv1.NetworkPolicyPeer
	if r.Application == "*" {
		peer.PodSelector = &metav1.LabelSelector{}
	} else {
		peer.PodSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": r.Application}}
	}
	switch r.Namespace {
	case "", g.env.Namespace:
		if r.Namespace != "" {
			peer.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{namespaceLabel: r.Namespace}}
		}
	case "*":
		peer.NamespaceSelector = &metav1.LabelSelector{}
	default:
		peer.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{namespaceLabel: r.Namespace}}
	}
	return peer, true
}

// dnsEgress lets the pods resolve names through the cluster DNS.
func dnsEgress() networkingv1.NetworkPolicyEgressRule {
	return networkingv1.NetworkPolicyEgressRule{
		To: []networkingv1.NetworkPolicyPeer{{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{namespaceLabel: "kube-system"}},
			PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}},
		}},
		Ports: []networkingv1.NetworkPolicyPort{
			{Protocol: ptr.To(corev1.ProtocolUDP), Port: ptr.To(intstr.FromInt32(53))},
			{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt32(53))},
		},
	}
}
