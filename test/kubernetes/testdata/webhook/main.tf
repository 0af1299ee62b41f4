# Lifecycle fixture: one webhook configuration of either kind, called by URL.
terraform {
  required_providers {
    k8sguard = { source = "k8sguard/k8sguard" }
  }
}

provider "k8sguard" {}

variable "kind" {
  type = string # "validating" or "mutating"
}
variable "name" {
  type    = string
  default = "k8sguard-lifecycle"
}
variable "url" {
  type = string
}
variable "ca_bundle" {
  type = string # "" for none
}
variable "opt_in_value" {
  type    = string
  default = "enabled"
}
variable "timeout_seconds" {
  type    = number
  default = 3
}

resource "k8sguard_validating_webhook" "this" {
  count = var.kind == "validating" ? 1 : 0
  name  = var.name
  webhook {
    name      = "lifecycle.k8sguard.io"
    url       = var.url
    ca_bundle = var.ca_bundle != "" ? var.ca_bundle : null
    rule {
      api_groups   = [""]
      api_versions = ["v1"]
      resources    = ["configmaps"]
      operations   = ["CREATE", "UPDATE"]
    }
    namespace_selector {
      match_labels = { "k8sguard-test" = var.opt_in_value }
    }
    timeout_seconds = var.timeout_seconds
  }
}

resource "k8sguard_mutating_webhook" "this" {
  count = var.kind == "mutating" ? 1 : 0
  name  = var.name
  webhook {
    name      = "lifecycle.k8sguard.io"
    url       = var.url
    ca_bundle = var.ca_bundle != "" ? var.ca_bundle : null
    rule {
      api_groups   = [""]
      api_versions = ["v1"]
      resources    = ["configmaps"]
      operations   = ["CREATE", "UPDATE"]
    }
    namespace_selector {
      match_labels = { "k8sguard-test" = var.opt_in_value }
    }
    timeout_seconds = var.timeout_seconds
  }
}

output "effective_namespace_selector" {
  value = one(concat(
    k8sguard_validating_webhook.this[*].webhook[0].effective_namespace_selector,
    k8sguard_mutating_webhook.this[*].webhook[0].effective_namespace_selector,
  ))
}
