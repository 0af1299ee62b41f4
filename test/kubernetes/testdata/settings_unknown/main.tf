# The provider's policy settings from another resource's output: unknown
# during plan. The rules that read them must wait for apply, neither
# refusing a good configuration with the defaults nor letting a bad one
# through.
terraform {
  required_providers {
    k8sguard = { source = "k8sguard/k8sguard" }
  }
}

variable "name" {
  type = string
}
variable "max_timeout" {
  type = number
}
variable "with_quota" {
  type    = bool
  default = true
}
variable "with_audit" {
  type    = bool
  default = false
}

resource "terraform_data" "policy" {
  input = {
    max_timeout = var.max_timeout
    max_pods    = 5000
    protected   = ["kube-system", "kube-public", "kube-node-lease", "platform"]
  }
}

provider "k8sguard" {
  max_webhook_timeout_seconds = terraform_data.policy.output.max_timeout
  max_pods_per_namespace      = terraform_data.policy.output.max_pods
  protected_namespaces        = terraform_data.policy.output.protected
}

resource "k8sguard_validating_webhook" "this" {
  name = var.name
  webhook {
    name            = "validate.opa.k8sguard.io"
    timeout_seconds = 10 # above the default cap (5)
    service {
      namespace = "opa"
      name      = "opa"
    }
    rule {
      api_groups   = ["apps"]
      api_versions = ["v1"]
      resources    = ["deployments"]
      operations   = ["CREATE", "UPDATE"]
    }
    namespace_selector {
      match_labels = { "opa-policy" = "enabled" }
    }
  }
}

resource "k8sguard_pod_quota" "this" {
  count     = var.with_quota ? 1 : 0
  namespace = var.name
  pods      = 3000 # above the default cap (1500)
}

output "effective_namespace_selector" {
  value = k8sguard_validating_webhook.this.webhook[0].effective_namespace_selector
}

data "k8sguard_cluster_audit" "this" {
  count = var.with_audit ? 1 : 0
}
