package modules_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/terraform"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8sguard/k8sguard/provider/guard/guardtest"
	"github.com/k8sguard/k8sguard/test/infra"
)

const guardrailsFixture = "test/modules/testdata/cluster_guardrails"

// ingressPolicy is a well-scoped validating intent with a URL backend (no
// backend runs in the test; failure_policy Ignore admits meanwhile).
func ingressPolicy() map[string]any {
	return map[string]any{
		"name": "ingress-policy",
		"kind": "validating",
		"url":  "https://policy.example.com/validate",
		"rules": []any{map[string]any{
			"api_groups": []string{"networking.k8s.io"}, "api_versions": []string{"v1"},
			"resources": []string{"ingresses"}, "operations": []string{"CREATE", "UPDATE"},
		}},
		"opt_in_labels": map[string]string{"policy.k8sguard.io/enabled": "true"},
	}
}

// sidecarInjector is a mutating intent with an in-cluster service backend.
func sidecarInjector() map[string]any {
	return map[string]any{
		"name":    "sidecar-injector",
		"kind":    "mutating",
		"service": map[string]any{"namespace": "injector", "name": "injector", "path": "/inject"},
		"rules": []any{map[string]any{
			"api_groups": []string{""}, "api_versions": []string{"v1"},
			"resources": []string{"pods"}, "operations": []string{"CREATE"},
		}},
		"opt_in_labels":       map[string]string{"sidecar-injection": "enabled"},
		"reinvocation_policy": "IfNeeded",
	}
}

func guardrailsVars(webhooks ...map[string]any) map[string]any {
	return map[string]any{
		"namespaces": map[string]any{
			"team-a": map[string]any{"pods": 200, "jobs": 50, "cron_jobs": 10, "requests_cpu": "20",
				"default_limits": map[string]any{"memory": "512Mi"}},
			"team-b": map[string]any{"pods": 50},
		},
		"webhooks": webhooks,
	}
}

