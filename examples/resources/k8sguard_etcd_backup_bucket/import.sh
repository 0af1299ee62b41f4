# A bucket is imported by its name.
terraform import k8sguard_etcd_backup_bucket.prod prod-etcd-backups-123456789012
