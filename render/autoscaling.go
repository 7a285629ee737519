package render

import (
	"fmt"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// autoscaler returns a HorizontalPodAutoscaler on CPU when the app may scale (min ≠ max), nil
// otherwise.
func (g *generator) autoscaler() *autoscalingv2.HorizontalPodAutoscaler {
	lo, hi := replicaBounds(&g.app.Spec)
	if lo > hi {
		g.fail([]string{"spec", "replicas", "min"}, fmt.Sprintf("min (%d) is above max (%d)", lo, hi))
		return nil
	}
	if lo < 0 {
		g.fail([]string{"spec", "replicas", "min"}, "min must not be negative")
		return nil
	}
	if lo == hi {
		return nil
	}
	if lo == 0 {
		g.fail([]string{"spec", "replicas", "min"}, "an autoscaled app needs min ≥ 1; set max to 0 as well to stop the app")
		return nil
	}
	threshold := int32(defaultCPUThreshold)
	if r := g.app.Spec.Replicas; r != nil && r.CPUThresholdPercentage != 0 {
		threshold = r.CPUThresholdPercentage
	}
	return &autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: g.meta(g.app.Metadata.Name),
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: g.app.Metadata.Name},
			MinReplicas:    ptr.To(lo),
			MaxReplicas:    hi,
			Metrics: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricSource{
					Name:   corev1.ResourceCPU,
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(threshold)},
				},
			}},
		},
	}
}

// disruptionBudget keeps all but one pod up during node drains. With a single replica such a
// budget would block drains forever, so there is none when min or max is 1.
func (g *generator) disruptionBudget() *policyv1.PodDisruptionBudget {
	lo, hi := replicaBounds(&g.app.Spec)
	if lo <= 1 || hi <= 1 {
		return nil
	}
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: g.meta(g.app.Metadata.Name),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			Selector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": g.app.Metadata.Name}},
		},
	}
}