// TestClusterGuardrailsApplyPlanEmptyDestroy applies the module to a real
// control plane, finds every object it promised with the caps and scopes
// asked for, re-plans to nothing, and destroys everything.
func TestClusterGuardrailsApplyPlanEmptyDestroy(t *testing.T) {
	cp := infra.StartControlPlane(t, infra.ControlPlaneOptions{})
	ctx := context.Background()
	cs := cp.Clientset
	for _, ns := range []string{"team-a", "team-b", "injector"} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create namespace %s: %v", ns, err)
		}
	}

	opts := infra.Terraform(t, guardrailsFixture, guardrailsVars(ingressPolicy(), sidecarInjector()))
	opts.EnvVars["KUBECONFIG"] = cp.Kubeconfig
	destroyed := false
	t.Cleanup(func() {
		if !destroyed {
			terraform.DestroyContext(t, context.Background(), opts)
		}
	})
	terraform.InitAndApplyContext(t, t.Context(), opts)

	// Quotas: the hard caps, and the LimitRange that gives requests.
	for ns, want := range map[string]map[corev1.ResourceName]string{
		"team-a": {corev1.ResourcePods: "200", "count/jobs.batch": "50", "count/cronjobs.batch": "10", corev1.ResourceRequestsCPU: "20"},
		"team-b": {corev1.ResourcePods: "50"},
	} {
		q, err := cs.CoreV1().ResourceQuotas(ns).Get(ctx, "k8sguard-pods", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("ResourceQuota %s/k8sguard-pods: %v", ns, err)
		}
		if len(q.Spec.Hard) != len(want) {
			t.Errorf("ResourceQuota %s hard = %v, want exactly %v", ns, q.Spec.Hard, want)
		}
		for res, v := range want {
			if got := q.Spec.Hard[res]; got.String() != v {
				t.Errorf("ResourceQuota %s hard[%s] = %q, want %q", ns, res, got.String(), v)
			}
		}
		lr, err := cs.CoreV1().LimitRanges(ns).Get(ctx, "k8sguard-pods", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("LimitRange %s/k8sguard-pods (the module's default requests): %v", ns, err)
		}
		if got := lr.Spec.Limits[0].DefaultRequest[corev1.ResourceCPU]; got.String() != "100m" {
			t.Errorf("LimitRange %s default CPU request = %q, want the module default 100m", ns, got.String())
		}
	}
	lrA, _ := cs.CoreV1().LimitRanges("team-a").Get(ctx, "k8sguard-pods", metav1.GetOptions{})
	if got := lrA.Spec.Limits[0].Default[corev1.ResourceMemory]; got.String() != "512Mi" {
		t.Errorf("LimitRange team-a default memory limit = %q, want 512Mi", got.String())
	}

	// Webhooks: scoped to the opt-in label, protected namespaces and the
	// backend's namespace excluded.
	v, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "ingress-policy", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("ValidatingWebhookConfiguration ingress-policy: %v", err)
	}
	vh := v.Webhooks[0]
	if vh.Name != "ingress-policy.k8sguard.io" || vh.NamespaceSelector.MatchLabels["policy.k8sguard.io/enabled"] != "true" {
		t.Errorf("validating webhook = %s with selector %v, want ingress-policy.k8sguard.io opted in by policy.k8sguard.io/enabled=true", vh.Name, vh.NamespaceSelector)
	}
	requireExcluded(t, "ingress-policy", vh.NamespaceSelector, "kube-system", "kube-public", "kube-node-lease")
	m, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "sidecar-injector", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("MutatingWebhookConfiguration sidecar-injector: %v", err)
	}
	mh := m.Webhooks[0]
	if mh.ReinvocationPolicy == nil || *mh.ReinvocationPolicy != "IfNeeded" || mh.ClientConfig.Service == nil || mh.ClientConfig.Service.Name != "injector" {
		t.Errorf("mutating webhook: reinvocation %v, service %+v; want IfNeeded and injector/injector", mh.ReinvocationPolicy, mh.ClientConfig.Service)
	}
	requireExcluded(t, "sidecar-injector", mh.NamespaceSelector, "kube-system", "injector")

	sel := terraform.OutputMapContext(t, t.Context(), opts, "webhook_namespace_selectors")
	if len(sel) != 2 || sel["validating/ingress-policy"] == "" || sel["mutating/sidecar-injector"] == "" {
		t.Errorf("output webhook_namespace_selectors = %v, want one selector per configuration", sel)
	}

	// Admission guardrails: installed, and the API server itself denies a
	// wildcard webhook created with client-go, as Helm would create it.
	policies := terraform.OutputListContext(t, t.Context(), opts, "admission_policies")
	if !slices.Contains(policies, "k8sguard-webhooks-deny") {
		t.Fatalf("output admission_policies = %v, want k8sguard-webhooks-deny among them", policies)
	}
	if a := terraform.OutputMapContext(t, t.Context(), opts, "admission_actions"); a["WEBHOOK_WILDCARD_RULE"] != "deny" || a["WORKLOAD_NO_SPREAD"] != "warn" {
		t.Errorf("output admission_actions = %v, want the defaults (deny for webhooks, warn for workloads)", a)
	}
	wildcardHook := guardtest.JetstackWebhook()
	var denial error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		_, denial = cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, wildcardHook, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if denial != nil && strings.Contains(denial.Error(), "[WEBHOOK_WILDCARD_RULE]") {
			break
		}
	}
	if denial == nil || !strings.Contains(denial.Error(), "[WEBHOOK_WILDCARD_RULE]") {
		t.Fatalf("the API server did not deny the wildcard webhook with [WEBHOOK_WILDCARD_RULE]: %v", denial)
	}

	infra.ExpectNoChanges(t, opts, "after apply")

	terraform.DestroyContext(t, context.Background(), opts)
	destroyed = true
	vapSel := metav1.ListOptions{LabelSelector: "k8sguard.io/guardrails"}
	if p, err := cs.AdmissionregistrationV1().ValidatingAdmissionPolicies().List(ctx, vapSel); err != nil || len(p.Items) != 0 {
		t.Errorf("ValidatingAdmissionPolicies after destroy: %v (err %v), want none", p, err)
	}
	if b, err := cs.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().List(ctx, vapSel); err != nil || len(b.Items) != 0 {
		t.Errorf("ValidatingAdmissionPolicyBindings after destroy: %v (err %v), want none", b, err)
	}
	for _, ns := range []string{"team-a", "team-b"} {
		if _, err := cs.CoreV1().ResourceQuotas(ns).Get(ctx, "k8sguard-pods", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("ResourceQuota %s/k8sguard-pods after destroy: err = %v, want NotFound", ns, err)
		}
	}
	if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "ingress-policy", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("ValidatingWebhookConfiguration after destroy: err = %v, want NotFound", err)
	}
	if _, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "sidecar-injector", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("MutatingWebhookConfiguration after destroy: err = %v, want NotFound", err)
	}
}

func requireExcluded(t *testing.T, hook string, sel *metav1.LabelSelector, namespaces ...string) {
	t.Helper()
	for _, e := range sel.MatchExpressions {
		if e.Key == "kubernetes.io/metadata.name" && e.Operator == metav1.LabelSelectorOpNotIn {
			for _, ns := range namespaces {
				if !slices.Contains(e.Values, ns) {
					t.Errorf("webhook %s: namespace %s not excluded (NotIn %v)", hook, ns, e.Values)
				}
			}
			return
		}
	}
	t.Errorf("webhook %s: no kubernetes.io/metadata.name NotIn expression in %v", hook, sel)
}

