# One node pool of one instance type, for the per-instance-type rules.
terraform {
  required_providers {
    k8sguard = { source = "k8sguard/k8sguard" }
  }
}

variable "region" { type = string }
variable "endpoints" { type = map(string) }
variable "cluster_name" { type = string }
variable "subnet_ids" { type = list(string) }
variable "instance_type" { type = string }
variable "max_pods_per_node" { type = number }
variable "pod_ip_mode" { type = string }

provider "k8sguard" {
  aws {
    region    = var.region
    endpoints = var.endpoints
  }
}

resource "k8sguard_node_pool" "pool" {
  cluster_name      = var.cluster_name
  name              = "pool"
  node_role_arn     = "arn:aws:iam::123456789012:role/nodes"
  subnet_ids        = var.subnet_ids
  instance_types    = [var.instance_type]
  min_size          = 1
  desired_size      = 1
  max_size          = 2
  max_pods_per_node = var.max_pods_per_node
  pod_ip_mode       = var.pod_ip_mode
}

output "pod_ips_per_node" {
  value = k8sguard_node_pool.pool.pod_ips_per_node
}
output "findings" {
  value = k8sguard_node_pool.pool.findings
}
