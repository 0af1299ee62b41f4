output "pod_quotas" {
  description = "Hard pod cap per team namespace."
  value       = module.guardrails.pod_quotas
}

output "webhook_namespace_selectors" {
  description = "The namespace selectors really registered for the webhooks."
  value       = module.guardrails.webhook_namespace_selectors
}

output "etcd_backup_store" {
  description = "Where etcdguard writes snapshots."
  value       = module.etcd_backup.store_url
}

output "etcd_backup_policy" {
  description = "IAM policy to attach to the control-plane instance role."
  value       = module.etcd_backup.agent_policy_json
}

output "control_plane_launch_template" {
  description = "The control-plane launch template and its default version."
  value       = { id = module.control_plane.launch_template_id, version = module.control_plane.launch_template_version }
}

output "node_pools" {
  description = "Node pools with their pod address sizing."
  value       = module.control_plane.node_pools
}

output "pod_range_max_nodes" {
  description = "Node blocks in the pod range."
  value       = module.control_plane.pod_range_max_nodes
}
