# A Fail hook on ConfigMaps in the namespaces labelled k8sguard-mc=enabled,
# narrowed further by a CEL match condition: only objects whose name starts
# with "guarded-" are sent to the backend. Either webhook kind, called by URL.
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
  type = string
}
variable "url" {
  type = string
}
variable "ca_bundle" {
  type = string
}
variable "expression" {
  type    = string
  default = "object.metadata.name.startsWith(\"guarded-\")"
}

locals {
  rule = {
    api_groups   = [""]
    api_versions = ["v1"]
    resources    = ["configmaps"]
    operations   = ["CREATE", "UPDATE"]
  }
}

resource "k8sguard_validating_webhook" "this" {
  count = var.kind == "validating" ? 1 : 0
  name  = var.name
  webhook {
    name      = "mc.k8sguard.io"
    url       = var.url
    ca_bundle = var.ca_bundle
    rule {
      api_groups   = local.rule.api_groups
      api_versions = local.rule.api_versions
      resources    = local.rule.resources
      operations   = local.rule.operations
    }
    namespace_selector {
      match_labels = { "k8sguard-mc" = "enabled" }
    }
    match_condition {
      name       = "guarded-names-only"
      expression = var.expression
    }
    failure_policy = "Fail"
  }
}

resource "k8sguard_mutating_webhook" "this" {
  count = var.kind == "mutating" ? 1 : 0
  name  = var.name
  webhook {
    name      = "mc.k8sguard.io"
    url       = var.url
    ca_bundle = var.ca_bundle
    rule {
      api_groups   = local.rule.api_groups
      api_versions = local.rule.api_versions
      resources    = local.rule.resources
      operations   = local.rule.operations
    }
    namespace_selector {
      match_labels = { "k8sguard-mc" = "enabled" }
    }
    match_condition {
      name       = "guarded-names-only"
      expression = var.expression
    }
    failure_policy = "Fail"
  }
}
