// Package guardtest holds the table of object shapes the guardrails are
// tested on: the CEL evaluated in process (provider/guard/cel), and the
// real API server with the guardrails installed (test/kubernetes), both
// against guard's own verdict (provider/guard/live). One table, so the
// three places a rule is enforced are judged on the same objects.
package guardtest

import (
	admv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/k8sguard/k8sguard/provider/guard"
)

// Namespace is where the namespaced shapes live; QuotaNamespace has a pod
// quota (the test creates it) and ProtectedNamespace is one of the
// provider's protected namespaces, where the guardrails never act.
const (
	Namespace          = "team-a"
	QuotaNamespace     = "team-quota"
	ProtectedNamespace = "kube-system"
)

// Shape is one object and the rules guard refuses or warns about on it
// (written by hand: the tests also check guard against it).
type Shape struct {
	Name   string
	Object any // a pointer to a typed API object, as client-go sends it
	Rules  []string
}

func ptr[T any](v T) *T { return &v }

// Webhook builds a validating webhook with the given rule; callers adjust
// the rest.
func Webhook(name string, rule admv1.RuleWithOperations) admv1.ValidatingWebhook {
	return admv1.ValidatingWebhook{
		Name:                    name,
		ClientConfig:            admv1.WebhookClientConfig{Service: &admv1.ServiceReference{Namespace: "opa", Name: "opa"}},
		Rules:                   []admv1.RuleWithOperations{rule},
		FailurePolicy:           ptr(admv1.Ignore),
		SideEffects:             ptr(admv1.SideEffectClassNone),
		TimeoutSeconds:          ptr[int32](3),
		AdmissionReviewVersions: []string{"v1"},
	}
}

// Rule is a webhook rule on CREATE and UPDATE.
func Rule(groups, resources []string, scope admv1.ScopeType) admv1.RuleWithOperations {
	return admv1.RuleWithOperations{
		Operations: []admv1.OperationType{admv1.Create, admv1.Update},
		Rule:       admv1.Rule{APIGroups: groups, APIVersions: []string{"*"}, Resources: resources, Scope: &scope},
	}
}

// JetstackWebhook is the OPA webhook of the Jetstack story: everything,
// every namespace, Fail, the API's default timeout.
func JetstackWebhook() *admv1.ValidatingWebhookConfiguration {
	w := Webhook("validating-webhook.openpolicyagent.org", admv1.RuleWithOperations{
		Operations: []admv1.OperationType{admv1.Create, admv1.Update},
		Rule:       admv1.Rule{APIGroups: []string{"*"}, APIVersions: []string{"*"}, Resources: []string{"*"}},
	})
	w.FailurePolicy, w.TimeoutSeconds = ptr(admv1.Fail), nil
	return validating("opa-validating-webhook", nil, w)
}

func validating(name string, annotations map[string]string, hooks ...admv1.ValidatingWebhook) *admv1.ValidatingWebhookConfiguration {
	return &admv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations}, Webhooks: hooks}
}

