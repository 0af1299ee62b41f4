# Waivers (and other map or list elements) that are not known when the
# configuration is validated or planned: a variable during validate, another
# resource's output during plan. The waived configuration must plan and
# apply; a reason that is known only at apply and turns out empty is
# refused then.
terraform {
  required_providers {
    k8sguard = { source = "k8sguard/k8sguard" }
  }
}

provider "k8sguard" {}

variable "case" {
  # var_waivers, output_reason, output_waivers, empty_reason_at_apply,
  # guardrails_partial
  type = string
}
variable "name" {
  type = string
}
variable "waivers" {
  type    = map(string)
  default = { WEBHOOK_WILDCARD_RULE = "legacy OPA bundle, tracked in OPS-1" }
}

resource "terraform_data" "reason" {
  input = var.case == "empty_reason_at_apply" ? " " : "legacy OPA bundle, tracked in OPS-1"
}
resource "terraform_data" "waivers" {
  input = { WEBHOOK_WILDCARD_RULE = "legacy OPA bundle, tracked in OPS-1" }
}
resource "terraform_data" "namespace" {
  input = var.name
}
resource "terraform_data" "action" {
  input = "warn"
}

locals {
  waivers = {
    var_waivers           = var.waivers
    output_reason         = { WEBHOOK_WILDCARD_RULE = terraform_data.reason.output }
    output_waivers        = terraform_data.waivers.output
    empty_reason_at_apply = { WEBHOOK_WILDCARD_RULE = terraform_data.reason.output }
  }
}

# Every resource in the apps group: WEBHOOK_WILDCARD_RULE, waived.
resource "k8sguard_validating_webhook" "this" {
  count   = contains(keys(local.waivers), var.case) ? 1 : 0
  name    = var.name
  waivers = local.waivers[var.case]
  webhook {
    name = "validate.opa.k8sguard.io"
    service {
      namespace = "opa"
      name      = "opa"
    }
    rule {
      api_groups   = ["apps"]
      api_versions = ["v1"]
      resources    = ["*"]
      operations   = ["CREATE", "UPDATE"]
    }
    namespace_selector {
      match_labels = { "opa-policy" = "enabled" }
    }
  }
}

resource "k8sguard_pod_quota" "this" {
  count     = var.case == "output_reason" ? 1 : 0
  namespace = var.name
  pods      = 5000 # QUOTA_PODS_ABOVE_CLUSTER_MAX, waived
  waivers   = { QUOTA_PODS_ABOVE_CLUSTER_MAX = terraform_data.reason.output }
}

resource "k8sguard_admission_guardrails" "this" {
  count      = var.case == "guardrails_partial" ? 1 : 0
  namespaces = [terraform_data.namespace.output]
  actions    = { WEBHOOK_TIMEOUT = terraform_data.action.output }
}

output "findings" {
  value = concat(flatten(k8sguard_validating_webhook.this[*].findings), flatten(k8sguard_pod_quota.this[*].findings))
}
