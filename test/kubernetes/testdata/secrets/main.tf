# Credentials in the provider's kubernetes block: they must not show in
# terraform's output, the state, or TF_LOG=trace logs.
terraform {
  required_providers {
    k8sguard = { source = "k8sguard/k8sguard" }
  }
}

variable "host" {
  type = string
}
variable "token" {
  type      = string
  sensitive = true
}
variable "ca" {
  type = string
}
variable "client_certificate" {
  type = string
}
variable "client_key" {
  type      = string
  sensitive = true
}
variable "name" {
  type = string
}

provider "k8sguard" {
  kubernetes {
    host                   = var.host
    token                  = var.token
    cluster_ca_certificate = var.ca
    client_certificate     = var.client_certificate
    client_key             = var.client_key
  }
}

resource "k8sguard_pod_quota" "this" {
  namespace = var.name
  pods      = 10
}

data "k8sguard_kubernetes_cluster" "this" {}

output "server_version" {
  value = data.k8sguard_kubernetes_cluster.this.server_version
}