func webhookShapes() []Shape {
	ingress := func() admv1.ValidatingWebhook {
		w := Webhook("ingress.opa.example.com", Rule([]string{"networking.k8s.io"}, []string{"ingresses"}, admv1.NamespacedScope))
		w.FailurePolicy = ptr(admv1.Fail)
		w.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"opa-policy": "enabled"}}
		return w
	}
	with := func(name string, change func(w *admv1.ValidatingWebhook)) *admv1.ValidatingWebhookConfiguration {
		w := ingress()
		change(&w)
		return validating(name, nil, w)
	}
	waived := func(name, id, reason string, change func(w *admv1.ValidatingWebhook)) *admv1.ValidatingWebhookConfiguration {
		c := with(name, change)
		c.Annotations = map[string]string{guard.WaiverAnnotationPrefix + id: reason}
		return c
	}
	appsEverything := func(w *admv1.ValidatingWebhook) {
		w.Rules = []admv1.RuleWithOperations{Rule([]string{"apps"}, []string{"*"}, admv1.NamespacedScope)}
	}
	mutating := &admv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "sidecar-injector"},
		Webhooks: []admv1.MutatingWebhook{{
			Name:                    "inject.example.com",
			ClientConfig:            admv1.WebhookClientConfig{Service: &admv1.ServiceReference{Namespace: "injector", Name: "injector"}},
			Rules:                   []admv1.RuleWithOperations{{Operations: []admv1.OperationType{admv1.OperationAll}, Rule: admv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
			FailurePolicy:           ptr(admv1.Ignore),
			SideEffects:             ptr(admv1.SideEffectClassNone),
			TimeoutSeconds:          ptr[int32](3),
			AdmissionReviewVersions: []string{"v1"},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"inject": "true"}},
		}},
	}
	return []Shape{
		{"Jetstack: OPA webhook on everything", JetstackWebhook(), []string{
			guard.RuleWebhookWildcard, guard.RuleWebhookCriticalResource, guard.RuleWebhookClusterScopedFail, guard.RuleWebhookFailUnscoped, guard.RuleWebhookTimeout}},
		{"scoped OPA webhook on ingresses", with("opa-ingress", func(*admv1.ValidatingWebhook) {}), nil},
		{"leases named explicitly", with("leases", func(w *admv1.ValidatingWebhook) {
			w.Rules = []admv1.RuleWithOperations{Rule([]string{"coordination.k8s.io"}, []string{"leases"}, admv1.NamespacedScope)}
		}), []string{guard.RuleWebhookCriticalResource}},
		{"events in both groups", with("events", func(w *admv1.ValidatingWebhook) {
			w.Rules = []admv1.RuleWithOperations{Rule([]string{"", "events.k8s.io"}, []string{"events"}, admv1.NamespacedScope)}
		}), []string{guard.RuleWebhookCriticalResource}},
		{"nodes/* reaches nodes/status", with("node-status", func(w *admv1.ValidatingWebhook) {
			w.Rules = []admv1.RuleWithOperations{Rule([]string{""}, []string{"nodes/*"}, admv1.AllScopes)}
			w.FailurePolicy = ptr(admv1.Ignore)
		}), []string{guard.RuleWebhookCriticalResource}},
		{"held in: nodes itself is not critical", with("nodes", func(w *admv1.ValidatingWebhook) {
			w.Rules = []admv1.RuleWithOperations{Rule([]string{""}, []string{"nodes"}, admv1.ClusterScope)}
			w.FailurePolicy = ptr(admv1.Ignore)
		}), nil},
		{"held in: scope Namespaced cannot reach tokenreviews", with("tokenreviews-namespaced", func(w *admv1.ValidatingWebhook) {
			w.Rules = []admv1.RuleWithOperations{Rule([]string{"authentication.k8s.io"}, []string{"tokenreviews"}, admv1.NamespacedScope)}
		}), nil},
		{"held in: scope Cluster cannot reach leases", with("leases-cluster", func(w *admv1.ValidatingWebhook) {
			w.Rules = []admv1.RuleWithOperations{Rule([]string{"coordination.k8s.io"}, []string{"leases"}, admv1.ClusterScope)}
			w.ObjectSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}
		}), nil},
		{"held in: the webhook configurations themselves (the API server never calls webhooks for them)", with("self", func(w *admv1.ValidatingWebhook) {
			w.Rules = []admv1.RuleWithOperations{Rule([]string{"admissionregistration.k8s.io"}, []string{"validatingwebhookconfigurations", "validatingadmissionpolicies"}, admv1.ClusterScope)}
			w.ObjectSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}
		}), nil},
		{"leases/* includes leases", with("leases-all-subresources", func(w *admv1.ValidatingWebhook) {
			w.Rules = []admv1.RuleWithOperations{Rule([]string{"coordination.k8s.io"}, []string{"leases/*"}, admv1.NamespacedScope)}
		}), []string{guard.RuleWebhookCriticalResource}},
		{"held in: leases on DELETE only", with("leases-delete", func(w *admv1.ValidatingWebhook) {
			w.Rules = []admv1.RuleWithOperations{Rule([]string{"coordination.k8s.io"}, []string{"leases"}, admv1.NamespacedScope)}
			w.Rules[0].Operations = []admv1.OperationType{admv1.Delete}
		}), nil},
		{"held in: tokenreviews on UPDATE only", with("tokenreviews-update", func(w *admv1.ValidatingWebhook) {
			w.Rules = []admv1.RuleWithOperations{Rule([]string{"authentication.k8s.io"}, []string{"tokenreviews"}, admv1.ClusterScope)}
			w.Rules[0].Operations = []admv1.OperationType{admv1.Update}
			w.FailurePolicy = ptr(admv1.Ignore)
		}), nil},
		{"certificate approvals", with("csr-approval", func(w *admv1.ValidatingWebhook) {
			w.Rules = []admv1.RuleWithOperations{Rule([]string{"certificates.k8s.io"}, []string{"certificatesigningrequests/*"}, admv1.ClusterScope)}
			w.FailurePolicy = ptr(admv1.Ignore)
		}), []string{guard.RuleWebhookCriticalResource}},
		{"wildcard subresource pattern */status in apps", with("status", func(w *admv1.ValidatingWebhook) {
			w.Rules = []admv1.RuleWithOperations{Rule([]string{"apps"}, []string{"*/status"}, admv1.NamespacedScope)}
		}), []string{guard.RuleWebhookWildcard}},
		{"every resource of apps", with("apps-all", appsEverything), []string{guard.RuleWebhookWildcard}},
		{"wildcard waived with a reason", waived("apps-all-waived", guard.RuleWebhookWildcard, "audited: apps only, backend HA", appsEverything), nil},
		{"wildcard waiver without a reason", waived("apps-all-no-reason", guard.RuleWebhookWildcard, " ", appsEverything), []string{guard.RuleWebhookWildcard}},
		{"critical resources cannot be waived", waived("leases-waived", guard.RuleWebhookCriticalResource, "we know", func(w *admv1.ValidatingWebhook) {
			w.Rules = []admv1.RuleWithOperations{Rule([]string{"coordination.k8s.io"}, []string{"leases"}, admv1.NamespacedScope)}
		}), []string{guard.RuleWebhookCriticalResource}},
		{"Fail with a NotIn-only selector opts every new namespace in", with("notin", func(w *admv1.ValidatingWebhook) {
			w.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "env", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"dev"}}}}
		}), []string{guard.RuleWebhookFailUnscoped}},
		{"held in: Fail with an Exists selector", with("exists", func(w *admv1.ValidatingWebhook) {
			w.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "opa", Operator: metav1.LabelSelectorOpExists}}}
		}), nil},
		{"Fail with Exists on the name label every namespace carries", with("exists-name", func(w *admv1.ValidatingWebhook) {
			w.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: guard.NamespaceNameLabel, Operator: metav1.LabelSelectorOpExists}}}
		}), []string{guard.RuleWebhookFailUnscoped}},
		{"Fail on scope * without object selector", with("scope-all", func(w *admv1.ValidatingWebhook) {
			w.Rules = []admv1.RuleWithOperations{Rule([]string{"networking.k8s.io"}, []string{"ingresses"}, admv1.AllScopes)}
		}), []string{guard.RuleWebhookClusterScopedFail}},
		{"held in: Fail on scope * narrowed by a match condition", with("scope-all-condition", func(w *admv1.ValidatingWebhook) {
			w.Rules = []admv1.RuleWithOperations{Rule([]string{"networking.k8s.io"}, []string{"ingresses"}, admv1.AllScopes)}
			w.MatchConditions = []admv1.MatchCondition{{Name: "labelled", Expression: "has(object.metadata.labels)"}}
		}), nil},
		{"timeout above the provider's maximum", with("slow", func(w *admv1.ValidatingWebhook) { w.TimeoutSeconds = ptr[int32](6) }),
			[]string{guard.RuleWebhookTimeout}},
		{"held in: timeout at the maximum", with("at-max", func(w *admv1.ValidatingWebhook) { w.TimeoutSeconds = ptr[int32](5) }), nil},
		{"second webhook of two is the bad one", validating("two-hooks", nil, ingress(), func() admv1.ValidatingWebhook {
			w := Webhook("leases.example.com", Rule([]string{"networking.k8s.io"}, []string{"ingresses"}, admv1.NamespacedScope))
			w.Rules = append(w.Rules, Rule([]string{"*"}, []string{"leases"}, admv1.NamespacedScope))
			return w
		}()), []string{guard.RuleWebhookWildcard, guard.RuleWebhookCriticalResource}},
		{"mutating: every operation on pods", mutating, []string{guard.RuleWebhookWildcard}},
	}
}

