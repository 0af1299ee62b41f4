# Love Holidays' arithmetic: a /16 at 110 pods per node holds 256 nodes.
output "max_nodes_at_110_pods" {
  value = provider::k8sguard::pod_cidr_max_nodes("10.0.0.0/16", 110) # 256
}

# Size a node pool against its range at plan time.
variable "pool_max_size" {
  type    = number
  default = 200
}

check "pod_range_fits_the_pool" {
  assert {
    condition     = var.pool_max_size <= provider::k8sguard::pod_cidr_max_nodes("10.0.0.0/16", 110)
    error_message = "The pod range cannot hold the pool at its max size."
  }
}
