# The cluster audit alone, limited to some namespaces: what a team with
# only its namespaces' RBAC runs.
terraform {
  required_providers {
    k8sguard = { source = "k8sguard/k8sguard" }
  }
}

provider "k8sguard" {}

variable "namespaces" {
  type = list(string)
}

data "k8sguard_cluster_audit" "this" {
  namespaces = var.namespaces
}

output "findings" {
  value = data.k8sguard_cluster_audit.this.findings
}
