# The admission guardrails and the cluster audit, every choice a variable.
terraform {
  required_providers {
    k8sguard = { source = "k8sguard/k8sguard" }
  }
}

provider "k8sguard" {}

variable "actions" {
  type    = map(string)
  default = null
}
variable "namespaces" {
  type    = list(string)
  default = null
}
variable "exempt_namespace_labels" {
  type    = map(string)
  default = null
}

resource "k8sguard_admission_guardrails" "this" {
  actions                 = var.actions
  namespaces              = var.namespaces
  exempt_namespace_labels = var.exempt_namespace_labels
}

data "k8sguard_cluster_audit" "this" {}

check "no_control_plane_hazards" {
  assert {
    condition     = data.k8sguard_cluster_audit.this.errors == 0
    error_message = "k8sguard found ${data.k8sguard_cluster_audit.this.errors} control-plane hazards: ${join(" ", [for f in data.k8sguard_cluster_audit.this.findings : "[${f.rule_id}] ${f.kind} ${f.namespace}/${f.name}" if f.severity == "error"])}"
  }
}

output "findings" {
  value = data.k8sguard_cluster_audit.this.findings
}
output "rule_ids" {
  value = data.k8sguard_cluster_audit.this.rule_ids
}
output "policies" {
  value = k8sguard_admission_guardrails.this.policies
}
output "effective_actions" {
  value = k8sguard_admission_guardrails.this.effective_actions
}
