# Where etcdguard streams snapshots: every version locked for 14 days,
# versioned, encrypted, private, TLS only.
resource "k8sguard_etcd_backup_bucket" "prod" {
  bucket           = "prod-etcd-backups-123456789012"
  object_lock_mode = "GOVERNANCE"
  retention_days   = 14
  noncurrent_days  = 30
  agent_prefix     = "prod/"
}

# Attach this to the role etcdguard runs as.
output "etcdguard_policy" {
  value = k8sguard_etcd_backup_bucket.prod.agent_policy_json
}
