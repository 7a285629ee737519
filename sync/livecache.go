package sync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	gosync "sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
)

// liveCache makes the drift check of an unchanged app, and the apply of an object a new
// revision leaves as it was, cost no API request. It watches the metadata of flyt's objects
// (metadata-only informers, one per kind and namespace, started the first time they are
// needed) and remembers, per object, the fingerprint of flyt's field ownership at the moment
// flyt knew the object to be as it applied it: from the response of flyt's own apply, or after
// a dry-run diff found no drift.
//
// The fingerprint is a hash of flyt's server-side-apply managedFields entry (its field set,
// without the timestamp). Any change to a field flyt owns, by anyone else and by any route
// (kubectl edit, scale, apply --force-conflicts, a controller's update), takes the field away
// from flyt and so changes the fingerprint; status updates and fields flyt does not own do
// not. An object whose fingerprint still matches, and whose AnnotationDigest equals the
// digest of what flyt would apply now, is exactly as rendered; any other (changed, deleted,
// not yet seen by the watch, or never verified since flyt started) gets the full dry-run
// diff, or the apply. The cache only ever skips work: a wrong or missing entry costs
// requests, never a missed drift that the dry-run would have found.
type liveCache struct {
	client      metadata.Interface
	typed       kubernetes.Interface
	mapper      meta.RESTMapper
	environment string
	// ctx ends when the Cluster is closed; the informers run until then.
	ctx context.Context

	mu        gosync.Mutex
	informers map[informerKey]*informer
	verified  map[string]string // flyt's fingerprint when it last knew the object in sync, by objKey
}

// informer is one watch; disabled when the API server refused it (flyt's identity there
// may not list or watch the kind), so that checks go straight to the dry-run.
type informer struct {
	cache.SharedIndexInformer
	disabled atomic.Bool
}

type informerKey struct {
	gvr       schema.GroupVersionResource
	namespace string
	// full objects (typed), not metadata only
	full bool
}

// syncTimeout bounds the wait for a new informer's first list; a drift check that cannot
// use the cache by then (no list/watch permission, a slow API server) does the dry-run.
const syncTimeout = 10 * time.Second

func newLiveCache(ctx context.Context, client metadata.Interface, typed kubernetes.Interface, mapper meta.RESTMapper, environment string) *liveCache {
	return &liveCache{client: client, typed: typed, mapper: mapper, environment: environment, ctx: ctx,
		informers: map[informerKey]*informer{}, verified: map[string]string{}}
}

