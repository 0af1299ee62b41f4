package guard

import "testing"

func TestGuardrailsRules(t *testing.T) {
	tests := []struct {
		name string
		g    Guardrails
		want []expectedFinding
	}{
		{"defaults", Guardrails{}, nil},
		{"team namespaces and a valid action", Guardrails{Namespaces: []string{"team-a"}, Actions: map[string]string{RuleWorkloadNoSpread: "deny"}}, nil},
		{"kube-system in namespaces", Guardrails{Namespaces: []string{"team-a", "kube-system"}}, []expectedFinding{{RuleGuardrailsProtectedNamespace, "namespaces[1]",
			`namespaces[1] = "kube-system" is a protected namespace: a guardrail there could deny the control plane's own writes, as the OPA webhook denied the kube-system ConfigMap update that stalled the Jetstack upgrade. The guardrails always leave kube-system, kube-public, kube-node-lease alone; remove it.`}}},
		{"a plan-only rule", Guardrails{Actions: map[string]string{RuleWebhookNoCA: "warn"}}, []expectedFinding{{RuleGuardrailsInvalidAction, `actions["WEBHOOK_NO_CA"]`,
			`"WEBHOOK_NO_CA" is not a rule the API server enforces: the guardrails enforce WEBHOOK_CLUSTER_SCOPED_FAIL, WEBHOOK_CRITICAL_RESOURCE, WEBHOOK_FAIL_UNSCOPED, WEBHOOK_SIDE_EFFECTS, WEBHOOK_TIMEOUT, WEBHOOK_TOO_LARGE_TO_JUDGE, WEBHOOK_WILDCARD_RULE, CRONJOB_UNBOUNDED_CONCURRENCY, SERVICE_DASHBOARD_EXPOSED, WORKLOAD_CPU_LIMIT, WORKLOAD_NO_GRACEFUL_SHUTDOWN, WORKLOAD_NO_SPREAD.`}}},
		{"an unknown action", Guardrails{Actions: map[string]string{RuleCronJobUnbounded: "block"}}, []expectedFinding{{RuleGuardrailsInvalidAction, `actions["CRONJOB_UNBOUNDED_CONCURRENCY"]`,
			`action "block" for CRONJOB_UNBOUNDED_CONCURRENCY: use deny (refuse the request), warn (admit it with a Warning the client shows) or audit (admit it, record the message in the audit log).`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { expectFindings(t, CheckGuardrails(tt.g, defaultTestSettings), tt.want) })
	}
}
