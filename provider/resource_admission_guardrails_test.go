package provider

import (
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
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
		})),
		plancheck.ExpectKnownValue("k8sguard_admission_guardrails.this", tfjsonpath.New("name"), knownvalue.StringExact("k8sguard")),
	)
}
