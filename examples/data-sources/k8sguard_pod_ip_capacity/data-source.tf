# A /16 pod range at 110 pods per node: every node takes a /24, so the range
# holds 256 nodes. Keep 16 blocks free for surge upgrades.
data "k8sguard_pod_ip_capacity" "prod" {
  pod_cidr          = "10.64.0.0/16"
  max_pods_per_node = 110
  reserved_nodes    = 16
}

output "prod_max_nodes" {
  value = data.k8sguard_pod_ip_capacity.prod.max_nodes # 240
}

# Fewer pods per node, smaller blocks: /26 blocks, 1024 nodes.
data "k8sguard_pod_ip_capacity" "dense" {
  pod_cidr          = "10.64.0.0/16"
  max_pods_per_node = 32
}

output "dense_max_nodes" {
  value = data.k8sguard_pod_ip_capacity.dense.max_nodes # 1024
}
