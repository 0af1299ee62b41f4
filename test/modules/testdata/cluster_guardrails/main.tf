# The cluster-guardrails module as a platform team calls it; the test passes
# the namespaces and webhook intents.
terraform {
  required_providers {
    k8sguard = { source = "k8sguard/k8sguard" }
  }
}

provider "k8sguard" {}

variable "namespaces" { type = any }
variable "webhooks" { type = any }
variable "admission_guardrails" {
  type    = any
  default = {}
}

module "guardrails" {
  source = "../../../../modules/cluster-guardrails"

  namespaces = var.namespaces
  webhooks   = var.webhooks

  admission_guardrails = var.admission_guardrails
}

output "pod_quotas" { value = module.guardrails.pod_quotas }
output "webhook_namespace_selectors" { value = module.guardrails.webhook_namespace_selectors }
output "findings" { value = module.guardrails.findings }
output "admission_policies" { value = module.guardrails.admission_policies }
output "admission_actions" { value = module.guardrails.admission_actions }
