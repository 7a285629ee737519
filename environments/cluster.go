package environments

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Client limits for flyt's connection to each cluster. client-go's defaults (5 QPS, burst 10)
// starve a controller that applies dozens of objects per deploy and waits on them.
const (
	DefaultQPS   = 50
	DefaultBurst = 100
	userAgent    = "flyt"
)

// ErrNoCluster is wrapped when an environment has no usable cluster connection configured.
var ErrNoCluster = errors.New("no cluster connection")

// RESTConfig builds the client config for the environment's cluster: the service account flyt
// runs as (InCluster), or a kubeconfig file and context. Errors name the environment and file,
// never credentials. (*rest.Config).String already redacts tokens and keys if it is printed.
func (e *Environment) RESTConfig() (*rest.Config, error) {
	var cfg *rest.Config
	switch {
	case e.Cluster.InCluster:
		c, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("environment %s: in-cluster config: %w", e.Name, err)
		}
		cfg = c
	case e.Cluster.Kubeconfig != "":
		c, err := kubeconfig(e.Cluster.Kubeconfig, e.Cluster.Context)
		if err != nil {
			return nil, fmt.Errorf("environment %s: %w", e.Name, err)
		}
		cfg = c
	default:
		return nil, fmt.Errorf("environment %s: set cluster.kubeconfig or cluster.inCluster: %w", e.Name, ErrNoCluster)
	}
	cfg.QPS = DefaultQPS
	cfg.Burst = DefaultBurst
	cfg.UserAgent = userAgent + "/" + e.Name
	return cfg, nil
}

// kubeconfig loads path (paths inside it are relative to it) and picks context, or the file's
// current context when empty. A missing context lists the ones the file has.
func kubeconfig(path, context string) (*rest.Config, error) {
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: path}
	raw, err := rules.Load()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", path, err)
	}
	name := context
	if name == "" {
		name = raw.CurrentContext
	}
	if _, ok := raw.Contexts[name]; !ok || name == "" {
		have := make([]string, 0, len(raw.Contexts))
		for n := range raw.Contexts {
			have = append(have, n)
		}
		slices.Sort(have)
		if context == "" {
			return nil, fmt.Errorf("kubeconfig %s has no current context; set cluster.context to one of: %s: %w", path, strings.Join(have, ", "), ErrNoCluster)
		}
		return nil, fmt.Errorf("kubeconfig %s has no context %q; use one of: %s: %w", path, context, strings.Join(have, ", "), ErrNoCluster)
	}
	cfg, err := clientcmd.NewNonInteractiveClientConfig(*raw, name, &clientcmd.ConfigOverrides{}, rules).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s context %s: %w", path, name, err)
	}
	return cfg, nil
}

// ImpersonateTeam returns a copy of cfg that acts as the service account sa in namespace ns,
// so the cluster's own RBAC confines a team's writes to what that account may do: a second
// fence behind flyt's namespace and kind checks. flyt's own identity needs the "impersonate"
// verb on serviceaccounts for this. With sa empty it returns an unchanged copy.
func ImpersonateTeam(cfg *rest.Config, ns, sa string) *rest.Config {
	c := rest.CopyConfig(cfg)
	if sa != "" {
		c.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":" + sa}
	}
	return c
}
