# A pod quota with a LimitRange, every attribute a variable.
terraform {
  required_providers {
    k8sguard = { source = "k8sguard/k8sguard" }
  }
}

provider "k8sguard" {}

variable "namespace" {
  type = string
}
variable "pods" {
  type = number
}
variable "jobs" {
  type    = number
  default = null
}
variable "requests_cpu" {
  type    = string
  default = null
}
variable "default_cpu_request" {
  type    = string
  default = null
}

resource "k8sguard_pod_quota" "this" {
  namespace    = var.namespace
  pods         = var.pods
  jobs         = var.jobs
  requests_cpu = var.requests_cpu

  dynamic "default_container_requests" {
    for_each = var.default_cpu_request == null ? [] : [var.default_cpu_request]
    content {
      cpu = default_container_requests.value
    }
  }
}

output "used_pods" {
  value = k8sguard_pod_quota.this.used_pods
}
