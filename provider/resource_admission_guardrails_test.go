package provider

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	admv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8sguard/k8sguard/provider/guard"
	guardcel "github.com/k8sguard/k8sguard/provider/guard/cel"
)

func guardrailsConfig(provider, body string) string {
	return fmt.Sprintf(`
provider "k8sguard" {
  %s
}

resource "k8sguard_admission_guardrails" "this" {
  %s
}
`, provider, body)
}

// A configuration that would judge a protected namespace, or that names
// an action or a rule the API server cannot enforce, stops at plan.
func TestAdmissionGuardrailsPlanRefusesBadConfigurations(t *testing.T) {
	cases := []struct{ name, provider, body, want string }{
		{"kube-system in namespaces", "", `namespaces = ["team-a", "kube-system"]`,
			`[GUARDRAILS_PROTECTED_NAMESPACE] namespaces[1] = "kube-system" is a protected namespace: a guardrail there could deny the control plane's own writes, as the OPA webhook denied the kube-system ConfigMap update that stalled the Jetstack upgrade. The guardrails always leave kube-system, kube-public, kube-node-lease alone; remove it.`},
		{"a namespace the provider protects", `protected_namespaces = ["kube-system", "platform"]`, `namespaces = ["platform"]`,
			`[GUARDRAILS_PROTECTED_NAMESPACE] namespaces[0] = "platform" is a protected namespace`},
		{"a plan-only rule", "", `actions = { WEBHOOK_NO_CA = "deny" }`,
			`[GUARDRAILS_INVALID_ACTION] "WEBHOOK_NO_CA" is not a rule the API server enforces`},
		{"an unknown action", "", `actions = { WORKLOAD_CPU_LIMIT = "block" }`,
			`[GUARDRAILS_INVALID_ACTION] action "block" for WORKLOAD_CPU_LIMIT: use deny (refuse the request), warn (admit it with a Warning the client shows) or audit (admit it, record the message in the audit log).`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { planOnly(t, guardrailsConfig(c.provider, c.body), planError(c.want)) })
	}
}

// The plan shows every rule's action, defaults included, and the policy
// names, before anything is applied.
func TestAdmissionGuardrailsPlanShowsActionsAndPolicies(t *testing.T) {
	planOnly(t, guardrailsConfig("", `actions = { WORKLOAD_NO_SPREAD = "deny", WEBHOOK_TIMEOUT = "warn" }`), nil,
		plancheck.ExpectKnownValue("k8sguard_admission_guardrails.this", tfjsonpath.New("effective_actions"), knownvalue.MapExact(map[string]knownvalue.Check{
			"WEBHOOK_CLUSTER_SCOPED_FAIL":   knownvalue.StringExact("deny"),
			"WEBHOOK_CRITICAL_RESOURCE":     knownvalue.StringExact("deny"),
			"WEBHOOK_FAIL_UNSCOPED":         knownvalue.StringExact("deny"),
			"WEBHOOK_SIDE_EFFECTS":          knownvalue.StringExact("deny"),
			"WEBHOOK_TIMEOUT":               knownvalue.StringExact("warn"),
			"WEBHOOK_TOO_LARGE_TO_JUDGE":    knownvalue.StringExact("deny"),
			"WEBHOOK_WILDCARD_RULE":         knownvalue.StringExact("deny"),
			"CRONJOB_UNBOUNDED_CONCURRENCY": knownvalue.StringExact("deny"),
			"SERVICE_DASHBOARD_EXPOSED":     knownvalue.StringExact("deny"),
			"WORKLOAD_CPU_LIMIT":            knownvalue.StringExact("warn"),
			"WORKLOAD_NO_GRACEFUL_SHUTDOWN": knownvalue.StringExact("warn"),
			"WORKLOAD_NO_SPREAD":            knownvalue.StringExact("deny"),
		})),
		plancheck.ExpectKnownValue("k8sguard_admission_guardrails.this", tfjsonpath.New("policies"), knownvalue.ListExact([]knownvalue.Check{
			knownvalue.StringExact("k8sguard-webhooks-deny"), knownvalue.StringExact("k8sguard-webhooks-warn"),
			knownvalue.StringExact("k8sguard-cronjobs-deny"), knownvalue.StringExact("k8sguard-services-deny"),
			knownvalue.StringExact("k8sguard-workloads-warn"), knownvalue.StringExact("k8sguard-workloads-deny"),
			knownvalue.StringExact("k8sguard-scales-warn"),
		})),
		plancheck.ExpectKnownValue("k8sguard_admission_guardrails.this", tfjsonpath.New("name"), knownvalue.StringExact("k8sguard")),
	)
}

