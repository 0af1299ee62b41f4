// Package live maps Kubernetes API objects, as the API server stores them,
// to the plain structs of provider/guard, and runs the rules on them: what
// the k8sguard_cluster_audit data source reports, and the guard side of
// the guardrails' differential tests. It reads defaulted objects, so unset
// fields take the API's defaults (scope "*", failurePolicy Fail, timeout 10).
package live

import (
	"fmt"
	"slices"
	"sort"

	admv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8sguard/k8sguard/provider/guard"
)

// Finding is a rule firing on a live object.
type Finding struct {
	guard.Finding
	Object guard.Object
}

// Check runs every rule enforced at the API server on obj, a pointer to
// one of the typed objects the guardrails match, and drops the findings
// its waiver annotations waive: the verdict the guardrails give.
func Check(obj any, s guard.Settings) ([]Finding, error) {
	var fs []guard.Finding
	var meta metav1.ObjectMeta
	var kind string
	switch o := obj.(type) {
	case *admv1.ValidatingWebhookConfiguration:
		meta, kind = o.ObjectMeta, "ValidatingWebhookConfiguration"
		fs = guard.CheckWebhooks(ValidatingWebhooks(o), s)
	case *admv1.MutatingWebhookConfiguration:
		meta, kind = o.ObjectMeta, "MutatingWebhookConfiguration"
		fs = guard.CheckWebhooks(MutatingWebhooks(o), s)
	case *batchv1.CronJob:
		meta, kind = o.ObjectMeta, "CronJob"
		fs = guard.CheckCronJob(CronJob(o))
	case *corev1.Service:
		meta, kind = o.ObjectMeta, "Service"
		fs = guard.CheckService(Service(o))
	case *appsv1.Deployment:
		meta, kind = o.ObjectMeta, "Deployment"
		fs = guard.CheckWorkload(Workload(kind, o.Spec.Replicas, o.Spec.Template))
	case *appsv1.StatefulSet:
		meta, kind = o.ObjectMeta, "StatefulSet"
		fs = guard.CheckWorkload(Workload(kind, o.Spec.Replicas, o.Spec.Template))
	default:
		return nil, fmt.Errorf("live: no guardrail rules for %T", obj)
	}
	ref := guard.Object{Kind: kind, Namespace: meta.Namespace, Name: meta.Name, Annotations: meta.Annotations}
	if meta.Namespace != "" && slices.Contains(s.ProtectedNamespaces, meta.Namespace) {
		return nil, nil // the guardrails never act in a protected namespace
	}
	// One finding per rule and object, as the API server names each rule
	// once: the plan's rules find a wildcard in every field and webhook
	// they look at, and counting each would inflate the audit's errors.
	var out []Finding
	seen := map[string]bool{}
	for _, f := range fs {
		r, _ := guard.Lookup(f.RuleID)
		if seen[f.RuleID] || !r.Enforced.Has(guard.AtAPIServer) || guard.WaivedByAnnotation(f.RuleID, meta.Annotations) {
			continue
		}
		seen[f.RuleID] = true
		out = append(out, Finding{Finding: f, Object: ref})
	}
	return out, nil
}

// ValidatingWebhooks maps a validating configuration's webhooks.
func ValidatingWebhooks(c *admv1.ValidatingWebhookConfiguration) []guard.Webhook {
	out := make([]guard.Webhook, 0, len(c.Webhooks))
	for _, w := range c.Webhooks {
		gw := webhook(w.Name, w.ClientConfig, w.Rules, w.NamespaceSelector, w.ObjectSelector, len(w.MatchConditions),
			w.FailurePolicy, w.TimeoutSeconds, w.SideEffects)
		gw.CAInjected = guard.CAInjected(c.Annotations)
		out = append(out, gw)
	}
	return out
}

// MutatingWebhooks maps a mutating configuration's webhooks.
func MutatingWebhooks(c *admv1.MutatingWebhookConfiguration) []guard.Webhook {
	out := make([]guard.Webhook, 0, len(c.Webhooks))
	for _, w := range c.Webhooks {
		gw := webhook(w.Name, w.ClientConfig, w.Rules, w.NamespaceSelector, w.ObjectSelector, len(w.MatchConditions),
			w.FailurePolicy, w.TimeoutSeconds, w.SideEffects)
		gw.CAInjected = guard.CAInjected(c.Annotations)
		out = append(out, gw)
	}
	return out
}

