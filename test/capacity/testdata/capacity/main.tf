# The pod range of the harness's control plane, sized by the data source.
# No aws block and no credentials: the data source makes no API calls.
terraform {
  required_providers {
    k8sguard = { source = "k8sguard/k8sguard" }
  }
}

variable "pod_cidr" { type = string }
variable "node_cidr_mask_size" { type = number }
variable "max_pods_per_node" { type = number }

data "k8sguard_pod_ip_capacity" "cluster" {
  pod_cidr            = var.pod_cidr
  max_pods_per_node   = var.max_pods_per_node
  node_cidr_mask_size = var.node_cidr_mask_size
}

output "max_nodes" {
  value = data.k8sguard_pod_ip_capacity.cluster.max_nodes
}

output "max_nodes_by_function" {
  value = provider::k8sguard::pod_cidr_max_nodes(var.pod_cidr, var.max_pods_per_node)
}