// fingerprint hashes flyt's apply entry in managed fields; "" when flyt owns nothing there.
func fingerprint(entries []metav1.ManagedFieldsEntry) string {
	h := sha256.New()
	found := false
	for _, e := range entries {
		if e.Manager != FieldManager || e.Operation != metav1.ManagedFieldsOperationApply || e.Subresource != "" {
			continue
		}
		found = true
		h.Write([]byte(e.APIVersion))
		h.Write([]byte{0})
		if e.FieldsV1 != nil {
			h.Write(e.FieldsV1.GetRawBytes())
		}
		h.Write([]byte{0})
	}
	if !found {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// observeApplied records the object flyt just applied (the API server's response) as in sync.
func (c *liveCache) observeApplied(u *unstructured.Unstructured) { c.verify(u) }

// verify records live, flyt's own apply response or just read from the API server and found
// in sync, as in sync.
func (c *liveCache) verify(live *unstructured.Unstructured) {
	fp := fingerprint(live.GetManagedFields())
	if fp == "" {
		return
	}
	gvk := live.GroupVersionKind()
	c.mu.Lock()
	c.verified[objKey(gvk.Group, gvk.Kind, live.GetNamespace(), live.GetName())] = fp
	c.mu.Unlock()
}

// inSync reports whether the watch shows o exactly as flyt would apply it now: flyt's field
// ownership unchanged since flyt last knew the object in sync, and the digest of what it
// applied then equal to o's. False means "check it", not "drifted".
func (c *liveCache) inSync(ctx context.Context, o *unstructured.Unstructured) bool {
	gvk := o.GroupVersionKind()
	key := objKey(gvk.Group, gvk.Kind, o.GetNamespace(), o.GetName())
	c.mu.Lock()
	fp, ok := c.verified[key]
	c.mu.Unlock()
	digest := o.GetAnnotations()[AnnotationDigest]
	if !ok || digest == "" {
		return false
	}
	inf := c.informer(ctx, gvk, o.GetNamespace())
	if inf == nil {
		return false
	}
	item, exists, err := inf.GetStore().GetByKey(o.GetNamespace() + "/" + o.GetName())
	if err != nil || !exists {
		return false
	}
	m, ok := item.(*cachedObject)
	return ok && m.fingerprint == fp && m.digest == digest
}

// absent returns the objects among objs that the watch shows do not exist. Objects it cannot
// tell about (the watch refused or not synced in time) are not in the result.
func (c *liveCache) absent(ctx context.Context, objs []*unstructured.Unstructured) map[*unstructured.Unstructured]bool {
	// Start every watch needed before waiting for any, so that they list at once.
	type kindNS struct {
		gvk schema.GroupVersionKind
		ns  string
	}
	var need []kindNS
	for _, o := range objs {
		if k := (kindNS{o.GroupVersionKind(), o.GetNamespace()}); !slices.Contains(need, k) {
			need = append(need, k)
		}
	}
	infs := map[kindNS]*informer{}
	var wg gosync.WaitGroup
	var mu gosync.Mutex
	for _, k := range need {
		wg.Go(func() {
			inf := c.informer(ctx, k.gvk, k.ns)
			mu.Lock()
			infs[k] = inf
			mu.Unlock()
		})
	}
	wg.Wait()
	out := map[*unstructured.Unstructured]bool{}
	for _, o := range objs {
		inf := infs[kindNS{o.GroupVersionKind(), o.GetNamespace()}]
		if inf == nil {
			continue
		}
		if _, exists, err := inf.GetStore().GetByKey(o.GetNamespace() + "/" + o.GetName()); err == nil && !exists {
			out[o] = true
		}
	}
	return out
}

// informer returns the synced metadata informer of gvk's objects in namespace; nil when it
// cannot be used.
func (c *liveCache) informer(ctx context.Context, gvk schema.GroupVersionKind, namespace string) *informer {
	mapping, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil
	}
	return c.start(ctx, informerKey{gvr: mapping.Resource, namespace: namespace}, func(opts func(*metav1.ListOptions)) cache.SharedIndexInformer {
		inf := metadatainformer.NewFilteredMetadataInformer(c.client, mapping.Resource, namespace, 0, cache.Indexers{}, opts).Informer()
		_ = inf.SetTransform(trimForCache)
		return inf
	})
}

// deployments returns the synced informer of flyt's Deployments in namespace, whole but for
// their pod template and managed fields, for the readiness wait; nil when it cannot be used.
func (c *liveCache) deployments(ctx context.Context, namespace string) *informer {
	return c.start(ctx, informerKey{gvr: appsv1.SchemeGroupVersion.WithResource("deployments"), namespace: namespace, full: true}, func(opts func(*metav1.ListOptions)) cache.SharedIndexInformer {
		lw := cache.NewFilteredListWatchFromClient(c.typed.AppsV1().RESTClient(), "deployments", namespace, opts)
		inf := cache.NewSharedIndexInformer(lw, &appsv1.Deployment{}, 0, cache.Indexers{})
		_ = inf.SetTransform(trimDeployment)
		return inf
	})
}

// start returns the informer k, starting it with build on first use, once it has synced
// (waiting for that within syncTimeout); nil when it has not, or the API server refused it.
func (c *liveCache) start(ctx context.Context, k informerKey, build func(opts func(*metav1.ListOptions)) cache.SharedIndexInformer) *informer {
	c.mu.Lock()
	inf, ok := c.informers[k]
	if !ok {
		sel := labels.SelectorFromSet(labels.Set{LabelEnvironment: c.environment}).String()
		inf = &informer{SharedIndexInformer: build(func(o *metav1.ListOptions) { o.LabelSelector = sel })}
		ictx, stop := context.WithCancel(c.ctx)
		_ = inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
			if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
				inf.disabled.Store(true)
				stop()
				return
			}
			cache.DefaultWatchErrorHandler(ctx, r, err)
		})
		c.informers[k] = inf
		go inf.RunWithContext(ictx)
	}
	c.mu.Unlock()
	if inf.disabled.Load() {
		return nil
	}
	if !inf.HasSynced() {
		_ = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, syncTimeout, true, func(context.Context) (bool, error) {
			return inf.HasSynced() || inf.disabled.Load(), nil
		})
	}
	if !inf.HasSynced() || inf.disabled.Load() {
		return nil
	}
	return inf
}

// deployment returns the watched Deployment namespace/name, if the watch has it.
func (c *liveCache) deployment(ctx context.Context, namespace, name string) (*appsv1.Deployment, bool) {
	inf := c.deployments(ctx, namespace)
	if inf == nil {
		return nil, false
	}
	item, exists, err := inf.GetStore().GetByKey(namespace + "/" + name)
	if err != nil || !exists {
		return nil, false
	}
	d, ok := item.(*appsv1.Deployment)
	return d, ok
}

// trimDeployment drops what the readiness wait does not read from a watched Deployment.
func trimDeployment(obj any) (any, error) {
	d, ok := obj.(*appsv1.Deployment)
	if !ok || d.ManagedFields == nil && d.Spec.Template.Spec.Containers == nil {
		return obj, nil
	}
	t := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: d.Name, Namespace: d.Namespace, UID: d.UID,
		ResourceVersion: d.ResourceVersion, Generation: d.Generation, Labels: d.Labels, Annotations: d.Annotations},
		Status: d.Status}
	t.Spec = d.Spec
	t.Spec.Template = corev1.PodTemplateSpec{}
	return t, nil
}

// cachedObject is what the cache keeps of an object: its identity, fingerprint and digest.
type cachedObject struct {
	metav1.PartialObjectMetadata
	fingerprint string
	digest      string // its AnnotationDigest
}

// trimForCache replaces an object's metadata with its identity, fingerprint and digest, a few hundred
// bytes whatever the size of its managed fields. client-go may transform an object twice.
func trimForCache(obj any) (any, error) {
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return obj, nil // a cachedObject already, or a tombstone
	}
	return &cachedObject{
		PartialObjectMetadata: metav1.PartialObjectMetadata{TypeMeta: m.TypeMeta, ObjectMeta: metav1.ObjectMeta{
			Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion}},
		fingerprint: fingerprint(m.ManagedFields),
		digest:      m.Annotations[AnnotationDigest],
	}, nil
}
