package render

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ingresses builds one Ingress per ingress class the app's hosts fall under. The class comes
// from the environment's domain table (the longest matching domain wins); a host under no
// listed domain is an error, since no controller would ever serve it.
func (g *generator) ingresses() []*networkingv1.Ingress {
	type route struct{ host, path string }
	byClass := map[string][]route{}
	for i, raw := range g.app.Spec.Ingresses {
		p := []string{"spec", "ingresses", strconv.Itoa(i)}
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			g.fail(p, fmt.Sprintf("ingress %q is not a URL like https://app.example.com/path", raw))
			continue
		}
		host := strings.ToLower(u.Hostname())
		if u.Port() != "" {
			g.fail(p, fmt.Sprintf("ingress %q has a port; ingresses serve on 443, remove the port", raw))
			continue
		}
		class, ok := g.classFor(host)
		if !ok {
			g.fail(p, fmt.Sprintf("host %q is not under a domain of environment %s; allowed domains: %s", host, g.env.Name, g.domains()))
			continue
		}
		path := u.Path
		if path == "" {
			path = "/"
		}
		r := route{host: host, path: path}
		if !slices.Contains(byClass[class], r) {
			byClass[class] = append(byClass[class], r)
		}
	}
	var out []*networkingv1.Ingress
	svc := &networkingv1.IngressServiceBackend{Name: g.app.Metadata.Name, Port: networkingv1.ServiceBackendPort{Name: "http"}}
	for _, class := range sortedKeys(byClass) {
		routes := byClass[class]
		var rules []networkingv1.IngressRule
		for _, r := range routes {
			if n := len(rules); n > 0 && rules[n-1].Host == r.host {
				rules[n-1].HTTP.Paths = append(rules[n-1].HTTP.Paths, ingressPath(r.path, svc))
				continue
			}
			rules = append(rules, networkingv1.IngressRule{Host: r.host, IngressRuleValue: networkingv1.IngressRuleValue{
				HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{ingressPath(r.path, svc)}},
			}})
		}
		slices.SortStableFunc(rules, func(a, b networkingv1.IngressRule) int { return strings.Compare(a.Host, b.Host) })
		out = append(out, &networkingv1.Ingress{
			TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"},
			ObjectMeta: g.meta(ingressName(g.app.Metadata.Name, class)),
			Spec:       networkingv1.IngressSpec{IngressClassName: &class, Rules: rules},
		})
	}
	return out
}

func ingressPath(path string, svc *networkingv1.IngressServiceBackend) networkingv1.HTTPIngressPath {
	pt := networkingv1.PathTypePrefix
	return networkingv1.HTTPIngressPath{Path: path, PathType: &pt, Backend: networkingv1.IngressBackend{Service: svc}}
}

// ingressName is "<app>-<class>": stable when the app later gains hosts in another class.
func ingressName(app, class string) string {
	n := app + "-" + strings.TrimPrefix(volumeName("x", class), "x-")
	if len(n) > 253 {
		n = n[:240] + "-" + shortHash(n)
	}
	return n
}

func (g *generator) classFor(host string) (string, bool) {
	best, class := -1, ""
	for _, d := range g.env.Ingresses {
		dom := strings.ToLower(strings.TrimPrefix(d.Domain, "."))
		if (host == dom || strings.HasSuffix(host, "."+dom)) && len(dom) > best {
			best, class = len(dom), d.Class
		}
	}
	return class, best >= 0
}

func (g *generator) domains() string {
	if len(g.env.Ingresses) == 0 {
		return "none (the environment has no ingress domains)"
	}
	var ds []string
	for _, d := range g.env.Ingresses {
		ds = append(ds, d.Domain)
	}
	slices.Sort(ds)
	return strings.Join(ds, ", ")
}
