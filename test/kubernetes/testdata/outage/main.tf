# The Jetstack OPA hook's intent (validate writes, fail closed) through
# k8sguard_validating_webhook. With api_groups/resources = ["*"] (the
# original shape) the plan is refused.
terraform {
  required_providers {
    k8sguard = { source = "k8sguard/k8sguard" }
  }
}

provider "k8sguard" {}

variable "url" {
  type = string
}
variable "ca_bundle" {
  type = string
}
variable "api_groups" {
  type    = list(string)
  default = [""]
}
variable "resources" {
  type    = list(string)
  default = ["configmaps"]
}

resource "k8sguard_validating_webhook" "opa" {
  name = "opa-validating-webhook"
  webhook {
    name      = "validating-webhook.openpolicyagent.org"
    url       = var.url
    ca_bundle = var.ca_bundle
    rule {
      api_groups   = var.api_groups
      api_versions = ["v1"]
      resources    = var.resources
      operations   = ["CREATE", "UPDATE"]
    }
    namespace_selector {
      match_labels = { "opa-policy" = "enabled" }
    }
    failure_policy  = "Fail"
    timeout_seconds = 3
  }
}