// TestClusterGuardrailsRefusesBadIntents: a dangerous or malformed intent
// fails at plan, before anything reaches the cluster: the provider's rule
// (with its ID and story) for a wildcard rule, the module's own validation
// for a hook without an opt-in label or with two backends.
func TestClusterGuardrailsRefusesBadIntents(t *testing.T) {
	wildcard := ingressPolicy()
	wildcard["rules"] = []any{map[string]any{
		"api_groups": []string{"*"}, "api_versions": []string{"v1"},
		"resources": []string{"ingresses"}, "operations": []string{"CREATE"},
	}}
	unscoped := ingressPolicy()
	unscoped["opt_in_labels"] = map[string]string{}
	twoBackends := sidecarInjector()
	twoBackends["url"] = "https://injector.example.com/inject"
	wrongKind := ingressPolicy()
	wrongKind["kind"] = "Validating"
	noRules := ingressPolicy()
	noRules["rules"] = []any{}
	badPolicy := ingressPolicy()
	badPolicy["failure_policy"] = "fail"
	validatingReinvoked := ingressPolicy()
	validatingReinvoked["reinvocation_policy"] = "IfNeeded"

	for name, tc := range map[string]struct {
		namespaces map[string]any // nil: the valid ones
		hooks      []map[string]any
		want       string
		admission  map[string]any // admission_guardrails; nil: the default
	}{
		"wildcard rule":        {nil, []map[string]any{wildcard}, `[WEBHOOK_WILDCARD_RULE] rule 0 matches every API group ("*"): a webhook that intercepts everything can block the control plane when its backend is down. Name the API groups and resources it needs. Prevents: OPA webhook outage (Jetstack, GKE upgrade).`, nil},
		"no opt-in":            {nil, []map[string]any{unscoped}, "Every webhook needs opt_in_labels: namespaces opt in with a label", nil},
		"two backends":         {nil, []map[string]any{twoBackends}, "Every webhook needs exactly one backend: service or url.", nil},
		"wrong kind":           {nil, []map[string]any{wrongKind}, `Every webhook's kind must be "validating" or "mutating".`, nil},
		"no rules":             {nil, []map[string]any{noRules}, "Every webhook needs at least one rule saying what it intercepts.", nil},
		"failure policy case":  {nil, []map[string]any{badPolicy}, `failure_policy must be "Ignore" or "Fail".`, nil},
		"reinvoked validating": {nil, []map[string]any{validatingReinvoked}, "reinvocation_policy applies to mutating webhooks only.", nil},
		"duplicate names":      {nil, []map[string]any{ingressPolicy(), ingressPolicy()}, "Webhook names must be unique per kind (each becomes one webhook configuration object).", nil},
		"namespace name":       {map[string]any{"Team_A": map[string]any{"pods": 10}}, nil, "Every key of namespaces must be a Kubernetes namespace name (lower-case letters, digits and '-', at most 63 characters).", nil},
		"no pod cap":           {map[string]any{"team-a": map[string]any{"pods": 0}}, nil, "Every namespace needs a whole number of pods of at least 1", nil},
		"jobs above pods":      {map[string]any{"team-a": map[string]any{"pods": 10, "jobs": 11}}, nil, "A namespace's jobs cap cannot exceed its pods cap (every Job runs at least one pod).", nil},
		"admission action": {want: "Every admission_guardrails action must be deny, warn or audit.",
			admission: map[string]any{"actions": map[string]string{"WORKLOAD_NO_SPREAD": "block"}}},
		"admission rule id": {want: "Every key of admission_guardrails.actions must be a rule ID such as WORKLOAD_NO_SPREAD (see the rules guide).",
			admission: map[string]any{"actions": map[string]string{"workload-no-spread": "warn"}}},
		"admission in kube-system": {want: "admission_guardrails.namespaces cannot name kube-system, kube-public or kube-node-lease: the guardrails never judge the control plane's own namespaces.",
			admission: map[string]any{"namespaces": []string{"team-a", "kube-system"}}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			vars := guardrailsVars(tc.hooks...)
			if tc.namespaces != nil {
				vars["namespaces"] = tc.namespaces
			}
			if tc.admission != nil {
				vars["admission_guardrails"] = tc.admission
			}
			// No cluster is contacted: the refusal comes before any call.
			opts := infra.Terraform(t, guardrailsFixture, vars)
			opts.EnvVars["KUBECONFIG"] = "/nonexistent/kubeconfig"
			expectPlanError(t, opts, tc.want)
		})
	}
}
