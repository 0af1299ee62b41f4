# The provider's kubernetes block from another resource's output, as when
# the cluster is created (or replaced) in the same configuration: unknown
# during plan. k8sguard must not fall back to the kubeconfig (KUBECONFIG
# here points at a decoy) in the meantime.
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
variable "generation" {
  # A new generation replaces the "cluster": its outputs are unknown at plan.
  type = string
}
variable "name" {
  type = string
}
variable "read_cluster" {
  type    = bool
  default = false
}

resource "terraform_data" "cluster" {
  input            = { host = var.host, token = var.token }
  triggers_replace = var.generation
}

provider "k8sguard" {
  kubernetes {
    host                   = terraform_data.cluster.output.host
    token                  = terraform_data.cluster.output.token
    cluster_ca_certificate = var.ca
  }
}

resource "k8sguard_pod_quota" "this" {
  namespace = var.name
  pods      = 10
}

data "k8sguard_kubernetes_cluster" "this" {
  count = var.read_cluster ? 1 : 0
}
