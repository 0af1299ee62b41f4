# An EKS managed node group sized against its subnets: m6i.xlarge addresses
# 58 pods with the VPC CNI (4 ENIs × 14 + 2), so each node takes 60 subnet
# addresses. terraform plan refuses a max_size the subnets cannot hold
# together with the cluster's other pools at their max_size.
resource "k8sguard_node_pool" "general" {
  cluster_name      = "prod"
  name              = "general"
  node_role_arn     = "arn:aws:iam::123456789012:role/nodes"
  subnet_ids        = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"]
  instance_types    = ["m6i.xlarge"]
  min_size          = 3
  desired_size      = 3
  max_size          = 60
  max_pods_per_node = 58
  pod_ip_mode       = "vpc_cni"

  labels = { workload = "general" }

  taint {
    key    = "dedicated"
    value  = "general"
    effect = "NO_SCHEDULE"
  }
}

# How many more nodes the pod addresses allow.
output "general_pod_ip_headroom" {
  value = k8sguard_node_pool.general.pod_ip_headroom
}
