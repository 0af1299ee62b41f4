# A node pool on the harness's pod range, in node_cidr mode.
terraform {
  required_providers {
    k8sguard = { source = "k8sguard/k8sguard" }
  }
}

variable "pod_cidr" { type = string }
variable "node_cidr_mask_size" { type = number }
variable "max_pods_per_node" { type = number }
variable "max_size" { type = number }
variable "cluster_name" { type = string }
variable "subnet_ids" { type = list(string) }
variable "region" {
  type    = string
  default = "us-east-1"
}
variable "endpoints" {
  type    = map(string)
  default = {}
}

provider "k8sguard" {
  aws {
    region    = var.region
    endpoints = var.endpoints
  }
}

resource "k8sguard_node_pool" "general" {
  cluster_name        = var.cluster_name
  name                = "general"
  node_role_arn       = "arn:aws:iam::123456789012:role/nodes"
  subnet_ids          = var.subnet_ids
  instance_types      = ["m6i.large"]
  min_size            = 1
  desired_size        = 3
  max_size            = var.max_size
  max_pods_per_node   = var.max_pods_per_node
  pod_ip_mode         = "node_cidr"
  pod_cidr            = var.pod_cidr
  node_cidr_mask_size = var.node_cidr_mask_size
}

output "max_nodes_by_pod_ips" {
  value = k8sguard_node_pool.general.max_nodes_by_pod_ips
}
