output "pod_quotas" {
  description = "Per namespace: the ResourceQuota's ID (`namespace/name`) and its hard pod cap."
  value       = { for ns, q in k8sguard_pod_quota.team : ns => { id = q.id, pods = q.pods } }
}

output "webhook_namespace_selectors" {
  description = "Per webhook configuration (`validating/<name>`, `mutating/<name>`): the namespace selector really registered, the opt-in labels plus the protected namespaces excluded, in kubectl syntax."
  value = merge(
    { for n, w in k8sguard_validating_webhook.this : "validating/${n}" => w.webhook[0].effective_namespace_selector },
    { for n, w in k8sguard_mutating_webhook.this : "mutating/${n}" => w.webhook[0].effective_namespace_selector },
  )
}

output "findings" {
  description = "Warnings (including waived errors, with their reasons) the rules raised, per resource address, for review."
  value = merge(
    { for ns, q in k8sguard_pod_quota.team : "pod_quota/${ns}" => q.findings if length(q.findings) > 0 },
    { for n, w in k8sguard_validating_webhook.this : "validating/${n}" => w.findings if length(w.findings) > 0 },
    { for n, w in k8sguard_mutating_webhook.this : "mutating/${n}" => w.findings if length(w.findings) > 0 },
  )
}

output "admission_policies" {
  description = "The ValidatingAdmissionPolicies (and bindings) the guardrails installed; empty when disabled."
  value       = try(k8sguard_admission_guardrails.this[0].policies, [])
}

output "admission_actions" {
  description = "The action (`deny`, `warn`, `audit`) of every rule the API server enforces; empty when disabled."
  value       = try(k8sguard_admission_guardrails.this[0].effective_actions, {})
}