func webhook(name string, cc admv1.WebhookClientConfig, rules []admv1.RuleWithOperations, ns, obj *metav1.LabelSelector,
	matchConditions int, fp *admv1.FailurePolicyType, timeout *int32, se *admv1.SideEffectClass) guard.Webhook {
	w := guard.Webhook{
		Name: name, HasCABundle: len(cc.CABundle) > 0,
		NamespaceSelector: selector(ns), ObjectSelector: selector(obj), MatchConditions: matchConditions,
		FailurePolicy: string(admv1.Fail), TimeoutSeconds: 10,
	}
	if cc.URL != nil {
		w.URL = *cc.URL
	}
	if cc.Service != nil {
		w.Service = &guard.WebhookService{Namespace: cc.Service.Namespace, Name: cc.Service.Name}
	}
	if fp != nil {
		w.FailurePolicy = string(*fp)
	}
	if timeout != nil {
		w.TimeoutSeconds = int64(*timeout)
	}
	if se != nil {
		w.SideEffects = string(*se)
	}
	for _, r := range rules {
		scope := string(admv1.AllScopes)
		if r.Scope != nil {
			scope = string(*r.Scope)
		}
		ops := make([]string, 0, len(r.Operations))
		for _, o := range r.Operations {
			ops = append(ops, string(o))
		}
		w.Rules = append(w.Rules, guard.WebhookRule{
			APIGroups: r.APIGroups, APIVersions: r.APIVersions, Resources: r.Resources, Operations: ops, Scope: scope,
		})
	}
	return w
}

func selector(s *metav1.LabelSelector) guard.Selector {
	if s == nil {
		return guard.Selector{}
	}
	out := guard.Selector{MatchLabels: s.MatchLabels}
	for _, e := range s.MatchExpressions {
		out.MatchExpressions = append(out.MatchExpressions, guard.Requirement{Key: e.Key, Operator: string(e.Operator), Values: e.Values})
	}
	return out
}

// CronJob maps a CronJob.
func CronJob(c *batchv1.CronJob) guard.CronJob {
	return guard.CronJob{
		ConcurrencyPolicy:       string(c.Spec.ConcurrencyPolicy),
		StartingDeadlineSeconds: c.Spec.StartingDeadlineSeconds,
		ActiveDeadlineSeconds:   c.Spec.JobTemplate.Spec.ActiveDeadlineSeconds,
	}
}

// Service maps a Service.
func Service(s *corev1.Service) guard.Service {
	out := guard.Service{Type: string(s.Spec.Type), Selector: s.Spec.Selector, LoadBalancerSourceRanges: s.Spec.LoadBalancerSourceRanges,
		AllocateLoadBalancerNodePorts: s.Spec.AllocateLoadBalancerNodePorts}
	if out.Type == "" {
		out.Type = string(corev1.ServiceTypeClusterIP)
	}
	for _, p := range s.Spec.Ports {
		target := ""
		if p.TargetPort.IntVal != 0 || p.TargetPort.StrVal != "" {
			target = p.TargetPort.String()
		}
		out.Ports = append(out.Ports, guard.ServicePort{Name: p.Name, Port: int64(p.Port), TargetPort: target, NodePort: int64(p.NodePort)})
	}
	return out
}

// Workload maps a Deployment's or StatefulSet's replicas and pod template.
func Workload(kind string, replicas *int32, t corev1.PodTemplateSpec) guard.Workload {
	w := guard.Workload{Kind: kind, TopologySpreadConstraints: len(t.Spec.TopologySpreadConstraints),
		TerminationGracePeriodSeconds: t.Spec.TerminationGracePeriodSeconds}
	if replicas != nil {
		n := int64(*replicas)
		w.Replicas = &n
	}
	if a := t.Spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		w.PodAntiAffinity = len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) > 0 ||
			len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) > 0
	}
	for _, c := range t.Spec.Containers {
		gc := guard.Container{Name: c.Name, Ports: len(c.Ports)}
		if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
			gc.PreStop = &guard.PreStop{}
			if sl := c.Lifecycle.PreStop.Sleep; sl != nil {
				s := sl.Seconds
				gc.PreStop.SleepSeconds = &s
			}
		}
		if q, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
			gc.CPULimit = q.String()
		}
		w.Containers = append(w.Containers, gc)
	}
	return w
}

// NamespaceQuotas runs QUOTA_MISSING_PODS over the namespaces and the
// quotas that exist, in namespace order.
func NamespaceQuotas(namespaces []corev1.Namespace, quotas []corev1.ResourceQuota, s guard.Settings) []Finding {
	capped := map[string]bool{}
	for _, q := range quotas {
		if _, ok := q.Spec.Hard[corev1.ResourcePods]; ok {
			capped[q.Namespace] = true
		}
	}
	sorted := append([]corev1.Namespace(nil), namespaces...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var out []Finding
	for _, ns := range sorted {
		for _, f := range guard.CheckNamespaceQuota(ns.Name, capped[ns.Name], s) {
			if guard.WaivedByAnnotation(f.RuleID, ns.Annotations) {
				continue
			}
			out = append(out, Finding{Finding: f, Object: guard.Object{Kind: "Namespace", Name: ns.Name, Annotations: ns.Annotations}})
		}
	}
	return out
}
