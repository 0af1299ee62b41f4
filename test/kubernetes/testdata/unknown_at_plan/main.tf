# One k8sguard resource whose guarded value is another resource's output:
# terraform_data's output is unknown at plan when the resource is created,
# so the rules see the bad value only at apply.
terraform {
  required_providers {
    k8sguard = { source = "k8sguard/k8sguard" }
  }
}

provider "k8sguard" {}

variable "resource" {
  # validating_webhook, mutating_webhook, pod_quota, pod_quota_warning, or
  # validating_webhook_dynamic and pod_quota_dynamic (a whole block unknown)
  type = string
}
variable "name" {
  type = string
}

# Bad values, known only after apply.
resource "terraform_data" "resources" {
  input = ["*"] # WEBHOOK_WILDCARD_RULE: a hook on every resource
}
resource "terraform_data" "pods" {
  input = 0 # QUOTA_PODS_REQUIRED: no pod cap
}

resource "k8sguard_validating_webhook" "this" {
  count = var.resource == "validating_webhook" ? 1 : 0
  name  = var.name
  webhook {
    name = "validate.opa.k8sguard.io"
    service {
      namespace = "opa"
      name      = "opa"
    }
    rule {
      api_groups   = [""]
      api_versions = ["v1"]
      resources    = terraform_data.resources.output
      operations   = ["CREATE", "UPDATE"]
    }
    namespace_selector {
      match_labels = { "opa-policy" = "enabled" }
    }
  }
}

resource "k8sguard_mutating_webhook" "this" {
  count = var.resource == "mutating_webhook" ? 1 : 0
  name  = var.name
  webhook {
    name = "mutate.opa.k8sguard.io"
    service {
      namespace = "opa"
      name      = "opa"
    }
    rule {
      api_groups   = [""]
      api_versions = ["v1"]
      resources    = terraform_data.resources.output
      operations   = ["CREATE", "UPDATE"]
    }
    namespace_selector {
      match_labels = { "opa-policy" = "enabled" }
    }
  }
}

resource "k8sguard_pod_quota" "this" {
  count     = var.resource == "pod_quota" ? 1 : 0
  namespace = var.name
  pods      = terraform_data.pods.output
}

# Whole blocks unknown at plan: `dynamic` over another resource's output.
resource "terraform_data" "rules" {
  input = [{ resources = ["*"] }] # WEBHOOK_WILDCARD_RULE
}
resource "terraform_data" "container_requests" {
  input = [{ cpu = "lots" }] # QUOTA_INVALID_QUANTITY
}

resource "k8sguard_validating_webhook" "dynamic" {
  count = var.resource == "validating_webhook_dynamic" ? 1 : 0
  name  = var.name
  webhook {
    name = "validate.opa.k8sguard.io"
    service {
      namespace = "opa"
      name      = "opa"
    }
    dynamic "rule" {
      for_each = terraform_data.rules.output
      content {
        api_groups   = [""]
        api_versions = ["v1"]
        resources    = rule.value.resources
        operations   = ["CREATE", "UPDATE"]
      }
    }
    namespace_selector {
      match_labels = { "opa-policy" = "enabled" }
    }
  }
}

resource "k8sguard_pod_quota" "dynamic" {
  count     = var.resource == "pod_quota_dynamic" ? 1 : 0
  namespace = var.name
  pods      = 10
  dynamic "default_container_requests" {
    for_each = terraform_data.container_requests.output
    content {
      cpu = default_container_requests.value.cpu
    }
  }
}

# A warning known only at apply: the quota is created and the warning lands
# in findings.
resource "terraform_data" "protected_namespace" {
  input = "kube-system" # QUOTA_PROTECTED_NAMESPACE (a warning)
}

resource "k8sguard_pod_quota" "warned" {
  count     = var.resource == "pod_quota_warning" ? 1 : 0
  namespace = terraform_data.protected_namespace.output
  name      = var.name
  pods      = 500
}

output "findings" {
  value = flatten(k8sguard_pod_quota.warned[*].findings)
}
