# The bucket etcdguard streams snapshots into: versioned, encrypted, private,
# TLS only, every version locked for retention_days (Zalando incident 4 had
# no recent, monitored backup to restore after `etcdctl del -r`).
resource "k8sguard_etcd_backup_bucket" "this" {
  bucket           = var.bucket_name
  object_lock_mode = var.object_lock_mode
  retention_days   = var.retention_days
  noncurrent_days  = var.noncurrent_days
  kms_key_id       = var.kms_key_id
  agent_prefix     = local.prefix
  force_destroy    = var.force_destroy
  waivers          = var.bucket_waivers
}

locals {
  prefix    = coalesce(var.prefix, "${var.cluster_name}/")
  store_url = "s3://${k8sguard_etcd_backup_bucket.this.bucket}/${local.prefix}"

  # Only the keys that are set: etcdguard decodes strictly and its defaults
  # fill the rest.
  config = {
    cluster_name = var.cluster_name
    etcd = merge(
      { endpoints = var.etcd_endpoints },
      var.etcd_tls == null ? tomap({}) : tomap(var.etcd_tls),
    )
    store = { for k, v in {
      url        = local.store_url
      region     = var.region
      endpoint   = var.s3_endpoint
      sse        = var.kms_key_id == null ? "AES256" : "aws:kms"
      kms_key_id = var.kms_key_id
    } : k => v if v != null }
    schedule = { interval = var.schedule_interval }
    retention = {
      keep_last   = var.retention.keep_last
      keep_daily  = var.retention.keep_daily
      keep_weekly = var.retention.keep_weekly
    }
    leader_election = true
    metrics         = { listen = var.metrics_listen }
    check = {
      max_age      = var.check_max_age
      shrink_ratio = var.check_shrink_ratio
    }
  }
  config_yaml = "# etcdguard configuration rendered by the k8sguard etcd-backup module.\n${yamlencode(local.config)}"

  # The unit files are backup/systemd's, copied into units/ so the module
  # works on its own; test/modules fails when the copies differ.
  units = {
    for name in ["etcdguard.service", "etcdguard-snapshot.service", "etcdguard-snapshot.timer"] :
    name => file("${path.module}/units/${name}")
  }
  installed_units = var.mode == "agent" ? ["etcdguard.service"] : ["etcdguard-snapshot.service", "etcdguard-snapshot.timer"]
  enable_unit     = var.mode == "agent" ? "etcdguard.service" : "etcdguard-snapshot.timer"

  # The unit runs as a dynamic user; the etcd client key is root-only on
  # kubeadm nodes. A static group gets read access (as the unit file's own
  # comment recommends) through a drop-in, so the shipped unit stays as is.
  service_unit = var.mode == "agent" ? "etcdguard.service" : "etcdguard-snapshot.service"
  key_access = var.etcd_tls == null ? [] : [{
    path    = "/etc/systemd/system/${local.service_unit}.d/10-etcd-client-key.conf"
    content = "# Written by the k8sguard etcd-backup module: read access to ${var.etcd_tls.key_file}.\n[Service]\nSupplementaryGroups=${var.etcd_key_group}\n"
  }]
  key_access_cmd = var.etcd_tls == null ? [] : [
    ["sh", "-c", "getent group ${var.etcd_key_group} >/dev/null || groupadd --system ${var.etcd_key_group}; chgrp ${var.etcd_key_group} ${var.etcd_tls.key_file} && chmod 0640 ${var.etcd_tls.key_file}"],
  ]

  download = var.etcdguard_download == null ? [] : [
    ["curl", "-fsSL", "--retry", "5", "-o", "/usr/local/bin/etcdguard.download", var.etcdguard_download.url],
    ["sh", "-c", "echo '${var.etcdguard_download.sha256}  /usr/local/bin/etcdguard.download' | sha256sum -c - && install -m 0755 /usr/local/bin/etcdguard.download /usr/local/bin/etcdguard && rm -f /usr/local/bin/etcdguard.download"],
  ]

  cloud_init = "#cloud-config\n${yamlencode({
    write_files = concat(
      [{ path = "/etc/etcdguard/config.yaml", owner = "root:root", permissions = "0644", content = local.config_yaml }],
      [for u in local.installed_units : { path = "/etc/systemd/system/${u}", owner = "root:root", permissions = "0644", content = local.units[u] }],
      [for f in local.key_access : { path = f.path, owner = "root:root", permissions = "0644", content = f.content }],
    )
    runcmd = concat(local.download, local.key_access_cmd, [
      ["systemctl", "daemon-reload"],
      ["systemctl", "enable", "--now", "--no-block", local.enable_unit], # never hold up the boot: etcd may come up later
    ])
  })}"
}