// ZalandoCronJob is the Zalando incident 2 CronJob as client-go sends it:
// the concurrencyPolicy and history limits written in the pod template do
// not exist there, so the CronJob gets the default Allow and no deadline.
func ZalandoCronJob(namespace string) *batchv1.CronJob {
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "foobar", Namespace: namespace},
		Spec: batchv1.CronJobSpec{
			Schedule: "*/15 9-19 * * Mon-Fri",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "foobar", Image: "busybox", Command: []string{"sleep", "3600"}}},
			}}}},
		},
	}
}

func cronJobShapes() []Shape {
	fixed := ZalandoCronJob(Namespace)
	fixed.Name = "foobar-fixed"
	fixed.Spec.Schedule = "7 8-18 * * Mon-Fri"
	fixed.Spec.ConcurrencyPolicy = batchv1.ForbidConcurrent
	fixed.Spec.JobTemplate.Spec.ActiveDeadlineSeconds = ptr[int64](120)
	deadline := ZalandoCronJob(Namespace)
	deadline.Name, deadline.Spec.ConcurrencyPolicy, deadline.Spec.StartingDeadlineSeconds = "allow-deadline", batchv1.AllowConcurrent, ptr[int64](60)
	replace := ZalandoCronJob(Namespace)
	replace.Name, replace.Spec.ConcurrencyPolicy = "replace", batchv1.ReplaceConcurrent
	quota := ZalandoCronJob(QuotaNamespace)
	protected := ZalandoCronJob(ProtectedNamespace)
	waived := ZalandoCronJob(Namespace)
	waived.Name = "foobar-waived"
	waived.Annotations = map[string]string{guard.WaiverAnnotationPrefix + guard.RuleCronJobUnbounded: "idempotent, finishes in seconds"}
	return []Shape{
		{"Zalando incident 2 CronJob", ZalandoCronJob(Namespace), []string{guard.RuleCronJobUnbounded}},
		{"the fixed CronJob", fixed, nil},
		{"Allow with a starting deadline", deadline, nil},
		{"Replace", replace, nil},
		{"quota: a pod quota does not make an unbounded CronJob safe", quota, []string{guard.RuleCronJobUnbounded}},
		{"protected namespace: never judged", protected, nil},
		{"CronJob waived with a reason", waived, nil},
	}
}

