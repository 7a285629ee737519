package sync

import (
	"context"
	"fmt"
	"net/http"

	"github.com/fluxcd/pkg/ssa"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// FieldManager is the server-side apply field manager of every write flyt makes.
const FieldManager = "flyt"

// Labels and annotations flyt puts on every object it applies. The labels let flyt find its
// objects again if the history store is lost; the annotations say which deploy last wrote an
// object and what it wrote, and let teams opt an object out of pruning.
const (
	LabelApp         = "flyt.dev/app"
	LabelTeam        = "flyt.dev/team"
	LabelEnvironment = "flyt.dev/environment"
	// AnnotationDeploy is the id of the deploy that last wrote the object. A deploy writes
	// only the objects it changes, so an object the new revision leaves as it was keeps the
	// id of the deploy that made it so.
	AnnotationDeploy = "flyt.dev/deploy-id"
	// AnnotationDigest is a hash of the object as flyt applied it (labels, annotations and
	// all, less AnnotationDeploy): with the watch of flyt's field ownership it tells, without
	// a request, that a live object is still exactly what a revision renders.
	AnnotationDigest = "flyt.dev/digest"
	// AnnotationPrune set to PruneDisabled keeps an object in the cluster when a later revision
	// no longer has it.
	AnnotationPrune = "flyt.dev/prune"
	PruneDisabled   = "disabled"
)

// Cluster is flyt's connection to one environment's Kubernetes API: one client, one resource
// manager, shared by every deploy to that environment. An unreachable cluster only fails the
// deploys of its own environment.
type Cluster struct {
	// Environment and Name identify the connection in history and logs.
	Environment string
	Name        string

	client  client.Client
	manager *ssa.ResourceManager
	live    *liveCache
	close   context.CancelFunc
}

// NewCluster connects to the cluster behind cfg. Nothing is requested until the first deploy:
// the REST mapper discovers API groups lazily.
func NewCluster(environment, name string, cfg *rest.Config) (*Cluster, error) {
	cfg = rest.CopyConfig(cfg)
	if cfg.UserAgent == "" {
		cfg.UserAgent = "flyt"
	}
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: build HTTP client: %w", name, err)
	}
	return newCluster(environment, name, cfg, httpClient)
}

func newCluster(environment, name string, cfg *rest.Config, httpClient *http.Client) (*Cluster, error) {
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: build REST mapper: %w", name, err)
	}
	direct, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme, Mapper: mapper, HTTPClient: httpClient})
	if err != nil {
		return nil, fmt.Errorf("cluster %s: build client: %w", name, err)
	}
	meta, err := metadata.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: build metadata client: %w", name, err)
	}
	// The Deployment watch of the readiness wait speaks protobuf: its events (every status
	// change of every rollout) are most of what flyt decodes during a big sync.
	pcfg := rest.CopyConfig(cfg)
	pcfg.ContentType = runtime.ContentTypeProtobuf
	pcfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	typed, err := kubernetes.NewForConfigAndClient(pcfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: build clientset: %w", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	live := newLiveCache(ctx, meta, typed, mapper, environment)
	// Every object flyt applies comes back from the API server as written; that response is
	// what the drift check later compares the watched object with.
	c := interceptor.NewClient(direct, interceptor.Funcs{
		Patch: func(ctx context.Context, cl client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			if err := cl.Patch(ctx, obj, patch, opts...); err != nil {
				return err
			}
			po := (&client.PatchOptions{}).ApplyOptions(opts)
			if u, ok := obj.(*unstructured.Unstructured); ok && patch.Type() == types.ApplyPatchType && len(po.DryRun) == 0 {
				live.observeApplied(u)
				if a, ok := ctx.Value(appliedKey{}).(*appliedObjects); ok {
					a.add(u.DeepCopy())
				}
			}
			return nil
		},
	})
	// No status poller: readiness is flyt's own loop over kstatus (Deployer.wait).
	m := ssa.NewResourceManager(c, nil, ssa.Owner{Field: FieldManager, Group: "flyt.dev"})
	m.SetConcurrency(8)
	return &Cluster{Environment: environment, Name: name, client: c, manager: m, live: live, close: cancel}, nil
}

// Close stops the cluster's watches. The connection must not be used afterwards.
func (c *Cluster) Close() { c.close() }

// Client returns the cluster's client.
func (c *Cluster) Client() client.Client { return c.client }

var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	return s
}()
