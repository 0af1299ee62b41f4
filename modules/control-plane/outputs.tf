output "launch_template_id" {
  description = "ID of the control-plane launch template (`lt-...`)."
  value       = k8sguard_control_plane_launch_template.this.id
}

output "launch_template_version" {
  description = "Its newest (and default) version: point the control-plane Auto Scaling group or instances at it."
  value       = k8sguard_control_plane_launch_template.this.latest_version
}

output "node_pools" {
  description = "Per pool: the node group ID, its launch template, the pod addresses one node takes, how many nodes the addresses allow, and the headroom left above max_size."
  value = {
    for n, p in k8sguard_node_pool.this : n => {
      id                   = p.id
      launch_template_id   = p.launch_template_id
      pod_ips_per_node     = p.pod_ips_per_node
      max_nodes_by_pod_ips = p.max_nodes_by_pod_ips
      pod_ip_headroom      = p.pod_ip_headroom
    }
  }
}

output "pod_range_max_nodes" {
  description = "`node_cidr` mode: node blocks pod_cidr holds for this module's pools (after reserved_nodes); null in the VPC CNI modes."
  value       = try(data.k8sguard_pod_ip_capacity.pods[0].max_nodes, null)
}

output "findings" {
  description = "Warnings (including waived errors, with their reasons) the rules raised, per resource."
  value = merge(
    { control_plane = k8sguard_control_plane_launch_template.this.findings },
    { for n, p in k8sguard_node_pool.this : "node_pool/${n}" => p.findings },
  )
}