// WeaveScopeService is Weave Scope's app behind a public load balancer.
func WeaveScopeService(namespace string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "weave-scope-app", Namespace: namespace},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: map[string]string{"app": "weave-scope", "name": "weave-scope-app", "weave-scope-component": "app"},
			Ports:    []corev1.ServicePort{{Name: "app", Port: 80, TargetPort: intstr.FromInt32(4040), Protocol: corev1.ProtocolTCP}},
		},
	}
}

func serviceShapes() []Shape {
	ranged := WeaveScopeService(Namespace)
	ranged.Name, ranged.Spec.LoadBalancerSourceRanges = "scope-admin-only", []string{"10.0.0.0/8"}
	noNodePorts := ranged.DeepCopy()
	noNodePorts.Name, noNodePorts.Spec.AllocateLoadBalancerNodePorts = "scope-admin-only-no-node-ports", ptr(false)
	pinnedNodePort := noNodePorts.DeepCopy()
	pinnedNodePort.Name, pinnedNodePort.Spec.Ports[0].NodePort = "scope-admin-only-pinned-node-port", 30440
	everywhere := WeaveScopeService(Namespace)
	everywhere.Name, everywhere.Spec.LoadBalancerSourceRanges = "scope-everywhere", []string{"10.0.0.0/8", "0.0.0.0/0"}
	// Everywhere, in a spelling the API server accepts for this legacy
	// field even with StrictIPCIDRValidation: a range of length 0 admits
	// every client however its address is written.
	everywhereLong := noNodePorts.DeepCopy()
	everywhereLong.Name, everywhereLong.Spec.LoadBalancerSourceRanges = "scope-everywhere-long", []string{"10.0.0.0/8", "0:0:0:0:0:0:0:0/0"}
	nodePort := WeaveScopeService(Namespace)
	nodePort.Name, nodePort.Spec.Type = "scope-nodeport", corev1.ServiceTypeNodePort
	clusterIP := WeaveScopeService(Namespace)
	clusterIP.Name, clusterIP.Spec.Type = "scope-internal", corev1.ServiceTypeClusterIP
	shop := func(name string, port corev1.ServicePort) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace}, Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": "shop"}, Ports: []corev1.ServicePort{port}}}
	}
	grafana := WeaveScopeService(Namespace)
	grafana.Name, grafana.Spec.Selector = "grafana", map[string]string{"app.kubernetes.io/name": "grafana", "app.kubernetes.io/instance": "monitoring"}
	return []Shape{
		{"Weave Scope on a public load balancer", WeaveScopeService(Namespace), []string{guard.RuleServiceDashboardPublic}},
		{"Weave Scope behind source ranges, with the node ports a load balancer opens", ranged, []string{guard.RuleServiceDashboardPublic}},
		{"Weave Scope behind source ranges without node ports", noNodePorts, nil},
		{"Weave Scope behind source ranges with a node port set", pinnedNodePort, []string{guard.RuleServiceDashboardPublic}},
		{"Weave Scope behind a source range of everywhere", everywhere, []string{guard.RuleServiceDashboardPublic}},
		{"Weave Scope behind everywhere written long, without node ports", everywhereLong, []string{guard.RuleServiceDashboardPublic}},
		{"Weave Scope on a node port", nodePort, []string{guard.RuleServiceDashboardPublic}},
		{"Weave Scope inside the cluster", clusterIP, nil},
		{"Grafana by its chart's name label", grafana, []string{guard.RuleServiceDashboardPublic}},
		{"an app whose target port is 4040", shop("shop-4040", corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromInt32(4040), Protocol: corev1.ProtocolTCP}), []string{guard.RuleServiceDashboardPublic}},
		{"a port named for a dashboard", shop("shop-dashboard", corev1.ServicePort{Name: "dashboard", Port: 8443, TargetPort: intstr.FromString("dashboard"), Protocol: corev1.ProtocolTCP}), []string{guard.RuleServiceDashboardPublic}},
		{"a shop on a load balancer", shop("shop", corev1.ServicePort{Name: "https", Port: 443, TargetPort: intstr.FromInt32(8443), Protocol: corev1.ProtocolTCP}), nil},
	}
}

