terraform {
  required_providers {
    k8sguard = { source = "k8sguard/k8sguard" }
  }
}

variable "region" { type = string }
variable "endpoints" { type = map(string) }
variable "cluster_name" { type = string }
variable "node_role_arn" { type = string }
variable "subnet_ids" { type = list(string) }
variable "name" { type = string }
variable "max_size" { type = number }
variable "max_pods_per_node" { type = number }
variable "taints" {
  type    = list(object({ key = string, value = string, effect = string }))
  default = [{ key = "dedicated", value = "general", effect = "NO_SCHEDULE" }]
}
variable "tags" {
  type    = map(string)
  default = { team = "platform" }
}
variable "labels" {
  type    = map(string)
  default = { workload = "general" }
}

provider "k8sguard" {
  aws {
    region    = var.region
    endpoints = var.endpoints
  }
}

resource "k8sguard_node_pool" "general" {
  cluster_name      = var.cluster_name
  name              = var.name
  node_role_arn     = var.node_role_arn
  subnet_ids        = var.subnet_ids
  instance_types    = ["m6i.large"]
  min_size          = 1
  desired_size      = 2
  max_size          = var.max_size
  max_pods_per_node = var.max_pods_per_node
  pod_ip_mode       = "vpc_cni"
  labels            = var.labels
  tags              = var.tags

  dynamic "taint" {
    for_each = var.taints
    content {
      key    = taint.value.key
      value  = taint.value.value
      effect = taint.value.effect
    }
  }
}

output "id" {
  value = k8sguard_node_pool.general.id
}
output "launch_template_id" {
  value = k8sguard_node_pool.general.launch_template_id
}
output "pod_ips_per_node" {
  value = k8sguard_node_pool.general.pod_ips_per_node
}
output "max_nodes_by_pod_ips" {
  value = k8sguard_node_pool.general.max_nodes_by_pod_ips
}
output "pod_ip_headroom" {
  value = k8sguard_node_pool.general.pod_ip_headroom
}
