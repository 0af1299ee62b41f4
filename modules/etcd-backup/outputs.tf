output "bucket" {
  description = "Name of the snapshot bucket."
  value       = k8sguard_etcd_backup_bucket.this.bucket
}

output "bucket_arn" {
  description = "ARN of the snapshot bucket."
  value       = k8sguard_etcd_backup_bucket.this.arn
}

output "store_url" {
  description = "Where etcdguard writes, `s3://<bucket>/<prefix>` (its `store.url`)."
  value       = local.store_url
}

output "agent_policy_json" {
  description = "Least-privilege IAM policy for the role etcdguard runs as (the control-plane instance role): list, put, get and prune under the prefix, nothing else."
  value       = k8sguard_etcd_backup_bucket.this.agent_policy_json
}

output "config_yaml" {
  description = "The etcdguard configuration, for /etc/etcdguard/config.yaml. Holds no secret: AWS credentials come from the instance role."
  value       = local.config_yaml
}

output "systemd_units" {
  description = "The systemd unit files etcdguard ships (etcdguard.service, etcdguard-snapshot.service, etcdguard-snapshot.timer), by file name."
  value       = local.units
}

output "cloud_init" {
  description = "A `#cloud-config` document that writes the configuration and the unit(s) of the chosen `mode`, installs etcdguard when `etcdguard_download` is set, and enables the unit: user data for a control-plane node (alone, or as a part of a multipart user data)."
  value       = local.cloud_init
}

output "findings" {
  description = "Warnings (including waived errors, with their reasons) the bucket's rules raised."
  value       = k8sguard_etcd_backup_bucket.this.findings
}