// SpreadlessDeployment is Moonlight's: three replicas, nothing spreading
// them; otherwise clean (preStop sleep, no CPU limit).
func SpreadlessDeployment(namespace string) *appsv1.Deployment {
	labels := map[string]string{"app": "site"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "site", Namespace: namespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{servingContainer("web")}},
			},
		},
	}
}

func servingContainer(name string) corev1.Container {
	return corev1.Container{
		Name: name, Image: "nginx",
		Ports:     []corev1.ContainerPort{{ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
		Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 10}}},
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}},
	}
}

func workloadShapes() []Shape {
	spread := func(d *appsv1.Deployment) *appsv1.Deployment {
		d.Spec.Template.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: "kubernetes.io/hostname", WhenUnsatisfiable: corev1.ScheduleAnyway,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "site"}},
		}}
		return d
	}
	named := func(name string, change func(d *appsv1.Deployment)) *appsv1.Deployment {
		d := spread(SpreadlessDeployment(Namespace))
		d.Name = name
		change(d)
		return d
	}
	anti := named("site-anti", func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.TopologySpreadConstraints = nil
		d.Spec.Template.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 100, PodAffinityTerm: corev1.PodAffinityTerm{
				TopologyKey: "kubernetes.io/hostname", LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "site"}}}}},
		}}
	})
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: Namespace},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr[int32](2), ServiceName: "db",
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "db"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{servingContainer("db")}}},
		},
	}
	return []Shape{
		{"Moonlight: three replicas, no spread", SpreadlessDeployment(Namespace), []string{guard.RuleWorkloadNoSpread}},
		{"spread over hostnames", named("site-spread", func(*appsv1.Deployment) {}), nil},
		{"pod anti-affinity", anti, nil},
		{"one replica needs no spread", named("single", func(d *appsv1.Deployment) {
			d.Spec.Replicas = ptr[int32](1)
			d.Spec.Template.Spec.TopologySpreadConstraints = nil
		}), nil},
		{"Ravelin: serving container without preStop", named("no-prestop", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Lifecycle = nil
		}), []string{guard.RuleWorkloadNoGraceful}},
		{"preStop sleep as long as the grace period", named("short-grace", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.TerminationGracePeriodSeconds = ptr[int64](10)
		}), []string{guard.RuleWorkloadNoGraceful}},
		{"a worker without ports needs no preStop", named("worker", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Lifecycle, d.Spec.Template.Spec.Containers[0].Ports = nil, nil
		}), nil},
		{"Buffer: CPU limit", named("cpu-limit", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}
		}), []string{guard.RuleWorkloadCPULimit}},
		{"CPU limit waived with a reason", named("cpu-limit-waived", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
			d.Annotations = map[string]string{guard.WaiverAnnotationPrefix + guard.RuleWorkloadCPULimit: "batch, throughput over latency"}
		}), nil},
		{"StatefulSet of two without spread", sts, []string{guard.RuleWorkloadNoSpread}},
		{"everything wrong at once", named("everything", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.TopologySpreadConstraints = nil
			d.Spec.Template.Spec.Containers[0].Lifecycle = nil
			d.Spec.Template.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}
		}), []string{guard.RuleWorkloadNoSpread, guard.RuleWorkloadNoGraceful, guard.RuleWorkloadCPULimit}},
	}
}

// Shapes is the whole table.
func Shapes() []Shape {
	var out []Shape
	for _, part := range [][]Shape{webhookShapes(), cronJobShapes(), serviceShapes(), workloadShapes()} {
		out = append(out, part...)
	}
	return out
}