// Drift is every change that switches a rule off, not only the CEL: an
// operation taken out of a policy's match, an object selector or an
// exclusion on a binding. The fields the API server defaults are not drift.
func TestGuardrailsDriftSeesMatchChanges(t *testing.T) {
	want := guardcel.Policies(guardcel.Options{Name: "k8sguard", Settings: guard.Settings{ProtectedNamespaces: []string{"kube-system"}, MaxWebhookTimeoutSeconds: 5}})
	live := func() (map[string]*admv1.ValidatingAdmissionPolicy, map[string]*admv1.ValidatingAdmissionPolicyBinding) {
		ps, bs := map[string]*admv1.ValidatingAdmissionPolicy{}, map[string]*admv1.ValidatingAdmissionPolicyBinding{}
		equivalent := admv1.Equivalent
		for _, p := range want {
			lp, lb := p.Policy.DeepCopy(), p.Binding.DeepCopy()
			// What the API server fills in.
			lp.Spec.MatchConstraints.NamespaceSelector, lp.Spec.MatchConstraints.ObjectSelector = &metav1.LabelSelector{}, &metav1.LabelSelector{}
			lp.Spec.MatchConstraints.MatchPolicy = &equivalent
			lb.Spec.MatchResources.ObjectSelector, lb.Spec.MatchResources.MatchPolicy = &metav1.LabelSelector{}, &equivalent
			ps[lp.Name], bs[lb.Name] = lp, lb
		}
		return ps, bs
	}
	ps, bs := live()
	if d := guardrailsDrift(want, ps, bs); len(d) != 0 {
		t.Fatalf("as the API server stores them: drift %q", d)
	}
	name, binding := want[0].Policy.Name, want[0].Binding.Name
	for what, change := range map[string]func(map[string]*admv1.ValidatingAdmissionPolicy, map[string]*admv1.ValidatingAdmissionPolicyBinding){
		"operations DELETE only": func(ps map[string]*admv1.ValidatingAdmissionPolicy, _ map[string]*admv1.ValidatingAdmissionPolicyBinding) {
			ps[name].Spec.MatchConstraints.ResourceRules[0].Operations = []admv1.OperationType{admv1.Delete}
		},
		"a policy namespace selector": func(ps map[string]*admv1.ValidatingAdmissionPolicy, _ map[string]*admv1.ValidatingAdmissionPolicyBinding) {
			ps[name].Spec.MatchConstraints.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"never": "x"}}
		},
		"a binding object selector": func(_ map[string]*admv1.ValidatingAdmissionPolicy, bs map[string]*admv1.ValidatingAdmissionPolicyBinding) {
			bs[binding].Spec.MatchResources.ObjectSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"never": "x"}}
		},
		"a binding exclusion": func(_ map[string]*admv1.ValidatingAdmissionPolicy, bs map[string]*admv1.ValidatingAdmissionPolicyBinding) {
			bs[binding].Spec.MatchResources.ExcludeResourceRules = want[0].Policy.Spec.MatchConstraints.ResourceRules
		},
	} {
		ps, bs := live()
		change(ps, bs)
		if d := guardrailsDrift(want, ps, bs); len(d) != 1 || !strings.Contains(d[0], "was changed outside Terraform") {
			t.Errorf("%s: drift %q, want one change", what, d)
		}
	}
}
